package article_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
)

// change is an expected entry of an audit log: its action and changed
// fields, by the test's admin.
type change struct {
	action string
	fields []string
}

// wantChanges fails t unless h lists want, newest first, each by the
// test's admin.
func wantChanges(t *testing.T, h shop.History, want ...change) {
	t.Helper()
	if len(h.Changes) != len(want) {
		t.Fatalf("history of %s %s has %d changes %+v, want %d", h.Kind, h.ID, len(h.Changes), h.Changes, len(want))
	}
	for i, c := range h.Changes {
		if c.Action != want[i].action || !slices.Equal(c.Fields, want[i].fields) ||
			c.Email != shoptest.AdminEmail || c.UserID == "" || c.Time.IsZero() {
			t.Errorf("change %d of %s = %+v, want %s of %v by %s", i, h.ID, c, want[i].action, want[i].fields, shoptest.AdminEmail)
		}
	}
}

// TestHistory checks the article's audit log: each write (create, update,
// publish, schedule, unpublish, delete) names its admin, its action and
// the fields it changed, newest first; a no-op write adds nothing; the log
// outlives the article; only admins may read it.
func TestHistory(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Spring news", Body: "Hello", Tags: []string{"news"}}))
		must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Title: ptr("Spring news!"), Body: ptr("Hello again")}))
		must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Title: ptr("Spring news!")})) // no change: no entry
		must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Status: ptr(article.StatusPublished)}))
		must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, PublishedAt: ptr(time.Now().Add(time.Hour))}))
		must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Status: ptr(article.StatusDraft)}))

		h := must[shop.History](t)(f.client.History(f.Admin, shop.HistoryRequest{ID: a.ID}))
		if h.ID != a.ID || h.Kind != article.ServiceName || h.Deleted {
			t.Fatalf("history = %+v", h)
		}
		live := []change{
			{article.MethodUpdate, []string{"status"}},                 // unpublished
			{article.MethodUpdate, []string{"published_at"}},           // scheduled
			{article.MethodUpdate, []string{"published_at", "status"}}, // published
			{article.MethodUpdate, []string{"body", "title"}},          // edited
			{article.MethodCreate, []string{"body", "slug", "status", "tags", "title"}},
		}
		wantChanges(t, h, live...)
		wantChanges(t, must[shop.History](t)(f.client.History(f.Admin, shop.HistoryRequest{ID: a.ID, Kind: article.ServiceName})), live...)

		for _, tc := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{f.anon, transport.CodeUnauthenticated},
			{f.Customer, transport.CodeForbidden},
		} {
			_, err := f.client.History(tc.ctx, shop.HistoryRequest{ID: a.ID})
			wantCode(t, err, tc.code)
		}
		_, err := f.client.History(f.Admin, shop.HistoryRequest{ID: "../etc"})
		wantCode(t, err, transport.CodeInvalid)
		_, err = f.client.History(f.Admin, shop.HistoryRequest{ID: a.ID, Kind: "product"})
		wantCode(t, err, transport.CodeInvalid)
		if _, err := f.client.History(f.Admin, shop.HistoryRequest{ID: "no-such-article"}); !errors.Is(err, shop.ErrNotFound) {
			t.Fatalf("unknown article: %v", err)
		}

		// Deleted: the log stays, the delete on top.
		must[article.Article](t)(f.client.Delete(f.Admin, article.DeleteRequest{ID: a.ID}))
		h = must[shop.History](t)(f.client.History(f.Admin, shop.HistoryRequest{ID: a.ID}))
		if !h.Deleted {
			t.Fatalf("history after delete = %+v", h)
		}
		wantChanges(t, h, append([]change{{article.MethodDelete, nil}}, live...)...)
	})
}

// TestHistoryScheduledAndHardDelete: a scheduled article reaching its
// time is no write and adds no entry; a service without events deletes
// the document outright and the log is still kept.
func TestHistoryScheduledAndHardDelete(t *testing.T) {
	a := shoptest.StartAuth(t, bustest.New(t, "inproc"))
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db := testenv.MongoDB(t, "article_"+t.Name())
	srv, err := article.New(db, article.Options{Auth: a.Client, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Hour)
	x := must[article.Article](t)(srv.Create(a.Admin, article.CreateRequest{Title: "Later", Status: article.StatusPublished, PublishedAt: at}))
	_, err = srv.Get(context.Background(), article.GetRequest{ID: x.ID})
	wantCode(t, err, transport.CodeNotFound)

	mu.Lock()
	now = at.Add(time.Minute)
	mu.Unlock()
	must[article.Article](t)(srv.Get(context.Background(), article.GetRequest{ID: x.ID})) // public now
	created := change{article.MethodCreate, []string{"published_at", "slug", "status", "title"}}
	wantChanges(t, must[shop.History](t)(srv.History(a.Admin, shop.HistoryRequest{ID: x.ID})), created)

	must[article.Article](t)(srv.Delete(a.Admin, article.DeleteRequest{ID: x.ID}))
	if n, err := db.Collection("articles").CountDocuments(context.Background(), map[string]any{"_id": x.ID}); err != nil || n != 0 {
		t.Fatalf("%d documents after a delete without events, %v", n, err)
	}
	h := must[shop.History](t)(srv.History(a.Admin, shop.HistoryRequest{ID: x.ID}))
	if !h.Deleted {
		t.Fatalf("history after delete = %+v", h)
	}
	wantChanges(t, h, change{article.MethodDelete, nil}, created)
}

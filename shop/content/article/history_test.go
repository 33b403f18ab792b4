package article_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/audit/audittest"
	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
)

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

		admin := audittest.By(shoptest.AdminEmail)
		logs := audittest.Reader{History: f.client.History, Admin: f.Admin, Kind: article.ServiceName}
		live := []audittest.Change{
			admin(article.MethodUpdate, "status"),                 // unpublished
			admin(article.MethodUpdate, "published_at"),           // scheduled
			admin(article.MethodUpdate, "published_at", "status"), // published
			admin(article.MethodUpdate, "body", "title"),          // edited
			admin(article.MethodCreate, "body", "slug", "status", "tags", "title"),
		}
		logs.Want(t, shop.HistoryRequest{ID: a.ID}, false, live...)
		logs.Want(t, shop.HistoryRequest{ID: a.ID, Kind: article.ServiceName}, false, live...)

		audittest.CheckRefusals(t, f.client.History, audittest.Refusals{
			Admin: f.Admin, Anonymous: f.anon, Customer: f.Customer,
			Readable: []shop.HistoryRequest{{ID: a.ID}},
			Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: a.ID, Kind: "product"}},
			Unknown:  []shop.HistoryRequest{{ID: "no-such-article"}},
		})

		// Deleted: the log stays, the delete on top.
		must[article.Article](t)(f.client.Delete(f.Admin, article.DeleteRequest{ID: a.ID}))
		logs.Want(t, shop.HistoryRequest{ID: a.ID}, true, append([]audittest.Change{admin(article.MethodDelete)}, live...)...)
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
	logs := audittest.Reader{History: srv.History, Admin: a.Admin, Kind: article.ServiceName}
	created := audittest.By(shoptest.AdminEmail)(article.MethodCreate, "published_at", "slug", "status", "title")
	logs.Want(t, shop.HistoryRequest{ID: x.ID}, false, created)

	must[article.Article](t)(srv.Delete(a.Admin, article.DeleteRequest{ID: x.ID}))
	if n, err := db.Collection("articles").CountDocuments(context.Background(), map[string]any{"_id": x.ID}); err != nil || n != 0 {
		t.Fatalf("%d documents after a delete without events, %v", n, err)
	}
	logs.Want(t, shop.HistoryRequest{ID: x.ID}, true, audittest.By(shoptest.AdminEmail)(article.MethodDelete), created)
}

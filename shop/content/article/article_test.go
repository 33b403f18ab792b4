package article_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/internal/shoptest"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
)

// fixture is an article service on a test bus with the real auth service.
type fixture struct {
	*shoptest.Auth
	db     *mongo.Database
	srv    *article.Server
	client *article.Client
	events *recorder
	anon   context.Context
}

func start(t *testing.T, bus transport.Bus) *fixture {
	t.Helper()
	a := shoptest.StartAuth(t, bus)
	rec := record(t, bus)
	db := testenv.MongoDB(t, "article_"+t.Name())
	srv, err := article.New(db, article.Options{Auth: a.Client, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := article.Bind(bus, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return &fixture{Auth: a, db: db, srv: srv, client: article.NewClient(bus), events: rec, anon: context.Background()}
}

// recorder keeps the article events published on the bus.
type recorder struct {
	mu     sync.Mutex
	events []transport.Event
}

func record(t *testing.T, bus transport.Bus) *recorder {
	t.Helper()
	r := &recorder{}
	sub, err := bus.Subscribe("articletest", "article.article.*", transport.EventHandlerFunc(func(ctx context.Context, ev transport.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, ev)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return r
}

// wait returns the first event with key about article id at version,
// waiting for it at most a few seconds.
func (r *recorder) wait(t *testing.T, key, id string, version int64) (transport.Event, shop.ArticleChanged) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for _, ev := range r.events {
			var c shop.ArticleChanged
			if ev.Key == key && json.Unmarshal(ev.Body, &c) == nil && c.Article.ID == id && c.Article.Version == version {
				r.mu.Unlock()
				return ev, c
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s event for article %s version %d", key, id, version)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, code transport.Code) *transport.Error {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	return e
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ptr[T any](v T) *T { return &v }

func TestCreatePublishAndDraftVisibility(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{
			Title: "Summer Sale: 50% off Crème Brûlée!", Body: "# Hi\n\nText", Excerpt: "Short", Author: "Ada",
			Tags: []string{"News", "Sale", "news"}, CoverImage: "https://cdn.example/cover.jpg",
		}))
		if a.Slug != "summer-sale-50-off-creme-brulee" || a.Status != article.StatusDraft || a.Version != 1 || !a.PublishedAt.IsZero() {
			t.Fatalf("created %+v", a)
		}
		if strings.Join(a.Tags, ",") != "news,sale" {
			t.Fatalf("tags = %q, want normalised and deduplicated", a.Tags)
		}
		_, ev := f.events.wait(t, shop.EventArticleCreated, a.ID, 1)
		if ev.Article.Slug != a.Slug || ev.Article.Status != article.StatusDraft || ev.Deleted {
			t.Fatalf("created event %+v", ev)
		}

		// A draft is invisible to the public and to customers, by slug, id and list.
		for name, ctx := range map[string]context.Context{"anonymous": f.anon, "customer": f.Customer} {
			_, err := f.client.GetBySlug(ctx, article.GetBySlugRequest{Slug: a.Slug})
			wantCode(t, err, transport.CodeNotFound)
			_, err = f.client.Get(ctx, article.GetRequest{ID: a.ID})
			wantCode(t, err, transport.CodeNotFound)
			l := must[article.ListResult](t)(f.client.List(ctx, article.ListRequest{}))
			if len(l.Articles) != 0 {
				t.Fatalf("%s lists drafts: %+v", name, l.Articles)
			}
		}
		got := must[article.Article](t)(f.client.GetBySlug(f.Admin, article.GetBySlugRequest{Slug: a.Slug}))
		if got.ID != a.ID || got.Body != "# Hi\n\nText" || got.Author != "Ada" || got.CoverImage != "https://cdn.example/cover.jpg" {
			t.Fatalf("admin got %+v", got)
		}
		drafts := must[article.ListResult](t)(f.client.List(f.Admin, article.ListRequest{Status: article.StatusDraft}))
		if len(drafts.Articles) != 1 {
			t.Fatalf("admin draft list = %+v", drafts)
		}

		// Publishing sets the publication time and shows it to everybody.
		before := time.Now().Add(-time.Second)
		p := must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Status: ptr(article.StatusPublished)}))
		if p.Version != 2 || p.PublishedAt.Before(before) || p.PublishedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("published %+v", p)
		}
		_, ev = f.events.wait(t, shop.EventArticleUpdated, a.ID, 2)
		if ev.Article.Status != shop.StatusPublished || !ev.Article.PublishedAt.Equal(p.PublishedAt) || ev.OldSlug != "" {
			t.Fatalf("updated event %+v", ev)
		}
		pub := must[article.Article](t)(f.client.GetBySlug(f.anon, article.GetBySlugRequest{Slug: a.Slug}))
		if pub.ID != a.ID || pub.Title != a.Title {
			t.Fatalf("public got %+v", pub)
		}
		must[article.Article](t)(f.client.Get(f.Customer, article.GetRequest{ID: a.ID}))

		// An update that changes nothing makes no new version.
		same := must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Title: ptr(a.Title)}))
		if same.Version != 2 {
			t.Fatalf("no-op update made version %d", same.Version)
		}
	})
}

func TestWritesRequireAdmin(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Mine"}))
		for _, c := range []struct {
			ctx  context.Context
			code transport.Code
		}{
			{f.anon, transport.CodeUnauthenticated},
			{shop.WithToken(f.anon, "not-a-real-token"), transport.CodeUnauthenticated},
			{f.Customer, transport.CodeForbidden},
		} {
			_, err := f.client.Create(c.ctx, article.CreateRequest{Title: "Theirs"})
			wantCode(t, err, c.code)
			_, err = f.client.Update(c.ctx, article.UpdateRequest{ID: a.ID, Title: ptr("Theirs")})
			wantCode(t, err, c.code)
			_, err = f.client.Delete(c.ctx, article.DeleteRequest{ID: a.ID})
			wantCode(t, err, c.code)
			_, err = f.client.List(c.ctx, article.ListRequest{Status: "any"})
			wantCode(t, err, c.code)
		}
		got := must[article.Article](t)(f.client.Get(f.Admin, article.GetRequest{ID: a.ID}))
		if got.Title != "Mine" || got.Version != 1 {
			t.Fatalf("article changed by non-admins: %+v", got)
		}
	})
}

// TestSlugsOfOtherScripts: titles in other scripts keep their letters
// (shop.Slugify), so do tags; many articles of one title cost a bounded
// number of claims each and all get distinct valid slugs.
func TestSlugsOfOtherScripts(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{
			Title: "Кофе молотый", Tags: []string{"Кофе", "Müller", "日本"}}))
		if a.Slug != "кофе-молотый" || strings.Join(a.Tags, ",") != "кофе,muller,日本" {
			t.Fatalf("slug %q, tags %q", a.Slug, a.Tags)
		}
		got := must[article.Article](t)(f.client.GetBySlug(f.Admin, article.GetBySlugRequest{Slug: "кофе-молотый"}))
		if got.ID != a.ID {
			t.Fatalf("by slug: %+v", got)
		}
		page := must[article.ListResult](t)(f.client.List(f.Admin, article.ListRequest{Status: "any", Tag: "КОФЕ"}))
		if len(page.Articles) != 1 || page.Articles[0].ID != a.ID {
			t.Fatalf("by a Cyrillic tag: %+v", page.Articles)
		}
		if e := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "🎉"})); e.Slug != "article" {
			t.Fatalf("emoji title: slug %q", e.Slug)
		}
		seen := map[string]bool{}
		for range 8 {
			b := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Кофе"}))
			if seen[b.Slug] || !strings.HasPrefix(b.Slug, "кофе") || !shop.ValidSlug(b.Slug, shop.MaxSlugLen) {
				t.Fatalf("slug %q (seen: %v)", b.Slug, seen)
			}
			seen[b.Slug] = true
		}
	})
}

func TestSlugUniqueness(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		first := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Hello World"}))
		second := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Hello, world!"}))
		if first.Slug != "hello-world" || second.Slug != "hello-world-2" {
			t.Fatalf("slugs %q and %q, want hello-world and hello-world-2", first.Slug, second.Slug)
		}
		// A given slug that is taken is a conflict, not renamed.
		_, err := f.client.Create(f.Admin, article.CreateRequest{Title: "Other", Slug: "hello-world"})
		e := wantCode(t, err, transport.CodeConflict)
		if e.Field("slug") == "" {
			t.Fatalf("conflict without a slug field: %v", e)
		}
		_, err = f.client.Update(f.Admin, article.UpdateRequest{ID: second.ID, Slug: ptr("hello-world")})
		wantCode(t, err, transport.CodeConflict)

		// Concurrent creates with one title all get distinct slugs.
		const n = 4
		slugs := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := f.client.Create(f.Admin, article.CreateRequest{Title: "Race"})
				if err != nil {
					t.Error(err)
					return
				}
				slugs <- a.Slug
			}()
		}
		wg.Wait()
		close(slugs)
		seen := map[string]bool{}
		for s := range slugs {
			if seen[s] {
				t.Fatalf("slug %q given twice", s)
			}
			seen[s] = true
		}

		// Renaming frees the old slug and announces it.
		renamed := must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: first.ID, Slug: ptr("greetings"), Status: ptr(article.StatusPublished)}))
		if renamed.Slug != "greetings" {
			t.Fatalf("renamed to %q", renamed.Slug)
		}
		_, ev := f.events.wait(t, shop.EventArticleUpdated, first.ID, 2)
		if ev.OldSlug != "hello-world" || ev.Article.Slug != "greetings" {
			t.Fatalf("rename event: old %q new %q", ev.OldSlug, ev.Article.Slug)
		}
		_, err = f.client.GetBySlug(f.Admin, article.GetBySlugRequest{Slug: "hello-world"})
		wantCode(t, err, transport.CodeNotFound)
		if got := must[article.Article](t)(f.client.GetBySlug(f.anon, article.GetBySlugRequest{Slug: "greetings"})); got.ID != first.ID {
			t.Fatalf("new slug finds %s", got.ID)
		}
		taker := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Taker", Slug: "hello-world"}))
		if got := must[article.Article](t)(f.client.GetBySlug(f.Admin, article.GetBySlugRequest{Slug: "hello-world"})); got.ID != taker.ID {
			t.Fatalf("freed slug finds %s, want %s", got.ID, taker.ID)
		}
		// An empty slug in an update regenerates it from the title.
		regen := must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: taker.ID, Title: ptr("Brand New Name"), Slug: ptr("")}))
		if regen.Slug != "brand-new-name" {
			t.Fatalf("regenerated slug %q", regen.Slug)
		}
	})
}

func TestValidation(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		long := strings.Repeat("x", article.MaxTitleLen+1)
		for _, c := range []struct {
			name  string
			req   article.CreateRequest
			field string
		}{
			{"empty title", article.CreateRequest{Title: "  "}, "title"},
			{"long title", article.CreateRequest{Title: long}, "title"},
			{"NUL in title", article.CreateRequest{Title: "a\x00b"}, "title"},
			{"NUL in body", article.CreateRequest{Title: "t", Body: "a\x00b"}, "body"},
			{"huge body", article.CreateRequest{Title: "t", Body: strings.Repeat("b", article.MaxBodyLen+1)}, "body"},
			{"bad status", article.CreateRequest{Title: "t", Status: "live"}, "status"},
			{"operator slug", article.CreateRequest{Title: "t", Slug: "$where"}, "slug"},
			{"spaced slug", article.CreateRequest{Title: "t", Slug: "Not A Slug"}, "slug"},
			{"script cover", article.CreateRequest{Title: "t", CoverImage: "javascript:alert(1)"}, "cover_image"},
			{"protocol-relative cover", article.CreateRequest{Title: "t", CoverImage: "//evil.example/x.png"}, "cover_image"},
			{"empty tag", article.CreateRequest{Title: "t", Tags: []string{"ok", "!!"}}, "tags[1]"},
			{"too many tags", article.CreateRequest{Title: "t", Tags: strings.Fields(strings.Repeat("t ", article.MaxTags+1))}, "tags"},
		} {
			_, err := f.client.Create(f.Admin, c.req)
			if e := wantCode(t, err, transport.CodeInvalid); e.Field(c.field) == "" {
				t.Errorf("%s: no error for field %s in %v", c.name, c.field, e)
			}
		}
		// Reads validate too; operator-looking values are plain values.
		_, err := f.client.Get(f.anon, article.GetRequest{ID: "$gt"})
		wantCode(t, err, transport.CodeInvalid)
		_, err = f.client.GetBySlug(f.anon, article.GetBySlugRequest{Slug: ""})
		wantCode(t, err, transport.CodeInvalid)
		_, err = f.client.GetBySlug(f.anon, article.GetBySlugRequest{Slug: "$ne"})
		wantCode(t, err, transport.CodeNotFound)
		_, err = f.client.List(f.anon, article.ListRequest{Limit: article.MaxLimit + 1})
		wantCode(t, err, transport.CodeInvalid)
		_, err = f.client.List(f.anon, article.ListRequest{Cursor: "bm90IGEgY3Vyc29y"})
		wantCode(t, err, transport.CodeInvalid)
		// Wrong JSON types are rejected by the bus decoder.
		_, err = bus.Call(f.Admin, article.MethodCreate, []byte(`{"title": 5}`))
		wantCode(t, err, transport.CodeInvalid)
		_, err = bus.Call(f.anon, article.MethodList, []byte(`{"tag": {"$ne": ""}}`))
		wantCode(t, err, transport.CodeInvalid)
	})
}

func TestListByTagAndDate(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		day := func(d int) time.Time { return time.Date(2025, 3, d, 12, 0, 0, 0, time.UTC) }
		ids := map[string]string{}
		for _, c := range []struct {
			title  string
			day    int
			tags   []string
			status string
		}{
			{"go one", 1, []string{"go"}, article.StatusPublished},
			{"go two", 2, []string{"go", "tips"}, article.StatusPublished},
			{"tips only", 3, []string{"tips"}, article.StatusPublished},
			{"go four", 4, []string{"go"}, article.StatusPublished},
			{"go draft", 5, []string{"go"}, article.StatusDraft},
			{"go five", 5, []string{"Go"}, article.StatusPublished},
		} {
			a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: c.title, Tags: c.tags, Status: c.status, PublishedAt: day(c.day)}))
			ids[c.title] = a.ID
		}
		// Scheduled for the future: not listed yet.
		must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "go future", Tags: []string{"go"}, Status: article.StatusPublished, PublishedAt: time.Now().Add(time.Hour)}))

		var titles []string
		cursor := ""
		for pages := 0; ; pages++ {
			page := must[article.ListResult](t)(f.client.List(f.anon, article.ListRequest{Tag: "GO", Limit: 2, Cursor: cursor}))
			if len(page.Articles) > 2 || pages > 3 {
				t.Fatalf("page %d too big or too many pages: %+v", pages, page)
			}
			for _, a := range page.Articles {
				titles = append(titles, a.Title)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if got, want := strings.Join(titles, "|"), "go five|go four|go two|go one"; got != want {
			t.Fatalf("tag go, newest first = %s, want %s", got, want)
		}
		dated := must[article.ListResult](t)(f.client.List(f.anon, article.ListRequest{Since: day(2), Until: day(4)}))
		if len(dated.Articles) != 2 || dated.Articles[0].Title != "tips only" || dated.Articles[1].Title != "go two" {
			t.Fatalf("since day 2 until day 4: %+v", dated.Articles)
		}
		all := must[article.ListResult](t)(f.client.List(f.Admin, article.ListRequest{Status: "any", Tag: "go"}))
		if len(all.Articles) != 6 || all.NextCursor != "" {
			t.Fatalf("admin lists %d go articles, want 6 (with the draft and the scheduled one)", len(all.Articles))
		}
		if _, err := f.client.Get(f.anon, article.GetRequest{ID: ids["go five"]}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeleteAndVersions(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Doomed", Status: article.StatusPublished}))
		b := must[article.Article](t)(f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Version: 1, Body: ptr("new body")}))
		if b.Version != 2 {
			t.Fatalf("version %d after update", b.Version)
		}
		_, err := f.client.Update(f.Admin, article.UpdateRequest{ID: a.ID, Version: 1, Body: ptr("stale")})
		wantCode(t, err, transport.CodeConflict)
		_, err = f.client.Delete(f.Admin, article.DeleteRequest{ID: a.ID, Version: 1})
		wantCode(t, err, transport.CodeConflict)

		gone := must[article.Article](t)(f.client.Delete(f.Admin, article.DeleteRequest{ID: a.ID, Version: 2}))
		if gone.Body != "new body" {
			t.Fatalf("delete returned %+v", gone)
		}
		_, ev := f.events.wait(t, shop.EventArticleDeleted, a.ID, 3)
		if !ev.Deleted || ev.Article.Slug != "doomed" {
			t.Fatalf("deleted event %+v", ev)
		}
		_, err = f.client.Get(f.Admin, article.GetRequest{ID: a.ID})
		wantCode(t, err, transport.CodeNotFound)
		_, err = f.client.GetBySlug(f.anon, article.GetBySlugRequest{Slug: "doomed"})
		wantCode(t, err, transport.CodeNotFound)
		_, err = f.client.Delete(f.Admin, article.DeleteRequest{ID: a.ID})
		wantCode(t, err, transport.CodeNotFound)
		again := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Doomed"}))
		if again.Slug != "doomed" {
			t.Fatalf("slug of deleted article not freed: got %q", again.Slug)
		}
	})
}

// TestPublishPending: a write whose events could not be published (the
// bus was down) is announced later by PublishPending.
func TestPublishPending(t *testing.T) {
	bus := bustest.New(t, "inproc")
	a := shoptest.StartAuth(t, bus)
	rec := record(t, bus)
	db := testenv.MongoDB(t, "article_"+t.Name())

	down := inproc.New(inproc.Options{})
	down.Close()
	broken, err := article.New(db, article.Options{Auth: a.Client, Events: down})
	if err != nil {
		t.Fatal(err)
	}
	created, err := broken.Create(a.Admin, article.CreateRequest{Title: "Unannounced"})
	if err != nil {
		t.Fatalf("create with the bus down: %v (the write succeeded and must say so)", err)
	}
	if _, err := broken.Update(a.Admin, article.UpdateRequest{ID: created.ID, Status: ptr(article.StatusPublished)}); err != nil {
		t.Fatal(err)
	}
	if n, err := broken.PublishPending(context.Background()); err == nil || n != 0 {
		t.Fatalf("PublishPending with the bus down = %d, %v; want an error", n, err)
	}

	healthy, err := article.New(db, article.Options{Auth: a.Client, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	n, err := healthy.PublishPending(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("PublishPending = %d, %v; want 2 events", n, err)
	}
	rec.wait(t, shop.EventArticleCreated, created.ID, 1)
	rec.wait(t, shop.EventArticleUpdated, created.ID, 2)
	if n, err := healthy.PublishPending(context.Background()); err != nil || n != 0 {
		t.Fatalf("second PublishPending = %d, %v; want nothing left", n, err)
	}
	// The events did not carry the admin's session token.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, ev := range rec.events {
		if tok := ev.Header[shop.TokenHeader]; tok != "" {
			t.Fatalf("event %s carries a session token", ev.Key)
		}
	}
}

func TestEventsDoNotCarryTheToken(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		a := must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Secretless"}))
		ev, _ := f.events.wait(t, shop.EventArticleCreated, a.ID, 1)
		if tok := ev.Header[shop.TokenHeader]; tok != "" {
			t.Fatalf("event carries the admin's session token %q", fmt.Sprint(tok))
		}
	})
}

// TestHoldsSlugs: HoldsSlugs names the slugs articles hold (drafts too),
// in the order asked, each once, as HoldsSlug answers each; malformed
// slugs are held by nobody; more than shop.MaxSlugsAsked is invalid.
func TestHoldsSlugs(t *testing.T) {
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		f := start(t, bus)
		must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Draft one"}))
		must[article.Article](t)(f.client.Create(f.Admin, article.CreateRequest{Title: "Out now", Status: article.StatusPublished}))
		asked := []string{"out-now", "free", "draft-one", "Draft-One", "out-now", ""}
		got := must[shop.SlugsHeld](t)(f.client.HoldsSlugs(f.anon, shop.SlugsRequest{Slugs: asked}))
		if strings.Join(got.Held, ",") != "out-now,draft-one" {
			t.Fatalf("HoldsSlugs = %q, want out-now,draft-one", got.Held)
		}
		for _, slug := range asked[:4] {
			one := must[shop.SlugHeld](t)(f.client.HoldsSlug(f.anon, shop.SlugRequest{Slug: slug}))
			if in := strings.Contains(","+strings.Join(got.Held, ",")+",", ","+slug+","); one.Held != in {
				t.Errorf("%q: HoldsSlug %v, HoldsSlugs %v", slug, one.Held, in)
			}
		}
		if none := must[shop.SlugsHeld](t)(f.client.HoldsSlugs(f.anon, shop.SlugsRequest{})); none.Held == nil || len(none.Held) != 0 {
			t.Fatalf("HoldsSlugs of nothing = %#v, want an empty list", none.Held)
		}
		_, err := f.client.HoldsSlugs(f.anon, shop.SlugsRequest{Slugs: make([]string, shop.MaxSlugsAsked+1)})
		wantCode(t, err, transport.CodeInvalid)
	})
}

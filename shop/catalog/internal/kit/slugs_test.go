package kit_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
	"github.com/shopbus/shopbus/transport"
)

// holder is another service of the slug space: it holds the slugs in held
// and counts the questions it is asked.
type holder struct {
	mu    sync.Mutex
	held  map[string]bool
	asked int
	err   error
}

func (h *holder) HoldsSlug(_ context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked++
	return shop.SlugHeld{Held: h.held[r.Slug]}, h.err
}

func (h *holder) HoldsSlugs(_ context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked++
	out := shop.SlugsHeld{Held: []string{}}
	for _, slug := range r.Slugs {
		if h.held[slug] {
			out.Held = append(out.Held, slug)
		}
	}
	return out, h.err
}

func (h *holder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.asked
}

func newSlugs(t *testing.T, other *holder) kit.Slugs {
	t.Helper()
	return kit.NewSlugs(testenv.MongoDB(t, "kit_slugs").Collection("slugs"), "product_id", "product").
		Sharing(shop.SlugSpace{"category": other})
}

// TestReserveSameTitle: the 60th entity with one title gets "<slug>-60"
// with a constant number of claims: the title's slug (taken here, so the
// other services are not asked) and one numbered one.
func TestReserveSameTitle(t *testing.T) {
	other := &holder{held: map[string]bool{"кофе-3": true}}
	slugs := newSlugs(t, other)
	ctx := context.Background()
	for i := 1; i <= 60; i++ {
		before := other.count()
		got, err := slugs.Reserve(ctx, "p"+strconv.Itoa(i), "", "Кофе")
		if err != nil {
			t.Fatalf("product %d: %v", i, err)
		}
		want := "кофе"
		switch {
		case i == 2:
			want = "кофе-2"
		case i > 2:
			want = "кофе-" + strconv.Itoa(i+1) // the category holds "кофе-3"
		}
		if got != want {
			t.Fatalf("product %d: slug %q, want %q", i, got, want)
		}
		if asked := other.count() - before; i >= 4 && asked != 1 {
			t.Fatalf("product %d: the other service was asked %d times, want 1", i, asked)
		}
	}
	// The slug the category held was released here again.
	if id, err := slugs.Holder(ctx, "кофе-3"); err != nil || id != "" {
		t.Fatalf("кофе-3 held by %q (%v)", id, err)
	}
}

func TestReserve(t *testing.T) {
	ctx := context.Background()
	other := &holder{held: map[string]bool{"sale": true}}
	slugs := newSlugs(t, other)

	// Nothing usable in the name: the fallback.
	if got, err := slugs.Reserve(ctx, "e1", "", "🎉🎉"); err != nil || got != "product" {
		t.Fatalf("emoji title: %q, %v", got, err)
	}
	// An earlier run of the same request gets its slug back.
	first, err := slugs.Reserve(ctx, "a1", "", "Müller & Söhne")
	if err != nil || first != "muller-and-sohne" {
		t.Fatalf("first: %q, %v", first, err)
	}
	if again, err := slugs.Reserve(ctx, "a1", "", "Müller & Söhne"); err != nil || again != first {
		t.Fatalf("again: %q, %v", again, err)
	}
	// Explicit slugs: taken here, taken by another kind of page, free.
	if _, err := slugs.Reserve(ctx, "a2", "muller-and-sohne", ""); !errors.Is(err, shop.ErrConflict) {
		t.Fatalf("explicit slug taken here: %v", err)
	}
	_, err = slugs.Reserve(ctx, "a2", "sale", "")
	var te *transport.Error
	if !errors.As(err, &te) || te.Code != transport.CodeConflict || !strings.Contains(te.Field("slug"), "category") {
		t.Fatalf("explicit slug of a category: %v", err)
	}
	if id, _ := slugs.Holder(ctx, "sale"); id != "" {
		t.Fatalf("the refused claim of %q is kept by %q", "sale", id)
	}
	// Slugs numbered before the counter existed: skipped, in a bounded
	// number of claims.
	for _, s := range []string{"tea-2", "tea-3", "tea-4"} {
		if _, err := slugs.Reserve(ctx, "x"+s, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := slugs.Reserve(ctx, "t1", "", "Tea"); err != nil {
		t.Fatal(err)
	}
	got, err := slugs.Reserve(ctx, "t2", "", "Tea")
	if err != nil || !strings.HasPrefix(got, "tea-") || got == "tea-2" || got == "tea-3" || got == "tea-4" || !kit.ValidSlug(got) {
		t.Fatalf("after numbered slugs: %q, %v", got, err)
	}
	// A service of the space that cannot answer: no slug, nothing kept.
	other.err = transport.Errorf(transport.CodeUnavailable, "down")
	if _, err := slugs.Reserve(ctx, "u1", "", "Unreachable"); transport.CodeOf(err) != transport.CodeUnavailable {
		t.Fatalf("space down: %v", err)
	}
	if id, _ := slugs.Holder(ctx, "unreachable"); id != "" {
		t.Fatalf("a slug that could not be checked is kept by %q", id)
	}
}

// reserveManyClaims are the claims of TestReserveMany: titles repeated
// (in and out of order), explicit slugs taken here, by the other service
// or by an earlier claim of the call, titles whose slug the other service
// holds, and an emoji title.
func reserveManyClaims() []kit.SlugClaim {
	return []kit.SlugClaim{
		{ID: "p1", Name: "Linen shirt"},
		{ID: "p2", Name: "Tea"},
		{ID: "p3", Name: "Linen Shirt"},
		{ID: "p4", Explicit: "taken-here"},
		{ID: "p5", Explicit: "sale"},
		{ID: "p6", Name: "Sale"},
		{ID: "p7", Explicit: "own-slug"},
		{ID: "p8", Explicit: "own-slug"},
		{ID: "p9", Name: "🎉"},
		{ID: "p10", Name: "linen shirt!"},
		{ID: "p11", Name: "Old"},
		{ID: "p12", Name: "Tea"},
	}
}

// prepareReserveMany fills a slugs collection as TestReserveMany expects:
// "taken-here" and "old" held by other products here, the fallback held.
func prepareReserveMany(t *testing.T, slugs kit.Slugs) {
	t.Helper()
	for _, c := range []kit.SlugClaim{{ID: "x1", Explicit: "taken-here"}, {ID: "x2", Name: "Old"}, {ID: "x3", Name: "🎉"}} {
		if _, err := slugs.Reserve(context.Background(), c.ID, c.Explicit, c.Name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReserveMany: ReserveMany gives each claim what Reserve gives it when
// the claims are made one after the other in order (compared with another
// collection where they are), asks the other service once for the claims
// made together, and a retry of the same claims gets the same slugs.
func TestReserveMany(t *testing.T) {
	ctx := context.Background()
	db := testenv.MongoDB(t, "kit_slugs_many")
	newSpace := func(coll string) (kit.Slugs, *holder) {
		other := &holder{held: map[string]bool{"sale": true}}
		return kit.NewSlugs(db.Collection(coll), "product_id", "product").Sharing(shop.SlugSpace{"category": other}), other
	}
	oneByOne, _ := newSpace("one_by_one")
	together, other := newSpace("together")
	prepareReserveMany(t, oneByOne)
	prepareReserveMany(t, together)
	claims := reserveManyClaims()

	want := make([]kit.SlugReserved, len(claims))
	for i, c := range claims {
		want[i].Slug, want[i].Err = oneByOne.Reserve(ctx, c.ID, c.Explicit, c.Name)
	}
	before := other.count()
	got, err := together.ReserveMany(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	for i := range claims {
		if got[i].Slug != want[i].Slug || transport.CodeOf(got[i].Err) != transport.CodeOf(want[i].Err) {
			t.Errorf("claim %d (%+v): got %q, %v; one by one %q, %v", i, claims[i], got[i].Slug, got[i].Err, want[i].Slug, want[i].Err)
		}
		if got[i].Err == nil {
			if id, err := together.Holder(ctx, got[i].Slug); err != nil || id != claims[i].ID {
				t.Errorf("claim %d: %q held by %q (%v)", i, got[i].Slug, id, err)
			}
		}
	}
	// One HoldsSlugs for the claims made together; the claims going
	// through Reserve after (a repeated title, a taken slug) ask once each.
	if asked := other.count() - before; asked > 1+8 {
		t.Errorf("the other service was asked %d times for %d claims", asked, len(claims))
	}
	if id, _ := together.Holder(ctx, "sale"); id != "" {
		t.Errorf("the refused claim of %q is kept by %q", "sale", id)
	}

	// The same claims again (a retried request): what Reserve gives them
	// again, one after the other (the first candidates, held by the same
	// ids, are theirs again).
	again, err := together.ReserveMany(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range claims {
		slug, err := oneByOne.Reserve(ctx, c.ID, c.Explicit, c.Name)
		if again[i].Slug != slug || transport.CodeOf(again[i].Err) != transport.CodeOf(err) {
			t.Errorf("claim %d again: got %q, %v; one by one %q, %v", i, again[i].Slug, again[i].Err, slug, err)
		}
		if err == nil && i < 2 && slug != got[i].Slug {
			t.Errorf("claim %d again: %q, first %q", i, slug, got[i].Slug)
		}
	}
}

// TestReserveManySpaceDown: when another service of the space cannot
// answer, ReserveMany fails and holds none of the call's slugs.
func TestReserveManySpaceDown(t *testing.T) {
	ctx := context.Background()
	other := &holder{err: transport.Errorf(transport.CodeUnavailable, "down")}
	slugs := newSlugs(t, other)
	claims := []kit.SlugClaim{{ID: "d1", Name: "Down one"}, {ID: "d2", Explicit: "down-two"}, {ID: "d3", Name: "Down one"}}
	if _, err := slugs.ReserveMany(ctx, claims); transport.CodeOf(err) != transport.CodeUnavailable {
		t.Fatalf("space down: %v", err)
	}
	held, err := slugs.Held(ctx, []string{"down-one", "down-two", "down-one-2"})
	if err != nil || len(held) != 0 {
		t.Fatalf("after a failed ReserveMany: %v held (%v)", held, err)
	}
}

// TestHoldsSlugs: the slugs held, in the order asked, each once; malformed
// slugs held by nobody; more than shop.MaxSlugsAsked is invalid.
func TestHoldsSlugs(t *testing.T) {
	ctx := context.Background()
	slugs := newSlugs(t, &holder{})
	for _, c := range []kit.SlugClaim{{ID: "h1", Explicit: "b"}, {ID: "h2", Explicit: "a"}} {
		if _, err := slugs.Reserve(ctx, c.ID, c.Explicit, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err := slugs.HoldsSlugs(ctx, shop.SlugsRequest{Slugs: []string{"a", "free", "b", "a", "B", "b #", ""}})
	if err != nil || strings.Join(got.Held, ",") != "a,b" {
		t.Fatalf("HoldsSlugs = %q, %v; want a,b", got.Held, err)
	}
	if got, err := slugs.HoldsSlugs(ctx, shop.SlugsRequest{}); err != nil || got.Held == nil || len(got.Held) != 0 {
		t.Fatalf("HoldsSlugs of nothing = %#v, %v; want an empty list", got.Held, err)
	}
	many := make([]string, shop.MaxSlugsAsked+1)
	for i := range many {
		many[i] = "s" + strconv.Itoa(i)
	}
	if _, err := slugs.HoldsSlugs(ctx, shop.SlugsRequest{Slugs: many}); transport.CodeOf(err) != transport.CodeInvalid {
		t.Fatalf("HoldsSlugs of %d slugs: %v, want invalid", len(many), err)
	}
}

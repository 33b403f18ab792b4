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

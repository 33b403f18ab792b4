package shop_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/shopbus/shopbus/shop"
)

func TestSlugify(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// ASCII
		{"Oxford Shirt", "oxford-shirt"},
		{"  Men's T-Shirt (2-pack)!  ", "mens-t-shirt-2-pack"},
		{"A--B__C", "a-b-c"},
		{"Salt & Pepper", "salt-and-pepper"},
		{"100% Cotton", "100-cotton"},
		// Latin diacritics: NFKD without marks, one rule for every language
		{"Müller & Söhne", "muller-and-sohne"},
		{"Crème Brûlée", "creme-brulee"},
		{"Łódź", "lodz"},
		{"Straße", "strasse"},
		{"GROSSE STRAẞE", "grosse-strasse"},
		{"Ærøskøbing", "aeroskobing"},
		{"Þingvellir", "thingvellir"},
		{"İstanbul", "istanbul"},
		{"cafe\u0301", "cafe"},       // a combining accent, decomposed
		{"ＦＵＬＬ ｗｉｄｔｈ", "full-width"}, // NFKC
		{"ﬁsh", "fish"},
		// Other scripts: kept, lower-cased
		{"Кофе молотый", "кофе-молотый"},
		{"ЁЛКА", "ёлка"},
		{"Йогурт", "йогурт"},
		{"Καφές Ελληνικός", "καφές-ελληνικός"},
		{"東京タワー・ミニ", "東京タワー-ミニ"},
		{"がぎぐ", "がぎぐ"},
		{"قهوة عربية", "قهوة-عربية"},
		{"हिन्दी किताब", "हिन्दी-किताब"},
		{"Кофе & Tea", "кофе-and-tea"},
		// Nothing usable: the callers' fallback
		{"🎉🎉", ""},
		{"!!! ... ???", ""},
		{"", ""},
		{"   ", ""},
		{"emoji 🎉 inside", "emoji-inside"},
		{"bad \xff utf-8", "bad-utf-8"},
	} {
		got := shop.Slugify(tc.in)
		if got != tc.want {
			t.Errorf("Slugify(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got != "" && !shop.ValidSlug(got, shop.MaxSlugLen) {
			t.Errorf("ValidSlug(%q) = false for Slugify's own output", got)
		}
	}
}

func TestSlugifyCut(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"ascii words", strings.Repeat("word ", 60)},
		{"one ascii word", strings.Repeat("x", 300)},
		{"cyrillic", strings.Repeat("молотый ", 30)},
		{"cyrillic one word", strings.Repeat("ж", 200)},
		{"japanese", strings.Repeat("東京タワー", 30)},
		{"japanese odd", "a" + strings.Repeat("東", 100)},
		{"devanagari marks", strings.Repeat("कि", 100)},
	} {
		got := shop.Slugify(tc.in)
		switch {
		case len(got) > shop.MaxSlugLen:
			t.Errorf("%s: %d bytes, more than %d", tc.name, len(got), shop.MaxSlugLen)
		case len(got) < shop.MaxSlugLen/2:
			t.Errorf("%s: cut too short: %d bytes", tc.name, len(got))
		case !utf8.ValidString(got):
			t.Errorf("%s: cut inside a character: %q", tc.name, got)
		case strings.HasSuffix(got, "-"):
			t.Errorf("%s: ends with a hyphen: %q", tc.name, got)
		case !shop.ValidSlug(got, shop.MaxSlugLen):
			t.Errorf("%s: not a valid slug: %q", tc.name, got)
		}
		if strings.HasSuffix(got, "क") {
			t.Errorf("%s: a letter parted from its vowel sign: %q", tc.name, got[len(got)-12:])
		}
	}
	// A cut at a word boundary when there is one in the second half.
	if got := shop.Slugify(strings.Repeat("word ", 60)); !strings.HasSuffix(got, "-word") {
		t.Errorf("words cut inside a word: %q", got)
	}
}

func TestValidSlug(t *testing.T) {
	for _, s := range []string{"a", "oxford-shirt", "кофе-молотый", "東京タワー", "product-2", "x9"} {
		if !shop.ValidSlug(s, shop.MaxSlugLen) {
			t.Errorf("ValidSlug(%q) = false, want true", s)
		}
	}
	for _, s := range []string{
		"", "-a", "a-", "a--b", "Oxford", "a b", "a_b", "café", "straße", "Кофе", "a/b", "a.b", "%20",
		"东京\u200d", "\xff", strings.Repeat("a", shop.MaxSlugLen+1),
	} {
		if shop.ValidSlug(s, shop.MaxSlugLen) {
			t.Errorf("ValidSlug(%q) = true, want false", s)
		}
	}
	if shop.ValidSlug("abcdef", 5) {
		t.Error("ValidSlug ignores maxLen")
	}
}

func TestWithSlugSuffix(t *testing.T) {
	if got := shop.WithSlugSuffix("кофе", "2"); got != "кофе-2" {
		t.Errorf("got %q", got)
	}
	long := shop.Slugify(strings.Repeat("ж", 200))
	got := shop.WithSlugSuffix(long, "k3x9")
	if len(got) > shop.MaxSlugLen || !strings.HasSuffix(got, "ж-k3x9") || !shop.ValidSlug(got, shop.MaxSlugLen) {
		t.Errorf("WithSlugSuffix of a long slug: %q (%d bytes)", got, len(got))
	}
}

// FuzzSlugify checks that whatever the title, the slug is valid UTF-8 of
// at most MaxSlugLen bytes, valid, and its own slug.
func FuzzSlugify(f *testing.F) {
	for _, s := range []string{"Müller & Söhne", "Кофе молотый", "東京タワー", "🎉", "a\u0301\u0301", "ǅemal", "ΣΑΣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := shop.Slugify(in)
		if got == "" {
			return
		}
		if len(got) > shop.MaxSlugLen || !utf8.ValidString(got) {
			t.Fatalf("Slugify(%q) = %q: too long or not UTF-8", in, got)
		}
		if again := shop.Slugify(got); again != got {
			t.Fatalf("Slugify(%q) = %q, but Slugify of that is %q", in, got, again)
		}
		if !shop.ValidSlug(got, shop.MaxSlugLen) {
			t.Fatalf("Slugify(%q) = %q, which ValidSlug refuses", in, got)
		}
	})
}

// fixedHolder holds the slugs in held, or fails with err. Like the
// services, it refuses more than shop.MaxSlugsAsked slugs at once.
type fixedHolder struct {
	held  []string
	err   error
	mu    sync.Mutex
	calls int
}

func (h *fixedHolder) count() {
	h.mu.Lock()
	h.calls++
	h.mu.Unlock()
}

func (h *fixedHolder) HoldsSlug(_ context.Context, r shop.SlugRequest) (shop.SlugHeld, error) {
	h.count()
	return shop.SlugHeld{Held: slices.Contains(h.held, r.Slug)}, h.err
}

func (h *fixedHolder) HoldsSlugs(_ context.Context, r shop.SlugsRequest) (shop.SlugsHeld, error) {
	h.count()
	if len(r.Slugs) > shop.MaxSlugsAsked {
		return shop.SlugsHeld{}, shop.Invalid("too many slugs", "slugs", "at most 100")
	}
	out := shop.SlugsHeld{Held: []string{}}
	for _, s := range r.Slugs {
		if slices.Contains(h.held, s) {
			out.Held = append(out.Held, s)
		}
	}
	return out, h.err
}

// TestSlugSpaceCheckMany: CheckMany gives each slug what Check gives it,
// with one HoldsSlugs per service; a service that cannot answer fails the
// whole check.
func TestSlugSpaceCheckMany(t *testing.T) {
	ctx := context.Background()
	cats := &fixedHolder{held: []string{"shoes", "both"}}
	arts := &fixedHolder{held: []string{"news", "both"}}
	space := shop.SlugSpace{"category": cats, "article": arts}
	slugs := []string{"shoes", "free", "news", "both"}
	got, err := space.CheckMany(ctx, slugs)
	if err != nil {
		t.Fatal(err)
	}
	if cats.calls != 1 || arts.calls != 1 {
		t.Errorf("asked the category service %d times, the article service %d times; want once each", cats.calls, arts.calls)
	}
	for _, slug := range slugs {
		want := space.Check(ctx, slug)
		if (got[slug] == nil) != (want == nil) || (want != nil && got[slug].Error() != want.Error()) {
			t.Errorf("%q: CheckMany %v, Check %v", slug, got[slug], want)
		}
	}
	if len(got) != 3 {
		t.Errorf("CheckMany = %v, want 3 conflicts", got)
	}
	// More slugs than one HoldsSlugs may ask about: asked in parts.
	var many []string
	for i := range shop.MaxSlugsAsked + 50 {
		many = append(many, "s-"+strconv.Itoa(i))
	}
	cats.held, cats.calls, arts.calls = []string{"s-3", "s-140"}, 0, 0
	got, err = space.CheckMany(ctx, many)
	if err != nil || len(got) != 2 || got["s-3"] == nil || got["s-140"] == nil {
		t.Errorf("CheckMany of %d slugs = %v, %v; want s-3 and s-140", len(many), got, err)
	}
	if cats.calls != 2 || arts.calls != 2 {
		t.Errorf("%d slugs: asked %d and %d times, want twice each", len(many), cats.calls, arts.calls)
	}
	arts.err = errors.New("down")
	if _, err := space.CheckMany(ctx, slugs); !errors.Is(err, arts.err) {
		t.Errorf("a service down: %v", err)
	}
}

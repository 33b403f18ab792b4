package shop

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxSlugLen is the longest slug, in bytes, of any page in the shared
// slug space: products, categories and articles alike. A slug in another
// script takes more bytes per letter (2 for Cyrillic or Greek, 3 for
// Japanese), so this leaves room for about 40 Japanese characters.
const MaxSlugLen = 128

// Slugify turns a title into a slug, the last part of a page's address:
//
//   - the title is first normalised (Unicode NFKC: full-width "ＡＢＣ" is
//     "ABC", "ﬁ" is "fi") and lower-cased;
//   - Latin letters lose their diacritics ("é" → "e", "Ü" → "u"; the
//     decomposition of NFKD with its marks dropped), and the Latin letters
//     that do not decompose are spelled in ASCII ("ß" → "ss", "æ" → "ae",
//     "ø" → "o", "ł" → "l", "þ" → "th"): one rule for every language, so
//     "Müller & Söhne" is "muller-and-sohne", not German's "mueller";
//   - letters and digits of other scripts (Cyrillic, Greek, Arabic, Han,
//     Kana, …) are kept as they are, lower-cased, with their combining
//     marks: "Кофе молотый" → "кофе-молотый", "東京タワー" → "東京タワー";
//   - apostrophes vanish ("Men's" → "mens"), "&" is "and", and every other
//     run of characters (spaces, punctuation, symbols, emoji) is one
//     hyphen between words;
//   - the result is at most MaxSlugLen bytes, cut at a hyphen in its second
//     half or else between two characters.
//
// Slugify returns "" when nothing is left (a title of emoji or punctuation
// only): callers then use a fallback of their own ("product"). Slugs are
// UTF-8: the storefront's addresses percent-encode them. Slugify of a slug
// is that slug (see ValidSlug).
func Slugify(title string) string {
	title = norm.NFKC.String(strings.ToValidUTF8(title, " "))
	var b strings.Builder
	hyphen := false // a separator is pending
	inWord := false // the last rune written may take a combining mark
	word := func(s string) {
		if hyphen && b.Len() > 0 {
			b.WriteByte('-')
		}
		hyphen = false
		b.WriteString(s)
	}
	for _, r := range title {
		switch {
		case r < utf8.RuneSelf:
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				word(string(r))
				inWord = false
			case r >= 'A' && r <= 'Z':
				word(string(r + 'a' - 'A'))
				inWord = false
			case r == '\'' || r == '`':
				// "Men's" → "mens"
			case r == '&':
				hyphen = true
				word("and")
				hyphen, inWord = true, false
			default:
				hyphen, inWord = true, false
			}
		case r == '’' || r == '‘' || r == '´' || r == 'ʼ':
			// apostrophes
		case unicode.IsMark(r):
			if inWord { // a mark of a kept letter (Devanagari vowel signs, Arabic harakat)
				b.WriteRune(r)
			}
		case unicode.Is(unicode.Cf, r):
			// invisible format characters (zero-width joiners, …)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
			if unicode.Is(unicode.Latin, r) {
				word(latinASCII(r))
				inWord = false
				continue
			}
			word(string(r))
			inWord = true
		default:
			hyphen, inWord = true, false
		}
	}
	return cutSlug(b.String(), MaxSlugLen)
}

// latinASCII spells a lower-case non-ASCII Latin letter in ASCII: its NFKD
// decomposition without the marks, or a spelling of its own; a letter
// with neither ("ə") stays as it is.
func latinASCII(r rune) string {
	if t, ok := latinSpelling[r]; ok {
		return t
	}
	var b strings.Builder
	for _, d := range norm.NFKD.String(string(r)) {
		if d < utf8.RuneSelf && (d >= 'a' && d <= 'z' || d >= '0' && d <= '9') {
			b.WriteRune(d)
		}
	}
	if b.Len() == 0 {
		return string(r)
	}
	return b.String()
}

// latinSpelling spells the Latin letters that NFKD does not decompose.
var latinSpelling = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th",
	'ı': "i", 'ħ': "h", 'ŧ': "t", 'ŋ': "n", 'ĸ': "k", 'ſ': "s", 'ƒ': "f",
}

// cutSlug shortens slug to at most max bytes: at its last hyphen when that
// is in the second half, else after the last whole character (a letter
// with its marks), without a hyphen at the end.
func cutSlug(slug string, max int) string {
	if len(slug) <= max {
		return slug
	}
	cut := slug[:max]
	if slug[max] == '-' {
		return strings.TrimRight(cut, "-")
	}
	if i := strings.LastIndexByte(cut, '-'); i >= max/2 {
		return cut[:i]
	}
	// Back to the start of a rune that is not a mark, so that no letter
	// is cut or parted from its marks.
	for len(cut) > 0 {
		if utf8.RuneStart(slug[len(cut)]) {
			if next, _ := utf8.DecodeRuneInString(slug[len(cut):]); !unicode.IsMark(next) {
				break
			}
		}
		_, n := utf8.DecodeLastRuneInString(cut)
		cut = cut[:len(cut)-n]
	}
	return strings.TrimRight(cut, "-")
}

// WithSlugSuffix returns slug with "-suffix" appended, slug shortened (see
// Slugify) so that the whole fits in MaxSlugLen bytes.
func WithSlugSuffix(slug, suffix string) string {
	return cutSlug(slug, MaxSlugLen-len(suffix)-1) + "-" + suffix
}

// ValidSlug reports whether s is a slug as Slugify makes them, at most
// maxLen bytes (MaxSlugLen for the pages of the shared space): not empty,
// and left as it is by Slugify, that is, lower-case words of letters and
// digits (Latin ones in ASCII) joined by single hyphens.
func ValidSlug(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || len(s) > MaxSlugLen {
		return false
	}
	for i := 0; i < len(s); i++ { // the common case, quickly
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1 && s[i-1] != '-':
		case c >= utf8.RuneSelf:
			return Slugify(s) == s
		default:
			return false
		}
	}
	return true
}

// SlugRequest names a slug.
type SlugRequest struct {
	Slug string `json:"slug"`
}

// SlugHeld answers whether a service holds a slug.
type SlugHeld struct {
	Held bool `json:"held"`
}

// MaxSlugsAsked is the most slugs one HoldsSlugs call asks about.
const MaxSlugsAsked = 100

// SlugsRequest names up to MaxSlugsAsked slugs.
type SlugsRequest struct {
	Slugs []string `json:"slugs"`
}

// SlugsHeld answers which of the slugs asked a service holds: those it
// holds, in the order asked, each once; an empty list when it holds none.
type SlugsHeld struct {
	Held []string `json:"held"`
}

// SlugHolder is a service whose entities are pages addressed by slug. The
// storefront serves products, categories and articles from one URL space
// (/{slug}), so each of these services also answers whether it holds a
// slug, and checks the others when it claims one (see SlugSpace.Check).
type SlugHolder interface {
	// HoldsSlug reports whether one of the service's entities, in any
	// status, holds the slug or is claiming it.
	HoldsSlug(ctx context.Context, r SlugRequest) (SlugHeld, error)
	// HoldsSlugs answers HoldsSlug for up to MaxSlugsAsked slugs at once
	// (more is invalid), with one read of the store: it names those
	// held. A malformed slug is held by nobody.
	HoldsSlugs(ctx context.Context, r SlugsRequest) (SlugsHeld, error)
}

// CheckSlugsRequest checks r for HoldsSlugs and returns its distinct
// slugs that valid accepts, in order: those worth looking up.
func CheckSlugsRequest(r SlugsRequest, valid func(string) bool) ([]string, error) {
	if len(r.Slugs) > MaxSlugsAsked {
		return nil, Invalid("too many slugs", "slugs", fmt.Sprintf("ask about at most %d slugs at once", MaxSlugsAsked))
	}
	out := make([]string, 0, len(r.Slugs))
	for _, slug := range r.Slugs {
		if valid(slug) && !slices.Contains(out, slug) {
			out = append(out, slug)
		}
	}
	return out, nil
}

// SlugSpace names the other services sharing a service's URL space, by
// the kind of their pages (e.g. "category" → the category client). The
// zero value shares with nobody: slugs are unique within the service only.
type SlugSpace map[string]SlugHolder

// Check returns nil when no service in the space holds slug, a conflict
// (with a field error on "slug") naming the kind of page that does, or
// the error of a service that could not answer (e.g. unavailable): a slug
// that cannot be checked is not claimed. It asks every service at once.
//
// Services claim a slug in their own store first and then check the
// others, releasing it when another holds it; HoldsSlug counts claims in
// progress. Of two services claiming one slug at the same instant, the
// one that checks last therefore sees the other's claim: both may give it
// up, but both never keep it.
func (sp SlugSpace) Check(ctx context.Context, slug string) error {
	kinds := sp.kinds()
	type answer struct {
		held bool
		err  error
	}
	answers := make([]answer, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds[min(1, len(kinds)):] {
		wg.Go(func() {
			held, err := sp[kind].HoldsSlug(ctx, SlugRequest{Slug: slug})
			answers[i+1] = answer{held.Held, err}
		})
	}
	if len(kinds) > 0 { // the first in this goroutine
		held, err := sp[kinds[0]].HoldsSlug(ctx, SlugRequest{Slug: slug})
		answers[0] = answer{held.Held, err}
	}
	wg.Wait()
	for i, kind := range kinds {
		if err := answers[i].err; err != nil {
			return fmt.Errorf("checking slug %q with the %s service: %w", slug, kind, err)
		}
	}
	for i, kind := range kinds {
		if answers[i].held {
			return slugUsedBy(slug, kind)
		}
	}
	return nil
}

// slugUsedBy is the conflict of a slug a page of another kind holds.
func slugUsedBy(slug, kind string) error {
	return Conflict("slug is used by a "+kind, "slug", fmt.Sprintf("%q is the address of a %s", slug, kind))
}

// kinds returns the kinds of the space in order: the order in which a
// conflict names the first service holding a slug.
func (sp SlugSpace) kinds() []string {
	kinds := make([]string, 0, len(sp))
	for kind := range sp {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	return kinds
}

// CheckMany is Check for many slugs, with one HoldsSlugs call to each
// service of the space per MaxSlugsAsked slugs, all at once. It returns,
// for each slug another service holds, the conflict Check would give,
// keyed by slug; or the error of a service that could not answer, in
// which case no slug may be claimed.
func (sp SlugSpace) CheckMany(ctx context.Context, slugs []string) (map[string]error, error) {
	kinds := sp.kinds()
	type ask struct {
		kind  string
		slugs []string
		held  SlugsHeld
		err   error
	}
	var asks []*ask
	for part := range slices.Chunk(slugs, MaxSlugsAsked) {
		for _, kind := range kinds {
			asks = append(asks, &ask{kind: kind, slugs: part})
		}
	}
	var wg sync.WaitGroup
	for _, a := range asks {
		wg.Go(func() { a.held, a.err = sp[a.kind].HoldsSlugs(ctx, SlugsRequest{Slugs: a.slugs}) })
	}
	wg.Wait()
	asked := make(map[string]bool, len(slugs))
	for _, slug := range slugs {
		asked[slug] = true
	}
	out := map[string]error{}
	for _, a := range asks { // in order of kinds within a part, as Check names the first
		if a.err != nil {
			return nil, fmt.Errorf("checking %d slugs with the %s service: %w", len(a.slugs), a.kind, a.err)
		}
		for _, slug := range a.held.Held {
			if _, seen := out[slug]; !seen && asked[slug] {
				out[slug] = slugUsedBy(slug, a.kind)
			}
		}
	}
	return out, nil
}

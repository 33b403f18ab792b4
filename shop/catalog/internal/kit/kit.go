// Package kit holds the small helpers the catalog services share: input
// checks that collect field errors, slugs, codes, deterministic event ids
// and the clock.
package kit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// Limits shared by the catalog services.
const (
	// MaxIDLen is the longest id accepted.
	MaxIDLen = 64
	// MaxCodeLen is the longest code (attribute, option group, value) accepted.
	MaxCodeLen = 64
	// MaxNameLen is the longest name or title accepted, in bytes.
	MaxNameLen = 200
	// MaxDescriptionLen is the longest description accepted, in bytes.
	MaxDescriptionLen = 20000
)

// Fields collects field errors and turns them into one invalid error.
type Fields struct {
	list []string
}

// Add records that field is wrong.
func (f *Fields) Add(field, message string) {
	f.list = append(f.list, field, message)
}

// Addf records that field is wrong, with a formatted message.
func (f *Fields) Addf(field, format string, args ...any) {
	f.Add(field, fmt.Sprintf(format, args...))
}

// Has reports whether field already has an error.
func (f *Fields) Has(field string) bool {
	for i := 0; i < len(f.list); i += 2 {
		if f.list[i] == field {
			return true
		}
	}
	return false
}

// Len is the number of field errors collected.
func (f *Fields) Len() int { return len(f.list) / 2 }

// Merge adds the field errors of err if it is an invalid error and reports
// whether it was; any other error is left to the caller.
func (f *Fields) Merge(err error) bool {
	var e *transport.Error
	if !errors.As(err, &e) || e.Code != transport.CodeInvalid {
		return false
	}
	if len(e.Fields) == 0 {
		f.Add("body", e.Message)
	}
	for _, fe := range e.Fields {
		f.Add(fe.Field, fe.Message)
	}
	return true
}

// Err returns nil when no field is wrong, and an invalid error listing
// every field error otherwise.
func (f *Fields) Err(message string) error {
	if len(f.list) == 0 {
		return nil
	}
	return shop.Invalid(message, f.list...)
}

// Text checks a single-line free text such as a name: valid UTF-8, no
// control characters, at most max bytes, and not blank when required.
func (f *Fields) Text(field, s string, required bool, max int) {
	f.text(field, s, required, max, false)
}

// LongText checks a multi-line text such as a description: like Text, but
// newlines and tabs are allowed.
func (f *Fields) LongText(field, s string, required bool, max int) {
	f.text(field, s, required, max, true)
}

func (f *Fields) text(field, s string, required bool, max int, multiline bool) {
	if msg := TextProblem(s, required, max, multiline); msg != "" {
		f.Add(field, msg)
	}
}

// TextProblem says what is wrong with a text (see Text and LongText), or
// returns "" when it is fine.
func TextProblem(s string, required bool, max int, multiline bool) string {
	switch {
	case required && strings.TrimSpace(s) == "":
		return "is required"
	case len(s) > max:
		return fmt.Sprintf("must be at most %d bytes", max)
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	}):
		return "must not contain control characters"
	}
	return ""
}

// ID checks an entity id: 1 to MaxIDLen letters, digits, '-' or '_'.
// When required is false an empty id passes.
func (f *Fields) ID(field, id string, required bool) {
	if id == "" {
		if required {
			f.Add(field, "is required")
		}
		return
	}
	if !ValidID(id) {
		f.Addf(field, "malformed id %s", Quote(id))
	}
}

// ValidID reports whether id looks like an id: 1 to MaxIDLen letters,
// digits, '-' or '_'. Ids never start with '$' or contain NUL.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Code checks a machine code such as an attribute or option code (see ValidCode).
func (f *Fields) Code(field, code string) {
	switch {
	case code == "":
		f.Add(field, "is required")
	case !ValidCode(code):
		f.Addf(field, "must be 1-%d of a-z, 0-9, '_' and '-', starting with a letter or digit: %s", MaxCodeLen, Quote(code))
	}
}

// ValidCode reports whether code is 1 to MaxCodeLen characters of a-z,
// 0-9, '_' and '-', starting with a letter or a digit. Codes are safe as
// document field names.
func ValidCode(code string) bool {
	if code == "" || len(code) > MaxCodeLen {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidSlug reports whether s is a slug of the shared slug space (see
// shop.ValidSlug and shop.MaxSlugLen).
func ValidSlug(s string) bool { return shop.ValidSlug(s, shop.MaxSlugLen) }

// Slug checks an explicitly given slug: it must be what shop.Slugify makes.
func (f *Fields) Slug(field, s string) {
	if !ValidSlug(s) {
		f.Addf(field, "must be lower-case letters and digits (Latin ones without accents) joined by single hyphens, at most %d bytes: %s", shop.MaxSlugLen, Quote(s))
	}
}

// Quote quotes s for an error message, shortened to about 40 bytes (not
// inside a character).
func Quote(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}

// eventNamespace seeds the deterministic event ids.
var eventNamespace = uuid.MustParse("5b0f8a52-3c1e-4b8e-9a53-6c1f0e3f2d11")

// EventID returns the id of the event announcing version of entity id
// under key. It is a name-based UUID: republishing the same change gives
// the same id, so subscribers that deduplicate by id see a repeat.
func EventID(key, id string, version int64) string {
	return uuid.NewSHA1(eventNamespace, []byte(key+"\x00"+id+"\x00"+strconv.FormatInt(version, 10))).String()
}

// Clock returns now, or time.Now when now is nil, as a function giving
// UTC times truncated to milliseconds, which is what MongoDB stores.
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		now = time.Now
	}
	return func() time.Time { return now().UTC().Truncate(time.Millisecond) }
}

// Logger returns l, or slog.Default() when l is nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// Detach returns a context that survives the caller's cancellation, bounded
// by d: for work that must finish once a change is stored, such as
// announcing it.
func Detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// Internal wraps a storage failure as an internal error that names the
// operation but hides the details from remote callers
// (shop.StorageFailure, for work that has no caller's context).
func Internal(op string, err error) error {
	return shop.StorageFailure(context.Background(), op, err)
}

// SortPlaced sorts items as listings show them: by position, then by name
// ignoring case, then by id; key gives those of an item.
func SortPlaced[T any](items []T, key func(*T) (position int, name, id string)) {
	slices.SortFunc(items, func(a, b T) int {
		pa, na, ia := key(&a)
		pb, nb, ib := key(&b)
		if pa != pb {
			return pa - pb
		}
		if c := strings.Compare(strings.ToLower(na), strings.ToLower(nb)); c != 0 {
			return c
		}
		return strings.Compare(ia, ib)
	})
}

// Unique returns ss without repeats, keeping the first occurrence.
func Unique(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CheckHistory validates a history request for the one kind of entity a
// service keeps, keyed by id (an id as ID checks it): empty or kind.
func CheckHistory(r shop.HistoryRequest, kind string) error {
	var f Fields
	f.ID("id", r.ID, true)
	if r.Kind != "" && r.Kind != kind {
		f.Add("kind", "must be empty or "+kind)
	}
	return f.Err("invalid history request")
}

package storefront

import (
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport"
)

// FuzzParseQuery: any query string parses without a panic, into a query
// whose numbers are not negative, or into an invalid error; and the links
// a page builds from it (knownParams) ask the same question.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "q=boot", "category=shoes&f=color:red&f=color:blue&f=size:m",
		"price_min=9.99&price_max=120&currency=EUR&sort=price_asc",
		"limit=24&page=3", "page=100000&limit=100", "page=2&limit=9223372036854775807",
		"offset=-1", "price_min=1e3", "price_min=.5", "price_max=999999999999.99",
		"f=:x&f=nocolon", "cursor=abc&junk=" + string(bytes.Repeat([]byte("j"), 300)),
		"q=%ff%fe", "page=0", "limit=x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			if transport.CodeOf(err) != transport.CodeInvalid {
				t.Fatalf("ParseQuery(%q): %v, want an invalid error", raw, err)
			}
			return
		}
		if q.Offset < 0 || q.Limit < 0 || q.Offset > filter.MaxOffset && v.Get(ParamPage) != "" {
			t.Fatalf("ParseQuery(%q): offset %d, limit %d", raw, q.Offset, q.Limit)
		}
		if p := q.Price; p != nil && (p.Min != nil && *p.Min < 0 || p.Max != nil && *p.Max < 0) {
			t.Fatalf("ParseQuery(%q): negative price %+v", raw, p)
		}
		again, err := ParseQuery(knownParams(v))
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("ParseQuery(knownParams(%q)) = %+v, %v; want %+v", raw, again, err, q)
		}
	})
}

// FuzzDecode: any body decodes into an API request without a panic, or is
// refused as invalid (400) or too large (413) — never another error.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.test","password":"secret-pass"}`, `{"product_id":"p1","quantity":2}`,
		`{"category_slug":"shoes","attributes":[{"code":"color","values":["red"]}]}`,
		`{"category":"clothing"}`, `{}`, `[]`, `null`, `{"quantity":"2"}`, `{"quantity":1e400}`,
		`{"a":1}{"b":2}`, `{"email":"\ud800"}`, `{`, ``, `{"limit":-1,"offset":99999999999999999999}`,
	} {
		f.Add([]byte(seed))
	}
	targets := []func() any{
		func() any { return new(auth.RegisterRequest) },
		func() any { return new(auth.LoginRequest) },
		func() any { return new(CartItem) },
		func() any { return new(filter.Query) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newTarget := range targets {
			r, _ := http.NewRequest(http.MethodPost, "/api/x", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Body = http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
			if err := decode(r, newTarget()); err != nil {
				if st := StatusOf(err); st != http.StatusBadRequest && st != http.StatusRequestEntityTooLarge {
					t.Fatalf("decode(%q) into %T: %v (status %d)", body, newTarget(), err, st)
				}
			}
		}
	})
}

package transport_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/shopbus/shopbus/transport"
)

type greetRequest struct {
	Name string `json:"name"`
}

type greeting struct {
	Text string `json:"text"`
}

func TestMuxTypes(t *testing.T) {
	mux := transport.NewMux()
	transport.Handle(mux, "greet.hello", func(_ context.Context, r greetRequest) (greeting, error) {
		return greeting{Text: "hello " + r.Name}, nil
	})
	transport.Handle(mux, "greet.many", func(_ context.Context, r []string) (*[]greeting, error) {
		return nil, nil
	})
	mux.HandleFunc("greet.raw", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })

	cases := []struct {
		method    string
		req, resp reflect.Type
		ok        bool
	}{
		{"greet.hello", reflect.TypeFor[greetRequest](), reflect.TypeFor[greeting](), true},
		{"greet.many", reflect.TypeFor[[]string](), reflect.TypeFor[*[]greeting](), true},
		{"greet.raw", nil, nil, false},     // untyped: served, but no types
		{"greet.missing", nil, nil, false}, // not registered
	}
	for _, c := range cases {
		req, resp, ok := mux.Types(c.method)
		if req != c.req || resp != c.resp || ok != c.ok {
			t.Errorf("Types(%q) = %v, %v, %v; want %v, %v, %v", c.method, req, resp, ok, c.req, c.resp, c.ok)
		}
	}

	// A typed registration that panics (the method is taken) leaves the
	// types of the first one.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering greet.hello twice did not panic")
			}
		}()
		transport.Handle(mux, "greet.hello", func(context.Context, int) (int, error) { return 0, nil })
	}()
	if req, _, _ := mux.Types("greet.hello"); req != reflect.TypeFor[greetRequest]() {
		t.Errorf("after a failed second registration, Types(greet.hello) request = %v", req)
	}

	// The typed handler still works as before.
	out, err := mux.ServeBus(context.Background(), &transport.Request{Method: "greet.hello", Body: []byte(`{"name":"Ada"}`)})
	if err != nil || string(out) != `{"text":"hello Ada"}` {
		t.Errorf("greet.hello = %s, %v", out, err)
	}
}

func TestZeroMuxTypes(t *testing.T) {
	var mux transport.Mux
	if _, _, ok := mux.Types("greet.hello"); ok {
		t.Error("an empty Mux reports types")
	}
}

// TestWithHeadersAddsLikeWithHeader: WithHeaders adds to what ctx
// carries, in lower case, without reserved keys, and copies its map.
func TestWithHeadersAddsLikeWithHeader(t *testing.T) {
	ctx := transport.WithHeader(context.Background(), "x-tenant", "acme")
	h := map[string]string{"Accept-Language": "de", "x-shop-request-id": "forged", "traceparent": "00-forged"}
	ctx = transport.WithHeaders(ctx, h)
	h["accept-language"] = "changed later"
	got := transport.HeadersFrom(ctx)
	if len(got) != 2 || got["x-tenant"] != "acme" || got["accept-language"] != "de" {
		t.Fatalf("headers %v", got)
	}
}

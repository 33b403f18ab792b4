package transport_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/bustest"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
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

// TestServiceMuxDescribe: a service Mux answers <service>.describe itself,
// with its name, its methods (sorted, describe included) and its version,
// to any caller, on both buses.
func TestServiceMuxDescribe(t *testing.T) {
	want := transport.Description{Service: "greet", Methods: []string{"greet.describe", "greet.hello", "greet.raw"}, Version: "2.1.0"}
	bustest.Each(t, func(t *testing.T, bus transport.Bus) {
		mux := transport.NewServiceMux("greet", "2.1.0")
		transport.Handle(mux, "greet.hello", func(_ context.Context, r greetRequest) (greeting, error) {
			return greeting{Text: "hello " + r.Name}, nil
		})
		mux.HandleFunc("greet.raw", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })
		if mux.Service() != "greet" {
			t.Errorf("Service() = %q", mux.Service())
		}
		sub, err := bus.Serve("greet", mux)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		got, err := transport.Invoke[transport.Description](ctx, bus, "greet.describe", transport.DescribeRequest{})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("greet.describe = %+v, %v; want %+v", got, err, want)
		}
		// An empty body does as well, and the reply is the JSON the
		// contract names.
		raw, err := bus.Call(ctx, "greet.describe", nil)
		if err != nil || string(raw) != `{"service":"greet","methods":["greet.describe","greet.hello","greet.raw"],"version":"2.1.0"}` {
			t.Errorf("greet.describe with no body = %s, %v", raw, err)
		}
		if got := mux.Describe(); !reflect.DeepEqual(got, want) {
			t.Errorf("Describe() = %+v", got)
		}
		req, resp, ok := mux.Types("greet.describe")
		if !ok || req != reflect.TypeFor[transport.DescribeRequest]() || resp != reflect.TypeFor[transport.Description]() {
			t.Errorf("Types(greet.describe) = %v, %v, %v", req, resp, ok)
		}
	})
}

// TestServiceMuxMisuse: a bad service name, or a service registering its
// own describe, panics; a plain Mux describes no service and answers no
// describe.
func TestServiceMuxMisuse(t *testing.T) {
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	panics("NewServiceMux(\"Bad Name\")", func() { transport.NewServiceMux("Bad Name", "1") })
	panics("NewServiceMux(\"\")", func() { transport.NewServiceMux("", "1") })
	panics("registering greet.describe", func() {
		m := transport.NewServiceMux("greet", "1")
		m.HandleFunc("greet.describe", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })
	})

	plain := transport.NewMux()
	plain.HandleFunc("greet.hello", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })
	if plain.Service() != "" || len(plain.Methods()) != 1 {
		t.Errorf("a plain Mux: service %q, methods %v", plain.Service(), plain.Methods())
	}
	_, err := plain.ServeBus(context.Background(), &transport.Request{Method: "greet.describe"})
	if !errors.Is(err, transport.ErrUnknownMethod) {
		t.Errorf("a plain Mux answers greet.describe with %v", err)
	}
}

// A service Mux answers "<service>.describe" itself: any caller can learn
// which methods a service serves and which contract version it follows.
func ExampleNewServiceMux() {
	mux := transport.NewServiceMux("clock", "1.2.0")
	transport.Handle(mux, "clock.now", func(context.Context, struct{}) (string, error) {
		return "12:00", nil
	})
	bus := inproc.New(inproc.Options{})
	defer bus.Close()
	sub, _ := bus.Serve(mux.Service(), mux)
	defer sub.Close()

	d, err := transport.Invoke[transport.Description](context.Background(), bus, "clock."+transport.DescribeMethod, transport.DescribeRequest{})
	fmt.Println(d.Service, d.Methods, d.Version, err)
	// Output:
	// clock [clock.describe clock.now] 1.2.0 <nil>
}

// TestMuxInclude: a service Mux that includes another serves both Muxes'
// methods with their types, and its describe lists them all (the other's
// describe of the same service is left out); a method in both panics.
func TestMuxInclude(t *testing.T) {
	own := transport.NewServiceMux("shelf", "2.0.0")
	transport.Handle(own, "shelf.count", func(context.Context, struct{}) (int, error) { return 7, nil })
	extra := transport.NewMux()
	transport.Handle(extra, "shelf.status", func(context.Context, struct{}) (string, error) { return "ok", nil })

	both := transport.NewServiceMux("shelf", "2.0.0")
	both.Include(own)
	both.Include(extra)
	want := []string{"shelf.count", "shelf.describe", "shelf.status"}
	if got := both.Methods(); !reflect.DeepEqual(got, want) {
		t.Fatalf("methods %v, want %v", got, want)
	}
	if req, resp, ok := both.Types("shelf.status"); !ok || req != reflect.TypeFor[struct{}]() || resp != reflect.TypeFor[string]() {
		t.Errorf("types of shelf.status: %v %v %v", req, resp, ok)
	}
	body, err := both.ServeBus(context.Background(), &transport.Request{Method: "shelf.describe", Body: []byte(`{}`)})
	if err != nil || string(body) != `{"service":"shelf","methods":["shelf.count","shelf.describe","shelf.status"],"version":"2.0.0"}` {
		t.Errorf("describe: %s, %v", body, err)
	}
	if body, err := both.ServeBus(context.Background(), &transport.Request{Method: "shelf.count", Body: []byte(`{}`)}); err != nil || string(body) != "7" {
		t.Errorf("count: %s, %v", body, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("including a method twice did not panic")
		}
	}()
	both.Include(extra)
}

package bustest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/transport"
)

// recorder is a testing.TB that collects failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.errs = append(r.errs, "fatal: "+fmt.Sprintf(format, args...))
}

func TestCheckMethods(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("service.go", `package x

const ServiceName = "x"

// Method names on the bus.
const (
	MethodGet = "x.get"
	MethodPut = "x.put"
)

const methodHidden = "x.hidden"
`)
	write("x_test.go", `package x

const MethodTestOnly = "x.test_only"
`)
	nop := func(context.Context, *transport.Request) ([]byte, error) { return nil, nil }
	mux := func(methods ...string) *transport.Mux {
		m := transport.NewMux()
		for _, name := range methods {
			m.HandleFunc(name, nop)
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		served []string
		want   []string
		errs   []string
	}{
		{"exact", []string{"x.get", "x.put"}, []string{"x.put", "x.get"}, nil},
		{"handler missing", []string{"x.get"}, []string{"x.get", "x.put"},
			[]string{"Handler(svc) lacks x.put"}},
		{"handler extra", []string{"x.get", "x.put", "x.del"}, []string{"x.get", "x.put"},
			[]string{"Handler(svc) has x.del, which the test does not list"}},
		{"constant not listed", []string{"x.get"}, []string{"x.get"},
			[]string{"the package's Method constants has x.put, which the test does not list"}},
		{"listed twice", []string{"x.get", "x.put"}, []string{"x.get", "x.put", "x.get"},
			[]string{"the test lists x.get twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			checkMethods(r, dir, mux(tc.served...), tc.want)
			if !slices.Equal(r.errs, tc.errs) {
				t.Errorf("failures = %q, want %q", r.errs, tc.errs)
			}
		})
	}
}

func TestCheckMethodsNeedsConstants(t *testing.T) {
	r := &recorder{TB: t}
	checkMethods(r, t.TempDir(), transport.NewMux(), nil)
	if len(r.errs) != 1 {
		t.Fatalf("failures = %q, want one fatal", r.errs)
	}
}

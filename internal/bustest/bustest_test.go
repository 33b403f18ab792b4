package bustest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		m := transport.NewServiceMux("x", "1.0.0")
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
		{"describe listed", []string{"x.get", "x.put"}, []string{"x.get", "x.put", "x.describe"},
			[]string{"Handler(svc) lacks x.describe", "the package's Method constants lacks x.describe"}},
		{"another service's method", []string{"x.get", "x.put", "y.get"}, []string{"x.get", "x.put", "y.get"},
			[]string{"the test lists y.get, which is not a method of the service x", "the package's Method constants lacks y.get"}},
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

// A Mux that is not a service's (transport.NewMux) answers no describe.
func TestCheckMethodsNeedsServiceMux(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "service.go"), []byte("package x\n\nconst MethodGet = \"x.get\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := transport.NewMux()
	m.HandleFunc("x.get", func(context.Context, *transport.Request) ([]byte, error) { return nil, nil })
	r := &recorder{TB: t}
	checkMethods(r, dir, m, []string{"x.get"})
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "not a service Mux") {
		t.Errorf("failures = %q, want one saying it is not a service Mux", r.errs)
	}
}

func TestCheckMethodsNeedsConstants(t *testing.T) {
	r := &recorder{TB: t}
	checkMethods(r, t.TempDir(), transport.NewServiceMux("x", "1.0.0"), nil)
	if len(r.errs) != 1 {
		t.Fatalf("failures = %q, want one fatal", r.errs)
	}
}

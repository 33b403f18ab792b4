// Package bustest runs a test on every transport: the in-process bus and
// RabbitMQ. Service tests use it so that each rule is checked on both.
package bustest

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopbus/shopbus/internal/testenv"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/inproc"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// Each runs fn once per transport, as subtests named "inproc" and "rabbit".
// Each run gets a fresh bus, closed when the subtest ends.
func Each(t *testing.T, fn func(t *testing.T, bus transport.Bus)) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { fn(t, New(t, kind)) })
	}
}

// Kinds names the transports Each runs on.
var Kinds = []string{"inproc", "rabbit"}

// New returns a fresh bus of the named kind, closed when t ends. A RabbitMQ
// bus gets a namespace of its own, so that test processes running at the
// same time on one broker never consume each other's queues.
func New(t testing.TB, kind string) transport.Bus {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	switch kind {
	case "inproc":
		b := inproc.New(inproc.Options{Logger: quiet})
		t.Cleanup(func() { b.Close() })
		return b
	case "rabbit":
		url := testenv.AMQPURL(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := rabbit.Dial(ctx, rabbit.Options{URL: url, Namespace: Namespace(), Name: t.Name(), Logger: quiet, ExpireUnused: 10 * time.Minute})
		if err != nil {
			t.Fatalf("bustest: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	t.Fatalf("bustest: unknown bus kind %q", kind)
	return nil
}

// Namespace returns a fresh RabbitMQ namespace for one test.
func Namespace() string { return "test-" + uuid.NewString()[:8] }

// CheckMethods fails t unless mux serves exactly the methods want lists and
// want lists exactly the Method… string constants declared in the package
// under test (read from the non-test Go files of the working directory,
// which go test sets to the package's). A service package's test writes its
// constants out, so a method added without a handler, a handler without a
// constant, or a constant the test does not know all fail.
//
// mux must be a service Mux (transport.NewServiceMux, which shop.NewMux
// makes): it also answers "<service>.describe", which neither want nor
// the constants list, and every method in want must be the service's.
func CheckMethods(t testing.TB, mux *transport.Mux, want ...string) {
	t.Helper()
	checkMethods(t, ".", mux, want)
}

func checkMethods(t testing.TB, dir string, mux *transport.Mux, want []string) {
	t.Helper()
	declared, err := methodConstants(dir)
	if err != nil {
		t.Fatalf("bustest: reading the package's Method constants: %v", err)
	}
	diff := func(what string, got, want []string) {
		t.Helper()
		extra, missing := setDiff(got, want)
		for _, m := range extra {
			t.Errorf("%s has %s, which the test does not list", what, m)
		}
		for _, m := range missing {
			t.Errorf("%s lacks %s", what, m)
		}
	}
	seen := map[string]bool{}
	for _, m := range want {
		if seen[m] {
			t.Errorf("the test lists %s twice", m)
		}
		seen[m] = true
	}
	service := mux.Service()
	if service == "" {
		t.Errorf("Handler(svc) is not a service Mux: make it with shop.NewMux(ServiceName) (transport.NewServiceMux), so that it answers <service>.%s", transport.DescribeMethod)
	}
	describe := service + "." + transport.DescribeMethod
	served := slices.DeleteFunc(mux.Methods(), func(m string) bool { return service != "" && m == describe })
	if service != "" && len(served) == len(mux.Methods()) {
		t.Errorf("Handler(svc) does not serve %s", describe)
	}
	for _, m := range want {
		if got, _ := transport.ServiceOf(m); service != "" && got != service {
			t.Errorf("the test lists %s, which is not a method of the service %s", m, service)
		}
	}
	diff("Handler(svc)", served, want)
	diff("the package's Method constants", declared, want)
}

// setDiff returns the elements of got not in want and those of want not in
// got, sorted.
func setDiff(got, want []string) (extra, missing []string) {
	in := func(s []string, x string) bool { return slices.Contains(s, x) }
	for _, g := range got {
		if !in(want, g) {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if !in(got, w) && !in(missing, w) {
			missing = append(missing, w)
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	return extra, missing
}

// methodConstants returns the values of the exported string constants named
// Method… declared in the non-test Go files of dir.
func methodConstants(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Method") || !id.IsExported() {
						continue
					}
					if i >= len(vs.Values) {
						return nil, fmt.Errorf("%s: constant %s has no value of its own", fset.Position(id.Pos()), id.Name)
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						return nil, fmt.Errorf("%s: constant %s is not a string literal", fset.Position(id.Pos()), id.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						return nil, err
					}
					out = append(out, v)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Method constants in %s", dir)
	}
	return out, nil
}

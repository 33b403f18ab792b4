package shoptest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/host"
)

// clientCalls returns, for each function declared in file whose name
// keep accepts, the packages whose NewClient it calls, sorted.
func clientCalls(t *testing.T, file string, keep func(name string) bool) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !keep(fn.Name.Name) {
			continue
		}
		pkgs := []string{}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewClient" {
				if id, ok := sel.X.(*ast.Ident); ok && !slices.Contains(pkgs, id.Name) {
					pkgs = append(pkgs, id.Name)
				}
			}
			return true
		})
		slices.Sort(pkgs)
		out[fn.Name.Name] = pkgs
	}
	return out
}

// serviceOf maps a service package's name to the service's name.
func serviceOf(pkg string) string {
	if pkg == "seed" {
		return "seeder"
	}
	return pkg
}

// The table of calls says what host's Start functions wire: each built-in
// service's clients of other services, read from host/builtin.go (and,
// for the seeder, which gets only the bus, from seeder.New).
func TestCallsMatchHost(t *testing.T) {
	if got, want := slices.Sorted(maps.Keys(calls)), slices.Sorted(slices.Values(host.Names)); !slices.Equal(got, want) {
		t.Fatalf("calls has entries for %v, host.Names is %v", got, want)
	}
	starts := clientCalls(t, "../../host/builtin.go", func(name string) bool { return strings.HasPrefix(name, "start") })
	seedNew := clientCalls(t, "../seeder/server.go", func(name string) bool { return name == "New" })["New"]
	if len(seedNew) == 0 {
		t.Fatal("seeder.New calls no NewClient: the seeder is wired differently now")
	}
	for _, name := range host.Names {
		fn := "start" + strings.ToUpper(name[:1]) + name[1:]
		if name == "seo" {
			fn = "startSEO"
		}
		pkgs, ok := starts[fn]
		if !ok {
			t.Errorf("host/builtin.go has no %s", fn)
			continue
		}
		if name == "seeder" {
			pkgs = seedNew
		}
		var want []string
		for _, p := range pkgs {
			if s := serviceOf(p); s != name {
				want = append(want, s)
			}
		}
		got := slices.Sorted(slices.Values(calls[name]))
		if !slices.Equal(got, want) {
			t.Errorf("calls[%q] = %v, but host starts it with clients of %v", name, got, want)
		}
	}
}

func TestWithDependencies(t *testing.T) {
	for _, tc := range []struct {
		names    []string
		replaced []string
		want     []string
	}{
		{[]string{"auth"}, nil, []string{"auth"}},
		{[]string{"seo"}, nil, []string{"auth", "seo"}},
		{[]string{"cart"}, nil, []string{"article", "attribute", "auth", "cart", "category", "option", "product"}},
		{[]string{"order"}, nil, []string{"article", "attribute", "auth", "cart", "category", "inventory", "option", "order", "product"}},
		// A replaced service's calls are not followed.
		{[]string{"cart"}, []string{"product"}, []string{"auth", "cart", "product"}},
		{[]string{"cart", "auth", "cart"}, nil, []string{"article", "attribute", "auth", "cart", "category", "option", "product"}},
	} {
		replaced := map[string]bool{}
		for _, r := range tc.replaced {
			replaced[r] = true
		}
		got := withDependencies(tc.names, replaced)
		if len(got) != len(tc.want) || !slices.Equal(slices.Sorted(slices.Values(got)), tc.want) {
			t.Errorf("withDependencies(%v, replaced %v) = %v, want %v", tc.names, tc.replaced, got, tc.want)
		}
	}
}

func TestSelectServices(t *testing.T) {
	names := func(opts Options) []string {
		t.Helper()
		svcs, err := selectServices(opts)
		if err != nil {
			t.Fatalf("selectServices(%+v): %v", opts, err)
		}
		var out []string
		for _, s := range svcs {
			out = append(out, s.Name)
		}
		return out
	}
	mine := host.Service{Name: "product"}
	greeter := host.Service{Name: "greeter"}
	for _, tc := range []struct {
		opts Options
		want []string
	}{
		{Options{}, host.Names},
		{Options{Services: []string{"all"}}, host.Names},
		{Options{Services: []string{}}, nil},
		{Options{Services: []string{}, Extra: []host.Service{greeter}}, []string{"greeter"}},
		// In the order of host.Names, whatever the order asked for.
		{Options{Services: []string{"seo", "auth"}}, []string{"auth", "seo"}},
		{Options{Services: []string{"cart"}}, []string{"auth", "category", "attribute", "option", "product", "cart", "article"}},
		// Extra services come last and replace built-in ones of their name.
		{Options{Services: []string{"cart"}, Extra: []host.Service{mine, greeter}}, []string{"auth", "cart", "product", "greeter"}},
		{Options{Services: []string{"seo"}, SeedProducts: 1}, []string{"auth", "category", "attribute", "option", "product", "inventory", "article", "seo", "seeder"}},
	} {
		if got := names(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("services of %+v = %v, want %v", tc.opts, got, tc.want)
		}
	}
	for _, opts := range []Options{
		{Services: []string{"cart", "nope"}},
		{Extra: []host.Service{greeter, greeter}},
	} {
		if _, err := selectServices(opts); err == nil {
			t.Errorf("selectServices(%+v) succeeded, want an error", opts)
		}
	}
}

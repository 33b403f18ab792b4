package shoptest

import "slices"

// calls maps each built-in service to the services it calls over the bus,
// as host's Start functions wire them (a test reads host/builtin.go and
// the seeder's constructor to keep this in step). Events need no entry:
// a subscriber runs without its publishers.
var calls = map[string][]string{
	"auth":      nil,
	"category":  {"auth", "product", "article"}, // shared slug space
	"attribute": {"auth"},
	"option":    {"auth"},
	"product":   {"auth", "category", "attribute", "option", "article"},
	"filter":    {"auth", "product", "category"},
	"cart":      {"auth", "product"},
	"inventory": {"auth"},
	"order":     {"auth", "cart", "product", "inventory"},
	"article":   {"auth", "product", "category"},
	"seo":       {"auth"},
	"seeder":    {"auth", "category", "attribute", "option", "product", "article", "seo", "inventory"},
}

// withDependencies returns names with every service they call, directly
// or not, in no particular order. The services of replaced are kept but
// their calls are not followed: they are the test's own.
func withDependencies(names []string, replaced map[string]bool) []string {
	var out []string
	var add func(string)
	add = func(name string) {
		if slices.Contains(out, name) {
			return
		}
		out = append(out, name)
		if replaced[name] {
			return
		}
		for _, dep := range calls[name] {
			add(dep)
		}
	}
	for _, n := range names {
		add(n)
	}
	return out
}

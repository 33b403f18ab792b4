package brokeraccess_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/deploy/internal/brokeraccess"
	"github.com/shopbus/shopbus/host"
)

func shopPlan() brokeraccess.Plan {
	return brokeraccess.Plan{Services: host.Names, Callers: []string{"storefront"}}
}

// objects are the broker objects of one service in namespace "shop".
func objects(svc string) []string {
	return []string{
		"shop." + svc, "shop." + svc + ".dead",
		"shop.events." + svc, "shop.events." + svc + ".dead",
		"shop.events." + svc + "-r1", "shop.events." + svc + "-r1.dead",
	}
}

func match(t *testing.T, re, s string) bool {
	t.Helper()
	// The regexes use only what Go's RE2 and RabbitMQ's PCRE share.
	return regexp.MustCompile(re).MatchString(s)
}

// TestServicePermissions checks each service's regexes against every
// object of every service: its own, and no other's.
func TestServicePermissions(t *testing.T) {
	accounts, err := shopPlan().Accounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts) != len(host.Names)+1 {
		t.Fatalf("%d accounts, want one per service and the storefront", len(accounts))
	}
	for _, a := range accounts[:len(host.Names)] {
		if a.User != "shop-"+a.Name || a.Permission.User != a.User || a.Permission.VHost != "/" {
			t.Errorf("%s: user %q, permission for %q in %q", a.Name, a.User, a.Permission.User, a.Permission.VHost)
		}
		p := a.Permission
		for _, other := range slices.Concat(host.Names, []string{"storefront", "inventory", "order"}) {
			for _, obj := range objects(other) {
				own := other == a.Name
				for kind, re := range map[string]string{"configure": p.Configure, "write": p.Write, "read": p.Read} {
					if got := match(t, re, obj); got != own {
						t.Errorf("%s %s %s = %v, want %v (%s)", a.Name, kind, obj, got, own, re)
					}
				}
			}
		}
		for _, ex := range []string{"shop.events", "shop.retry", "shop.dead"} {
			if match(t, p.Configure, ex) {
				t.Errorf("%s may configure (declare, delete) %s", a.Name, ex)
			}
			if !match(t, p.Write, ex) || !match(t, p.Read, ex) {
				t.Errorf("%s may not write or read %s", a.Name, ex)
			}
		}
		if !match(t, p.Write, "amq.default") || match(t, p.Read, "amq.default") {
			t.Errorf("%s: write/read on the default exchange wrong", a.Name)
		}
		for _, s := range []string{"shop.events.x", "shop.auth.x", "other.events", "amq.default.x", "xamq.default", "shop.eventsx"} {
			if match(t, p.Write, s) || match(t, p.Read, s) || match(t, p.Configure, s) {
				t.Errorf("%s matches %s", a.Name, s)
			}
		}

		// Topic permissions: its own event keys; retries into its own queues.
		if len(a.Topics) != 2 || a.Topics[0].Exchange != "shop.events" || a.Topics[1].Exchange != "shop.retry" {
			t.Fatalf("%s: topic permissions %+v", a.Name, a.Topics)
		}
		events, retry := a.Topics[0], a.Topics[1]
		for _, other := range host.Names {
			key := other + ".thing.changed"
			if got := match(t, events.Write, key); got != (other == a.Name) {
				t.Errorf("%s publishes %s = %v", a.Name, key, got)
			}
			for _, q := range []string{"shop.events." + other, "shop.events." + other + "-r1"} {
				own := other == a.Name
				if match(t, retry.Write, q) != own || match(t, retry.Read, q) != own {
					t.Errorf("%s retries into / binds %s: want %v", a.Name, q, own)
				}
			}
		}
		for _, key := range []string{"", a.Name, "x" + a.Name + ".a.b", "shop.events." + a.Name + ".dead"} {
			if match(t, events.Write, key) {
				t.Errorf("%s publishes %q", a.Name, key)
			}
		}
	}
}

func TestCallerPermissions(t *testing.T) {
	accounts, err := shopPlan().Accounts()
	if err != nil {
		t.Fatal(err)
	}
	sf := accounts[len(accounts)-1]
	if sf.Name != "storefront" || sf.User != "shop-storefront" {
		t.Fatalf("last account %+v, want the storefront", sf)
	}
	names := []string{"amq.default", "shop.events", "shop.retry", "shop.dead", "", "x"}
	for _, svc := range host.Names {
		names = append(names, objects(svc)...)
	}
	for _, n := range names {
		if match(t, sf.Permission.Configure, n) || match(t, sf.Permission.Read, n) {
			t.Errorf("storefront may configure or read %q", n)
		}
		if got := match(t, sf.Permission.Write, n); got != (n == "amq.default") {
			t.Errorf("storefront writes %q = %v", n, got)
		}
		for _, tp := range sf.Topics {
			if match(t, tp.Write, n) || match(t, tp.Read, n) {
				t.Errorf("storefront topic %s matches %q", tp.Exchange, n)
			}
		}
	}
	if len(sf.Topics) != 2 {
		t.Errorf("storefront topic permissions %+v: want both topic exchanges closed", sf.Topics)
	}
}

func TestNamespaceAndPrefix(t *testing.T) {
	p := brokeraccess.Plan{Namespace: "eu", VHost: "shops", Services: []string{"cart"}, UserPrefix: "t1-"}
	accounts, err := p.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	a := accounts[0]
	if a.User != "t1-cart" || a.Permission.VHost != "shops" || a.Topics[0].Exchange != "eu.events" || a.Topics[1].VHost != "shops" {
		t.Fatalf("account %+v", a)
	}
	if !match(t, a.Permission.Configure, "eu.cart") || match(t, a.Permission.Configure, "shop.cart") || match(t, a.Permission.Configure, "euxcart") {
		t.Errorf("configure %s ignores the namespace", a.Permission.Configure)
	}
}

func TestPlanErrors(t *testing.T) {
	for name, p := range map[string]brokeraccess.Plan{
		"empty":          {},
		"duplicate":      {Services: []string{"cart", "cart"}},
		"service=caller": {Services: []string{"cart"}, Callers: []string{"cart"}},
		"bad name":       {Services: []string{"Cart"}},
		"regex chars":    {Services: []string{"c.*"}},
		"exchange name":  {Services: []string{"events"}},
		"retry":          {Services: []string{"retry"}},
		"replica clash":  {Services: []string{"filter", "filter-eu"}},
		"bad namespace":  {Namespace: "a.b", Services: []string{"cart"}},
		"admin clash":    {Services: []string{"cart"}, Admin: "cart"},
	} {
		_, err := p.Accounts()
		var e *brokeraccess.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v, want a *brokeraccess.Error", name, err)
		}
	}
}

// TestHashPassword checks the hash against the example of RabbitMQ's
// documentation (passwords guide: salt 908DC60A, password "test12").
func TestHashPassword(t *testing.T) {
	const want = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
	if got := brokeraccess.HashPassword("test12", [4]byte{0x90, 0x8d, 0xc6, 0x0a}); got != want {
		t.Fatalf("hash = %s, want %s", got, want)
	}
	if !brokeraccess.CheckHash(want, "test12") || brokeraccess.CheckHash(want, "test13") || brokeraccess.CheckHash("!", "test12") {
		t.Fatal("CheckHash")
	}
}

func TestDefinitions(t *testing.T) {
	p := shopPlan()
	p.Admin = "ops"
	passwords := map[string]string{"storefront": strings.Repeat("s", 16), "ops": strings.Repeat("o", 20)}
	for _, n := range host.Names {
		passwords[n] = n + "-password-0123456789"
	}
	defs, err := p.Definitions(passwords, bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4}, 100)))
	if err != nil {
		t.Fatal(err)
	}
	data, err := defs.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Users []struct {
			Name             string
			PasswordHash     string `json:"password_hash"`
			HashingAlgorithm string `json:"hashing_algorithm"`
			Tags             []string
		}
		VHosts           []struct{ Name string }
		Permissions      []map[string]string
		TopicPermissions []map[string]string `json:"topic_permissions"`
		Exchanges        []struct {
			Name, VHost, Type string
			Durable           bool
		}
		Policies []struct {
			VHost, Name, Pattern string
			ApplyTo              string `json:"apply-to"`
			Definition           map[string]any
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	accounts := len(host.Names) + 2
	if len(doc.Users) != accounts || len(doc.Permissions) != accounts || len(doc.TopicPermissions) != 2*(accounts-1) {
		t.Fatalf("%d users, %d permissions, %d topic permissions", len(doc.Users), len(doc.Permissions), len(doc.TopicPermissions))
	}
	if len(doc.VHosts) != 1 || doc.VHosts[0].Name != "/" {
		t.Errorf("vhosts %+v", doc.VHosts)
	}
	var exchanges []string
	for _, e := range doc.Exchanges {
		if !e.Durable || e.VHost != "/" {
			t.Errorf("exchange %+v", e)
		}
		exchanges = append(exchanges, e.Name+" "+e.Type)
	}
	if want := []string{"shop.events topic", "shop.retry topic", "shop.dead direct"}; !slices.Equal(exchanges, want) {
		t.Errorf("exchanges %v, want %v", exchanges, want)
	}
	// One policy bounds the subscribers' dead-letter queues, and only them.
	if len(doc.Policies) != 1 {
		t.Fatalf("policies %+v, want one", doc.Policies)
	}
	pol := doc.Policies[0]
	if pol.VHost != "/" || pol.ApplyTo != "queues" || pol.Definition["max-length"] != float64(brokeraccess.DefaultDeadLetterLimit) ||
		pol.Definition["overflow"] != "drop-head" {
		t.Errorf("dead-letter policy %+v", pol)
	}
	re := regexp.MustCompile(pol.Pattern)
	for name, want := range map[string]bool{
		"shop.events.filter.dead":    true,
		"shop.events.filter-r1.dead": true,
		"shop.events.filter":         false,
		"shop.product.dead":          false, // parked requests: bounded by their own arguments
		"shop.product":               false,
		"shopXevents.filter.dead":    false,
		"other.events.filter.dead":   false,
	} {
		if re.MatchString(name) != want {
			t.Errorf("policy pattern %s matches %s: %v, want %v", pol.Pattern, name, !want, want)
		}
	}
	for _, u := range doc.Users {
		name := strings.TrimPrefix(u.Name, "shop-")
		if u.HashingAlgorithm != brokeraccess.HashingAlgorithm || !brokeraccess.CheckHash(u.PasswordHash, passwords[name]) {
			t.Errorf("user %s: hash %s (%s) is not of its password", u.Name, u.PasswordHash, u.HashingAlgorithm)
		}
		if admin := slices.Equal(u.Tags, []string{"administrator"}); admin != (u.Name == "ops") || u.Tags == nil {
			t.Errorf("user %s: tags %v", u.Name, u.Tags)
		}
		if strings.Contains(string(data), passwords[name]) {
			t.Errorf("the definitions hold %s's password in clear", u.Name)
		}
	}
}

func TestDefinitionsNeedPasswords(t *testing.T) {
	p := brokeraccess.Plan{Services: []string{"cart", "seo"}}
	var e *brokeraccess.Error
	_, err := p.Definitions(map[string]string{"cart": strings.Repeat("c", 16)}, nil)
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "seo") {
		t.Errorf("missing password: %v", err)
	}
	_, err = p.Definitions(map[string]string{"cart": strings.Repeat("c", 16), "seo": "short"}, nil)
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "seo") {
		t.Errorf("short password: %v", err)
	}
	defs, err := p.Definitions(map[string]string{"cart": strings.Repeat("c", 16), "seo": strings.Repeat("s", 16)}, nil)
	if err != nil || defs.Users[0].PasswordHash == defs.Users[1].PasswordHash {
		t.Errorf("random salts: %v", err)
	}
}

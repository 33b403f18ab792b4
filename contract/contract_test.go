package contract

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/transport"
)

var update = flag.Bool("update", false, "rewrite asyncapi.json (TestUpToDate)")

const documentFile = "asyncapi.json"

// TestUpToDate checks that the checked-in document is what Generate
// builds from today's Go types; with -update it writes it.
func TestUpToDate(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(documentFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(documentFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("contract/%s is stale: run go generate ./contract (go test ./contract -run TestUpToDate -update) and review the difference", documentFile)
	}
	if string(Document()) != string(want) {
		t.Fatal("Document does not return the checked-in document")
	}
}

// genDoc is the generated document, decoded.
type genDoc struct {
	text  []byte // as Generate wrote it
	raw   map[string]any
	Index struct {
		Methods []methodDoc
		Events  []struct {
			Key, Publisher, Exchange string
			Body                     map[string]any
		}
	} `json:"x-shopbus-index"`
}

// methodDoc is an entry of the index's methods.
type methodDoc struct {
	Method, Service, Queue string
	Request, Reply         map[string]any
}

func generated(t *testing.T) *genDoc {
	t.Helper()
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	d := genDoc{text: b}
	if err := json.Unmarshal(b, &d.raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// request, reply and event return the JSON pointer, in the document, of
// the schema of method's request or reply or of the event key's body.
func (d *genDoc) request(t testing.TB, method string) string {
	t.Helper()
	return d.method(t, method) + "/request"
}

func (d *genDoc) reply(t testing.TB, method string) string {
	t.Helper()
	return d.method(t, method) + "/reply"
}

func (d *genDoc) method(t testing.TB, method string) string {
	t.Helper()
	for i, m := range d.Index.Methods {
		if m.Method == method {
			return fmt.Sprintf("/x-shopbus-index/methods/%d", i)
		}
	}
	t.Fatalf("no method %s in the document", method)
	return ""
}

func (d *genDoc) event(t testing.TB, key string) string {
	t.Helper()
	for i, e := range d.Index.Events {
		if e.Key == key {
			return fmt.Sprintf("/x-shopbus-index/events/%d/body", i)
		}
	}
	t.Fatalf("no event %s in the document", key)
	return ""
}

// errorSchema is the JSON pointer of the error object's schema.
const errorSchema = "/components/messages/error/payload"

// handlers are every service's Handler, by service name.
func handlers() map[string]*transport.Mux {
	m := map[string]*transport.Mux{}
	for _, svc := range services() {
		m[svc.name] = svc.mux
	}
	return m
}

// TestEveryMethodAndEvent checks that the document has every service the
// host runs, exactly the methods each Handler serves, on the service's
// queue, and every event key package shop declares.
func TestEveryMethodAndEvent(t *testing.T) {
	d := generated(t)
	muxes := handlers()
	if got := slices.Sorted(mapsKeys(muxes)); !slices.Equal(got, slices.Sorted(slices.Values(host.Names))) {
		t.Fatalf("the test knows services %v, the host runs %v", got, host.Names)
	}
	served := map[string][]string{}
	for _, m := range d.Index.Methods {
		served[m.Service] = append(served[m.Service], m.Method)
		if m.Queue != "shop."+m.Service {
			t.Errorf("%s: queue %s", m.Method, m.Queue)
		}
		if m.Request == nil || m.Reply == nil {
			t.Errorf("%s: no request or reply schema", m.Method)
		}
	}
	for name, mux := range muxes {
		if got, want := served[name], mux.Methods(); !slices.Equal(got, want) {
			t.Errorf("service %s: document has %v, Handler serves %v", name, got, want)
		}
		for _, m := range mux.Methods() {
			ops := d.raw["operations"].(map[string]any)
			if _, ok := ops[m]; !ok {
				t.Errorf("no operation %s", m)
			}
		}
	}

	// Every Event… constant of shop/events.go, read from the source so that
	// a new one cannot be forgotten.
	f, err := parser.ParseFile(token.NewFileSet(), "../shop/events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Event") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						key, _ := strconv.Unquote(lit.Value)
						declared = append(declared, key)
					}
				}
			}
		}
	}
	var documented []string
	for _, e := range d.Index.Events {
		documented = append(documented, e.Key)
		if pub, _, _ := strings.Cut(e.Key, "."); e.Publisher != pub || e.Exchange != "shop.events" {
			t.Errorf("event %s: publisher %s, exchange %s", e.Key, e.Publisher, e.Exchange)
		}
	}
	slices.Sort(declared)
	slices.Sort(documented)
	if len(declared) < 15 || !slices.Equal(declared, documented) {
		t.Errorf("shop/events.go declares %v, the document has %v", declared, documented)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestEveryTypeRoundTrips encodes, for every method's request and reply
// and every event body, a value with every field set and the zero value,
// and checks both against the document strictly: each property
// encoding/json writes is in the schema with the right type, each
// required one is written.
func TestEveryTypeRoundTrips(t *testing.T) {
	d := generated(t)
	v := newValidator(t, d.text, true)
	check := func(what string, schema string, typ reflect.Type, zero bool) {
		t.Helper()
		for _, full := range []bool{true, !zero} {
			val := reflect.New(typ).Elem()
			if full {
				fill(val, 0)
			}
			body, err := json.Marshal(val.Interface())
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if err := v.validate(schema, body); err != nil {
				t.Errorf("%s (%v, full=%v): %v\nbody: %s", what, typ, full, err, body)
			}
		}
	}
	n := 0
	for name, mux := range handlers() {
		for _, m := range mux.Methods() {
			req, resp, ok := mux.Types(m)
			if !ok {
				t.Errorf("%s/%s: no types", name, m)
				continue
			}
			check(m+" request", d.request(t, m), req, true)
			check(m+" reply", d.reply(t, m), resp, true)
			n++
		}
	}
	events := map[string]any{
		shop.EventProductUpdated: shop.ProductChanged{}, shop.EventCategoryUpdated: shop.CategoryChanged{},
		shop.EventArticleUpdated: shop.ArticleChanged{}, shop.EventStockChanged: shop.StockChanged{},
		shop.EventOrderConfirmed: shop.OrderChanged{},
	}
	for key, body := range events {
		check(key, d.event(t, key), reflect.TypeOf(body), true)
	}
	check("error", errorSchema, reflect.TypeFor[transport.Error](), false) // an error always has a code
	if n < 80 {
		t.Errorf("checked %d methods; the services serve more", n)
	}
}

// fill sets every field, element and key of v to something non-zero,
// stopping at a depth (recursive types).
func fill(v reflect.Value, depth int) {
	if depth > 4 {
		return
	}
	switch v.Type() { // closed sets of values (the schema's enums)
	case reflect.TypeFor[transport.Code]():
		v.SetString(string(transport.CodeInvalid))
		return
	case reflect.TypeFor[shop.Role]():
		v.SetString(string(shop.RoleCustomer))
		return
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 14, 6, 6, 950_000_000, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		if v.NumMethod() == 0 {
			v.Set(reflect.ValueOf("x"))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}

// TestRealBodiesConform checks request and reply bodies as clients and
// services write them — CONTRACT.md's worked examples and values shaped
// like the services' tests' — against the document as a client reads it
// (unknown properties allowed), and that the schemas refuse bodies of the
// wrong shape.
func TestRealBodiesConform(t *testing.T) {
	d := generated(t)
	v := newValidator(t, d.text, false)
	strict := newValidator(t, d.text, true)
	asJSON := func(x any) []byte {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	at := time.Date(2026, 12, 5, 14, 6, 6, 952_000_000, time.UTC)
	eur := func(n int64) shop.Money { return shop.Money{Amount: n, Currency: "EUR"} }
	line := order.Line{ProductID: "08c61f9e", Title: "Mug", SKU: "MUG", UnitPrice: eur(1250), Quantity: 2, Subtotal: eur(2500)}
	placed := order.Order{
		ID: "7968dcbc-7454-5119-b586-bce2ec40c2d9", UserID: "53ada274", Email: "ada@example.com", Status: order.StatusPaid,
		Lines:    []order.Line{line},
		Address:  order.Address{Name: "Ada Lovelace", Line1: "Hauptstraße 1", PostalCode: "10115", City: "Berlin", Country: "DE"},
		Shipping: order.ShippingMethod{Code: "standard", Name: "Standard (2-4 working days)", Price: eur(490)},
		Totals:   []order.Total{{Currency: "EUR", Items: 2500, Shipping: 490, Total: 2990, Tax: 477, TaxRate: 1900}},
		Payment:  "captured", Settled: true, Version: 5, CreatedAt: at, UpdatedAt: at,
	}
	good := []struct {
		schema string
		name   string
		body   []byte
	}{
		// CONTRACT.md's examples, as written there.
		{d.request(t, "auth.login"), "auth.login request", []byte(`{"email":"ada@example.com","password":"correct horse battery"}`)},
		{d.reply(t, "auth.login"), "auth.login reply", []byte(`{"token":"q3J...","user_id":"8c1d...","expires_at":"2026-12-01T10:00:00Z"}`)},
		{d.request(t, "cart.add_item"), "cart.add_item request", []byte(`{"product_id":"8c1d...","quantity":1}`)},
		{d.request(t, "inventory.get_many"), "inventory.get_many request", []byte(`{"skus":["MUG"]}`)},
		{d.reply(t, "inventory.get_many"), "inventory.get_many reply", []byte(`[{"sku":"MUG","on_hand":10,"reserved":0,"available":10,"version":2,"updated_at":"2026-12-05T14:06:06.950Z"}]`)},
		{d.request(t, "order.shipping_methods"), "order.shipping_methods request", []byte(`{}`)},
		{d.reply(t, "order.shipping_methods"), "order.shipping_methods reply", []byte(`[{"code":"standard","name":"Standard (2-4 working days)","price":{"amount":490,"currency":"EUR"}},{"code":"express","name":"Express (next working day)","price":{"amount":990,"currency":"EUR"}}]`)},
		{d.request(t, "order.place"), "order.place request", []byte(`{"email":"ada@example.com","address":{"name":"Ada Lovelace","line1":"Hauptstraße 1","postal_code":"10115","city":"Berlin","country":"DE"},"shipping_method":"standard"}`)},
		{d.request(t, "order.place"), "order.place request accepting prices", []byte(`{"email":"ada@example.com","address":{"name":"Ada Lovelace","line1":"Hauptstraße 1","postal_code":"10115","city":"Berlin","country":"DE"},"shipping_method":"standard","accept_prices":true}`)},
		{d.request(t, "order.get"), "order.get request", []byte(`{"id":"7968dcbc-7454-5119-b586-bce2ec40c2d9"}`)},
		{d.request(t, "order.list"), "order.list request", []byte(`{"status":"paid","limit":20,"offset":0}`)},
		{d.event(t, shop.EventOrderConfirmed), "order.order.confirmed", []byte(`{"order_id":"7968dcbc","user_id":"53ada274","status":"paid","lines":[{"product_id":"08c61f9e","sku":"MUG","quantity":2}],"total":{"amount":2990,"currency":"EUR"},"version":4,"occurred":"2026-12-05T14:06:07.001Z"}`)},
		{d.event(t, shop.EventStockChanged), "inventory.stock.changed", []byte(`{"sku":"MUG","available":8,"on_hand":8,"version":3,"occurred":"2026-12-05T14:06:06.991Z"}`)},
		// A tolerant reader: a field the schema does not know is allowed.
		{d.request(t, "auth.login"), "auth.login request with a new field", []byte(`{"email":"ada@example.com","password":"x","remember_me":true}`)},
		// Values the services write, shaped like their tests'.
		{d.reply(t, "order.place"), "order.place reply", asJSON(placed)},
		{d.reply(t, "order.list"), "order.list reply", asJSON(order.Page{Orders: []order.Order{placed}, Next: 20})},
		{d.reply(t, "order.list"), "order.list empty reply", asJSON(order.Page{})},
		{d.reply(t, "auth.authenticate"), "auth.authenticate reply", asJSON(shop.Principal{UserID: "u1", Email: "ada@example.com", Roles: []shop.Role{shop.RoleAdmin}})},
		{d.request(t, "product.create"), "product.create request", asJSON(product.CreateRequest{Title: "Blue shirt", Price: eur(1999), CategoryIDs: []string{"c1"}, Attributes: map[string]any{"brand": "Acme", "weight": 1.5, "eco": true}})},
		{d.reply(t, "inventory.get"), "inventory.get reply", asJSON(inventory.Stock{SKU: "MUG", OnHand: 10, Available: 10, Version: 2, UpdatedAt: at})},
		{d.event(t, shop.EventProductUpdated), "product.product.updated", asJSON(shop.ProductChanged{Product: shop.ProductSnapshot{ID: "p1", Slug: "blue-shirt", Title: "Blue shirt", Status: shop.StatusPublished, Price: eur(1999), Version: 4, UpdatedAt: at}, Occurred: at})},
		// CONTRACT.md's bulk-write example (the refused item of its reply).
		{d.request(t, "product.create_many"), "product.create_many request", []byte(`{"items":[{"title":"Linen Shirt","price":{"amount":4900,"currency":"EUR"}},
                {"title":"Lost","price":{"amount":100,"currency":"EUR"},"category_ids":["no-such-category"]}]}`)},
		{d.reply(t, "product.create_many"), "product.create_many reply, the refused item", []byte(`[{"error":{"code":"invalid","message":"invalid product","fields":[{"field":"category_ids","message":"unknown category \"no-such-category\""}]}}]`)},
	}
	for _, c := range good {
		if err := v.validate(c.schema, c.body); err != nil {
			t.Errorf("%s does not conform: %v", c.name, err)
		}
	}
	// The strict reading refuses what the tolerant one allows.
	if err := strict.validate(good[13].schema, good[13].body); err == nil || !strings.Contains(err.Error(), "remember_me") {
		t.Errorf("%s: strict validation error %v, want one about remember_me", good[13].name, err)
	}
	// The services' own values hold nothing the schema does not list.
	for _, c := range good[14:] {
		if err := strict.validate(c.schema, c.body); err != nil {
			t.Errorf("%s has a property the schema lacks: %v", c.name, err)
		}
	}

	bad := []struct {
		schema string
		name   string
		body   string
		want   string
	}{
		{d.request(t, "auth.login"), "e-mail as a number", `{"email":1,"password":"x"}`, "at '/email'"},
		{d.request(t, "order.place"), "address as a string", `{"email":"a@b.c","address":"Berlin","shipping_method":"standard"}`, "at '/address'"},
		{d.request(t, "order.place"), "country as a number", `{"email":"a@b.c","address":{"name":"A","line1":"B","postal_code":"1","city":"C","country":49},"shipping_method":"standard"}`, "at '/address/country'"},
		{d.request(t, "cart.add_item"), "quantity as a decimal", `{"product_id":"p","quantity":1.5}`, "at '/quantity'"},
		{d.reply(t, "order.shipping_methods"), "amount as a string", `[{"code":"standard","name":"S","price":{"amount":"4.90","currency":"EUR"}}]`, "at '/0/price/amount'"},
		{d.reply(t, "auth.login"), "expires_at not a date", `{"token":"t","user_id":"u","expires_at":"tomorrow"}`, "at '/expires_at'"},
		{d.reply(t, "order.get"), "a reply without its id", strings.Replace(string(asJSON(placed)), `"id":"7968dcbc-7454-5119-b586-bce2ec40c2d9",`, "", 1), "missing property 'id'"},
		{d.reply(t, "auth.authenticate"), "an unknown role", `{"user_id":"u","email":"e","roles":["root"]}`, "at '/roles/0'"},
		{d.event(t, shop.EventStockChanged), "version missing", `{"sku":"MUG","available":8,"on_hand":8,"occurred":"2026-12-05T14:06:06.991Z"}`, "missing property 'version'"},
	}
	for _, c := range bad {
		err := v.validate(c.schema, []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: validation error %v, want one about %s", c.name, err, c.want)
		}
	}
}

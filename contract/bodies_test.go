package contract

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/host"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/shop/order"
	"github.com/shopbus/shopbus/shop/shoptest"
	"github.com/shopbus/shopbus/transport"
)

// minRealMethods is how many distinct methods TestServiceBodiesConform
// must see answered successfully: fewer means the drive below stopped
// reaching services.
const minRealMethods = 50

// maxRecorded bounds what the recorder keeps.
const maxRecorded = 20000

// exchange is one request as a service received it and what it answered.
type exchange struct {
	method     string
	req, reply []byte
	err        *transport.Error // the error answered, nil on success
}

// recorder is a transport middleware that keeps every request body and
// reply of the services it wraps.
type recorder struct {
	mu      sync.Mutex
	got     []exchange
	dropped int
}

func (r *recorder) middleware(next transport.Handler) transport.Handler {
	return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		out, err := next.ServeBus(ctx, req)
		e := exchange{method: req.Method, req: slices.Clone(req.Body), reply: slices.Clone(out)}
		if err != nil {
			e.err = transport.AsError(err) // as the buses encode it
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.got) < maxRecorded {
			r.got = append(r.got, e)
		} else {
			r.dropped++
		}
		return out, err
	})
}

// TestServiceBodiesConform runs a whole shop on the in-process bus with
// a recorder around every service, drives it as a storefront and an
// admin would (sign-up and log-in, a seeded catalogue, categories,
// products, articles, search, cart, checkout, SEO, describe, some
// mistakes), and validates every request body each service received and
// every reply and error it answered against the method's schemas in the
// document, strictly (no property the schema does not list). Requests
// one service makes of another are included.
func TestServiceBodiesConform(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole shop (a few seconds)")
	}
	rec := &recorder{}
	s := shoptest.Start(t, shoptest.Options{
		Bus:          shoptest.InProcess,
		SeedProducts: 3,
		Settings:     host.Settings{BaseURL: "https://shop.example"}, // for seo.sitemap
		Middleware:   []transport.Middleware{rec.middleware},
	})
	drive(t, s)

	d := generated(t)
	v := newValidator(t, d.text, true)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.dropped > 0 {
		t.Logf("%d exchanges beyond the first %d not checked", rec.dropped, maxRecorded)
	}
	ok := map[string]bool{}
	checked := 0
	for _, e := range rec.got {
		if !slices.ContainsFunc(d.Index.Methods, func(m methodDoc) bool { return m.Method == e.method }) {
			t.Errorf("%s was served but is not in the document", e.method)
			continue
		}
		if len(e.req) > 0 { // an empty body is the empty request
			if err := v.validate(d.request(t, e.method), e.req); err != nil {
				t.Errorf("%s request does not conform: %v\nbody: %.2000s", e.method, err, e.req)
			}
		}
		switch {
		case e.err != nil:
			body, err := json.Marshal(e.err)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.validate(errorSchema, body); err != nil {
				t.Errorf("%s error does not conform: %v\nbody: %s", e.method, err, body)
			}
		default:
			if err := v.validate(d.reply(t, e.method), e.reply); err != nil {
				t.Errorf("%s reply does not conform: %v\nbody: %.2000s", e.method, err, e.reply)
			}
			ok[e.method] = true
		}
		checked++
	}
	methods := slices.Sorted(func(yield func(string) bool) {
		for m := range ok {
			if !yield(m) {
				return
			}
		}
	})
	t.Logf("checked %d exchanges; %d methods answered successfully: %v", checked, len(methods), methods)
	if len(methods) < minRealMethods {
		t.Errorf("only %d methods answered successfully, want at least %d", len(methods), minRealMethods)
	}
}

// drive uses the shop's services as clients do. It fails t only where
// the shop cannot go on; answers are what the recorder checks.
func drive(t *testing.T, s *shoptest.Shop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := withCtx(ctx, s.Admin(t))
	ada := withCtx(ctx, s.NewCustomer(t))
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	try := func(what string, err error) { // an answer, good or bad
		t.Helper()
		var e *transport.Error
		if err != nil && !errors.As(err, &e) {
			t.Errorf("%s: %v", what, err)
		}
	}

	for _, name := range s.Services {
		_, err := transport.Invoke[transport.Description](ctx, s.Bus, name+"."+transport.DescribeMethod, transport.DescribeRequest{})
		must(name+".describe", err)
	}

	// The catalogue: a category tree, attributes, options, products.
	categories := category.NewClient(s.Bus)
	mugs, err := categories.Create(admin, category.CreateRequest{Name: "Mugs", Description: "Things to drink from"})
	must("category.create", err)
	_, err = categories.Create(admin, category.CreateRequest{Name: "Espresso cups", ParentID: mugs.ID})
	must("category.create child", err)
	_, err = categories.Update(admin, category.UpdateRequest{ID: mugs.ID, Description: ptr("Cups and mugs")})
	try("category.update", err)
	_, err = categories.Get(ctx, category.GetRequest{ID: mugs.ID})
	try("category.get", err)
	_, err = categories.GetBySlug(ctx, category.GetBySlugRequest{Slug: mugs.Slug})
	try("category.get_by_slug", err)
	_, err = categories.Tree(ctx, category.TreeRequest{})
	try("category.tree", err)
	_, err = categories.ListChildren(ctx, category.ListChildrenRequest{ParentID: mugs.ID})
	try("category.list_children", err)

	attributes := attribute.NewClient(s.Bus)
	_, err = attributes.List(ctx, attribute.ListRequest{})
	try("attribute.list", err)
	_, err = attributes.ListGroups(ctx, attribute.ListRequest{})
	try("attribute.list_groups", err)
	options := option.NewClient(s.Bus)
	_, err = options.ListGroups(ctx, option.ListGroupsRequest{})
	try("option.list_groups", err)

	products := product.NewClient(s.Bus)
	mug, err := products.Create(admin, product.CreateRequest{
		Title: "Blue mug", Status: shop.StatusPublished, Price: shop.Money{Amount: 1250, Currency: "EUR"},
		CategoryIDs: []string{mugs.ID},
	})
	must("product.create", err)
	_, err = products.Get(ctx, product.GetRequest{ID: mug.ID})
	try("product.get", err)
	_, err = products.GetBySlug(ctx, product.GetBySlugRequest{Slug: mug.Slug})
	try("product.get_by_slug", err)
	_, err = products.List(ctx, product.ListRequest{CategoryID: mugs.ID, Limit: 10})
	try("product.list", err)
	_, err = products.Get(ctx, product.GetRequest{ID: "no-such-product"})
	try("product.get unknown", err) // not_found: an error body
	_, err = products.Create(ada, product.CreateRequest{Title: "Forbidden"})
	try("product.create by a customer", err) // forbidden
	_, err = products.Create(admin, product.CreateRequest{})
	try("product.create empty", err) // invalid, with fields
	_, err = options.GetVariants(ctx, option.ProductRequest{ProductID: mug.ID})
	try("option.get_variants", err)

	inv := inventory.NewClient(s.Bus)
	_, err = inv.SetStock(admin, inventory.SetStockRequest{SKU: mug.SKU, OnHand: 10})
	must("inventory.set_stock", err)
	_, err = inv.Get(ctx, inventory.GetRequest{SKU: mug.SKU})
	try("inventory.get", err)
	_, err = inv.GetMany(ctx, inventory.GetManyRequest{SKUs: []string{mug.SKU, "NO-SUCH-SKU"}})
	try("inventory.get_many", err)

	// Content and search.
	articles := article.NewClient(s.Bus)
	a, err := articles.Create(admin, article.CreateRequest{Title: "How to choose a mug", Body: "Hold it.", Tags: []string{"mugs"}, Status: "published"})
	try("article.create", err)
	_, err = articles.List(ctx, article.ListRequest{Tag: "mugs"})
	try("article.list", err)
	if a.Slug != "" {
		_, err = articles.GetBySlug(ctx, article.GetBySlugRequest{Slug: a.Slug})
		try("article.get_by_slug", err)
	}
	seos := seo.NewClient(s.Bus)
	_, err = seos.Resolve(ctx, seo.ResolveRequest{Path: "/" + mug.Slug})
	try("seo.resolve", err)
	_, err = seos.Sitemap(ctx, seo.SitemapRequest{})
	try("seo.sitemap", err)
	f := filter.NewClient(s.Bus)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the read model follows events
		r, err := f.Query(ctx, filter.Query{CategoryID: mugs.ID, Limit: 10})
		try("filter.query", err)
		if err != nil || r.Total > 0 || time.Now().After(deadline) {
			break
		}
	}

	// A cart and its checkout.
	carts := cart.NewClient(s.Bus)
	_, err = carts.AddItem(ada, cart.AddItemRequest{ProductID: mug.ID, Quantity: 3})
	must("cart.add_item", err)
	_, err = carts.UpdateItem(ada, cart.UpdateItemRequest{ProductID: mug.ID, Quantity: 2})
	try("cart.update_item", err)
	_, err = carts.Get(ada, cart.CartRequest{})
	try("cart.get", err)
	_, err = carts.AddItem(ada, cart.AddItemRequest{ProductID: mug.ID, Quantity: -1})
	try("cart.add_item negative", err) // invalid

	orders := order.NewClient(s.Bus)
	_, err = orders.ShippingMethods(ctx, order.ShippingMethodsRequest{})
	try("order.shipping_methods", err)
	place := order.PlaceRequest{
		Email:          "ada@example.com",
		Address:        order.Address{Name: "Ada Lovelace", Line1: "Hauptstraße 1", PostalCode: "10115", City: "Berlin", Country: "DE"},
		ShippingMethod: "standard",
	}
	_, err = orders.Quote(ada, place)
	try("order.quote", err)
	o, err := orders.Place(ada, place)
	must("order.place", err)
	for deadline := time.Now().Add(10 * time.Second); !o.Settled && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		o, err = orders.Get(ada, order.GetRequest{ID: o.ID})
		must("order.get", err)
	}
	_, err = orders.List(ada, order.ListRequest{Limit: 5})
	try("order.list", err)
	_, err = orders.List(admin, order.ListRequest{Status: o.Status})
	try("order.list as admin", err)
	_, err = inv.GetReservation(admin, inventory.OrderRequest{OrderID: o.ID})
	try("inventory.get_reservation", err)

	// Audit logs: every service's history method, an entity each (an
	// unknown one answers not_found, an error body that is checked too).
	for _, h := range []struct {
		method string
		req    shop.HistoryRequest
	}{
		{product.MethodHistory, shop.HistoryRequest{ID: mug.ID}},
		{category.MethodHistory, shop.HistoryRequest{ID: mugs.ID}},
		{attribute.MethodHistory, shop.HistoryRequest{ID: "no-such-attribute", Kind: attribute.KindGroup}},
		{option.MethodHistory, shop.HistoryRequest{ID: "no-such-group"}},
		{article.MethodHistory, shop.HistoryRequest{ID: a.ID}},
		{seo.MethodHistory, shop.HistoryRequest{ID: "/no-such-redirect", Kind: seo.HistoryRedirect}},
		{inventory.MethodHistory, shop.HistoryRequest{ID: mug.SKU}},
		{order.MethodHistory, shop.HistoryRequest{ID: o.ID}},
	} {
		_, err := transport.Invoke[shop.History](admin, s.Bus, h.method, h.req)
		try(h.method, err)
	}

	// Clean-up calls change more state.
	_, err = carts.RemoveItem(ada, cart.RemoveItemRequest{ProductID: mug.ID})
	try("cart.remove_item", err)
	_, err = products.Unpublish(admin, product.GetRequest{ID: mug.ID})
	try("product.unpublish", err)
}

func ptr[T any](v T) *T { return &v }

// withCtx returns tokenCtx's session token on ctx (with ctx's deadline).
func withCtx(ctx, tokenCtx context.Context) context.Context {
	return shop.WithToken(ctx, shop.TokenFrom(tokenCtx))
}

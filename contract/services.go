package contract

import (
	"context"
	"reflect"

	"github.com/shopbus/shopbus/host/ops"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
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
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
)

// A service is one service's name and request handler. The handler is
// built around the service's bus client on a nil bus: building it
// only takes method values, so nothing is called, and the Mux remembers
// each method's request and reply types (transport.Handle).
type service struct {
	name string
	pkg  string // the package's import path
	mux  *transport.Mux
}

// newService describes the service whose bus client is client, as a
// host.Node serves it: its Handler and, on the same queue, the node's
// operations methods (package host/ops).
func newService(name string, mux *transport.Mux, client any) service {
	both := transport.NewServiceMux(name, mux.Describe().Version)
	both.Include(mux)
	both.Include(ops.Handler(name, noOps{}))
	return service{name: name, pkg: reflect.TypeOf(client).Elem().PkgPath(), mux: both}
}

// services lists every shopbus service, in the order of host.Names.
func services() []service {
	return []service{
		newService(auth.ServiceName, auth.Handler(auth.NewClient(nil)), (*auth.Client)(nil)),
		newService(category.ServiceName, category.Handler(category.NewClient(nil)), (*category.Client)(nil)),
		newService(attribute.ServiceName, attribute.Handler(attribute.NewClient(nil)), (*attribute.Client)(nil)),
		newService(option.ServiceName, option.Handler(option.NewClient(nil)), (*option.Client)(nil)),
		newService(product.ServiceName, product.Handler(product.NewClient(nil)), (*product.Client)(nil)),
		newService(filter.ServiceName, filter.Handler(filter.NewClient(nil)), (*filter.Client)(nil)),
		newService(cart.ServiceName, cart.Handler(cart.NewClient(nil)), (*cart.Client)(nil)),
		newService(inventory.ServiceName, inventory.Handler(inventory.NewClient(nil)), (*inventory.Client)(nil)),
		newService(order.ServiceName, order.Handler(order.NewClient(nil)), (*order.Client)(nil)),
		newService(article.ServiceName, article.Handler(article.NewClient(nil)), (*article.Client)(nil)),
		newService(seo.ServiceName, seo.Handler(seo.NewClient(nil)), (*seo.Client)(nil)),
		newService(seeder.ServiceName, seeder.Handler(seeder.NewClient(nil)), (*seeder.Client)(nil)),
	}
}

// An event is one routing key and the Go type of its body.
type event struct {
	key  string
	body reflect.Type
}

// events lists every event a shopbus service publishes (the Event…
// constants of package shop).
func events() []event {
	var (
		productChanged  = reflect.TypeFor[shop.ProductChanged]()
		categoryChanged = reflect.TypeFor[shop.CategoryChanged]()
		articleChanged  = reflect.TypeFor[shop.ArticleChanged]()
		stockChanged    = reflect.TypeFor[shop.StockChanged]()
		orderChanged    = reflect.TypeFor[shop.OrderChanged]()
	)
	return []event{
		{shop.EventProductCreated, productChanged},
		{shop.EventProductUpdated, productChanged},
		{shop.EventProductDeleted, productChanged},
		{shop.EventCategoryCreated, categoryChanged},
		{shop.EventCategoryUpdated, categoryChanged},
		{shop.EventCategoryDeleted, categoryChanged},
		{shop.EventArticleCreated, articleChanged},
		{shop.EventArticleUpdated, articleChanged},
		{shop.EventArticleDeleted, articleChanged},
		{shop.EventStockChanged, stockChanged},
		{shop.EventOrderPlaced, orderChanged},
		{shop.EventOrderConfirmed, orderChanged},
		{shop.EventOrderFailed, orderChanged},
		{shop.EventOrderCancelled, orderChanged},
		{shop.EventOrderShipped, orderChanged},
	}
}

// enums are the string types whose values are a closed set.
func enums() map[reflect.Type][]string {
	codes := []transport.Code{
		transport.CodeInvalid, transport.CodeNotFound, transport.CodeConflict, transport.CodeUnauthenticated,
		transport.CodeForbidden, transport.CodeUnavailable, transport.CodeDeadlineExceeded, transport.CodeInternal,
	}
	m := map[reflect.Type][]string{reflect.TypeFor[shop.Role](): {string(shop.RoleCustomer), string(shop.RoleAdmin)}}
	for _, c := range codes {
		m[reflect.TypeFor[transport.Code]()] = append(m[reflect.TypeFor[transport.Code]()], string(c))
	}
	return m
}

// noOps stands for a node's operations API: building ops.Handler only
// takes its method values, which are never called here.
type noOps struct{}

func (noOps) Operations(context.Context) (ops.Report, error) { return ops.Report{}, nil }
func (noOps) DeadLetters(context.Context, ops.DeadLettersRequest) (ops.DeadLetters, error) {
	return ops.DeadLetters{}, nil
}
func (noOps) ReplayDeadLetters(context.Context, ops.IDsRequest) (ops.Count, error) {
	return ops.Count{}, nil
}
func (noOps) DiscardDeadLetters(context.Context, ops.IDsRequest) (ops.Count, error) {
	return ops.Count{}, nil
}

// Package catalog groups the catalog services of shopbus. Each is a
// service of its own, with its own database, talking to the others only
// over the bus:
//
//   - category (shop/catalog/category): category trees with unique slugs,
//     moves, breadcrumbs; announces category.category.created|updated|deleted
//     (shop.CategoryChanged, with ancestors).
//   - attribute (shop/catalog/attribute): attribute definitions (text,
//     number with unit, boolean, enum) and groups; validates the attribute
//     values given to products.
//   - option (shop/catalog/option): option groups and values; generates
//     and stores the variants of products (cartesian product of values,
//     unique combinations and SKUs).
//   - product (shop/catalog/product): products, checked against the three
//     services above over the bus; announces
//     product.product.created|updated|deleted (shop.ProductChanged, the
//     full product).
//   - filter (shop/catalog/filter): faceted search over a read model fed by
//     the product and category events.
//
// How they depend on each other:
//
//	product ──category.get──────────> category
//	product ──attribute.validate────> attribute
//	product ──option.generate_variants, option.delete_variants──> option
//	category <──product.product.* events── product      (which category holds products)
//	product  <──category.category.deleted── category    (re-file products under the parent)
//
// Every package follows the same shape: service.go holds the domain types
// and the documented Service interface; New(db, Options) returns the
// MongoDB implementation (*Server); NewClient(bus) the typed bus client
// (*Client); Bind(bus, svc) serves a Service on the bus; services that
// consume events have Subscribe(bus, srv). Writes need an admin
// (shop.RequireAdmin, the caller's token travelling as a header, also
// through nested calls); reads are public.
//
// Event publishing is at least once even across a bus outage or a crash:
// a change and its event are stored in the same single-document write (a
// per-document outbox, internal/outbox), the event is published with
// publisher confirms, then removed from the document. The category and
// product servers' RunRelay publishes what a failure left behind, at
// start-up, whenever the bus comes back and periodically; hosts run it
// beside the service. Subscribers drop an event id they have handled and
// apply an event only if its Version is newer than what they hold.
package catalog

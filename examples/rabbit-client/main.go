// Command rabbit-client is a plain Go program that uses a running shop over
// RabbitMQ with the typed bus clients only: it registers a customer (or
// finds the account already there), logs in, prints the category tree,
// runs a filter query with facets, and puts the cheapest product found in
// the customer's cart. It hosts no service and needs no database.
//
// Start a shop on the broker first, with sample data, then run the client:
//
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ go run ./deploy/shop
//	SHOP_AMQP_URL=amqp://guest:guest@localhost:5672/ go run ./examples/rabbit-client -email ada@example.com
//
// SHOP_AMQP_URL defaults to amqp://guest:guest@localhost:5672/ and
// SHOP_AMQP_NAMESPACE (the shop's RabbitMQ namespace) to "shop". Flags:
// -email and -password of the customer, -category to filter one category
// (a slug; default: every product), -text to filter titles.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/shop/cart"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
	"github.com/shopbus/shopbus/transport/rabbit"
)

// options are the command-line flags.
type options struct {
	Email, Password string
	Category, Text  string
}

func main() {
	var o options
	flag.StringVar(&o.Email, "email", "ada@example.com", "the customer's e-mail address")
	flag.StringVar(&o.Password, "password", "correct horse battery", "the customer's password (8 to 128 bytes)")
	flag.StringVar(&o.Category, "category", "", "slug of the category to filter (default: every product)")
	flag.StringVar(&o.Text, "text", "", "words the product titles must contain")
	flag.Parse()

	if err := start(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rabbit-client:", err)
		os.Exit(1)
	}
}

// start connects to the broker and runs the client, writing to w.
func start(o options, w io.Writer) error {
	// Every call below has a deadline: this one bounds the whole program.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := dial(ctx)
	if err != nil {
		return err
	}
	defer bus.Close()
	return run(ctx, bus, w, o)
}

// dial connects to the broker and namespace that the environment names.
func dial(ctx context.Context) (*rabbit.Bus, error) {
	return rabbit.Dial(ctx, rabbit.Options{
		URL:       cmp.Or(os.Getenv("SHOP_AMQP_URL"), "amqp://guest:guest@localhost:5672/"),
		Namespace: os.Getenv("SHOP_AMQP_NAMESPACE"), // empty: "shop"
		Name:      "rabbit-client",
	})
}

// run talks to the shop's services on bus and reports to w.
func run(ctx context.Context, bus transport.Bus, w io.Writer, o options) error {
	users := auth.NewClient(bus)

	// Register the customer; an address already registered is a conflict.
	u, err := users.Register(ctx, auth.RegisterRequest{Email: o.Email, Password: o.Password})
	switch {
	case err == nil:
		fmt.Fprintln(w, "registered", u.Email)
	case errors.Is(err, shop.ErrConflict):
		fmt.Fprintln(w, o.Email, "is already registered")
	default:
		return fmt.Errorf("register: %w", err)
	}
	session, err := users.Login(ctx, auth.LoginRequest{Email: o.Email, Password: o.Password})
	if err != nil {
		return fmt.Errorf("login: %w", err) // unauthenticated: wrong password
	}
	// Calls made with this context act as the customer: the token travels
	// as a message header.
	customer := shop.WithToken(ctx, session.Token)
	defer users.Logout(context.WithoutCancel(ctx), session.Token)
	fmt.Fprintln(w, "logged in as", o.Email)

	// The category tree: public, no token needed.
	tree, err := category.NewClient(bus).Tree(ctx, category.TreeRequest{})
	if err != nil {
		return fmt.Errorf("category tree: %w", err)
	}
	fmt.Fprintln(w, "categories:")
	printTree(w, tree, 1)

	// A faceted query: the cheapest products, and how many there are per
	// subcategory and per attribute value.
	res, err := filter.NewClient(bus).Query(ctx, filter.Query{
		CategorySlug: o.Category,
		Text:         o.Text,
		Sort:         filter.SortPriceAsc,
		Limit:        3,
	})
	if err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	fmt.Fprintf(w, "products found: %d, cheapest first:\n", res.Total)
	for _, it := range res.Items {
		fmt.Fprintf(w, "  %-12s %s\n", it.Price, it.Title)
	}
	for _, c := range res.Categories {
		fmt.Fprintf(w, "  in %s: %d\n", c.Name, c.Count)
	}
	for _, f := range res.Facets {
		fmt.Fprintf(w, "  %s: %d values\n", f.Code, len(f.Values)+f.Omitted)
	}
	if len(res.Items) == 0 {
		return nil
	}

	// Put the cheapest product in the cart, with its first variant if it
	// has variants (a product with variants cannot be added without one).
	p, err := product.NewClient(bus).Get(ctx, product.GetRequest{ID: res.Items[0].ID})
	if err != nil {
		return fmt.Errorf("product: %w", err)
	}
	add := cart.AddItemRequest{ProductID: p.ID, Quantity: 1}
	if len(p.Variants) > 0 {
		add.VariantID = p.Variants[0].ID
	}
	c, err := cart.NewClient(bus).AddItem(customer, add)
	if err != nil {
		return fmt.Errorf("add to cart: %w", err)
	}
	fmt.Fprintln(w, "cart:")
	for _, l := range c.Lines {
		fmt.Fprintf(w, "  %d x %s%s = %s\n", l.Quantity, l.Title, variant(l), l.Subtotal)
	}
	for _, cur := range slices.Sorted(maps.Keys(c.Totals)) {
		fmt.Fprintf(w, "  total %s\n", shop.Money{Amount: c.Totals[cur], Currency: cur})
	}
	return nil
}

// printTree prints categories indented by depth.
func printTree(w io.Writer, nodes []category.Node, depth int) {
	for _, n := range nodes {
		fmt.Fprintf(w, "%s%s (%s)\n", strings.Repeat("  ", depth), n.Name, n.Slug)
		printTree(w, n.Children, depth+1)
	}
}

// variant formats the options of a cart line, e.g. " (colour=red, size=m)".
func variant(l cart.Line) string {
	if len(l.Options) == 0 {
		return ""
	}
	var opts []string
	for group, value := range l.Options {
		opts = append(opts, group+"="+value)
	}
	slices.Sort(opts)
	return " (" + strings.Join(opts, ", ") + ")"
}

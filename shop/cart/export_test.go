package cart

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/product"
)

// SeedGuestCarts stores n guest carts, each holding quantity 2 of p (and
// one line of other, when given), straight into the service's storage the
// way AddItem leaves them (the cart as version 1, listed under each of its
// products), a thousand at a time: tests need tens of thousands, which
// AddItem, at a few milliseconds each, would take minutes to make. It
// returns the carts' ids.
func SeedGuestCarts(tb testing.TB, s *Server, prefix string, n int, p product.Product, other *product.Product) []string {
	tb.Helper()
	ctx := context.Background()
	now := s.now()
	mk := func(p product.Product, q int) lineDoc {
		l, err := lineFromProduct(p, p.ID, "")
		if err != nil {
			tb.Fatal(err)
		}
		l.Quantity, l.AddedAt = q, now
		return l
	}
	ids := make([]string, 0, n)
	for start := 0; start < n; start += 1000 {
		var docs []any
		listed := map[string][]string{}
		for i := start; i < min(n, start+1000); i++ {
			c := cartDoc{ID: fmt.Sprintf("%s%s%06d", guestPrefix, prefix, i), Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.opts.GuestCartTTL)}
			c.Lines = append(c.Lines, mk(p, 2))
			if other != nil {
				c.Lines = append(c.Lines, mk(*other, 1))
			}
			for _, pid := range c.productIDs() {
				k := bucketKey(pid, bucketOf(c.ID))
				listed[k] = append(listed[k], c.ID)
			}
			docs = append(docs, c)
			ids = append(ids, c.ID)
		}
		for k, carts := range listed {
			if _, err := s.productCarts.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}},
				bson.D{{Key: "$addToSet", Value: bson.D{{Key: "carts", Value: bson.D{{Key: "$each", Value: carts}}}}}},
				options.UpdateOne().SetUpsert(true)); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := s.carts.InsertMany(ctx, docs); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// CartLine is a line of a cart as stored, with the cart's version.
type CartLine struct {
	CartVersion int64
	Line        Line
}

// StoredLines returns, for every stored cart holding productID (of those
// in only, if not nil), its line of the product and the cart's version
// (one scan, then one read through the version log per cart).
func StoredLines(tb testing.TB, s *Server, productID string, only map[string]bool) map[string]CartLine {
	tb.Helper()
	ctx := context.Background()
	cur, err := s.carts.Find(ctx, bson.D{{Key: "lines.product_id", Value: productID}})
	if err != nil {
		tb.Fatal(err)
	}
	var docs []cartDoc
	if err := cur.All(ctx, &docs); err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]CartLine, len(docs))
	for _, d := range docs {
		if only != nil && !only[d.ID] {
			continue
		}
		// Read through the log, as the service does: the stored copy may lag.
		c, err := s.load(ctx, d.ID)
		if err != nil || c == nil {
			tb.Fatalf("load %s: %v", d.ID, err)
		}
		pub := c.public()
		for _, l := range pub.Lines {
			if l.ProductID == productID {
				out[c.ID] = CartLine{CartVersion: c.Version, Line: l}
			}
		}
	}
	return out
}

// ListedCarts returns the carts listed under productID.
func ListedCarts(tb testing.TB, s *Server, productID string) []string {
	tb.Helper()
	var all []string
	for b := range productBuckets {
		ids, err := s.listedCarts(context.Background(), productID, b)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, ids...)
	}
	return all
}

// UnlistAll forgets every product's list of carts, and that the stored
// carts were listed: what a database written before the lists existed
// looks like.
func UnlistAll(tb testing.TB, s *Server) {
	tb.Helper()
	if _, err := s.productCarts.DeleteMany(context.Background(), bson.D{}); err != nil {
		tb.Fatal(err)
	}
}

// SetRepricePageHook calls hook after each page of carts a product event
// updates, with the number of carts written in it.
func SetRepricePageHook(tb testing.TB, hook func(written int)) {
	testHookRepricePage = hook
	tb.Cleanup(func() { testHookRepricePage = nil })
}

// UpdateOneByOne applies pc to each of ids with one compare-and-set
// write per cart, the way HandleProductChanged wrote before it worked in
// pages (benchmarks compare).
func UpdateOneByOne(ctx context.Context, s *Server, pc shop.ProductChanged, ids []string) error {
	for _, id := range ids {
		_, err := s.update(ctx, "", nil, owner{cartID: id, keepExpiry: true}, func(c *cartDoc, _ time.Time) error {
			if !applyProduct(c, pc) {
				return errUnchanged
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Carts is the service's collection of carts (benchmarks write to it
// directly for a baseline).
func Carts(s *Server) *mongo.Collection { return s.carts }

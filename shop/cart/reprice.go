package cart

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/shop"
)

// The carts that may hold a product are listed in the collection
// product_carts, in productBuckets documents per product keyed by _id
// "<product id>/<bucket>" (a cart's bucket is a hash of its id), so that a
// product event finds its carts by _id lookups: FerretDB answers a query on
// lines.product_id by reading every cart (10 s for 20,000 carts on the
// 2-core test machine), MongoDB by its index. Buckets keep each document
// small, so adding a cart rewrites little.
//
// The list is a superset of the carts holding the product: a cart is added
// before the write that gives it a line of the product (and again after
// it), never removed when a line goes. A product event drops the carts it
// finds without the product, and then looks at each again, listing back one
// that got the product meanwhile; together with the listing after each
// write, that keeps every cart holding a product on its list.
const (
	collProductCarts = "product_carts"
	productBuckets   = 16
	// indexedMarker is the _id of the document saying that carts stored
	// before the list existed have been listed (see listStoredCarts).
	indexedMarker = "!listed"
)

// Paging of a product event: at most repricePage carts are read and written
// at once, repriceWorkers of them read in parallel.
const (
	repricePage    = 256
	repriceWorkers = 8
)

// productCarts is one bucket of the carts listed for a product.
type productCarts struct {
	ID    string   `bson:"_id"`
	Carts []string `bson:"carts"`
}

func bucketKey(productID string, bucket int) string {
	return productID + "/" + strconv.Itoa(bucket)
}

func bucketOf(cartID string) int {
	h := fnv.New32a()
	h.Write([]byte(cartID))
	return int(h.Sum32() % productBuckets)
}

// listCart adds cartID to the lists of productIDs.
func (s *Server) listCart(ctx context.Context, cartID string, productIDs ...string) error {
	for _, p := range productIDs {
		filter := bson.D{{Key: "_id", Value: bucketKey(p, bucketOf(cartID))}}
		update := bson.D{{Key: "$addToSet", Value: bson.D{{Key: "carts", Value: cartID}}}}
		_, err := s.productCarts.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
		if mongo.IsDuplicateKeyError(err) {
			// Two first carts of a bucket at once: the other created it.
			_, err = s.productCarts.UpdateOne(ctx, filter, update)
		}
		if err != nil {
			return s.internal(ctx, "list cart of product", err)
		}
	}
	return nil
}

// listedCarts returns the carts listed in one bucket of a product.
func (s *Server) listedCarts(ctx context.Context, productID string, bucket int) ([]string, error) {
	var d productCarts
	err := s.productCarts.FindOne(ctx, bson.D{{Key: "_id", Value: bucketKey(productID, bucket)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.internal(ctx, "read carts of product", err)
	}
	return d.Carts, nil
}

// listStoredCarts lists the carts stored before product_carts existed,
// once per database: one scan of the carts, a page at a time.
func (s *Server) listStoredCarts(ctx context.Context) error {
	err := s.productCarts.FindOne(ctx, bson.D{{Key: "_id", Value: indexedMarker}}).Err()
	if err == nil {
		return nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	cur, err := s.carts.Find(ctx, bson.D{}, options.Find().
		SetProjection(bson.D{{Key: "lines.product_id", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	n := 0
	for cur.Next(ctx) {
		var c struct {
			ID    string `bson:"_id"`
			Lines []struct {
				ProductID string `bson:"product_id"`
			} `bson:"lines"`
		}
		if err := cur.Decode(&c); err != nil {
			return err
		}
		for _, l := range c.Lines {
			if err := s.listCart(ctx, c.ID, l.ProductID); err != nil {
				return err
			}
		}
		n++
	}
	if err := cur.Err(); err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("cart: listed the carts of each product", "carts", n)
	}
	_, err = s.productCarts.InsertOne(ctx, bson.D{{Key: "_id", Value: indexedMarker}})
	if mongo.IsDuplicateKeyError(err) {
		err = nil // another replica got there first
	}
	return err
}

// HandleProductChanged brings every cart line of the product up to date
// with pc: a new price is applied and flagged (PriceChanged and
// PreviousPrice), a deleted or unpublished product, or a variant that is
// gone, marks the line unavailable, and a product back on sale makes it
// available again. A line applies an event only if the product's Version
// is newer than the one it reflects, so repeats and stale events change
// nothing.
//
// The carts are found on the product's list (see productCarts) and
// handled a page at a time: read in parallel and written together
// (docstore.Versions.StoreMany, a compare-and-set each; a cart another
// writer changed meanwhile is done again on its own). A handler stopped
// midway (its deadline, a crash) leaves the carts it wrote up to date; its
// redelivery reads them again and writes only the rest. On the test
// machine (2 cores) that is 3 times the rate of bare _id updates made one
// at a time (BenchmarkRepriceCarts).
func (s *Server) HandleProductChanged(ctx context.Context, pc shop.ProductChanged) error {
	for b := range productBuckets {
		ids, err := s.listedCarts(ctx, pc.Product.ID, b)
		if err != nil {
			return err
		}
		slices.Sort(ids)
		for page := range slices.Chunk(ids, repricePage) {
			if err := s.repricePage(ctx, pc, page); err != nil {
				return err
			}
		}
	}
	return nil
}

// repricePage applies pc to the carts ids.
func (s *Server) repricePage(ctx context.Context, pc shop.ProductChanged, ids []string) error {
	p := pc.Product
	carts := make([]*cartDoc, len(ids))
	revs := make([]docstore.Rev, len(ids))
	if err := inParallel(ctx, len(ids), func(i int) error {
		var err error
		carts[i], revs[i], err = s.loadRev(ctx, ids[i])
		return err
	}); err != nil {
		return err
	}
	now := s.now()
	var (
		items   []docstore.StoreItem
		itemIdx []int
		gone    []string // listed, but without the product
	)
	for i, c := range carts {
		if c == nil || !c.holds(p.ID) {
			gone = append(gone, ids[i])
			continue
		}
		if !applyProduct(c, pc) {
			continue
		}
		c.Version++
		c.UpdatedAt = now
		items = append(items, docstore.StoreItem{ID: c.ID, Doc: c, Prev: revs[i]})
		itemIdx = append(itemIdx, i)
	}
	stored, err := s.versions.StoreMany(ctx, items)
	if err != nil {
		return s.internal(ctx, "store carts", err)
	}
	for k, ok := range stored {
		if ok {
			continue
		}
		// Another writer changed the cart since it was read: do it alone,
		// from a fresh read.
		c := carts[itemIdx[k]]
		_, err := s.update(ctx, "", nil, owner{cartID: c.ID, userID: c.UserID, keepExpiry: true}, func(c *cartDoc, _ time.Time) error {
			if !applyProduct(c, pc) {
				return errUnchanged
			}
			return nil
		})
		if err != nil && !errors.Is(err, shop.ErrNotFound) {
			return err
		}
	}
	if testHookRepricePage != nil {
		testHookRepricePage(len(items))
	}
	return s.unlistCarts(ctx, p.ID, gone)
}

// testHookRepricePage, when set by a test, is called after each page of
// repricePage with the number of carts written.
var testHookRepricePage func(written int)

// unlistCarts takes carts that no longer hold the product off its list,
// then reads each again and lists back one that got the product
// meanwhile (see productCarts).
func (s *Server) unlistCarts(ctx context.Context, productID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	byBucket := map[int][]string{}
	for _, id := range ids {
		b := bucketOf(id)
		byBucket[b] = append(byBucket[b], id)
	}
	for b, list := range byBucket {
		_, err := s.productCarts.UpdateOne(ctx, bson.D{{Key: "_id", Value: bucketKey(productID, b)}},
			bson.D{{Key: "$pullAll", Value: bson.D{{Key: "carts", Value: list}}}})
		if err != nil {
			return s.internal(ctx, "unlist carts of product", err)
		}
	}
	return inParallel(ctx, len(ids), func(i int) error {
		c, err := s.load(ctx, ids[i])
		if err != nil || c == nil || !c.holds(productID) {
			return err
		}
		return s.listCart(ctx, ids[i], productID)
	})
}

// holds reports whether c has a line of the product.
func (c *cartDoc) holds(productID string) bool {
	return slices.ContainsFunc(c.Lines, func(l lineDoc) bool { return l.ProductID == productID })
}

// productIDs returns the products of c's lines, each once.
func (c *cartDoc) productIDs() []string {
	var ids []string
	for _, l := range c.Lines {
		if !slices.Contains(ids, l.ProductID) {
			ids = append(ids, l.ProductID)
		}
	}
	return ids
}

// applyProduct applies pc to the lines of c holding its product and
// reports whether any changed.
func applyProduct(c *cartDoc, pc shop.ProductChanged) bool {
	changed := false
	for i := range c.Lines {
		if l := &c.Lines[i]; l.ProductID == pc.Product.ID && pc.Product.Version > l.ProductVersion {
			l.apply(pc)
			changed = true
		}
	}
	return changed
}

// inParallel calls fn(0) … fn(n-1), repriceWorkers at a time, and returns
// the first error (the calls not started by then are skipped).
func inParallel(ctx context.Context, n int, fn func(i int) error) error {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range min(repriceWorkers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

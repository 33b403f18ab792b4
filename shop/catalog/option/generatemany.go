package option

import (
	"context"
	"errors"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// GenerateVariantsMany implements Service. It generates each item as
// GenerateVariants does, but in bulk where it can: the option groups of
// all items are read with one query, the SKUs of all items are reserved
// with one insert and the variant sets of the products that have none yet
// are stored with another. An item whose product has variants already, or
// whose SKUs overlap an earlier item's, is generated on its own
// afterwards, as GenerateVariants would. New variants get ids derived
// from the request id (see idem.NewID), so a retry gives the same ids.
func (s *Server) GenerateVariantsMany(ctx context.Context, r GenerateManyRequest) ([]GenerateResult, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return nil, err
	}
	if err := checkGenerateMany(r); err != nil {
		return nil, err
	}
	return idem.Do(ctx, s.requests, MethodGenerateVariantsMany, r, func(ctx context.Context) ([]GenerateResult, error) {
		return s.generateVariantsMany(ctx, r)
	})
}

// checkGenerateMany checks the shape of r: one to MaxGenerateMany items,
// no product named twice. The items themselves are checked one by one.
func checkGenerateMany(r GenerateManyRequest) error {
	var f kit.Fields
	switch {
	case len(r.Items) == 0:
		f.Add("items", "name at least one product")
	case len(r.Items) > MaxGenerateMany:
		f.Addf("items", "at most %d products", MaxGenerateMany)
	default:
		seen := make(map[string]bool, len(r.Items))
		for i, it := range r.Items {
			if it.ProductID != "" && seen[it.ProductID] {
				f.Add("items["+strconv.Itoa(i)+"].product_id", "appears twice")
			}
			seen[it.ProductID] = true
		}
	}
	return f.Err("invalid variant generation")
}

// manyItem is one product of a GenerateVariantsMany on its way through
// the batch.
type manyItem struct {
	req GenerateRequest
	// values are the value codes to combine (see combine).
	values [][]string
	// next is the set planned for a product without variants.
	next setDoc
	// alone says that the item is generated on its own after the batch:
	// its product has variants already, or one of its SKUs is an earlier
	// item's.
	alone bool
	// reserved are the SKU documents the batch's insert created for the
	// item (none it held before): freed unless its set is stored.
	reserved []skuDoc
	// done says that out is final: the set is stored, or Error says why not.
	done bool
	out  GenerateResult
}

// finish makes pv, or err if it concerns this item alone (invalid or a
// conflict), the item's result. Any other error is returned: it fails the
// whole call.
func (it *manyItem) finish(pv ProductVariants, err error) error {
	if err == nil {
		it.out.Variants, it.done = &pv, true
		return nil
	}
	var e *shop.Error
	if (errors.Is(err, shop.ErrInvalid) || errors.Is(err, shop.ErrConflict)) && errors.As(err, &e) {
		it.out.Error, it.done = e, true
		return nil
	}
	return err
}

func (s *Server) generateVariantsMany(ctx context.Context, r GenerateManyRequest) ([]GenerateResult, error) {
	items := make([]manyItem, len(r.Items))
	var codes []string
	for i, req := range r.Items {
		it := &items[i]
		it.req, it.out.ProductID = req, req.ProductID
		var f kit.Fields
		checkGenerate(&f, req)
		if err := f.Err("invalid variant generation"); err != nil {
			if err := it.finish(ProductVariants{}, err); err != nil {
				return nil, err
			}
			continue
		}
		codes = append(codes, req.Groups...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	groups, err := s.loadGroups(ctx, codes)
	if err != nil {
		return nil, err
	}
	if err := s.planMany(ctx, items, groups); err != nil {
		return nil, err
	}
	if err := s.storeMany(ctx, items); err != nil {
		s.abandon(ctx, items)
		return nil, err
	}
	for i := range items {
		it := &items[i]
		if it.done || !it.alone {
			continue
		}
		if err := it.finish(s.storeGenerated(ctx, it.req, it.values)); err != nil {
			s.abandon(ctx, items)
			return nil, err
		}
	}
	out := make([]GenerateResult, len(items))
	for i := range items {
		out[i] = items[i].out
	}
	return out, nil
}

// planMany checks each item not done against the option groups, as
// loaded in groups, and plans its set as for a product without variants.
// An item with a SKU that an earlier item has too goes alone.
func (s *Server) planMany(ctx context.Context, items []manyItem, groups map[string]groupDoc) error {
	claimed := map[string]bool{} // the SKUs of earlier items
	for i := range items {
		it := &items[i]
		if it.done {
			continue
		}
		values, err := s.combine(it.req, groups)
		if err == nil {
			it.values = values
			it.next = variantSet(ctx, it.req, values, setDoc{})
			err = sharedSKU(it.next.Variants)
		}
		if err != nil {
			if err := it.finish(ProductVariants{}, err); err != nil {
				return err
			}
			continue
		}
		for _, v := range it.next.Variants {
			if claimed[v.SKU] {
				it.alone = true
			}
			claimed[v.SKU] = true
		}
	}
	return nil
}

// storeMany stores the planned sets of the items that go in the batch. It
// reserves all their SKUs with one insert: an item with a SKU that
// another product holds gets a conflict (and its other SKUs are freed),
// one that its own product holds already is fine. Then it inserts the
// sets with another: an item whose product has a set already goes alone.
// The caller holds s.mu.
func (s *Server) storeMany(ctx context.Context, items []manyItem) error {
	var docs []any
	var owner []int // the item of each document
	for i := range items {
		it := &items[i]
		if it.done || it.alone {
			continue
		}
		for _, v := range it.next.Variants {
			docs = append(docs, skuDoc{SKU: v.SKU, ProductID: it.req.ProductID})
			owner = append(owner, i)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	outcome, err := insertAll(ctx, s.skus, docs)
	for j, o := range outcome {
		if o == docInserted {
			it := &items[owner[j]]
			it.reserved = append(it.reserved, docs[j].(skuDoc))
		}
	}
	if err != nil {
		s.warnUnknown(outcome, "reserve")
		return kit.Internal("reserve SKUs", err)
	}
	if err := s.takenSKUs(ctx, items, docs, owner, outcome); err != nil {
		return err
	}

	now := s.now()
	var sets []any
	owner = owner[:0]
	for i := range items {
		it := &items[i]
		if it.done || it.alone {
			continue
		}
		it.next.fill(1, now)
		sets = append(sets, it.next)
		owner = append(owner, i)
	}
	if len(sets) == 0 {
		return nil
	}
	outcome, err = insertAll(ctx, s.variants, sets)
	for k, o := range outcome {
		it := &items[owner[k]]
		switch o {
		case docInserted:
			if err := it.finish(it.next.set(), nil); err != nil {
				return err
			}
		case docTaken: // the product has a set: go alone
			it.alone = true
		case docUnknown: // its set may be stored: keep its SKUs
			it.reserved = nil
		}
	}
	if err != nil {
		s.warnUnknown(outcome, "store variants")
		return kit.Internal("store variants", err)
	}
	return nil
}

// warnUnknown logs that the SKUs of a failed insert stay reserved when
// the insert could not say which documents went in: they may belong to
// stored sets, so they are not freed (a retry of the request finds them
// held by the same products, which is fine).
func (s *Server) warnUnknown(outcome []docOutcome, op string) {
	if len(outcome) > 0 && outcome[0] == docUnknown {
		s.logger.Warn("option: a batch insert failed without saying what went in; its SKUs stay reserved for their products", "op", op, "documents", len(outcome))
	}
}

// takenSKUs settles the items with a SKU document that was there before
// the batch's insert (outcome docTaken): a SKU another product holds is a
// conflict for the item, which then frees what the insert reserved for
// it; one its own product holds is fine. The holders are read with one
// query.
func (s *Server) takenSKUs(ctx context.Context, items []manyItem, docs []any, owner []int, outcome []docOutcome) error {
	var taken []string
	for j, o := range outcome {
		if o == docTaken {
			taken = append(taken, docs[j].(skuDoc).SKU)
		}
	}
	if len(taken) == 0 {
		return nil
	}
	held, err := kit.List[skuDoc](ctx, s.skus, "SKUs", bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: taken}}}})
	if err != nil {
		return err
	}
	holder := make(map[string]string, len(held))
	for _, d := range held {
		holder[d.SKU] = d.ProductID
	}
	for j, o := range outcome {
		it := &items[owner[j]]
		sku := docs[j].(skuDoc).SKU
		if o != docTaken || it.done || holder[sku] == it.req.ProductID {
			continue
		}
		if err := it.finish(ProductVariants{}, shop.Conflict("SKU "+kit.Quote(sku)+" is taken by another product")); err != nil {
			return err
		}
		s.freeHeld(ctx, it.reserved)
		it.reserved = nil
	}
	return nil
}

// abandon frees the SKUs that the batch reserved for items whose sets it
// did not store, when a failure ends the call.
func (s *Server) abandon(ctx context.Context, items []manyItem) {
	var docs []skuDoc
	for i := range items {
		if !items[i].done {
			docs = append(docs, items[i].reserved...)
		}
	}
	s.freeHeld(ctx, docs)
}

// docOutcome is what an unordered insert did with one document.
type docOutcome int

const (
	// docInserted: the document went in.
	docInserted docOutcome = iota
	// docTaken: its _id was taken.
	docTaken
	// docFailed: it failed otherwise.
	docFailed
	// docUnknown: the insert failed without saying which documents went in.
	docUnknown
)

// insertAll inserts docs into c with one unordered insert and says what
// became of each. A duplicate _id is no error; any other failure is
// returned, with the outcomes as far as they are known.
func insertAll(ctx context.Context, c *mongo.Collection, docs []any) ([]docOutcome, error) {
	outcome := make([]docOutcome, len(docs))
	_, err := c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return outcome, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		for j := range outcome {
			outcome[j] = docUnknown
		}
		return outcome, err
	}
	failed := bwe.WriteConcernError != nil
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(docs) {
			failed = true
			continue
		}
		if mongo.IsDuplicateKeyError(we) {
			outcome[we.Index] = docTaken
		} else {
			outcome[we.Index] = docFailed
			failed = true
		}
	}
	if failed {
		return outcome, err
	}
	return outcome, nil
}

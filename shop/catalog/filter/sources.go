package filter

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
	catsvc "github.com/shopbus/shopbus/shop/catalog/category"
	prodsvc "github.com/shopbus/shopbus/shop/catalog/product"
)

// SourceProduct is a product as a ProductSource lists it.
type SourceProduct struct {
	Snapshot shop.ProductSnapshot
	// CreatedAt, when set, is when the product was created; the "newest"
	// order sorts by it. Events carry no creation time, so a product the
	// service learns from events is dated by its first snapshot.
	CreatedAt time.Time
}

// ProductSource lists every product of the product service, for Rebuild.
// FromProductService adapts the product service's client to it.
type ProductSource interface {
	// ProductPage returns the page of products that starts at cursor (""
	// for the first page) and the cursor of the next page, "" after the
	// last one. Every product should be listed, drafts included: a product
	// missing from the listing is removed from the read model.
	ProductPage(ctx context.Context, cursor string) (page []SourceProduct, next string, err error)
}

// ProductSourceFunc adapts a function to ProductSource.
type ProductSourceFunc func(ctx context.Context, cursor string) ([]SourceProduct, string, error)

// ProductPage calls f.
func (f ProductSourceFunc) ProductPage(ctx context.Context, cursor string) ([]SourceProduct, string, error) {
	return f(ctx, cursor)
}

// CategorySource lists every category of the category service, for
// Rebuild. It is optional. FromCategoryService adapts the category
// service's client to it.
type CategorySource interface {
	// CategoryPage returns the page of categories that starts at cursor
	// ("" for the first) and the cursor of the next page, "" after the last.
	CategoryPage(ctx context.Context, cursor string) (page []shop.CategorySnapshot, next string, err error)
}

// CategorySourceFunc adapts a function to CategorySource.
type CategorySourceFunc func(ctx context.Context, cursor string) ([]shop.CategorySnapshot, string, error)

// CategoryPage calls f.
func (f CategorySourceFunc) CategoryPage(ctx context.Context, cursor string) ([]shop.CategorySnapshot, string, error) {
	return f(ctx, cursor)
}

// ProductLister is the part of the product service a rebuild uses;
// product.Service (its bus client in production) has it.
type ProductLister interface {
	List(ctx context.Context, r prodsvc.ListRequest) (prodsvc.Page, error)
}

// FromProductService returns a ProductSource paging through the product
// service's List with no status filter (drafts included), oldest first,
// prodsvc.MaxPageSize at a time.
func FromProductService(svc ProductLister) ProductSource {
	return ProductSourceFunc(func(ctx context.Context, cursor string) ([]SourceProduct, string, error) {
		page, err := svc.List(ctx, prodsvc.ListRequest{Sort: prodsvc.SortCreated, Limit: prodsvc.MaxPageSize, Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		out := make([]SourceProduct, len(page.Items))
		for i, p := range page.Items {
			snap := p.Snapshot()
			snap.SKU = p.SKU // for the SKUs it is sold under, should the snapshot lack it
			out[i] = SourceProduct{Snapshot: snap, CreatedAt: p.CreatedAt}
		}
		return out, page.NextCursor, nil
	})
}

// CategoryTree is the part of the category service a rebuild uses;
// category.Service (its bus client in production) has it.
type CategoryTree interface {
	Tree(ctx context.Context, r catsvc.TreeRequest) ([]catsvc.Node, error)
}

// FromCategoryService returns a CategorySource listing every category of
// the category service's trees, in one page.
func FromCategoryService(svc CategoryTree) CategorySource {
	return CategorySourceFunc(func(ctx context.Context, _ string) ([]shop.CategorySnapshot, string, error) {
		trees, err := svc.Tree(ctx, catsvc.TreeRequest{})
		if err != nil {
			return nil, "", err
		}
		var out []shop.CategorySnapshot
		var walk func([]catsvc.Node)
		walk = func(nodes []catsvc.Node) {
			for _, n := range nodes {
				out = append(out, n.Snapshot())
				walk(n.Children)
			}
		}
		walk(trees)
		return out, "", nil
	})
}

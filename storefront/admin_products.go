package storefront

import (
	"context"
	"maps"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/inventory"
	"github.com/shopbus/shopbus/transport"
)

// The console's products: list and search, the product form (create and
// edit), publish, delete, and the stock of the product's SKUs. See
// admin.go; the product's images (upload, reorder, remove) are in media.go.

// DefaultAdminCurrency is the currency the form for a new product offers.
const DefaultAdminCurrency = "EUR"

// ---- the list ----

// adminProductsView is a page of the product list.
type adminProductsView struct {
	Query, Status string
	LimitParam    string // the ?limit= to keep, "" for the default
	Items         []product.Product
	Searching     bool // Query is set: the list was read and filtered
	Scanned       int  // products read for a search
	First, Next   string
}

// adminProducts serves GET /admin/products.
func (s *Storefront) adminProducts(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	v := adminProductsView{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status")}
	limit, err := queryInt(q, "limit")
	switch {
	case err != nil:
	case limit > product.MaxPageSize:
		err = shop.Invalid("invalid query", "limit", "must be at most "+strconv.Itoa(product.MaxPageSize))
	case v.Status != "" && v.Status != shop.StatusDraft && v.Status != shop.StatusPublished:
		err = shop.Invalid("invalid query", "status", "must be draft or published")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if limit == 0 {
		limit = AdminPageSize
	} else {
		v.LimitParam = strconv.Itoa(limit)
	}
	req := product.ListRequest{Status: v.Status, Limit: limit, Cursor: q.Get("cursor"), Desc: true}
	next := ""
	if v.Query == "" {
		page, err := s.product.List(ctx, req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Items, next = page.Items, page.NextCursor
	} else {
		v.Searching = true
		v.Items, v.Scanned, next, err = s.searchProducts(ctx, req, v.Query)
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	link := func(cursor string) string {
		return adminLink("/admin/products", "q", v.Query, "status", v.Status, "limit", v.LimitParam, "cursor", cursor)
	}
	if next != "" {
		v.Next = link(next)
	}
	if req.Cursor != "" {
		v.First = link("")
	}
	s.adminRender(w, r, http.StatusOK, "admin_products", "products", "Products", "", v)
}

// searchProducts reads the product list from req's cursor on, at most
// AdminSearchScan products, and returns those whose title has every word
// of text (case-insensitively), how many it read, and the cursor to go on
// from. It stops once it has req.Limit matches; the matches of the last
// page it read are all kept.
func (s *Storefront) searchProducts(ctx context.Context, req product.ListRequest, text string) ([]product.Product, int, string, error) {
	words := strings.Fields(strings.ToLower(text))
	want := req.Limit
	req.Limit = product.MaxPageSize
	var found []product.Product
	scanned := 0
	for scanned < AdminSearchScan {
		page, err := s.product.List(ctx, req)
		if err != nil {
			return nil, 0, "", err
		}
		scanned += len(page.Items)
		for _, p := range page.Items {
			title := strings.ToLower(p.Title)
			if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(title, w) }) {
				found = append(found, p)
			}
		}
		req.Cursor = page.NextCursor
		if req.Cursor == "" || len(found) >= want {
			break
		}
	}
	return found, scanned, req.Cursor, nil
}

// ---- the form ----

// productForm is the product form as filled in.
type productForm struct {
	Title, Slug, Description, SKU string
	Price, Currency               string // as typed
	Status                        string
	CategoryIDs                   []string
	// Attributes maps attribute codes to values as typed ("" for none).
	Attributes map[string]string
	// CategoriesShown and AttributesShown say that the form offered the
	// categories and the attribute values: a form that could not (their
	// service did not answer) leaves them as they are.
	CategoriesShown, AttributesShown bool
}

// formOf is the form filled in with p.
func formOf(p product.Product) productForm {
	f := productForm{Title: p.Title, Slug: p.Slug, Description: p.Description, SKU: p.SKU,
		Price: p.Price.Decimal(), Currency: p.Price.Currency, Status: p.Status, CategoryIDs: p.CategoryIDs,
		Attributes: map[string]string{}}
	for code, v := range p.Attributes {
		f.Attributes[code] = attributeText(v)
	}
	return f
}

// readProductForm reads the posted product form.
func readProductForm(r *http.Request) productForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	form := productForm{Title: f("title"), Slug: f("slug"), Description: strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("description"), "\r\n", "\n")), SKU: f("sku"),
		Price: f("price"), Currency: strings.ToUpper(f("currency")), Status: f("status"),
		CategoryIDs: r.PostForm["category_ids"], Attributes: map[string]string{},
		CategoriesShown: r.PostFormValue("categories_shown") == "1", AttributesShown: r.PostFormValue("attributes_shown") == "1"}
	for k, vs := range r.PostForm { // bounded by MaxBodyBytes
		if code, ok := strings.CutPrefix(k, "attr."); ok && code != "" {
			form.Attributes[code] = strings.TrimSpace(vs[0])
		}
	}
	return form
}

// attributeText is an attribute value as the form shows it.
func attributeText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	}
	if n, ok := attribute.Number(v); ok {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return ""
}

// attributeValue is the value typed for an attribute of def: a number or
// a boolean when it reads as one, else the text as typed, whose problem
// the attribute service names.
func attributeValue(def attribute.Attribute, s string) any {
	switch def.Type {
	case attribute.TypeNumber:
		if n, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
			return n
		}
	case attribute.TypeBoolean:
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	}
	return s
}

// check reads the price and the attribute values (typed by defs), and
// returns what is wrong with the fields the console can tell by itself
// (the product service checks everything again).
func (f productForm) check(defs map[string]attribute.Attribute) (shop.Money, map[string]any, map[string]string) {
	errs := map[string]string{}
	price, err := shop.ParseMoney(f.Price, f.Currency)
	if f.Price == "" {
		errs["price"] = "is required"
	}
	if e := transport.AsError(err); e != nil {
		for _, fe := range e.Fields {
			if name := productFormField("price." + fe.Field); errs[name] == "" {
				errs[name] = fe.Message
			}
		}
	}
	if f.Status != shop.StatusDraft && f.Status != shop.StatusPublished {
		errs["status"] = "must be draft or published"
	}
	attrs := map[string]any{}
	for code, s := range f.Attributes {
		if s != "" {
			attrs[code] = attributeValue(defs[code], s)
		}
	}
	return price, attrs, errs
}

// update returns the request that makes p what the form says, changing
// only what differs (an empty slug or SKU keeps the one p has), and
// whether anything does.
func (f productForm) update(p product.Product, price shop.Money, attrs map[string]any) (product.UpdateRequest, bool) {
	req := product.UpdateRequest{ID: p.ID}
	changed := false
	set := func(dst **string, val, old string) {
		if val != old {
			*dst, changed = &val, true
		}
	}
	set(&req.Title, f.Title, p.Title)
	set(&req.Description, f.Description, p.Description)
	if f.Slug != "" {
		set(&req.Slug, f.Slug, p.Slug)
	}
	if f.SKU != "" {
		set(&req.SKU, f.SKU, p.SKU)
	}
	if price != p.Price {
		req.Price, changed = &price, true
	}
	if ids := append([]string{}, f.CategoryIDs...); f.CategoriesShown && !slices.Equal(slices.Sorted(slices.Values(ids)), slices.Sorted(slices.Values(p.CategoryIDs))) {
		req.CategoryIDs, changed = &ids, true
	}
	if f.AttributesShown && !maps.EqualFunc(attrs, p.Attributes, func(a, b any) bool { return reflect.DeepEqual(a, b) }) {
		req.Attributes, changed = &attrs, true
	}
	return req, changed
}

// productFormField is the form field a product service field error names
// ("" for none of the form's).
func productFormField(field string) string {
	switch {
	case field == "price" || field == "price.amount":
		return "price"
	case field == "price.currency":
		return "currency"
	case field == "category_ids" || strings.HasPrefix(field, "category_ids["):
		return "categories"
	case strings.HasPrefix(field, "attributes."):
		return "attr." + strings.TrimPrefix(field, "attributes.")
	case slices.Contains([]string{"title", "slug", "description", "sku", "status", "attributes"}, field):
		return field
	}
	return ""
}

// productErrors turns the product service's refusal into the form's
// field errors (a conflict about the slug goes next to the slug) and the
// message above the form, which names what no field shows.
func productErrors(r *http.Request, err error) (map[string]string, string) {
	return formErrors(r, err, productFormField)
}

// ---- the product page ----

// categoryChoice is a category offered by the form, indented by depth.
type categoryChoice struct {
	ID, Label string
	Checked   bool
}

// attributeField is an attribute's field in the form.
type attributeField struct {
	Code, Name, Unit, Value, Error string
	// Choices are an enum's values or a boolean's true and false; a text
	// or number attribute has none (a text field).
	Choices []choice
	// Undefined says the attribute is no longer defined: the product
	// still has the value, which can only be removed.
	Undefined bool
}

type choice struct{ Value, Label string }

// stockRow is one of the product's SKUs with its stock.
type stockRow struct {
	SKU, Label string
	Known      bool // the SKU has a stock record
	Stock      inventory.Stock
	Error      string
}

// variantRow is one of the product's variants.
type variantRow struct {
	product.Variant
	Label string
}

// adminProductView is the product form, and for a product that exists
// its actions, variants and stock.
type adminProductView struct {
	New             bool
	Action          string // where the form posts
	Product         product.Product
	PublicURL       string // the shop's page of a published product
	Form            productForm
	Errors          map[string]string
	CategoriesShown bool
	Categories      []categoryChoice
	AttributesShown bool
	Attributes      []attributeField
	Variants        []variantRow
	StockShown      bool
	Stock           []stockRow
	// Images are the product's images; ImageError says what was wrong
	// with an upload or an image action; MaxUpload is the upload limit.
	Images     []adminImage
	ImageError string
	MaxUpload  string
	// History is the product's audit log.
	History historyView
}

// productRefs are what the form offers, asked for at once: the category
// trees and the attribute definitions.
type productRefs struct {
	tree  *future[[]category.Node]
	attrs *future[[]attribute.Attribute]
}

// refs starts fetching the category trees and the attribute definitions.
func (s *Storefront) refs(ctx context.Context) productRefs {
	return productRefs{
		tree: async(ctx, NavTimeout, func(ctx context.Context) ([]category.Node, error) {
			return s.cats.Tree(ctx, category.TreeRequest{})
		}),
		attrs: async(ctx, NavTimeout, func(ctx context.Context) ([]attribute.Attribute, error) {
			return s.attrs.List(ctx, attribute.ListRequest{})
		}),
	}
}

// defs waits for the attribute definitions, by code.
func (p productRefs) defs() (map[string]attribute.Attribute, error) {
	list, err := p.attrs.wait()
	out := make(map[string]attribute.Attribute, len(list))
	for _, a := range list {
		out[a.Code] = a
	}
	return out, err
}

// productPage is what showProduct renders.
type productPage struct {
	status    int
	flash     string
	isNew     bool
	p         product.Product // as stored; zero for a new one
	form      productForm
	errs      map[string]string
	stockErrs map[string]string // by SKU
	imageErr  string            // next to the images
}

// showProduct renders the product form page.
func (s *Storefront) showProduct(w http.ResponseWriter, r *http.Request, ctx context.Context, refs productRefs, pg productPage) {
	v := adminProductView{New: pg.isNew, Action: "/admin/products", Product: pg.p, Form: pg.form, Errors: pg.errs,
		Images: adminImages(pg.p), ImageError: pg.imageErr, MaxUpload: product.FormatBytes(s.opts.MaxImageUpload)}
	var (
		stock   *future[map[string]inventory.Stock]
		labels  *future[definitions]
		history *future[shop.History]
	)
	if !pg.isNew {
		history = historyOf(ctx, func(ctx context.Context) (shop.History, error) {
			return s.product.History(ctx, shop.HistoryRequest{ID: pg.p.ID})
		})
		labels = s.optionLabels(ctx)
		v.Action += "/" + url.PathEscape(pg.p.ID)
		if pg.p.Status == shop.StatusPublished {
			v.PublicURL = "/" + pg.p.Slug
		}
		stock = async(ctx, max(s.opts.StockTimeout, NavTimeout), func(ctx context.Context) (map[string]inventory.Stock, error) {
			return s.stockRecords(ctx, productSKUs(pg.p))
		})
	}
	if tree, err := refs.tree.wait(); err == nil {
		v.CategoriesShown = true
		v.Categories = categoryChoices(tree, pg.form.CategoryIDs, 0, nil)
	} else {
		s.warn(ctx, "admin: categories", category.ServiceName, err)
	}
	if defs, err := refs.defs(); err == nil {
		v.AttributesShown = true
		v.Attributes = attributeFields(defs, pg.form.Attributes, pg.errs)
	} else {
		s.warn(ctx, "admin: attributes", attribute.ServiceName, err)
	}
	if stock != nil {
		d, _ := labels.wait()
		for _, vr := range pg.p.Variants {
			v.Variants = append(v.Variants, variantRow{Variant: vr, Label: d.optionsLabel(vr.Options)})
		}
		if st, err := stock.wait(); err == nil {
			v.StockShown = true
			for i, sku := range productSKUs(pg.p) {
				row := stockRow{SKU: sku, Label: "Product", Error: pg.stockErrs[sku]}
				if i > 0 {
					row.Label = v.Variants[i-1].Label
				}
				row.Stock, row.Known = st[sku]
				v.Stock = append(v.Stock, row)
			}
		} else {
			s.warn(ctx, "admin: stock", inventory.ServiceName, err)
		}
	}
	title := "New product"
	if !pg.isNew {
		title = pg.p.Title
		v.History = s.historyView(ctx, product.ServiceName, history)
	}
	s.adminRender(w, r, pg.status, "admin_product", "products", title, pg.flash, v)
}

// categoryChoices flattens trees into the form's choices, depth first,
// each indented by its depth.
func categoryChoices(nodes []category.Node, checked []string, depth int, out []categoryChoice) []categoryChoice {
	for _, n := range nodes {
		out = append(out, categoryChoice{ID: n.ID, Label: strings.Repeat("— ", depth) + n.Name, Checked: slices.Contains(checked, n.ID)})
		out = categoryChoices(n.Children, checked, depth+1, out)
	}
	return out
}

// attributeFields are the form's attribute fields: one per defined
// attribute (by name), then the values the product has of attributes no
// longer defined (by code).
func attributeFields(defs map[string]attribute.Attribute, values, errs map[string]string) []attributeField {
	var out []attributeField
	for _, d := range defs {
		f := attributeField{Code: d.Code, Name: d.Name, Unit: d.Unit, Value: values[d.Code], Error: errs["attr."+d.Code]}
		switch d.Type {
		case attribute.TypeEnum:
			for _, val := range d.Values {
				f.Choices = append(f.Choices, choice{val, val})
			}
			if f.Value != "" && !slices.Contains(d.Values, f.Value) {
				f.Choices = append(f.Choices, choice{f.Value, f.Value})
			}
		case attribute.TypeBoolean:
			f.Choices = []choice{{"true", "yes"}, {"false", "no"}}
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	var gone []attributeField
	for code, val := range values {
		if _, ok := defs[code]; !ok && val != "" {
			gone = append(gone, attributeField{Code: code, Name: code, Value: val, Error: errs["attr."+code], Undefined: true})
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].Code < gone[j].Code })
	return append(out, gone...)
}

// productSKUs are p's own SKU and its variants' SKUs, in that order.
func productSKUs(p product.Product) []string {
	out := []string{p.SKU}
	for _, v := range p.Variants {
		out = append(out, v.SKU)
	}
	return out
}

// stockRecords returns the stock records of skus (those that have one),
// by SKU, asking for inventory.MaxLines SKUs a call, all at once.
func (s *Storefront) stockRecords(ctx context.Context, skus []string) (map[string]inventory.Stock, error) {
	var calls []*future[[]inventory.Stock]
	for chunk := range slices.Chunk(skus, inventory.MaxLines) {
		calls = append(calls, async(ctx, s.opts.CallTimeout, func(ctx context.Context) ([]inventory.Stock, error) {
			return s.stockSv.GetMany(ctx, inventory.GetManyRequest{SKUs: chunk})
		}))
	}
	out := make(map[string]inventory.Stock, len(skus))
	for _, c := range calls {
		list, err := c.wait()
		if err != nil {
			return nil, err
		}
		for _, st := range list {
			out[st.SKU] = st
		}
	}
	return out, nil
}

// getProduct returns the product of the path; a malformed id is a
// product not found.
func (s *Storefront) getProduct(ctx context.Context, r *http.Request) (product.Product, error) {
	p, err := s.product.Get(ctx, product.GetRequest{ID: r.PathValue("id")})
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("product")
	}
	return p, err
}

// adminProduct checks that r comes from an admin and gets the product of
// its path ({id}); when either fails it answers r itself and reports
// false.
func (s *Storefront) adminProduct(w http.ResponseWriter, r *http.Request) (context.Context, product.Product, bool) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return nil, product.Product{}, false
	}
	p, err := s.getProduct(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return nil, product.Product{}, false
	}
	return ctx, p, true
}

// editPage renders the product of the path as stored, with flash above
// it and stockErrs next to the stock of their SKUs.
func (s *Storefront) editPage(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, stockErrs map[string]string) {
	refs := s.refs(ctx)
	p, err := s.getProduct(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showProduct(w, r, ctx, refs, productPage{status: status, flash: flash, p: p, form: formOf(p), stockErrs: stockErrs})
}

// adminNewProduct serves GET /admin/products/new.
func (s *Storefront) adminNewProduct(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := productForm{Currency: DefaultAdminCurrency, Status: shop.StatusDraft}
	s.showProduct(w, r, ctx, s.refs(ctx), productPage{status: http.StatusOK, isNew: true, form: form})
}

// adminEditProduct serves GET /admin/products/{id}.
func (s *Storefront) adminEditProduct(w http.ResponseWriter, r *http.Request) {
	if ctx, ok := s.admin(w, r); ok {
		s.editPage(w, r, ctx, http.StatusOK, "", nil)
	}
}

// adminCreateProduct serves POST /admin/products.
func (s *Storefront) adminCreateProduct(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	refs := s.refs(ctx)
	form := readProductForm(r)
	again := func(status int, errs map[string]string, flash string) {
		s.showProduct(w, r, ctx, refs, productPage{status: status, flash: flash, isNew: true, form: form, errs: errs})
	}
	defs, err := refs.defs()
	if err != nil && form.AttributesShown {
		s.fail(w, r, err) // the values cannot be typed, nor checked
		return
	}
	price, attrs, errs := form.check(defs)
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	p, err := s.product.Create(ctx, product.CreateRequest{Title: form.Title, Slug: form.Slug, Description: form.Description,
		Status: form.Status, SKU: form.SKU, Price: price, CategoryIDs: form.CategoryIDs, Attributes: attrs})
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := productErrors(r, err)
			again(status, errs, flash)
		})
		return
	}
	adminDone(w, r, "/admin/products/"+url.PathEscape(p.ID), "created")
}

// adminUpdateProduct serves POST /admin/products/{id}: the changed
// fields go to product.update, a changed status to publish or unpublish
// (with a request id of its own).
func (s *Storefront) adminUpdateProduct(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	refs := s.refs(ctx)
	p, err := s.getProduct(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readProductForm(r)
	again := func(status int, errs map[string]string, flash string) {
		s.showProduct(w, r, ctx, refs, productPage{status: status, flash: flash, p: p, form: form, errs: errs})
	}
	defs, err := refs.defs()
	if err != nil && form.AttributesShown {
		s.fail(w, r, err)
		return
	}
	price, attrs, errs := form.check(defs)
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	fail := func(err error) {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := productErrors(r, err)
			again(status, errs, flash)
		})
	}
	status := p.Status
	if req, changed := form.update(p, price, attrs); changed {
		updated, err := s.product.Update(ctx, req)
		if err != nil {
			fail(err)
			return
		}
		status = updated.Status
	}
	if form.Status != status {
		if _, err := s.setPublished(anotherCall(ctx, "status "+form.Status), p.ID, form.Status == shop.StatusPublished); err != nil {
			fail(err)
			return
		}
	}
	adminDone(w, r, "/admin/products/"+url.PathEscape(p.ID), "saved")
}

// setPublished publishes or unpublishes a product.
func (s *Storefront) setPublished(ctx context.Context, id string, publish bool) (product.Product, error) {
	if publish {
		return s.product.Publish(ctx, product.GetRequest{ID: id})
	}
	return s.product.Unpublish(ctx, product.GetRequest{ID: id})
}

// adminPublish serves POST /admin/products/{id}/publish and /unpublish.
func (s *Storefront) adminPublish(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	publish := !strings.HasSuffix(r.URL.Path, "/unpublish")
	p, err := s.setPublished(ctx, r.PathValue("id"), publish)
	if err != nil {
		if StatusOf(err) == http.StatusBadRequest && transport.AsError(err).Field("id") != "" {
			err = shop.NotFound("product")
		}
		s.adminFail(w, r, err, func(status int, flash string) { s.editPage(w, r, ctx, status, flash, nil) })
		return
	}
	what := "unpublished"
	if publish {
		what = "published"
	}
	adminDone(w, r, "/admin/products/"+url.PathEscape(p.ID), what)
}

// productDeletion deletes the product of the path
// (/admin/products/{id}/delete); a failed delete shows the product's page
// with why.
func (s *Storefront) productDeletion() deletion {
	return deletion{what: "product", donePath: "/admin/products", doneKey: "deleted",
		show: func(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
			p, err := s.getProduct(ctx, r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			s.adminRender(w, r, status, "admin_delete", "products", "Delete "+p.Title, flash, p)
		},
		failed: func(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
			s.editPage(w, r, ctx, status, flash, nil)
		},
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.product.Delete(ctx, product.GetRequest{ID: r.PathValue("id")})
			return err
		}}
}

// adminSetStock serves POST /admin/products/{id}/stock: sets the units
// on hand of sku, one of the product's SKUs.
func (s *Storefront) adminSetStock(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	sku := r.PostFormValue("sku")
	n, err := formInt(r, "on_hand", -1)
	switch {
	case !slices.Contains(productSKUs(p), sku):
		err = shop.Invalid("unknown SKU", "sku", "is not one of this product's SKUs")
	case err == nil && n < 0:
		err = shop.Invalid("invalid stock", "on_hand", "must be a whole number, at least 0")
	case err == nil:
		_, err = s.stockSv.SetStock(ctx, inventory.SetStockRequest{SKU: sku, OnHand: int64(n)})
	}
	if err != nil {
		s.adminFail(w, r, err, func(status int, flash string) {
			e := transport.AsError(err)
			msg := e.Message
			if len(e.Fields) > 0 {
				msg = e.Fields[0].Message
			}
			s.editPage(w, r, ctx, status, flash, map[string]string{sku: msg})
		})
		return
	}
	adminDone(w, r, "/admin/products/"+url.PathEscape(p.ID), "stock")
}

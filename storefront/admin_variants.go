package storefront

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/transport"
)

// The console's variants page of a product:
//
//	GET  /admin/products/{id}/variants          the option groups (chosen ones checked), their values, the base SKU, the variants' prices
//	POST /admin/products/{id}/variants          saves the chosen groups (in SKU order), the values each is restricted to and the base SKU
//	POST /admin/products/{id}/variants/prices   saves the variants' own prices (an empty field: the product's price)
//	POST /admin/products/{id}/variants/clear    removes every variant (confirm=1 required)
//
// The product service asks the option service to generate the variants
// (one per combination of the chosen values, SKUs made from the base SKU
// and the value codes, in the order of the groups); variants whose
// options survive a change keep their id and own price. The services'
// refusals (an unknown group, too many variants, a bad price) are shown
// next to their fields. See admin.go.

// variantGroupChoice is an option group on the variants page.
type variantGroupChoice struct {
	Code, Name string
	Chosen     bool
	Position   string // as typed: the group's place in the SKU
	Values     []variantValueChoice
	// Missing says the product uses (or the form posted) a group the
	// option service does not list.
	Missing bool
	Error   string // about the group
	// ValuesError is about its values.
	ValuesError string
}

// variantValueChoice is a value of an option group on the variants page.
type variantValueChoice struct {
	Code, Label string
	Checked     bool
}

// variantPriceRow is a variant in the price table.
type variantPriceRow struct {
	Index      int
	ID, SKU    string
	Label      string
	Price      string // the own price as typed, "" for the product's
	Effective  shop.Money
	OwnPrice   bool
	PriceError string
}

// adminVariantsView is the variants page.
type adminVariantsView struct {
	Product product.Product
	Groups  []variantGroupChoice
	SKU     string // as typed
	Errors  map[string]string
	Rows    []variantPriceRow
	// Variants fingerprints the variants the price table shows, so that
	// prices typed for a table that no longer matches the product are
	// not applied to other variants.
	Variants string
	// GroupsShown says the option groups could be read.
	GroupsShown bool
}

// variantsForm is the option group form as posted.
type variantsForm struct {
	chosen    []string            // the groups ticked, in the order of their positions
	positions map[string]string   // as typed, by group
	values    map[string][]string // the values ticked, by group
	sku       string
}

// readVariantsForm reads the posted option group form.
func readVariantsForm(r *http.Request) variantsForm {
	f := variantsForm{positions: map[string]string{}, values: map[string][]string{}, sku: strings.TrimSpace(r.PostFormValue("sku"))}
	for _, g := range r.PostForm["group"] { // bounded by MaxBodyBytes
		if g != "" && !slices.Contains(f.chosen, g) {
			f.chosen = append(f.chosen, g)
		}
	}
	for k, vs := range r.PostForm {
		if g, ok := strings.CutPrefix(k, "position."); ok {
			f.positions[g] = strings.TrimSpace(vs[0])
		} else if g, ok := strings.CutPrefix(k, "value."); ok {
			f.values[g] = vs
		}
	}
	return f
}

// variantsPath is the variants page of product id.
func variantsPath(id string) string { return "/admin/products/" + url.PathEscape(id) + "/variants" }

// variantsFingerprint identifies a product's variants (their ids, in
// order).
func variantsFingerprint(p product.Product) string {
	h := sha256.New()
	for _, v := range p.Variants {
		h.Write([]byte(v.ID))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// variantGroups are the option groups the page offers: the product's
// groups first, in their order, then the others in the option service's
// order; form, when not nil, says what was ticked and typed.
func variantGroups(p product.Product, groups []option.Group, form *variantsForm, errs map[string]string) []variantGroupChoice {
	byCode := map[string]option.Group{}
	for _, g := range groups {
		byCode[g.Code] = g
	}
	order := slices.Clone(p.OptionGroups)
	for _, g := range groups {
		if !slices.Contains(order, g.Code) {
			order = append(order, g.Code)
		}
	}
	if form != nil { // a group posted that is not (or no longer) listed
		for _, g := range form.chosen {
			if !slices.Contains(order, g) {
				order = append(order, g)
			}
		}
	}
	out := make([]variantGroupChoice, 0, len(order))
	for i, code := range order {
		g, known := byCode[code]
		c := variantGroupChoice{Code: code, Name: g.Name, Missing: !known, Error: errs["group."+code], ValuesError: errs["values."+code]}
		if c.Name == "" {
			c.Name = code
		}
		vals := g.Values
		if !known { // what the product's variants use
			seen := map[string]bool{}
			for _, v := range p.Variants {
				if val := v.Options[code]; val != "" && !seen[val] {
					seen[val] = true
					vals = append(vals, option.Value{Code: val, Label: val})
				}
			}
		}
		var ticked []string
		if form != nil {
			c.Chosen = slices.Contains(form.chosen, code)
			c.Position = form.positions[code]
			ticked = form.values[code]
		} else {
			c.Chosen = slices.Contains(p.OptionGroups, code)
			if c.Chosen {
				c.Position = strconv.Itoa(i + 1)
			}
			ticked = p.OptionValues[code]
		}
		restricted := ticked != nil || form != nil && c.Chosen
		for _, v := range vals {
			label := v.Label
			if label == "" {
				label = v.Code
			}
			c.Values = append(c.Values, variantValueChoice{Code: v.Code, Label: label, Checked: !restricted || slices.Contains(ticked, v.Code)})
		}
		out = append(out, c)
	}
	return out
}

// variantRows are p's variants in the price table, labelled with the
// option groups' names and the values' labels in the order of p's groups;
// typed, when not nil, are the prices as typed (by row).
func variantRows(p product.Product, groups []option.Group, typed map[int]string, errs map[string]string) []variantPriceRow {
	d := definitions{groups: map[string]option.Group{}}
	for _, g := range groups {
		d.groups[g.Code] = g
	}
	out := make([]variantPriceRow, len(p.Variants))
	for i, v := range p.Variants {
		parts := make([]string, 0, len(v.Options))
		for _, g := range p.OptionGroups {
			if val, ok := v.Options[g]; ok {
				parts = append(parts, d.groupName(g)+": "+d.valueLabel(g, val))
			}
		}
		row := variantPriceRow{Index: i, ID: v.ID, SKU: v.SKU, Label: strings.Join(parts, ", "), Effective: v.Price, OwnPrice: v.OwnPrice,
			PriceError: errs["price."+strconv.Itoa(i)]}
		if typed != nil {
			row.Price = typed[i]
		} else if v.OwnPrice {
			row.Price = v.Price.Decimal()
		}
		out[i] = row
	}
	return out
}

// variantsPage is what showVariants renders.
type variantsPage struct {
	status int
	flash  string
	p      product.Product
	form   *variantsForm  // the option group form as posted, nil to show p's
	prices map[int]string // the prices as posted, nil to show p's
	errs   map[string]string
}

// showVariants renders the variants page.
func (s *Storefront) showVariants(w http.ResponseWriter, r *http.Request, ctx context.Context, pg variantsPage) {
	groups, err := s.options.ListGroups(ctx, option.ListGroupsRequest{})
	v := adminVariantsView{Product: pg.p, SKU: pg.p.SKU, Errors: pg.errs, Variants: variantsFingerprint(pg.p), GroupsShown: err == nil}
	if err != nil {
		s.warn(ctx, "admin: option groups", option.ServiceName, err)
		if pg.flash == "" {
			pg.flash = "The option groups cannot be shown right now. Please try again in a moment."
		}
	} else {
		v.Groups = variantGroups(pg.p, groups, pg.form, pg.errs)
	}
	if pg.form != nil {
		v.SKU = pg.form.sku
	}
	v.Rows = variantRows(pg.p, groups, pg.prices, pg.errs)
	s.adminRender(w, r, pg.status, "admin_variants", "products", "Variants of "+pg.p.Title, pg.flash, v)
}

// adminVariants serves GET /admin/products/{id}/variants.
func (s *Storefront) adminVariants(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	s.showVariants(w, r, ctx, variantsPage{status: http.StatusOK, p: p})
}

// variantErrors turns the product service's refusal of an option group
// change into the page's field errors: chosen are the groups as sent.
func variantErrors(r *http.Request, err error, chosen []string) (map[string]string, string) {
	return formErrors(r, err, func(field string) string {
		switch {
		case field == "sku":
			return "sku"
		case field == "option_groups" || field == "groups":
			return "groups"
		case strings.HasPrefix(field, "option_groups["):
			i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(field, "option_groups["), "]"))
			if err == nil && i >= 0 && i < len(chosen) {
				return "group." + chosen[i]
			}
			return "groups"
		case strings.HasPrefix(field, "option_values."):
			return "values." + strings.TrimPrefix(field, "option_values.")
		case field == "option_values":
			return "groups"
		}
		return ""
	})
}

// adminSaveVariants serves POST /admin/products/{id}/variants: the chosen
// option groups, their values and the base SKU go to product.update,
// which regenerates the variants.
func (s *Storefront) adminSaveVariants(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	form := readVariantsForm(r)
	again := func(status int, errs map[string]string, flash string) {
		s.showVariants(w, r, ctx, variantsPage{status: status, flash: flash, p: p, form: &form, errs: errs})
	}
	// The chosen groups in the order of their positions (a group without
	// one after those with one, in the page's order).
	errs := map[string]string{}
	pos := map[string]int{}
	for _, g := range form.chosen {
		n, err := strconv.Atoi(form.positions[g])
		switch {
		case form.positions[g] == "":
			n = 1 << 30
		case err != nil:
			errs["group."+g] = "the position must be a whole number"
		}
		pos[g] = n
	}
	slices.SortStableFunc(form.chosen, func(a, b string) int { return cmp.Compare(pos[a], pos[b]) })
	values := map[string][]string{}
	for _, g := range form.chosen {
		ticked := form.values[g]
		if len(ticked) == 0 {
			errs["values."+g] = "choose at least one value"
		}
		values[g] = ticked
	}
	if len(form.chosen) == 0 {
		errs["groups"] = "choose at least one option group (to remove every variant, use “Remove all variants” below)"
	}
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	// A group whose every value is ticked is not restricted: what the
	// option service lists of it is what the variants combine.
	if groups, err := s.options.ListGroups(ctx, option.ListGroupsRequest{}); err == nil {
		for _, g := range groups {
			if ticked, ok := values[g.Code]; ok && len(ticked) == len(g.Values) &&
				!slices.ContainsFunc(g.Values, func(v option.Value) bool { return !slices.Contains(ticked, v.Code) }) {
				delete(values, g.Code)
			}
		}
	} else {
		s.fail(w, r, err)
		return
	}
	req := product.UpdateRequest{ID: p.ID}
	changed := false
	if !slices.Equal(form.chosen, p.OptionGroups) {
		req.OptionGroups, changed = &form.chosen, true
	}
	curValues := p.OptionValues
	if curValues == nil {
		curValues = map[string][]string{}
	}
	if !maps.EqualFunc(values, curValues, slices.Equal) {
		req.OptionValues, changed = &values, true
	}
	if form.sku != "" && form.sku != p.SKU {
		req.SKU, changed = &form.sku, true
	}
	if changed {
		if _, err := s.product.Update(ctx, req); err != nil {
			s.adminFail(w, r, err, func(status int, _ string) {
				errs, flash := variantErrors(r, err, form.chosen)
				again(status, errs, flash)
			})
			return
		}
	}
	adminDone(w, r, variantsPath(p.ID), "saved")
}

// adminVariantPrices serves POST /admin/products/{id}/variants/prices:
// price.{i} is the own price of the i-th variant ("" for none); variants
// must be the fingerprint of the variants the table showed.
func (s *Storefront) adminVariantPrices(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	typed := make(map[int]string, len(p.Variants))
	for i := range p.Variants {
		typed[i] = strings.TrimSpace(r.PostFormValue("price." + strconv.Itoa(i)))
	}
	again := func(status int, errs map[string]string, flash string) {
		s.showVariants(w, r, ctx, variantsPage{status: status, flash: flash, p: p, prices: typed, errs: errs})
	}
	if len(p.Variants) == 0 {
		again(http.StatusBadRequest, nil, "This product has no variants: choose its option groups first.")
		return
	}
	if r.PostFormValue("variants") != variantsFingerprint(p) {
		s.showVariants(w, r, ctx, variantsPage{status: http.StatusConflict, p: p,
			flash: "The product's variants changed since the page was shown, so no price was saved. Please enter the prices again."})
		return
	}
	errs := map[string]string{}
	prices := []product.VariantPrice{}
	for i, v := range p.Variants {
		if typed[i] == "" {
			continue
		}
		m, err := shop.ParseMoney(typed[i], p.Price.Currency)
		if err != nil {
			msg := err.Error()
			if e := transport.AsError(err); e != nil && len(e.Fields) > 0 {
				msg = e.Fields[0].Message
			}
			errs["price."+strconv.Itoa(i)] = msg
			continue
		}
		prices = append(prices, product.VariantPrice{Options: v.Options, Price: m})
	}
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the prices marked below.")
		return
	}
	same := true
	for i, v := range p.Variants {
		j := slices.IndexFunc(prices, func(vp product.VariantPrice) bool { return maps.Equal(vp.Options, v.Options) })
		if (j >= 0) != v.OwnPrice || j >= 0 && prices[j].Price != p.Variants[i].Price {
			same = false
			break
		}
	}
	if !same {
		if _, err := s.product.Update(ctx, product.UpdateRequest{ID: p.ID, VariantPrices: &prices}); err != nil {
			s.adminFail(w, r, err, func(status int, _ string) {
				errs, flash := formErrors(r, err, func(field string) string {
					rest, ok := strings.CutPrefix(field, "variant_prices[")
					if !ok {
						return ""
					}
					n, _, _ := strings.Cut(rest, "]")
					if k, err := strconv.Atoi(n); err == nil && k >= 0 && k < len(prices) {
						return "price." + strconv.Itoa(slices.IndexFunc(p.Variants, func(v product.Variant) bool {
							return maps.Equal(v.Options, prices[k].Options)
						}))
					}
					return ""
				})
				again(status, errs, flash)
			})
			return
		}
	}
	adminDone(w, r, variantsPath(p.ID), "saved")
}

// adminClearVariants serves POST /admin/products/{id}/variants/clear:
// with confirm=1, the product loses its option groups and variants.
func (s *Storefront) adminClearVariants(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.adminProduct(w, r)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "1" {
		s.showVariants(w, r, ctx, variantsPage{status: http.StatusBadRequest, p: p, flash: "Please check the fields marked below.",
			errs: map[string]string{"confirm": "tick the box to confirm that every variant goes"}})
		return
	}
	if len(p.OptionGroups) > 0 {
		if _, err := s.product.Update(ctx, product.UpdateRequest{ID: p.ID, OptionGroups: &[]string{}}); err != nil {
			s.adminFail(w, r, err, func(status int, flash string) {
				s.showVariants(w, r, ctx, variantsPage{status: status, flash: flash, p: p})
			})
			return
		}
	}
	adminDone(w, r, variantsPath(p.ID), "saved")
}

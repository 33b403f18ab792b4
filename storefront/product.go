package storefront

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// ParamVariant is the query parameter of a product page naming the chosen
// variant by id.
const ParamVariant = "variant"

// definitions are the display names of attributes and options.
type definitions struct {
	attrs  map[string]attribute.Attribute
	groups map[string]option.Group
}

// groupName returns an option group's display name.
func (d definitions) groupName(code string) string {
	if g, ok := d.groups[code]; ok && g.Name != "" {
		return g.Name
	}
	return code
}

// valueLabel returns an option value's display label.
func (d definitions) valueLabel(group, code string) string {
	for _, v := range d.groups[group].Values {
		if v.Code == code && v.Label != "" {
			return v.Label
		}
	}
	return code
}

// optionsLabel formats variant options as "Size: M, Colour: Red", groups
// sorted by code.
func (d definitions) optionsLabel(opts map[string]string) string {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = d.groupName(k) + ": " + d.valueLabel(k, opts[k])
	}
	return strings.Join(parts, ", ")
}

type productView struct {
	Product    product.Product
	Image      string
	Attributes []attributeView
	// Choice lets the shopper pick a variant, option by option, with
	// links; Variant is the chosen one (nil for a product without
	// variants).
	Choice  []choiceGroup
	Variant *product.Variant
	Label   string // the chosen variant's options
	Price   shop.Money
	SKU     string
	// Stock is the chosen variant's (or the product's) stock; nil when
	// the inventory service did not answer.
	Stock *StockLevel
}

// SoldOut reports whether the chosen variant (or the product) is known
// to be sold out: the add-to-cart button is disabled.
func (v productView) SoldOut() bool { return v.Stock != nil && v.Stock.SoldOut() }

type attributeView struct{ Name, Value string }

type choiceGroup struct {
	Code, Name string
	Values     []choiceValue
}

type choiceValue struct {
	Code, Label string
	Selected    bool
	Link        string // the product page with the variant that has this value
	SoldOut     bool   // that variant is known to be sold out
}

// productPage renders a product found by the slug route. The variant is
// chosen with ?variant=ID (the first variant by default).
// Its stock comes from call when that asks for the right SKUs (see
// productStock).
func (s *Storefront) productPage(w http.ResponseWriter, r *http.Request, p product.Product, seoF *future[seo.Resolution], seoPath string, d definitions, call *stockCall) {
	path := "/" + p.Slug
	v := productView{Product: p, Price: p.Price, SKU: p.SKU}
	stock := s.productStock(r, p, call)
	if len(p.Images) > 0 {
		v.Image = p.Images[0]
	}
	for code, val := range p.Attributes {
		def := d.attrs[code]
		name, value := def.Name, formatValue(val)
		if name == "" {
			name = code
		}
		if _, isBool := val.(bool); def.Unit != "" && !isBool {
			value += " " + def.Unit
		}
		v.Attributes = append(v.Attributes, attributeView{Name: name, Value: value})
	}
	sort.Slice(v.Attributes, func(i, j int) bool { return v.Attributes[i].Name < v.Attributes[j].Name })
	if len(p.Variants) > 0 {
		chosen := &p.Variants[0]
		if id := r.URL.Query().Get(ParamVariant); id != "" {
			for i := range p.Variants {
				if p.Variants[i].ID == id {
					chosen = &p.Variants[i]
				}
			}
		}
		v.Variant, v.Price, v.SKU, v.Label = chosen, chosen.Price, chosen.SKU, d.optionsLabel(chosen.Options)
		v.Choice = variantChoice(p, chosen, d, path, stock)
	}
	if stock != nil && v.SKU != "" {
		l := stockLevel(stock[v.SKU])
		v.Stock = &l
	}
	desc := p.Description
	if utf8.RuneCountInString(desc) > 160 {
		desc = string([]rune(desc)[:160])
	}
	m := s.pageMeta(r.Context(), seoF, seoPath, path, meta{Title: p.Title, Description: desc})
	s.render(w, r, http.StatusOK, "product", m, "", v)
}

// variantChoice lists, for each option group of p's variants, its values
// with a link to the variant that has that value and otherwise the chosen
// variant's options (or, if there is none, the first with that value).
// A value whose variant stock knows to be sold out is marked so.
func variantChoice(p product.Product, chosen *product.Variant, d definitions, path string, stock stockOf) []choiceGroup {
	groups := slices.Clone(p.OptionGroups)
	for _, va := range p.Variants {
		for g := range va.Options {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	var out []choiceGroup
	for _, g := range groups {
		var codes []string
		for _, va := range p.Variants {
			if c, ok := va.Options[g]; ok && !slices.Contains(codes, c) {
				codes = append(codes, c)
			}
		}
		if len(codes) == 0 {
			continue
		}
		// The option service's order of values, where it is known.
		order := map[string]int{}
		for i, val := range d.groups[g].Values {
			order[val.Code] = i + 1
		}
		sort.SliceStable(codes, func(i, j int) bool {
			oi, oj := order[codes[i]], order[codes[j]]
			return oi != 0 && (oj == 0 || oi < oj)
		})
		cg := choiceGroup{Code: g, Name: d.groupName(g)}
		for _, c := range codes {
			target := matchVariant(p.Variants, chosen.Options, g, c)
			cg.Values = append(cg.Values, choiceValue{
				Code: c, Label: d.valueLabel(g, c), Selected: chosen.Options[g] == c,
				Link:    path + "?" + url.Values{ParamVariant: {target.ID}}.Encode(),
				SoldOut: stock != nil && stock[target.SKU] <= 0,
			})
		}
		out = append(out, cg)
	}
	return out
}

// matchVariant returns the variant with options want but group set to
// value, or else the first with that value.
func matchVariant(variants []product.Variant, want map[string]string, group, value string) *product.Variant {
	var first *product.Variant
	for i := range variants {
		va := &variants[i]
		if va.Options[group] != value {
			continue
		}
		if first == nil {
			first = va
		}
		same := true
		for g, c := range want {
			if g != group && va.Options[g] != c {
				same = false
				break
			}
		}
		if same && len(va.Options) == len(want) {
			return va
		}
	}
	return first
}

func formatValue(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// publishedProduct returns a published product by slug; drafts are not found.
func (s *Storefront) publishedProduct(ctx context.Context, slug string) (product.Product, error) {
	p, err := s.product.GetBySlug(ctx, product.GetBySlugRequest{Slug: slug})
	if err == nil && p.Status != shop.StatusPublished {
		return product.Product{}, shop.NotFound("product")
	}
	return p, err
}

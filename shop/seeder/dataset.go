package seeder

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/shop/catalog/product"
	"github.com/shopbus/shopbus/shop/content/article"
	"github.com/shopbus/shopbus/shop/content/seo"
)

// Currency is the currency of every seeded price.
const Currency = "EUR"

// Dataset is what a run with one seed and size creates, computed without
// any I/O. The small parts (schema, categories, pages) are held; products
// and articles are generated on demand, one by one, so that a dataset of
// MaxProducts costs no memory.
type Dataset struct {
	Seed int64
	// Products and Articles are the numbers of products and articles.
	Products int
	Articles int
	// Attributes and AttributeGroups are the attribute schema; it is the
	// same for every seed.
	Attributes      []attribute.CreateRequest
	AttributeGroups []attribute.CreateGroupRequest
	// OptionGroups are the option groups (size, colour); the same for
	// every seed.
	OptionGroups []option.CreateGroupRequest
	// Categories are the categories of the tree, parents before their
	// children.
	Categories []CategorySpec
	// Pages are the content pages given explicit SEO metadata.
	Pages []seo.PutRequest

	leaves []int // indexes into Categories of the level-3 categories

	// images are the drawn sample pictures (ProductImage), by design.
	images     [ImageDesigns][]byte
	imagesOnce [ImageDesigns]sync.Once
}

// CategorySpec is one category of a Dataset.
type CategorySpec struct {
	Slug        string
	Name        string
	Description string
	// ParentSlug is the parent's slug; empty for a root.
	ParentSlug string
	// Level is 1 for a root, 2 for its children, 3 for theirs.
	Level    int
	Position int

	line *productLine // what products under it are (levels 2 and 3)
}

// Request returns the creation request of c, filed under parentID.
func (c CategorySpec) Request(parentID string) category.CreateRequest {
	return category.CreateRequest{Name: c.Name, Slug: c.Slug, Description: c.Description, ParentID: parentID, Position: c.Position}
}

// ProductSpec is one product of a Dataset.
type ProductSpec struct {
	// Index is the product's position in the dataset, from 0.
	Index int
	// CategorySlug is the level-3 category the product is filed under.
	CategorySlug string
	// Request creates the product; CategoryIDs is left empty for the run
	// to fill in with the id of CategorySlug.
	Request product.CreateRequest
	// Variants is the number of variants the request generates.
	Variants int
}

// variantKind says which option groups a product line's products combine.
type variantKind int

const (
	noVariants variantKind = iota
	colourVariants
	sizeVariants
	sizeColourVariants
)

// productLine is a level-2 category of the taxonomy: what its products are.
type productLine struct {
	plural, noun string
	variants     variantKind
	materials    []string
	outdoor      bool // products may be waterproof
	sized        bool // products have no width and height
}

type rootLine struct {
	name  string
	lines []productLine
}

// taxonomy is the vocabulary of the category tree.
var taxonomy = []rootLine{
	{"Clothing", []productLine{
		{"Shirts", "Shirt", sizeColourVariants, []string{"Cotton", "Linen", "Wool"}, false, true},
		{"Jackets", "Jacket", sizeColourVariants, []string{"Canvas", "Wool", "Leather", "Recycled plastic"}, true, true},
		{"Trousers", "Trousers", sizeColourVariants, []string{"Cotton", "Linen", "Wool", "Canvas"}, false, true},
		{"Knitwear", "Sweater", sizeColourVariants, []string{"Wool", "Cotton"}, false, true},
	}},
	{"Footwear", []productLine{
		{"Sneakers", "Sneaker", sizeColourVariants, []string{"Canvas", "Leather", "Recycled plastic"}, false, true},
		{"Boots", "Boot", sizeColourVariants, []string{"Leather", "Canvas"}, true, true},
		{"Sandals", "Sandal", sizeColourVariants, []string{"Leather", "Cotton"}, false, true},
	}},
	{"Home", []productLine{
		{"Lamps", "Lamp", colourVariants, []string{"Oak", "Walnut", "Steel", "Ceramic", "Glass"}, false, false},
		{"Chairs", "Chair", colourVariants, []string{"Oak", "Walnut", "Steel", "Bamboo"}, false, false},
		{"Rugs", "Rug", colourVariants, []string{"Wool", "Cotton"}, false, false},
		{"Vases", "Vase", colourVariants, []string{"Ceramic", "Glass"}, false, false},
	}},
	{"Kitchen", []productLine{
		{"Mugs", "Mug", colourVariants, []string{"Ceramic", "Glass", "Steel"}, false, false},
		{"Knives", "Knife", noVariants, []string{"Steel", "Walnut"}, false, false},
		{"Pans", "Pan", noVariants, []string{"Steel", "Aluminium"}, false, false},
		{"Kettles", "Kettle", colourVariants, []string{"Steel", "Glass"}, false, false},
	}},
	{"Outdoor", []productLine{
		{"Backpacks", "Backpack", colourVariants, []string{"Canvas", "Recycled plastic"}, true, false},
		{"Tents", "Tent", noVariants, []string{"Canvas", "Recycled plastic"}, true, false},
		{"Water Bottles", "Water Bottle", colourVariants, []string{"Steel", "Aluminium", "Recycled plastic"}, false, false},
	}},
	{"Garden", []productLine{
		{"Planters", "Planter", colourVariants, []string{"Ceramic", "Oak", "Recycled plastic"}, true, false},
		{"Benches", "Bench", noVariants, []string{"Oak", "Steel", "Bamboo"}, true, false},
		{"Lanterns", "Lantern", colourVariants, []string{"Steel", "Glass"}, true, false},
	}},
	{"Accessories", []productLine{
		{"Bags", "Bag", colourVariants, []string{"Leather", "Canvas"}, true, false},
		{"Wallets", "Wallet", colourVariants, []string{"Leather"}, false, false},
		{"Scarves", "Scarf", colourVariants, []string{"Wool", "Linen", "Cotton"}, false, true},
		{"Belts", "Belt", sizeVariants, []string{"Leather", "Canvas"}, false, true},
	}},
	{"Stationery", []productLine{
		{"Notebooks", "Notebook", colourVariants, []string{"Paper", "Recycled plastic"}, false, false},
		{"Pens", "Pen", colourVariants, []string{"Steel", "Bamboo", "Aluminium"}, false, false},
		{"Desk Organisers", "Desk Organiser", noVariants, []string{"Oak", "Bamboo", "Steel"}, false, false},
	}},
}

// segments name the level-3 categories: "<segment> <level-2 name>".
var segments = []string{"Everyday", "Premium", "Vintage", "Eco", "Travel", "Studio", "Essential", "Limited Edition"}

var (
	adjectives = []string{"Classic", "Modern", "Rustic", "Nordic", "Urban", "Compact", "Heritage", "Coastal",
		"Alpine", "Minimal", "Signature", "Bold", "Soft", "Field", "Harbour", "Summit"}
	brands = []string{"Northwind", "Fjordline", "Oakhaven", "Bramble & Co", "Kestrel", "Lumen", "Tidewater",
		"Ironbark", "Meadowlark", "Saltmarsh", "Copperleaf", "Greywolf"}
	authors  = []string{"Ada Lindqvist", "Jonas Berg", "Mira Okafor", "Theo Marchetti", "Lena Novak", "Sam Whitfield"}
	tagWords = []string{"style", "care", "guides", "news", "sustainability", "behind-the-scenes", "gifts", "how-to",
		"materials", "seasonal"}
	seasons = []string{"Spring", "Summer", "Autumn", "Winter"}
)

// The attribute schema.
var (
	materials = []string{"Cotton", "Linen", "Wool", "Leather", "Canvas", "Oak", "Walnut", "Bamboo", "Steel",
		"Aluminium", "Ceramic", "Glass", "Paper", "Recycled plastic"}
	attributes = []attribute.CreateRequest{
		{Code: "brand", Name: "Brand", Type: attribute.TypeText},
		{Code: "material", Name: "Material", Type: attribute.TypeEnum, Values: materials},
		{Code: "weight", Name: "Weight", Type: attribute.TypeNumber, Unit: "kg"},
		{Code: "width", Name: "Width", Type: attribute.TypeNumber, Unit: "cm"},
		{Code: "height", Name: "Height", Type: attribute.TypeNumber, Unit: "cm"},
		{Code: "waterproof", Name: "Waterproof", Type: attribute.TypeBoolean},
		{Code: "eco", Name: "Eco-friendly", Type: attribute.TypeBoolean},
	}
	attributeGroups = []attribute.CreateGroupRequest{
		{Code: "general", Name: "General", Attributes: []string{"brand", "material", "eco"}, Position: 1},
		{Code: "dimensions", Name: "Dimensions", Attributes: []string{"width", "height", "weight"}, Position: 2},
		{Code: "features", Name: "Features", Attributes: []string{"waterproof"}, Position: 3},
	}
	sizes   = []option.Value{{Code: "xs", Label: "XS"}, {Code: "s", Label: "S"}, {Code: "m", Label: "M"}, {Code: "l", Label: "L"}, {Code: "xl", Label: "XL"}}
	colours = []option.Value{{Code: "black", Label: "Black"}, {Code: "white", Label: "White"}, {Code: "grey", Label: "Grey"},
		{Code: "navy", Label: "Navy"}, {Code: "red", Label: "Red"}, {Code: "green", Label: "Green"},
		{Code: "sand", Label: "Sand"}, {Code: "ochre", Label: "Ochre"}}
	optionGroups = []option.CreateGroupRequest{
		{Code: "size", Name: "Size", Values: sizes, Position: 1},
		{Code: "colour", Name: "Colour", Values: colours, Position: 2},
	}
	pages = []seo.PutRequest{
		{Kind: seo.KindPage, EntityID: "about", Path: "/about", Title: "About us",
			Description: "shopbus is a demo shop of well-made everyday things, run by ten small services talking over a message bus."},
		{Kind: seo.KindPage, EntityID: "shipping", Path: "/shipping", Title: "Shipping and returns",
			Description: "Free shipping on orders over 50 EUR, delivery in two to four working days, and 30 days to change your mind."},
		{Kind: seo.KindPage, EntityID: "contact", Path: "/contact", Title: "Contact",
			Description: "Questions about an order or a product? Write to us and we answer within one working day."},
	}
)

// articlesEpoch is the earliest publication time of a seeded article.
var articlesEpoch = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

// ArticlesFor returns the number of articles a run with n products
// creates: 3, plus one per 20 products, at most MaxArticles.
func ArticlesFor(n int) int { return min(3+n/20, MaxArticles) }

// checkRequest validates r and returns the number of products it asks for.
func checkRequest(r RunRequest) (int, error) {
	switch {
	case r.Products < 0 || r.Products > MaxProducts:
		return 0, shop.Invalid("invalid seed run", "products", fmt.Sprintf("must be from 1 to %d (0 means %d)", MaxProducts, DefaultProducts))
	case r.Products == 0:
		return DefaultProducts, nil
	}
	return r.Products, nil
}

// NewDataset returns the dataset of seed with the given number of products
// (0 means DefaultProducts; more than MaxProducts or fewer than 0 is
// invalid).
func NewDataset(seed int64, products int) (*Dataset, error) {
	n, err := checkRequest(RunRequest{Seed: seed, Products: products})
	if err != nil {
		return nil, err
	}
	d := &Dataset{
		Seed:            seed,
		Products:        n,
		Articles:        ArticlesFor(n),
		Attributes:      cloneAttributes(attributes),
		AttributeGroups: cloneGroups(attributeGroups),
		OptionGroups:    cloneOptionGroups(optionGroups),
		Pages:           slices.Clone(pages),
	}
	d.buildCategories()
	return d, nil
}

// buildCategories draws the category tree: 3 to 5 roots of the taxonomy,
// each with 2 or 3 of its product lines, each with 2 or 3 segments.
func (d *Dataset) buildCategories() {
	r := d.rng("categories", 0)
	roots := r.Perm(len(taxonomy))[:3+r.IntN(3)]
	slices.Sort(roots) // taxonomy order reads better than a random one
	for pos, ri := range roots {
		root := taxonomy[ri]
		rootSlug := slugify(root.name)
		d.Categories = append(d.Categories, CategorySpec{
			Slug: rootSlug, Name: root.name, Level: 1, Position: pos + 1,
			Description: fmt.Sprintf("%s from %s, %s and friends.", root.name, pick(r, brands), pick(r, brands)),
		})
		lines := r.Perm(len(root.lines))[:min(len(root.lines), 2+r.IntN(2))]
		slices.Sort(lines)
		for lpos, li := range lines {
			line := &root.lines[li]
			lineSlug := rootSlug + "-" + slugify(line.plural)
			d.Categories = append(d.Categories, CategorySpec{
				Slug: lineSlug, Name: line.plural, ParentSlug: rootSlug, Level: 2, Position: lpos + 1, line: line,
				Description: fmt.Sprintf("%s in %s and more.", line.plural, strings.ToLower(strings.Join(line.materials, ", "))),
			})
			segs := r.Perm(len(segments))[:2+r.IntN(2)]
			slices.Sort(segs)
			for spos, si := range segs {
				name := segments[si] + " " + line.plural
				d.leaves = append(d.leaves, len(d.Categories))
				d.Categories = append(d.Categories, CategorySpec{
					Slug: lineSlug + "-" + slugify(segments[si]), Name: name, ParentSlug: lineSlug, Level: 3, Position: spos + 1, line: line,
					Description: fmt.Sprintf("Our %s: %s.", strings.ToLower(name), pick(r, []string{
						"made to last", "chosen by our buyers", "small batches, big ideas", "the ones we use ourselves"})),
				})
			}
		}
	}
}

// Product returns product i (0 ≤ i < Products) of the dataset.
func (d *Dataset) Product(i int) ProductSpec {
	r := d.rng("product", i)
	leaf := d.Categories[d.leaves[r.IntN(len(d.leaves))]]
	line := leaf.line
	adj := pick(r, adjectives)
	material := pick(r, line.materials)
	brand := pick(r, brands)
	title := adj + " " + titleCase(material) + " " + line.noun
	slug := slugify(title) + "-" + strconv.Itoa(i+1)

	units := int64(4 + r.IntN(246))
	ending := []int64{99, 95, 0, 50}[r.IntN(4)]
	price := shop.Money{Amount: units*100 + ending, Currency: Currency}

	attrs := map[string]any{
		"brand":    brand,
		"material": material,
		"weight":   math.Round((0.1+r.Float64()*9.9)*10) / 10,
		"eco":      r.IntN(3) == 0,
	}
	if !line.sized {
		attrs["width"] = float64(10 + r.IntN(190))
		attrs["height"] = float64(5 + r.IntN(120))
	}
	if line.outdoor {
		attrs["waterproof"] = r.IntN(2) == 0
	}

	req := product.CreateRequest{
		Title:       title,
		Slug:        slug,
		Description: productDescription(r, title, brand, material, line, attrs),
		Status:      shop.StatusPublished,
		SKU:         skuOf(slug),
		Price:       price,
		Attributes:  attrs,
		// Images are left for the run: it puts the product's picture
		// (ProductImage) and refers to it by its path.
	}
	variants := 0
	pickSizes := func() []string {
		start := r.IntN(3)
		n := 3 + r.IntN(len(sizes)-start-2)
		return codes(sizes[start : start+n])
	}
	pickColours := func(lo, hi int) []string {
		idx := r.Perm(len(colours))[:lo+r.IntN(hi-lo+1)]
		slices.Sort(idx)
		out := make([]string, len(idx))
		for k, j := range idx {
			out[k] = colours[j].Code
		}
		return out
	}
	switch line.variants {
	case sizeColourVariants:
		sz, col := pickSizes(), pickColours(2, 3)
		req.OptionGroups = []string{"size", "colour"}
		req.OptionValues = map[string][]string{"size": sz, "colour": col}
		variants = len(sz) * len(col)
		if slices.Contains(sz, "xl") && r.IntN(2) == 0 {
			// XL costs 10% more, rounded to whole units.
			xl := shop.Money{Amount: (price.Amount*11/10 + 50) / 100 * 100, Currency: Currency}
			for _, c := range col {
				req.VariantPrices = append(req.VariantPrices, product.VariantPrice{
					Options: map[string]string{"size": "xl", "colour": c}, Price: xl})
			}
		}
	case sizeVariants:
		sz := pickSizes()
		req.OptionGroups = []string{"size"}
		req.OptionValues = map[string][]string{"size": sz}
		variants = len(sz)
	case colourVariants:
		col := pickColours(2, 4)
		req.OptionGroups = []string{"colour"}
		req.OptionValues = map[string][]string{"colour": col}
		variants = len(col)
	}
	return ProductSpec{Index: i, CategorySlug: leaf.Slug, Request: req, Variants: variants}
}

// StockLevel is how well stocked a product of a Dataset is.
type StockLevel string

// Stock levels.
const (
	// StockPlenty: 20 to 100 units of each SKU; now and then one variant
	// (never all) is sold out.
	StockPlenty StockLevel = "plenty"
	// StockLow: 1 to 5 units of each SKU ("only N left").
	StockLow StockLevel = "low"
	// StockSoldOut: no units of any SKU.
	StockSoldOut StockLevel = "sold_out"
)

// StockLevel returns the stock level of product i: the 8th product and
// every 25th after it are sold out, the 4th and every 10th after it low,
// the others plentiful; so the default DefaultProducts show all three.
func (d *Dataset) StockLevel(i int) StockLevel {
	switch {
	case i%25 == 7:
		return StockSoldOut
	case i%10 == 3:
		return StockLow
	}
	return StockPlenty
}

// Stock returns the units on hand a run sets for product i: one amount
// for each of its variants' SKUs (variantSKUs, as the product service
// made them; the amounts do not depend on their order), and the amount of
// the product's own SKU. A product with variants is sold under their
// SKUs; its own SKU gets their sum, so that it too reads as sold out
// exactly when every variant is.
func (d *Dataset) Stock(i int, variantSKUs []string) (variants []int64, own int64) {
	level := d.StockLevel(i)
	amount := func(r *rand.Rand, mayBeOut bool) int64 {
		switch level {
		case StockSoldOut:
			return 0
		case StockLow:
			return 1 + r.Int64N(5)
		}
		if mayBeOut && r.IntN(8) == 0 {
			return 0
		}
		return 20 + r.Int64N(81)
	}
	if len(variantSKUs) == 0 {
		return nil, amount(d.rng("stock", i), false)
	}
	first := slices.Min(variantSKUs) // never sold out when the product is plentiful
	variants = make([]int64, len(variantSKUs))
	for j, sku := range variantSKUs {
		variants[j] = amount(d.rng("stock "+sku, i), sku != first)
		own += variants[j]
	}
	return variants, own
}

// productDescription writes two or three sentences about a product.
func productDescription(r *rand.Rand, title, brand, material string, line *productLine, attrs map[string]any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The %s by %s is made of %s. ", title, brand, strings.ToLower(material))
	b.WriteString(pick(r, []string{
		"Designed to be used every day and to last for years.",
		"A quiet favourite of our buyers, made in small batches.",
		"Simple lines, honest materials and nothing you do not need.",
		"Light enough to take anywhere, sturdy enough to keep.",
	}))
	if wp, _ := attrs["waterproof"].(bool); wp {
		b.WriteString(" Waterproof, so the weather is never an excuse.")
	}
	if eco, _ := attrs["eco"].(bool); eco {
		b.WriteString(" Made with an eye on its footprint.")
	}
	if line.sized {
		b.WriteString(" Check the size guide before ordering.")
	}
	return b.String()
}

// Article returns article i (0 ≤ i < Articles) of the dataset.
func (d *Dataset) Article(i int) article.CreateRequest {
	r := d.rng("article", i)
	var lines []CategorySpec
	for _, c := range d.Categories {
		if c.Level == 2 {
			lines = append(lines, c)
		}
	}
	cat := lines[r.IntN(len(lines))]
	line := cat.line
	material := pick(r, line.materials)
	brand := pick(r, brands)
	var title string
	tags := []string{}
	switch r.IntN(6) {
	case 0:
		title = fmt.Sprintf("How to care for %s %s", strings.ToLower(material), strings.ToLower(line.plural))
		tags = append(tags, "care", "how-to")
	case 1:
		title = fmt.Sprintf("%d ways to style %s", 3+r.IntN(7), strings.ToLower(line.plural))
		tags = append(tags, "style")
	case 2:
		title = "A buyer's guide to " + strings.ToLower(line.plural)
		tags = append(tags, "guides")
	case 3:
		title = "Inside the " + brand + " workshop"
		tags = append(tags, "behind-the-scenes")
	case 4:
		title = fmt.Sprintf("%s picks: %s", pick(r, seasons), strings.ToLower(line.plural))
		tags = append(tags, "seasonal")
	default:
		title = "Why we love " + strings.ToLower(material)
		tags = append(tags, "materials")
	}
	for len(tags) < 3 {
		if t := pick(r, tagWords); !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	slug := slugify(title) + "-" + strconv.Itoa(i+1)
	j := r.IntN(d.Products)
	p := d.Product(j)
	intro := fmt.Sprintf("%s are among the things we get asked about most, so here is what we have learnt.", line.plural)
	body := strings.Join([]string{
		intro,
		"## " + pick(r, []string{"Start with the material", "What to look for", "Our rules of thumb", "A few details"}),
		fmt.Sprintf("%s ages well when it is looked after: keep it dry, clean it gently and give it a rest between uses. %s makes a point of choosing it for that reason.",
			material, brand),
		"- " + pick(r, []string{"Buy less, choose well.", "Read the care label first."}) + "\n" +
			"- " + pick(r, []string{"Repair before you replace.", "Air it out rather than washing it."}) + "\n" +
			"- " + pick(r, []string{"Store it away from direct sun.", "When in doubt, ask us."}),
		fmt.Sprintf("Browse our [%s](/categories/%s) or have a look at the [%s](/products/%s).",
			strings.ToLower(line.plural), cat.Slug, p.Request.Title, p.Request.Slug),
	}, "\n\n")
	return article.CreateRequest{
		Title:       title,
		Slug:        slug,
		Body:        body,
		Excerpt:     intro,
		Author:      pick(r, authors),
		Tags:        tags,
		CoverImage:  d.ProductImagePath(j), // the picture of the product it links to
		Status:      article.StatusPublished,
		PublishedAt: articlesEpoch.Add(time.Duration(r.IntN(365*24)) * time.Hour),
	}
}

// ProductMetadata returns the explicit SEO metadata of product i (the
// first SEOProducts products have some); EntityID is left for the run to
// fill in with the product's id.
func (d *Dataset) ProductMetadata(i int) seo.PutRequest {
	p := d.Product(i)
	brand, _ := p.Request.Attributes["brand"].(string)
	desc := p.Request.Description
	if j := strings.Index(desc, ". "); j > 0 {
		desc = desc[:j+1]
	}
	return seo.PutRequest{
		Kind:        seo.KindProduct,
		Title:       p.Request.Title + " by " + brand,
		Description: desc,
		OpenGraph:   seo.OpenGraph{Image: d.ProductImagePath(i)},
	}
}

// rng returns the random stream of entity i of a kind: it depends only on
// the seed, the kind and i.
func (d *Dataset) rng(kind string, i int) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(kind))
	return rand.New(rand.NewPCG(splitmix(uint64(d.Seed)), splitmix(h.Sum64()^splitmix(uint64(i)))))
}

// splitmix is the SplitMix64 finaliser: it spreads nearby inputs apart.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func codes(vs []option.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Code
	}
	return out
}

// slugify turns a title into a slug as the services do (shop.Slugify):
// the sample data's slugs are the ones its titles would get.
func slugify(s string) string { return shop.Slugify(s) }

// titleCase upper-cases the first letter of every word.
func titleCase(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// skuOf derives a product SKU from its slug: upper-cased, and when too long
// for the option service's SKU base, cut and made unique with a hash of the
// slug.
func skuOf(slug string) string {
	sku := strings.ToUpper(slug)
	if len(sku) <= option.MaxSKUBaseLen {
		return sku
	}
	h := fnv.New32a()
	h.Write([]byte(slug))
	return strings.TrimRight(sku[:option.MaxSKUBaseLen-9], "-") + "-" + fmt.Sprintf("%08X", h.Sum32())
}

func cloneAttributes(in []attribute.CreateRequest) []attribute.CreateRequest {
	out := slices.Clone(in)
	for i := range out {
		out[i].Values = slices.Clone(out[i].Values)
	}
	return out
}

func cloneGroups(in []attribute.CreateGroupRequest) []attribute.CreateGroupRequest {
	out := slices.Clone(in)
	for i := range out {
		out[i].Attributes = slices.Clone(out[i].Attributes)
	}
	return out
}

func cloneOptionGroups(in []option.CreateGroupRequest) []option.CreateGroupRequest {
	out := slices.Clone(in)
	for i := range out {
		out[i].Values = slices.Clone(out[i].Values)
	}
	return out
}

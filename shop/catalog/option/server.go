package option

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/docstore"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// Options configure a Server. The zero value works but cannot authorise
// writes (no Auth).
type Options struct {
	// Auth authenticates the caller of a write; writes need an admin.
	Auth shop.Authenticator
	// MaxVariants caps the variants of one product (default DefaultMaxVariants).
	MaxVariants int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports clean-up failures and requests that could not be
	// remembered (default slog.Default()).
	Logger *slog.Logger
}

// Server is the MongoDB implementation of Service. Its collections:
// option_groups (by code), product_variants (one document per product, by
// product id, holding its variants and the "group" and "group=value"
// markers of what they use), variant_skus (SKU → product, which makes
// SKUs unique), requests (the writes handled, so that a repeated
// request is answered without applying it again; see internal/idem) and
// audit_deleted (the audit logs of deleted option groups; a live group's
// log is in its own document, see History).
// Writes are serialised within one Server, which keeps "is this value in
// use" checks and generation from interleaving.
type Server struct {
	groups   *mongo.Collection
	variants *mongo.Collection
	skus     *mongo.Collection
	requests *idem.Store
	// retired keeps the audit logs of deleted option groups.
	retired audit.Retired
	opts    Options
	now     func() time.Time
	logger  *slog.Logger
	mu      sync.Mutex
}

var _ Service = (*Server)(nil)

type groupDoc struct {
	Code      string    `bson:"_id"`
	Name      string    `bson:"name"`
	Values    []Value   `bson:"values"`
	Position  int       `bson:"position"`
	Version   int64     `bson:"version"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
	// Log is the group's audit log, written with each change (see
	// internal/audit).
	audit.Log `bson:",inline"`
}

func (d *groupDoc) group() Group {
	vals := d.Values
	if vals == nil {
		vals = []Value{}
	}
	return Group{Code: d.Code, Name: d.Name, Values: vals, Position: d.Position,
		Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

func (d *groupDoc) hasValue(code string) bool {
	return slices.ContainsFunc(d.Values, func(v Value) bool { return v.Code == code })
}

type variantDoc struct {
	ID      string            `bson:"id"`
	SKU     string            `bson:"sku"`
	Options map[string]string `bson:"options"`
}

type setDoc struct {
	ProductID string       `bson:"_id"`
	SKU       string       `bson:"sku"`
	Groups    []string     `bson:"groups"`
	Variants  []variantDoc `bson:"variants"`
	// Uses lists "group" and "group=value" for everything the variants use.
	Uses      []string  `bson:"uses"`
	Version   int64     `bson:"version"`
	UpdatedAt time.Time `bson:"updated_at"`
}

func (d *setDoc) set() ProductVariants {
	out := ProductVariants{ProductID: d.ProductID, SKU: d.SKU, Groups: d.Groups,
		Variants: make([]Variant, len(d.Variants)), Version: d.Version, UpdatedAt: d.UpdatedAt}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	for i, v := range d.Variants {
		out.Variants[i] = Variant(v)
	}
	return out
}

type skuDoc struct {
	SKU       string `bson:"_id"`
	ProductID string `bson:"product_id"`
}

// New returns a Server storing its data in db and creates its indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	if opts.MaxVariants <= 0 {
		opts.MaxVariants = DefaultMaxVariants
	}
	s := &Server{
		groups:   db.Collection("option_groups"),
		variants: db.Collection("product_variants"),
		skus:     db.Collection("variant_skus"),
		retired:  audit.NewRetired(db),
		opts:     opts,
		now:      kit.Clock(opts.Now),
		logger:   kit.Logger(opts.Logger),
	}
	s.requests = idem.New(db, idem.Options{Logger: s.logger})
	if err := kit.EnsureIndexes(
		kit.Index{Collection: s.variants, Keys: bson.D{{Key: "uses", Value: 1}}},
		kit.Index{Collection: s.skus, Keys: bson.D{{Key: "product_id", Value: 1}}},
	); err != nil {
		return nil, err
	}
	return s, nil
}

// ---- groups and values ----

func checkValues(f *kit.Fields, values []Value) {
	if len(values) > MaxValuesPerGroup {
		f.Addf("values", "at most %d values", MaxValuesPerGroup)
		return
	}
	seen := map[string]bool{}
	for i, v := range values {
		field := "values[" + strconv.Itoa(i) + "]"
		f.Code(field+".code", v.Code)
		f.Text(field+".label", v.Label, true, kit.MaxNameLen)
		if seen[v.Code] && !f.Has(field+".code") {
			f.Add(field+".code", "duplicate value "+kit.Quote(v.Code))
		}
		seen[v.Code] = true
	}
}

// CreateGroup implements Service.
func (s *Server) CreateGroup(ctx context.Context, r CreateGroupRequest) (Group, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Group{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodCreateGroup, r, func(ctx context.Context) (Group, error) {
		return s.createGroup(ctx, r)
	})
}

func (s *Server) createGroup(ctx context.Context, r CreateGroupRequest) (Group, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	f.Text("name", r.Name, true, kit.MaxNameLen)
	checkValues(&f, r.Values)
	if err := f.Err("invalid option group"); err != nil {
		return Group{}, err
	}
	now := s.now()
	d := groupDoc{Code: r.Code, Name: strings.TrimSpace(r.Name), Values: r.Values, Position: r.Position,
		Version: 1, CreatedAt: now, UpdatedAt: now}
	for i := range d.Values {
		d.Values[i].Label = strings.TrimSpace(d.Values[i].Label)
	}
	if d.Values == nil {
		d.Values = []Value{}
	}
	if err := s.carryOn(ctx, KindGroup, r.Code, &d.Log); err != nil {
		return Group{}, err
	}
	d.Record(ctx, MethodCreateGroup, now, audit.Changed(nil, d))
	if err := kit.Insert(ctx, s.groups, "option group", r.Code, d); err != nil {
		return Group{}, err
	}
	return d.group(), nil
}

// GetGroup implements Service.
func (s *Server) GetGroup(ctx context.Context, r GroupRequest) (Group, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if err := f.Err("invalid option group code"); err != nil {
		return Group{}, err
	}
	d, err := s.loadGroup(ctx, r.Code)
	if err != nil {
		return Group{}, err
	}
	return d.group(), nil
}

func (s *Server) loadGroup(ctx context.Context, code string) (groupDoc, error) {
	return kit.Find[groupDoc](ctx, s.groups, "option group", code)
}

// ListGroups implements Service.
func (s *Server) ListGroups(ctx context.Context, _ ListGroupsRequest) ([]Group, error) {
	docs, err := kit.List[groupDoc](ctx, s.groups, "option groups", bson.D{})
	if err != nil {
		return nil, err
	}
	kit.SortPlaced(docs, func(d *groupDoc) (int, string, string) { return d.Position, d.Name, d.Code })
	out := make([]Group, len(docs))
	for i := range docs {
		out[i] = docs[i].group()
	}
	return out, nil
}

// changeGroup applies change to the stored group and saves it, with the
// version bumped and an entry naming action in its log. A change that
// changes nothing is not stored. The caller holds s.mu.
func (s *Server) changeGroup(ctx context.Context, action, code string, change func(d *groupDoc) error) (Group, error) {
	d, err := s.loadGroup(ctx, code)
	if err != nil {
		return Group{}, err
	}
	next := d
	next.Values = slices.Clone(d.Values)
	if err := change(&next); err != nil {
		return Group{}, err
	}
	changed := audit.Changed(d, next)
	if len(changed) == 0 {
		return d.group(), nil // nothing changed: no new version, no entry
	}
	next.Version = d.Version + 1
	next.UpdatedAt = s.now()
	next.Record(ctx, action, next.UpdatedAt, changed)
	if err := kit.Replace(ctx, s.groups, "option group", d.Code, d.Version, next); err != nil {
		return Group{}, err
	}
	return next.group(), nil
}

// UpdateGroup implements Service.
func (s *Server) UpdateGroup(ctx context.Context, r UpdateGroupRequest) (Group, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Group{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodUpdateGroup, r, func(ctx context.Context) (Group, error) {
		return s.updateGroup(ctx, r)
	})
}

func (s *Server) updateGroup(ctx context.Context, r UpdateGroupRequest) (Group, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if r.Name != nil {
		f.Text("name", *r.Name, true, kit.MaxNameLen)
	}
	if err := f.Err("invalid option group"); err != nil {
		return Group{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeGroup(ctx, MethodUpdateGroup, r.Code, func(d *groupDoc) error {
		if r.Name != nil {
			d.Name = strings.TrimSpace(*r.Name)
		}
		if r.Position != nil {
			d.Position = *r.Position
		}
		return nil
	})
}

// DeleteGroup implements Service.
func (s *Server) DeleteGroup(ctx context.Context, r GroupRequest) (Group, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Group{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDeleteGroup, r, func(ctx context.Context) (Group, error) {
		return s.deleteGroup(ctx, r)
	})
}

func (s *Server) deleteGroup(ctx context.Context, r GroupRequest) (Group, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if err := f.Err("invalid option group code"); err != nil {
		return Group{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.loadGroup(ctx, r.Code)
	if err != nil {
		return Group{}, err
	}
	if err := s.checkUnused(ctx, r.Code, "option group "+kit.Quote(r.Code)); err != nil {
		return Group{}, err
	}
	// Keep the log, the delete on top, before the group goes.
	d.Record(ctx, MethodDeleteGroup, s.now(), nil)
	if err := s.retired.Keep(ctx, KindGroup, d.Code, d.Log); err != nil {
		return Group{}, shop.StorageFailure(ctx, "keep the history of option group "+d.Code, err)
	}
	if _, err := s.groups.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.Code}}); err != nil {
		return Group{}, kit.Internal("delete option group", err)
	}
	return d.group(), nil
}

// checkUnused returns a conflict if some product's variants use marker
// ("group" or "group=value").
func (s *Server) checkUnused(ctx context.Context, marker, what string) error {
	var d setDoc
	err := s.variants.FindOne(ctx, bson.D{{Key: "uses", Value: marker}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return kit.Internal("find variants using "+marker, err)
	}
	return shop.Conflict(what + " is used by variants of product " + kit.Quote(d.ProductID))
}

// changeValue is the request method on a value: it checks r (with its
// label when label is set) and applies change to r's group, holding s.mu.
func (s *Server) changeValue(ctx context.Context, method string, r ValueRequest, label bool, change func(d *groupDoc) error) (Group, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Group{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, method, r, func(ctx context.Context) (Group, error) {
		return s.changeValueOnce(ctx, method, r, label, change)
	})
}

func (s *Server) changeValueOnce(ctx context.Context, method string, r ValueRequest, label bool, change func(d *groupDoc) error) (Group, error) {
	var f kit.Fields
	f.Code("group", r.Group)
	f.Code("code", r.Code)
	if label {
		f.Text("label", r.Label, true, kit.MaxNameLen)
	}
	if err := f.Err("invalid option value"); err != nil {
		return Group{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changeGroup(ctx, method, r.Group, change)
}

// AddValue implements Service.
func (s *Server) AddValue(ctx context.Context, r ValueRequest) (Group, error) {
	return s.changeValue(ctx, MethodAddValue, r, true, func(d *groupDoc) error {
		if d.hasValue(r.Code) {
			return shop.Conflict("option group " + kit.Quote(r.Group) + " already has value " + kit.Quote(r.Code))
		}
		if len(d.Values) >= MaxValuesPerGroup {
			return shop.Invalid("invalid option value", "code", fmt.Sprintf("a group has at most %d values", MaxValuesPerGroup))
		}
		d.Values = append(d.Values, Value{Code: r.Code, Label: strings.TrimSpace(r.Label)})
		return nil
	})
}

// UpdateValue implements Service.
func (s *Server) UpdateValue(ctx context.Context, r ValueRequest) (Group, error) {
	return s.changeValue(ctx, MethodUpdateValue, r, true, func(d *groupDoc) error {
		i := slices.IndexFunc(d.Values, func(v Value) bool { return v.Code == r.Code })
		if i < 0 {
			return shop.NotFound("option value " + kit.Quote(r.Group+"="+r.Code))
		}
		d.Values[i].Label = strings.TrimSpace(r.Label)
		return nil
	})
}

// RemoveValue implements Service.
func (s *Server) RemoveValue(ctx context.Context, r ValueRequest) (Group, error) {
	marker := r.Group + "=" + r.Code
	return s.changeValue(ctx, MethodRemoveValue, r, false, func(d *groupDoc) error {
		if !d.hasValue(r.Code) {
			return shop.NotFound("option value " + kit.Quote(marker))
		}
		if err := s.checkUnused(ctx, marker, "option value "+kit.Quote(marker)); err != nil {
			return err
		}
		d.Values = slices.DeleteFunc(d.Values, func(v Value) bool { return v.Code == r.Code })
		return nil
	})
}

// History implements Service.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	var f kit.Fields
	f.Code("id", r.ID)
	if r.Kind != "" && r.Kind != KindGroup {
		f.Add("kind", "must be empty or "+KindGroup)
	}
	if err := f.Err("invalid history request"); err != nil {
		return shop.History{}, err
	}
	return audit.Read(ctx, s.groups, s.retired, KindGroup, r.ID)
}

// ---- variants ----

// ValidSKUBase reports whether s can be the base of variant SKUs: 1 to
// MaxSKUBaseLen of A-Z, 0-9, '-', '_' and '.', starting with a letter or digit.
func ValidSKUBase(s string) bool {
	if s == "" || len(s) > MaxSKUBaseLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

// VariantSKU returns the SKU of the variant with the given value codes (in
// group order): base, then each code upper-cased, joined by '-'.
func VariantSKU(base string, valueCodes []string) string {
	parts := append([]string{base}, valueCodes...)
	return strings.ToUpper(strings.Join(parts, "-"))
}

// comboKey identifies an option combination independently of group order.
func comboKey(opts map[string]string) string {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + opts[k] + ";")
	}
	return b.String()
}

func (s *Server) loadSet(ctx context.Context, productID string) (setDoc, bool, error) {
	var d setDoc
	err := s.variants.FindOne(ctx, bson.D{{Key: "_id", Value: productID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return setDoc{}, false, nil
	}
	if err != nil {
		return setDoc{}, false, kit.Internal("find variants", err)
	}
	return d, true, nil
}

// GenerateVariants implements Service. New variants get ids derived from
// the request id (see idem.NewID).
func (s *Server) GenerateVariants(ctx context.Context, r GenerateRequest) (ProductVariants, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return ProductVariants{}, err
	}
	return idem.Do(ctx, s.requests, MethodGenerateVariants, r, func(ctx context.Context) (ProductVariants, error) {
		return s.generateVariants(ctx, r)
	})
}

func (s *Server) generateVariants(ctx context.Context, r GenerateRequest) (ProductVariants, error) {
	var f kit.Fields
	checkGenerate(&f, r)
	if err := f.Err("invalid variant generation"); err != nil {
		return ProductVariants{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	groups, err := s.loadGroups(ctx, r.Groups)
	if err != nil {
		return ProductVariants{}, err
	}
	values, err := s.combine(r, groups)
	if err != nil {
		return ProductVariants{}, err
	}
	return s.storeGenerated(ctx, r, values)
}

// checkGenerate adds to f what is wrong with r itself, before any option
// group is looked at.
func checkGenerate(f *kit.Fields, r GenerateRequest) {
	f.ID("product_id", r.ProductID, true)
	if !ValidSKUBase(r.SKU) {
		f.Addf("sku", "must be 1-%d of A-Z, 0-9, '-', '_', '.', starting with a letter or digit", MaxSKUBaseLen)
	}
	switch {
	case len(r.Groups) == 0:
		f.Add("groups", "choose at least one option group")
	case len(r.Groups) > MaxGroupsPerProduct:
		f.Addf("groups", "at most %d option groups", MaxGroupsPerProduct)
	}
	seen := map[string]bool{}
	for i, g := range r.Groups {
		field := "groups[" + strconv.Itoa(i) + "]"
		f.Code(field, g)
		if seen[g] && !f.Has(field) {
			f.Add(field, "duplicate option group "+kit.Quote(g))
		}
		seen[g] = true
	}
	for g, codes := range r.Values {
		field := "values." + g
		if !seen[g] {
			f.Add(strings.ToValidUTF8(field, "?"), "not one of the chosen groups")
			continue
		}
		if len(codes) == 0 {
			f.Add(field, "choose at least one value")
		}
		if len(codes) > MaxValuesPerGroup {
			f.Addf(field, "at most %d values", MaxValuesPerGroup)
			continue
		}
		dup := map[string]bool{}
		for _, c := range codes {
			if dup[c] && !f.Has(field) {
				f.Add(field, "duplicate value "+kit.Quote(c))
			}
			dup[c] = true
		}
	}
}

// loadGroups returns the option groups named in codes that exist, by
// code, read with one query and without their audit logs.
func (s *Server) loadGroups(ctx context.Context, codes []string) (map[string]groupDoc, error) {
	distinct := slices.Compact(slices.Sorted(slices.Values(codes)))
	out := make(map[string]groupDoc, len(distinct))
	if len(distinct) == 0 {
		return out, nil
	}
	docs, err := kit.List[groupDoc](ctx, s.groups, "option groups",
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: distinct}}}},
		options.Find().SetProjection(bson.D{{Key: audit.Field, Value: 0}}))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		out[d.Code] = d
	}
	return out, nil
}

// combine checks r (already checked by checkGenerate) against the option
// groups it names, as loaded in groups, and returns the value codes to
// combine, group by group: an unknown group or value, a group without
// values or more variants than the cap are invalid.
func (s *Server) combine(r GenerateRequest, groups map[string]groupDoc) ([][]string, error) {
	var f kit.Fields
	values := make([][]string, len(r.Groups))
	total := 1
	for i, g := range r.Groups {
		field := "groups[" + strconv.Itoa(i) + "]"
		gd, ok := groups[g]
		if !ok {
			f.Add(field, "unknown option group "+kit.Quote(g))
			continue
		}
		if chosen, ok := r.Values[g]; ok {
			for _, c := range chosen {
				if !gd.hasValue(c) {
					f.Add("values."+g, "unknown value "+kit.Quote(c))
					break
				}
			}
			values[i] = chosen
		} else {
			for _, v := range gd.Values {
				values[i] = append(values[i], v.Code)
			}
		}
		if len(values[i]) == 0 {
			f.Add(field, "option group "+kit.Quote(g)+" has no values")
		}
		total *= max(len(values[i]), 1)
		if total > s.opts.MaxVariants {
			total = s.opts.MaxVariants + 1 // avoid overflow; the cap is exceeded anyway
		}
	}
	if err := f.Err("invalid variant generation"); err != nil {
		return nil, err
	}
	if total > s.opts.MaxVariants {
		return nil, shop.Invalid("too many variants", "groups",
			fmt.Sprintf("the chosen groups make more than %d variants", s.opts.MaxVariants))
	}
	return values, nil
}

// storeGenerated replaces the product's variants with the combinations of
// values (see combine) that r asks for, keeping the ids of the
// combinations the product has already. The caller holds s.mu.
func (s *Server) storeGenerated(ctx context.Context, r GenerateRequest, values [][]string) (ProductVariants, error) {
	old, exists, err := s.loadSet(ctx, r.ProductID)
	if err != nil {
		return ProductVariants{}, err
	}
	return s.storeSet(ctx, old, exists, variantSet(ctx, r, values, old))
}

// variantSet returns the variant set that r asks for: every combination of
// values, the first group varying slowest. A combination that old has
// keeps its id; a new one gets an id derived from its SKU and the request
// (idem.NewID).
func variantSet(ctx context.Context, r GenerateRequest, values [][]string, old setDoc) setDoc {
	ids := map[string]string{} // combo key → id of the old variant
	for _, v := range old.Variants {
		ids[comboKey(v.Options)] = v.ID
	}
	total := 1
	for _, vs := range values {
		total *= len(vs)
	}
	variants := make([]variantDoc, 0, total)
	idx := make([]int, len(values)) // odometer over the value lists
	for {
		opts := make(map[string]string, len(r.Groups))
		codes := make([]string, len(r.Groups))
		for i, g := range r.Groups {
			codes[i] = values[i][idx[i]]
			opts[g] = codes[i]
		}
		sku := VariantSKU(r.SKU, codes)
		id := ids[comboKey(opts)]
		if id == "" {
			id = idem.NewID(ctx, "variant:"+sku)
		}
		variants = append(variants, variantDoc{ID: id, SKU: sku, Options: opts})
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(values[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	return setDoc{ProductID: r.ProductID, SKU: r.SKU, Groups: slices.Clone(r.Groups), Variants: variants}
}

// AddVariant implements Service. The variant's id derives from the
// request id, so a re-run of a request that stored it but could not
// remember its outcome finds it and returns the set unchanged.
func (s *Server) AddVariant(ctx context.Context, r AddVariantRequest) (ProductVariants, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return ProductVariants{}, err
	}
	return idem.Do(ctx, s.requests, MethodAddVariant, r, func(ctx context.Context) (ProductVariants, error) {
		return s.addVariant(ctx, r)
	})
}

func (s *Server) addVariant(ctx context.Context, r AddVariantRequest) (ProductVariants, error) {
	var f kit.Fields
	f.ID("product_id", r.ProductID, true)
	if r.SKU != "" && !ValidSKUBase(r.SKU) {
		f.Addf("sku", "must be 1-%d of A-Z, 0-9, '-', '_', '.', starting with a letter or digit", MaxSKUBaseLen)
	}
	switch {
	case len(r.Options) == 0:
		f.Add("options", "is required")
	case len(r.Options) > MaxGroupsPerProduct:
		f.Addf("options", "at most %d option groups", MaxGroupsPerProduct)
	}
	if err := f.Err("invalid variant"); err != nil {
		return ProductVariants{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists, err := s.loadSet(ctx, r.ProductID)
	if err != nil {
		return ProductVariants{}, err
	}
	groups := old.Groups
	base := old.SKU
	if !exists {
		if r.SKU == "" {
			return ProductVariants{}, shop.Invalid("invalid variant", "sku", "is required for a product's first variant")
		}
		base = r.SKU
		for g := range r.Options {
			groups = append(groups, g)
		}
		slices.Sort(groups)
	}
	codes := make([]string, 0, len(groups))
	for _, g := range groups {
		field := "options." + g
		v, ok := r.Options[g]
		if !ok {
			f.Add(field, "is required: the product's variants combine "+strings.Join(groups, ", "))
			continue
		}
		if !kit.ValidCode(g) {
			f.Add(strings.ToValidUTF8(field, "?"), "malformed option group code")
			continue
		}
		gd, err := s.loadGroup(ctx, g)
		if errors.Is(err, shop.ErrNotFound) {
			f.Add(field, "unknown option group")
			continue
		}
		if err != nil {
			return ProductVariants{}, err
		}
		if !gd.hasValue(v) {
			f.Add(field, "unknown value "+kit.Quote(v))
		}
		codes = append(codes, v)
	}
	for g := range r.Options {
		if !slices.Contains(groups, g) {
			f.Add(strings.ToValidUTF8("options."+g, "?"), "not an option group of the product's variants")
		}
	}
	if err := f.Err("invalid variant"); err != nil {
		return ProductVariants{}, err
	}
	key := comboKey(r.Options)
	sku := VariantSKU(base, codes)
	id := idem.NewID(ctx, "variant:"+sku)
	for _, v := range old.Variants {
		if comboKey(v.Options) == key {
			if v.ID == id {
				return old.set(), nil // added by an earlier run of this request
			}
			return ProductVariants{}, shop.Conflict("the product already has a variant " + kit.Quote(key))
		}
	}
	if len(old.Variants)+1 > s.opts.MaxVariants {
		return ProductVariants{}, shop.Invalid("too many variants", "options", fmt.Sprintf("a product has at most %d variants", s.opts.MaxVariants))
	}
	next := old
	next.ProductID, next.SKU, next.Groups = r.ProductID, base, groups
	next.Variants = append(slices.Clone(old.Variants), variantDoc{
		ID: id, SKU: sku, Options: maps.Clone(r.Options),
	})
	return s.storeSet(ctx, old, exists, next)
}

// RemoveVariant implements Service.
func (s *Server) RemoveVariant(ctx context.Context, r RemoveVariantRequest) (ProductVariants, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return ProductVariants{}, err
	}
	return idem.Do(ctx, s.requests, MethodRemoveVariant, r, func(ctx context.Context) (ProductVariants, error) {
		return s.removeVariant(ctx, r)
	})
}

func (s *Server) removeVariant(ctx context.Context, r RemoveVariantRequest) (ProductVariants, error) {
	var f kit.Fields
	f.ID("product_id", r.ProductID, true)
	f.ID("variant_id", r.VariantID, true)
	if err := f.Err("invalid variant"); err != nil {
		return ProductVariants{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists, err := s.loadSet(ctx, r.ProductID)
	if err != nil {
		return ProductVariants{}, err
	}
	i := slices.IndexFunc(old.Variants, func(v variantDoc) bool { return v.ID == r.VariantID })
	if !exists || i < 0 {
		return ProductVariants{}, shop.NotFound("variant " + kit.Quote(r.VariantID))
	}
	next := old
	next.Variants = slices.Delete(slices.Clone(old.Variants), i, i+1)
	return s.storeSet(ctx, old, exists, next)
}

// storeSet replaces old with next: it reserves the new SKUs, writes the
// set (checking old's version), then frees the SKUs no longer used. A
// failure before the write frees what it reserved. The caller holds s.mu.
func (s *Server) storeSet(ctx context.Context, old setDoc, exists bool, next setDoc) (ProductVariants, error) {
	if err := sharedSKU(next.Variants); err != nil {
		return ProductVariants{}, err
	}
	oldSKUs := map[string]bool{}
	for _, v := range old.Variants {
		oldSKUs[v.SKU] = true
	}
	newSKUs := map[string]bool{}
	var reserve []any
	for _, v := range next.Variants {
		newSKUs[v.SKU] = true
		if !oldSKUs[v.SKU] {
			reserve = append(reserve, skuDoc{SKU: v.SKU, ProductID: next.ProductID})
		}
	}
	if err := s.reserveSKUs(ctx, next.ProductID, reserve); err != nil {
		return ProductVariants{}, err
	}

	next.fill(old.Version+1, s.now())

	var err error
	if exists {
		var replaced bool
		replaced, err = docstore.Replace(ctx, s.variants, old.ProductID, next, false, docstore.Equal("version", old.Version))
		if err == nil && !replaced {
			err = shop.Conflict("the product's variants changed concurrently; try again")
		}
	} else {
		_, err = s.variants.InsertOne(ctx, next)
		if mongo.IsDuplicateKeyError(err) {
			err = shop.Conflict("the product's variants changed concurrently; try again")
		}
	}
	if err != nil {
		s.freeSKUs(ctx, next.ProductID, reserve)
		return ProductVariants{}, kit.Internal("store variants", err)
	}
	var free []any
	for sku := range oldSKUs {
		if !newSKUs[sku] {
			free = append(free, skuDoc{SKU: sku})
		}
	}
	s.freeSKUs(ctx, next.ProductID, free)
	return next.set(), nil
}

// sharedSKU returns a conflict if two of variants have the same SKU
// (value codes such as "a-b" and "b" can make one).
func sharedSKU(variants []variantDoc) error {
	seen := make(map[string]bool, len(variants))
	for _, v := range variants {
		if seen[v.SKU] {
			return shop.Conflict("two variants would share SKU " + kit.Quote(v.SKU))
		}
		seen[v.SKU] = true
	}
	return nil
}

// fill sets what a set stores besides its variants: the markers of what
// they use, the version and the time.
func (d *setDoc) fill(version int64, now time.Time) {
	uses := map[string]bool{}
	for _, g := range d.Groups {
		uses[g] = true
	}
	for _, v := range d.Variants {
		for g, c := range v.Options {
			uses[g+"="+c] = true
		}
	}
	d.Uses = make([]string, 0, len(uses))
	for u := range uses {
		d.Uses = append(d.Uses, u)
	}
	slices.Sort(d.Uses)
	d.Version = version
	d.UpdatedAt = now
}

// reserveSKUs inserts the SKU documents; a SKU held by another product is
// a conflict (and frees what was reserved), one already held by the same
// product (left over by an interrupted change) is fine.
func (s *Server) reserveSKUs(ctx context.Context, productID string, docs []any) error {
	if len(docs) == 0 {
		return nil
	}
	_, err := s.skus.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		s.freeSKUs(ctx, productID, docs)
		return kit.Internal("reserve SKUs", err)
	}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we) || we.Index < 0 || we.Index >= len(docs) {
			s.freeSKUs(ctx, productID, docs)
			return kit.Internal("reserve SKUs", err)
		}
		sku := docs[we.Index].(skuDoc).SKU
		var held skuDoc
		if err := s.skus.FindOne(ctx, bson.D{{Key: "_id", Value: sku}}).Decode(&held); err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			s.freeSKUs(ctx, productID, docs)
			return kit.Internal("find SKU", err)
		}
		if held.ProductID != productID {
			s.freeSKUs(ctx, productID, docs)
			return shop.Conflict("SKU " + kit.Quote(sku) + " is taken by another product")
		}
	}
	return nil
}

// freeSKUs deletes the SKU documents that productID holds. Failures are
// logged: a leftover SKU stays reserved for the same product.
func (s *Server) freeSKUs(ctx context.Context, productID string, docs []any) {
	held := make([]skuDoc, len(docs))
	for i, d := range docs {
		held[i] = skuDoc{SKU: d.(skuDoc).SKU, ProductID: productID}
	}
	s.freeHeld(ctx, held)
}

// freeHeld deletes each SKU document that its product still holds, with
// one write. Failures are logged, as for freeSKUs.
func (s *Server) freeHeld(ctx context.Context, docs []skuDoc) {
	if len(docs) == 0 {
		return
	}
	ctx, cancel := kit.Detach(ctx, 30*time.Second)
	defer cancel()
	models := make([]mongo.WriteModel, len(docs))
	for i, d := range docs {
		models[i] = mongo.NewDeleteOneModel().SetFilter(bson.D{{Key: "_id", Value: d.SKU}, {Key: "product_id", Value: d.ProductID}})
	}
	if _, err := s.skus.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		s.logger.Error("option: cannot free SKUs", "product", docs[0].ProductID, "count", len(docs), "err", err)
	}
}

// GetVariants implements Service.
func (s *Server) GetVariants(ctx context.Context, r ProductRequest) (ProductVariants, error) {
	var f kit.Fields
	f.ID("product_id", r.ProductID, true)
	if err := f.Err("invalid product id"); err != nil {
		return ProductVariants{}, err
	}
	d, exists, err := s.loadSet(ctx, r.ProductID)
	if err != nil {
		return ProductVariants{}, err
	}
	if !exists {
		return ProductVariants{}, shop.NotFound("variants of product " + kit.Quote(r.ProductID))
	}
	return d.set(), nil
}

// DeleteVariants implements Service.
func (s *Server) DeleteVariants(ctx context.Context, r ProductRequest) (ProductVariants, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return ProductVariants{}, err
	}
	return idem.Do(ctx, s.requests, MethodDeleteVariants, r, func(ctx context.Context) (ProductVariants, error) {
		return s.deleteVariants(ctx, r)
	})
}

func (s *Server) deleteVariants(ctx context.Context, r ProductRequest) (ProductVariants, error) {
	var f kit.Fields
	f.ID("product_id", r.ProductID, true)
	if err := f.Err("invalid product id"); err != nil {
		return ProductVariants{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, exists, err := s.loadSet(ctx, r.ProductID)
	if err != nil {
		return ProductVariants{}, err
	}
	if !exists {
		return ProductVariants{ProductID: r.ProductID, Groups: []string{}, Variants: []Variant{}}, nil
	}
	// Delete the set first: a leftover SKU is harmless (it stays reserved
	// for this product), a leftover set would keep its values "in use".
	if _, err := s.variants.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.ProductID}}); err != nil {
		return ProductVariants{}, kit.Internal("delete variants", err)
	}
	free := make([]any, len(d.Variants))
	for i, v := range d.Variants {
		free[i] = skuDoc{SKU: v.SKU}
	}
	s.freeSKUs(ctx, r.ProductID, free)
	return d.set(), nil
}

// carryOn starts the log of an entity created at a code deleted before
// with that code's kept log (see audit.Retired.Find), so that the code's
// history reads on across the delete.
func (s *Server) carryOn(ctx context.Context, kind, code string, l *audit.Log) error {
	kept, _, err := s.retired.Find(ctx, kind, code)
	if err != nil {
		return shop.StorageFailure(ctx, "read the history of deleted "+kind+" "+code, err)
	}
	*l = kept
	return nil
}

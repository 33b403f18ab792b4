package attribute

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/internal/audit"
	"github.com/shopbus/shopbus/internal/idem"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/internal/kit"
)

// Options configure a Server. The zero value works but cannot authorise
// writes (no Auth).
type Options struct {
	// Auth authenticates the caller of a write; writes need an admin.
	Auth shop.Authenticator
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports requests that could not be remembered (default
	// slog.Default()).
	Logger *slog.Logger
}

// Server is the MongoDB implementation of Service. Attributes and groups
// are stored by code as _id, so every lookup is by _id. The collection
// requests remembers the writes handled, so that a repeated request is
// answered without applying it again (see internal/idem); attribute_stamp
// holds one stamp changed by every write of an attribute, which tells
// Validate when its in-memory copy of the definitions is out of date;
// audit_deleted keeps the audit logs of deleted attributes and groups (a
// live one's log is in its own document, see History).
type Server struct {
	attrs    *mongo.Collection
	groups   *mongo.Collection
	stamps   *mongo.Collection
	requests *idem.Store
	// retired keeps the audit logs of deleted attributes and groups.
	retired audit.Retired
	opts    Options
	now     func() time.Time
	logger  *slog.Logger
	// defs is the in-memory copy of the definitions (newDefinitions).
	defs *kit.Snapshot[map[string]attributeDoc]
}

var _ Service = (*Server)(nil)

type attributeDoc struct {
	Code      string    `bson:"_id"`
	Name      string    `bson:"name"`
	Type      string    `bson:"type"`
	Unit      string    `bson:"unit,omitempty"`
	Values    []string  `bson:"values,omitempty"`
	Version   int64     `bson:"version"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
	// Log is the attribute's audit log, written with each change (see
	// internal/audit).
	audit.Log `bson:",inline"`
}

func (d *attributeDoc) attribute() Attribute {
	return Attribute{Code: d.Code, Name: d.Name, Type: d.Type, Unit: d.Unit, Values: d.Values,
		Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

type groupDoc struct {
	Code       string    `bson:"_id"`
	Name       string    `bson:"name"`
	Attributes []string  `bson:"attributes"`
	Position   int       `bson:"position"`
	Version    int64     `bson:"version"`
	CreatedAt  time.Time `bson:"created_at"`
	UpdatedAt  time.Time `bson:"updated_at"`
	// Log is the group's audit log, written with each change (see
	// internal/audit).
	audit.Log `bson:",inline"`
}

func (d *groupDoc) group() Group {
	attrs := d.Attributes
	if attrs == nil {
		attrs = []string{}
	}
	return Group{Code: d.Code, Name: d.Name, Attributes: attrs, Position: d.Position,
		Version: d.Version, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// New returns a Server storing its data in db and creates its indexes.
func New(db *mongo.Database, opts Options) (*Server, error) {
	s := &Server{
		attrs:    db.Collection("attributes"),
		groups:   db.Collection("attribute_groups"),
		stamps:   db.Collection("attribute_stamp"),
		requests: idem.New(db, idem.Options{Logger: kit.Logger(opts.Logger)}),
		retired:  audit.NewRetired(db),
		opts:     opts,
		now:      kit.Clock(opts.Now),
		logger:   kit.Logger(opts.Logger),
	}
	s.defs = s.newDefinitions()
	if err := kit.EnsureIndexes(kit.Index{Collection: s.groups, Keys: bson.D{{Key: "attributes", Value: 1}}}); err != nil {
		return nil, err
	}
	return s, nil
}

// ---- attributes ----

// checkDefinition validates type, unit and values of a definition.
func checkDefinition(f *kit.Fields, typ, unit string, values []string) {
	switch typ {
	case TypeText, TypeNumber, TypeBoolean, TypeEnum:
	case "":
		f.Add("type", "is required")
	default:
		f.Add("type", "must be text, number, boolean or enum")
	}
	if unit != "" {
		if typ != TypeNumber {
			f.Add("unit", "only number attributes have a unit")
		} else {
			f.Text("unit", unit, true, 32)
		}
	}
	if typ == TypeEnum {
		switch {
		case len(values) == 0:
			f.Add("values", "an enum needs at least one allowed value")
		case len(values) > MaxEnumValues:
			f.Addf("values", "at most %d allowed values", MaxEnumValues)
		default:
			seen := map[string]bool{}
			for i, v := range values {
				field := "values[" + strconv.Itoa(i) + "]"
				f.Text(field, v, true, kit.MaxNameLen)
				if seen[v] && !f.Has(field) {
					f.Add(field, "duplicate value "+kit.Quote(v))
				}
				seen[v] = true
			}
		}
	} else if len(values) > 0 && typ != "" {
		f.Add("values", "only enum attributes have allowed values")
	}
}

// Create implements Service.
func (s *Server) Create(ctx context.Context, r CreateRequest) (Attribute, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Attribute{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodCreate, r, func(ctx context.Context) (Attribute, error) {
		return s.create(ctx, r)
	})
}

func (s *Server) create(ctx context.Context, r CreateRequest) (Attribute, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	f.Text("name", r.Name, true, kit.MaxNameLen)
	checkDefinition(&f, r.Type, r.Unit, r.Values)
	if err := f.Err("invalid attribute"); err != nil {
		return Attribute{}, err
	}
	now := s.now()
	d := attributeDoc{Code: r.Code, Name: strings.TrimSpace(r.Name), Type: r.Type, Unit: r.Unit,
		Values: r.Values, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := s.carryOn(ctx, KindAttribute, r.Code, &d.Log); err != nil {
		return Attribute{}, err
	}
	d.Record(ctx, MethodCreate, now, audit.Changed(nil, d))
	if err := kit.Insert(ctx, s.attrs, "attribute", r.Code, d); err != nil {
		return Attribute{}, err
	}
	s.defs.Changed(ctx)
	return d.attribute(), nil
}

// Get implements Service.
func (s *Server) Get(ctx context.Context, r CodeRequest) (Attribute, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if err := f.Err("invalid attribute code"); err != nil {
		return Attribute{}, err
	}
	d, err := s.loadAttr(ctx, r.Code)
	if err != nil {
		return Attribute{}, err
	}
	return d.attribute(), nil
}

func (s *Server) loadAttr(ctx context.Context, code string) (attributeDoc, error) {
	return kit.Find[attributeDoc](ctx, s.attrs, "attribute", code)
}

// List implements Service.
func (s *Server) List(ctx context.Context, _ ListRequest) ([]Attribute, error) {
	docs, err := kit.List[attributeDoc](ctx, s.attrs, "attributes", bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	out := make([]Attribute, len(docs))
	for i := range docs {
		out[i] = docs[i].attribute()
	}
	return out, nil
}

// Update implements Service.
func (s *Server) Update(ctx context.Context, r UpdateRequest) (Attribute, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Attribute{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodUpdate, r, func(ctx context.Context) (Attribute, error) {
		return s.update(ctx, r)
	})
}

func (s *Server) update(ctx context.Context, r UpdateRequest) (Attribute, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if r.Name != nil {
		f.Text("name", *r.Name, true, kit.MaxNameLen)
	}
	if err := f.Err("invalid attribute"); err != nil {
		return Attribute{}, err
	}
	d, err := s.loadAttr(ctx, r.Code)
	if err != nil {
		return Attribute{}, err
	}
	next := d
	if r.Name != nil {
		next.Name = strings.TrimSpace(*r.Name)
	}
	if r.Unit != nil {
		next.Unit = *r.Unit
	}
	if r.Values != nil {
		next.Values = *r.Values
	}
	checkDefinition(&f, next.Type, next.Unit, next.Values)
	if err := f.Err("invalid attribute"); err != nil {
		return Attribute{}, err
	}
	changed := audit.Changed(d, next)
	if len(changed) == 0 {
		return d.attribute(), nil // nothing changed: no new version, no entry
	}
	next.Version = d.Version + 1
	next.UpdatedAt = s.now()
	next.Record(ctx, MethodUpdate, next.UpdatedAt, changed)
	if err := kit.Replace(ctx, s.attrs, "attribute", d.Code, d.Version, next); err != nil {
		return Attribute{}, err
	}
	s.defs.Changed(ctx)
	return next.attribute(), nil
}

// Delete implements Service.
func (s *Server) Delete(ctx context.Context, r CodeRequest) (Attribute, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Attribute{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDelete, r, func(ctx context.Context) (Attribute, error) {
		return s.delete(ctx, r)
	})
}

func (s *Server) delete(ctx context.Context, r CodeRequest) (Attribute, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if err := f.Err("invalid attribute code"); err != nil {
		return Attribute{}, err
	}
	d, err := s.loadAttr(ctx, r.Code)
	if err != nil {
		return Attribute{}, err
	}
	// Take it out of the groups first, so that a failure leaves the
	// attribute in place and the delete can be retried.
	groups, err := kit.List[groupDoc](ctx, s.groups, "groups", bson.D{{Key: "attributes", Value: r.Code}})
	if err != nil {
		return Attribute{}, err
	}
	for _, g := range groups {
		if err := s.leaveGroup(ctx, g, r.Code); err != nil {
			return Attribute{}, err
		}
	}
	// Keep the log, the delete on top, before the attribute goes.
	d.Record(ctx, MethodDelete, s.now(), nil)
	if err := s.retired.Keep(ctx, KindAttribute, d.Code, d.Log); err != nil {
		return Attribute{}, shop.StorageFailure(ctx, "keep the history of attribute "+d.Code, err)
	}
	if _, err := s.attrs.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.Code}}); err != nil {
		return Attribute{}, kit.Internal("delete attribute", err)
	}
	s.defs.Changed(ctx)
	return d.attribute(), nil
}

// leaveGroupTries is how often leaveGroup tries again when the group
// changed between its read and its write.
const leaveGroupTries = 5

// leaveGroup takes the attribute code out of group g (as read), with an
// entry in the group's log naming the attribute's delete. A group changed
// concurrently is read again; one that no longer holds code, or is gone,
// is left alone.
func (s *Server) leaveGroup(ctx context.Context, g groupDoc, code string) error {
	for try := 1; ; try++ {
		if !slices.Contains(g.Attributes, code) {
			return nil
		}
		next := g
		next.Attributes = slices.DeleteFunc(slices.Clone(g.Attributes), func(c string) bool { return c == code })
		next.Version = g.Version + 1
		next.UpdatedAt = s.now()
		next.Record(ctx, MethodDelete, next.UpdatedAt, audit.Changed(g, next))
		err := kit.Replace(ctx, s.groups, "attribute group", g.Code, g.Version, next)
		if err == nil || !errors.Is(err, shop.ErrConflict) || try == leaveGroupTries {
			return err
		}
		if g, err = s.loadGroup(ctx, g.Code); errors.Is(err, shop.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// ---- groups ----

// checkMembers validates a group's attribute list: codes that exist, no repeats.
func (s *Server) checkMembers(ctx context.Context, f *kit.Fields, codes []string) error {
	if len(codes) > MaxGroupSize {
		f.Addf("attributes", "at most %d attributes", MaxGroupSize)
		return nil
	}
	seen := map[string]bool{}
	for i, c := range codes {
		field := "attributes[" + strconv.Itoa(i) + "]"
		switch {
		case !kit.ValidCode(c):
			f.Add(field, "malformed attribute code "+kit.Quote(c))
			continue
		case seen[c]:
			f.Add(field, "duplicate attribute "+kit.Quote(c))
			continue
		}
		seen[c] = true
		if _, err := s.loadAttr(ctx, c); err != nil {
			if errors.Is(err, shop.ErrNotFound) {
				f.Add(field, "unknown attribute "+kit.Quote(c))
				continue
			}
			return err
		}
	}
	return nil
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
	if f.Len() == 0 {
		if err := s.checkMembers(ctx, &f, r.Attributes); err != nil {
			return Group{}, err
		}
	}
	if err := f.Err("invalid attribute group"); err != nil {
		return Group{}, err
	}
	now := s.now()
	d := groupDoc{Code: r.Code, Name: strings.TrimSpace(r.Name), Attributes: r.Attributes, Position: r.Position,
		Version: 1, CreatedAt: now, UpdatedAt: now}
	if d.Attributes == nil {
		d.Attributes = []string{}
	}
	if err := s.carryOn(ctx, KindGroup, r.Code, &d.Log); err != nil {
		return Group{}, err
	}
	d.Record(ctx, MethodCreateGroup, now, audit.Changed(nil, d))
	if err := kit.Insert(ctx, s.groups, "attribute group", r.Code, d); err != nil {
		return Group{}, err
	}
	return d.group(), nil
}

// GetGroup implements Service.
func (s *Server) GetGroup(ctx context.Context, r CodeRequest) (Group, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if err := f.Err("invalid group code"); err != nil {
		return Group{}, err
	}
	d, err := s.loadGroup(ctx, r.Code)
	if err != nil {
		return Group{}, err
	}
	return d.group(), nil
}

func (s *Server) loadGroup(ctx context.Context, code string) (groupDoc, error) {
	return kit.Find[groupDoc](ctx, s.groups, "attribute group", code)
}

// ListGroups implements Service.
func (s *Server) ListGroups(ctx context.Context, _ ListRequest) ([]Group, error) {
	docs, err := kit.List[groupDoc](ctx, s.groups, "attribute groups", bson.D{})
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
	if r.Attributes != nil && f.Len() == 0 {
		if err := s.checkMembers(ctx, &f, *r.Attributes); err != nil {
			return Group{}, err
		}
	}
	if err := f.Err("invalid attribute group"); err != nil {
		return Group{}, err
	}
	d, err := s.loadGroup(ctx, r.Code)
	if err != nil {
		return Group{}, err
	}
	next := d
	if r.Name != nil {
		next.Name = strings.TrimSpace(*r.Name)
	}
	if r.Attributes != nil {
		next.Attributes = append([]string{}, *r.Attributes...)
	}
	if r.Position != nil {
		next.Position = *r.Position
	}
	changed := audit.Changed(d, next)
	if len(changed) == 0 {
		return d.group(), nil // nothing changed: no new version, no entry
	}
	next.Version = d.Version + 1
	next.UpdatedAt = s.now()
	next.Record(ctx, MethodUpdateGroup, next.UpdatedAt, changed)
	if err := kit.Replace(ctx, s.groups, "attribute group", d.Code, d.Version, next); err != nil {
		return Group{}, err
	}
	return next.group(), nil
}

// DeleteGroup implements Service.
func (s *Server) DeleteGroup(ctx context.Context, r CodeRequest) (Group, error) {
	p, err := shop.RequireAdmin(ctx, s.opts.Auth)
	if err != nil {
		return Group{}, err
	}
	ctx = audit.WithActor(ctx, p)
	return idem.Do(ctx, s.requests, MethodDeleteGroup, r, func(ctx context.Context) (Group, error) {
		return s.deleteGroup(ctx, r)
	})
}

func (s *Server) deleteGroup(ctx context.Context, r CodeRequest) (Group, error) {
	var f kit.Fields
	f.Code("code", r.Code)
	if err := f.Err("invalid group code"); err != nil {
		return Group{}, err
	}
	d, err := s.loadGroup(ctx, r.Code)
	if err != nil {
		return Group{}, err
	}
	// Keep the log, the delete on top, before the group goes.
	d.Record(ctx, MethodDeleteGroup, s.now(), nil)
	if err := s.retired.Keep(ctx, KindGroup, d.Code, d.Log); err != nil {
		return Group{}, shop.StorageFailure(ctx, "keep the history of attribute group "+d.Code, err)
	}
	if _, err := s.groups.DeleteOne(ctx, bson.D{{Key: "_id", Value: r.Code}}); err != nil {
		return Group{}, kit.Internal("delete attribute group", err)
	}
	return d.group(), nil
}

// ---- history ----

// History implements Service.
func (s *Server) History(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	if _, err := shop.RequireAdmin(ctx, s.opts.Auth); err != nil {
		return shop.History{}, err
	}
	var f kit.Fields
	f.Code("id", r.ID)
	coll := s.attrs
	kind := r.Kind
	switch kind {
	case "", KindAttribute:
		kind = KindAttribute
	case KindGroup:
		coll = s.groups
	default:
		f.Add("kind", "must be empty, "+KindAttribute+" or "+KindGroup)
	}
	if err := f.Err("invalid history request"); err != nil {
		return shop.History{}, err
	}
	return audit.Read(ctx, coll, s.retired, kind, r.ID)
}

// ---- validation ----

// Validate implements Service. It checks values against an in-memory
// copy of the definitions, which costs one read by _id (a stamp raised by
// every write of an attribute, by any replica) unless they changed.
func (s *Server) Validate(ctx context.Context, values map[string]any) error {
	var defs map[string]attributeDoc
	if needsDefinitions(values) {
		var err error
		if defs, err = s.defs.Get(ctx); err != nil {
			return err
		}
	}
	return validate(defs, values)
}

// ValidateMany implements Service. It reads the definitions (see
// Validate) once for all items.
func (s *Server) ValidateMany(ctx context.Context, r ValidateManyRequest) ([]Validation, error) {
	switch {
	case len(r.Items) == 0:
		return nil, shop.Invalid("invalid attribute validation", "items", "give at least one set of values")
	case len(r.Items) > MaxValidateMany:
		return nil, shop.Invalid("invalid attribute validation", "items", "at most "+strconv.Itoa(MaxValidateMany)+" sets of values")
	}
	var defs map[string]attributeDoc
	if slices.ContainsFunc(r.Items, needsDefinitions) {
		var err error
		if defs, err = s.defs.Get(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]Validation, len(r.Items))
	for i, values := range r.Items {
		if err := validate(defs, values); err != nil {
			var e *shop.Error
			if !errors.As(err, &e) {
				return nil, err
			}
			out[i].Error = e
		}
	}
	return out, nil
}

// needsDefinitions reports whether checking values needs the definitions:
// no values, or too many, are answered without them.
func needsDefinitions(values map[string]any) bool {
	return len(values) > 0 && len(values) <= MaxValues
}

// validate checks values against defs, the definitions by code (nil when
// needsDefinitions says they are not needed): nil when all are valid, and
// otherwise an invalid error with one field error "attributes.<code>" per
// bad value.
func validate(defs map[string]attributeDoc, values map[string]any) error {
	if len(values) > MaxValues {
		return shop.Invalid("invalid attributes", "attributes", "at most "+strconv.Itoa(MaxValues)+" attribute values")
	}
	codes := make([]string, 0, len(values))
	for c := range values {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var f kit.Fields
	for _, code := range codes {
		field := "attributes." + code
		if !kit.ValidCode(code) {
			if len(code) > 80 {
				field = "attributes." + code[:80]
			}
			f.Add(strings.ToValidUTF8(field, "?"), "malformed attribute code")
			continue
		}
		def, ok := defs[code]
		if !ok {
			f.Add(field, "unknown attribute")
			continue
		}
		if msg := checkValue(def, values[code]); msg != "" {
			f.Add(field, msg)
		}
	}
	return f.Err("invalid attribute values")
}

// checkValue returns what is wrong with v as a value of def, or "".
func checkValue(def attributeDoc, v any) string {
	if v == nil {
		return "must not be null"
	}
	switch def.Type {
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return "must be a string"
		}
		return kit.TextProblem(s, true, MaxTextValue, true)
	case TypeNumber:
		n, ok := Number(v)
		if !ok {
			return "must be a number"
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return "must be a finite number"
		}
	case TypeBoolean:
		if _, ok := v.(bool); !ok {
			return "must be true or false"
		}
	case TypeEnum:
		s, ok := v.(string)
		if !ok {
			return "must be a string"
		}
		if !slices.Contains(def.Values, s) {
			return "must be one of " + strings.Join(quoteAll(def.Values, 10), ", ")
		}
	default:
		return "attribute has an unknown type"
	}
	return ""
}

// Number returns v as a float64 if it is a number of any Go numeric type
// (or a json.Number), as attribute values of type number are stored.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func quoteAll(ss []string, max int) []string {
	out := make([]string, 0, min(len(ss), max)+1)
	for i, s := range ss {
		if i == max {
			out = append(out, "...")
			break
		}
		out = append(out, kit.Quote(s))
	}
	return out
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

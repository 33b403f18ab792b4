package storefront

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/attribute"
	"github.com/shopbus/shopbus/transport"
)

// The console's attributes: the list, the attribute form (code, name,
// type, unit, allowed values of an enum), delete after a confirmation.
// The code and type of an attribute are fixed once it exists (the
// attribute service updates only the name, unit and values). The
// attribute service's refusals (a malformed code, a taken one, an enum
// without values, a value outside an enum's) come back as its
// messages, next to their fields or above the page. Attribute groups
// (under /admin/attribute-groups: a code, a name, a position and the
// attributes they hold, in the list's order) are listed with the
// attributes and edited the same way. See admin.go.

// adminConfirmView is the question before something is deleted: the
// console's delete confirmations other than products' and categories'.
type adminConfirmView struct {
	What   string // "attribute", "option group", …
	Name   string
	Action string // where the confirmation posts
	Back   string // where "keep it" goes
	Note   string // what deleting does, besides
}

// fieldsNamed maps a service's field names to a form's: a name in names
// stays, and so does the name of a part of it ("values[2]" and
// "values.x" are "values"); others are "" (above the form).
func fieldsNamed(names ...string) func(string) string {
	return func(field string) string {
		base := field
		if i := strings.IndexAny(base, "[."); i > 0 {
			base = base[:i]
		}
		if slices.Contains(names, base) {
			return base
		}
		return ""
	}
}

// lines are the non-empty trimmed lines of s.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ---- the list ----

// adminAttributesView is the attribute list.
type adminAttributesView struct {
	Attributes  []attribute.Attribute
	Groups      []attribute.Group
	GroupsKnown bool // the groups could be read
}

// adminAttributes serves GET /admin/attributes.
func (s *Storefront) adminAttributes(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	groups := async(ctx, NavTimeout, func(ctx context.Context) ([]attribute.Group, error) {
		return s.attrs.ListGroups(ctx, attribute.ListRequest{})
	})
	list, err := s.attrs.List(ctx, attribute.ListRequest{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminAttributesView{Attributes: list}
	if g, err := groups.wait(); err == nil {
		v.Groups, v.GroupsKnown = g, true
	} else {
		s.warn(ctx, "admin: attribute groups", attribute.ServiceName, err)
	}
	s.adminRender(w, r, http.StatusOK, "admin_attributes", "attributes", "Attributes", "", v)
}

// ---- the form ----

// attributeForm is the attribute form as filled in.
type attributeForm struct {
	Code, Name, Type, Unit string
	Values                 string // an enum's allowed values, one a line
}

// readAttributeForm reads the posted attribute form.
func readAttributeForm(r *http.Request) attributeForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return attributeForm{Code: f("code"), Name: f("name"), Type: f("type"), Unit: f("unit"),
		Values: strings.ReplaceAll(r.PostFormValue("values"), "\r\n", "\n")}
}

// attributeFormOf is the form filled in with a.
func attributeFormOf(a attribute.Attribute) attributeForm {
	return attributeForm{Code: a.Code, Name: a.Name, Type: a.Type, Unit: a.Unit, Values: strings.Join(a.Values, "\n")}
}

// attributeFormField is the form field an attribute service field error
// names.
var attributeFormField = fieldsNamed("code", "name", "type", "unit", "values")

// adminAttributeView is the attribute form.
type adminAttributeView struct {
	New       bool
	Action    string
	Attribute attribute.Attribute
	Form      attributeForm
	Errors    map[string]string
	Types     []string
	// History is the attribute's audit log (not on the "new" page).
	History historyView
}

// showAttribute renders the attribute form page; for an attribute that
// exists, with its history.
func (s *Storefront) showAttribute(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, isNew bool, a attribute.Attribute, form attributeForm, errs map[string]string) {
	v := adminAttributeView{New: isNew, Action: "/admin/attributes", Attribute: a, Form: form, Errors: errs,
		Types: []string{attribute.TypeText, attribute.TypeNumber, attribute.TypeBoolean, attribute.TypeEnum}}
	title := "New attribute"
	if !isNew {
		history := historyOf(ctx, func(ctx context.Context) (shop.History, error) {
			return s.attrs.History(ctx, shop.HistoryRequest{ID: a.Code, Kind: attribute.KindAttribute})
		})
		v.Action += "/" + url.PathEscape(a.Code)
		title = a.Name
		v.History = s.historyView(ctx, attribute.ServiceName, history)
	}
	s.adminRender(w, r, status, "admin_attribute", "attributes", title, flash, v)
}

// getAttribute returns the attribute of the path; a malformed code is an
// attribute not found.
func (s *Storefront) getAttribute(ctx context.Context, r *http.Request) (attribute.Attribute, error) {
	a, err := s.attrs.Get(ctx, attribute.CodeRequest{Code: r.PathValue("code")})
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("attribute")
	}
	return a, err
}

// adminNewAttribute serves GET /admin/attributes/new.
func (s *Storefront) adminNewAttribute(w http.ResponseWriter, r *http.Request) {
	if ctx, ok := s.admin(w, r); ok {
		s.showAttribute(w, r, ctx, http.StatusOK, "", true, attribute.Attribute{}, attributeForm{Type: attribute.TypeText}, nil)
	}
}

// adminEditAttribute serves GET /admin/attributes/{code}.
func (s *Storefront) adminEditAttribute(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	a, err := s.getAttribute(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showAttribute(w, r, ctx, http.StatusOK, "", false, a, attributeFormOf(a), nil)
}

// adminCreateAttribute serves POST /admin/attributes.
func (s *Storefront) adminCreateAttribute(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := readAttributeForm(r)
	a, err := s.attrs.Create(ctx, attribute.CreateRequest{Code: form.Code, Name: form.Name, Type: form.Type, Unit: form.Unit,
		Values: lines(form.Values)})
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, attributeFormField)
			if e := transport.AsError(err); errs == nil && e != nil && e.Code == transport.CodeConflict {
				errs, flash = map[string]string{"code": e.Message}, "Please check the fields marked below."
			}
			s.showAttribute(w, r, ctx, status, flash, true, attribute.Attribute{}, form, errs)
		})
		return
	}
	adminDone(w, r, "/admin/attributes/"+url.PathEscape(a.Code), "attribute_created")
}

// adminUpdateAttribute serves POST /admin/attributes/{code}: the name,
// unit and values that changed.
func (s *Storefront) adminUpdateAttribute(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	a, err := s.getAttribute(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readAttributeForm(r)
	form.Code, form.Type = a.Code, a.Type
	req := attribute.UpdateRequest{Code: a.Code}
	changed := false
	if form.Name != a.Name {
		req.Name, changed = &form.Name, true
	}
	if form.Unit != a.Unit {
		req.Unit, changed = &form.Unit, true
	}
	if vals := lines(form.Values); !slices.Equal(vals, a.Values) {
		req.Values, changed = &vals, true
	}
	if changed {
		if _, err := s.attrs.Update(ctx, req); err != nil {
			s.adminFail(w, r, err, func(status int, _ string) {
				errs, flash := formErrors(r, err, attributeFormField)
				s.showAttribute(w, r, ctx, status, flash, false, a, form, errs)
			})
			return
		}
	}
	adminDone(w, r, "/admin/attributes/"+url.PathEscape(a.Code), "saved")
}

// ---- delete ----

// showAttributeDelete renders the delete confirmation of the attribute
// of the path, with flash above it.
func (s *Storefront) showAttributeDelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	a, err := s.getAttribute(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	path := "/admin/attributes/" + url.PathEscape(a.Code)
	v := adminConfirmView{What: "attribute", Name: a.Name + " (" + a.Code + ")", Action: path + "/delete", Back: path,
		Note: "It leaves the groups that hold it. Products keep the values they have of it, shown as no longer defined until they are saved without them."}
	s.adminRender(w, r, status, "admin_attribute_delete", "attributes", "Delete "+a.Name, flash, v)
}

// attributeDeletion deletes the attribute of the path
// (/admin/attributes/{code}/delete).
func (s *Storefront) attributeDeletion() deletion {
	return deletion{show: s.showAttributeDelete, what: "attribute", idField: "code",
		donePath: "/admin/attributes", doneKey: "attribute_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.attrs.Delete(ctx, attribute.CodeRequest{Code: r.PathValue("code")})
			return err
		}}
}

// ---- attribute groups ----

// attributeGroupForm is the attribute group form as filled in.
type attributeGroupForm struct {
	Code, Name, Position string
	Attributes           []string // the codes checked, in the list's order
}

// readAttributeGroupForm reads the posted attribute group form.
func readAttributeGroupForm(r *http.Request) attributeGroupForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	_ = r.ParseForm()
	return attributeGroupForm{Code: f("code"), Name: f("name"), Position: f("position"), Attributes: r.PostForm["attributes"]}
}

// attributeGroupFormField is the form field an attribute service field
// error about a group names.
var attributeGroupFormField = fieldsNamed("code", "name", "position", "attributes")

// attributeChoice is an attribute offered by the group form.
type attributeChoice struct {
	Code, Name string
	Checked    bool
}

// adminAttributeGroupView is the attribute group form.
type adminAttributeGroupView struct {
	New     bool
	Action  string
	Group   attribute.Group
	Form    attributeGroupForm
	Errors  map[string]string
	Choices []attributeChoice
	// History is the group's audit log (not on the "new" page).
	History historyView
}

// showAttributeGroup renders the attribute group form, for a group that
// exists with its history; the attributes it offers come from the
// attribute list, without which it is the error page.
func (s *Storefront) showAttributeGroup(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, isNew bool, g attribute.Group, form attributeGroupForm, errs map[string]string) {
	var history *future[shop.History]
	if !isNew {
		history = historyOf(ctx, func(ctx context.Context) (shop.History, error) {
			return s.attrs.History(ctx, shop.HistoryRequest{ID: g.Code, Kind: attribute.KindGroup})
		})
	}
	list, err := s.attrs.List(ctx, attribute.ListRequest{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminAttributeGroupView{New: isNew, Action: "/admin/attribute-groups", Group: g, Form: form, Errors: errs}
	for _, a := range list {
		v.Choices = append(v.Choices, attributeChoice{Code: a.Code, Name: a.Name, Checked: slices.Contains(form.Attributes, a.Code)})
	}
	title := "New attribute group"
	if !isNew {
		v.Action += "/" + url.PathEscape(g.Code)
		title = g.Name
		v.History = s.historyView(ctx, attribute.ServiceName, history)
	}
	s.adminRender(w, r, status, "admin_attribute_group", "attributes", title, flash, v)
}

// getAttributeGroup returns the attribute group of the path; a malformed
// code is a group not found.
func (s *Storefront) getAttributeGroup(ctx context.Context, r *http.Request) (attribute.Group, error) {
	g, err := s.attrs.GetGroup(ctx, attribute.CodeRequest{Code: r.PathValue("code")})
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("attribute group")
	}
	return g, err
}

// attributeGroupFormOf is the form filled in with g.
func attributeGroupFormOf(g attribute.Group) attributeGroupForm {
	return attributeGroupForm{Code: g.Code, Name: g.Name, Position: strconv.Itoa(g.Position), Attributes: g.Attributes}
}

// adminNewAttributeGroup serves GET /admin/attribute-groups/new.
func (s *Storefront) adminNewAttributeGroup(w http.ResponseWriter, r *http.Request) {
	if ctx, ok := s.admin(w, r); ok {
		s.showAttributeGroup(w, r, ctx, http.StatusOK, "", true, attribute.Group{}, attributeGroupForm{}, nil)
	}
}

// adminEditAttributeGroup serves GET /admin/attribute-groups/{code}.
func (s *Storefront) adminEditAttributeGroup(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	g, err := s.getAttributeGroup(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showAttributeGroup(w, r, ctx, http.StatusOK, "", false, g, attributeGroupFormOf(g), nil)
}

// attributeGroupErrors is formErrors for attribute groups, with a taken
// code next to the code.
func attributeGroupErrors(r *http.Request, err error) (map[string]string, string) {
	errs, flash := formErrors(r, err, attributeGroupFormField)
	if e := transport.AsError(err); errs == nil && e != nil && e.Code == transport.CodeConflict {
		errs, flash = map[string]string{"code": e.Message}, "Please check the fields marked below."
	}
	return errs, flash
}

// adminCreateAttributeGroup serves POST /admin/attribute-groups.
func (s *Storefront) adminCreateAttributeGroup(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := readAttributeGroupForm(r)
	pos, errs := categoryForm{Position: form.Position}.position()
	if len(errs) > 0 {
		s.showAttributeGroup(w, r, ctx, http.StatusBadRequest, "Please check the fields marked below.", true, attribute.Group{}, form, errs)
		return
	}
	g, err := s.attrs.CreateGroup(ctx, attribute.CreateGroupRequest{Code: form.Code, Name: form.Name, Position: pos, Attributes: form.Attributes})
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := attributeGroupErrors(r, err)
			s.showAttributeGroup(w, r, ctx, status, flash, true, attribute.Group{}, form, errs)
		})
		return
	}
	adminDone(w, r, "/admin/attribute-groups/"+url.PathEscape(g.Code), "attribute_group_created")
}

// adminUpdateAttributeGroup serves POST /admin/attribute-groups/{code}.
func (s *Storefront) adminUpdateAttributeGroup(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	g, err := s.getAttributeGroup(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readAttributeGroupForm(r)
	form.Code = g.Code
	pos, errs := categoryForm{Position: form.Position}.position()
	if len(errs) > 0 {
		s.showAttributeGroup(w, r, ctx, http.StatusBadRequest, "Please check the fields marked below.", false, g, form, errs)
		return
	}
	req := attribute.UpdateGroupRequest{Code: g.Code}
	changed := false
	if form.Name != g.Name {
		req.Name, changed = &form.Name, true
	}
	if pos != g.Position {
		req.Position, changed = &pos, true
	}
	if list := form.Attributes; !slices.Equal(list, g.Attributes) {
		if list == nil {
			list = []string{}
		}
		req.Attributes, changed = &list, true
	}
	if changed {
		if _, err := s.attrs.UpdateGroup(ctx, req); err != nil {
			s.adminFail(w, r, err, func(status int, _ string) {
				errs, flash := attributeGroupErrors(r, err)
				s.showAttributeGroup(w, r, ctx, status, flash, false, g, form, errs)
			})
			return
		}
	}
	adminDone(w, r, "/admin/attribute-groups/"+url.PathEscape(g.Code), "saved")
}

// showAttributeGroupDelete renders the delete confirmation of the
// attribute group of the path, with flash above it.
func (s *Storefront) showAttributeGroupDelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	g, err := s.getAttributeGroup(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	path := "/admin/attribute-groups/" + url.PathEscape(g.Code)
	v := adminConfirmView{What: "attribute group", Name: g.Name + " (" + g.Code + ")", Action: path + "/delete", Back: path,
		Note: "Its attributes stay; only the grouping goes."}
	s.adminRender(w, r, status, "admin_attribute_delete", "attributes", "Delete "+g.Name, flash, v)
}

// attributeGroupDeletion deletes the attribute group of the path
// (/admin/attribute-groups/{code}/delete).
func (s *Storefront) attributeGroupDeletion() deletion {
	return deletion{show: s.showAttributeGroupDelete, what: "attribute group", idField: "code",
		donePath: "/admin/attributes", doneKey: "attribute_group_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.attrs.DeleteGroup(ctx, attribute.CodeRequest{Code: r.PathValue("code")})
			return err
		}}
}

package storefront

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/option"
	"github.com/shopbus/shopbus/transport"
)

// The console's option groups (size, colour… from which a product's
// variants are made): the list, the group form (code and values when
// created; name and position after), its values added, relabelled and
// removed one at a time, delete after a confirmation. The option
// service refuses to remove a value or a group that variants use; its
// message is shown on the page. See admin.go.

// adminOptionsView is the option group list.
type adminOptionsView struct {
	Groups []option.Group
}

// adminOptions serves GET /admin/options.
func (s *Storefront) adminOptions(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	list, err := s.options.ListGroups(ctx, option.ListGroupsRequest{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.adminRender(w, r, http.StatusOK, "admin_options", "options", "Option groups", "", adminOptionsView{Groups: list})
}

// optionForm is the option group form as filled in.
type optionForm struct {
	Code, Name, Position string
	// Values are a new group's values, a line each: "code label" (the
	// label may hold spaces; without one the code is the label).
	Values string
	// Value and Label are the value being added (or changed).
	Value, Label string
}

// readOptionForm reads the posted option group form.
func readOptionForm(r *http.Request) optionForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return optionForm{Code: f("code"), Name: f("name"), Position: f("position"), Value: f("value"), Label: f("label"),
		Values: strings.ReplaceAll(r.PostFormValue("values"), "\r\n", "\n")}
}

// values reads a new group's values.
func (f optionForm) values() []option.Value {
	var out []option.Value
	for _, l := range lines(f.Values) {
		code, label, _ := strings.Cut(l, " ")
		if label = strings.TrimSpace(label); label == "" {
			label = code
		}
		out = append(out, option.Value{Code: code, Label: label})
	}
	return out
}

// position reads the position ("" is 0).
func (f optionForm) position() (int, map[string]string) {
	return categoryForm{Position: f.Position}.position()
}

// optionFormField is the form field an option service field error names.
var optionFormField = fieldsNamed("code", "name", "position", "values", "label")

// adminOptionView is the option group form, and for a group that exists
// its values.
type adminOptionView struct {
	New    bool
	Action string
	Group  option.Group
	Form   optionForm
	Errors map[string]string
	// History is the group's audit log (not on the "new" page).
	History historyView
}

// showOption renders the option group page; for a group that exists,
// with its history.
func (s *Storefront) showOption(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string, isNew bool, g option.Group, form optionForm, errs map[string]string) {
	v := adminOptionView{New: isNew, Action: "/admin/options", Group: g, Form: form, Errors: errs}
	title := "New option group"
	if !isNew {
		history := historyOf(ctx, func(ctx context.Context) (shop.History, error) {
			return s.options.History(ctx, shop.HistoryRequest{ID: g.Code, Kind: option.KindGroup})
		})
		v.Action += "/" + url.PathEscape(g.Code)
		title = g.Name
		v.History = s.historyView(ctx, option.ServiceName, history)
	}
	s.adminRender(w, r, status, "admin_option", "options", title, flash, v)
}

// getOption returns the option group of the path; a malformed code is a
// group not found.
func (s *Storefront) getOption(ctx context.Context, r *http.Request) (option.Group, error) {
	g, err := s.options.GetGroup(ctx, option.GroupRequest{Code: r.PathValue("code")})
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("option group")
	}
	return g, err
}

// optionFormOf is the form filled in with g.
func optionFormOf(g option.Group) optionForm {
	return optionForm{Code: g.Code, Name: g.Name, Position: strconv.Itoa(g.Position)}
}

// adminNewOption serves GET /admin/options/new.
func (s *Storefront) adminNewOption(w http.ResponseWriter, r *http.Request) {
	if ctx, ok := s.admin(w, r); ok {
		s.showOption(w, r, ctx, http.StatusOK, "", true, option.Group{}, optionForm{}, nil)
	}
}

// adminEditOption serves GET /admin/options/{code}.
func (s *Storefront) adminEditOption(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	g, err := s.getOption(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showOption(w, r, ctx, http.StatusOK, "", false, g, optionFormOf(g), nil)
}

// optionErrors is formErrors for the option service, with a conflict
// about a code (a taken group or value code) next to field.
func optionErrors(r *http.Request, err error, field string) (map[string]string, string) {
	errs, flash := formErrors(r, err, optionFormField)
	if e := transport.AsError(err); errs == nil && e != nil && e.Code == transport.CodeConflict && strings.Contains(e.Message, "already") {
		errs, flash = map[string]string{field: e.Message}, "Please check the fields marked below."
	}
	return errs, flash
}

// adminCreateOption serves POST /admin/options.
func (s *Storefront) adminCreateOption(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := readOptionForm(r)
	pos, errs := form.position()
	if len(errs) > 0 {
		s.showOption(w, r, ctx, http.StatusBadRequest, "Please check the fields marked below.", true, option.Group{}, form, errs)
		return
	}
	g, err := s.options.CreateGroup(ctx, option.CreateGroupRequest{Code: form.Code, Name: form.Name, Position: pos, Values: form.values()})
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := optionErrors(r, err, "code")
			s.showOption(w, r, ctx, status, flash, true, option.Group{}, form, errs)
		})
		return
	}
	adminDone(w, r, "/admin/options/"+url.PathEscape(g.Code), "option_created")
}

// adminUpdateOption serves POST /admin/options/{code}: the name and
// position.
func (s *Storefront) adminUpdateOption(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	g, err := s.getOption(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readOptionForm(r)
	form.Code = g.Code
	pos, errs := form.position()
	if len(errs) > 0 {
		s.showOption(w, r, ctx, http.StatusBadRequest, "Please check the fields marked below.", false, g, form, errs)
		return
	}
	req := option.UpdateGroupRequest{Code: g.Code}
	if form.Name != g.Name {
		req.Name = &form.Name
	}
	if pos != g.Position {
		req.Position = &pos
	}
	if req.Name != nil || req.Position != nil {
		if _, err := s.options.UpdateGroup(ctx, req); err != nil {
			s.adminFail(w, r, err, func(status int, _ string) {
				errs, flash := optionErrors(r, err, "code")
				s.showOption(w, r, ctx, status, flash, false, g, form, errs)
			})
			return
		}
	}
	adminDone(w, r, "/admin/options/"+url.PathEscape(g.Code), "saved")
}

// adminOptionValue serves POST /admin/options/{code}/values (add a
// value), /values/{value} (change its label) and /values/{value}/remove.
func (s *Storefront) adminOptionValue(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	g, err := s.getOption(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readOptionForm(r)
	req := option.ValueRequest{Group: g.Code, Code: form.Value, Label: form.Label}
	call, done := s.options.AddValue, "value_added"
	switch {
	case strings.HasSuffix(r.URL.Path, "/remove"):
		req = option.ValueRequest{Group: g.Code, Code: r.PathValue("value")}
		call, done = s.options.RemoveValue, "value_removed"
	case r.PathValue("value") != "":
		req.Code = r.PathValue("value")
		call, done = s.options.UpdateValue, "saved"
	}
	if _, err := call(ctx, req); err != nil {
		if StatusOf(err) == http.StatusNotFound && r.PathValue("value") != "" {
			err = shop.Invalid("invalid option value", "value", "the group has no value "+strconv.Quote(r.PathValue("value")))
		}
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, func(f string) string {
				if f == "code" {
					return "value"
				}
				return fieldsNamed("label", "value")(f)
			})
			if e := transport.AsError(err); errs == nil && e != nil && e.Code == transport.CodeConflict && strings.Contains(e.Message, "already") {
				errs, flash = map[string]string{"value": e.Message}, "Please check the fields marked below."
			}
			again := optionFormOf(g)
			again.Value, again.Label = form.Value, form.Label
			s.showOption(w, r, ctx, status, flash, false, g, again, errs)
		})
		return
	}
	adminDone(w, r, "/admin/options/"+url.PathEscape(g.Code), done)
}

// showOptionDelete renders the delete confirmation of the option group of
// the path, with flash above it.
func (s *Storefront) showOptionDelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	g, err := s.getOption(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	path := "/admin/options/" + url.PathEscape(g.Code)
	v := adminConfirmView{What: "option group", Name: g.Name + " (" + g.Code + ")", Action: path + "/delete", Back: path,
		Note: "A group that products' variants use cannot be deleted."}
	s.adminRender(w, r, status, "admin_option_delete", "options", "Delete "+g.Name, flash, v)
}

// optionDeletion deletes the option group of the path
// (/admin/options/{code}/delete).
func (s *Storefront) optionDeletion() deletion {
	return deletion{show: s.showOptionDelete, what: "option group", idField: "code",
		donePath: "/admin/options", doneKey: "option_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.options.DeleteGroup(ctx, option.GroupRequest{Code: r.PathValue("code")})
			return err
		}}
}

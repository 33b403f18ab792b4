package storefront

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/catalog/category"
	"github.com/shopbus/shopbus/shop/catalog/filter"
	"github.com/shopbus/shopbus/transport"
)

// The console's categories: the tree, the category form (create, edit
// and move under another parent), delete after a confirmation. The
// category service's own rules (no cycles, at most category.MaxDepth
// deep, no delete of a category with subcategories or products unless
// they move up) come back as its messages, next to the field they
// concern or above the page. See admin.go.

// AdminCountQueries bounds the filter queries the category tree makes
// for its product counts (one for the roots, one per category with
// subcategories): a bigger tree is shown without counts.
const AdminCountQueries = 50

// ---- the tree ----

// adminCategoryNode is a category in the console's tree.
type adminCategoryNode struct {
	ID, Name, Slug string
	// Count is how many published products its subtree holds, -1 when
	// unknown.
	Count    int
	Children []adminCategoryNode
}

// adminCategoriesView is the category tree.
type adminCategoriesView struct {
	Tree   []adminCategoryNode
	Counts bool // the counts are shown
}

// adminCategories serves GET /admin/categories.
func (s *Storefront) adminCategories(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	tree, err := s.cats.Tree(ctx, category.TreeRequest{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts, err := s.categoryCounts(ctx, tree)
	if err != nil {
		s.warn(ctx, "admin: category counts", filter.ServiceName, err)
	}
	v := adminCategoriesView{Tree: categoryNodes(tree, counts), Counts: counts != nil}
	s.adminRender(w, r, http.StatusOK, "admin_categories", "categories", "Categories", "", v)
}

// categoryNodes is tree as the console shows it, with the counts by id.
func categoryNodes(tree []category.Node, counts map[string]int) []adminCategoryNode {
	out := make([]adminCategoryNode, 0, len(tree))
	for _, n := range tree {
		c, ok := counts[n.ID]
		if !ok {
			c = -1
		}
		out = append(out, adminCategoryNode{ID: n.ID, Name: n.Name, Slug: n.Slug, Count: c, Children: categoryNodes(n.Children, counts)})
	}
	return out
}

// categoryCounts asks the filter service, all at once, how many published
// products each category's subtree holds: the roots' counts without a
// category, the others' from their parent's query. It gives up (nil) on
// a tree that needs more than AdminCountQueries queries, or when a query
// fails.
func (s *Storefront) categoryCounts(ctx context.Context, tree []category.Node) (map[string]int, error) {
	parents := []string{""}
	var walk func([]category.Node)
	walk = func(nodes []category.Node) {
		for _, n := range nodes {
			if len(n.Children) > 0 && len(parents) <= AdminCountQueries {
				parents = append(parents, n.ID)
				walk(n.Children)
			}
		}
	}
	walk(tree)
	if len(parents) > AdminCountQueries {
		return nil, nil
	}
	pub := publicContext(ctx)
	calls := make([]*future[filter.Result], len(parents))
	for i, id := range parents {
		calls[i] = async(pub, s.opts.FilterTimeout, func(ctx context.Context) (filter.Result, error) {
			return s.filter.Query(ctx, filter.Query{CategoryID: id, Limit: 1})
		})
	}
	out := map[string]int{}
	var failed error
	for _, c := range calls {
		res, err := c.wait()
		if err != nil {
			failed = err
			continue
		}
		for _, cc := range res.Categories {
			out[cc.ID] = cc.Count
		}
	}
	if failed != nil {
		return nil, failed
	}
	return out, nil
}

// ---- the form ----

// categoryForm is the category form as filled in.
type categoryForm struct {
	Name, Slug, Description, ParentID, Position string
}

// readCategoryForm reads the posted category form.
func readCategoryForm(r *http.Request) categoryForm {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return categoryForm{Name: f("name"), Slug: f("slug"), ParentID: f("parent_id"), Position: f("position"),
		Description: strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("description"), "\r\n", "\n"))}
}

// position reads the position ("" is 0).
func (f categoryForm) position() (int, map[string]string) {
	if f.Position == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(f.Position)
	if err != nil {
		return 0, map[string]string{"position": "must be a whole number"}
	}
	return n, nil
}

// categoryFormField is the form field a category service field error
// names ("" for none of the form's).
func categoryFormField(field string) string {
	switch field {
	case "parent_id":
		return "parent"
	case "name", "slug", "description", "position":
		return field
	}
	return ""
}

// formErrors turns a service's refusal into a form's field errors (field
// maps the service's field names to the form's; a conflict about the
// slug goes next to the slug) and the message above the form, which
// names what no field shows.
func formErrors(r *http.Request, err error, field func(string) string) (map[string]string, string) {
	e := transport.AsError(err)
	errs := map[string]string{}
	var rest []string
	switch {
	case e == nil:
	case e.Code == transport.CodeInvalid && !reusedKey(err):
		for _, fe := range e.Fields {
			name := field(fe.Field)
			switch {
			case name == "":
				rest = append(rest, fe.Field+": "+fe.Message)
			case errs[name] == "":
				errs[name] = fe.Message
			default:
				errs[name] += "; " + fe.Message
			}
		}
	case e.Code == transport.CodeConflict && strings.Contains(e.Message, "slug"):
		errs["slug"] = e.Message
	}
	if len(errs) == 0 {
		return nil, message(r, err)
	}
	flash := "Please check the fields marked below."
	if len(rest) > 0 {
		flash += " " + strings.Join(rest, "; ")
	}
	return errs, flash
}

// adminCategoryView is the category form, and for a category that exists
// its actions.
type adminCategoryView struct {
	New       bool
	Action    string
	Category  category.Category
	PublicURL string
	Form      categoryForm
	Errors    map[string]string
	// Parents are the categories it may go under (not itself), the
	// chosen one Checked.
	Parents []categoryChoice
	// History is the category's audit log (not on the new form).
	History historyView
}

// categoryPage is what showCategory renders.
type categoryPage struct {
	status int
	flash  string
	isNew  bool
	c      category.Category // as stored; zero for a new one
	form   categoryForm
	errs   map[string]string
}

// showCategory renders the category form page; the parents it offers
// come from the category tree, without which it is the error page.
func (s *Storefront) showCategory(w http.ResponseWriter, r *http.Request, ctx context.Context, pg categoryPage) {
	var history *future[shop.History]
	if !pg.isNew {
		history = historyOf(ctx, func(ctx context.Context) (shop.History, error) {
			return s.cats.History(ctx, shop.HistoryRequest{ID: pg.c.ID})
		})
	}
	tree, err := s.cats.Tree(ctx, category.TreeRequest{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminCategoryView{New: pg.isNew, Action: "/admin/categories", Category: pg.c, Form: pg.form, Errors: pg.errs}
	title := "New category"
	if !pg.isNew {
		v.Action += "/" + url.PathEscape(pg.c.ID)
		v.PublicURL = "/" + pg.c.Slug
		title = pg.c.Name
		v.History = s.historyView(ctx, category.ServiceName, history)
	}
	v.Parents = slices.DeleteFunc(categoryChoices(tree, []string{pg.form.ParentID}, 0, nil),
		func(c categoryChoice) bool { return !pg.isNew && c.ID == pg.c.ID })
	s.adminRender(w, r, pg.status, "admin_category", "categories", title, pg.flash, v)
}

// getCategory returns the category of the path; a malformed id is a
// category not found.
func (s *Storefront) getCategory(ctx context.Context, r *http.Request) (category.Category, error) {
	c, err := s.cats.Get(ctx, category.GetRequest{ID: r.PathValue("id")})
	if StatusOf(err) == http.StatusBadRequest {
		err = shop.NotFound("category")
	}
	return c, err
}

// categoryFormOf is the form filled in with c.
func categoryFormOf(c category.Category) categoryForm {
	return categoryForm{Name: c.Name, Slug: c.Slug, Description: c.Description, ParentID: c.ParentID, Position: strconv.Itoa(c.Position)}
}

// adminNewCategory serves GET /admin/categories/new: ?parent= chooses
// the parent.
func (s *Storefront) adminNewCategory(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	s.showCategory(w, r, ctx, categoryPage{status: http.StatusOK, isNew: true, form: categoryForm{ParentID: r.URL.Query().Get("parent")}})
}

// adminEditCategory serves GET /admin/categories/{id}.
func (s *Storefront) adminEditCategory(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	c, err := s.getCategory(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showCategory(w, r, ctx, categoryPage{status: http.StatusOK, c: c, form: categoryFormOf(c)})
}

// adminCreateCategory serves POST /admin/categories.
func (s *Storefront) adminCreateCategory(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	form := readCategoryForm(r)
	again := func(status int, errs map[string]string, flash string) {
		s.showCategory(w, r, ctx, categoryPage{status: status, flash: flash, isNew: true, form: form, errs: errs})
	}
	pos, errs := form.position()
	if len(errs) > 0 {
		again(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	c, err := s.cats.Create(ctx, category.CreateRequest{Name: form.Name, Slug: form.Slug, Description: form.Description,
		ParentID: form.ParentID, Position: pos})
	if err != nil {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, categoryFormField)
			again(status, errs, flash)
		})
		return
	}
	adminDone(w, r, "/admin/categories/"+url.PathEscape(c.ID), "category_created")
}

// adminUpdateCategory serves POST /admin/categories/{id}: a changed
// parent is a move (first, with a request id of its own), the other
// changed fields an update.
func (s *Storefront) adminUpdateCategory(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	c, err := s.getCategory(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := readCategoryForm(r)
	fail := func(status int, errs map[string]string, flash string) {
		s.showCategory(w, r, ctx, categoryPage{status: status, flash: flash, c: c, form: form, errs: errs})
	}
	pos, errs := form.position()
	if len(errs) > 0 {
		fail(http.StatusBadRequest, errs, "Please check the fields marked below.")
		return
	}
	refused := func(err error) {
		s.adminFail(w, r, err, func(status int, _ string) {
			errs, flash := formErrors(r, err, categoryFormField)
			fail(status, errs, flash)
		})
	}
	if form.ParentID != c.ParentID {
		moved, err := s.cats.Move(anotherCall(ctx, "move "+form.ParentID), category.MoveRequest{ID: c.ID, ParentID: form.ParentID})
		if err != nil {
			refused(err)
			return
		}
		c = moved
	}
	req := category.UpdateRequest{ID: c.ID}
	changed := false
	set := func(dst **string, val, old string) {
		if val != old {
			*dst, changed = &val, true
		}
	}
	set(&req.Name, form.Name, c.Name)
	set(&req.Description, form.Description, c.Description)
	if form.Slug != "" {
		set(&req.Slug, form.Slug, c.Slug)
	}
	if pos != c.Position {
		req.Position, changed = &pos, true
	}
	if changed {
		if _, err := s.cats.Update(ctx, req); err != nil {
			refused(err)
			return
		}
	}
	adminDone(w, r, "/admin/categories/"+url.PathEscape(c.ID), "saved")
}

// ---- delete ----

// adminCategoryDeleteView is the question before a category is deleted.
type adminCategoryDeleteView struct {
	Category category.Category
	// Children are its subcategories (nil when unknown).
	Children []category.Category
	Reparent bool
}

// showCategoryDelete renders the delete confirmation of the category of
// the path, with flash above it.
func (s *Storefront) showCategoryDelete(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string) {
	kids := async(ctx, NavTimeout, func(ctx context.Context) ([]category.Category, error) {
		return s.cats.ListChildren(ctx, category.ListChildrenRequest{ParentID: r.PathValue("id")})
	})
	c, err := s.getCategory(ctx, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminCategoryDeleteView{Category: c, Reparent: r.PostFormValue("reparent") == "1"}
	if list, err := kids.wait(); err == nil {
		v.Children = list
	} else {
		s.warn(ctx, "admin: subcategories", category.ServiceName, err)
	}
	s.adminRender(w, r, status, "admin_category_delete", "categories", "Delete "+c.Name, flash, v)
}

// categoryDeletion deletes the category of the path
// (/admin/categories/{id}/delete); reparent=1 moves its subcategories and
// products to its parent.
func (s *Storefront) categoryDeletion() deletion {
	return deletion{show: s.showCategoryDelete, what: "category", idField: "id",
		donePath: "/admin/categories", doneKey: "category_deleted",
		del: func(ctx context.Context, r *http.Request) error {
			_, err := s.cats.Delete(ctx, category.DeleteRequest{ID: r.PathValue("id"), Reparent: r.PostFormValue("reparent") == "1"})
			return err
		}}
}

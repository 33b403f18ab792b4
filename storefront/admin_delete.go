package storefront

import (
	"context"
	"net/http"

	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// deletion is the console's delete of one resource, in one shape for all:
// GET asks to confirm (show), POST deletes (del) and goes to done with its
// notice; a failure shows the confirmation again with why (or failed,
// where the resource's own page says it better).
type deletion struct {
	// show renders the confirmation of the request's resource.
	show func(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string)
	// failed, when set, renders a failed delete instead of show.
	failed func(w http.ResponseWriter, r *http.Request, ctx context.Context, status int, flash string)
	// del deletes the request's resource.
	del func(ctx context.Context, r *http.Request) error
	// what names the resource in "not found": a request the service finds
	// invalid (a malformed id in the path) names nothing that exists.
	// idField, when set, limits that to errors of that field.
	what, idField string
	// donePath and doneKey are where a delete goes and the notice shown
	// there (adminNotices).
	donePath, doneKey string
}

// confirm serves the GET: the confirmation.
func (s *Storefront) confirm(d deletion) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ctx, ok := s.admin(w, r); ok {
			d.show(w, r, ctx, http.StatusOK, "")
		}
	}
}

// remove serves the POST: the delete.
func (s *Storefront) remove(d deletion) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, ok := s.admin(w, r)
		if !ok {
			return
		}
		err := d.del(ctx, r)
		if StatusOf(err) == http.StatusBadRequest && (d.idField == "" || transport.AsError(err).Field(d.idField) != "") {
			err = shop.NotFound(d.what)
		}
		if err != nil {
			again := d.show
			if d.failed != nil {
				again = d.failed
			}
			s.adminFail(w, r, err, func(status int, flash string) { again(w, r, ctx, status, flash) })
			return
		}
		adminDone(w, r, d.donePath, d.doneKey)
	}
}

// handleDeletion registers d's GET and POST at path.
func (s *Storefront) handleDeletion(m *http.ServeMux, path string, d deletion) {
	m.HandleFunc("GET "+path, s.confirm(d))
	m.HandleFunc("POST "+path, s.remove(d))
}

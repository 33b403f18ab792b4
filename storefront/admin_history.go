package storefront

import (
	"context"
	"strings"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// historyView is the History section of an entity's console page: the
// audit log its owning service keeps (the "history" template).
type historyView struct {
	// Shown says the service answered; Service names it.
	Shown   bool
	Service string
	Changes []changeView
	// Kept is how many changes a service keeps per entity.
	Kept int
}

// changeView is one row of a historyView.
type changeView struct {
	When, ISO string
	Who       string
	Action    string
	Fields    string
	// TraceID links to the trace viewer (Options.TraceURL) when set.
	TraceID, TraceLink string
}

// historyOf starts asking for an entity's history with fetch (a service
// client's History method bound to the entity), within the console's
// budget for a secondary section.
func historyOf(ctx context.Context, fetch func(context.Context) (shop.History, error)) *future[shop.History] {
	return async(ctx, NavTimeout, fetch)
}

// historyView waits for f and renders its answer; a failure is logged
// (service names who was asked) and shown as such, never as "no changes".
func (s *Storefront) historyView(ctx context.Context, service string, f *future[shop.History]) historyView {
	v := historyView{Service: service, Kept: shop.MaxHistory}
	h, err := f.wait()
	if err != nil {
		s.warn(ctx, "admin: history", service, err)
		return v
	}
	v.Shown = true
	for _, c := range h.Changes {
		row := changeView{
			When:   c.Time.UTC().Format("2 Jan 2006 15:04:05 UTC"),
			ISO:    c.Time.UTC().Format(time.RFC3339),
			Who:    c.Email,
			Action: c.Action,
			Fields: strings.Join(c.Fields, ", "),
		}
		if row.Who == "" {
			row.Who = "the shop (automatic)"
		}
		if c.TraceID != "" && validTraceID(c.TraceID) {
			row.TraceID = c.TraceID
			if s.opts.TraceURL != "" {
				row.TraceLink = strings.ReplaceAll(s.opts.TraceURL, traceIDPlaceholder, c.TraceID)
			}
		}
		v.Changes = append(v.Changes, row)
	}
	return v
}

// validTraceID reports whether id is a W3C trace id (32 lower-case hex
// digits), the only form put into a link.
func validTraceID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

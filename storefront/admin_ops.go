package storefront

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopbus/shopbus/host/ops"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/seeder"
	"github.com/shopbus/shopbus/transport"
)

// The console's operations page: each service's state, starts, method
// statistics, outbox backlog and dead-letter counts, from the operations
// API its node serves on its queue (package host/ops), and the seeder's
// recent runs; and each subscriber's dead-letter queue, to inspect,
// replay and discard what it parked. See admin.go.
//
// The storefront holds no right on the services' queues: the service
// that owns a subscriber does the dead-letter work, with its own broker
// account, when the console asks it over the bus.

// AdminOpsTimeout bounds each service's answer on the operations page: a
// service that has not answered by then is shown as not answering.
const AdminOpsTimeout = 2 * time.Second

// adminOpsRuns is how many of the seeder's recent runs the page shows.
const adminOpsRuns = 5

// adminOpsServices are the services the operations page asks, in the
// order a node starts them (host.Names; a test checks they agree).
var adminOpsServices = []string{"auth", "category", "attribute", "option", "product", "filter", "cart", "inventory",
	"order", "article", "seo", "seeder"}

// adminOpsView is the operations page.
type adminOpsView struct {
	Services []opsService
	Runs     []seeder.RunRecord
	RunsErr  string // why the runs are missing
}

// opsService is one service on the operations page.
type opsService struct {
	Name  string
	Error string // "" when the service answered
	// Node is the replica that answered; State, Since and Starts its
	// state of the service there.
	Node, State, StateError string
	Since                   time.Time
	Starts                  int
	Methods                 []opsMethod
	Backlog                 *ops.Backlog
	BacklogAge              string
	BacklogError            string // why the backlog is unknown
	Subscribers             []opsSubscriber
}

// opsMethod is one method's statistics, formatted.
type opsMethod struct {
	Method            string
	Requests, Errors  uint64
	P50, P99, LastErr string
}

// opsSubscriber is a subscriber with its dead-letter count and the link
// to its dead letters.
type opsSubscriber struct {
	Name, Link, Error string
	DeadLetters       int
	More              bool
}

// adminOperations serves GET /admin/operations.
func (s *Storefront) adminOperations(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	c := ops.NewClient(s.opts.Bus)
	reports := make([]*future[ops.Report], len(adminOpsServices))
	for i, name := range adminOpsServices {
		reports[i] = async(ctx, AdminOpsTimeout, func(ctx context.Context) (ops.Report, error) { return c.Operations(ctx, name) })
	}
	runs := async(ctx, AdminOpsTimeout, func(ctx context.Context) ([]seeder.RunRecord, error) {
		return seeder.NewClient(s.opts.Bus).Runs(ctx, seeder.RunsRequest{Limit: adminOpsRuns})
	})
	var v adminOpsView
	now := time.Now()
	for i, name := range adminOpsServices {
		rep, err := reports[i].wait()
		v.Services = append(v.Services, opsServiceOf(name, rep, err, now))
		if err != nil && !shop.IsCode(err, transport.CodeDeadlineExceeded) {
			s.warn(ctx, "admin: operations", name, err)
		}
	}
	var err error
	if v.Runs, err = runs.wait(); err != nil {
		v.RunsErr = opsError(err)
	}
	s.adminRender(w, r, http.StatusOK, "admin_operations", "operations", "Operations", "", v)
}

// opsServiceOf is the page's view of a service's report.
func opsServiceOf(name string, rep ops.Report, err error, now time.Time) opsService {
	v := opsService{Name: name}
	if err != nil {
		v.Error = opsError(err)
		return v
	}
	v.Node = rep.Node
	for _, st := range rep.Services {
		if st.Name == name {
			v.State, v.StateError, v.Since, v.Starts = st.State, st.Error, st.Since, st.Starts
		}
	}
	for _, m := range rep.Methods {
		om := opsMethod{Method: m.Method, Requests: m.Requests, Errors: m.Errors, LastErr: m.LastError,
			P50: seconds(m.P50), P99: seconds(m.P99)}
		v.Methods = append(v.Methods, om)
	}
	v.BacklogError = rep.BacklogError
	if rep.Backlog != nil {
		v.Backlog = rep.Backlog
		if !rep.Backlog.Oldest.IsZero() {
			v.BacklogAge = now.Sub(rep.Backlog.Oldest).Round(time.Second).String()
		}
	}
	for _, sub := range rep.Subscribers {
		v.Subscribers = append(v.Subscribers, opsSubscriber{Name: sub.Name, DeadLetters: sub.DeadLetters, More: sub.More, Error: sub.Error,
			Link: adminLink("/admin/operations/"+url.PathEscape(name)+"/dead-letters", "subscriber", sub.Name)})
	}
	return v
}

// opsError says, in a few words, why a service did not answer.
func opsError(err error) string {
	switch transport.CodeOf(err) {
	case transport.CodeDeadlineExceeded, transport.CodeUnavailable:
		return "not answering"
	case transport.CodeForbidden, transport.CodeUnauthenticated:
		return "refused: " + transport.AsError(err).Message
	}
	return "failed: " + transport.AsError(err).Message
}

// seconds formats a latency in seconds for the page.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d <= 0:
		return "–"
	case d >= 10*time.Second:
		return "> 5 s"
	case d < time.Millisecond:
		return fmt.Sprintf("≤ %d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("≤ %s ms", strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 3, 64))
	}
	return fmt.Sprintf("≤ %s s", strconv.FormatFloat(d.Seconds(), 'g', 3, 64))
}

// adminDeadLettersView is one subscriber's dead letters.
type adminDeadLettersView struct {
	Service, Subscriber string
	Action              string // the path the forms post to, without /replay or /discard
	Events              []ops.DeadLetter
	More                bool
	Done                string // what the last action did
}

// opsPath checks the service of the path and the subscriber of the query
// (the service's name when there is none).
func opsPath(r *http.Request) (service, subscriber string, err error) {
	service = r.PathValue("service")
	if err := transport.CheckName("service", service); err != nil {
		return "", "", shop.NotFound("service")
	}
	subscriber = r.FormValue("subscriber")
	if subscriber == "" {
		subscriber = service
	}
	if err := transport.CheckName("subscriber", subscriber); err != nil {
		return "", "", shop.Invalid("invalid subscriber", "subscriber", "not a subscriber name")
	}
	return service, subscriber, nil
}

// adminDeadLetters serves GET /admin/operations/{service}/dead-letters?subscriber=.
func (s *Storefront) adminDeadLetters(w http.ResponseWriter, r *http.Request) {
	s.showDeadLetters(w, r, http.StatusOK, "")
}

// showDeadLetters renders the dead letters of the path, with flash above them.
func (s *Storefront) showDeadLetters(w http.ResponseWriter, r *http.Request, status int, flash string) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	service, subscriber, err := opsPath(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	dl, err := ops.NewClient(s.opts.Bus).DeadLetters(ctx, service, ops.DeadLettersRequest{Subscriber: subscriber})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := adminDeadLettersView{Service: service, Subscriber: subscriber, Events: dl.Events, More: dl.More,
		Action: "/admin/operations/" + url.PathEscape(service) + "/dead-letters"}
	if status < 300 {
		q := r.URL.Query()
		if n, err := strconv.Atoi(q.Get("count")); err == nil && n >= 0 {
			switch q.Get("done") {
			case "replayed":
				v.Done = fmt.Sprintf("%d event(s) replayed: they are back in the %s queue.", n, subscriber)
			case "discarded":
				v.Done = fmt.Sprintf("%d event(s) discarded.", n)
			}
		}
	}
	s.adminRender(w, r, status, "admin_dead_letters", "operations", "Dead letters of "+subscriber, flash, v)
}

// adminDeadLetterAction serves POST
// /admin/operations/{service}/dead-letters/replay and /discard: the form
// names the subscriber and the events (id, once per event).
func (s *Storefront) adminDeadLetterAction(w http.ResponseWriter, r *http.Request) {
	ctx, ok := s.admin(w, r)
	if !ok {
		return
	}
	service, subscriber, err := opsPath(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := slices.Compact(slices.Sorted(slices.Values(r.PostForm["id"])))
	req := ops.IDsRequest{Subscriber: subscriber, IDs: ids}
	c := ops.NewClient(s.opts.Bus)
	var n ops.Count
	what := "replayed"
	if strings.HasSuffix(r.URL.Path, "/discard") {
		what = "discarded"
		n, err = c.DiscardDeadLetters(ctx, service, req)
	} else {
		n, err = c.ReplayDeadLetters(ctx, service, req)
	}
	if err != nil {
		s.adminFail(w, r, err, func(status int, flash string) { s.showDeadLetters(w, r, status, flash) })
		return
	}
	to := adminLink("/admin/operations/"+url.PathEscape(service)+"/dead-letters", "subscriber", subscriber) + "&count=" + strconv.Itoa(n.Count)
	adminDone(w, r, to, what)
}

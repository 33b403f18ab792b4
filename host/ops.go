package host

import (
	"context"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shopbus/shopbus/host/ops"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/shop/auth"
	"github.com/shopbus/shopbus/transport"
)

// The operations API (package host/ops): a node serves, on the request
// queue of every service it runs, the methods "<service>.operations",
// ".dead_letters", ".replay_dead_letters" and ".discard_dead_letters", for
// admins only. It adds them by wrapping the handler the service serves on
// its own queue (Env.Bus.Serve), in front of the service's methods: a
// service must not use those four names. It learns the service's event
// subscribers the same way, from the subscriptions the service makes on
// Env.Bus, so every subscriber a service makes (per-replica ones too) is
// listed without the service saying so.

// serviceBus is the bus a service's Start gets: the node's bus, which
// also serves the operations methods with the service's own and records
// the service's subscribers.
type serviceBus struct {
	transport.Bus
	node    *Node
	service string
	// stopping ends once the service has been stopping for HandlerGrace:
	// the requests its handlers still serve are then given up.
	stopping context.Context
}

// Serve implements transport.Bus: on the service's own queue, h answers
// everything but the operations methods; and every handler gives up its
// request once the service has been stopping for HandlerGrace.
func (b *serviceBus) Serve(service string, h transport.Handler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	if service == b.service {
		h = withOps(service, h, ops.Handler(service, &opsServer{node: b.node, service: service}))
	}
	if b.stopping != nil {
		h = givingUp(h, b.stopping)
	}
	return b.Bus.Serve(service, h, opts...)
}

// HandlerGrace is how long a stopping service's handlers may go on with
// the requests they serve before these are given up: their contexts are
// cancelled and the callers told unavailable, which they retry (with the
// same request id: applied at most once) elsewhere or after the restart.
// A handler waiting for another service of the same node, stopping too,
// would otherwise hold the node's stop until the supervisor's timeout.
const HandlerGrace = 5 * time.Second

// givingUp returns h with its requests given up once stopping ends.
func givingUp(h transport.Handler, stopping context.Context) transport.Handler {
	return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(stopping, cancel)()
		out, err := h.ServeBus(ctx, req)
		if err != nil && stopping.Err() != nil {
			return nil, &transport.Error{Code: transport.CodeUnavailable, Message: "service stopping; the request may or may not have been applied", Cause: err}
		}
		return out, err
	})
}

// Subscribe implements transport.Bus, recording subscriber as one of the
// service's.
func (b *serviceBus) Subscribe(subscriber, pattern string, h transport.EventHandler, opts ...transport.ConsumerOption) (transport.Subscription, error) {
	sub, err := b.Bus.Subscribe(subscriber, pattern, h, opts...)
	if err == nil {
		b.node.addSubscriber(b.service, subscriber)
	}
	return sub, err
}

// withOps returns a handler that sends the operations methods of service
// to opsMux and everything else to own. When own is the service's Mux
// (made by transport.NewServiceMux, as every shopbus service's Handler
// is), the two are served as one Mux, so that "<service>.describe" lists
// the operations methods too.
func withOps(service string, own transport.Handler, opsMux *transport.Mux) transport.Handler {
	if m, ok := own.(*transport.Mux); ok && m.Service() == service {
		both := transport.NewServiceMux(service, m.Describe().Version)
		both.Include(m)
		both.Include(opsMux)
		return both
	}
	methods := map[string]bool{}
	for _, name := range ops.Names {
		methods[ops.Method(service, name)] = true
	}
	return transport.HandlerFunc(func(ctx context.Context, req *transport.Request) ([]byte, error) {
		if methods[req.Method] {
			return opsMux.ServeBus(ctx, req)
		}
		return own.ServeBus(ctx, req)
	})
}

// addSubscriber records subscriber as one of service's.
func (n *Node) addSubscriber(service, subscriber string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subscribers == nil {
		n.subscribers = map[string]map[string]bool{}
	}
	if n.subscribers[service] == nil {
		n.subscribers[service] = map[string]bool{}
	}
	n.subscribers[service][subscriber] = true
}

// Subscribers returns the names of the event subscribers service has made
// on this node since it started, sorted: their queues hold the events
// they have not handled yet, and their dead-letter queues what they
// parked.
func (n *Node) Subscribers(service string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.subscribers[service]))
}

// setAuthenticator records (or, with nil, forgets) the authenticator of
// a service's operations methods.
func (n *Node) setAuthenticator(service string, a shop.Authenticator) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.authn == nil {
		n.authn = map[string]shop.Authenticator{}
	}
	if a == nil {
		delete(n.authn, service)
		return
	}
	n.authn[service] = a
}

// nodeName names the node in operations reports: its replica name, or its
// host name.
func (n *Node) nodeName() string {
	if n.Settings.Replica != "" {
		return n.Settings.Replica
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "node"
}

// opsServer is the ops.Server of one service on a node.
type opsServer struct {
	node    *Node
	service string
}

// requireAdmin checks that the caller is an admin: with the service's own
// authenticator when it has one (the auth service, which must not wait
// for a call to itself), else with the auth service's bus client.
func (s *opsServer) requireAdmin(ctx context.Context) error {
	s.node.mu.Lock()
	authn := s.node.authn[s.service]
	s.node.mu.Unlock()
	if authn == nil {
		authn = auth.NewClient(s.node.bus)
	}
	_, err := shop.RequireAdmin(ctx, authn)
	return err
}

// subscriber checks that name is one of the service's subscribers.
func (s *opsServer) subscriber(name string) error {
	if slices.Contains(s.node.Subscribers(s.service), name) {
		return nil
	}
	if name == "" {
		return shop.Invalid("no subscriber", "subscriber", "required")
	}
	return shop.NotFound("subscriber")
}

// Operations implements ops.Server.
func (s *opsServer) Operations(ctx context.Context) (ops.Report, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return ops.Report{}, err
	}
	n := s.node
	r := ops.Report{Service: s.service, Node: n.nodeName(), Time: time.Now().UTC(), Methods: []ops.MethodStats{}, Subscribers: []ops.Subscriber{}}
	states := n.serviceStatus()
	for _, name := range slices.Sorted(maps.Keys(states)) {
		st := states[name]
		r.Services = append(r.Services, ops.ServiceState{Name: name, State: st.State, Error: st.Error, Starts: st.Starts, Since: st.Since})
	}
	for _, e := range n.stats.Snapshot() {
		if !strings.HasPrefix(e.Method, s.service+".") {
			continue
		}
		r.Methods = append(r.Methods, ops.MethodStats{Method: e.Method, Requests: e.Requests, Errors: e.Errors, LastError: e.LastError,
			P50: e.Quantile(0.5).Seconds(), P99: e.Quantile(0.99).Seconds(), Average: e.AverageTime.Seconds()})
	}
	n.mu.Lock()
	backlog := n.backlogs[s.service]
	n.mu.Unlock()
	if backlog != nil {
		bctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
		b, err := backlog(bctx)
		cancel()
		if err != nil {
			r.BacklogError = err.Error()
		} else {
			r.Backlog = &ops.Backlog{Pending: b.Pending, Oldest: b.Oldest}
		}
	}
	for _, name := range n.Subscribers(s.service) {
		sub := ops.Subscriber{Name: name}
		evs, err := n.Bus.PeekDeadLetters(ctx, name, ops.MaxDeadLetters+1)
		if err != nil {
			sub.Error = err.Error()
		} else {
			sub.DeadLetters, sub.More = min(len(evs), ops.MaxDeadLetters), len(evs) > ops.MaxDeadLetters
		}
		r.Subscribers = append(r.Subscribers, sub)
	}
	return r, nil
}

// DeadLetters implements ops.Server.
func (s *opsServer) DeadLetters(ctx context.Context, req ops.DeadLettersRequest) (ops.DeadLetters, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return ops.DeadLetters{}, err
	}
	if req.Max == 0 {
		req.Max = ops.MaxDeadLetters
	}
	if req.Max < 1 || req.Max > ops.MaxDeadLetters {
		return ops.DeadLetters{}, shop.Invalid("invalid limit", "max", "must be 1 to 100")
	}
	if err := s.subscriber(req.Subscriber); err != nil {
		return ops.DeadLetters{}, err
	}
	evs, err := s.node.Bus.PeekDeadLetters(ctx, req.Subscriber, req.Max+1)
	if err != nil {
		return ops.DeadLetters{}, err
	}
	out := ops.DeadLetters{Subscriber: req.Subscriber, Events: []ops.DeadLetter{}, More: len(evs) > req.Max}
	for _, ev := range evs[:min(len(evs), req.Max)] {
		d := ops.DeadLetter{ID: ev.ID, Key: ev.Key, Time: ev.Time, Attempts: ev.Attempt, Reason: ev.Header[transport.HeaderDeadReason], Body: string(ev.Body)}
		if t, err := time.Parse(time.RFC3339, ev.Header[transport.HeaderDeadTime]); err == nil {
			d.ParkedAt = t
		}
		if len(d.Body) > ops.MaxBody {
			d.Body, d.Truncated = strings.ToValidUTF8(d.Body[:ops.MaxBody], ""), true
		}
		if len(d.Reason) > 1000 {
			d.Reason = strings.ToValidUTF8(d.Reason[:1000], "") + "…"
		}
		out.Events = append(out.Events, d)
	}
	return out, nil
}

// ReplayDeadLetters implements ops.Server.
func (s *opsServer) ReplayDeadLetters(ctx context.Context, req ops.IDsRequest) (ops.Count, error) {
	return s.take(ctx, req, s.node.Bus.ReplayDeadLetters)
}

// DiscardDeadLetters implements ops.Server.
func (s *opsServer) DiscardDeadLetters(ctx context.Context, req ops.IDsRequest) (ops.Count, error) {
	return s.take(ctx, req, s.node.Bus.DiscardDeadLetters)
}

func (s *opsServer) take(ctx context.Context, req ops.IDsRequest, f func(context.Context, string, []string) (int, error)) (ops.Count, error) {
	if err := s.requireAdmin(ctx); err != nil {
		return ops.Count{}, err
	}
	if len(req.IDs) == 0 || len(req.IDs) > ops.MaxIDs {
		return ops.Count{}, shop.Invalid("invalid ids", "ids", "give 1 to 100 event ids")
	}
	if err := s.subscriber(req.Subscriber); err != nil {
		return ops.Count{}, err
	}
	n, err := f(ctx, req.Subscriber, req.IDs)
	if err != nil && n == 0 {
		return ops.Count{}, err
	}
	if err != nil {
		s.node.logger().Warn("host: dead letters partly handled", "service", s.service, "subscriber", req.Subscriber, "handled", n, "err", err)
	}
	return ops.Count{Count: n}, nil
}

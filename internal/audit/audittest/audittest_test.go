package audittest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/internal/audit/audittest"
	"github.com/shopbus/shopbus/shop"
	"github.com/shopbus/shopbus/transport"
)

// recorder is a testing.TB that records failures instead of failing; its
// Fatalf ends the goroutine, as testing's does.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// failures runs check with a recorder and returns what it reported.
func failures(check func(t testing.TB)) []string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.failures
}

const admin = "admin@shop.test"

var at = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestMatch(t *testing.T) {
	byAdmin := shop.Change{Time: at, Action: "x.update", UserID: "u1", Email: admin, Fields: []string{"a", "b"}}
	auto := shop.Change{Time: at, Action: "x.event", Fields: []string{"a"}}
	exact := audittest.By(admin)("x.update", "a", "b")
	exact.Time = at
	for _, tc := range []struct {
		name string
		c    shop.Change
		want audittest.Change
		bad  string // "" for a match
	}{
		{"admin's", byAdmin, audittest.By(admin)("x.update", "a", "b"), ""},
		{"automatic", auto, audittest.Auto("x.event", "a"), ""},
		{"automatic by By empty", auto, audittest.By("")("x.event", "a"), ""},
		{"exact time", byAdmin, exact, ""},
		{"other action", byAdmin, audittest.By(admin)("x.create", "a", "b"), "action"},
		{"fewer fields", byAdmin, audittest.By(admin)("x.update", "a"), "fields"},
		{"fields out of order", byAdmin, audittest.By(admin)("x.update", "b", "a"), "fields"},
		{"fields of a delete", byAdmin, audittest.By(admin)("x.update"), "fields"},
		{"other admin", byAdmin, audittest.By("other@shop.test")("x.update", "a", "b"), "email"},
		{"named, want no one", byAdmin, audittest.Auto("x.update", "a", "b"), "email user id"},
		{"no one, want the admin", auto, audittest.By(admin)("x.event", "a"), "email user id"},
		{"email without user id", shop.Change{Time: at, Action: "x.update", Email: admin, Fields: []string{"a", "b"}}, audittest.By(admin)("x.update", "a", "b"), "user id"},
		{"user id without email", shop.Change{Time: at, Action: "x.event", UserID: "u1", Fields: []string{"a"}}, audittest.Auto("x.event", "a"), "user id"},
		{"zero time", shop.Change{Action: "x.event", Fields: []string{"a"}}, audittest.Auto("x.event", "a"), "time"},
		{"other time", shop.Change{Time: at.Add(time.Second), Action: "x.update", UserID: "u1", Email: admin, Fields: []string{"a", "b"}}, exact, "time"},
	} {
		err := audittest.Match(tc.c, tc.want)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: %v, want a match", tc.name, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error()[strings.LastIndex(err.Error(), "(wrong "):], tc.bad)):
			t.Errorf("%s: %v, want a wrong %s", tc.name, err, tc.bad)
		}
	}
}

func TestWantLog(t *testing.T) {
	h := shop.History{ID: "p1", Kind: "product", Changes: []shop.Change{
		{Time: at, Action: "product.update", UserID: "u1", Email: admin, Fields: []string{"price"}},
		{Time: at, Action: "product.create", UserID: "u1", Email: admin, Fields: []string{"price", "title"}},
	}}
	byAdmin := audittest.By(admin)
	log := []audittest.Change{byAdmin("product.update", "price"), byAdmin("product.create", "price", "title")}
	if got := failures(func(t testing.TB) { audittest.WantLog(t, h, "product", "p1", false, log...) }); len(got) != 0 {
		t.Fatalf("the right log failed: %v", got)
	}
	for name, check := range map[string]func(t testing.TB){
		"other id":   func(t testing.TB) { audittest.WantLog(t, h, "product", "p2", false, log...) },
		"other kind": func(t testing.TB) { audittest.WantLog(t, h, "category", "p1", false, log...) },
		"deleted":    func(t testing.TB) { audittest.WantLog(t, h, "product", "p1", true, log...) },
		"one more": func(t testing.TB) {
			audittest.WantLog(t, h, "product", "p1", false, append(log, byAdmin("product.create"))...)
		},
		"one less":     func(t testing.TB) { audittest.WantLog(t, h, "product", "p1", false, log[1:]...) },
		"oldest first": func(t testing.TB) { audittest.WantLog(t, h, "product", "p1", false, log[1], log[0]) },
		"wrong entries": func(t testing.TB) {
			audittest.WantLog(t, h, "product", "p1", false, log[0], audittest.Auto("product.create", "price", "title"))
		},
	} {
		if got := failures(check); len(got) == 0 {
			t.Errorf("%s: WantLog passed", name)
		}
	}
}

// fakeHistory is a History method with the usual rules: admins only, ids
// of letters, kind "" or "product", and one product, p1.
func fakeHistory(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
	switch who, _ := ctx.Value(whoKey{}).(string); who {
	case "":
		return shop.History{}, transport.Errorf(transport.CodeUnauthenticated, "log in")
	case "customer":
		return shop.History{}, transport.Errorf(transport.CodeForbidden, "admins only")
	}
	if r.ID == "" || strings.Trim(r.ID, "abcdefghijklmnopqrstuvwxyz0123456789") != "" || (r.Kind != "" && r.Kind != "product") {
		return shop.History{}, shop.Invalid("bad request")
	}
	if r.ID != "p1" {
		return shop.History{}, shop.NotFound("product " + r.ID)
	}
	return shop.History{ID: r.ID, Kind: "product"}, nil
}

type whoKey struct{}

func TestReader(t *testing.T) {
	adminCtx := context.WithValue(context.Background(), whoKey{}, "admin")
	logs := audittest.Reader{History: fakeHistory, Admin: adminCtx, Kind: "product"}
	for _, req := range []shop.HistoryRequest{{ID: "p1"}, {ID: "p1", Kind: "product"}} {
		if got := failures(func(t testing.TB) { logs.Want(t, req, false) }); len(got) != 0 {
			t.Errorf("%+v: %v", req, got)
		}
	}
	for name, check := range map[string]func(t testing.TB){
		"an error": func(t testing.TB) { logs.Want(t, shop.HistoryRequest{ID: "p2"}, false) },
		"deleted":  func(t testing.TB) { logs.Want(t, shop.HistoryRequest{ID: "p1"}, true) },
		"a change": func(t testing.TB) {
			logs.Want(t, shop.HistoryRequest{ID: "p1"}, false, audittest.Auto("product.create"))
		},
		"other main kind": func(t testing.TB) {
			audittest.Reader{History: fakeHistory, Admin: adminCtx, Kind: "order"}.Want(t, shop.HistoryRequest{ID: "p1"}, false)
		},
		"not anonymously": func(t testing.TB) {
			audittest.Reader{History: fakeHistory, Admin: context.Background()}.Want(t, shop.HistoryRequest{ID: "p1"}, false)
		},
	} {
		if got := failures(check); len(got) == 0 {
			t.Errorf("%s: Want passed", name)
		}
	}
}

func TestCheckRefusals(t *testing.T) {
	adminCtx := context.WithValue(context.Background(), whoKey{}, "admin")
	customerCtx := context.WithValue(context.Background(), whoKey{}, "customer")
	r := audittest.Refusals{
		Admin:    adminCtx,
		Customer: customerCtx,
		Readable: []shop.HistoryRequest{{ID: "p1"}},
		Invalid:  []shop.HistoryRequest{{ID: "../etc"}, {ID: "p1", Kind: "order"}},
		Unknown:  []shop.HistoryRequest{{ID: "p2"}},
	}
	if got := failures(func(t testing.TB) { audittest.CheckRefusals(t, fakeHistory, r) }); len(got) != 0 {
		t.Fatalf("a History method with the rules failed: %v", got)
	}
	for name, wrong := range map[string]audittest.HistoryFunc{
		"open to all": func(_ context.Context, r shop.HistoryRequest) (shop.History, error) {
			return fakeHistory(adminCtx, r)
		},
		"open to customers": func(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
			if ctx == customerCtx {
				ctx = adminCtx
			}
			return fakeHistory(ctx, r)
		},
		"customers unauthenticated": func(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
			if ctx == customerCtx {
				ctx = context.Background()
			}
			return fakeHistory(ctx, r)
		},
		"closed to admins": func(_ context.Context, r shop.HistoryRequest) (shop.History, error) {
			return fakeHistory(customerCtx, r)
		},
		"any kind": func(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
			r.Kind = ""
			return fakeHistory(ctx, r)
		},
		"unknown is invalid": func(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
			h, err := fakeHistory(ctx, r)
			if transport.CodeOf(err) == transport.CodeNotFound {
				err = shop.Invalid("no such id")
			}
			return h, err
		},
		"unknown is empty": func(ctx context.Context, r shop.HistoryRequest) (shop.History, error) {
			h, err := fakeHistory(ctx, r)
			if transport.CodeOf(err) == transport.CodeNotFound {
				return shop.History{ID: r.ID, Kind: "product"}, nil
			}
			return h, err
		},
	} {
		if got := failures(func(t testing.TB) { audittest.CheckRefusals(t, wrong, r) }); len(got) == 0 {
			t.Errorf("%s: CheckRefusals passed", name)
		}
	}
	if got := failures(func(t testing.TB) { audittest.CheckRefusals(t, fakeHistory, audittest.Refusals{Admin: adminCtx}) }); len(got) == 0 {
		t.Errorf("Refusals without a customer or a readable request passed")
	}
}

package faults_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Load parameters.
const (
	shoppers = 32
	// addBudget is how long a shopper keeps retrying one add (same
	// Idempotency-Key) before it counts the add as failed for good.
	addBudget = 30 * time.Second
	// httpTimeout bounds one HTTP request; the storefront answers within
	// its CallTimeout (10 s).
	httpTimeout = 15 * time.Second
	// variantsPerProduct is how many variants of a product are added, as
	// distinct lines.
	variantsPerProduct = 3
	// maxItemsPerAccount keeps a cart below the cart's 100 lines.
	maxItemsPerAccount = 64
	// sessionCookie and cartCookie are the storefront's cookie names.
	sessionCookie = "shop_session"
	cartCookie    = "shop_cart"
)

// item is one distinct cart line: a product and, if it has variants, one
// of them.
type item struct {
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id,omitempty"`
}

func (i item) String() string { return i.ProductID + "/" + i.VariantID }

// Outcomes of an add.
const (
	ackFirst   = "acknowledged"      // 200 on the first attempt
	ackRetried = "retried"           // 200 after one or more failed attempts
	failedGood = "failed"            // no 200 within addBudget, or a final 4xx
	notStarted = "not started (bug)" // never set on a finished add
)

// add is one logical add of one item by one account, with one
// Idempotency-Key across its attempts.
type add struct {
	item     item
	key      string
	outcome  string
	attempts []string // status (or error) of every attempt
	version  int64    // the cart's version in the answer
	start    time.Duration
	took     time.Duration
}

func (a *add) String() string {
	return fmt.Sprintf("item %s key %s at +%.2fs took %.2fs outcome %s attempts [%s] cart version %d",
		a.item, a.key, a.start.Seconds(), a.took.Seconds(), a.outcome, strings.Join(a.attempts, ", "), a.version)
}

// account is a registered, logged-in customer and the adds it made.
type account struct {
	shopper int
	email   string
	userID  string
	client  *http.Client
	adds    []*add
}

// cartView is what the storefront answers for a cart.
type cartView struct {
	ID      string `json:"id"`
	UserID  string `json:"user_id"`
	Version int64  `json:"version"`
	Lines   []struct {
		ProductID string `json:"product_id"`
		VariantID string `json:"variant_id"`
		Quantity  int    `json:"quantity"`
	} `json:"lines"`
}

// quantity returns the quantity of it in the cart, 0 if absent.
func (c cartView) quantity(it item) int {
	n := 0
	for _, l := range c.Lines {
		if l.ProductID == it.ProductID && l.VariantID == it.VariantID {
			n += l.Quantity
		}
	}
	return n
}

// load drives the storefront with shoppers virtual shoppers.
type load struct {
	t       *testing.T
	url     string
	items   []item
	began   time.Time
	tr      *http.Transport
	stopped atomic.Bool

	requests atomic.Int64 // POST /api/cart/items attempts

	mu        sync.Mutex
	accounts  []*account
	anomalies []string // add answers that break a rule at once
	setupErrs []string // accounts that could not be created
	statuses  map[string]int
}

func newLoad(t *testing.T, url string) *load {
	l := &load{t: t, url: url, statuses: map[string]int{},
		tr: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}}
	t.Cleanup(l.tr.CloseIdleConnections)
	l.items = discoverItems(t, url)
	return l
}

// discoverItems lists the published products and picks distinct lines:
// every product, with its first variantsPerProduct variants when it has
// variants.
func discoverItems(t *testing.T, base string) []item {
	t.Helper()
	var list struct {
		Items []struct{ Slug string }
	}
	if code, err := getJSON(http.DefaultClient, base+"/api/products?limit=100", &list); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/products: %d %v", code, err)
	}
	var items []item
	for _, s := range list.Items {
		var p struct {
			ID       string
			Variants []struct{ ID string }
		}
		if code, err := getJSON(http.DefaultClient, base+"/api/products/"+s.Slug, &p); err != nil || code != http.StatusOK {
			t.Fatalf("GET /api/products/%s: %d %v", s.Slug, code, err)
		}
		if len(p.Variants) == 0 {
			items = append(items, item{ProductID: p.ID})
		}
		for i, v := range p.Variants {
			if i == variantsPerProduct {
				break
			}
			items = append(items, item{ProductID: p.ID, VariantID: v.ID})
		}
	}
	if len(items) > maxItemsPerAccount {
		items = items[:maxItemsPerAccount]
	}
	if len(items) < 8 {
		t.Fatalf("only %d items to add", len(items))
	}
	return items
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *load) since() time.Duration { return time.Since(l.began) }

func (l *load) anomaly(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.anomalies = append(l.anomalies, fmt.Sprintf(format, args...))
}

func (l *load) status(s string) {
	l.mu.Lock()
	l.statuses[s]++
	l.mu.Unlock()
}

// run runs the shoppers until stop is closed; each finishes the add under
// way (with its whole retry budget) and returns.
func (l *load) run(stop <-chan struct{}) {
	if l.began.IsZero() {
		l.began = time.Now()
	}
	var wg sync.WaitGroup
	for i := range shoppers {
		wg.Go(func() { l.shopper(i) })
	}
	<-stop
	l.stopped.Store(true)
	wg.Wait()
}

// shopper adds every item once (in its own order) to a fresh account's
// cart, then starts over with another account.
func (l *load) shopper(n int) {
	for !l.stopped.Load() {
		a := l.newAccount(n)
		if a == nil {
			continue
		}
		order := mathrand.Perm(len(l.items))
		for _, i := range order {
			if l.stopped.Load() {
				break
			}
			l.add(a, l.items[i])
			time.Sleep(time.Duration(mathrand.IntN(10)) * time.Millisecond) // think
		}
	}
}

// post sends a JSON body with the Idempotency-Key and returns the status
// and body.
func (l *load) post(client *http.Client, path, key string, body any) (int, []byte, http.Header, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, l.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return resp.StatusCode, rb, resp.Header, err
}

// retryable reports whether an answer says "try again": a network error
// or a 5xx.
func retryable(code int, err error) bool { return err != nil || code >= 500 }

// backoff sleeps before the next attempt: from 100 ms doubling up to 1 s
// (a Retry-After longer than that is not waited out: the budget of an
// add is short).
func backoff(attempt int) {
	d := min(100*time.Millisecond<<min(attempt, 4), time.Second)
	time.Sleep(d/2 + time.Duration(mathrand.Int64N(int64(d/2)+1)))
}

// newAccount registers and logs in a customer, retrying failures with
// the same Idempotency-Key within addBudget each. It returns nil if that
// failed.
func (l *load) newAccount(n int) *account {
	jar, _ := cookiejar.New(nil)
	a := &account{
		shopper: n,
		email:   fmt.Sprintf("s%02d-%s@faults.test", n, randomHex(6)),
		client:  &http.Client{Jar: jar, Transport: l.tr, Timeout: httpTimeout},
	}
	creds := map[string]string{"email": a.email, "password": "shopper-password"}
	fail := func(what string, code int, body []byte, err error) *account {
		l.mu.Lock()
		l.setupErrs = append(l.setupErrs, fmt.Sprintf("+%.1fs shopper %d %s %s: %d %v %s", l.since().Seconds(), n, what, a.email, code, err, bytes.TrimSpace(body)))
		l.mu.Unlock()
		return nil
	}
	key := "reg-" + randomHex(12)
	start := time.Now()
	for attempt := 0; ; attempt++ {
		code, body, _, err := l.post(a.client, "/api/register", key, creds)
		if err == nil && (code == http.StatusCreated || code == http.StatusConflict && attempt > 0) {
			break
		}
		if !retryable(code, err) || time.Since(start) > addBudget {
			return fail("register", code, body, err)
		}
		backoff(attempt)
	}
	key = "login-" + randomHex(12)
	start = time.Now()
	for attempt := 0; ; attempt++ {
		code, body, _, err := l.post(a.client, "/api/login", key, creds)
		if err == nil && code == http.StatusOK {
			var res struct {
				User struct {
					UserID string `json:"user_id"`
				}
			}
			if err := json.Unmarshal(body, &res); err != nil || res.User.UserID == "" {
				return fail("login answer", code, body, err)
			}
			a.userID = res.User.UserID
			break
		}
		if !retryable(code, err) || time.Since(start) > addBudget {
			return fail("login", code, body, err)
		}
		backoff(attempt)
	}
	l.mu.Lock()
	l.accounts = append(l.accounts, a)
	l.mu.Unlock()
	return a
}

// add adds one item (quantity 1) to the account's cart, retrying with the
// same Idempotency-Key until success or addBudget, and checks each answer.
func (l *load) add(a *account, it item) {
	ad := &add{item: it, key: fmt.Sprintf("add-%02d-%s", a.shopper, randomHex(12)), outcome: notStarted, start: l.since()}
	a.adds = append(a.adds, ad)
	began := time.Now()
	var notes []string // rules an answer broke, reported once the add is over
	note := func(format string, args ...any) {
		notes = append(notes, fmt.Sprintf("+%.1fs ", l.since().Seconds())+fmt.Sprintf(format, args...))
	}
	defer func() {
		ad.took = time.Since(began)
		for _, n := range notes {
			l.anomaly("%s; the add: %s", n, ad)
		}
	}()
	who := fmt.Sprintf("%s (user %s)", a.email, a.userID)
	body := struct {
		item
		Quantity int `json:"quantity"`
	}{it, 1}
	for attempt := 0; ; attempt++ {
		l.requests.Add(1)
		code, rb, h, err := l.post(a.client, "/api/cart/items", ad.key, body)
		s := strconv.Itoa(code)
		if err != nil {
			s = "error: " + shortErr(err)
			l.status("network error")
		} else {
			l.status(s)
		}
		ad.attempts = append(ad.attempts, s)
		if err == nil {
			for _, ck := range (&http.Response{Header: h}).Cookies() {
				if ck.Name == cartCookie && ck.Value != "" && ck.MaxAge >= 0 {
					note("attempt %d of an add of %s set a guest cart cookie %s=%s", attempt+1, who, ck.Name, ck.Value)
				}
				if ck.Name == sessionCookie && (ck.MaxAge < 0 || ck.Value == "") {
					note("attempt %d of an add of %s cleared the session cookie", attempt+1, who)
				}
			}
		}
		if err == nil && code == http.StatusOK {
			var c cartView
			if err := json.Unmarshal(rb, &c); err != nil {
				note("add of %s answered an undecodable cart: %v %s", who, err, rb)
			}
			if c.ID != "u_"+a.userID || c.UserID != a.userID {
				note("add of %s answered with cart %q of user %q", who, c.ID, c.UserID)
			}
			if q := c.quantity(it); q != 1 {
				note("add of %s answered with quantity %d of the item", who, q)
			}
			ad.version = c.Version
			ad.outcome = ackFirst
			if attempt > 0 {
				ad.outcome = ackRetried
			}
			return
		}
		if err == nil && !retryable(code, nil) && !(code == http.StatusConflict && attempt > 0) {
			// 4xx is final: a bug of the shop (e.g. 401 while the
			// auth service is unreachable) or of this test. A 409 to a
			// retry says that the first attempt with the key is still
			// under way: try again.
			note("add of %s answered %d %s", who, code, bytes.TrimSpace(rb))
			ad.outcome = failedGood
			return
		}
		if time.Since(began) > addBudget {
			ad.outcome = failedGood
			return
		}
		backoff(attempt)
	}
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// ---- verification ----

// report is what a load run found.
type report struct {
	requests, adds, acknowledged, retried, failed int
	accounts                                      int
	duplicates, losses                            int // among acknowledged adds
	failedPresent, extraLines, wrongCarts         int
	guestCarts, dbLines, dbCarts, strangerCarts   int
	anomalies, setupErrs, problems, diagnoses     []string
	statuses                                      map[string]int
}

func (r report) String() string {
	var st []string
	for k, v := range r.statuses {
		st = append(st, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(st)
	return fmt.Sprintf("requests=%d adds=%d acknowledged=%d retried=%d failed=%d duplicates=%d losses=%d "+
		"failed-but-present=%d extra-lines=%d wrong-cart-answers=%d anomalies=%d accounts=%d account-failures=%d "+
		"db: carts=%d lines=%d guest-carts=%d carts-of-strangers=%d; statuses %s",
		r.requests, r.adds, r.acknowledged, r.retried, r.failed, r.duplicates, r.losses,
		r.failedPresent, r.extraLines, r.wrongCarts, len(r.anomalies), r.accounts, len(r.setupErrs),
		r.dbCarts, r.dbLines, r.guestCarts, r.strangerCarts, strings.Join(st, " "))
}

// verify reads every account's cart through the API (retrying 5xx for
// addBudget) and every cart in the database, and checks them against the
// outcomes of the adds.
func (l *load) verify(mongoURI string) report {
	t := l.t
	r := report{requests: int(l.requests.Load()), statuses: l.statuses}
	l.mu.Lock()
	r.anomalies, r.setupErrs, r.accounts = l.anomalies, l.setupErrs, len(l.accounts)
	accounts := l.accounts
	l.mu.Unlock()
	for _, a := range r.anomalies {
		if strings.Contains(a, "answered with cart") || strings.Contains(a, "guest cart cookie") {
			r.wrongCarts++
		}
	}
	problem := func(format string, args ...any) {
		if len(r.problems) < 40 {
			r.problems = append(r.problems, fmt.Sprintf(format, args...))
		}
	}

	users := map[string]*account{}
	var broken []*account // accounts whose cart breaks a rule
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, a := range accounts {
		users[a.userID] = a
		for _, ad := range a.adds {
			r.adds++
			switch ad.outcome {
			case ackFirst:
				r.acknowledged++
			case ackRetried:
				r.acknowledged++
				r.retried++
			case failedGood:
				r.failed++
			default:
				problem("add without outcome: %s", ad)
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := l.cartOf(a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				problem("cart of %s (user %s) could not be read: %v", a.email, a.userID, err)
				return
			}
			if c.ID != "u_"+a.userID {
				problem("GET /api/cart of %s (user %s) answered cart %q", a.email, a.userID, c.ID)
			}
			seen := map[item]bool{}
			before := r.losses + r.duplicates + r.failedPresent + r.extraLines
			defer func() {
				if r.losses+r.duplicates+r.failedPresent+r.extraLines > before {
					broken = append(broken, a)
				}
			}()
			for _, ad := range a.adds {
				seen[ad.item] = true
				q := c.quantity(ad.item)
				switch {
				case ad.outcome == failedGood && q > 0:
					r.failedPresent++
					problem("failed add present (quantity %d) in the cart of %s: %s", q, a.email, ad)
				case ad.outcome == failedGood:
				case q == 0:
					r.losses++
					problem("acknowledged add missing from the cart of %s: %s", a.email, ad)
				case q > 1:
					r.duplicates += q - 1
					problem("acknowledged add applied %d times in the cart of %s: %s", q, a.email, ad)
				}
			}
			for _, ln := range c.Lines {
				if !seen[item{ln.ProductID, ln.VariantID}] {
					r.extraLines++
					problem("line %s/%s (quantity %d) that %s never added is in its cart", ln.ProductID, ln.VariantID, ln.Quantity, a.email)
				}
			}
		}()
	}
	wg.Wait()

	// Every cart in the database: no guest carts, no carts of users the
	// load did not create, as many lines as acknowledged adds.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatalf("connect to %s: %v", mongoURI, err)
	}
	defer client.Disconnect(context.Background())
	cur, err := client.Database("shop_cart").Collection("carts").Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("list carts: %v", err)
	}
	var docs []struct {
		ID     string `bson:"_id"`
		UserID string `bson:"user_id"`
		Lines  []bson.Raw
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatalf("read carts: %v", err)
	}
	for _, a := range broken {
		if len(r.diagnoses) < 6 {
			r.diagnoses = append(r.diagnoses, diagnose(ctx, client, a, l.began))
		}
	}
	for _, d := range docs {
		r.dbCarts++
		r.dbLines += len(d.Lines)
		switch {
		case d.UserID == "":
			r.guestCarts++
			problem("guest cart %s with %d lines in the database", d.ID, len(d.Lines))
		case users[d.UserID] == nil:
			r.strangerCarts++
			problem("cart %s of user %s, not a shopper of this run, with %d lines", d.ID, d.UserID, len(d.Lines))
		}
	}
	return r
}

// diagnose describes a cart that broke a rule: the adds as the shopper
// saw them and the document as the database holds it.
func diagnose(ctx context.Context, client *mongo.Client, a *account, began time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cart u_%s of %s (shopper %d); the load began at %s UTC\n  adds as answered:\n", a.userID, a.email, a.shopper, began.UTC().Format("15:04:05.000"))
	for _, ad := range a.adds {
		fmt.Fprintf(&b, "    %s\n", ad)
	}
	var doc struct {
		Version int64 `bson:"version"`
		Lines   []struct {
			ProductID string    `bson:"product_id"`
			VariantID string    `bson:"variant_id"`
			Quantity  int       `bson:"quantity"`
			AddedAt   time.Time `bson:"added_at"`
		} `bson:"lines"`
		Requests []struct {
			Key string    `bson:"k"`
			At  time.Time `bson:"at"`
		} `bson:"requests"`
		UpdatedAt time.Time `bson:"updated_at"`
	}
	err := client.Database("shop_cart").Collection("carts").FindOne(ctx, bson.D{{Key: "_id", Value: "u_" + a.userID}}).Decode(&doc)
	if err != nil {
		fmt.Fprintf(&b, "  document: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "  document: version %d, updated %s, %d lines, %d requests remembered\n", doc.Version, doc.UpdatedAt.Format("15:04:05.000"), len(doc.Lines), len(doc.Requests))
	for _, l := range doc.Lines {
		fmt.Fprintf(&b, "    line %s/%s quantity %d added %s\n", l.ProductID, l.VariantID, l.Quantity, l.AddedAt.Format("15:04:05.000"))
	}
	for _, q := range doc.Requests {
		fmt.Fprintf(&b, "    request %s at %s\n", q.Key, q.At.Format("15:04:05.000"))
	}
	return b.String()
}

// cartOf reads the account's cart, retrying a 5xx or network error.
func (l *load) cartOf(a *account) (cartView, error) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		var c cartView
		code, err := getJSON(a.client, l.url+"/api/cart", &c)
		if err == nil && code == http.StatusOK {
			return c, nil
		}
		if !retryable(code, err) || time.Since(start) > addBudget {
			return c, fmt.Errorf("GET /api/cart: %d %v", code, err)
		}
		backoff(attempt)
	}
}

// check logs the report in one line and fails the test for every broken rule.
func (r report) check(t *testing.T, c *cluster, extra string) {
	t.Helper()
	t.Logf("requests=%d acknowledged=%d (of which retried=%d) failed=%d %s duplicates=%d losses=%d",
		r.requests, r.acknowledged, r.retried, r.failed, extra, r.duplicates, r.losses)
	t.Logf("details: %s", r)
	for _, p := range r.problems {
		t.Log("problem: " + p)
	}
	for i, a := range r.anomalies {
		if i == 40 {
			t.Logf("... %d more anomalies", len(r.anomalies)-i)
			break
		}
		t.Log("anomaly: " + a)
	}
	for _, e := range r.setupErrs {
		t.Log("account failure: " + e)
	}
	for _, d := range r.diagnoses {
		t.Log("diagnosis: " + d)
	}
	if r.duplicates > 0 || r.losses > 0 || r.failedPresent > 0 || r.extraLines > 0 {
		t.Errorf("exactly-once broken: %d duplicated, %d lost acknowledged adds; %d failed adds applied; %d lines nobody added", r.duplicates, r.losses, r.failedPresent, r.extraLines)
	}
	if r.wrongCarts > 0 || r.guestCarts > 0 || r.strangerCarts > 0 {
		t.Errorf("adds landed in other carts: %d answers with another cart, %d guest carts, %d carts of strangers in the database", r.wrongCarts, r.guestCarts, r.strangerCarts)
	}
	if len(r.anomalies) > 0 {
		t.Errorf("%d answers broke a rule (see the anomalies above)", len(r.anomalies))
	}
	if len(r.setupErrs) > 0 {
		t.Errorf("%d accounts could not be registered and logged in within %v", len(r.setupErrs), addBudget)
	}
	if len(r.problems) > 0 && r.duplicates+r.losses+r.failedPresent+r.extraLines+r.guestCarts+r.strangerCarts == 0 {
		t.Errorf("%d carts could not be checked", len(r.problems))
	}
	if want := r.acknowledged; r.dbLines != want && r.guestCarts+r.failedPresent+r.extraLines+r.duplicates+r.losses == 0 {
		t.Errorf("the database holds %d cart lines, want %d (one per acknowledged add)", r.dbLines, want)
	}
	if r.acknowledged == 0 {
		t.Errorf("no add was acknowledged")
	}
	if t.Failed() {
		for _, l := range c.logLines(10, "level=ERROR", "level=WARN", "panic") {
			t.Log("log: " + l)
		}
	}
}

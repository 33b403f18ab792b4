package storefront_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/storefront"
)

// Logins are limited per client and per account, registrations per
// client; a refused attempt is 429 with Retry-After, on the API and the
// pages alike, and never reaches the auth service.
func TestRateLimits(t *testing.T) {
	f := newShop(t, storefront.Options{})
	_, srv, _ := f.newFront(t, storefront.Options{
		RateLimits: storefront.RateLimits{
			Login:        storefront.Rate{Burst: 4, Per: time.Hour},
			LoginAccount: storefront.Rate{Burst: 2, Per: time.Hour},
			Register:     storefront.Rate{Burst: 2, Per: time.Hour},
		},
		ClientIP: storefront.HeaderIP("X-Test-Client"),
	})
	from := func(string) *browser { return newBrowser(t, srv.URL) } // the client is told by X-Test-Client
	login := func(b *browser, ip, email, password string) (int, *http.Response, []byte) {
		resp, body := b.do("POST", "/api/login", map[string]string{"email": email, "password": password}, "X-Test-Client", ip)
		return resp.StatusCode, resp, body
	}
	limited := func(what string, resp *http.Response, body []byte) {
		t.Helper()
		s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || s < 1 || s > 3600 || !strings.Contains(string(body), `"rate_limited"`) {
			t.Errorf("%s: %d Retry-After %q %s, want 429 rate_limited", what, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}

	// Two guesses at the admin's password, then the account is closed to
	// everyone for a while, the right password included.
	a := from("192.0.2.1")
	for i := range 2 {
		if code, _, body := login(a, "192.0.2.1", adminEmail, "guess-"+strconv.Itoa(i)); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, code, body)
		}
	}
	_, resp, body := login(a, "192.0.2.1", adminEmail, adminPassword)
	limited("a third login at the account", resp, body)
	_, resp, body = login(from("198.51.100.7"), "198.51.100.7", strings.ToUpper(adminEmail), adminPassword)
	limited("the account from another client", resp, body)

	// The client has attempts left for other accounts, then none.
	if code, _, body := login(a, "192.0.2.1", "nobody@front.test", "whatever-pass"); code != http.StatusUnauthorized {
		t.Fatalf("another account: %d %s", code, body)
	}
	_, resp, body = login(a, "192.0.2.1", "nobody2@front.test", "whatever-pass")
	limited("a fifth login from one client", resp, body)

	// An IPv6 client is its /64.
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aaaa::3", "2001:db8:1:2::4"} {
		if code, _, body := login(a, ip, "v6-"+strconv.Itoa(i)+"@front.test", "whatever-pass"); code != http.StatusUnauthorized {
			t.Fatalf("IPv6 login %d: %d %s", i, code, body)
		}
	}
	_, resp, body = login(a, "2001:db8:1:2::ffff", "v6-x@front.test", "whatever-pass")
	limited("a fifth login from one IPv6 /64", resp, body)
	if code, _, body := login(a, "2001:db8:1:3::1", "v6-y@front.test", "whatever-pass"); code != http.StatusUnauthorized {
		t.Errorf("another /64: %d %s", code, body)
	}

	// Registrations: two per client, on the API and the form alike.
	r := from("203.0.113.9")
	for i := range 2 {
		resp, body := r.do("POST", "/api/register", map[string]string{"email": "rl" + strconv.Itoa(i) + "@front.test", "password": "rate-password"}, "X-Test-Client", "203.0.113.9")
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("registration %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body = r.do("POST", "/api/register", map[string]string{"email": "rl9@front.test", "password": "rate-password"}, "X-Test-Client", "203.0.113.9")
	limited("a third registration", resp, body)
	code, bodyPage := r.page("/register")
	if code != http.StatusOK {
		t.Fatalf("register page: %d", code)
	}
	fields := forms(bodyPage, "/register")
	if len(fields) == 0 {
		t.Fatal("no register form")
	}
	v := fields[0]
	v.Set("email", "rl-form@front.test")
	v.Set("password", "rate-password")
	req, _ := http.NewRequest("POST", srv.URL+"/register", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Client", "203.0.113.9")
	resp, body = r.doRequest(req)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "Too many attempts") {
		t.Errorf("register form past the limit: %d Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// The refused registrations created nothing.
	if code, _, _ := login(from("192.0.2.200"), "192.0.2.200", "rl9@front.test", "rate-password"); code != http.StatusUnauthorized {
		t.Errorf("a refused registration created the account: login %d", code)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]storefront.Rate{
		"":         {},
		"off":      {Off: true},
		"20/1m":    {Burst: 20, Per: time.Minute},
		" 5/30s ":  {Burst: 5, Per: 30 * time.Second},
		"1000/24h": {Burst: 1000, Per: 24 * time.Hour},
	} {
		if got, err := storefront.ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"20", "0/1m", "-1/1m", "20/0s", "20/-1m", "x/1m", "20/forever", "20/25h", "2000000/1m", "on"} {
		if _, err := storefront.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestHeaderIP(t *testing.T) {
	ip := storefront.HeaderIP("X-Forwarded-For")
	for header, want := range map[string]string{
		"":                        "10.0.0.1",
		"192.0.2.1":               "192.0.2.1",
		"192.0.2.1, 198.51.100.2": "198.51.100.2", // the proxy appended the last
		"junk":                    "10.0.0.1",
		"2001:db8::1":             "2001:db8::1",
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:5555"
		if header != "" {
			r.Header.Set("X-Forwarded-For", header)
		}
		if got := ip(r); got != want {
			t.Errorf("X-Forwarded-For %q: %q, want %q", header, got, want)
		}
	}
}

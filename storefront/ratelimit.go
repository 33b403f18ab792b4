package storefront

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/shopbus/shopbus/transport"
)

// CodeRateLimited is the error code of a 429 answer: too many attempts
// from one client or at one account; Retry-After says when to try again.
const CodeRateLimited transport.Code = "rate_limited"

// Rate is how often an action may be taken: Burst at once, then one more
// every Per/Burst. A zero Rate means the default; Off disables the limit.
type Rate struct {
	Burst int
	Per   time.Duration
	Off   bool
}

// RateLimits bound the attempts that cost the shop a password hash
// (bcrypt), and the guesses at one account's password. Zero fields mean
// the defaults (DefaultRateLimits).
type RateLimits struct {
	// Login bounds logins per client (IP address; an IPv6 /64).
	Login Rate
	// LoginAccount bounds logins per account (e-mail address), whatever
	// the client.
	LoginAccount Rate
	// Register bounds registrations per client.
	Register Rate
}

// DefaultRateLimits are the limits of a storefront that sets none: enough
// for people, a few bcrypt hashes per second for a client that floods.
var DefaultRateLimits = RateLimits{
	Login:        Rate{Burst: 20, Per: time.Minute},
	LoginAccount: Rate{Burst: 10, Per: time.Minute},
	Register:     Rate{Burst: 10, Per: time.Minute},
}

// MaxRateKeys bounds the clients (or accounts) a limit remembers: past it,
// those whose allowance is whole again are forgotten first, then others.
const MaxRateKeys = 1 << 16

// ParseRate reads a Rate written as "<burst>/<duration>" ("20/1m": twenty
// at once, then one every 3 s) or "off". The empty string is the zero
// Rate (the default).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return Rate{}, nil
	case "off":
		return Rate{Off: true}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	burst, err := strconv.Atoi(n)
	per, derr := time.ParseDuration(d)
	if !ok || err != nil || derr != nil || burst < 1 || burst > 1e6 || per <= 0 || per > 24*time.Hour {
		return Rate{}, fmt.Errorf("%q is not a rate such as 20/1m (1 to 1,000,000 per up to 24h) or off", s)
	}
	return Rate{Burst: burst, Per: per}, nil
}

// RateLimitError is the error of a refused attempt.
type RateLimitError struct {
	// What was refused: "login" or "registration".
	What string
	// RetryAfter is when the next attempt will be allowed.
	RetryAfter time.Duration
}

// Error says what was refused and for how long.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many %s attempts: try again in %d s", e.What, retrySeconds(e.RetryAfter))
}

// retrySeconds is d in whole seconds, rounded up, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// keyedLimiter is a token bucket per key, with at most MaxRateKeys keys.
type keyedLimiter struct {
	rate Rate
	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

func newKeyedLimiter(r, def Rate) *keyedLimiter {
	if r == (Rate{}) {
		r = def
	}
	return &keyedLimiter{rate: r, keys: map[string]*rate.Limiter{}}
}

// allow takes one attempt for key at now, or says how long to wait.
func (l *keyedLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	if l.rate.Off {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.keys[key]
	if lim == nil {
		l.makeRoom(now)
		lim = rate.NewLimiter(rate.Every(l.rate.Per/time.Duration(l.rate.Burst)), l.rate.Burst)
		l.keys[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // a refused attempt costs nothing
		return d, false
	}
	return 0, true
}

// makeRoom forgets keys once MaxRateKeys are held: first those whose
// allowance is whole again (they carry no information), then, under a
// flood of new keys, any eighth of them.
func (l *keyedLimiter) makeRoom(now time.Time) {
	if len(l.keys) < MaxRateKeys {
		return
	}
	for k, lim := range l.keys {
		if lim.TokensAt(now) >= float64(l.rate.Burst) {
			delete(l.keys, k)
		}
	}
	for k := range l.keys {
		if len(l.keys) < MaxRateKeys*7/8 {
			break
		}
		delete(l.keys, k)
	}
}

// limits are a storefront's rate limits.
type limits struct {
	login, loginAccount, register *keyedLimiter
	clientIP                      func(*http.Request) string
	now                           func() time.Time
}

func newLimits(o RateLimits, clientIP func(*http.Request) string, now func() time.Time) *limits {
	if clientIP == nil {
		clientIP = RemoteIP
	}
	return &limits{
		login:        newKeyedLimiter(o.Login, DefaultRateLimits.Login),
		loginAccount: newKeyedLimiter(o.LoginAccount, DefaultRateLimits.LoginAccount),
		register:     newKeyedLimiter(o.Register, DefaultRateLimits.Register),
		clientIP:     clientIP,
		now:          now,
	}
}

// admitLogin takes a login attempt at email from r's client.
func (l *limits) admitLogin(r *http.Request, email string) error {
	now := l.now()
	if d, ok := l.login.allow(clientKey(l.clientIP(r)), now); !ok {
		return &RateLimitError{What: "login", RetryAfter: d}
	}
	if d, ok := l.loginAccount.allow(strings.ToLower(strings.TrimSpace(email)), now); !ok {
		return &RateLimitError{What: "login", RetryAfter: d}
	}
	return nil
}

// admitRegister takes a registration attempt from r's client.
func (l *limits) admitRegister(r *http.Request) error {
	if d, ok := l.register.allow(clientKey(l.clientIP(r)), l.now()); !ok {
		return &RateLimitError{What: "registration", RetryAfter: d}
	}
	return nil
}

// RemoteIP is the client address of r as the server saw it (the
// connection's peer): the default of Options.ClientIP.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// HeaderIP returns an Options.ClientIP that reads the client's address from
// header (the last address of a list, as a proxy appends it), falling back
// to RemoteIP: for a storefront behind a proxy that sets the header. Any
// client can send the header, so use it only behind such a proxy.
func HeaderIP(header string) func(*http.Request) string {
	return func(r *http.Request) string {
		v := r.Header.Values(header)
		if len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return a.String()
			}
		}
		return RemoteIP(r)
	}
}

// clientKey is the limit's key for a client address: an IPv6 client is
// its /64 (one subscriber's network), anything else itself.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

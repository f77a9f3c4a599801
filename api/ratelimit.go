package api

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/berth-dev/berth/store"
)

// AuthLimits bound failed credential checks (bearer tokens, API keys, the
// admin token at sign-in, GitHub sign-in callbacks). Only failures count,
// so a client with a valid key is never slowed down by its own requests.
type AuthLimits struct {
	PerIP  int           // failures one address may make per Window (also the burst); default 10
	Global int           // failures all addresses together may make per Window; default 100
	Window time.Duration // default one minute
	// Memory is how long an address that failed is remembered (default ten
	// minutes): while the global budget is spent, such addresses are
	// refused, and addresses with no recent failure are still checked, so
	// an attack from many addresses cannot lock out clients with a valid key.
	Memory time.Duration
	// MaxTracked bounds the table of addresses (default 65536); when it is
	// full, untracked addresses are held to the global budget.
	MaxTracked int
}

func (l AuthLimits) withDefaults() AuthLimits {
	if l.PerIP <= 0 {
		l.PerIP = 10
	}
	if l.Global <= 0 {
		l.Global = 100
	}
	if l.Window <= 0 {
		l.Window = time.Minute
	}
	if l.Memory <= 0 {
		l.Memory = 10 * time.Minute
	}
	if l.MaxTracked <= 0 {
		l.MaxTracked = 65536
	}
	return l
}

// authGuard counts failed credential checks per client address and in all.
// Checks under way count as failures until they end, so a burst of parallel
// guesses is held to the same budget as guesses one after another.
type authGuard struct {
	lim    AuthLimits
	perIP  rate.Limit
	global *rate.Limiter
	now    func() time.Time

	mu            sync.Mutex
	ips           map[string]*ipFailures
	globalPending int
	lastSweep     time.Time
}

type ipFailures struct {
	failures   *rate.Limiter
	pending    int       // checks under way
	lastFailed time.Time // zero: no failure remembered
}

func newAuthGuard(l AuthLimits, now func() time.Time) *authGuard {
	l = l.withDefaults()
	return &authGuard{
		lim:    l,
		perIP:  rate.Limit(float64(l.PerIP) / l.Window.Seconds()),
		global: rate.NewLimiter(rate.Limit(float64(l.Global)/l.Window.Seconds()), l.Global),
		now:    now,
		ips:    map[string]*ipFailures{},
	}
}

// authTicket is one credential check let through; done must be called
// with its outcome.
type authTicket struct {
	g   *authGuard
	key string
	ip  *ipFailures // nil when the table was full
}

// begin lets a credential check from key (see clientKey) go ahead, or says
// how long the client must wait.
func (g *authGuard) begin(key string) (authTicket, time.Duration, bool) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.ips[key]
	if f == nil {
		g.sweep(now)
		if len(g.ips) < g.lim.MaxTracked {
			f = &ipFailures{failures: rate.NewLimiter(g.perIP, g.lim.PerIP)}
			g.ips[key] = f
		}
	}
	if f != nil {
		if wait := waitFor(f.failures, now, f.pending); wait > 0 {
			return authTicket{}, wait, false
		}
	}
	if f == nil || !f.lastFailed.IsZero() {
		if wait := waitFor(g.global, now, g.globalPending); wait > 0 {
			return authTicket{}, wait, false
		}
	}
	if f != nil {
		f.pending++
	}
	g.globalPending++
	return authTicket{g: g, key: key, ip: f}, 0, true
}

// done records the outcome of the check.
func (t authTicket) done(failed bool) {
	g := t.g
	if g == nil {
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.globalPending--
	if failed {
		g.global.AllowN(now, 1)
	}
	f := t.ip
	if f == nil {
		return
	}
	f.pending--
	if failed {
		f.failures.AllowN(now, 1)
		f.lastFailed = now
	}
	if f.pending == 0 && f.lastFailed.IsZero() {
		delete(g.ips, t.key) // nothing to remember about a client that never failed
	}
}

// sweep forgets addresses whose last failure is older than Memory; it runs
// when the table is full, and otherwise at most once per Memory.
func (g *authGuard) sweep(now time.Time) {
	if len(g.ips) < g.lim.MaxTracked && now.Sub(g.lastSweep) < g.lim.Memory {
		return
	}
	g.lastSweep = now
	for key, f := range g.ips {
		if f.pending == 0 && now.Sub(f.lastFailed) > g.lim.Memory {
			delete(g.ips, key)
		}
	}
}

// waitFor is how long until l has a token beyond the pending checks (0: now).
func waitFor(l *rate.Limiter, now time.Time, pending int) time.Duration {
	missing := 1 - (l.TokensAt(now) - float64(pending))
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(l.Limit()) * float64(time.Second))
}

// clientKey is the address a request came from: the connection's, never a
// header (berth is the edge). IPv6 clients are counted per /64, the block
// one subscriber usually holds.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.String()
		}
	}
	return addr.String()
}

// beginCredentialCheck lets a credential check of this request go ahead,
// or answers 429 with Retry-After.
func (s *Handler) beginCredentialCheck(c echo.Context) (authTicket, error) {
	t, wait, ok := s.guard.begin(clientKey(c.Request()))
	if ok {
		return t, nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return t, store.Errorf(store.ETOOMANY, "Too many failed sign-in attempts; try again in %d seconds.", secs)
}

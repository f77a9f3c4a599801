package api

import (
	"net/http"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestAuthGuardParallelGuesses: checks under way count against the budget,
// so a burst of parallel guesses gets no more than guesses in a row.
func TestAuthGuardParallelGuesses(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	g := newAuthGuard(AuthLimits{PerIP: 10}, clock.now)
	var open []authTicket
	for i := range 15 {
		tk, wait, ok := g.begin("192.0.2.1")
		if ok != (i < 10) {
			t.Fatalf("check %d under way at once: let through %v", i+1, ok)
		}
		if ok {
			open = append(open, tk)
		} else if wait <= 0 {
			t.Fatalf("refused check %d: wait %v", i+1, wait)
		}
	}
	for _, tk := range open {
		tk.done(true)
	}
	if _, wait, ok := g.begin("192.0.2.1"); ok || wait < 5*time.Second || wait > 6*time.Second {
		t.Fatalf("after 10 failures: ok=%v wait=%v, want a refusal of about 6s (10 per minute)", ok, wait)
	}
	clock.t = clock.t.Add(6 * time.Second)
	tk, _, ok := g.begin("192.0.2.1")
	if !ok {
		t.Fatal("one more check is not let through after 6s")
	}
	tk.done(false)
}

// TestAuthGuardRemembersOnlyFailures: clients that never fail leave nothing
// behind; addresses that failed are forgotten after Memory; the table never
// grows past MaxTracked.
func TestAuthGuardRemembersOnlyFailures(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	g := newAuthGuard(AuthLimits{PerIP: 10, Global: 1000, Memory: 10 * time.Minute, MaxTracked: 3}, clock.now)
	for range 100 {
		tk, _, ok := g.begin("192.0.2.1")
		if !ok {
			t.Fatal("a client that never fails is refused")
		}
		tk.done(false)
	}
	if len(g.ips) != 0 {
		t.Fatalf("%d addresses remembered after successes only", len(g.ips))
	}
	for _, ip := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"} {
		if tk, _, ok := g.begin(ip); ok {
			tk.done(true)
		}
	}
	if len(g.ips) > 3 {
		t.Fatalf("%d addresses remembered, want at most 3", len(g.ips))
	}
	clock.t = clock.t.Add(11 * time.Minute)
	if tk, _, ok := g.begin("192.0.2.6"); ok {
		tk.done(true)
	}
	if len(g.ips) != 1 {
		t.Fatalf("%d addresses remembered after Memory passed, want only the newest", len(g.ips))
	}
}

func TestClientKey(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":      "2001:db8:1:3::/64",
	} {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}}
		if got := clientKey(r); got != want {
			t.Errorf("clientKey(%s) = %s, want %s", remote, got, want)
		}
	}
}

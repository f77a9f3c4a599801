package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// A berth with no administrator (no BERTH_ADMIN_TOKEN, no admin account)
// prints a one-time setup link at start; whoever opens it first becomes
// the administrator. The link is 32 random bytes, kept only as a hash in
// memory, single-use and short-lived; every start while there is still no
// administrator makes a new one. Nothing else about the instance is open
// meanwhile.
const (
	defaultSetupTTL = time.Hour
	// setupGrantTTL bounds a GitHub sign-in started from the setup page.
	setupGrantTTL = 10 * time.Minute
)

// setupLink is the current setup link and the GitHub sign-in it started.
type setupLink struct {
	mu           sync.Mutex
	hash         [32]byte // zero: no link was made
	expires      time.Time
	used         bool
	grant        [32]byte // zero: no GitHub sign-in under way
	grantExpires time.Time
}

type setupState int

const (
	setupUnknown setupState = iota // not this berth's link: a guess
	setupGone                      // the link, used or expired
	setupOpen
)

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// issue makes a new link valid for ttl and returns its token.
func (l *setupLink) issue(now time.Time, ttl time.Duration) string {
	token := randomToken()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hash, l.expires, l.used = sha256.Sum256([]byte(token)), now.Add(ttl), false
	return token
}

func (l *setupLink) stateLocked(token string, now time.Time) setupState {
	sum := sha256.Sum256([]byte(token))
	if l.hash == ([32]byte{}) || subtle.ConstantTimeCompare(sum[:], l.hash[:]) != 1 {
		return setupUnknown
	}
	if l.used || !now.Before(l.expires) {
		return setupGone
	}
	return setupOpen
}

// state says what token is.
func (l *setupLink) state(token string, now time.Time) setupState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stateLocked(token, now)
}

// pending reports whether an unused, unexpired link exists.
func (l *setupLink) pending(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hash != ([32]byte{}) && !l.used && now.Before(l.expires)
}

// consume uses the link up; it reports false when token is not an open link.
func (l *setupLink) consume(token string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stateLocked(token, now) != setupOpen {
		return false
	}
	l.used = true
	return true
}

// release opens a consumed link again, when making the administrator
// failed half way.
func (l *setupLink) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used = false
}

// newGrant starts a GitHub sign-in from the open link token and returns
// the grant its callback must bring back (in a cookie); "" when the link
// is not open.
func (l *setupLink) newGrant(token string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stateLocked(token, now) != setupOpen {
		return ""
	}
	grant := randomToken()
	l.grant, l.grantExpires = sha256.Sum256([]byte(grant)), now.Add(setupGrantTTL)
	return grant
}

// takeGrant uses the link up for the GitHub sign-in that brings grant back.
func (l *setupLink) takeGrant(grant string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := sha256.Sum256([]byte(grant))
	if grant == "" || l.grant == ([32]byte{}) || subtle.ConstantTimeCompare(sum[:], l.grant[:]) != 1 ||
		!now.Before(l.grantExpires) || l.used || !now.Before(l.expires) {
		return false
	}
	l.used, l.grant = true, [32]byte{}
	return true
}

// offerSetup makes the setup link when berth has no administrator.
func (s *Handler) offerSetup(ctx context.Context) error {
	s.keySignIn = s.cfg.AdminToken == ""
	if s.cfg.AdminToken != "" {
		return nil
	}
	has, err := s.deps.DB.HasAdmin(ctx)
	if err != nil || has {
		return err
	}
	ttl := s.cfg.SetupLinkTTL
	if ttl <= 0 {
		ttl = defaultSetupTTL
	}
	token := s.setup.issue(time.Now(), ttl)
	s.setupURL = s.public.Scheme + "://" + s.public.Host + "/setup/" + token
	return nil
}

// SetupURL is the one-time link that makes this berth's administrator, or
// "" when it has one. It is made by Start.
func (s *Handler) SetupURL() string { return s.setupURL }

// loopback reports whether the request came over a loopback connection
// (the connection's address, never a header).
func loopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package serving

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/internal/page"
	"github.com/berth-dev/berth/store"
)

// domainTTL bounds how long a change nobody reported (every change through
// berth calls Invalidate) goes unseen.
const domainTTL = 30 * time.Second

// domainTable holds every custom domain in memory: Match asks it for each
// request to a host outside the apps domain, so it must cost no query.
type domainTable struct {
	db    *store.DB
	log   *slog.Logger
	group singleflight.Group

	mu     sync.RWMutex
	byName map[string]*store.Domain // shared by every reader: never modified
	until  time.Time                // when byName must be loaded again
	gen    uint64                   // bumped by invalidate, so a load in flight cannot store a stale table
}

func newDomainTable(db *store.DB, log *slog.Logger) *domainTable {
	return &domainTable{db: db, log: log}
}

// get returns host's custom domain (host already without port, lowercase),
// or nil when it is none.
func (t *domainTable) get(host string) *store.Domain {
	if t == nil {
		return nil // a handler made without a store (tests of host names)
	}
	t.mu.RLock()
	m, fresh := t.byName, time.Now().Before(t.until)
	t.mu.RUnlock()
	if !fresh {
		m = t.load()
	}
	return m[host]
}

// load reads the table again; concurrent callers share one query. On a
// failure the old table stays, for another second.
func (t *domainTable) load() map[string]*store.Domain {
	v, _, _ := t.group.Do("", func() (any, error) {
		t.mu.RLock()
		gen, old := t.gen, t.byName
		t.mu.RUnlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		list, err := t.db.AllDomains(ctx)
		t.mu.Lock()
		defer t.mu.Unlock()
		if err != nil {
			t.log.Error("load custom domains", slog.Any("error", err))
			if t.gen == gen {
				t.until = time.Now().Add(time.Second)
			}
			return old, nil
		}
		m := make(map[string]*store.Domain, len(list))
		for _, d := range list {
			m[d.Name] = d
		}
		if t.gen == gen {
			t.byName, t.until = m, time.Now().Add(domainTTL)
		}
		return m, nil
	})
	return v.(map[string]*store.Domain)
}

func (t *domainTable) invalidate() {
	t.mu.Lock()
	t.until = time.Time{}
	t.gen++
	t.mu.Unlock()
}

// VerifiedDomain reports whether host (as in a Host header or a TLS server
// name) is a custom domain whose DNS was verified: one berth serves, and
// may get a certificate for.
func (h *Handler) VerifiedDomain(host string) bool {
	d := h.domains.get(StripPort(host))
	return d != nil && d.Verified()
}

// domainKey is the host cache's key of a custom domain's project: every
// domain of a project serves its production deployment.
func domainKey(d *store.Domain) string { return "=" + d.ProjectID }

// serveDomain answers what a custom domain answers without its project's
// deployment: a 404 page until it is verified, and its redirect. It
// reports whether it answered.
func (h *Handler) serveDomain(w http.ResponseWriter, r *http.Request, d *store.Domain) bool {
	if !d.Verified() {
		page.Write(w, r, http.StatusNotFound, "This domain is not verified yet",
			"Its DNS records have not been seen pointing at this server. Its owner can check them on the project's Domains panel.")
		return true
	}
	if d.RedirectTo == "" {
		return false
	}
	scheme, host := "http", d.RedirectTo
	if r.TLS != nil {
		scheme = "https"
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil && port != "" {
		host += ":" + port
	}
	http.Redirect(w, r, scheme+"://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	return true
}

package serving

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// hostTTL is how long a host's deployment is trusted without asking
// SQLite again. A ready deployment never changes what it serves, but a
// project host follows the production pointer (promote) and a preview can
// be retired or deleted: Invalidate makes those visible at once, the TTL
// bounds the staleness of any change nobody reported.
const hostTTL = time.Second

// hostCache remembers which deployment a host label resolved to, so that a
// busy host costs no database query per request. Only settled deployments
// (ready, failed, cancelled) are kept: one still building changes state
// any moment and is looked up every time.
type hostCache struct {
	ttl   time.Duration
	group singleflight.Group

	mu      sync.RWMutex
	entries map[string]hostEntry
	gen     uint64 // bumped by invalidate, so a lookup in flight cannot store a stale answer
}

type hostEntry struct {
	d       *store.Deployment // shared by every reader: never modified
	expires time.Time
}

// maxHosts bounds the cache; past it, the cache starts over.
const maxHosts = 4096

func newHostCache(ttl time.Duration) *hostCache {
	return &hostCache{ttl: ttl, entries: map[string]hostEntry{}}
}

// resolve returns label's deployment from the cache or from lookup;
// concurrent misses for one label share one lookup.
func (c *hostCache) resolve(ctx context.Context, label string, lookup func(context.Context, string) (*store.Deployment, error)) (*store.Deployment, error) {
	now := time.Now()
	c.mu.RLock()
	e, ok := c.entries[label]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.d, nil
	}
	// A lookup joins only one begun since the last invalidate: one begun
	// before may have read the old production deployment, and a request
	// that starts after a promotion returned must not get that answer.
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	v, err, _ := c.group.Do(label+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		d, err := lookup(context.WithoutCancel(ctx), label)
		if err != nil {
			return nil, err
		}
		if cacheable(d.State) {
			c.mu.Lock()
			if c.gen == gen {
				if len(c.entries) >= maxHosts {
					c.entries = map[string]hostEntry{}
				}
				c.entries[label] = hostEntry{d: d, expires: time.Now().Add(c.ttl)}
			}
			c.mu.Unlock()
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*store.Deployment), nil
}

func cacheable(state string) bool {
	return state == model.StateReady || state == model.StateError || state == model.StateCancelled
}

// invalidate forgets every host.
func (c *hostCache) invalidate() {
	c.mu.Lock()
	c.entries = map[string]hostEntry{}
	c.gen++
	c.mu.Unlock()
}

// Invalidate makes the next request for every host look its deployment up
// again. Call it when what a host serves changes: a promotion (the project
// host's production deployment), a retired or deleted deployment, a custom
// domain added, verified, redirected or removed.
func (h *Handler) Invalidate() {
	h.domains.invalidate()
	h.hosts.invalidate()
}

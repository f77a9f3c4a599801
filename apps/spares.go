package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/store"
)

// serverPort is the port a server container listens on.
const serverPort = 3000

// spareSet holds the stopped containers of servers that went idle (or were
// evicted to make room), one per deployment: starting one again skips
// creating a container and copying the app's bundle into it, which is most
// of a cold start. A spare is used only while the deployment's runtime
// environment is what it was created with. Past its cap, the least recently
// stopped spares are removed.
type spareSet struct {
	max int

	mu      sync.Mutex
	all     map[string]spare         // by deployment id
	parking map[string]chan struct{} // deployments whose server is being stopped to become a spare
}

type spare struct {
	containerID string
	env         string // hash of the runtime environment it was created with
	stopped     time.Time
}

func newSpareSet(max int) *spareSet {
	return &spareSet{max: max, all: map[string]spare{}, parking: map[string]chan struct{}{}}
}

// envHash identifies a runtime environment.
func envHash(env []string) string {
	h := sha256.New()
	for _, kv := range env {
		h.Write([]byte(kv))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// take removes and returns deploymentID's spare, first waiting for the
// deployment's server to finish stopping if it is becoming one.
func (ss *spareSet) take(ctx context.Context, deploymentID string) (spare, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for ss.parking[deploymentID] != nil {
		ch := ss.parking[deploymentID]
		ss.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			ss.mu.Lock()
			return spare{}, false
		}
		ss.mu.Lock()
	}
	sp, ok := ss.all[deploymentID]
	delete(ss.all, deploymentID)
	return sp, ok
}

// reserve marks deploymentID's server as becoming a spare, so that a
// request arriving meanwhile waits for it rather than starting another
// container. The caller must call settle.
func (ss *spareSet) reserve(deploymentID string) chan struct{} {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ch := make(chan struct{})
	if ss.parking[deploymentID] == nil {
		ss.parking[deploymentID] = ch
	}
	return ch
}

// settle ends a reservation, keeping sp when it is not nil, and returns the
// spares to remove (those that no longer fit, or that sp replaces).
func (ss *spareSet) settle(deploymentID string, ch chan struct{}, sp *spare) []spare {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.parking[deploymentID] == ch {
		delete(ss.parking, deploymentID)
	}
	close(ch)
	if sp == nil {
		return nil
	}
	return ss.put(deploymentID, *sp)
}

// put keeps sp for deploymentID and returns the spares that no longer fit
// (or that sp replaces). ss.mu is held.
func (ss *spareSet) put(deploymentID string, sp spare) []spare {
	var out []spare
	if old, ok := ss.all[deploymentID]; ok {
		out = append(out, old)
	}
	ss.all[deploymentID] = sp
	if len(ss.all) > ss.max {
		ids := make([]string, 0, len(ss.all))
		for id := range ss.all {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ss.all[ids[i]].stopped.Before(ss.all[ids[j]].stopped) })
		for _, id := range ids[:len(ss.all)-ss.max] {
			out = append(out, ss.all[id])
			delete(ss.all, id)
		}
	}
	return out
}

// drain removes and returns every spare.
func (ss *spareSet) drain() []spare {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]spare, 0, len(ss.all))
	for _, sp := range ss.all {
		out = append(out, sp)
	}
	ss.all = map[string]spare{}
	return out
}

// park stops an idle (or evicted) server and keeps its container as the
// deployment's spare; if it cannot be stopped cleanly it is removed.
// reservation comes from spares.reserve, taken before n left s.running.
func (s *Manager) park(ctx context.Context, n *app, reservation chan struct{}) {
	var sp *spare
	if err := s.sb.StopApp(ctx, n.containerID); err != nil {
		s.log.Warn("stop server container; removing it", slog.Any("error", err))
	} else {
		sp = &spare{containerID: n.containerID, env: n.env, stopped: time.Now()}
	}
	for _, old := range s.spares.settle(n.deploymentID, reservation, sp) {
		s.removeContainer(ctx, old.containerID)
	}
	if sp == nil {
		s.removeContainer(ctx, n.containerID)
	}
}

// restartSpare starts deploymentID's spare again when it was made for the
// environment env, waits for it to answer HTTP and registers it. It reports
// false when there is no usable spare; the caller then starts a new
// container.
func (s *Manager) restartSpare(ctx context.Context, d *store.Deployment, env string) (*app, bool) {
	sp, ok := s.spares.take(ctx, d.ID)
	if !ok {
		return nil, false
	}
	if sp.env != env {
		s.removeContainer(ctx, sp.containerID) // its environment changed since
		return nil, false
	}
	srv, err := s.sb.RestartApp(ctx, sp.containerID)
	if err == nil {
		s.starts.Add(1)
		err = s.waitHTTP(ctx, srv)
	}
	if err != nil {
		s.log.Warn("restart spare server; starting a new one", slog.String("deployment", d.ID), slog.Any("error", err))
		s.removeContainer(ctx, sp.containerID)
		return nil, false
	}
	return s.register(d.ID, srv, env, "restarted server"), true
}

// dropSpare removes deploymentID's spare, if any.
func (s *Manager) dropSpare(ctx context.Context, deploymentID string) {
	if sp, ok := s.spares.take(ctx, deploymentID); ok {
		s.removeContainer(ctx, sp.containerID)
	}
}

func (s *Manager) removeContainer(ctx context.Context, id string) {
	if err := s.sb.Remove(ctx, id); err != nil {
		s.log.Warn("remove server container", slog.Any("error", err))
	}
}

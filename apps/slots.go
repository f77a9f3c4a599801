package apps

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// MaxRunning slots bound the server containers alive at once: a server
// holds one from before its container starts until after it has stopped,
// so one that is starting, running, or stopping all count. s.mu guards the
// counts.

// errNoSlot: every slot stayed held by a server with a request in flight
// for StartWait.
var errNoSlot = errors.New("every app server slot is in use")

// errClosed: the manager is shutting down.
var errClosed = errors.New("app servers are shutting down")

// takeSlot reserves room for one more server: a free slot, or the slot of
// the least recently used server with no request in flight, which it
// stops first (keeping it as a spare). With neither, it waits up to
// StartWait for one. The caller starts a server in the slot and then
// calls register, or gives the slot back with freeSlot.
func (s *Manager) takeSlot(ctx context.Context) error {
	timer := time.NewTimer(s.cfg.StartWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.running)+s.starting+s.stopping < s.cfg.MaxRunning {
			s.starting++
			s.mu.Unlock()
			return nil
		}
		if v := s.leastRecentlyUsedIdle(); v != nil {
			// v's slot passes to the caller, whose container starts only
			// once v's has stopped.
			delete(s.running, v.deploymentID)
			reservation := s.spares.reserve(v.deploymentID)
			s.starting++
			s.mu.Unlock()
			s.log.Info("evicted server", slog.String("deployment", v.deploymentID))
			s.park(ctx, v, reservation)
			return nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return errNoSlot
		case <-s.closed:
			return errClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// leastRecentlyUsedIdle returns the running server used longest ago that
// has no request in flight, or nil. s.mu is held.
func (s *Manager) leastRecentlyUsedIdle() *app {
	var lru *app
	for _, n := range s.running {
		if n.inflight.Load() > 0 {
			continue
		}
		if lru == nil || n.lastUsed.Load() < lru.lastUsed.Load() {
			lru = n
		}
	}
	return lru
}

// freeSlot gives back a slot taken for a start that failed.
func (s *Manager) freeSlot() {
	s.mu.Lock()
	s.starting--
	s.changedLocked()
	s.mu.Unlock()
}

// stopped gives back the slot of a server that left s.running, once its
// container has stopped or been removed.
func (s *Manager) stopped() {
	s.mu.Lock()
	s.stopping--
	s.changedLocked()
	s.mu.Unlock()
}

// changedLocked wakes the takeSlot calls waiting: a slot was freed, or a
// server's last request ended. s.mu is held.
func (s *Manager) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

package apps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/berth-dev/berth/store"
)

// Warm starts d's server, or joins a start already under way, and waits
// until it answers healthPath with a status below 500 or ctx ends. A
// deployment warmed this way takes its first requests on a running server;
// the server then stops when idle like any other.
func (s *Manager) Warm(ctx context.Context, d *store.Deployment, healthPath string) error {
	n, err := s.acquire(ctx, d)
	if errors.Is(err, errNoSlot) {
		return errors.New("every app server this berth may run is busy, so this one could not start")
	}
	if err != nil {
		return err
	}
	defer s.release(n)
	return s.waitHealthy(ctx, n, healthPath)
}

// waitHealthy asks n for path until it answers below 500. A server that
// answered HTTP once may still fail its own checks (a database it needs,
// a cache it fills): the health path is the app's word that it can serve.
func (s *Manager) waitHealthy(ctx context.Context, n *app, path string) error {
	client := &http.Client{Transport: s.transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	last := "no answer"
	for i := 0; ; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.addr+path, nil)
		if err != nil {
			return fmt.Errorf("health path %q: %w", path, err)
		}
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				return nil
			}
			last = fmt.Sprintf("it answered %d %s", res.StatusCode, http.StatusText(res.StatusCode))
		} else if ctx.Err() == nil {
			last = "it did not answer: " + err.Error()
		}
		if i%20 == 19 {
			if ok, err := s.sb.Running(ctx, n.containerID); err == nil && !ok {
				tail, _ := s.sb.Tail(context.WithoutCancel(ctx), n.containerID, 20)
				return fmt.Errorf("the app's server exited:\n%s", tail)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the app's server was not healthy in time: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

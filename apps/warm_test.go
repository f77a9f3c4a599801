package apps

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWarmThenConcurrentFirstRequests: after Warm, the server runs and
// answers its health path, so 20 concurrent first requests are all served
// by it: none starts a container, none waits for one.
func TestWarmThenConcurrentFirstRequests(t *testing.T) {
	env := newTestServers(t, Config{})
	d := env.deploy("warm-" + env.instance)
	if err := env.servers.Warm(t.Context(), d, "/healthz"); err != nil {
		t.Fatal(err)
	}
	starts := env.servers.Starts()
	if starts != 1 {
		t.Fatalf("Warm started %d containers, want 1", starts)
	}
	n := env.server(d)
	if n == nil {
		t.Fatal("no server registered after Warm")
	}
	if got := n.inflight.Load(); got != 0 {
		t.Errorf("Warm left %d requests counted in flight: the server could never be reaped", got)
	}
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = get(t, env.servers, d, "/")
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	if got := env.servers.Starts(); got != starts {
		t.Errorf("the first requests after Warm started %d more containers", got-starts)
	}
	if env.server(d) != n {
		t.Error("the first requests were not served by the warmed server")
	}
	// Warming a running server is a health check alone.
	if err := env.servers.Warm(t.Context(), d, "/"); err != nil || env.servers.Starts() != starts {
		t.Errorf("second Warm: %v, %d starts", err, env.servers.Starts())
	}
}

// TestWarmUnhealthy: a server whose health path answers 5xx fails Warm
// when its time is up, and the error says what it answered.
func TestWarmUnhealthy(t *testing.T) {
	env := newTestServers(t, Config{})
	d := env.deploy("sick-" + env.instance)
	// Started first, so that the deadline below is the health check's
	// alone, however slow the engine is today.
	if err := env.servers.Warm(t.Context(), d, "/"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err := env.servers.Warm(ctx, d, "/unhealthy")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Warm of an unhealthy server: %v, want a failure naming its 503", err)
	}
	if n := env.server(d); n != nil && n.inflight.Load() != 0 {
		t.Errorf("a failed Warm left %d requests counted in flight", n.inflight.Load())
	}
}

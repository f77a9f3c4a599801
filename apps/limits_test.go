package apps

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/store"
)

// front serves d through a real HTTP server, as the front door does.
func (env serversEnv) front(t *testing.T, d *store.Deployment) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.servers.ServeHTTP(w, r, d) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// serve sends one request for path to d and returns the recorded answer.
func serve(ctx context.Context, s *Manager, d *store.Deployment, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://app.localhost"+path, nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req, d)
	return rec
}

// hold starts a /hold request through url and returns its body once the
// app has begun answering: the request stays in flight until released.
func hold(t *testing.T, url string) *bufio.Reader {
	t.Helper()
	resp, err := http.Get(url + "/hold")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	body := bufio.NewReader(resp.Body)
	if line, err := body.ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("first line of a held response: %q %v", line, err)
	}
	return body
}

// runningCount counts this test's running app containers.
func runningCount(instance string) (int, error) {
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+sandbox.LabelInstance+"="+instance).Output()
	return len(strings.Fields(string(out))), err
}

// TestMaxRunningCountsStartingServers: four deployments asked for at once
// with room for two never have more than two containers running; the
// other two wait for the first to finish their requests, then evict them.
func TestMaxRunningCountsStartingServers(t *testing.T) {
	env := newTestServers(t, Config{MaxRunning: 2, StartWait: 2 * time.Minute})
	var ds []*store.Deployment
	for _, id := range []string{"cap-a", "cap-b", "cap-c", "cap-d"} {
		ds = append(ds, env.deploy(id))
	}
	stop := make(chan struct{})
	var most int
	var sampleErr error
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		for {
			n, err := runningCount(env.instance)
			if err != nil {
				sampleErr = err
				return
			}
			most = max(most, n)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	codes := make([]int, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = serve(context.Background(), env.servers, d, "/").Code
		}()
	}
	wg.Wait()
	close(stop)
	sampling.Wait()
	if sampleErr != nil {
		t.Fatalf("docker ps: %v", sampleErr)
	}
	n, err := runningCount(env.instance)
	if err != nil {
		t.Fatal(err)
	}
	most = max(most, n)
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request to %s: %d, want 200 after waiting for a slot", ds[i].ID, c)
		}
	}
	if most > 2 {
		t.Errorf("%d app containers ran at once, over the cap of 2", most)
	}
	if got := env.servers.Starts(); got != 4 {
		t.Errorf("%d starts for four deployments, want 4", got)
	}
}

// TestStartWaitsForASlotThenRefuses: at the cap, with the one server busy,
// a new deployment's request waits StartWait and gets a 503 page; once the
// busy request ends, the new deployment evicts the old server.
func TestStartWaitsForASlotThenRefuses(t *testing.T) {
	env := newTestServers(t, Config{MaxRunning: 1, StartWait: time.Second})
	a, b := env.deploy("wait-a"), env.deploy("wait-b")
	held := hold(t, env.front(t, a))

	rec := serve(context.Background(), env.servers, b, "/")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many apps are running") {
		t.Fatalf("request while every slot is busy: %d, Retry-After %q, %.300s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	if ids := env.runningContainers(t, b.ID); len(ids) != 0 {
		t.Fatalf("the refused deployment's server runs: %v", ids)
	}

	if got := release(t, env.server(a)); got != "1" {
		t.Fatalf("released %s responses, want 1", got)
	}
	if rest, err := io.ReadAll(held); err != nil || string(rest) != "released\n" {
		t.Fatalf("rest of the held response: %q %v", rest, err)
	}
	if rec := serve(context.Background(), env.servers, b, "/"); rec.Code != http.StatusOK {
		t.Fatalf("request once the slot is idle: %d %.300s", rec.Code, rec.Body.String())
	}
	if _, ok := env.servers.Running(a.ID); ok {
		t.Error("the idle server was not evicted for the new one")
	}
}

// TestHugeResponseHeadersRefused: an app answering with a 9 MB head gets
// its visitors a 502, and berth does not hold those heads in memory.
func TestHugeResponseHeadersRefused(t *testing.T) {
	env := newTestServers(t, Config{})
	d := env.deploy("big-headers")
	if rec := serve(context.Background(), env.servers, d, "/"); rec.Code != http.StatusOK {
		t.Fatalf("first request: %d", rec.Code)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapInuse, ms.HeapInuse
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	codes := make([]int, 20)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = serve(context.Background(), env.servers, d, "/big-headers").Code
		}()
	}
	wg.Wait()
	close(stop)
	sampling.Wait()
	for i, c := range codes {
		if c != http.StatusBadGateway {
			t.Errorf("request %d for a 9 MB head: %d, want 502", i, c)
		}
	}
	if grew := int64(peak) - int64(before); grew > 100<<20 {
		t.Errorf("heap grew by %d MB while 20 visitors were sent 9 MB heads", grew>>20)
	}
}

// TestSlowResponseHeadersTimeOut: an app that never answers gets its
// visitor a 504 once HeaderTimeout has passed.
func TestSlowResponseHeadersTimeOut(t *testing.T) {
	env := newTestServers(t, Config{HeaderTimeout: time.Second})
	d := env.deploy("silent")
	if rec := serve(context.Background(), env.servers, d, "/"); rec.Code != http.StatusOK {
		t.Fatalf("first request: %d", rec.Code)
	}
	// The context only keeps a broken proxy from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := serve(ctx, env.servers, d, "/silent")
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "took too long") {
		t.Errorf("request the app never answers: %d %.300s", rec.Code, rec.Body.String())
	}
}

// TestInflightCapPerDeployment: past MaxInflight requests in flight to one
// deployment, the next gets a 503 page at once; when they end, requests
// pass again.
func TestInflightCapPerDeployment(t *testing.T) {
	env := newTestServers(t, Config{MaxInflight: 2})
	d := env.deploy("inflight")
	url := env.front(t, d)
	first, second := hold(t, url), hold(t, url)

	rec := serve(context.Background(), env.servers, d, "/")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "busy") {
		t.Fatalf("request past the cap: %d, Retry-After %q, %.300s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	if got := release(t, env.server(d)); got != "2" {
		t.Fatalf("released %s responses, want 2", got)
	}
	for _, held := range []*bufio.Reader{first, second} {
		if rest, err := io.ReadAll(held); err != nil || string(rest) != "released\n" {
			t.Fatalf("rest of a held response: %q %v", rest, err)
		}
	}
	if rec := serve(context.Background(), env.servers, d, "/"); rec.Code != http.StatusOK {
		t.Errorf("request once the held ones ended: %d", rec.Code)
	}
}

// stalled opens a connection to url, sends raw, and never reads: the
// request stays open from the visitor's side for as long as berth lets it.
func stalled(t *testing.T, url, raw string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
}

// TestStalledReaderDoesNotPinServer: a visitor that asks for a large
// answer and never reads it does not keep the app's server from being
// reaped: its request ends once the writes stall for StallTimeout.
func TestStalledReaderDoesNotPinServer(t *testing.T) {
	env := newTestServers(t, Config{StallTimeout: time.Second, IdleTimeout: time.Second, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("stalled-reader")
	stalled(t, env.front(t, d), "GET /flood HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	waitFor(t, "the server to start", func() bool { return env.server(d) != nil })
	waitFor(t, "the server with a stalled visitor to be reaped", func() bool { return env.server(d) == nil })
}

// TestStalledBodyDoesNotPinServer: a visitor that announces a request
// body and never sends it does not keep the app's server from being
// reaped: its request ends once the reads stall for StallTimeout.
func TestStalledBodyDoesNotPinServer(t *testing.T) {
	env := newTestServers(t, Config{StallTimeout: time.Second, IdleTimeout: time.Second, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("stalled-body")
	stalled(t, env.front(t, d), "POST /consume HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 1000000\r\n\r\nten bytes.")
	waitFor(t, "the server to start", func() bool { return env.server(d) != nil })
	waitFor(t, "the server with a stalled visitor to be reaped", func() bool { return env.server(d) == nil })
}

// TestProxyReplacesClientIPHeaders: addresses a visitor claims in
// X-Real-IP, True-Client-IP, Forwarded and the like never reach the app;
// X-Real-IP and X-Forwarded-For carry the address berth saw.
func TestProxyReplacesClientIPHeaders(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(r.Header)
	}))
	defer upstream.Close()
	transport := newTransport(time.Minute)
	defer transport.CloseIdleConnections()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	front := httptest.NewServer(newProxy(strings.TrimPrefix(upstream.URL, "http://"), transport, log))
	defer front.Close()

	const claimed = "203.0.113.7"
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/", nil)
	for _, h := range []string{"X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP", "X-Forwarded-For"} {
		req.Header.Set(h, claimed)
	}
	req.Header.Set("Forwarded", "for="+claimed)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var seen http.Header
	if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
		t.Fatal(err)
	}
	for name, values := range seen {
		for _, v := range values {
			if strings.Contains(v, claimed) {
				t.Errorf("the app saw the visitor's claimed address in %s: %q", name, v)
			}
		}
	}
	if got := seen.Get("X-Real-IP"); got != "127.0.0.1" {
		t.Errorf("X-Real-IP at the app: %q, want 127.0.0.1", got)
	}
	if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For at the app: %q, want 127.0.0.1", got)
	}
}

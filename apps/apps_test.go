package apps

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/store"
)

// testServerJS is a stand-in app server: it listens only after a second (so
// readiness must wait for HTTP, not TCP), echoes what it received, holds a
// streamed response open until told to release it, and can be told to crash.
const testServerJS = `
const http = require('http');
const held = [];
const server = http.createServer((req, res) => {
  if (req.url === '/crash') { res.end('bye'); setTimeout(() => process.exit(1), 20); return; }
  if (req.url === '/hold') {
    res.writeHead(200, {'content-type': 'text/plain'});
    res.write('held\n');
    held.push(res);
    return;
  }
  // Misbehaving apps, for the limits tests: a 9 MB response head, no
  // answer at all, 64 MB of body as fast as the visitor takes it, and an
  // answer only once the whole request body has come.
  if (req.url === '/big-headers') { res.setHeader('x-big', 'a'.repeat(9 << 20)); res.end('big'); return; }
  if (req.url === '/silent') { return; }
  if (req.url === '/unhealthy') { res.statusCode = 503; res.end('not yet'); return; }
  if (req.url === '/flood') {
    const chunk = Buffer.alloc(64 << 10, 120);
    let left = 1024;
    const more = () => { while (left > 0) { left--; if (!res.write(chunk)) { res.once('drain', more); return; } } res.end(); };
    res.writeHead(200, {'content-type': 'application/octet-stream'});
    more();
    return;
  }
  if (req.url === '/consume') {
    let n = 0;
    req.on('data', c => { n += c.length; });
    req.on('end', () => res.end(String(n)));
    return;
  }
  if (req.url === '/write') {
    // Next.js writes .next/cache beside itself: the app's folder must be its own.
    require('fs').writeFileSync('probe', 'x');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({wrote: true}));
    return;
  }
  if (req.url === '/release') {
    const n = held.length;
    held.splice(0).forEach(r => r.end('released\n'));
    res.end(String(n));
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.setHeader('connection', 'keep-alive, x-secret-hop');
  res.setHeader('x-secret-hop', 'must not pass');
  res.end(JSON.stringify({url: req.url, host: req.headers.host, xff: req.headers['x-forwarded-for'],
    proto: req.headers['x-forwarded-proto'], fhost: req.headers['x-forwarded-host'], hop: req.headers['x-hop'] || '',
    env: process.env.GREETING, node_env: process.env.NODE_ENV, hostname: require('os').hostname(), uid: process.getuid()}));
});
server.on('upgrade', (req, socket) => {
  // A raw echo behind a 101, enough to prove the upgrade passes through.
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  socket.pipe(socket);
});
setTimeout(() => server.listen(process.env.PORT, process.env.HOSTNAME), 1000);
`

func requireDocker(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped under -short")
	}
	img := os.Getenv("BERTH_BUILD_IMAGE")
	if img == "" {
		t.Fatal("BERTH_BUILD_IMAGE is not set: run the tests through scripts/test")
	}
	return img
}

type serversEnv struct {
	servers  *Manager
	sb       *sandbox.Sandbox
	instance string
	deploy   func(id string) *store.Deployment
}

func newTestServers(t *testing.T, cfg Config) serversEnv {
	t.Helper()
	if img := requireDocker(t); cfg.Image == "" {
		cfg.Image = img
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	sb, err := sandbox.New(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Ping(context.Background()); err != nil {
		t.Fatalf("docker engine not reachable: %v", err)
	}
	st, err := artifacts.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "server.js", Mode: 0o644, Size: int64(len(testServerJS)), Typeflag: tar.TypeReg})
	tw.Write([]byte(testServerJS))
	tw.Close()
	zw.Close()
	bundle := buf.Bytes()
	cfg.Instance = "test-" + store.NewID(4)
	cfg.Env = func(context.Context, *store.Deployment) ([]string, error) { return []string{"GREETING=hello"}, nil }
	s := New(cfg, sb, st, log)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		sb.RemoveLabelled(context.Background(), map[string]string{sandbox.LabelInstance: cfg.Instance})
		sb.Close()
	})
	return serversEnv{servers: s, sb: sb, instance: cfg.Instance, deploy: func(id string) *store.Deployment {
		key := "deployments/" + id + "/"
		if err := st.Put(context.Background(), key+model.ServerBundle, bytes.NewReader(bundle), int64(len(bundle)), "application/gzip"); err != nil {
			t.Fatal(err)
		}
		return &store.Deployment{ID: id, ArtifactKey: key, OutputType: "nextjs-standalone", State: model.StateReady}
	}}
}

// containers lists this test's containers of deploymentID, stopped or not.
// Deployment ids repeat between runs of the suite sharing an engine: the
// instance label keeps each run to its own containers.
func (env serversEnv) containers(t *testing.T, deploymentID string) []string {
	t.Helper()
	return dockerPS(t, "-aq", env.instance, deploymentID)
}

// runningContainers lists this test's running containers of deploymentID.
func (env serversEnv) runningContainers(t *testing.T, deploymentID string) []string {
	t.Helper()
	return dockerPS(t, "-q", env.instance, deploymentID)
}

func dockerPS(t *testing.T, flags, instance, deploymentID string) []string {
	t.Helper()
	args := []string{"ps", flags, "--filter", "label=" + sandbox.LabelInstance + "=" + instance}
	if deploymentID != "" {
		args = append(args, "--filter", "label=dev.berth.deployment="+deploymentID)
	}
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// waitFor polls cond until it holds; a deadline this long only ends a
// test that is broken, never a slow one.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// waitReaps waits until the reaper has made n more passes.
func (env serversEnv) waitReaps(t *testing.T, n int64) {
	t.Helper()
	target := env.servers.reaps.Load() + n
	waitFor(t, "reaper passes", func() bool { return env.servers.reaps.Load() >= target })
}

// server returns d's registered server, or nil.
func (env serversEnv) server(d *store.Deployment) *app {
	env.servers.mu.Lock()
	defer env.servers.mu.Unlock()
	return env.servers.running[d.ID]
}

// release ends the app's held responses, asking the container directly so
// that the idle clock is not touched, and reports how many it ended.
func release(t *testing.T, n *app) string {
	t.Helper()
	res, err := http.Get("http://" + n.addr + "/release")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// waitStopped waits until the container has stopped.
func (env serversEnv) waitStopped(t *testing.T, containerID string) {
	t.Helper()
	waitFor(t, "container "+containerID+" to stop", func() bool {
		running, err := env.sb.Running(context.Background(), containerID)
		return err == nil && !running
	})
}

func get(t *testing.T, s *Manager, d *store.Deployment, path string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://app.localhost"+path, nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req, d)
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestColdStartSingleflight(t *testing.T) {
	env := newTestServers(t, Config{})
	d := env.deploy("single")
	var wg sync.WaitGroup
	codes := make([]int, 100)
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
			t.Fatalf("request %d: status %d", i, c)
		}
	}
	if n := env.servers.Starts(); n != 1 {
		t.Errorf("100 cold requests started %d containers, want 1", n)
	}
	if ids := env.containers(t, "single"); len(ids) != 1 {
		t.Errorf("containers for the deployment: %v, want exactly one", ids)
	}
}

// TestIdleReapCountsFromLastRequest: a server kept busy for longer than
// the idle timeout is not stopped; once requests stop, it is stopped, no
// sooner than the idle timeout after the last one.
func TestIdleReapCountsFromLastRequest(t *testing.T) {
	const idle = 2 * time.Second
	env := newTestServers(t, Config{IdleTimeout: idle, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("idle")
	began := time.Now()
	if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	first, _ := env.servers.Running(d.ID)
	// Requests back to back (the gap between two is far below the idle
	// timeout) until the first is more than twice the timeout old and the
	// reaper has looked a few times since.
	var last time.Time
	busy := func() {
		last = time.Now()
		if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
			t.Fatalf("request while in use: %d", code)
		}
		if id, ok := env.servers.Running(d.ID); !ok || id != first || env.servers.Starts() != 1 {
			t.Fatalf("server replaced or reaped while in use (running %v, id changed %v, starts %d)", ok, id != first, env.servers.Starts())
		}
	}
	for time.Since(began) < 2*idle {
		busy()
	}
	for target := env.servers.reaps.Load() + 3; env.servers.reaps.Load() < target; {
		busy()
	}
	// Then idle: stopped, its container kept as a spare.
	waitFor(t, "the idle server to be stopped", func() bool {
		_, ok := env.servers.Running(d.ID)
		return !ok && len(env.runningContainers(t, d.ID)) == 0
	})
	if since := time.Since(last); since < idle {
		t.Fatalf("stopped %s after the last request began, before the idle timeout (%s)", since, idle)
	}
}

// TestIdleClockCountsFromRequestEnd: a request that lasts longer than the
// idle timeout keeps its server; the idle clock starts again when it ends.
func TestIdleClockCountsFromRequestEnd(t *testing.T) {
	const idle = 2 * time.Second
	env := newTestServers(t, Config{IdleTimeout: idle, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("long")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.servers.ServeHTTP(w, r, d) }))
	defer front.Close()
	resp, err := http.Get(front.URL + "/hold")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewReader(resp.Body)
	if line, err := body.ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("first line of the held response: %q %v", line, err)
	}
	inFlight := time.Now() // the request's start touched the clock before this
	n := env.server(d)
	if n == nil {
		t.Fatal("no server registered for the request in flight")
	}
	// Past the idle timeout counted from the request's start, and a few
	// reaper passes later, the server still runs.
	waitFor(t, "the idle timeout to pass", func() bool { return time.Since(inFlight) > idle })
	env.waitReaps(t, 3)
	if env.server(d) != n {
		t.Fatal("server stopped while a request was in flight")
	}

	released := time.Now()
	if got := release(t, n); got != "1" {
		t.Fatalf("released %s responses, want 1", got)
	}
	if rest, err := io.ReadAll(body); err != nil || string(rest) != "released\n" {
		t.Fatalf("rest of the held response: %q %v", rest, err)
	}
	if used := time.Unix(0, n.lastUsed.Load()); used.Before(released) {
		t.Fatalf("idle clock last touched %s before the request ended", released.Sub(used))
	}
	waitFor(t, "the idle server to be stopped", func() bool { return env.server(d) == nil })
	if since := time.Since(released); since < idle {
		t.Fatalf("stopped %s after the long request ended, before the idle timeout (%s)", since, idle)
	}
}

// TestIdleServerRestartsFromSpare: a server stopped for idleness starts
// again from its stopped container, files and all; once the runtime
// environment changed, a new container is made instead.
func TestIdleServerRestartsFromSpare(t *testing.T) {
	env := newTestServers(t, Config{IdleTimeout: 500 * time.Millisecond, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("spare")
	waitReaped := func() {
		t.Helper()
		waitFor(t, "the idle server to be stopped", func() bool {
			_, ok := env.servers.Running(d.ID)
			return !ok
		})
	}
	if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	// The server may be reaped before the test looks: its container is the
	// test's only one.
	ids := env.containers(t, d.ID)
	if len(ids) != 1 {
		t.Fatalf("containers after the first request: %v, want one", ids)
	}
	first := ids[0]
	waitReaped()
	if ids := env.containers(t, d.ID); len(ids) != 1 || ids[0] != first {
		t.Fatalf("stopped server's container not kept: %v (was %s)", ids, first)
	}
	code, body := get(t, env.servers, d, "/again")
	if second, _ := env.servers.Running(d.ID); code != http.StatusOK || body["url"] != "/again" || env.servers.Starts() != 2 ||
		(second != "" && !strings.HasPrefix(second, first)) {
		t.Fatalf("request after idle stop: %d %v, container %s (was %s), starts %d", code, body, second, first, env.servers.Starts())
	}
	if ids := env.containers(t, d.ID); len(ids) != 1 || ids[0] != first {
		t.Fatalf("containers after the restart: %v, want only %s", ids, first)
	}
	waitReaped()
	env.servers.cfg.Env = func(context.Context, *store.Deployment) ([]string, error) { return []string{"GREETING=changed"}, nil }
	code, body = get(t, env.servers, d, "/")
	if code != http.StatusOK || body["env"] != "changed" {
		t.Fatalf("after an env change: %d %v", code, body)
	}
	if ids := env.containers(t, d.ID); len(ids) != 1 || ids[0] == first {
		t.Errorf("containers after the env change: %v, want only a new one (the old was %s)", ids, first)
	}
}

func TestCrashedServerRestarts(t *testing.T) {
	env := newTestServers(t, Config{ReapEvery: time.Hour})
	d := env.deploy("crash")
	if code, _ := get(t, env.servers, d, "/crash"); code != http.StatusOK {
		t.Fatalf("crash request: %d", code)
	}
	first, _ := env.servers.Running(d.ID)
	env.waitStopped(t, first)
	code, body := get(t, env.servers, d, "/")
	if code != http.StatusOK || body["url"] != "/" {
		t.Fatalf("request after crash: %d %v", code, body)
	}
	second, _ := env.servers.Running(d.ID)
	if second == first || env.servers.Starts() != 2 {
		t.Errorf("want a new container after the crash (starts %d)", env.servers.Starts())
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	env := newTestServers(t, Config{MaxRunning: 1})
	a, b := env.deploy("lru-a"), env.deploy("lru-b")
	get(t, env.servers, a, "/")
	get(t, env.servers, b, "/")
	if _, ok := env.servers.Running(a.ID); ok {
		t.Error("the least recently used server still runs over the cap")
	}
	if ids := env.runningContainers(t, a.ID); len(ids) != 0 {
		t.Errorf("evicted server's container still runs: %v", ids)
	}
	if _, ok := env.servers.Running(b.ID); !ok {
		t.Error("the new server is not running")
	}
}

// TestCloseRemovesServers: running servers and the stopped spares of
// evicted ones are all removed.
func TestCloseRemovesServers(t *testing.T) {
	env := newTestServers(t, Config{MaxRunning: 1})
	get(t, env.servers, env.deploy("close-a"), "/")
	get(t, env.servers, env.deploy("close-b"), "/")
	if n := len(env.containers(t, "")); n != 2 {
		t.Fatalf("%d containers before Close, want 2", n)
	}
	env.servers.Close()
	if ids := env.containers(t, ""); len(ids) != 0 {
		t.Errorf("containers left after Close: %v", ids)
	}
}

// TestCloseDuringIdleStop: Close while the reaper is stopping an idle
// server still leaves no container behind.
func TestCloseDuringIdleStop(t *testing.T) {
	env := newTestServers(t, Config{IdleTimeout: 200 * time.Millisecond, ReapEvery: 50 * time.Millisecond})
	d := env.deploy("closing")
	if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	// The reaper unregisters the server and then stops its container:
	// Close comes in between, or just after.
	for deadline := time.Now().Add(2 * time.Minute); env.server(d) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("idle server not stopped")
		}
	}
	env.servers.Close()
	if ids := env.containers(t, ""); len(ids) != 0 {
		t.Errorf("containers left after Close: %v", ids)
	}
}

// TestProxyHeadersAndStreaming drives the proxy through a real HTTP server:
// forwarded headers are set, the visitor's Host kept, hop-by-hop headers
// dropped both ways, runtime env present, and a streamed body arrives in
// pieces.
func TestProxyHeadersAndStreaming(t *testing.T) {
	env := newTestServers(t, Config{})
	d := env.deploy("proxy")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.servers.ServeHTTP(w, r, d) }))
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/hello?x=1", nil)
	req.Host = "proxy-preview.localhost"
	req.Header.Set("Connection", "x-hop")
	req.Header.Set("X-Hop", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body["host"] != "proxy-preview.localhost" || body["fhost"] != "proxy-preview.localhost" || body["proto"] != "http" ||
		body["xff"] != "127.0.0.1" || body["url"] != "/hello?x=1" || body["env"] != "hello" || body["node_env"] != "production" {
		t.Errorf("upstream saw %v", body)
	}
	if body["hop"] != "" {
		t.Errorf("hop-by-hop request header reached the app: %v", body["hop"])
	}
	if resp.Header.Get("X-Secret-Hop") != "" {
		t.Error("hop-by-hop response header reached the visitor")
	}

	// The app holds the response open after its first line: that line
	// arrives only if the proxy does not buffer.
	resp, err = (&http.Client{Timeout: time.Minute}).Get(front.URL + "/hold")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("first line of a held response %q: %v (buffered by the proxy?)", line, err)
	}
	release(t, env.server(d))
}

// testWriter sends log output to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestProxyUpgradeAndErrors: a WebSocket-style upgrade passes through both
// ways, HEAD is passed as HEAD, and a POST to a server that died gets a
// clear 502 page at once (POST is not retried), never a hang.
func TestProxyUpgradeAndErrors(t *testing.T) {
	env := newTestServers(t, Config{ReapEvery: time.Hour})
	d := env.deploy("upgrade")
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.servers.ServeHTTP(w, r, d) }))
	defer front.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	io.WriteString(conn, "ping-through-the-proxy\n")
	if line, err := rd.ReadString('\n'); err != nil || line != "ping-through-the-proxy\n" {
		t.Fatalf("echo through the upgraded connection: %q %v", line, err)
	}

	req, _ := http.NewRequest(http.MethodHead, front.URL+"/", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: %v %v", res, err)
	}

	if res, err := http.Post(front.URL+"/crash", "text/plain", strings.NewReader("x")); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("crash: %v %v", res, err)
	}
	if n := env.server(d); n != nil {
		env.waitStopped(t, n.containerID)
	}
	start := time.Now()
	res, err = http.Post(front.URL+"/after", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "did not answer") || time.Since(start) > time.Minute {
		t.Errorf("POST to a dead server: %d after %s: %.200s", res.StatusCode, time.Since(start), body)
	}
}

// TestRestartRemovesLeftoverServers: servers left by a berth that died are
// found by their labels when the next one starts, and removed.
func TestRestartRemovesLeftoverServers(t *testing.T) {
	env := newTestServers(t, Config{})
	get(t, env.servers, env.deploy("leftover"), "/")
	if n := len(env.containers(t, "leftover")); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	// A new manager for the same instance, as after a crash and restart.
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	sb, err := sandbox.New(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	next := New(Config{Image: env.servers.cfg.Image, Instance: env.instance}, sb, env.servers.store, log)
	if err := next.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if ids := env.containers(t, "leftover"); len(ids) != 0 {
		t.Errorf("leftover server containers after restart: %v", ids)
	}
}

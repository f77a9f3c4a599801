package serving

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
// readiness must wait for HTTP, not TCP), echoes what it received, streams,
// and can be told to crash.
const testServerJS = `
const http = require('http');
const server = http.createServer((req, res) => {
  if (req.url === '/crash') { res.end('bye'); setTimeout(() => process.exit(1), 20); return; }
  if (req.url === '/stream') {
    res.writeHead(200, {'content-type': 'text/plain'});
    let i = 0;
    const t = setInterval(() => { i++; res.write('chunk ' + i + '\n'); if (i === 3) { clearInterval(t); res.end(); } }, 400);
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.setHeader('connection', 'keep-alive, x-secret-hop');
  res.setHeader('x-secret-hop', 'must not pass');
  res.end(JSON.stringify({url: req.url, host: req.headers.host, xff: req.headers['x-forwarded-for'],
    proto: req.headers['x-forwarded-proto'], fhost: req.headers['x-forwarded-host'], hop: req.headers['x-hop'] || '',
    env: process.env.GREETING, node_env: process.env.NODE_ENV, hostname: require('os').hostname()}));
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
	servers  *Servers
	instance string
	deploy   func(id string) *store.Deployment
}

func newTestServers(t *testing.T, cfg ServersConfig) serversEnv {
	t.Helper()
	cfg.Image = requireDocker(t)
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
	s := NewServers(cfg, sb, st, log)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		sb.RemoveLabelled(context.Background(), map[string]string{sandbox.LabelInstance: cfg.Instance})
		sb.Close()
	})
	return serversEnv{servers: s, instance: cfg.Instance, deploy: func(id string) *store.Deployment {
		key := "deployments/" + id + "/"
		if err := st.Put(context.Background(), key+model.ServerBundle, bytes.NewReader(bundle), int64(len(bundle)), "application/gzip"); err != nil {
			t.Fatal(err)
		}
		return &store.Deployment{ID: id, ArtifactKey: key, OutputType: "nextjs-standalone", State: model.StateReady}
	}}
}

func containers(t *testing.T, label string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+label).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// runningContainers lists the running containers with label.
func runningContainers(t *testing.T, label string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+label).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

func get(t *testing.T, s *Servers, d *store.Deployment, path string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://app.localhost"+path, nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req, d)
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestColdStartSingleflight(t *testing.T) {
	env := newTestServers(t, ServersConfig{})
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
	if ids := containers(t, "dev.berth.deployment=single"); len(ids) != 1 {
		t.Errorf("containers for the deployment: %v, want exactly one", ids)
	}
}

func TestIdleReapCountsFromLastRequest(t *testing.T) {
	env := newTestServers(t, ServersConfig{IdleTimeout: 1500 * time.Millisecond, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("idle")
	if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	first, _ := env.servers.Running(d.ID)
	// Keep it busy for twice the idle timeout: it must not be reaped.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
			t.Fatalf("request while in use: %d", code)
		}
	}
	if id, ok := env.servers.Running(d.ID); !ok || id != first || env.servers.Starts() != 1 {
		t.Fatalf("server replaced or reaped while in use (running %v, id changed %v, starts %d)", ok, id != first, env.servers.Starts())
	}
	// Then idle: stopped shortly after the timeout, its container kept as
	// a spare.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := env.servers.Running(d.ID); !ok && len(runningContainers(t, "dev.berth.deployment=idle")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle server not reaped within 5s after its last request")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIdleServerRestartsFromSpare: a server stopped for idleness starts
// again from its stopped container, files and all; once the runtime
// environment changed, a new container is made instead.
func TestIdleServerRestartsFromSpare(t *testing.T) {
	env := newTestServers(t, ServersConfig{IdleTimeout: 500 * time.Millisecond, ReapEvery: 100 * time.Millisecond})
	d := env.deploy("spare")
	waitReaped := func() {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, ok := env.servers.Running(d.ID); !ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("idle server not reaped")
			}
		}
	}
	if code, _ := get(t, env.servers, d, "/"); code != http.StatusOK {
		t.Fatalf("first request: %d", code)
	}
	first, _ := env.servers.Running(d.ID)
	waitReaped()
	if ids := containers(t, "dev.berth.deployment=spare"); len(ids) != 1 || !strings.HasPrefix(first, ids[0]) {
		t.Fatalf("stopped server's container not kept: %v (was %s)", ids, first)
	}
	code, body := get(t, env.servers, d, "/again")
	if second, _ := env.servers.Running(d.ID); code != http.StatusOK || body["url"] != "/again" || second != first {
		t.Fatalf("request after idle stop: %d %v, container %s (was %s)", code, body, second, first)
	}
	waitReaped()
	env.servers.cfg.Env = func(context.Context, *store.Deployment) ([]string, error) { return []string{"GREETING=changed"}, nil }
	code, body = get(t, env.servers, d, "/")
	if third, _ := env.servers.Running(d.ID); code != http.StatusOK || body["env"] != "changed" || third == first {
		t.Fatalf("after an env change: %d %v, same container %v", code, body, third == first)
	}
	if ids := containers(t, "dev.berth.deployment=spare"); len(ids) != 1 {
		t.Errorf("containers after the env change: %v, want only the new one", ids)
	}
}

func TestCrashedServerRestarts(t *testing.T) {
	env := newTestServers(t, ServersConfig{ReapEvery: time.Hour})
	d := env.deploy("crash")
	if code, _ := get(t, env.servers, d, "/crash"); code != http.StatusOK {
		t.Fatalf("crash request: %d", code)
	}
	first, _ := env.servers.Running(d.ID)
	time.Sleep(300 * time.Millisecond) // let the process exit
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
	env := newTestServers(t, ServersConfig{MaxRunning: 1})
	a, b := env.deploy("lru-a"), env.deploy("lru-b")
	get(t, env.servers, a, "/")
	get(t, env.servers, b, "/")
	if _, ok := env.servers.Running(a.ID); ok {
		t.Error("the least recently used server still runs over the cap")
	}
	if ids := runningContainers(t, "dev.berth.deployment=lru-a"); len(ids) != 0 {
		t.Errorf("evicted server's container still runs: %v", ids)
	}
	if _, ok := env.servers.Running(b.ID); !ok {
		t.Error("the new server is not running")
	}
}

// TestCloseRemovesServers: running servers and the stopped spares of
// evicted ones are all removed.
func TestCloseRemovesServers(t *testing.T) {
	env := newTestServers(t, ServersConfig{MaxRunning: 1})
	get(t, env.servers, env.deploy("close-a"), "/")
	get(t, env.servers, env.deploy("close-b"), "/")
	if n := len(containers(t, sandbox.LabelInstance+"="+env.instance)); n != 2 {
		t.Fatalf("%d containers before Close, want 2", n)
	}
	env.servers.Close()
	if ids := containers(t, sandbox.LabelInstance+"="+env.instance); len(ids) != 0 {
		t.Errorf("containers left after Close: %v", ids)
	}
}

// TestProxyHeadersAndStreaming drives the proxy through a real HTTP server:
// forwarded headers are set, the visitor's Host kept, hop-by-hop headers
// dropped both ways, runtime env present, and a streamed body arrives in
// pieces.
func TestProxyHeadersAndStreaming(t *testing.T) {
	env := newTestServers(t, ServersConfig{})
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

	resp, err = http.Get(front.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "chunk 1\n" {
		t.Fatalf("first chunk %q: %v", line, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("first chunk took %s: the response was buffered", waited)
	}
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
	env := newTestServers(t, ServersConfig{ReapEvery: time.Hour})
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
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	res, err = http.Post(front.URL+"/after", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "did not answer") || time.Since(start) > 5*time.Second {
		t.Errorf("POST to a dead server: %d after %s: %.200s", res.StatusCode, time.Since(start), body)
	}
}

// TestRestartRemovesLeftoverServers: servers left by a berth that died are
// found by their labels when the next one starts, and removed.
func TestRestartRemovesLeftoverServers(t *testing.T) {
	env := newTestServers(t, ServersConfig{})
	get(t, env.servers, env.deploy("leftover"), "/")
	if n := len(containers(t, "dev.berth.deployment=leftover")); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	// A new manager for the same instance, as after a crash and restart.
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	sb, err := sandbox.New(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	next := NewServers(ServersConfig{Image: env.servers.cfg.Image, Instance: env.instance}, sb, env.servers.store, log)
	if err := next.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if ids := containers(t, "dev.berth.deployment=leftover"); len(ids) != 0 {
		t.Errorf("leftover server containers after restart: %v", ids)
	}
}

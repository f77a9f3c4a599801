// Package e2e boots the real berth binary against a real Docker engine, the
// embedded NATS server, and local-directory or MinIO artifacts, and deploys
// real apps through its API.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const adminToken = "e2e-admin-token-0123456789abcdef01234"

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here skips under -short: building the -race binary
		// would take minutes for nothing.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-race", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build berth:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireEnv fails the test when what it needs is missing (skips only under
// -short), so a green run means the end-to-end tests really ran.
func requireEnv(t *testing.T, names ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs Docker; skipped under -short")
	}
	for _, n := range append([]string{"BERTH_BUILD_IMAGE", "BERTH_TEST_FIXTURES"}, names...) {
		if os.Getenv(n) == "" {
			t.Fatalf("%s is not set: run the tests through scripts/test, which sets up Docker, the build image, MinIO and the fixtures", n)
		}
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("docker engine not reachable: %v: %s", err, out)
	}
}

// berthProc is one running berth process.
type berthProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	env     []string
	addr    string
	client  *http.Client

	mu      sync.Mutex
	logs    bytes.Buffer
	done    chan struct{}
	waitErr error // how the process ended; read after done is closed
}

var runningRe = regexp.MustCompile(`msg="berth is running" addr=(\S+)`)

// startBerth starts berth on a free loopback port with dataDir and waits
// until it serves.
func startBerth(t *testing.T, dataDir string, env ...string) *berthProc {
	t.Helper()
	b := &berthProc{t: t, dataDir: dataDir, env: env, client: &http.Client{Timeout: 60 * time.Second}}
	b.start()
	return b
}

func (b *berthProc) start() {
	t := b.t
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(),
		"BERTH_ADDR=127.0.0.1:0",
		"BERTH_DATA_DIR="+b.dataDir,
		"BERTH_ADMIN_TOKEN="+adminToken,
		"BERTH_LOG_LEVEL=debug",
	)
	cmd.Env = append(cmd.Env, b.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start berth: %v", err)
	}
	b.cmd, b.done = cmd, make(chan struct{})
	addrC := make(chan string, 1)
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.logs.WriteString(line + "\n")
			b.mu.Unlock()
			if m := runningRe.FindStringSubmatch(line); m != nil {
				select {
				case addrC <- m[1]:
				default:
				}
			}
		}
		b.waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("berth log:\n%s", b.logs.String())
			b.mu.Unlock()
		}
	})
	select {
	case b.addr = <-addrC:
	case <-b.done:
		t.Fatalf("berth exited before serving:\n%s", b.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("berth did not start in 60s:\n%s", b.logText())
	}
}

func (b *berthProc) logText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (b *berthProc) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	select {
	case <-b.done:
		return
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		if b.waitErr != nil {
			b.t.Errorf("berth did not exit cleanly on SIGTERM: %v", b.waitErr)
		}
	case <-time.After(90 * time.Second): // systemd's default stop timeout
		b.cmd.Process.Kill()
		<-b.done
		b.t.Errorf("berth did not stop within 90s of SIGTERM")
	}
}

// kill9 kills the process without letting it clean up.
func (b *berthProc) kill9() {
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
}

func (b *berthProc) url(path string) string { return "http://" + b.addr + path }

// api sends a JSON request with the admin token and decodes a JSON answer
// into out (when out is not nil). It returns the status.
func (b *berthProc) api(method, path string, body, out any) int {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.url(path), rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// getHost sends GET path with the given Host header (a preview host).
func (b *berthProc) getHost(host, path string, header ...string) (*http.Response, []byte) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// waitServing waits until a server deployment's host answers / (any
// status below 500): its first request starts the server, which on a busy
// machine can take longer than one request's timeout.
func (b *berthProc) waitServing(host string, within time.Duration) {
	b.t.Helper()
	var last string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(time.Second) {
		req, _ := http.NewRequest(http.MethodGet, b.url("/"), nil)
		req.Host = host
		resp, err := b.client.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 500 {
			return
		}
		last = resp.Status
	}
	b.t.Fatalf("%s did not answer within %s: %s", host, within, last)
}

type deployment struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	URL         string `json:"url"`
	PreviewHost string `json:"preview_host"`
	CommitSHA   string `json:"commit_sha"`
	OutputType  string `json:"output_type"`
	Error       string `json:"error"`
	Attempt     int    `json:"attempt"`
}

// waitState polls a deployment until pred holds or the timeout passes.
func (b *berthProc) waitState(id string, timeout time.Duration, pred func(deployment) bool) deployment {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var d deployment
	for time.Now().Before(deadline) {
		b.api(http.MethodGet, "/v1/deployments/"+id, nil, &d)
		if pred(d) {
			return d
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.t.Fatalf("deployment %s: condition not met in %s; last: %+v", id, timeout, d)
	return d
}

func terminal(d deployment) bool {
	return d.State == "ready" || d.State == "error" || d.State == "cancelled"
}

// sseEvent is one server-sent event.
type sseEvent struct {
	ID, Event, Data string
}

// readSSE reads events from r until `done` or EOF, calling fn for each.
func readSSE(r io.Reader, fn func(sseEvent)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Event != "" || ev.Data != "" {
				fn(ev)
				if ev.Event == "done" {
					return nil
				}
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.Data = strings.TrimPrefix(line, "data: ")
		}
	}
	return sc.Err()
}

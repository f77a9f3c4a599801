package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const adminToken = "berthbench-admin-token-0123456789abcdef"

// bench holds what the sections share: the options, the report, and the
// long-running berth instance with the Next.js deployment the build section
// leaves behind for the SSR sections.
type bench struct {
	o   options
	log *slog.Logger
	r   *report

	main    *berthProc
	nextDep *deployment // a ready Next.js standalone deployment
	nextDir string      // its source repository

	svelteDep *deployment // a ready SvelteKit (adapter-node) deployment
	idle      bool        // main runs with a 1 s server idle timeout
}

func (b *bench) cleanup() {
	if b.main != nil {
		b.main.stop()
	}
}

// startMain starts the berth instance the throughput sections use.
func (b *bench) startMain(ctx context.Context) error {
	p, err := startBerth(ctx, b.o, mkdir(b.o.work, "berth-data"))
	if err != nil {
		return err
	}
	b.main = p
	return nil
}

// berthProc is one running `berth serve`.
type berthProc struct {
	o       options
	cmd     *exec.Cmd
	dataDir string
	addr    string
	https   string        // the HTTPS listener's address, with TLS on
	ready   time.Duration // process start to the first 200 from /readyz
	client  *http.Client

	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

var (
	runningRe = regexp.MustCompile(`msg="berth is running" addr=(\S+)`)
	httpsRe   = regexp.MustCompile(`https_addr=(\S+)`)
)

// startBerth starts berth on a free loopback port and returns once /readyz
// answers 200.
func startBerth(ctx context.Context, o options, dataDir string, env ...string) (*berthProc, error) {
	p := &berthProc{o: o, dataDir: dataDir, client: &http.Client{Timeout: 60 * time.Second}, done: make(chan struct{})}
	cmd := exec.Command(o.berth, "serve")
	cmd.Env = append(os.Environ(),
		"BERTH_ADDR=127.0.0.1:0",
		"BERTH_DATA_DIR="+dataDir,
		"BERTH_ADMIN_TOKEN="+adminToken,
		"BERTH_BUILD_IMAGE="+o.image,
		"BERTH_EXTRA_CA_FILE="+o.caFile,
		"BERTH_LOG_LEVEL=info",
	)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	addrC := make(chan []string, 1)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start berth: %w", err)
	}
	p.cmd = cmd
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.logs.Len() < 8<<20 {
				p.logs.WriteString(line + "\n")
			}
			p.mu.Unlock()
			if m := runningRe.FindStringSubmatch(line); m != nil {
				select {
				case addrC <- []string{m[1], line}:
				default:
				}
			}
		}
		cmd.Wait()
	}()
	select {
	case a := <-addrC:
		p.addr = a[0]
		if m := httpsRe.FindStringSubmatch(a[1]); m != nil {
			p.https = m[1]
		}
	case <-p.done:
		return nil, fmt.Errorf("berth exited before serving:\n%s", p.logText())
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, fmt.Errorf("berth did not start in 60s:\n%s", p.logText())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	// Readiness: SQLite, NATS, the artifact store and Docker all answer.
	quick := &http.Client{Timeout: time.Second}
	for {
		res, err := quick.Get(p.url("/readyz"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				p.ready = time.Since(started)
				return p, nil
			}
		}
		if time.Since(started) > 60*time.Second {
			p.stop()
			return nil, fmt.Errorf("berth not ready in 60s:\n%s", p.logText())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *berthProc) url(path string) string { return "http://" + p.addr + path }

func (p *berthProc) port() string { return p.addr[strings.LastIndexByte(p.addr, ':')+1:] }

func (p *berthProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.logs.String()
	if len(s) > 8000 {
		s = "…" + s[len(s)-8000:]
	}
	return s
}

// stop sends SIGTERM and waits for the exit.
func (p *berthProc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// rssBytes reads the process's resident set size from /proc.
func (p *berthProc) rssBytes() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
}

// api sends a JSON request with the admin token and decodes the answer.
func (p *berthProc) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url(path), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return nil
}

type project struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
}

type deployment struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	PreviewHost string `json:"preview_host"`
	OutputType  string `json:"output_type"`
	Error       string `json:"error"`
	ReusedFrom  string `json:"reused_from"`
}

func (d deployment) host() string { return d.PreviewHost + ".localhost" }

// createProject creates a project building gitURL; extra sets more fields.
func (p *berthProc) createProject(ctx context.Context, name, gitURL string, extra map[string]string) (project, error) {
	body := map[string]string{"name": name, "git_url": gitURL}
	for k, v := range extra {
		body[k] = v
	}
	var pr project
	err := p.api(ctx, http.MethodPost, "/v1/projects", body, &pr)
	return pr, err
}

// deploy starts a deployment of the project's default branch.
func (p *berthProc) deploy(ctx context.Context, projectID string) (deployment, error) {
	var d deployment
	err := p.api(ctx, http.MethodPost, "/v1/projects/"+projectID+"/deployments", nil, &d)
	return d, err
}

// redeploy builds a deployment's commit again.
func (p *berthProc) redeploy(ctx context.Context, id string) (deployment, error) {
	var d deployment
	err := p.api(ctx, http.MethodPost, "/v1/deployments/"+id+"/redeploy", nil, &d)
	return d, err
}

// waitDone polls a deployment every 50 ms until it is ready (or fails).
func (p *berthProc) waitDone(ctx context.Context, id string, timeout time.Duration) (deployment, error) {
	deadline := time.Now().Add(timeout)
	var d deployment
	for time.Now().Before(deadline) {
		if err := p.api(ctx, http.MethodGet, "/v1/deployments/"+id, nil, &d); err != nil {
			return d, err
		}
		switch d.State {
		case "ready":
			return d, nil
		case "error", "cancelled":
			return d, fmt.Errorf("deployment %s %s: %s\n%s", id, d.State, d.Error, p.buildLog(ctx, id))
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return d, fmt.Errorf("deployment %s not ready after %s (state %s)", id, timeout, d.State)
}

// buildLog returns the tail of a deployment's log, for error messages.
func (p *berthProc) buildLog(ctx context.Context, id string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/v1/deployments/"+id+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/plain")
	res, err := p.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if len(data) > 6000 {
		data = data[len(data)-6000:]
	}
	return string(data)
}

// deployRepo creates a project for repo, deploys it and waits for ready.
func (p *berthProc) deployRepo(ctx context.Context, name, repo string, extra map[string]string, timeout time.Duration) (project, deployment, time.Duration, error) {
	pr, err := p.createProject(ctx, name, repo, extra)
	if err != nil {
		return pr, deployment{}, 0, err
	}
	started := time.Now()
	d, err := p.deploy(ctx, pr.ID)
	if err != nil {
		return pr, d, 0, err
	}
	d, err = p.waitDone(ctx, d.ID, timeout)
	return pr, d, time.Since(started), err
}

func mkdir(parent, name string) string {
	dir, err := os.MkdirTemp(parent, name+"-")
	if err != nil {
		panic(err)
	}
	return dir
}

// logLine is one line of a deployment's log with its time.
type logLine struct {
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// timeline returns a finished deployment's log lines with their times, and
// when the deployment was created.
func (p *berthProc) timeline(ctx context.Context, id string) ([]logLine, time.Time, error) {
	var d struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if err := p.api(ctx, http.MethodGet, "/v1/deployments/"+id, nil, &d); err != nil {
		return nil, time.Time{}, err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/v1/deployments/"+id+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := p.client.Do(req)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer res.Body.Close()
	var lines []logLine
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 256<<10), 256<<10)
	for sc.Scan() {
		if sc.Text() == "event: done" {
			return lines, d.CreatedAt, nil
		}
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var l logLine
			if json.Unmarshal([]byte(data), &l) == nil && !l.At.IsZero() {
				lines = append(lines, l)
			}
		}
	}
	return lines, d.CreatedAt, fmt.Errorf("log of %s ended without done", id)
}

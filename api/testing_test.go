package api_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/domains"
	"github.com/berth-dev/berth/internal/dnstest"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/serving"
	"github.com/berth-dev/berth/store"
)

const adminToken = "test-admin-token-0123456789abcdef0123"

// harness is a real server: SQLite and JetStream in a temp dir, a local
// artifact store, the serving handler, and the HTTP server on a loopback
// port. No builder runs, so deployments stay queued unless a test publishes
// events itself.
type harness struct {
	t         *testing.T
	URL       string // http://127.0.0.1:<port>
	Port      string
	DB        *store.DB
	Queue     *queue.Queue
	Box       *secretbox.Box
	WorkerBox *secretbox.Box // the worker key build jobs are sealed with
	Artifacts artifacts.Bucket
	Deploys   *deploys.Lifecycle
	Server    *api.Handler
	Serving   *serving.Handler
	DNS       *dnstest.Server // custom domain checks ask it; berth's address is 127.0.0.1
	Logs      *testLogWriter
	Workers   *fakeWorkers // what the server knows of build workers; empty unless a test sets it

	dbPath string

	mu      sync.Mutex
	deleted []string // deployment ids handed to OnDelete
}

// harnessOption changes the server's or the lifecycle's configuration.
type harnessOption func(*api.Config, *deploys.Config)

// withAllowLocalGit is the operator's BERTH_ALLOW_LOCAL_GIT.
func withAllowLocalGit(c *api.Config, d *deploys.Config) {
	c.AllowLocalGit, d.AllowLocalGit = true, true
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	h := &harness{t: t, Logs: newTestLogWriter(t), dbPath: filepath.Join(dir, "berth.db"), Workers: &fakeWorkers{}}
	log := slog.New(slog.NewTextHandler(h.Logs, nil))

	var err error
	if h.DB, err = store.Open(ctx, h.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.DB.Close() })
	if h.Queue, err = queue.Start(ctx, queue.Config{Dir: filepath.Join(dir, "jetstream")}, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Queue.Close)
	key := make([]byte, 32)
	rand.Read(key)
	if h.Box, err = secretbox.New(key); err != nil {
		t.Fatal(err)
	}
	workerKey := make([]byte, 32)
	rand.Read(workerKey)
	if h.WorkerBox, err = secretbox.New(workerKey); err != nil {
		t.Fatal(err)
	}
	if h.Artifacts, err = artifacts.NewLocal(filepath.Join(dir, "artifacts")); err != nil {
		t.Fatal(err)
	}
	sv, err := serving.New(serving.Config{AppDomain: "localhost", ApexIsDashboard: true, CacheDir: filepath.Join(dir, "cache")}, h.DB, h.Artifacts, nil, log)
	if err != nil {
		t.Fatal(err)
	}

	ts := httptest.NewUnstartedServer(nil)
	_, h.Port, _ = net.SplitHostPort(ts.Listener.Addr().String())
	cfg := api.Config{AppDomain: "localhost", PublicURL: "http://localhost:" + h.Port, AdminToken: adminToken, Version: "test"}
	// No builder runs here, so no build ever ends: a test that queues
	// several deployments wants all their jobs out unless it says otherwise.
	dcfg := deploys.Config{UserConcurrency: 1000, JobSecrets: h.WorkerBox}
	for _, o := range opts {
		o(&cfg, &dcfg)
	}
	h.Deploys = deploys.New(dcfg, h.DB, h.Queue.Client(), h.Box, log)
	h.Deploys.Observe(func(_ context.Context, c deploys.Change) {
		switch c.Kind {
		case deploys.Promoted:
			sv.Invalidate()
		case deploys.Deleted:
			sv.Invalidate()
			h.mu.Lock()
			defer h.mu.Unlock()
			h.deleted = append(h.deleted, c.DeploymentIDs...)
			sv.Forget(c.DeploymentIDs)
		}
	})
	h.Serving, h.DNS = sv, dnstest.Start(t)
	doms := domains.New(domains.Config{AppDomain: cfg.AppDomain, DashboardHost: "localhost",
		PublicIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Resolver: h.DNS.Addr()}, h.DB, sv.Invalidate, log)
	h.Server, err = api.New(cfg, api.Deps{
		DB: h.DB, Deploys: h.Deploys, Domains: doms, Secrets: h.Box, Log: log, Workers: h.Workers,
		Checks: []api.Check{
			{Name: "sqlite", Ping: h.DB.Ping},
			{Name: "nats", Ping: h.Queue.Ping},
			{Name: "artifacts", Ping: h.Artifacts.Ping},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Server.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Server.Close)
	if err := h.Deploys.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Deploys.Close)
	ts.Config.Handler = serving.Router(sv, h.Server)
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(h.Deploys.CloseStreams) // runs first: live log streams end, so ts.Close does not wait on them
	h.URL = ts.URL
	return h
}

// lockDB takes SQLite's write lock from another connection, as another
// process would, until the returned function is called.
func (h *harness) lockDB(t *testing.T) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+h.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Errorf("release lock: %v", err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// testLogWriter sends the server's log to t.Log until the test ends, and
// tells waiters when a message appears.
type testLogWriter struct {
	mu      sync.Mutex
	t       *testing.T
	done    bool
	waiters map[string]chan struct{}
}

// wait returns a channel closed when a log record containing s is written.
func (w *testLogWriter) wait(s string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	w.waiters[s] = ch
	return ch
}

func newTestLogWriter(t *testing.T) *testLogWriter {
	w := &testLogWriter{t: t, waiters: map[string]chan struct{}{}}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() }) // registered first, runs last
	return w
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	for sub, ch := range w.waiters {
		if strings.Contains(string(p), sub) {
			close(ch)
			delete(w.waiters, sub)
		}
	}
	return len(p), nil
}

// request is one HTTP call of a test.
type request struct {
	method, path string
	token        string // sent as Bearer when set
	body         string // sent as application/json when set
	host         string // Host header; the server's own address when empty
	header       map[string]string
	from         string // the loopback address to send from (127.0.0.1 when empty)
}

// clientFrom is an HTTP client whose connections come from ip, a loopback
// address (on Linux all of 127.0.0.0/8 answers), so tests can be several
// clients at once.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return string(r.body) }

func (h *harness) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	// A bounded wait: a request that wrongly starts a live log stream
	// fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, h.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.host != "" {
		req.Host = r.host
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	client := http.DefaultClient
	if r.from != "" {
		client = clientFrom(r.from)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// api calls the API as token with v (if not nil) JSON-encoded and decodes
// a 2xx answer into out (if not nil).
func (h *harness) api(t *testing.T, method, path, token string, v, out any) response {
	t.Helper()
	r := request{method: method, path: path, token: token}
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r.body = string(data)
	}
	res := h.do(t, r)
	if out != nil && res.status/100 == 2 {
		if err := json.Unmarshal(res.body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, res.body, err)
		}
	}
	return res
}

// mustAPI is api that fails the test unless the status is want.
func (h *harness) mustAPI(t *testing.T, want int, method, path, token string, v, out any) response {
	t.Helper()
	res := h.api(t, method, path, token, v, out)
	if res.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.status, want, res.body)
	}
	return res
}

type projectOut struct {
	ID, Name, Slug, URL string
	GitURL              string `json:"git_url"`
	ProductionBranch    string `json:"production_branch"`
	ProductionID        string `json:"production_deployment_id"`
}

type deploymentOut struct {
	ID          string
	ProjectID   string `json:"project_id"`
	State       string
	Ref         string
	Branch      string
	URL         string
	Error       string
	Trigger     string
	PreviewHost string `json:"preview_host"`
}

func (h *harness) createProject(t *testing.T, token, name string) projectOut {
	t.Helper()
	var p projectOut
	h.mustAPI(t, http.StatusCreated, "POST", "/v1/projects", token,
		map[string]string{"name": name, "git_url": "https://example.com/" + name + ".git"}, &p)
	return p
}

func (h *harness) createDeployment(t *testing.T, token, projectID string) deploymentOut {
	t.Helper()
	var d deploymentOut
	h.mustAPI(t, http.StatusAccepted, "POST", "/v1/projects/"+projectID+"/deployments", token, nil, &d)
	return d
}

// newUser creates a user with an API key and returns the user and token.
func (h *harness) newUser(t *testing.T, login string) (*store.User, string) {
	t.Helper()
	u := &store.User{Login: login, Name: login}
	if err := h.DB.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	_, token, err := h.DB.CreateAPIKey(t.Context(), u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return u, token
}

// publish appends events to the deployment's event subject.
func (h *harness) publish(t *testing.T, evs ...queue.Event) {
	t.Helper()
	for _, ev := range evs {
		if ev.At.IsZero() {
			ev.At = time.Now()
		}
		if err := h.Queue.Client().PublishEvent(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func logEvent(id, text string) queue.Event {
	return queue.Event{DeploymentID: id, Kind: queue.KindLog, Stream: "stdout", Text: text}
}

func stateEvent(id, state string) queue.Event {
	return queue.Event{DeploymentID: id, Kind: queue.KindState, State: state}
}

// wantError checks a JSON error answer: status, code and a sentence.
func wantError(t *testing.T, res response, status int, code string) {
	t.Helper()
	if res.status != status {
		t.Errorf("status %d, want %d: %s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var body struct{ Error, Code string }
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Errorf("error body %q is not JSON: %v", res.body, err)
		return
	}
	if body.Code != code {
		t.Errorf("code %q, want %q (body %s)", body.Code, code, res.body)
	}
	if !isSentence(body.Error) {
		t.Errorf("error %q is not a sentence", body.Error)
	}
}

// isSentence reports whether s reads as a sentence, ended by a full stop
// (or ! ?). It may start with a field name such as git_url.
func isSentence(s string) bool {
	return len(s) > 1 && strings.ContainsAny(s[len(s)-1:], ".!?")
}

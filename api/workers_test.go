package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/queue"
)

// fakeWorkers stands in for the directory of heartbeats, whose clock a
// test cannot move: it answers what the test set.
type fakeWorkers struct {
	mu   sync.Mutex
	list []queue.WorkerStatus
}

func (f *fakeWorkers) List() []queue.WorkerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]queue.WorkerStatus(nil), f.list...)
}

func (f *fakeWorkers) set(list ...queue.WorkerStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = list
}

// twoWorkers sets a live worker with labels, a draining one and one gone
// since 40 seconds.
func twoWorkers(h *harness) {
	now := time.Now()
	started := now.Add(-time.Hour).Truncate(time.Second)
	h.Workers.set(
		queue.WorkerStatus{WorkerInfo: queue.WorkerInfo{ID: "w-live", Host: "build-1", Version: "1.2.3",
			Labels: []string{"arm64", "big"}, Running: 1, Capacity: 2, StartedAt: started, At: now}, LastSeen: now.Add(-3 * time.Second)},
		queue.WorkerStatus{WorkerInfo: queue.WorkerInfo{ID: "w-draining", Host: "build-3", Version: "1.2.3",
			Running: 1, Capacity: 4, Draining: true, StartedAt: started, At: now}, LastSeen: now},
		queue.WorkerStatus{WorkerInfo: queue.WorkerInfo{ID: "w-gone", Host: "build-2", Version: "1.2.2",
			Capacity: 2, StartedAt: started, At: now.Add(-40 * time.Second)}, LastSeen: now.Add(-40 * time.Second), Gone: true},
	)
}

type workerOut struct {
	ID        string
	Host      string
	Version   string
	Labels    []string
	Running   int
	Capacity  int
	Draining  bool
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	Gone      bool
}

// TestWorkersAPI: GET /v1/workers is the administrator's list of workers,
// a gone one marked gone; another user gets 403, no credentials 401.
func TestWorkersAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, key := h.newUser(t, "mallory")

	res := h.mustAPI(t, http.StatusOK, "GET", "/v1/workers", adminToken, nil, nil)
	if got := strings.TrimSpace(res.String()); got != `{"workers":[]}` {
		t.Errorf("no workers: %s, want an empty list", got)
	}

	twoWorkers(h)
	wantError(t, h.api(t, "GET", "/v1/workers", key, nil, nil), http.StatusForbidden, "forbidden")
	wantError(t, h.api(t, "GET", "/v1/workers", "", nil, nil), http.StatusUnauthorized, "unauthorized")

	var out struct{ Workers []workerOut }
	res = h.mustAPI(t, http.StatusOK, "GET", "/v1/workers", adminToken, nil, &out)
	if len(out.Workers) != 3 {
		t.Fatalf("workers %s, want three", res)
	}
	live, draining, gone := out.Workers[0], out.Workers[1], out.Workers[2]
	if live.ID != "w-live" || live.Host != "build-1" || live.Version != "1.2.3" || strings.Join(live.Labels, ",") != "arm64,big" ||
		live.Running != 1 || live.Capacity != 2 || live.Draining || live.Gone || live.StartedAt.IsZero() || live.LastSeen.IsZero() {
		t.Errorf("live worker %+v", live)
	}
	if draining.ID != "w-draining" || !draining.Draining || draining.Gone {
		t.Errorf("draining worker %+v", draining)
	}
	if gone.ID != "w-gone" || !gone.Gone || time.Since(gone.LastSeen) < 30*time.Second {
		t.Errorf("gone worker %+v", gone)
	}
	// A worker without labels shows an empty list, not null.
	if !strings.Contains(res.String(), `"id":"w-gone","host":"build-2","version":"1.2.2","labels":[]`) {
		t.Errorf("worker without labels: %s", res)
	}
}

// TestDashboardWorkers: the workers page and its link are the
// administrator's; it explains an empty list, and marks a gone worker.
func TestDashboardWorkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	u, _ := h.newUser(t, "mallory")
	other := newBrowser(t, h)
	other.signInAs(u)
	if res := other.get("/workers"); res.status != http.StatusForbidden {
		t.Errorf("workers page for a non-admin: %d, want 403", res.status)
	}
	if page := other.mustGet("/"); strings.Contains(page.body, `href="/workers"`) {
		t.Errorf("a non-admin's nav links to the workers page")
	}

	admin := newBrowser(t, h)
	admin.signIn()
	page := admin.mustGet("/workers")
	for _, want := range []string{`href="/workers" aria-current="page"`, `id="no-workers"`, "own workers", "More than one machine"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("empty workers page lacks %q", want)
		}
	}

	twoWorkers(h)
	page = admin.mustGet("/workers")
	if strings.Contains(page.body, `id="no-workers"`) {
		t.Errorf("workers page with workers says there are none")
	}
	_, body, _ := strings.Cut(page.body, "<tbody>")
	rows := regexp.MustCompile(`(?s)<tr( class="row-gone")?>.*?</tr>`).FindAllStringSubmatch(body, -1)
	if len(rows) != 3 {
		t.Fatalf("workers page has %d rows, want 3:\n%s", len(rows), page.body)
	}
	for i, want := range []struct {
		gone  bool
		parts []string
	}{
		{false, []string{"w-live", "build-1", "arm64, big", "1 / 2", ">Live<", "1.2.3"}},
		{false, []string{"w-draining", "build-3", ">none<", "1 / 4", ">Draining<"}},
		{true, []string{"w-gone", "build-2", "0 / 2", ">Gone<", "1.2.2"}},
	} {
		row := rows[i][0]
		if (rows[i][1] != "") != want.gone {
			t.Errorf("row %d marked gone: %v, want %v", i, rows[i][1] != "", want.gone)
		}
		for _, p := range want.parts {
			if !strings.Contains(row, p) {
				t.Errorf("row %d lacks %q:\n%s", i, p, row)
			}
		}
		if !regexp.MustCompile(`>\d+ s ago</time>`).MatchString(row) {
			t.Errorf("row %d shows no heartbeat in seconds:\n%s", i, row)
		}
	}
}

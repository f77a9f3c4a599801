package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestSystemAdminOnly: the disk report and a retention run are the
// administrator's; another user gets 403, no credentials 401.
func TestSystemAdminOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Deploys.StartRetention(deploys.RetentionConfig{Reclaim: func(context.Context, []string) deploys.Reclaimed { return deploys.Reclaimed{} }})
	_, key := h.newUser(t, "mallory")
	for _, r := range []struct{ method, path string }{{"GET", "/v1/system/disk"}, {"POST", "/v1/system/retention"}} {
		wantError(t, h.api(t, r.method, r.path, key, nil, nil), http.StatusForbidden, "forbidden")
		wantError(t, h.api(t, r.method, r.path, "", nil, nil), http.StatusUnauthorized, "unauthorized")
	}
	var disk api.DiskReport
	h.mustAPI(t, http.StatusOK, "GET", "/v1/system/disk", adminToken, nil, &disk)
	if disk.LastRetention != nil {
		t.Errorf("last retention before any run: %+v", disk.LastRetention)
	}
	var run store.RetentionRun
	h.mustAPI(t, http.StatusOK, "POST", "/v1/system/retention", adminToken, nil, &run)
	h.mustAPI(t, http.StatusOK, "GET", "/v1/system/disk", adminToken, nil, &disk)
	if disk.LastRetention == nil || !disk.LastRetention.StartedAt.Equal(run.StartedAt.Truncate(time.Millisecond)) {
		t.Errorf("last retention %+v, want the run %+v", disk.LastRetention, run)
	}
}

// TestRetentionExpires: past the newest N ready deployments, a deployment
// not in production is expired: its data is reclaimed once, its host
// answers 410 with a sentence, and promoting it is a 409. A reclaim that
// fails is tried again by the next run.
func TestRetentionExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var mu sync.Mutex
	var reclaims [][]string
	fail := true
	h.Deploys.StartRetention(deploys.RetentionConfig{Keep: 2, Reclaim: func(_ context.Context, ids []string) deploys.Reclaimed {
		mu.Lock()
		defer mu.Unlock()
		reclaims = append(reclaims, slices.Clone(ids))
		if fail {
			return deploys.Reclaimed{Err: errors.New("artifact store away")}
		}
		return deploys.Reclaimed{ArtifactBytes: 100, CacheBytes: 20, Done: ids}
	}})
	calls := func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(reclaims)
	}
	p := h.createProject(t, adminToken, "app")
	var ds []deploymentOut
	for range 5 {
		d := h.createDeployment(t, adminToken, p.ID)
		for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
			if ok, err := h.DB.ApplyTransition(t.Context(), d.ID, store.Transition{To: to, At: time.Now()}); !ok || err != nil {
				t.Fatalf("%s to %s: %v %v", d.ID, to, ok, err)
			}
		}
		ds = append(ds, d)
		time.Sleep(2 * time.Millisecond) // distinct creation times: newest first is well defined
	}
	// Production is the oldest: kept besides the newest two.
	h.mustAPI(t, http.StatusOK, "POST", "/v1/deployments/"+ds[0].ID+"/promote", adminToken, nil, nil)

	var run store.RetentionRun
	h.mustAPI(t, http.StatusOK, "POST", "/v1/system/retention", adminToken, nil, &run)
	want := []string{ds[2].ID, ds[1].ID}
	asked := calls()
	if run.Expired != 2 || run.Error == "" || len(asked) != 1 || !sameSet(asked[0], want) {
		t.Fatalf("first run %+v asked %v, want 2 expired (%v) and the reclaim's error", run, asked, want)
	}
	for _, d := range ds[1:3] {
		var got struct {
			ExpiredAt *time.Time `json:"expired_at"`
		}
		h.mustAPI(t, http.StatusOK, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &got)
		if got.ExpiredAt == nil {
			t.Errorf("deployment %s has no expired_at", d.ID)
		}
		res := h.api(t, "POST", "/v1/deployments/"+d.ID+"/promote", adminToken, nil, nil)
		wantError(t, res, http.StatusConflict, "conflict")
		if !strings.Contains(res.String(), "removed by retention") {
			t.Errorf("promote of an expired deployment: %s", res)
		}
		page := h.do(t, request{method: "GET", path: "/", host: d.PreviewHost + ".localhost"})
		if page.status != http.StatusGone || !strings.Contains(page.String(), "removed by retention") {
			t.Errorf("expired preview: %d %s", page.status, page)
		}
	}
	browser := newBrowser(t, h)
	browser.signIn()
	if page := browser.mustGet("/deployments/" + ds[1].ID); !strings.Contains(page.body, "Removed by retention") || strings.Contains(page.body, `id="promote"`) {
		t.Errorf("dashboard page of an expired deployment says nothing, or offers to promote it")
	}
	if page := browser.mustGet("/projects/" + p.ID); strings.Count(page.body, ">Removed</span>") != 2 {
		t.Errorf("project page does not mark the two expired deployments removed")
	}
	for _, d := range []deploymentOut{ds[0], ds[3], ds[4]} {
		var got struct {
			ExpiredAt *time.Time `json:"expired_at"`
		}
		h.mustAPI(t, http.StatusOK, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &got)
		if got.ExpiredAt != nil {
			t.Errorf("kept deployment %s expired", d.ID)
		}
	}

	// The next run expires nothing new and finishes the reclaim.
	mu.Lock()
	fail = false
	mu.Unlock()
	run = store.RetentionRun{}
	h.mustAPI(t, http.StatusOK, "POST", "/v1/system/retention", adminToken, nil, &run)
	asked = calls()
	if run.Expired != 0 || run.Error != "" || run.ReclaimedBytes != 120 || len(asked) != 2 || !sameSet(asked[1], want) {
		t.Fatalf("second run %+v asked %v", run, asked)
	}
	run = store.RetentionRun{}
	h.mustAPI(t, http.StatusOK, "POST", "/v1/system/retention", adminToken, nil, &run)
	if asked = calls(); run.Expired != 0 || run.ReclaimedBytes != 0 || len(asked) != 2 {
		t.Fatalf("third run %+v asked %v: nothing was left to do", run, asked)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestDashboardDisk: the disk page and its retention button are the
// administrator's.
func TestDashboardDisk(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withGitHubSignIn(gh, nil))
	h.Deploys.StartRetention(deploys.RetentionConfig{Reclaim: func(context.Context, []string) deploys.Reclaimed { return deploys.Reclaimed{} }})
	b, _ := githubUser(t, h)
	if res := b.status(t, h, "/system"); res != http.StatusForbidden {
		t.Errorf("disk page for a non-admin: %d, want 403", res)
	}
	admin := newBrowser(t, h)
	csrf := admin.signIn()
	page := admin.mustGet("/system")
	for _, want := range []string{`href="/system"`, "free of", "Database (SQLite)", "Retention has not run yet", `action="/system/retention"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("disk page lacks %q", want)
		}
	}
	if res := admin.post("/system/retention", url.Values{}); res.status != http.StatusForbidden {
		t.Errorf("run retention without CSRF: %d, want 403", res.status)
	}
	if res := admin.post("/system/retention", url.Values{"_csrf": {csrf}}); res.status != http.StatusSeeOther {
		t.Fatalf("run retention: %d", res.status)
	}
	if page := admin.mustGet("/system?done=retention"); !strings.Contains(page.body, "Deployments removed") || !strings.Contains(page.body, "Retention ran") {
		t.Errorf("disk page after a run shows no run:\n%s", page.body)
	}
}

// TestRetentionSchedule: retention runs by itself every interval, and
// closing the lifecycle stops it.
func TestRetentionSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Deploys.StartRetention(deploys.RetentionConfig{Interval: 20 * time.Millisecond,
		Reclaim: func(context.Context, []string) deploys.Reclaimed { return deploys.Reclaimed{} }})
	deadline := time.Now().Add(30 * time.Second)
	for {
		run, err := h.DB.LastRetentionRun(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if run != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no scheduled retention run within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.Deploys.Close()
	last, _ := h.DB.LastRetentionRun(t.Context())
	time.Sleep(100 * time.Millisecond) // five intervals: a schedule still running would record a run
	if again, _ := h.DB.LastRetentionRun(t.Context()); !again.StartedAt.Equal(last.StartedAt) {
		t.Errorf("retention ran after Close: %v then %v", last.StartedAt, again.StartedAt)
	}
}

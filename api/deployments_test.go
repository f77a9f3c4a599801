package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

func TestDeployments(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	base := "/v1/projects/" + p.ID + "/deployments"

	d := h.createDeployment(t, adminToken, p.ID)
	if d.State != "queued" || d.ProjectID != p.ID || d.Ref != "main" || d.Branch != "main" || d.Trigger != "api" {
		t.Errorf("created: %+v", d)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(d.ID) {
		t.Fatalf("id %q", d.ID)
	}
	if want := "http://" + d.ID[:8] + "-preview.localhost:" + h.Port + "/"; d.URL != want {
		t.Errorf("url %q, want %q", d.URL, want)
	}

	// Its build job is in the queue, carrying what a worker needs.
	job := pendingJob(t, h, d.ID)
	if job.ProjectID != p.ID || job.GitURL != "https://example.com/app.git" || job.Ref != "main" {
		t.Errorf("queued job: %+v", job)
	}

	var withRef deploymentOut
	h.mustAPI(t, 202, "POST", base, adminToken, map[string]string{"ref": "feature/x", "git_url": "https://example.com/fork.git"}, &withRef)
	if withRef.Ref != "feature/x" || withRef.Branch != "feature/x" || withRef.State != "queued" {
		t.Errorf("with ref: %+v", withRef)
	}
	if job := pendingJob(t, h, withRef.ID); job.GitURL != "https://example.com/fork.git" || job.Ref != "feature/x" {
		t.Errorf("job of deployment with ref: %+v", job)
	}
	third := h.createDeployment(t, adminToken, p.ID)

	var list []deploymentOut
	h.mustAPI(t, 200, "GET", base, adminToken, nil, &list)
	if len(list) != 3 || list[0].ID != third.ID || list[1].ID != withRef.ID || list[2].ID != d.ID {
		t.Errorf("list: %+v, want newest first: %s %s %s", list, third.ID, withRef.ID, d.ID)
	}
	for _, x := range list {
		if x.URL == "" {
			t.Errorf("listed deployment %s has no url", x.ID)
		}
	}

	var one map[string]any
	h.mustAPI(t, 200, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &one)
	for _, field := range []string{"id", "project_id", "state", "branch", "commit_sha", "url", "output_type", "error",
		"created_at", "build_started_at", "build_finished_at"} {
		if _, ok := one[field]; !ok {
			t.Errorf("GET deployment lacks %q: %v", field, one)
		}
	}
	for _, field := range []string{"git_url", "artifact_key"} {
		if _, ok := one[field]; ok {
			t.Errorf("GET deployment shows internal field %q", field)
		}
	}

	run(t, h, []scenario{
		{name: "bad ref", req: request{method: "POST", path: base, token: adminToken, body: `{"ref":"-x"}`}, status: 400, code: "invalid"},
		{name: "bad git url", req: request{method: "POST", path: base, token: adminToken, body: `{"git_url":"ftp://x"}`}, status: 400, code: "invalid"},
		{name: "invalid json", req: request{method: "POST", path: base, token: adminToken, body: `{"ref":`}, status: 400, code: "invalid"},
		{name: "unknown project", req: request{method: "POST", path: "/v1/projects/nope/deployments", token: adminToken}, status: 404, code: "not_found"},
		{name: "list of unknown project", req: request{method: "GET", path: "/v1/projects/nope/deployments", token: adminToken}, status: 404, code: "not_found"},
		{name: "unknown deployment", req: request{method: "GET", path: "/v1/deployments/nope", token: adminToken}, status: 404, code: "not_found"},
		{name: "limit", req: request{method: "GET", path: base + "?limit=1", token: adminToken}, status: 200, has: []string{third.ID}, hasNot: []string{d.ID}},

		{name: "promote queued", req: request{method: "POST", path: "/v1/deployments/" + d.ID + "/promote", token: adminToken}, status: 409, code: "conflict"},
		{name: "cancel", req: request{method: "POST", path: "/v1/deployments/" + d.ID + "/cancel", token: adminToken}, status: 200,
			has: []string{`"state":"cancelled"`, `"id":"` + d.ID + `"`}},
		{name: "cancel is stored", req: request{method: "GET", path: "/v1/deployments/" + d.ID, token: adminToken}, status: 200,
			has: []string{`"state":"cancelled"`, `"build_finished_at":"`}},
		{name: "cancel twice", req: request{method: "POST", path: "/v1/deployments/" + d.ID + "/cancel", token: adminToken}, status: 409, code: "conflict"},
		{name: "promote cancelled", req: request{method: "POST", path: "/v1/deployments/" + d.ID + "/promote", token: adminToken}, status: 409, code: "conflict"},
		{name: "cancel unknown", req: request{method: "POST", path: "/v1/deployments/nope/cancel", token: adminToken}, status: 404, code: "not_found"},
		{name: "redeploy unknown", req: request{method: "POST", path: "/v1/deployments/nope/redeploy", token: adminToken}, status: 404, code: "not_found"},
		{name: "redeploy with a body that is not JSON", req: request{method: "POST", path: "/v1/deployments/" + d.ID + "/redeploy", token: adminToken, body: "{"},
			status: 400, code: "invalid"},
	})

	var again deploymentOut
	h.mustAPI(t, 202, "POST", "/v1/deployments/"+d.ID+"/redeploy", adminToken, nil, &again)
	if again.ID == d.ID || again.State != "queued" || again.Trigger != "redeploy" || again.Ref != d.Ref || again.ProjectID != p.ID {
		t.Errorf("redeploy: %+v (of %s)", again, d.ID)
	}
	pendingJob(t, h, again.ID)
	h.mustAPI(t, 200, "GET", base, adminToken, nil, &list)
	if len(list) != 4 || list[0].ID != again.ID {
		t.Errorf("after redeploy: %d deployments, first %v", len(list), list[0])
	}
	var old deploymentOut
	h.mustAPI(t, 200, "GET", "/v1/deployments/"+d.ID, adminToken, nil, &old)
	if old.State != "cancelled" {
		t.Errorf("redeploy changed the old deployment: %+v", old)
	}

	// A redeploy builds from scratch unless it asks for reuse.
	var reuse deploymentOut
	h.mustAPI(t, 202, "POST", "/v1/deployments/"+d.ID+"/redeploy", adminToken, map[string]bool{"reuse": true}, &reuse)
	for id, want := range map[string]bool{again.ID: true, reuse.ID: false} {
		got, err := h.DB.DeploymentByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rebuild != want {
			t.Errorf("redeploy %s: rebuild %v, want %v", id, got.Rebuild, want)
		}
	}
}

// TestCancelTellsWorker: cancelling publishes on the deployment's cancel
// subject, where its worker listens.
func TestCancelTellsWorker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	got := make(chan string, 16)
	stop, err := h.Queue.Client().OnCancel(func(id string) { got <- id })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	h.mustAPI(t, 200, "POST", "/v1/deployments/"+d.ID+"/cancel", adminToken, nil, nil)
	for {
		select {
		case id := <-got:
			if id == d.ID {
				return
			}
		case <-time.After(time.Minute):
			t.Fatal("no cancel message for the worker")
		}
	}
}

// TestPromote: a ready deployment can be promoted; the response is the
// project pointing at it.
func TestPromote(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	d := h.createDeployment(t, adminToken, p.ID)
	var redeploy deploymentOut
	h.mustAPI(t, 202, "POST", "/v1/deployments/"+d.ID+"/redeploy", adminToken, nil, &redeploy)
	for _, id := range []string{d.ID, redeploy.ID} {
		for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
			if ok, err := h.DB.ApplyTransition(t.Context(), id, store.Transition{To: to, At: time.Now()}); !ok || err != nil {
				t.Fatalf("%s to %s: %v %v", id, to, ok, err)
			}
		}
	}
	var out projectOut
	h.mustAPI(t, 200, "POST", "/v1/deployments/"+redeploy.ID+"/promote", adminToken, nil, &out)
	if out.ID != p.ID || out.ProductionID != redeploy.ID {
		t.Errorf("promote answered %+v, want project %s with production %s", out, p.ID, redeploy.ID)
	}
	h.mustAPI(t, 200, "GET", "/v1/projects/"+p.ID, adminToken, nil, &out)
	if out.ProductionID != redeploy.ID {
		t.Errorf("production deployment %q, want %q", out.ProductionID, redeploy.ID)
	}
	res := h.api(t, "POST", "/v1/deployments/"+d.ID+"/cancel", adminToken, nil, nil)
	wantError(t, res, 409, "conflict")
}

// pendingJob returns the build job queued for a deployment.
func pendingJob(t *testing.T, h *harness, id string) queue.BuildJob {
	t.Helper()
	job, err := h.Queue.Client().PendingJob(t.Context(), id)
	if err != nil || job == nil {
		t.Fatalf("no build job for %s: %v", id, err)
	}
	if job.DeploymentID != id {
		t.Errorf("job for %q, want %s", job.DeploymentID, id)
	}
	return *job
}

// TestBuildEnvIsSealed: the job carries build and all-target variables,
// sealed to the deployment, never runtime ones and never in clear.
func TestBuildEnvIsSealed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	env := "/v1/projects/" + p.ID + "/env"
	for _, v := range []map[string]string{
		{"key": "BUILD_ONLY", "value": "b-value-123", "target": "build"},
		{"key": "EVERYWHERE", "value": "a-value-456", "target": "all"},
		{"key": "RUNTIME_ONLY", "value": "r-value-789", "target": "runtime"},
	} {
		h.mustAPI(t, http.StatusOK, "PUT", env, adminToken, v, nil)
	}
	d := h.createDeployment(t, adminToken, p.ID)
	job := pendingJob(t, h, d.ID)
	raw, _ := json.Marshal(job)
	for _, secret := range []string{"b-value-123", "a-value-456", "r-value-789"} {
		if regexp.MustCompile(secret).Match(raw) {
			t.Errorf("job carries %q in clear", secret)
		}
	}
	// Sealed with the worker key, not the instance key that opens every
	// stored secret.
	if _, err := h.Box.Open(job.Env, []byte(d.ID)); err == nil {
		t.Error("the job's env opens with the instance key")
	}
	plain, err := h.WorkerBox.Open(job.Env, []byte(d.ID))
	if err != nil {
		t.Fatalf("open job env with the worker key and the deployment id: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["BUILD_ONLY"] != "b-value-123" || got["EVERYWHERE"] != "a-value-456" {
		t.Errorf("build env = %v, want BUILD_ONLY and EVERYWHERE only", got)
	}
}

// TestForkBuildsGetNoSecrets: a build of a fork's pull request carries no
// build variable, no clone token and the fork scope (a build cache of its
// own), and its server gets no runtime variable; the production branch and
// other branches get theirs, in their own scopes.
func TestForkBuildsGetNoSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "app")
	env := "/v1/projects/" + p.ID + "/env"
	h.mustAPI(t, http.StatusOK, "PUT", env, adminToken, map[string]string{"key": "TOKEN", "value": "s3cr3t-value", "target": "all"}, nil)
	ctx := t.Context()
	admin, err := h.DB.UserByLogin(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	project, err := h.DB.Project(ctx, admin.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		d       store.Deployment
		scope   string
		secrets bool
	}{
		{"fork", store.Deployment{Branch: "main", Ref: "main", Trigger: model.TriggerPullRequest, PRNumber: 7, Fork: true}, model.ScopeFork, false},
		{"production branch", store.Deployment{Branch: "main", Ref: "main", Trigger: model.TriggerPush}, model.ScopeProduction, true},
		{"other branch", store.Deployment{Branch: "feature", Ref: "feature", Trigger: model.TriggerPullRequest, PRNumber: 8}, model.ScopePreview, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.d
			d.ProjectID = p.ID
			dep, err := h.Deploys.Deploy(ctx, admin.ID, project, &d)
			if err != nil {
				t.Fatal(err)
			}
			job := pendingJob(t, h, dep.ID)
			if job.Scope != tt.scope {
				t.Errorf("scope %q, want %q", job.Scope, tt.scope)
			}
			if got := job.Env != nil; got != tt.secrets {
				t.Errorf("job carries build variables: %v, want %v", got, tt.secrets)
			}
			runtime, err := h.Deploys.RuntimeEnv(ctx, dep)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(runtime) > 0; got != tt.secrets {
				t.Errorf("server gets runtime variables %v: %v, want %v", runtime, got, tt.secrets)
			}
			if tt.name == "fork" {
				var out deploymentOut
				h.mustAPI(t, 202, "POST", "/v1/deployments/"+dep.ID+"/redeploy", adminToken, nil, &out)
				if job := pendingJob(t, h, out.ID); job.Scope != model.ScopeFork || job.Env != nil {
					t.Errorf("a redeploy of a fork's build got scope %q and variables %v", job.Scope, job.Env != nil)
				}
			}
		})
	}
}

// TestFairQueueing: one user's builds go out to the builders at most
// UserConcurrency at a time; another user's build goes out at once, not
// behind them; when a build ends, the next waiting one of its owner goes
// out. Past MaxQueued unfinished builds, a user is refused with 429; the
// admin is not.
func TestFairQueueing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *api.Config, c *deploys.Config) { c.UserConcurrency, c.MaxQueued = 1, 3 })
	_, bob := h.newUser(t, "bob")
	_, carol := h.newUser(t, "carol")
	pb := h.createProject(t, bob, "bob-app")
	pc := h.createProject(t, carol, "carol-app")
	var bobs []deploymentOut
	for range 3 {
		bobs = append(bobs, h.createDeployment(t, bob, pb.ID))
	}
	res := h.api(t, "POST", "/v1/projects/"+pb.ID+"/deployments", bob, nil, nil)
	wantError(t, res, http.StatusTooManyRequests, "limit_reached")
	carols := h.createDeployment(t, carol, pc.ID)

	pending := func(id string) bool {
		t.Helper()
		ok, err := h.Queue.Client().JobPending(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !pending(bobs[0].ID) || pending(bobs[1].ID) || pending(bobs[2].ID) {
		t.Fatalf("bob's jobs out: %v %v %v, want only the first", pending(bobs[0].ID), pending(bobs[1].ID), pending(bobs[2].ID))
	}
	if !pending(carols.ID) {
		t.Fatal("carol's build waits behind bob's")
	}
	failed := stateEvent(bobs[0].ID, model.StateError)
	failed.Error = "boom"
	h.publish(t, failed)
	for deadline := time.Now().Add(time.Minute); !pending(bobs[1].ID); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob's second build did not go out after his first ended")
		}
	}
	if pending(bobs[2].ID) {
		t.Error("bob has two builds out with a limit of one")
	}
	// Cancelling a waiting build frees its place in the quota and sends nothing.
	h.mustAPI(t, 200, "POST", "/v1/deployments/"+bobs[2].ID+"/cancel", bob, nil, nil)
	if pending(bobs[2].ID) {
		t.Error("a cancelled waiting build went out")
	}
	// The admin has no quota.
	pa := h.createProject(t, adminToken, "admin-app")
	for range 4 {
		h.createDeployment(t, adminToken, pa.ID)
	}
}

package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestBuildReuse: a push of a new commit with the same tree reuses the
// ready build (ready with no build container, its log naming the build it
// reused, serving that build's very files); changing only a build env var
// builds again; a redeploy builds from scratch unless it asks for reuse;
// retention keeps a build's files while a kept deployment reuses it. Each
// build writes a random token into its page, so a page that comes
// from a reused build is told apart from a rebuilt one.
func TestBuildReuse(t *testing.T) {
	requireEnv(t)
	dataDir := t.TempDir()
	b := startBerth(t, dataDir, "BERTH_EXTRA_CA_FILE="+os.Getenv("BERTH_EXTRA_CA_FILE"),
		// Retention runs only when the test asks, keeping the newest
		// ready deployment and production.
		"BERTH_KEEP_DEPLOYMENTS=1", "BERTH_KEEP_PROMOTED_DAYS=0", "BERTH_RETENTION_INTERVAL=0")
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("a page made at build time\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first := commitAll(t, repo, "Site", true)
	var p struct {
		ID string `json:"id"`
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]any{"name": "reused-site", "git_url": repo,
		"build_command": `mkdir -p dist && echo "<h1>$GREETING $(cat /proc/sys/kernel/random/uuid)</h1>" > dist/index.html`,
		"output_dir":    "dist"}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	setGreeting := func(v string) {
		t.Helper()
		if code := b.api(http.MethodPut, "/v1/projects/"+p.ID+"/env", map[string]string{"key": "GREETING", "value": v, "target": "build"}, nil); code != http.StatusOK {
			t.Fatalf("set GREETING: %d", code)
		}
	}
	type built struct {
		reusedDeployment
		took time.Duration
		page string
		log  string
	}
	finish := func(d reusedDeployment, started time.Time) built {
		t.Helper()
		b.waitState(d.ID, 5*time.Minute, terminal)
		took := time.Since(started)
		var got reusedDeployment
		b.api(http.MethodGet, "/v1/deployments/"+d.ID, nil, &got)
		got.started = started
		log := plainLog(t, b, d.ID)
		if got.State != "ready" {
			t.Fatalf("deployment %s: %s (%s):\n%s", d.ID, got.State, got.Error, log)
		}
		res, body := b.getHost(got.PreviewHost+".localhost", "/")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("preview of %s: %d", d.ID, res.StatusCode)
		}
		return built{reusedDeployment: got, took: took, page: string(body), log: log}
	}
	deploy := func() built {
		t.Helper()
		started := time.Now()
		var d reusedDeployment
		if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
			t.Fatalf("deploy: %d", code)
		}
		return finish(d, started)
	}
	redeploy := func(id string, body any) built {
		t.Helper()
		started := time.Now()
		var d reusedDeployment
		if code := b.api(http.MethodPost, "/v1/deployments/"+id+"/redeploy", body, &d); code != http.StatusAccepted {
			t.Fatalf("redeploy: %d", code)
		}
		return finish(d, started)
	}
	reusing := func(d built, from built) {
		t.Helper()
		if d.ReusedFrom != from.ID || !strings.Contains(d.log, "Reusing the build of deployment "+from.ID+" (same tree ") {
			t.Fatalf("deployment %s did not reuse %s: reused_from %q; log:\n%s", d.ID, from.ID, d.ReusedFrom, d.log)
		}
		if d.page != from.page {
			t.Errorf("reusing deployment serves %q, want the reused build's %q", d.page, from.page)
		}
		if n := buildContainersCreated(t, d.ID, d.started, time.Now()); n != 0 {
			t.Errorf("%d build containers ran for the reusing deployment %s", n, d.ID)
		}
	}
	rebuilt := func(d built, old built, why string) {
		t.Helper()
		if d.ReusedFrom != "" || strings.Contains(d.log, "Reusing the build") || d.page == old.page {
			t.Fatalf("%s: deployment %s was not rebuilt: reused_from %q, page %q; log:\n%s", why, d.ID, d.ReusedFrom, d.page, d.log)
		}
		if n := buildContainersCreated(t, d.ID, d.started, time.Now()); n != 1 {
			t.Errorf("%s: %d build containers ran for %s, want 1", why, n, d.ID)
		}
	}

	setGreeting("hello")
	a := deploy()
	if a.ReusedFrom != "" || !strings.Contains(a.page, "hello ") || a.CommitSHA != first {
		t.Fatalf("first build: %+v", a)
	}
	if n := buildContainersCreated(t, a.ID, a.started, time.Now()); n != 1 {
		t.Fatalf("%d build containers seen for the first build, want 1: the check cannot see containers", n)
	}

	// The same tree under a new commit.
	emptyCommit(t, repo, "Nothing changes")
	same := deploy()
	reusing(same, a)
	if same.CommitSHA == a.CommitSHA {
		t.Errorf("reusing deployment records the old commit %s", same.CommitSHA)
	}
	t.Logf("first build: API call to ready in %s; reused: %s", a.took.Round(time.Millisecond), same.took.Round(time.Millisecond))

	// Only a build env var changes.
	setGreeting("bonjour")
	env := deploy()
	rebuilt(env, same, "changed build env var")
	if !strings.Contains(env.page, "bonjour ") {
		t.Errorf("rebuilt page %q lacks the new greeting", env.page)
	}
	if strings.Contains(env.log, "bonjour") || strings.Contains(env.log, "hello") {
		t.Errorf("a build env value is in the log:\n%s", env.log)
	}

	// A redeploy builds from scratch unless it asks for reuse.
	scratch := redeploy(env.ID, nil)
	rebuilt(scratch, env, "redeploy")
	again := redeploy(env.ID, map[string]bool{"reuse": true})
	reusing(again, scratch) // the newest build with those inputs

	// Retention expires every deployment but the newest; the files of the
	// build it reuses stay, those of a build no kept deployment serves go.
	stored := func(id string) bool {
		_, err := os.Stat(filepath.Join(dataDir, "artifacts", "deployments", id, "files", "index.html"))
		return err == nil
	}
	if !stored(a.ID) || !stored(scratch.ID) || stored(same.ID) || stored(again.ID) {
		t.Fatalf("artifacts before retention: first %v, scratch %v, reusing ones %v %v", stored(a.ID), stored(scratch.ID), stored(same.ID), stored(again.ID))
	}
	var run struct {
		Expired int    `json:"expired"`
		Error   string `json:"error"`
	}
	if code := b.api(http.MethodPost, "/v1/system/retention", nil, &run); code != http.StatusOK || run.Error != "" {
		t.Fatalf("retention: %d %+v", code, run)
	}
	// Neither is production (a later push is) nor the newest.
	for _, id := range []string{a.ID, scratch.ID} {
		var d struct {
			ExpiredAt *time.Time `json:"expired_at"`
		}
		if b.api(http.MethodGet, "/v1/deployments/"+id, nil, &d); d.ExpiredAt == nil {
			t.Fatalf("deployment %s not expired by retention (%d expired)", id, run.Expired)
		}
	}
	if stored(a.ID) || !stored(scratch.ID) {
		t.Errorf("after retention: first build's files stored %v (want gone), reused build's %v (want kept)", stored(a.ID), stored(scratch.ID))
	}
	if res, body := b.getHost(again.PreviewHost+".localhost", "/"); res.StatusCode != http.StatusOK || string(body) != scratch.page {
		t.Errorf("the kept reusing deployment after retention: %d %q, want %q", res.StatusCode, body, scratch.page)
	}
}

// reusedDeployment is a deployment as the API shows it, with its reuse.
type reusedDeployment struct {
	deployment
	ReusedFrom string `json:"reused_from"`
	started    time.Time
}

// buildContainersCreated counts the build containers the engine created for
// deploymentID between since and until, from its event log.
func buildContainersCreated(t *testing.T, deploymentID string, since, until time.Time) int {
	t.Helper()
	out, err := exec.Command("docker", "events",
		"--since", strconv.FormatInt(since.Add(-time.Second).Unix(), 10),
		"--until", strconv.FormatInt(until.Add(time.Second).Unix(), 10),
		"--filter", "type=container", "--filter", "event=create",
		"--filter", "label=dev.berth.role=build", "--filter", "label=dev.berth.deployment="+deploymentID,
		"--format", "{{.Actor.ID}}").CombinedOutput()
	if err != nil {
		t.Fatalf("docker events: %v: %s", err, out)
	}
	return len(strings.Fields(string(out)))
}

// emptyCommit commits nothing new in dir: the same tree under a new commit.
func emptyCommit(t *testing.T, dir, msg string) string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "Test", Email: "test@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

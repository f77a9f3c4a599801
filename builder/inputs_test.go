package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

// TestInputsKey: the key follows every input and the secret, and the
// env's digest cannot be forged by moving characters between a name and
// its value.
func TestInputsKey(t *testing.T) {
	base := buildInputs{Version: inputsVersion, Tree: "t", RootDir: "apps/web", EnvHash: hashEnv(map[string]string{"A": "1"}),
		Image: "sha256:i", InstallCommand: "ic", BuildCommand: "bc", StartCommand: "sc", OutputDir: "out",
		Install: "npm ci", Build: "npm run build", Prune: "npm prune", Start: []string{"npm", "start"}}
	secret := []byte("s")
	key := base.key(secret)
	if base.key(secret) != key || len(key) != 64 {
		t.Fatalf("key %q not stable", key)
	}
	if base.key([]byte("other")) == key {
		t.Error("another project's secret gives the same key")
	}
	for name, change := range map[string]func(*buildInputs){
		"tree": func(in *buildInputs) { in.Tree = "u" }, "root dir": func(in *buildInputs) { in.RootDir = "" },
		"env": func(in *buildInputs) { in.EnvHash = hashEnv(map[string]string{"A": "2"}) }, "image": func(in *buildInputs) { in.Image = "sha256:j" },
		"install setting": func(in *buildInputs) { in.InstallCommand = "" }, "build setting": func(in *buildInputs) { in.BuildCommand = "" },
		"start setting": func(in *buildInputs) { in.StartCommand = "" }, "output dir": func(in *buildInputs) { in.OutputDir = "" },
		"install": func(in *buildInputs) { in.Install = "pnpm i" }, "build": func(in *buildInputs) { in.Build = "" },
		"prune": func(in *buildInputs) { in.Prune = "" }, "start": func(in *buildInputs) { in.Start = []string{"node", "."} },
		"version": func(in *buildInputs) { in.Version++ },
	} {
		in := base
		change(&in)
		if in.key(secret) == key {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
	if hashEnv(map[string]string{"AB": "C"}) == hashEnv(map[string]string{"A": "BC"}) {
		t.Error("env digests collide when a character moves from name to value")
	}
	if hashEnv(map[string]string{"A": "1", "B": "2"}) != hashEnv(map[string]string{"B": "2", "A": "1"}) {
		t.Error("env digest depends on map order")
	}
}

// TestWorkerReportsReuse builds a static site through the real pool: a
// later job of the same project whose tree is the same under a new commit
// reports the earlier build instead of building (no artifact of its own),
// passing over one with the same inputs whose files are gone;
// another build env, a fork's build or another project builds again.
func TestWorkerReportsReuse(t *testing.T) {
	image := buildImage(t)
	repo := t.TempDir()
	r, err := git.PlainInit(repo, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	if err := os.WriteFile(filepath.Join(repo, "index.html"), []byte("<h1>hi</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt.Add("index.html")
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}
	first, err := wt.Commit("site", &git.CommitOptions{Author: sig})
	if err != nil {
		t.Fatal(err)
	}
	second, err := wt.Commit("nothing", &git.CommitOptions{Author: sig, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	q, pool, st := testPoolWith(t, Config{Concurrency: 1, Image: image, ExtraCAFile: os.Getenv("BERTH_EXTRA_CA_FILE"),
		Timeout: 5 * time.Minute}, box)
	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	run := func(job queue.BuildJob) (last queue.Event, log string) {
		t.Helper()
		job.GitURL, job.AllowLocal = repo, true
		if job.ProjectID == "" {
			job.ProjectID = "p1"
		}
		if err := q.Client().PublishJob(ctx, job); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, ev := range events(t, q.Client(), job.DeploymentID) {
			if ev.Kind == queue.KindLog {
				lines = append(lines, ev.Text)
			}
			last = ev
		}
		log = strings.Join(lines, "\n")
		if last.State != model.StateReady {
			t.Fatalf("%s: %+v\n%s", job.DeploymentID, last, log)
		}
		return last, log
	}
	stored := func(id string) bool {
		t.Helper()
		found := false
		if err := st.List(ctx, model.ArtifactPrefix(id), func(artifacts.Object) error { found = true; return nil }); err != nil {
			t.Fatal(err)
		}
		return found
	}
	built := func(what string, ev queue.Event, log, id string) {
		t.Helper()
		if ev.ReusedFrom != "" || ev.ArtifactKey != model.ArtifactPrefix(id) || strings.Contains(log, "Reusing") || !stored(id) {
			t.Errorf("%s: not built: %+v\n%s", what, ev, log)
		}
	}

	a, _ := run(queue.BuildJob{DeploymentID: "d1", CommitSHA: first.String()})
	if len(a.InputsKey) != 64 || a.ReusedFrom != "" || !stored("d1") {
		t.Fatalf("first build's ready: %+v", a)
	}
	// d9 has the same key but its files are gone (a lost bucket): passed over.
	offer := []queue.ReuseCandidate{{DeploymentID: "d0", InputsKey: "not this one", ArtifactKey: model.ArtifactPrefix("d1")},
		{DeploymentID: "d9", InputsKey: a.InputsKey, ArtifactKey: model.ArtifactPrefix("d9")},
		{DeploymentID: "d1", InputsKey: a.InputsKey, ArtifactKey: model.ArtifactPrefix("d1")}}

	ev, log := run(queue.BuildJob{DeploymentID: "d2", CommitSHA: second.String(), Reuse: offer})
	if ev.ReusedFrom != "d1" || ev.InputsKey != a.InputsKey || ev.ArtifactKey != "" || ev.OutputType != "" {
		t.Fatalf("same tree, new commit: %+v\n%s", ev, log)
	}
	if !strings.Contains(log, "Reusing the build of deployment d1 (same tree ") || strings.Contains(log, "Output:") ||
		!strings.Contains(log, "The build of deployment d9 was made from the same inputs, but its files are not in the artifact store") {
		t.Errorf("reusing build's log:\n%s", log)
	}
	if stored("d2") {
		t.Error("the reusing build uploaded an artifact")
	}

	env, _ := json.Marshal(map[string]string{"GREETING": "secret-greeting-value"})
	ev, log = run(queue.BuildJob{DeploymentID: "d3", CommitSHA: second.String(), Reuse: offer, Env: box.Seal(env, []byte("d3"))})
	built("another build env", ev, log, "d3")
	if ev.InputsKey == a.InputsKey || strings.Contains(log, "secret-greeting-value") {
		t.Errorf("another build env: key %s (first %s)\n%s", ev.InputsKey, a.InputsKey, log)
	}

	ev, log = run(queue.BuildJob{DeploymentID: "d4", CommitSHA: second.String(), Reuse: offer, Scope: model.ScopeFork})
	built("a fork's build", ev, log, "d4")
	if ev.InputsKey != "" {
		t.Errorf("a fork's build reported an inputs key %q", ev.InputsKey)
	}

	ev, log = run(queue.BuildJob{DeploymentID: "d5", ProjectID: "p2", CommitSHA: second.String(), Reuse: offer})
	built("another project", ev, log, "d5")
	if ev.InputsKey == a.InputsKey {
		t.Error("another project's build has the same inputs key")
	}
}

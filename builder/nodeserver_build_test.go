package builder

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

// TestStartCommandMakesNodeServer builds a project that would be a static
// site (public/index.html, no start script) with the project's start command
// set: it becomes a Node server whose one archive holds the project with its
// production dependency and without its dev dependency (local packages, so
// nothing is downloaded), and whose manifest carries the command.
func TestStartCommandMakesNodeServer(t *testing.T) {
	image := buildImage(t)
	repo := t.TempDir()
	files := map[string]string{
		"package.json": `{"name":"app","version":"1.0.0","dependencies":{"dep":"file:dep"},` +
			`"devDependencies":{"devdep":"file:devdep"},"scripts":{"build":"node build.js"}}`,
		"dep/package.json":    `{"name":"dep","version":"1.0.0"}`,
		"devdep/package.json": `{"name":"devdep","version":"1.0.0"}`,
		"build.js":            `require("fs").writeFileSync("built.txt", "built");`,
		"app.js":              `console.log("server");`,
		"public/index.html":   `<p>static</p>`,
	}
	r, err := git.PlainInit(repo, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	for name, content := range files {
		p := filepath.Join(repo, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		wt.Add(name)
	}
	if _, err := wt.Commit("app", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	q, pool, st := testPoolWith(t, Config{Concurrency: 1, Image: image, ExtraCAFile: os.Getenv("BERTH_EXTRA_CA_FILE"), Timeout: 5 * time.Minute}, nil)
	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := q.Client().PublishJob(ctx, queue.BuildJob{DeploymentID: "s1", ProjectID: "p1", GitURL: repo, AllowLocal: true,
		StartCommand: "node app.js"}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var last queue.Event
	for _, ev := range eventsWithin(t, q.Client(), "s1", 4*time.Minute) {
		if ev.Kind == queue.KindLog {
			lines = append(lines, ev.Text)
		}
		last = ev
	}
	log := strings.Join(lines, "\n")
	if last.State != model.StateReady || last.OutputType != model.OutputNodeServer {
		t.Fatalf("final event %+v, want ready %s\n%s", last, model.OutputNodeServer, log)
	}
	for _, want := range []string{"Node server (the project's start command): will run `node app.js` with PORT", "Prune: npm prune --omit=dev"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}

	prefix := model.ArtifactPrefix("s1")
	m, err := artifacts.GetManifest(ctx, st, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Start, []string{"sh", "-c", "node app.js"}) || len(m.Files) != 0 {
		t.Errorf("manifest start %q with %d files, want sh -c node app.js and none", m.Start, len(m.Files))
	}
	rc, _, err := st.Get(ctx, prefix+model.ServerBundle)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = true
	}
	for _, want := range []string{"app.js", "built.txt", "package.json", "node_modules/dep"} {
		if !names[want] {
			t.Errorf("server bundle lacks %s", want)
		}
	}
	if names["node_modules/devdep"] {
		t.Errorf("server bundle holds the dev dependency node_modules/devdep")
	}
}

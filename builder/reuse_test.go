package builder

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
)

// TestRebuildReusesModulesAndNextKey builds an npm project that depends on
// a package named next (a local one, so nothing is downloaded) twice in one
// project and once in another:
//   - the first build runs npm ci; the second, with the same lock file,
//     restores node_modules and skips npm ci, and its build still finds
//     the dependency;
//   - the server actions key Next.js reads is set, the same in both builds
//     of the project and different in the other project.
func TestRebuildReusesModulesAndNextKey(t *testing.T) {
	image := buildImage(t)
	repo := t.TempDir()
	files := map[string]string{
		"package.json": `{"name":"app","version":"1.0.0","dependencies":{"next":"file:fake-next"},` +
			`"scripts":{"build":"node build.js"}}`,
		"package-lock.json": `{"name":"app","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{` +
			`"":{"name":"app","version":"1.0.0","dependencies":{"next":"file:fake-next"}},` +
			`"fake-next":{"version":"15.0.0"},` +
			`"node_modules/next":{"resolved":"fake-next","link":true}}}`,
		"fake-next/package.json": `{"name":"next","version":"15.0.0","main":"index.js"}`,
		"fake-next/index.js":     `module.exports = "fake next";`,
		"build.js": `const fs = require("fs"), crypto = require("crypto");
const key = process.env.NEXT_SERVER_ACTIONS_ENCRYPTION_KEY || "";
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/index.html", require("next") + " " + Buffer.from(key, "base64").length + " " +
  crypto.createHash("sha256").update(key).digest("hex"));
`,
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
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	q, pool, st := testPoolWith(t, Config{Concurrency: 1, Image: image, ExtraCAFile: os.Getenv("BERTH_EXTRA_CA_FILE"),
		Timeout: 5 * time.Minute, CacheDir: t.TempDir()}, box)
	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	build := func(project, id string) (log, page string) {
		t.Helper()
		if err := q.Client().PublishJob(ctx, queue.BuildJob{DeploymentID: id, ProjectID: project, GitURL: repo, AllowLocal: true}); err != nil {
			t.Fatal(err)
		}
		var lines []string
		var last queue.Event
		for _, ev := range eventsWithin(t, q.Client(), id, 4*time.Minute) {
			if ev.Kind == queue.KindLog {
				lines = append(lines, ev.Text)
			}
			last = ev
		}
		if last.State != "ready" {
			t.Fatalf("%s: %+v\n%s", id, last, strings.Join(lines, "\n"))
		}
		rc, _, err := st.Get(ctx, model.ArtifactPrefix(id)+model.FilesDir+"index.html")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, _ := io.ReadAll(rc)
		return strings.Join(lines, "\n"), string(data)
	}

	log1, page1 := build("p1", "d1")
	if !strings.Contains(log1, "Install: npm ci") || !strings.Contains(log1, "added 1 package") {
		t.Fatalf("first build did not run npm ci:\n%s", log1)
	}
	if fields := strings.Fields(page1); len(fields) != 4 || fields[2] != "32" {
		t.Fatalf("first build's page %q: want the fake next and a 32-byte key", page1)
	}
	log2, page2 := build("p1", "d2") // waits for d1's cache to be saved
	if !strings.Contains(log2, "node_modules") || !strings.Contains(log2, "Install: skipped") || strings.Contains(log2, "Install: npm ci") {
		t.Fatalf("second build did not reuse node_modules:\n%s", log2)
	}
	if page2 != page1 {
		t.Fatalf("second build's page %q, want %q (same key, same dependency)", page2, page1)
	}
	log3, page3 := build("p2", "d3")
	if !strings.Contains(log3, "Install: npm ci") {
		t.Fatalf("another project reused node_modules:\n%s", log3)
	}
	if page3 == page1 || !strings.HasPrefix(page3, "fake next 32 ") {
		t.Fatalf("other project's page %q: want another 32-byte key than %q", page3, page1)
	}
	k, _ := box.Derive("berth/next-server-actions/p1", 32)
	for _, l := range []string{log1, log2, log3} {
		if strings.Contains(l, base64.StdEncoding.EncodeToString(k)) {
			t.Fatal("the key is in the build log")
		}
	}
}

package builder

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testRepo makes a repository with two commits on main, a branch "feature"
// with its own commit, and a tag "v1" on the first commit.
func testRepo(t *testing.T) (dir string, first, second, feature string) {
	t.Helper()
	dir = t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	commit := func(file, content, msg string) string {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		wt.Add(file)
		h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	first = commit("a.txt", "one", "First commit\n\nbody")
	if _, err := repo.CreateTag("v1", plumbing.NewHash(first), nil); err != nil {
		t.Fatal(err)
	}
	second = commit("a.txt", "two", "Second commit")
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}); err != nil {
		t.Fatal(err)
	}
	feature = commit("b.txt", "feature", "Feature commit")
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("main")}); err != nil {
		t.Fatal(err)
	}
	return dir, first, second, feature
}

func TestFetchSource(t *testing.T) {
	repo, first, second, feature := testRepo(t)
	tests := []struct {
		name       string
		src        Source
		wantSHA    string
		wantBranch string
		wantFile   string // file that must exist with content
		wantErr    string
	}{
		{name: "default branch", src: Source{URL: repo, AllowLocal: true}, wantSHA: second, wantBranch: "main", wantFile: "a.txt=two"},
		{name: "branch", src: Source{URL: repo, AllowLocal: true, Ref: "feature"}, wantSHA: feature, wantBranch: "feature", wantFile: "b.txt=feature"},
		{name: "file URL", src: Source{URL: "file://" + repo, AllowLocal: true, Ref: "main"}, wantSHA: second, wantBranch: "main"},
		{name: "tag", src: Source{URL: repo, AllowLocal: true, Ref: "v1"}, wantSHA: first, wantFile: "a.txt=one"},
		{name: "exact commit on branch", src: Source{URL: repo, AllowLocal: true, Ref: "main", SHA: first}, wantSHA: first, wantBranch: "main", wantFile: "a.txt=one"},
		{name: "commit as ref", src: Source{URL: repo, AllowLocal: true, Ref: first}, wantSHA: first, wantFile: "a.txt=one"},
		{name: "missing branch", src: Source{URL: repo, AllowLocal: true, Ref: "nope"}, wantErr: `"nope" not found`},
		{name: "missing repository", src: Source{URL: filepath.Join(repo, "missing"), AllowLocal: true}, wantErr: "clone repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "src")
			c, err := fetchSource(context.Background(), tt.src, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SHA != tt.wantSHA || c.Branch != tt.wantBranch {
				t.Errorf("got sha %s branch %q, want %s %q", c.SHA, c.Branch, tt.wantSHA, tt.wantBranch)
			}
			if c.Message == "" || strings.Contains(c.Message, "\n") {
				t.Errorf("message %q: want the first line", c.Message)
			}
			if tt.wantFile != "" {
				name, content, _ := strings.Cut(tt.wantFile, "=")
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil || string(got) != content {
					t.Errorf("%s = %q (%v), want %q", name, got, err, content)
				}
			}
		})
	}
}

func TestDetectCommands(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Commands
	}{
		{"plain site", map[string]string{"index.html": "<h1>x</h1>"}, Commands{}},
		{"npm without lock", map[string]string{"package.json": `{"scripts":{"build":"vite build"}}`},
			Commands{Install: "npm install", Build: "npm run build", ReusableModules: true}},
		{"npm with lock", map[string]string{"package.json": `{"scripts":{"build":"x"}}`, "package-lock.json": "{}"},
			Commands{Install: "npm ci", Build: "npm run build", ReusableModules: true}},
		{"yarn", map[string]string{"package.json": `{"scripts":{"build":"x"}}`, "yarn.lock": ""},
			Commands{Install: "yarn install --frozen-lockfile", Build: "yarn run build"}},
		{"pnpm", map[string]string{"package.json": `{"scripts":{"build":"x"}}`, "pnpm-lock.yaml": ""},
			Commands{Install: "corepack pnpm install --frozen-lockfile", Build: "corepack pnpm run build"}},
		{"no build script", map[string]string{"package.json": `{"scripts":{"start":"node ."}}`},
			Commands{Install: "npm install", ReusableModules: true}},
		{"next", map[string]string{"package.json": `{"scripts":{"build":"next build"},"dependencies":{"next":"15.5.0"}}`, "package-lock.json": "{}"},
			Commands{Install: "npm ci", Build: "npm run build", UsesNext: true, ReusableModules: true}},
		{"next as a dev dependency", map[string]string{"package.json": `{"devDependencies":{"next":"^15"}}`},
			Commands{Install: "npm install", UsesNext: true, ReusableModules: true}},
		{"workspaces", map[string]string{"package.json": `{"workspaces":["apps/*"],"scripts":{"build":"x"}}`, "package-lock.json": "{}"},
			Commands{Install: "npm ci", Build: "npm run build"}},
		{"install scripts", map[string]string{"package.json": `{"scripts":{"build":"x","postinstall":"prisma generate"}}`, "package-lock.json": "{}"},
			Commands{Install: "npm ci", Build: "npm run build", ReusableModules: true, InstallScripts: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			}
			got, err := detectCommands(openRoot(t, dir))
			got.Server, got.Prune, got.NotServer = nil, "", "" // TestDetectNodeServer's part
			got.Manager, got.Env = "", nil                     // TestDetectManager's part
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
}

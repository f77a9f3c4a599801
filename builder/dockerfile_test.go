package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/queue"
)

// TestDockerfileFor: the rule that makes a project a Dockerfile build.
func TestDockerfileFor(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		job     queue.BuildJob
		want    string
		wantErr bool
	}{
		{name: "Dockerfile at the root", files: []string{"Dockerfile", "package.json"}, want: "Dockerfile"},
		{name: "none", files: []string{"package.json"}, want: ""},
		{name: "a folder named Dockerfile", files: []string{"Dockerfile/x"}, want: ""},
		{name: "output_dir asks for static files", files: []string{"Dockerfile"}, job: queue.BuildJob{OutputDir: "dist"}, want: ""},
		{name: "start_command asks for a Node server", files: []string{"Dockerfile"}, job: queue.BuildJob{StartCommand: "node a.js"}, want: ""},
		{name: "path set", files: []string{"deploy/web.Dockerfile"}, job: queue.BuildJob{DockerfilePath: "deploy/web.Dockerfile", OutputDir: "dist"}, want: "deploy/web.Dockerfile"},
		{name: "path set but missing", files: []string{"Dockerfile"}, job: queue.BuildJob{DockerfilePath: "web.Dockerfile"}, wantErr: true},
		{name: "path set leads out", files: []string{"Dockerfile"}, job: queue.BuildJob{DockerfilePath: "../Dockerfile"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, "app", filepath.FromSlash(f))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("FROM scratch\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A Dockerfile above the root directory must not count.
			os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
			root, err := os.OpenRoot(filepath.Join(dir, "app"))
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			got, err := dockerfileFor(root, tt.job)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("dockerfileFor = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestBuildContextDir: the build context is the root directory, and a link
// that leads it out of the clone is refused.
func TestBuildContextDir(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "apps", "web"), 0o755)
	os.Symlink(dir, filepath.Join(src, "out"))
	if got, err := buildContextDir(src, "apps/web"); err != nil || filepath.Base(got) != "web" {
		t.Errorf("apps/web: %q, %v", got, err)
	}
	if _, err := buildContextDir(src, "out"); err == nil {
		t.Error("a root directory linked out of the clone was accepted")
	}
}

// TestDockerignore: the context leaves out what .dockerignore excludes, as
// the docker CLI would, keeps what a `!` pattern brings back, and always
// sends the Dockerfile.
func TestDockerignore(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("# comment\nnode_modules\n*.md\n!README.md\nDockerfile\nsecrets/\n"), 0o644)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	skip, err := dockerignore(root, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{".git", true, true},
		{"node_modules/x/index.js", false, true},
		{"NOTES.md", false, true},
		{"README.md", false, false},
		{"Dockerfile", false, false},
		{".dockerignore", false, false},
		{"secrets/key.pem", false, true},
		{"secrets", true, false}, // a ! pattern exists: folders are walked, their files decide
		{"server.js", false, false},
	} {
		if got := skip(c.rel, c.isDir); got != c.want {
			t.Errorf("skip(%q) = %v, want %v", c.rel, got, c.want)
		}
	}

	// With no .dockerignore only .git is left out.
	empty, _ := os.OpenRoot(t.TempDir())
	defer empty.Close()
	skip, err = dockerignore(empty, "Dockerfile")
	if err != nil || !skip(".git", true) || skip("node_modules", true) {
		t.Errorf("no .dockerignore: %v", err)
	}
}

package builder

import (
	"context"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/netguard"
)

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// allowNets is a policy allowing the given ranges, for tests whose git
// servers listen on loopback.
func allowNets(t *testing.T, nets string) netguard.Policy {
	t.Helper()
	allow, err := netguard.ParseNets(nets)
	if err != nil {
		t.Fatal(err)
	}
	return netguard.Policy{Allow: allow}
}

// TestFetchSourceRefusesLocalPaths: a path or file:// URL on the host is
// fetched only when the job allows it; ssh and git:// never.
func TestFetchSourceRefusesLocalPaths(t *testing.T) {
	repo, _, second, _ := testRepo(t)
	for _, url := range []string{repo, "file://" + repo, "/etc", "file:///etc"} {
		dir := filepath.Join(t.TempDir(), "src")
		_, err := fetchSource(context.Background(), Source{URL: url}, dir)
		if err == nil || !strings.Contains(err.Error(), "only the administrator may build from local repositories") {
			t.Errorf("fetch %s without AllowLocal: %v, want a refusal", url, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("fetch %s without AllowLocal wrote %d entries", url, len(entries))
		}
	}
	for _, url := range []string{"ssh://git@127.0.0.1/x.git", "git://127.0.0.1/x.git", "git@127.0.0.1:x.git"} {
		_, err := fetchSource(context.Background(), Source{URL: url, AllowLocal: true}, filepath.Join(t.TempDir(), "src"))
		if err == nil || !strings.Contains(err.Error(), "must be an https:// URL") {
			t.Errorf("fetch %s: %v, want a refusal", url, err)
		}
	}
	c, err := fetchSource(context.Background(), Source{URL: repo, AllowLocal: true}, filepath.Join(t.TempDir(), "src"))
	if err != nil || c.SHA != second {
		t.Fatalf("fetch with AllowLocal: %+v %v", c, err)
	}
}

// gitServer serves the test repository over smart HTTP with `git
// http-backend` on a loopback address, counting the requests it gets.
func gitServer(t *testing.T, listen string) (url string, hits *atomic.Int64) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is needed for this test (scripts/test installs it)")
	}
	repo, _, _, _ := testRepo(t)
	root := t.TempDir()
	if out, err := exec.Command(gitBin, "clone", "--bare", "-q", repo, filepath.Join(root, "repo.git")).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v: %s", err, out)
	}
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	hits = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		backend.ServeHTTP(w, r)
	}))
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/repo.git", hits
}

// TestCloneRefusesPrivateAddresses: an http(s) clone does not connect to a
// loopback address, whether named by address or by a name that resolves to
// one, nor when an allowed server redirects to one; the operator's allowed
// ranges let it through.
func TestCloneRefusesPrivateAddresses(t *testing.T) {
	url, hits := gitServer(t, "127.0.0.1:0")
	port := strings.TrimPrefix(url[strings.LastIndex(url, ":"):], ":")
	port = port[:strings.Index(port, "/")]
	fetch := func(url string, p netguard.Policy) error {
		_, err := fetchSource(context.Background(), Source{URL: url, Ref: "main", Net: p}, filepath.Join(t.TempDir(), "src"))
		return err
	}

	err := fetch(url, netguard.Policy{})
	want := "git_url resolves to 127.0.0.1, a loopback address; berth does not fetch from private networks"
	if err == nil || err.Error() != want {
		t.Fatalf("clone from 127.0.0.1: %v, want %q", err, want)
	}
	err = fetch("http://localhost:"+port+"/repo.git", netguard.Policy{})
	if err == nil || !strings.Contains(err.Error(), "a loopback address; berth does not fetch from private networks") {
		t.Fatalf("clone from localhost: %v, want a refusal", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the git server got %d requests from refused clones", n)
	}
	// Another loopback address than the allowed one is still refused.
	if err := fetch(url, allowNets(t, "127.0.0.2/32, 10.0.0.0/8")); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("clone with other ranges allowed: %v, want a refusal", err)
	}
	if err := fetch(url, allowNets(t, "127.0.0.1/32")); err != nil {
		t.Fatalf("clone with 127.0.0.1/32 allowed: %v", err)
	}
	if hits.Load() == 0 {
		t.Fatal("the allowed clone made no request")
	}

	// A server on an allowed address that redirects to a refused one.
	target, targetHits := gitServer(t, "127.0.0.2:0")
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.TrimSuffix(target, "/repo.git")+r.URL.RequestURI(), http.StatusFound)
	}))
	defer redirect.Close()
	err = fetch(redirect.URL+"/repo.git", allowNets(t, "127.0.0.1/32"))
	if err == nil || !strings.Contains(err.Error(), "git_url resolves to 127.0.0.2, a loopback address") {
		t.Fatalf("clone redirected to 127.0.0.2: %v, want a refusal", err)
	}
	if n := targetHits.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
	// The redirect itself is followed when its target is allowed too.
	if err := fetch(redirect.URL+"/repo.git", allowNets(t, "127.0.0.1/32,127.0.0.2/32")); err != nil {
		t.Fatalf("clone redirected to an allowed address: %v", err)
	}
}

// TestRepoFilesStayInTheRepository: package.json and lock files are read
// on the host only as regular files inside the repository: a link to a
// FIFO returns at once, a link to /dev/zero is not read, a link out of the
// repository is not followed, and a file over the cap is refused.
func TestRepoFilesStayInTheRepository(t *testing.T) {
	outside := t.TempDir()
	fifo := filepath.Join(outside, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		make func(dir string) error
	}{
		{"package.json links to a FIFO outside", func(dir string) error { return os.Symlink(fifo, filepath.Join(dir, "package.json")) }},
		{"package.json is a FIFO", func(dir string) error { return mkfifo(filepath.Join(dir, "package.json")) }},
		{"package.json links to a FIFO inside", func(dir string) error {
			if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
				return err
			}
			return os.Symlink("pipe", filepath.Join(dir, "package.json"))
		}},
		{"package.json links to /dev/zero", func(dir string) error { return os.Symlink("/dev/zero", filepath.Join(dir, "package.json")) }},
		{"package.json links to /etc/passwd", func(dir string) error { return os.Symlink("/etc/passwd", filepath.Join(dir, "package.json")) }},
		{"package.json links out by ..", func(dir string) error {
			os.WriteFile(filepath.Join(outside, "package.json"), []byte(`{"scripts":{"build":"x"}}`), 0o644)
			return os.Symlink("../"+filepath.Base(outside)+"/package.json", filepath.Join(dir, "package.json"))
		}},
		{"package.json over the cap", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"x":"`+strings.Repeat("a", maxPackageJSON)+`"}`), 0o644)
		}},
		{"yarn.lock links to a FIFO", func(dir string) error {
			os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{}`), 0o644)
			return os.Symlink(fifo, filepath.Join(dir, "yarn.lock"))
		}},
		{"package-lock.json links to /dev/zero", func(dir string) error {
			os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{}`), 0o644)
			return os.Symlink("/dev/zero", filepath.Join(dir, "package-lock.json"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "repo")
			os.Mkdir(dir, 0o755)
			if err := tt.make(dir); err != nil {
				t.Fatal(err)
			}
			root := openRoot(t, dir)
			// detectCommands never blocks here: a FIFO is not opened.
			c, err := detectCommands(root)
			if err == nil || !strings.Contains(err.Error(), "must be a regular file inside the repository") && !strings.Contains(err.Error(), "more than berth reads") {
				t.Errorf("detectCommands = %+v, %v; want a refusal", c, err)
			}
			// The cache key passes over such files, also without blocking.
			key := cacheKey(root, "img", "/workspace", nil)
			empty := openRoot(t, t.TempDir())
			if tt.name != "package.json over the cap" && !strings.Contains(tt.name, "lock") && key != cacheKey(empty, "img", "/workspace", nil) {
				t.Errorf("the cache key read %s", tt.name)
			}
		})
	}
}

// TestCacheKeyReadsOnlyTheRepository: a lock file that links out of the
// repository (to a file, to /dev/zero) or to a FIFO adds nothing to the
// cache key, and hashing it does not block: the key is the one
// package.json alone gives.
func TestCacheKeyReadsOnlyTheRepository(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "lock"), []byte("secret of the host"), 0o644)
	fifo := filepath.Join(outside, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{filepath.Join(outside, "lock"), "/dev/zero", fifo} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"a":1}`), 0o644)
		plain := cacheKey(openRoot(t, dir), "img", "/workspace", nil)
		if err := os.Symlink(target, filepath.Join(dir, "package-lock.json")); err != nil {
			t.Fatal(err)
		}
		if got := cacheKey(openRoot(t, dir), "img", "/workspace", nil); got != plain {
			t.Errorf("a lock file linked to %s changed the cache key: it was read", target)
		}
	}
}

// TestRootDirStaysInTheRepository: a root_dir that is a link out of the
// repository is refused.
func TestRootDirStaysInTheRepository(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "web"), 0o755)
	os.Symlink("/etc", filepath.Join(dir, "out"))
	os.Symlink("web", filepath.Join(dir, "in"))
	repo := openRoot(t, dir)
	for _, ok := range []string{"", "web", "in"} {
		d, err := openProjectDir(repo, ok)
		if err != nil {
			t.Errorf("root dir %q: %v", ok, err)
			continue
		}
		d.Close()
	}
	if _, err := openProjectDir(repo, "out"); err == nil {
		t.Error("root dir linked to /etc was opened")
	}
}

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The image the Dockerfile builds is cached under this repository, tagged with a hash of the
// build context and of the base images: a second run of the suite on the same tree skips the
// build (a cold one compiles all of berth, minutes on a small machine).
const imageRepo = "berth-e2e-image"

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// berthImage returns the tag of berth's image built from the repository's Dockerfile with the
// local base images scripts/test prepares (BERTH_TEST_GO_IMAGE, BERTH_TEST_RUNTIME_IMAGE).
func berthImage(t *testing.T) string {
	t.Helper()
	requireEnv(t, "BERTH_TEST_GO_IMAGE", "BERTH_TEST_RUNTIME_IMAGE")
	imageOnce.Do(func() { imageTag, imageErr = buildBerthImage(t) })
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTag
}

func buildBerthImage(t *testing.T) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	goImage, runtimeImage := os.Getenv("BERTH_TEST_GO_IMAGE"), os.Getenv("BERTH_TEST_RUNTIME_IMAGE")
	key, err := contextKey(root, goImage, runtimeImage)
	if err != nil {
		return "", err
	}
	tag := imageRepo + ":" + key[:16]
	if exec.Command("docker", "image", "inspect", tag).Run() == nil {
		t.Logf("image %s already built from this tree", tag)
		return tag, nil
	}

	// The build downloads modules (go mod download in the Dockerfile) from a module proxy on
	// loopback serving this machine's module cache, which has the same layout as the proxy
	// protocol: no registry or network needed, and the same go.sum checks. "go mod download"
	// here first fills the cache with what the build's "go mod download" will ask for.
	dl := exec.Command("go", "mod", "download")
	dl.Dir = root
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go mod download: %v: %s", err, out)
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download")))}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	defer func() {
		srv.Close()
		<-served
	}()

	start := time.Now()
	// The classic builder (DOCKER_BUILDKIT=0) is what this engine has; --network host lets
	// the build's RUN steps reach the proxy on loopback.
	cmd := exec.Command("docker", "build", "--network", "host", "--label", "berth.e2e=image",
		"--build-arg", "GO_IMAGE="+goImage,
		"--build-arg", "RUNTIME_IMAGE="+runtimeImage,
		"--build-arg", "RUNTIME_PACKAGES=", // the local runtime image already has them
		"--build-arg", "GOPROXY=http://"+ln.Addr().String(),
		"--build-arg", "VERSION=e2e-"+key[:12],
		"-t", tag, root)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker build: %v\n%s", err, out.String())
	}
	t.Logf("built %s from the Dockerfile in %s", tag, time.Since(start).Round(time.Second))
	pruneImages(t, tag)
	return tag, nil
}

// pruneImages removes the images of older trees, built more than a day ago: long enough that
// no run of the suite beside this one still uses them. An image a container uses stays (no
// force).
func pruneImages(t *testing.T, keep string) {
	out, err := exec.Command("docker", "image", "ls", "--filter", "reference="+imageRepo, "--format", "{{.Repository}}:{{.Tag}}").Output()
	if err != nil {
		return
	}
	for _, tag := range strings.Fields(string(out)) {
		if tag == keep {
			continue
		}
		created, err := exec.Command("docker", "image", "inspect", "--format", "{{.Created}}", tag).Output()
		if err != nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(created)))
		if err != nil || time.Since(at) < 24*time.Hour {
			continue
		}
		if exec.Command("docker", "rmi", tag).Run() == nil {
			t.Logf("removed %s, built %s", tag, at.Format(time.RFC3339))
		}
	}
}

// contextKey hashes what the build reads: the Dockerfile, .dockerignore, every file git
// would commit in root (tracked or not ignored) that .dockerignore keeps in the context, and
// the IDs of the base images.
func contextKey(root string, images ...string) (string, error) {
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return "", err
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.Trim(l, "/"))
		}
	}
	h := sha256.New()
	for _, img := range images {
		id, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", img).Output()
		if err != nil {
			return "", fmt.Errorf("base image %s is missing (scripts/base-images.sh builds it): %w", img, err)
		}
		fmt.Fprintf(h, "image %s %s\n", img, bytes.TrimSpace(id))
	}
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	names, err := ls.Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(names), "\x00"), "\x00") {
		if name != "Dockerfile" && name != ".dockerignore" && dockerIgnored(name, patterns) {
			continue
		}
		f, err := os.Open(filepath.Join(root, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "file %s\n", name)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dockerIgnored reports whether one of the .dockerignore patterns (of the simple forms that
// file uses: a name, a directory, a glob, **/glob) leaves name out of the build context. It
// errs on the side of keeping a file: a file kept in the key needlessly only costs a build.
func dockerIgnored(name string, patterns []string) bool {
	for _, p := range patterns {
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			for _, part := range strings.Split(name, "/") {
				if m, _ := filepath.Match(rest, part); m {
					return true
				}
			}
			continue
		}
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
		if m, _ := filepath.Match(p, name); m {
			return true
		}
	}
	return false
}

// docker runs the docker CLI and returns its trimmed output, failing the test on an error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers at all, or fails the test with what alive says when the
// server's container is gone.
func waitHTTP(t *testing.T, url string, timeout time.Duration, alive func() error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer in %s: %v", url, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

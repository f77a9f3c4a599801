package apps

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/store"
)

// buildImage builds a local image named tag from a Dockerfile with the
// classic builder (the engine has no buildx and no registry is reachable),
// and removes it when the test ends.
func buildImage(t *testing.T, tag, dockerfile string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "build", "-q", "-t", tag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out.String())
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
}

// TestServerRunsWithoutNodeUser: a runtime image with no `node` account (as
// distroless Node images have none) still runs servers, as a numeric
// non-root user that owns the copied files; an image whose own USER is a
// non-root one runs them as that user.
func TestServerRunsWithoutNodeUser(t *testing.T) {
	base := requireDocker(t)
	id := store.NewID(4)
	noNode := "berth-apps-test-nonode:" + id
	buildImage(t, noNode, "FROM "+base+"\nUSER root\nRUN sed -i '/^node:/d' /etc/passwd /etc/group\n")
	ownUser := "berth-apps-test-ownuser:" + id
	buildImage(t, ownUser, "FROM "+noNode+"\nUSER 4321:4321\n")

	for _, tc := range []struct {
		image string
		uid   float64
	}{{noNode, 1000}, {ownUser, 4321}} {
		t.Run(tc.image, func(t *testing.T) {
			env := newTestServers(t, Config{Image: tc.image})
			d := env.deploy("nonode")
			code, body := get(t, env.servers, d, "/")
			if code != http.StatusOK {
				t.Fatalf("GET /: status %d, want 200", code)
			}
			if body["uid"] != tc.uid {
				t.Errorf("the server runs as uid %v, want %v", body["uid"], tc.uid)
			}
			if code, body := get(t, env.servers, d, "/write"); code != http.StatusOK || body["wrote"] != true {
				t.Errorf("GET /write: %d %v: the server cannot write into its own folder", code, body)
			}
		})
	}
}

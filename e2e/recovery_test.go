package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKill9DuringBuild kills berth with SIGKILL while a build runs, starts
// it again on the same data directory, and expects the build to be
// redelivered and to succeed, with the orphaned container cleaned away.
func TestKill9DuringBuild(t *testing.T) {
	requireEnv(t)
	dataDir := t.TempDir()
	env := []string{"BERTH_EXTRA_CA_FILE=" + os.Getenv("BERTH_EXTRA_CA_FILE")}
	b := startBerth(t, dataDir, env...)

	repo := makeRepo(t, fixture(t, "create-vite/template-vanilla"))
	var p struct{ ID string }
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "crashy", "git_url": repo}, &p); code != http.StatusCreated {
		t.Fatalf("create project: %d", code)
	}
	var d deployment
	if code := b.api(http.MethodPost, "/v1/projects/"+p.ID+"/deployments", nil, &d); code != http.StatusAccepted {
		t.Fatalf("deploy: %d", code)
	}
	// Wait until the build container runs, then kill berth outright.
	deadline := time.Now().Add(5 * time.Minute)
	for len(buildContainers(t, d.ID, true)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no build container started within 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.kill9()
	if len(buildContainers(t, d.ID, false)) == 0 {
		t.Fatal("expected the killed build's container to be left behind")
	}

	b2 := startBerth(t, dataDir, env...)
	got := b2.waitState(d.ID, 10*time.Minute, terminal)
	if got.State != "ready" || got.Attempt != 2 {
		t.Fatalf("after restart: state %q attempt %d (%s), want ready on attempt 2", got.State, got.Attempt, got.Error)
	}
	log := plainLog(t, b2, d.ID)
	if !strings.Contains(log, "Attempt 2 of 3") {
		t.Errorf("log does not mention the second attempt:\n%s", log)
	}
	// The finished build's container is removed in the background after
	// "ready" (with its build cache saved first); the orphan went at start.
	deadline = time.Now().Add(5 * time.Minute)
	for len(buildContainers(t, d.ID, false)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("build containers left behind: %v", buildContainers(t, d.ID, false))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if res, _ := b2.getHost(got.PreviewHost+".localhost", "/"); res.StatusCode != http.StatusOK {
		t.Errorf("preview after recovery: %d", res.StatusCode)
	}
}

// buildContainers lists the ids of the deployment's build containers.
func buildContainers(t *testing.T, deploymentID string, runningOnly bool) []string {
	t.Helper()
	args := []string{"ps", "-q", "--filter", "label=dev.berth.deployment=" + deploymentID}
	if !runningOnly {
		args = append(args, "-a")
	}
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

func plainLog(t *testing.T, b *berthProc, id string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url("/v1/deployments/"+id+"/logs"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept", "text/plain")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

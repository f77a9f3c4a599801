package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileDockerfileReachesHost: a Dockerfile's RUN step that fetches
// berth's own /healthz on the address berth listens on (the gateway of the
// network builds run on) is refused: the engine's build runs its steps on
// berth's fenced network, as a sandboxed build does.
func TestHostileDockerfileReachesHost(t *testing.T) {
	requireEnv(t)
	netName, gateway := testNetwork(t)
	b := startBerth(t, t.TempDir(), "BERTH_NETWORK="+netName, "BERTH_ADDR="+net.JoinHostPort(gateway, "0"))
	target := b.url("/healthz")
	if res, err := http.Get(target); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s from the host: %v", target, err)
	} else {
		res.Body.Close()
	}

	dir := t.TempDir()
	quoted, _ := json.Marshal(target)
	files := map[string]string{
		"probe.js":   "const TARGET = " + string(quoted) + ";\n" + probeJS,
		"Dockerfile": "FROM " + os.Getenv("BERTH_BUILD_IMAGE") + "\nWORKDIR /srv\nCOPY probe.js ./\nRUN node probe.js\nCMD [\"node\", \"-e\", \"require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)\"]\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commitAll(t, dir, "Probe from a Dockerfile", true)
	var p struct{ ID string }
	if st := b.api("POST", "/v1/projects", map[string]any{"name": "docker probe", "git_url": dir}, &p); st != http.StatusCreated {
		t.Fatalf("create project: %d", st)
	}
	var d deployment
	if st := b.api("POST", "/v1/projects/"+p.ID+"/deployments", nil, &d); st != http.StatusAccepted {
		t.Fatalf("create deployment: %d", st)
	}
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "-f", "berth-app:"+d.ID).Run() })
	d = b.waitState(d.ID, 10*time.Minute, terminal)
	log := plainLog(t, b, d.ID)
	if !strings.Contains(log, "Step 4/") || !strings.Contains(log, "probe: ") {
		t.Fatalf("the probe did not run (%s); log:\n%s", d.State, log)
	}
	if !strings.Contains(log, "probe: could not connect: ECONNREFUSED") {
		t.Errorf("the RUN step's probe of %s was not refused; log:\n%s", target, log)
	}
	if strings.Contains(log, "probe: reached berth") {
		t.Errorf("the RUN step fetched berth's /healthz; log:\n%s", log)
	}
}

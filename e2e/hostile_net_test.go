package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// probeJS fetches the URL berth listens on from inside the build and says what happened, then
// writes the site either way, so that the build's outcome does not depend on the probe.
const probeJS = `
const fs = require("fs");
let said = false;
function say(s) {
  if (said) return;
  said = true;
  console.log("probe: " + s);
  fs.mkdirSync("dist", {recursive: true});
  fs.writeFileSync("dist/index.html", "<h1>probed</h1>");
}
const req = require("http").get(TARGET, {timeout: 30000}, res => {
  let body = "";
  res.on("data", d => body += d);
  res.on("end", () => say("reached berth: " + res.statusCode + " " + body.slice(0, 200)));
});
req.on("timeout", () => { say("timed out"); req.destroy(); });
req.on("error", e => say("could not connect: " + e.code));
`

// testNetwork makes a Docker network of the test's own for berth's containers, as berth would,
// and returns its name and gateway (an address of this host). It is removed after berth stops.
func testNetwork(t *testing.T) (name, gateway string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name = "berth-e2e-" + hex.EncodeToString(b)
	if out, err := exec.Command("docker", "network", "create", "--label", "dev.berth.managed=true", name).CombinedOutput(); err != nil {
		t.Fatalf("create network: %v: %s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "network", "rm", name).CombinedOutput(); err != nil {
			t.Errorf("remove network %s: %v: %s", name, err, out)
		}
	})
	out, err := exec.Command("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", name).Output()
	gateway = strings.TrimSpace(string(out))
	if err != nil || net.ParseIP(gateway) == nil {
		t.Fatalf("gateway of network %s: %q %v", name, gateway, err)
	}
	return name, gateway
}

// TestHostileBuildReachesHost: a build command that fetches berth's own /healthz, on the
// address berth listens on (the gateway of the network builds run on, so an address the
// build can route to), is refused, while the same URL answers from the host. The build
// itself still finishes and its site is served: the fence stops the probe, not the build.
func TestHostileBuildReachesHost(t *testing.T) {
	requireEnv(t)
	netName, gateway := testNetwork(t)
	// The admin deploys: what a build can reach does not depend on who started it, and the
	// project's local git path is for admins only.
	b := startBerth(t, t.TempDir(), "BERTH_NETWORK="+netName, "BERTH_ADDR="+net.JoinHostPort(gateway, "0"))
	target := b.url("/healthz")
	if !strings.HasPrefix(target, "http://"+gateway+":") {
		t.Fatalf("berth listens at %s, want the gateway %s", target, gateway)
	}

	// The same URL answers from the host: the address is right and berth serves it.
	res, err := http.Get(target)
	if err != nil {
		t.Fatalf("GET %s from the host: %v", target, err)
	}
	healthz, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(healthz) == 0 {
		t.Fatalf("GET %s from the host: %d %q", target, res.StatusCode, healthz)
	}

	dir := t.TempDir()
	quoted, _ := json.Marshal(target)
	if err := os.WriteFile(filepath.Join(dir, "probe.js"), []byte("const TARGET = "+string(quoted)+";\n"+probeJS), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, dir, "Probe", true)
	var p struct {
		ID string `json:"id"`
	}
	if st := b.api("POST", "/v1/projects", map[string]any{
		"name": "probe", "git_url": dir, "build_command": "node probe.js", "output_dir": "dist",
	}, &p); st != http.StatusCreated {
		t.Fatalf("create project: %d", st)
	}
	var d deployment
	if st := b.api("POST", "/v1/projects/"+p.ID+"/deployments", nil, &d); st != http.StatusAccepted {
		t.Fatalf("create deployment: %d", st)
	}
	d = b.waitState(d.ID, 5*time.Minute, terminal)
	log := plainLog(t, b, d.ID)
	if d.State != "ready" {
		t.Fatalf("deployment %s (%s); log:\n%s", d.State, d.Error, log)
	}
	if !strings.Contains(log, "probe: could not connect: ECONNREFUSED") {
		t.Errorf("the build's probe of %s was not refused; log:\n%s", target, log)
	}
	if strings.Contains(log, "probe: reached berth") || strings.Contains(log, strings.TrimSpace(string(healthz))) {
		t.Errorf("the build fetched berth's /healthz; log:\n%s", log)
	}
	if res, body := b.getHost(d.PreviewHost+".localhost", "/"); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "probed") {
		t.Errorf("the probe's site: %d %q", res.StatusCode, body)
	}
}

package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readLines returns the lines of path, trimmed, without blank lines and # comments.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// unitConfig reads a systemd unit's Environment= settings, ExecStart= words
// and StateDirectory (as the path systemd makes of it).
func unitConfig(t *testing.T, unit string) (env map[string]string, execStart []string, stateDir string) {
	t.Helper()
	env = map[string]string{}
	for _, l := range readLines(t, unit) {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "Environment":
			for _, kv := range strings.Fields(v) {
				name, val, _ := strings.Cut(kv, "=")
				env[name] = val
			}
		case "ExecStart":
			execStart = strings.Fields(v)
		case "StateDirectory":
			stateDir = "/var/lib/" + v
		}
	}
	return env, execStart, stateDir
}

// TestSystemdUnitConfig: the command line and environment deploy/berth.service gives berth
// (its Environment= defaults, then deploy/env.example as /etc/berth/env) are a configuration
// berth accepts, with the data in the unit's StateDirectory.
func TestSystemdUnitConfig(t *testing.T) {
	env, execStart, stateDir := unitConfig(t, "deploy/berth.service")
	if len(execStart) < 2 || execStart[1] != "serve" {
		t.Fatalf("ExecStart %q does not run berth serve", execStart)
	}
	// EnvironmentFile= settings override Environment= ones, as systemd does.
	for _, l := range readLines(t, "deploy/env.example") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("env.example: %q is not NAME=value", l)
		}
		env[k] = v
	}
	env["BERTH_ADMIN_TOKEN"] = strings.Repeat("a1", 32) // the operator fills it in
	cfg, err := LoadConfig(execStart[2:], func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("berth refuses the unit's configuration: %v", err)
	}
	if stateDir == "" || cfg.DataDir != stateDir {
		t.Errorf("data dir %q, want the unit's StateDirectory %q", cfg.DataDir, stateDir)
	}
	if cfg.Addr != ":80" || cfg.AppDomain != "example-apps.com" || cfg.PublicURL != "https://berth.example.com" {
		t.Errorf("config from the unit: addr %q, apps domain %q, public URL %q", cfg.Addr, cfg.AppDomain, cfg.PublicURL)
	}
}

// TestDockerfileConfig: the image's ENV is a configuration berth accepts, with the data dir
// the image's volume, and the default command is berth serve.
func TestDockerfileConfig(t *testing.T) {
	env := map[string]string{}
	volume, cmd, entrypoint := "", "", ""
	for _, l := range readLines(t, "Dockerfile") {
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "ENV":
			for _, kv := range strings.Fields(v) {
				name, val, _ := strings.Cut(kv, "=")
				env[name] = val
			}
		case "VOLUME":
			volume = v
		case "CMD":
			cmd = v
		case "ENTRYPOINT":
			entrypoint = v
		}
	}
	cfg, err := LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("berth refuses the image's configuration: %v", err)
	}
	if volume != `["`+cfg.DataDir+`"]` {
		t.Errorf("VOLUME %s, but the data dir is %q", volume, cfg.DataDir)
	}
	if entrypoint != `["berth"]` || cmd != `["serve"]` {
		t.Errorf("ENTRYPOINT %s CMD %s, want berth serve", entrypoint, cmd)
	}
}

// TestDocumentedSettingsExist: every BERTH_* name the README, the docs and
// the files in deploy/ tell an operator to set is a setting of berth serve
// (or a variable of the compose files or nats-server configurations of
// deploy/, or of the test command), so no
// guide names a setting berth would silently ignore.
func TestDocumentedSettingsExist(t *testing.T) {
	known := map[string]bool{
		"BERTH_IMAGE":           true, // compose.yaml: the image to run
		"BERTH_TEST_MINIO_PORT": true, // scripts/test
		"BERTH_TEST_CACHE":      true, // scripts/test
		// deploy/cluster: the passwords nats-server reads from its
		// environment, and the cluster compose file's workers' concurrency.
		"BERTH_NATS_PASSWORD":        true,
		"BERTH_WORKER_NATS_PASSWORD": true,
		"BERTH_WORKER_CONCURRENCY":   true,
	}
	for _, o := range options(new(Config)) {
		known[o.env] = true
	}
	name := regexp.MustCompile(`\bBERTH_[A-Z0-9_]*[A-Z0-9]\b`)
	var files []string
	filepath.WalkDir("deploy", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	files = append(files, "Dockerfile", "README.md", "SECURITY.md", "docs/ARCHITECTURE.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range name.FindAllString(string(b), -1) {
			if !known[n] && !strings.HasSuffix(n, "_") {
				t.Errorf("%s names %s, which is no setting of berth serve", f, n)
			}
		}
	}
}

package main

import (
	"slices"
	"strings"
	"testing"
)

// TestWorkerUnitConfig: the command line and environment deploy/cluster/berth-worker.service
// gives berth worker (its Environment= defaults, then deploy/cluster/worker.env.example as
// /etc/berth/worker.env) are a configuration berth worker accepts, with the data in the unit's
// StateDirectory and the password and worker key in files.
func TestWorkerUnitConfig(t *testing.T) {
	env, execStart, stateDir := unitConfig(t, "deploy/cluster/berth-worker.service")
	if len(execStart) < 2 || execStart[1] != "worker" {
		t.Fatalf("ExecStart %q does not run berth worker", execStart)
	}
	for _, l := range readLines(t, "deploy/cluster/worker.env.example") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("worker.env.example: %q is not NAME=value", l)
		}
		env[k] = v
	}
	env["BERTH_S3_SECRET_KEY"] = "filled-in-by-the-operator"
	cfg, err := LoadWorkerConfig(execStart[2:], func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("berth worker refuses the unit's configuration: %v", err)
	}
	if stateDir == "" || cfg.DataDir != stateDir {
		t.Errorf("data dir %q, want the unit's StateDirectory %q", cfg.DataDir, stateDir)
	}
	if !slices.Equal(cfg.NATSURLs, []string{"nats://nats-1:4222", "nats://nats-2:4222", "nats://nats-3:4222"}) ||
		cfg.NATSUser != "worker" || cfg.NATSPasswordFile == "" || cfg.WorkerKeyFile == "" {
		t.Errorf("worker's NATS settings: urls %q, user %q, password file %q, key file %q", cfg.NATSURLs, cfg.NATSUser, cfg.NATSPasswordFile, cfg.WorkerKeyFile)
	}
}

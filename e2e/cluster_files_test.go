package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterConfigFiles: nats-server itself accepts every node file of
// deploy/cluster (its configuration check, -t), given the two passwords in
// the environment, and refuses them without: no node starts with a user
// whose password is empty.
func TestClusterConfigFiles(t *testing.T) {
	requireEnv(t, "BERTH_TEST_NATS_SERVER")
	files, err := filepath.Glob(filepath.Join(clusterFiles, "nats-*.conf"))
	if err != nil || len(files) != 3 {
		t.Fatalf("node files %q, %v; want nats-1.conf, nats-2.conf and nats-3.conf", files, err)
	}
	check := func(file string, env ...string) (string, error) {
		cmd := exec.Command(os.Getenv("BERTH_TEST_NATS_SERVER"), "-t", "-c", file)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, file := range files {
		out, err := check(file, "BERTH_NATS_PASSWORD="+randomHex(32), "BERTH_WORKER_NATS_PASSWORD="+randomHex(32))
		if err != nil || !strings.Contains(out, "is valid") {
			t.Errorf("nats-server -t -c %s: %v\n%s", file, err, out)
		}
		out, err = check(file, "BERTH_NATS_PASSWORD="+randomHex(32))
		if err == nil || !strings.Contains(out, "BERTH_WORKER_NATS_PASSWORD") {
			t.Errorf("nats-server -t -c %s without BERTH_WORKER_NATS_PASSWORD: %v; want a refusal naming it\n%s", file, err, out)
		}
	}
}

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

// TestClusterComposeFile: docker-compose reads deploy/cluster/compose.yaml with the settings of
// deploy/cluster/env.example filled in, and refuses it without MinIO's password.
func TestClusterComposeFile(t *testing.T) {
	requireEnv(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose is not installed (scripts/test installs Debian's)")
	}
	example, err := os.ReadFile(filepath.Join(clusterFiles, "env.example"))
	if err != nil {
		t.Fatal(err)
	}
	config := func(env string) (string, error) {
		envFile := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("docker-compose", "--env-file", envFile, "-f", filepath.Join(clusterFiles, "compose.yaml"), "config").CombinedOutput()
		return string(out), err
	}
	filled := strings.Replace(string(example), "\nMINIO_ROOT_PASSWORD=\n", "\nMINIO_ROOT_PASSWORD="+randomHex(24)+"\n", 1)
	out, err := config(filled)
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	for _, want := range []string{"nats-1:", "nats-2:", "nats-3:", "minio:", "worker-1:", "worker-2:",
		"BERTH_BUILD_CONCURRENCY: '0'", "BERTH_NATS_USER: worker", "BERTH_NATS_USER: berth"} {
		if !strings.Contains(out, want) {
			t.Errorf("the compose file as docker-compose reads it lacks %q:\n%s", want, out)
		}
	}
	if out, err := config(string(example)); err == nil || !strings.Contains(out, "MINIO_ROOT_PASSWORD") {
		t.Errorf("docker-compose config without MINIO_ROOT_PASSWORD: %v; want a refusal naming it\n%s", err, out)
	}
}

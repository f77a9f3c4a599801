package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/store"
)

// unitService returns the [Service] settings of a systemd unit file, each key with its
// values in order.
func unitService(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		case section == "Service":
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnit checks deploy/berth.service with systemd-analyze verify, then runs berth as
// the unit would, as far as it can be without systemd as PID 1 (this test's environment): as
// an unprivileged user (nobody standing in for the unit's berth user) in the Docker socket's
// group, with exactly the unit's ambient capabilities and bounding set and no new privileges.
// berth must fence its network with iptables, serve, and remove its rules on SIGTERM.
func TestSystemdUnit(t *testing.T) {
	requireEnv(t)
	for _, tool := range []string{"systemd-analyze", "setpriv", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: %v", tool, err)
		}
	}
	unitPath, err := filepath.Abs("../deploy/berth.service")
	if err != nil {
		t.Fatal(err)
	}
	svc := unitService(t, unitPath)

	// systemd-analyze verify checks that the command exists: this copy starts the binary
	// under test instead of /usr/local/bin/berth.
	exec0 := strings.Fields(svc["ExecStart"][0])
	if len(exec0) < 2 || exec0[0] != "/usr/local/bin/berth" || exec0[1] != "serve" {
		t.Fatalf("ExecStart=%s, want /usr/local/bin/berth serve", svc["ExecStart"][0])
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	verifyDir := t.TempDir()
	copyPath := filepath.Join(verifyDir, "berth.service")
	os.WriteFile(copyPath, []byte(strings.Replace(string(unit), "ExecStart=/usr/local/bin/berth", "ExecStart="+binary, 1)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", copyPath).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The unit's user, standing in: nobody, with the socket's group (SupplementaryGroups=docker).
	var st syscall.Stat_t
	if err := syscall.Stat("/var/run/docker.sock", &st); err != nil {
		t.Fatal(err)
	}
	caps := strings.Fields(strings.Join(svc["AmbientCapabilities"], " "))
	bounding := strings.Fields(strings.Join(svc["CapabilityBoundingSet"], " "))
	if len(caps) == 0 || len(svc["NoNewPrivileges"]) == 0 || svc["NoNewPrivileges"][0] != "yes" {
		t.Fatalf("the unit has no AmbientCapabilities or no NoNewPrivileges=yes: %v", svc)
	}
	capList := func(names []string) string {
		var out []string
		for _, c := range names {
			out = append(out, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
		}
		return strings.Join(out, ",")
	}

	// nobody must be able to run the binary and write the data directory.
	dir, err := os.MkdirTemp("", "berth-e2e-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "berth")
	copyFile(t, binary, bin, 0o755)
	dataDir := filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o700)
	os.Chown(dataDir, 65534, 65534)

	netName := "berth-e2e-unit-" + strings.ToLower(store.NewID(4))
	t.Cleanup(func() { exec.Command("docker", "network", "rm", netName).Run() })
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--reuid=65534", "--regid=65534", "--groups=" + strconv.Itoa(int(st.Gid)),
		"--inh-caps=" + capList(caps), "--ambient-caps=" + capList(caps),
		"--bounding-set=-all," + capList(bounding), "--no-new-privs", "--", bin}
	args = append(args, exec0[1:]...)
	cmd := exec.Command("setpriv", args...)
	cmd.Env = append(os.Environ(),
		"BERTH_DATA_DIR="+dataDir, "BERTH_ADDR="+addr, "BERTH_NETWORK="+netName,
		"BERTH_ADMIN_TOKEN="+adminToken, "HOME="+dataDir)
	logs, err := os.Create(filepath.Join(t.TempDir(), "berth.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	logText := func() string {
		data, _ := os.ReadFile(logs.Name())
		return string(data)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
		}
		if t.Failed() {
			t.Logf("berth log:\n%s", logText())
		}
	})
	waitHTTP(t, "http://"+addr+"/", 60*time.Second, func() error {
		select {
		case err := <-done:
			stopped = true
			return fmt.Errorf("berth exited: %v", err)
		default:
			return nil
		}
	})
	m := chainsRe.FindStringSubmatch(logText())
	if m == nil {
		t.Fatalf("berth with the unit's privileges did not fence its network")
	}
	if out, err := exec.Command("iptables", "-w", "10", "-S", m[1]+"-FWD").CombinedOutput(); err != nil {
		t.Fatalf("chain %s-FWD is not on the host: %v: %s", m[1], err, out)
	}
	resp, err := http.Get("http://" + addr + "/v1/projects")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/projects without a token: %d, want 401", resp.StatusCode)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("berth did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("berth did not stop within 60s of SIGTERM")
	}
	if out, err := exec.Command("iptables", "-w", "10", "-S", m[1]+"-FWD").CombinedOutput(); err == nil {
		t.Errorf("chain %s-FWD still exists after berth stopped:\n%s", m[1], out)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

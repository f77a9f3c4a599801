package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/store"
)

var chainsRe = regexp.MustCompile(`chains="(BERTH-[0-9A-F]+)-FWD, `)

// TestDockerImage builds berth's image from the Dockerfile (with local base images), runs it
// as the README says (the Docker socket mounted, data in a named volume, --network host and
// NET_ADMIN so that the network fence works), deploys the Vite template through it, and then
// checks that a new container on the same volume still serves it.
func TestDockerImage(t *testing.T) {
	image := berthImage(t)

	if out := docker(t, "run", "--rm", image, "version"); !strings.HasPrefix(out, "berth e2e-") {
		t.Errorf("berth version in the image: %q, want the VERSION build argument", out)
	}

	name := "berth-e2e-install-" + strings.ToLower(store.NewID(4))
	volume := name + "-data"
	docker(t, "volume", "create", "--label", "berth.e2e="+name, volume)
	t.Cleanup(func() {
		// A stop, not a kill: berth removes its firewall rules from the host on SIGTERM.
		exec.Command("docker", "stop", "-t", "30", name).Run()
		exec.Command("docker", "rm", "-f", name).Run()
		exec.Command("docker", "volume", "rm", "-f", volume).Run()
		// berth creates its network when missing and never removes it (containers of a
		// previous run may be attached); this one is the test's own.
		exec.Command("docker", "network", "rm", name).Run()
	})

	// The repository is a local path: berth (inside the container) clones it from the same
	// path, bind-mounted read-only. deployVite makes it under this test's temporary
	// directory, whose parent is mounted before it exists.
	tmpRoot := filepath.Dir(t.TempDir())
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"run", "-d", "--name", name, "--label", "berth.e2e=" + name,
		"--network", "host", "--cap-add", "NET_ADMIN",
		"-v", "/var/run/docker.sock:/var/run/docker.sock",
		"-v", volume + ":/data",
		"-v", tmpRoot + ":" + tmpRoot + ":ro",
		"-e", "BERTH_ADDR=" + addr,
		"-e", "BERTH_ADMIN_TOKEN=" + adminToken,
		"-e", "BERTH_BUILD_IMAGE=" + os.Getenv("BERTH_BUILD_IMAGE"),
		"-e", "BERTH_NETWORK=" + name,
		"-e", "BERTH_LOG_LEVEL=debug",
	}
	// The CA bundle is read by berth inside its container, so it is mounted there.
	if ca := os.Getenv("BERTH_EXTRA_CA_FILE"); ca != "" {
		args = append(args, "-v", ca+":/etc/berth/extra-ca.pem:ro", "-e", "BERTH_EXTRA_CA_FILE=/etc/berth/extra-ca.pem")
	}
	run := func() {
		t.Helper()
		docker(t, append(args, image)...)
		waitHTTP(t, "http://"+addr+"/", 60*time.Second, func() error { return containerAlive(name) })
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("berth container log:\n%s", out)
		}
	})

	// stop stops the container and checks that berth exited cleanly and took its firewall
	// rules off the host.
	stop := func() {
		t.Helper()
		m := chainsRe.FindStringSubmatch(docker(t, "logs", name))
		if m == nil {
			t.Fatalf("berth in the container did not fence its network")
		}
		docker(t, "stop", "-t", "30", name)
		if code := docker(t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
			t.Errorf("berth exited with status %s on docker stop", code)
		}
		for _, bin := range []string{"iptables", "ip6tables"} {
			if out, err := exec.Command(bin, "-w", "10", "-S", m[1]+"-FWD").CombinedOutput(); err == nil {
				t.Errorf("%s chain %s-FWD still exists after berth stopped:\n%s", bin, m[1], out)
			}
		}
		docker(t, "rm", name)
	}

	run()
	b := &berthProc{t: t, addr: addr, client: &http.Client{Timeout: 60 * time.Second}}
	d := deployVite(t, b)
	stop()

	// The data lives in the volume: a new container serves the same deployment.
	run()
	res, body := b.getHost(d.PreviewHost+".localhost", "/")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<div id="app">`) {
		t.Fatalf("preview after a new container on the same volume: %d\n%s", res.StatusCode, body)
	}
	stop()
}

// containerAlive returns an error with the container's log when it is no longer running.
func containerAlive(name string) error {
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.Running}}", name).Output()
	if err == nil && strings.TrimSpace(string(out)) == "true" {
		return nil
	}
	logs, _ := exec.Command("docker", "logs", name).CombinedOutput()
	return fmt.Errorf("container %s is not running:\n%s", name, logs)
}

// TestDockerImageUnprivileged runs the image the other way the README gives: as the berth user
// with the Docker socket's group, on a bridge network with a published port, without NET_ADMIN
// and so with BERTH_NETWORK_ISOLATION=off. berth must reach the Docker engine (it creates its
// network), write its data to the volume, and answer the API through the published port.
func TestDockerImageUnprivileged(t *testing.T) {
	image := berthImage(t)
	name := "berth-e2e-install-user-" + strings.ToLower(store.NewID(4))
	volume := name + "-data"
	docker(t, "volume", "create", "--label", "berth.e2e="+name, volume)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("berth container log:\n%s", out)
		}
		exec.Command("docker", "stop", "-t", "30", name).Run()
		exec.Command("docker", "rm", "-f", name).Run()
		exec.Command("docker", "volume", "rm", "-f", volume).Run()
		exec.Command("docker", "network", "rm", name).Run()
	})
	gid := docker(t, "run", "--rm", "-v", "/var/run/docker.sock:/var/run/docker.sock", "--entrypoint", "stat", image, "-c", "%g", "/var/run/docker.sock")
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	docker(t, "run", "-d", "--name", name, "--label", "berth.e2e="+name,
		"--user", "berth", "--group-add", gid,
		"-p", addr+":8080",
		"-v", "/var/run/docker.sock:/var/run/docker.sock",
		"-v", volume+":/data",
		"-e", "BERTH_ADMIN_TOKEN="+adminToken,
		"-e", "BERTH_NETWORK="+name,
		"-e", "BERTH_NETWORK_ISOLATION=off",
		image)
	waitHTTP(t, "http://"+addr+"/", 60*time.Second, func() error { return containerAlive(name) })

	if uid := docker(t, "exec", name, "id", "-u"); uid != "10001" {
		t.Errorf("berth runs as uid %s, want the berth user's 10001", uid)
	}
	if out := docker(t, "network", "inspect", "--format", "{{.Name}}", name); out != name {
		t.Errorf("berth did not create its network through the socket: %q", out)
	}
	b := &berthProc{t: t, addr: addr, client: &http.Client{Timeout: 60 * time.Second}}
	var p struct {
		ID string `json:"id"`
	}
	if code := b.api(http.MethodPost, "/v1/projects", map[string]string{"name": "site", "git_url": "https://example.com/site.git"}, &p); code != http.StatusCreated || p.ID == "" {
		t.Fatalf("create a project (written to SQLite in the volume): status %d", code)
	}
	if out := docker(t, "exec", name, "ls", "-ln", "/data"); !strings.Contains(out, "10001") {
		t.Errorf("the data dir's files are not the berth user's:\n%s", out)
	}
	docker(t, "stop", "-t", "30", name)
	if code := docker(t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("berth exited with status %s on docker stop", code)
	}
}

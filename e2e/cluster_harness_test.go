package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-dev/berth/store"
)

// proc is one process the cluster test runs (a nats-server node, a berth
// worker), its output kept for the failure report.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu      sync.Mutex
	logs    bytes.Buffer
	done    chan struct{}
	waitErr error // how the process ended; read after done is closed
}

// startProc starts path with args and env added to this process's
// environment. The test's cleanup kills it if it still runs, and prints the
// end of its output when the test failed.
func startProc(t *testing.T, name string, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.cmd = cmd
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			t.Logf("%s output (its end):\n%s", name, lastLines(p.logText(), 150))
		}
	})
	return p
}

func (p *proc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 kills the process outright and waits for it.
func (p *proc) kill9() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// terminate sends SIGTERM and waits for the process to end, at most timeout.
func (p *proc) terminate(timeout time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had already exited: %v", p.name, p.waitErr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		p.kill9()
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// natsCluster is a three-node NATS JetStream cluster run from the node files
// in deploy/cluster; the command line gives each node the test's own
// loopback ports, routes and cluster name, the environment its users'
// passwords, and its store is a directory of the test's own.
type natsCluster struct {
	t              *testing.T
	name           string
	berthPassword  string
	workerPassword string
	nodes          []*natsNode
}

type natsNode struct {
	name                   string // as in its file: nats-1, nats-2, nats-3
	conf                   string
	client, route, monitor int
	proc                   *proc
	down                   bool // killed by the test
}

// kill kills node n outright, as a machine that goes away.
func (c *natsCluster) kill(n *natsNode) {
	n.down = true
	n.proc.kill9()
}

// restart starts node n again on its ports and store, and waits until the
// cluster is whole.
func (c *natsCluster) restart(n *natsNode) {
	c.t.Helper()
	n.down = false
	c.start(n)
	c.waitReady(3, 2*time.Minute)
}

// node returns the node named name.
func (c *natsCluster) node(name string) *natsNode {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no NATS node named %q", name)
	return nil
}

// clusterFiles is where the configuration shipped with berth lives.
const clusterFiles = "../deploy/cluster"

// shippedStoreDir is the JetStream store of the shipped node files.
const shippedStoreDir = "store_dir: /var/lib/nats"

// startNATSCluster starts the three nodes and waits until they have elected
// a JetStream meta leader.
func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	requireEnv(t, "BERTH_TEST_NATS_SERVER")
	c := &natsCluster{
		t:              t,
		name:           "berth-e2e-" + strings.ToLower(store.NewID(4)),
		berthPassword:  randomHex(32),
		workerPassword: randomHex(32),
	}
	users, err := os.ReadFile(filepath.Join(clusterFiles, "users.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		name := "nats-" + strconv.Itoa(i)
		conf, err := os.ReadFile(filepath.Join(clusterFiles, name+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		// The one line that cannot be given on the command line (nats-server
		// refuses -sd beside store_dir): the node's store in the test's dir.
		dir, store := t.TempDir(), t.TempDir()
		if n := bytes.Count(conf, []byte(shippedStoreDir)); n != 1 {
			t.Fatalf("%s.conf holds %q %d times; want once", name, shippedStoreDir, n)
		}
		conf = bytes.Replace(conf, []byte(shippedStoreDir), []byte("store_dir: "+strconv.Quote(store)), 1)
		for file, data := range map[string][]byte{name + ".conf": conf, "users.conf": users} {
			if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		c.nodes = append(c.nodes, &natsNode{
			name: name, conf: filepath.Join(dir, name+".conf"),
			client: freePort(t), route: freePort(t), monitor: freePort(t),
		})
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	c.waitReady(3, 2*time.Minute)
	return c
}

// env is what nats-server reads its users' passwords from.
func (c *natsCluster) env() []string {
	return []string{"BERTH_NATS_PASSWORD=" + c.berthPassword, "BERTH_WORKER_NATS_PASSWORD=" + c.workerPassword}
}

func (c *natsCluster) start(n *natsNode) {
	c.t.Helper()
	var routes []string
	for _, o := range c.nodes {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(o.route))
	}
	n.proc = startProc(c.t, n.name, c.env(), os.Getenv("BERTH_TEST_NATS_SERVER"),
		"-c", n.conf,
		"-a", "127.0.0.1", "-p", strconv.Itoa(n.client),
		"-m", strconv.Itoa(n.monitor),
		"--cluster", "nats://127.0.0.1:"+strconv.Itoa(n.route),
		"--routes", strings.Join(routes, ","),
		"--cluster_name", c.name,
	)
}

// URLs is the seed list berth serve and the workers are given.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(n.client))
	}
	return strings.Join(urls, ",")
}

func (n *natsNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.client) }

// waitReady waits until every running node answers /healthz (JetStream
// current) and sees a meta leader of a cluster of size nodes.
func (c *natsCluster) waitReady(size int, timeout time.Duration) {
	c.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		last = nil
		for _, n := range c.nodes {
			if n.down {
				continue
			}
			if n.proc.exited() {
				c.t.Fatalf("%s exited: %v\n%s", n.name, n.proc.waitErr, n.proc.logText())
			}
			if err := n.ready(hc, size); err != nil {
				last = fmt.Errorf("%s: %w", n.name, err)
				break
			}
		}
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the NATS cluster was not ready within %s: %v", timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (n *natsNode) ready(hc *http.Client, size int) error {
	base := "http://127.0.0.1:" + strconv.Itoa(n.monitor)
	resp, err := hc.Get(base + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz: %s", resp.Status)
	}
	resp, err = hc.Get(base + "/jsz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
			Size   int    `json:"cluster_size"`
		} `json:"meta_cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return fmt.Errorf("/jsz: %w", err)
	}
	if jsz.Meta == nil || jsz.Meta.Leader == "" || jsz.Meta.Size != size {
		return fmt.Errorf("/jsz: meta cluster %+v; want a leader among %d", jsz.Meta, size)
	}
	return nil
}

// connect opens a client connection of user to the whole cluster; it
// reconnects to another node when its own goes.
func (c *natsCluster) connect(user, password string, opts ...nats.Option) *nats.Conn {
	c.t.Helper()
	opts = append([]nats.Option{nats.UserInfo(user, password), nats.Timeout(time.Minute), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(c.URLs(), opts...)
	if err != nil {
		c.t.Fatalf("connect to the cluster as %s: %v", user, err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeSecret writes a file only its owner may read, as an operator copies
// a password or key to a worker's machine.
func writeSecret(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

package sandbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
)

// dialScript connects to $TARGET (host:port) and prints "connected <first line>" or
// "refused <error code>". The timeout only bounds a broken setup: the firewall refuses at once.
const dialScript = `
const [host, port] = process.env.TARGET.split(" ");
const s = require("net").connect({host, port: Number(port)});
s.setTimeout(20000, () => { console.log("refused timeout"); s.destroy(); });
s.on("data", d => { console.log("connected " + String(d).trim()); s.destroy(); });
s.on("error", e => console.log("refused " + e.code));
`

// useTestNetwork gives h.sb a network of this test's own, fenced when isolation is set, and
// removes the network once the test's containers are gone.
func useTestNetwork(t *testing.T, h *harness, isolation bool) string {
	t.Helper()
	requireIptables(t)
	name := "berth-test-" + h.instance
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h.sb.RemoveLabelled(ctx, map[string]string{LabelInstance: h.instance})
		if err := h.sb.docker.NetworkRemove(ctx, name); err != nil {
			t.Errorf("remove network %s: %v", name, err)
		}
	})
	if err := h.sb.UseNetwork(t.Context(), NetworkConfig{Name: name, Isolation: isolation, Owner: h.instance}); err != nil {
		t.Fatal(err)
	}
	return name
}

func requireIptables(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("iptables", "-w", "10", "-S", "DOCKER-USER").CombinedOutput(); err != nil {
		t.Fatalf("these tests install firewall rules: they need root, iptables and a dockerd that manages iptables: %v: %s", err, out)
	}
}

// hostListener listens on the gateway address of network name (an address of this host) and
// answers every connection with "hello". It returns the address and a count of connections.
func hostListener(t *testing.T, sb *Sandbox, name string) (string, *atomic.Int32) {
	t.Helper()
	info, err := sb.docker.NetworkInspect(t.Context(), name, network.InspectOptions{})
	if err != nil || len(info.IPAM.Config) == 0 || info.IPAM.Config[0].Gateway == "" {
		t.Fatalf("inspect network %s: %v %+v", name, err, info.IPAM)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(info.IPAM.Config[0].Gateway, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			io.WriteString(c, "hello\n")
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// dial runs dialScript in a container of sb against addr and returns what it printed.
func (h *harness) dial(t *testing.T, sb *Sandbox, addr string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	spec := h.spec("")
	spec.Cmd = []string{"node", "-e", dialScript}
	spec.Env = []string{"TARGET=" + host + " " + port}
	out := &output{}
	res, err := sb.Run(t.Context(), spec, out.add)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("dial container: %v, exit %d, stderr %q", err, res.ExitCode, out.stream("stderr"))
	}
	return strings.Join(out.stream("stdout"), "\n")
}

func iptablesS(t *testing.T, bin string, chain string) string {
	t.Helper()
	out, err := exec.Command(bin, "-w", "10", "-S", chain).CombinedOutput()
	if err != nil {
		t.Fatalf("%s -S %s: %v: %s", bin, chain, err, out)
	}
	return string(out)
}

// TestNetworkIsolation: a container on berth's fenced network cannot connect to a server on
// the host, while one on Docker's default bridge (berth's old network) and one on the same
// network unfenced can; the refusal rules for the metadata address and private ranges are
// installed for the network's bridge, and Close removes them all.
func TestNetworkIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	name := useTestNetwork(t, h, true)
	addr, accepted := hostListener(t, h.sb, name)

	if got := h.dial(t, h.sb, addr); !strings.HasPrefix(got, "refused ") {
		t.Errorf("a container on the fenced network connecting to the host at %s: %q, want refused", addr, got)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the host listener accepted %d connections from the fenced network", n)
	}

	// The same connection from Docker's default bridge succeeds: the test can tell.
	plain, err := New(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := h.dial(t, plain, addr); got != "connected hello" {
		t.Fatalf("a container on the default bridge connecting to %s: %q, want connected hello", addr, got)
	}

	f := h.sb.fence
	if f == nil || len(f.walls) == 0 {
		t.Fatal("no firewall installed")
	}
	v4 := f.walls[0]
	rules := iptablesS(t, "iptables", v4.fwd)
	for _, cidr := range []string{"169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"} {
		if !strings.Contains(rules, "-A "+v4.fwd+" -d "+cidr+" -j REJECT") {
			t.Errorf("chain %s does not refuse %s:\n%s", v4.fwd, cidr, rules)
		}
	}
	if !strings.Contains(rules, "--ctstate RELATED,ESTABLISHED -j RETURN") {
		t.Errorf("chain %s does not let replies through:\n%s", v4.fwd, rules)
	}
	for _, c := range []struct{ hook, chain string }{{"DOCKER-USER", v4.fwd}, {"INPUT", v4.in}} {
		if s := iptablesS(t, "iptables", c.hook); !strings.Contains(s, "-A "+c.hook+" -i "+f.bridge+" ") || !strings.Contains(s, "-j "+c.chain) {
			t.Errorf("%s does not send %s's traffic to %s:\n%s", c.hook, f.bridge, c.chain, s)
		}
	}
	if s := iptablesS(t, "iptables", v4.in); !strings.Contains(s, "-A "+v4.in+" -j REJECT") {
		t.Errorf("chain %s does not refuse connections to the host:\n%s", v4.in, s)
	}
	if len(f.walls) > 1 {
		if s := iptablesS(t, "ip6tables", f.walls[1].fwd); !strings.Contains(s, "-j REJECT") {
			t.Errorf("ip6tables chain %s refuses nothing:\n%s", f.walls[1].fwd, s)
		}
	}

	// Close removes every rule; the network stays, and unfenced it lets the connection through.
	walls, bridge := f.walls, f.bridge
	if err := h.sb.Close(); err != nil {
		t.Fatal(err)
	}
	for _, w := range walls {
		for _, chain := range []string{w.fwd, w.in} {
			if out, err := exec.Command(w.bin, "-w", "10", "-S", chain).CombinedOutput(); err == nil {
				t.Errorf("%s chain %s is still there after Close:\n%s", w.bin, chain, out)
			}
		}
		for _, hook := range []string{w.forwardHook, "INPUT"} {
			if s := iptablesS(t, w.bin, hook); strings.Contains(s, bridge) {
				t.Errorf("%s %s still mentions %s after Close:\n%s", w.bin, hook, bridge, s)
			}
		}
	}
	open, err := New(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := open.UseNetwork(t.Context(), NetworkConfig{Name: name, Isolation: false}); err != nil {
		t.Fatal(err)
	}
	if got := h.dial(t, open, addr); got != "connected hello" {
		t.Errorf("a container on the unfenced network: %q, want connected hello", got)
	}
}

// TestNetworkIsolationApp: an app server on the fenced network still answers through its
// published loopback port (replies pass), and cannot reach the host itself.
func TestNetworkIsolationApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	name := useTestNetwork(t, h, true)
	addr, accepted := hostListener(t, h.sb, name)
	host, port, _ := net.SplitHostPort(addr)

	spec := h.spec("")
	spec.Labels[LabelRole] = "server"
	spec.Cmd = []string{"node", "-e", `
const [host, port] = process.env.TARGET.split(" ");
let probe = "pending";
const s = require("net").connect({host, port: Number(port)});
s.on("data", () => { probe = "connected"; s.destroy(); });
s.on("error", e => { probe = "refused " + e.code; });
require("http").createServer((req, res) => res.end(probe)).listen(3000);
`}
	spec.Env = []string{"TARGET=" + host + " " + port}
	app, err := h.sb.StartApp(t.Context(), AppSpec{Spec: spec, Port: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(app.Addr, "127.0.0.1:") {
		t.Errorf("app published on %s, want loopback", app.Addr)
	}
	// Poll until the server answers with the probe's outcome.
	deadline := time.Now().Add(60 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + app.Addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if body != "pending" {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(body, "refused ") {
		t.Errorf("app server through its published port: %q, want it to answer, and its probe of the host refused", body)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the host listener accepted %d connections from the app server", n)
	}
}

// TestNetworkRulesPutBack: rules removed behind berth's back (a firewall reload) are put back
// before the next container starts.
func TestNetworkRulesPutBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	name := useTestNetwork(t, h, true)
	addr, accepted := hostListener(t, h.sb, name)
	w, bridge := h.sb.fence.walls[0], h.sb.fence.bridge
	for _, j := range w.jumps() {
		if out, err := exec.Command("iptables", append([]string{"-w", "10", "-D"}, j...)...).CombinedOutput(); err != nil {
			t.Fatalf("delete jump: %v: %s", err, out)
		}
	}
	if s := iptablesS(t, "iptables", "INPUT"); strings.Contains(s, bridge) {
		t.Fatalf("the jump from INPUT is still there:\n%s", s)
	}
	if got := h.dial(t, h.sb, addr); !strings.HasPrefix(got, "refused ") || accepted.Load() != 0 {
		t.Errorf("after the rules were removed, a container connecting to the host: %q, %d accepted; want refused", got, accepted.Load())
	}
	if s := iptablesS(t, "iptables", "INPUT"); !strings.Contains(s, "-A INPUT -i "+bridge+" ") {
		t.Errorf("the jump from INPUT was not put back:\n%s", s)
	}
	if err := h.sb.NetworkReady(t.Context()); err != nil {
		t.Errorf("NetworkReady: %v", err)
	}
}

// TestNetworkIsolationRequired: when the rules cannot be installed (no iptables here), no
// container starts, unless isolation is off.
func TestNetworkIsolationRequired(t *testing.T) {
	h := newHarness(t)
	requireIptables(t)
	name := "berth-test-" + h.instance
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h.sb.RemoveLabelled(ctx, map[string]string{LabelInstance: h.instance})
		h.sb.docker.NetworkRemove(ctx, name)
	})
	t.Setenv("PATH", t.TempDir()) // iptables cannot be found

	err := h.sb.UseNetwork(t.Context(), NetworkConfig{Name: name, Isolation: true, Owner: h.instance})
	if !errors.Is(err, ErrNotIsolated) {
		t.Fatalf("UseNetwork without iptables: %v, want ErrNotIsolated", err)
	}
	_, _, err = h.run(t, t.Context(), h.spec("echo ran"))
	if !errors.Is(err, ErrNotIsolated) || !strings.Contains(err.Error(), "BERTH_NETWORK_ISOLATION=off") {
		t.Fatalf("Run without isolation: %v, want ErrNotIsolated naming the way out", err)
	}
	if err := h.sb.NetworkReady(t.Context()); !errors.Is(err, ErrNotIsolated) {
		t.Errorf("NetworkReady without iptables: %v, want ErrNotIsolated", err)
	}
	if _, err := h.sb.StartApp(t.Context(), AppSpec{Spec: h.spec("sleep 60"), Port: 3000}); !errors.Is(err, ErrNotIsolated) {
		t.Fatalf("StartApp without isolation: %v, want ErrNotIsolated", err)
	}
	if n, err := h.sb.RemoveLabelled(t.Context(), map[string]string{LabelInstance: h.instance}); err != nil || n != 0 {
		t.Fatalf("%d containers were created (err %v), want none", n, err)
	}

	if err := h.sb.UseNetwork(t.Context(), NetworkConfig{Name: name, Isolation: false, Owner: h.instance}); err != nil {
		t.Fatal(err)
	}
	_, out := h.mustRun(t, h.spec("echo ran"))
	if got := out.stream("stdout"); len(got) != 1 || got[0] != "ran" {
		t.Fatalf("with isolation off: %q", got)
	}
}

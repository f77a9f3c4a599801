package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// Where a container on berth's network must not connect to: the host itself (every address of
// it, through INPUT), the cloud metadata service, private and carrier-grade NAT ranges, and the
// IPv6 unique-local and link-local ranges. The public internet stays reachable: builds need the
// package registry.
var (
	blockedV4 = []string{"169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "0.0.0.0/8"}
	blockedV6 = []string{"fc00::/7", "fe80::/10"}
)

// iptablesTimeout bounds one iptables call; -w makes it wait for the xtables lock, which
// dockerd also takes.
const iptablesTimeout = 30 * time.Second

// wall is berth's pair of chains in one family's filter table (iptables or ip6tables) for one
// bridge: fwd, jumped to from forwardHook for packets entering from the bridge (containers
// going elsewhere), and in, jumped to from INPUT (containers reaching the host itself). Both
// let replies to connections made from outside through (published ports), then reject: a
// refused connection fails a build at once where a dropped one would hang until it times out.
type wall struct {
	bin         string // "iptables" or "ip6tables"
	forwardHook string // "DOCKER-USER" where dockerd provides it, else "FORWARD"
	fwd, in     string // chain names, at most 28 characters
	bridge      string // the network's bridge interface
	comment     string
	fwdRules    [][]string // rule specs appended to fwd, in order
}

// fwdRules returns the forward chain's contents: replies first, then DNS to the resolvers
// Docker's embedded DNS forwards to (it queries them from inside the container's namespace, so
// they pass here), then the refusals.
func fwdRules(family int, blocked []string, resolvers []netip.Addr, dropAll bool) [][]string {
	rules := [][]string{{"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"}}
	for _, r := range resolvers {
		if (family == 4) != r.Is4() {
			continue
		}
		for _, proto := range []string{"udp", "tcp"} {
			rules = append(rules, []string{"-d", r.String(), "-p", proto, "--dport", "53", "-j", "RETURN"})
		}
	}
	if dropAll {
		return append(rules, []string{"-j", "REJECT"})
	}
	for _, cidr := range blocked {
		rules = append(rules, []string{"-d", cidr, "-j", "REJECT"})
	}
	return rules
}

var inRules = [][]string{
	{"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN"},
	{"-j", "REJECT"},
}

func (w *wall) jumps() [][]string {
	jump := func(hook, chain string) []string {
		return []string{hook, "-i", w.bridge, "-m", "comment", "--comment", w.comment, "-j", chain}
	}
	return [][]string{jump(w.forwardHook, w.fwd), jump("INPUT", w.in)}
}

// install fills both chains (creating them if missing) and then hooks them in, so that no
// packet meets a half-filled chain on a first install. It is idempotent.
func (w *wall) install(ctx context.Context) error {
	for _, c := range []struct {
		name  string
		rules [][]string
	}{{w.fwd, w.fwdRules}, {w.in, inRules}} {
		if _, err := w.run(ctx, "-S", c.name); err != nil {
			if _, err := w.run(ctx, "-N", c.name); err != nil {
				return err
			}
		}
		if _, err := w.run(ctx, "-F", c.name); err != nil {
			return err
		}
		for _, r := range c.rules {
			if _, err := w.run(ctx, append([]string{"-A", c.name}, r...)...); err != nil {
				return err
			}
		}
	}
	for _, j := range w.jumps() {
		if _, err := w.run(ctx, append([]string{"-C"}, j...)...); err == nil {
			continue
		}
		if _, err := w.run(ctx, append([]string{"-I", j[0], "1"}, j[1:]...)...); err != nil {
			return err
		}
	}
	return nil
}

// hooked reports whether both chains exist and are jumped to (a firewall reload or an
// operator may have removed them since install).
func (w *wall) hooked(ctx context.Context) bool {
	for _, j := range w.jumps() {
		if _, err := w.run(ctx, append([]string{"-C"}, j...)...); err != nil {
			return false
		}
	}
	return true
}

// remove unhooks and deletes both chains. Missing chains and jumps are not an error.
func (w *wall) remove(ctx context.Context) error {
	var errs []error
	for _, j := range w.jumps() {
		// A crash between two installs could have left the jump twice; a bound keeps a
		// misbehaving iptables from looping forever.
		for i := 0; i < 8; i++ {
			if _, err := w.run(ctx, append([]string{"-C"}, j...)...); err != nil {
				break
			}
			if _, err := w.run(ctx, append([]string{"-D"}, j...)...); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	for _, chain := range []string{w.fwd, w.in} {
		if _, err := w.run(ctx, "-S", chain); err != nil {
			continue
		}
		if _, err := w.run(ctx, "-F", chain); err != nil {
			errs = append(errs, err)
		}
		if _, err := w.run(ctx, "-X", chain); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run calls the iptables binary with argv in the filter table; never through a shell.
func (w *wall) run(ctx context.Context, args ...string) (string, error) {
	return runIptables(ctx, w.bin, args...)
}

func runIptables(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, iptablesTimeout)
	defer cancel()
	argv := append([]string{"-w", "10", "-t", "filter"}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s %s: %s", bin, strings.Join(args, " "), msg)
	}
	return stdout.String(), nil
}

// chainExists reports whether bin's filter table has chain.
func chainExists(ctx context.Context, bin, chain string) bool {
	_, err := runIptables(ctx, bin, "-S", chain)
	return err == nil
}

package sandbox

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// NetworkConfig names the Docker network every container berth creates joins, and whether
// berth fences it off from the host and private networks.
//
// The network is a user-defined bridge, created (labelled LabelManaged) when missing and never
// removed by berth: containers of a previous run may still be attached to it. Several berth
// instances may share one network: each installs firewall chains of its own, named after
// Owner and the network, so that one stopping does not unfence the others' containers.
//
// With Isolation, berth installs iptables (and ip6tables) rules for the network's bridge:
// containers cannot open connections to the host itself (any of its addresses: berth's own
// listener, the Docker API if exposed, MinIO…), the metadata address 169.254.169.254, or the
// private ranges; they still reach the public internet, the upstream DNS resolvers, and
// replies to connections made to them (published ports) pass. The rules are removed by Close.
// berth must then run on the Docker host as root; when the rules cannot be installed, no
// container is started (Run and StartApp fail with ErrNotIsolated).
type NetworkConfig struct {
	Name      string
	Isolation bool
	Owner     string // names the firewall chains; the berth instance id
}

// ErrNotIsolated is returned (wrapped) by Run and StartApp when the network is to be fenced and
// its firewall rules could not be installed: berth refuses to run untrusted code unfenced.
var ErrNotIsolated = errors.New("containers cannot be isolated from the host and private networks, so none is started (fix the cause, or set BERTH_NETWORK_ISOLATION=off to run them without isolation)")

// Network option that keeps containers on the bridge from talking to each other: builds must
// not reach other users' app servers.
const iccOption = "com.docker.network.bridge.enable_icc"

// fence is the network berth's containers join and its firewall, as last ensured.
type fence struct {
	cfg    NetworkConfig
	id     string // network ID, what containers join
	bridge string // its bridge interface on this host
	walls  []*wall
}

// UseNetwork makes every container created afterwards join the network cfg names, creating
// it when missing and, with cfg.Isolation, installing its firewall. An error is returned and
// also kept: Run and StartApp try again before each container and refuse to start one until it
// succeeds.
func (s *Sandbox) UseNetwork(ctx context.Context, cfg NetworkConfig) error {
	if cfg.Name == "" {
		return errors.New("use network: a name is required")
	}
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if err := s.removeWalls(ctx); err != nil { // a previous network's rules
		return err
	}
	s.fence = &fence{cfg: cfg}
	_, err := s.ensureNetworkLocked(ctx)
	return err
}

// network returns what a new container's NetworkMode should be: the ID of berth's network
// once it exists and, when isolation is on, is fenced; "bridge" when UseNetwork was never
// called. It checks the firewall hooks each time, so rules removed behind berth's back (a
// firewall reload) are put back before the next container starts.
func (s *Sandbox) network(ctx context.Context) (string, error) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.closed {
		return "", errors.New("sandbox: closed")
	}
	if s.fence == nil {
		return "bridge", nil
	}
	return s.ensureNetworkLocked(ctx)
}

// NetworkReady reports whether a container could start now: the network exists and, with
// isolation, its firewall is in place (missing rules are put back, as before a container).
func (s *Sandbox) NetworkReady(ctx context.Context) error {
	_, err := s.network(ctx)
	return err
}

func (s *Sandbox) ensureNetworkLocked(ctx context.Context) (string, error) {
	f := s.fence
	info, err := s.docker.NetworkInspect(ctx, f.cfg.Name, network.InspectOptions{})
	if cerrdefs.IsNotFound(err) {
		info, err = s.createNetwork(ctx, f.cfg.Name)
	}
	if err != nil {
		return "", s.notIsolated(fmt.Errorf("network %s: %w", f.cfg.Name, err))
	}
	if info.Driver != "bridge" {
		return "", s.notIsolated(fmt.Errorf("network %s uses the %q driver; berth needs a bridge network", f.cfg.Name, info.Driver))
	}
	if !f.cfg.Isolation {
		f.id = info.ID
		return f.id, nil
	}
	bridge := info.Options["com.docker.network.bridge.name"]
	if bridge == "" {
		bridge = "br-" + info.ID[:12]
	}
	if f.id == info.ID && f.bridge == bridge && len(f.walls) > 0 {
		ok := true
		for _, w := range f.walls {
			ok = ok && w.hooked(ctx)
		}
		if ok {
			return f.id, nil
		}
		s.log.WarnContext(ctx, "network firewall rules went missing; installing them again", slog.String("network", f.cfg.Name))
	}
	if len(f.walls) > 0 && f.bridge != bridge {
		// The network was re-created: the old bridge's rules are useless now.
		s.removeWalls(ctx)
	}
	walls, err := s.planWalls(ctx, f.cfg, info, bridge)
	if err != nil {
		return "", s.notIsolated(err)
	}
	for _, w := range walls {
		if err := w.install(ctx); err != nil {
			return "", s.notIsolated(fmt.Errorf("install firewall rules: %w", err))
		}
	}
	f.id, f.bridge, f.walls = info.ID, bridge, walls
	s.log.InfoContext(ctx, "containers isolated from the host and private networks",
		slog.String("network", f.cfg.Name), slog.String("bridge", bridge), slog.String("chains", walls[0].fwd+", "+walls[0].in))
	return f.id, nil
}

func (s *Sandbox) notIsolated(err error) error {
	return fmt.Errorf("%w: %w", ErrNotIsolated, err)
}

func (s *Sandbox) createNetwork(ctx context.Context, name string) (network.Inspect, error) {
	_, err := s.docker.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:  "bridge",
		Labels:  map[string]string{LabelManaged: "true"},
		Options: map[string]string{iccOption: "false"},
	})
	// Another berth may have created it at the same moment: then it exists and is as good.
	if err != nil && !cerrdefs.IsConflict(err) {
		return network.Inspect{}, fmt.Errorf("create: %w", err)
	}
	s.log.InfoContext(ctx, "created network", slog.String("network", name))
	return s.docker.NetworkInspect(ctx, name, network.InspectOptions{})
}

// planWalls checks that berth can fence this network from here and returns the rules.
func (s *Sandbox) planWalls(ctx context.Context, cfg NetworkConfig, info network.Inspect, bridge string) ([]*wall, error) {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, errors.New("iptables is not installed (berth installs firewall rules with it)")
	}
	if _, err := net.InterfaceByName(bridge); err != nil {
		return nil, fmt.Errorf("the bridge %s of network %s is not on this host (berth must run on the Docker host, as root, to fence it): %w", bridge, cfg.Name, err)
	}
	if !chainExists(ctx, "iptables", "DOCKER-USER") {
		return nil, errors.New("iptables has no DOCKER-USER chain: dockerd does not manage iptables here (or berth is not root)")
	}
	resolvers := upstreamResolvers()
	var subnets []string
	for _, c := range info.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			subnets = append(subnets, p.Masked().String())
		}
	}
	name := chainBase(cfg.Owner, cfg.Name)
	comment := "berth " + cfg.Name + " " + cfg.Owner
	if len(comment) > 200 {
		comment = comment[:200]
	}
	v4 := &wall{bin: "iptables", forwardHook: "DOCKER-USER", fwd: name + "-FWD", in: name + "-IN", bridge: bridge, comment: comment,
		fwdRules: fwdRules(4, append(append([]string{}, blockedV4...), subnets...), resolvers, false)}
	walls := []*wall{v4}
	// Without ip6tables there is no fence for IPv6: fine only when the network has no IPv6 and
	// the host none either (a container could otherwise reach the host by link-local address).
	if _, err := exec.LookPath("ip6tables"); err != nil {
		if info.EnableIPv6 || hostHasIPv6() {
			return nil, errors.New("ip6tables is not installed and this host has IPv6")
		}
		return walls, nil
	}
	hook := "FORWARD"
	if chainExists(ctx, "ip6tables", "DOCKER-USER") {
		hook = "DOCKER-USER"
	}
	walls = append(walls, &wall{bin: "ip6tables", forwardHook: hook, fwd: name + "-FWD", in: name + "-IN", bridge: bridge, comment: comment,
		// A network without IPv6 has no business sending IPv6 anywhere.
		fwdRules: fwdRules(6, blockedV6, resolvers, !info.EnableIPv6)})
	return walls, nil
}

// chainBase names berth's chains for one owner and network: iptables allows 28 characters.
func chainBase(owner, networkName string) string {
	sum := sha256.Sum256([]byte(owner + "\x00" + networkName))
	return "BERTH-" + strings.ToUpper(hex.EncodeToString(sum[:5]))
}

// upstreamResolvers returns the non-loopback name servers of the host, which Docker's embedded
// DNS forwards to from inside the container's network namespace (loopback ones it queries from
// the host's namespace, unaffected by the rules). Like dockerd, it falls back to
// systemd-resolved's list when resolv.conf names only the local stub.
func upstreamResolvers() []netip.Addr {
	for _, path := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		var out []netip.Addr
		for _, a := range nameservers(path) {
			if !a.IsLoopback() {
				out = append(out, a)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func nameservers(path string) []netip.Addr {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil && a.Zone() == "" {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

func hostHasIPv6() bool {
	_, err := os.Stat("/proc/net/if_inet6")
	return err == nil
}

// removeWalls removes the firewall rules installed for the network, if any.
func (s *Sandbox) removeWalls(ctx context.Context) error {
	f := s.fence
	if f == nil {
		return nil
	}
	var errs []error
	for _, w := range f.walls {
		if err := w.remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	f.walls, f.bridge, f.id = nil, "", ""
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove firewall rules of network %s: %w", f.cfg.Name, err)
	}
	return nil
}

// Package netguard decides which addresses berth may connect to on a user's
// behalf (git clones today; webhooks and notifications later): never
// loopback, link-local, private, shared (CGNAT), unspecified, multicast or
// reserved addresses, unless the operator allows a range. The check runs in
// the dialer, on the address actually connected to, so DNS rebinding and
// redirects meet it too.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// RefusedError says why an address may not be connected to.
type RefusedError struct {
	IP   netip.Addr
	Kind string // "loopback", "private", ...
}

func (e *RefusedError) Error() string { return e.IP.String() + " is " + e.Phrase() }

// Phrase names the kind of address: "a loopback address".
func (e *RefusedError) Phrase() string {
	return fmt.Sprintf("%s %s address", article(e.Kind), e.Kind)
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// ranges are the refused networks and what to call them. IPv4-mapped IPv6
// addresses are unmapped before the check; NAT64 and 6to4 addresses are
// checked by the IPv4 address they carry.
var ranges = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and broadcast
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved"}, // IPv4-compatible, deprecated
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "private"}, // site-local, deprecated
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("100::/64"), "reserved"}, // discard
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Check reports why ip may not be connected to, as a *RefusedError, or nil
// when it is a public address.
func Check(ip netip.Addr) error {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return &RefusedError{IP: ip, Kind: "invalid"}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			if err := Check(netip.AddrFrom4([4]byte(b[12:16]))); err != nil {
				return &RefusedError{IP: ip, Kind: err.(*RefusedError).Kind}
			}
		case sixTo4.Contains(ip):
			if err := Check(netip.AddrFrom4([4]byte(b[2:6]))); err != nil {
				return &RefusedError{IP: ip, Kind: err.(*RefusedError).Kind}
			}
		}
	}
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return &RefusedError{IP: ip, Kind: r.kind}
		}
	}
	return nil
}

// Policy is Check with the ranges an operator allows.
type Policy struct {
	Allow []netip.Prefix
}

// Check reports why ip may not be connected to under p, or nil.
func (p Policy) Check(ip netip.Addr) error {
	ip = ip.WithZone("").Unmap()
	for _, n := range p.Allow {
		if n.Contains(ip) {
			return nil
		}
	}
	return Check(ip)
}

// ParseNets parses a comma-separated list of CIDR ranges; a bare address is
// a range of one.
func ParseNets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR range", f)
			}
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		n, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR range", f)
		}
		if n.Addr().Is4In6() {
			n = netip.PrefixFrom(n.Addr().Unmap(), n.Bits()-96)
		}
		out = append(out, n.Masked())
	}
	return out, nil
}

type policyKey struct{}

// WithPolicy returns ctx carrying p, for a dialer made by ContextDialer.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// PolicyFrom is the policy ctx carries; without one, nothing is allowed
// beyond Check.
func PolicyFrom(ctx context.Context) Policy {
	p, _ := ctx.Value(policyKey{}).(Policy)
	return p
}

// Dialer returns a dialer that refuses to connect to an address p refuses.
// The check sees the resolved address of every attempt.
func Dialer(p Policy) *net.Dialer {
	return newDialer(func(context.Context) Policy { return p })
}

// ContextDialer returns a dialer whose policy is the one each dial's context
// carries (WithPolicy); a context without one gets the strictest.
func ContextDialer() *net.Dialer {
	return newDialer(PolicyFrom)
}

func newDialer(policy func(context.Context) Policy) *net.Dialer {
	return &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		ControlContext: func(ctx context.Context, network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("netguard: unexpected address %q", address)
			}
			return policy(ctx).Check(ap.Addr())
		},
	}
}

package domains

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/store"
)

// checker asks DNS whether a domain points at berth.
type checker struct {
	r *net.Resolver
}

// newChecker asks server ("host:port") for every lookup, or the system's
// resolver when server is "".
func newChecker(server string) *checker {
	if server == "" {
		return &checker{r: net.DefaultResolver}
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &checker{r: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, server)
	}}}
}

// addrs is what name's A and AAAA records say; none when it has none.
func (c *checker) addrs(ctx context.Context, name string) ([]netip.Addr, error) {
	list, err := c.r.LookupNetIP(ctx, "ip", name)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for i, a := range list {
		list[i] = a.Unmap()
	}
	return list, nil
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// check returns "" when d's DNS points at berth, or a sentence saying what
// is missing or wrong and what the records say now. A subdomain passes
// with a CNAME (through any chain) to the project's host, or with A/AAAA
// records naming only berth's addresses plus the TXT token; an apex needs
// both the addresses and the token.
func (c *checker) check(ctx context.Context, d *store.Domain, projectHost string, want []netip.Addr) string {
	name := d.Name
	if !store.IsApexDomain(name) {
		cname, err := c.cnameChain(ctx, name, projectHost)
		if err == nil && cname == projectHost {
			return ""
		}
		if err != nil && !notFound(err) {
			return fmt.Sprintf("berth could not look %s up (%s); try again in a moment.", name, lookupFailure(err))
		}
		got, _ := c.addrs(ctx, name)
		if len(got) > 0 && within(got, want) {
			if problem := c.checkToken(ctx, d); problem != "" {
				return name + " points at berth's addresses, but " + problem
			}
			return ""
		}
		now := "it has no DNS record yet"
		switch {
		case err == nil && cname != "" && cname != name:
			now = "it is now a CNAME to " + cname
		case len(got) > 0:
			now = "it now resolves to " + join(got)
		}
		return fmt.Sprintf("%s needs a CNAME record to %s; %s.", name, projectHost, now)
	}

	var problems []string
	got, err := c.addrs(ctx, name)
	switch {
	case err != nil:
		return fmt.Sprintf("berth could not look %s up (%s); try again in a moment.", name, lookupFailure(err))
	case len(got) == 0:
		problems = append(problems, fmt.Sprintf("%s needs A/AAAA records pointing at %s; it has none yet", name, join(want)))
	case !within(got, want):
		problems = append(problems, fmt.Sprintf("%s needs A/AAAA records pointing at %s; it now resolves to %s", name, join(want), join(got)))
	}
	if problem := c.checkToken(ctx, d); problem != "" {
		problems = append(problems, problem)
	}
	if len(problems) == 0 {
		return ""
	}
	return strings.Join(problems, "; and ") + "."
}

// cnameChain follows name's CNAMEs (a lookup answers one hop) until one is
// projectHost or the chain ends; it returns the first hop unless the chain
// reached projectHost, or name itself when it is no alias.
func (c *checker) cnameChain(ctx context.Context, name, projectHost string) (string, error) {
	first, cur := "", name
	for range 8 {
		next, err := c.r.LookupCNAME(ctx, cur)
		if err != nil {
			if first != "" {
				return first, nil // the chain ends in a name without records
			}
			return "", err
		}
		next = strings.ToLower(strings.TrimSuffix(next, "."))
		if next == projectHost {
			return next, nil
		}
		if next == cur || next == "" {
			break
		}
		if first == "" {
			first = next
		}
		cur = next
	}
	if first == "" {
		return name, nil
	}
	return first, nil
}

// checkToken returns "" when the challenge TXT record holds d's token.
func (c *checker) checkToken(ctx context.Context, d *store.Domain) string {
	name := ChallengePrefix + d.Name
	values, err := c.r.LookupTXT(ctx, name)
	if err != nil && !notFound(err) {
		return fmt.Sprintf("berth could not look the TXT record %s up (%s)", name, lookupFailure(err))
	}
	if slices.Contains(values, d.Token) {
		return ""
	}
	if len(values) == 0 {
		return fmt.Sprintf("the TXT record %s with the value %s is missing", name, d.Token)
	}
	return fmt.Sprintf("the TXT record %s should hold %s; it now holds %s", name, d.Token, strings.Join(values, ", "))
}

// within reports whether every address of got is one of want's.
func within(got, want []netip.Addr) bool {
	for _, a := range got {
		if !slices.Contains(want, a) {
			return false
		}
	}
	return true
}

func join(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// lookupFailure names why a lookup failed, without the resolver's address
// (the operator's business, not the tenant's).
func lookupFailure(err error) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsTimeout:
		return "the DNS server did not answer in time"
	case errors.As(err, &de) && de.Err == "server misbehaving":
		return "the DNS server answered with an error"
	}
	return "the DNS server could not be reached"
}

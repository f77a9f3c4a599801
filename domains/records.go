package domains

import (
	"context"
	"net/netip"
	"strings"

	"github.com/berth-dev/berth/store"
)

// ChallengePrefix names the TXT record that proves a domain's owner added it.
const ChallengePrefix = "_berth-challenge."

// Record is a DNS record the domain's owner creates.
type Record struct {
	Type  string `json:"type"` // CNAME, A, AAAA or TXT
	Name  string `json:"name"`
	Value string `json:"value"`
	// Note says when the record is needed, if not always.
	Note string `json:"note,omitempty"`
}

// Records lists what d's owner must create: for a subdomain a CNAME to the
// project's host; for an apex (which cannot be a CNAME) A/AAAA records
// naming berth's addresses and the TXT ownership token. A subdomain pointed
// with A/AAAA records instead needs the TXT record too: those addresses are
// every project's, so they prove nothing about who added the name.
func (m *Manager) Records(ctx context.Context, d *store.Domain, slug string) []Record {
	txt := Record{Type: "TXT", Name: ChallengePrefix + d.Name, Value: d.Token}
	if !store.IsApexDomain(d.Name) {
		txt.Note = "only when " + d.Name + " has A/AAAA records instead of the CNAME"
		return []Record{{Type: "CNAME", Name: d.Name, Value: m.projectHost(slug)}, txt}
	}
	var out []Record
	addrs, err := m.serverAddrs(ctx)
	if err != nil {
		out = append(out, Record{Type: "A", Name: d.Name, Value: "", Note: err.Error()})
	}
	for _, a := range addrs {
		typ := "A"
		if a.Is6() && !a.Is4In6() {
			typ = "AAAA"
		}
		out = append(out, Record{Type: typ, Name: d.Name, Value: a.Unmap().String()})
	}
	return append(out, txt)
}

// serverAddrs are the addresses berth is reached at: the configured ones,
// or those the dashboard's host resolves to.
func (m *Manager) serverAddrs(ctx context.Context) ([]netip.Addr, error) {
	if len(m.cfg.PublicIPs) > 0 {
		return m.cfg.PublicIPs, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(m.cfg.DashboardHost, "[]")); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := m.dns.addrs(ctx, m.cfg.DashboardHost)
	if err != nil || len(addrs) == 0 {
		return nil, store.Errorf(store.EINTERNAL, "berth does not know its public addresses: %s does not resolve, and BERTH_PUBLIC_IPS is not set.", m.cfg.DashboardHost)
	}
	return addrs, nil
}

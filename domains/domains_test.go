package domains_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/domains"
	"github.com/berth-dev/berth/internal/dnstest"
	"github.com/berth-dev/berth/store"
)

func setup(t *testing.T) (*domains.Manager, *store.DB, *dnstest.Server, *store.User, *store.Project, *atomic.Int32) {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	u := &store.User{Login: "alice"}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &store.Project{OwnerID: u.ID, Name: "shop", GitURL: "https://example.com/shop.git"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	dns := dnstest.Start(t)
	changes := new(atomic.Int32)
	m := domains.New(domains.Config{AppDomain: "apps.example.net", DashboardHost: "berth.example.org",
		PublicIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
		Resolver:  dns.Addr()}, db, func() { changes.Add(1) }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return m, db, dns, u, p, changes
}

// TestAllowed: berth's own hosts are no one's custom domain.
func TestAllowed(t *testing.T) {
	m, _, _, _, _, _ := setup(t)
	for _, bad := range []string{"berth.example.org", "apps.example.net", "shop.apps.example.net", "X.Apps.Example.Net", "localhost", "com"} {
		if _, err := m.Allowed(bad); store.ErrorCode(err) != store.EINVALID {
			t.Errorf("Allowed(%q) = %v, want invalid", bad, err)
		}
	}
	if name, err := m.Allowed("WWW.example.org"); err != nil || name != "www.example.org" {
		t.Errorf("Allowed(www.example.org) = %q, %v", name, err)
	}
}

// TestVerify: a subdomain verifies by a CNAME chain to the project's host,
// or by berth's addresses with the TXT token; an apex needs the addresses
// and the token. Each failure names the record and what DNS says now.
func TestVerify(t *testing.T) {
	m, _, dns, u, p, changes := setup(t)
	ctx := t.Context()
	add := func(name string) *store.Domain {
		t.Helper()
		d, err := m.Add(ctx, u.ID, p, name)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	verify := func(name string, wantOK bool, wantIn ...string) {
		t.Helper()
		d, problem, err := m.Verify(ctx, u.ID, p, name)
		if err != nil {
			t.Fatal(err)
		}
		if d.Verified() != wantOK || (problem == "") != wantOK {
			t.Fatalf("verify %s: verified %v, problem %q; want verified %v", name, d.Verified(), problem, wantOK)
		}
		for _, s := range wantIn {
			if !strings.Contains(problem, s) {
				t.Errorf("verify %s: problem %q does not say %q", name, problem, s)
			}
		}
	}

	www := add("www.example.org")
	recs := m.Records(ctx, www, p.Slug)
	if recs[0].Type != "CNAME" || recs[0].Value != "shop.apps.example.net" || recs[1].Type != "TXT" || recs[1].Value != www.Token {
		t.Errorf("subdomain records: %+v", recs)
	}
	verify("www.example.org", false, "needs a CNAME record to shop.apps.example.net", "no DNS record")
	dns.SetCNAME("www.example.org", "elsewhere.example.com")
	verify("www.example.org", false, "now a CNAME to elsewhere.example.com")
	dns.SetCNAME("www.example.org", "alias.example.org")
	dns.SetCNAME("alias.example.org", "shop.apps.example.net")
	before := changes.Load()
	verify("www.example.org", true)
	if changes.Load() == before {
		t.Error("verification did not tell the host router")
	}

	// Addresses alone are every project's: the token must be there too.
	add("api.example.org")
	dns.SetAddrs("api.example.org", "192.0.2.10")
	verify("api.example.org", false, "points at berth's addresses", "_berth-challenge.api.example.org")

	apex := add("example.org")
	recs = m.Records(ctx, apex, p.Slug)
	if len(recs) != 3 || recs[0].Type != "A" || recs[0].Value != "192.0.2.10" || recs[1].Type != "AAAA" || recs[2].Type != "TXT" {
		t.Errorf("apex records: %+v", recs)
	}
	verify("example.org", false, "needs A/AAAA records pointing at 192.0.2.10, 2001:db8::10; it has none", "TXT record _berth-challenge.example.org")
	dns.SetAddrs("example.org", "192.0.2.10", "203.0.113.5")
	dns.SetTXT("_berth-challenge.example.org", "wrong")
	verify("example.org", false, "now resolves to 192.0.2.10, 203.0.113.5", "now holds wrong")
	dns.SetAddrs("example.org", "192.0.2.10", "2001:db8::10")
	verify("example.org", false, "should hold "+apex.Token)
	dns.SetTXT("_berth-challenge.example.org", "other", apex.Token)
	verify("example.org", true)
}

// TestRecheck: the background loop verifies a waiting domain once its DNS
// is right.
func TestRecheck(t *testing.T) {
	_, db, dns, u, p, _ := setup(t)
	changed := make(chan struct{}, 10)
	m := domains.New(domains.Config{AppDomain: "apps.example.net", DashboardHost: "berth.example.org",
		PublicIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}, Resolver: dns.Addr(), RecheckEvery: 20e6},
		db, func() { changed <- struct{}{} }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := m.Add(t.Context(), u.ID, p, "www.example.org"); err != nil {
		t.Fatal(err)
	}
	<-changed // the add
	m.Start(context.Background())
	defer m.Close()
	dns.SetCNAME("www.example.org", "shop.apps.example.net")
	<-changed // the verification
	d, err := db.Domain(t.Context(), u.ID, p.ID, "www.example.org")
	if err != nil || !d.Verified() {
		t.Fatalf("after the re-check: %+v, %v", d, err)
	}
}

// TestServerAddrsFromDashboardHost: without BERTH_PUBLIC_IPS, an apex must
// point where the dashboard's host resolves; a lookup that fails says so
// without naming the resolver.
func TestServerAddrsFromDashboardHost(t *testing.T) {
	_, db, dns, u, p, _ := setup(t)
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := domains.New(domains.Config{AppDomain: "apps.example.net", DashboardHost: "berth.example.org", Resolver: dns.Addr()}, db, nil, quiet)
	d, err := m.Add(ctx, u.ID, p, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, problem, _ := m.Verify(ctx, u.ID, p, "example.org"); !strings.Contains(problem, "BERTH_PUBLIC_IPS") {
		t.Errorf("dashboard host unresolved: %q", problem)
	}
	// A subdomain's CNAME is proof enough without berth's addresses.
	if _, err := m.Add(ctx, u.ID, p, "shop.example.org"); err != nil {
		t.Fatal(err)
	}
	dns.SetCNAME("shop.example.org", p.Slug+".apps.example.net")
	if d, problem, err := m.Verify(ctx, u.ID, p, "shop.example.org"); err != nil || problem != "" || !d.Verified() {
		t.Errorf("CNAME while berth's addresses are unknown: %v %q %v", d, problem, err)
	}
	dns.SetAddrs("berth.example.org", "198.51.100.1")
	if recs := m.Records(ctx, d, p.Slug); recs[0].Type != "A" || recs[0].Value != "198.51.100.1" {
		t.Errorf("records: %+v", recs)
	}
	dns.SetAddrs("example.org", "198.51.100.1")
	dns.SetTXT("_berth-challenge.example.org", d.Token)
	if d, problem, err := m.Verify(ctx, u.ID, p, "example.org"); err != nil || problem != "" || !d.Verified() {
		t.Errorf("verify: %v %q %v", d, problem, err)
	}

	// A resolver that does not answer.
	dead := domains.New(domains.Config{AppDomain: "apps.example.net", DashboardHost: "berth.example.org",
		PublicIPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}, Resolver: "127.0.0.1:1"}, db, nil, quiet)
	if _, err := dead.Add(ctx, u.ID, p, "www.example.org"); err != nil {
		t.Fatal(err)
	}
	_, problem, err := dead.Verify(ctx, u.ID, p, "www.example.org")
	if err != nil || !strings.Contains(problem, "could not look www.example.org up") || strings.Contains(problem, "127.0.0.1") {
		t.Errorf("dead resolver: %q, %v", problem, err)
	}
}

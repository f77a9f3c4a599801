package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNormalizeDomain: names are stored as the DNS spells them (IDNA,
// lowercase, no trailing dot); what is no host of the public DNS is refused.
func TestNormalizeDomain(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"www.Example.COM", "www.example.com"},
		{" example.com. ", "example.com"},
		{"Bücher.example", "xn--bcher-kva.example"},
		{"shop.example.co.uk", "shop.example.co.uk"},
		{"www.example.test", "www.example.test"},
	} {
		got, err := NormalizeDomain(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		"", "com", "co.uk", "github.io", "localhost", "app.localhost", "printer.local", "x.invalid",
		"1.2.3.4", "::1", "[::1]", "example.com:8080", "https://example.com", "example.com/path",
		"exa mple.com", "-x.example.com", "a..example.com", "under_score.example.com", "example.123",
		"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.example.com",
	} {
		if got, err := NormalizeDomain(bad); ErrorCode(err) != EINVALID {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want an invalid error", bad, got, err)
		}
	}
	if !IsApexDomain("example.co.uk") || IsApexDomain("www.example.co.uk") || !IsApexDomain("example.test") {
		t.Error("IsApexDomain: wrong answer for example.co.uk, www.example.co.uk or example.test")
	}
}

// TestDomainOwnership: a name belongs to one project across the instance
// (whatever its case), the other owner learns only that it is taken, and
// every owner-scoped call of another user answers not found.
func TestDomainOwnership(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	a := mustUser(t, db, "alice")
	b := mustUser(t, db, "bob")
	pa := mustProject(t, db, a.ID, "alpha")
	pa2 := mustProject(t, db, a.ID, "alpha2")
	pb := mustProject(t, db, b.ID, "beta")

	d := &Domain{Name: "WWW.Example.com.", ProjectID: pa.ID}
	if err := db.CreateDomain(ctx, a.ID, d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "www.example.com" || len(d.Token) != 32 || d.Verified() {
		t.Fatalf("created %+v", d)
	}
	taken := []struct {
		who, project string
	}{{a.ID, pa.ID}, {a.ID, pa2.ID}, {b.ID, pb.ID}}
	for _, tt := range taken {
		err := db.CreateDomain(ctx, tt.who, &Domain{Name: "www.EXAMPLE.com", ProjectID: tt.project})
		wantCode(t, "taken name", err, ECONFLICT)
		if tt.who == b.ID && (strings.Contains(ErrorMessage(err), "alpha") || strings.Contains(ErrorMessage(err), pa.ID)) {
			t.Errorf("conflict message leaks the holder: %s", ErrorMessage(err))
		}
	}
	wantCode(t, "another's project", db.CreateDomain(ctx, b.ID, &Domain{Name: "new.example.com", ProjectID: pa.ID}), ENOTFOUND)
	wantCode(t, "bad name", db.CreateDomain(ctx, a.ID, &Domain{Name: "localhost", ProjectID: pa.ID}), EINVALID)

	if _, err := db.Domain(ctx, b.ID, pa.ID, "www.example.com"); ErrorCode(err) != ENOTFOUND {
		t.Errorf("bob reads alice's domain: %v", err)
	}
	if list, err := db.Domains(ctx, b.ID, pa.ID); err != nil || len(list) != 0 {
		t.Errorf("bob lists alice's domains: %v, %v", list, err)
	}
	wantCode(t, "bob deletes", db.DeleteDomain(ctx, b.ID, pa.ID, "www.example.com"), ENOTFOUND)
	_, err := db.SetDomainRedirect(ctx, b.ID, pa.ID, "www.example.com", "")
	wantCode(t, "bob redirects", err, ENOTFOUND)
	if list, err := db.Domains(ctx, a.ID, pa.ID); err != nil || len(list) != 1 {
		t.Fatalf("alice lists: %v, %v", list, err)
	}

	// Verification sticks; a later failed check records what it found.
	if d, err := db.RecordDomainCheck(ctx, "www.example.com", false, "no CNAME"); err != nil || d.Verified() || d.CheckError != "no CNAME" {
		t.Fatalf("failed check: %+v, %v", d, err)
	}
	if list, _ := db.UnverifiedDomains(ctx, d.CreatedAt.Add(-1), 10); len(list) != 1 {
		t.Errorf("unverified: %d domains, want 1", len(list))
	}
	if d, err := db.RecordDomainCheck(ctx, "www.example.com", true, ""); err != nil || !d.Verified() || d.CheckError != "" {
		t.Fatalf("passed check: %+v, %v", d, err)
	}
	if d, _ := db.RecordDomainCheck(ctx, "www.example.com", false, "gone"); !d.Verified() {
		t.Error("a failed re-check unverified the domain")
	}
	if list, _ := db.UnverifiedDomains(ctx, d.CreatedAt.Add(-1), 10); len(list) != 0 {
		t.Errorf("unverified after verification: %d domains", len(list))
	}

	// Deleting the project frees the name for anyone.
	if err := db.DeleteProject(ctx, a.ID, pa.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDomain(ctx, b.ID, &Domain{Name: "www.example.com", ProjectID: pb.ID}); err != nil {
		t.Fatalf("name of a deleted project: %v", err)
	}
}

// TestDomainRedirect: a domain redirects only to another of its project's
// domains, never to itself, and redirects do not chain; deleting a target
// makes its redirecting domains serve again.
func TestDomainRedirect(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	a := mustUser(t, db, "alice")
	p := mustProject(t, db, a.ID, "alpha")
	other := mustProject(t, db, a.ID, "other")
	for _, n := range []string{"example.com", "www.example.com", "blog.example.com"} {
		if err := db.CreateDomain(ctx, a.ID, &Domain{Name: n, ProjectID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateDomain(ctx, a.ID, &Domain{Name: "elsewhere.com", ProjectID: other.ID}); err != nil {
		t.Fatal(err)
	}
	d, err := db.SetDomainRedirect(ctx, a.ID, p.ID, "example.com", "WWW.example.com")
	if err != nil || d.RedirectTo != "www.example.com" {
		t.Fatalf("redirect apex to www: %+v, %v", d, err)
	}
	for _, tt := range []struct{ name, from, to string }{
		{"itself", "blog.example.com", "blog.example.com"},
		{"another project's", "blog.example.com", "elsewhere.com"},
		{"unknown", "blog.example.com", "nope.example.com"},
		{"a redirecting target", "blog.example.com", "example.com"},
		{"a target that redirects", "www.example.com", "blog.example.com"},
	} {
		_, err := db.SetDomainRedirect(ctx, a.ID, p.ID, tt.from, tt.to)
		wantCode(t, tt.name, err, EINVALID)
	}
	if err := db.DeleteDomain(ctx, a.ID, p.ID, "www.example.com"); err != nil {
		t.Fatal(err)
	}
	if d, err := db.Domain(ctx, a.ID, p.ID, "example.com"); err != nil || d.RedirectTo != "" {
		t.Errorf("after its target went: %+v, %v", d, err)
	}
}

// TestDomainClaimLapses: an unverified claim holds its name for
// UnverifiedClaimLasts; then another project may take it. A verified one
// holds it for good. A project has at most MaxDomainsPerProject domains.
func TestDomainClaimLapses(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	a := mustUser(t, db, "alice")
	b := mustUser(t, db, "bob")
	pa := mustProject(t, db, a.ID, "alpha")
	pb := mustProject(t, db, b.ID, "beta")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return t0 }
	for _, n := range []string{"squat.example.com", "kept.example.com"} {
		if err := db.CreateDomain(ctx, a.ID, &Domain{Name: n, ProjectID: pa.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RecordDomainCheck(ctx, "kept.example.com", true, ""); err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return t0.Add(UnverifiedClaimLasts - time.Minute) }
	wantCode(t, "within the claim", db.CreateDomain(ctx, b.ID, &Domain{Name: "squat.example.com", ProjectID: pb.ID}), ECONFLICT)
	db.Now = func() time.Time { return t0.Add(UnverifiedClaimLasts + time.Minute) }
	if err := db.CreateDomain(ctx, b.ID, &Domain{Name: "squat.example.com", ProjectID: pb.ID}); err != nil {
		t.Fatalf("after the claim lapsed: %v", err)
	}
	wantCode(t, "a verified name", db.CreateDomain(ctx, b.ID, &Domain{Name: "kept.example.com", ProjectID: pb.ID}), ECONFLICT)
	if list, _ := db.Domains(ctx, a.ID, pa.ID); len(list) != 1 || list[0].Name != "kept.example.com" {
		t.Errorf("alice's domains after the lapse: %v", list)
	}

	for i := 1; i < MaxDomainsPerProject; i++ {
		if err := db.CreateDomain(ctx, a.ID, &Domain{Name: fmt.Sprintf("d%d.example.com", i), ProjectID: pa.ID}); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, "past the cap", db.CreateDomain(ctx, a.ID, &Domain{Name: "one-more.example.com", ProjectID: pa.ID}), ELIMIT)
}

package serving

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/fastpath"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestCustomDomains: a verified custom domain serves its project's
// production deployment on both paths, like the project host; an
// unverified one answers a 404 page (never the dashboard); a redirecting
// one answers 308 to its target with the same path and query; a removed
// one is no deployment host any more.
func TestCustomDomains(t *testing.T) {
	sh := newStaticHarness(t)
	ctx := context.Background()
	p := sh.project(t, "shop")
	d := sh.deploy(t, p, map[string][]byte{"index.html": []byte("the shop"), "a/b.txt": []byte("file b")}, model.StateReady)
	if _, err := sh.db.SetProductionDeployment(ctx, p.ID, d.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"www.example.test", "example.test", "pending.example.test"} {
		if err := sh.db.CreateDomain(ctx, sh.owner, &store.Domain{Name: n, ProjectID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if sh.h.Match("elsewhere.example.test") || !sh.h.Match("pending.example.test:8080") {
		t.Fatal("Match: an unknown host is a deployment host, or an added domain is not")
	}
	for _, n := range []string{"www.example.test", "example.test"} {
		if _, err := sh.db.RecordDomainCheck(ctx, n, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sh.db.SetDomainRedirect(ctx, sh.owner, p.ID, "example.test", "www.example.test"); err != nil {
		t.Fatal(err)
	}
	if sh.h.VerifiedDomain("www.example.test") {
		t.Error("a verification nobody reported was seen before Invalidate")
	}
	sh.h.Invalidate()
	if !sh.h.VerifiedDomain("WWW.example.test:8080") || sh.h.VerifiedDomain("pending.example.test") || sh.h.VerifiedDomain("shop.localhost") {
		t.Error("VerifiedDomain: wrong answer")
	}

	res := sh.get(sh.h, "GET", "www.example.test:8080", "/")
	if body := string(readBody(t, res)); res.StatusCode != http.StatusOK || body != "the shop" {
		t.Errorf("verified domain: %d %q", res.StatusCode, body)
	}
	res = sh.get(sh.h, "GET", "pending.example.test", "/")
	if body := string(readBody(t, res)); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "not verified") {
		t.Errorf("unverified domain: %d %q", res.StatusCode, body)
	}
	res = sh.get(sh.h, "GET", "example.test:8080", "/a/b.txt?x=1&y=%20")
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusPermanentRedirect || loc != "http://www.example.test:8080/a/b.txt?x=1&y=%20" {
		t.Errorf("redirect: %d to %q", res.StatusCode, loc)
	}

	fast := func(host, path string) bool {
		return sh.h.ServeFast(&fastpath.Request{Host: host, Path: path}, &fastpath.Response{})
	}
	if !fast("www.example.test", "/a/b.txt") || fast("pending.example.test", "/a/b.txt") || fast("example.test", "/a/b.txt") {
		t.Error("fast path: serves the unverified or redirecting domain, or not the verified one")
	}

	// A promotion reaches the custom domain as it reaches the project host.
	d2 := sh.deploy(t, p, map[string][]byte{"index.html": []byte("the new shop")}, model.StateReady)
	if _, err := sh.db.SetProductionDeployment(ctx, p.ID, d2.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	sh.h.Invalidate()
	res = sh.get(sh.h, "GET", "www.example.test", "/")
	if body := string(readBody(t, res)); body != "the new shop" {
		t.Errorf("after a promotion: %q", body)
	}

	if err := sh.db.DeleteDomain(ctx, sh.owner, p.ID, "www.example.test"); err != nil {
		t.Fatal(err)
	}
	sh.h.Invalidate()
	if sh.h.Match("www.example.test") || fast("www.example.test", "/a/b.txt") {
		t.Error("a removed domain is still served")
	}
	// Its redirecting apex serves the project itself now.
	res = sh.get(sh.h, "GET", "example.test", "/")
	if body := string(readBody(t, res)); res.StatusCode != http.StatusOK || body != "the new shop" {
		t.Errorf("apex after its target went: %d %q", res.StatusCode, body)
	}
}

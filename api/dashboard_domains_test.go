package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDashboardDomains: the project page's Domains panel adds a domain and
// shows the records to create, says what is wrong when verification fails,
// verifies, offers the www/apex redirect, and removes; another user's
// session cannot touch the panel's forms.
func TestDashboardDomains(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.createProject(t, adminToken, "shop")
	b := newBrowser(t, h)
	csrf := b.signIn()
	page := "/projects/" + p.ID
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("_csrf", csrf)
		res := b.post(page+path, form)
		if res.status != http.StatusSeeOther {
			t.Fatalf("POST %s: %d: %.800s", path, res.status, res.body)
		}
		return b.mustGet(res.location()).body
	}

	body := post("/domains", url.Values{"name": {"WWW.example.test"}})
	for _, want := range []string{"Domain added", "www.example.test", "Waiting for DNS", "CNAME", "shop.localhost", "_berth-challenge.www.example.test"} {
		if !strings.Contains(body, want) {
			t.Errorf("after adding: page lacks %q", want)
		}
	}
	res := b.post(page+"/domains", url.Values{"_csrf": {csrf}, "name": {"co.uk"}})
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "public suffix") || !strings.Contains(res.body, `value="co.uk"`) {
		t.Errorf("bad name: %d %.300s", res.status, res.body)
	}
	res = b.post(page+"/domains/www.example.test/verify", url.Values{"_csrf": {csrf}})
	if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.body, "needs a CNAME record to shop.localhost") {
		t.Errorf("verify without DNS: %d", res.status)
	}
	h.DNS.SetCNAME("www.example.test", "shop.localhost")
	body = post("/domains/www.example.test/verify", url.Values{})
	if !strings.Contains(body, "Domain verified") || !strings.Contains(body, ">Verified<") {
		t.Error("after verification: no verified state")
	}

	body = post("/domains", url.Values{"name": {"example.test"}})
	if !strings.Contains(body, "Redirect to www.example.test") || !strings.Contains(body, "Redirect to example.test") {
		t.Error("the www/apex pair offers no redirect")
	}
	body = post("/domains/example.test/redirect", url.Values{"to": {"www.example.test"}})
	if !strings.Contains(body, "redirects to <code>www.example.test</code>") {
		t.Error("after the redirect: not shown")
	}

	// Another user's session: not found, nothing changed.
	bob, _ := h.newUser(t, "bob")
	other := newBrowser(t, h)
	otherCSRF := other.signInAs(bob)
	for _, path := range []string{"/domains", "/domains/www.example.test/verify", "/domains/www.example.test/redirect", "/domains/www.example.test/delete"} {
		if res := other.post(page+path, url.Values{"_csrf": {otherCSRF}, "name": {"evil.example.test"}}); res.status != http.StatusNotFound {
			t.Errorf("bob POST %s: %d", path, res.status)
		}
	}

	body = post("/domains/www.example.test/delete", url.Values{})
	if !strings.Contains(body, "Domain removed") || strings.Contains(body, "www.example.test") {
		t.Error("after removal: still listed")
	}
}

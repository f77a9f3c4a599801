package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/store"
)

type userOut struct {
	ID         string     `json:"id"`
	Login      string     `json:"login"`
	IsAdmin    bool       `json:"is_admin"`
	Builtin    bool       `json:"builtin"`
	DisabledAt *time.Time `json:"disabled_at"`
}

// TestUsersAdminOnly: only an administrator lists and manages users; the
// built-in admin and one's own account are out of reach.
func TestUsersAdminOnly(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withGitHubSignIn(gh, nil))
	b, bKey := githubUser(t, h)
	if b.User.IsAdmin {
		t.Fatal("a GitHub user of an instance with an admin token is an admin")
	}
	var admin userOut
	var users []userOut
	h.mustAPI(t, http.StatusOK, "GET", "/v1/users", adminToken, nil, &users)
	for _, u := range users {
		if u.Builtin {
			admin = u
		}
	}
	if len(users) != 2 || admin.ID == "" || !slices.ContainsFunc(users, func(u userOut) bool { return u.ID == b.User.ID }) {
		t.Fatalf("users: %+v, want the built-in admin and %s", users, b.User.Login)
	}

	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/users"},
		{"POST", "/v1/users/" + admin.ID + "/disable"},
		{"DELETE", "/v1/users/" + admin.ID},
		{"POST", "/v1/users/" + b.User.ID + "/enable"},
	} {
		wantError(t, h.api(t, r.method, r.path, bKey, nil, nil), http.StatusForbidden, "forbidden")
	}
	if res := b.status(t, h, "/users"); res != http.StatusForbidden {
		t.Errorf("dashboard users page for a non-admin: %d, want 403", res)
	}

	// The built-in admin cannot disable or delete itself (nor can anyone).
	wantError(t, h.api(t, "POST", "/v1/users/"+admin.ID+"/disable", adminToken, nil, nil), http.StatusBadRequest, "invalid")
	wantError(t, h.api(t, "DELETE", "/v1/users/"+admin.ID, adminToken, nil, nil), http.StatusBadRequest, "invalid")
	wantError(t, h.api(t, "POST", "/v1/users/nope/disable", adminToken, nil, nil), http.StatusNotFound, "not_found")
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", adminToken, nil, nil)
}

// TestDisableUser: disabling ends the user's sessions and stops their API
// keys at once, with a sentence saying why; enabling lets the keys work
// again. A disabled user cannot sign in with GitHub either.
func TestDisableUser(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withGitHubSignIn(gh, nil))
	b, bKey := githubUser(t, h)
	p := h.createProject(t, bKey, "site")

	var got userOut
	h.mustAPI(t, http.StatusOK, "POST", "/v1/users/"+b.User.ID+"/disable", adminToken, nil, &got)
	if got.DisabledAt == nil {
		t.Fatalf("disabled user: %+v, want disabled_at", got)
	}
	res := h.api(t, "GET", "/v1/projects/"+p.ID, bKey, nil, nil)
	wantError(t, res, http.StatusUnauthorized, "unauthorized")
	if !strings.Contains(res.String(), "This account is disabled.") {
		t.Errorf("disabled user's key: %s, want the sentence", res)
	}
	if st := b.status(t, h, "/v1/session"); st != http.StatusUnauthorized {
		t.Errorf("disabled user's session cookie: %d, want 401", st)
	}
	if st := b.status(t, h, "/"); st != http.StatusSeeOther {
		t.Errorf("disabled user's dashboard: %d, want a redirect to sign in", st)
	}
	// A disabled key is not a guess: many uses do not throttle the address.
	for range 15 {
		h.api(t, "GET", "/v1/projects", bKey, nil, nil)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", adminToken, nil, nil)

	again := newBrowser(t, h)
	loc, _ := url.Parse(again.get("/auth/github").location())
	cb := again.get("/auth/github/callback?code=good-code&state=" + url.QueryEscape(loc.Query().Get("state")))
	if cb.status != http.StatusForbidden || !strings.Contains(cb.body, "This account is disabled.") {
		t.Errorf("a disabled user signs in with GitHub: %d to %q: %s", cb.status, cb.location(), cb.body)
	}

	h.mustAPI(t, http.StatusOK, "POST", "/v1/users/"+b.User.ID+"/enable", adminToken, nil, &got)
	if got.DisabledAt != nil {
		t.Fatalf("enabled user: %+v", got)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects/"+p.ID, bKey, nil, nil)
}

// TestDeleteUser: deleting a user deletes their projects through the
// lifecycle (observers hear of their deployments, so artifacts and servers
// are freed), then the account; their key stops working at once.
func TestDeleteUser(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withGitHubSignIn(gh, nil))
	b, bKey := githubUser(t, h)
	p := h.createProject(t, bKey, "site")
	d := h.createDeployment(t, bKey, p.ID)
	mine := h.createProject(t, adminToken, "admins")

	h.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/users/"+b.User.ID, adminToken, nil, nil)
	wantError(t, h.api(t, "GET", "/v1/projects", bKey, nil, nil), http.StatusUnauthorized, "unauthorized")
	if _, err := h.DB.UserByID(t.Context(), b.User.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("deleted user: %v, want not found", err)
	}
	if _, err := h.DB.DeploymentByID(t.Context(), d.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("deleted user's deployment: %v, want not found", err)
	}
	h.mu.Lock()
	told := slices.Contains(h.deleted, d.ID)
	h.mu.Unlock()
	if !told {
		t.Errorf("observers were not told of deployment %s", d.ID)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects/"+mine.ID, adminToken, nil, nil)
}

// TestDashboardUsers: the admin's users page lists accounts and its forms
// (with the session's CSRF token) disable, enable and delete.
func TestDashboardUsers(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withGitHubSignIn(gh, nil))
	b, bKey := githubUser(t, h)
	admin := newBrowser(t, h)
	csrf := admin.signIn()

	page := admin.mustGet("/users")
	for _, want := range []string{b.User.Login, "built-in admin", `action="/users/` + b.User.ID + `/disable"`, `href="/users"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("users page lacks %s", want)
		}
	}
	if res := admin.post("/users/"+b.User.ID+"/disable", url.Values{}); res.status != http.StatusForbidden {
		t.Errorf("disable without CSRF: %d, want 403", res.status)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", bKey, nil, nil)
	if res := admin.post("/users/"+b.User.ID+"/disable", url.Values{"_csrf": {csrf}}); res.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", res.status)
	}
	wantError(t, h.api(t, "GET", "/v1/projects", bKey, nil, nil), http.StatusUnauthorized, "unauthorized")
	if page := admin.mustGet("/users"); !strings.Contains(page.body, `action="/users/`+b.User.ID+`/enable"`) {
		t.Error("users page offers no enable for a disabled user")
	}
	if res := admin.post("/users/"+b.User.ID+"/enable", url.Values{"_csrf": {csrf}}); res.status != http.StatusSeeOther {
		t.Fatalf("enable: %d", res.status)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", bKey, nil, nil)
	if res := admin.post("/users/"+b.User.ID+"/delete", url.Values{"_csrf": {csrf}}); res.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.status)
	}
	if page := admin.mustGet("/users"); strings.Contains(page.body, b.User.ID) {
		t.Error("a deleted user is still listed")
	}
}

// TestAllowListRecheckedOnEachRequest: the GitHub allow lists apply to
// every request, not only at sign-in: a user who is not on the users list
// (any more) or has left the allowed organisation is refused.
func TestAllowListRecheckedOnEachRequest(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.set("mallory", 4242, "acme")
	h := newHarness(t, withGitHubSignIn(gh, func(c *api.GitHubConfig) {
		c.AllowedUsers = []string{"alice"}
		c.AllowedOrgs = []string{"acme"}
		c.OrgCheckTTL = time.Nanosecond // ask GitHub on every request
	}))
	b, bKey := githubUser(t, h)
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", bKey, nil, nil)

	gh.set("mallory", 4242) // mallory leaves acme
	wantError(t, h.api(t, "GET", "/v1/projects", bKey, nil, nil), http.StatusForbidden, "forbidden")
	if st := b.status(t, h, "/"); st != http.StatusSeeOther {
		t.Errorf("dashboard of a user no longer allowed: %d, want a redirect to sign in", st)
	}

	// An account the users list no longer names (it was there when the
	// account signed in) is refused too.
	eve, err := h.DB.UpsertGitHubUser(t.Context(), 777, "eve", "Eve")
	if err != nil {
		t.Fatal(err)
	}
	_, eveKey, err := h.DB.CreateAPIKey(t.Context(), eve.ID, "old")
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, h.api(t, "GET", "/v1/projects", eveKey, nil, nil), http.StatusForbidden, "forbidden")
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", adminToken, nil, nil)
}

// TestGitHubUserNamedAdmin: a GitHub account called "admin" is a stranger
// like any other: not an admin, not the admin token's identity, with its
// own login, and nothing of the admin's is within its reach.
func TestGitHubUserNamedAdmin(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.set("admin", 99)
	h := newHarness(t, withGitHubSignIn(gh, nil))
	p := h.createProject(t, adminToken, "secret")
	var admin sessionUser
	h.mustAPI(t, http.StatusOK, "GET", "/v1/session", adminToken, nil, &admin)

	b, bKey := githubUser(t, h)
	if b.User.IsAdmin || b.User.Builtin || b.User.Login == "admin" || b.User.ID == admin.User.ID {
		t.Fatalf("GitHub user admin: %+v; the admin is %+v", b.User, admin.User)
	}
	wantError(t, h.api(t, "GET", "/v1/projects/"+p.ID, bKey, nil, nil), http.StatusNotFound, "not_found")
	wantError(t, h.api(t, "GET", "/v1/users", bKey, nil, nil), http.StatusForbidden, "forbidden")
	var mine []projectOut
	h.mustAPI(t, http.StatusOK, "GET", "/v1/projects", bKey, nil, &mine)
	if len(mine) != 0 {
		t.Errorf("GitHub user admin sees projects: %+v", mine)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/session", adminToken, nil, &admin)
	if !admin.User.IsAdmin || admin.User.Login != "admin" {
		t.Errorf("the admin token's user after: %+v", admin.User)
	}
}

// TestSignInNextStaysLocal: a signed-in browser sent to the sign-in page
// with a crafted next is redirected on this site only.
func TestSignInNextStaysLocal(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := newBrowser(t, h)
	b.signIn()
	for _, next := range []string{"/%09/evil.example", "/%2F/evil.example", "/%5Cevil.example", "//evil.example", "/\\evil.example", "\\/evil.example", "https://evil.example", "/\t/evil.example", "/\n/evil.example"} {
		res := b.get("/sign-in?next=" + url.QueryEscape(next))
		if res.status != http.StatusSeeOther || res.location() != "/" {
			t.Errorf("next=%q: %d to %q, want /", next, res.status, res.location())
		}
	}
	if res := b.get("/sign-in?next=" + url.QueryEscape("/api-keys")); res.location() != "/api-keys" {
		t.Errorf("next=/api-keys: to %q", res.location())
	}
}

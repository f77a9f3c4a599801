package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// tenants is one berth with two users: A, the admin (the admin token), and
// B, a stranger who signed in with GitHub (through the fake GitHub) and made
// an API key. Hostile-tenant tests let B try what it must not manage, then
// check that A's things are unchanged.
type tenants struct {
	b      *berthProc
	gh     *fakeGitHub
	A, B   string // API tokens
	bLogin string
}

// newTenants starts berth with GitHub sign-in open to anyone, signs B in as
// the GitHub user "mallory" and makes B an API key.
func newTenants(t *testing.T, env ...string) *tenants {
	t.Helper()
	requireEnv(t)
	gh := newFakeGitHub(t)
	gh.login, gh.userID = "mallory", 4242
	b := startBerth(t, t.TempDir(), append([]string{
		"BERTH_GITHUB_CLIENT_ID=test-client-id",
		"BERTH_GITHUB_CLIENT_SECRET=test-client-secret",
		"BERTH_GITHUB_API_URL=" + gh.apiURL(),
		"BERTH_GITHUB_URL=" + gh.URL,
	}, env...)...)
	tn := &tenants{b: b, gh: gh, A: adminToken, bLogin: "mallory"}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := browser.Get(b.url("/auth/github"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	res, err = browser.Get(b.url("/auth/github/callback?code=good-code&state=" + url.QueryEscape(loc.Query().Get("state"))))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("B's GitHub sign-in: %d", res.StatusCode)
	}
	var session struct {
		User struct {
			Login   string `json:"login"`
			IsAdmin bool   `json:"is_admin"`
		} `json:"user"`
		CSRF string `json:"csrf_token"`
	}
	getJSON(t, browser, b.url("/v1/session"), &session)
	if session.User.Login != "mallory" || session.User.IsAdmin {
		t.Fatalf("B's session: %+v, want mallory, not an admin", session.User)
	}
	req, _ := http.NewRequest(http.MethodPost, b.url("/v1/api-keys"), strings.NewReader(`{"name":"cli"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", session.CSRF)
	res, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var key struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&key); err != nil || res.StatusCode != http.StatusCreated || key.Token == "" {
		t.Fatalf("B's API key: %d %v", res.StatusCode, err)
	}
	tn.B = key.Token
	return tn
}

// as sends a JSON request with token and decodes a JSON answer into out
// (when out is not nil). It returns the status and the raw body.
func (b *berthProc) as(token, method, path string, body, out any) (int, string) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.url(path), rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			b.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, string(data)
}

// TestTenantsHarness: B is a signed-in stranger with a key of its own who
// cannot see A's project.
func TestTenantsHarness(t *testing.T) {
	tn := newTenants(t)
	var p struct {
		ID string `json:"id"`
	}
	if st, body := tn.b.as(tn.A, "POST", "/v1/projects", map[string]any{"name": "shop", "git_url": "https://example.invalid/shop.git"}, &p); st != http.StatusCreated {
		t.Fatalf("A's project: %d %s", st, body)
	}
	if st, _ := tn.b.as(tn.B, "GET", "/v1/projects/"+p.ID, nil, nil); st != http.StatusNotFound {
		t.Errorf("B reads A's project: %d, want 404", st)
	}
	var mine []map[string]any
	if st, _ := tn.b.as(tn.B, "GET", "/v1/projects", nil, &mine); st != http.StatusOK || len(mine) != 0 {
		t.Errorf("B's projects: %d %v, want none", st, mine)
	}
}

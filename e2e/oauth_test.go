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

// TestGitHubSignIn signs in through GitHub's OAuth flow (a local server
// speaking GitHub's wire format), checks the state cookie, the allow list,
// the session cookie with CSRF protection, repository listing and linking.
func TestGitHubSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test; skipped under -short")
	}
	gh := newFakeGitHub(t)
	b := startBerth(t, t.TempDir(),
		"BERTH_GITHUB_CLIENT_ID=test-client-id",
		"BERTH_GITHUB_CLIENT_SECRET=test-client-secret",
		"BERTH_GITHUB_API_URL="+gh.apiURL(),
		"BERTH_GITHUB_URL="+gh.URL,
		"BERTH_ALLOWED_GITHUB_ORGS=acme",
	)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// begin returns the state GitHub would echo back.
	begin := func() string {
		res, err := browser.Get(b.url("/auth/github"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, _ := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), gh.URL+"/login/oauth/authorize") ||
			loc.Query().Get("client_id") != "test-client-id" || loc.Query().Get("state") == "" {
			t.Fatalf("sign-in redirect: %d %s", res.StatusCode, loc)
		}
		return loc.Query().Get("state")
	}
	callback := func(code, state string) *http.Response {
		res, err := browser.Get(b.url("/auth/github/callback?code=" + code + "&state=" + state))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}

	begin()
	if res := callback("good-code", "forged-state"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with a forged state: %d, want 400", res.StatusCode)
	}
	// A browser is sent back to the sign-in page with the reason.
	req, _ := http.NewRequest(http.MethodGet, b.url("/auth/github/callback?code=good-code&state=forged"), nil)
	req.Header.Set("Accept", "text/html")
	if res, err := browser.Do(req); err != nil || res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sign-in?error=github-state" {
		t.Errorf("browser callback with a forged state: %v %v", res, err)
	}
	if res, err := http.Get(b.url("/sign-in?error=github-state")); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("sign-in page: %v %v", res, err)
	} else {
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(page), "did not come from this browser") {
			t.Errorf("sign-in page does not explain the failure")
		}
	}
	if res := callback("good-code", begin()); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	var session struct {
		User struct {
			Login   string `json:"login"`
			IsAdmin bool   `json:"is_admin"`
		} `json:"user"`
		CSRF string `json:"csrf_token"`
	}
	getJSON(t, browser, b.url("/v1/session"), &session)
	// berth runs with an admin token, so it has its admin: no GitHub
	// account becomes one.
	if session.User.Login != "octocat" || session.User.IsAdmin || session.CSRF == "" {
		t.Fatalf("session after sign-in: %+v", session)
	}
	for _, c := range jar.Cookies(&url.URL{Scheme: "http", Host: b.addr}) {
		if strings.Contains(c.Value, "gho_usertoken") {
			t.Error("the GitHub token leaked into a cookie")
		}
	}

	var repos []struct {
		FullName      string `json:"full_name"`
		DefaultBranch string `json:"default_branch"`
	}
	getJSON(t, browser, b.url("/v1/github/repos"), &repos)
	if len(repos) != 1 || repos[0].FullName != "octocat/Hello-World" {
		t.Fatalf("repos: %+v", repos)
	}

	// Linking takes the repository's default branch as production; a
	// cookie-authenticated change needs the CSRF token.
	body, _ := json.Marshal(map[string]string{"name": "linked", "github_repo": "octocat/Hello-World"})
	post := func(csrf string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, b.url("/v1/projects"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res, out
	}
	if res, _ := post(""); res.StatusCode != http.StatusForbidden {
		t.Errorf("project created without CSRF token: %d", res.StatusCode)
	}
	if res, p := post(session.CSRF); res.StatusCode != http.StatusCreated || p["production_branch"] != "trunk" {
		t.Errorf("linked project: %d %v", res.StatusCode, p)
	}

	// Someone outside the allowed organisations cannot sign in.
	gh.mu.Lock()
	gh.orgs = []string{"elsewhere"}
	gh.mu.Unlock()
	jar2, _ := cookiejar.New(nil)
	browser.Jar = jar2
	if res := callback("good-code", begin()); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in outside the allowed orgs: %d, want 403", res.StatusCode)
	}
}

func getJSON(t *testing.T, c *http.Client, u string, out any) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

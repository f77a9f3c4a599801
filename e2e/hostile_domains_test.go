package e2e

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileDomainsRefuseSharedDashboard: berth will not start with its
// dashboard where deployed sites could set its cookies (under the apps
// domain, or on the same registrable domain), and says why.
func TestHostileDomainsRefuseSharedDashboard(t *testing.T) {
	requireEnv(t)
	for _, tt := range []struct {
		name string
		env  []string
		want string
	}{
		{"under the apps domain", []string{"BERTH_APP_DOMAIN=example.com", "BERTH_PUBLIC_URL=https://app.example.com"}, "is the apps domain example.com or under it"},
		{"under the old name's domain", []string{"BERTH_BASE_DOMAIN=example.com", "BERTH_PUBLIC_URL=https://app.example.com"}, "is the apps domain example.com or under it"},
		{"same registrable domain", []string{"BERTH_APP_DOMAIN=apps.example.com", "BERTH_PUBLIC_URL=https://berth.example.com"}, "share the registrable domain example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			out, err := runBerthToExit(t, dataDir, tt.env...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("berth with %v: %v, want exit status 1; output:\n%s", tt.env, err, out)
			}
			for _, s := range []string{tt.want, "github.io", "cookies"} {
				if !strings.Contains(out, s) {
					t.Errorf("the refusal does not say %q:\n%s", s, out)
				}
			}
			if _, err := os.Stat(filepath.Join(dataDir, "berth.db")); err == nil {
				t.Error("berth opened its database before refusing the configuration")
			}
		})
	}
}

// runBerthToExit runs berth serve with env until it exits and returns its
// output. A berth that starts serving instead is stopped and reported as
// such, so a missing refusal fails at once rather than at a timeout.
func runBerthToExit(t *testing.T, dataDir string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "BERTH_ADDR=127.0.0.1:0", "BERTH_DATA_DIR="+dataDir, "BERTH_ADMIN_TOKEN="+adminToken)
	cmd.Env = append(cmd.Env, env...)
	var out strings.Builder
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if runningRe.MatchString(sc.Text()) && !started {
			started = true
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	err = cmd.Wait()
	if started {
		return out.String(), errors.New("berth started serving")
	}
	return out.String(), err
}

// TestHostileDomainsCrossSitePost: a page on a deployed site makes the
// victim's browser, which carries B's session (planted by a login CSRF),
// post to the dashboard with a valid CSRF token. berth refuses it; the same
// request from berth's own pages works, and A's project is unchanged.
//
// It sets up A and B itself rather than with newTenants: there the first
// GitHub user to sign in (B) becomes an admin. Here a first GitHub user
// signs in before B, so B is a plain stranger either way.
func TestHostileDomainsCrossSitePost(t *testing.T) {
	requireEnv(t)
	gh := newFakeGitHub(t)
	b := startBerth(t, t.TempDir(),
		"BERTH_GITHUB_CLIENT_ID=test-client-id",
		"BERTH_GITHUB_CLIENT_SECRET=test-client-secret",
		"BERTH_GITHUB_API_URL="+gh.apiURL(),
		"BERTH_GITHUB_URL="+gh.URL,
	)
	signInGitHub(t, b, gh, "octocat", 583231)
	browser, csrf := signInGitHub(t, b, gh, "mallory", 4242)
	var shop struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	if st, body := b.as(adminToken, "POST", "/v1/projects", map[string]any{"name": "shop", "git_url": "https://example.invalid/shop.git"}, &shop); st != http.StatusCreated {
		t.Fatalf("A's project: %d %s", st, body)
	}
	_, port, _ := strings.Cut(b.addr, ":")
	site := "http://" + shop.Slug + ".localhost:" + port // a deployed site beside the dashboard

	post := func(path, contentType, body string, header map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(data)
	}
	for _, hd := range []map[string]string{
		{"Origin": site, "X-CSRF-Token": csrf},
		{"Origin": site, "Sec-Fetch-Site": "same-site", "X-CSRF-Token": csrf},
	} {
		if st, body := post("/v1/projects", "application/json", `{"name":"planted","git_url":"https://example.invalid/p.git"}`, hd); st != http.StatusForbidden || !strings.Contains(body, "another site") {
			t.Errorf("API POST from %v: %d %s, want 403 with a sentence", hd, st, body)
		}
	}
	form := url.Values{"_csrf": {csrf}, "name": {"planted"}, "git_url": {"https://example.invalid/p.git"}}
	if st, body := post("/projects", "application/x-www-form-urlencoded", form.Encode(), map[string]string{"Origin": site, "Sec-Fetch-Site": "same-site"}); st != http.StatusForbidden || !strings.Contains(body, "another site") {
		t.Errorf("dashboard form from a deployed site: %d, want 403 with a sentence: %.300s", st, body)
	}
	// The session and token were good: from berth's own page the same
	// request is accepted.
	if st, body := post("/v1/projects", "application/json", `{"name":"own","git_url":"https://example.invalid/p.git"}`,
		map[string]string{"Origin": "http://" + b.addr, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": csrf}); st != http.StatusCreated {
		t.Fatalf("same-origin POST: %d %s, want 201", st, body)
	}

	var mine []struct {
		Name string `json:"name"`
	}
	getJSON(t, browser, b.url("/v1/projects"), &mine)
	if len(mine) != 1 || mine[0].Name != "own" {
		t.Errorf("B's projects: %+v, want only the same-origin one", mine)
	}
	var after struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	if st, _ := b.as(adminToken, "GET", "/v1/projects/"+shop.ID, nil, &after); st != http.StatusOK || after != shop {
		t.Errorf("A's project after the attack: %d %+v, want %+v", st, after, shop)
	}
}

// signInGitHub signs the GitHub user login in with a fresh browser (cookie
// jar) through the fake GitHub and returns the browser and its session's
// CSRF token.
func signInGitHub(t *testing.T, b *berthProc, gh *fakeGitHub, login string, id int64) (*http.Client, string) {
	t.Helper()
	gh.mu.Lock()
	gh.login, gh.userID = login, id
	gh.mu.Unlock()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
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
		t.Fatalf("%s's GitHub sign-in: %d", login, res.StatusCode)
	}
	var session struct {
		User struct {
			Login string `json:"login"`
		} `json:"user"`
		CSRF string `json:"csrf_token"`
	}
	getJSON(t, browser, b.url("/v1/session"), &session)
	if session.User.Login != login || session.CSRF == "" {
		t.Fatalf("%s's session: %+v", login, session)
	}
	return browser, session.CSRF
}

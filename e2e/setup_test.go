package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	setupURLRe  = regexp.MustCompile(`setup_url=(http://\S+/setup/[A-Za-z0-9_-]{43})`)
	setupCSRFRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	setupKeyRe  = regexp.MustCompile(`value="(berth_[0-9a-f]+_[0-9a-f]+)"`)
)

// TestFirstRunSetup starts berth as a new user does, with no admin token:
// its log holds a one-time setup link; opening it and pressing the button
// makes the administrator and shows an API key, which then works on the
// API. The link is dead afterwards, and the next start prints none.
func TestFirstRunSetup(t *testing.T) {
	requireEnv(t)
	dataDir := t.TempDir()
	b := startBerth(t, dataDir, "BERTH_ADMIN_TOKEN=")
	// The link is logged before "berth is running", which startBerth waited for.
	lm := setupURLRe.FindStringSubmatch(b.logText())
	if lm == nil {
		t.Fatalf("no setup link in berth's log:\n%s", b.logText())
	}
	u, err := url.Parse(lm[1])
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		res, err := c.Get(b.url(path))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if _, page := get("/sign-in"); !strings.Contains(page, "Look in berth&#39;s log for the setup link") && !strings.Contains(page, "Look in berth's log for the setup link") {
		t.Errorf("the sign-in page on this machine does not say where the setup link is:\n%s", page)
	}
	code, page := get(u.Path)
	m := setupCSRFRe.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil {
		t.Fatalf("setup page: %d\n%s", code, page)
	}
	res, err := c.PostForm(b.url(u.Path), url.Values{"_csrf": {m[1]}, "with": {"token"}})
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(res.Body)
	res.Body.Close()
	k := setupKeyRe.FindStringSubmatch(string(done))
	if res.StatusCode != http.StatusOK || k == nil {
		t.Fatalf("setup: %d\n%s", res.StatusCode, done)
	}
	key := k[1]
	if strings.Contains(b.logText(), key) {
		t.Error("the API key made at setup is in berth's log")
	}
	api := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, b.url(path), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	if code, body := api(http.MethodGet, "/v1/session", ""); code != http.StatusOK || !strings.Contains(body, `"is_admin":true`) {
		t.Fatalf("the setup key on the API: %d %s", code, body)
	}
	if code, body := api(http.MethodPost, "/v1/projects", `{"name":"first","git_url":"https://example.com/first.git"}`); code != http.StatusCreated {
		t.Fatalf("create a project with the setup key: %d %s", code, body)
	}
	if code, _ := get(u.Path); code != http.StatusGone {
		t.Errorf("the used link: %d, want 410", code)
	}

	b.stop()
	b2 := startBerth(t, dataDir, "BERTH_ADMIN_TOKEN=")
	if strings.Contains(b2.logText(), "setup_url=") {
		t.Errorf("berth printed a setup link although it has an administrator:\n%s", b2.logText())
	}
	b.addr = b2.addr
	if code, body := api(http.MethodGet, "/v1/projects", ""); code != http.StatusOK || !strings.Contains(body, `"first"`) {
		t.Errorf("the setup key after a restart: %d %s", code, body)
	}
}

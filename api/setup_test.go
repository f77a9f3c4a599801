package api_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
)

// withoutAdmin starts berth as `berth serve` with no admin token does.
func withoutAdmin(c *api.Config, _ *deploys.Config) { c.AdminToken = "" }

var (
	setupLinkRe = regexp.MustCompile(`^http://localhost:\d+/setup/[A-Za-z0-9_-]{43}$`)

	shownKeyRe = regexp.MustCompile(`value="(berth_[0-9a-f]+_[0-9a-f]+)"`)
)

// browser is a client that keeps cookies and does not follow redirects.
func cookieClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// setupPath is the path of the harness's setup link.
func setupPath(t *testing.T, h *harness) string {
	t.Helper()
	link := h.Server.SetupURL()
	if !setupLinkRe.MatchString(link) {
		t.Fatalf("setup link %q, want http://localhost:<port>/setup/<43 characters>", link)
	}
	u, _ := url.Parse(link)
	return u.Path
}

// TestSetupLinkMakesTheAdminOnce: the link shows a form; posting it makes
// the administrator, shows a strong API key once and signs the browser
// in; the key works on the API and at the sign-in form; the link is then
// dead, and a second administrator cannot be made with it.
func TestSetupLinkMakesTheAdminOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withoutAdmin)
	path := setupPath(t, h)
	b := cookieClient()
	code, page, _ := fetch(t, b, http.MethodGet, h.URL+path, nil)
	m := csrfRe.FindStringSubmatch(page)
	if code != http.StatusOK || m == nil || !strings.Contains(page, "Become the administrator") {
		t.Fatalf("setup page: %d\n%s", code, page)
	}
	// The form's token is required (double submit against the cookie).
	if code, _, _ := fetch(t, b, http.MethodPost, h.URL+path, url.Values{"with": {"token"}}); code != http.StatusForbidden {
		t.Fatalf("setup without the form's token: %d", code)
	}
	if code, _, _ := fetch(t, cookieClient(), http.MethodPost, h.URL+path, url.Values{"with": {"token"}, "_csrf": {m[1]}}); code != http.StatusForbidden {
		t.Fatalf("setup from a browser without the form's cookie: %d", code)
	}
	// A cross-site form is refused by the origin check.
	req, _ := http.NewRequest(http.MethodPost, h.URL+path, strings.NewReader(url.Values{"with": {"token"}, "_csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, err := b.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site setup: %v %v", res, err)
	}

	code, done, hdr := fetch(t, b, http.MethodPost, h.URL+path, url.Values{"with": {"token"}, "_csrf": {m[1]}})
	k := shownKeyRe.FindStringSubmatch(done)
	if code != http.StatusOK || k == nil {
		t.Fatalf("setup: %d\n%s", code, done)
	}
	if !strings.Contains(hdr.Get("Cache-Control"), "no-store") {
		t.Errorf("the page showing the key may be cached: %q", hdr.Get("Cache-Control"))
	}
	key := k[1]
	if len(key) < 40 {
		t.Errorf("the key %q is short", key)
	}
	// Signed in: the dashboard answers instead of sending to /sign-in.
	if code, _, hdr := fetch(t, b, http.MethodGet, h.URL+"/", nil); code != http.StatusOK {
		t.Fatalf("dashboard after setup: %d %s", code, hdr.Get("Location"))
	}
	var me sessionUser
	h.mustAPI(t, http.StatusOK, http.MethodGet, "/v1/session", key, nil, &me)
	if !me.User.IsAdmin || !me.User.Builtin {
		t.Fatalf("the key's user %+v, want the built-in admin", me.User)
	}
	h.mustAPI(t, http.StatusCreated, http.MethodPost, "/v1/projects", key, map[string]string{"name": "first", "git_url": "https://example.com/first.git"}, nil)

	// The link is dead, for this browser and any other.
	for _, c := range []*http.Client{b, cookieClient()} {
		if code, _, _ := fetch(t, c, http.MethodGet, h.URL+path, nil); code != http.StatusGone {
			t.Errorf("the used link answers %d, want 410", code)
		}
		if code, _, _ := fetch(t, c, http.MethodPost, h.URL+path, url.Values{"with": {"token"}, "_csrf": {m[1]}}); code != http.StatusGone {
			t.Errorf("posting the used link answers %d, want 410", code)
		}
	}
	var keys []struct{ Name string }
	h.mustAPI(t, http.StatusOK, http.MethodGet, "/v1/api-keys", key, nil, &keys)
	if len(keys) != 1 {
		t.Errorf("the admin has %d keys, want the one from setup", len(keys))
	}

	// A new browser signs in with the key at the sign-in form.
	s := cookieClient()
	code, signin, _ := fetch(t, s, http.MethodGet, h.URL+"/sign-in", nil)
	sm := csrfRe.FindStringSubmatch(signin)
	if code != http.StatusOK || sm == nil || !strings.Contains(signin, `name="token"`) {
		t.Fatalf("sign-in page after setup: %d\n%s", code, signin)
	}
	if code, _, hdr := fetch(t, s, http.MethodPost, h.URL+"/sign-in", url.Values{"token": {key}, "_csrf": {sm[1]}, "next": {"/"}}); code != http.StatusSeeOther || hdr.Get("Location") != "/" {
		t.Fatalf("sign in with the key: %d %s", code, hdr.Get("Location"))
	}
	if code, _, _ := fetch(t, s, http.MethodGet, h.URL+"/", nil); code != http.StatusOK {
		t.Fatalf("dashboard after signing in with the key: %d", code)
	}
}

// TestSetupLinkGuesses: a wrong token is a 404 and a failed credential
// check, so guessing links meets the same 429 as guessing keys.
func TestSetupLinkGuesses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withoutAdmin, func(c *api.Config, _ *deploys.Config) { c.AuthLimits = api.AuthLimits{PerIP: 3} })
	path := setupPath(t, h)
	wrong := "/setup/" + strings.Repeat("A", 43)
	for i := range 3 {
		if code, _, _ := fetch(t, cookieClient(), http.MethodGet, h.URL+wrong, nil); code != http.StatusNotFound {
			t.Fatalf("guess %d: %d, want 404", i+1, code)
		}
	}
	code, _, hdr := fetch(t, cookieClient(), http.MethodGet, h.URL+wrong, nil)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("fourth guess: %d (Retry-After %q), want 429", code, hdr.Get("Retry-After"))
	}
	if code, _, _ := fetch(t, cookieClient(), http.MethodGet, h.URL+path, nil); code != http.StatusTooManyRequests {
		t.Fatalf("the real link from the guessing address: %d, want 429", code)
	}
}

// TestSetupLinkExpires: past its time the link is gone.
func TestSetupLinkExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withoutAdmin, func(c *api.Config, _ *deploys.Config) { c.SetupLinkTTL = time.Nanosecond })
	path := setupPath(t, h)
	if code, body, _ := fetch(t, cookieClient(), http.MethodGet, h.URL+path, nil); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("expired link: %d\n%s", code, body)
	}
}

// TestNoSetupLinkWithAnAdmin: an admin token, or an administrator in the
// database, means no link.
func TestNoSetupLinkWithAnAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // started with an admin token: the built-in admin exists
	if link := h.Server.SetupURL(); link != "" {
		t.Fatalf("with an admin token, a setup link %q", link)
	}
	srv, err := api.New(api.Config{AppDomain: "localhost", PublicURL: h.URL},
		api.Deps{DB: h.DB, Deploys: h.Deploys, Secrets: h.Box, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if link := srv.SetupURL(); link != "" {
		t.Fatalf("with an administrator in the database, a setup link %q", link)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/setup/"+strings.Repeat("A", 43), nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("a setup path without a link: %d", rec.Code)
	}
}

// TestSetupHintOnlyOnLoopback: the sign-in page says where the link is to
// a browser on the same machine, and never shows the link itself.
func TestSetupHintOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withoutAdmin)
	path := setupPath(t, h)
	const hint = "Look in berth's log for the setup link"
	page := func(remote string) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/sign-in", nil)
		req.RemoteAddr = remote
		h.Server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("sign-in from %s: %d", remote, rec.Code)
		}
		if strings.Contains(rec.Body.String(), strings.TrimPrefix(path, "/setup/")) {
			t.Fatalf("the sign-in page shows the setup link to %s", remote)
		}
		return rec.Body.String()
	}
	for _, remote := range []string{"127.0.0.1:5555", "[::1]:5555"} {
		if !strings.Contains(page(remote), hint) {
			t.Errorf("the sign-in page for %s lacks the hint", remote)
		}
	}
	for _, remote := range []string{"203.0.113.9:5555", "10.0.0.7:5555", "[2001:db8::1]:5555"} {
		if strings.Contains(page(remote), hint) {
			t.Errorf("the sign-in page for %s shows the hint", remote)
		}
	}
}

// TestSetupWithGitHub: with GitHub sign-in configured, the setup page
// offers it, and the GitHub account that signs in from it becomes the
// administrator. Before that, no other GitHub sign-in gets in.
func TestSetupWithGitHub(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withoutAdmin, withGitHubSignIn(gh, nil))
	path := setupPath(t, h)

	// A stranger signing in first is refused and does not become admin.
	stranger := cookieClient()
	code, _, hdr := fetch(t, stranger, http.MethodGet, h.URL+"/auth/github", nil)
	loc, _ := url.Parse(hdr.Get("Location"))
	if code != http.StatusFound {
		t.Fatalf("/auth/github: %d", code)
	}
	code, _, _ = fetch(t, stranger, http.MethodGet, h.URL+"/auth/github/callback?code=good-code&state="+url.QueryEscape(loc.Query().Get("state")), nil)
	if code != http.StatusForbidden {
		t.Fatalf("GitHub sign-in before setup: %d, want 403", code)
	}

	gh.set("octo-owner", 9001)
	b := cookieClient()
	_, page, _ := fetch(t, b, http.MethodGet, h.URL+path, nil)
	m := csrfRe.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "Sign in with GitHub") {
		t.Fatalf("setup page with GitHub:\n%s", page)
	}
	code, _, hdr = fetch(t, b, http.MethodPost, h.URL+path, url.Values{"with": {"github"}, "_csrf": {m[1]}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/auth/github" {
		t.Fatalf("setup with GitHub: %d %s", code, hdr.Get("Location"))
	}
	_, _, hdr = fetch(t, b, http.MethodGet, h.URL+"/auth/github", nil)
	loc, _ = url.Parse(hdr.Get("Location"))
	code, body, _ := fetch(t, b, http.MethodGet, h.URL+"/auth/github/callback?code=good-code&state="+url.QueryEscape(loc.Query().Get("state")), nil)
	if code != http.StatusFound {
		t.Fatalf("GitHub callback from setup: %d %s", code, body)
	}
	code, body, _ = fetch(t, b, http.MethodGet, h.URL+"/v1/session", nil)
	if code != http.StatusOK || !strings.Contains(body, `"login":"octo-owner"`) || !strings.Contains(body, `"is_admin":true`) {
		t.Fatalf("session after setup with GitHub: %d %s", code, body)
	}
	if code, _, _ := fetch(t, cookieClient(), http.MethodGet, h.URL+path, nil); code != http.StatusGone {
		t.Errorf("the link after setup with GitHub: %d, want 410", code)
	}
	// Now that there is an administrator, others sign in as users.
	gh.set("someone-else", 9002)
	other := cookieClient()
	_, _, hdr = fetch(t, other, http.MethodGet, h.URL+"/auth/github", nil)
	loc, _ = url.Parse(hdr.Get("Location"))
	if code, _, _ := fetch(t, other, http.MethodGet, h.URL+"/auth/github/callback?code=good-code&state="+url.QueryEscape(loc.Query().Get("state")), nil); code != http.StatusFound {
		t.Fatalf("GitHub sign-in after setup: %d", code)
	}
	_, body, _ = fetch(t, other, http.MethodGet, h.URL+"/v1/session", nil)
	if !strings.Contains(body, `"is_admin":false`) {
		t.Errorf("the second GitHub account: %s", body)
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/api"
)

// TestCrossSiteChangesRefused: a change sent by a browser from another site
// (a deployed site on a sibling host is the attacker here) is refused with
// 403 even when it carries the session cookie and a valid CSRF token, as it
// would after a login CSRF planted the attacker's session. Requests without
// Origin or Sec-Fetch-Site, and bearer-token requests, are decided as
// before.
func TestCrossSiteChangesRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mallory, malloryKey := h.newUser(t, "mallory")
	b := newBrowser(t, h)
	csrf := b.signInAs(mallory)
	site := "http://0badc0de-preview.localhost:" + h.Port // a deployed site beside the dashboard

	send := func(t *testing.T, method, path, contentType, body string, header map[string]string) page {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, h.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return page{status: res.StatusCode, header: res.Header, body: string(data)}
	}
	projects := func(t *testing.T) int {
		t.Helper()
		var ps []projectOut
		h.mustAPI(t, 200, "GET", "/v1/projects", malloryKey, nil, &ps)
		return len(ps)
	}

	refused := []struct {
		name   string
		header map[string]string
	}{
		{"Origin of a deployed site", map[string]string{"Origin": site}},
		{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": site}},
		{"Sec-Fetch-Site same-site without Origin", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"Origin null", map[string]string{"Origin": "null"}},
	}
	for _, tt := range refused {
		t.Run("API, "+tt.name, func(t *testing.T) {
			hd := map[string]string{"X-CSRF-Token": csrf}
			for k, v := range tt.header {
				hd[k] = v
			}
			res := send(t, "POST", "/v1/projects", "application/json", `{"name":"planted","git_url":"https://example.com/p.git"}`, hd)
			wantError(t, response{status: res.status, header: res.header, body: []byte(res.body)}, http.StatusForbidden, "forbidden")
			if !strings.Contains(res.body, "another site") {
				t.Errorf("the refusal does not say why: %s", res.body)
			}
		})
		t.Run("dashboard, "+tt.name, func(t *testing.T) {
			form := url.Values{"_csrf": {csrf}, "name": {"planted"}, "git_url": {"https://example.com/p.git"}}
			res := send(t, "POST", "/projects", "application/x-www-form-urlencoded", form.Encode(), tt.header)
			if res.status != http.StatusForbidden || !strings.Contains(res.body, "another site") {
				t.Errorf("status %d, want 403 with a sentence: %.300s", res.status, res.body)
			}
		})
	}
	if n := projects(t); n != 0 {
		t.Fatalf("cross-site requests created %d projects", n)
	}

	t.Run("sign-in forms", func(t *testing.T) {
		res := send(t, "POST", "/v1/session", "application/json", `{"token":"`+adminToken+`"}`, map[string]string{"Origin": site})
		if res.status != http.StatusForbidden {
			t.Errorf("token sign-in from another site: %d, want 403: %s", res.status, res.body)
		}
		if len(res.header.Values("Set-Cookie")) != 0 {
			t.Errorf("a refused sign-in set cookies: %v", res.header.Values("Set-Cookie"))
		}
		res = send(t, "POST", "/sign-in", "application/x-www-form-urlencoded", url.Values{"token": {adminToken}}.Encode(),
			map[string]string{"Sec-Fetch-Site": "same-site"})
		if res.status != http.StatusForbidden || !strings.Contains(res.body, "another site") {
			t.Errorf("sign-in form from another site: %d, want 403 with a sentence: %.300s", res.status, res.body)
		}
	})

	allowed := []struct {
		name   string
		header map[string]string
	}{
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": h.URL}},
		{"Origin of the request's host", map[string]string{"Origin": h.URL}},
		{"Origin of the public URL", map[string]string{"Origin": "http://localhost:" + h.Port}},
		{"neither header", nil},
	}
	for i, tt := range allowed {
		t.Run("allowed, "+tt.name, func(t *testing.T) {
			hd := map[string]string{"X-CSRF-Token": csrf}
			for k, v := range tt.header {
				hd[k] = v
			}
			res := send(t, "POST", "/v1/projects", "application/json", `{"name":"mine-`+string(rune('a'+i))+`","git_url":"https://example.com/p.git"}`, hd)
			if res.status != http.StatusCreated {
				t.Errorf("status %d, want 201: %s", res.status, res.body)
			}
		})
	}
	t.Run("bearer token from anywhere", func(t *testing.T) {
		res := h.do(t, request{method: "POST", path: "/v1/projects", token: malloryKey,
			body: `{"name":"by-key","git_url":"https://example.com/p.git"}`, header: map[string]string{"Origin": site, "Sec-Fetch-Site": "cross-site"}})
		if res.status != http.StatusCreated {
			t.Errorf("status %d, want 201: %s", res.status, res.body)
		}
	})
	if n := projects(t); n != len(allowed)+1 {
		t.Errorf("%d projects, want %d", n, len(allowed)+1)
	}
}

// TestHostCookiesOnHTTPS: behind an https public URL, berth's cookies are
// __Host- cookies (Secure, Path=/, no Domain, HttpOnly, SameSite=Lax), so a
// deployed site cannot plant one; a cookie under the old name is ignored.
func TestHostCookiesOnHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	srv, err := api.New(api.Config{AppDomain: "example-apps.test", PublicURL: "https://berth.example.test", AdminToken: adminToken,
		GitHub: api.GitHubConfig{ClientID: "client-id", ClientSecret: "secret"}},
		api.Deps{DB: h.DB, Deploys: h.Deploys, Secrets: h.Box, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.WithoutCancel(t.Context())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	serve := func(r *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec.Result()
	}
	hostCookie := func(t *testing.T, res *http.Response, name string) *http.Cookie {
		t.Helper()
		var found *http.Cookie
		for _, c := range res.Cookies() {
			switch c.Name {
			case "__Host-" + name:
				found = c
			case name:
				t.Errorf("cookie set under its plain name %q", c.Name)
			}
		}
		if found == nil {
			t.Fatalf("no __Host-%s cookie in %v", name, res.Header.Values("Set-Cookie"))
		}
		if !found.Secure || found.Path != "/" || found.Domain != "" || !found.HttpOnly || found.SameSite == http.SameSiteNoneMode || found.SameSite == http.SameSiteDefaultMode {
			t.Errorf("cookie %s: Secure %v Path %q Domain %q HttpOnly %v SameSite %v; want Secure, /, none, HttpOnly, Lax or Strict",
				found.Name, found.Secure, found.Path, found.Domain, found.HttpOnly, found.SameSite)
		}
		return found
	}

	signIn := httptest.NewRequest("POST", "https://berth.example.test/v1/session", strings.NewReader(`{"token":"`+adminToken+`"}`))
	signIn.Header.Set("Content-Type", "application/json")
	res := serve(signIn)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("token sign-in: %d", res.StatusCode)
	}
	session := hostCookie(t, res, "berth_session")
	if session.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie SameSite %v, want Lax", session.SameSite)
	}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(res.Body).Decode(&out)

	read := func(cookie string) int {
		r := httptest.NewRequest("GET", "https://berth.example.test/v1/session", nil)
		r.Header.Set("Cookie", cookie)
		return serve(r).StatusCode
	}
	if st := read("__Host-berth_session=" + session.Value); st != http.StatusOK {
		t.Errorf("the __Host- session cookie: %d, want 200", st)
	}
	if st := read("berth_session=" + session.Value); st != http.StatusUnauthorized {
		t.Errorf("a session cookie under the plain name (as a sibling host could plant): %d, want 401", st)
	}

	res = serve(httptest.NewRequest("GET", "https://berth.example.test/auth/github", nil))
	if res.StatusCode != http.StatusFound {
		t.Fatalf("GitHub sign-in: %d", res.StatusCode)
	}
	state := hostCookie(t, res, "berth_oauth_state")
	if state.SameSite != http.SameSiteLaxMode {
		t.Errorf("state cookie SameSite %v, want Lax (it must come back from GitHub's redirect)", state.SameSite)
	}
	hostCookie(t, serve(httptest.NewRequest("GET", "https://berth.example.test/sign-in", nil)), "berth_signin")
}

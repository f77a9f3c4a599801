package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
)

// fakeGitHub speaks GitHub's OAuth and REST wire format for sign-in: the
// code exchange, the user and their organisations. Who signs in and which
// organisations they are in can change while a test runs.
type fakeGitHub struct {
	*httptest.Server
	mu    sync.Mutex
	login string
	id    int64
	orgs  []string
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{login: "mallory", id: 4242}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if r.Form.Get("code") != "good-code" {
			io.WriteString(w, `{"error":"bad_verification_code"}`)
			return
		}
		io.WriteString(w, `{"access_token":"gho_usertoken","token_type":"bearer","scope":"repo,read:org"}`)
	})
	mux.HandleFunc("GET /api/v3/user", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"login": f.login, "id": f.id, "name": "The " + f.login})
	})
	mux.HandleFunc("GET /api/v3/user/orgs", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := []map[string]any{}
		for _, o := range f.orgs {
			out = append(out, map[string]any{"login": o})
		}
		json.NewEncoder(w).Encode(out)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitHub) set(login string, id int64, orgs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.login, f.id, f.orgs = login, id, orgs
}

// withGitHub configures GitHub sign-in against f; change may adjust the
// GitHub settings (allow lists).
func withGitHubSignIn(f *fakeGitHub, change func(*api.GitHubConfig)) harnessOption {
	return func(c *api.Config, _ *deploys.Config) {
		c.GitHub = api.GitHubConfig{ClientID: "client-id", ClientSecret: "client-secret",
			APIURL: f.URL + "/api/v3/", WebURL: f.URL}
		if change != nil {
			change(&c.GitHub)
		}
		c.GitHubEnabled = true
	}
}

// githubSession signs a new browser in through GitHub (as whoever f says)
// and returns its client (cookies kept, redirects not followed) and the
// session's CSRF token.
func githubSession(t *testing.T, h *harness) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(h.URL + "/auth/github")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	res, err = c.Get(h.URL + "/auth/github/callback?code=good-code&state=" + url.QueryEscape(loc.Query().Get("state")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("GitHub sign-in: %d %s", res.StatusCode, body)
	}
	res, err = c.Get(h.URL + "/v1/session")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil || s.CSRF == "" {
		t.Fatalf("session after GitHub sign-in: %d %v", res.StatusCode, err)
	}
	return c, s.CSRF
}

// githubUser signs in through GitHub and makes an API key, returning the
// user's session and key.
func githubUser(t *testing.T, h *harness) (me sessionUser, key string) {
	t.Helper()
	c, csrf := githubSession(t, h)
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/v1/api-keys", strings.NewReader(`{"name":"cli"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var k struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&k); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("API key: %d %v", res.StatusCode, err)
	}
	h.mustAPI(t, http.StatusOK, "GET", "/v1/session", k.Token, nil, &me)
	me.client, me.csrf = c, csrf
	return me, k.Token
}

type sessionUser struct {
	User struct {
		ID      string `json:"id"`
		Login   string `json:"login"`
		IsAdmin bool   `json:"is_admin"`
		Builtin bool   `json:"builtin"`
	} `json:"user"`
	client *http.Client
	csrf   string
}

// status is the status of GET path with the user's session cookie.
func (s sessionUser) status(t *testing.T, h *harness, path string) int {
	t.Helper()
	res, err := s.client.Get(h.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

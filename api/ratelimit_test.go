package api_test

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/deploys"
)

// want429 checks a refusal for too many failures: 429, a Retry-After of
// whole seconds, and (for JSON answers) the rate_limited code.
func want429(t *testing.T, what string, res response) {
	t.Helper()
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("%s: %d, want 429: %.300s", what, res.status, res.body)
	}
	if n, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds", what, res.header.Get("Retry-After"))
	}
	if strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
		wantError(t, res, http.StatusTooManyRequests, "rate_limited")
	}
}

// TestFailedCredentialsThrottled: every place that checks a credential
// (bearer tokens and API keys, token sign-in by API and by form, the GitHub
// callback) answers 429 with Retry-After once one address has failed 10
// times. A refused address is refused even with the right token (else the
// guessing would go on); other addresses are not affected, and valid keys
// are never slowed down by their own requests.
func TestFailedCredentialsThrottled(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	h := newHarness(t, withGitHubSignIn(gh, nil))

	signInForm := func(from string) func(i int) response {
		jar, _ := cookiejar.New(nil)
		c := clientFrom(from)
		c.Jar = jar
		get, err := c.Get(h.URL + "/sign-in")
		if err != nil {
			t.Fatal(err)
		}
		get.Body.Close()
		var csrf string
		base, _ := url.Parse(h.URL + "/sign-in")
		for _, ck := range jar.Cookies(base) {
			if ck.Name == "berth_signin" {
				csrf = ck.Value
			}
		}
		return func(i int) response {
			res, err := c.PostForm(h.URL+"/sign-in", url.Values{"_csrf": {csrf}, "token": {fmt.Sprintf("guess-%d", i)}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return response{status: res.StatusCode, header: res.Header}
		}
	}
	cases := []struct {
		name, from string
		guess      func(i int) response
		wrong      int // the status of a wrong guess
	}{
		{"bearer", "127.0.0.2", func(i int) response {
			return h.do(t, request{method: "GET", path: "/v1/projects", token: fmt.Sprintf("berth_abcdef_guess%d", i), from: "127.0.0.2"})
		}, http.StatusUnauthorized},
		{"token sign-in", "127.0.0.3", func(i int) response {
			return h.do(t, request{method: "POST", path: "/v1/session", body: fmt.Sprintf(`{"token":"guess-%d"}`, i), from: "127.0.0.3"})
		}, http.StatusUnauthorized},
		{"sign-in form", "127.0.0.4", signInForm("127.0.0.4"), http.StatusUnauthorized},
		{"github callback", "127.0.0.5", func(i int) response {
			return h.do(t, request{method: "GET", path: fmt.Sprintf("/auth/github/callback?code=guess-%d&state=x", i), from: "127.0.0.5"})
		}, http.StatusBadRequest},
	}
	for _, tt := range cases {
		for i := range 20 {
			res := tt.guess(i)
			if i < 10 {
				if res.status != tt.wrong {
					t.Fatalf("%s: guess %d: %d, want %d", tt.name, i+1, res.status, tt.wrong)
				}
				continue
			}
			want429(t, fmt.Sprintf("%s: guess %d", tt.name, i+1), res)
		}
	}

	// The right token from a refused address is refused too.
	want429(t, "admin token from a refused address",
		h.do(t, request{method: "GET", path: "/v1/projects", token: adminToken, from: "127.0.0.2"}))
	// Other addresses are not affected, and a valid key is not slowed down.
	for i := range 50 {
		if res := h.do(t, request{method: "GET", path: "/v1/projects", token: adminToken, from: "127.0.0.6"}); res.status != http.StatusOK {
			t.Fatalf("request %d with the admin token from another address: %d %s", i+1, res.status, res.body)
		}
	}
}

// TestGlobalFailureLimit: failures from many addresses together are held
// to a global budget; once it is spent, addresses that have failed are
// refused, while an address with no failure still gets its credential
// checked (so an attack cannot lock out every valid key).
func TestGlobalFailureLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *api.Config, _ *deploys.Config) {
		c.AuthLimits = api.AuthLimits{PerIP: 10, Global: 30, Window: time.Hour}
	})
	guess := func(from string) response {
		return h.do(t, request{method: "GET", path: "/v1/projects", token: "berth_abcdef_guess", from: from})
	}
	failed, refused := 0, 0
	for _, from := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"} {
		for range 8 { // under each address's own limit of 10
			switch res := guess(from); res.status {
			case http.StatusUnauthorized:
				failed++
			case http.StatusTooManyRequests:
				want429(t, "guess from "+from, res)
				refused++
			default:
				t.Fatalf("guess from %s: %d %s", from, res.status, res.body)
			}
		}
	}
	if failed != 30 || refused != 2 {
		t.Fatalf("%d guesses failed and %d were refused, want 30 and 2", failed, refused)
	}
	want429(t, "admin token from an address that failed",
		h.do(t, request{method: "GET", path: "/v1/projects", token: adminToken, from: "127.0.0.2"}))
	if res := h.do(t, request{method: "GET", path: "/v1/projects", token: adminToken, from: "127.0.0.9"}); res.status != http.StatusOK {
		t.Fatalf("admin token from a clean address: %d %s", res.status, res.body)
	}
	if res := guess("127.0.0.10"); res.status != http.StatusUnauthorized {
		t.Fatalf("first guess from a clean address: %d, want 401", res.status)
	}
	want429(t, "second guess from that address", guess("127.0.0.10"))
}

package apps

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestScopeCookie: a Domain attribute naming anything but the visitor's own
// host goes; every other attribute stays as the app wrote it.
func TestScopeCookie(t *testing.T) {
	for _, tt := range []struct{ host, in, want string }{
		{"shop.localhost", "x=1; Domain=localhost", "x=1"},
		{"shop.localhost", "x=1; domain=.LOCALHOST; Path=/; HttpOnly", "x=1; Path=/; HttpOnly"},
		{"shop.example-apps.com", "sid=abc; Path=/; Domain=example-apps.com; Secure; SameSite=None", "sid=abc; Path=/; Secure; SameSite=None"},
		{"shop.example-apps.com", "sid=abc; Domain=com", "sid=abc"},
		{"shop.example-apps.com", "sid=abc; Domain=other.example-apps.com", "sid=abc"},
		{"shop.example-apps.com", "a=b; Domain=example-apps.com; Domain=shop.example-apps.com", "a=b; Domain=shop.example-apps.com"},
		{"shop.example-apps.com", "sid=abc; Domain=shop.example-apps.com; Max-Age=60", "sid=abc; Domain=shop.example-apps.com; Max-Age=60"},
		{"shop.example-apps.com", "sid=abc; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "sid=abc; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"},
		{"shop.example-apps.com", "sid=domain=x; Path=/", "sid=domain=x; Path=/"},
	} {
		if got := scopeCookie(tt.in, tt.host); got != tt.want {
			t.Errorf("on %s: %q became %q, want %q", tt.host, tt.in, got, tt.want)
		}
	}
}

// TestProxyScopesCookies: what an app answers through the proxy reaches the
// visitor without a Domain wider than the visitor's host, so a deployed
// site cannot plant cookies on the apps domain (other sites) or on
// localhost (the dashboard on a laptop).
func TestProxyScopesCookies(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "berth_session=planted; Domain=localhost; Path=/; HttpOnly")
		w.Header().Add("Set-Cookie", "berth_oauth_state=planted; Domain=.localhost; Path=/auth/github")
		w.Header().Add("Set-Cookie", "theme=dark; Path=/; Max-Age=3600; SameSite=Lax")
		w.Header().Add("Set-Cookie", "cart=1; Domain="+strings.Split(r.Host, ":")[0]+"; Secure")
		io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	proxy := httptest.NewServer(newProxy(upstream.Listener.Addr().String(), newTransport(time.Minute), slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer proxy.Close()

	req, _ := http.NewRequestWithContext(t.Context(), "GET", proxy.URL+"/", nil)
	req.Host = "shop.localhost:8080"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got := res.Header.Values("Set-Cookie")
	want := []string{
		"berth_session=planted; Path=/; HttpOnly",
		"berth_oauth_state=planted; Path=/auth/github",
		"theme=dark; Path=/; Max-Age=3600; SameSite=Lax",
		"cart=1; Domain=shop.localhost; Secure",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Set-Cookie through the proxy:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

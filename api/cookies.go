package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// berth's cookies. Over HTTPS each takes the __Host- prefix: a browser then
// keeps it only when it is Secure, has Path=/ and no Domain, so no other
// host (a deployed site on a sibling subdomain) can plant one the
// dashboard would read. Over plain HTTP (a laptop) the prefix is not
// allowed, and the names stay as they were.
const (
	sessionCookie = "berth_session"
	stateCookie   = "berth_oauth_state" // GitHub sign-in's state, until the callback
	// signInCookie holds the sign-in form's CSRF token before there is a
	// session (double submit): a page on another site cannot sign a
	// browser in to an account of its choosing.
	signInCookie = "berth_signin"
)

// secure reports whether the dashboard is served over HTTPS.
func (s *Handler) secure() bool { return s.public.Scheme == "https" }

// cookieName is name as this berth sets and reads it.
func (s *Handler) cookieName(name string) string {
	if s.secure() {
		return "__Host-" + name
	}
	return name
}

// readCookie returns the value of berth's cookie name, "" when absent.
func (s *Handler) readCookie(c echo.Context, name string) string {
	ck, err := c.Cookie(s.cookieName(name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// setCookie sets berth's cookie name: HttpOnly, Path=/, no Domain, Secure
// over HTTPS, SameSite=Lax unless same says otherwise. A maxAge of -1
// deletes it; expires, when not zero, is sent as well.
func (s *Handler) setCookie(c echo.Context, name, value string, maxAge int, expires time.Time, same http.SameSite) {
	if same == 0 {
		same = http.SameSiteLaxMode
	}
	c.SetCookie(&http.Cookie{Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge, Expires: expires,
		HttpOnly: true, SameSite: same, Secure: s.secure()})
}

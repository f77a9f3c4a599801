package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

const (
	userKey    = "user"
	sessionKey = "session"
	sessionTTL = 30 * 24 * time.Hour
	csrfHeader = "X-CSRF-Token"
	csrfField  = "_csrf"
)

// authenticate accepts `Authorization: Bearer <token>` (the admin token or
// an API key) or the dashboard's session cookie. A request authenticated by
// cookie that changes anything must come from berth's own pages (see
// sameOrigin) and carry the session's CSRF token (header X-CSRF-Token or
// form field _csrf).
func (s *Handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, sess, err := s.identify(c)
		if err != nil {
			return err
		}
		if err := s.stillAllowed(c.Request().Context(), u); err != nil {
			return err
		}
		if sess != nil && !safeMethod(c.Request().Method) {
			if err := s.sameOrigin(c.Request()); err != nil {
				return err
			}
			if !validCSRF(c, sess) {
				return store.Errorf(store.EFORBIDDEN, "The request lacks a valid CSRF token; reload the page and try again.")
			}
		}
		c.Set(userKey, u)
		if sess != nil {
			c.Set(sessionKey, sess)
		}
		return next(c)
	}
}

// identify finds the caller, from a bearer token or else the session cookie.
func (s *Handler) identify(c echo.Context) (*store.User, *store.Session, error) {
	if h := c.Request().Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			return nil, nil, store.Errorf(store.EUNAUTHORIZED, "Authentication required: send Authorization: Bearer <token>.")
		}
		ticket, err := s.beginCredentialCheck(c)
		if err != nil {
			return nil, nil, err
		}
		u, err := s.checkBearer(c, token)
		ticket.done(failedCredential(err))
		return u, nil, err
	}
	if token := s.readCookie(c, sessionCookie); token != "" {
		sess, u, err := s.deps.DB.SessionByToken(c.Request().Context(), token)
		if err != nil {
			return nil, nil, err
		}
		return u, sess, nil
	}
	return nil, nil, store.Errorf(store.EUNAUTHORIZED, "Authentication required: send Authorization: Bearer <token>.")
}

// checkBearer finds the user of a bearer token: the admin token or an API key.
func (s *Handler) checkBearer(c echo.Context, token string) (*store.User, error) {
	if s.admin != nil && equalTokens(token, s.cfg.AdminToken) {
		return s.admin, nil
	}
	return s.deps.DB.UserByAPIKey(c.Request().Context(), token)
}

// failedCredential reports whether err says a credential was wrong (a
// guess), as opposed to right but of a disabled account, or a fault.
func failedCredential(err error) bool {
	return store.ErrorCode(err) == store.EUNAUTHORIZED && !errors.Is(err, store.ErrAccountDisabled)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func validCSRF(c echo.Context, sess *store.Session) bool {
	got := c.Request().Header.Get(csrfHeader)
	if got == "" {
		got = c.FormValue(csrfField)
	}
	return got != "" && equalTokens(got, sess.CSRF)
}

// equalTokens compares in constant time (hashing first so lengths leak nothing).
func equalTokens(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func currentUser(c echo.Context) *store.User {
	u, _ := c.Get(userKey).(*store.User)
	return u
}

func currentSession(c echo.Context) *store.Session {
	sess, _ := c.Get(sessionKey).(*store.Session)
	return sess
}

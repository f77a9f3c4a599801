package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// StartSession signs u in on this browser: it creates a session and sets
// its cookie (see setCookie: HttpOnly, SameSite=Lax, and over HTTPS
// Secure and named __Host-berth_session). It returns the session's CSRF
// token.
func (s *Handler) StartSession(c echo.Context, u *store.User) (string, error) {
	token, sess, err := s.deps.DB.CreateSession(c.Request().Context(), u.ID, sessionTTL)
	if err != nil {
		return "", err
	}
	s.setCookie(c, sessionCookie, token, 0, sess.ExpiresAt, http.SameSiteLaxMode)
	return sess.CSRF, nil
}

// EndSession signs the browser out.
func (s *Handler) EndSession(c echo.Context) error {
	if token := s.readCookie(c, sessionCookie); token != "" {
		if err := s.deps.DB.DeleteSession(c.Request().Context(), token); err != nil {
			return err
		}
	}
	s.setCookie(c, sessionCookie, "", -1, time.Time{}, http.SameSiteLaxMode)
	return nil
}

// handleTokenSignIn signs in with the admin token, for installs without a
// GitHub OAuth app: POST /v1/session {"token": "..."}.
func (s *Handler) handleTokenSignIn(c echo.Context) error {
	var req struct {
		Token string `json:"token" form:"token"`
	}
	if err := s.sameOrigin(c.Request()); err != nil {
		return err
	}
	if err := c.Bind(&req); err != nil {
		return store.Errorf(store.EINVALID, "Send the admin token as token.")
	}
	ticket, err := s.beginCredentialCheck(c)
	if err != nil {
		return err
	}
	valid := s.admin != nil && req.Token != "" && equalTokens(req.Token, s.cfg.AdminToken)
	ticket.done(!valid)
	if !valid {
		return store.Errorf(store.EUNAUTHORIZED, "That token is not valid.")
	}
	csrf, err := s.StartSession(c, s.admin)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": s.admin, "csrf_token": csrf})
}

// handleGetSession returns the signed-in user and the session's CSRF token.
func (s *Handler) handleGetSession(c echo.Context) error {
	out := map[string]any{"user": currentUser(c)}
	if sess := currentSession(c); sess != nil {
		out["csrf_token"] = sess.CSRF
	}
	return c.JSON(http.StatusOK, out)
}

// handleSignOut ends the session.
func (s *Handler) handleSignOut(c echo.Context) error {
	if err := s.EndSession(c); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// StartSession signs u in on this browser: it creates a session and sets
// its cookie (HttpOnly, SameSite=Lax, Secure when berth is served over
// HTTPS). It returns the session's CSRF token.
func (s *Handler) StartSession(c echo.Context, u *store.User) (string, error) {
	token, sess, err := s.deps.DB.CreateSession(c.Request().Context(), u.ID, sessionTTL)
	if err != nil {
		return "", err
	}
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.public.Scheme == "https",
	})
	return sess.CSRF, nil
}

// EndSession signs the browser out.
func (s *Handler) EndSession(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.deps.DB.DeleteSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.public.Scheme == "https"})
	return nil
}

// handleTokenSignIn signs in with the admin token, for installs without a
// GitHub OAuth app: POST /v1/session {"token": "..."}.
func (s *Handler) handleTokenSignIn(c echo.Context) error {
	var req struct {
		Token string `json:"token" form:"token"`
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

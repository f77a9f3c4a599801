package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

const userKey = "user"

// authenticate accepts `Authorization: Bearer <token>` where the token is the
// admin token or a user's API key.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			return store.Errorf(store.EUNAUTHORIZED, "Authentication required: send Authorization: Bearer <token>.")
		}
		if s.admin != nil && equalTokens(token, s.cfg.AdminToken) {
			c.Set(userKey, s.admin)
			return next(c)
		}
		u, err := s.deps.DB.UserByAPIKey(c.Request().Context(), token)
		if err != nil {
			return err
		}
		c.Set(userKey, u)
		return next(c)
	}
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

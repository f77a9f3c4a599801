package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// Administrators list, disable, enable and delete accounts. Disabling ends
// the account's sessions and refuses its API keys at once; deleting also
// deletes its projects through the lifecycle. The built-in admin, and the
// caller's own account, are out of reach.

func requireAdmin(c echo.Context) error {
	if u := currentUser(c); u == nil || !u.IsAdmin {
		return store.Errorf(store.EFORBIDDEN, "Only an administrator may manage users.")
	}
	return nil
}

// targetUser is the account an administrator acts on: not their own.
func (s *Handler) targetUser(c echo.Context, id, verb string) (*store.User, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	u, err := s.deps.DB.UserByID(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if u.ID == currentUser(c).ID {
		return nil, store.Errorf(store.EINVALID, "You cannot %s your own account.", verb)
	}
	return u, nil
}

func (s *Handler) disableUser(c echo.Context, id string) error {
	u, err := s.targetUser(c, id, "disable")
	if err != nil {
		return err
	}
	defer s.orgs.forget(u.ID)
	return s.deps.DB.DisableUser(c.Request().Context(), u.ID)
}

func (s *Handler) enableUser(c echo.Context, id string) error {
	u, err := s.targetUser(c, id, "enable")
	if err != nil {
		return err
	}
	return s.deps.DB.EnableUser(c.Request().Context(), u.ID)
}

func (s *Handler) deleteUser(c echo.Context, id string) error {
	u, err := s.targetUser(c, id, "delete")
	if err != nil {
		return err
	}
	defer s.orgs.forget(u.ID)
	// The deletion runs to its end even if the client goes away.
	return s.deps.Deploys.DeleteUser(context.WithoutCancel(c.Request().Context()), u.ID)
}

// handleListUsers lists every account: GET /v1/users.
func (s *Handler) handleListUsers(c echo.Context) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	users, err := s.deps.DB.Users(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, users)
}

// handleDisableUser: POST /v1/users/{id}/disable.
func (s *Handler) handleDisableUser(c echo.Context) error {
	if err := s.disableUser(c, c.Param("id")); err != nil {
		return err
	}
	return s.answerUser(c)
}

// handleEnableUser: POST /v1/users/{id}/enable.
func (s *Handler) handleEnableUser(c echo.Context) error {
	if err := s.enableUser(c, c.Param("id")); err != nil {
		return err
	}
	return s.answerUser(c)
}

// handleDeleteUser: DELETE /v1/users/{id}.
func (s *Handler) handleDeleteUser(c echo.Context) error {
	if err := s.deleteUser(c, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Handler) answerUser(c echo.Context) error {
	u, err := s.deps.DB.UserByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

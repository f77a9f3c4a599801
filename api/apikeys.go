package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Handler) handleListAPIKeys(c echo.Context) error {
	keys, err := s.deps.DB.APIKeys(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, keys)
}

// handleCreateAPIKey returns the token once; only its hash is kept.
func (s *Handler) handleCreateAPIKey(c echo.Context) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	k, token, err := s.deps.DB.CreateAPIKey(c.Request().Context(), currentUser(c).ID, req.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"key": k, "token": token})
}

func (s *Handler) handleDeleteAPIKey(c echo.Context) error {
	if err := s.deps.DB.DeleteAPIKey(c.Request().Context(), currentUser(c).ID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

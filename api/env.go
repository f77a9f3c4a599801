package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

type setEnvRequest struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Target string  `json:"target"`
}

func (s *Handler) handleListEnv(c echo.Context) error {
	vars, err := s.deps.DB.EnvVars(c.Request().Context(), currentUser(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if len(vars) == 0 {
		// An empty list and a missing project look alike here: tell them apart.
		if _, err := s.deps.DB.Project(c.Request().Context(), currentUser(c).ID, c.Param("id")); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, vars)
}

func (s *Handler) handleSetEnv(c echo.Context) error {
	var req setEnvRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Value == nil {
		return store.Errorf(store.EINVALID, "A variable needs a value (it may be empty).")
	}
	v, err := s.deps.Deploys.SetEnvVar(c.Request().Context(), currentUser(c).ID, c.Param("id"), req.Key, req.Value, req.Target)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"key": v.Key, "target": v.Target})
}

func (s *Handler) handleDeleteEnv(c echo.Context) error {
	if err := s.deps.DB.DeleteEnvVar(c.Request().Context(), currentUser(c).ID, c.Param("id"), c.Param("key")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

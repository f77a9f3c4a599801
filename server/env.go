package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

type setEnvRequest struct {
	Key    string  `json:"key"`
	Value  *string `json:"value"`
	Target string  `json:"target"`
}

func (s *Server) handleListEnv(c echo.Context) error {
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

func (s *Server) handleSetEnv(c echo.Context) error {
	var req setEnvRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Value == nil {
		return store.Errorf(store.EINVALID, "A variable needs a value (it may be empty).")
	}
	if len(*req.Value) > 64<<10 {
		return store.Errorf(store.EINVALID, "A variable's value is limited to 64 KiB.")
	}
	if req.Target == "" {
		req.Target = model.TargetAll
	}
	projectID := c.Param("id")
	v := &store.EnvVar{Key: req.Key, Target: req.Target, Sealed: s.deps.Secrets.Seal([]byte(*req.Value), model.EnvAAD(projectID, req.Key))}
	if err := s.deps.DB.SetEnvVar(c.Request().Context(), currentUser(c).ID, projectID, v); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"key": v.Key, "target": v.Target})
}

func (s *Server) handleDeleteEnv(c echo.Context) error {
	if err := s.deps.DB.DeleteEnvVar(c.Request().Context(), currentUser(c).ID, c.Param("id"), c.Param("key")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// sealedBuildEnv opens the project's build-time variables and seals them
// again, as one JSON object bound to the deployment, for the build job.
func (s *Server) sealedBuildEnv(ctx context.Context, ownerID, projectID, deploymentID string) ([]byte, error) {
	vars, err := s.deps.DB.EnvVars(ctx, ownerID, projectID)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, v := range vars {
		if v.Target == model.TargetRuntime {
			continue
		}
		plain, err := s.deps.Secrets.Open(v.Sealed, model.EnvAAD(projectID, v.Key))
		if err != nil {
			return nil, fmt.Errorf("open env var %s: %w", v.Key, err)
		}
		env[v.Key] = string(plain)
	}
	if len(env) == 0 {
		return nil, nil
	}
	data, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode build env: %w", err)
	}
	return s.deps.Secrets.Seal(data, []byte(deploymentID)), nil
}

package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

type rollbackRequest struct {
	// DeploymentID is the deployment to go back to; empty: the one that
	// was production before the current one.
	DeploymentID string `json:"deployment_id"`
}

// handleRollback promotes an earlier deployment of the project, without a
// build. The answer is the project.
func (s *Handler) handleRollback(c echo.Context) error {
	var req rollbackRequest
	if c.Request().ContentLength != 0 {
		if err := bind(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	if _, err := s.deps.Deploys.Rollback(ctx, u.ID, c.Param("id"), req.DeploymentID, "Rolled back by "+u.Login+"."); err != nil {
		return err
	}
	p, err := s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectOut(p))
}

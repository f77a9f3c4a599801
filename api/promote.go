package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/deploys"
)

// handlePromote makes a ready deployment the project's production
// deployment, once it is ready to serve (its server answers its health
// path). The answer is the project.
func (s *Handler) handlePromote(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	d, err := s.deps.DB.Deployment(ctx, u.ID, c.Param("id"))
	if err != nil {
		return err
	}
	if err := s.deps.Deploys.Promote(ctx, d, deploys.Promotion{By: u.ID, Reason: "Promoted by " + u.Login + "."}); err != nil {
		return err
	}
	p, err := s.deps.DB.Project(ctx, u.ID, d.ProjectID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectOut(p))
}

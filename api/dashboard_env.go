package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// handleSetEnv adds or updates a variable. A row's update form may leave
// the value empty to change only the target: the sealed value is kept.
func (d *dashboard) handleSetEnv(c echo.Context) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	p, err := d.s.deps.DB.Project(ctx, owner, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	key, target, value := strings.TrimSpace(c.FormValue("key")), c.FormValue("target"), c.FormValue("value")
	form := envForm{Key: key, Target: target}
	bad := func(msg string) error {
		return d.renderProject(c, http.StatusBadRequest, p, projectFormOf(p), form, msg)
	}
	if key == "" {
		return bad("Enter the variable's name.")
	}
	if !store.ValidTarget(target) {
		return bad("Choose where the variable applies: build, runtime or all.")
	}
	if len(value) > 64<<10 {
		return bad("A variable's value is limited to 64 KiB.")
	}
	val := &value
	if c.FormValue("keep_value") == "1" && value == "" {
		val = nil
	}
	if _, err := d.s.deps.Deploys.SetEnvVar(ctx, owner, p.ID, key, val, target); err != nil {
		if msg, _, ok := formError(err); ok {
			return bad(msg)
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=env-saved#env")
}

func (d *dashboard) handleDeleteEnv(c echo.Context) error {
	ctx := c.Request().Context()
	owner := currentUser(c).ID
	p, err := d.s.deps.DB.Project(ctx, owner, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if err := d.s.deps.DB.DeleteEnvVar(ctx, owner, p.ID, c.Param("key")); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=env-deleted#env")
}

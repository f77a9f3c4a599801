package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/store"
)

// domainRow is a custom domain on the project page: its state, the records
// to create, and the other name of its www/apex pair when the project has
// it (the redirect the panel offers).
type domainRow struct {
	domainJSON
	Counterpart string
}

// domainRows lists the project's domains for its page.
func (d *dashboard) domainRows(ctx context.Context, owner string, p *store.Project) ([]domainRow, error) {
	list, err := d.s.deps.DB.Domains(ctx, owner, p.ID)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, dom := range list {
		names[dom.Name] = true
	}
	rows := make([]domainRow, len(list))
	for i, dom := range list {
		rows[i] = domainRow{domainJSON: d.s.domainOut(ctx, p, dom)}
		other, ok := strings.CutPrefix(dom.Name, "www.")
		if !ok || !store.IsApexDomain(other) {
			other = "www." + dom.Name
		}
		if names[other] && (store.IsApexDomain(dom.Name) || store.IsApexDomain(other)) {
			rows[i].Counterpart = other
		}
	}
	return rows, nil
}

func (d *dashboard) handleAddDomain(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := d.s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	name := strings.TrimSpace(c.FormValue("name"))
	if _, err := d.s.addDomain(ctx, u, p, name, ""); err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderProjectPage(c, status, p, projectFormOf(p), envForm{}, msg, projectExtras{NewDomain: name})
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=domain-added#domains")
}

// handleVerifyDomain checks the domain's DNS now; what is wrong is shown
// on the page.
func (d *dashboard) handleVerifyDomain(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := d.s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	_, problem, err := d.s.deps.Domains.Verify(ctx, u.ID, p, c.Param("name"))
	if err != nil {
		return d.fail(c, err)
	}
	if problem != "" {
		return d.renderProjectPage(c, http.StatusUnprocessableEntity, p, projectFormOf(p), envForm{}, problem, projectExtras{})
	}
	return seeOther(c, "/projects/"+p.ID+"?done=domain-verified#domains")
}

// handleDomainRedirect sends the domain's visitors to "to", or serves the
// project there again when "to" is empty.
func (d *dashboard) handleDomainRedirect(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := d.s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if _, err := d.s.deps.Domains.SetRedirect(ctx, u.ID, p, c.Param("name"), c.FormValue("to")); err != nil {
		if msg, status, ok := formError(err); ok {
			return d.renderProjectPage(c, status, p, projectFormOf(p), envForm{}, msg, projectExtras{})
		}
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=domain-saved#domains")
}

func (d *dashboard) handleRemoveDomain(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := d.s.deps.DB.Project(ctx, u.ID, c.Param("id"))
	if err != nil {
		return d.fail(c, err)
	}
	if err := d.s.deps.Domains.Remove(ctx, u.ID, p, c.Param("name")); err != nil {
		return d.fail(c, err)
	}
	return seeOther(c, "/projects/"+p.ID+"?done=domain-removed#domains")
}

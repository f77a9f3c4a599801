package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/berth-dev/berth/domains"
	"github.com/berth-dev/berth/store"
)

// domainJSON is a custom domain as the API shows it: its state and, until
// it is verified, the DNS records to create.
type domainJSON struct {
	Name       string           `json:"name"`
	ProjectID  string           `json:"project_id"`
	Apex       bool             `json:"apex"`
	Verified   bool             `json:"verified"`
	VerifiedAt *time.Time       `json:"verified_at"`
	RedirectTo string           `json:"redirect_to"`
	CheckedAt  *time.Time       `json:"checked_at"`
	CheckError string           `json:"check_error"`
	CreatedAt  time.Time        `json:"created_at"`
	Records    []domains.Record `json:"records"`
}

func (s *Handler) domainOut(ctx context.Context, p *store.Project, d *store.Domain) domainJSON {
	return domainJSON{Name: d.Name, ProjectID: d.ProjectID, Apex: store.IsApexDomain(d.Name), Verified: d.Verified(),
		VerifiedAt: d.VerifiedAt, RedirectTo: d.RedirectTo, CheckedAt: d.CheckedAt, CheckError: d.CheckError,
		CreatedAt: d.CreatedAt, Records: s.deps.Domains.Records(ctx, d, p.Slug)}
}

// projectFor returns the caller's project named in the path.
func (s *Handler) projectFor(c echo.Context) (*store.Project, error) {
	return s.deps.DB.Project(c.Request().Context(), currentUser(c).ID, c.Param("id"))
}

func (s *Handler) handleListDomains(c echo.Context) error {
	p, err := s.projectFor(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := s.deps.DB.Domains(ctx, currentUser(c).ID, p.ID)
	if err != nil {
		return err
	}
	out := make([]domainJSON, len(list))
	for i, d := range list {
		out[i] = s.domainOut(ctx, p, d)
	}
	return c.JSON(http.StatusOK, out)
}

type addDomainRequest struct {
	Name string `json:"name"`
	// Redirect is another of the project's domains this one sends its
	// visitors to.
	Redirect string `json:"redirect"`
}

func (s *Handler) handleAddDomain(c echo.Context) error {
	var req addDomainRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := s.projectFor(c)
	if err != nil {
		return err
	}
	d, err := s.addDomain(c.Request().Context(), currentUser(c), p, req.Name, req.Redirect)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.domainOut(c.Request().Context(), p, d))
}

// addDomain claims name for u's project p, redirecting to another of its
// domains when redirect is set; a refused redirect adds nothing.
func (s *Handler) addDomain(ctx context.Context, u *store.User, p *store.Project, name, redirect string) (*store.Domain, error) {
	d, err := s.deps.Domains.Add(ctx, u.ID, p, name)
	if err != nil || redirect == "" {
		return d, err
	}
	rd, err := s.deps.Domains.SetRedirect(ctx, u.ID, p, d.Name, redirect)
	if err != nil {
		if rmErr := s.deps.Domains.Remove(context.WithoutCancel(ctx), u.ID, p, d.Name); rmErr != nil {
			return nil, rmErr
		}
		return nil, err
	}
	return rd, nil
}

// dnsNotReady is the answer to a verification that found the DNS wrong.
type dnsNotReady struct {
	Error  string     `json:"error"`
	Code   string     `json:"code"`
	Domain domainJSON `json:"domain"`
}

func (s *Handler) handleVerifyDomain(c echo.Context) error {
	p, err := s.projectFor(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, problem, err := s.deps.Domains.Verify(ctx, currentUser(c).ID, p, c.Param("name"))
	if err != nil {
		return err
	}
	if problem != "" {
		return c.JSON(http.StatusUnprocessableEntity, dnsNotReady{Error: problem, Code: "dns_not_ready", Domain: s.domainOut(ctx, p, d)})
	}
	return c.JSON(http.StatusOK, s.domainOut(ctx, p, d))
}

type patchDomainRequest struct {
	RedirectTo *string `json:"redirect_to"`
}

func (s *Handler) handlePatchDomain(c echo.Context) error {
	var req patchDomainRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := s.projectFor(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if req.RedirectTo == nil {
		d, err := s.deps.DB.Domain(ctx, currentUser(c).ID, p.ID, c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, s.domainOut(ctx, p, d))
	}
	d, err := s.deps.Domains.SetRedirect(ctx, currentUser(c).ID, p, c.Param("name"), *req.RedirectTo)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.domainOut(ctx, p, d))
}

func (s *Handler) handleRemoveDomain(c echo.Context) error {
	p, err := s.projectFor(c)
	if err != nil {
		return err
	}
	if err := s.deps.Domains.Remove(c.Request().Context(), currentUser(c).ID, p, c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

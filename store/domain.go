package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Domain is a custom domain of a project: a host of its own that serves the
// project's production deployment once its DNS points at berth.
type Domain struct {
	Name      string `json:"name"` // lowercase ASCII (IDNA), no port, no trailing dot
	ProjectID string `json:"project_id"`
	// Token is the value the _berth-challenge TXT record must hold.
	Token string `json:"-"`
	// RedirectTo is another of the project's domains this one sends its
	// visitors to (308, same path and query); "" serves the project.
	RedirectTo string     `json:"redirect_to"`
	VerifiedAt *time.Time `json:"verified_at"`
	CheckedAt  *time.Time `json:"checked_at"`
	// CheckError says what the last failed DNS check found.
	CheckError string    `json:"check_error"`
	CreatedAt  time.Time `json:"created_at"`
}

// Verified reports whether d's DNS was seen pointing at berth.
func (d *Domain) Verified() bool { return d.VerifiedAt != nil }

const (
	domainColumnsBare = "name, project_id, token, redirect_to, verified_at, checked_at, check_error, created_at"
	domainColumns     = "d.name, d.project_id, d.token, d.redirect_to, d.verified_at, d.checked_at, d.check_error, d.created_at"
)

func scanDomain(r row) (*Domain, error) {
	var d Domain
	var verified, checked sql.NullInt64
	var created int64
	if err := r.Scan(&d.Name, &d.ProjectID, &d.Token, &d.RedirectTo, &verified, &checked, &d.CheckError, &created); err != nil {
		return nil, err
	}
	d.VerifiedAt, d.CheckedAt, d.CreatedAt = nullTime(verified), nullTime(checked), fromMillis(created)
	return &d, nil
}

var errDomainNotFound = Errorf(ENOTFOUND, "Domain not found.")

// MaxDomainsPerProject bounds what one project can claim (and what the host
// router holds in memory for it).
const MaxDomainsPerProject = 50

// UnverifiedClaimLasts is how long an unverified domain holds its name
// against other projects: after it, another project may add the name (the
// earlier claim is dropped), so nobody can squat on a name whose DNS they
// do not control.
const UnverifiedClaimLasts = 7 * 24 * time.Hour

// CreateDomain adds d to ownerID's project d.ProjectID with a new
// verification token. A name another project holds (verified, or claimed
// within UnverifiedClaimLasts) is a conflict that does not say whose it is.
func (db *DB) CreateDomain(ctx context.Context, ownerID string, d *Domain) error {
	name, err := NormalizeDomain(d.Name)
	if err != nil {
		return err
	}
	d.Name, d.Token, d.RedirectTo = name, NewID(16), ""
	d.CreatedAt = db.Now().UTC().Truncate(time.Millisecond)
	d.VerifiedAt, d.CheckedAt, d.CheckError = nil, nil, ""
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin domain insert: %w", err)
	}
	defer tx.Rollback()
	var holder string
	var verified sql.NullInt64
	var created int64
	err = tx.QueryRowContext(ctx, "SELECT project_id, verified_at, created_at FROM domains WHERE name = ?", name).Scan(&holder, &verified, &created)
	switch {
	case err == nil && holder == d.ProjectID:
		return Errorf(ECONFLICT, "%s is already a domain of this project.", name)
	case err == nil && (verified.Valid || fromMillis(created).After(d.CreatedAt.Add(-UnverifiedClaimLasts))):
		return Errorf(ECONFLICT, "%s is already in use by another project.", name)
	case err == nil:
		// A lapsed claim: the name goes to whoever asks now.
		if _, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE name = ?", name); err != nil {
			return fmt.Errorf("drop lapsed domain claim: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE domains SET redirect_to = '' WHERE redirect_to = ?", name); err != nil {
			return fmt.Errorf("clear redirects: %w", err)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("check domain: %w", err)
	}
	var count int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM domains WHERE project_id = ?", d.ProjectID).Scan(&count); err != nil {
		return fmt.Errorf("count domains: %w", err)
	}
	if count >= MaxDomainsPerProject {
		return Errorf(ELIMIT, "A project can have at most %d domains; remove one first.", MaxDomainsPerProject)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO domains (name, project_id, token, created_at)
		SELECT ?, id, ?, ? FROM projects WHERE id = ? AND owner_id = ?`,
		name, d.Token, millis(d.CreatedAt), d.ProjectID, ownerID)
	if isUniqueViolation(err) {
		return Errorf(ECONFLICT, "%s is already in use by another project.", name)
	}
	if err != nil {
		return fmt.Errorf("insert domain: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Project not found.")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert domain: %w", err)
	}
	return nil
}

// Domains lists ownerID's project's domains, oldest first.
func (db *DB) Domains(ctx context.Context, ownerID, projectID string) ([]*Domain, error) {
	return queryList(ctx, db, "domains", scanDomain, "SELECT "+domainColumns+` FROM domains d
		JOIN projects p ON p.id = d.project_id WHERE d.project_id = ? AND p.owner_id = ?
		ORDER BY d.created_at, d.name`, projectID, ownerID)
}

// Domain returns one domain of ownerID's project; name may be in any case.
func (db *DB) Domain(ctx context.Context, ownerID, projectID, name string) (*Domain, error) {
	name, err := NormalizeDomain(name)
	if err != nil {
		return nil, errDomainNotFound
	}
	d, err := scanDomain(db.read.QueryRowContext(ctx, "SELECT "+domainColumns+` FROM domains d
		JOIN projects p ON p.id = d.project_id WHERE d.name = ? AND d.project_id = ? AND p.owner_id = ?`,
		name, projectID, ownerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errDomainNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("query domain: %w", err)
	}
	return d, nil
}

// AllDomains lists every domain of the instance, for the host router.
func (db *DB) AllDomains(ctx context.Context) ([]*Domain, error) {
	return queryList(ctx, db, "domains", scanDomain, "SELECT "+domainColumns+" FROM domains d ORDER BY d.name")
}

// UnverifiedDomains lists up to limit domains still waiting for their DNS,
// added after since, the least recently checked first.
func (db *DB) UnverifiedDomains(ctx context.Context, since time.Time, limit int) ([]*Domain, error) {
	return queryList(ctx, db, "domains", scanDomain, "SELECT "+domainColumns+` FROM domains d
		WHERE d.verified_at IS NULL AND d.created_at >= ?
		ORDER BY coalesce(d.checked_at, 0), d.name LIMIT ?`, millis(since), limit)
}

// RecordDomainCheck stores the outcome of a DNS check of name: a success
// verifies it (once verified it stays so), a failure keeps what it found.
func (db *DB) RecordDomainCheck(ctx context.Context, name string, ok bool, found string) (*Domain, error) {
	now := millis(db.Now())
	var verified any
	if ok {
		verified, found = now, ""
	}
	d, err := scanDomain(db.write.QueryRowContext(ctx, `UPDATE domains SET checked_at = ?, check_error = ?,
		verified_at = coalesce(verified_at, ?) WHERE name = ? RETURNING `+domainColumnsBare, now, found, verified, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errDomainNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("record domain check: %w", err)
	}
	return d, nil
}

// SetDomainRedirect makes ownerID's project's domain name send its visitors
// to another of the project's domains, or serve the project when to is "".
// Redirects do not chain: a domain that redirects cannot be a target, nor
// redirect while another redirects to it.
func (db *DB) SetDomainRedirect(ctx context.Context, ownerID, projectID, name, to string) (*Domain, error) {
	d, err := db.Domain(ctx, ownerID, projectID, name)
	if err != nil {
		return nil, err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin domain redirect: %w", err)
	}
	defer tx.Rollback()
	if to != "" {
		if to, err = NormalizeDomain(to); err != nil {
			return nil, err
		}
		if to == d.Name {
			return nil, Errorf(EINVALID, "A domain cannot redirect to itself.")
		}
		var targetRedirect string
		err := tx.QueryRowContext(ctx, "SELECT redirect_to FROM domains WHERE name = ? AND project_id = ?", to, projectID).Scan(&targetRedirect)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, Errorf(EINVALID, "%s is not a domain of this project: add it first.", to)
		}
		if err != nil {
			return nil, fmt.Errorf("check redirect target: %w", err)
		}
		if targetRedirect != "" {
			return nil, Errorf(EINVALID, "%s redirects to %s itself; redirect to a domain that serves the project.", to, targetRedirect)
		}
		var from string
		err = tx.QueryRowContext(ctx, "SELECT name FROM domains WHERE redirect_to = ? LIMIT 1", d.Name).Scan(&from)
		if err == nil {
			return nil, Errorf(EINVALID, "%s redirects to %s; a domain visitors are sent to cannot redirect them on.", from, d.Name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("check redirects: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE domains SET redirect_to = ? WHERE name = ?", to, d.Name); err != nil {
		return nil, fmt.Errorf("set domain redirect: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set domain redirect: %w", err)
	}
	d.RedirectTo = to
	return d, nil
}

// DeleteDomain removes one domain of ownerID's project; domains that
// redirected to it serve the project again.
func (db *DB) DeleteDomain(ctx context.Context, ownerID, projectID, name string) error {
	d, err := db.Domain(ctx, ownerID, projectID, name)
	if err != nil {
		return err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin domain delete: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE name = ? AND project_id = ?", d.Name, projectID); err != nil {
		return fmt.Errorf("delete domain: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE domains SET redirect_to = '' WHERE redirect_to = ?", d.Name); err != nil {
		return fmt.Errorf("clear redirects: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete domain: %w", err)
	}
	return nil
}

// ProductionDeploymentOf returns the production deployment of projectID,
// whoever owns it; the host router uses it for custom domains.
func (db *DB) ProductionDeploymentOf(ctx context.Context, projectID string) (*Deployment, error) {
	var prod sql.NullString
	err := db.read.QueryRowContext(ctx, "SELECT production_deployment_id FROM projects WHERE id = ?", projectID).Scan(&prod)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !prod.Valid || err == nil && prod.String == "" {
		return nil, Errorf(ENOTFOUND, "no production deployment")
	}
	if err != nil {
		return nil, fmt.Errorf("query production deployment: %w", err)
	}
	return db.DeploymentByID(ctx, prod.String)
}

// ProjectSlug returns projectID's slug, whoever owns it.
func (db *DB) ProjectSlug(ctx context.Context, projectID string) (string, error) {
	var slug string
	err := db.read.QueryRowContext(ctx, "SELECT slug FROM projects WHERE id = ?", projectID).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Errorf(ENOTFOUND, "Project not found.")
	}
	if err != nil {
		return "", fmt.Errorf("query project slug: %w", err)
	}
	return slug, nil
}

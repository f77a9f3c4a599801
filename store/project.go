package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Project is a deployable app: where its source lives and how it builds.
type Project struct {
	ID               string `json:"id"`
	OwnerID          string `json:"owner_id"`
	Name             string `json:"name"`
	Slug             string `json:"slug"`
	GitURL           string `json:"git_url"`
	GitHubRepo       string `json:"github_repo"`
	GitHubRepoID     int64  `json:"github_repo_id"` // GitHub's numeric id of GitHubRepo, recorded at link time (0: linked before ids were recorded)
	ProductionBranch string `json:"production_branch"`
	RootDir          string `json:"root_dir"`
	InstallCommand   string `json:"install_command"`
	BuildCommand     string `json:"build_command"`
	OutputDir        string `json:"output_dir"`
	// StartCommand, when set, makes the project a Node server that starts
	// with it (`sh -c` in its server container) instead of what its build
	// detects.
	StartCommand string `json:"start_command"`
	// DockerfilePath names the Dockerfile the project builds from, a path
	// in its root directory; empty: a Dockerfile there, if any.
	DockerfilePath string `json:"dockerfile_path"`
	// Port is where an image built from a Dockerfile listens; 0: its
	// EXPOSE, else 3000.
	Port         int  `json:"port"`
	AllowForkPRs bool `json:"allow_fork_prs"`
	// HealthPath is what a server deployment must answer below 500 before
	// it is promoted to production (default "/").
	HealthPath             string    `json:"health_path"`
	ProductionDeploymentID string    `json:"production_deployment_id"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
	// WorkerLabels are the labels a build worker must all have to take
	// the project's builds, sorted (never nil once read or validated;
	// empty: any worker).
	WorkerLabels []string `json:"worker_labels"`
	// WebhookSecret is the project's sealed webhook secret (nil when it has
	// none); only the lifecycle opens it.
	WebhookSecret []byte `json:"-"`
}

// ProjectPatch holds the fields a caller may change; nil means unchanged.
type ProjectPatch struct {
	Name             *string   `json:"name"`
	GitURL           *string   `json:"git_url"`
	GitHubRepo       *string   `json:"github_repo"`
	ProductionBranch *string   `json:"production_branch"`
	RootDir          *string   `json:"root_dir"`
	InstallCommand   *string   `json:"install_command"`
	BuildCommand     *string   `json:"build_command"`
	OutputDir        *string   `json:"output_dir"`
	StartCommand     *string   `json:"start_command"`
	DockerfilePath   *string   `json:"dockerfile_path"`
	Port             *int      `json:"port"`
	AllowForkPRs     *bool     `json:"allow_fork_prs"`
	HealthPath       *string   `json:"health_path"`
	WorkerLabels     *[]string `json:"worker_labels"`
	// GitHubRepoID is set by the server after checking the caller can see
	// GitHubRepo, never from a request.
	GitHubRepoID *int64 `json:"-"`
}

// Apply copies the set fields of patch onto p.
func (patch ProjectPatch) Apply(p *Project) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&p.Name, patch.Name)
	set(&p.GitURL, patch.GitURL)
	if patch.GitHubRepo != nil && !strings.EqualFold(*patch.GitHubRepo, p.GitHubRepo) {
		p.GitHubRepoID = 0 // the id belongs to the repository it was checked for
	}
	set(&p.GitHubRepo, patch.GitHubRepo)
	if patch.GitHubRepoID != nil {
		p.GitHubRepoID = *patch.GitHubRepoID
	}
	set(&p.ProductionBranch, patch.ProductionBranch)
	set(&p.RootDir, patch.RootDir)
	set(&p.InstallCommand, patch.InstallCommand)
	set(&p.BuildCommand, patch.BuildCommand)
	set(&p.OutputDir, patch.OutputDir)
	set(&p.StartCommand, patch.StartCommand)
	set(&p.DockerfilePath, patch.DockerfilePath)
	if patch.Port != nil {
		p.Port = *patch.Port
	}
	if patch.AllowForkPRs != nil {
		p.AllowForkPRs = *patch.AllowForkPRs
	}
	set(&p.HealthPath, patch.HealthPath)
	if patch.WorkerLabels != nil {
		p.WorkerLabels = *patch.WorkerLabels
	}
}

const projectColumns = `id, owner_id, name, slug, git_url, github_repo, production_branch, root_dir,
	install_command, build_command, output_dir, allow_fork_prs, production_deployment_id, created_at, updated_at,
	github_repo_id, webhook_secret, health_path, worker_labels, start_command, dockerfile_path, port`

func scanProject(row row) (*Project, error) {
	var p Project
	var prod sql.NullString
	var created, updated int64
	var labels string
	err := row.Scan(&p.ID, &p.OwnerID, &p.Name, &p.Slug, &p.GitURL, &p.GitHubRepo, &p.ProductionBranch, &p.RootDir,
		&p.InstallCommand, &p.BuildCommand, &p.OutputDir, &p.AllowForkPRs, &prod, &created, &updated,
		&p.GitHubRepoID, &p.WebhookSecret, &p.HealthPath, &labels, &p.StartCommand, &p.DockerfilePath, &p.Port)
	if err != nil {
		return nil, err
	}
	p.WorkerLabels = splitLabels(labels)
	p.ProductionDeploymentID = prod.String
	p.CreatedAt, p.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &p, nil
}

// CreateProject validates p, gives it a unique slug derived from its name
// (never a reserved one, nor one held for another owner; an id unless the
// caller chose one to seal its webhook secret to), and inserts it.
func (db *DB) CreateProject(ctx context.Context, p *Project) error {
	if p.ProductionBranch == "" {
		p.ProductionBranch = "main"
	}
	if p.HealthPath == "" {
		p.HealthPath = "/"
	}
	if err := p.Validate(); err != nil {
		return err
	}
	base := Slugify(p.Name)
	now := db.Now().UTC().Truncate(time.Millisecond)
	if p.ID == "" {
		p.ID = NewID(16)
	}
	p.CreatedAt, p.UpdatedAt = now, now
	for i := 1; i < 100; i++ {
		p.Slug = base
		if i > 1 {
			p.Slug = fmt.Sprintf("%s-%d", base, i)
		}
		ok, err := db.insertProject(ctx, p, now)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return Errorf(ECONFLICT, "Could not find a free address for %q; choose another name.", p.Name)
}

// insertProject inserts p under p.Slug when that slug is free for its owner;
// false when it is not.
func (db *DB) insertProject(ctx context.Context, p *Project, now time.Time) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin project insert: %w", err)
	}
	defer tx.Rollback()
	if free, err := slugFree(ctx, tx, p.Slug, p.OwnerID, now); err != nil || !free {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO projects (id, owner_id, name, slug, git_url, github_repo,
		production_branch, root_dir, install_command, build_command, output_dir, allow_fork_prs, created_at, updated_at,
		github_repo_id, webhook_secret, health_path, worker_labels, start_command, dockerfile_path, port)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.OwnerID, p.Name, p.Slug, p.GitURL, p.GitHubRepo, p.ProductionBranch, p.RootDir,
		p.InstallCommand, p.BuildCommand, p.OutputDir, p.AllowForkPRs, millis(now), millis(now),
		p.GitHubRepoID, p.WebhookSecret, p.HealthPath, strings.Join(p.WorkerLabels, ","), p.StartCommand, p.DockerfilePath, p.Port)
	if isUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert project: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("insert project: %w", err)
	}
	return true, nil
}

// Project returns ownerID's project id, or ENOTFOUND (also when it belongs to
// someone else: callers cannot tell the two apart).
func (db *DB) Project(ctx context.Context, ownerID, id string) (*Project, error) {
	p, err := scanProject(db.read.QueryRowContext(ctx,
		"SELECT "+projectColumns+" FROM projects WHERE id = ? AND owner_id = ?", id, ownerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Project not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("query project: %w", err)
	}
	return p, nil
}

// ProjectBySlug returns a project by its slug, whoever owns it; the preview
// router uses it to resolve production hosts.
func (db *DB) ProjectBySlug(ctx context.Context, slug string) (*Project, error) {
	p, err := scanProject(db.read.QueryRowContext(ctx, "SELECT "+projectColumns+" FROM projects WHERE slug = ?", slug))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Project not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("query project: %w", err)
	}
	return p, nil
}

// Projects lists ownerID's projects, oldest first.
func (db *DB) Projects(ctx context.Context, ownerID string) ([]*Project, error) {
	return queryList(ctx, db, "projects", scanProject,
		"SELECT "+projectColumns+" FROM projects WHERE owner_id = ? ORDER BY created_at, rowid", ownerID)
}

// UpdateProject applies patch to ownerID's project id and returns the result.
func (db *DB) UpdateProject(ctx context.Context, ownerID, id string, patch ProjectPatch) (*Project, error) {
	p, err := db.Project(ctx, ownerID, id)
	if err != nil {
		return nil, err
	}
	patch.Apply(p)
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.UpdatedAt = db.Now().UTC().Truncate(time.Millisecond)
	_, err = db.write.ExecContext(ctx, `UPDATE projects SET name = ?, git_url = ?, github_repo = ?, production_branch = ?,
		root_dir = ?, install_command = ?, build_command = ?, output_dir = ?, allow_fork_prs = ?, updated_at = ?,
		github_repo_id = ?, health_path = ?, worker_labels = ?, start_command = ?, dockerfile_path = ?, port = ? WHERE id = ? AND owner_id = ?`,
		p.Name, p.GitURL, p.GitHubRepo, p.ProductionBranch, p.RootDir, p.InstallCommand, p.BuildCommand, p.OutputDir,
		p.AllowForkPRs, millis(p.UpdatedAt), p.GitHubRepoID, p.HealthPath, strings.Join(p.WorkerLabels, ","), p.StartCommand, p.DockerfilePath, p.Port, id, ownerID)
	if err != nil {
		return nil, fmt.Errorf("update project: %w", err)
	}
	return p, nil
}

// SetWebhookSecret stores ownerID's project's new sealed webhook secret.
func (db *DB) SetWebhookSecret(ctx context.Context, ownerID, id string, sealed []byte) error {
	res, err := db.write.ExecContext(ctx, "UPDATE projects SET webhook_secret = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
		sealed, millis(db.Now()), id, ownerID)
	if err != nil {
		return fmt.Errorf("store webhook secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Project not found.")
	}
	return nil
}

// DeleteProject removes ownerID's project with its deployments, logs and
// environment variables. Its slug stays its owner's for SlugHold.
func (db *DB) DeleteProject(ctx context.Context, ownerID, id string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin project delete: %w", err)
	}
	defer tx.Rollback()
	var slug string
	err = tx.QueryRowContext(ctx, "DELETE FROM projects WHERE id = ? AND owner_id = ? RETURNING slug", id, ownerID).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "Project not found.")
	}
	if err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	if err := holdSlug(ctx, tx, slug, ownerID, db.Now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	return nil
}

// ProjectOwner returns the id of the user owning projectID.
func (db *DB) ProjectOwner(ctx context.Context, projectID string) (string, error) {
	var owner string
	err := db.read.QueryRowContext(ctx, "SELECT owner_id FROM projects WHERE id = ?", projectID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Errorf(ENOTFOUND, "Project not found.")
	}
	if err != nil {
		return "", fmt.Errorf("query project owner: %w", err)
	}
	return owner, nil
}

// splitLabels reads the worker_labels column: labels joined by commas
// (none contains one).
func splitLabels(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/model"
)

// allowedFrom lists, for each state, the states a deployment may enter it
// from. "building" from "building" is a retried build after a redelivery.
var allowedFrom = map[string][]string{
	model.StateBuilding:  {model.StateQueued, model.StateBuilding, model.StateUploading},
	model.StateUploading: {model.StateBuilding},
	model.StateReady:     {model.StateUploading},
	model.StateError:     {model.StateQueued, model.StateBuilding, model.StateUploading},
	model.StateCancelled: {model.StateQueued, model.StateBuilding, model.StateUploading},
}

// Deployment is one build of a project at one commit, and what it serves.
type Deployment struct {
	ID            string `json:"id"`
	ProjectID     string `json:"project_id"`
	State         string `json:"state"`
	Ref           string `json:"ref"`
	Branch        string `json:"branch"`
	CommitSHA     string `json:"commit_sha"`
	CommitMessage string `json:"commit_message"`
	GitURL        string `json:"-"`
	PreviewHost   string `json:"preview_host"`
	Trigger       string `json:"trigger"`
	OutputType    string `json:"output_type"`
	ArtifactKey   string `json:"-"`
	Error         string `json:"error"`
	Attempt       int    `json:"attempt"`
	PRNumber      int    `json:"pr_number,omitempty"`
	Retired       bool   `json:"retired,omitempty"`
	Fork          bool   `json:"fork,omitempty"` // a fork's pull request: no secrets, a cache of its own
	// PromotionError says why the last promotion of this deployment to
	// production failed (its health check); empty once one succeeds.
	PromotionError  string     `json:"promotion_error,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	BuildStartedAt  *time.Time `json:"build_started_at"`
	BuildFinishedAt *time.Time `json:"build_finished_at"`
	// ExpiredAt is when retention deleted the deployment's artifacts and
	// logs; the row stays for history and is never served again.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	// InputsKey identifies what the deployment's build was made from; a
	// later deployment of the project with the same key may reuse it.
	InputsKey string `json:"-"`
	// ReusedFrom is the deployment whose build this one serves instead of
	// building its own.
	ReusedFrom string `json:"reused_from,omitempty"`
	// Rebuild: the deployment builds from scratch, never reusing a build.
	Rebuild bool `json:"-"`
}

const deploymentColumns = `id, project_id, state, ref, branch, commit_sha, commit_message, git_url, preview_host,
	trigger, output_type, artifact_key, error, attempt, pr_number, retired, fork, created_at, build_started_at, build_finished_at, expired_at,
	promotion_error, inputs_key, reused_from, rebuild`

func scanDeployment(row row) (*Deployment, error) {
	var d Deployment
	var created int64
	var started, finished, expired sql.NullInt64
	err := row.Scan(&d.ID, &d.ProjectID, &d.State, &d.Ref, &d.Branch, &d.CommitSHA, &d.CommitMessage, &d.GitURL,
		&d.PreviewHost, &d.Trigger, &d.OutputType, &d.ArtifactKey, &d.Error, &d.Attempt, &d.PRNumber, &d.Retired, &d.Fork, &created, &started, &finished, &expired,
		&d.PromotionError, &d.InputsKey, &d.ReusedFrom, &d.Rebuild)
	if err != nil {
		return nil, err
	}
	d.CreatedAt, d.BuildStartedAt, d.BuildFinishedAt = fromMillis(created), nullTime(started), nullTime(finished)
	d.ExpiredAt = nullTime(expired)
	return &d, nil
}

// CreateDeployment inserts d in state queued with a fresh id and preview
// host label ("<first 8 hex of the id>-preview").
func (db *DB) CreateDeployment(ctx context.Context, d *Deployment) error {
	d.State = model.StateQueued
	d.CreatedAt = db.Now().UTC().Truncate(time.Millisecond)
	for range 10 {
		d.ID = NewID(16)
		d.PreviewHost = d.ID[:8] + "-preview"
		_, err := db.write.ExecContext(ctx, `INSERT INTO deployments (id, project_id, state, ref, branch, commit_sha,
			commit_message, git_url, preview_host, trigger, pr_number, fork, rebuild, dispatched, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
			d.ID, d.ProjectID, d.State, d.Ref, d.Branch, d.CommitSHA, d.CommitMessage, d.GitURL, d.PreviewHost,
			d.Trigger, d.PRNumber, d.Fork, d.Rebuild, millis(d.CreatedAt))
		if isUniqueViolation(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("insert deployment: %w", err)
		}
		return nil
	}
	return errors.New("insert deployment: no free preview host after 10 tries")
}

// Deployment returns a deployment of one of ownerID's projects, or ENOTFOUND.
func (db *DB) Deployment(ctx context.Context, ownerID, id string) (*Deployment, error) {
	return db.deploymentWhere(ctx, "id = ? AND project_id IN (SELECT id FROM projects WHERE owner_id = ?)", id, ownerID)
}

// DeploymentByID returns any deployment; for internal callers only (the
// event consumer, the preview router).
func (db *DB) DeploymentByID(ctx context.Context, id string) (*Deployment, error) {
	return db.deploymentWhere(ctx, "id = ?", id)
}

// DeploymentByPreviewHost returns the deployment whose preview label is host.
func (db *DB) DeploymentByPreviewHost(ctx context.Context, host string) (*Deployment, error) {
	return db.deploymentWhere(ctx, "preview_host = ?", host)
}

func (db *DB) deploymentWhere(ctx context.Context, where string, args ...any) (*Deployment, error) {
	d, err := scanDeployment(db.read.QueryRowContext(ctx, "SELECT "+deploymentColumns+" FROM deployments WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "Deployment not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("query deployment: %w", err)
	}
	return d, nil
}

// Deployments lists ownerID's project's deployments, newest first.
func (db *DB) Deployments(ctx context.Context, ownerID, projectID string, limit int) ([]*Deployment, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	return db.deploymentList(ctx, `project_id = ? AND project_id IN (SELECT id FROM projects WHERE owner_id = ?)
		ORDER BY created_at DESC, rowid DESC LIMIT ?`, projectID, ownerID, limit)
}

// UnfinishedDeployments lists every deployment not yet in a terminal state,
// oldest first; recovery at start-up walks it.
func (db *DB) UnfinishedDeployments(ctx context.Context) ([]*Deployment, error) {
	return db.deploymentList(ctx, "state IN ('queued', 'building', 'uploading') ORDER BY created_at, rowid")
}

// DeploymentIDs lists every deployment id of ownerID's project.
func (db *DB) DeploymentIDs(ctx context.Context, ownerID, projectID string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM deployments WHERE project_id = ?
		AND project_id IN (SELECT id FROM projects WHERE owner_id = ?)`, projectID, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list deployment ids: %w", err)
	}
	return scanIDs(rows)
}

func (db *DB) deploymentList(ctx context.Context, where string, args ...any) ([]*Deployment, error) {
	return queryList(ctx, db, "deployments", scanDeployment, "SELECT "+deploymentColumns+" FROM deployments WHERE "+where, args...)
}

// Transition is a state change with the fields that come with it; empty
// fields are left as they are.
type Transition struct {
	To            string
	At            time.Time
	Attempt       int
	CommitSHA     string
	CommitMessage string
	OutputType    string
	ArtifactKey   string
	Error         string
	// InputsKey and ReusedFrom come with "ready": what the build was made
	// from, and whose build a reusing deployment serves.
	InputsKey  string
	ReusedFrom string
}

// ApplyTransition moves deployment id to t.To if its current state allows
// it, and reports whether it did. A refused transition is not an error: the
// deployment was cancelled or finished meanwhile.
func (db *DB) ApplyTransition(ctx context.Context, id string, t Transition) (bool, error) {
	return applyTransition(ctx, db.write, id, t)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func applyTransition(ctx context.Context, db execer, id string, t Transition) (bool, error) {
	from, ok := allowedFrom[t.To]
	if !ok {
		return false, fmt.Errorf("apply transition: unknown state %q", t.To)
	}
	if t.To == model.StateReady && t.ReusedFrom != "" {
		return applyReuse(ctx, db, id, t)
	}
	set := []string{"state = ?"}
	args := []any{t.To}
	add := func(col string, v any) { set = append(set, col+" = ?"); args = append(args, v) }
	if t.Attempt > 0 {
		add("attempt", t.Attempt)
	}
	if t.CommitSHA != "" {
		add("commit_sha", t.CommitSHA)
	}
	if t.CommitMessage != "" {
		add("commit_message", t.CommitMessage)
	}
	if t.OutputType != "" {
		add("output_type", t.OutputType)
	}
	if t.ArtifactKey != "" {
		add("artifact_key", t.ArtifactKey)
	}
	if t.Error != "" {
		add("error", t.Error)
	}
	if t.InputsKey != "" {
		add("inputs_key", t.InputsKey)
	}
	if t.ReusedFrom != "" {
		add("reused_from", t.ReusedFrom)
	}
	switch {
	case t.To == model.StateBuilding:
		set = append(set, "build_started_at = COALESCE(build_started_at, ?)")
		args = append(args, millis(t.At))
	case model.Terminal(t.To):
		add("build_finished_at", millis(t.At))
	}
	q := "UPDATE deployments SET " + strings.Join(set, ", ") + " WHERE id = ? AND state IN (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ") + ")"
	args = append(args, id)
	for _, s := range from {
		args = append(args, s)
	}
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("apply transition %s: %w", t.To, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// scanIDs reads a one-column result of ids and closes it.
func scanIDs(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan id: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

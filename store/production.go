package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Who put a deployment in production, besides a user's id.
const (
	PromotedByAuto     = "auto"     // a ready build of the production branch
	PromotedByRollback = "rollback" // a rollback to an earlier production deployment
)

// ProductionEntry is one span of a project's production history: which
// deployment the production host served from when to when (To is nil while
// it still does), and who or what put it there.
type ProductionEntry struct {
	ID           string     `json:"id"`
	ProjectID    string     `json:"project_id"`
	DeploymentID string     `json:"deployment_id"`
	From         time.Time  `json:"from"`
	To           *time.Time `json:"to"`
	PromotedBy   string     `json:"promoted_by"`
	Reason       string     `json:"reason"`
}

// SetProductionDeployment points projectID's production host at
// deploymentID, which must be a ready deployment of that project, and
// records it in the production history (the previous span ends now), all in
// one transaction. It reports false, and changes nothing, when deploymentID
// already is production.
func (db *DB) SetProductionDeployment(ctx context.Context, projectID, deploymentID, by, reason string) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin promotion: %w", err)
	}
	defer tx.Rollback()
	var current sql.NullString
	err = tx.QueryRowContext(ctx, "SELECT production_deployment_id FROM projects WHERE id = ?", projectID).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return false, Errorf(ENOTFOUND, "Project not found.")
	}
	if err != nil {
		return false, fmt.Errorf("query production deployment: %w", err)
	}
	if current.String == deploymentID {
		return false, nil
	}
	now := millis(db.Now())
	res, err := tx.ExecContext(ctx, `UPDATE projects SET production_deployment_id = ?, updated_at = ?
		WHERE id = ? AND EXISTS (SELECT 1 FROM deployments WHERE id = ? AND project_id = ? AND state = 'ready' AND expired_at IS NULL)`,
		deploymentID, now, projectID, deploymentID, projectID)
	if err != nil {
		return false, fmt.Errorf("promote deployment: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, Errorf(ECONFLICT, "Only a ready deployment can be promoted to production.")
	}
	if _, err := tx.ExecContext(ctx, "UPDATE production_history SET to_at = ? WHERE project_id = ? AND to_at IS NULL", now, projectID); err != nil {
		return false, fmt.Errorf("end production span: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO production_history (id, project_id, deployment_id, from_at, promoted_by, reason)
		VALUES (?, ?, ?, ?, ?, ?)`, NewID(16), projectID, deploymentID, now, by, reason); err != nil {
		return false, fmt.Errorf("record production span: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE deployments SET promotion_error = '' WHERE id = ?", deploymentID); err != nil {
		return false, fmt.Errorf("clear promotion error: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit promotion: %w", err)
	}
	return true, nil
}

// SetPromotionError records why deploymentID could not be promoted ("" once
// it could).
func (db *DB) SetPromotionError(ctx context.Context, deploymentID, msg string) error {
	if _, err := db.write.ExecContext(ctx, "UPDATE deployments SET promotion_error = ? WHERE id = ?", msg, deploymentID); err != nil {
		return fmt.Errorf("record promotion error: %w", err)
	}
	return nil
}

// ProductionHistory lists ownerID's project's production spans, newest
// first.
func (db *DB) ProductionHistory(ctx context.Context, ownerID, projectID string, limit int) ([]*ProductionEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	return queryList(ctx, db, "production history", scanProductionEntry, `SELECT h.id, h.project_id, h.deployment_id,
		h.from_at, h.to_at, h.promoted_by, h.reason FROM production_history h
		WHERE h.project_id = ? AND h.project_id IN (SELECT id FROM projects WHERE owner_id = ?)
		ORDER BY h.from_at DESC, h.rowid DESC LIMIT ?`, projectID, ownerID, limit)
}

func scanProductionEntry(r row) (*ProductionEntry, error) {
	var e ProductionEntry
	var from int64
	var to sql.NullInt64
	if err := r.Scan(&e.ID, &e.ProjectID, &e.DeploymentID, &from, &to, &e.PromotedBy, &e.Reason); err != nil {
		return nil, err
	}
	e.From, e.To = fromMillis(from), nullTime(to)
	return &e, nil
}

// PreviousProduction returns the id of the deployment of ownerID's project
// that was production most recently before the current one and is still
// ready to serve, or ENOTFOUND.
func (db *DB) PreviousProduction(ctx context.Context, ownerID, projectID string) (string, error) {
	var id string
	err := db.read.QueryRowContext(ctx, `SELECT h.deployment_id FROM production_history h
		JOIN projects p ON p.id = h.project_id
		JOIN deployments d ON d.id = h.deployment_id AND d.project_id = h.project_id
		WHERE h.project_id = ? AND p.owner_id = ? AND d.state = 'ready' AND d.expired_at IS NULL
			AND h.deployment_id != COALESCE(p.production_deployment_id, '')
		ORDER BY h.from_at DESC, h.rowid DESC LIMIT 1`, projectID, ownerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Errorf(ENOTFOUND, "There is no earlier production deployment to roll back to.")
	}
	if err != nil {
		return "", fmt.Errorf("query previous production: %w", err)
	}
	return id, nil
}

// PromotedSince lists the deployments of projectID that were production at
// some time since since: the production history's spans that had not ended
// by then. Retention keeps them.
func (db *DB) PromotedSince(ctx context.Context, projectID string, since time.Time) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT deployment_id FROM production_history
		WHERE project_id = ? AND (to_at IS NULL OR to_at >= ?)`, projectID, millis(since))
	if err != nil {
		return nil, fmt.Errorf("list recent production deployments: %w", err)
	}
	return scanIDs(rows)
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RetentionProject is what retention needs of a project.
type RetentionProject struct {
	ID                     string
	ProductionDeploymentID string
}

// RetentionProjects lists every project with its production deployment.
func (db *DB) RetentionProjects(ctx context.Context) ([]RetentionProject, error) {
	return queryList(ctx, db, "projects", func(r row) (RetentionProject, error) {
		var p RetentionProject
		var prod sql.NullString
		err := r.Scan(&p.ID, &prod)
		p.ProductionDeploymentID = prod.String
		return p, err
	}, "SELECT id, production_deployment_id FROM projects ORDER BY id")
}

// SettledDeployments lists projectID's finished deployments (ready, failed,
// cancelled) that retention has not expired yet, newest first.
func (db *DB) SettledDeployments(ctx context.Context, projectID string) ([]*Deployment, error) {
	return db.deploymentList(ctx, `project_id = ? AND state IN ('ready', 'error', 'cancelled') AND expired_at IS NULL
		ORDER BY created_at DESC, rowid DESC`, projectID)
}

// ExpireDeployments marks ids expired at at and returns those it marked. A
// deployment that is production now (promoted since retention chose it)
// or already expired is left alone; from here on none of the returned is
// served or promoted.
func (db *DB) ExpireDeployments(ctx context.Context, ids []string, at time.Time) ([]string, error) {
	var out []string
	for chunk := range slices.Chunk(ids, 500) {
		args := []any{millis(at)}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := db.write.QueryContext(ctx, `UPDATE deployments SET expired_at = ?
			WHERE id IN (`+placeholders(len(chunk))+`) AND expired_at IS NULL
			AND state IN ('ready', 'error', 'cancelled')
			AND id NOT IN (SELECT production_deployment_id FROM projects WHERE production_deployment_id IS NOT NULL)
			RETURNING id`, args...)
		if err != nil {
			return out, fmt.Errorf("expire deployments: %w", err)
		}
		got, err := scanIDs(rows)
		if err != nil {
			return out, fmt.Errorf("expire deployments: %w", err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// DeleteLogs deletes the build logs of ids and returns how many lines went.
func (db *DB) DeleteLogs(ctx context.Context, ids []string) (int64, error) {
	var n int64
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		res, err := db.write.ExecContext(ctx, "DELETE FROM deployment_logs WHERE deployment_id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return n, fmt.Errorf("delete logs: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// RetentionRun is one run of retention, as the disk report shows it.
type RetentionRun struct {
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	Expired       int       `json:"expired"`
	LogLines      int64     `json:"log_lines_deleted"`
	ArtifactBytes int64     `json:"artifact_bytes"`
	CacheBytes    int64     `json:"cache_bytes"`
	// ReclaimedBytes is ArtifactBytes + CacheBytes.
	ReclaimedBytes int64  `json:"reclaimed_bytes"`
	Error          string `json:"error,omitempty"`
}

// RecordRetentionRun stores r, keeping the last 100 runs.
func (db *DB) RecordRetentionRun(ctx context.Context, r RetentionRun) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record retention run: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO retention_runs (started_at, finished_at, expired, logs_deleted,
		artifact_bytes, cache_bytes, error) VALUES (?, ?, ?, ?, ?, ?, ?)`, millis(r.StartedAt), millis(r.FinishedAt),
		r.Expired, r.LogLines, r.ArtifactBytes, r.CacheBytes, r.Error); err != nil {
		return fmt.Errorf("record retention run: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM retention_runs WHERE id <= (SELECT MAX(id) - 100 FROM retention_runs)`); err != nil {
		return fmt.Errorf("record retention run: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record retention run: %w", err)
	}
	return nil
}

// LastRetentionRun returns the newest run, or nil when retention never ran.
func (db *DB) LastRetentionRun(ctx context.Context) (*RetentionRun, error) {
	var r RetentionRun
	var started, finished int64
	err := db.read.QueryRowContext(ctx, `SELECT started_at, finished_at, expired, logs_deleted, artifact_bytes, cache_bytes, error
		FROM retention_runs ORDER BY id DESC LIMIT 1`).Scan(&started, &finished, &r.Expired, &r.LogLines, &r.ArtifactBytes, &r.CacheBytes, &r.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("query retention run: %w", err)
	}
	r.StartedAt, r.FinishedAt = fromMillis(started), fromMillis(finished)
	r.ReclaimedBytes = r.ArtifactBytes + r.CacheBytes
	return &r, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// UnreclaimedDeployments lists expired deployments whose data is not yet
// all deleted. One whose build a kept deployment still serves (it reused
// that build) waits until that deployment expires too.
func (db *DB) UnreclaimedDeployments(ctx context.Context) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM deployments d WHERE expired_at IS NOT NULL AND reclaimed_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM deployments u WHERE u.artifact_key = ? || d.id || ?
			AND u.expired_at IS NULL AND u.id != d.id)
		ORDER BY expired_at`, artifactPrefixParts()...)
	if err != nil {
		return nil, fmt.Errorf("list unreclaimed deployments: %w", err)
	}
	return scanIDs(rows)
}

// MarkReclaimed records that ids' data is deleted.
func (db *DB) MarkReclaimed(ctx context.Context, ids []string, at time.Time) error {
	for chunk := range slices.Chunk(ids, 500) {
		args := []any{millis(at)}
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := db.write.ExecContext(ctx, "UPDATE deployments SET reclaimed_at = ? WHERE id IN ("+placeholders(len(chunk))+")", args...); err != nil {
			return fmt.Errorf("mark deployments reclaimed: %w", err)
		}
	}
	return nil
}

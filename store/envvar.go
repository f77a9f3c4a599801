package store

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/model"
)

// EnvVar is a project's environment variable. Its value is stored sealed
// (encrypted by the caller) and never returned by the API.
type EnvVar struct {
	Key       string    `json:"key"`
	Target    string    `json:"target"`
	Sealed    []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ValidTarget reports whether t names an env var target.
func ValidTarget(t string) bool {
	return t == model.TargetBuild || t == model.TargetRuntime || t == model.TargetAll
}

// SetEnvVar inserts or replaces ownerID's project's variable.
func (db *DB) SetEnvVar(ctx context.Context, ownerID, projectID string, v *EnvVar) error {
	if !ValidEnvKey(v.Key) {
		return Errorf(EINVALID, "%q is not a valid variable name: use letters, digits and _, not starting with a digit.", v.Key)
	}
	if !ValidTarget(v.Target) {
		return Errorf(EINVALID, "target must be build, runtime or all.")
	}
	now := millis(db.Now())
	res, err := db.write.ExecContext(ctx, `INSERT INTO env_vars (project_id, key, value_sealed, target, created_at, updated_at)
		SELECT id, ?, ?, ?, ?, ? FROM projects WHERE id = ? AND owner_id = ?
		ON CONFLICT(project_id, key) DO UPDATE SET value_sealed = excluded.value_sealed,
			target = excluded.target, updated_at = excluded.updated_at`,
		v.Key, v.Sealed, v.Target, now, now, projectID, ownerID)
	if err != nil {
		return fmt.Errorf("upsert env var: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Project not found.")
	}
	return nil
}

// EnvVars lists ownerID's project's variables by key, sealed values included
// (the API layer never serializes them).
func (db *DB) EnvVars(ctx context.Context, ownerID, projectID string) ([]*EnvVar, error) {
	return queryList(ctx, db, "env vars", func(r row) (*EnvVar, error) {
		var v EnvVar
		var created, updated int64
		err := r.Scan(&v.Key, &v.Target, &v.Sealed, &created, &updated)
		v.CreatedAt, v.UpdatedAt = fromMillis(created), fromMillis(updated)
		return &v, err
	}, `SELECT e.key, e.target, e.value_sealed, e.created_at, e.updated_at
		FROM env_vars e JOIN projects p ON p.id = e.project_id
		WHERE e.project_id = ? AND p.owner_id = ? ORDER BY e.key`, projectID, ownerID)
}

// DeleteEnvVar removes one variable of ownerID's project.
func (db *DB) DeleteEnvVar(ctx context.Context, ownerID, projectID, key string) error {
	res, err := db.write.ExecContext(ctx, `DELETE FROM env_vars WHERE project_id = ? AND key = ?
		AND project_id IN (SELECT id FROM projects WHERE owner_id = ?)`, projectID, key, ownerID)
	if err != nil {
		return fmt.Errorf("delete env var: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "Variable not found.")
	}
	return nil
}

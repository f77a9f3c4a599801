package store

import (
	"context"
	"fmt"
	"strings"
)

// Waiting is a queued deployment whose build job has not gone out yet, with
// the owner whose turn it waits for.
type Waiting struct {
	Deployment *Deployment
	OwnerID    string
}

// WaitingDeployments lists the deployments waiting for a build slot, oldest
// first.
func (db *DB) WaitingDeployments(ctx context.Context) ([]Waiting, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+prefixed("d.", deploymentColumns)+`, p.owner_id
		FROM deployments d JOIN projects p ON p.id = d.project_id
		WHERE d.state = 'queued' AND d.dispatched = 0 ORDER BY d.created_at, d.rowid`)
	if err != nil {
		return nil, fmt.Errorf("list waiting deployments: %w", err)
	}
	defer rows.Close()
	var out []Waiting
	for rows.Next() {
		var w Waiting
		d, err := scanDeployment(rowWithExtra{rows, &w.OwnerID})
		if err != nil {
			return nil, fmt.Errorf("scan waiting deployment: %w", err)
		}
		w.Deployment = d
		out = append(out, w)
	}
	return out, rows.Err()
}

// BuildsInFlight counts, per owner, the deployments whose job went out and
// that have not finished.
func (db *DB) BuildsInFlight(ctx context.Context) (map[string]int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT p.owner_id, count(*)
		FROM deployments d JOIN projects p ON p.id = d.project_id
		WHERE d.dispatched = 1 AND d.state IN ('queued', 'building', 'uploading') GROUP BY p.owner_id`)
	if err != nil {
		return nil, fmt.Errorf("count builds in flight: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var owner string
		var n int
		if err := rows.Scan(&owner, &n); err != nil {
			return nil, fmt.Errorf("count builds in flight: %w", err)
		}
		out[owner] = n
	}
	return out, rows.Err()
}

// MarkDispatched records that id's build job went out.
func (db *DB) MarkDispatched(ctx context.Context, id string) error {
	if _, err := db.write.ExecContext(ctx, "UPDATE deployments SET dispatched = 1 WHERE id = ?", id); err != nil {
		return fmt.Errorf("mark dispatched: %w", err)
	}
	return nil
}

// UnfinishedBuilds counts ownerID's deployments that are queued, building
// or uploading.
func (db *DB) UnfinishedBuilds(ctx context.Context, ownerID string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM deployments
		WHERE state IN ('queued', 'building', 'uploading') AND project_id IN (SELECT id FROM projects WHERE owner_id = ?)`,
		ownerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unfinished builds: %w", err)
	}
	return n, nil
}

// CountProjects counts ownerID's projects.
func (db *DB) CountProjects(ctx context.Context, ownerID string) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM projects WHERE owner_id = ?", ownerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count projects: %w", err)
	}
	return n, nil
}

// rowWithExtra scans a row whose last column is extra, after the columns a
// scan function knows.
type rowWithExtra struct {
	row
	extra any
}

func (r rowWithExtra) Scan(dest ...any) error { return r.row.Scan(append(dest, r.extra)...) }

// prefixed qualifies each column of a comma-separated list with prefix.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

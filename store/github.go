package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UpsertGitHubUser returns the user with this GitHub id, creating it on
// first sign-in and keeping its GitHub login and name current. The first
// account of an instance becomes admin (an instance with an admin token
// already has its built-in admin, so no GitHub account does). A GitHub
// account never takes the reserved login "admin" nor is merged with the
// built-in admin: it gets a login of its own.
func (db *DB) UpsertGitHubUser(ctx context.Context, githubID int64, login, name string) (*User, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin user upsert: %w", err)
	}
	defer tx.Rollback()
	var id string
	err = tx.QueryRowContext(ctx, "SELECT id FROM users WHERE github_id = ?", githubID).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var others int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&others); err != nil {
			return nil, fmt.Errorf("count users: %w", err)
		}
		id = NewID(16)
		base := login
		if strings.EqualFold(base, AdminLogin) {
			base = AdminLogin + "-gh"
		}
		// A GitHub login may collide with a renamed account's: suffix it.
		unique := base
		for i := 2; ; i++ {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE login = ? COLLATE NOCASE", unique).Scan(&n); err != nil {
				return nil, fmt.Errorf("check login: %w", err)
			}
			if n == 0 {
				break
			}
			unique = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, login, name, github_id, github_login, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, unique, name, githubID, login, others == 0, millis(db.Now())); err != nil {
			return nil, fmt.Errorf("insert user: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("query user: %w", err)
	default:
		if _, err := tx.ExecContext(ctx, "UPDATE users SET name = ?, github_login = ? WHERE id = ?", name, login, id); err != nil {
			return nil, fmt.Errorf("update user: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit user upsert: %w", err)
	}
	return db.UserByID(ctx, id)
}

// SetGitHubToken stores a user's sealed OAuth token.
func (db *DB) SetGitHubToken(ctx context.Context, userID string, sealed []byte) error {
	if _, err := db.write.ExecContext(ctx, "UPDATE users SET github_token = ? WHERE id = ?", sealed, userID); err != nil {
		return fmt.Errorf("store github token: %w", err)
	}
	return nil
}

// GitHubToken returns a user's sealed OAuth token (nil when none).
func (db *DB) GitHubToken(ctx context.Context, userID string) ([]byte, error) {
	var sealed []byte
	err := db.read.QueryRowContext(ctx, "SELECT github_token FROM users WHERE id = ?", userID).Scan(&sealed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("query github token: %w", err)
	}
	return sealed, nil
}

// ProjectsByGitHubRepo returns every project linked to owner/name (any case).
func (db *DB) ProjectsByGitHubRepo(ctx context.Context, repo string) ([]*Project, error) {
	return queryList(ctx, db, "projects", scanProject,
		"SELECT "+projectColumns+" FROM projects WHERE github_repo = ? COLLATE NOCASE ORDER BY created_at", repo)
}

// MarkDeliverySeen records a webhook delivery id and reports false when it
// was seen before (a redelivery).
func (db *DB) MarkDeliverySeen(ctx context.Context, deliveryID string) (bool, error) {
	res, err := db.write.ExecContext(ctx, "INSERT OR IGNORE INTO webhook_seen (delivery_id, received_at) VALUES (?, ?)", deliveryID, millis(db.Now()))
	if err != nil {
		return false, fmt.Errorf("record delivery: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Delivery is one webhook delivery's outcome for one project.
type Delivery struct {
	ID           int64     `json:"id"`
	DeliveryID   string    `json:"delivery_id"`
	ProjectID    string    `json:"project_id,omitempty"`
	Repo         string    `json:"repo"`
	Event        string    `json:"event"`
	Action       string    `json:"action,omitempty"`
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason"`
	DeploymentID string    `json:"deployment_id,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
}

// RecordDelivery appends to the delivery log.
func (db *DB) RecordDelivery(ctx context.Context, d *Delivery) error {
	var project any
	if d.ProjectID != "" {
		project = d.ProjectID
	}
	d.ReceivedAt = db.Now().UTC().Truncate(time.Millisecond)
	res, err := db.write.ExecContext(ctx, `INSERT INTO webhook_deliveries (delivery_id, project_id, repo, event, action, outcome, reason, deployment_id, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.DeliveryID, project, d.Repo, d.Event, d.Action, d.Outcome, d.Reason, d.DeploymentID, millis(d.ReceivedAt))
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	d.ID, _ = res.LastInsertId()
	return nil
}

// Deliveries lists the newest deliveries of ownerID's project.
func (db *DB) Deliveries(ctx context.Context, ownerID, projectID string, limit int) ([]*Delivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return queryList(ctx, db, "deliveries", func(r row) (*Delivery, error) {
		var d Delivery
		var at int64
		err := r.Scan(&d.ID, &d.DeliveryID, &d.ProjectID, &d.Repo, &d.Event, &d.Action, &d.Outcome, &d.Reason, &d.DeploymentID, &at)
		d.ReceivedAt = fromMillis(at)
		return &d, err
	}, `SELECT w.id, w.delivery_id, w.project_id, w.repo, w.event, w.action, w.outcome, w.reason,
		w.deployment_id, w.received_at FROM webhook_deliveries w JOIN projects p ON p.id = w.project_id
		WHERE w.project_id = ? AND p.owner_id = ? ORDER BY w.id DESC LIMIT ?`, projectID, ownerID, limit)
}

// PRComment returns the id of berth's comment on a pull request (0 if none).
func (db *DB) PRComment(ctx context.Context, projectID string, pr int) (int64, error) {
	var id int64
	err := db.read.QueryRowContext(ctx, "SELECT comment_id FROM pr_comments WHERE project_id = ? AND pr_number = ?", projectID, pr).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("query pr comment: %w", err)
	}
	return id, nil
}

// SetPRComment remembers berth's comment on a pull request.
func (db *DB) SetPRComment(ctx context.Context, projectID string, pr int, commentID int64) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO pr_comments (project_id, pr_number, comment_id) VALUES (?, ?, ?)
		ON CONFLICT(project_id, pr_number) DO UPDATE SET comment_id = excluded.comment_id`, projectID, pr, commentID)
	if err != nil {
		return fmt.Errorf("store pr comment: %w", err)
	}
	return nil
}

// RetirePRDeployments stops serving a closed pull request's previews and
// returns their ids.
func (db *DB) RetirePRDeployments(ctx context.Context, projectID string, pr int) ([]string, error) {
	rows, err := db.write.QueryContext(ctx, `UPDATE deployments SET retired = 1 WHERE project_id = ? AND pr_number = ? AND retired = 0 RETURNING id`, projectID, pr)
	if err != nil {
		return nil, fmt.Errorf("retire pr deployments: %w", err)
	}
	return scanIDs(rows)
}

// RepoFullName normalises "owner/name" for comparisons.
func RepoFullName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

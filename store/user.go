package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is an account. Everything a user creates is owned by them.
type User struct {
	ID       string `json:"id"`
	Login    string `json:"login"`
	Name     string `json:"name"`
	GitHubID int64  `json:"github_id,omitempty"`
	// GitHubLogin is the login as GitHub spells it; Login may differ (a
	// suffix keeps logins unique, and "admin" is reserved).
	GitHubLogin string `json:"github_login,omitempty"`
	IsAdmin     bool   `json:"is_admin"`
	// Builtin marks the admin token's identity: it cannot be disabled,
	// deleted or taken over by a GitHub account.
	Builtin    bool       `json:"builtin"`
	DisabledAt *time.Time `json:"disabled_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

// AdminLogin is the built-in admin's login, reserved: no GitHub account
// gets it.
const AdminLogin = "admin"

// ErrAccountDisabled is the answer to any credential of a disabled account.
var ErrAccountDisabled = &Error{Code: EUNAUTHORIZED, Message: "This account is disabled."}

const userColumns = "id, login, name, github_id, github_login, is_admin, builtin, disabled_at, created_at"

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var gh, disabled sql.NullInt64
	var created int64
	if err := row.Scan(&u.ID, &u.Login, &u.Name, &gh, &u.GitHubLogin, &u.IsAdmin, &u.Builtin, &disabled, &created); err != nil {
		return nil, err
	}
	u.GitHubID = gh.Int64
	u.DisabledAt = nullTime(disabled)
	u.CreatedAt = fromMillis(created)
	return &u, nil
}

// EnsureAdmin returns the built-in admin user, creating it on first use.
// The admin token authenticates as this user. It is found by its builtin
// mark, never by its login.
func (db *DB) EnsureAdmin(ctx context.Context) (*User, error) {
	u, err := db.userWhere(ctx, "builtin = ?", 1)
	if ErrorCode(err) != ENOTFOUND {
		return u, err
	}
	// The login is reserved (GitHub accounts never get it), so it is free.
	_, err = db.write.ExecContext(ctx,
		`INSERT INTO users (id, login, name, is_admin, builtin, created_at) VALUES (?, ?, 'Administrator', 1, 1, ?)`,
		NewID(16), AdminLogin, millis(db.Now()))
	if err != nil {
		return nil, fmt.Errorf("ensure admin user: %w", err)
	}
	return db.userWhere(ctx, "builtin = ?", 1)
}

// CreateUser inserts a user.
func (db *DB) CreateUser(ctx context.Context, u *User) error {
	u.ID = NewID(16)
	u.CreatedAt = db.Now().UTC().Truncate(time.Millisecond)
	var gh any
	if u.GitHubID != 0 {
		gh = u.GitHubID
	}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO users (id, login, name, github_id, github_login, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Login, u.Name, gh, u.GitHubLogin, u.IsAdmin, millis(u.CreatedAt))
	if isUniqueViolation(err) {
		return Errorf(ECONFLICT, "A user named %q already exists.", u.Login)
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

// UserByID returns a user or ENOTFOUND.
func (db *DB) UserByID(ctx context.Context, id string) (*User, error) {
	return db.userWhere(ctx, "id = ?", id)
}

// UserByLogin returns a user or ENOTFOUND.
func (db *DB) UserByLogin(ctx context.Context, login string) (*User, error) {
	return db.userWhere(ctx, "login = ?", login)
}

func (db *DB) userWhere(ctx context.Context, where string, arg any) (*User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	}
	if err != nil {
		return nil, fmt.Errorf("query user: %w", err)
	}
	return u, nil
}

// activeUser returns the user behind a credential: a disabled account
// answers ErrAccountDisabled.
func (db *DB) activeUser(ctx context.Context, id string) (*User, error) {
	u, err := db.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.DisabledAt != nil {
		return nil, ErrAccountDisabled
	}
	return u, nil
}

// Users lists every account, oldest first.
func (db *DB) Users(ctx context.Context) ([]*User, error) {
	return queryList(ctx, db, "users", func(r row) (*User, error) { return scanUser(r) },
		"SELECT "+userColumns+" FROM users ORDER BY created_at, rowid")
}

// DisableUser disables an account and ends its sessions at once; its API
// keys are kept but refused until it is enabled again. The built-in admin
// cannot be disabled.
func (db *DB) DisableUser(ctx context.Context, id string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin disable user: %w", err)
	}
	defer tx.Rollback()
	if err := refuseBuiltin(ctx, tx, id, "disabled"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE users SET disabled_at = coalesce(disabled_at, ?) WHERE id = ?", millis(db.Now()), id); err != nil {
		return fmt.Errorf("disable user: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", id); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit disable user: %w", err)
	}
	return nil
}

// EnableUser lets a disabled account in again.
func (db *DB) EnableUser(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, "UPDATE users SET disabled_at = NULL WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("enable user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "User not found.")
	}
	return nil
}

// DeleteUser removes an account with its sessions and API keys (and any
// project still left: callers delete those through the lifecycle first).
// The built-in admin cannot be deleted.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin delete user: %w", err)
	}
	defer tx.Rollback()
	if err := refuseBuiltin(ctx, tx, id, "deleted"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ? AND builtin = 0", id); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit delete user: %w", err)
	}
	return nil
}

func refuseBuiltin(ctx context.Context, tx *sql.Tx, id, verb string) error {
	var builtin bool
	err := tx.QueryRowContext(ctx, "SELECT builtin FROM users WHERE id = ?", id).Scan(&builtin)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "User not found.")
	}
	if err != nil {
		return fmt.Errorf("query user: %w", err)
	}
	if builtin {
		return Errorf(EFORBIDDEN, "The built-in admin cannot be %s.", verb)
	}
	return nil
}

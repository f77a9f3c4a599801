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
	ID        string    `json:"id"`
	Login     string    `json:"login"`
	Name      string    `json:"name"`
	GitHubID  int64     `json:"github_id,omitempty"`
	IsAdmin   bool      `json:"is_admin"`
	CreatedAt time.Time `json:"created_at"`
}

const userColumns = "id, login, name, github_id, is_admin, created_at"

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var gh sql.NullInt64
	var created int64
	if err := row.Scan(&u.ID, &u.Login, &u.Name, &gh, &u.IsAdmin, &created); err != nil {
		return nil, err
	}
	u.GitHubID = gh.Int64
	u.CreatedAt = fromMillis(created)
	return &u, nil
}

// EnsureAdmin returns the built-in admin user (login "admin"), creating it
// on first use. The admin token authenticates as this user.
func (db *DB) EnsureAdmin(ctx context.Context) (*User, error) {
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO users (id, login, name, is_admin, created_at) VALUES (?, 'admin', 'Administrator', 1, ?)
		 ON CONFLICT(login) DO NOTHING`, NewID(16), millis(db.Now()))
	if err != nil {
		return nil, fmt.Errorf("ensure admin user: %w", err)
	}
	return db.UserByLogin(ctx, "admin")
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
		`INSERT INTO users (id, login, name, github_id, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Login, u.Name, gh, u.IsAdmin, millis(u.CreatedAt))
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

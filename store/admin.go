package store

import (
	"context"
	"fmt"
)

// HasAdmin reports whether an enabled administrator exists: the built-in
// admin or an account made admin. Until one does, berth offers its
// one-time setup link.
func (db *DB) HasAdmin(ctx context.Context) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE is_admin = 1 AND disabled_at IS NULL").Scan(&n)
	if err != nil {
		return false, fmt.Errorf("count admins: %w", err)
	}
	return n > 0, nil
}

// MakeAdmin makes an account an administrator (the one who opened the
// setup link and signed in with GitHub).
func (db *DB) MakeAdmin(ctx context.Context, id string) error {
	res, err := db.write.ExecContext(ctx, "UPDATE users SET is_admin = 1 WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("make admin: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "User not found.")
	}
	return nil
}

package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a signed-in browser. The cookie holds a random token; only its
// hash is stored. CSRF is the token forms and scripts must echo back.
type Session struct {
	UserID    string
	CSRF      string
	ExpiresAt time.Time
}

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateSession starts a session for userID and returns its cookie token.
func (db *DB) CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, *Session, error) {
	token := NewID(32)
	now := db.Now()
	s := &Session{UserID: userID, CSRF: NewID(24), ExpiresAt: now.Add(ttl).UTC().Truncate(time.Millisecond)}
	_, err := db.write.ExecContext(ctx, `INSERT INTO sessions (id, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		sessionID(token), userID, s.CSRF, millis(now), millis(s.ExpiresAt))
	if err != nil {
		return "", nil, fmt.Errorf("insert session: %w", err)
	}
	// Expired sessions are swept as new ones start.
	if _, err := db.write.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ?", millis(now)); err != nil {
		return "", nil, fmt.Errorf("sweep sessions: %w", err)
	}
	return token, s, nil
}

// SessionByToken returns the live session for a cookie token and its user.
func (db *DB) SessionByToken(ctx context.Context, token string) (*Session, *User, error) {
	var s Session
	var expires int64
	err := db.read.QueryRowContext(ctx, "SELECT user_id, csrf, expires_at FROM sessions WHERE id = ?", sessionID(token)).
		Scan(&s.UserID, &s.CSRF, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, Errorf(EUNAUTHORIZED, "Your session has ended; sign in again.")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("query session: %w", err)
	}
	s.ExpiresAt = fromMillis(expires)
	if !db.Now().Before(s.ExpiresAt) {
		return nil, nil, Errorf(EUNAUTHORIZED, "Your session has ended; sign in again.")
	}
	u, err := db.activeUser(ctx, s.UserID)
	if err != nil {
		return nil, nil, err
	}
	return &s, u, nil
}

// DeleteSession ends a session (sign out).
func (db *DB) DeleteSession(ctx context.Context, token string) error {
	if _, err := db.write.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", sessionID(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// APIKey is a user's named token. Only its hash is stored; the token is shown
// once, when created.
type APIKey struct {
	ID         string     `json:"id"`
	UserID     string     `json:"-"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

const apiKeyPrefix = "berth_"

// CreateAPIKey creates a key for userID and returns it with its token, which
// is never retrievable again.
func (db *DB) CreateAPIKey(ctx context.Context, userID, name string) (*APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", Errorf(EINVALID, "An API key needs a name of 1 to 100 characters.")
	}
	k := &APIKey{ID: NewID(16), UserID: userID, Name: name, Prefix: NewID(6), CreatedAt: db.Now().UTC().Truncate(time.Millisecond)}
	token := apiKeyPrefix + k.Prefix + "_" + NewID(24)
	sum := sha256.Sum256([]byte(token))
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, userID, k.Name, k.Prefix, sum[:], millis(k.CreatedAt))
	if err != nil {
		return nil, "", fmt.Errorf("insert api key: %w", err)
	}
	return k, token, nil
}

// UserByAPIKey authenticates token: the key is found by its prefix and its
// hash compared in constant time. It records the time of use. A disabled
// account's key answers ErrAccountDisabled.
func (db *DB) UserByAPIKey(ctx context.Context, token string) (*User, error) {
	unauthorized := Errorf(EUNAUTHORIZED, "The API key is not valid.")
	rest, ok := strings.CutPrefix(token, apiKeyPrefix)
	if !ok {
		return nil, unauthorized
	}
	prefix, _, ok := strings.Cut(rest, "_")
	if !ok {
		return nil, unauthorized
	}
	var id, userID string
	var hash []byte
	err := db.read.QueryRowContext(ctx, "SELECT id, user_id, hash FROM api_keys WHERE prefix = ?", prefix).Scan(&id, &userID, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("query api key: %w", err)
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], hash) != 1 {
		return nil, unauthorized
	}
	if _, err := db.write.ExecContext(ctx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", millis(db.Now()), id); err != nil {
		return nil, fmt.Errorf("touch api key: %w", err)
	}
	return db.activeUser(ctx, userID)
}

// APIKeys lists a user's keys, newest first.
func (db *DB) APIKeys(ctx context.Context, userID string) ([]*APIKey, error) {
	return queryList(ctx, db, "api keys", func(r row) (*APIKey, error) {
		var k APIKey
		var created int64
		var used sql.NullInt64
		err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &created, &used)
		k.CreatedAt, k.LastUsedAt = fromMillis(created), nullTime(used)
		return &k, err
	}, `SELECT id, user_id, name, prefix, created_at, last_used_at FROM api_keys WHERE user_id = ? ORDER BY created_at DESC, rowid DESC`, userID)
}

// DeleteAPIKey revokes one of userID's keys.
func (db *DB) DeleteAPIKey(ctx context.Context, userID, id string) error {
	res, err := db.write.ExecContext(ctx, "DELETE FROM api_keys WHERE id = ? AND user_id = ?", id, userID)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Errorf(ENOTFOUND, "API key not found.")
	}
	return nil
}

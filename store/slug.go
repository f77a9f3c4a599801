package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// reservedSlugs are host labels no project may have: names people expect to
// be the service itself, where a tenant's site would pass for it.
var reservedSlugs = []string{
	"admin", "api", "app", "apps", "assets", "auth", "berth", "cdn", "dashboard", "docs", "ftp",
	"help", "login", "mail", "ns1", "ns2", "preview", "signin", "smtp", "static", "status",
	"support", "webhooks", "www",
}

// SlugHold is how long a deleted project's slug stays its owner's.
const SlugHold = 30 * 24 * time.Hour

// slugFree reports whether ownerID may give slug to a new project: it is not
// reserved, and not held for someone else. A hold of ownerID's own is used
// up.
func slugFree(ctx context.Context, tx *sql.Tx, slug, ownerID string, now time.Time) (bool, error) {
	if slices.Contains(reservedSlugs, slug) {
		return false, nil
	}
	var owner string
	var until int64
	err := tx.QueryRowContext(ctx, "SELECT owner_id, held_until FROM slug_holds WHERE slug = ?", slug).Scan(&owner, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("look up slug hold: %w", err)
	case until > millis(now) && owner != ownerID:
		return false, nil
	}
	// Free: the hold expired, or it is ownerID's own and is used up now.
	if _, err := tx.ExecContext(ctx, "DELETE FROM slug_holds WHERE slug = ?", slug); err != nil {
		return false, fmt.Errorf("release slug hold: %w", err)
	}
	return true, nil
}

// holdSlug keeps a deleted project's slug for its owner until SlugHold has
// passed.
func holdSlug(ctx context.Context, tx *sql.Tx, slug, ownerID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO slug_holds (slug, owner_id, held_until) VALUES (?, ?, ?)
		ON CONFLICT(slug) DO UPDATE SET owner_id = excluded.owner_id, held_until = excluded.held_until`, slug, ownerID, millis(now.Add(SlugHold)))
	if err != nil {
		return fmt.Errorf("hold slug: %w", err)
	}
	return nil
}

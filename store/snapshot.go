package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// Snapshot writes a consistent copy of the database file at path to dest
// (which must not exist) with VACUUM INTO, through a read-only connection
// of its own: in WAL mode it reads one committed state while a running
// berth goes on writing, in this process or another. It returns the name
// of the newest migration the copy holds, its schema version.
func Snapshot(ctx context.Context, path, dest string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("snapshot database: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return "", fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return "", fmt.Errorf("snapshot database: %w", err)
	}
	return SchemaVersion(ctx, dest)
}

// SchemaVersion is the name of the newest migration applied to the
// database file at path ("" for a database berth never opened).
func SchemaVersion(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return "", fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	var name sql.NullString
	err = db.QueryRowContext(ctx, "SELECT max(name) FROM schema_migrations").Scan(&name)
	if err != nil {
		return "", fmt.Errorf("read schema version: %w", err)
	}
	return name.String, nil
}

// PrepareRestored readies a database file taken from a backup for a data
// directory whose build queue starts empty: the event stream numbers its
// events from one again, so the sequences deployments recorded from the
// old stream are cleared (or the new stream's events would be skipped as
// already applied). It also checks the file is a database berth made.
func PrepareRestored(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return fmt.Errorf("open restored database: %w", err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil {
		return fmt.Errorf("check restored database: %w", err)
	}
	if ok != "ok" {
		return errors.New("check restored database: " + ok)
	}
	if _, err := db.ExecContext(ctx, "UPDATE deployments SET event_seq = 0"); err != nil {
		return fmt.Errorf("reset event sequences: %w", err)
	}
	return nil
}

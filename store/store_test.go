package store

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/migrations"
	"github.com/berth-dev/berth/model"
)

// openTestDB opens a fresh database file in a temp dir, closed at the end of
// the test.
func openTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func mustUser(t *testing.T, db *DB, login string) *User {
	t.Helper()
	u := &User{Login: login, Name: login}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("create user %s: %v", login, err)
	}
	return u
}

func mustProject(t *testing.T, db *DB, ownerID, name string) *Project {
	t.Helper()
	p := &Project{OwnerID: ownerID, Name: name, GitURL: "https://example.com/" + name + ".git"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	return p
}

func mustDeployment(t *testing.T, db *DB, projectID string) *Deployment {
	t.Helper()
	d := &Deployment{ProjectID: projectID, Ref: "main", Branch: "main", Trigger: model.TriggerAPI}
	if err := db.CreateDeployment(t.Context(), d); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	return d
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want %s", what, code)
		return
	}
	if got := ErrorCode(err); got != code {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

// fixedClock makes db.Now return t0 + n*step on its n-th call.
func fixedClock(db *DB, t0 time.Time, step time.Duration) {
	n := 0
	db.Now = func() time.Time {
		n++
		return t0.Add(time.Duration(n) * step)
	}
}

func TestMigrationsApplyOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "berth.db")
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations embedded: %v", err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	u := mustUser(t, db, "alice")
	applied := migrationRows(t, db)
	if len(applied) != len(names) {
		t.Fatalf("schema_migrations has %d rows, want %d (%v)", len(applied), len(names), names)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening applies nothing again (re-running 0001 would fail on
	// CREATE TABLE) and keeps the data.
	for range 2 {
		db, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		again := migrationRows(t, db)
		for name, at := range applied {
			if again[name] != at {
				t.Errorf("migration %s re-recorded: applied_at %d, was %d", name, again[name], at)
			}
		}
		if len(again) != len(names) {
			t.Errorf("after reopen: %d migration rows, want %d", len(again), len(names))
		}
		if _, err := db.UserByID(ctx, u.ID); err != nil {
			t.Errorf("user lost after reopen: %v", err)
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func migrationRows(t *testing.T, db *DB) map[string]int64 {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), "SELECT name, applied_at FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var at int64
		if err := rows.Scan(&name, &at); err != nil {
			t.Fatal(err)
		}
		out[name] = at
	}
	return out
}

func TestReadPoolIsReadOnly(t *testing.T) {
	db := openTestDB(t)
	if _, err := db.read.ExecContext(context.Background(), "INSERT INTO users (id, login, created_at) VALUES ('x', 'x', 0)"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

func TestUsers(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	if len(u.ID) != 32 {
		t.Errorf("user id %q: want 32 hex characters", u.ID)
	}
	wantCode(t, "duplicate login", db.CreateUser(ctx, &User{Login: "alice"}), ECONFLICT)
	got, err := db.UserByLogin(ctx, "alice")
	if err != nil || got.ID != u.ID {
		t.Errorf("UserByLogin = %+v, %v; want id %s", got, err, u.ID)
	}
	_, err = db.UserByID(ctx, "nope")
	wantCode(t, "unknown user", err, ENOTFOUND)

	a1, err := db.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := db.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a1.ID != a2.ID || !a1.IsAdmin || a1.Login != "admin" {
		t.Errorf("EnsureAdmin: %+v then %+v; want the same admin user twice", a1, a2)
	}
}

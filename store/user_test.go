package store

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/migrations"
)

// TestBuiltinAdminIsReserved: the built-in admin is found by its mark, not
// its login; a GitHub account called admin (any case, before or after the
// built-in admin exists) gets a login of its own and is never the admin.
func TestBuiltinAdminIsReserved(t *testing.T) {
	ctx := t.Context()
	for _, order := range []string{"admin first", "github first"} {
		t.Run(order, func(t *testing.T) {
			db := openTestDB(t)
			var admin *User
			var err error
			if order == "admin first" {
				if admin, err = db.EnsureAdmin(ctx); err != nil {
					t.Fatal(err)
				}
			}
			gh, err := db.UpsertGitHubUser(ctx, 99, "admin", "Mallory")
			if err != nil {
				t.Fatal(err)
			}
			gh2, err := db.UpsertGitHubUser(ctx, 100, "ADMIN", "Eve")
			if err != nil {
				t.Fatal(err)
			}
			if admin, err = db.EnsureAdmin(ctx); err != nil {
				t.Fatal(err)
			}
			if !admin.Builtin || !admin.IsAdmin || admin.Login != "admin" || admin.GitHubID != 0 {
				t.Fatalf("built-in admin: %+v", admin)
			}
			for _, u := range []*User{gh, gh2} {
				if u.ID == admin.ID || u.Builtin || strings.EqualFold(u.Login, "admin") {
					t.Errorf("GitHub user %q: %+v, the admin is %+v", u.GitHubLogin, u, admin)
				}
			}
			if order == "admin first" && (gh.IsAdmin || gh2.IsAdmin) {
				t.Errorf("a GitHub user became admin beside the built-in one: %+v %+v", gh, gh2)
			}
			if err := db.DisableUser(ctx, admin.ID); ErrorCode(err) != EFORBIDDEN {
				t.Errorf("disable the built-in admin: %v, want forbidden", err)
			}
			if err := db.DeleteUser(ctx, admin.ID); ErrorCode(err) != EFORBIDDEN {
				t.Errorf("delete the built-in admin: %v, want forbidden", err)
			}
			again, err := db.UpsertGitHubUser(ctx, 99, "admin", "Mallory")
			if err != nil || again.ID != gh.ID || again.Login != gh.Login {
				t.Errorf("signing in again: %+v %v, want %+v", again, err, gh)
			}
		})
	}
}

// TestMigrationReservesAdmin: an instance where a GitHub account took the
// login "admin" before the admin token was set: after the migration, that
// account keeps its things under another login and the admin token gets a
// built-in admin of its own.
func TestMigrationReservesAdmin(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "berth.db")
	old, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations.FS, "000*.sql")
	for _, name := range names {
		body, _ := fs.ReadFile(migrations.FS, name)
		if _, err := old.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		old.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, 0)", name)
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO users (id, login, name, github_id, is_admin, created_at) VALUES ('gh', 'admin', 'Mallory', 99, 1, 0)`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin, err := db.EnsureAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gh, err := db.UserByID(ctx, "gh")
	if err != nil {
		t.Fatal(err)
	}
	if admin.ID == "gh" || !admin.Builtin || admin.Login != "admin" {
		t.Errorf("built-in admin: %+v", admin)
	}
	if gh.Builtin || gh.Login == "admin" || gh.GitHubLogin != "admin" {
		t.Errorf("GitHub account after the migration: %+v", gh)
	}
}

// TestDisabledUserCredentials: a disabled account's key and session are
// refused with ErrAccountDisabled; its sessions are gone; enabling lets the
// key work again.
func TestDisabledUserCredentials(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t)
	u := mustUser(t, db, "bob")
	_, key, err := db.CreateAPIKey(ctx, u.ID, "cli")
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, err := db.CreateSession(ctx, u.ID, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DisableUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByAPIKey(ctx, key); err != ErrAccountDisabled {
		t.Errorf("disabled user's key: %v", err)
	}
	if _, _, err := db.SessionByToken(ctx, cookie); ErrorCode(err) != EUNAUTHORIZED {
		t.Errorf("disabled user's session: %v", err)
	}
	if err := db.EnableUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := db.UserByAPIKey(ctx, key); err != nil || got.ID != u.ID {
		t.Errorf("enabled user's key: %v %v", got, err)
	}
	if _, _, err := db.SessionByToken(ctx, cookie); ErrorCode(err) != EUNAUTHORIZED {
		t.Errorf("a session ended by disabling came back: %v", err)
	}
}

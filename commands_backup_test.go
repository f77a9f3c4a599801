package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/store"
)

// TestBackupRestoreCommands runs berth backup and berth restore as the
// command line does: the data directory from BERTH_DATA_DIR or -data-dir.
func TestBackupRestoreCommands(t *testing.T) {
	src := t.TempDir()
	if _, err := secretbox.LoadOrCreateKey(filepath.Join(src, "secret.key")); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), filepath.Join(src, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(t.Context(), &store.User{Login: "alice"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	archive := filepath.Join(t.TempDir(), "b.tar.gz")
	var out bytes.Buffer
	if err := backupCommand([]string{archive}, env(map[string]string{"BERTH_DATA_DIR": src}), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Backed up "+src+" to "+archive) {
		t.Errorf("backup said %q", out.String())
	}
	if err := backupCommand(nil, env(nil), &out); err == nil {
		t.Error("berth backup without a target succeeded")
	}
	if err := restoreCommand([]string{archive}, env(map[string]string{"BERTH_DATA_DIR": src}), &out); err == nil ||
		!strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into the source dir: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "data")
	out.Reset()
	if err := restoreCommand([]string{"-data-dir", dst, archive}, env(map[string]string{"BERTH_DATA_DIR": src}), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Restored "+dst) {
		t.Errorf("restore said %q", out.String())
	}
	a, _ := os.ReadFile(filepath.Join(src, "secret.key"))
	b, err := os.ReadFile(filepath.Join(dst, "secret.key"))
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("restored secret.key differs (%v)", err)
	}
}

func TestBackupScheduleSettings(t *testing.T) {
	for _, bad := range []map[string]string{
		{"BERTH_BACKUP_TARGET": "/srv/backups", "BERTH_BACKUP_INTERVAL": "0s"},
		{"BERTH_BACKUP_TARGET": "/srv/backups", "BERTH_BACKUP_KEEP": "0"},
	} {
		if _, err := LoadConfig(nil, func(k string) string { return bad[k] }); err == nil || !strings.Contains(err.Error(), "BERTH_BACKUP_") {
			t.Errorf("%v: %v, want an error naming the setting", bad, err)
		}
	}
}

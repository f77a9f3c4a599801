package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDiskFull runs SQLite on a small filesystem of the test's own (a
// tmpfs) until a write fails: the failure is an error saying the disk is
// full, the database keeps answering reads, and once space is free again
// writes succeed and the file passes SQLite's integrity check.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs; skipped under -short")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs and needs root (the test suite runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { // registered first: runs after the database is closed
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// A filler to delete later, as an operator frees space.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	u := mustUser(t, db, "ann")
	p := mustProject(t, db, u.ID, "site")
	d := mustDeployment(t, db, p.ID)

	text := strings.Repeat("x", 4000)
	batch := func(from int64) EventBatch {
		var b EventBatch
		for i := range int64(20) {
			b.Lines = append(b.Lines, LogLine{DeploymentID: d.ID, Line: from + i, Stream: "stdout", Text: text, At: time.Now()})
		}
		return b
	}
	var line int64 = 1
	var full error
	for ; line < 100000; line += 20 {
		if _, err := db.WriteEvents(ctx, batch(line)); err != nil {
			full = err
			break
		}
	}
	if full == nil {
		t.Fatal("3 MB of tmpfs never filled up")
	}
	if !strings.Contains(full.Error(), "full") {
		t.Errorf("write on a full disk: %v; want SQLite's 'database or disk is full'", full)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("ping on a full disk: %v", err)
	}
	c, err := db.LogCursor(ctx, d.ID)
	if err != nil || c.Line != line-1 {
		t.Errorf("log cursor on a full disk: %+v, %v; want the last committed line %d (the failed batch rolled back)", c, err, line-1)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteEvents(ctx, batch(line)); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	var check string
	if err := db.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check: %q, %v", check, err)
	}
	if c, _ := db.LogCursor(ctx, d.ID); c.Line != line+19 {
		t.Errorf("log cursor after: %d, want %d", c.Line, line+19)
	}
}

package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// testData makes a data directory as berth serve leaves it: a database
// with a user, a project and a deployment whose event sequence is set,
// the secret key, the instance id, a local artifact and what a backup
// leaves out (the JetStream store, caches).
func testData(t *testing.T) (dir, deploymentID string) {
	t.Helper()
	dir = t.TempDir()
	ctx := t.Context()
	if _, err := secretbox.LoadOrCreateKey(filepath.Join(dir, keyFile)); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, instanceFile), "0123abcd\n")
	write(t, filepath.Join(dir, filepath.FromSlash(workerFile)), "a-worker-password-of-the-listener\n")
	if _, err := secretbox.LoadOrCreateKey(filepath.Join(dir, workerKeyFile)); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "artifacts", "deployments", "d1", "files", "index.html"), "<h1>hello</h1>")
	write(t, filepath.Join(dir, "artifacts", "deployments", "d1", "files", ".berth-tmp-123"), "half")
	write(t, filepath.Join(dir, "jetstream", "stream.dat"), "queue")
	write(t, filepath.Join(dir, "cache", "ab", "cd"), "cached")
	db, err := store.Open(ctx, filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := &store.User{Login: "alice", Name: "Alice"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p := &store.Project{OwnerID: u.ID, Name: "site", GitURL: "https://example.com/site.git"}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	d := &store.Deployment{ProjectID: p.ID, Ref: "main", Branch: "main", Trigger: model.TriggerAPI}
	if err := db.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteEvents(ctx, store.EventBatch{Seqs: map[string]uint64{d.ID: 4242}}); err != nil {
		t.Fatal(err)
	}
	return dir, d.ID
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// entries lists an archive's entries with their modes, in order.
func entries(t *testing.T, archive []byte) (names []string, modes map[string]int64, manifest Manifest) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	modes = map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		modes[h.Name] = h.Mode
		if h.Name == ManifestName {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	return names, modes, manifest
}

func TestArchiveContents(t *testing.T) {
	dir, _ := testData(t)
	for _, withArtifacts := range []bool{false, true} {
		var buf bytes.Buffer
		m, err := Create(t.Context(), &buf, Source{DataDir: dir, BerthVersion: "v9", Artifacts: withArtifacts})
		if err != nil {
			t.Fatal(err)
		}
		names, modes, got := entries(t, buf.Bytes())
		want := []string{dbFile, keyFile, instanceFile, workerFile, workerKeyFile}
		if withArtifacts {
			want = append(want, "artifacts/deployments/d1/files/index.html")
		}
		want = append(want, ManifestName)
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("artifacts %v: entries %v, want %v", withArtifacts, names, want)
		}
		for name, mode := range modes {
			if mode != 0o600 {
				t.Errorf("%s has mode %o, want 600", name, mode)
			}
		}
		if got.Format != Format || got.BerthVersion != "v9" || got.Schema == "" || !strings.HasSuffix(got.Schema, ".sql") ||
			got.Artifacts != withArtifacts || time.Since(got.CreatedAt) > time.Minute || len(got.Files) != len(want)-1 {
			t.Errorf("manifest %+v", got)
		}
		if m.Schema != got.Schema {
			t.Errorf("Create returned schema %q, the archive says %q", m.Schema, got.Schema)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".backup-*")); len(left) > 0 {
			t.Errorf("work files left in the data dir: %v", left)
		}
	}
}

func TestRestore(t *testing.T) {
	src, deploymentID := testData(t)
	var buf bytes.Buffer
	if _, err := Create(t.Context(), &buf, Source{DataDir: src, BerthVersion: "v9", Artifacts: true}); err != nil {
		t.Fatal(err)
	}
	archive := buf.Bytes()

	t.Run("missing dir", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "new", "data")
		m, err := Restore(t.Context(), bytes.NewReader(archive), dst)
		if err != nil {
			t.Fatal(err)
		}
		if m.BerthVersion != "v9" {
			t.Errorf("manifest %+v", m)
		}
		for _, name := range []string{keyFile, instanceFile, workerFile, workerKeyFile, "artifacts/deployments/d1/files/index.html"} {
			a, _ := os.ReadFile(filepath.Join(src, name))
			b, err := os.ReadFile(filepath.Join(dst, name))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s restored as %q (%v), want %q", name, b, err, a)
			}
		}
		if info, err := os.Stat(filepath.Join(dst, keyFile)); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("secret.key: %v %v", info.Mode(), err)
		}
		all, _ := os.ReadDir(dst)
		var names []string
		for _, e := range all {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "artifacts berth.db instance-id nats secret.key worker.key" {
			t.Errorf("the restored data dir holds %v", names)
		}
		db, err := store.Open(t.Context(), filepath.Join(dst, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		d, err := db.DeploymentByID(t.Context(), deploymentID)
		if err != nil {
			t.Fatalf("the deployment is not in the restored database: %v", err)
		}
		cur, err := db.LogCursor(t.Context(), d.ID)
		if err != nil || cur.EventSeq != 0 {
			t.Errorf("restored event sequence %d (%v), want 0: the new event stream starts again", cur.EventSeq, err)
		}
	})

	t.Run("empty dir", func(t *testing.T) {
		dst := t.TempDir()
		if _, err := Restore(t.Context(), bytes.NewReader(archive), dst); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dst, dbFile)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("non-empty dir refused", func(t *testing.T) {
		dst := t.TempDir()
		write(t, filepath.Join(dst, "berth.db"), "mine")
		_, err := Restore(t.Context(), bytes.NewReader(archive), dst)
		if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("restore into a non-empty dir: %v", err)
		}
		all, _ := os.ReadDir(dst)
		if b, _ := os.ReadFile(filepath.Join(dst, "berth.db")); len(all) != 1 || string(b) != "mine" {
			t.Fatalf("the data dir changed: %d entries, berth.db %q", len(all), b)
		}
	})

	damaged := func(f func([]byte) []byte) []byte { return f(bytes.Clone(archive)) }
	raw := func() []byte { // the tar inside, to damage it below gzip's checksum
		gz, _ := gzip.NewReader(bytes.NewReader(archive))
		b, _ := io.ReadAll(gz)
		return b
	}()
	regzip := func(b []byte) []byte {
		var out bytes.Buffer
		gz := gzip.NewWriter(&out)
		gz.Write(b)
		gz.Close()
		return out.Bytes()
	}
	for _, tc := range []struct {
		name, want string
		archive    []byte
	}{
		{"cut short", "damaged or cut short", archive[:len(archive)/2]},
		{"byte flipped", "damaged", damaged(func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })},
		{"not gzip", "not a berth backup", []byte("hello, this is not an archive")},
		{"file changed under the manifest", "does not match the manifest", regzip(bytes.Replace(raw, []byte("<h1>hello</h1>"), []byte("<h1>HELLO</h1>"), 1))},
		{"no manifest", "no manifest", regzip(raw[:bytes.LastIndex(raw, []byte(ManifestName))-345])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "data")
			_, err := Restore(t.Context(), bytes.NewReader(tc.archive), dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the missing data dir was left behind (%v)", err)
			}
			empty := t.TempDir()
			if _, err := Restore(t.Context(), bytes.NewReader(tc.archive), empty); err == nil {
				t.Fatal("second restore succeeded")
			}
			if all, _ := os.ReadDir(empty); len(all) != 0 {
				t.Errorf("the empty data dir now holds %d entries", len(all))
			}
		})
	}
}

// TestBackupBesideWriter snapshots the database while another connection
// writes to it in a loop, as a running berth does: every snapshot is a
// whole database with every row committed before it began.
func TestBackupBesideWriter(t *testing.T) {
	dir, _ := testData(t)
	db, err := store.Open(t.Context(), filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	made := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.CreateUser(t.Context(), &store.User{Login: "u" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + time.Now().Format("150405.000000000")}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			made++
			mu.Unlock()
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for i := range 5 {
		mu.Lock()
		before := made
		mu.Unlock()
		dst := filepath.Join(t.TempDir(), "snap.db")
		if _, err := store.Snapshot(t.Context(), filepath.Join(dir, dbFile), dst); err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		conn, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		var ok string
		var users int
		conn.QueryRow("PRAGMA integrity_check").Scan(&ok)
		conn.QueryRow("SELECT count(*) FROM users").Scan(&users)
		conn.Close()
		if ok != "ok" || users < before+1 { // alice and every user made before
			t.Fatalf("snapshot %d: integrity %q, %d users, want at least %d", i, ok, users, before+1)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir, _ := testData(t)
	target := filepath.Join(t.TempDir(), "b.tar.gz")
	if _, err := Write(t.Context(), target, S3Config{}, Source{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(target)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 600", info.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".*")); len(left) > 0 {
		t.Errorf("temporary files left beside the backup: %v", left)
	}
	if _, err := Write(t.Context(), target, S3Config{}, Source{DataDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "holds no berth data") {
		t.Errorf("backup of an empty dir: %v", err)
	}
	if _, err := Write(t.Context(), "s3://bucket/key", S3Config{}, Source{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "BERTH_S3_ENDPOINT") {
		t.Errorf("s3 target without S3 settings: %v", err)
	}
}

func TestScheduleKeepsTheNewest(t *testing.T) {
	dir, _ := testData(t)
	target := filepath.Join(t.TempDir(), "backups")
	s := Schedule{Target: target, Keep: 2, Source: Source{DataDir: dir}}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 4 {
		if _, err := s.Once(t.Context(), start.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := filepath.Glob(filepath.Join(target, "*"))
	want := []string{filepath.Join(target, "berth-backup-20260102T050405Z.tar.gz"), filepath.Join(target, "berth-backup-20260102T060405Z.tar.gz")}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

// TestStaleWorkFilesRemoved: a backup killed half way leaves its work
// directory; the next backup removes it once it is a day old.
func TestStaleWorkFilesRemoved(t *testing.T) {
	dir, _ := testData(t)
	old := filepath.Join(dir, ".backup-123")
	fresh := filepath.Join(dir, ".backup-456")
	write(t, filepath.Join(old, dbFile), "half")
	write(t, filepath.Join(fresh, dbFile), "under way")
	long := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(t.Context(), io.Discard, Source{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the day-old work dir is still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a work dir of a backup under way was removed: %v", err)
	}
}

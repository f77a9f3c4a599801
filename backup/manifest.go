// Package backup writes and restores snapshots of a berth data directory:
// the SQLite database (copied with VACUUM INTO while berth runs), the
// secret key that opens sealed env vars and tokens, the instance id, the
// NATS listener's worker password, the worker key and,
// when asked, the local artifact directory, in one tar.gz with a
// manifest. Targets are local files or S3 keys.
package backup

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Format is the archive layout version this code writes and reads.
const Format = 1

// ManifestName is the manifest's name in the archive, its last entry.
const ManifestName = "manifest.json"

// The files of a data directory a backup holds. The JetStream store,
// caches and work directories are left out: a restored berth starts with
// an empty build queue, and recovery at start settles unfinished builds.
const (
	dbFile       = "berth.db"
	keyFile      = "secret.key"
	instanceFile = "instance-id"
	// workerFile is the NATS listener's worker password: remote workers
	// keep theirs working against a restored berth.
	workerFile = "nats/worker.password"
	// workerKeyFile seals build jobs' secrets; workers hold a copy.
	workerKeyFile = "worker.key"
	artifactsDir  = "artifacts"
)

// Manifest describes one backup.
type Manifest struct {
	Format       int       `json:"format"`
	CreatedAt    time.Time `json:"created_at"`
	BerthVersion string    `json:"berth_version"`
	// Schema is the newest migration the database holds.
	Schema    string `json:"schema"`
	Artifacts bool   `json:"artifacts"` // the local artifact directory is included
	Files     []File `json:"files"`
}

// File is one archived file with its size and SHA-256, checked on restore.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// allowedName reports whether name may appear in an archive: one of the
// data directory's files, or a clean relative path under artifacts/.
func allowedName(name string) bool {
	switch name {
	case dbFile, keyFile, instanceFile, workerFile, workerKeyFile, ManifestName:
		return true
	}
	rest, ok := strings.CutPrefix(name, artifactsDir+"/")
	return ok && rest != "" && path.Clean(name) == name && !strings.Contains(name, "\\") &&
		!strings.HasPrefix(rest, "../") && rest != ".."
}

func (m *Manifest) check() error {
	if m.Format != Format {
		return fmt.Errorf("the archive has format %d; this berth reads format %d", m.Format, Format)
	}
	have := map[string]bool{}
	for _, f := range m.Files {
		have[f.Name] = true
	}
	for _, need := range []string{dbFile, keyFile} {
		if !have[need] {
			return fmt.Errorf("the archive lacks %s", need)
		}
	}
	return nil
}

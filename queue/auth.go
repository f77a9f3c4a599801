package queue

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"
)

// Users of the embedded server. Every client authenticates, the in-process
// one too, so no connection is anonymous.
const (
	// UserBerth is berth's own in-process connection: everything. Its
	// password is made afresh at every start and never leaves the process.
	UserBerth = "berth"
	// UserWorker is for build workers on other hosts: take build jobs,
	// publish deployment events, hear cancellations; nothing else.
	UserWorker = "worker"
)

// WorkerPasswordFile, under Config.AuthDir, holds the worker user's
// password in clear (mode 0600) for the operator to give to workers.
const WorkerPasswordFile = "worker.password"

// berthInboxPrefix keeps the replies berth itself receives (the jobs its
// builders take, the stored events it reads) off the _INBOX subjects a
// worker may subscribe to.
const berthInboxPrefix = "_BERTH_INBOX"

// workerPermissions lets a worker do what a builder does through Client:
// open and pull the builders consumers of BUILDS (one per label set),
// settle its own deliveries, publish events and heartbeats, hear
// cancellations. It cannot publish jobs or cancels, touch any other stream
// or consumer through the JetStream API, nor subscribe to job, event or
// berth's own reply subjects.
func workerPermissions() *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.INFO", // Ping: account totals only
			"$JS.API.CONSUMER.INFO." + StreamBuilds + ".*",
			"$JS.API.CONSUMER.MSG.NEXT." + StreamBuilds + ".*",
			"$JS.ACK." + StreamBuilds + ".>",
			SubjectEvents + ">",
			SubjectWorkers + "*",
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			"_INBOX.>",
			SubjectCancel + "*",
		}},
	}
}

// users returns the server's users: berth with berthPassword, and, when the
// listener is on, worker with the bcrypt hash of its stored password.
func users(cfg Config, berthPassword string, log *slog.Logger) ([]*server.User, error) {
	out := []*server.User{{Username: UserBerth, Password: berthPassword}}
	if cfg.Listen == "" {
		return out, nil
	}
	if cfg.AuthDir == "" {
		return nil, errors.New("nats listener: no directory for its credentials")
	}
	pw, err := workerPassword(cfg.AuthDir, log)
	if err != nil {
		return nil, err
	}
	// The password is generated as 32 random bytes, so a slow hash adds nothing
	// against guessing; it would only slow every worker's CONNECT, and on a
	// busy machine past the server's first PING, which clients take for a
	// broken handshake.
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("hash worker password: %w", err)
	}
	return append(out, &server.User{Username: UserWorker, Password: string(hash), Permissions: workerPermissions()}), nil
}

// workerPassword reads the worker user's password from dir, generating it
// on first use. The log says where it is, once; never what it is.
func workerPassword(dir string, log *slog.Logger) (string, error) {
	path := filepath.Join(dir, WorkerPasswordFile)
	b, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(b))
		if len(pw) < 16 {
			return "", fmt.Errorf("read worker password: %s holds fewer than 16 characters", path)
		}
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read worker password: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create nats credentials dir: %w", err)
	}
	pw := randomSecret()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create worker password: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write worker password: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write worker password: %w", err)
	}
	log.Info("nats listener: generated the password of its worker user", slog.String("user", UserWorker), slog.String("file", path))
	return pw, nil
}

// randomSecret is 32 random bytes, base64url.
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

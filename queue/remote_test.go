package queue

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startExternal runs a NATS server of the test's own on loopback, as an
// operator would: JetStream, the berth user with every permission and the
// worker user with the workers' permissions.
func startExternal(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: UserBerth, Password: "berth-password"},
			{Username: UserWorker, Password: "worker-password", Permissions: workerPermissions()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(time.Minute) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(srv.Shutdown)
	return "nats://" + srv.Addr().String()
}

// berth serve on an external server declares the streams there (one
// replica on a single server) and a worker that dialled it with the
// worker's credentials takes a labelled job and publishes its events; a
// wrong password is refused at once, not retried forever.
func TestDialExternalServer(t *testing.T) {
	url := startExternal(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := t.Context()
	q, err := Dial(ctx, Remote{URLs: []string{url}, User: UserBerth, Password: "berth-password"}, 0, time.Minute, log)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.cfg.Replicas != 1 {
		t.Errorf("replicas on one server = %d, want 1", q.cfg.Replicas)
	}
	if err := q.Client().PublishJob(ctx, BuildJob{DeploymentID: "ext1", Labels: []string{"big"}}); err != nil {
		t.Fatal(err)
	}
	w, closeWorker, err := DialWorker(ctx, Remote{URLs: []string{url}, User: UserWorker, Password: "worker-password"}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeWorker()
	jobs, err := w.Jobs(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobs.Next(ctx)
	if err != nil || job.DeploymentID != "ext1" {
		t.Fatalf("worker took %v, %v; want ext1", job, err)
	}
	if err := w.PublishEvent(ctx, Event{DeploymentID: "ext1", Kind: KindState, State: "building"}); err != nil {
		t.Fatal(err)
	}
	if err := job.Ack(); err != nil {
		t.Fatal(err)
	}
	evs, err := q.Client().Events(ctx, "ext1")
	if err != nil || len(evs) != 1 || evs[0].State != "building" {
		t.Fatalf("events %v, %v", evs, err)
	}

	short, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, _, err = DialWorker(short, Remote{URLs: []string{url}, User: UserWorker, Password: "wrong"}, log)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("wrong password: %v", err)
	}
	if short.Err() != nil {
		t.Fatal("a wrong password was retried until the deadline")
	}
}

// A worker trusts the cluster's certificate through its CA file; without it
// the handshake fails and the worker never connects.
func TestDialWorkerOverTLS(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir)
	q, url := startListening(t, Config{TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")})
	pw := workerPasswordOf(t, q)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tlsURL := strings.Replace(url, "nats://", "tls://", 1)
	c, closeWorker, err := DialWorker(t.Context(), Remote{URLs: []string{tlsURL}, User: UserWorker, Password: pw,
		CAFile: filepath.Join(dir, "cert.pem")}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer closeWorker()
	if !c.nc.TLSRequired() {
		t.Error("the worker's connection is not TLS")
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, _, err := DialWorker(short, Remote{URLs: []string{tlsURL}, User: UserWorker, Password: pw}, log); err == nil {
		t.Fatal("a worker that does not trust the certificate connected")
	}
}

package queue

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// startListening starts a queue whose listener is on a free loopback port
// and returns it with the listener's nats:// URL.
func startListening(t *testing.T, cfg Config) (*Queue, string) {
	t.Helper()
	cfg.Dir, cfg.Listen, cfg.BuildAckWait = t.TempDir(), "127.0.0.1:0", time.Minute
	if cfg.AuthDir == "" {
		cfg.AuthDir = t.TempDir()
	}
	q, err := Start(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q, "nats://" + q.srv.Addr().String()
}

func workerPasswordOf(t *testing.T, q *Queue) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(q.cfg.AuthDir, WorkerPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// connect dials the listener once, without retries, and closes the
// connection with the test.
func connect(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, error) {
	t.Helper()
	nc, err := nats.Connect(url, append(opts, nats.NoReconnect(), nats.Timeout(time.Minute))...)
	if err == nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

// The listener refuses anonymous clients and wrong passwords, takes the
// worker's generated password (kept 0600, the same across restarts), and
// berth's own in-process connection works beside it.
func TestListenerRequiresCredentials(t *testing.T) {
	authDir := t.TempDir()
	var logged strings.Builder
	cfg := Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", AuthDir: authDir, BuildAckWait: time.Minute}
	q, err := Start(t.Context(), cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + q.srv.Addr().String()
	pw := workerPasswordOf(t, q)
	fi, err := os.Stat(filepath.Join(authDir, WorkerPasswordFile))
	if err != nil || fi.Mode().Perm() != 0o600 || len(pw) < 32 {
		t.Fatalf("worker password file: %v, mode %v, %d characters", err, fi.Mode(), len(pw))
	}
	if !strings.Contains(logged.String(), filepath.Join(authDir, WorkerPasswordFile)) || strings.Contains(logged.String(), pw) {
		t.Fatalf("the first start should log where the password is, never the password:\n%s", logged.String())
	}

	if _, err := connect(t, url); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous client: %v, want an authorization violation", err)
	}
	if _, err := connect(t, url, nats.UserInfo(UserWorker, pw+"x")); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("wrong password: %v, want an authorization violation", err)
	}
	if _, err := connect(t, url, nats.UserInfo(UserBerth, pw)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("the berth user with the worker's password: %v, want an authorization violation", err)
	}
	if _, err := connect(t, url, nats.UserInfo(UserWorker, pw)); err != nil {
		t.Errorf("the worker's credentials: %v", err)
	}
	// berth's own connection: a job goes in and comes out, an event comes back.
	c, ctx := q.Client(), t.Context()
	if err := c.PublishJob(ctx, BuildJob{DeploymentID: "own"}); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobs.Next(ctx)
	if err != nil || job.DeploymentID != "own" {
		t.Fatalf("in-process job: %+v, %v", job, err)
	}
	job.Ack()
	if err := c.PublishEvent(ctx, Event{DeploymentID: "own", Kind: KindState, State: "ready"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Delivery, 1)
	stop, err := c.ConsumeEvents(ctx, 16, func(d *Delivery) { d.Ack(); got <- d })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.Err != nil || d.State != "ready" {
			t.Fatalf("in-process event %+v", d)
		}
	case <-time.After(time.Minute):
		t.Fatal("berth's own consumer got no event within a minute")
	}
	stop()
	q.Close()

	// A restart keeps the password and does not log it again.
	logged.Reset()
	cfg.Dir = t.TempDir()
	q, err = Start(t.Context(), cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	if workerPasswordOf(t, q) != pw || strings.Contains(logged.String(), WorkerPasswordFile) {
		t.Fatalf("restart changed or re-announced the password:\n%s", logged.String())
	}
	if _, err := connect(t, "nats://"+q.srv.Addr().String(), nats.UserInfo(UserWorker, pw)); err != nil {
		t.Errorf("the worker's credentials after a restart: %v", err)
	}
}

// With a certificate the listener requires TLS: a plain-text client gets no
// answer, a client that does not trust the certificate fails, and one
// trusting its CA, with the credentials, connects.
func TestListenerRequiresTLSWhenConfigured(t *testing.T) {
	dir := t.TempDir()
	pool := writeCert(t, dir)
	q, url := startListening(t, Config{TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")})
	pw := workerPasswordOf(t, q)

	// Plain text, with the right credentials, by hand: the server wants a
	// TLS handshake and never answers the PING.
	conn, err := net.DialTimeout("tcp", q.srv.Addr().String(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.Contains(info, `"tls_required":true`) {
		t.Fatalf("INFO %q, %v; want tls_required", info, err)
	}
	io.WriteString(conn, `CONNECT {"verbose":false,"user":"worker","pass":"`+pw+`"}`+"\r\nPING\r\n")
	if rest, _ := io.ReadAll(r); strings.Contains(string(rest), "PONG") {
		t.Fatalf("a plain-text client was answered: %q", rest)
	}

	if _, err := connect(t, url, nats.UserInfo(UserWorker, pw)); err == nil {
		t.Error("a client not trusting the certificate connected")
	}
	if _, err := connect(t, url, nats.UserInfo(UserWorker, pw+"x"), nats.Secure(&tls.Config{RootCAs: pool})); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("TLS with a wrong password: %v, want an authorization violation", err)
	}
	nc, err := connect(t, url, nats.UserInfo(UserWorker, pw), nats.Secure(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	// berth's in-process connection needs no TLS.
	if err := q.Client().PublishJob(t.Context(), BuildJob{DeploymentID: "tls"}); err != nil {
		t.Fatal(err)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// dir (cert.pem, key.pem) and returns a pool trusting it.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "berth nats test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

// violations collects the permission errors the server sends a connection.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.errs = append(v.errs, err.Error())
		v.mu.Unlock()
	}
}

// waitFor waits until the server has refused a publish to subject.
func (v *violations) waitPublish(t *testing.T, subject string) {
	t.Helper()
	waitFor(t, "permissions violation for publish to "+subject, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, e := range v.errs {
			if strings.Contains(e, `Publish to "`+subject+`"`) {
				return true
			}
		}
		return false
	})
}

// A worker's credentials take jobs and publish events, and nothing more:
// they cannot publish a job or a cancellation, reach another stream
// through the JetStream API, nor subscribe to jobs, events or berth's own
// replies.
func TestWorkerCredentialsAreLimited(t *testing.T) {
	q, url := startListening(t, Config{})
	berth, ctx := q.Client(), t.Context()
	v := &violations{}
	nc, err := connect(t, url, nats.UserInfo(UserWorker, workerPasswordOf(t, q)), nats.ErrorHandler(v.handler), nats.PermissionErrOnSubscribe(true))
	if err != nil {
		t.Fatal(err)
	}
	worker, err := newClient(nc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}

	// What a worker is for: take a job, report on it, ack it, hear a cancel.
	if err := berth.PublishJob(ctx, BuildJob{DeploymentID: "w1", GitURL: "https://example.invalid/r.git"}); err != nil {
		t.Fatal(err)
	}
	if err := worker.Ping(ctx); err != nil {
		t.Errorf("worker ping: %v", err)
	}
	jobs, err := worker.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job, err := jobs.Next(ctx)
	if err != nil || job.DeploymentID != "w1" {
		t.Fatalf("worker took %+v, %v; want w1", job, err)
	}
	if err := worker.PublishEvent(ctx, Event{DeploymentID: "w1", Kind: KindState, State: "building", Attempt: job.Attempt}); err != nil {
		t.Fatalf("worker event: %v", err)
	}
	if err := job.Ack(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker's ack", func() bool {
		pending, err := berth.JobPending(ctx, "w1")
		return err == nil && !pending
	})
	if evs, err := berth.Events(ctx, "w1"); err != nil || len(evs) != 1 || evs[0].State != "building" {
		t.Fatalf("events stored from the worker: %+v, %v", evs, err)
	}
	cancels := make(chan string, 1)
	stopCancels, err := worker.OnCancel(func(id string) { cancels <- id })
	if err != nil {
		t.Fatal(err)
	}
	defer stopCancels()
	if err := berth.PublishCancel("w1"); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-cancels:
		if id != "w1" {
			t.Fatalf("cancel for %q", id)
		}
	case <-time.After(time.Minute):
		t.Fatal("the worker heard no cancellation within a minute")
	}

	// Replies to berth's own requests do not reach the inboxes a worker may
	// read: here berth takes a job and reads a deployment's events while
	// the worker listens on every _INBOX subject.
	inboxes, err := nc.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := berth.PublishJob(ctx, BuildJob{DeploymentID: "w2", GitURL: "https://example.invalid/secret.git"}); err != nil {
		t.Fatal(err)
	}
	ownJobs, err := berth.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if job, err := ownJobs.Next(ctx); err != nil || job.DeploymentID != "w2" {
		t.Fatalf("berth took %+v, %v; want w2", job, err)
	} else {
		job.Ack()
	}
	if evs, err := berth.Events(ctx, "w1"); err != nil || len(evs) != 1 {
		t.Fatalf("berth read %+v, %v", evs, err)
	}
	// Anything the server sent the worker before this round trip has
	// arrived by its end.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := inboxes.Pending(); n != 0 {
		msg, _ := inboxes.NextMsg(0)
		t.Fatalf("the worker read %d of berth's replies, such as %s: %s", n, msg.Subject, msg.Data)
	}

	// What it is not for. Publishing a job, directly or through the
	// JetStream API, and a cancellation are refused by the server.
	for _, subject := range []string{SubjectBuildJobs + "evil", "$JS.API.STREAM.MSG.GET." + StreamEvents,
		"$JS.API.CONSUMER.MSG.NEXT." + StreamEvents + "." + ConsumerStore, "$JS.API.STREAM.PURGE." + StreamBuilds, SubjectCancel + "w1"} {
		if err := nc.PublishRequest(subject, nc.NewInbox(), []byte(`{"deployment_id":"evil"}`)); err != nil {
			t.Fatal(err)
		}
		v.waitPublish(t, subject)
	}
	if pending, err := berth.JobPending(ctx, "evil"); err != nil || pending {
		t.Errorf("the worker's job is queued: %v, %v", pending, err)
	}
	// Subscribing to jobs, events or berth's replies is refused.
	for _, subject := range []string{SubjectBuildJobs + ">", SubjectEvents + ">", berthInboxPrefix + ".>", ">"} {
		sub, err := nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		if msg, err := sub.NextMsg(time.Minute); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("subscribe to %s: message %v, error %v; want a permissions violation", subject, msg, err)
		}
	}
}

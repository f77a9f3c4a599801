package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Remote is a connection to NATS servers berth does not run itself: a
// JetStream cluster that berth serve uses instead of its embedded server,
// or the server a build worker takes jobs from.
type Remote struct {
	// URLs are the seed servers (nats://host:port or tls://host:port); the
	// client learns the rest of the cluster from them.
	URLs []string
	// User and Password, or CredsFile (a .creds file: JWT and NKey seed).
	User, Password string
	CredsFile      string
	// CAFile, a PEM file, is trusted for the servers' TLS certificates and
	// makes TLS required.
	CAFile string
	// Name is the client's name in the servers' monitoring.
	Name string
}

// dial connects with reconnects forever: a node that goes away is replaced
// by another of the cluster, and a cluster that restarts is found again.
func (r Remote) dial(ctx context.Context, inboxPrefix string, log *slog.Logger) (*nats.Conn, error) {
	if len(r.URLs) == 0 {
		return nil, errors.New("connect to nats: no server URL")
	}
	opts := []nats.Option{
		nats.Name(r.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", slog.Any("error", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats: reconnected", slog.String("server", nc.ConnectedUrlRedacted()))
		}),
	}
	if inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(inboxPrefix))
	}
	switch {
	case r.CredsFile != "" && r.User != "":
		return nil, errors.New("connect to nats: give a user and password or a credentials file, not both")
	case r.CredsFile != "":
		if _, err := os.Stat(r.CredsFile); err != nil {
			return nil, fmt.Errorf("read nats credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(r.CredsFile))
	case r.User != "":
		opts = append(opts, nats.UserInfo(r.User, r.Password))
	}
	if r.CAFile != "" {
		opts = append(opts, nats.RootCAs(r.CAFile))
	}
	// The first connection is tried for as long as ctx allows, so a worker
	// started before the cluster is up waits for it.
	for {
		nc, err := nats.Connect(strings.Join(r.URLs, ","), opts...)
		if err == nil {
			return nc, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			return nil, fmt.Errorf("connect to nats: the servers refused the credentials: %w", err)
		}
		log.Warn("connect to nats: trying again", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to nats at %s: %w", strings.Join(r.URLs, ","), err)
		case <-time.After(2 * time.Second):
		}
	}
}

// Dial connects berth serve to an external NATS cluster and declares the
// streams there, replicated replicas times (0: three when the cluster has
// three or more servers, else one).
func Dial(ctx context.Context, r Remote, replicas int, buildAckWait time.Duration, log *slog.Logger) (*Queue, error) {
	if buildAckWait == 0 {
		buildAckWait = 30 * time.Second
	}
	if r.Name == "" {
		r.Name = "berth"
	}
	nc, err := r.dial(ctx, berthInboxPrefix, log)
	if err != nil {
		return nil, err
	}
	q := &Queue{nc: nc, log: log, cfg: Config{BuildAckWait: buildAckWait}}
	if q.client, err = newClient(nc, log); err != nil {
		q.Close()
		return nil, err
	}
	q.client.ackWait = buildAckWait
	if replicas <= 0 {
		replicas = 1
		if len(nc.Servers()) >= 3 {
			replicas = 3
		}
	}
	q.cfg.Replicas = replicas
	// A cluster that is still electing its JetStream leader refuses API
	// calls for a moment: try again while ctx allows.
	for {
		err = declare(ctx, q.client.js, q.cfg)
		if err == nil {
			break
		}
		log.Warn("declare streams: trying again", slog.Any("error", err))
		select {
		case <-ctx.Done():
			q.Close()
			return nil, err
		case <-time.After(time.Second):
		}
	}
	log.Info("nats: using an external cluster", slog.String("server", nc.ConnectedUrlRedacted()),
		slog.Int("servers", len(nc.Servers())), slog.Int("replicas", replicas))
	return q, nil
}

// DialWorker connects a build worker. It declares nothing: a worker's
// credentials may only use what berth serve declared.
func DialWorker(ctx context.Context, r Remote, log *slog.Logger) (*Client, func(), error) {
	if r.Name == "" {
		r.Name = "berth-worker"
	}
	nc, err := r.dial(ctx, "", log)
	if err != nil {
		return nil, nil, err
	}
	c, err := newClient(nc, log)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return c, nc.Close, nil
}

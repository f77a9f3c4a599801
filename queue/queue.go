// Package queue runs berth's embedded NATS server with JetStream: the durable
// build queue and the per-deployment event log. It also defines the subjects
// and the typed messages that travel on them.
package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures the embedded server.
type Config struct {
	// Dir is the JetStream file store directory.
	Dir string
	// Listen, when set ("127.0.0.1:4222"), also accepts TCP clients (remote
	// workers); empty keeps NATS in-process only. Port 0 picks a free one.
	Listen string
	// AuthDir keeps the listener's credentials (WorkerPasswordFile); it is
	// created on the first start with Listen set.
	AuthDir string
	// TLSCert and TLSKey, PEM files, make the listener require TLS.
	TLSCert, TLSKey string
	// BuildAckWait is how long a build may go without a heartbeat before
	// JetStream redelivers it.
	BuildAckWait time.Duration
	// Replicas of each stream: 1 on the embedded server, 3 on a cluster of
	// three or more (Dial).
	Replicas int
}

// Queue is the running server and berth's in-process connection to it.
type Queue struct {
	srv    *server.Server
	nc     *nats.Conn
	client *Client
	log    *slog.Logger
	cfg    Config
}

// Start starts the embedded server, connects in-process and declares the
// streams. Close undoes it, also when Start fails half way.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Queue, error) {
	if cfg.BuildAckWait == 0 {
		cfg.BuildAckWait = 30 * time.Second
	}
	opts := &server.Options{
		ServerName:         "berth",
		JetStream:          true,
		StoreDir:           cfg.Dir,
		NoSigs:             true,
		NoLog:              true,
		DontListen:         cfg.Listen == "",
		JetStreamMaxMemory: 64 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("parse nats listen address: %w", err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("parse nats listen port: %w", err)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
		if cfg.TLSCert != "" || cfg.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("load nats listener certificate: %w", err)
			}
			opts.TLS = true
			opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			opts.TLSTimeout = 5
		}
	}
	// The in-process connection authenticates like any other; its password
	// lives only in this process.
	berthPassword := randomSecret()
	var err error
	if opts.Users, err = users(cfg, berthPassword, log); err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create nats server: %w", err)
	}
	q := &Queue{srv: srv, log: log, cfg: cfg}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		q.Close()
		return nil, errors.New("start nats server: not ready after 30s")
	}
	q.nc, err = nats.Connect("", nats.InProcessServer(srv), nats.Name("berth"), nats.MaxReconnects(-1),
		nats.UserInfo(UserBerth, berthPassword), nats.CustomInboxPrefix(berthInboxPrefix))
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if q.client, err = newClient(q.nc, log); err != nil {
		q.Close()
		return nil, err
	}
	q.client.ackWait = cfg.BuildAckWait
	if err := declare(ctx, q.client.js, cfg); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// Close drains the connection and shuts the server down.
func (q *Queue) Close() {
	if q.nc != nil {
		q.nc.Close()
	}
	if q.srv != nil {
		q.srv.Shutdown()
		q.srv.WaitForShutdown()
	}
}

// Client is berth's in-process client of the embedded server.
func (q *Queue) Client() *Client { return q.client }

// Ping reports whether the server and JetStream answer.
func (q *Queue) Ping(ctx context.Context) error { return q.client.Ping(ctx) }

// EventsMaxBytes bounds the EVENTS stream on disk.
const EventsMaxBytes = 2 << 30

// declare creates or updates the streams and durable consumers.
func declare(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamBuilds,
		Description: "build jobs, one per deployment, removed when a worker acks",
		Subjects:    []string{SubjectBuildJobs + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  time.Hour,
		Replicas:    max(cfg.Replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("declare builds stream: %w", err)
	}
	if err := declareBuilders(ctx, js, nil, cfg.BuildAckWait); err != nil {
		return err
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamEvents,
		Description: "per-deployment logs and state changes, in order",
		Subjects:    []string{SubjectEvents + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      7 * 24 * time.Hour,
		// Applied events are only kept for redelivery after a crash:
		// bound the stream, and any one event (builders split lines at
		// 64 KiB), so no build can fill the disk through its log.
		MaxBytes:   EventsMaxBytes,
		MaxMsgSize: 256 << 10,
		Discard:    jetstream.DiscardOld,
		Replicas:   max(cfg.Replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("declare events stream: %w", err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, StreamEvents, jetstream.ConsumerConfig{
		Durable:       ConsumerStore,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 8192,
	})
	if err != nil {
		return fmt.Errorf("declare store consumer: %w", err)
	}
	return nil
}

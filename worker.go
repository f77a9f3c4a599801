package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/builder"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// workerOptions are the settings of berth serve that berth worker reads
// (same flags, same BERTH_* variables): where it finds the queue and the
// artifact store, and how it builds.
var workerOptions = []string{
	"data-dir", "log-level",
	"s3-endpoint", "s3-access-key", "s3-secret-key", "s3-bucket", "s3-secure",
	"build-image", "build-concurrency", "build-timeout", "build-memory-mb", "build-cpus", "build-pids",
	"build-cache-mb", "build-disk-mb", "build-log-lines", "build-log-mb", "extra-ca-file",
	"network", "network-isolation", "git-allow-nets",
	"nats-url", "nats-user", "nats-password-file", "nats-creds", "nats-ca",
	"worker-key-file", "worker-id", "worker-labels", "drain-timeout",
}

// LoadWorkerConfig parses the flags of berth worker, with defaults taken
// from the environment through getenv.
func LoadWorkerConfig(args []string, getenv func(string) string) (Config, error) {
	var c Config
	var opts []option
	for _, o := range options(&c) {
		if slices.Contains(workerOptions, o.flag) {
			opts = append(opts, o)
		}
	}
	fs := flag.NewFlagSet("berth worker", flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, "Usage: berth worker [flags]\n\nTakes build jobs from the NATS cluster of a berth serve, builds them in this host's Docker\nand uploads the output to the shared S3 store. Each flag can also be set by its BERTH_*\nvariable; a flag beats its variable.\n\n")
		for _, o := range opts {
			fmt.Fprintf(w, "  -%s, %s (default: %s)\n    \t%s\n", o.flag, o.env, strings.ReplaceAll(o.shownDefault(), "`", ""), o.help)
		}
	}
	errs := bindOptions(fs, opts, getenv)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if len(c.NATSURLs) == 0 {
		errs = append(errs, errors.New("BERTH_NATS_URL is required: the NATS servers berth serve uses"))
	}
	if c.S3Endpoint == "" {
		errs = append(errs, errors.New("BERTH_S3_ENDPOINT is required: a worker uploads builds to the S3 store berth serve reads"))
	} else if c.S3AccessKey == "" || c.S3SecretKey == "" {
		errs = append(errs, errors.New("BERTH_S3_ENDPOINT needs BERTH_S3_ACCESS_KEY and BERTH_S3_SECRET_KEY"))
	}
	if c.BuildConcurrency < 1 {
		errs = append(errs, errors.New("BERTH_BUILD_CONCURRENCY must be at least 1"))
	}
	if c.BuildLogLines < 100 || c.BuildLogMB < 1 {
		errs = append(errs, errors.New("a build log must keep at least 100 lines and 1 MiB"))
	}
	if c.BuildTimeout <= 0 {
		errs = append(errs, errors.New("build timeout must be positive"))
	}
	if err := c.settleRemote(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func workerCommand(args []string) error {
	cfg, err := LoadWorkerConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := &Worker{cfg: cfg, log: log}
	if err := w.Run(ctx); err != nil {
		w.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "berth worker %s: taking build jobs (%d at once, labels %q)\n", w.ID, cfg.BuildConcurrency, cfg.WorkerLabels)
	<-ctx.Done()
	stop()
	log.Info("stopping: running builds finish or go back to the queue", slog.Duration("drain_timeout", cfg.DrainTimeout))
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	w.pool.Drain(drainCtx)
	return w.Close()
}

// Worker is berth worker: builders with no database, API or dashboard,
// on the queue of a berth serve elsewhere.
type Worker struct {
	cfg Config
	log *slog.Logger
	// ID is the worker's name on the Workers page.
	ID string

	closeQueue func()
	sandbox    *sandbox.Sandbox
	pool       *builder.Pool
}

// Run connects and starts the builders; it returns once they take jobs.
func (w *Worker) Run(ctx context.Context) error {
	cfg := w.cfg
	workDir := filepath.Join(cfg.DataDir, "work")
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	keyFile := cfg.WorkerKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.DataDir, "worker.key")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("read the worker key (copy <data dir>/worker.key of berth serve here, or set BERTH_WORKER_KEY_FILE): %w", err)
	}
	jobSecrets, err := secretbox.New(key)
	if err != nil {
		return fmt.Errorf("worker key %s: %w", keyFile, err)
	}
	instance, err := instanceID(filepath.Join(cfg.DataDir, "instance-id"))
	if err != nil {
		return err
	}
	if w.ID, err = workerID(cfg.WorkerID, filepath.Join(cfg.DataDir, "worker-id")); err != nil {
		return err
	}
	bucket, err := artifacts.NewS3(ctx, artifacts.S3Config{Endpoint: cfg.S3Endpoint, AccessKey: cfg.S3AccessKey,
		SecretKey: cfg.S3SecretKey, Bucket: cfg.S3Bucket, Secure: cfg.S3Secure})
	if err != nil {
		return err
	}
	if w.sandbox, err = sandbox.New(ctx, w.log); err != nil {
		return err
	}
	if err := w.sandbox.UseNetwork(ctx, sandbox.NetworkConfig{Name: cfg.Network, Isolation: cfg.NetworkIsolation, Owner: instance}); err != nil {
		w.log.ErrorContext(ctx, "builds cannot start until this is fixed", slog.Any("error", err))
	}
	remote, err := cfg.remote("berth-worker " + w.ID)
	if err != nil {
		return err
	}
	client, closeQueue, err := queue.DialWorker(ctx, remote, w.log)
	if err != nil {
		return err
	}
	w.closeQueue = closeQueue
	host, _ := os.Hostname()
	w.pool = builder.New(builderConfig(cfg, instance, workDir, w.ID, host), client, w.sandbox, bucket, jobSecrets, w.log)
	return w.pool.Start(ctx)
}

// Close stops the builders (handing back what still runs), the sandbox and
// the connection.
func (w *Worker) Close() error {
	if w.pool != nil {
		w.pool.Close()
	}
	var err error
	if w.sandbox != nil {
		err = w.sandbox.Close()
	}
	if w.closeQueue != nil {
		w.closeQueue()
	}
	return err
}

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/apps"
	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/builder"
	"github.com/berth-dev/berth/certs"
	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/domains"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/serving"
	"github.com/berth-dev/berth/store"
)

// Main is the running program: every part, started in order by Run and
// stopped in reverse by Close.
type Main struct {
	cfg Config
	log *slog.Logger

	db        *store.DB
	queue     *queue.Queue
	sandbox   *sandbox.Sandbox
	artifacts artifacts.Bucket
	deploys   *deploys.Lifecycle
	pool      *builder.Pool
	serving   *serving.Handler
	domains   *domains.Manager
	apps      *apps.Manager
	api       *api.Handler
	listener  net.Listener
	front     *serving.FrontDoor
	instance  string // labels this data directory's containers
	// With HTTPS on: its listener, certificates and front door; front
	// then only redirects (and answers ACME challenges).
	tlsListener net.Listener
	certs       *certs.Manager
	secure      *serving.FrontDoor
	publicURL   string

	// Background clean-up work (deleting a project's artifacts) runs on
	// bgCtx; Close cancels it and waits.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	// stopWorkers ends the subscription to workers' heartbeats.
	stopWorkers func()
}

// NewMain returns an unstarted program.
func NewMain(cfg Config, log *slog.Logger) *Main {
	ctx, cancel := context.WithCancel(context.Background())
	return &Main{cfg: cfg, log: log, bgCtx: ctx, bgCancel: cancel}
}

// Addr is the address the HTTP listener is bound to.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// SetupURL is the one-time link that makes the administrator of a berth
// without one, "" when it has one.
func (m *Main) SetupURL() string { return m.api.SetupURL() }

// HTTPSAddr is the address the HTTPS listener is bound to, "" with HTTPS off.
func (m *Main) HTTPSAddr() string {
	if m.tlsListener == nil {
		return ""
	}
	return m.tlsListener.Addr().String()
}

// PublicURL is the base URL printed for the dashboard and API.
func (m *Main) PublicURL() string { return m.publicURL }

// Run starts everything and returns once berth is serving.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.cfg
	dirs := map[string]string{}
	for _, d := range []string{"jetstream", "artifacts", "cache", "work"} {
		dirs[d] = filepath.Join(cfg.DataDir, d)
		if err := os.MkdirAll(dirs[d], 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
	}
	key, err := secretbox.LoadOrCreateKey(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return err
	}
	secrets, err := secretbox.New(key)
	if err != nil {
		return err
	}
	// Build jobs' secrets are sealed with the worker key, which workers on
	// other hosts hold instead of the instance's.
	workerKey, err := secretbox.LoadOrCreateKey(cmp.Or(cfg.WorkerKeyFile, filepath.Join(cfg.DataDir, "worker.key")))
	if err != nil {
		return err
	}
	jobSecrets, err := secretbox.New(workerKey)
	if err != nil {
		return err
	}
	instance, err := instanceID(filepath.Join(cfg.DataDir, "instance-id"))
	if err != nil {
		return err
	}
	m.instance = instance
	if m.db, err = store.Open(ctx, filepath.Join(cfg.DataDir, "berth.db")); err != nil {
		return err
	}
	if m.queue, err = m.openQueue(ctx, dirs["jetstream"]); err != nil {
		return err
	}
	if cfg.S3Endpoint != "" {
		m.artifacts, err = artifacts.NewS3(ctx, artifacts.S3Config{Endpoint: cfg.S3Endpoint, AccessKey: cfg.S3AccessKey,
			SecretKey: cfg.S3SecretKey, Bucket: cfg.S3Bucket, Secure: cfg.S3Secure})
	} else {
		m.artifacts, err = artifacts.NewLocal(dirs["artifacts"])
	}
	if err != nil {
		return err
	}
	if m.sandbox, err = sandbox.New(ctx, m.log); err != nil {
		return err
	}
	// A failure here does not stop berth: static sites keep being served, and the sandbox
	// tries again before each container, refusing to start one unfenced.
	if err := m.sandbox.UseNetwork(ctx, sandbox.NetworkConfig{Name: cfg.Network, Isolation: cfg.NetworkIsolation, Owner: instance}); err != nil {
		m.log.ErrorContext(ctx, "builds and app servers cannot start until this is fixed", slog.Any("error", err))
	}
	if !cfg.NetworkIsolation {
		m.log.WarnContext(ctx, "network isolation is off: builds and app servers can reach this host, the metadata address and private networks")
	}

	m.deploys = deploys.New(deploys.Config{GitHubURL: cfg.GitHubURL, GitHubToken: cfg.GitHubToken,
		UserConcurrency: cfg.UserBuildConcurrency, MaxQueued: cfg.MaxQueuedBuilds, MaxProjects: cfg.MaxProjects,
		AllowLocalGit: cfg.AllowLocalGit, HealthTimeout: cfg.PromoteHealthTimeout, JobSecrets: jobSecrets},
		m.db, m.queue.Client(), secrets, m.log)
	m.deploys.Observe(m.observe)

	// The directory of build workers, from their heartbeats, for /v1/workers.
	workers := queue.NewDirectory()
	if m.stopWorkers, err = m.queue.Client().OnWorkers(workers.Seen); err != nil {
		return err
	}

	if cfg.BuildConcurrency > 0 {
		if err := m.startPool(ctx, instance, dirs["work"], jobSecrets); err != nil {
			return err
		}
	} else {
		m.log.InfoContext(ctx, "no builds run in this process: workers elsewhere take them")
	}

	m.apps = apps.New(apps.Config{
		Image:       cfg.RuntimeImage,
		Instance:    instance,
		IdleTimeout: cfg.ServerIdle,
		MaxRunning:  cfg.MaxServers,
		StartWait:   cfg.AppStartWait,
		MaxInflight: cfg.AppMaxInflight,
		Limits:      sandbox.Limits{MemoryBytes: cfg.ServerMemoryMB << 20, NanoCPUs: 1e9, PidsLimit: 1024},
		Env:         m.deploys.RuntimeEnv,
	}, m.sandbox, m.artifacts, m.log)
	if err := m.apps.Start(ctx); err != nil {
		return err
	}
	m.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != certs.Off {
		if m.tlsListener, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPSAddr, err)
		}
	}
	m.publicURL = cfg.PublicURL
	if m.publicURL == "" {
		m.publicURL = defaultPublicURL(cfg.AppDomain, m.listener, m.tlsListener)
	}
	m.publicURL = strings.TrimSuffix(m.publicURL, "/")
	// LoadConfig allowed the dashboard on the apps domain only on a laptop:
	// apps under localhost, the dashboard on localhost.
	if m.serving, err = serving.New(serving.Config{AppDomain: cfg.AppDomain, ApexIsDashboard: cfg.AppDomain == "localhost",
		CacheDir: dirs["cache"], MemoryCacheBytes: cfg.StaticCacheMB << 20, DiskCacheBytes: cfg.FileCacheMB << 20,
		WriteTimeout: cfg.WriteTimeout, MaxConns: cfg.MaxConns}, m.db, m.artifacts, m.apps, m.log); err != nil {
		return err
	}
	m.deploys.SetGate(m.serving.Warm)

	m.domains = domains.New(domains.Config{AppDomain: cfg.AppDomain, DashboardHost: dashboardHost(m.publicURL),
		PublicIPs: cfg.PublicIPs, Resolver: cfg.DNSResolver}, m.db, m.serving.Invalidate, m.log)
	m.domains.Start(ctx)

	m.api, err = api.New(api.Config{
		AppDomain: cfg.AppDomain, PublicURL: m.publicURL, AdminToken: cfg.AdminToken, Version: version,
		GitHubEnabled: cfg.GitHubClientID != "", AllowLocalGit: cfg.AllowLocalGit,
		GitHub: api.GitHubConfig{
			ClientID: cfg.GitHubClientID, ClientSecret: cfg.GitHubClientSecret, WebhookSecret: cfg.GitHubWebhookSecret,
			APIURL: cfg.GitHubAPIURL, WebURL: cfg.GitHubURL, Token: cfg.GitHubToken,
			AllowedUsers: cfg.AllowedGitHubUsers, AllowedOrgs: cfg.AllowedGitHubOrgs,
		},
		AuthLimits: api.AuthLimits{PerIP: cfg.AuthFailuresPerIP, Global: cfg.AuthFailuresGlobal},
	}, api.Deps{
		DB: m.db, Deploys: m.deploys, Domains: m.domains, Secrets: secrets, Log: m.log, Disk: m.diskReport, Workers: workers,
		Checks: []api.Check{
			{Name: "sqlite", Ping: m.db.Ping},
			{Name: "nats", Ping: m.queue.Ping},
			{Name: "artifacts", Ping: m.artifacts.Ping},
			{Name: "docker", Ping: m.sandbox.Ping},
			{Name: "network", Ping: m.sandbox.NetworkReady},
		},
	})
	if err != nil {
		return err
	}
	if err := m.api.Start(ctx); err != nil {
		return err
	}
	// The lifecycle applies what builders published while berth was down
	// and recovers unfinished deployments before the first request.
	if err := m.deploys.Start(ctx); err != nil {
		return err
	}
	m.deploys.StartRetention(deploys.RetentionConfig{Interval: cfg.RetentionInterval, Keep: cfg.KeepDeployments,
		PromotedWithin: time.Duration(cfg.KeepPromotedDays) * 24 * time.Hour, Promotions: m.db, Reclaim: m.reclaim})
	if cfg.BackupTarget != "" {
		m.startBackups()
	}
	if m.tlsListener == nil {
		m.front = serving.Open(m.listener, m.serving, m.api, m.log)
		return nil
	}
	if m.certs, err = m.startCerts(ctx); err != nil {
		return err
	}
	router := serving.Router(m.serving, m.api)
	m.front = serving.OpenPlain(m.listener, m.certs.HTTPHandler(router), cfg.MaxConns, m.log)
	m.secure = serving.OpenTLS(m.tlsListener, m.certs.TLSConfig(), certs.HSTS(router), cfg.MaxConns, m.log)
	return nil
}

// openQueue starts the embedded NATS server, or connects to the external
// cluster of -nats-url.
func (m *Main) openQueue(ctx context.Context, dir string) (*queue.Queue, error) {
	cfg := m.cfg
	if len(cfg.NATSURLs) == 0 {
		return queue.Start(ctx, queue.Config{Dir: dir, Listen: cfg.NATSListen,
			AuthDir: filepath.Join(cfg.DataDir, "nats"), TLSCert: cfg.NATSTLSCert, TLSKey: cfg.NATSTLSKey}, m.log)
	}
	remote, err := cfg.remote("berth")
	if err != nil {
		return nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return queue.Dial(dialCtx, remote, cfg.NATSReplicas, 0, m.log)
}

// startPool starts this process's own builders.
func (m *Main) startPool(ctx context.Context, instance, workDir string, jobSecrets *secretbox.Box) error {
	cfg := m.cfg
	id, err := workerID(cfg.WorkerID, filepath.Join(cfg.DataDir, "worker-id"))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	bc := builderConfig(cfg, instance, workDir, id, host)
	bc.KeepImages = true // serve's app servers run on the same engine
	m.pool = builder.New(bc, m.queue.Client(), m.sandbox, m.artifacts, jobSecrets, m.log)
	return m.pool.Start(ctx)
}

// builderConfig is the builders' part of cfg, for serve and worker alike.
func builderConfig(cfg Config, instance, workDir, id, host string) builder.Config {
	return builder.Config{
		Concurrency: cfg.BuildConcurrency,
		Image:       cfg.BuildImage,
		Timeout:     cfg.BuildTimeout,
		ExtraCAFile: cfg.ExtraCAFile,
		Limits: sandbox.Limits{
			MemoryBytes: cfg.BuildMemoryMB << 20,
			NanoCPUs:    int64(cfg.BuildCPUs * 1e9),
			PidsLimit:   cfg.BuildPids,
			DiskBytes:   cfg.BuildDiskMB << 20,
		},
		WorkDir:       workDir,
		Instance:      instance,
		CacheDir:      buildCacheDir(cfg),
		CacheMaxBytes: cfg.BuildCacheMB << 20,
		LogMaxLines:   cfg.BuildLogLines,
		LogMaxBytes:   cfg.BuildLogMB << 20,
		GitAllowNets:  cfg.GitAllowNets,
		ID:            id,
		Host:          host,
		Version:       version,
		Labels:        cfg.WorkerLabels,
	}
}

// workerID is the configured worker id, or the one kept at path, made on
// first use from the host name and a random suffix.
func workerID(configured, path string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	host, _ := os.Hostname()
	id := strings.ToLower(cmp.Or(host, "worker")) + "-" + store.NewID(4)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write worker id: %w", err)
	}
	return id, nil
}

// startCerts prepares the HTTPS listener's certificates: in auto mode,
// ordered on demand for the dashboard's host and the hosts berth serves.
func (m *Main) startCerts(ctx context.Context) (*certs.Manager, error) {
	cfg := m.cfg
	host, httpPort := splitAddr(m.listener.Addr())
	_, httpsPort := splitAddr(m.tlsListener.Addr())
	dashboard := ""
	if u, err := url.Parse(m.publicURL); err == nil {
		dashboard = strings.ToLower(u.Hostname())
	}
	return certs.New(ctx, certs.Config{
		Mode: cfg.TLS, Email: cfg.ACMEEmail, Directory: cfg.ACMEDirectory, CARoot: cfg.ACMECARoot,
		CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, Dir: filepath.Join(cfg.DataDir, "certs"),
		Dashboard: dashboard, Knows: m.serving.Knows,
		ListenHost: host, HTTPPort: httpPort, HTTPSPort: httpsPort,
	}, m.log)
}

// splitAddr is a bound address's host ("" for every interface) and port.
func splitAddr(a net.Addr) (string, int) {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return "", 0
	}
	if t.IP.IsUnspecified() {
		return "", t.Port
	}
	return t.IP.String(), t.Port
}

// defaultPublicURL is the dashboard's URL when none is configured: the
// apps domain, over HTTPS when it is on.
func defaultPublicURL(appDomain string, plain, secure net.Listener) string {
	if secure == nil {
		_, port := splitAddr(plain.Addr())
		return "http://" + appDomain + ":" + strconv.Itoa(port)
	}
	_, port := splitAddr(secure.Addr())
	if port == 443 {
		return "https://" + appDomain
	}
	return "https://" + appDomain + ":" + strconv.Itoa(port)
}

// Close stops everything in reverse order: live log streams and HTTP, the
// GitHub notifier, the event consumer, the builder pool, app servers, NATS,
// SQLite. It works on a Main whose Run failed half way.
func (m *Main) Close() error {
	var errs []error
	if m.deploys != nil {
		m.deploys.CloseStreams()
	}
	// HTTPS first (it was started last), then HTTP.
	if m.secure != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.secure.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	} else if m.tlsListener != nil {
		m.tlsListener.Close()
	}
	if m.certs != nil {
		m.certs.Close()
	}
	if m.front != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := m.front.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	} else if m.listener != nil {
		m.listener.Close()
	}
	if m.api != nil {
		m.api.Close()
	}
	if m.domains != nil {
		m.domains.Close()
	}
	if m.deploys != nil {
		m.deploys.Close()
	}
	m.bgCancel()
	m.bg.Wait()
	if m.pool != nil {
		m.pool.Close()
	}
	if m.apps != nil {
		m.apps.Close()
	}
	if m.sandbox != nil {
		if err := m.sandbox.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.stopWorkers != nil {
		m.stopWorkers()
	}
	if m.queue != nil {
		m.queue.Close()
	}
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
	}
	return errors.Join(errs...)
}

// observe keeps the data plane in step with the lifecycle.
func (m *Main) observe(_ context.Context, c deploys.Change) {
	switch c.Kind {
	case deploys.Promoted:
		m.serving.Invalidate() // host lookups must not be cached past a promotion
	case deploys.Retired:
		m.retireDeployments(c.DeploymentIDs)
	case deploys.Deleted:
		m.forgetDeployments(c.DeploymentIDs)
	case deploys.Expired:
		m.expireDeployments(c.DeploymentIDs)
	}
}

// forgetDeployments frees the artifacts and cached data of deleted
// deployments, in the background (it can take a while on S3).
func (m *Main) forgetDeployments(ids []string) {
	m.serving.Forget(ids)
	m.serving.Invalidate()
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		ctx, cancel := context.WithTimeout(m.bgCtx, 10*time.Minute)
		defer cancel()
		// The cached copies first: their manifests are read from the
		// artifacts about to go.
		if n := m.serving.ForgetFiles(ctx, ids); n > 0 {
			m.log.Info("removed cached files of deleted deployments", slog.Int64("bytes", n))
		}
		for _, id := range ids {
			m.apps.Remove(id) // its server and, for an image, the loaded image
			if err := m.artifacts.DeletePrefix(ctx, model.ArtifactPrefix(id)); err != nil {
				m.log.Warn("delete artifacts", slog.String("deployment", id), slog.Any("error", err))
			}
		}
	}()
}

// retireDeployments stops the servers of closed pull requests' previews.
func (m *Main) retireDeployments(ids []string) {
	m.serving.Invalidate()
	for _, id := range ids {
		m.apps.Stop(id)
	}
}

// dashboardHost is the host of the public URL, which no custom domain may be.
func dashboardHost(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// buildCacheDir is where builds keep their caches, or "" when they keep none.
func buildCacheDir(cfg Config) string {
	if cfg.BuildCacheMB <= 0 {
		return ""
	}
	return filepath.Join(cfg.DataDir, "buildcache")
}

// instanceID returns this data directory's stable id, creating it once.
func instanceID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	id := store.NewID(8)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write instance id: %w", err)
	}
	return id, nil
}

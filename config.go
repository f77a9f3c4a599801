package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/certs"
)

// Config is everything berth serve can be told, by flag or BERTH_* variable.
type Config struct {
	Addr      string
	DataDir   string
	AppDomain string // deployments are served from its subdomains
	// baseDomain is BERTH_BASE_DOMAIN, the old name of AppDomain;
	// LoadConfig folds it in.
	baseDomain string
	PublicURL  string
	AdminToken string
	LogLevel   string

	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	S3Bucket    string
	S3Secure    bool

	BuildImage       string
	BuildConcurrency int
	BuildTimeout     time.Duration
	BuildMemoryMB    int64
	BuildCPUs        float64
	BuildPids        int64
	RuntimeImage     string
	ServerIdle       time.Duration
	MaxServers       int
	AppMaxInflight   int
	AppStartWait     time.Duration
	ServerMemoryMB   int64
	ExtraCAFile      string
	NATSListen       string
	BuildCacheMB     int64 // size cap of the per-project build caches; 0 turns them off
	StaticCacheMB    int64 // hot static file bytes kept in memory
	BuildDiskMB      int64 // what one build may write to disk, MiB
	BuildLogLines    int   // lines of one build's log kept
	BuildLogMB       int64 // bytes of one build's log kept, MiB

	MaxProjects          int // projects per user (the admin has no limit)
	MaxQueuedBuilds      int // unfinished builds per user (the admin has no limit)
	UserBuildConcurrency int // builds of one user running at once

	Network          string // Docker network builds and app servers join
	NetworkIsolation bool   // fence that network off from the host and private ranges

	FileCacheMB  int64 // size cap of the disk cache of served files
	WriteTimeout time.Duration
	MaxConns     int

	GitHubClientID      string
	GitHubClientSecret  string
	GitHubWebhookSecret string
	GitHubAPIURL        string
	GitHubURL           string
	GitHubToken         string
	AllowedGitHubUsers  []string
	AllowedGitHubOrgs   []string

	AuthFailuresPerIP  int            // failed credential checks one address may make per minute
	AuthFailuresGlobal int            // failed credential checks all addresses may make per minute
	AllowLocalGit      bool           // every user may build from paths, file:// and http:// URLs
	GitAllowNets       []netip.Prefix // private ranges http(s) clones may reach

	PublicIPs            []netip.Addr  // addresses custom apex domains must point at
	DNSResolver          string        // host:port custom domain checks ask; "" the system's
	BackupTarget         string        // directory or s3://bucket/prefix of scheduled backups; "" takes none
	BackupInterval       time.Duration // time between scheduled backups
	BackupKeep           int           // scheduled backups kept at the target
	BackupArtifacts      bool          // scheduled backups include the local artifact directory
	RetentionInterval    time.Duration // how often old deployments are expired; 0 turns the schedule off
	KeepDeployments      int           // ready deployments kept per project besides production
	KeepPromotedDays     int           // deployments promoted this recently are kept
	TLS                  string        // off, auto or manual (certs.Off, certs.Auto, certs.Manual)
	ACMEEmail            string
	ACMEDirectory        string
	ACMECARoot           string // PEM file trusted for the ACME directory
	TLSCert              string // manual: the certificate; auto: the operator's (wildcard) certificate
	TLSKey               string
	HTTPSAddr            string // "" with TLS on: :443
	NATSTLSCert          string // PEM certificate (chain) of the NATS listener; set, it requires TLS
	NATSTLSKey           string
	PromoteHealthTimeout time.Duration // how long a promotion waits for the deployment to serve its health path

	NATSURLs         []string // an external NATS cluster instead of the embedded server
	NATSUser         string
	NATSPasswordFile string
	NATSCreds        string
	NATSCA           string
	NATSReplicas     int      // replicas of the streams on the cluster; 0 decides from its size
	WorkerKeyFile    string   // "": <data dir>/worker.key
	WorkerID         string   // "": <host name>-<random>, kept in <data dir>/worker-id
	WorkerLabels     []string // normalised by settleNATS
	DrainTimeout     time.Duration
}

// option is one setting of berth serve: its flag, its BERTH_* variable, its
// default as text (parsed like a given value) and the Config field it sets.
// The same list parses, prints -h and writes README.md's table, so they
// cannot drift apart.
type option struct {
	flag  string // without the dash
	env   string
	def   string
	help  string
	value flag.Value // a typed pointer into Config, see config_values.go
	// shown is the documented default, in Markdown, of an option whose
	// empty def is filled in later from other settings (berth.go fills in
	// the public URL once it knows the port).
	shown string
}

// options lists every setting, each bound to its field in c.
func options(c *Config) []option {
	return []option{
		{"addr", "BERTH_ADDR", ":8080", "listen address for the API, dashboard and previews", (*stringValue)(&c.Addr), ""},
		{"data-dir", "BERTH_DATA_DIR", "./data", "data directory", (*stringValue)(&c.DataDir), ""},
		// Deployments live on a domain of their own, apart from the dashboard's.
		{"app-domain", "BERTH_APP_DOMAIN", "", "domain whose subdomains serve deployments (project and preview hosts); the dashboard's host (from the public URL) must not share its registrable domain", (*stringValue)(&c.AppDomain), "`localhost`"},
		{"base-domain", "BERTH_BASE_DOMAIN", "", "old name of the apps domain, still accepted", (*stringValue)(&c.baseDomain), ""},
		{"public-url", "BERTH_PUBLIC_URL", "", "public scheme://host:port of the dashboard and API, used in printed URLs", (*stringValue)(&c.PublicURL), "`http://<app domain>:<port>`"},
		{"admin-token", "BERTH_ADMIN_TOKEN", "", "admin API token, at least 32 characters (generate one: `openssl rand -hex 32`)", (*stringValue)(&c.AdminToken), ""},
		{"log-level", "BERTH_LOG_LEVEL", "info", "debug, info, warn or error", (*stringValue)(&c.LogLevel), ""},

		{"s3-endpoint", "BERTH_S3_ENDPOINT", "", "S3/MinIO endpoint host:port for artifacts (unset: a local directory)", (*stringValue)(&c.S3Endpoint), ""},
		{"s3-access-key", "BERTH_S3_ACCESS_KEY", "", "S3 access key", (*stringValue)(&c.S3AccessKey), ""},
		{"s3-secret-key", "BERTH_S3_SECRET_KEY", "", "S3 secret key", (*stringValue)(&c.S3SecretKey), ""},
		{"s3-bucket", "BERTH_S3_BUCKET", "berth", "S3 bucket", (*stringValue)(&c.S3Bucket), ""},
		{"s3-secure", "BERTH_S3_SECURE", "false", "use HTTPS for S3", (*boolValue)(&c.S3Secure), ""},

		{"build-image", "BERTH_BUILD_IMAGE", "node:22-alpine", "image builds run in", (*stringValue)(&c.BuildImage), ""},
		{"build-concurrency", "BERTH_BUILD_CONCURRENCY", "2", "builds run at once", (*intValue)(&c.BuildConcurrency), ""},
		{"build-timeout", "BERTH_BUILD_TIMEOUT", "15m", "time limit of one build", (*durationValue)(&c.BuildTimeout), ""},
		{"build-memory-mb", "BERTH_BUILD_MEMORY_MB", "4096", "memory limit of one build, MiB", (*int64Value)(&c.BuildMemoryMB), ""},
		{"build-cpus", "BERTH_BUILD_CPUS", "2", "CPU limit of one build", (*float64Value)(&c.BuildCPUs), ""},
		{"build-pids", "BERTH_BUILD_PIDS", "4096", "process limit of one build", (*int64Value)(&c.BuildPids), ""},
		{"build-cache-mb", "BERTH_BUILD_CACHE_MB", "4096", "size cap of the per-project build caches (package manager caches, .next/cache, node_modules), MiB; 0 turns them off", (*int64Value)(&c.BuildCacheMB), ""},
		{"static-cache-mb", "BERTH_STATIC_CACHE_MB", "64", "hot static file bytes kept in memory, MiB", (*int64Value)(&c.StaticCacheMB), ""},
		{"build-disk-mb", "BERTH_BUILD_DISK_MB", "10240", "what one build may write to its container's disk, MiB (measured every few seconds; past it the build is stopped)", (*int64Value)(&c.BuildDiskMB), ""},
		{"build-log-lines", "BERTH_BUILD_LOG_LINES", "20000", "lines of one build's log kept; the rest is dropped with a note", (*intValue)(&c.BuildLogLines), ""},
		{"build-log-mb", "BERTH_BUILD_LOG_MB", "10", "bytes of one build's log kept, MiB", (*int64Value)(&c.BuildLogMB), ""},

		// Fair use: what one user may have at once.
		{"max-projects", "BERTH_MAX_PROJECTS", "100", "projects per user (the admin has no limit)", (*intValue)(&c.MaxProjects), ""},
		{"max-queued-builds", "BERTH_MAX_QUEUED_BUILDS", "50", "unfinished builds per user (the admin has no limit)", (*intValue)(&c.MaxQueuedBuilds), ""},
		{"user-build-concurrency", "BERTH_USER_BUILD_CONCURRENCY", "2", "builds of one user running at once; the others wait their turn, so one user's pushes do not starve another's", (*intValue)(&c.UserBuildConcurrency), ""},

		// Bounds of what strangers' traffic can hold: disk, slow readers, connections.
		{"file-cache-mb", "BERTH_FILE_CACHE_MB", "10240", "size cap of the disk cache of served files, MiB (least recently used files go first)", (*int64Value)(&c.FileCacheMB), ""},
		{"write-timeout", "BERTH_WRITE_TIMEOUT", "60s", "time a client has to take a static file (more for large files, at 64 KiB/s); a client that stops reading is cut off", (*durationValue)(&c.WriteTimeout), ""},
		{"max-conns", "BERTH_MAX_CONNS", "10000", "connections the HTTP listener holds at once; more wait to be accepted (0: no cap)", (*intValue)(&c.MaxConns), ""},
		{"runtime-image", "BERTH_RUNTIME_IMAGE", "", "image server-rendered apps run in", (*stringValue)(&c.RuntimeImage), "the build image"},
		{"server-idle-timeout", "BERTH_SERVER_IDLE_TIMEOUT", "10m", "stop an app server this long after its last request", (*durationValue)(&c.ServerIdle), ""},
		{"max-servers", "BERTH_MAX_SERVERS", "8", "app servers starting or running at once (the least recently used idle one stops to make room)", (*intValue)(&c.MaxServers), ""},
		// How many requests may wait on one app server, and how long for a free slot.
		{"app-max-inflight", "BERTH_APP_MAX_INFLIGHT", "256", "requests to one app server in flight (or waiting for it to start) at once; past it a 503", (*intValue)(&c.AppMaxInflight), ""},
		{"app-start-wait", "BERTH_APP_START_WAIT", "30s", "how long a request waits for a free app server slot before a 503", (*durationValue)(&c.AppStartWait), ""},
		{"server-memory-mb", "BERTH_SERVER_MEMORY_MB", "1024", "memory limit of one app server, MiB", (*int64Value)(&c.ServerMemoryMB), ""},
		{"extra-ca-file", "BERTH_EXTRA_CA_FILE", "", "CA bundle copied into containers", (*stringValue)(&c.ExtraCAFile), ""},
		{"nats-listen", "BERTH_NATS_LISTEN", "", "also accept NATS clients (build workers) on this address, with the credentials berth generates in `<data dir>/nats/`; beyond loopback only with -nats-tls-cert (unset: in-process only)", (*stringValue)(&c.NATSListen), ""},

		// Where build and app server containers can connect to.
		{"network", "BERTH_NETWORK", "berth", "Docker bridge network builds and app servers join (created when missing; two berths on one engine may share it)", (*stringValue)(&c.Network), ""},
		{"network-isolation", "BERTH_NETWORK_ISOLATION", "on", "firewall that network off from the host, the metadata address and private ranges (needs root and iptables on the Docker host; off: no rules, containers reach all of them)", (*boolValue)(&c.NetworkIsolation), ""},

		{"github-client-id", "BERTH_GITHUB_CLIENT_ID", "", "GitHub OAuth app client id (enables sign-in with GitHub)", (*stringValue)(&c.GitHubClientID), ""},
		{"github-client-secret", "BERTH_GITHUB_CLIENT_SECRET", "", "GitHub OAuth app client secret", (*stringValue)(&c.GitHubClientSecret), ""},
		{"github-webhook-secret", "BERTH_GITHUB_WEBHOOK_SECRET", "", "instance-wide webhook secret, accepted only for projects without a secret of their own (linked before per-project secrets)", (*stringValue)(&c.GitHubWebhookSecret), ""},
		{"github-api-url", "BERTH_GITHUB_API_URL", "https://api.github.com/", "GitHub REST API base URL (Enterprise: your server's)", (*stringValue)(&c.GitHubAPIURL), ""},
		{"github-url", "BERTH_GITHUB_URL", "https://github.com", "GitHub web URL for OAuth pages and clone URLs", (*stringValue)(&c.GitHubURL), ""},
		{"github-token", "BERTH_GITHUB_TOKEN", "", "token for commit statuses, comments and private clones when a project's owner has none", (*stringValue)(&c.GitHubToken), ""},
		{"allowed-github-users", "BERTH_ALLOWED_GITHUB_USERS", "", "comma-separated GitHub logins allowed to sign in (both lists unset: anyone)", (*listValue)(&c.AllowedGitHubUsers), ""},
		{"allowed-github-orgs", "BERTH_ALLOWED_GITHUB_ORGS", "", "comma-separated GitHub organisations whose members may sign in", (*listValue)(&c.AllowedGitHubOrgs), ""},

		// Failed credential checks (tokens, API keys, sign-ins) before 429s.
		{"auth-failures-per-ip", "BERTH_AUTH_FAILURES_PER_IP", "10", "failed credential checks one client address may make per minute", (*intValue)(&c.AuthFailuresPerIP), ""},
		{"auth-failures-global", "BERTH_AUTH_FAILURES_GLOBAL", "100", "failed credential checks all addresses together may make per minute", (*intValue)(&c.AuthFailuresGlobal), ""},
		// Where builds may fetch from: the host's own disk and network are
		// the administrator's unless the operator opens them.
		{"allow-local-git", "BERTH_ALLOW_LOCAL_GIT", "false", "let every user, not only the administrator, build from paths and file:// or http:// URLs (fetched on this host)", (*boolValue)(&c.AllowLocalGit), ""},
		{"git-allow-nets", "BERTH_GIT_ALLOW_NETS", "", "comma-separated CIDR ranges git clones may reach although they are loopback, private or link-local (your own git servers)", (*netsValue)(&c.GitAllowNets), ""},
		// Custom domains: what their DNS must point at, and where berth
		// looks it up.
		{"public-ips", "BERTH_PUBLIC_IPS", "", "comma-separated addresses visitors reach this server at, which custom apex domains' A/AAAA records must name (unset: the addresses the dashboard's host resolves to)", (*addrsValue)(&c.PublicIPs), ""},
		{"dns-resolver", "BERTH_DNS_RESOLVER", "", "DNS server (host:port) that custom domain checks ask (unset: the system's resolver)", (*stringValue)(&c.DNSResolver), ""},

		// Scheduled backups: where, how often, how many are kept.
		{"backup-target", "BERTH_BACKUP_TARGET", "", "where berth serve writes scheduled backups: a directory or `s3://bucket/prefix` (reached with the S3 settings; unset: none)", (*stringValue)(&c.BackupTarget), ""},
		{"backup-interval", "BERTH_BACKUP_INTERVAL", "24h", "time between scheduled backups", (*durationValue)(&c.BackupInterval), ""},
		{"backup-keep", "BERTH_BACKUP_KEEP", "7", "scheduled backups kept at the target; older ones are removed", (*intValue)(&c.BackupKeep), ""},
		{"backup-artifacts", "BERTH_BACKUP_ARTIFACTS", "false", "scheduled backups include the local artifact directory (for an instance without S3)", (*boolValue)(&c.BackupArtifacts), ""},

		// Retention: what old deployments keep their artifacts, caches and logs.
		{"retention-interval", "BERTH_RETENTION_INTERVAL", "1h", "how often old deployments' artifacts, cached files, containers and logs are deleted (0 turns the schedule off; POST /v1/system/retention runs it at once)", (*durationValue)(&c.RetentionInterval), ""},
		{"keep-deployments", "BERTH_KEEP_DEPLOYMENTS", "10", "ready deployments kept per project, newest first, besides production, open pull requests' previews and recent promotions", (*intValue)(&c.KeepDeployments), ""},
		{"keep-promoted-days", "BERTH_KEEP_PROMOTED_DAYS", "30", "a deployment that was production in this many last days is kept", (*intValue)(&c.KeepPromotedDays), ""},

		// HTTPS: certificates from an ACME CA or the operator, HTTP/2, redirects.
		{"tls", "BERTH_TLS", "off", "HTTPS: `off` (plain HTTP only), `auto` (certificates from the ACME CA, on demand, for the hosts berth serves) or `manual` (the one certificate of -tls-cert)", (*stringValue)(&c.TLS), ""},
		{"acme-email", "BERTH_ACME_EMAIL", "", "contact address of the ACME account (the CA writes about expiring certificates and problems)", (*stringValue)(&c.ACMEEmail), ""},
		{"acme-directory", "BERTH_ACME_DIRECTORY", certs.DefaultDirectory, "ACME directory URL of the CA", (*stringValue)(&c.ACMEDirectory), ""},
		{"acme-ca-root", "BERTH_ACME_CA_ROOT", "", "PEM file of a root certificate trusted for the ACME directory, besides the system's (a private CA)", (*stringValue)(&c.ACMECARoot), ""},
		{"tls-cert", "BERTH_TLS_CERT", "", "PEM certificate (chain) file: with manual, the one certificate served; with auto, a certificate (such as a wildcard `*.<app domain>`) served for the names it covers instead of ordering them", (*stringValue)(&c.TLSCert), ""},
		{"tls-key", "BERTH_TLS_KEY", "", "PEM private key file of -tls-cert", (*stringValue)(&c.TLSKey), ""},
		{"https-addr", "BERTH_HTTPS_ADDR", "", "listen address for HTTPS (HTTP/2 and HTTP/1.1) while -tls is on; -addr then redirects to it", (*stringValue)(&c.HTTPSAddr), "`:443` when HTTPS is on"},

		// NATS listener: TLS for the clients of -nats-listen.
		{"nats-tls-cert", "BERTH_NATS_TLS_CERT", "", "PEM certificate (chain) file of the NATS listener; set, its clients must use TLS", (*stringValue)(&c.NATSTLSCert), ""},
		{"nats-tls-key", "BERTH_NATS_TLS_KEY", "", "PEM private key file of -nats-tls-cert", (*stringValue)(&c.NATSTLSKey), ""},

		// Promotion: production moves only to a deployment that serves.
		{"promote-health-timeout", "BERTH_PROMOTE_HEALTH_TIMEOUT", "60s", "how long a promotion waits for a server deployment to start and answer its project's health path below 500; past it, production stays where it was", (*durationValue)(&c.PromoteHealthTimeout), ""},

		// More than one machine: an external NATS cluster, build workers on
		// other hosts (berth worker reads these too).
		{"nats-url", "BERTH_NATS_URL", "", "comma-separated URLs of a NATS JetStream cluster (`nats://host:4222`, or `tls://`); berth serve then uses it instead of its embedded server, and berth worker takes its jobs from it", (*listValue)(&c.NATSURLs), ""},
		{"nats-user", "BERTH_NATS_USER", "", "user name on the servers of -nats-url", (*stringValue)(&c.NATSUser), ""},
		{"nats-password-file", "BERTH_NATS_PASSWORD_FILE", "", "file holding the password of -nats-user (kept out of flags and the environment)", (*stringValue)(&c.NATSPasswordFile), ""},
		{"nats-creds", "BERTH_NATS_CREDS", "", "NATS credentials file (JWT and NKey seed), instead of -nats-user", (*stringValue)(&c.NATSCreds), ""},
		{"nats-ca", "BERTH_NATS_CA", "", "PEM file of the CA that signed the NATS servers' certificates; set, TLS is required", (*stringValue)(&c.NATSCA), ""},
		{"nats-replicas", "BERTH_NATS_REPLICAS", "0", "copies of each of berth's streams on the cluster of -nats-url (0: 3 when it has three or more servers, else 1)", (*intValue)(&c.NATSReplicas), ""},
		{"worker-key-file", "BERTH_WORKER_KEY_FILE", "", "key that build jobs' secrets (build env vars, clone tokens) are sealed with; berth serve creates it, each berth worker needs a copy (mode 0600)", (*stringValue)(&c.WorkerKeyFile), "`<data dir>/worker.key`"},
		{"worker-id", "BERTH_WORKER_ID", "", "name of this process's builders on the Workers page", (*stringValue)(&c.WorkerID), "`<host name>-<random>`, kept in `<data dir>/worker-id`"},
		{"worker-labels", "BERTH_WORKER_LABELS", "", "comma-separated labels of this process's builders (`arm64,big`): besides unlabelled jobs they take those of projects that require some of these labels", (*listValue)(&c.WorkerLabels), ""},
		{"drain-timeout", "BERTH_DRAIN_TIMEOUT", "5m", "berth worker: on SIGTERM, how long running builds may go on; then they are handed back to the queue for another worker", (*durationValue)(&c.DrainTimeout), ""},
	}
}

// LoadConfig parses args (after "serve"), with defaults taken from the
// environment through getenv; a flag beats its variable.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	var c Config
	opts := options(&c)
	fs := flag.NewFlagSet("berth serve", flag.ContinueOnError)
	fs.Usage = func() { printUsage(fs.Output(), opts) }
	errs := bindOptions(fs, opts, getenv)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if (c.GitHubClientID == "") != (c.GitHubClientSecret == "") {
		errs = append(errs, errors.New("BERTH_GITHUB_CLIENT_ID and BERTH_GITHUB_CLIENT_SECRET go together"))
	}
	if c.RuntimeImage == "" {
		c.RuntimeImage = c.BuildImage
	}
	if err := c.settleTLS(); err != nil {
		errs = append(errs, err)
	}
	if err := c.settleDomains(); err != nil {
		errs = append(errs, err)
	}
	if err := c.settleNATS(); err != nil {
		errs = append(errs, err)
	}
	if c.UserBuildConcurrency < 1 {
		errs = append(errs, errors.New("BERTH_USER_BUILD_CONCURRENCY must be at least 1"))
	}
	if c.BuildLogLines < 100 || c.BuildLogMB < 1 {
		errs = append(errs, errors.New("a build log must keep at least 100 lines and 1 MiB"))
	}
	if c.BuildConcurrency < 0 || c.BuildConcurrency == 0 && len(c.NATSURLs) == 0 && c.NATSListen == "" {
		errs = append(errs, errors.New("BERTH_BUILD_CONCURRENCY must be at least 1; 0 (no builds in this process) only with workers elsewhere: BERTH_NATS_URL or BERTH_NATS_LISTEN"))
	}
	if c.AuthFailuresPerIP < 1 || c.AuthFailuresGlobal < 1 {
		errs = append(errs, errors.New("BERTH_AUTH_FAILURES_PER_IP and BERTH_AUTH_FAILURES_GLOBAL must be at least 1"))
	}
	if c.BuildTimeout <= 0 {
		errs = append(errs, errors.New("build timeout must be positive"))
	}
	if c.AdminToken != "" && len(c.AdminToken) < api.MinAdminTokenLength {
		errs = append(errs, fmt.Errorf("BERTH_ADMIN_TOKEN is %d characters long; it must have at least %d, random ones: "+
			"use for instance this freshly generated token: %s", len(c.AdminToken), api.MinAdminTokenLength, newAdminToken()))
	}
	if c.DNSResolver != "" {
		if _, port, err := net.SplitHostPort(c.DNSResolver); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("BERTH_DNS_RESOLVER %q is not a host:port such as 127.0.0.1:53", c.DNSResolver))
		}
	}
	if c.BackupTarget != "" && (c.BackupInterval < time.Second || c.BackupKeep < 1) {
		errs = append(errs, errors.New("BERTH_BACKUP_INTERVAL must be at least 1s and BERTH_BACKUP_KEEP at least 1"))
	}
	if c.KeepDeployments < 1 || c.KeepPromotedDays < 0 || c.RetentionInterval < 0 {
		errs = append(errs, errors.New("BERTH_KEEP_DEPLOYMENTS must be at least 1, BERTH_KEEP_PROMOTED_DAYS and BERTH_RETENTION_INTERVAL not negative"))
	}
	if c.S3Endpoint != "" && (c.S3AccessKey == "" || c.S3SecretKey == "") {
		errs = append(errs, errors.New("BERTH_S3_ENDPOINT needs BERTH_S3_ACCESS_KEY and BERTH_S3_SECRET_KEY"))
	}
	return c, errors.Join(errs...)
}

// bindOptions sets each option to its default, then to its variable when
// getenv has one, and registers it as a flag of fs (parsed later, so a
// flag beats its variable). Every bad value is reported, not just the
// first, so one restart shows all that needs fixing.
func bindOptions(fs *flag.FlagSet, opts []option, getenv func(string) string) []error {
	var errs []error
	for _, o := range opts {
		if err := o.value.Set(o.def); err != nil {
			errs = append(errs, fmt.Errorf("default of -%s: %w", o.flag, err))
		}
		if v := getenv(o.env); v != "" {
			if err := o.value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", o.env, err))
			}
		}
		fs.Var(o.value, o.flag, o.help)
	}
	return errs
}

// newAdminToken is a strong admin token an operator may use: 32 random
// bytes, base64url (43 characters).
func newAdminToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// shownDefault is the default as the README shows it, in Markdown.
func (o option) shownDefault() string {
	switch {
	case o.shown != "":
		return o.shown
	case o.def != "":
		return "`" + o.def + "`"
	}
	return "unset"
}

func printUsage(w io.Writer, opts []option) {
	fmt.Fprint(w, "Usage: berth serve [flags]\n\nEach flag can also be set by its BERTH_* variable; a flag beats its variable.\n\n")
	for _, o := range opts {
		def := strings.ReplaceAll(o.shownDefault(), "`", "")
		fmt.Fprintf(w, "  -%s, %s (default: %s)\n    \t%s\n", o.flag, o.env, def, o.help)
	}
}

// ConfigMarkdown is README.md's configuration table, one row per setting;
// TestREADMEConfigTable keeps the README's copy equal to it.
func ConfigMarkdown() string {
	var b strings.Builder
	b.WriteString("| flag | variable | default | what it sets |\n|---|---|---|---|\n")
	for _, o := range options(new(Config)) {
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", o.flag, o.env, o.shownDefault(), o.help)
	}
	return b.String()
}

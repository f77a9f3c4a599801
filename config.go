package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config is everything berth serve can be told, by flag or BERTH_* variable.
type Config struct {
	Addr       string
	DataDir    string
	BaseDomain string
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
	ServerMemoryMB   int64
	ExtraCAFile      string
	NATSListen       string
	BuildCacheMB     int64 // size cap of the per-project build caches; 0 turns them off
	StaticCacheMB    int64 // hot static file bytes kept in memory

	GitHubClientID      string
	GitHubClientSecret  string
	GitHubWebhookSecret string
	GitHubAPIURL        string
	GitHubURL           string
	GitHubToken         string
	AllowedGitHubUsers  []string
	AllowedGitHubOrgs   []string
}

// LoadConfig parses args (after "serve"), with defaults taken from the
// environment through getenv; a flag beats its variable.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("berth serve", flag.ContinueOnError)
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var errs []error
	envInt := func(key string, def int64) int64 {
		v := env(key, "")
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number", key, v))
		}
		return n
	}
	envFloat := func(key string, def float64) float64 {
		v := env(key, "")
		if v == "" {
			return def
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number", key, v))
		}
		return n
	}
	envDur := func(key string, def time.Duration) time.Duration {
		v := env(key, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 15m", key, v))
		}
		return d
	}
	fs.StringVar(&c.Addr, "addr", env("BERTH_ADDR", ":8080"), "listen address for the API, dashboard and previews")
	fs.StringVar(&c.DataDir, "data-dir", env("BERTH_DATA_DIR", "./data"), "data directory")
	fs.StringVar(&c.BaseDomain, "base-domain", env("BERTH_BASE_DOMAIN", "localhost"), "base domain of preview and project hosts")
	fs.StringVar(&c.PublicURL, "public-url", env("BERTH_PUBLIC_URL", ""), "public scheme://host:port used in printed URLs (default http://<base domain>:<port>)")
	fs.StringVar(&c.AdminToken, "admin-token", env("BERTH_ADMIN_TOKEN", ""), "admin API token")
	fs.StringVar(&c.LogLevel, "log-level", env("BERTH_LOG_LEVEL", "info"), "debug, info, warn or error")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", env("BERTH_S3_ENDPOINT", ""), "S3/MinIO endpoint host:port (unset: local directory)")
	fs.StringVar(&c.S3AccessKey, "s3-access-key", env("BERTH_S3_ACCESS_KEY", ""), "S3 access key")
	fs.StringVar(&c.S3SecretKey, "s3-secret-key", env("BERTH_S3_SECRET_KEY", ""), "S3 secret key")
	fs.StringVar(&c.S3Bucket, "s3-bucket", env("BERTH_S3_BUCKET", "berth"), "S3 bucket")
	fs.BoolVar(&c.S3Secure, "s3-secure", env("BERTH_S3_SECURE", "false") == "true", "use HTTPS for S3")
	fs.StringVar(&c.BuildImage, "build-image", env("BERTH_BUILD_IMAGE", "node:22-alpine"), "image builds run in")
	fs.IntVar(&c.BuildConcurrency, "build-concurrency", int(envInt("BERTH_BUILD_CONCURRENCY", 2)), "builds run at once")
	fs.DurationVar(&c.BuildTimeout, "build-timeout", envDur("BERTH_BUILD_TIMEOUT", 15*time.Minute), "time limit of one build")
	fs.Int64Var(&c.BuildMemoryMB, "build-memory-mb", envInt("BERTH_BUILD_MEMORY_MB", 4096), "memory limit of one build, MiB")
	fs.Float64Var(&c.BuildCPUs, "build-cpus", envFloat("BERTH_BUILD_CPUS", 2), "CPU limit of one build")
	fs.Int64Var(&c.BuildPids, "build-pids", envInt("BERTH_BUILD_PIDS", 4096), "process limit of one build")
	fs.StringVar(&c.RuntimeImage, "runtime-image", env("BERTH_RUNTIME_IMAGE", ""), "image SSR servers run in (default: the build image)")
	fs.DurationVar(&c.ServerIdle, "server-idle-timeout", envDur("BERTH_SERVER_IDLE_TIMEOUT", 10*time.Minute), "stop an app server this long after its last request")
	fs.IntVar(&c.MaxServers, "max-servers", int(envInt("BERTH_MAX_SERVERS", 8)), "app servers running at once (least recently used stop first)")
	fs.Int64Var(&c.ServerMemoryMB, "server-memory-mb", envInt("BERTH_SERVER_MEMORY_MB", 1024), "memory limit of one app server, MiB")
	fs.StringVar(&c.ExtraCAFile, "extra-ca-file", env("BERTH_EXTRA_CA_FILE", ""), "CA bundle copied into containers")
	fs.StringVar(&c.NATSListen, "nats-listen", env("BERTH_NATS_LISTEN", ""), "also accept NATS clients on this address")
	fs.Int64Var(&c.BuildCacheMB, "build-cache-mb", envInt("BERTH_BUILD_CACHE_MB", 4096), "size cap of the per-project build caches (package manager caches, .next/cache, node_modules), MiB; 0 turns them off")
	fs.Int64Var(&c.StaticCacheMB, "static-cache-mb", envInt("BERTH_STATIC_CACHE_MB", 64), "hot static file bytes kept in memory, MiB")
	fs.StringVar(&c.GitHubClientID, "github-client-id", env("BERTH_GITHUB_CLIENT_ID", ""), "GitHub OAuth app client id (enables sign-in with GitHub)")
	fs.StringVar(&c.GitHubClientSecret, "github-client-secret", env("BERTH_GITHUB_CLIENT_SECRET", ""), "GitHub OAuth app client secret")
	fs.StringVar(&c.GitHubWebhookSecret, "github-webhook-secret", env("BERTH_GITHUB_WEBHOOK_SECRET", ""), "secret GitHub signs webhook deliveries with")
	fs.StringVar(&c.GitHubAPIURL, "github-api-url", env("BERTH_GITHUB_API_URL", "https://api.github.com/"), "GitHub REST API base URL")
	fs.StringVar(&c.GitHubURL, "github-url", env("BERTH_GITHUB_URL", "https://github.com"), "GitHub web URL (OAuth pages, clone URLs)")
	fs.StringVar(&c.GitHubToken, "github-token", env("BERTH_GITHUB_TOKEN", ""), "token for repository calls when a project's owner has none")
	users := fs.String("allowed-github-users", env("BERTH_ALLOWED_GITHUB_USERS", ""), "comma-separated GitHub logins allowed to sign in")
	orgs := fs.String("allowed-github-orgs", env("BERTH_ALLOWED_GITHUB_ORGS", ""), "comma-separated GitHub organisations whose members may sign in")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.AllowedGitHubUsers, c.AllowedGitHubOrgs = splitList(*users), splitList(*orgs)
	if (c.GitHubClientID == "") != (c.GitHubClientSecret == "") {
		errs = append(errs, errors.New("BERTH_GITHUB_CLIENT_ID and BERTH_GITHUB_CLIENT_SECRET go together"))
	}
	if c.RuntimeImage == "" {
		c.RuntimeImage = c.BuildImage
	}
	c.BaseDomain = strings.ToLower(strings.Trim(c.BaseDomain, "."))
	if c.BuildConcurrency < 1 {
		errs = append(errs, errors.New("build concurrency must be at least 1"))
	}
	if c.BuildTimeout <= 0 {
		errs = append(errs, errors.New("build timeout must be positive"))
	}
	if c.S3Endpoint != "" && (c.S3AccessKey == "" || c.S3SecretKey == "") {
		errs = append(errs, errors.New("BERTH_S3_ENDPOINT needs BERTH_S3_ACCESS_KEY and BERTH_S3_SECRET_KEY"))
	}
	return c, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

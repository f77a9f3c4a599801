package main

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// settings lists every flag and variable berth serve has ever accepted,
// written out here rather than read from the option table so that a
// renamed flag or a field set by the wrong option fails the tests.
var settings = []struct {
	flag, env, in string
	want          any
	get           func(Config) any
}{
	{"addr", "BERTH_ADDR", ":9090", ":9090", func(c Config) any { return c.Addr }},
	{"data-dir", "BERTH_DATA_DIR", "/srv/berth", "/srv/berth", func(c Config) any { return c.DataDir }},
	{"app-domain", "BERTH_APP_DOMAIN", ".Example-Apps.ORG.", "example-apps.org", func(c Config) any { return c.AppDomain }},
	{"base-domain", "BERTH_BASE_DOMAIN", ".Example-Apps.ORG.", "example-apps.org", func(c Config) any { return c.AppDomain }}, // the old name of app-domain
	{"public-url", "BERTH_PUBLIC_URL", "https://berth.example.org", "https://berth.example.org", func(c Config) any { return c.PublicURL }},
	{"admin-token", "BERTH_ADMIN_TOKEN", "tok-0123456789abcdef0123456789abcdef", "tok-0123456789abcdef0123456789abcdef", func(c Config) any { return c.AdminToken }},
	{"log-level", "BERTH_LOG_LEVEL", "debug", "debug", func(c Config) any { return c.LogLevel }},
	{"s3-endpoint", "BERTH_S3_ENDPOINT", "minio:9000", "minio:9000", func(c Config) any { return c.S3Endpoint }},
	{"s3-access-key", "BERTH_S3_ACCESS_KEY", "ak2", "ak2", func(c Config) any { return c.S3AccessKey }},
	{"s3-secret-key", "BERTH_S3_SECRET_KEY", "sk2", "sk2", func(c Config) any { return c.S3SecretKey }},
	{"s3-bucket", "BERTH_S3_BUCKET", "previews", "previews", func(c Config) any { return c.S3Bucket }},
	{"s3-secure", "BERTH_S3_SECURE", "true", true, func(c Config) any { return c.S3Secure }},
	{"build-image", "BERTH_BUILD_IMAGE", "node:24", "node:24", func(c Config) any { return c.BuildImage }},
	{"build-concurrency", "BERTH_BUILD_CONCURRENCY", "5", 5, func(c Config) any { return c.BuildConcurrency }},
	{"build-timeout", "BERTH_BUILD_TIMEOUT", "3m", 3 * time.Minute, func(c Config) any { return c.BuildTimeout }},
	{"build-memory-mb", "BERTH_BUILD_MEMORY_MB", "512", int64(512), func(c Config) any { return c.BuildMemoryMB }},
	{"build-cpus", "BERTH_BUILD_CPUS", "1.5", 1.5, func(c Config) any { return c.BuildCPUs }},
	{"build-pids", "BERTH_BUILD_PIDS", "100", int64(100), func(c Config) any { return c.BuildPids }},
	{"build-cache-mb", "BERTH_BUILD_CACHE_MB", "0", int64(0), func(c Config) any { return c.BuildCacheMB }},
	{"static-cache-mb", "BERTH_STATIC_CACHE_MB", "16", int64(16), func(c Config) any { return c.StaticCacheMB }},
	{"build-disk-mb", "BERTH_BUILD_DISK_MB", "2048", int64(2048), func(c Config) any { return c.BuildDiskMB }},
	{"build-log-lines", "BERTH_BUILD_LOG_LINES", "5000", 5000, func(c Config) any { return c.BuildLogLines }},
	{"build-log-mb", "BERTH_BUILD_LOG_MB", "2", int64(2), func(c Config) any { return c.BuildLogMB }},
	{"max-projects", "BERTH_MAX_PROJECTS", "7", 7, func(c Config) any { return c.MaxProjects }},
	{"max-queued-builds", "BERTH_MAX_QUEUED_BUILDS", "9", 9, func(c Config) any { return c.MaxQueuedBuilds }},
	{"user-build-concurrency", "BERTH_USER_BUILD_CONCURRENCY", "3", 3, func(c Config) any { return c.UserBuildConcurrency }},
	{"file-cache-mb", "BERTH_FILE_CACHE_MB", "512", int64(512), func(c Config) any { return c.FileCacheMB }},
	{"write-timeout", "BERTH_WRITE_TIMEOUT", "90s", 90 * time.Second, func(c Config) any { return c.WriteTimeout }},
	{"max-conns", "BERTH_MAX_CONNS", "200", 200, func(c Config) any { return c.MaxConns }},
	{"runtime-image", "BERTH_RUNTIME_IMAGE", "node:22-slim", "node:22-slim", func(c Config) any { return c.RuntimeImage }},
	{"server-idle-timeout", "BERTH_SERVER_IDLE_TIMEOUT", "90s", 90 * time.Second, func(c Config) any { return c.ServerIdle }},
	{"max-servers", "BERTH_MAX_SERVERS", "3", 3, func(c Config) any { return c.MaxServers }},
	{"app-max-inflight", "BERTH_APP_MAX_INFLIGHT", "64", 64, func(c Config) any { return c.AppMaxInflight }},
	{"app-start-wait", "BERTH_APP_START_WAIT", "5s", 5 * time.Second, func(c Config) any { return c.AppStartWait }},
	{"server-memory-mb", "BERTH_SERVER_MEMORY_MB", "256", int64(256), func(c Config) any { return c.ServerMemoryMB }},
	{"extra-ca-file", "BERTH_EXTRA_CA_FILE", "/etc/ca.pem", "/etc/ca.pem", func(c Config) any { return c.ExtraCAFile }},
	{"nats-listen", "BERTH_NATS_LISTEN", ":4222", ":4222", func(c Config) any { return c.NATSListen }},
	{"network", "BERTH_NETWORK", "berth-staging", "berth-staging", func(c Config) any { return c.Network }},
	{"network-isolation", "BERTH_NETWORK_ISOLATION", "off", false, func(c Config) any { return c.NetworkIsolation }},
	{"github-client-id", "BERTH_GITHUB_CLIENT_ID", "cid2", "cid2", func(c Config) any { return c.GitHubClientID }},
	{"github-client-secret", "BERTH_GITHUB_CLIENT_SECRET", "cs2", "cs2", func(c Config) any { return c.GitHubClientSecret }},
	{"github-webhook-secret", "BERTH_GITHUB_WEBHOOK_SECRET", "whs", "whs", func(c Config) any { return c.GitHubWebhookSecret }},
	{"github-api-url", "BERTH_GITHUB_API_URL", "https://ghe.example.org/api/v3/", "https://ghe.example.org/api/v3/", func(c Config) any { return c.GitHubAPIURL }},
	{"github-url", "BERTH_GITHUB_URL", "https://ghe.example.org", "https://ghe.example.org", func(c Config) any { return c.GitHubURL }},
	{"github-token", "BERTH_GITHUB_TOKEN", "ghp_x", "ghp_x", func(c Config) any { return c.GitHubToken }},
	{"allowed-github-users", "BERTH_ALLOWED_GITHUB_USERS", " alice, ,bob ", []string{"alice", "bob"}, func(c Config) any { return c.AllowedGitHubUsers }},
	{"allowed-github-orgs", "BERTH_ALLOWED_GITHUB_ORGS", "acme", []string{"acme"}, func(c Config) any { return c.AllowedGitHubOrgs }},
	{"auth-failures-per-ip", "BERTH_AUTH_FAILURES_PER_IP", "20", 20, func(c Config) any { return c.AuthFailuresPerIP }},
	{"auth-failures-global", "BERTH_AUTH_FAILURES_GLOBAL", "500", 500, func(c Config) any { return c.AuthFailuresGlobal }},
	{"allow-local-git", "BERTH_ALLOW_LOCAL_GIT", "true", true, func(c Config) any { return c.AllowLocalGit }},
	{"git-allow-nets", "BERTH_GIT_ALLOW_NETS", " 127.0.0.1/32, 10.1.2.3,fd00::/8", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("fd00::/8")}, func(c Config) any { return c.GitAllowNets }},
	{"public-ips", "BERTH_PUBLIC_IPS", "203.0.113.7, 2001:db8::7", []netip.Addr{netip.MustParseAddr("203.0.113.7"),
		netip.MustParseAddr("2001:db8::7")}, func(c Config) any { return c.PublicIPs }},
	{"dns-resolver", "BERTH_DNS_RESOLVER", "127.0.0.1:5353", "127.0.0.1:5353", func(c Config) any { return c.DNSResolver }},
	{"backup-target", "BERTH_BACKUP_TARGET", "s3://backups/berth", "s3://backups/berth", func(c Config) any { return c.BackupTarget }},
	{"backup-interval", "BERTH_BACKUP_INTERVAL", "6h", 6 * time.Hour, func(c Config) any { return c.BackupInterval }},
	{"backup-keep", "BERTH_BACKUP_KEEP", "30", 30, func(c Config) any { return c.BackupKeep }},
	{"backup-artifacts", "BERTH_BACKUP_ARTIFACTS", "true", true, func(c Config) any { return c.BackupArtifacts }},
	{"retention-interval", "BERTH_RETENTION_INTERVAL", "30m", 30 * time.Minute, func(c Config) any { return c.RetentionInterval }},
	{"keep-deployments", "BERTH_KEEP_DEPLOYMENTS", "3", 3, func(c Config) any { return c.KeepDeployments }},
	{"keep-promoted-days", "BERTH_KEEP_PROMOTED_DAYS", "7", 7, func(c Config) any { return c.KeepPromotedDays }},
	// HTTPS
	{"tls", "BERTH_TLS", " Auto ", "auto", func(c Config) any { return c.TLS }},
	{"acme-email", "BERTH_ACME_EMAIL", "ops@example.org", "ops@example.org", func(c Config) any { return c.ACMEEmail }},
	{"acme-directory", "BERTH_ACME_DIRECTORY", "https://acme.example.org/dir", "https://acme.example.org/dir", func(c Config) any { return c.ACMEDirectory }},
	{"acme-ca-root", "BERTH_ACME_CA_ROOT", "/etc/berth/ca.pem", "/etc/berth/ca.pem", func(c Config) any { return c.ACMECARoot }},
	{"tls-cert", "BERTH_TLS_CERT", "/etc/berth/wild.pem", "/etc/berth/wild.pem", func(c Config) any { return c.TLSCert }},
	{"tls-key", "BERTH_TLS_KEY", "/etc/berth/wild.key", "/etc/berth/wild.key", func(c Config) any { return c.TLSKey }},
	{"https-addr", "BERTH_HTTPS_ADDR", ":8443", ":8443", func(c Config) any { return c.HTTPSAddr }},
	// NATS listener
	{"nats-tls-cert", "BERTH_NATS_TLS_CERT", "/etc/berth/nats.pem", "/etc/berth/nats.pem", func(c Config) any { return c.NATSTLSCert }},
	{"nats-tls-key", "BERTH_NATS_TLS_KEY", "/etc/berth/nats.key", "/etc/berth/nats.key", func(c Config) any { return c.NATSTLSKey }},
	{"promote-health-timeout", "BERTH_PROMOTE_HEALTH_TIMEOUT", "45s", 45 * time.Second, func(c Config) any { return c.PromoteHealthTimeout }},
	{"nats-url", "BERTH_NATS_URL", "nats://10.0.0.5:4222, tls://nats.example.net:4222", []string{"nats://10.0.0.5:4222", "tls://nats.example.net:4222"}, func(c Config) any { return c.NATSURLs }},
	{"nats-user", "BERTH_NATS_USER", "berth", "berth", func(c Config) any { return c.NATSUser }},
	{"nats-password-file", "BERTH_NATS_PASSWORD_FILE", "/etc/berth/nats.password", "/etc/berth/nats.password", func(c Config) any { return c.NATSPasswordFile }},
	{"nats-creds", "BERTH_NATS_CREDS", "/etc/berth/berth.creds", "/etc/berth/berth.creds", func(c Config) any { return c.NATSCreds }},
	{"nats-ca", "BERTH_NATS_CA", "/etc/berth/nats-ca.pem", "/etc/berth/nats-ca.pem", func(c Config) any { return c.NATSCA }},
	{"nats-replicas", "BERTH_NATS_REPLICAS", "3", 3, func(c Config) any { return c.NATSReplicas }},
	{"worker-key-file", "BERTH_WORKER_KEY_FILE", "/etc/berth/worker.key", "/etc/berth/worker.key", func(c Config) any { return c.WorkerKeyFile }},
	{"worker-id", "BERTH_WORKER_ID", "builder-7", "builder-7", func(c Config) any { return c.WorkerID }},
	{"worker-labels", "BERTH_WORKER_LABELS", "Big, arm64", []string{"arm64", "big"}, func(c Config) any { return c.WorkerLabels }},
	{"drain-timeout", "BERTH_DRAIN_TIMEOUT", "90s", 90 * time.Second, func(c Config) any { return c.DrainTimeout }},
}

// companions are set in every case so that settings which need each other
// (S3 endpoint and keys, GitHub client id and secret, an apps domain and a
// dashboard apart from it, a NATS listener beyond loopback and its TLS)
// load on their own.
func companions() map[string]string {
	return map[string]string{
		"BERTH_S3_ACCESS_KEY": "ak", "BERTH_S3_SECRET_KEY": "sk",
		"BERTH_GITHUB_CLIENT_ID": "cid", "BERTH_GITHUB_CLIENT_SECRET": "cs",
		"BERTH_PUBLIC_URL": "https://berth.example.net",
		"BERTH_TLS_CERT":   "/etc/berth/cert.pem", "BERTH_TLS_KEY": "/etc/berth/key.pem",
		"BERTH_NATS_TLS_CERT": "/etc/berth/nats-cert.pem", "BERTH_NATS_TLS_KEY": "/etc/berth/nats-key.pem",
	}
}

func TestEveryOptionIsListed(t *testing.T) {
	opts := options(new(Config))
	if len(opts) != len(settings) {
		t.Fatalf("the option table has %d entries, the test lists %d", len(opts), len(settings))
	}
	for i, o := range opts {
		if o.flag != settings[i].flag || o.env != settings[i].env {
			t.Errorf("option %d is -%s %s, the test expects -%s %s", i, o.flag, o.env, settings[i].flag, settings[i].env)
		}
	}
}

func TestVariableSetsItsField(t *testing.T) {
	for _, s := range settings {
		t.Run(s.env, func(t *testing.T) {
			vars := companions()
			vars[s.env] = s.in
			c, err := LoadConfig(nil, func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got := s.get(c); !reflect.DeepEqual(got, s.want) {
				t.Fatalf("%s=%q gives %#v, want %#v", s.env, s.in, got, s.want)
			}
		})
	}
}

func TestFlagBeatsVariable(t *testing.T) {
	defaults := options(new(Config))
	for i, s := range settings {
		t.Run(s.flag, func(t *testing.T) {
			// The variable holds another valid value: the default, or any
			// string where the default is empty.
			other := defaults[i].def
			if other == "" || other == s.in {
				other = "other"
				if _, ok := s.want.([]netip.Prefix); ok {
					other = "192.168.0.0/16"
				}
				if _, ok := s.want.([]netip.Addr); ok {
					other = "192.0.2.1"
				}
			}
			switch s.flag {
			case "public-url":
				other = "https://other.example.net"
			case "nats-url":
				other = "nats://other.example.net:4222"
			}
			vars := companions()
			vars[s.env] = other
			c, err := LoadConfig([]string{"-" + s.flag + "=" + s.in}, func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got := s.get(c); !reflect.DeepEqual(got, s.want) {
				t.Fatalf("-%s=%q with %s=%q gives %#v, want %#v", s.flag, s.in, s.env, other, got, s.want)
			}
		})
	}
}

func TestBadVariableNamesIt(t *testing.T) {
	bad := 0
	for _, s := range settings {
		switch s.want.(type) {
		case string, []string:
			continue // every text is a valid string or list
		}
		bad++
		t.Run(s.env, func(t *testing.T) {
			_, err := LoadConfig(nil, func(k string) string {
				if k == s.env {
					return "x"
				}
				return ""
			})
			if err == nil || !strings.HasPrefix(err.Error(), s.env+`: "x" is not `) {
				t.Fatalf("%s=x gives %v, want an error naming %s", s.env, err, s.env)
			}
		})
	}
	if bad < 10 {
		t.Fatalf("only %d typed settings checked", bad)
	}
	_, err := LoadConfig(nil, func(k string) string {
		return map[string]string{"BERTH_BUILD_TIMEOUT": "x", "BERTH_MAX_SERVERS": "y"}[k]
	})
	want := `BERTH_BUILD_TIMEOUT: "x" is not a duration such as 15m` + "\n" + `BERTH_MAX_SERVERS: "y" is not a whole number`
	if err == nil || err.Error() != want {
		t.Fatalf("two bad variables give %v, want both:\n%s", err, want)
	}
}

func TestDerivedSettings(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults", nil, func(c Config) bool {
			return c.RuntimeImage == "node:22-alpine" && c.PublicURL == "" && c.AppDomain == "localhost" &&
				c.BuildTimeout == 15*time.Minute && c.S3Bucket == "berth" && !c.S3Secure && c.AllowedGitHubUsers == nil &&
				c.Network == "berth" && c.NetworkIsolation
		}, ""},
		{"isolation off as false", map[string]string{"BERTH_NETWORK_ISOLATION": "false"}, func(c Config) bool { return !c.NetworkIsolation }, ""},
		{"isolation ON in capitals", map[string]string{"BERTH_NETWORK_ISOLATION": "ON"}, func(c Config) bool { return c.NetworkIsolation }, ""},
		{"isolation neither on nor off", map[string]string{"BERTH_NETWORK_ISOLATION": "maybe"}, nil, "BERTH_NETWORK_ISOLATION: \"maybe\" is not true or false (or on or off)"},
		{"runtime image follows the build image", map[string]string{"BERTH_BUILD_IMAGE": "node:24"}, func(c Config) bool { return c.RuntimeImage == "node:24" }, ""},
		{"client id without secret", map[string]string{"BERTH_GITHUB_CLIENT_ID": "cid"}, nil, "go together"},
		{"client secret without id", map[string]string{"BERTH_GITHUB_CLIENT_SECRET": "cs"}, nil, "go together"},
		{"no builds at once", map[string]string{"BERTH_BUILD_CONCURRENCY": "0"}, nil, "at least 1"},
		{"zero build timeout", map[string]string{"BERTH_BUILD_TIMEOUT": "0s"}, nil, "must be positive"},
		{"TLS off by default, no HTTPS address", nil, func(c Config) bool { return c.TLS == "off" && c.HTTPSAddr == "" }, ""},
		{"TLS auto listens on 443", map[string]string{"BERTH_TLS": "auto"}, func(c Config) bool {
			return c.HTTPSAddr == ":443" && c.ACMEDirectory == "https://acme-v02.api.letsencrypt.org/directory"
		}, ""},
		{"TLS neither off, auto nor manual", map[string]string{"BERTH_TLS": "on"}, nil, "it is off, auto or manual"},
		{"TLS manual without a certificate", map[string]string{"BERTH_TLS": "manual"}, nil, "set both"},
		{"TLS certificate without key", map[string]string{"BERTH_TLS_CERT": "/c.pem"}, nil, "BERTH_TLS_CERT and BERTH_TLS_KEY go together"},
		{"S3 endpoint without keys", map[string]string{"BERTH_S3_ENDPOINT": "minio:9000", "BERTH_S3_ACCESS_KEY": "ak"}, nil, "needs BERTH_S3_ACCESS_KEY and BERTH_S3_SECRET_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(nil, func(k string) string { return tt.vars[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestUsageListsEveryOption(t *testing.T) {
	var b strings.Builder
	printUsage(&b, options(new(Config)))
	for _, s := range settings {
		if !strings.Contains(b.String(), "-"+s.flag+", "+s.env+" ") {
			t.Errorf("berth serve -h does not list -%s %s:\n%s", s.flag, s.env, b.String())
		}
	}
	if !strings.Contains(b.String(), "(default: 15m)") || !strings.Contains(b.String(), "(default: http://<app domain>:<port>)") {
		t.Errorf("berth serve -h does not show the defaults:\n%s", b.String())
	}
}

// TestCacheSettings: the cache sizes the README lists come from flags and
// BERTH_* variables, and a build cache of 0 MiB turns build caches off.
func TestCacheSettings(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	cfg, err := LoadConfig(nil, env(map[string]string{"BERTH_DATA_DIR": "/srv/berth"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BuildCacheMB != 4096 || cfg.StaticCacheMB != 64 {
		t.Fatalf("defaults: build %d MiB, static %d MiB; want 4096 and 64", cfg.BuildCacheMB, cfg.StaticCacheMB)
	}
	if got := buildCacheDir(cfg); got != filepath.Join("/srv/berth", "buildcache") {
		t.Fatalf("build cache dir %q", got)
	}
	cfg, err = LoadConfig(nil, env(map[string]string{"BERTH_BUILD_CACHE_MB": "0", "BERTH_STATIC_CACHE_MB": "16"}))
	if err != nil {
		t.Fatal(err)
	}
	if buildCacheDir(cfg) != "" || cfg.StaticCacheMB != 16 {
		t.Fatalf("BERTH_BUILD_CACHE_MB=0 gives dir %q; static %d MiB, want 16", buildCacheDir(cfg), cfg.StaticCacheMB)
	}
	cfg, err = LoadConfig([]string{"-build-cache-mb", "512"}, env(map[string]string{"BERTH_BUILD_CACHE_MB": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BuildCacheMB != 512 {
		t.Fatalf("the flag gives %d MiB, want 512 over the variable", cfg.BuildCacheMB)
	}
}

func TestBareBoolFlag(t *testing.T) {
	c, err := LoadConfig([]string{"-s3-secure"}, func(string) string { return "" })
	if err != nil || !c.S3Secure {
		t.Fatalf("-s3-secure alone gives %v, %v; want true", c.S3Secure, err)
	}
}

var update = flag.Bool("update", false, "rewrite README.md's configuration table")

// TestREADMEConfigTable fails when README.md's table of settings differs
// from the option table; -update rewrites it.
func TestREADMEConfigTable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- config-table", "<!-- /config-table -->"
	i := bytes.Index(readme, []byte(begin))
	j := bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", begin, end)
	}
	i += bytes.IndexByte(readme[i:], '\n') + 1 // keep the opening marker line
	// Blank lines keep Markdown from reading the comments into the table.
	want := "\n" + ConfigMarkdown() + "\n"
	if string(readme[i:j]) == want {
		return
	}
	if !*update {
		t.Fatal("README.md's configuration table differs from config.go's options; regenerate it with\n\tgo test -run TestREADMEConfigTable -update")
	}
	out := append(append(append([]byte{}, readme[:i]...), want...), readme[j:]...)
	if err := os.WriteFile("README.md", out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShortAdminTokenRefused: an admin token under 32 characters stops
// berth serve, and the error offers a freshly generated strong one.
func TestShortAdminTokenRefused(t *testing.T) {
	tokenRe := regexp.MustCompile(`freshly generated token: ([A-Za-z0-9_-]{43})$`)
	var offered []string
	for _, short := range []string{"change-me", "e2e-admin-token", strings.Repeat("x", 31)} {
		_, err := LoadConfig(nil, func(k string) string { return map[string]string{"BERTH_ADMIN_TOKEN": short}[k] })
		if err == nil {
			t.Fatalf("BERTH_ADMIN_TOKEN=%q (%d characters) is accepted", short, len(short))
		}
		m := tokenRe.FindStringSubmatch(err.Error())
		if !strings.HasPrefix(err.Error(), "BERTH_ADMIN_TOKEN is ") || m == nil {
			t.Fatalf("BERTH_ADMIN_TOKEN=%q: %v, want an error naming it and offering a 43-character token", short, err)
		}
		offered = append(offered, m[1])
	}
	if offered[0] == offered[1] || offered[1] == offered[2] {
		t.Fatalf("the offered tokens repeat: %v", offered)
	}
	for _, ok := range []string{strings.Repeat("x", 32), offered[0]} {
		if _, err := LoadConfig(nil, func(k string) string { return map[string]string{"BERTH_ADMIN_TOKEN": ok}[k] }); err != nil {
			t.Fatalf("BERTH_ADMIN_TOKEN of %d characters: %v", len(ok), err)
		}
	}
}

// TestAuthFailureLimitsPositive: a limit of 0 would refuse every
// credential check; it is refused at start instead.
func TestAuthFailureLimitsPositive(t *testing.T) {
	for _, env := range []string{"BERTH_AUTH_FAILURES_PER_IP", "BERTH_AUTH_FAILURES_GLOBAL"} {
		_, err := LoadConfig(nil, func(k string) string { return map[string]string{env: "0"}[k] })
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=0: %v, want an error naming it", env, err)
		}
	}
}

// TestDashboardApartFromApps: berth refuses to start when deployed sites
// could set cookies on the dashboard: its host is the apps domain, lies
// under it or shares its registrable domain. The laptop default (apps
// under localhost, the dashboard on localhost) still starts.
func TestDashboardApartFromApps(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string // "" means it loads
	}{
		{"laptop default", nil, ""},
		{"laptop, dashboard on localhost", map[string]string{"BERTH_PUBLIC_URL": "http://localhost:8080"}, ""},
		{"laptop, dashboard on 127.0.0.1", map[string]string{"BERTH_PUBLIC_URL": "http://127.0.0.1:8080"}, ""},
		{"apart", map[string]string{"BERTH_APP_DOMAIN": "example-apps.com", "BERTH_PUBLIC_URL": "https://berth.example.com"}, ""},
		{"apart, old name", map[string]string{"BERTH_BASE_DOMAIN": "example-apps.com", "BERTH_PUBLIC_URL": "https://berth.example.com"}, ""},
		{"apart, both names agree", map[string]string{"BERTH_BASE_DOMAIN": "Example-Apps.com.", "BERTH_APP_DOMAIN": "example-apps.com", "BERTH_PUBLIC_URL": "https://berth.example.com"}, ""},
		{"dashboard under the apps domain", map[string]string{"BERTH_APP_DOMAIN": "example.com", "BERTH_PUBLIC_URL": "https://app.example.com"}, "github.io"},
		{"dashboard under the old name's domain", map[string]string{"BERTH_BASE_DOMAIN": "example.com", "BERTH_PUBLIC_URL": "https://app.example.com"}, "is the apps domain example.com or under it"},
		{"dashboard on the apps domain", map[string]string{"BERTH_APP_DOMAIN": "example.com", "BERTH_PUBLIC_URL": "https://example.com"}, "is the apps domain example.com or under it"},
		{"no public URL: the dashboard is the apps domain", map[string]string{"BERTH_APP_DOMAIN": "apps.example.com"}, "is the apps domain"},
		{"shared registrable domain", map[string]string{"BERTH_APP_DOMAIN": "apps.example.com", "BERTH_PUBLIC_URL": "https://berth.example.com"}, "share the registrable domain example.com"},
		{"shared registrable domain under a public suffix", map[string]string{"BERTH_APP_DOMAIN": "apps.shop.co.uk", "BERTH_PUBLIC_URL": "https://shop.co.uk"}, "share the registrable domain shop.co.uk"},
		{"apps domain under the dashboard", map[string]string{"BERTH_APP_DOMAIN": "apps.berth.example.com", "BERTH_PUBLIC_URL": "https://berth.example.com"}, "share the registrable domain"},
		{"dashboard under localhost", map[string]string{"BERTH_PUBLIC_URL": "http://berth.localhost:8080"}, "under it"},
		{"the two names differ", map[string]string{"BERTH_BASE_DOMAIN": "a.example", "BERTH_APP_DOMAIN": "b.example", "BERTH_PUBLIC_URL": "https://berth.example.com"}, "set only BERTH_APP_DOMAIN"},
		{"flag and old variable differ", map[string]string{"BERTH_BASE_DOMAIN": "a.example", "-app-domain": "b.example", "BERTH_PUBLIC_URL": "https://berth.example.com"}, "set only BERTH_APP_DOMAIN"},
		{"public URL without scheme", map[string]string{"BERTH_PUBLIC_URL": "berth.example.com"}, "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if v, ok := tt.vars["-app-domain"]; ok {
				args = []string{"-app-domain=" + v}
			}
			_, err := LoadConfig(args, func(k string) string { return tt.vars[k] })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestDNSResolverNeedsPort: the custom domain resolver is a host:port, so a
// bare host is refused at start rather than at the first verification.
func TestDNSResolverNeedsPort(t *testing.T) {
	for in, ok := range map[string]bool{"127.0.0.1:53": true, "[::1]:5353": true, "127.0.0.1": false, "dns.example": false} {
		vars := companions()
		vars["BERTH_DNS_RESOLVER"] = in
		_, err := LoadConfig(nil, func(k string) string { return vars[k] })
		if (err == nil) != ok || !ok && !strings.Contains(err.Error(), "BERTH_DNS_RESOLVER") {
			t.Errorf("BERTH_DNS_RESOLVER=%s: %v", in, err)
		}
	}
}

// TestRetentionSettings: retention keeps at least one deployment, and
// neither its age nor its interval may be negative; 0 turns the schedule off.
func TestRetentionSettings(t *testing.T) {
	for env, ok := range map[string]map[string]bool{
		"BERTH_KEEP_DEPLOYMENTS":   {"0": false, "1": true, "-2": false},
		"BERTH_KEEP_PROMOTED_DAYS": {"0": true, "-1": false},
		"BERTH_RETENTION_INTERVAL": {"0": true, "-1m": false, "10m": true},
	} {
		for v, want := range ok {
			_, err := LoadConfig(nil, func(k string) string {
				if k == env {
					return v
				}
				return ""
			})
			if (err == nil) != want {
				t.Errorf("%s=%s: %v, want accepted %v", env, v, err, want)
			}
		}
	}
}

// TestNATSListenerBeyondLoopbackNeedsTLS: berth refuses to start a NATS
// listener other machines can reach without TLS; loopback may go without.
func TestNATSListenerBeyondLoopbackNeedsTLS(t *testing.T) {
	tests := []struct {
		listen  string
		tls     bool
		wantErr bool
	}{
		{"", false, false},
		{"127.0.0.1:4222", false, false},
		{"127.0.0.2:4222", false, false},
		{"[::1]:4222", false, false},
		{"localhost:4222", false, false},
		{":4222", false, true},
		{"0.0.0.0:4222", false, true},
		{"[::]:4222", false, true},
		{"10.0.0.5:4222", false, true},
		{"[2001:db8::5]:4222", false, true},
		{"nats.example.org:4222", false, true},
		{"127.0.0.1:4222", true, false},
		{"[::1]:4222", true, false},
		{":4222", true, false},
		{"0.0.0.0:4222", true, false},
		{"[::]:4222", true, false},
		{"10.0.0.5:4222", true, false},
	}
	for _, tt := range tests {
		vars := map[string]string{"BERTH_NATS_LISTEN": tt.listen}
		if tt.tls {
			vars["BERTH_NATS_TLS_CERT"], vars["BERTH_NATS_TLS_KEY"] = "/etc/berth/nats.pem", "/etc/berth/nats.key"
		}
		_, err := LoadConfig(nil, func(k string) string { return vars[k] })
		if !tt.wantErr && err != nil {
			t.Errorf("BERTH_NATS_LISTEN=%q, TLS %v: %v", tt.listen, tt.tls, err)
		}
		if tt.wantErr && (err == nil || !strings.Contains(err.Error(), "without TLS: set BERTH_NATS_TLS_CERT and BERTH_NATS_TLS_KEY")) {
			t.Errorf("BERTH_NATS_LISTEN=%q without TLS: %v, want a refusal saying what to set", tt.listen, err)
		}
	}
	for _, vars := range []map[string]string{
		{"BERTH_NATS_LISTEN": "4222"},
		{"BERTH_NATS_LISTEN": "127.0.0.1:4222", "BERTH_NATS_TLS_CERT": "/c.pem"},
	} {
		if _, err := LoadConfig(nil, func(k string) string { return vars[k] }); err == nil {
			t.Errorf("%v loads", vars)
		}
	}
}

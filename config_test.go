package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
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
	{"base-domain", "BERTH_BASE_DOMAIN", ".Example.ORG.", "example.org", func(c Config) any { return c.BaseDomain }},
	{"public-url", "BERTH_PUBLIC_URL", "https://berth.example.org", "https://berth.example.org", func(c Config) any { return c.PublicURL }},
	{"admin-token", "BERTH_ADMIN_TOKEN", "tok", "tok", func(c Config) any { return c.AdminToken }},
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
	{"runtime-image", "BERTH_RUNTIME_IMAGE", "node:22-slim", "node:22-slim", func(c Config) any { return c.RuntimeImage }},
	{"server-idle-timeout", "BERTH_SERVER_IDLE_TIMEOUT", "90s", 90 * time.Second, func(c Config) any { return c.ServerIdle }},
	{"max-servers", "BERTH_MAX_SERVERS", "3", 3, func(c Config) any { return c.MaxServers }},
	{"app-max-inflight", "BERTH_APP_MAX_INFLIGHT", "64", 64, func(c Config) any { return c.AppMaxInflight }},
	{"app-start-wait", "BERTH_APP_START_WAIT", "5s", 5 * time.Second, func(c Config) any { return c.AppStartWait }},
	{"server-memory-mb", "BERTH_SERVER_MEMORY_MB", "256", int64(256), func(c Config) any { return c.ServerMemoryMB }},
	{"extra-ca-file", "BERTH_EXTRA_CA_FILE", "/etc/ca.pem", "/etc/ca.pem", func(c Config) any { return c.ExtraCAFile }},
	{"nats-listen", "BERTH_NATS_LISTEN", ":4222", ":4222", func(c Config) any { return c.NATSListen }},
	{"github-client-id", "BERTH_GITHUB_CLIENT_ID", "cid2", "cid2", func(c Config) any { return c.GitHubClientID }},
	{"github-client-secret", "BERTH_GITHUB_CLIENT_SECRET", "cs2", "cs2", func(c Config) any { return c.GitHubClientSecret }},
	{"github-webhook-secret", "BERTH_GITHUB_WEBHOOK_SECRET", "whs", "whs", func(c Config) any { return c.GitHubWebhookSecret }},
	{"github-api-url", "BERTH_GITHUB_API_URL", "https://ghe.example.org/api/v3/", "https://ghe.example.org/api/v3/", func(c Config) any { return c.GitHubAPIURL }},
	{"github-url", "BERTH_GITHUB_URL", "https://ghe.example.org", "https://ghe.example.org", func(c Config) any { return c.GitHubURL }},
	{"github-token", "BERTH_GITHUB_TOKEN", "ghp_x", "ghp_x", func(c Config) any { return c.GitHubToken }},
	{"allowed-github-users", "BERTH_ALLOWED_GITHUB_USERS", " alice, ,bob ", []string{"alice", "bob"}, func(c Config) any { return c.AllowedGitHubUsers }},
	{"allowed-github-orgs", "BERTH_ALLOWED_GITHUB_ORGS", "acme", []string{"acme"}, func(c Config) any { return c.AllowedGitHubOrgs }},
}

// companions are set in every case so that settings which need each other
// (S3 endpoint and keys, GitHub client id and secret) load on their own.
func companions() map[string]string {
	return map[string]string{
		"BERTH_S3_ACCESS_KEY": "ak", "BERTH_S3_SECRET_KEY": "sk",
		"BERTH_GITHUB_CLIENT_ID": "cid", "BERTH_GITHUB_CLIENT_SECRET": "cs",
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
			return c.RuntimeImage == "node:22-alpine" && c.PublicURL == "" && c.BaseDomain == "localhost" &&
				c.BuildTimeout == 15*time.Minute && c.S3Bucket == "berth" && !c.S3Secure && c.AllowedGitHubUsers == nil
		}, ""},
		{"runtime image follows the build image", map[string]string{"BERTH_BUILD_IMAGE": "node:24"}, func(c Config) bool { return c.RuntimeImage == "node:24" }, ""},
		{"client id without secret", map[string]string{"BERTH_GITHUB_CLIENT_ID": "cid"}, nil, "go together"},
		{"client secret without id", map[string]string{"BERTH_GITHUB_CLIENT_SECRET": "cs"}, nil, "go together"},
		{"no builds at once", map[string]string{"BERTH_BUILD_CONCURRENCY": "0"}, nil, "at least 1"},
		{"zero build timeout", map[string]string{"BERTH_BUILD_TIMEOUT": "0s"}, nil, "must be positive"},
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
	if !strings.Contains(b.String(), "(default: 15m)") || !strings.Contains(b.String(), "(default: http://<base domain>:<port>)") {
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

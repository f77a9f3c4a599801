package main

import (
	"path/filepath"
	"testing"
)

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

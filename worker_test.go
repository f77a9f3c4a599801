package main

import (
	"slices"
	"strings"
	"testing"
)

func TestWorkerConfig(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	good := map[string]string{"BERTH_NATS_URL": "nats://127.0.0.1:4222", "BERTH_S3_ENDPOINT": "127.0.0.1:9000",
		"BERTH_S3_ACCESS_KEY": "ak", "BERTH_S3_SECRET_KEY": "sk", "BERTH_WORKER_LABELS": "big,ARM64"}
	c, err := LoadWorkerConfig([]string{"-build-concurrency", "3"}, env(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.BuildConcurrency != 3 || !slices.Equal(c.WorkerLabels, []string{"arm64", "big"}) || c.S3Bucket != "berth" {
		t.Fatalf("worker config %+v", c)
	}
	// Settings of serve alone are not the worker's.
	if _, err := LoadWorkerConfig([]string{"-addr", ":80"}, env(good)); err == nil {
		t.Error("berth worker accepted -addr")
	}
	_, err = LoadWorkerConfig(nil, env(nil))
	if err == nil || !strings.Contains(err.Error(), "BERTH_NATS_URL is required") || !strings.Contains(err.Error(), "BERTH_S3_ENDPOINT is required") {
		t.Errorf("no queue and no store: %v", err)
	}
	for name, vars := range map[string]map[string]string{
		"credentials in the URL": {"BERTH_NATS_URL": "nats://worker:secret@127.0.0.1:4222"},
		"not a NATS URL":         {"BERTH_NATS_URL": "http://127.0.0.1:4222"},
		"creds and a user":       {"BERTH_NATS_CREDS": "/etc/w.creds", "BERTH_NATS_USER": "worker"},
		"a bad label":            {"BERTH_WORKER_LABELS": "gpu_x"},
		"no builds":              {"BERTH_BUILD_CONCURRENCY": "0"},
	} {
		v := map[string]string{}
		for k, x := range good {
			v[k] = x
		}
		for k, x := range vars {
			v[k] = x
		}
		_, err := LoadWorkerConfig(nil, env(v))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret@") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

func TestServeWithWorkersElsewhere(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	if _, err := LoadConfig(nil, env(map[string]string{"BERTH_BUILD_CONCURRENCY": "0"})); err == nil {
		t.Error("no builds anywhere was accepted")
	}
	for _, vars := range []map[string]string{
		{"BERTH_BUILD_CONCURRENCY": "0", "BERTH_NATS_URL": "nats://127.0.0.1:4222"},
		{"BERTH_BUILD_CONCURRENCY": "0", "BERTH_NATS_LISTEN": "127.0.0.1:4222"},
	} {
		if _, err := LoadConfig(nil, env(vars)); err != nil {
			t.Errorf("%v: %v", vars, err)
		}
	}
	if _, err := LoadConfig(nil, env(map[string]string{"BERTH_NATS_URL": "nats://127.0.0.1:4222", "BERTH_NATS_LISTEN": "127.0.0.1:4223"})); err == nil {
		t.Error("an external cluster and the embedded listener together were accepted")
	}
}

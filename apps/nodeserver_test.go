package apps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"testing"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/store"
)

// TestNodeServerRunsStartCommand: a node-server deployment runs the start
// command its manifest names (npm start, which runs the package's start
// script) with PORT, HOST and the runtime environment, and is started
// again after it crashes.
func TestNodeServerRunsStartCommand(t *testing.T) {
	env := newTestServers(t, Config{})
	files := map[string]string{
		"package.json": `{"name":"app","private":true,"scripts":{"start":"node server.js"}}`,
		"server.js":    "process.env.HOSTNAME = process.env.HOST;\n" + testServerJS,
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	ctx := context.Background()
	key := model.ArtifactPrefix("npm-start")
	if err := env.servers.store.Put(ctx, key+model.ServerBundle, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "application/gzip"); err != nil {
		t.Fatal(err)
	}
	m := &artifacts.Manifest{OutputType: model.OutputNodeServer, Files: map[string]artifacts.ManifestFile{}, Start: []string{"npm", "start"}}
	if err := artifacts.PutManifest(ctx, env.servers.store, key, m); err != nil {
		t.Fatal(err)
	}
	d := &store.Deployment{ID: "npm-start", ArtifactKey: key, OutputType: model.OutputNodeServer, State: model.StateReady}

	code, body := get(t, env.servers, d, "/")
	if code != http.StatusOK || body["env"] != "hello" || body["node_env"] != "production" {
		t.Fatalf("GET /: %d %v", code, body)
	}
	if code, _ := get(t, env.servers, d, "/crash"); code != http.StatusOK {
		t.Fatalf("crash request: %d", code)
	}
	first, _ := env.servers.Running(d.ID)
	env.waitStopped(t, first)
	if code, body := get(t, env.servers, d, "/"); code != http.StatusOK || body["url"] != "/" {
		t.Fatalf("request after the crash: %d %v", code, body)
	}
	if second, _ := env.servers.Running(d.ID); second == first || env.servers.Starts() != 2 {
		t.Errorf("want a new container after the crash (starts %d)", env.servers.Starts())
	}
}

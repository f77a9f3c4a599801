package apps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/berth-dev/berth/artifacts"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/sandbox"
	"github.com/berth-dev/berth/store"
)

// TestDockerImageServer: a docker-image deployment's image is loaded from
// its archive when the engine lacks it, runs with its own CMD, as its own
// non-root USER, with PORT set to the manifest's port and the runtime
// environment; Remove stops it and removes the loaded image.
func TestDockerImageServer(t *testing.T) {
	env := newTestServers(t, Config{IdleTimeout: 500 * time.Millisecond, ReapEvery: 100 * time.Millisecond})
	ctx := context.Background()
	id := "img-" + store.NewID(6)
	ref := model.AppImage(id)
	t.Cleanup(func() { env.sb.RemoveImage(context.Background(), ref) })

	var buildCtx bytes.Buffer
	tw := tar.NewWriter(&buildCtx)
	for name, body := range map[string]string{
		"Dockerfile": "FROM " + env.servers.cfg.Image + "\nCOPY server.js /srv/server.js\nUSER 4321:4321\nEXPOSE 9999\nCMD [\"node\", \"/srv/server.js\"]\n",
		"server.js":  testServerJS,
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	if err := env.sb.BuildImage(ctx, sandbox.ImageBuild{Context: &buildCtx, Dockerfile: "Dockerfile", Tag: ref, Timeout: 5 * time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	saved, err := env.sb.SaveImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&archive, gzip.BestSpeed)
	_, err = io.Copy(zw, saved)
	saved.Close()
	if err != nil || zw.Close() != nil {
		t.Fatalf("save image: %v", err)
	}
	// The image is only in the archive now, as on a host that did not build it.
	if err := env.sb.RemoveImage(ctx, ref); err != nil {
		t.Fatal(err)
	}
	key := model.ArtifactPrefix(id)
	if err := env.servers.store.Put(ctx, key+model.ImageArchive, bytes.NewReader(archive.Bytes()), int64(archive.Len()), "application/gzip"); err != nil {
		t.Fatal(err)
	}
	// The manifest's port, not the image's EXPOSE, is where it listens.
	m := &artifacts.Manifest{OutputType: model.OutputDockerImage, Files: map[string]artifacts.ManifestFile{}, Port: 8123}
	if err := artifacts.PutManifest(ctx, env.servers.store, key, m); err != nil {
		t.Fatal(err)
	}
	d := &store.Deployment{ID: id, ArtifactKey: key, OutputType: model.OutputDockerImage, State: model.StateReady}

	code, body := get(t, env.servers, d, "/")
	if code != http.StatusOK || body["env"] != "hello" || body["uid"] != float64(4321) || body["url"] != "/" {
		t.Fatalf("GET /: %d %v", code, body)
	}
	if ok, err := env.sb.HasImage(ctx, ref); err != nil || !ok {
		t.Fatalf("image %s not loaded: %v", ref, err)
	}
	// Stopped for idleness, it starts again from its own container, on
	// the image's port rather than 3000.
	ids := env.containers(t, id)
	if len(ids) != 1 {
		t.Fatalf("containers after the first request: %v, want one", ids)
	}
	waitFor(t, "the idle server to be stopped", func() bool {
		_, ok := env.servers.Running(id)
		return !ok
	})
	if code, body := get(t, env.servers, d, "/again"); code != http.StatusOK || body["url"] != "/again" {
		t.Fatalf("GET /again after the idle stop: %d %v", code, body)
	}
	if again := env.containers(t, id); len(again) != 1 || again[0] != ids[0] {
		t.Fatalf("containers after the restart: %v, want only %s (restarted, not replaced)", again, ids[0])
	}
	env.servers.Remove(id)
	if ids := env.containers(t, id); len(ids) != 0 {
		t.Errorf("containers left after Remove: %v", ids)
	}
	if ok, err := env.sb.HasImage(ctx, ref); err != nil || ok {
		t.Errorf("image %s still in the engine after Remove (%v)", ref, err)
	}
}

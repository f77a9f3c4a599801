package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// buildContext is a tar stream holding one Dockerfile at path name.
func buildContext(t *testing.T, name, dockerfile string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(dockerfile)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(dockerfile))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// TestBuildImage builds a Dockerfile with a build arg through the classic
// builder, streams its output, reads its lowest EXPOSEd port, and takes the
// image through save, remove and load.
func TestBuildImage(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	tag := "berth-test-image:" + h.instance
	t.Cleanup(func() { h.sb.RemoveImage(context.Background(), tag) })
	var mu sync.Mutex
	var lines []string
	err := h.sb.BuildImage(ctx, ImageBuild{
		Context:    buildContext(t, "deploy/Dockerfile.web", "FROM "+h.image+"\nARG GREETING\nRUN echo \"greeting is $GREETING\" && echo \"$GREETING\" > /greeting\nEXPOSE 9090 8081/tcp 53/udp\nCMD [\"cat\", \"/greeting\"]\n"),
		Dockerfile: "deploy/Dockerfile.web",
		Tag:        tag,
		Args:       map[string]string{"GREETING": "hello from the arg"},
		Labels:     map[string]string{LabelInstance: h.instance},
		Limits:     Limits{MemoryBytes: 512 << 20, NanoCPUs: 1e9},
		Timeout:    5 * time.Minute,
	}, func(l Line) {
		mu.Lock()
		lines = append(lines, l.Text)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(lines, "\n"))
	}
	out := strings.Join(lines, "\n")
	for _, want := range []string{"Step 1/7 : FROM " + h.image, "greeting is hello from the arg", "Successfully tagged " + tag} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	if port, err := h.sb.ImageExposedPort(ctx, tag); err != nil || port != 8081 {
		t.Errorf("ImageExposedPort = %d, %v; want 8081 (the lowest TCP port)", port, err)
	}

	rc, err := h.sb.SaveImage(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read saved image: %v", err)
	}
	if err := h.sb.RemoveImage(ctx, tag); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.sb.HasImage(ctx, tag); err != nil || ok {
		t.Fatalf("HasImage after remove = %v, %v", ok, err)
	}
	if err := h.sb.RemoveImage(ctx, tag); err != nil {
		t.Errorf("removing a missing image: %v, want nil", err)
	}
	if err := h.sb.LoadImage(ctx, bytes.NewReader(archive)); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.sb.HasImage(ctx, tag); err != nil || !ok {
		t.Fatalf("HasImage after load = %v, %v", ok, err)
	}
}

// TestBuildImageMultiStage: the images of an earlier stage, which no tag
// needs, are removed; the final image and its parents stay.
func TestBuildImageMultiStage(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	tag := "berth-test-image:" + h.instance
	t.Cleanup(func() { h.sb.RemoveImage(context.Background(), tag) })
	var steps stepImages
	err := h.sb.BuildImage(ctx, ImageBuild{
		Context:    buildContext(t, "Dockerfile", "FROM "+h.image+" AS build\nRUN echo built > /out\nFROM "+h.image+"\nCOPY --from=build /out /out\nRUN cat /out\n"),
		Dockerfile: "Dockerfile", Tag: tag, Labels: map[string]string{LabelInstance: h.instance},
	}, func(l Line) { steps.see(l.Text) })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps.ids) < 3 {
		t.Fatalf("step images %v, want the build stage's and the final stage's", steps.ids)
	}
	if ok, _ := h.sb.HasImage(ctx, steps.ids[0]); ok {
		t.Errorf("the build stage's image %s is still there", steps.ids[0])
	}
	for _, id := range steps.ids[1:] {
		if ok, err := h.sb.HasImage(ctx, id); err != nil || !ok {
			t.Errorf("image %s of the final stage is gone (%v)", id, err)
		}
	}
	if ok, err := h.sb.HasImage(ctx, tag); err != nil || !ok {
		t.Errorf("the built image is gone (%v)", err)
	}
}

// TestBuildImageFails: a failing RUN step is the build's error, and a
// build past its timeout is stopped with ErrTimeout.
func TestBuildImageFails(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	tag := "berth-test-image:" + h.instance
	t.Cleanup(func() { h.sb.RemoveImage(context.Background(), tag) })
	var steps stepImages
	err := h.sb.BuildImage(ctx, ImageBuild{
		Context: buildContext(t, "Dockerfile", "FROM "+h.image+"\nRUN echo made > /made\nENV A=b\nRUN exit 3\n"), Dockerfile: "Dockerfile", Tag: tag,
		Labels: map[string]string{LabelInstance: h.instance},
	}, func(l Line) { steps.see(l.Text) })
	if err == nil || !strings.Contains(err.Error(), "non-zero code: 3") {
		t.Errorf("failing RUN: %v, want its exit code", err)
	}
	// The images its first steps made are gone with it; the base image stays.
	if len(steps.ids) != 2 {
		t.Errorf("step images %v, want the two of RUN echo and ENV", steps.ids)
	}
	for _, id := range steps.ids {
		if ok, err := h.sb.HasImage(ctx, id); err != nil || ok {
			t.Errorf("image %s of a failed build's step is still there (%v)", id, err)
		}
	}
	if ok, err := h.sb.HasImage(ctx, h.image); err != nil || !ok {
		t.Fatalf("the base image %s is gone (%v)", h.image, err)
	}
	started := time.Now()
	err = h.sb.BuildImage(ctx, ImageBuild{
		// The LABEL marks the RUN step's container as this test's.
		Context: buildContext(t, "Dockerfile", "FROM "+h.image+"\nLABEL "+LabelInstance+"="+h.instance+"\nRUN sleep 300\n"), Dockerfile: "Dockerfile", Tag: tag,
		Labels: map[string]string{LabelInstance: h.instance}, Timeout: 3 * time.Second,
	}, nil)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("slow RUN: %v, want ErrTimeout", err)
	}
	if took := time.Since(started); took > 2*time.Minute {
		t.Errorf("the timed-out build returned after %s", took)
	}
	// The engine stops the step and removes its container.
	args := filters.NewArgs(filters.Arg("label", LabelInstance+"="+h.instance))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := h.sb.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out RUN step's container is still there 2 minutes later: %s %s", list[0].ID, list[0].State)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

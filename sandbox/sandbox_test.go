package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// These tests drive a real Docker engine with the image named by BERTH_BUILD_IMAGE (build it
// with scripts/node-image.sh). Without either they fail, unless -short skips them.

type harness struct {
	sb       *Sandbox
	image    string
	instance string // LabelInstance of every container this test makes
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Docker engine and BERTH_BUILD_IMAGE; skipped under -short")
	}
	img := os.Getenv("BERTH_BUILD_IMAGE")
	if img == "" {
		t.Fatal("BERTH_BUILD_IMAGE is not set: build an image with scripts/node-image.sh and run with BERTH_BUILD_IMAGE=berth-node:local (or go test -short to skip Docker tests)")
	}
	ctx := t.Context()
	sb, err := New(ctx, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if err := sb.Ping(ctx); err != nil {
		t.Fatalf("the Docker engine is not reachable (start dockerd, or go test -short): %v", err)
	}
	if err := sb.EnsureImage(ctx, img); err != nil {
		t.Fatalf("BERTH_BUILD_IMAGE: %v (build it with scripts/node-image.sh %s)", err, img)
	}
	h := &harness{sb: sb, image: img, instance: "test-" + randomHex(t)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := sb.RemoveLabelled(ctx, map[string]string{LabelInstance: h.instance}); err != nil {
			t.Errorf("clean up containers: %v", err)
		}
	})
	return h
}

// spec returns a Spec for a shell script, labelled for this test.
func (h *harness) spec(script string) Spec {
	return Spec{
		Image:  h.image,
		Cmd:    []string{"sh", "-c", script},
		Labels: map[string]string{LabelInstance: h.instance, LabelRole: "build"},
	}
}

// output collects lines without a lock on purpose: under -race that checks that Run calls
// onLine from one goroutine at a time and that all calls happen before Run returns.
type output struct {
	lines []Line
}

func (o *output) add(l Line) {
	o.lines = append(o.lines, l)
}

func (o *output) stream(name string) []string {
	var s []string
	for _, l := range o.lines {
		if l.Stream == name {
			s = append(s, l.Text)
		}
	}
	return s
}

func (h *harness) run(t *testing.T, ctx context.Context, spec Spec) (Result, *output, error) {
	t.Helper()
	out := &output{}
	res, err := h.sb.Run(ctx, spec, out.add)
	return res, out, err
}

func (h *harness) mustRun(t *testing.T, spec Spec) (Result, *output) {
	t.Helper()
	res, out, err := h.run(t, t.Context(), spec)
	if err != nil {
		t.Fatalf("run: %v\nstdout: %q\nstderr: %q", err, out.stream("stdout"), out.stream("stderr"))
	}
	return res, out
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, out := h.mustRun(t, h.spec(`seq 1 3000; echo oops >&2; printf 'crlf\r\n'; head -c 70000 /dev/zero | tr '\0' a; echo; echo second >&2; printf 'no newline'`))
	if res.ExitCode != 0 || res.ContainerID == "" {
		t.Fatalf("result = %+v", res)
	}
	var want []string
	for i := 1; i <= 3000; i++ {
		want = append(want, strconv.Itoa(i))
	}
	long := strings.Repeat("a", 70000)
	want = append(want, "crlf", long[:maxLineBytes], long[maxLineBytes:], "no newline")
	if got := out.stream("stdout"); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout: %d lines, want %d; last %.40q", len(got), len(want), got[max(0, len(got)-4):])
	}
	if got := out.stream("stderr"); !reflect.DeepEqual(got, []string{"oops", "second"}) {
		t.Errorf("stderr = %q", got)
	}
}

// A container that exits at once must still deliver everything it printed.
func TestRunFastExitLosesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 5 {
		spec := h.spec("")
		spec.Cmd = []string{"echo", "run", strconv.Itoa(i)}
		_, out := h.mustRun(t, spec)
		if got := out.stream("stdout"); !reflect.DeepEqual(got, []string{"run " + strconv.Itoa(i)}) {
			t.Fatalf("run %d: stdout = %q", i, got)
		}
	}
}

func TestRunExitCodeEnvUserWorkDir(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res, _ := h.mustRun(t, h.spec("exit 3"))
	if res.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3", res.ExitCode)
	}

	spec := h.spec("")
	spec.Cmd = []string{"node", "-e", `console.log(process.env.GREETING + "|" + process.cwd() + "|" + process.getuid())`}
	spec.Env = []string{"GREETING=hello world; $(rm -rf /)"}
	spec.WorkDir = "/work/dir"
	spec.User = "node"
	_, out := h.mustRun(t, spec)
	if got := out.stream("stdout"); !reflect.DeepEqual(got, []string{"hello world; $(rm -rf /)|/work/dir|1000"}) {
		t.Errorf("stdout = %q", got)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("echo started; sleep 60")
	spec.Timeout = time.Second
	start := time.Now()
	res, out, err := h.run(t, t.Context(), spec)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// Well under the script's 60s, with room for a busy engine.
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("took %s to time out after 1s", d)
	}
	if res.ContainerID == "" || res.ExitCode != 137 {
		t.Errorf("result = %+v, want the killed container (exit 137)", res)
	}
	if got := out.stream("stdout"); !reflect.DeepEqual(got, []string{"started"}) {
		t.Errorf("stdout = %q", got)
	}
	h.assertStopped(t, res.ContainerID)
}

// TestRunDiskLimit: a container that writes more than its disk limit is
// killed with ErrDiskLimit instead of filling the host's disk; one within
// the limit runs to its end.
func TestRunDiskLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("head -c 64000000 /dev/zero > /big && echo written; sleep 600")
	spec.Limits.DiskBytes = 16 << 20
	spec.Timeout = 10 * time.Minute
	res, out, err := h.run(t, t.Context(), spec)
	if !errors.Is(err, ErrDiskLimit) {
		t.Fatalf("err = %v (output %q), want ErrDiskLimit", err, out.stream("stdout"))
	}
	h.assertStopped(t, res.ContainerID)

	small := h.spec("head -c 1000000 /dev/zero > /small && echo fine")
	small.Limits.DiskBytes = 16 << 20
	if _, out := h.mustRun(t, small); !reflect.DeepEqual(out.stream("stdout"), []string{"fine"}) {
		t.Errorf("a container within its disk limit: %q", out.stream("stdout"))
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := time.Now()
	res, err := h.sb.Run(ctx, h.spec("echo started; sleep 60"), func(l Line) {
		if l.Text == "started" {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("took %s to stop after cancel", d)
	}
	if res.ContainerID == "" {
		t.Fatalf("result = %+v, want the container", res)
	}
	h.assertStopped(t, res.ContainerID)
}

func TestRunMemoryLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	spec := h.spec("")
	// Buffers live outside the V8 heap, so it is the kernel, not V8, that stops this.
	spec.Cmd = []string{"node", "-e", `const a = []; for (let i = 0; i < 50; i++) a.push(Buffer.alloc(10 << 20, 1)); console.log("allocated 500MB")`}
	spec.Limits.MemoryBytes = 64 << 20
	spec.Timeout = time.Minute
	res, out := h.mustRun(t, spec)
	if res.ExitCode == 0 || !res.OOMKilled {
		t.Errorf("result = %+v, want a non-zero exit and OOMKilled", res)
	}
	if got := out.stream("stdout"); len(got) != 0 {
		t.Errorf("stdout = %q", got)
	}
}

func TestRunPidsLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	script := `for i in $(seq 1 60); do sleep 30 & done; echo all-started`
	spec := h.spec(script)
	spec.Timeout = time.Minute
	_, out := h.mustRun(t, spec)
	if got := out.stream("stdout"); !reflect.DeepEqual(got, []string{"all-started"}) {
		t.Fatalf("without a limit: stdout = %q", got)
	}

	spec.Limits.PidsLimit = 20
	res, out := h.mustRun(t, spec)
	if got := out.stream("stdout"); len(got) != 0 || res.ExitCode == 0 {
		t.Errorf("with PidsLimit 20: exit %d, stdout %q, stderr %q; want the 60 forks to fail", res.ExitCode, got, out.stream("stderr"))
	}
}

// The capability set documented in containerConfig, and no-new-privileges.
func TestRunPrivileges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, out := h.mustRun(t, h.spec(`grep -E '^(CapEff|NoNewPrivs)' /proc/self/status | tr -s '\t' ' '; mkdir /ro && chmod 555 /ro && touch /ro/f && echo wrote-readonly`))
	// CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) FSETID(4) SETGID(6) SETUID(7)
	want := []string{"CapEff: 00000000000000db", "NoNewPrivs: 1", "wrote-readonly"}
	if got := out.stream("stdout"); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q (stderr %q)", got, want, out.stream("stderr"))
	}
}

func TestRemoveLabelled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	ids := map[string]string{}
	for _, group := range []string{"a1", "a2", "b"} {
		spec := h.spec("true")
		spec.Labels["dev.berth.test-group"] = group[:1]
		res, _ := h.mustRun(t, spec)
		ids[group] = res.ContainerID
	}
	n, err := h.sb.RemoveLabelled(ctx, map[string]string{LabelInstance: h.instance, "dev.berth.test-group": "a"})
	if err != nil || n != 2 {
		t.Fatalf("RemoveLabelled = %d, %v; want 2", n, err)
	}
	for group, id := range ids {
		_, err := h.sb.docker.ContainerInspect(ctx, id)
		if exists := err == nil; exists != (group == "b") {
			t.Errorf("container %s exists = %v after removing group a", group, exists)
		}
	}
	if _, err := h.sb.RemoveLabelled(ctx, nil); err == nil {
		t.Error("RemoveLabelled with no labels should refuse")
	}
	if err := h.sb.Remove(ctx, ids["b"]); err != nil {
		t.Fatal(err)
	}
	if err := h.sb.Remove(ctx, ids["b"]); err != nil {
		t.Errorf("removing a removed container: %v", err)
	}
}

// A Run that fails before the process runs leaves no container behind.
func TestRunFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	bad := map[string]Spec{}
	s := h.spec("true")
	s.Files = []CopyIn{{Dir: "relative/dir", Tar: &bytes.Buffer{}}}
	bad["relative copy dir"] = s
	s = h.spec("")
	s.Cmd = []string{"/no/such/program"}
	bad["missing program"] = s
	s = h.spec("true")
	s.Image = "berth-test-no-such-image:nope"
	bad["missing image"] = s
	for name, spec := range bad {
		if res, _, err := h.run(t, ctx, spec); err == nil {
			t.Errorf("%s: Run succeeded: %+v", name, res)
		}
	}
	args := filters.NewArgs(filters.Arg("label", LabelInstance+"="+h.instance))
	list, err := h.sb.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d containers left behind", len(list))
	}
}

func TestEnsureImage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if err := h.sb.EnsureImage(t.Context(), h.image); err != nil {
		t.Fatal(err)
	}
	// A registry on a closed local port fails at once instead of waiting on the network.
	ref := "127.0.0.1:1/berth/missing:latest"
	err := h.sb.EnsureImage(t.Context(), ref)
	if err == nil || !strings.Contains(err.Error(), "image "+ref+" is not available locally and could not be pulled") {
		t.Errorf("err = %v", err)
	}
}

func (h *harness) assertStopped(t *testing.T, id string) {
	t.Helper()
	info, err := h.sb.docker.ContainerInspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State == nil || info.State.Running {
		t.Errorf("container %s is still running", shortID(id))
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s-%s", t.Name(), hex.EncodeToString(b))
}

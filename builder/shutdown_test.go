package builder

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/sandbox"
)

// TestCloseHandsBackRunningBuild: closing the pool while a build runs kills
// the build, says so in the log and hands the job back to the queue, where
// the next pool takes it as attempt 2.
func TestCloseHandsBackRunningBuild(t *testing.T) {
	image := buildImage(t)
	repo := siteRepo(t)

	q, pool := testPool(t, Config{Concurrency: 1, Image: image, Timeout: time.Hour})
	ctx := context.Background()
	qc := q.Client()
	const marker = "build-is-running"
	job := queue.BuildJob{DeploymentID: "stop1", ProjectID: "p", GitURL: repo, AllowLocal: true, BuildCommand: "echo " + marker + " && sleep 600"}
	if err := qc.PublishJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			pool.Close()
		}
	}()

	evs := watchEvents(t, qc, job.DeploymentID)
	waitFor := func(what string, match func(queue.Event) bool) queue.Event {
		t.Helper()
		for ev := range evs {
			if match(ev) {
				return ev
			}
		}
		t.Fatalf("events ended before %s", what)
		return queue.Event{}
	}
	waitFor("the build command's output", func(ev queue.Event) bool { return ev.Kind == queue.KindLog && ev.Text == marker })

	pool.Close()
	closed = true
	waitFor("the stopping line", func(ev queue.Event) bool {
		if ev.Kind == queue.KindState && ev.State != "building" {
			t.Fatalf("a closed pool published the final state %+v", ev)
		}
		return ev.Kind == queue.KindLog && ev.Stream == "system" && strings.Contains(ev.Text, "This worker is stopping; the build goes back to the queue")
	})
	if pending, err := qc.JobPending(ctx, job.DeploymentID); err != nil || !pending {
		t.Fatalf("after Close the job is pending=%v (%v), want it back in the queue", pending, err)
	}
	instance := pool.cfg.Instance
	if out, err := exec.Command("docker", "ps", "-q", "--filter", "label="+sandbox.LabelInstance+"="+instance).Output(); err != nil || len(strings.Fields(string(out))) != 0 {
		t.Fatalf("build containers still running after Close: %q %v", out, err)
	}

	// The next start of this instance picks the job up again.
	next := New(pool.cfg, qc, pool.sb, pool.store, nil, pool.log)
	if err := next.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	ev := waitFor("the second attempt", func(ev queue.Event) bool { return ev.Kind == queue.KindState && ev.State == "building" })
	if ev.Attempt != 2 {
		t.Fatalf("the build ran again as attempt %d, want 2", ev.Attempt)
	}
	waitFor("the second run's command output", func(ev queue.Event) bool { return ev.Kind == queue.KindLog && ev.Text == marker })
}

// TestDrainLetsRunningBuildsFinish: a draining pool takes no new job but
// lets the running build finish and publish its final state.
func TestDrainLetsRunningBuildsFinish(t *testing.T) {
	image := buildImage(t)
	repo := siteRepo(t)
	q, pool := testPool(t, Config{Concurrency: 2, Image: image, Timeout: time.Hour})
	ctx := context.Background()
	qc := q.Client()
	const marker = "draining-build-runs"
	job := queue.BuildJob{DeploymentID: "drain1", ProjectID: "p", GitURL: repo, AllowLocal: true,
		BuildCommand: "echo " + marker + " && sleep 3 && mkdir -p dist && cp index.html dist/"}
	if err := qc.PublishJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := pool.Start(ctx); err != nil {
		t.Fatal(err)
	}
	evs := watchEvents(t, qc, job.DeploymentID)
	for ev := range evs {
		if ev.Kind == queue.KindLog && ev.Text == marker {
			break
		}
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		pool.Drain(context.Background())
	}()
	// A job queued while the pool drains stays for another worker.
	waitUntil(t, "the pool to stop fetching", func() bool {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return pool.draining
	})
	late := queue.BuildJob{DeploymentID: "drain2", ProjectID: "p", GitURL: repo, AllowLocal: true}
	if err := qc.PublishJob(ctx, late); err != nil {
		t.Fatal(err)
	}
	<-drained
	var final queue.Event
	for ev := range evs {
		if ev.Kind == queue.KindState && ev.State != "building" && ev.State != "uploading" {
			final = ev
			break
		}
	}
	if final.State != "ready" {
		t.Fatalf("the running build ended %+v, want ready", final)
	}
	if pending, err := qc.JobPending(ctx, late.DeploymentID); err != nil || !pending {
		t.Fatalf("the job queued during the drain: pending=%v (%v), want it left in the queue", pending, err)
	}
	if evs, err := qc.Events(ctx, late.DeploymentID); err != nil || len(evs) != 0 {
		t.Fatalf("a draining pool built the late job: %v %v", evs, err)
	}
}

// siteRepo is a git repository of one commit holding an index.html.
func siteRepo(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	r, err := git.PlainInit(repo, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "index.html"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	wt.Add("index.html")
	if _, err := wt.Commit("site", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return repo
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within a minute", what)
}

// watchEvents streams the deployment's events, from the first, until the
// test ends; the channel closes if none arrives for two minutes.
func watchEvents(t *testing.T, q *queue.Client, id string) <-chan queue.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan queue.Event)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		defer close(out)
		sent, last := 0, time.Now()
		for time.Since(last) < 2*time.Minute {
			evs, err := q.Events(ctx, id)
			if err != nil {
				return
			}
			for _, ev := range evs[sent:] {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
				sent, last = sent+1, time.Now()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return out
}

package deploys_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/deploys"
	"github.com/berth-dev/berth/internal/secretbox"
	"github.com/berth-dev/berth/model"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/store"
)

// promoteEnv is a lifecycle on a real store and queue, with a gate the
// test controls and a record of what observers heard.
type promoteEnv struct {
	db    *store.DB
	q     *queue.Queue
	l     *deploys.Lifecycle
	owner *store.User
	p     *store.Project

	mu       sync.Mutex
	fail     map[string]error // the gate's answer per deployment
	gated    []string         // deployments the gate was asked about
	promoted []string         // production as observers saw it when told
}

func newPromoteEnv(t *testing.T) *promoteEnv {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &promoteEnv{fail: map[string]error{}}
	var err error
	if e.db, err = store.Open(ctx, filepath.Join(dir, "berth.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if e.q, err = queue.Start(ctx, queue.Config{Dir: filepath.Join(dir, "jetstream")}, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.q.Close)
	key := make([]byte, 32)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e.l = deploys.New(deploys.Config{UserConcurrency: 100, HealthTimeout: 5 * time.Second}, e.db, e.q.Client(), box, log)
	e.l.Observe(func(ctx context.Context, c deploys.Change) {
		if c.Kind != deploys.Promoted {
			return
		}
		// Observers hear of a promotion once it is stored.
		p, err := e.db.ProjectBySlug(ctx, e.p.Slug)
		e.mu.Lock()
		defer e.mu.Unlock()
		if err == nil {
			e.promoted = append(e.promoted, p.ProductionDeploymentID)
		}
	})
	e.l.SetGate(func(ctx context.Context, d *store.Deployment, healthPath string) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.gated = append(e.gated, d.ID+" "+healthPath)
		return e.fail[d.ID]
	})
	if err := e.l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.l.Close)
	e.owner = &store.User{Login: "alice"}
	if err := e.db.CreateUser(ctx, e.owner); err != nil {
		t.Fatal(err)
	}
	e.p = &store.Project{OwnerID: e.owner.ID, Name: "app", GitURL: "https://example.com/app.git", HealthPath: "/up"}
	if err := e.db.CreateProject(ctx, e.p); err != nil {
		t.Fatal(err)
	}
	return e
}

// ready inserts a deployment of the project and drives it to ready
// directly in the store (no promotion follows).
func (e *promoteEnv) ready(t *testing.T) *store.Deployment {
	t.Helper()
	d := &store.Deployment{ProjectID: e.p.ID, Ref: "feature", Branch: "feature", Trigger: model.TriggerAPI}
	if err := e.db.CreateDeployment(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
		if ok, err := e.db.ApplyTransition(t.Context(), d.ID, store.Transition{To: to, At: time.Now()}); !ok || err != nil {
			t.Fatalf("to %s: %v %v", to, ok, err)
		}
	}
	d, err := e.db.DeploymentByID(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *promoteEnv) production(t *testing.T) string {
	t.Helper()
	p, err := e.db.Project(t.Context(), e.owner.ID, e.p.ID)
	if err != nil {
		t.Fatal(err)
	}
	return p.ProductionDeploymentID
}

func (e *promoteEnv) logText(t *testing.T, id string) string {
	t.Helper()
	lines, err := e.db.LogLines(t.Context(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

// TestPromoteGate: production moves only past the gate, asked with the
// project's health path; observers hear of the move after it is stored; a
// failed gate leaves production where it was and says why in the error,
// the deployment's promotion_error and its log; a deployment that is not
// ready never reaches the gate.
func TestPromoteGate(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	a, b := e.ready(t), e.ready(t)
	by := deploys.Promotion{By: e.owner.ID, Reason: "test"}

	if err := e.l.Promote(ctx, a, by); err != nil {
		t.Fatal(err)
	}
	if got := e.production(t); got != a.ID {
		t.Fatalf("production %s, want %s", got, a.ID)
	}
	e.mu.Lock()
	if len(e.gated) != 1 || e.gated[0] != a.ID+" /up" {
		t.Errorf("gate asked %v, want %s with the project's health path", e.gated, a.ID)
	}
	if len(e.promoted) != 1 || e.promoted[0] != a.ID {
		t.Errorf("observers saw production %v when told, want [%s]", e.promoted, a.ID)
	}
	e.fail[b.ID] = errors.New("it answered 503 Service Unavailable")
	e.mu.Unlock()

	err := e.l.Promote(ctx, b, by)
	if store.ErrorCode(err) != store.ECONFLICT || !strings.Contains(store.ErrorMessage(err), "503 Service Unavailable") {
		t.Fatalf("promote past a failing gate: %v, want a conflict naming the failure", err)
	}
	if got := e.production(t); got != a.ID {
		t.Errorf("a failed gate moved production to %s", got)
	}
	if d, _ := e.db.DeploymentByID(ctx, b.ID); !strings.Contains(d.PromotionError, "503") || d.State != model.StateReady {
		t.Errorf("after a failed gate: state %s, promotion_error %q", d.State, d.PromotionError)
	}
	if log := e.logText(t, b.ID); !strings.Contains(log, "Not promoted to production") {
		t.Errorf("the log does not say it was not promoted:\n%s", log)
	}
	e.mu.Lock()
	if len(e.promoted) != 1 {
		t.Errorf("observers heard of a promotion that did not happen: %v", e.promoted)
	}
	delete(e.fail, b.ID)
	e.mu.Unlock()

	// Once healthy it can be promoted; the error is gone.
	if err := e.l.Promote(ctx, b, by); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.db.DeploymentByID(ctx, b.ID); d.PromotionError != "" || e.production(t) != b.ID {
		t.Errorf("after a successful promotion: production %s, promotion_error %q", e.production(t), d.PromotionError)
	}

	queued := &store.Deployment{ProjectID: e.p.ID, Ref: "x", Trigger: model.TriggerAPI}
	if err := e.db.CreateDeployment(ctx, queued); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Promote(ctx, queued, by); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("promote a queued deployment: %v, want a conflict", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, g := range e.gated {
		if strings.HasPrefix(g, queued.ID) {
			t.Error("the gate ran for a deployment that is not ready")
		}
	}
}

// TestRollback goes back to the previous production deployment, or to a
// named one, without a build, recording "rollback" in the history.
func TestRollback(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	a, b, c := e.ready(t), e.ready(t), e.ready(t)
	if _, err := e.l.Rollback(ctx, e.owner.ID, e.p.ID, "", "nothing yet"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("rollback with no history: %v", err)
	}
	for _, d := range []*store.Deployment{a, b, c} {
		if err := e.l.Promote(ctx, d, deploys.Promotion{By: e.owner.ID}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := e.l.Rollback(ctx, e.owner.ID, e.p.ID, "", "bad release")
	if err != nil || d.ID != b.ID || e.production(t) != b.ID {
		t.Fatalf("rollback: %v, production %s; want %s", err, e.production(t), b.ID)
	}
	if _, err := e.l.Rollback(ctx, e.owner.ID, e.p.ID, a.ID, "further"); err != nil || e.production(t) != a.ID {
		t.Fatalf("rollback to a named deployment: %v, production %s", err, e.production(t))
	}
	if _, err := e.l.Rollback(ctx, "someone-else", e.p.ID, "", ""); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("another owner's rollback: %v", err)
	}
	h, err := e.db.ProductionHistory(ctx, e.owner.ID, e.p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, entry := range h {
		got = append(got, entry.DeploymentID[:4]+" "+entry.PromotedBy)
	}
	want := []string{a.ID[:4] + " rollback", b.ID[:4] + " rollback", c.ID[:4] + " " + e.owner.ID, b.ID[:4] + " " + e.owner.ID, a.ID[:4] + " " + e.owner.ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("history %v, want %v", got, want)
	}
}

// TestAutoPromotionFailure: a push to the production branch whose
// deployment fails the gate stays ready, production stays on the previous
// deployment, and its log and promotion_error say why; one that passes is
// promoted, recorded as "auto".
func TestAutoPromotionFailure(t *testing.T) {
	e := newPromoteEnv(t)
	ctx := t.Context()
	old := e.ready(t)
	if err := e.l.Promote(ctx, old, deploys.Promotion{By: e.owner.ID}); err != nil {
		t.Fatal(err)
	}
	push := func(fail error) *store.Deployment {
		d, err := e.l.Deploy(ctx, e.owner.ID, e.p, &store.Deployment{ProjectID: e.p.ID, Ref: "main", Trigger: model.TriggerPush})
		if err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		e.fail[d.ID] = fail
		e.mu.Unlock()
		for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
			ev := queue.Event{DeploymentID: d.ID, Kind: queue.KindState, State: to, At: time.Now(), OutputType: model.OutputStatic}
			if to == model.StateReady {
				ev.ArtifactKey = model.ArtifactPrefix(d.ID)
			}
			if err := e.q.Client().PublishEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		// The promotion (or its refusal) happens before "ready" is stored
		// and heard of, so waiting for the state is enough.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			cur, err := e.db.DeploymentByID(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			// The log's note comes last, after the store and observers.
			noted := strings.Contains(e.logText(t, d.ID), map[bool]string{true: "Promoted to production", false: "Not promoted"}[fail == nil])
			if cur.State == model.StateReady && noted {
				return cur
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %s: state %s, production %s, promotion_error %q", d.ID, cur.State, e.production(t), cur.PromotionError)
			}
		}
	}

	bad := push(errors.New("the app's server exited"))
	if got := e.production(t); got != old.ID {
		t.Errorf("a failed auto-promotion moved production to %s", got)
	}
	if !strings.Contains(bad.PromotionError, "the app's server exited") {
		t.Errorf("promotion_error %q does not say why", bad.PromotionError)
	}
	if log := e.logText(t, bad.ID); !strings.Contains(log, "Not promoted to production") || !strings.Contains(log, "exited") {
		t.Errorf("the log does not say why it was not promoted:\n%s", log)
	}

	good := push(nil)
	if got := e.production(t); got != good.ID {
		t.Errorf("production %s after a healthy push, want %s", got, good.ID)
	}
	h, err := e.db.ProductionHistory(ctx, e.owner.ID, e.p.ID, 1)
	if err != nil || len(h) != 1 || h[0].DeploymentID != good.ID || h[0].PromotedBy != store.PromotedByAuto {
		t.Errorf("newest history entry %+v, %v; want %s by auto", h, err, good.ID)
	}
}

package store

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
)

func mustReady(t *testing.T, db *DB, projectID string) *Deployment {
	t.Helper()
	d := mustDeployment(t, db, projectID)
	for _, to := range []string{model.StateBuilding, model.StateUploading, model.StateReady} {
		if ok, err := db.ApplyTransition(t.Context(), d.ID, Transition{To: to}); !ok || err != nil {
			t.Fatalf("to %s: %v %v", to, ok, err)
		}
	}
	return d
}

// TestSetProductionDeployment: only a ready deployment of the project
// becomes production; each move ends the previous span of the history and
// opens one, newest first; promoting production again records nothing.
func TestSetProductionDeployment(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	bob := mustUser(t, db, "bob")
	p := mustProject(t, db, u.ID, "app")
	other := mustProject(t, db, u.ID, "other")
	queued := mustDeployment(t, db, p.ID)

	_, err := db.SetProductionDeployment(ctx, p.ID, queued.ID, u.ID, "")
	wantCode(t, "queued deployment", err, ECONFLICT)
	a, b := mustReady(t, db, p.ID), mustReady(t, db, p.ID)
	_, err = db.SetProductionDeployment(ctx, other.ID, a.ID, u.ID, "")
	wantCode(t, "another project's deployment", err, ECONFLICT)
	if _, err := db.PreviousProduction(ctx, u.ID, p.ID); ErrorCode(err) != ENOTFOUND {
		t.Errorf("previous production with no history: %v", err)
	}

	for i, step := range []struct {
		id, by string
		moved  bool
	}{{a.ID, PromotedByAuto, true}, {b.ID, u.ID, true}, {b.ID, u.ID, false}, {a.ID, PromotedByRollback, true}} {
		moved, err := db.SetProductionDeployment(ctx, p.ID, step.id, step.by, "step")
		if err != nil || moved != step.moved {
			t.Fatalf("step %d: moved %v, %v; want moved %v", i, moved, err, step.moved)
		}
		got, _ := db.Project(ctx, u.ID, p.ID)
		if got.ProductionDeploymentID != step.id {
			t.Errorf("step %d: production %q, want %q", i, got.ProductionDeploymentID, step.id)
		}
	}
	if got, _ := db.Project(ctx, u.ID, other.ID); got.ProductionDeploymentID != "" {
		t.Errorf("other project got production deployment %q", got.ProductionDeploymentID)
	}

	h, err := db.ProductionHistory(ctx, u.ID, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, by string }{{a.ID, PromotedByRollback}, {b.ID, u.ID}, {a.ID, PromotedByAuto}}
	if len(h) != len(want) {
		t.Fatalf("history has %d entries, want %d: %+v", len(h), len(want), h)
	}
	for i, w := range want {
		if h[i].DeploymentID != w.id || h[i].PromotedBy != w.by {
			t.Errorf("entry %d: %s by %s, want %s by %s", i, h[i].DeploymentID, h[i].PromotedBy, w.id, w.by)
		}
		if (h[i].To == nil) != (i == 0) {
			t.Errorf("entry %d: to %v; only the newest is open", i, h[i].To)
		}
		if h[i].To != nil && h[i].To.Before(h[i].From) {
			t.Errorf("entry %d ends before it begins: %v %v", i, h[i].From, h[i].To)
		}
	}
	if prev, err := db.PreviousProduction(ctx, u.ID, p.ID); err != nil || prev != b.ID {
		t.Errorf("previous production %q, %v; want %s", prev, err, b.ID)
	}
	if h, err := db.ProductionHistory(ctx, bob.ID, p.ID, 0); err != nil || len(h) != 0 {
		t.Errorf("another owner sees the history: %d entries, %v", len(h), err)
	}
	if _, err := db.PreviousProduction(ctx, bob.ID, p.ID); ErrorCode(err) != ENOTFOUND {
		t.Errorf("another owner's previous production: %v", err)
	}

	if err := db.SetPromotionError(ctx, b.ID, "it failed"); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.DeploymentByID(ctx, b.ID); d.PromotionError != "it failed" {
		t.Errorf("promotion error %q", d.PromotionError)
	}
	if _, err := db.SetProductionDeployment(ctx, p.ID, b.ID, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.DeploymentByID(ctx, b.ID); d.PromotionError != "" {
		t.Errorf("promotion error %q after a promotion", d.PromotionError)
	}
}

// TestAppendLogLine numbers control-plane notes after the build's lines.
func TestAppendLogLine(t *testing.T) {
	db := openTestDB(t)
	u := mustUser(t, db, "alice")
	d := mustDeployment(t, db, mustProject(t, db, u.ID, "app").ID)
	for want := int64(1); want <= 2; want++ {
		l, err := db.AppendLogLine(t.Context(), d.ID, "system", "note")
		if err != nil || l.Line != want {
			t.Fatalf("line %d, %v; want %d", l.Line, err, want)
		}
	}
	if _, err := db.AppendLogLine(t.Context(), "nope", "system", "note"); err == nil {
		t.Error("a note on a missing deployment was stored")
	}
}

// TestHealthPath: projects get "/" by default; a health path must be an
// absolute path.
func TestHealthPath(t *testing.T) {
	db := openTestDB(t)
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	if p.HealthPath != "/" {
		t.Errorf("default health path %q", p.HealthPath)
	}
	for _, bad := range []string{"healthz", "//evil.example/", "/a b", "/a\n"} {
		_, err := db.UpdateProject(t.Context(), u.ID, p.ID, ProjectPatch{HealthPath: &bad})
		wantCode(t, "health path "+bad, err, EINVALID)
	}
	good := "/api/health?deep=1"
	if got, err := db.UpdateProject(t.Context(), u.ID, p.ID, ProjectPatch{HealthPath: &good}); err != nil || got.HealthPath != good {
		t.Fatalf("update health path: %v", err)
	}
	if got, _ := db.Project(t.Context(), u.ID, p.ID); got.HealthPath != good {
		t.Errorf("stored health path %q", got.HealthPath)
	}
}

// TestPromotedSince names the deployments that were production at some
// time since a moment: retention keeps them.
func TestPromotedSince(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	a, b, c := mustReady(t, db, p.ID), mustReady(t, db, p.ID), mustReady(t, db, p.ID)
	now := time.Now()
	db.Now = func() time.Time { return now.Add(-48 * time.Hour) }
	db.SetProductionDeployment(ctx, p.ID, a.ID, u.ID, "")
	db.Now = func() time.Time { return now.Add(-24 * time.Hour) }
	db.SetProductionDeployment(ctx, p.ID, b.ID, u.ID, "") // a served until a day ago
	db.Now = func() time.Time { return now }
	db.SetProductionDeployment(ctx, p.ID, c.ID, u.ID, "") // b served until now
	for _, tc := range []struct {
		since time.Duration
		want  []string
	}{{time.Hour, []string{b.ID, c.ID}}, {36 * time.Hour, []string{a.ID, b.ID, c.ID}}} {
		got, err := db.PromotedSince(ctx, p.ID, now.Add(-tc.since))
		slices.Sort(got)
		slices.Sort(tc.want)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("promoted in the last %s: %v, %v; want %v", tc.since, got, err, tc.want)
		}
	}
}

package store

import (
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
)

// TestExpireDeployments: only finished deployments that are not production
// expire, once; an expired one cannot be promoted; its logs go on request;
// reclaiming is remembered.
func TestExpireDeployments(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "ann")
	p := mustProject(t, db, u.ID, "site")
	prod := reach(t, db, p.ID, model.StateReady)
	old := reach(t, db, p.ID, model.StateReady)
	failed := reach(t, db, p.ID, model.StateError)
	building := reach(t, db, p.ID, model.StateBuilding)
	if _, err := db.SetProductionDeployment(ctx, p.ID, prod.ID, "test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteEvents(ctx, EventBatch{Lines: []LogLine{
		{DeploymentID: old.ID, Line: 1, Stream: "stdout", Text: "a", At: time.Now()},
		{DeploymentID: old.ID, Line: 2, Stream: "stdout", Text: "b", At: time.Now()},
		{DeploymentID: prod.ID, Line: 1, Stream: "stdout", Text: "c", At: time.Now()},
	}}); err != nil {
		t.Fatal(err)
	}

	settled, err := db.SettledDeployments(ctx, p.ID)
	if err != nil || len(settled) != 3 || settled[0].ID != failed.ID {
		t.Fatalf("settled deployments %v, %v: want the three finished ones, newest first", ids(settled), err)
	}
	got, err := db.ExpireDeployments(ctx, []string{prod.ID, old.ID, failed.ID, building.ID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{old.ID, failed.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("expired %v, want %v (not production, not building)", got, want)
	}
	if again, _ := db.ExpireDeployments(ctx, []string{old.ID}, time.Now()); len(again) != 0 {
		t.Errorf("expired twice: %v", again)
	}
	if d, _ := db.DeploymentByID(ctx, old.ID); d.ExpiredAt == nil {
		t.Error("expired_at not read back")
	}
	_, err = db.SetProductionDeployment(ctx, p.ID, old.ID, "test", "")
	wantCode(t, "promote expired", err, ECONFLICT)
	if settled, _ := db.SettledDeployments(ctx, p.ID); len(settled) != 1 || settled[0].ID != prod.ID {
		t.Errorf("settled after expiry: %v", ids(settled))
	}

	unreclaimed, err := db.UnreclaimedDeployments(ctx)
	if err != nil || len(unreclaimed) != 2 {
		t.Fatalf("unreclaimed %v, %v", unreclaimed, err)
	}
	if n, err := db.DeleteLogs(ctx, []string{old.ID}); err != nil || n != 2 {
		t.Errorf("deleted %d log lines (%v), want 2", n, err)
	}
	if c, _ := db.LogCursor(ctx, prod.ID); c.Line != 1 {
		t.Errorf("production's log was touched: cursor %+v", c)
	}
	if err := db.MarkReclaimed(ctx, []string{old.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if unreclaimed, _ := db.UnreclaimedDeployments(ctx); !slices.Equal(unreclaimed, []string{failed.ID}) {
		t.Errorf("unreclaimed after marking: %v", unreclaimed)
	}
}

// TestRetentionRuns: the last run is read back; before any, nil.
func TestRetentionRuns(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	if r, err := db.LastRetentionRun(ctx); r != nil || err != nil {
		t.Fatalf("before any run: %+v, %v", r, err)
	}
	t0 := time.Now().Truncate(time.Millisecond).UTC()
	for i := range 3 {
		run := RetentionRun{StartedAt: t0.Add(time.Duration(i) * time.Hour), FinishedAt: t0.Add(time.Duration(i)*time.Hour + time.Second),
			Expired: i, LogLines: 10, ArtifactBytes: 1000, CacheBytes: int64(i)}
		if err := db.RecordRetentionRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	r, err := db.LastRetentionRun(ctx)
	if err != nil || r == nil {
		t.Fatal(r, err)
	}
	if !r.StartedAt.Equal(t0.Add(2*time.Hour)) || r.Expired != 2 || r.ReclaimedBytes != 1002 {
		t.Errorf("last run %+v", r)
	}
}

func ids(ds []*Deployment) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
)

func logLines(id string, from, to int64, at time.Time) []LogLine {
	var out []LogLine
	for n := from; n <= to; n++ {
		out = append(out, LogLine{DeploymentID: id, Line: n, Stream: "stdout", Text: fmt.Sprintf("line %d", n), At: at})
	}
	return out
}

func TestWriteEvents(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	d := mustDeployment(t, db, p.ID)
	e := mustDeployment(t, db, p.ID)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	cur, err := db.LogCursor(ctx, d.ID)
	if err != nil || cur != (LogCursor{}) {
		t.Fatalf("empty cursor = %+v, %v", cur, err)
	}

	applied, err := db.WriteEvents(ctx, EventBatch{
		Lines: append(logLines(d.ID, 1, 3, at), logLines(e.ID, 1, 1, at)...),
		Transitions: []DeploymentTransition{
			{d.ID, Transition{To: model.StateBuilding, At: at}},
			{d.ID, Transition{To: model.StateReady, At: at}}, // refused: not from building
			{d.ID, Transition{To: model.StateUploading, At: at}},
			{e.ID, Transition{To: model.StateError, At: at, Error: "boom"}},
		},
		Seqs: map[string]uint64{d.ID: 7, e.ID: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(applied) != "[true false true true]" {
		t.Errorf("applied = %v, want [true false true true]", applied)
	}
	if got, _ := db.DeploymentByID(ctx, d.ID); got.State != model.StateUploading {
		t.Errorf("d state %q, want uploading", got.State)
	}
	if got, _ := db.DeploymentByID(ctx, e.ID); got.State != model.StateError || got.Error != "boom" {
		t.Errorf("e = %s %q, want error boom", got.State, got.Error)
	}
	if cur, _ := db.LogCursor(ctx, d.ID); cur != (LogCursor{Line: 3, EventSeq: 7}) {
		t.Errorf("d cursor = %+v, want {3 7}", cur)
	}
	if cur, _ := db.LogCursor(ctx, e.ID); cur != (LogCursor{Line: 1, EventSeq: 8}) {
		t.Errorf("e cursor = %+v, want {1 8}", cur)
	}

	// A redelivered batch is harmless: lines are not duplicated or
	// rewritten, and the sequence never goes back.
	dup := logLines(d.ID, 2, 4, at)
	dup[0].Text = "rewritten"
	if _, err := db.WriteEvents(ctx, EventBatch{Lines: dup, Seqs: map[string]uint64{d.ID: 5}}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := db.LogCursor(ctx, d.ID); cur != (LogCursor{Line: 4, EventSeq: 7}) {
		t.Errorf("after redelivery: cursor %+v, want {4 7}", cur)
	}
	lines, err := db.LogLines(ctx, d.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range lines {
		texts = append(texts, fmt.Sprintf("%d:%s", l.Line, l.Text))
		if !l.At.Equal(at) || l.Stream != "stdout" || l.DeploymentID != d.ID {
			t.Errorf("line %d: %+v", l.Line, l)
		}
	}
	if want := "[1:line 1 2:line 2 3:line 3 4:line 4]"; fmt.Sprint(texts) != want {
		t.Errorf("lines = %v, want %s", texts, want)
	}
}

// TestWriteEventsAtomic: a batch that fails stores none of its parts.
func TestWriteEventsAtomic(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	d := mustDeployment(t, db, p.ID)
	_, err := db.WriteEvents(ctx, EventBatch{
		Lines:       logLines(d.ID, 1, 2, time.Now()),
		Transitions: []DeploymentTransition{{d.ID, Transition{To: model.StateBuilding}}, {d.ID, Transition{To: "bogus"}}},
		Seqs:        map[string]uint64{d.ID: 3},
	})
	if err == nil {
		t.Fatal("a batch with an unknown state was stored")
	}
	if cur, _ := db.LogCursor(ctx, d.ID); cur != (LogCursor{}) {
		t.Errorf("cursor after failed batch = %+v, want zero", cur)
	}
	if got, _ := db.DeploymentByID(ctx, d.ID); got.State != model.StateQueued {
		t.Errorf("state after failed batch = %q, want queued", got.State)
	}
}

func TestLogLinesPaging(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	d := mustDeployment(t, db, p.ID)
	other := mustDeployment(t, db, p.ID)
	if _, err := db.WriteEvents(ctx, EventBatch{Lines: append(logLines(d.ID, 1, 25, time.Now()), logLines(other.ID, 1, 5, time.Now())...)}); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var after int64
	pages := 0
	for {
		page, err := db.LogLines(ctx, d.ID, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("page of %d lines, limit 10", len(page))
		}
		pages++
		for _, l := range page {
			got = append(got, l.Line)
			after = l.Line
		}
		if len(page) < 10 {
			break
		}
	}
	if pages != 3 || len(got) != 25 || got[0] != 1 || got[24] != 25 {
		t.Errorf("paged %d times over %v", pages, got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Errorf("gap or disorder at %d: %v", i, got)
			break
		}
	}
	if page, _ := db.LogLines(ctx, d.ID, 25, 10); len(page) != 0 {
		t.Errorf("after the last line: %d lines", len(page))
	}
	if page, _ := db.LogLines(ctx, d.ID, 20, 100); len(page) != 5 || page[0].Line != 21 {
		t.Errorf("after 20: %+v", page)
	}
}

// TestWriteEventsForDeletedDeployment: events of a deployment whose project
// was deleted while it built (the worker may still emit a few lines) must not
// make the whole batch fail, or they would block every other deployment's
// events sharing the batch.
func TestWriteEventsForDeletedDeployment(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	gone := mustProject(t, db, u.ID, "gone")
	kept := mustProject(t, db, u.ID, "kept")
	dg := mustDeployment(t, db, gone.ID)
	dk := mustDeployment(t, db, kept.ID)
	if err := db.DeleteProject(ctx, u.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	_, err := db.WriteEvents(ctx, EventBatch{
		Lines: append(logLines(dg.ID, 1, 1, time.Now()), logLines(dk.ID, 1, 1, time.Now())...),
		Seqs:  map[string]uint64{dg.ID: 1, dk.ID: 2},
	})
	if err != nil {
		t.Errorf("batch with a line of a deleted deployment failed: %v", err)
	}
	if cur, _ := db.LogCursor(ctx, dk.ID); cur.Line != 1 {
		t.Errorf("the surviving deployment's line was not stored: cursor %+v", cur)
	}
}

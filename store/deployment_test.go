package store

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/model"
)

var allStates = []string{model.StateQueued, model.StateBuilding, model.StateUploading, model.StateReady, model.StateError, model.StateCancelled}

func TestCreateDeployment(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")

	seen := map[string]bool{}
	for range 20 {
		d := mustDeployment(t, db, p.ID)
		if d.State != model.StateQueued {
			t.Errorf("state %q, want queued", d.State)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(d.ID) {
			t.Errorf("id %q: want 32 lowercase hex", d.ID)
		}
		if want := d.ID[:8] + "-preview"; d.PreviewHost != want {
			t.Errorf("preview host %q, want %q", d.PreviewHost, want)
		}
		if seen[d.PreviewHost] {
			t.Errorf("preview host %q given twice", d.PreviewHost)
		}
		seen[d.PreviewHost] = true

		byHost, err := db.DeploymentByPreviewHost(ctx, d.PreviewHost)
		if err != nil || byHost.ID != d.ID {
			t.Errorf("DeploymentByPreviewHost(%q) = %v, %v", d.PreviewHost, byHost, err)
		}
		got, err := db.Deployment(ctx, u.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != model.StateQueued || got.Ref != "main" || got.Branch != "main" || got.Trigger != "api" ||
			!got.CreatedAt.Equal(d.CreatedAt) || got.BuildStartedAt != nil || got.BuildFinishedAt != nil {
			t.Errorf("read back: %+v", got)
		}
	}
	_, err := db.DeploymentByPreviewHost(ctx, "00000000-preview")
	wantCode(t, "unknown preview host", err, ENOTFOUND)
	_, err = db.DeploymentByID(ctx, "nope")
	wantCode(t, "unknown id", err, ENOTFOUND)
}

// reach returns a fresh deployment driven into state through legal
// transitions.
func reach(t *testing.T, db *DB, projectID, state string) *Deployment {
	t.Helper()
	paths := map[string][]string{
		model.StateQueued:    nil,
		model.StateBuilding:  {model.StateBuilding},
		model.StateUploading: {model.StateBuilding, model.StateUploading},
		model.StateReady:     {model.StateBuilding, model.StateUploading, model.StateReady},
		model.StateError:     {model.StateBuilding, model.StateError},
		model.StateCancelled: {model.StateCancelled},
	}
	d := mustDeployment(t, db, projectID)
	for _, to := range paths[state] {
		ok, err := db.ApplyTransition(t.Context(), d.ID, Transition{To: to, At: time.Now()})
		if err != nil || !ok {
			t.Fatalf("drive to %s: step %s = %v, %v", state, to, ok, err)
		}
	}
	return d
}

// TestApplyTransitionTable checks every (from, to) pair of states.
func TestApplyTransitionTable(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")

	// The lifecycle, written out independently of allowedFrom.
	allowed := map[string]bool{
		"queued>building": true, "building>building": true, "uploading>building": true,
		"building>uploading": true,
		"uploading>ready":    true,
		"queued>error":       true, "building>error": true, "uploading>error": true,
		"queued>cancelled": true, "building>cancelled": true, "uploading>cancelled": true,
	}
	for _, from := range allStates {
		for _, to := range allStates {
			t.Run(from+">"+to, func(t *testing.T) {
				d := reach(t, db, p.ID, from)
				ok, err := db.ApplyTransition(ctx, d.ID, Transition{To: to, At: time.Now()})
				if to == model.StateQueued {
					// Nothing goes back to queued; it is not even a target.
					if err == nil || ok {
						t.Errorf("to queued: ok=%v err=%v, want an error", ok, err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if want := allowed[from+">"+to]; ok != want {
					t.Errorf("applied = %v, want %v", ok, want)
				}
				got, err := db.DeploymentByID(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := from
				if ok {
					want = to
				}
				if got.State != want {
					t.Errorf("state after = %q, want %q", got.State, want)
				}
			})
		}
	}
	ok, err := db.ApplyTransition(ctx, "missing", Transition{To: model.StateBuilding})
	if ok || err != nil {
		t.Errorf("transition of a missing deployment = %v, %v; want false, nil", ok, err)
	}
	if _, err := db.ApplyTransition(ctx, "missing", Transition{To: "done"}); err == nil {
		t.Error("an unknown state was accepted")
	}
}

func TestApplyTransitionFields(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	d := mustDeployment(t, db, p.ID)
	t0 := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	sha := strings.Repeat("ab", 20)

	steps := []Transition{
		{To: model.StateBuilding, At: t0, Attempt: 1, CommitSHA: sha, CommitMessage: "fix it"},
		// A redelivered build keeps the first start time.
		{To: model.StateBuilding, At: t0.Add(time.Minute), Attempt: 2},
		{To: model.StateUploading, At: t0.Add(2 * time.Minute), OutputType: "static"},
		{To: model.StateReady, At: t0.Add(3 * time.Minute), ArtifactKey: "deployments/x/"},
	}
	for _, s := range steps {
		if ok, err := db.ApplyTransition(ctx, d.ID, s); !ok || err != nil {
			t.Fatalf("to %s: %v, %v", s.To, ok, err)
		}
	}
	got, err := db.DeploymentByID(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("state", got.State, model.StateReady)
	check("attempt", got.Attempt, 2)
	check("commit_sha", got.CommitSHA, sha)
	check("commit_message", got.CommitMessage, "fix it")
	check("output_type", got.OutputType, "static")
	check("artifact_key", got.ArtifactKey, "deployments/x/")
	check("error", got.Error, "")
	if got.BuildStartedAt == nil || !got.BuildStartedAt.Equal(t0) {
		t.Errorf("build_started_at = %v, want %v", got.BuildStartedAt, t0)
	}
	if got.BuildFinishedAt == nil || !got.BuildFinishedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("build_finished_at = %v, want %v", got.BuildFinishedAt, t0.Add(3*time.Minute))
	}

	e := mustDeployment(t, db, p.ID)
	if ok, err := db.ApplyTransition(ctx, e.ID, Transition{To: model.StateError, At: t0, Error: "npm exited with 1"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	got, _ = db.DeploymentByID(ctx, e.ID)
	check("error", got.Error, "npm exited with 1")
	if got.BuildStartedAt != nil || got.BuildFinishedAt == nil || !got.BuildFinishedAt.Equal(t0) {
		t.Errorf("failed while queued: started %v finished %v", got.BuildStartedAt, got.BuildFinishedAt)
	}
	// A refused transition changes no field either.
	if ok, _ := db.ApplyTransition(ctx, e.ID, Transition{To: model.StateCancelled, At: t0.Add(time.Hour), Error: "late"}); ok {
		t.Error("cancelled a failed deployment")
	}
	again, _ := db.DeploymentByID(ctx, e.ID)
	if again.Error != got.Error || !again.BuildFinishedAt.Equal(*got.BuildFinishedAt) {
		t.Errorf("refused transition changed the row: %+v", again)
	}
}

// TestDeploymentsNewestFirst: the list is newest first, also for
// deployments created within the same millisecond (a CLI or a webhook
// burst), and honours the limit.
func TestDeploymentsNewestFirst(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	other := mustProject(t, db, u.ID, "other")
	mustDeployment(t, db, other.ID)

	same := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return same }
	var want []string
	for range 6 {
		want = slices.Insert(want, 0, mustDeployment(t, db, p.ID).ID)
	}
	list, err := db.Deployments(ctx, u.ID, p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range list {
		got = append(got, d.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("same-millisecond deployments listed as\n %v\nwant newest first\n %v", got, want)
	}

	list, err = db.Deployments(ctx, u.ID, p.ID, 2)
	if err != nil || len(list) != 2 {
		t.Errorf("limit 2: %d deployments, %v", len(list), err)
	}
}

func TestUnfinishedDeployments(t *testing.T) {
	db := openTestDB(t)
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")
	want := map[string]string{}
	for _, s := range allStates {
		d := reach(t, db, p.ID, s)
		if !model.Terminal(s) {
			want[d.ID] = s
		}
	}
	list, err := db.UnfinishedDeployments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range list {
		got[d.ID] = d.State
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unfinished = %v, want %v", got, want)
	}
}

package store

import (
	"fmt"
	"slices"
	"testing"
)

// TestProjectWorkerLabels: a project's worker labels are stored
// normalised (lower case, sorted, once), read back as a list (empty, never
// nil, when there are none), and a bad list is refused with nothing
// changed.
func TestProjectWorkerLabels(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := &Project{OwnerID: u.ID, Name: "arm", GitURL: "https://example.com/arm.git", WorkerLabels: []string{"Big", "arm64", "big"}}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	read := func() []string {
		t.Helper()
		got, err := db.Project(ctx, u.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.WorkerLabels
	}
	if got := read(); !slices.Equal(got, []string{"arm64", "big"}) {
		t.Errorf("created with labels: %q, want [arm64 big]", got)
	}

	labels := []string{" gpu ", "x86-64"}
	got, err := db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{WorkerLabels: &labels})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gpu", "x86-64"}; !slices.Equal(got.WorkerLabels, want) || !slices.Equal(read(), want) {
		t.Errorf("patched labels: answered %q, stored %q, want %q", got.WorkerLabels, read(), want)
	}

	name := "renamed"
	if _, err := db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []string{"gpu", "x86-64"}) {
		t.Errorf("a patch without labels changed them: %q", got)
	}

	for _, bad := range [][]string{{"a,b"}, {"with space"}, {"-dash"}, {"a", "b", "c", "d", "e"}} {
		_, err := db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{WorkerLabels: &bad})
		wantCode(t, fmt.Sprintf("labels %q", bad), err, EINVALID)
	}
	if got := read(); !slices.Equal(got, []string{"gpu", "x86-64"}) {
		t.Errorf("a refused patch changed the labels: %q", got)
	}

	none := []string{}
	if _, err := db.UpdateProject(ctx, u.ID, p.ID, ProjectPatch{WorkerLabels: &none}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got == nil || len(got) != 0 {
		t.Errorf("cleared labels read back as %#v, want an empty list", got)
	}
	plain := mustProject(t, db, u.ID, "plain")
	if plain, err = db.Project(ctx, u.ID, plain.ID); err != nil || plain.WorkerLabels == nil || len(plain.WorkerLabels) != 0 {
		t.Errorf("a project without labels: %#v %v", plain.WorkerLabels, err)
	}
}

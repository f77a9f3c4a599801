package store

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/model"
)

// TestOwnerScoping: user B can neither read nor change anything of user A's
// through the owner-scoped queries, and cannot tell A's rows from missing
// ones.
func TestOwnerScoping(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	a := mustUser(t, db, "alice")
	b := mustUser(t, db, "bob")
	pa := mustProject(t, db, a.ID, "alpha")
	pb := mustProject(t, db, b.ID, "beta")
	da := mustDeployment(t, db, pa.ID)
	if err := db.SetEnvVar(ctx, a.ID, pa.ID, &EnvVar{Key: "SECRET", Target: model.TargetBuild, Sealed: []byte("sealed-a")}); err != nil {
		t.Fatal(err)
	}

	snapshot := func() (*Project, []*EnvVar, []*Deployment) {
		t.Helper()
		p, err := db.Project(ctx, a.ID, pa.ID)
		if err != nil {
			t.Fatalf("owner reads project: %v", err)
		}
		vars, err := db.EnvVars(ctx, a.ID, pa.ID)
		if err != nil {
			t.Fatalf("owner reads env: %v", err)
		}
		deps, err := db.Deployments(ctx, a.ID, pa.ID, 0)
		if err != nil {
			t.Fatalf("owner reads deployments: %v", err)
		}
		return p, vars, deps
	}
	p0, vars0, deps0 := snapshot()
	if len(vars0) != 1 || len(deps0) != 1 {
		t.Fatalf("setup: %d vars, %d deployments", len(vars0), len(deps0))
	}

	name := "hijacked"
	tests := []struct {
		name string
		call func() error
	}{
		{"Project", func() error { _, err := db.Project(ctx, b.ID, pa.ID); return err }},
		{"UpdateProject", func() error {
			_, err := db.UpdateProject(ctx, b.ID, pa.ID, ProjectPatch{Name: &name})
			return err
		}},
		{"DeleteProject", func() error { return db.DeleteProject(ctx, b.ID, pa.ID) }},
		{"SetEnvVar new key", func() error {
			return db.SetEnvVar(ctx, b.ID, pa.ID, &EnvVar{Key: "INJECTED", Target: model.TargetAll, Sealed: []byte("x")})
		}},
		{"SetEnvVar existing key", func() error {
			return db.SetEnvVar(ctx, b.ID, pa.ID, &EnvVar{Key: "SECRET", Target: model.TargetAll, Sealed: []byte("x")})
		}},
		{"DeleteEnvVar", func() error { return db.DeleteEnvVar(ctx, b.ID, pa.ID, "SECRET") }},
		{"Deployment", func() error { _, err := db.Deployment(ctx, b.ID, da.ID); return err }},
		{"DeleteEnvVar via own project id", func() error { return db.DeleteEnvVar(ctx, b.ID, pb.ID, "SECRET") }},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, tt.call(), ENOTFOUND)
	}

	// The list queries answer empty rather than leaking.
	if vars, err := db.EnvVars(ctx, b.ID, pa.ID); err != nil || len(vars) != 0 {
		t.Errorf("EnvVars as B = %d vars, %v; want none", len(vars), err)
	}
	if deps, err := db.Deployments(ctx, b.ID, pa.ID, 0); err != nil || len(deps) != 0 {
		t.Errorf("Deployments as B = %d, %v; want none", len(deps), err)
	}
	if list, err := db.Projects(ctx, b.ID); err != nil || len(list) != 1 || list[0].ID != pb.ID {
		t.Errorf("Projects as B = %v, %v; want only B's own", list, err)
	}

	p1, vars1, deps1 := snapshot()
	if !reflect.DeepEqual(p0, p1) {
		t.Errorf("A's project changed:\n was %+v\n now %+v", p0, p1)
	}
	if len(vars1) != 1 || vars1[0].Key != "SECRET" || vars1[0].Target != model.TargetBuild || !bytes.Equal(vars1[0].Sealed, []byte("sealed-a")) {
		t.Errorf("A's env vars changed: %+v", vars1)
	}
	if !reflect.DeepEqual(deps0, deps1) {
		t.Errorf("A's deployments changed:\n was %+v\n now %+v", deps0, deps1)
	}
}

func TestEnvVars(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	p := mustProject(t, db, u.ID, "app")

	for _, v := range []*EnvVar{
		{Key: "B_KEY", Target: model.TargetRuntime, Sealed: []byte("1")},
		{Key: "A_KEY", Target: model.TargetBuild, Sealed: []byte("2")},
		{Key: "_x9", Target: model.TargetAll, Sealed: []byte("3")},
	} {
		if err := db.SetEnvVar(ctx, u.ID, p.ID, v); err != nil {
			t.Fatalf("set %s: %v", v.Key, err)
		}
	}
	// Replacing keeps one row and updates value and target.
	if err := db.SetEnvVar(ctx, u.ID, p.ID, &EnvVar{Key: "A_KEY", Target: model.TargetAll, Sealed: []byte("22")}); err != nil {
		t.Fatal(err)
	}
	vars, err := db.EnvVars(ctx, u.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vars {
		got = append(got, v.Key+"="+v.Target+":"+string(v.Sealed))
	}
	want := []string{"A_KEY=all:22", "B_KEY=runtime:1", "_x9=all:3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("vars = %v, want %v", got, want)
	}

	for _, tt := range []struct{ key, target string }{
		{"1ABC", model.TargetAll}, {"", model.TargetAll}, {"A-B", model.TargetAll}, {"A B", model.TargetAll}, {"OK", "prod"}, {"OK", ""},
	} {
		wantCode(t, "set "+tt.key+"/"+tt.target, db.SetEnvVar(ctx, u.ID, p.ID, &EnvVar{Key: tt.key, Target: tt.target, Sealed: []byte("x")}), EINVALID)
	}
	wantCode(t, "set on missing project", db.SetEnvVar(ctx, u.ID, "nope", &EnvVar{Key: "K", Target: model.TargetAll, Sealed: []byte("x")}), ENOTFOUND)

	if err := db.DeleteEnvVar(ctx, u.ID, p.ID, "B_KEY"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete again", db.DeleteEnvVar(ctx, u.ID, p.ID, "B_KEY"), ENOTFOUND)
	if vars, _ := db.EnvVars(ctx, u.ID, p.ID); len(vars) != 2 {
		t.Errorf("after delete: %d vars, want 2", len(vars))
	}
}

// TestEnvAAD: the sealing context tells every (project, key) pair apart.
func TestEnvAAD(t *testing.T) {
	pairs := [][2]string{{"p1", "KEY"}, {"p2", "KEY"}, {"p1", "KEY2"}, {"p", "1KEY"}, {"p1K", "EY"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		aad := string(model.EnvAAD(p[0], p[1]))
		if prev, ok := seen[aad]; ok {
			t.Errorf("model.EnvAAD%v = model.EnvAAD%v", p, prev)
		}
		seen[aad] = p
	}
}

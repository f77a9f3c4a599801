package store

import "testing"

// A GitHub user becomes admin only while the instance has no admin: with
// the built-in admin (an admin token) there, the first stranger to sign in
// is an ordinary user; without one, the first GitHub user is the admin and
// the next one is not.
func TestFirstGitHubUserIsAdminOnlyWithoutAnAdmin(t *testing.T) {
	ctx := t.Context()
	for _, tt := range []struct {
		name      string
		withToken bool
		want      []bool
	}{
		{"admin token set", true, []bool{false, false}},
		{"no admin yet", false, []bool{true, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openTestDB(t)
			if tt.withToken {
				if _, err := db.EnsureAdmin(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i, login := range []string{"first", "second"} {
				u, err := db.UpsertGitHubUser(ctx, int64(100+i), login, login)
				if err != nil {
					t.Fatal(err)
				}
				if u.IsAdmin != tt.want[i] {
					t.Errorf("%s: is_admin = %v, want %v", login, u.IsAdmin, tt.want[i])
				}
			}
		})
	}
}

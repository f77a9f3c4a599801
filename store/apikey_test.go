package store

import (
	"strings"
	"testing"
	"time"
)

func TestAPIKeys(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	other := mustUser(t, db, "bob")

	k, token, err := db.CreateAPIKey(ctx, u.ID, "  laptop  ")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "berth_"+k.Prefix+"_") || len(token) < 40 {
		t.Errorf("token %q: want berth_<prefix>_<secret>", token)
	}
	if k.Name != "laptop" || k.LastUsedAt != nil {
		t.Errorf("new key: %+v", k)
	}

	// The stored hash is not the token.
	var stored []byte
	if err := db.read.QueryRowContext(ctx, "SELECT hash FROM api_keys WHERE id = ?", k.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), token[len("berth_"+k.Prefix+"_"):]) {
		t.Error("the token's secret is stored in clear")
	}

	used := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	db.Now = func() time.Time { return used }
	got, err := db.UserByAPIKey(ctx, token)
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserByAPIKey = %v, %v; want %s", got, err, u.ID)
	}
	keys, err := db.APIKeys(ctx, u.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("APIKeys = %v, %v", keys, err)
	}
	if keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(used) {
		t.Errorf("last_used_at = %v, want %v", keys[0].LastUsedAt, used)
	}

	// Every single-character change of the token fails, wherever it is.
	for i := range len(token) {
		b := []byte(token)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if _, err := db.UserByAPIKey(ctx, string(b)); ErrorCode(err) != EUNAUTHORIZED {
			t.Errorf("token with byte %d flipped (%q): err %v, want unauthorized", i, b, err)
		}
	}
	for _, bad := range []string{"", "berth_", "berth_" + k.Prefix, token + "x", token[:len(token)-1], strings.ToUpper(token)} {
		if _, err := db.UserByAPIKey(ctx, bad); ErrorCode(err) != EUNAUTHORIZED {
			t.Errorf("token %q: err %v, want unauthorized", bad, err)
		}
	}

	_, _, err = db.CreateAPIKey(ctx, u.ID, "  ")
	wantCode(t, "blank name", err, EINVALID)

	// Another user cannot revoke it; its owner can, and then it fails.
	wantCode(t, "revoke as other user", db.DeleteAPIKey(ctx, other.ID, k.ID), ENOTFOUND)
	if _, err := db.UserByAPIKey(ctx, token); err != nil {
		t.Errorf("key stopped working after a refused revoke: %v", err)
	}
	if err := db.DeleteAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByAPIKey(ctx, token); ErrorCode(err) != EUNAUTHORIZED {
		t.Errorf("revoked key: err %v, want unauthorized", err)
	}
	wantCode(t, "revoke twice", db.DeleteAPIKey(ctx, u.ID, k.ID), ENOTFOUND)
}

// TestAPIKeysNewestFirst: keys list newest first.
func TestAPIKeysNewestFirst(t *testing.T) {
	db := openTestDB(t)
	ctx := t.Context()
	u := mustUser(t, db, "alice")
	fixedClock(db, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond)
	var want []string
	for _, name := range []string{"one", "two", "three"} {
		k, _, err := db.CreateAPIKey(ctx, u.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{k.Name}, want...)
	}
	keys, err := db.APIKeys(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("keys %v, want %v", got, want)
	}
}

package store

import (
	"testing"
	"time"
)

// TestReservedAndHeldSlugs: names people take for the service itself never
// become a project's host; a deleted project's slug stays its owner's for
// 30 days (another user gets a suffixed one meanwhile), then is free.
func TestReservedAndHeldSlugs(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t)
	now := time.Now()
	db.Now = func() time.Time { return now }
	alice, mallory := mustUser(t, db, "alice"), mustUser(t, db, "mallory")

	for _, name := range []string{"www", "API", "admin"} {
		if p := mustProject(t, db, mallory.ID, name); p.Slug == Slugify(name) {
			t.Errorf("project %q took the reserved host %q", name, p.Slug)
		}
	}

	shop := mustProject(t, db, alice.ID, "shop")
	if err := db.DeleteProject(ctx, alice.ID, shop.ID); err != nil {
		t.Fatal(err)
	}
	if p := mustProject(t, db, mallory.ID, "shop"); p.Slug != "shop-2" {
		t.Errorf("another user took a deleted project's slug at once: %q", p.Slug)
	}
	now = now.Add(SlugHold - time.Hour)
	if p := mustProject(t, db, alice.ID, "shop"); p.Slug != "shop" {
		t.Errorf("the owner did not get the held slug back: %q", p.Slug)
	}
	again := mustProject(t, db, alice.ID, "blog")
	if err := db.DeleteProject(ctx, alice.ID, again.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(SlugHold + time.Hour)
	if p := mustProject(t, db, mallory.ID, "blog"); p.Slug != "blog" {
		t.Errorf("a slug held past its 30 days is still taken: %q", p.Slug)
	}
}

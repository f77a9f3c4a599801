-- Project slugs nobody may take (owner_id NULL, held_until 0: reserved for
-- good, such as the dashboard's own label) and slugs of deleted projects,
-- held for their owner for a while so nobody else can take over the
-- address their users still visit.
CREATE TABLE slug_holds (
    slug       TEXT PRIMARY KEY,
    owner_id   TEXT,
    held_until INTEGER NOT NULL DEFAULT 0 -- unix ms; 0: for good
);

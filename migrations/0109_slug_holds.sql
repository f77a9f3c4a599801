-- Slugs of deleted projects, held for their owner for a while so nobody
-- else can take over the address their users still visit.
CREATE TABLE slug_holds (
    slug       TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    held_until INTEGER NOT NULL -- unix ms
);

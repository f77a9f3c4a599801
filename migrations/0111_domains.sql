-- Custom domains: hosts of a project's own that serve its production
-- deployment once their DNS points at berth. A name belongs to one project
-- across the instance; it is stored lowercase ASCII (IDNA), without port or
-- trailing dot, so the primary key is case-insensitive uniqueness.
CREATE TABLE domains (
    name        TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    token       TEXT NOT NULL,             -- the value of the _berth-challenge TXT record
    redirect_to TEXT NOT NULL DEFAULT '',  -- another of the project's domains visitors are sent to
    verified_at INTEGER,                   -- unix ms; NULL until DNS was seen pointing at berth
    checked_at  INTEGER,                   -- unix ms of the last DNS check
    check_error TEXT NOT NULL DEFAULT '',  -- what the last failed check found
    created_at  INTEGER NOT NULL
);
CREATE INDEX domains_project ON domains(project_id, created_at);
CREATE INDEX domains_unverified ON domains(verified_at, checked_at);

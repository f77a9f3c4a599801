-- Retention: a deployment whose artifacts, cached files and logs were
-- deleted keeps its row for history, marked with when that happened; it is
-- never served or promoted again.
ALTER TABLE deployments ADD COLUMN expired_at INTEGER;
CREATE INDEX deployments_retention ON deployments(project_id, state, expired_at, created_at);

-- One row per retention run, for the disk report.
CREATE TABLE retention_runs (
    id                INTEGER PRIMARY KEY,
    started_at        INTEGER NOT NULL,
    finished_at       INTEGER NOT NULL,
    expired           INTEGER NOT NULL,  -- deployments expired
    logs_deleted      INTEGER NOT NULL,  -- log lines deleted
    artifact_bytes    INTEGER NOT NULL,  -- bytes deleted from the artifact store
    cache_bytes       INTEGER NOT NULL,  -- bytes deleted from the disk cache
    error             TEXT NOT NULL DEFAULT ''
);

-- When the expired deployment's artifacts, cached files, containers and
-- logs were deleted; an expired row without it is finished by the next run
-- (berth stopped, or the artifact store failed, half way).
ALTER TABLE deployments ADD COLUMN reclaimed_at INTEGER;

-- Promotion: the path a server deployment must answer (below 500) before
-- it takes production traffic; why the last promotion of a deployment
-- failed (empty once one succeeds); and the history of each project's
-- production deployment: which one served from when to when, and who or
-- what put it there (a user id, "auto" for a push to the production
-- branch, "rollback").
ALTER TABLE projects ADD COLUMN health_path TEXT NOT NULL DEFAULT '/';
ALTER TABLE deployments ADD COLUMN promotion_error TEXT NOT NULL DEFAULT '';

CREATE TABLE production_history (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    deployment_id TEXT NOT NULL,
    from_at       INTEGER NOT NULL,
    to_at         INTEGER, -- NULL while it is production
    promoted_by   TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX production_history_project ON production_history(project_id, from_at DESC);

-- Production deployments from before the history begin it.
INSERT INTO production_history (id, project_id, deployment_id, from_at, promoted_by, reason)
    SELECT lower(hex(randomblob(16))), id, production_deployment_id, updated_at, 'auto', 'In production before the history was kept.'
    FROM projects WHERE production_deployment_id IS NOT NULL AND production_deployment_id != '';

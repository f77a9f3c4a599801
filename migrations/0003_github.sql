ALTER TABLE users ADD COLUMN github_token BLOB; -- sealed OAuth token, never returned

ALTER TABLE projects ADD COLUMN allow_fork_prs INTEGER NOT NULL DEFAULT 0;

ALTER TABLE deployments ADD COLUMN pr_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN retired INTEGER NOT NULL DEFAULT 0; -- a closed PR's preview: no longer served
CREATE INDEX deployments_pr ON deployments(project_id, pr_number);

-- Each X-GitHub-Delivery is acted on once.
CREATE TABLE webhook_seen (
    delivery_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
);

-- What happened to each delivery, per project, so users can see why a push did not deploy.
CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   TEXT NOT NULL,
    project_id    TEXT REFERENCES projects(id) ON DELETE CASCADE,
    repo          TEXT NOT NULL DEFAULT '',
    event         TEXT NOT NULL,
    action        TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL, -- deployed, ignored, rejected, error
    reason        TEXT NOT NULL DEFAULT '',
    deployment_id TEXT NOT NULL DEFAULT '',
    received_at   INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_project ON webhook_deliveries(project_id, id DESC);

-- The one preview comment berth keeps on each pull request.
CREATE TABLE pr_comments (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    pr_number  INTEGER NOT NULL,
    comment_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, pr_number)
);

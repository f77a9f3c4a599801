CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    login       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL DEFAULT '',
    github_id   INTEGER UNIQUE,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    hash         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE projects (
    id                       TEXT PRIMARY KEY,
    owner_id                 TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name                     TEXT NOT NULL,
    slug                     TEXT NOT NULL UNIQUE,
    git_url                  TEXT NOT NULL DEFAULT '',
    github_repo              TEXT NOT NULL DEFAULT '',
    production_branch        TEXT NOT NULL DEFAULT 'main',
    root_dir                 TEXT NOT NULL DEFAULT '',
    install_command          TEXT NOT NULL DEFAULT '',
    build_command            TEXT NOT NULL DEFAULT '',
    output_dir               TEXT NOT NULL DEFAULT '',
    production_deployment_id TEXT,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX projects_owner ON projects(owner_id, created_at);
CREATE INDEX projects_github_repo ON projects(github_repo);

CREATE TABLE env_vars (
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    value_sealed BLOB NOT NULL,
    target       TEXT NOT NULL CHECK (target IN ('build', 'runtime', 'all')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, key)
);

CREATE TABLE deployments (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'building', 'uploading', 'ready', 'error', 'cancelled')),
    ref               TEXT NOT NULL DEFAULT '',
    branch            TEXT NOT NULL DEFAULT '',
    commit_sha        TEXT NOT NULL DEFAULT '',
    commit_message    TEXT NOT NULL DEFAULT '',
    git_url           TEXT NOT NULL DEFAULT '',
    preview_host      TEXT NOT NULL UNIQUE,
    trigger           TEXT NOT NULL DEFAULT 'api',
    output_type       TEXT NOT NULL DEFAULT '',
    artifact_key      TEXT NOT NULL DEFAULT '',
    error             TEXT NOT NULL DEFAULT '',
    attempt           INTEGER NOT NULL DEFAULT 0,
    event_seq         INTEGER NOT NULL DEFAULT 0, -- last event stream sequence applied (redeliveries are skipped)
    created_at        INTEGER NOT NULL,
    build_started_at  INTEGER,
    build_finished_at INTEGER
);
CREATE INDEX deployments_project ON deployments(project_id, created_at DESC);
CREATE INDEX deployments_state ON deployments(state);

CREATE TABLE deployment_logs (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    line          INTEGER NOT NULL,
    stream        TEXT NOT NULL,
    text          TEXT NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, line)
) WITHOUT ROWID;

-- Each linked project has a webhook secret of its own (sealed, bound to the
-- project id), and the numeric id of the GitHub repository it was linked to,
-- checked against every delivery. 0: linked before ids were recorded.
ALTER TABLE projects ADD COLUMN webhook_secret BLOB;
ALTER TABLE projects ADD COLUMN github_repo_id INTEGER NOT NULL DEFAULT 0;

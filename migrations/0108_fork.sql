-- A pull request from a fork: built with no project secrets and a build
-- cache of its own.
ALTER TABLE deployments ADD COLUMN fork INTEGER NOT NULL DEFAULT 0;

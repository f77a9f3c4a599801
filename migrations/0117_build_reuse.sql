-- Builds are never done twice. inputs_key identifies what a ready build was
-- made from (git tree, root directory, build env, build image, commands);
-- reused_from names the deployment whose build a deployment serves instead
-- of building its own (its artifact_key is then that build's prefix).
-- rebuild marks a deployment that must build from scratch (a redeploy
-- that did not ask for reuse).
ALTER TABLE deployments ADD COLUMN inputs_key TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN reused_from TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN rebuild INTEGER NOT NULL DEFAULT 0;
-- Retention asks whether a kept deployment still serves an artifact.
CREATE INDEX deployments_artifact_key ON deployments(artifact_key);

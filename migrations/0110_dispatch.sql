-- Whether a queued deployment's build job went out to the builders. A new
-- deployment waits in berth's own queue until its owner has a free build
-- slot, so one user's pushes do not starve another's. Deployments from
-- before this column all had their job published.
ALTER TABLE deployments ADD COLUMN dispatched INTEGER NOT NULL DEFAULT 1;
CREATE INDEX deployments_waiting ON deployments(state, dispatched, created_at);

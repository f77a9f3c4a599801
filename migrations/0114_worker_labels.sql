-- The labels a build worker must have to take a project's builds, sorted
-- and comma-joined (model.WorkerLabels); empty: any worker.
ALTER TABLE projects ADD COLUMN worker_labels TEXT NOT NULL DEFAULT '';

-- The command a project's Node server starts with, run with `sh -c` in its
-- server container; empty: the one its build detects.
ALTER TABLE projects ADD COLUMN start_command TEXT NOT NULL DEFAULT '';

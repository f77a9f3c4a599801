-- The Dockerfile a project builds from (a path in its root directory; empty:
-- a Dockerfile at the root directory, when there is one) and the port its
-- image's server listens on (0: the image's EXPOSE, else 3000).
ALTER TABLE projects ADD COLUMN dockerfile_path TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN port INTEGER NOT NULL DEFAULT 0;

-- The login as GitHub spells it (users.login may carry a suffix), for the allow list.
ALTER TABLE users ADD COLUMN github_login TEXT NOT NULL DEFAULT '';
UPDATE users SET github_login = login WHERE github_id IS NOT NULL;

-- The built-in admin (the admin token's identity) is marked, not found by its login.
ALTER TABLE users ADD COLUMN builtin INTEGER NOT NULL DEFAULT 0;
UPDATE users SET builtin = 1 WHERE login = 'admin' AND github_id IS NULL;
-- A GitHub account that took the login "admin" gives it up: it is reserved.
UPDATE users SET login = 'admin-gh-' || github_id WHERE login = 'admin' AND github_id IS NOT NULL;

-- A disabled account can neither sign in nor use its API keys.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;

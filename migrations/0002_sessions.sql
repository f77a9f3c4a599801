CREATE TABLE sessions (
    id           TEXT PRIMARY KEY, -- SHA-256 (hex) of the cookie token; the token itself is never stored
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

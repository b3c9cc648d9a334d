CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    received_at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    module TEXT,
    operation TEXT,
    ids TEXT NOT NULL,
    channel_id TEXT,
    verified BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BYTEA NOT NULL,
    forward_status TEXT
);
CREATE INDEX events_at ON events (received_at_ms);
CREATE TABLE rejected (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    path TEXT NOT NULL,
    peer TEXT NOT NULL,
    reason TEXT NOT NULL,
    body_head TEXT NOT NULL
);
CREATE TABLE channels (
    channel_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    events TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    expiry_ms BIGINT NOT NULL,
    profile TEXT NOT NULL
);

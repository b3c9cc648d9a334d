-- The event store as it stood when migrations began (IF NOT EXISTS: older stores hold it).
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    module TEXT,
    operation TEXT,
    ids TEXT NOT NULL,
    channel_id TEXT,
    verified INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    forward_status TEXT
);
CREATE INDEX IF NOT EXISTS events_at ON events (received_at_ms);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    path TEXT NOT NULL,
    peer TEXT NOT NULL,
    reason TEXT NOT NULL,
    body_head TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    channel_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    events TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    expiry_ms INTEGER NOT NULL,
    profile TEXT NOT NULL
);

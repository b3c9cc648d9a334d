-- The metadata cache as it stood when migrations began (IF NOT EXISTS: older stores hold it).
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    module TEXT,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    stored_ms INTEGER NOT NULL,
    validated_ms INTEGER NOT NULL,
    ttl_s INTEGER NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    misses INTEGER NOT NULL DEFAULT 0,
    revalidations INTEGER NOT NULL DEFAULT 0,
    credits_saved INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS savings (at_ms INTEGER NOT NULL, credits INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS savings_at ON savings (at_ms);
CREATE TABLE IF NOT EXISTS totals (key TEXT PRIMARY KEY, value INTEGER NOT NULL);

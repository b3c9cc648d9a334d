CREATE TABLE entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    module TEXT,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    checksum BIGINT NOT NULL,
    stored_ms BIGINT NOT NULL,
    validated_ms BIGINT NOT NULL,
    ttl_s BIGINT NOT NULL,
    hits BIGINT NOT NULL DEFAULT 0,
    misses BIGINT NOT NULL DEFAULT 0,
    revalidations BIGINT NOT NULL DEFAULT 0,
    credits_saved BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE savings (id BIGSERIAL PRIMARY KEY, at_ms BIGINT NOT NULL, credits BIGINT NOT NULL);
CREATE INDEX savings_at ON savings (at_ms);
CREATE TABLE totals (key TEXT PRIMARY KEY, value BIGINT NOT NULL);

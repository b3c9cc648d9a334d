-- The ledger on PostgreSQL: the same tables as on SQLite (its V1 and V2), in BIGINTs.
CREATE TABLE calls (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    integration TEXT NOT NULL,
    api TEXT NOT NULL,
    module TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    records BIGINT NOT NULL,
    credits BIGINT NOT NULL,
    status BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    priced BIGINT NOT NULL,
    reported_remaining BIGINT,
    saved BIGINT NOT NULL DEFAULT 0,
    proxy TEXT NOT NULL DEFAULT '',
    -- Set for calls replayed from a proxy's local spool: replaying twice inserts once.
    call_key TEXT UNIQUE
);
CREATE INDEX calls_at ON calls (at_ms);
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    threshold BIGINT NOT NULL,
    used BIGINT NOT NULL,
    lim BIGINT NOT NULL
);
-- Per-minute totals, kept per proxy so that proxies recording at the same minute never wait on
-- each other's rows; readers sum over proxies.
CREATE TABLE minute_credits (
    minute BIGINT NOT NULL,
    proxy TEXT NOT NULL DEFAULT '',
    credits BIGINT NOT NULL,
    PRIMARY KEY (minute, proxy)
);
CREATE TABLE integration_minutes (
    integration TEXT NOT NULL,
    minute BIGINT NOT NULL,
    proxy TEXT NOT NULL DEFAULT '',
    credits BIGINT NOT NULL,
    PRIMARY KEY (integration, minute, proxy)
);
-- The per-minute totals follow every insert, settle and delete, whichever proxy writes.
CREATE FUNCTION creditops_minute_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.credits <> 0 THEN
        UPDATE minute_credits SET credits = credits - OLD.credits
        WHERE minute = OLD.at_ms / 60000 AND proxy = OLD.proxy;
        UPDATE integration_minutes SET credits = credits - OLD.credits
        WHERE integration = OLD.integration AND minute = OLD.at_ms / 60000 AND proxy = OLD.proxy;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.credits <> 0 THEN
        INSERT INTO minute_credits (minute, proxy, credits)
        VALUES (NEW.at_ms / 60000, NEW.proxy, NEW.credits)
        ON CONFLICT (minute, proxy) DO UPDATE SET credits = minute_credits.credits + EXCLUDED.credits;
        INSERT INTO integration_minutes (integration, minute, proxy, credits)
        VALUES (NEW.integration, NEW.at_ms / 60000, NEW.proxy, NEW.credits)
        ON CONFLICT (integration, minute, proxy)
        DO UPDATE SET credits = integration_minutes.credits + EXCLUDED.credits;
    END IF;
    RETURN NULL;
END $$;
-- A settle that keeps the priced credits (most do) changes no total: no trigger work.
CREATE TRIGGER calls_minute_totals_insert AFTER INSERT ON calls
FOR EACH ROW WHEN (NEW.credits <> 0) EXECUTE FUNCTION creditops_minute_totals();
CREATE TRIGGER calls_minute_totals_update AFTER UPDATE OF credits ON calls
FOR EACH ROW WHEN (NEW.credits IS DISTINCT FROM OLD.credits) EXECUTE FUNCTION creditops_minute_totals();
CREATE TRIGGER calls_minute_totals_delete AFTER DELETE ON calls
FOR EACH ROW WHEN (OLD.credits <> 0) EXECUTE FUNCTION creditops_minute_totals();
CREATE TABLE refusals (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    integration TEXT NOT NULL,
    kind TEXT NOT NULL,
    enforced BIGINT NOT NULL,
    credits BIGINT NOT NULL,
    message TEXT NOT NULL,
    proxy TEXT NOT NULL DEFAULT ''
);
CREATE INDEX refusals_at ON refusals (at_ms);
CREATE TABLE alert_state (
    threshold BIGINT PRIMARY KEY,
    crossed BIGINT NOT NULL
);
CREATE TABLE live (
    key TEXT PRIMARY KEY,
    value BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE leases (
    id BIGSERIAL PRIMARY KEY,
    proxy TEXT NOT NULL,
    slots BIGINT NOT NULL,
    sub BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);

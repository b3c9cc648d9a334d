-- The ledger as it stood when migrations began. IF NOT EXISTS: stores written before then
-- (adopted, see ledger.rs) already hold these tables.
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    integration TEXT NOT NULL,
    api TEXT NOT NULL,
    module TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    records INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    status INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    priced INTEGER NOT NULL,
    reported_remaining INTEGER,
    saved INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at_ms);
CREATE TABLE IF NOT EXISTS alerts (
    at_ms INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    used INTEGER NOT NULL,
    lim INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS minute_credits (
    minute INTEGER PRIMARY KEY,
    credits INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS calls_minute_insert AFTER INSERT ON calls WHEN NEW.credits <> 0 BEGIN
    INSERT INTO minute_credits (minute, credits) VALUES (NEW.at_ms / 60000, NEW.credits)
    ON CONFLICT(minute) DO UPDATE SET credits = credits + excluded.credits;
END;
CREATE TRIGGER IF NOT EXISTS calls_minute_update AFTER UPDATE OF credits ON calls
WHEN NEW.credits <> OLD.credits BEGIN
    INSERT INTO minute_credits (minute, credits) VALUES (NEW.at_ms / 60000, NEW.credits - OLD.credits)
    ON CONFLICT(minute) DO UPDATE SET credits = credits + excluded.credits;
END;
CREATE TRIGGER IF NOT EXISTS calls_minute_delete AFTER DELETE ON calls WHEN OLD.credits <> 0 BEGIN
    UPDATE minute_credits SET credits = credits - OLD.credits WHERE minute = OLD.at_ms / 60000;
END;
CREATE TABLE IF NOT EXISTS refusals (
    at_ms INTEGER NOT NULL,
    integration TEXT NOT NULL,
    kind TEXT NOT NULL,
    enforced INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refusals_at ON refusals (at_ms);
CREATE TABLE IF NOT EXISTS alert_state (
    threshold INTEGER PRIMARY KEY,
    crossed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS live (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
-- Ledgers from before the per-minute totals: built once from the calls.
INSERT OR IGNORE INTO minute_credits (minute, credits)
SELECT at_ms / 60000, SUM(credits) FROM calls GROUP BY at_ms / 60000 HAVING SUM(credits) <> 0;

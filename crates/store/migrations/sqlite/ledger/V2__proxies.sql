-- Several proxies on one ledger: which proxy recorded a call, per-integration minute totals
-- (budgets read them), and concurrency leases.
ALTER TABLE calls ADD COLUMN proxy TEXT NOT NULL DEFAULT '';
ALTER TABLE refusals ADD COLUMN proxy TEXT NOT NULL DEFAULT '';
CREATE TABLE integration_minutes (
    integration TEXT NOT NULL,
    minute INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    PRIMARY KEY (integration, minute)
);
INSERT INTO integration_minutes (integration, minute, credits)
SELECT integration, at_ms / 60000, SUM(credits) FROM calls
GROUP BY integration, at_ms / 60000 HAVING SUM(credits) <> 0;
CREATE TRIGGER calls_integration_minute_insert AFTER INSERT ON calls WHEN NEW.credits <> 0 BEGIN
    INSERT INTO integration_minutes (integration, minute, credits) VALUES (NEW.integration, NEW.at_ms / 60000, NEW.credits)
    ON CONFLICT(integration, minute) DO UPDATE SET credits = credits + excluded.credits;
END;
CREATE TRIGGER calls_integration_minute_update AFTER UPDATE OF credits ON calls
WHEN NEW.credits <> OLD.credits BEGIN
    INSERT INTO integration_minutes (integration, minute, credits) VALUES (NEW.integration, NEW.at_ms / 60000, NEW.credits - OLD.credits)
    ON CONFLICT(integration, minute) DO UPDATE SET credits = credits + excluded.credits;
END;
CREATE TRIGGER calls_integration_minute_delete AFTER DELETE ON calls WHEN OLD.credits <> 0 BEGIN
    UPDATE integration_minutes SET credits = credits - OLD.credits
    WHERE integration = OLD.integration AND minute = OLD.at_ms / 60000;
END;
CREATE TABLE leases (
    id INTEGER PRIMARY KEY,
    proxy TEXT NOT NULL,
    slots INTEGER NOT NULL,
    sub INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);

-- A key unique to each call, chosen before its first write: a call recorded again elsewhere
-- (the spool) after a write whose answer never came is recognised on replay, not doubled.
ALTER TABLE calls ADD COLUMN call_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS calls_call_key ON calls (call_key);

//! The credit ledger: every call the proxy forwarded, priced and timed, in SQLite (WAL).
//!
//! Append-only. Writes go through a group-commit writer (`db::GroupWriter`): a caller hands over
//! its row and waits for the commit, so a call is durable before its answer leaves the proxy
//! (a SIGKILL loses nothing answered) while many concurrent calls share one commit. Readers open
//! their own connections; WAL lets them read while the writer writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use creditops_core::credits::WINDOW_MS;

/// One metered call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    pub at_ms: i64,
    pub integration: String,
    /// The cost-table row that priced the call (`unpriced` when none did).
    pub api: String,
    pub module: Option<String>,
    pub method: String,
    pub path: String,
    pub records: u32,
    /// Credits charged: 0 for answers Zoho does not charge (401, 429, refused before pricing).
    pub credits: u32,
    pub status: u16,
    pub latency_ms: u32,
    pub priced: bool,
    /// `X-API-CREDITS-REMAINING` from the answer, when Zoho sent it.
    pub reported_remaining: Option<u64>,
    /// Credits the metadata cache spared (a hit answered without calling Zoho).
    pub saved: u32,
}

const SCHEMA: &str = "
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
";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("ledger {0}")]
    WriterGone(String),
    #[error("ledger {0}")]
    Open(String),
    #[error("ledger {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn open_conn(path: &Path) -> Result<Connection, LedgerError> {
    let conn = crate::db::open(path, SCHEMA).map_err(LedgerError::Open)?;
    // Ledgers from before the per-minute totals: build them once from the calls (the triggers
    // keep them from here on, whichever process writes).
    let empty: bool = conn
        .query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM minute_credits)",
            [],
            |r| r.get(0),
        )
        .unwrap_or(false);
    if empty {
        conn.execute_batch(
            "INSERT OR IGNORE INTO minute_credits (minute, credits)
             SELECT at_ms / 60000, SUM(credits) FROM calls GROUP BY at_ms / 60000 HAVING SUM(credits) <> 0",
        )
        .map_err(|source| LedgerError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
    }
    // Ledgers from before the metadata cache lack `saved`.
    let has_saved = conn.prepare("SELECT saved FROM calls LIMIT 0").is_ok();
    if !has_saved {
        conn.execute_batch("ALTER TABLE calls ADD COLUMN saved INTEGER NOT NULL DEFAULT 0")
            .map_err(|source| LedgerError::Sqlite {
                path: path.display().to_string(),
                source,
            })?;
    }
    Ok(conn)
}

/// A write to the ledger.
enum Job {
    Append(CallRecord),
    /// What a call's answer settled: its row (written by `begin` before it was sent) gets the
    /// status, credits, latency and reported remaining.
    Finish(i64, Settled),
    Live(&'static str, i64, i64),
    /// A call a budget refused (or, not enforced, would have).
    Refusal(Refused),
    /// Where the org stands against its thresholds, decided from the ledger's total.
    Crossings(CrossingCheck),
}

/// What a threshold check is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossingCheck {
    pub now_ms: i64,
    /// The daily limit when configured; else it is learned as used + `reported_remaining`.
    pub limit: Option<u64>,
    pub reported_remaining: Option<u64>,
    pub thresholds: Vec<u32>,
}

/// What a threshold check found: the org's usage in the window (every writer of this ledger
/// counted), the limit it was measured against, and the thresholds this check crossed first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Crossings {
    pub used: u64,
    pub limit: Option<u64>,
    pub fired: Vec<u32>,
}

/// What a job answers.
enum Answer {
    Row(i64),
    Crossings(Crossings),
}

fn apply(tx: &rusqlite::Transaction, job: &Job) -> rusqlite::Result<Answer> {
    match job {
        Job::Append(r) => {
            let mut ins = tx.prepare_cached(
                "INSERT INTO calls (at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            ins.execute(params![
                r.at_ms,
                r.integration,
                r.api,
                r.module,
                r.method,
                r.path,
                r.records,
                r.credits,
                r.status,
                r.latency_ms,
                r.priced,
                r.reported_remaining.map(|v| v as i64),
                r.saved
            ])?;
        }
        Job::Finish(id, f) => {
            let mut up = tx.prepare_cached(
                "UPDATE calls SET status = ?2, credits = ?3, latency_ms = ?4, reported_remaining = ?5 WHERE id = ?1",
            )?;
            up.execute(params![
                id,
                f.status,
                f.credits,
                f.latency_ms,
                f.reported_remaining.map(|v| v as i64)
            ])?;
            return Ok(Answer::Row(*id));
        }
        Job::Crossings(c) => return check_crossings(tx, c).map(Answer::Crossings),
        Job::Refusal(r) => {
            tx.execute(
                "INSERT INTO refusals (at_ms, integration, kind, enforced, credits, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![r.at_ms, r.integration, r.kind, r.enforced, r.credits, r.message],
            )?;
        }
        Job::Live(k, v, at) => {
            tx.execute(
                "INSERT OR REPLACE INTO live (key, value, updated_ms) VALUES (?1, ?2, ?3)",
                params![k, v, at],
            )?;
        }
    }
    Ok(Answer::Row(tx.last_insert_rowid()))
}

/// Decides crossings inside the writer's transaction: SQLite lets one writer at a time touch
/// the ledger, whichever process it is in, so each crossing is claimed by exactly one check.
/// A threshold is armed again when usage falls back under it (credits freed up).
fn check_crossings(tx: &rusqlite::Transaction, c: &CrossingCheck) -> rusqlite::Result<Crossings> {
    // From the per-minute totals (at most 1,441 rows): cheap enough for every settled call.
    // The minute the window's start falls in is left out: up to a minute of credits that are
    // leaving the window anyway.
    let used: i64 = tx.query_row(
        "SELECT COALESCE(SUM(credits), 0) FROM minute_credits WHERE minute > ?1 AND minute <= ?2",
        params![(c.now_ms - WINDOW_MS) / 60_000, c.now_ms / 60_000],
        |r| r.get(0),
    )?;
    let used = used.max(0) as u64;
    let limit = c
        .limit
        .or(c.reported_remaining.map(|rem| used + rem))
        .filter(|l| *l > 0);
    let mut out = Crossings {
        used,
        limit,
        fired: Vec::new(),
    };
    let Some(limit) = limit else {
        return Ok(out);
    };
    for &t in &c.thresholds {
        let mark = limit * u64::from(t) / 100;
        if used >= mark {
            let claimed = tx.execute(
                "INSERT INTO alert_state (threshold, crossed) VALUES (?1, 1)
                 ON CONFLICT(threshold) DO UPDATE SET crossed = 1 WHERE crossed = 0",
                params![t],
            )?;
            if claimed == 1 {
                tx.execute(
                    "INSERT INTO alerts (at_ms, threshold, used, lim) VALUES (?1, ?2, ?3, ?4)",
                    params![c.now_ms, t, used as i64, limit as i64],
                )?;
                out.fired.push(t);
            }
        } else {
            tx.execute(
                "UPDATE alert_state SET crossed = 0 WHERE threshold = ?1",
                params![t],
            )?;
        }
    }
    Ok(out)
}

/// The writing side: cheap to clone, shared by the proxy's handlers.
#[derive(Clone)]
pub struct LedgerWriter {
    writer: crate::db::GroupWriter<Job, Answer>,
    path: PathBuf,
}

impl LedgerWriter {
    /// Opens (creating) the ledger and starts its writer thread; drops rows older than
    /// `retention_days`.
    pub fn open(path: &Path, retention_days: u32) -> Result<LedgerWriter, LedgerError> {
        let conn = open_conn(path)?;
        let cutoff = chrono::Utc::now().timestamp_millis() - i64::from(retention_days) * 86_400_000;
        conn.execute("DELETE FROM calls WHERE at_ms < ?1", params![cutoff])
            .map_err(|source| LedgerError::Sqlite {
                path: path.display().to_string(),
                source,
            })?;
        conn.execute(
            "DELETE FROM minute_credits WHERE minute < ?1",
            params![cutoff / 60_000],
        )
        .map_err(|source| LedgerError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
        let writer =
            crate::db::GroupWriter::start("ledger-writer", conn, apply).map_err(|source| {
                LedgerError::Io {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        Ok(LedgerWriter {
            writer,
            path: path.to_path_buf(),
        })
    }

    /// Appends a call and waits until it is committed.
    pub async fn append(&self, rec: CallRecord) -> Result<(), LedgerError> {
        self.write(Job::Append(rec)).await.map(|_| ())
    }

    async fn write(&self, job: Job) -> Result<Answer, LedgerError> {
        self.writer
            .write(job)
            .await
            .map_err(|e| LedgerError::WriterGone(format!("{}: {e}", self.path.display())))
    }

    /// Records a call before it is sent, with the credits it is priced at and status
    /// [`STATUS_UNSETTLED`], and waits for the commit; returns its row. A call that cannot be
    /// recorded is not sent: nothing is spent without a record.
    pub async fn begin(&self, rec: CallRecord) -> Result<i64, LedgerError> {
        match self.write(Job::Append(rec)).await? {
            Answer::Row(id) => Ok(id),
            Answer::Crossings(_) => Err(LedgerError::WriterGone("answered out of turn".into())),
        }
    }

    /// Settles a row `begin` wrote, once the answer is known, and waits for the commit.
    pub async fn finish(&self, id: i64, settled: Settled) -> Result<(), LedgerError> {
        self.write(Job::Finish(id, settled)).await.map(|_| ())
    }

    /// Records a budget refusal (fire and forget: the refused call costs nothing either way).
    pub fn refusal(&self, r: Refused) {
        self.writer.send(Job::Refusal(r));
    }

    /// Checks the org's thresholds against the ledger's total, so several proxies writing one
    /// ledger alert once per crossing between them; returns what this check crossed first
    /// (each crossing is recorded in `alerts`).
    pub async fn crossings(&self, check: CrossingCheck) -> Result<Crossings, LedgerError> {
        match self.write(Job::Crossings(check)).await? {
            Answer::Crossings(c) => Ok(c),
            Answer::Row(_) => Err(LedgerError::WriterGone("answered out of turn".into())),
        }
    }

    /// Publishes a live gauge (in-flight calls) for other processes reading the ledger.
    pub fn live(&self, key: &'static str, value: i64, now_ms: i64) {
        self.writer.send(Job::Live(key, value, now_ms));
    }
}

/// A call a budget refused, or would have (`enforced = false`: the dry-run mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub at_ms: i64,
    pub integration: String,
    /// daily, hourly or reserve.
    pub kind: String,
    pub enforced: bool,
    /// What the call would have cost.
    pub credits: u32,
    pub message: String,
}

/// What a call's answer settled, for the row `begin` wrote before it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub status: u16,
    pub credits: u32,
    pub latency_ms: u32,
    pub reported_remaining: Option<u64>,
}

/// The status of a call recorded before it was sent whose answer was never settled (the
/// process died, or the ledger failed after the call went out): its row keeps the credits the
/// call was priced at, the most it can have cost.
pub const STATUS_UNSETTLED: u16 = 0;

/// Credits and calls of one group (module, API or integration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub calls: u64,
    pub credits: u64,
}

/// The reading side: queries over the rolling window and history.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl Ledger {
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Ok(Ledger {
            conn: open_conn(path)?,
            path: path.to_path_buf(),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
        move |source| LedgerError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Credits used in the rolling window at instant `t`: charges in `(t - 24 h, t]`.
    pub fn used_at(&self, t: i64) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(credits), 0) FROM calls WHERE at_ms > ?1 AND at_ms <= ?2",
                params![t - WINDOW_MS, t],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(self.err())
    }

    /// Credits coming back in each of the next `buckets` periods of `bucket_ms` after `now`.
    pub fn freeing(
        &self,
        now: i64,
        bucket_ms: i64,
        buckets: usize,
    ) -> Result<Vec<u64>, LedgerError> {
        let mut out = vec![0u64; buckets];
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT at_ms, credits FROM calls WHERE at_ms > ?1 AND at_ms <= ?2 AND credits > 0",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![now - WINDOW_MS, now], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err())?;
        for row in rows {
            let (at, credits) = row.map_err(self.err())?;
            let i = ((at + WINDOW_MS - now - 1).max(0) / bucket_ms) as usize;
            if i < buckets {
                out[i] += credits as u64;
            }
        }
        Ok(out)
    }

    /// Credits per minute over `[from, to)`, one entry per minute (zeros included).
    pub fn per_minute(&self, from: i64, to: i64) -> Result<Vec<u64>, LedgerError> {
        let minutes = ((to - from).max(0) / 60_000) as usize;
        let mut out = vec![0u64; minutes];
        let mut st = self
            .conn
            .prepare_cached("SELECT (at_ms - ?1) / 60000 AS m, SUM(credits) FROM calls WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY m")
            .map_err(self.err())?;
        let rows = st
            .query_map(params![from, to], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err())?;
        for row in rows {
            let (m, c) = row.map_err(self.err())?;
            if let Some(slot) = out.get_mut(m as usize) {
                *slot = c as u64;
            }
        }
        Ok(out)
    }

    /// Credits charged in `(from, to]`.
    pub fn credits_between(&self, from: i64, to: i64) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(credits), 0) FROM calls WHERE at_ms > ?1 AND at_ms <= ?2",
                params![from, to],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(self.err())
    }

    /// Credits and calls recorded for one integration since `since_ms` (what `creditops send`
    /// was charged).
    pub fn charged_to(&self, integration: &str, since_ms: i64) -> Result<(u64, u64), LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(credits), 0), COUNT(*) FROM calls WHERE integration = ?1 AND at_ms >= ?2",
                params![integration, since_ms],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(self.err())
    }

    /// Calls and credits in the window at `now`, grouped by `module`, `api` or `integration`.
    pub fn breakdown(&self, now: i64, by: Group) -> Result<BTreeMap<String, Tally>, LedgerError> {
        let col = match by {
            Group::Module => "COALESCE(module, '-')",
            Group::Api => "api",
            Group::Integration => "integration",
        };
        let sql = format!(
            "SELECT {col}, COUNT(*), COALESCE(SUM(credits), 0) FROM calls WHERE at_ms > ?1 AND at_ms <= ?2 GROUP BY 1"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = st
            .query_map(params![now - WINDOW_MS, now], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(self.err())?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, calls, credits) = row.map_err(self.err())?;
            out.insert(
                k,
                Tally {
                    calls: calls as u64,
                    credits: credits as u64,
                },
            );
        }
        Ok(out)
    }

    /// Credits per UTC day, oldest first: `(YYYY-MM-DD, credits)`; days without calls are absent.
    pub fn daily_totals(&self) -> Result<Vec<(String, u64)>, LedgerError> {
        self.grouped_totals(86_400_000, "%Y-%m-%d")
    }

    /// Credits per UTC hour, oldest first: `(YYYY-MM-DDTHH:00, credits)`.
    pub fn hourly_totals(&self) -> Result<Vec<(String, u64)>, LedgerError> {
        self.grouped_totals(3_600_000, "%Y-%m-%dT%H:00")
    }

    /// Credits per integration per UTC day (days since the epoch), for budget advice.
    pub fn daily_totals_by_integration(&self) -> Result<Vec<(String, i64, u64)>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT integration, at_ms / 86400000 AS d, SUM(credits) FROM calls GROUP BY integration, d ORDER BY d",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    fn grouped_totals(&self, bucket_ms: i64, fmt: &str) -> Result<Vec<(String, u64)>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT at_ms / ?1 AS b, SUM(credits) FROM calls GROUP BY b ORDER BY b")
            .map_err(self.err())?;
        let rows = st
            .query_map(params![bucket_ms], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (b, c) = row.map_err(self.err())?;
            let label = chrono::DateTime::from_timestamp_millis(b * bucket_ms)
                .map(|t| t.format(fmt).to_string())
                .unwrap_or_default();
            out.push((label, c as u64));
        }
        Ok(out)
    }

    /// Credits the metadata cache spared in the window at `now`.
    pub fn saved_at(&self, now: i64) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(saved), 0) FROM calls WHERE at_ms > ?1 AND at_ms <= ?2",
                params![now - WINDOW_MS, now],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(self.err())
    }

    /// The latest `X-API-CREDITS-REMAINING` seen: `(at_ms, remaining)`.
    pub fn latest_reported(&self) -> Result<Option<(i64, u64)>, LedgerError> {
        self.conn
            .query_row(
                "SELECT at_ms, reported_remaining FROM calls WHERE reported_remaining IS NOT NULL ORDER BY at_ms DESC, id DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .optional()
            .map_err(self.err())
    }

    /// Threshold crossings recorded since `since_ms`: `(at_ms, threshold, used, limit)`.
    /// Every charge since `since_ms` with its integration, oldest first: what the proxy's
    /// budget windows start from.
    pub fn charges_since(&self, since_ms: i64) -> Result<Vec<(String, i64, u64)>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT integration, at_ms, credits FROM calls WHERE at_ms > ?1 AND credits > 0 ORDER BY at_ms",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![since_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Credits per integration in `(since, now]`.
    pub fn credits_by_integration_since(
        &self,
        since_ms: i64,
        now_ms: i64,
    ) -> Result<BTreeMap<String, u64>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT integration, COALESCE(SUM(credits), 0) FROM calls WHERE at_ms > ?1 AND at_ms <= ?2 GROUP BY integration",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![since_ms, now_ms], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Budget refusals since `since_ms` per integration: (enforced, would have been).
    pub fn refusals_since(
        &self,
        since_ms: i64,
    ) -> Result<BTreeMap<String, (u64, u64)>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT integration, SUM(enforced), SUM(1 - enforced) FROM refusals WHERE at_ms > ?1 GROUP BY integration",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![since_ms], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64),
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// The latest budget refusals, newest first (for a tail).
    pub fn recent_refusals(&self, limit: u32) -> Result<Vec<Refused>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT at_ms, integration, kind, enforced, credits, message FROM refusals ORDER BY rowid DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![limit], |r| {
                Ok(Refused {
                    at_ms: r.get(0)?,
                    integration: r.get(1)?,
                    kind: r.get(2)?,
                    enforced: r.get(3)?,
                    credits: r.get::<_, i64>(4)? as u32,
                    message: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    pub fn alerts_since(&self, since_ms: i64) -> Result<Vec<(i64, u32, u64, u64)>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT at_ms, threshold, used, lim FROM alerts WHERE at_ms > ?1 ORDER BY at_ms",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![since_ms], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)? as u32,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// A live gauge the proxy publishes, when fresher than `max_age_ms`.
    pub fn live(&self, key: &str, now: i64, max_age_ms: i64) -> Result<Option<i64>, LedgerError> {
        self.conn
            .query_row(
                "SELECT value, updated_ms FROM live WHERE key = ?1",
                params![key],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map(|v| v.filter(|(_, at)| now - at <= max_age_ms).map(|(v, _)| v))
            .map_err(self.err())
    }

    /// How many calls the ledger holds.
    pub fn count(&self) -> Result<u64, LedgerError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get::<_, i64>(0))
            .map(|v| v as u64)
            .map_err(self.err())
    }
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Module,
    Api,
    Integration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(conn: &Connection) -> (i64, i64) {
        let calls: i64 = conn
            .query_row("SELECT COALESCE(SUM(credits), 0) FROM calls", [], |r| {
                r.get(0)
            })
            .unwrap();
        let minutes: i64 = conn
            .query_row(
                "SELECT COALESCE(SUM(credits), 0) FROM minute_credits",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (calls, minutes)
    }

    #[test]
    fn per_minute_totals_follow_every_insert_settle_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let conn = open_conn(&path).unwrap();
        for (i, credits) in [5, 0, 7, 3].into_iter().enumerate() {
            conn.execute(
                "INSERT INTO calls (at_ms, integration, api, method, path, records, credits, status, latency_ms, priced) VALUES (?1, 'i', 'a', 'GET', '/', 0, ?2, 0, 0, 1)",
                params![i as i64 * 50_000, credits],
            )
            .unwrap();
        }
        assert_eq!(sums(&conn), (15, 15));
        // A call settled at fewer credits than it was priced at.
        conn.execute("UPDATE calls SET credits = 2 WHERE credits = 7", [])
            .unwrap();
        assert_eq!(sums(&conn), (10, 10));
        conn.execute("DELETE FROM calls WHERE credits = 5", [])
            .unwrap();
        assert_eq!(sums(&conn), (5, 5));
        // A ledger from before the totals is backfilled when opened.
        conn.execute_batch("DROP TRIGGER calls_minute_insert; DELETE FROM minute_credits;")
            .unwrap();
        conn.execute(
            "INSERT INTO calls (at_ms, integration, api, method, path, records, credits, status, latency_ms, priced) VALUES (999999, 'i', 'a', 'GET', '/', 0, 4, 0, 0, 1)",
            [],
        )
        .unwrap();
        drop(conn);
        let conn = open_conn(&path).unwrap();
        assert_eq!(sums(&conn), (9, 9));
    }
}

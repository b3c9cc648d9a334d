//! The credit ledger: every call the proxy forwarded, priced and timed, in SQLite (WAL) or in
//! PostgreSQL, where several proxies share one.
//!
//! Append-only. Writes go through a group-commit writer (`db::GroupWriter`): a caller hands over
//! its row and waits for the commit, so a call is durable before its answer leaves the proxy
//! (a SIGKILL loses nothing answered) while many concurrent calls share one commit. On
//! PostgreSQL, what is decided org-wide (concurrency leases, threshold crossings) is decided
//! under one advisory lock, so exactly, whichever proxy writes; the per-minute totals are kept
//! per proxy so that recording calls never makes proxies wait on each other. Readers open their
//! own connections.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::db::{Conn, DbError, Location, Reader, Sql, Tx};
use crate::params;

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
    /// A key unique to the call, chosen before its first write: if the shared ledger fails to
    /// answer a write that did commit, and the call is spooled, the replay recognises it
    /// (one row per key) instead of recording it twice.
    pub call_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {at}: {source}")]
    Db {
        at: String,
        #[source]
        source: DbError,
    },
    #[error("ledger {0}")]
    WriterGone(String),
    #[error("ledger {0}")]
    Open(String),
    #[error("ledger {at}: {source}")]
    Io {
        at: String,
        #[source]
        source: std::io::Error,
    },
}

fn open_conn(at: &Location) -> Result<Conn, LedgerError> {
    crate::db::connect(at, &crate::schema::LEDGER).map_err(LedgerError::Open)
}

/// A write to the ledger.
enum Job {
    /// A call recorded before it is sent; with a lease, only when the org has room for it.
    Begin(CallRecord, Option<LeaseAsk>),
    /// What a call's answer settled: its row (written by `begin` before it was sent) gets the
    /// status, credits, latency and reported remaining; its lease, if any, is given back.
    Finish(i64, Settled, Option<i64>),
    Live(String, i64, i64),
    /// A call a budget refused (or, not enforced, would have).
    Refusal(Refused),
    /// Where the org stands against its thresholds, decided from the ledger's total.
    Crossings(CrossingCheck),
    /// Keeps the leases this writer was given alive (a proxy that stops renewing loses them;
    /// a lease whose id never came back, from a write whose answer was lost, expires).
    Renew {
        ids: Vec<i64>,
        now_ms: i64,
        ttl_ms: i64,
    },
    /// Rows of calls that were refused, not sent, after a `Begin` whose commit may have landed
    /// though its answer was lost (the database went away mid-commit): by call key, and only
    /// while still unsettled.
    Void(Vec<String>),
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

/// A call's claim on the org's concurrency: its slots and sub-concurrency slots, against the
/// org's limits, held until `expires_ms` unless renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseAsk {
    pub slots: u32,
    pub sub: u32,
    pub limit: u32,
    pub sub_limit: u32,
    pub now_ms: i64,
    pub expires_ms: i64,
}

/// What `begin` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begun {
    /// Recorded (the call may be sent), holding the lease when one was asked for.
    Recorded { row: i64, lease: Option<i64> },
    /// The org is at its concurrency limit: nothing was recorded.
    Busy { in_flight: u64, sub_in_flight: u64 },
}

/// What a job answers.
enum Answer {
    /// Its group of the batch failed (PostgreSQL answers each group on its own).
    Failed(String),
    Done,
    Begun(Begun),
    Crossings(Crossings),
}

const INSERT_CALL: &str = "INSERT INTO calls (at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved, proxy, call_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING id";

fn apply(proxy: &str, tx: &mut Tx, job: &Job) -> Result<Answer, DbError> {
    match job {
        Job::Begin(r, lease) => {
            let mut held = None;
            if let Some(ask) = lease {
                match take_lease(proxy, tx, ask)? {
                    Ok(id) => held = Some(id),
                    Err(busy) => return Ok(Answer::Begun(busy)),
                }
            }
            let row = tx.int(
                INSERT_CALL,
                &params![
                    r.at_ms,
                    &r.integration,
                    &r.api,
                    &r.module,
                    &r.method,
                    &r.path,
                    r.records,
                    r.credits,
                    r.status,
                    r.latency_ms,
                    r.priced,
                    r.reported_remaining,
                    r.saved,
                    proxy,
                    &r.call_key
                ],
            )?;
            Ok(Answer::Begun(Begun::Recorded { row, lease: held }))
        }
        Job::Finish(id, f, lease) => {
            tx.exec(
                "UPDATE calls SET status = ?2, credits = ?3, latency_ms = ?4, reported_remaining = ?5 WHERE id = ?1",
                &params![*id, f.status, f.credits, f.latency_ms, f.reported_remaining],
            )?;
            if let Some(lease) = lease {
                tx.exec("DELETE FROM leases WHERE id = ?1", &params![*lease])?;
            }
            Ok(Answer::Done)
        }
        Job::Crossings(c) => check_crossings(tx, c).map(Answer::Crossings),
        Job::Void(keys) => {
            for k in keys {
                tx.exec(
                    "DELETE FROM calls WHERE call_key = ?1 AND status = ?2",
                    &params![k, STATUS_UNSETTLED],
                )?;
            }
            Ok(Answer::Done)
        }
        Job::Refusal(r) => {
            tx.exec(
                "INSERT INTO refusals (at_ms, integration, kind, enforced, credits, message, proxy) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &params![r.at_ms, &r.integration, &r.kind, r.enforced, r.credits, &r.message, proxy],
            )?;
            Ok(Answer::Done)
        }
        Job::Live(k, v, at) => {
            tx.exec(
                "INSERT INTO live (key, value, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                &params![k, *v, *at],
            )?;
            Ok(Answer::Done)
        }
        Job::Renew {
            ids,
            now_ms,
            ttl_ms,
        } => {
            if ids.is_empty() {
                return Ok(Answer::Done);
            }
            let now = lease_clock(tx, *now_ms)?;
            for id in ids {
                tx.exec(
                    "UPDATE leases SET expires_ms = ?2 WHERE id = ?1",
                    &params![*id, now + *ttl_ms],
                )?;
            }
            Ok(Answer::Done)
        }
    }
}

/// Writes a batch. On SQLite (in process, no round trips) job by job in one transaction. On
/// PostgreSQL, where each statement is a round trip to the server, the batch's plain records
/// go in as one statement and its settles as another, binding arrays; a batch of only one
/// kind needs no transaction around its single statement. Leases and threshold checks, which
/// decide from what they read, still go one by one in the transaction.
fn write_batch(proxy: &str, conn: &mut Conn, jobs: &[&Job]) -> Result<Vec<Answer>, DbError> {
    if conn.backend() == crate::db::Backend::Sqlite {
        return conn.transaction(|tx| jobs.iter().map(|j| apply(proxy, tx, j)).collect());
    }
    // Three groups, each all or nothing and answered on its own, in an order that never
    // tells a caller "not recorded" about a row that was: settles (their rows exist already),
    // then what decides from what it reads (in a transaction), then the plain records.
    let mut answers: Vec<Option<Answer>> = jobs.iter().map(|_| None).collect();
    let group = |keep: &dyn Fn(&Job) -> bool| -> Vec<usize> {
        (0..jobs.len()).filter(|&i| keep(jobs[i])).collect()
    };
    let settles = group(&|j| matches!(j, Job::Finish(..)));
    let begins = group(&|j| matches!(j, Job::Begin(_, None)));
    let rest = group(&|j| !matches!(j, Job::Finish(..) | Job::Begin(_, None)));
    let pick = |idx: &[usize]| idx.iter().map(|&i| jobs[i]).collect::<Vec<_>>();
    let mut answer = |idx: &[usize], got: Result<Vec<Answer>, DbError>| match got {
        Ok(a) if a.len() == idx.len() => {
            for (&i, a) in idx.iter().zip(a) {
                answers[i] = Some(a);
            }
        }
        Ok(_) => {
            for &i in idx {
                answers[i] = Some(Answer::Failed("a batch answered out of turn".into()));
            }
        }
        Err(e) => {
            tracing::error!("ledger-writer: {e}");
            for &i in idx {
                answers[i] = Some(Answer::Failed(e.to_string()));
            }
        }
    };
    if !settles.is_empty() {
        // Not waiting for the disk: a settle lost in a database crash leaves its row at the
        // priced credits, the most the call can have cost (as when its proxy dies).
        let jobs_settles = pick(&settles);
        answer(
            &settles,
            conn.transaction_with(Some("SET LOCAL synchronous_commit = off"), |tx| {
                settle_calls(tx, &jobs_settles)
            }),
        );
    }
    if !rest.is_empty() {
        let jobs_rest = pick(&rest);
        answer(
            &rest,
            conn.transaction(|tx| jobs_rest.iter().map(|j| apply(proxy, tx, j)).collect()),
        );
    }
    if !begins.is_empty() {
        answer(&begins, insert_calls(proxy, conn, &pick(&begins)));
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Answer::Failed("a job went unanswered".into())))
        .collect())
}

/// Records plain calls in one PostgreSQL statement; answers their rows in the jobs' order.
fn insert_calls(proxy: &str, c: &mut dyn Sql, jobs: &[&Job]) -> Result<Vec<Answer>, DbError> {
    let recs: Vec<&CallRecord> = jobs
        .iter()
        .filter_map(|j| match j {
            Job::Begin(r, None) => Some(r),
            _ => None,
        })
        .collect();
    if recs.is_empty() {
        return Ok(Vec::new());
    }
    let int = |f: &dyn Fn(&CallRecord) -> i64| recs.iter().map(|r| f(r)).collect::<Vec<i64>>();
    let text = |f: &dyn Fn(&CallRecord) -> String| recs.iter().map(|r| f(r)).collect::<Vec<_>>();
    let at = int(&|r| r.at_ms);
    let integration = text(&|r| r.integration.clone());
    let api = text(&|r| r.api.clone());
    let module: Vec<Option<String>> = recs.iter().map(|r| r.module.clone()).collect();
    let method = text(&|r| r.method.clone());
    let path = text(&|r| r.path.clone());
    let records = int(&|r| i64::from(r.records));
    let credits = int(&|r| i64::from(r.credits));
    let status = int(&|r| i64::from(r.status));
    let latency = int(&|r| i64::from(r.latency_ms));
    let priced = int(&|r| i64::from(r.priced));
    let remaining: Vec<Option<i64>> = recs
        .iter()
        .map(|r| {
            r.reported_remaining
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        })
        .collect();
    let saved = int(&|r| i64::from(r.saved));
    let call_key: Vec<Option<String>> = recs.iter().map(|r| r.call_key.clone()).collect();
    let mut pg = c
        .postgres()?
        .ok_or_else(|| DbError::Other("not PostgreSQL".into()))?;
    // Rows are numbered in the order given, so their ids rise in that order: sorted, the
    // returned ids answer the jobs in turn.
    let rows = pg.query(
        "INSERT INTO calls (at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved, proxy, call_key)
         SELECT at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved, $14, call_key
         FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $15::TEXT[])
              WITH ORDINALITY AS u(at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved, call_key, n)
         ORDER BY n RETURNING id",
        &[
            &at, &integration, &api, &module, &method, &path, &records, &credits, &status,
            &latency, &priced, &remaining, &saved, &proxy, &call_key,
        ],
    )?;
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<Result<_, _>>()?;
    ids.sort_unstable();
    if ids.len() != recs.len() {
        return Err(DbError::Other(
            "the ledger recorded fewer calls than sent".into(),
        ));
    }
    Ok(ids
        .into_iter()
        .map(|row| Answer::Begun(Begun::Recorded { row, lease: None }))
        .collect())
}

/// Settles calls (and gives their leases back) in PostgreSQL statements binding arrays.
fn settle_calls(c: &mut dyn Sql, jobs: &[&Job]) -> Result<Vec<Answer>, DbError> {
    let settles: Vec<(i64, &Settled, Option<i64>)> = jobs
        .iter()
        .filter_map(|j| match j {
            Job::Finish(id, s, lease) => Some((*id, s, *lease)),
            _ => None,
        })
        .collect();
    if settles.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = settles.iter().map(|s| s.0).collect();
    let status: Vec<i64> = settles.iter().map(|s| i64::from(s.1.status)).collect();
    let credits: Vec<i64> = settles.iter().map(|s| i64::from(s.1.credits)).collect();
    let latency: Vec<i64> = settles.iter().map(|s| i64::from(s.1.latency_ms)).collect();
    let remaining: Vec<Option<i64>> = settles
        .iter()
        .map(|s| {
            s.1.reported_remaining
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        })
        .collect();
    let leases: Vec<i64> = settles.iter().filter_map(|s| s.2).collect();
    let mut pg = c
        .postgres()?
        .ok_or_else(|| DbError::Other("not PostgreSQL".into()))?;
    if let [(id, settled, lease)] = settles[..] {
        // One settle (a sequential caller): the plain statement by key.
        pg.query(
            "UPDATE calls SET status = $2, credits = $3, latency_ms = $4, reported_remaining = $5 WHERE id = $1",
            &[&id, &status[0], &credits[0], &latency[0], &remaining[0]],
        )?;
        let _ = settled;
        if let Some(lease) = lease {
            pg.query("DELETE FROM leases WHERE id = $1", &[&lease])?;
        }
        return Ok(vec![Answer::Done]);
    }
    // `id = ANY` lets the planner look the rows up by key, whatever it guesses of the arrays.
    pg.query(
        "UPDATE calls SET status = v.status, credits = v.credits, latency_ms = v.latency_ms, reported_remaining = v.remaining
         FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[]) AS v(id, status, credits, latency_ms, remaining)
         WHERE calls.id = v.id AND calls.id = ANY($1::BIGINT[])",
        &[&ids, &status, &credits, &latency, &remaining],
    )?;
    if !leases.is_empty() {
        pg.query(
            "DELETE FROM leases WHERE id = ANY($1::BIGINT[])",
            &[&leases],
        )?;
    }
    Ok(settles.iter().map(|_| Answer::Done).collect())
}

/// Takes a concurrency lease when the org has room: expired leases (a proxy that died) are
/// dropped first. Runs inside the writer's transaction, which the proxies take one at a time.
fn take_lease(proxy: &str, tx: &mut Tx, ask: &LeaseAsk) -> Result<Result<i64, Begun>, DbError> {
    one_at_a_time(tx)?;
    let now = lease_clock(tx, ask.now_ms)?;
    tx.exec("DELETE FROM leases WHERE expires_ms < ?1", &params![now])?;
    let held = tx
        .row(
            "SELECT CAST(COALESCE(SUM(slots), 0) AS BIGINT), CAST(COALESCE(SUM(sub), 0) AS BIGINT) FROM leases",
            &[],
        )?
        .map_or((0, 0), |r| (r.count(0), r.count(1)));
    let fits = held.0 + u64::from(ask.slots) <= u64::from(ask.limit)
        && (ask.sub == 0 || held.1 + u64::from(ask.sub) <= u64::from(ask.sub_limit));
    if !fits {
        return Ok(Err(Begun::Busy {
            in_flight: held.0,
            sub_in_flight: held.1,
        }));
    }
    let id = tx.int(
        "INSERT INTO leases (proxy, slots, sub, expires_ms) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        &params![
            proxy,
            ask.slots,
            ask.sub,
            now + (ask.expires_ms - ask.now_ms)
        ],
    )?;
    Ok(Ok(id))
}

/// The time leases are measured in: on PostgreSQL the database's own clock, so proxies on
/// hosts whose clocks disagree never expire each other's leases early; on SQLite (one host)
/// the caller's.
fn lease_clock(tx: &mut Tx, caller_ms: i64) -> Result<i64, DbError> {
    match tx {
        Tx::Sqlite(_) => Ok(caller_ms),
        Tx::Postgres(..) => tx.int(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            &[],
        ),
    }
}

/// Decides crossings inside the writer's transaction, which one writer at a time holds
/// (SQLite's write lock; PostgreSQL's advisory lock), whichever process it is in, so each
/// crossing is claimed by exactly one check. A threshold is armed again when usage falls back
/// under it (credits freed up).
fn check_crossings(tx: &mut Tx, c: &CrossingCheck) -> Result<Crossings, DbError> {
    one_at_a_time(tx)?;
    // From the per-minute totals (at most 1,441 rows): cheap enough for every settled call.
    // The minute the window's start falls in is left out: up to a minute of credits that are
    // leaving the window anyway.
    let used = tx.int(
        "SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT) FROM minute_credits WHERE minute > ?1 AND minute <= ?2",
        &params![(c.now_ms - WINDOW_MS) / 60_000, c.now_ms / 60_000],
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
            let claimed = tx.exec(
                "INSERT INTO alert_state (threshold, crossed) VALUES (?1, 1)
                 ON CONFLICT (threshold) DO UPDATE SET crossed = 1 WHERE alert_state.crossed = 0",
                &params![t],
            )?;
            if claimed == 1 {
                tx.exec(
                    "INSERT INTO alerts (at_ms, threshold, used, lim) VALUES (?1, ?2, ?3, ?4)",
                    &params![c.now_ms, t, used, limit],
                )?;
                out.fired.push(t);
            }
        } else {
            tx.exec(
                // Only when armed: a check that finds nothing new writes nothing (and its
                // commit waits for no disk).
                "UPDATE alert_state SET crossed = 0 WHERE threshold = ?1 AND crossed = 1",
                &params![t],
            )?;
        }
    }
    Ok(out)
}

/// On PostgreSQL, makes the rest of this transaction wait for (and then keep out) every other
/// proxy's transaction that decides something org-wide: a lease, a threshold crossing. Held
/// until commit. SQLite's single writer needs nothing more.
fn one_at_a_time(tx: &mut Tx) -> Result<(), DbError> {
    if let Tx::Postgres(..) = tx {
        tx.exec("SELECT pg_advisory_xact_lock(4242070215)", &[])?;
    }
    Ok(())
}

/// The writing side: cheap to clone, shared by the proxy's handlers.
#[derive(Clone)]
pub struct LedgerWriter {
    writer: crate::db::GroupWriter<Job, Answer>,
    at: String,
    proxy: String,
    shared: bool,
    /// The leases this writer was given and has not given back: the ones it renews.
    held: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
    /// Keys of refused calls whose `begin` may have been stored anyway (`void_unsent`).
    unsent: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Keys of refused calls remembered for voiding; past this many (a database away for hours
/// under load) the oldest are dropped, which can only overcount.
const UNSENT_MAX: usize = 100_000;

impl LedgerWriter {
    /// Opens (creating) the ledger and starts its writer thread; drops rows older than
    /// `retention_days`. Calls are recorded as this proxy's (`proxy`: a name, may be empty).
    pub fn open(at: impl Into<Location>, retention_days: u32) -> Result<LedgerWriter, LedgerError> {
        LedgerWriter::open_as(at, retention_days, "")
    }

    pub fn open_as(
        at: impl Into<Location>,
        retention_days: u32,
        proxy: &str,
    ) -> Result<LedgerWriter, LedgerError> {
        let at = at.into();
        let shown = at.display();
        let cutoff = chrono::Utc::now().timestamp_millis() - i64::from(retention_days) * 86_400_000;
        let db = |source| LedgerError::Db {
            at: shown.clone(),
            source,
        };
        let conn = crate::db::off_runtime(|| {
            let mut conn = open_conn(&at)?;
            conn.exec("DELETE FROM calls WHERE at_ms < ?1", &params![cutoff])
                .map_err(db)?;
            conn.exec(
                "DELETE FROM minute_credits WHERE minute < ?1",
                &params![cutoff / 60_000],
            )
            .map_err(db)?;
            conn.exec(
                "DELETE FROM integration_minutes WHERE minute < ?1",
                &params![cutoff / 60_000],
            )
            .map_err(db)?;
            Ok::<_, LedgerError>(conn)
        })?;
        let shared = at.is_shared();
        let name = proxy.to_string();
        let writer =
            crate::db::GroupWriter::start_batches("ledger-writer", conn, move |c, jobs| {
                write_batch(&name, c, jobs)
            })
            .map_err(|source| LedgerError::Io {
                at: shown.clone(),
                source,
            })?;
        Ok(LedgerWriter {
            writer,
            at: shown,
            proxy: proxy.to_string(),
            shared,
            held: Default::default(),
            unsent: Default::default(),
        })
    }

    /// Whether other proxies may write this ledger too (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Appends a call and waits until it is committed.
    pub async fn append(&self, rec: CallRecord) -> Result<(), LedgerError> {
        self.write(Job::Begin(rec, None)).await.map(|_| ())
    }

    async fn write(&self, job: Job) -> Result<Answer, LedgerError> {
        match self.writer.write(job).await {
            Ok(Answer::Failed(e)) | Err(e) => {
                Err(LedgerError::WriterGone(format!("{}: {e}", self.at)))
            }
            Ok(a) => Ok(a),
        }
    }

    /// Records a call before it is sent, with the credits it is priced at and status
    /// [`STATUS_UNSETTLED`], and waits for the commit; returns its row. A call that cannot be
    /// recorded is not sent: nothing is spent without a record.
    pub async fn begin(&self, rec: CallRecord) -> Result<i64, LedgerError> {
        match self.begin_leased(rec, None).await? {
            Begun::Recorded { row, .. } => Ok(row),
            Begun::Busy { .. } => Err(LedgerError::WriterGone("answered out of turn".into())),
        }
    }

    /// [`LedgerWriter::begin`] with a concurrency lease: recorded only if the org has room.
    pub async fn begin_leased(
        &self,
        rec: CallRecord,
        lease: Option<LeaseAsk>,
    ) -> Result<Begun, LedgerError> {
        self.void_pending().await;
        match self.write(Job::Begin(rec, lease)).await? {
            Answer::Begun(b) => {
                if let Begun::Recorded {
                    lease: Some(id), ..
                } = &b
                {
                    self.held_leases().insert(*id);
                }
                Ok(b)
            }
            _ => Err(LedgerError::WriterGone("answered out of turn".into())),
        }
    }

    /// Settles a row `begin` wrote, once the answer is known, and waits for the commit.
    pub async fn finish(&self, id: i64, settled: Settled) -> Result<(), LedgerError> {
        self.finish_leased(id, settled, None).await
    }

    /// Settles a row and gives its lease back.
    pub async fn finish_leased(
        &self,
        id: i64,
        settled: Settled,
        lease: Option<i64>,
    ) -> Result<(), LedgerError> {
        if let Some(l) = lease {
            self.held_leases().remove(&l);
        }
        self.write(Job::Finish(id, settled, lease))
            .await
            .map(|_| ())
    }

    /// Settles a row without waiting for the commit: for a call whose row already holds the
    /// credits it cost.
    pub fn finish_later(&self, id: i64, settled: Settled, lease: Option<i64>) {
        if let Some(l) = lease {
            self.held_leases().remove(&l);
        }
        self.writer.send(Job::Finish(id, settled, lease));
    }

    /// A call was refused (not sent) after its `begin` failed: that begin's commit may still
    /// have landed (the database went away between commit and answer), leaving a record of a
    /// call never sent. Its row is deleted by key before this writer's next `begin`, which is
    /// when the database is known to answer again, so the ledger counts no unsent call.
    pub fn void_unsent(&self, call_key: &str) {
        let mut keys = self.unsent.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= UNSENT_MAX {
            keys.remove(0);
        }
        keys.push(call_key.to_string());
    }

    /// Deletes the rows `void_unsent` named; on failure keeps them for the next try.
    async fn void_pending(&self) {
        let keys: Vec<String> = {
            let mut k = self.unsent.lock().unwrap_or_else(|p| p.into_inner());
            if k.is_empty() {
                return;
            }
            std::mem::take(&mut *k)
        };
        if let Err(e) = self.write(Job::Void(keys.clone())).await {
            tracing::warn!("ledger: voiding {} refused call(s) failed: {e}", keys.len());
            let mut k = self.unsent.lock().unwrap_or_else(|p| p.into_inner());
            let mut back = keys;
            back.append(&mut k);
            back.truncate(UNSENT_MAX);
            *k = back;
        }
    }

    fn held_leases(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<i64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the leases this writer holds alive for `ttl_ms` more.
    pub fn renew_leases(&self, now_ms: i64, ttl_ms: i64) {
        let ids: Vec<i64> = self.held_leases().iter().copied().collect();
        if ids.is_empty() {
            return;
        }
        self.writer.send(Job::Renew {
            ids,
            now_ms,
            ttl_ms,
        });
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
            _ => Err(LedgerError::WriterGone("answered out of turn".into())),
        }
    }

    /// Publishes a live gauge (this proxy's calls in flight) for other processes reading the
    /// ledger; each proxy has its own key, the readers sum them.
    pub fn live(&self, key: &'static str, value: i64, now_ms: i64) {
        self.writer
            .send(Job::Live(format!("{key}:{}", self.proxy), value, now_ms));
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
    db: Reader,
    at: String,
}

/// `SUM` as a BIGINT on both backends (PostgreSQL sums BIGINTs as NUMERIC).
macro_rules! sum {
    ($e:literal) => {
        concat!("CAST(COALESCE(SUM(", $e, "), 0) AS BIGINT)")
    };
}

impl Ledger {
    pub fn open(at: impl Into<Location>) -> Result<Ledger, LedgerError> {
        let at = at.into();
        Ok(Ledger {
            db: Reader::open(&at, &crate::schema::LEDGER).map_err(LedgerError::Open)?,
            at: at.display(),
        })
    }

    fn err(&self) -> impl Fn(DbError) -> LedgerError + '_ {
        move |source| LedgerError::Db {
            at: self.at.clone(),
            source,
        }
    }

    fn rows(
        &self,
        sql: impl Into<String>,
        p: impl Into<Vec<crate::db::Value>>,
    ) -> Result<Vec<crate::db::Row>, LedgerError> {
        self.db.rows(sql, p).map_err(self.err())
    }

    fn int(
        &self,
        sql: impl Into<String>,
        p: impl Into<Vec<crate::db::Value>>,
    ) -> Result<i64, LedgerError> {
        self.db.int(sql, p).map_err(self.err())
    }

    /// Credits used in the rolling window at instant `t`: charges in `(t - 24 h, t]`.
    pub fn used_at(&self, t: i64) -> Result<u64, LedgerError> {
        self.credits_between(t - WINDOW_MS, t)
    }

    /// Credits coming back in each of the next `buckets` periods of `bucket_ms` after `now`.
    pub fn freeing(
        &self,
        now: i64,
        bucket_ms: i64,
        buckets: usize,
    ) -> Result<Vec<u64>, LedgerError> {
        let mut out = vec![0u64; buckets];
        let rows = self.rows(
            "SELECT at_ms, credits FROM calls WHERE at_ms > ?1 AND at_ms <= ?2 AND credits > 0",
            params![now - WINDOW_MS, now],
        )?;
        for r in rows {
            let (at, credits) = (r.int(0), r.count(1));
            let i = ((at + WINDOW_MS - now - 1).max(0) / bucket_ms) as usize;
            if i < buckets {
                out[i] += credits;
            }
        }
        Ok(out)
    }

    /// Credits per minute over `[from, to)`, one entry per minute (zeros included).
    pub fn per_minute(&self, from: i64, to: i64) -> Result<Vec<u64>, LedgerError> {
        let minutes = ((to - from).max(0) / 60_000) as usize;
        let mut out = vec![0u64; minutes];
        let rows = self.rows(
            concat!(
                "SELECT (at_ms - ?1) / 60000 AS m, ",
                sum!("credits"),
                " FROM calls WHERE at_ms >= ?1 AND at_ms < ?2 GROUP BY m"
            ),
            params![from, to],
        )?;
        for r in rows {
            if let Some(slot) = out.get_mut(r.int(0) as usize) {
                *slot = r.count(1);
            }
        }
        Ok(out)
    }

    /// Credits charged in `(from, to]`.
    pub fn credits_between(&self, from: i64, to: i64) -> Result<u64, LedgerError> {
        self.int(
            concat!(
                "SELECT ",
                sum!("credits"),
                " FROM calls WHERE at_ms > ?1 AND at_ms <= ?2"
            ),
            params![from, to],
        )
        .map(|v| v.max(0) as u64)
    }

    /// Credits and calls recorded for one integration since `since_ms` (what `creditops send`
    /// was charged).
    pub fn charged_to(&self, integration: &str, since_ms: i64) -> Result<(u64, u64), LedgerError> {
        let r = self.rows(
            concat!(
                "SELECT ",
                sum!("credits"),
                ", COUNT(*) FROM calls WHERE integration = ?1 AND at_ms >= ?2"
            ),
            params![integration, since_ms],
        )?;
        Ok(r.first().map_or((0, 0), |r| (r.count(0), r.count(1))))
    }

    /// Calls and credits in the window at `now`, grouped by module, API, integration or proxy.
    pub fn breakdown(&self, now: i64, by: Group) -> Result<BTreeMap<String, Tally>, LedgerError> {
        let col = match by {
            Group::Module => "COALESCE(module, '-')",
            Group::Api => "api",
            Group::Integration => "integration",
            Group::Proxy => "proxy",
        };
        let sql = format!(
            "SELECT {col}, COUNT(*), {} FROM calls WHERE at_ms > ?1 AND at_ms <= ?2 GROUP BY 1",
            sum!("credits")
        );
        let rows = self.rows(sql, params![now - WINDOW_MS, now])?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.text(0),
                    Tally {
                        calls: r.count(1),
                        credits: r.count(2),
                    },
                )
            })
            .collect())
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
        let rows = self.rows(
            concat!(
                "SELECT integration, at_ms / 86400000 AS d, ",
                sum!("credits"),
                " FROM calls GROUP BY integration, d ORDER BY d"
            ),
            params![],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.text(0), r.int(1), r.count(2)))
            .collect())
    }

    fn grouped_totals(&self, bucket_ms: i64, fmt: &str) -> Result<Vec<(String, u64)>, LedgerError> {
        let rows = self.rows(
            concat!(
                "SELECT at_ms / ?1 AS b, ",
                sum!("credits"),
                " FROM calls GROUP BY b ORDER BY b"
            ),
            params![bucket_ms],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let label = chrono::DateTime::from_timestamp_millis(r.int(0) * bucket_ms)
                    .map(|t| t.format(fmt).to_string())
                    .unwrap_or_default();
                (label, r.count(1))
            })
            .collect())
    }

    /// Credits the metadata cache spared in the window at `now`.
    pub fn saved_at(&self, now: i64) -> Result<u64, LedgerError> {
        self.int(
            concat!(
                "SELECT ",
                sum!("saved"),
                " FROM calls WHERE at_ms > ?1 AND at_ms <= ?2"
            ),
            params![now - WINDOW_MS, now],
        )
        .map(|v| v.max(0) as u64)
    }

    /// The latest `X-API-CREDITS-REMAINING` seen: `(at_ms, remaining)`.
    pub fn latest_reported(&self) -> Result<Option<(i64, u64)>, LedgerError> {
        let rows = self.rows(
            "SELECT at_ms, reported_remaining FROM calls WHERE reported_remaining IS NOT NULL ORDER BY at_ms DESC, id DESC LIMIT 1",
            params![],
        )?;
        Ok(rows.first().map(|r| (r.int(0), r.count(1))))
    }

    /// Every charge since `since_ms` with its integration, oldest first: what the proxy's
    /// budget windows start from.
    pub fn charges_since(&self, since_ms: i64) -> Result<Vec<(String, i64, u64)>, LedgerError> {
        let rows = self.rows(
            "SELECT integration, at_ms, credits FROM calls WHERE at_ms > ?1 AND credits > 0 ORDER BY at_ms",
            params![since_ms],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.text(0), r.int(1), r.count(2)))
            .collect())
    }

    /// The per-minute totals of the window at `now`, org-wide and for one integration:
    /// `(minute start ms, credits)` each, as every proxy writing this ledger charged them
    /// (calls in flight at their priced credits). What budgets are decided from when the
    /// ledger is shared.
    pub fn window_minutes(
        &self,
        integration: &str,
        now_ms: i64,
    ) -> Result<(MinuteTotals, MinuteTotals), LedgerError> {
        let from = (now_ms - WINDOW_MS) / 60_000;
        let org = self.rows(
            "SELECT minute, credits FROM minute_credits WHERE minute >= ?1 AND credits > 0 ORDER BY minute",
            params![from],
        )?;
        let mine = self.rows(
            "SELECT minute, credits FROM integration_minutes WHERE integration = ?1 AND minute >= ?2 AND credits > 0 ORDER BY minute",
            params![integration, from],
        )?;
        let pairs = |rows: Vec<crate::db::Row>| {
            rows.into_iter()
                .map(|r| (r.int(0) * 60_000, r.count(1)))
                .collect()
        };
        Ok((pairs(org), pairs(mine)))
    }

    /// Credits per integration in `(since, now]`.
    pub fn credits_by_integration_since(
        &self,
        since_ms: i64,
        now_ms: i64,
    ) -> Result<BTreeMap<String, u64>, LedgerError> {
        let rows = self.rows(
            concat!(
                "SELECT integration, ",
                sum!("credits"),
                " FROM calls WHERE at_ms > ?1 AND at_ms <= ?2 GROUP BY integration"
            ),
            params![since_ms, now_ms],
        )?;
        Ok(rows.into_iter().map(|r| (r.text(0), r.count(1))).collect())
    }

    /// Budget refusals since `since_ms` per integration: (enforced, would have been).
    pub fn refusals_since(
        &self,
        since_ms: i64,
    ) -> Result<BTreeMap<String, (u64, u64)>, LedgerError> {
        let rows = self.rows(
            concat!(
                "SELECT integration, ",
                sum!("enforced"),
                ", ",
                sum!("1 - enforced"),
                " FROM refusals WHERE at_ms > ?1 GROUP BY integration"
            ),
            params![since_ms],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.text(0), (r.count(1), r.count(2))))
            .collect())
    }

    /// The latest budget refusals, newest first (for a tail).
    pub fn recent_refusals(&self, limit: u32) -> Result<Vec<Refused>, LedgerError> {
        let order = match self.db.backend() {
            crate::db::Backend::Sqlite => "rowid",
            crate::db::Backend::Postgres => "id",
        };
        let rows = self.rows(
            format!("SELECT at_ms, integration, kind, enforced, credits, message FROM refusals ORDER BY {order} DESC LIMIT ?1"),
            params![limit],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| Refused {
                at_ms: r.int(0),
                integration: r.text(1),
                kind: r.text(2),
                enforced: r.bool(3),
                credits: r.count(4) as u32,
                message: r.text(5),
            })
            .collect())
    }

    /// Threshold crossings recorded since `since_ms`: `(at_ms, threshold, used, limit)`.
    pub fn alerts_since(&self, since_ms: i64) -> Result<Vec<(i64, u32, u64, u64)>, LedgerError> {
        let rows = self.rows(
            "SELECT at_ms, threshold, used, lim FROM alerts WHERE at_ms > ?1 ORDER BY at_ms",
            params![since_ms],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.int(0), r.count(1) as u32, r.count(2), r.count(3)))
            .collect())
    }

    /// A live gauge the proxies publish, summed over those fresher than `max_age_ms`
    /// (None when none is).
    pub fn live(&self, key: &str, now: i64, max_age_ms: i64) -> Result<Option<i64>, LedgerError> {
        let rows = self.rows(
            "SELECT value FROM live WHERE (key = ?1 OR key LIKE ?2) AND updated_ms >= ?3",
            params![key, format!("{key}:%"), now - max_age_ms],
        )?;
        Ok(if rows.is_empty() {
            None
        } else {
            Some(rows.iter().map(|r| r.int(0)).sum())
        })
    }

    /// Concurrency slots held by leases now (org-wide, when proxies coordinate through the
    /// ledger): `(slots, sub-concurrency slots)`.
    pub fn leased(&self, now: i64) -> Result<(u64, u64), LedgerError> {
        let rows = self.rows(
            concat!(
                "SELECT ",
                sum!("slots"),
                ", ",
                sum!("sub"),
                " FROM leases WHERE expires_ms >= ?1"
            ),
            params![now],
        )?;
        Ok(rows.first().map_or((0, 0), |r| (r.count(0), r.count(1))))
    }

    /// How many calls the ledger holds.
    pub fn count(&self) -> Result<u64, LedgerError> {
        self.int("SELECT COUNT(*) FROM calls", params![])
            .map(|v| v.max(0) as u64)
    }

    /// Runs a read-only query of the caller's (tests, diagnostics).
    pub fn query(
        &self,
        sql: &str,
        p: Vec<crate::db::Value>,
    ) -> Result<Vec<crate::db::Row>, LedgerError> {
        self.rows(sql.to_string(), p)
    }
}

/// Credits per minute: `(minute start ms, credits)`, oldest first.
pub type MinuteTotals = Vec<(i64, u64)>;

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Module,
    Api,
    Integration,
    Proxy,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(conn: &mut Conn) -> (i64, i64, i64) {
        let calls = conn
            .int(concat!("SELECT ", sum!("credits"), " FROM calls"), &[])
            .unwrap();
        let minutes = conn
            .int(
                concat!("SELECT ", sum!("credits"), " FROM minute_credits"),
                &[],
            )
            .unwrap();
        let by_integration = conn
            .int(
                concat!("SELECT ", sum!("credits"), " FROM integration_minutes"),
                &[],
            )
            .unwrap();
        (calls, minutes, by_integration)
    }

    #[test]
    fn per_minute_totals_follow_every_insert_settle_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = Location::Sqlite(dir.path().join("l.sqlite"));
        let mut conn = open_conn(&path).unwrap();
        for (i, credits) in [5, 0, 7, 3].into_iter().enumerate() {
            conn.exec(
                "INSERT INTO calls (at_ms, integration, api, method, path, records, credits, status, latency_ms, priced) VALUES (?1, 'i', 'a', 'GET', '/', 0, ?2, 0, 0, 1)",
                &params![i as i64 * 50_000, credits],
            )
            .unwrap();
        }
        assert_eq!(sums(&mut conn), (15, 15, 15));
        // A call settled at fewer credits than it was priced at.
        conn.exec("UPDATE calls SET credits = 2 WHERE credits = 7", &[])
            .unwrap();
        assert_eq!(sums(&mut conn), (10, 10, 10));
        conn.exec("DELETE FROM calls WHERE credits = 5", &[])
            .unwrap();
        assert_eq!(sums(&mut conn), (5, 5, 5));
    }

    /// A ledger written before migrations existed (and before the metadata cache's `saved`
    /// column and the per-minute totals) opens, keeps its calls and gains the totals.
    #[test]
    fn a_ledger_from_before_the_migrations_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE calls (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, integration TEXT NOT NULL, api TEXT NOT NULL, module TEXT, method TEXT NOT NULL, path TEXT NOT NULL, records INTEGER NOT NULL, credits INTEGER NOT NULL, status INTEGER NOT NULL, latency_ms INTEGER NOT NULL, priced INTEGER NOT NULL, reported_remaining INTEGER);
                 CREATE TABLE alerts (at_ms INTEGER NOT NULL, threshold INTEGER NOT NULL, used INTEGER NOT NULL, lim INTEGER NOT NULL);
                 INSERT INTO calls (at_ms, integration, api, method, path, records, credits, status, latency_ms, priced) VALUES (60000, 'erp', 'a', 'GET', '/', 0, 4, 200, 3, 1), (120000, 'web', 'a', 'GET', '/', 0, 6, 200, 3, 1);",
            )
            .unwrap();
        }
        let at = Location::Sqlite(path.clone());
        let mut conn = open_conn(&at).unwrap();
        assert_eq!(sums(&mut conn), (10, 10, 10));
        drop(conn);
        let ledger = Ledger::open(&path).unwrap();
        assert_eq!(ledger.count().unwrap(), 2);
        assert_eq!(
            ledger.breakdown(120_000, Group::Proxy).unwrap()[""].credits,
            10
        );
        // Opening again applies nothing twice.
        drop(ledger);
        let mut conn = open_conn(&at).unwrap();
        assert_eq!(sums(&mut conn), (10, 10, 10));
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    fn call(at_ms: i64, credits: u32) -> CallRecord {
        CallRecord {
            at_ms,
            integration: "erp".into(),
            api: "a".into(),
            module: None,
            method: "GET".into(),
            path: "/".into(),
            records: 0,
            credits,
            status: STATUS_UNSETTLED,
            latency_ms: 0,
            priced: true,
            reported_remaining: None,
            saved: 0,
            call_key: None,
        }
    }

    #[tokio::test]
    async fn refusals_and_calls_share_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let w = LedgerWriter::open_as(&path, 30, "p1").unwrap();
        w.refusal(Refused {
            at_ms: 1,
            integration: "erp".into(),
            kind: "daily".into(),
            enforced: false,
            credits: 3,
            message: "m".into(),
        });
        let row = w.begin(call(2, 3)).await.unwrap();
        assert!(row > 0);
        let l = Ledger::open(&path).unwrap();
        assert_eq!(l.recent_refusals(5).unwrap().len(), 1);
        assert_eq!(l.breakdown(10, Group::Proxy).unwrap()["p1"].credits, 3);
    }

    /// A `begin` whose answer was lost may have been stored: when its call is then refused,
    /// the row goes before the next `begin`, and only that row, and only while unsettled.
    #[tokio::test]
    async fn a_refused_call_stored_anyway_is_voided_before_the_next_begin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        let w = LedgerWriter::open_as(&path, 30, "p1").unwrap();
        let keyed = |at, key: &str| CallRecord {
            call_key: Some(key.into()),
            ..call(at, 2)
        };
        // Stored, but (as the proxy saw it) refused: its answer never came.
        w.begin(keyed(1, "lost")).await.unwrap();
        // Stored and settled: a call that was sent; a stray void of its key changes nothing.
        let sent = w.begin(keyed(2, "sent")).await.unwrap();
        w.finish(
            sent,
            Settled {
                status: 200,
                credits: 2,
                latency_ms: 1,
                reported_remaining: None,
            },
        )
        .await
        .unwrap();
        let l = Ledger::open(&path).unwrap();
        assert_eq!((l.count().unwrap(), l.used_at(10).unwrap()), (2, 4));
        w.void_unsent("lost");
        w.void_unsent("sent");
        // Nothing is written until the database is used again by a begin.
        assert_eq!(l.count().unwrap(), 2);
        w.begin(keyed(3, "next")).await.unwrap();
        assert_eq!(l.count().unwrap(), 2, "lost voided, next recorded");
        assert_eq!(
            l.used_at(10).unwrap(),
            4,
            "the minute totals follow the delete"
        );
        let keys: Vec<String> = l
            .rows("SELECT call_key FROM calls ORDER BY id", params![])
            .unwrap()
            .iter()
            .map(|r| r.text(0))
            .collect();
        assert_eq!(keys, ["sent", "next"]);
    }
}

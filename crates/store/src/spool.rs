//! The spool: where a proxy records calls while its PostgreSQL ledger cannot be reached
//! (`[store] on_unavailable = "spool"`), in a local SQLite ledger, and what replays them into
//! PostgreSQL once it is back, exactly once.
//!
//! A spooled call is recorded before it is sent, like any other, so nothing is spent without a
//! record. Replay copies settled calls (and calls left unsettled for two minutes: their proxy
//! died, or their answer never came) in id order, each under the call's own key (chosen before its first write: the same as a row the ledger took while the proxy
//! thought the write failed) or the spool's random id and the row's id; the ledger's unique
//! `call_key` keeps one row per call, settled with the spool's answer when its own was not,
//! so a replay cut off between the database's commit and the spool's mark is repeated without
//! doubling anything. The spool keeps its rows (its ids are never reused) and a mark of what
//! was replayed.

use crate::db::{off_runtime, Conn, DbError, Location, Sql};
use crate::ledger::STATUS_UNSETTLED;
use crate::params;

/// How long an unsettled spooled call waits for its answer before it is replayed as it stands
/// (at its priced credits, the most it can have cost).
pub const UNSETTLED_GRACE_MS: i64 = 120_000;

const MARK: &str = "spool_replayed_through";
const NONCE: &str = "spool_nonce";

fn live_value(c: &mut Conn, key: &str) -> Result<Option<i64>, DbError> {
    Ok(
        c.row("SELECT value FROM live WHERE key = ?1", &params![key])?
            .map(|r| r.int(0)),
    )
}

fn set_live(c: &mut Conn, key: &str, value: i64, now_ms: i64) -> Result<(), DbError> {
    c.exec(
        "INSERT INTO live (key, value, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
        &params![key, value, now_ms],
    )?;
    Ok(())
}

/// This spool's random id (made the first time), part of every replayed call's key.
fn nonce(c: &mut Conn, now_ms: i64) -> Result<i64, DbError> {
    if let Some(n) = live_value(c, NONCE)? {
        return Ok(n);
    }
    let n = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(now_ms);
        h.write_u32(std::process::id());
        (h.finish() >> 1) as i64
    };
    set_live(c, NONCE, n, now_ms)?;
    Ok(n)
}

/// Replays what the spool holds into `ledger` (PostgreSQL); returns how many calls were
/// copied. Safe to run again at any point, and from a new process.
pub fn replay(
    spool: &Location,
    ledger: &Location,
    proxy: &str,
    now_ms: i64,
) -> Result<u64, String> {
    off_runtime(|| {
        let mut local = crate::db::connect(spool, &crate::schema::LEDGER)?;
        let e = |e: DbError| e.to_string();
        let mark = live_value(&mut local, MARK).map_err(e)?.unwrap_or(0);
        if local
            .int("SELECT COUNT(*) FROM calls WHERE id > ?1", &params![mark])
            .map_err(e)?
            == 0
        {
            return Ok(0);
        }
        let mut remote = crate::db::connect(ledger, &crate::schema::LEDGER)?;
        let nonce = nonce(&mut local, now_ms).map_err(e)?;
        let mut copied = 0;
        loop {
            let mark = live_value(&mut local, MARK).map_err(e)?.unwrap_or(0);
            let rows = local
                .rows(
                    "SELECT id, at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved, call_key FROM calls WHERE id > ?1 ORDER BY id LIMIT 500",
                    &params![mark],
                )
                .map_err(e)?;
            // Settled calls, in order, up to the first one still waiting for its answer.
            let ready: Vec<_> = rows
                .into_iter()
                .take_while(|r| {
                    r.int(9) != i64::from(STATUS_UNSETTLED)
                        || now_ms - r.int(1) > UNSETTLED_GRACE_MS
                })
                .collect();
            let Some(last) = ready.last().map(|r| r.int(0)) else {
                return Ok(copied);
            };
            remote
                .transaction(|tx| {
                    for r in &ready {
                        tx.exec(
                            // A call the ledger already holds (its write committed though
                            // the proxy never heard so, and spooled it): one row, settled
                            // with what the spool learned if the ledger's is still waiting.
                            "INSERT INTO calls (at_ms, integration, api, module, method, path, records, credits, status, latency_ms, priced, reported_remaining, saved, proxy, call_key)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                             ON CONFLICT (call_key) DO UPDATE SET status = excluded.status, credits = excluded.credits,
                                 latency_ms = excluded.latency_ms, reported_remaining = excluded.reported_remaining
                             WHERE calls.status = ?16 AND excluded.status <> ?16",
                            &[
                                r.0[1].clone(),
                                r.0[2].clone(),
                                r.0[3].clone(),
                                r.0[4].clone(),
                                r.0[5].clone(),
                                r.0[6].clone(),
                                r.0[7].clone(),
                                r.0[8].clone(),
                                r.0[9].clone(),
                                r.0[10].clone(),
                                r.0[11].clone(),
                                r.0[12].clone(),
                                r.0[13].clone(),
                                proxy.into(),
                                // The call's own key when it has one (the same as a row the
                                // ledger may already hold), else one of the spool's.
                                match &r.0[14] {
                                    crate::db::Value::Text(k) => k.clone().into(),
                                    _ => format!("spool:{nonce}:{}", r.int(0)).into(),
                                },
                                i64::from(STATUS_UNSETTLED).into(),
                            ],
                        )?;
                    }
                    Ok(())
                })
                .map_err(e)?;
            // Cut off here, the next replay copies these again and the ledger keeps one.
            set_live(&mut local, MARK, last, now_ms).map_err(e)?;
            copied += ready.len() as u64;
        }
    })
}

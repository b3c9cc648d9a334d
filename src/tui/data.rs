//! What the console shows, as owned snapshots: a poller task reads the ledger once a second and
//! publishes a new snapshot only when something changed; views draw from the snapshot and never
//! hold a lock or touch the ledger while drawing.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::credits::{Limits, WINDOW_MS};
use crate::ledger::Ledger;
use crate::usage::{snapshot, Usage};

/// Everything the Gauges view needs at one instant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub usage: Option<Usage>,
    /// Credits per minute over the last 24 h, oldest first (1,440 entries).
    pub per_minute: Vec<u64>,
    pub calls: u64,
    pub error: Option<String>,
}

/// Reads the ledger into a snapshot at `now`.
pub fn read(ledger: &Ledger, now: i64, limits: Option<&Limits>, thresholds: &[u32]) -> Snapshot {
    let result = (|| {
        let usage = snapshot(ledger, now, limits, thresholds)?;
        // Whole minutes, ending with the current (partial) one.
        let end = now - now.rem_euclid(60_000) + 60_000;
        let per_minute = ledger.per_minute(end - WINDOW_MS, end)?;
        let calls = ledger.count()?;
        Ok::<_, crate::ledger::LedgerError>(Snapshot {
            usage: Some(usage),
            per_minute,
            calls,
            error: None,
        })
    })();
    result.unwrap_or_else(|e| Snapshot {
        error: Some(e.to_string()),
        ..Default::default()
    })
}

/// Polls the ledger every `period` and publishes changed snapshots.
pub fn spawn_poller(
    path: PathBuf,
    limits: Option<Limits>,
    thresholds: Vec<u32>,
    period: Duration,
) -> watch::Receiver<Snapshot> {
    let (tx, rx) = watch::channel(Snapshot::default());
    tokio::task::spawn_blocking(move || {
        let ledger = loop {
            match Ledger::open(&path) {
                Ok(l) => break l,
                Err(e) => {
                    let _ = tx.send(Snapshot {
                        error: Some(e.to_string()),
                        ..Default::default()
                    });
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(period);
                }
            }
        };
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let snap = read(&ledger, now, limits.as_ref(), &thresholds);
            tx.send_if_modified(|old| {
                if *old == snap {
                    false
                } else {
                    *old = snap;
                    true
                }
            });
            if tx.is_closed() {
                return;
            }
            std::thread::sleep(period);
        }
    });
    rx
}

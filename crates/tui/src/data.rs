//! What the console shows, as owned snapshots: a poller task reads the ledger once a second and
//! publishes a new snapshot only when something changed; views draw from the snapshot and never
//! hold a lock or touch the ledger while drawing.

use creditops_store::db::Location;
use std::time::Duration;

use tokio::sync::watch;

use creditops_core::credits::{Limits, WINDOW_MS};
use creditops_store::ledger::Ledger;
use creditops_store::usage::{snapshot, Usage};

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
pub fn read(
    ledger: &Ledger,
    now: i64,
    limits: Option<&Limits>,
    thresholds: &[u32],
    budgets: Option<&creditops_core::budgets::Budgets>,
) -> Snapshot {
    let result = (|| {
        let usage = snapshot(ledger, now, limits, thresholds, budgets)?;
        // Whole minutes, ending with the current (partial) one.
        let end = now - now.rem_euclid(60_000) + 60_000;
        let per_minute = ledger.per_minute(end - WINDOW_MS, end)?;
        let calls = ledger.count()?;
        Ok::<_, creditops_store::ledger::LedgerError>(Snapshot {
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
    path: Location,
    limits: Option<Limits>,
    thresholds: Vec<u32>,
    budgets: Option<creditops_core::budgets::Budgets>,
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
            let snap = read(&ledger, now, limits.as_ref(), &thresholds, budgets.as_ref());
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

/// What the Events view asks the poller for: a page of the tail, from the store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventsQuery {
    /// Paused: only events up to this id (the page holds still while events arrive).
    pub before_id: Option<i64>,
    pub offset: usize,
    pub filter: String,
}

/// The Events view's data: one page, never the whole history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventsSnapshot {
    pub rows: Vec<creditops_store::events::Event>,
    pub total: u64,
    pub max_id: i64,
    pub rejected: u64,
    pub last_rejection: Option<String>,
    pub per_minute: Vec<u64>,
    pub channels: Vec<creditops_store::events::Channel>,
    pub error: Option<String>,
}

/// Rows a page holds (more than any screen shows).
pub const EVENTS_PAGE: usize = 200;

/// Reads one page of events matching the query, scanning at most 20,000 rows for a filter.
pub fn read_events(
    reader: &creditops_store::events::EventReader,
    q: &EventsQuery,
    now: i64,
) -> EventsSnapshot {
    let result = (|| -> Result<EventsSnapshot, String> {
        let filter = creditops_core::webhook::Filter::parse(&q.filter)?;
        let e = |e: creditops_store::db::DbError| e.to_string();
        let mut rows = Vec::new();
        let mut skipped = 0;
        let mut scan = 0;
        while rows.len() < EVENTS_PAGE && scan < 20_000 {
            let page = reader.page(q.before_id, scan, 1_000).map_err(e)?;
            if page.is_empty() {
                break;
            }
            scan += page.len();
            for ev in page {
                if !filter.matches(
                    ev.new.kind,
                    ev.new.name.as_deref(),
                    &ev.new.summary,
                    ev.new.verified,
                    &ev.body_text(),
                ) {
                    continue;
                }
                if skipped < q.offset {
                    skipped += 1;
                    continue;
                }
                if rows.len() < EVENTS_PAGE {
                    rows.push(ev);
                }
            }
        }
        let end = now - now.rem_euclid(60_000) + 60_000;
        Ok(EventsSnapshot {
            rows,
            total: reader.count().map_err(e)?,
            max_id: reader.max_id().map_err(e)?,
            rejected: reader.rejected_count().map_err(e)?,
            last_rejection: reader
                .rejected(1)
                .map_err(e)?
                .into_iter()
                .next()
                .map(|(_, path, reason)| format!("{path}: {reason}")),
            per_minute: reader.per_minute(end - 3_600_000, end).map_err(e)?,
            channels: reader.channels().map_err(e)?,
            error: None,
        })
    })();
    result.unwrap_or_else(|e| EventsSnapshot {
        error: Some(e),
        ..Default::default()
    })
}

/// Polls the event store and publishes pages for the query the view sends.
pub fn spawn_events_poller(
    path: Location,
    mut query: watch::Receiver<EventsQuery>,
    period: Duration,
) -> watch::Receiver<EventsSnapshot> {
    let (tx, rx) = watch::channel(EventsSnapshot::default());
    tokio::task::spawn_blocking(move || {
        let reader = match creditops_store::events::EventReader::open(&path) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(EventsSnapshot {
                    error: Some(e),
                    ..Default::default()
                });
                return;
            }
        };
        let mut last_max = -1;
        let mut last_q = None;
        let mut last_minute = 0;
        loop {
            let q = query.borrow_and_update().clone();
            let now = chrono::Utc::now().timestamp_millis();
            let max = reader.max_id().unwrap_or(0);
            // Re-read only when something could have changed what the view shows.
            if max != last_max || last_q.as_ref() != Some(&q) || now / 60_000 != last_minute {
                let snap = read_events(&reader, &q, now);
                tx.send_if_modified(|old| {
                    if *old == snap {
                        false
                    } else {
                        *old = snap;
                        true
                    }
                });
                last_max = max;
                last_q = Some(q);
                last_minute = now / 60_000;
            }
            if tx.is_closed() {
                return;
            }
            std::thread::sleep(period);
        }
    });
    rx
}

//! The event store: every accepted event appended (SQLite, WAL) before the 2xx answer, a capped
//! log of rejected requests with their reason, and the channels creditops knows.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::GroupWriter;
use creditops_core::webhook::{self as parse, Kind};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    module TEXT,
    operation TEXT,
    ids TEXT NOT NULL,
    channel_id TEXT,
    verified INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    forward_status TEXT
);
CREATE INDEX IF NOT EXISTS events_at ON events (received_at_ms);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    path TEXT NOT NULL,
    peer TEXT NOT NULL,
    reason TEXT NOT NULL,
    body_head TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    channel_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    events TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    expiry_ms INTEGER NOT NULL,
    profile TEXT NOT NULL
);
";

/// How many rejected requests the log keeps.
pub const REJECTED_CAP: i64 = 1000;

/// An event as received, before it has an id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub received_at_ms: i64,
    pub kind: Kind,
    pub name: Option<String>,
    pub summary: parse::Summary,
    pub verified: bool,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    pub new: NewEvent,
    pub forward_status: Option<String>,
}

impl Event {
    /// The JSON line `listen --json` and `events export --json` print.
    pub fn to_json(&self) -> Value {
        let e = &self.new;
        let body = parse::body(&e.content_type, &e.body)
            .map(|b| b.to_json())
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.body).into_owned()));
        json!({
            "id": self.id,
            "received_at": chrono::DateTime::from_timestamp_millis(e.received_at_ms).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "kind": e.kind.as_str(),
            "name": e.name,
            "module": e.summary.module,
            "operation": e.summary.operation,
            "ids": e.summary.ids,
            "channel_id": e.summary.channel_id,
            "verified": e.verified,
            "forward_status": self.forward_status,
            "content_type": e.content_type,
            "body": body,
        })
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.new.body).into_owned()
    }
}

/// A channel creditops subscribed (or was told about).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    pub channel_id: String,
    /// The channel's token as kept at rest (`secret::token_hash`), never the token.
    #[serde(skip)]
    pub token_hash: String,
    pub events: Vec<String>,
    pub notify_url: String,
    pub expiry_ms: i64,
    pub profile: String,
}

enum Job {
    Insert(Box<NewEvent>),
    Reject {
        at_ms: i64,
        path: String,
        peer: String,
        reason: String,
        body_head: String,
    },
    Forwarded(i64, String),
    Channel(Channel),
    DropChannel(String),
}

fn apply(tx: &rusqlite::Transaction, job: &Job) -> rusqlite::Result<i64> {
    match job {
        Job::Insert(e) => {
            let mut st = tx.prepare_cached(
                "INSERT INTO events (received_at_ms, kind, name, module, operation, ids, channel_id, verified, content_type, headers, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            st.execute(params![
                e.received_at_ms,
                e.kind.as_str(),
                e.name,
                e.summary.module,
                e.summary.operation,
                serde_json::to_string(&e.summary.ids).unwrap_or_else(|_| "[]".into()),
                e.summary.channel_id,
                e.verified,
                e.content_type,
                serde_json::to_string(&e.headers).unwrap_or_else(|_| "[]".into()),
                e.body,
            ])?;
            Ok(tx.last_insert_rowid())
        }
        Job::Reject {
            at_ms,
            path,
            peer,
            reason,
            body_head,
        } => {
            tx.execute(
                "INSERT INTO rejected (at_ms, path, peer, reason, body_head) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![at_ms, path, peer, reason, body_head],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "DELETE FROM rejected WHERE id <= ?1",
                params![id - REJECTED_CAP],
            )?;
            Ok(id)
        }
        Job::Forwarded(id, status) => {
            tx.execute(
                "UPDATE events SET forward_status = ?2 WHERE id = ?1",
                params![id, status],
            )?;
            Ok(*id)
        }
        Job::Channel(c) => {
            tx.execute(
                "INSERT OR REPLACE INTO channels (channel_id, token, events, notify_url, expiry_ms, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.channel_id, c.token_hash, c.events.join(","), c.notify_url, c.expiry_ms, c.profile],
            )?;
            Ok(0)
        }
        Job::DropChannel(id) => {
            tx.execute("DELETE FROM channels WHERE channel_id = ?1", params![id])?;
            Ok(0)
        }
    }
}

/// Stores written before tokens were kept hashed hold them in the clear: hash them in place.
fn hash_plain_tokens(conn: &Connection) -> rusqlite::Result<()> {
    let plain: Vec<(String, String)> = {
        let mut st =
            conn.prepare("SELECT channel_id, token FROM channels WHERE token NOT LIKE 'sha256:%'")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, token) in plain {
        conn.execute(
            "UPDATE channels SET token = ?2 WHERE channel_id = ?1",
            params![id, creditops_core::secret::token_hash(&token)],
        )?;
    }
    Ok(())
}

/// The writing side.
#[derive(Clone)]
pub struct EventWriter {
    writer: GroupWriter<Job>,
    pub path: PathBuf,
}

impl EventWriter {
    pub fn open(path: &Path) -> Result<EventWriter, String> {
        let conn = crate::db::open(path, SCHEMA)?;
        hash_plain_tokens(&conn).map_err(|e| format!("{}: {e}", path.display()))?;
        let writer = GroupWriter::start("events-writer", conn, apply)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(EventWriter {
            writer,
            path: path.to_path_buf(),
        })
    }

    /// Appends an event; returns its id once committed.
    pub async fn insert(&self, e: NewEvent) -> Result<i64, String> {
        self.writer.write(Job::Insert(Box::new(e))).await
    }

    pub fn reject(&self, at_ms: i64, path: &str, peer: &str, reason: &str, body: &[u8]) {
        let head: String = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        self.writer.send(Job::Reject {
            at_ms,
            path: path.into(),
            peer: peer.into(),
            reason: reason.into(),
            body_head: head,
        });
    }

    pub fn forwarded(&self, id: i64, status: &str) {
        self.writer.send(Job::Forwarded(id, status.into()));
    }

    pub async fn save_channel(&self, c: Channel) -> Result<(), String> {
        self.writer.write(Job::Channel(c)).await.map(|_| ())
    }

    pub async fn drop_channel(&self, id: &str) -> Result<(), String> {
        self.writer
            .write(Job::DropChannel(id.into()))
            .await
            .map(|_| ())
    }
}

/// The reading side: pages through history so a long tail never sits in memory whole.
pub struct EventReader {
    conn: Connection,
}

const COLUMNS: &str = "id, received_at_ms, kind, name, module, operation, ids, channel_id, verified, content_type, headers, body, forward_status";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Event> {
    let ids: String = r.get(6)?;
    let headers: String = r.get(10)?;
    Ok(Event {
        id: r.get(0)?,
        new: NewEvent {
            received_at_ms: r.get(1)?,
            kind: Kind::parse(&r.get::<_, String>(2)?).unwrap_or(Kind::Workflow),
            name: r.get(3)?,
            summary: parse::Summary {
                module: r.get(4)?,
                operation: r.get(5)?,
                ids: serde_json::from_str(&ids).unwrap_or_default(),
                channel_id: r.get(7)?,
                token: None,
            },
            verified: r.get(8)?,
            content_type: r.get(9)?,
            headers: serde_json::from_str(&headers).unwrap_or_default(),
            body: r.get(11)?,
        },
        forward_status: r.get(12)?,
    })
}

impl EventReader {
    pub fn open(path: &Path) -> Result<EventReader, String> {
        Ok(EventReader {
            conn: crate::db::open(path, SCHEMA)?,
        })
    }

    /// Newest first, `limit` events from `offset`, with ids at most `before_id` (a paused view
    /// keeps its page still while events arrive).
    pub fn page(
        &self,
        before_id: Option<i64>,
        offset: usize,
        limit: usize,
    ) -> rusqlite::Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE id <= ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
        ))?;
        let rows = st.query_map(
            params![before_id.unwrap_or(i64::MAX), limit as i64, offset as i64],
            row,
        )?;
        rows.collect()
    }

    pub fn get(&self, id: i64) -> rusqlite::Result<Option<Event>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM events WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
    }

    /// Oldest first, from `since_ms`, `limit` at a time after `after_id` (for export).
    pub fn since(
        &self,
        since_ms: i64,
        after_id: i64,
        limit: usize,
    ) -> rusqlite::Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE received_at_ms >= ?1 AND id > ?2 ORDER BY id LIMIT ?3"))?;
        let rows = st.query_map(params![since_ms, after_id, limit as i64], row)?;
        rows.collect()
    }

    pub fn count(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|v| v as u64)
    }

    pub fn max_id(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
    }

    /// Rejected requests ever (the log itself keeps the last `REJECTED_CAP`).
    pub fn rejected_count(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM rejected", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|v| v as u64)
    }

    /// The most recent rejections: `(at_ms, path, reason)`.
    pub fn rejected(&self, limit: usize) -> rusqlite::Result<Vec<(i64, String, String)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT at_ms, path, reason FROM rejected ORDER BY id DESC LIMIT ?1")?;
        let rows = st.query_map(params![limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect()
    }

    /// Events per minute over `[from, to)`.
    pub fn per_minute(&self, from: i64, to: i64) -> rusqlite::Result<Vec<u64>> {
        let mut out = vec![0u64; ((to - from).max(0) / 60_000) as usize];
        let mut st = self.conn.prepare_cached("SELECT (received_at_ms - ?1) / 60000 AS m, COUNT(*) FROM events WHERE received_at_ms >= ?1 AND received_at_ms < ?2 GROUP BY m")?;
        for r in st.query_map(params![from, to], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })? {
            let (m, c) = r?;
            if let Some(slot) = out.get_mut(m as usize) {
                *slot = c as u64;
            }
        }
        Ok(out)
    }

    pub fn channels(&self) -> rusqlite::Result<Vec<Channel>> {
        let mut st = self.conn.prepare_cached("SELECT channel_id, token, events, notify_url, expiry_ms, profile FROM channels ORDER BY expiry_ms")?;
        let rows = st.query_map([], |r| {
            let events: String = r.get(2)?;
            Ok(Channel {
                channel_id: r.get(0)?,
                token_hash: r.get(1)?,
                events: events
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                notify_url: r.get(3)?,
                expiry_ms: r.get(4)?,
                profile: r.get(5)?,
            })
        })?;
        rows.collect()
    }
}

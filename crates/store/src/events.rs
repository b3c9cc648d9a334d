//! The event store: every accepted event appended (SQLite, WAL; or PostgreSQL) before the 2xx answer, a capped
//! log of rejected requests with their reason, and the channels creditops knows.

use serde::Serialize;
use serde_json::{json, Value};

use crate::db::{Conn, DbError, GroupWriter, Location, Reader, Row, Sql, Tx};
use crate::params;
use creditops_core::webhook::{self as parse, Kind};

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
    /// Drops events received before this time (`[receiver] keep_days`).
    Prune(i64),
}

fn apply(tx: &mut Tx, job: &Job) -> Result<i64, DbError> {
    match job {
        Job::Insert(e) => tx.int(
            "INSERT INTO events (received_at_ms, kind, name, module, operation, ids, channel_id, verified, content_type, headers, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            &params![
                e.received_at_ms,
                e.kind.as_str(),
                &e.name,
                &e.summary.module,
                &e.summary.operation,
                serde_json::to_string(&e.summary.ids).unwrap_or_else(|_| "[]".into()),
                &e.summary.channel_id,
                e.verified,
                &e.content_type,
                serde_json::to_string(&e.headers).unwrap_or_else(|_| "[]".into()),
                &e.body,
            ],
        ),
        Job::Reject {
            at_ms,
            path,
            peer,
            reason,
            body_head,
        } => {
            let id = tx.int(
                "INSERT INTO rejected (at_ms, path, peer, reason, body_head) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                &params![*at_ms, path, peer, reason, body_head],
            )?;
            tx.exec(
                "DELETE FROM rejected WHERE id <= ?1",
                &params![id - REJECTED_CAP],
            )?;
            Ok(id)
        }
        Job::Forwarded(id, status) => {
            tx.exec(
                "UPDATE events SET forward_status = ?2 WHERE id = ?1",
                &params![*id, status],
            )?;
            Ok(*id)
        }
        Job::Channel(c) => {
            tx.exec(
                "INSERT INTO channels (channel_id, token, events, notify_url, expiry_ms, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (channel_id) DO UPDATE SET token = excluded.token, events = excluded.events, notify_url = excluded.notify_url, expiry_ms = excluded.expiry_ms, profile = excluded.profile",
                &params![&c.channel_id, &c.token_hash, c.events.join(","), &c.notify_url, c.expiry_ms, &c.profile],
            )?;
            Ok(0)
        }
        Job::DropChannel(id) => {
            tx.exec("DELETE FROM channels WHERE channel_id = ?1", &params![id])?;
            Ok(0)
        }
        Job::Prune(before_ms) => {
            tx.exec(
                "DELETE FROM events WHERE received_at_ms < ?1",
                &params![*before_ms],
            )?;
            Ok(0)
        }
    }
}

/// Stores written before tokens were kept hashed hold them in the clear: hash them in place.
fn hash_plain_tokens(conn: &mut Conn) -> Result<(), DbError> {
    let plain = conn.rows(
        "SELECT channel_id, token FROM channels WHERE token NOT LIKE 'sha256:%'",
        &[],
    )?;
    for r in plain {
        conn.exec(
            "UPDATE channels SET token = ?2 WHERE channel_id = ?1",
            &params![r.text(0), creditops_core::secret::token_hash(&r.text(1))],
        )?;
    }
    Ok(())
}

/// The writing side.
#[derive(Clone)]
pub struct EventWriter {
    writer: GroupWriter<Job>,
    pub at: Location,
}

impl EventWriter {
    pub fn open(at: impl Into<Location>) -> Result<EventWriter, String> {
        let at = at.into();
        let conn = crate::db::off_runtime(|| {
            let mut conn = crate::db::connect(&at, &crate::schema::EVENTS)?;
            hash_plain_tokens(&mut conn).map_err(|e| format!("{}: {e}", at.display()))?;
            Ok::<_, String>(conn)
        })?;
        let writer = GroupWriter::start("events-writer", conn, apply)
            .map_err(|e| format!("{}: {e}", at.display()))?;
        Ok(EventWriter { writer, at })
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

    /// Drops the events received before `before_ms` (fire and forget).
    pub fn prune(&self, before_ms: i64) {
        self.writer.send(Job::Prune(before_ms));
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
    db: Reader,
}

const COLUMNS: &str = "id, received_at_ms, kind, name, module, operation, ids, channel_id, verified, content_type, headers, body, forward_status";

fn event(r: &Row) -> Event {
    Event {
        id: r.int(0),
        new: NewEvent {
            received_at_ms: r.int(1),
            kind: Kind::parse(&r.text(2)).unwrap_or(Kind::Workflow),
            name: r.opt_text(3),
            summary: parse::Summary {
                module: r.opt_text(4),
                operation: r.opt_text(5),
                ids: serde_json::from_str(&r.text(6)).unwrap_or_default(),
                channel_id: r.opt_text(7),
                token: None,
            },
            verified: r.bool(8),
            content_type: r.text(9),
            headers: serde_json::from_str(&r.text(10)).unwrap_or_default(),
            body: r.blob(11),
        },
        forward_status: r.opt_text(12),
    }
}

impl EventReader {
    pub fn open(at: impl Into<Location>) -> Result<EventReader, String> {
        Ok(EventReader {
            db: Reader::open(&at.into(), &crate::schema::EVENTS)?,
        })
    }

    /// Newest first, `limit` events from `offset`, with ids at most `before_id` (a paused view
    /// keeps its page still while events arrive).
    pub fn page(
        &self,
        before_id: Option<i64>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Event>, DbError> {
        let rows = self.db.rows(
            format!(
                "SELECT {COLUMNS} FROM events WHERE id <= ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
            ),
            params![before_id.unwrap_or(i64::MAX), limit, offset],
        )?;
        Ok(rows.iter().map(event).collect())
    }

    pub fn get(&self, id: i64) -> Result<Option<Event>, DbError> {
        let row = self.db.row(
            format!("SELECT {COLUMNS} FROM events WHERE id = ?1"),
            params![id],
        )?;
        Ok(row.as_ref().map(event))
    }

    /// Oldest first, from `since_ms`, `limit` at a time after `after_id` (for export).
    pub fn since(&self, since_ms: i64, after_id: i64, limit: usize) -> Result<Vec<Event>, DbError> {
        let rows = self.db.rows(
            format!("SELECT {COLUMNS} FROM events WHERE received_at_ms >= ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
            params![since_ms, after_id, limit],
        )?;
        Ok(rows.iter().map(event).collect())
    }

    pub fn count(&self) -> Result<u64, DbError> {
        Ok(self
            .db
            .int("SELECT COUNT(*) FROM events", params![])?
            .max(0) as u64)
    }

    pub fn max_id(&self) -> Result<i64, DbError> {
        self.db
            .int("SELECT COALESCE(MAX(id), 0) FROM events", params![])
    }

    /// Rejected requests ever (the log itself keeps the last `REJECTED_CAP`).
    pub fn rejected_count(&self) -> Result<u64, DbError> {
        Ok(self
            .db
            .int("SELECT COALESCE(MAX(id), 0) FROM rejected", params![])?
            .max(0) as u64)
    }

    /// The most recent rejections: `(at_ms, path, reason)`.
    pub fn rejected(&self, limit: usize) -> Result<Vec<(i64, String, String)>, DbError> {
        let rows = self.db.rows(
            "SELECT at_ms, path, reason FROM rejected ORDER BY id DESC LIMIT ?1",
            params![limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.int(0), r.text(1), r.text(2)))
            .collect())
    }

    /// Events per minute over `[from, to)`.
    pub fn per_minute(&self, from: i64, to: i64) -> Result<Vec<u64>, DbError> {
        let mut out = vec![0u64; ((to - from).max(0) / 60_000) as usize];
        let rows = self.db.rows(
            "SELECT (received_at_ms - ?1) / 60000 AS m, COUNT(*) FROM events WHERE received_at_ms >= ?1 AND received_at_ms < ?2 GROUP BY m",
            params![from, to],
        )?;
        for r in rows {
            if let Some(slot) = out.get_mut(r.int(0) as usize) {
                *slot = r.count(1);
            }
        }
        Ok(out)
    }

    pub fn channels(&self) -> Result<Vec<Channel>, DbError> {
        let rows = self.db.rows(
            "SELECT channel_id, token, events, notify_url, expiry_ms, profile FROM channels ORDER BY expiry_ms",
            params![],
        )?;
        Ok(rows
            .iter()
            .map(|r| Channel {
                channel_id: r.text(0),
                token_hash: r.text(1),
                events: r
                    .text(2)
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                notify_url: r.text(3),
                expiry_ms: r.int(4),
                profile: r.text(5),
            })
            .collect())
    }
}

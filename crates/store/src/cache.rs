//! The metadata cache that spares credits: settings/modules, fields, layouts, related lists,
//! org, the current user and `__apis`, keyed by org, path and query, in SQLite in the cache
//! folder (shared by the proxy and `creditops cache`, so a clear takes effect at once).
//! Past its TTL an entry is revalidated with If-Modified-Since; metadata-changing calls that
//! pass through the proxy invalidate it; a corrupted store is moved aside and rebuilt, never
//! served; concurrent misses for one key make one upstream call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::db::{Location, Reader, Row};
use crate::params;

pub use creditops_core::metadata::{classify, invalidation, key, CacheSettings, Kind, Ttls};

/// A cached answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub key: String,
    pub kind: Kind,
    pub module: Option<String>,
    pub content_type: String,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub bytes: usize,
    pub stored_ms: i64,
    pub validated_ms: i64,
    pub ttl_s: u64,
    pub hits: u64,
    pub misses: u64,
    pub revalidations: u64,
    pub credits_saved: u64,
}

impl Entry {
    pub fn fresh(&self, now: i64) -> bool {
        now - self.validated_ms < self.ttl_s as i64 * 1000
    }
    pub fn ttl_left_s(&self, now: i64) -> i64 {
        (self.validated_ms + self.ttl_s as i64 * 1000 - now) / 1000
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    pub revalidations: u64,
    pub credits_saved: u64,
    pub credits_saved_today: u64,
    pub credits_saved_window: u64,
    pub bytes: u64,
}

/// FNV-1a: cheap, and enough to tell a damaged body from the one stored.
fn checksum(b: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x100000001b3);
    }
    h as i64
}

fn kind_of(s: &str) -> Kind {
    match s {
        "modules" => Kind::Modules,
        "fields" => Kind::Fields,
        "layouts" => Kind::Layouts,
        "related_lists" => Kind::RelatedLists,
        "org" => Kind::Org,
        "current_user" => Kind::CurrentUser,
        "apis" => Kind::Apis,
        _ => Kind::Records,
    }
}

const ENTRY_COLUMNS: &str = "key, kind, module, content_type, body, checksum, stored_ms, validated_ms, ttl_s, hits, misses, revalidations, credits_saved";

/// An entry and its stored checksum, from a row of `ENTRY_COLUMNS`.
fn entry_row(r: &Row) -> (Entry, i64) {
    let body = r.blob(4);
    (
        Entry {
            key: r.text(0),
            kind: kind_of(&r.text(1)),
            module: r.opt_text(2),
            content_type: r.text(3),
            bytes: body.len(),
            body,
            stored_ms: r.int(6),
            validated_ms: r.int(7),
            ttl_s: r.count(8),
            hits: r.count(9),
            misses: r.count(10),
            revalidations: r.count(11),
            credits_saved: r.count(12),
        },
        r.int(5),
    )
}

/// What a lookup found.
pub enum Lookup {
    Fresh(Entry),
    Stale(Entry),
    Miss,
}

pub struct MetadataCache {
    db: Reader,
    pub at: Location,
    pub settings: CacheSettings,
    /// One lock per key being fetched, so concurrent misses make one upstream call.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Problems found when opening (a corrupted store moved aside).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MetadataCache {
    /// Opens the store; a corrupted SQLite file is moved aside (`*.corrupt-<time>`) and
    /// rebuilt.
    pub fn open(at: impl Into<Location>, settings: CacheSettings) -> Result<MetadataCache, String> {
        let at = at.into();
        let mut warnings = Vec::new();
        let healthy = |at: &Location| -> Result<Reader, String> {
            let db = Reader::open(at, &crate::schema::METADATA)?;
            if at.path().is_some() {
                let check = db
                    .row("PRAGMA quick_check", params![])
                    .map_err(|e| e.to_string())?
                    .map(|r| r.text(0))
                    .unwrap_or_default();
                if check != "ok" {
                    return Err(check);
                }
            }
            Ok(db)
        };
        let db = match (healthy(&at), at.path()) {
            (Ok(db), _) => db,
            (Err(why), Some(path)) if path.exists() => {
                let aside = path.with_extension(format!(
                    "corrupt-{}",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S")
                ));
                let _ = std::fs::rename(path, &aside);
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                warnings.push(format!(
                    "the cache {} was corrupted ({why}); moved to {} and rebuilt",
                    path.display(),
                    aside.display()
                ));
                Reader::open(&at, &crate::schema::METADATA)?
            }
            (Err(why), _) => return Err(why),
        };
        let cutoff = chrono::Utc::now().timestamp_millis() - 2 * 86_400_000;
        let _ = db.exec("DELETE FROM savings WHERE at_ms < ?1", params![cutoff]);
        Ok(MetadataCache {
            db,
            at,
            settings,
            inflight: Mutex::new(HashMap::new()),
            warnings,
        })
    }

    /// The lock for fetching `key`; hold it across the upstream call.
    pub fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = lock(&self.inflight);
        if m.len() > 10_000 {
            m.retain(|_, v| Arc::strong_count(v) > 1);
        }
        m.entry(key.to_string()).or_default().clone()
    }

    pub fn lookup(&self, key: &str, now: i64) -> Lookup {
        let row = self.db.row(
            format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE key = ?1"),
            params![key],
        );
        match row.map(|r| r.as_ref().map(entry_row)) {
            Ok(Some((e, sum)))
                if sum == checksum(&e.body)
                    && serde_json::from_slice::<serde_json::Value>(&e.body).is_ok() =>
            {
                if e.fresh(now) {
                    Lookup::Fresh(e)
                } else {
                    Lookup::Stale(e)
                }
            }
            Ok(Some(_)) => {
                // A damaged entry is never served: drop it and fetch again.
                tracing::warn!("cache entry {key} failed its checksum; dropped");
                let _ = self
                    .db
                    .exec("DELETE FROM entries WHERE key = ?1", params![key]);
                Lookup::Miss
            }
            _ => Lookup::Miss,
        }
    }

    /// Stores a fresh answer (a miss that was fetched, or a 200 on revalidation).
    pub fn store(
        &self,
        key: &str,
        kind: Kind,
        module: Option<&str>,
        content_type: &str,
        body: &[u8],
        now: i64,
    ) {
        let ttl = self.settings.ttl.of(kind);
        let r = self.db.exec(
            "INSERT INTO entries (key, kind, module, content_type, body, checksum, stored_ms, validated_ms, ttl_s, misses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, 1)
             ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, body = excluded.body, checksum = excluded.checksum, stored_ms = excluded.stored_ms, validated_ms = excluded.validated_ms, ttl_s = excluded.ttl_s, misses = entries.misses + 1",
            params![key, kind.as_str(), module, content_type, body, checksum(body), now, ttl],
        );
        if let Err(e) = r {
            tracing::warn!("cache store {key}: {e}");
        }
    }

    /// Counts a hit that spared `credits`.
    pub fn hit(&self, key: &str, credits: u64, now: i64) {
        let _ = self.db.exec(
            "UPDATE entries SET hits = hits + 1, credits_saved = credits_saved + ?2 WHERE key = ?1",
            params![key, credits],
        );
        let _ = self.db.exec(
            "INSERT INTO savings (at_ms, credits) VALUES (?1, ?2)",
            params![now, credits],
        );
    }

    /// A 304 kept the body: the entry is fresh again.
    pub fn revalidated(&self, key: &str, now: i64) {
        let _ = self.db.exec(
            "UPDATE entries SET validated_ms = ?2, revalidations = revalidations + 1 WHERE key = ?1",
            params![key, now],
        );
    }

    /// Drops the cached metadata of `module` (all modules' when None); returns how many.
    pub fn invalidate(&self, module: Option<&str>) -> usize {
        match module {
            Some(m) => self.db.exec("DELETE FROM entries WHERE kind != 'records' AND (module = ?1 OR kind = 'modules' AND module IS NULL)", params![m]),
            None => self.db.exec("DELETE FROM entries WHERE kind != 'records'", params![]),
        }
        .unwrap_or(0) as usize
    }

    /// Drops one key, or everything.
    pub fn clear(&self, key: Option<&str>) -> usize {
        match key {
            Some(k) => self
                .db
                .exec("DELETE FROM entries WHERE key = ?1", params![k]),
            None => self.db.exec("DELETE FROM entries", params![]),
        }
        .unwrap_or(0) as usize
    }

    /// Marks an entry stale so the next use revalidates it.
    pub fn expire(&self, key: &str) -> usize {
        self.db
            .exec(
                "UPDATE entries SET validated_ms = 0 WHERE key = ?1",
                params![key],
            )
            .unwrap_or(0) as usize
    }

    /// Every entry (bodies included), most used first.
    pub fn list(&self) -> Vec<Entry> {
        self.db
            .rows(
                format!("SELECT {ENTRY_COLUMNS} FROM entries ORDER BY credits_saved DESC, key"),
                params![],
            )
            .map(|rows| rows.iter().map(|r| entry_row(r).0).collect())
            .unwrap_or_default()
    }

    pub fn stats(&self, now: i64) -> Stats {
        let entries = self.list();
        let since = |from: i64| -> u64 {
            self.db
                .int(
                    "SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT) FROM savings WHERE at_ms > ?1",
                    params![from],
                )
                .unwrap_or(0)
                .max(0) as u64
        };
        let midnight = now - now.rem_euclid(86_400_000);
        let hits: u64 = entries.iter().map(|e| e.hits).sum();
        let misses: u64 = entries.iter().map(|e| e.misses).sum();
        Stats {
            entries: entries.len() as u64,
            hits,
            misses,
            hit_ratio: if hits + misses > 0 {
                hits as f64 / (hits + misses) as f64
            } else {
                0.0
            },
            revalidations: entries.iter().map(|e| e.revalidations).sum(),
            credits_saved: entries.iter().map(|e| e.credits_saved).sum(),
            credits_saved_today: since(midnight),
            credits_saved_window: since(now - creditops_core::credits::WINDOW_MS),
            bytes: entries.iter().map(|e| e.bytes as u64).sum(),
        }
    }
}

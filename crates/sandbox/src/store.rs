//! The sandbox's SQLite store (with `--data-dir`): records, deleted records, converted leads,
//! charges of the rolling window, channels, jobs, uploads and tokens. Every write is committed
//! before the call is answered (WAL), so a SIGKILL loses nothing that was answered.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::bulk::{self, Job, Jobs};
use super::meter::{ChargeTag, Meter};
use super::notify::{Channel, Channels};
use super::org::{Change, Deleted, Operation, Org, Record};
use super::{Clock, Tokens};
use creditops_core::credits::WINDOW_MS;

/// What a sandbox keeps beside its org, its meter and its clock.
#[derive(Default)]
pub struct Kept {
    pub tokens: Tokens,
    pub channels: Channels,
    pub jobs: Jobs,
    pub photos: super::photos::Photos,
}

pub struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (module TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (module, id));
CREATE TABLE IF NOT EXISTS deleted (module TEXT NOT NULL, id TEXT NOT NULL, display_name TEXT NOT NULL, deleted_ms INTEGER NOT NULL, created_by TEXT NOT NULL, deleted_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS converted (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS charges (at_ms INTEGER NOT NULL, credits INTEGER NOT NULL, api TEXT NOT NULL, module TEXT);
CREATE INDEX IF NOT EXISTS charges_at ON charges (at_ms);
CREATE TABLE IF NOT EXISTS channels (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, json TEXT NOT NULL, zip BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, expiry_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS photos (owner TEXT PRIMARY KEY, data BLOB NOT NULL);
";

impl Store {
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        // It holds the tokens it minted: private (0600), like every store.
        let conn = creditops_store::db::open(path, SCHEMA).map_err(anyhow::Error::msg)?;
        Ok(Store { conn })
    }

    pub fn save_meta(&mut self, key: &str, value: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    fn meta(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Writes a whole org (first start, or a reset).
    pub fn save_org(&mut self, org: &Org) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx
                .prepare("INSERT OR REPLACE INTO records (module, id, json) VALUES (?1, ?2, ?3)")?;
            for (module, recs) in &org.records {
                for (id, r) in recs {
                    ins.execute(params![module, id, serde_json::to_string(r)?])?;
                }
            }
        }
        put_meta(
            &tx,
            &[
                ("next_id", org.next_id.to_string()),
                ("schema_time_ms", org.schema_time_ms.to_string()),
                ("seed_org", org.org_id.clone()),
                ("settings", serde_json::to_string(&org.settings)?),
                ("users", users_json(org)),
                ("initialized", "1".into()),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Keeps a photo (`Some`) or forgets it (`None`).
    pub fn save_photo(&mut self, owner: &str, data: Option<&[u8]>) -> anyhow::Result<()> {
        match data {
            Some(d) => self.conn.execute(
                "INSERT OR REPLACE INTO photos (owner, data) VALUES (?1, ?2)",
                params![owner, d],
            )?,
            None => self
                .conn
                .execute("DELETE FROM photos WHERE owner = ?1", params![owner])?,
        };
        Ok(())
    }

    /// Saves the org's settings and users (both small: written whole after a change).
    pub fn save_settings(&mut self, org: &Org) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        put_meta(
            &tx,
            &[
                ("settings", serde_json::to_string(&org.settings)?),
                ("users", users_json(org)),
                ("schema_time_ms", org.schema_time_ms.to_string()),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Empties everything and writes a fresh org.
    pub fn reset(&mut self, org: &Org) -> anyhow::Result<()> {
        self.conn.execute_batch(
            "DELETE FROM records; DELETE FROM deleted; DELETE FROM converted; DELETE FROM charges;
             DELETE FROM channels; DELETE FROM jobs; DELETE FROM uploads; DELETE FROM photos;",
        )?;
        self.save_org(org)
    }

    pub fn save_changes(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        for c in changes {
            match (&c.operation, &c.record) {
                (Operation::Delete, _) => {
                    tx.execute(
                        "DELETE FROM records WHERE module = ?1 AND id = ?2",
                        params![c.module, c.id],
                    )?;
                }
                (_, Some(r)) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO records (module, id, json) VALUES (?1, ?2, ?3)",
                        params![c.module, c.id, serde_json::to_string(r)?],
                    )?;
                }
                _ => {}
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn save_deleted(&mut self, module: &str, d: &Deleted) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO deleted (module, id, display_name, deleted_ms, created_by, deleted_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![module, d.id, d.display_name, d.deleted_ms, d.created_by.to_string(), d.deleted_by.to_string()],
        )?;
        Ok(())
    }

    pub fn save_converted(&mut self, id: &str, lead: &Record) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO converted (id, json) VALUES (?1, ?2)",
            params![id, serde_json::to_string(lead)?],
        )?;
        Ok(())
    }

    pub fn save_next_id(&mut self, next_id: u64) -> anyhow::Result<()> {
        self.save_meta("next_id", &next_id.to_string())
    }

    pub fn save_charge(
        &mut self,
        at_ms: i64,
        credits: u64,
        api: &str,
        module: Option<&str>,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO charges (at_ms, credits, api, module) VALUES (?1, ?2, ?3, ?4)",
            params![at_ms, credits as i64, api, module],
        )?;
        Ok(())
    }

    pub fn save_channel(&mut self, ch: &Channel) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO channels (id, json) VALUES (?1, ?2)",
            params![ch.channel_id, serde_json::to_string(ch)?],
        )?;
        Ok(())
    }

    pub fn delete_channel(&mut self, id: &str) -> anyhow::Result<()> {
        self.conn
            .execute("DELETE FROM channels WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn save_job(&mut self, job: &Job) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO jobs (id, json, zip) VALUES (?1, ?2, ?3)",
            params![job.id, serde_json::to_string(job)?, job.result_zip],
        )?;
        Ok(())
    }

    pub fn save_upload(&mut self, id: &str, data: &[u8]) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO uploads (id, data) VALUES (?1, ?2)",
            params![id, data],
        )?;
        Ok(())
    }

    pub fn save_token(&mut self, token: &str, expiry_ms: i64) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO tokens (token, expiry_ms) VALUES (?1, ?2)",
            params![token, expiry_ms],
        )?;
        Ok(())
    }

    /// Loads a saved sandbox into `meter` and `kept`; None when the store is new.
    pub fn load(
        &mut self,
        meter: &mut Meter,
        kept: &mut Kept,
        clock: &Clock,
        now_ms: i64,
    ) -> anyhow::Result<Option<Org>> {
        let Kept {
            tokens,
            channels,
            jobs,
            photos,
        } = kept;
        if self.meta("initialized")?.is_none() {
            return Ok(None);
        }
        if let Some(off) = self.meta("clock_offset_ms")?.and_then(|v| v.parse().ok()) {
            clock.set_offset(off);
        }
        let now_ms = now_ms + clock.offset_ms();
        let mut org = Org::demo(0, &meter.limits.edition, meter.limits.users, now_ms);
        for recs in org.records.values_mut() {
            recs.clear();
        }
        org.next_id = self
            .meta("next_id")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(org.next_id);
        org.schema_time_ms = self
            .meta("schema_time_ms")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(org.schema_time_ms);
        // Stores from before settings were kept start with the demo's.
        if let Some(settings) = self.meta("settings")? {
            org.settings = serde_json::from_str(&settings)?;
        }
        if let Some(users) = self.meta("users")? {
            let saved: Vec<SavedUser> = serde_json::from_str(&users)?;
            org.users = saved.into_iter().map(SavedUser::into_user).collect();
        }
        org.apply_settings()
            .map_err(|e| anyhow::anyhow!("the saved settings do not apply: {e}"))?;
        {
            let mut st = self.conn.prepare("SELECT module, id, json FROM records")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (module, id, json) = row?;
                let rec: Record = serde_json::from_str(&json)?;
                org.records.entry(module).or_default().insert(id, rec);
            }
            let mut st = self.conn.prepare("SELECT module, id, display_name, deleted_ms, created_by, deleted_by FROM deleted ORDER BY rowid")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            for row in rows {
                let (module, id, display_name, deleted_ms, cb, db) = row?;
                org.deleted.entry(module).or_default().push(Deleted {
                    id,
                    display_name,
                    deleted_ms,
                    created_by: serde_json::from_str(&cb).unwrap_or(Value::Null),
                    deleted_by: serde_json::from_str(&db).unwrap_or(Value::Null),
                });
            }
            let mut st = self.conn.prepare("SELECT id, json FROM converted")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, json) = row?;
                org.converted.insert(id, serde_json::from_str(&json)?);
            }
            let mut st = self.conn.prepare(
                "SELECT at_ms, credits, api, module FROM charges WHERE at_ms > ?1 ORDER BY at_ms",
            )?;
            let rows = st.query_map(params![now_ms - WINDOW_MS], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            for row in rows {
                let (at, credits, api, module) = row?;
                meter.window.charge_tagged(
                    at,
                    credits as u64,
                    ChargeTag {
                        api: api.into(),
                        module,
                    },
                );
            }
            let mut st = self.conn.prepare("SELECT json FROM channels")?;
            for json in st.query_map([], |r| r.get::<_, String>(0))? {
                let ch: Channel = serde_json::from_str(&json?)?;
                channels.map.insert(ch.channel_id.clone(), ch);
            }
            let mut st = self.conn.prepare("SELECT json, zip FROM jobs")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            for row in rows {
                let (json, zip) = row?;
                let job: Job = serde_json::from_str(&json)?;
                bulk::restore(jobs, job, zip);
            }
            let mut st = self.conn.prepare("SELECT id, data FROM uploads")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            for row in rows {
                let (id, data) = row?;
                jobs.uploads.insert(id, data);
            }
            let mut st = self.conn.prepare("SELECT owner, data FROM photos")?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            for row in rows {
                let (owner, data) = row?;
                photos.map.insert(owner, data);
            }
            let mut st = self
                .conn
                .prepare("SELECT token, expiry_ms FROM tokens WHERE expiry_ms > ?1")?;
            let rows = st.query_map(params![now_ms], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (t, e) = row?;
                tokens.access.insert(t, e);
            }
        }
        org.rebuild_index();
        Ok(Some(org))
    }
}

/// A user as the store keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedUser {
    id: String,
    first_name: String,
    last_name: String,
    email: String,
    role: String,
    profile: String,
    active: bool,
}

impl SavedUser {
    fn into_user(self) -> super::org::User {
        super::org::User {
            full_name: format!("{} {}", self.first_name, self.last_name)
                .trim()
                .to_string(),
            id: self.id,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            role: self.role,
            profile: self.profile,
            active: self.active,
        }
    }
}

fn users_json(org: &Org) -> String {
    let saved: Vec<SavedUser> = org
        .users
        .iter()
        .map(|u| SavedUser {
            id: u.id.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            profile: u.profile.clone(),
            active: u.active,
        })
        .collect();
    serde_json::to_string(&saved).unwrap_or_else(|_| "[]".into())
}

/// Writes meta keys in a transaction (the org's scalars, settings and users).
fn put_meta(tx: &rusqlite::Transaction, pairs: &[(&str, String)]) -> anyhow::Result<()> {
    for (k, v) in pairs {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![k, v],
        )?;
    }
    Ok(())
}

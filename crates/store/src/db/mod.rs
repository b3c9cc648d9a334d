//! The database plumbing the stores share, for both backends: SQLite (a file, the embedded
//! default) and PostgreSQL (a server several proxies share). A store writes its queries once,
//! with `?N` placeholders, over [`Sql`]; its schema is a versioned set of migrations per
//! backend (refinery); its writes go through a group-commit writer thread, so a row is durable
//! before the caller answers anyone while concurrent callers share one commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::Duration;

mod value;
pub use value::{Row, Value};

use creditops_core::secret::Secret;

pub use creditops_config::store::{is_postgres_url, Location};

/// A database error, without anything secret in it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("{0}")]
    Other(String),
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        // The driver's messages name the server's complaint, never the connection string.
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        DbError::Postgres(detail)
    }
}

/// Queries written once for both backends.
pub trait Sql {
    /// Runs a statement; returns the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs a query; returns its rows.
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// The first row, if any.
    fn row(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }
    /// A single integer (an aggregate): 0 when there is no row or it is NULL.
    fn int(&mut self, sql: &str, params: &[Value]) -> Result<i64, DbError> {
        Ok(self.row(sql, params)?.map_or(0, |r| r.int(0)))
    }
    fn backend(&self) -> Backend;
    /// The PostgreSQL client under this connection or transaction (None on SQLite), with a
    /// cache of prepared statements: for a store's batched statements, which bind arrays.
    fn postgres(&mut self) -> Result<Option<PgSession<'_>>, DbError>;
}

/// A PostgreSQL client with its prepared statements.
pub struct PgSession<'a> {
    client: &'a mut postgres::Client,
    statements: &'a mut HashMap<String, postgres::Statement>,
}

impl PgSession<'_> {
    /// Runs a statement (prepared once per connection) with typed parameters.
    pub fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, DbError> {
        let st = prepared(self.statements, self.client, sql)?.clone();
        Ok(self.client.query(&st, params)?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn sqlite_exec(c: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let mut st = c.prepare_cached(sql)?;
    Ok(st.execute(rusqlite::params_from_iter(params.iter()))? as u64)
}

fn sqlite_rows(c: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut st = c.prepare_cached(sql)?;
    let n = st.column_count();
    let rows = st.query_map(rusqlite::params_from_iter(params.iter()), |r| {
        value::from_sqlite(r, n)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A PostgreSQL connection that reconnects when the server went away, with its prepared
/// statements.
pub struct Pg {
    url: Secret,
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

impl Pg {
    pub fn connect(url: &Secret) -> Result<Pg, DbError> {
        let mut pg = Pg {
            url: url.clone(),
            client: None,
            statements: HashMap::new(),
        };
        pg.client()?;
        Ok(pg)
    }

    /// The connected client and its statements (reconnecting first when needed).
    fn session(&mut self) -> Result<PgSession<'_>, DbError> {
        self.client()?;
        let Pg {
            client, statements, ..
        } = self;
        match client.as_mut() {
            Some(client) => Ok(PgSession { client, statements }),
            None => Err(DbError::Postgres("not connected".into())),
        }
    }

    fn client(&mut self) -> Result<&mut postgres::Client, DbError> {
        if self.client.as_ref().is_none_or(postgres::Client::is_closed) {
            self.statements.clear();
            self.client = None;
            let mut config: postgres::Config = self.url.expose().parse().map_err(|_| {
                DbError::Postgres("the store URL is not a valid postgres:// URL".into())
            })?;
            // A URL given where others can read it (a flag) carries no password: PGPASSWORD does.
            if config.get_password().is_none() {
                if let Ok(pw) = std::env::var("PGPASSWORD") {
                    config.password(pw);
                }
            }
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(Duration::from_secs(5));
            }
            config.application_name("creditops");
            // A server that stops answering fails the statement (and the call is refused
            // before it is sent) instead of holding the writer, and with it every call.
            config.keepalives(true);
            config.keepalives_idle(Duration::from_secs(15));
            if config.get_options().is_none() {
                config.options("-c statement_timeout=30000");
            }
            self.client = Some(config.connect(postgres::NoTls)?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| DbError::Postgres("not connected".into()))
    }
}

fn prepared<'a>(
    statements: &'a mut HashMap<String, postgres::Statement>,
    client: &mut impl postgres::GenericClient,
    sql: &str,
) -> Result<&'a postgres::Statement, DbError> {
    if !statements.contains_key(sql) {
        let st = client.prepare(&value::to_postgres_sql(sql))?;
        statements.insert(sql.to_string(), st);
    }
    statements
        .get(sql)
        .ok_or_else(|| DbError::Other("statement cache".into()))
}

fn pg_params(params: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn pg_exec(
    client: &mut impl postgres::GenericClient,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    params: &[Value],
) -> Result<u64, DbError> {
    let st = prepared(statements, client, sql)?.clone();
    Ok(client.execute(&st, &pg_params(params))?)
}

fn pg_rows(
    client: &mut impl postgres::GenericClient,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>, DbError> {
    let st = prepared(statements, client, sql)?.clone();
    let rows = client.query(&st, &pg_params(params))?;
    rows.iter()
        .map(|r| value::from_postgres(r).map_err(DbError::from))
        .collect()
}

/// An open connection of either backend. Used on threads of its own (a writer, a reader's
/// worker): the PostgreSQL driver runs a runtime of its own and must not block inside tokio's.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

/// A transaction of either backend.
pub enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    /// A connection inside `BEGIN` … `COMMIT` (sent by [`Conn::transaction_with`], which
    /// folds the first statements into the `BEGIN` round trip).
    Postgres(
        &'a mut postgres::Client,
        &'a mut HashMap<String, postgres::Statement>,
    ),
}

impl Conn {
    /// Runs `f` in one transaction, committed when it returns Ok.
    pub fn transaction<R>(
        &mut self,
        f: impl FnOnce(&mut Tx) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        self.transaction_with(None, f)
    }

    /// [`Conn::transaction`], running `prelude` (parameterless SQL) first on PostgreSQL, in
    /// the same round trip as `BEGIN`.
    pub fn transaction_with<R>(
        &mut self,
        prelude: Option<&str>,
        f: impl FnOnce(&mut Tx) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        match self {
            Conn::Sqlite(c) => {
                // IMMEDIATE: the write lock from the start (waiting out other processes'
                // writers), never a read lock upgraded mid-way, which WAL refuses at once
                // when another writer committed in between.
                let mut tx = Tx::Sqlite(
                    c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?,
                );
                let r = f(&mut tx)?;
                if let Tx::Sqlite(t) = tx {
                    t.commit()?;
                }
                Ok(r)
            }
            Conn::Postgres(pg) => {
                let PgSession { client, statements } = pg.session()?;
                match prelude {
                    Some(sql) => client.batch_execute(&format!("BEGIN; {sql}"))?,
                    None => client.batch_execute("BEGIN")?,
                }
                let r = f(&mut Tx::Postgres(client, statements));
                match r {
                    Ok(r) => {
                        client.batch_execute("COMMIT")?;
                        Ok(r)
                    }
                    Err(e) => {
                        // A dropped connection is noticed (and replaced) on the next use.
                        let _ = client.batch_execute("ROLLBACK");
                        Err(e)
                    }
                }
            }
        }
    }
}

impl Sql for Conn {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => sqlite_exec(c, sql, params),
            Conn::Postgres(pg) => {
                let s = pg.session()?;
                pg_exec(s.client, s.statements, sql, params)
            }
        }
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => sqlite_rows(c, sql, params),
            Conn::Postgres(pg) => {
                let s = pg.session()?;
                pg_rows(s.client, s.statements, sql, params)
            }
        }
    }

    fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    fn postgres(&mut self) -> Result<Option<PgSession<'_>>, DbError> {
        match self {
            Conn::Sqlite(_) => Ok(None),
            Conn::Postgres(pg) => pg.session().map(Some),
        }
    }
}

impl Sql for Tx<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Tx::Sqlite(t) => sqlite_exec(t, sql, params),
            Tx::Postgres(t, st) => pg_exec(*t, st, sql, params),
        }
    }

    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Tx::Sqlite(t) => sqlite_rows(t, sql, params),
            Tx::Postgres(t, st) => pg_rows(*t, st, sql, params),
        }
    }

    fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(..) => Backend::Postgres,
        }
    }

    fn postgres(&mut self) -> Result<Option<PgSession<'_>>, DbError> {
        Ok(match self {
            Tx::Sqlite(_) => None,
            Tx::Postgres(client, statements) => Some(PgSession { client, statements }),
        })
    }
}

/// A store's schema: its versioned migrations for each backend, and, for SQLite files written
/// before the migrations existed, what brings them to the first migration's shape.
pub struct Schema {
    /// `ledger`, `events`, `metadata`: names the migration history table
    /// (`creditops_ledger_migrations`), so the three stores can share one database.
    pub name: &'static str,
    pub sqlite: fn() -> refinery::Runner,
    pub postgres: fn() -> refinery::Runner,
    /// Runs on a SQLite file before its migrations (may be a no-op on new files).
    pub adopt_sqlite: fn(&rusqlite::Connection) -> rusqlite::Result<()>,
}

impl Schema {
    fn table(&self) -> String {
        format!("creditops_{}_migrations", self.name)
    }
}

/// Runs `f` on a thread of its own: the PostgreSQL driver blocks on a runtime of its own, which
/// tokio forbids inside an async task, and stores are opened from async code too.
pub fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Opens (creating) a store: a SQLite file in WAL mode, private to its owner, or a PostgreSQL
/// connection; either way with its migrations applied.
pub fn connect(at: &Location, schema: &Schema) -> Result<Conn, String> {
    off_runtime(|| connect_here(at, schema))
}

fn connect_here(at: &Location, schema: &Schema) -> Result<Conn, String> {
    let shown = at.display();
    let err = |e: &dyn std::fmt::Display| format!("{shown}: {e}");
    match at {
        Location::Sqlite(path) => {
            let conn = open_sqlite(path)?;
            (schema.adopt_sqlite)(&conn).map_err(|e| err(&e))?;
            let mut conn = conn;
            let run = |conn: &mut rusqlite::Connection| {
                (schema.sqlite)()
                    .set_migration_table_name(schema.table())
                    .run(conn)
                    .map(|_| ())
            };
            // Two processes creating one file at once: the second finds the first's history.
            if let Err(first) = run(&mut conn) {
                std::thread::sleep(Duration::from_millis(50));
                run(&mut conn).map_err(|_| err(&first))?;
            }
            Ok(Conn::Sqlite(conn))
        }
        Location::Postgres(url) => {
            let mut pg = Pg::connect(url).map_err(|e| err(&e))?;
            let client = pg.client().map_err(|e| err(&e))?;
            // Proxies starting together take turns: one migrates, the others find it done.
            let key = "SELECT pg_advisory_lock(4242070214)";
            client
                .batch_execute(key)
                .map_err(|e| err(&DbError::from(e)))?;
            let ran = (schema.postgres)()
                .set_migration_table_name(schema.table())
                .run(client);
            let _ = client.batch_execute("SELECT pg_advisory_unlock(4242070214)");
            ran.map_err(|e| err(&e))?;
            Ok(Conn::Postgres(Box::new(pg)))
        }
    }
}

/// Opens (creating) a SQLite file in WAL mode, readable by its owner only.
fn open_sqlite(path: &Path) -> Result<rusqlite::Connection, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| at(&e))?;
    }
    create_private(path).map_err(|e| at(&e))?;
    let conn = rusqlite::Connection::open(path).map_err(|e| at(&e))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| at(&e))?;
    // WAL + NORMAL: a commit survives the process dying (SIGKILL), not the machine losing power.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| at(&e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| at(&e))?;
    Ok(conn)
}

/// Opens (creating) a SQLite database in WAL mode with `schema` applied: for the sandbox's own
/// store, which emulates Zoho and is not one of creditops' migrated stores.
pub fn open(path: &Path, schema: &str) -> Result<rusqlite::Connection, String> {
    let conn = open_sqlite(path)?;
    conn.execute_batch(schema)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(conn)
}

/// Creates `path` readable by its owner only (0600) if it does not exist yet. SQLite gives its
/// -wal and -shm files the database file's mode, so a store created here stays private whole.
pub fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

type Work = Box<dyn FnOnce(&mut Conn) + Send>;

/// A store's reading side: a SQLite connection used in place, or a PostgreSQL connection on a
/// thread of its own (its driver must not block inside an async runtime).
pub enum Reader {
    Sqlite(Mutex<Conn>),
    Postgres(mpsc::Sender<Work>),
}

impl Reader {
    pub fn open(at: &Location, schema: &Schema) -> Result<Reader, String> {
        let conn = connect(at, schema)?;
        Ok(match conn {
            c @ Conn::Sqlite(_) => Reader::Sqlite(Mutex::new(c)),
            c @ Conn::Postgres(_) => {
                let (tx, rx) = mpsc::channel::<Work>();
                thread::Builder::new()
                    .name(format!("{}-reader", schema.name))
                    .spawn(move || {
                        let mut c = c;
                        while let Ok(work) = rx.recv() {
                            work(&mut c);
                        }
                    })
                    .map_err(|e| e.to_string())?;
                Reader::Postgres(tx)
            }
        })
    }

    /// Runs `f` on the connection and returns what it returned.
    pub fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<R, DbError> + Send + 'static,
    ) -> Result<R, DbError> {
        match self {
            Reader::Sqlite(c) => f(&mut c.lock().unwrap_or_else(|p| p.into_inner())),
            Reader::Postgres(tx) => {
                let (done, wait) = mpsc::sync_channel(1);
                tx.send(Box::new(move |c| {
                    let _ = done.send(f(c));
                }))
                .map_err(|_| DbError::Other("the reader stopped".into()))?;
                wait.recv()
                    .map_err(|_| DbError::Other("the reader stopped".into()))?
            }
        }
    }

    pub fn rows(
        &self,
        sql: impl Into<String>,
        params: impl Into<Vec<Value>>,
    ) -> Result<Vec<Row>, DbError> {
        let (sql, params) = (sql.into(), params.into());
        self.with(move |c| c.rows(&sql, &params))
    }

    pub fn row(
        &self,
        sql: impl Into<String>,
        params: impl Into<Vec<Value>>,
    ) -> Result<Option<Row>, DbError> {
        Ok(self.rows(sql, params)?.into_iter().next())
    }

    pub fn int(
        &self,
        sql: impl Into<String>,
        params: impl Into<Vec<Value>>,
    ) -> Result<i64, DbError> {
        Ok(self.row(sql, params)?.map_or(0, |r| r.int(0)))
    }

    pub fn exec(
        &self,
        sql: impl Into<String>,
        params: impl Into<Vec<Value>>,
    ) -> Result<u64, DbError> {
        let (sql, params) = (sql.into(), params.into());
        self.with(move |c| c.exec(&sql, &params))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Reader::Sqlite(_) => Backend::Sqlite,
            Reader::Postgres(_) => Backend::Postgres,
        }
    }
}

enum Msg<J, R> {
    /// A job whose caller waits for the commit (and gets the job's answer).
    Wait(J, tokio::sync::oneshot::Sender<Result<R, String>>),
    /// A job nobody waits for.
    Forget(J),
}

/// The sending side of a writer thread applying jobs of type `J` in group-committed batches;
/// each job answers its caller with an `R` (a row id, by default).
pub struct GroupWriter<J, R = i64> {
    tx: mpsc::Sender<Msg<J, R>>,
}

impl<J, R> Clone for GroupWriter<J, R> {
    fn clone(&self) -> Self {
        GroupWriter {
            tx: self.tx.clone(),
        }
    }
}

impl<J: Send + 'static, R: Send + 'static> GroupWriter<J, R> {
    /// Starts the writer thread on `conn`; `apply` writes one job inside the batch's transaction
    /// and returns a value for its caller (a row id, say).
    pub fn start<F>(name: &str, conn: Conn, mut apply: F) -> std::io::Result<GroupWriter<J, R>>
    where
        F: FnMut(&mut Tx, &J) -> Result<R, DbError> + Send + 'static,
    {
        GroupWriter::start_batches(name, conn, move |conn, jobs| {
            conn.transaction(|tx| jobs.iter().map(|job| apply(tx, job)).collect())
        })
    }

    /// Starts the writer thread on `conn` with a function that writes a whole batch (in one
    /// transaction, or one statement) and returns one answer per job, in order: for stores
    /// that write a batch in fewer round trips than jobs.
    pub fn start_batches<F>(
        name: &str,
        mut conn: Conn,
        mut write: F,
    ) -> std::io::Result<GroupWriter<J, R>>
    where
        F: FnMut(&mut Conn, &[&J]) -> Result<Vec<R>, DbError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Msg<J, R>>();
        let label = name.to_string();
        thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < 1024 {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    let jobs: Vec<&J> = batch
                        .iter()
                        .map(|m| match m {
                            Msg::Wait(j, _) | Msg::Forget(j) => j,
                        })
                        .collect();
                    let outcome = write(&mut conn, &jobs).and_then(|a| {
                        if a.len() == jobs.len() {
                            Ok(a)
                        } else {
                            Err(DbError::Other("a batch answered out of turn".into()))
                        }
                    });
                    let mut answers = match outcome {
                        Ok(a) => Ok(a.into_iter()),
                        Err(e) => {
                            tracing::error!("{label}: {e}");
                            Err(e.to_string())
                        }
                    };
                    for m in batch {
                        // One answer per job, waited for or not.
                        let answer = match &mut answers {
                            Ok(a) => a.next().ok_or_else(|| "no answer".to_string()),
                            Err(e) => Err(e.clone()),
                        };
                        if let Msg::Wait(_, done) = m {
                            let _ = done.send(answer);
                        }
                    }
                }
            })?;
        Ok(GroupWriter { tx })
    }

    /// Writes a job and waits until it is committed; returns what `apply` returned for it.
    pub async fn write(&self, job: J) -> Result<R, String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send(Msg::Wait(job, done))
            .map_err(|_| "the writer stopped".to_string())?;
        wait.await.map_err(|_| "the writer stopped".to_string())?
    }

    /// Writes a job without waiting.
    pub fn send(&self, job: J) {
        let _ = self.tx.send(Msg::Forget(job));
    }
}

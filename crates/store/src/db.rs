//! SQLite plumbing shared by the stores (ledger, events): opening in WAL mode, and a
//! group-commit writer thread. Callers hand over a job and wait for its commit, so a row is
//! durable before the caller answers anyone, while concurrent callers share one commit.

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use rusqlite::{Connection, Transaction};

/// Opens (creating) a database in WAL mode with `schema` applied.
pub fn open(path: &Path, schema: &str) -> Result<Connection, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| at(&e))?;
    }
    create_private(path).map_err(|e| at(&e))?;
    let conn = Connection::open(path).map_err(|e| at(&e))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| at(&e))?;
    // WAL + NORMAL: a commit survives the process dying (SIGKILL), not the machine losing power.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| at(&e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| at(&e))?;
    conn.execute_batch(schema).map_err(|e| at(&e))?;
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
    pub fn start<F>(
        name: &str,
        mut conn: Connection,
        mut apply: F,
    ) -> std::io::Result<GroupWriter<J, R>>
    where
        F: FnMut(&Transaction, &J) -> rusqlite::Result<R> + Send + 'static,
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
                    let mut answers = Vec::with_capacity(batch.len());
                    let outcome = (|| -> rusqlite::Result<()> {
                        let tx = conn.transaction()?;
                        for m in &batch {
                            let job = match m {
                                Msg::Wait(j, _) | Msg::Forget(j) => j,
                            };
                            answers.push(apply(&tx, job)?);
                        }
                        tx.commit()
                    })();
                    if let Err(e) = &outcome {
                        tracing::error!("{label}: {e}");
                    }
                    let mut answers = answers.into_iter();
                    for m in batch {
                        let answer = answers.next();
                        if let Msg::Wait(_, done) = m {
                            let answer = match (&outcome, answer) {
                                (Ok(()), Some(a)) => Ok(a),
                                (Ok(()), None) => Err("no answer".to_string()),
                                (Err(e), _) => Err(e.to_string()),
                            };
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

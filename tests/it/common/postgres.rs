//! A real PostgreSQL server for the tests: a throwaway cluster in a temporary directory, on a
//! free loopback port, with password authentication (so the URL carries a secret, as in
//! production). `.ci/run` starts one and names it in `CREDITOPS_TEST_POSTGRES`; without it a
//! test starts its own from the installed server binaries. Each test gets a database of its
//! own. Without PostgreSQL the tests say so and skip (and fail under CI, which must have it).
//! The team-scale benchmark includes this file too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "pg-secret-3vR8q";

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
fn bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok();
    if let Some(o) = out.filter(|o| o.status.success()) {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return Some(p);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

/// Runs a server binary as the `postgres` user when this is root (the server refuses root).
fn as_owner(bin: &Path, args: &[&str]) -> Command {
    let root = std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

/// A cluster this process started; stopped (and its files removed) when dropped, and by a
/// watchdog if this process dies first.
pub struct Cluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Whether commits reach the disk (a benchmark's cluster); tests run without fsync.
    durable: bool,
}

impl Cluster {
    /// Starts a new cluster for tests (no fsync), or None when PostgreSQL is not installed.
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(false)
    }

    /// Starts a new cluster whose commits are flushed to disk as in production.
    pub fn start_durable() -> Option<Cluster> {
        Cluster::start_with(true)
    }

    fn start_with(durable: bool) -> Option<Cluster> {
        let bin = bindir()?;
        let dir = std::env::temp_dir().join(format!(
            "creditops-pg-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).ok()?;
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&pwfile)
            .status();
        let data = dir.join("data");
        let ok = as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str()?,
                "-U",
                "creditops",
                "--pwfile",
                pwfile.to_str()?,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?
        .success();
        assert!(ok, "initdb failed in {}", dir.display());
        let port = free_port();
        let cluster = Cluster {
            port,
            dir,
            bin,
            durable,
        };
        cluster.start_server();
        // The watchdog: stops the server once this test process is gone.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 1; done; runuser -u postgres -- {ctl} -D {data} stop -m immediate >/dev/null 2>&1 || {ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                ctl = cluster.bin.join("pg_ctl").display(),
                data = cluster.data().display(),
                dir = cluster.dir.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts (or restarts) the server and waits until it takes connections.
    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c fsync={}",
            self.port,
            self.dir.display(),
            if self.durable { "on" } else { "off" }
        );
        let log = self.dir.join("log");
        let ok = self.pg_ctl(&[
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap_or_default(),
            "-w",
            "-t",
            "60",
            "start",
        ]);
        assert!(
            ok,
            "PostgreSQL did not start; see {}/log",
            self.dir.display()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL is not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `pg_ctl -D DATA ARGS…` quietly; whether it succeeded.
    fn pg_ctl(&self, args: &[&str]) -> bool {
        let data = self.data();
        let mut all = vec!["-D", data.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        as_owner(&self.bin.join("pg_ctl"), &all)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server at once (connections dropped, as in a crash or failover).
    pub fn stop_server(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }

    pub fn admin_url(&self) -> String {
        format!(
            "postgres://creditops:{PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server the tests share: CI's (`CREDITOPS_TEST_POSTGRES`, an admin URL), or one this
/// process started.
fn shared_admin_url() -> Option<String> {
    static SHARED: OnceLock<Option<(String, Option<Cluster>)>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            if let Ok(url) = std::env::var("CREDITOPS_TEST_POSTGRES") {
                return Some((url, None));
            }
            let c = Cluster::start()?;
            Some((c.admin_url(), Some(c)))
        })
        .as_ref()
        .map(|(u, _)| u.clone())
}

/// A URL without its password, and the password (for PGPASSWORD), as a process argument must
/// carry it.
pub fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    match rest.split_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, password)) => (format!("{scheme}://{user}@{host}"), password.to_string()),
            None => (url.to_string(), String::new()),
        },
        None => (url.to_string(), String::new()),
    }
}

/// Says why a PostgreSQL test cannot run; under CI that is a failure.
pub fn unavailable(test: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: PostgreSQL is needed under CI (install the postgresql package)"
    );
    eprintln!("skipped {test}: PostgreSQL is not installed here");
}

/// A fresh database on the shared server: its URL (with the password), or None to skip.
pub fn database(test: &str) -> Option<String> {
    let Some(admin) = shared_admin_url() else {
        unavailable(test);
        return None;
    };
    Some(create_database(&admin, test))
}

/// Creates a database named after the test on the server of `admin_url`; returns its URL.
pub fn create_database(admin_url: &str, test: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "t_{}_{}_{}",
        test.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(30)
            .collect::<String>()
            .to_lowercase(),
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let admin = admin_url.to_string();
    let create = format!("CREATE DATABASE {name}");
    // The sync driver runs a runtime of its own: keep it off the test's.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
        c.batch_execute(&create).expect("create database");
    })
    .join()
    .expect("create database");
    match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("admin URL without a database"),
    }
}

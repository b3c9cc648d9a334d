//! Helpers shared by the integration tests: a sandbox on a free loopback port and a client.

#![allow(dead_code)]

use std::net::SocketAddr;

use creditops_core::credits::{CreditModel, Editions};
use creditops_sandbox::{spawn, SandboxConfig, SandboxHandle};
use serde_json::{json, Value};

pub const LOOPBACK: &str = "127.0.0.1:0";

pub fn loopback() -> SocketAddr {
    LOOPBACK.parse().unwrap()
}

/// A model whose `tiny` edition has `limit` credits and the given concurrency, for limit tests.
pub fn tiny_model(limit: u64, concurrency: u32, sub_concurrency: u32) -> CreditModel {
    let extra = format!(
        "[[edition]]\nname = \"tiny\"\nbase = {limit}\nper_licence = 0\nconcurrency = {concurrency}\nsub_concurrency = {sub_concurrency}\n"
    );
    CreditModel {
        editions: Editions::builtin().with_overrides(&extra, "test").unwrap(),
        ..Default::default()
    }
}

pub struct Sb {
    pub handle: SandboxHandle,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Sb {
    pub async fn start(config: SandboxConfig) -> Sb {
        let handle = spawn(config, loopback()).await.expect("sandbox starts");
        let base = handle.base_url();
        let http = reqwest::Client::new();
        let token = handle.state.mint_token();
        Sb {
            handle,
            base,
            token,
            http,
        }
    }

    pub async fn default() -> Sb {
        Sb::start(SandboxConfig::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, self.url(path))
            .header("Authorization", format!("Zoho-oauthtoken {}", self.token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v, headers)
    }

    pub async fn usage(&self) -> Value {
        self.http
            .get(self.url("/__sandbox/usage"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn used(&self) -> u64 {
        self.usage().await["used"].as_u64().unwrap()
    }

    pub async fn advance(&self, seconds: i64) {
        let r = self
            .http
            .post(self.url("/__sandbox/clock"))
            .json(&json!({"advance_seconds": seconds}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

pub fn leads(n: usize, tag: &str) -> Value {
    json!({"data": (0..n).map(|i| json!({"Last_Name": format!("{tag}{i}"), "Email": format!("{tag}{i}@test.example")})).collect::<Vec<_>>()})
}

/// Runs the creditops binary with its folders under `home`.
pub fn creditops(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args(args)
        .env("CREDITOPS_CONFIG_DIR", home.join("config"))
        .env("CREDITOPS_DATA_DIR", home.join("data"))
        .env("CREDITOPS_CACHE_DIR", home.join("cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("creditops runs")
}

/// The JSON a successful command printed.
pub fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// A queue of 27 calls as JSONL lines: 23 single-record inserts across Leads, Contacts and
/// Deals, a metadata GET twice, and a search on an email followed by the insert of it.
pub fn mixed_queue_lines(email: &str) -> Vec<Value> {
    let mut lines = Vec::new();
    for (i, m) in ["Leads", "Contacts", "Deals"]
        .iter()
        .cycle()
        .take(23)
        .enumerate()
    {
        let rec = match *m {
            "Deals" => json!({"Deal_Name": format!("D{i}"), "Stage": "Qualification"}),
            _ => json!({"Last_Name": format!("N{i}")}),
        };
        lines.push(json!({"id": format!("w{i}"), "method": "POST", "path": format!("/crm/v8/{m}"), "body": {"data": [rec]}}));
    }
    for i in 0..2 {
        lines.push(json!({"id": format!("f{i}"), "method": "GET", "path": "/crm/v8/settings/fields", "query": {"module": "Leads"}}));
    }
    lines.push(json!({"id": "s", "method": "GET", "path": "/crm/v8/Contacts/search", "query": {"criteria": format!("(Email:equals:{email})")}}));
    lines.push(json!({"id": "u", "method": "POST", "path": "/crm/v8/Contacts", "body": {"data": [{"Last_Name": "New", "Email": email}]}}));
    lines
}

/// Writes config.toml (mode 0600, as it may hold secrets) into a config folder.
pub fn write_config(dir: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(&file, text).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// An access token minted through a proxy (`base`) the way an SDK gets one: a refresh grant
/// for `client_id`, from the refresh token `user` (a user of that client). The proxy learns
/// whom the token belongs to from the answer.
pub async fn token_via(base: &str, client_id: &str, user: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/oauth/v2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("client_secret", "test-secret"),
            ("refresh_token", user),
        ])
        .send()
        .await
        .expect("token endpoint answers")
        .json()
        .await
        .expect("a JSON token answer");
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {v}"))
        .to_string()
}

/// A small tmpfs mounted for a test (a disk that fills up), unmounted when dropped. None where
/// this process may not mount one (not root, or no mount permission): the caller then uses an
/// injected write error instead, and says so.
pub struct SmallDisk {
    pub dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(kib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Makes room: remounts the tmpfs at a new size, keeping what it holds.
    pub fn grow(&self, kib: u32) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k")])
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remounting the tmpfs failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The base URL a server announces on its first line (`listening on http://ADDR`), read from
/// its stdout or stderr.
pub fn announced_base(stream: impl std::io::Read) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut line)
        .expect("the server announces its address");
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not an announcement: {line:?}"))
        .to_string()
}

pub mod postgres;

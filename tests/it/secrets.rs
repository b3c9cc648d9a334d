//! Secrets at rest and in sight: channel tokens never kept (stored events, tails, exports, the
//! channel store keeps a hash), store files private, tokens passed without `ps` seeing them,
//! queues and plans without credentials, the sandbox's operator endpoints kept to sandboxes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};
use creditops_net::receiver::{spawn as spawn_receiver, ReceiverConfig};
use creditops_sandbox::SandboxConfig;
use creditops_store::events::{Channel, EventReader, EventWriter};
use serde_json::{json, Value};

use crate::common::{creditops, loopback, Sb};

const TOKEN: &str = "c0ffee-channel-token-4242";

fn notification(channel: &str, token: &str) -> Value {
    json!({"server_time": 1718117126473u64, "module": "Leads", "ids": ["1"], "operation": "insert",
           "channel_id": channel, "token": token, "query_params": {}, "affected_fields": []})
}

fn file_holds(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A store's file and its -wal (where fresh writes sit) hold `needle`.
fn store_holds(path: &Path, needle: &str) -> bool {
    file_holds(path, needle) || file_holds(&path.with_extension("sqlite-wal"), needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_tokens_are_never_kept_and_a_running_receiver_learns_new_channels() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.sqlite");
    let r = spawn_receiver(ReceiverConfig::new(store.clone()), loopback())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/notifications", r.base_url());
    // A channel enabled after the receiver started (what `creditops channels enable` does
    // while `listen` runs): before, Zoho's callbacks got 403 until a restart.
    EventWriter::open(&store)
        .unwrap()
        .save_channel(Channel {
            channel_id: "31".into(),
            token_hash: creditops_core::secret::token_hash(TOKEN),
            events: vec!["Leads.create".into()],
            notify_url: url.clone(),
            expiry_ms: chrono::Utc::now().timestamp_millis() + 3_600_000,
            profile: "p".into(),
        })
        .await
        .unwrap();
    let ok = http
        .post(&url)
        .json(&notification("31", TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the new channel is accepted at once");
    let bad = http
        .post(&url)
        .json(&notification("31", "wrong-token-value"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
    // Neither the accepted token nor the rejected one is kept anywhere in the store.
    drop(r);
    let reader = EventReader::open(&store).unwrap();
    let events = reader.page(None, 0, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert!(
        !events[0].body_text().contains(TOKEN),
        "{}",
        events[0].body_text()
    );
    assert!(events[0].body_text().contains("\"token\":\"***\""));
    assert!(!events[0].to_json().to_string().contains(TOKEN));
    assert!(
        !store_holds(&store, TOKEN),
        "the token is in the store file"
    );
    assert!(
        !store_holds(&store, "wrong-token-value"),
        "a rejected token is in the store"
    );
    // The export (what `events export` prints) has no token either.
    let home = tempfile::tempdir().unwrap();
    let out = creditops(
        home.path(),
        &[
            "events",
            "export",
            "--json",
            "--store",
            store.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(TOKEN));
}

#[tokio::test]
async fn a_store_with_tokens_in_the_clear_is_hashed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.sqlite");
    drop(EventWriter::open(&store).unwrap());
    {
        // What an older creditops wrote.
        let conn = rusqlite::Connection::open(&store).unwrap();
        conn.execute(
            "INSERT INTO channels (channel_id, token, events, notify_url, expiry_ms, profile) VALUES ('8', ?1, 'Leads.create', 'http://x', 9999999999999, 'p')",
            [TOKEN],
        )
        .unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    assert!(store_holds(&store, TOKEN));
    let w = EventWriter::open(&store).unwrap();
    drop(w);
    {
        let conn = rusqlite::Connection::open(&store).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
            .unwrap();
    }
    assert!(!store_holds(&store, TOKEN), "the clear token survived");
    let r = spawn_receiver(ReceiverConfig::new(store.clone()), loopback())
        .await
        .unwrap();
    let ok = reqwest::Client::new()
        .post(format!("{}/hooks/notifications", r.base_url()))
        .json(&notification("8", TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "verified against the hash");
}

#[test]
fn listen_takes_channel_tokens_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "from-a-file-token\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args(["listen", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("ev.sqlite"))
        .arg("--channel")
        .arg(format!("71=file:{}", token_file.display()))
        .args(["--channel", "72=env:CREDITOPS_TEST_CHANNEL_TOKEN"])
        .env("CREDITOPS_TEST_CHANNEL_TOKEN", "from-the-environment")
        .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
        .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = crate::common::announced_base(child.stderr.take().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let statuses = rt.block_on(async {
        let http = reqwest::Client::new();
        let mut s = Vec::new();
        for (ch, tok) in [
            ("71", "from-a-file-token"),
            ("72", "from-the-environment"),
            ("72", "guess"),
        ] {
            s.push(
                http.post(format!("{base}/hooks/notifications"))
                    .json(&notification(ch, tok))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        s
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(statuses, vec![200, 200, 403]);
    // A variable that is not set is a clear error, without the token in it.
    let out = creditops(
        dir.path(),
        &[
            "listen",
            "--listen",
            "127.0.0.1:0",
            "--channel",
            "9=env:CREDITOPS_NO_SUCH_VAR",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREDITOPS_NO_SUCH_VAR"));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sb = creditops_sandbox::spawn(
        SandboxConfig {
            data_dir: Some(d.join("sandbox")),
            ..Default::default()
        },
        loopback(),
    )
    .await
    .unwrap();
    let _ = sb.state.mint_token();
    let cache = std::sync::Arc::new(
        creditops_store::cache::MetadataCache::open(d.join("metadata.sqlite"), Default::default())
            .unwrap(),
    );
    let _p = spawn_proxy(
        ProxyConfig {
            cache: Some(cache),
            ..ProxyConfig::new(&sb.base_url(), d.join("ledger.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    let _h = spawn_proxy(
        ProxyConfig {
            hold: Some(d.join("held.jsonl")),
            ..ProxyConfig::new(&sb.base_url(), d.join("ledger2.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    drop(EventWriter::open(d.join("events.sqlite")).unwrap());
    for f in [
        d.join("sandbox/sandbox.sqlite"),
        d.join("metadata.sqlite"),
        d.join("ledger.sqlite"),
        d.join("held.jsonl"),
        d.join("events.sqlite"),
    ] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        let wal = f.with_extension("sqlite-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600, "{}", wal.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_plans_and_hold_files_keep_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.jsonl");
    std::fs::write(
        &queue,
        [
            r#"{"method":"POST","path":"/crm/v8/Leads?api_key=QK-SECRET&trigger=workflow","headers":{"Authorization":"Zoho-oauthtoken AT-SECRET","X-Api-Key":"XK-SECRET","X-Session-Token":"ST-SECRET","X-Integration":"erp"},"body":{"data":[{"Last_Name":"a"}]}}"#,
            r#"{"method":"GET","path":"/crm/v8/Leads","query":{"access_token":"QT-SECRET","fields":"Last_Name"},"headers":{"Cookie":"CK-SECRET"}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let plan = dir.path().join("plan.json");
    let out = creditops(
        dir.path(),
        &[
            "plan",
            queue.to_str().unwrap(),
            "--out",
            plan.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    for secret in [
        "QK-SECRET",
        "AT-SECRET",
        "XK-SECRET",
        "ST-SECRET",
        "QT-SECRET",
        "CK-SECRET",
    ] {
        assert!(!text.contains(secret), "{secret} in the plan file");
    }
    assert!(
        text.contains("X-Integration") && text.contains("trigger"),
        "the rest is kept"
    );
    assert_eq!(mode(&plan), 0o600);
    // Hold mode: the query's credentials stay out of the queue file too.
    let sb = Sb::default().await;
    let held = dir.path().join("held.jsonl");
    let p = spawn_proxy(
        ProxyConfig {
            hold: Some(held.clone()),
            ..ProxyConfig::new(&sb.base, dir.path().join("l.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .get(format!(
            "{}/crm/v8/Leads?fields=Last_Name&access_token=HQ-SECRET",
            p.base_url()
        ))
        .header("Authorization", "Zoho-oauthtoken HA-SECRET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let text = std::fs::read_to_string(&held).unwrap();
    assert!(
        !text.contains("HQ-SECRET") && !text.contains("HA-SECRET"),
        "{text}"
    );
    assert!(text.contains("fields"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_operator_token_obeys_its_client_and_stays_off_zoho() {
    let sb = Sb::start(SandboxConfig {
        client_id: Some("1000.ONLY".into()),
        client_secret: Some(creditops_core::secret::Secret::new("only-secret")),
        ..Default::default()
    })
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/__sandbox/token", sb.base);
    assert_eq!(http.post(&url).send().await.unwrap().status(), 401);
    let r = http
        .post(&url)
        .query(&[("client_id", "1000.ONLY"), ("client_secret", "only-secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A proxy in front of Zoho never forwards the sandbox's operator endpoints (no network:
    // refused before any request).
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_proxy(
        ProxyConfig::new("https://sandbox.zohoapis.eu", dir.path().join("l.sqlite")),
        loopback(),
    )
    .await
    .unwrap();
    let r = http
        .post(format!("{}/__sandbox/token", p.base_url()))
        .header("Authorization", "Zoho-oauthtoken secret-to-keep")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "INVALID_URL_PATTERN");
}

/// A PostgreSQL URL's password stays in the 0600 config: never in `config show`, an error, or
/// process arguments (`--ledger` refuses a URL that carries one).
#[test]
fn store_urls_keep_their_passwords_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "pgPass-7Zq";
    crate::common::write_config(
        &dir.path().join("config"),
        &format!(
            "[store]\nurl = \"postgres://ops:{secret}@127.0.0.1:9/creditops\"\n[profiles.team]\nledger = \"postgresql://ops:{secret}@127.0.0.1:9/team\"\n"
        ),
    );
    let out = creditops(dir.path(), &["config", "show"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("postgres://127.0.0.1:9/creditops"),
        "{shown}"
    );
    assert!(!shown.contains(secret), "{shown}");
    // The database is not there: the error names the store, not the password.
    let out = creditops(dir.path(), &["usage", "--profile", "team"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("127.0.0.1:9/team"), "{err}");
    assert!(!err.contains(secret), "{err}");
    let out = creditops(
        dir.path(),
        &[
            "usage",
            "--ledger",
            &format!("postgres://ops:{secret}@127.0.0.1:9/x"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PGPASSWORD"), "{err}");
    assert!(!err.contains(secret), "{err}");
    // A store URL that is not PostgreSQL's is refused with its line and key.
    crate::common::write_config(
        &dir.path().join("config"),
        "[store]\nurl = \"mysql://h/db\"\n",
    );
    let out = creditops(dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("url"), "{err}");
}

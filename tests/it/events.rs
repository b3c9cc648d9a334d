//! The webhook receiver: verification, limits, durability under load, restart, CLI.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use common::{leads, loopback, Sb};
use creditops_config::WebhookSecret;
use creditops_core::secret::Secret;
use proptest::prelude::*;
use serde_json::{json, Value};
use {
    creditops_net::receiver::spawn, creditops_net::receiver::ReceiverConfig,
    creditops_store::events::EventReader,
};

fn config(dir: &std::path::Path) -> ReceiverConfig {
    let mut c = ReceiverConfig::new(dir.join("events.sqlite"));
    c.channels.insert("1000000068001".into(), "TOKEN_1".into());
    c.workflow.insert(
        "deal-won".into(),
        WebhookSecret {
            secret: Secret::new("s3cret"),
            header: Some("X-Hook-Secret".into()),
        },
    );
    c
}

fn notification(channel: &str, token: &str, ids: &[&str]) -> Value {
    json!({"server_time": 1718117126473u64, "query_params": {}, "module": "Leads", "resource_uri": "https://www.zohoapis.com/crm/v8/Leads",
           "ids": ids, "affected_fields": [], "operation": "insert", "channel_id": channel, "token": token})
}

#[tokio::test]
async fn notifications_are_verified_by_channel_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let r = spawn(config(dir.path()), loopback()).await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/notifications", r.base_url());
    let ok = http
        .post(&url)
        .json(&notification(
            "1000000068001",
            "TOKEN_1",
            &["5725767000003000064"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    for (ch, tok, reason) in [
        ("1000000068001", "WRONG", "does not match"),
        ("42", "TOKEN_1", "not one creditops knows"),
    ] {
        let r = http
            .post(&url)
            .json(&notification(ch, tok, &["1"]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains(reason));
    }
    let no_channel = http
        .post(&url)
        .json(&json!({"module": "Leads"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_channel.status(), 403);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reader = EventReader::open(dir.path().join("events.sqlite")).unwrap();
    assert_eq!(reader.count().unwrap(), 1);
    let e = &reader.page(None, 0, 10).unwrap()[0];
    assert!(e.new.verified);
    assert_eq!(e.new.summary.ids, vec!["5725767000003000064"]);
    assert_eq!(e.new.summary.module.as_deref(), Some("Leads"));
    assert_eq!(reader.rejected_count().unwrap(), 3);
    let rejected = reader.rejected(10).unwrap();
    assert!(rejected
        .iter()
        .any(|(_, _, reason)| reason.contains("token does not match")));
    // The verification token is never stored.
    assert!(!format!("{:?}", e.new.headers).contains("TOKEN_1") && e.new.summary.token.is_none());
}

#[tokio::test]
async fn workflow_hooks_bodies_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.body_limit = 4096;
    let r = spawn(cfg, loopback()).await.unwrap();
    let http = reqwest::Client::new();
    let base = r.base_url();
    // A secret in the configured header, or in ?secret=.
    let s = http
        .post(format!("{base}/hooks/workflow/deal-won"))
        .header("X-Hook-Secret", "s3cret")
        .form(&[("module", "Deals"), ("ids", "11,12"), ("amount", "900")])
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 200);
    let s = http
        .post(format!("{base}/hooks/workflow/deal-won?secret=s3cret"))
        .header("content-type", "text/plain")
        .body("deal 13 won")
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 200);
    let s = http
        .post(format!("{base}/hooks/workflow/deal-won"))
        .body("no secret")
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 403);
    // A hook with no secret configured is accepted, unverified.
    let s = http
        .post(format!("{base}/hooks/workflow/anything"))
        .json(&json!({"module": "Tasks", "id": "7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 200);
    let s = http.post(format!("{base}/hooks/bulk")).json(&json!({"data": [{"id": "99", "operation": "write", "state": "COMPLETED", "resource": [{"module": {"api_name": "Leads"}}]}]})).send().await.unwrap();
    assert_eq!(s.status(), 200);
    // Limits and bad input.
    assert_eq!(
        http.post(format!("{base}/hooks/bulk"))
            .body(vec![b'x'; 5000])
            .send()
            .await
            .unwrap()
            .status(),
        413
    );
    assert_eq!(
        http.post(format!("{base}/hooks/bulk"))
            .header("content-type", "application/json")
            .body("{\"data\": [")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        http.post(format!("{base}/hooks/elsewhere"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{base}/hooks/bulk"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(
        http.post(format!("{base}/hooks/workflow/../../etc"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reader = EventReader::open(dir.path().join("events.sqlite")).unwrap();
    let page = reader.page(None, 0, 10).unwrap();
    assert_eq!(page.len(), 4);
    let bulk = &page[0];
    assert_eq!(
        (
            bulk.new.summary.module.as_deref(),
            bulk.new.summary.operation.as_deref(),
            bulk.new.verified
        ),
        (Some("Leads"), Some("write:COMPLETED"), false)
    );
    let form = page
        .iter()
        .find(|e| {
            e.new
                .content_type
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap();
    assert_eq!(form.new.summary.ids, vec!["11", "12"]);
    assert!(form.new.verified);
    assert!(
        form.new
            .headers
            .iter()
            .any(|(k, v)| k == "x-hook-secret" && v == "***"),
        "secrets are not stored: {:?}",
        form.new.headers
    );
    let raw = page
        .iter()
        .find(|e| e.new.content_type == "text/plain")
        .unwrap();
    assert_eq!(raw.to_json()["body"], "deal 13 won");
    assert_eq!(
        reader.rejected_count().unwrap(),
        6,
        "no secret, too large, malformed, two unknown paths, GET"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_callbacks_flow_and_forwarding_reports_status() {
    let dir = tempfile::tempdir().unwrap();
    // A forward target that answers 202.
    type Forwarded = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let got: Forwarded = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/in",
        post(move |h: axum::http::HeaderMap, b: axum::body::Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push((
                    h.get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string(),
                    b.to_vec(),
                ));
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fwd = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut cfg = ReceiverConfig::new(dir.path().join("events.sqlite"));
    cfg.forward_to = Some(fwd);
    let r = spawn(cfg, loopback()).await.unwrap();
    r.state.know_channel("777", "tok-777");
    let mut tail = r.state.tail.subscribe();
    let sb = Sb::default().await;
    let watch = json!({"watch": [{"channel_id": "777", "events": ["Leads.create"], "notify_url": format!("{}/hooks/notifications", r.base_url()), "token": "tok-777"}]});
    assert_eq!(
        sb.call("POST", "/crm/v8/actions/watch", Some(watch))
            .await
            .0,
        200
    );
    let (_, ins, _) = sb
        .call("POST", "/crm/v8/Leads", Some(leads(2, "flow")))
        .await;
    let e = tokio::time::timeout(Duration::from_secs(5), tail.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(e.new.verified);
    assert_eq!(e.new.summary.operation.as_deref(), Some("insert"));
    assert_eq!(e.new.summary.ids.len(), 2);
    assert_eq!(
        e.new.summary.ids[0],
        ins["data"][0]["details"]["id"].as_str().unwrap()
    );
    assert_eq!(e.forward_status.as_deref(), Some("202"));
    let forwarded = got.lock().unwrap().clone();
    assert_eq!(forwarded.len(), 1);
    assert!(forwarded[0].0.starts_with("application/json"));
    assert_eq!(forwarded[0].1, e.new.body, "the original body, unchanged");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stored = EventReader::open(dir.path().join("events.sqlite"))
        .unwrap()
        .get(e.id)
        .unwrap()
        .unwrap();
    assert_eq!(stored.forward_status.as_deref(), Some("202"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_events_stored_exactly_once_and_kept_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let r = spawn(config(dir.path()), loopback()).await.unwrap();
    let url = format!("{}/hooks/notifications", r.base_url());
    let acked = Arc::new(AtomicU64::new(0));
    let total = 100_000u64;
    let clients = 32u64;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (url, acked) = (url.clone(), acked.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0..total / clients {
                    let marker = format!("{c}-{i}");
                    let body = notification("1000000068001", "TOKEN_1", &[&marker]);
                    if let Ok(resp) = http.post(&url).json(&body).send().await {
                        if resp.status().is_success() {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.load(Ordering::Relaxed);
    assert_eq!(acked, total, "every request was acknowledged");
    r.shutdown().await;
    // Restart on the same store: the history is there, each event once.
    let r2 = spawn(config(dir.path()), loopback()).await.unwrap();
    let reader = EventReader::open(dir.path().join("events.sqlite")).unwrap();
    assert_eq!(reader.count().unwrap(), total);
    let mut seen = HashSet::new();
    let mut after = 0;
    loop {
        let page = reader.since(0, after, 10_000).unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page {
            assert!(
                seen.insert(e.new.summary.ids[0].clone()),
                "duplicate {}",
                e.new.summary.ids[0]
            );
        }
    }
    assert_eq!(seen.len() as u64, total);
    assert_eq!(
        reader.page(None, 0, 5).unwrap().len(),
        5,
        "the tail pages history after a restart"
    );
    drop(r2);
}

#[test]
fn listen_and_events_commands() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_creditops");
    let store = dir.path().join("ev.sqlite");
    let mut child = std::process::Command::new(exe)
        .args([
            "listen",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--channel",
            "55=tok55",
            "--filter",
            "module=Leads",
            "--store",
        ])
        .arg(&store)
        .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
        .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = crate::common::announced_base(child.stderr.take().unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let n = notification("55", "tok55", &["1", "2"]);
        assert_eq!(
            http.post(format!("{base}/hooks/notifications"))
                .json(&n)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let mut deals = n.clone();
        deals["module"] = json!("Deals");
        assert_eq!(
            http.post(format!("{base}/hooks/notifications"))
                .json(&deals)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    });
    // Read the first event line on a thread, so a missing line fails the test instead of hanging it.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20));
    child.kill().unwrap();
    child.wait().unwrap();
    let first = first.expect("an event line within 20 s");
    let v: Value = serde_json::from_str(&first).unwrap();
    for key in [
        "received_at",
        "kind",
        "module",
        "operation",
        "ids",
        "channel_id",
        "verified",
    ] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    assert_eq!(
        (
            v["kind"].as_str(),
            v["module"].as_str(),
            v["verified"].as_bool()
        ),
        (Some("notification"), Some("Leads"), Some(true))
    );
    // Both were stored; the filter only narrowed the tail.
    let run = |args: &[&str]| {
        std::process::Command::new(exe)
            .args(args)
            .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
            .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap()
    };
    let out = run(&[
        "events",
        "export",
        "--json",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let csv = run(&[
        "events",
        "export",
        "--since",
        "1h",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout).lines().count(),
        3,
        "header and two rows"
    );
    let bad = run(&[
        "events",
        "export",
        "--since",
        "yesterday",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let missing = run(&[
        "events",
        "replay",
        "999",
        "--to",
        "http://127.0.0.1:9/x",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let bad_channel = run(&["listen", "--channel", "nope"]);
    assert_eq!(bad_channel.status.code(), Some(2));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(ct in prop::sample::select(vec!["application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/json; charset=utf-8"]),
                          bytes in prop::collection::vec(any::<u8>(), 0..300),
                          filter in "[a-z=! .0-9]{0,40}") {
        use creditops_core::webhook::{body, summary, Filter, Kind};
        if let Ok(b) = body(ct, &bytes) {
            for k in [Kind::Notification, Kind::Bulk, Kind::Workflow] {
                let s = summary(k, &b);
                if let Ok(f) = Filter::parse(&filter) {
                    let _ = f.matches(k, None, &s, true, "x");
                }
            }
            let _ = b.to_json();
        }
    }

    #[test]
    fn json_shaped_notifications_round_trip(ids in prop::collection::vec("[0-9]{1,19}", 0..20), module in "[A-Z][a-z]{1,10}") {
        use creditops_core::webhook::{body, summary, Kind};
        let v = json!({"module": module, "ids": ids, "operation": "update", "channel_id": 5, "token": "t"});
        let s = summary(Kind::Notification, &body("application/json", v.to_string().as_bytes()).unwrap());
        prop_assert_eq!(s.ids, ids);
        prop_assert_eq!(s.module, Some(module));
        prop_assert_eq!(s.channel_id.as_deref(), Some("5"));
    }
}

#[test]
fn channels_commands_against_a_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!("default_profile = \"local\"\n[profiles.local]\ntarget = \"embedded\"\napi_base = \"{}\"\nclient_id = \"1000.CH\"\nclient_secret = \"s\"\nrefresh_token = \"1000.r\"\n", sb.base),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            cfg.join("config.toml"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
            .args(args)
            .env("CREDITOPS_CONFIG_DIR", &cfg)
            .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap()
    };
    let out = run(&[
        "channels",
        "enable",
        "--module",
        "Leads",
        "--events",
        "create,edit",
        "--notify-url",
        "http://127.0.0.1:9/hooks/notifications",
        "--hours",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&run(&["channels", "list", "--json"]).stdout).unwrap();
    let id = list[0]["channel_id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["events"], json!(["Leads.create", "Leads.edit"]));
    assert!(list[0].get("token").is_none(), "tokens are not printed");
    let (s, watch, _) = rt.block_on(sb.call("GET", "/crm/v8/actions/watch", None));
    assert_eq!(s, 200);
    assert_eq!(
        watch["watch"][0]["channel_id"]
            .to_string()
            .trim_matches('"'),
        id
    );
    // Two hours left is inside the default 6-hour renewal window.
    let out = run(&["channels", "renew", "--hours", "48"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 channel(s) renewed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&run(&["channels", "list", "--json"]).stdout).unwrap();
    assert!(
        list[0]["expiry_ms"].as_i64().unwrap()
            > chrono::Utc::now().timestamp_millis() + 40 * 3_600_000
    );
    let out = run(&["channels", "disable", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        rt.block_on(sb.call("GET", "/crm/v8/actions/watch", None)).0,
        204
    );
    let list: Value = serde_json::from_slice(&run(&["channels", "list", "--json"]).stdout).unwrap();
    assert_eq!(list, json!([]));
    let out = run(&["channels", "enable", "--module", "Leads", "--hours", "500"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn idle_sockets_from_one_client_do_not_keep_a_valid_webhook_out() {
    // The receiver runs with 256 descriptors; one client opens 300 sockets and sends nothing.
    // Before, they took every descriptor and Zoho's callback went unanswered.
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_creditops");
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{exe}' listen --listen 127.0.0.1:0 --channel 77=tok77 --store '{}'",
            dir.path().join("ev.sqlite").display()
        ))
        .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
        .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = crate::common::announced_base(child.stderr.take().unwrap());
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let idle: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| std::net::TcpStream::connect(addr).ok())
        .collect();
    assert!(idle.len() >= 256, "only {} sockets opened", idle.len());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        // Zoho is another client: another loopback address.
        let http = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            // Sooner than the idle sockets' own header timeout (10 s) closes them.
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap();
        http.post(format!("{base}/hooks/notifications"))
            .json(&notification("77", "tok77", &["9"]))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    drop(idle);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status.ok(), Some(200), "the valid webhook was answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let r = creditops_net::receiver::spawn(
        creditops_net::receiver::ReceiverConfig::new(dir.path().join("ev.sqlite")),
        loopback(),
    )
    .await
    .unwrap();
    let mut sock = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    sock.write_all(b"POST /hooks/notifications HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The receiver's header deadline is 10 s; within 30 the connection must be closed (read
    // to its end: whatever it says first, it hangs up).
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut buf = [0u8; 256];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open after 30 s");
}

#[tokio::test]
async fn the_filter_limits_what_is_forwarded_and_everything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/in",
        post(move |b: axum::body::Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(b.to_vec());
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fwd = format!("http://{}/in", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut cfg = config(dir.path());
    cfg.forward_to = Some(fwd);
    cfg.forward_filter = Some(creditops_core::webhook::Filter::parse("module=Leads").unwrap());
    let r = spawn(cfg, loopback()).await.unwrap();
    let mut tail = r.state.tail.subscribe();
    let http = reqwest::Client::new();
    let url = format!("{}/hooks/notifications", r.base_url());
    for module in ["Leads", "Contacts"] {
        let mut n = notification("1000000068001", "TOKEN_1", &["5725767000003000064"]);
        n["module"] = json!(module);
        assert_eq!(http.post(&url).json(&n).send().await.unwrap().status(), 200);
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(5), tail.recv())
            .await
            .unwrap()
            .unwrap();
        seen.push((e.new.summary.module.clone(), e.forward_status.clone()));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (Some("Contacts".to_string()), None),
            (Some("Leads".to_string()), Some("202".to_string())),
        ],
        "only the Leads event is forwarded"
    );
    assert_eq!(got.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stored = EventReader::open(dir.path().join("events.sqlite")).unwrap();
    assert_eq!(stored.count().unwrap(), 2, "both are stored");
}

#[tokio::test]
async fn the_store_keeps_keep_days_of_events() {
    use creditops_core::webhook::{Kind, Summary};
    use creditops_store::events::{EventWriter, NewEvent};
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let w = EventWriter::open(dir.path().join("events.sqlite")).unwrap();
    for age_days in [40, 10, 0] {
        w.insert(NewEvent {
            received_at_ms: now - age_days * 86_400_000,
            kind: Kind::Workflow,
            name: Some("deal-won".into()),
            summary: Summary::default(),
            verified: true,
            content_type: "application/json".into(),
            headers: vec![],
            body: b"{}".to_vec(),
        })
        .await
        .unwrap();
    }
    drop(w);
    let mut cfg = config(dir.path());
    cfg.keep_days = 30;
    let _r = spawn(cfg, loopback()).await.unwrap();
    let reader = EventReader::open(dir.path().join("events.sqlite")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reader.count().unwrap() != 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        reader.count().unwrap(),
        2,
        "the 40-day-old event is gone, the rest kept"
    );
}

#[tokio::test]
async fn the_rejected_requests_can_be_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.sqlite");
    let r = spawn(config(dir.path()), loopback()).await.unwrap();
    let url = format!("{}/hooks/notifications", r.base_url());
    let out = reqwest::Client::new()
        .post(&url)
        .json(&notification("42", "TOKEN_1", &["1"]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 403);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let home = dir.path().to_path_buf();
    let store_arg = store.to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking(move || {
        common::creditops(&home, &["events", "rejected", "--store", &store_arg])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("AT")
            && text.contains("/hooks/notifications")
            && text.contains("not one creditops knows"),
        "{text}"
    );
}

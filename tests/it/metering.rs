//! Metering: the client, the proxy and the ledger against the sandbox on loopback.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use common::{leads, loopback, tiny_model, Sb};
use creditops_core::credits::Editions;
use creditops_core::secret::Secret;
use creditops_net::client::{ClientError, Credentials, Endpoint, ZohoClient};
use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig, ProxyHandle};
use creditops_sandbox::SandboxConfig;
use creditops_store::ledger::Ledger;
use creditops_store::usage::{snapshot, LimitSource};
use reqwest::Method;
use serde_json::{json, Value};

fn proxy_config(upstream: &str, ledger: &std::path::Path) -> ProxyConfig {
    ProxyConfig::new(upstream, ledger)
}

fn client_via(proxy: &ProxyHandle, integration: &str) -> ZohoClient {
    let mut c = ZohoClient::new(
        Endpoint::local(&proxy.base_url()),
        Some(Credentials {
            client_id: format!("1000.{integration}"),
            client_secret: Secret::new("client-secret-value"),
            refresh_token: Secret::new("1000.refresh-token-value"),
        }),
    )
    .unwrap();
    c.integration = Some(integration.to_string());
    c
}

async fn call(
    c: &ZohoClient,
    m: Method,
    path: &str,
    q: &[(&str, &str)],
    body: Option<Value>,
) -> Result<u16, ClientError> {
    let q: Vec<(String, String)> = q
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.call(m, path, &q, body.as_ref()).await.map(|a| a.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_equals_the_sandbox_count_exactly() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.sqlite");
    let proxy = spawn_proxy(proxy_config(&sb.base, &ledger_path), loopback())
        .await
        .unwrap();
    let before_sandbox = sb.used().await;
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let c = client_via(&proxy, &format!("worker{worker}"));
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..15 {
                let tag = format!("w{worker}i{i}");
                statuses.push(call(&c, Method::POST, "/crm/v8/Leads", &[], Some(leads(1 + (i * 7) % 30, &tag))).await);
                statuses.push(call(&c, Method::GET, "/crm/v8/Leads", &[("fields", "Last_Name"), ("per_page", "5")], None).await);
                statuses.push(call(&c, Method::GET, "/crm/v8/settings/fields", &[("module", "Leads")], None).await);
                if i % 3 == 0 {
                    statuses.push(call(&c, Method::GET, "/crm/v8/Leads", &[("fields", "Last_Name"), ("cvid", "1")], None).await);
                    statuses.push(call(&c, Method::POST, "/crm/v8/coql", &[], Some(json!({"select_query": format!("select Last_Name from Leads where Last_Name like '{tag}%' limit 300")}))).await);
                    // Refused before pricing (101 records): no credits, on both sides.
                    statuses.push(call(&c, Method::POST, "/crm/v8/Contacts", &[], Some(leads(101, &tag))).await);
                    // One record fails validation inside its batch: still charged.
                    statuses.push(call(&c, Method::POST, "/crm/v8/Deals", &[], Some(json!({"data": [{"Deal_Name": tag, "Stage": "Qualification"}, {"Deal_Name": "x"}]}))).await);
                    statuses.push(call(&c, Method::POST, "/crm/v8/__composite_requests", &[], Some(json!({"__composite_requests": [{"method": "GET", "uri": "/crm/v8/org"}, {"method": "POST", "uri": "/crm/v8/Tasks", "body": {"data": [{"Subject": tag}]}}]}))).await);
                    statuses.push(call(&c, Method::GET, "/crm/v8/Leads/deleted", &[], None).await);
                }
            }
            statuses
        }));
    }
    let mut answered = 0;
    for t in tasks {
        for s in t.await.unwrap() {
            match s {
                Ok(_) | Err(ClientError::Zoho { .. }) => answered += 1,
                Err(e) => panic!("transport failure: {e}"),
            }
        }
    }
    assert!(answered >= 4 * 15 * 3);
    let sandbox_used = sb.used().await - before_sandbox;
    let ledger = Ledger::open(&ledger_path).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        ledger.used_at(now).unwrap(),
        sandbox_used,
        "metered = charged"
    );
    assert!(sandbox_used > 200, "a real workload: {sandbox_used}");
    assert_eq!(
        ledger.count().unwrap() as usize,
        answered,
        "every answered call is in the ledger"
    );
    let by_integration = ledger
        .breakdown(now, creditops_store::ledger::Group::Integration)
        .unwrap();
    assert_eq!(by_integration.len(), 4);
    assert!(by_integration.contains_key("worker2"));
    let by_api = ledger
        .breakdown(now, creditops_store::ledger::Group::Api)
        .unwrap();
    assert_eq!(by_api["refused:LIMIT_EXCEEDED"].credits, 0);
    assert_eq!(
        by_api["get_records_cvid"].credits,
        by_api["get_records_cvid"].calls * 3
    );
}

/// An alert receiver on loopback: its URL, and the alerts posted to it.
async fn alert_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/alert",
        post(move |b: axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(b.0);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alert", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn the_limit_is_learned_from_zohos_header_and_alerts_fire_once() {
    let model = tiny_model(200, 20, 10);
    let sb = Sb::start(SandboxConfig {
        edition: "tiny".into(),
        users: 0,
        model,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.sqlite");
    let (alert_url, got) = alert_receiver().await;

    let mut cfg = proxy_config(&sb.base, &ledger_path);
    cfg.alert_post_url = Some(alert_url);
    cfg.thresholds = vec![50, 60];
    let proxy = spawn_proxy(cfg, loopback()).await.unwrap();
    let c = client_via(&proxy, "learner");
    let now = || chrono::Utc::now().timestamp_millis();
    // 90 credits: under half, no header yet; the limit is unknown.
    for i in 0..9 {
        call(
            &c,
            Method::POST,
            "/crm/v8/Leads",
            &[],
            Some(leads(100, &format!("a{i}"))),
        )
        .await
        .unwrap();
    }
    let u = snapshot(
        &Ledger::open(&ledger_path).unwrap(),
        now(),
        None,
        &[50, 60],
        None,
    )
    .unwrap();
    assert_eq!(
        (u.limit, u.limit_source, u.used),
        (None, LimitSource::Unknown, 90)
    );
    // Past half: Zoho (the sandbox) sends X-API-CREDITS-REMAINING; the limit is learned.
    for i in 0..4 {
        call(
            &c,
            Method::POST,
            "/crm/v8/Leads",
            &[],
            Some(leads(100, &format!("b{i}"))),
        )
        .await
        .unwrap();
    }
    let u = snapshot(
        &Ledger::open(&ledger_path).unwrap(),
        now(),
        None,
        &[50, 60],
        None,
    )
    .unwrap();
    assert_eq!(
        (u.limit, u.limit_source, u.used),
        (Some(200), LimitSource::Learned, 130)
    );
    assert_eq!(u.reported_remaining, Some(70));
    assert_eq!(u.metered_minus_reported, Some(0));
    assert_eq!(u.alerts.iter().filter(|a| a.crossed).count(), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The header first comes with the call that reaches 50 %: the limit is learned on that very
    // call, which is the 50 % crossing; 60 % follows two calls later.
    let posted = got.lock().unwrap().clone();
    let thresholds: Vec<u64> = posted
        .iter()
        .map(|p| p["threshold"].as_u64().unwrap())
        .collect();
    assert_eq!(
        thresholds,
        vec![50, 60],
        "each crossing posted once: {posted:?}"
    );
    call(&c, Method::GET, "/crm/v8/org", &[], None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(got.lock().unwrap().len(), 2, "no repeat while still above");
    let ledger = Ledger::open(&ledger_path).unwrap();
    assert_eq!(ledger.alerts_since(0).unwrap().len(), 2);
}

#[tokio::test]
async fn the_client_caches_tokens_retries_429_and_types_errors() {
    let sb = Sb::start(SandboxConfig {
        edition: "tiny".into(),
        users: 0,
        model: tiny_model(100_000, 1, 1),
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let c = Arc::new(
        ZohoClient::new(
            Endpoint::local(&sb.base),
            Some(Credentials {
                client_id: "1000.C".into(),
                client_secret: Secret::new("sek-ret-123"),
                refresh_token: Secret::new("1000.rt-456"),
            }),
        )
        .unwrap(),
    );
    // Concurrency 1: the second of two simultaneous calls gets 429 and is retried.
    let (a, b) = tokio::join!(
        call(&c, Method::GET, "/crm/v8/org", &[], None),
        call(&c, Method::GET, "/crm/v8/org", &[], None)
    );
    assert_eq!((a.unwrap(), b.unwrap()), (200, 200));
    let usage = sb.usage().await;
    assert!(
        usage["rejected"].as_u64().unwrap() >= 1,
        "a 429 happened and was retried"
    );
    // One token for all of it.
    let before = sb.handle.state.tokens.lock().unwrap().access.len();
    for _ in 0..3 {
        call(&c, Method::GET, "/crm/v8/org", &[], None)
            .await
            .unwrap();
    }
    assert_eq!(sb.handle.state.tokens.lock().unwrap().access.len(), before);
    // Zoho's envelope comes back typed.
    match call(
        &c,
        Method::POST,
        "/crm/v8/Leads",
        &[],
        Some(leads(101, "x")),
    )
    .await
    {
        Err(ClientError::Zoho { status: 400, error }) => assert_eq!(error.code, "LIMIT_EXCEEDED"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn oauth_failures_never_show_secrets_and_production_is_refused() {
    let sb = Sb::start(SandboxConfig {
        client_id: Some("1000.ONLY".into()),
        ..Default::default()
    })
    .await;
    let c = ZohoClient::new(
        Endpoint::local(&sb.base),
        Some(Credentials {
            client_id: "1000.OTHER".into(),
            client_secret: Secret::new("very-secret-value"),
            refresh_token: Secret::new("1000.refresh-secret"),
        }),
    )
    .unwrap();
    let err = call(&c, Method::GET, "/crm/v8/org", &[], None)
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        !text.contains("very-secret-value") && !text.contains("refresh-secret"),
        "{text}"
    );

    let mut p = creditops_config::Profile {
        target: creditops_config::Target::ZohoProduction,
        ..Default::default()
    };
    assert!(matches!(
        Endpoint::for_profile(&p, None),
        Err(ClientError::ProductionRefused)
    ));
    p.allow_production = true;
    let e = Endpoint::for_profile(&p, None).unwrap();
    assert_eq!(
        (e.api_base.as_str(), e.production),
        ("https://www.zohoapis.com", true)
    );
    p.target = creditops_config::Target::ZohoSandbox;
    p.data_centre = creditops_core::zoho::DataCentre::Eu;
    let e = Endpoint::for_profile(&p, None).unwrap();
    assert_eq!(
        (e.api_base.as_str(), e.token_url.as_str(), e.production),
        (
            "https://sandbox.zohoapis.eu",
            "https://accounts.zoho.eu/oauth/v2/token",
            false
        )
    );
    // The client refuses to mint more than 10 tokens in 10 minutes itself.
    let c = ZohoClient::new(
        Endpoint::local("http://127.0.0.1:9"),
        Some(Credentials {
            client_id: "x".into(),
            client_secret: Secret::new("s"),
            refresh_token: Secret::new("r"),
        }),
    )
    .unwrap();
    for _ in 0..10 {
        assert!(matches!(c.access_token().await, Err(ClientError::Http(_))));
    }
    assert!(matches!(
        c.access_token().await,
        Err(ClientError::TokenRateLimited)
    ));
}

#[test]
fn sigkill_mid_workload_keeps_every_answered_call() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.sqlite");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &sb.base,
            "--ledger",
        ])
        .arg(&ledger_path)
        .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
        .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = crate::common::announced_base(child.stdout.take().unwrap());
    let token = sb.token.clone();
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let a = answered.clone();
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let (http, base, token, a) = (http.clone(), base.clone(), token.clone(), a.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..10_000 {
                    let r = http
                        .post(format!("{base}/crm/v8/Tasks"))
                        .header("Authorization", format!("Zoho-oauthtoken {token}"))
                        .json(&json!({"data": [{"Subject": format!("k{w}-{i}")}]}))
                        .send()
                        .await;
                    match r {
                        Ok(resp) if resp.status().as_u16() == 201 => {
                            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        _ => break,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        child.kill().unwrap(); // SIGKILL, mid-workload
        child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
    });
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
    assert!(answered > 50, "the workload ran: {answered}");
    let ledger = Ledger::open(&ledger_path).unwrap();
    let check: String = rusqlite::Connection::open(&ledger_path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let recorded = ledger.count().unwrap();
    // Recorded before answering: every answered call is there (a call may be recorded whose
    // answer the kill cut off, never the other way round).
    assert!(
        recorded >= answered && recorded <= answered + 8,
        "recorded {recorded}, answered {answered}"
    );
}

#[test]
fn usage_and_proxy_commands() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
            .args(args)
            .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
            .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
            .output()
            .unwrap()
    };
    let out = run(&["usage", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ledger yet"));
    let out = run(&[
        "proxy",
        "--listen",
        "0.0.0.0:0",
        "--upstream",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "https://www.zohoapis.com",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Zoho production"));
    // A ledger with calls: the JSON the console and scripts rely on.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ledger_path = dir.path().join("l.sqlite");
    rt.block_on(async {
        let sb = Sb::default().await;
        let proxy = spawn_proxy(proxy_config(&sb.base, &ledger_path), loopback())
            .await
            .unwrap();
        let c = client_via(&proxy, "cli-test");
        call(&c, Method::POST, "/crm/v8/Leads", &[], Some(leads(25, "u")))
            .await
            .unwrap();
        proxy.shutdown().await;
    });
    let out = run(&[
        "usage",
        "--json",
        "--edition",
        "professional",
        "--users",
        "40",
        "--ledger",
        ledger_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "used",
        "limit",
        "remaining",
        "percent",
        "burn_per_hour",
        "exhaustion_eta_seconds",
        "reported_remaining",
        "in_flight",
        "concurrency_limit",
        "alerts",
        "by_module",
        "by_api",
        "by_integration",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(
        (
            v["used"].as_u64(),
            v["limit"].as_u64(),
            v["concurrency_limit"].as_u64()
        ),
        (Some(3), Some(70_000), Some(15))
    );
    assert_eq!(v["by_integration"]["cli-test"]["credits"], 3);
    assert!(v["exhaustion_eta_seconds"].is_null());
    let _ = Editions::builtin();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_one_ledger_alert_once_per_crossing_of_the_org_total() {
    // Before, each proxy decided from its own calls: two at 42 % each alerted nothing.
    let model = tiny_model(1000, 20, 10);
    let limits = model.editions.limits("tiny", 0, 0).unwrap();
    let sb = Sb::start(SandboxConfig {
        edition: "tiny".into(),
        users: 0,
        model: model.clone(),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let ledger_path = dir.path().join("ledger.sqlite");
    let (alert_url, got) = alert_receiver().await;
    let mut proxies = Vec::new();
    for _ in 0..2 {
        let mut cfg = proxy_config(&sb.base, &ledger_path);
        cfg.alert_post_url = Some(alert_url.clone());
        cfg.thresholds = vec![80, 90];
        cfg.limits = Some(limits.clone());
        cfg.model = model.clone();
        proxies.push(spawn_proxy(cfg, loopback()).await.unwrap());
    }
    let http = reqwest::Client::new();
    // 10 credits a call (100 records); 42 calls each way, interleaved: 840 credits = 84 %.
    let mut calls = Vec::new();
    for i in 0..84 {
        let p = &proxies[i % 2];
        calls.push(
            http.post(format!("{}/crm/v8/Leads", p.base_url()))
                .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
                .json(&leads(100, &format!("two-{i}-")))
                .send(),
        );
    }
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().status(), 201);
    }
    let ledger = Ledger::open(&ledger_path).unwrap();
    wait_for_alerts(&ledger_path, 1).await;
    assert_eq!(sb.used().await, 840);
    // One more call each, still between the marks: no repeat.
    for p in &proxies {
        let r = http
            .get(format!("{}/crm/v8/org", p.base_url()))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Past 90 % through the second proxy alone.
    for i in 0..6 {
        let r = http
            .post(format!("{}/crm/v8/Leads", proxies[1].base_url()))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .json(&leads(100, &format!("more-{i}-")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    wait_for_alerts(&ledger_path, 2).await;
    let recorded: Vec<u32> = ledger
        .alerts_since(0)
        .unwrap()
        .iter()
        .map(|a| a.1)
        .collect();
    assert_eq!(recorded, vec![80, 90], "each crossing once, org-wide");
    // And posted once each (the post follows the record).
    for _ in 0..200 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let posted: Vec<u64> = got
        .lock()
        .unwrap()
        .iter()
        .map(|p| p["threshold"].as_u64().unwrap())
        .collect();
    assert_eq!(posted, vec![80, 90]);
}

/// Waits (at most 5 s) until the ledger holds `n` alerts: checks run just after calls settle.
async fn wait_for_alerts(path: &std::path::Path, n: usize) {
    for _ in 0..200 {
        let seen = Ledger::open(path)
            .and_then(|l| l.alerts_since(0))
            .map_or(0, |a| a.len());
        if seen >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[test]
fn servers_log_to_their_file_and_never_a_secret() {
    let home = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--log-stderr",
            "--upstream",
        ])
        .arg(&sb.base)
        .env("CREDITOPS_CONFIG_DIR", home.path().join("config"))
        .env("CREDITOPS_DATA_DIR", home.path().join("data"))
        .env("CREDITOPS_CACHE_DIR", home.path().join("cache"))
        .env("CREDITOPS_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = crate::common::announced_base(child.stdout.take().unwrap());
    let token = rt.block_on(async {
        let http = reqwest::Client::new();
        let v: Value = http
            .post(format!("{base}/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "1000.LOG"),
                ("client_secret", "LOG-CLIENT-SECRET"),
                ("refresh_token", "LOG-REFRESH-TOKEN"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = v["access_token"].as_str().unwrap().to_string();
        for path in ["/crm/v8/org", "/crm/v8/settings/fields?module=Leads"] {
            let r = http
                .get(format!("{base}{path}"))
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        token
    });
    // The log is written by a thread of its own (a non-blocking appender): a call's line may
    // follow its answer. The process is killed once the line is there, or after 10 s.
    let log_file = home.path().join("data/creditops-proxy.log");
    for _ in 0..400 {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        if log.contains("GET /crm/v8/org → 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("proxy listening on"), "{log}");
    assert!(
        log.contains("GET /crm/v8/org → 200"),
        "calls at debug: {log}"
    );
    assert!(
        stderr.contains("proxy listening on"),
        "--log-stderr: {stderr}"
    );
    for secret in [
        "LOG-CLIENT-SECRET",
        "LOG-REFRESH-TOKEN",
        "Zoho-oauthtoken",
        token.as_str(),
    ] {
        assert!(
            !log.contains(secret) && !stderr.contains(secret),
            "{secret} logged"
        );
    }
}

/// An upstream that answers 502 to everything and counts what it was sent.
async fn failing_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = Router::new().fallback(move |req: axum::extract::Request| {
        let s = s.clone();
        async move {
            s.lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri().path()));
            (
                axum::http::StatusCode::BAD_GATEWAY,
                axum::Json(json!({"code": "INTERNAL_ERROR", "message": "upstream down", "details": {}, "status": "error"})),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, seen)
}

#[tokio::test]
async fn a_write_that_may_have_landed_is_never_retried_a_read_is() {
    let (base, seen) = failing_upstream().await;
    let mut c = ZohoClient::new(Endpoint::local(&base), None).unwrap();
    c.retry.base = Duration::from_millis(1);
    let c = c.with_token(Secret::new("1000.t")).await;
    let err = call(
        &c,
        Method::POST,
        "/crm/v8/Leads",
        &[],
        Some(json!({"data": [{"Last_Name": "Once"}]})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ClientError::Zoho { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a POST answered 502 may have landed: sent once"
    );
    let _ = call(&c, Method::GET, "/crm/v8/Leads", &[], None).await;
    let gets = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.starts_with("GET"))
        .count();
    assert_eq!(gets as u32, c.retry.attempts, "a read is tried again");
}

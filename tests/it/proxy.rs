//! The proxy's request path driven directly (its router, no socket) and against an upstream
//! that misbehaves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use creditops_net::proxy::{router, Proxy, ProxyConfig};
use creditops_store::cache::{CacheSettings, MetadataCache};
use creditops_store::ledger::Ledger;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use crate::common::{leads, Sb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_prices_forwards_and_records_without_a_socket() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let proxy = Proxy::new(ProxyConfig::new(&sb.base, &ledger)).unwrap();
    let token = sb.token.clone();
    let req = axum::http::Request::post("/crm/v8/Leads")
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .header("X-Integration", "in-process")
        .header("content-type", "application/json")
        .body(Body::from(leads(25, "router").to_string()))
        .unwrap();
    let resp = router(proxy.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-creditops-charged"], "3");
    let (credits, _) = Ledger::open(&ledger)
        .unwrap()
        .charged_to("in-process", 0)
        .unwrap();
    assert_eq!(credits, 3);
    assert_eq!(
        sb.used().await,
        3,
        "the sandbox charged what the ledger holds"
    );
}

/// An upstream that mints tokens, and answers every other call 200 with a Content-Length it
/// never delivers, then hangs up.
async fn broken_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                if String::from_utf8_lossy(&buf[..n]).contains("/oauth/v2/token") {
                    let body = r#"{"access_token":"tok-1","expires_in":3600}"#;
                    let _ = sock
                        .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes())
                        .await;
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"fields\": [")
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cacheable_answer_that_breaks_off_is_neither_kept_nor_passed_on_as_whole() {
    let (upstream, calls) = broken_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(
        MetadataCache::open(dir.path().join("metadata.sqlite"), CacheSettings::default()).unwrap(),
    );
    let proxy = Proxy::new(ProxyConfig {
        cache: Some(cache.clone()),
        ..ProxyConfig::new(&upstream, dir.path().join("ledger.sqlite"))
    })
    .unwrap();
    // A token minted through the proxy: a caller the cache may serve.
    let mint = axum::http::Request::post("/oauth/v2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(
            "grant_type=refresh_token&client_id=1000.A&client_secret=s&refresh_token=r",
        ))
        .unwrap();
    let minted = router(proxy.clone()).oneshot(mint).await.unwrap();
    assert_eq!(minted.status(), 200);
    for attempt in 1..=2 {
        let req = axum::http::Request::get("/crm/v8/settings/fields?module=Leads")
            .header("Authorization", "Zoho-oauthtoken tok-1")
            .body(Body::empty())
            .unwrap();
        let resp = router(proxy.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 502, "attempt {attempt}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "UPSTREAM_ANSWER_BROKEN", "{v}");
        // Nothing was kept, so the next call goes upstream again.
        assert!(cache.list().is_empty(), "a broken answer was cached");
        assert_eq!(calls.load(Ordering::SeqCst), attempt);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_come_in_every_encoding_and_api_domain_names_the_proxy() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let p = creditops_net::proxy::spawn(
        ProxyConfig::new(&sb.base, dir.path().join("ledger.sqlite")),
        crate::common::loopback(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let fields = [
        ("grant_type", "refresh_token"),
        ("client_id", "1000.NODE"),
        ("client_secret", "s"),
        ("refresh_token", "rt-1"),
    ];
    for base in [sb.base.clone(), p.base_url()] {
        let url = format!("{base}/oauth/v2/token");
        let form = reqwest::multipart::Form::new();
        let form = fields
            .iter()
            .fold(form, |f, (k, v)| f.text(k.to_string(), v.to_string()));
        let answers = [
            // Zoho's documented refresh call: everything in the query string.
            http.post(&url).query(&fields).send().await.unwrap(),
            http.post(&url).form(&fields).send().await.unwrap(),
            // What Zoho's Node.js SDK sends.
            http.post(&url).multipart(form).send().await.unwrap(),
        ];
        for (i, r) in answers.into_iter().enumerate() {
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(v["access_token"].is_string(), "{base} encoding {i}: {v}");
            // Through the proxy, an SDK that follows api_domain stays behind the proxy.
            assert_eq!(v["api_domain"], base.as_str(), "{base} encoding {i}: {v}");
        }
    }
    // The proxy learned whose tokens these are, from the multipart request too: its calls are
    // attributed to the client.
    let token = {
        let form = fields
            .iter()
            .fold(reqwest::multipart::Form::new(), |f, (k, v)| {
                f.text(k.to_string(), v.to_string())
            });
        let v: serde_json::Value = http
            .post(format!("{}/oauth/v2/token", p.base_url()))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["access_token"].as_str().unwrap().to_string()
    };
    let r = http
        .get(format!("{}/crm/v8/org", p.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (credits, calls) = Ledger::open(dir.path().join("ledger.sqlite"))
        .unwrap()
        .charged_to("client:1000.NODE", 0)
        .unwrap();
    assert_eq!((credits, calls), (1, 1));
}

/// Makes the ledger refuse writes of `kind` (INSERT or UPDATE) as a full disk would: the same
/// SQLite error path, injected with a trigger from another connection.
fn break_ledger(ledger: &std::path::Path, kind: &str) {
    let conn = rusqlite::Connection::open(ledger).unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER broken_{kind} BEFORE {kind} ON calls BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
    ))
    .unwrap();
}

fn mend_ledger(ledger: &std::path::Path, kind: &str) {
    let conn = rusqlite::Connection::open(ledger).unwrap();
    conn.execute_batch(&format!("DROP TRIGGER broken_{kind};"))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_ledger_cannot_record_is_refused_before_it_costs_anything() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite");
    let p = creditops_net::proxy::spawn(
        ProxyConfig::new(&sb.base, &ledger),
        crate::common::loopback(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let insert = |tag: String| {
        http.post(format!("{}/crm/v8/Leads", p.base_url()))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .json(&leads(10, &tag))
            .send()
    };
    assert_eq!(insert("ok".into()).await.unwrap().status(), 201);
    let used = sb.used().await;

    // The disk is full: every call is refused before it is sent.
    break_ledger(&ledger, "INSERT");
    for i in 0..20 {
        let r = insert(format!("full{i}-")).await.unwrap();
        assert_eq!(r.status(), 503, "call {i}");
        assert_eq!(r.headers()["retry-after"], "30");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["code"], "LEDGER_UNAVAILABLE", "{v}");
    }
    assert_eq!(
        sb.used().await,
        used,
        "nothing reached the sandbox: no credit spent"
    );

    // Space comes back: calls go through and are recorded again.
    mend_ledger(&ledger, "INSERT");
    assert_eq!(insert("back".into()).await.unwrap().status(), 201);

    // Settling fails after the call went out: the answer still comes back (its record keeps the
    // priced credits), and the ledger still equals what the sandbox charged.
    break_ledger(&ledger, "UPDATE");
    let r = insert("unsettled".into()).await.unwrap();
    assert_eq!(
        r.status(),
        201,
        "an applied insert's answer (and its ids) is not thrown away"
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["data"][0]["details"]["id"].is_string(), "{v}");
    mend_ledger(&ledger, "UPDATE");
    let now = chrono::Utc::now().timestamp_millis();
    let recorded = Ledger::open(&ledger).unwrap().used_at(now).unwrap();
    assert_eq!(recorded, sb.used().await, "ledger == sandbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_that_name_the_upstream_are_rewritten_to_the_proxy() {
    // An upstream whose answers carry absolute URLs to itself, as Zoho's do (bulk job results,
    // api_domain): a client following them must come back through the proxy.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let own = upstream.clone();
    let app = axum::Router::new().fallback(move || {
        let own = own.clone();
        async move {
            axum::Json(serde_json::json!({
                "data": [{"status": "success", "details": {
                    "download_url": format!("{own}/crm/bulk/v8/write/42/result"),
                    "elsewhere": "https://files.example.com/x.zip",
                }}],
            }))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let p = creditops_net::proxy::spawn(
        ProxyConfig::new(&upstream, dir.path().join("ledger.sqlite")),
        crate::common::loopback(),
    )
    .await
    .unwrap();
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/crm/bulk/v8/write/42", p.base_url()))
        .header("Authorization", "Zoho-oauthtoken t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let details = &v["data"][0]["details"];
    assert_eq!(
        details["download_url"],
        format!("{}/crm/bulk/v8/write/42/result", p.base_url())
    );
    assert_eq!(details["elsewhere"], "https://files.example.com/x.zip");
}

#[test]
fn proxy_profile_sends_oauth_to_the_profiles_accounts_base() {
    // Before, `proxy --profile` sent OAuth calls (secrets included) to accounts.<dc> whatever
    // the profile's accounts_base said.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let hits = Arc::new(AtomicUsize::new(0));
    let accounts = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = hits.clone();
        let app = axum::Router::new().fallback(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async {
                axum::Json(serde_json::json!({"access_token": "from-accounts", "expires_in": 3600}))
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    let home = tempfile::tempdir().unwrap();
    crate::common::write_config(
        &home.path().join("config"),
        &format!(
            "[profiles.s]\ntarget = \"zoho-sandbox\"\napi_base = \"{}\"\naccounts_base = \"{accounts}\"\n",
            sb.base
        ),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args(["proxy", "--profile", "s", "--listen", "127.0.0.1:0"])
        .env("CREDITOPS_CONFIG_DIR", home.path().join("config"))
        .env("CREDITOPS_DATA_DIR", home.path().join("data"))
        .env("CREDITOPS_CACHE_DIR", home.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = crate::common::announced_base(child.stdout.take().unwrap());
    let v: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "1000.A"),
                ("refresh_token", "r"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(v["access_token"], "from-accounts");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

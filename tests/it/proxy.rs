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

/// An upstream that answers 200 with a Content-Length it never delivers, then hangs up.
async fn broken_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
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
        MetadataCache::open(
            &dir.path().join("metadata.sqlite"),
            CacheSettings::default(),
        )
        .unwrap(),
    );
    let proxy = Proxy::new(ProxyConfig {
        cache: Some(cache.clone()),
        ..ProxyConfig::new(&upstream, &dir.path().join("ledger.sqlite"))
    })
    .unwrap();
    for attempt in 1..=2 {
        let req = axum::http::Request::get("/crm/v8/settings/fields?module=Leads")
            .header("Authorization", "Zoho-oauthtoken t")
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

//! A closed-loop load generator for the HTTP benchmarks: `clients` tasks POST JSON bodies as
//! fast as answers come back, for `dur`. Included with `#[path]` by each benchmark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the load; `body(n)` makes the n-th request's body (n unique across all clients).
/// Returns (successful calls per second, failed calls).
pub async fn post_json<F>(
    url: &str,
    headers: &[(&str, String)],
    clients: usize,
    dur: Duration,
    body: F,
) -> (f64, u64)
where
    F: Fn(u64) -> serde_json::Value + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let seq = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let deadline = Instant::now() + dur;
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, headers, body) =
                (http.clone(), url.to_string(), headers.clone(), body.clone());
            let (ok, failed, seq) = (ok.clone(), failed.clone(), seq.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let mut req = http.post(&url).json(&body(n));
                    for (k, v) in &headers {
                        req = req.header(k, v);
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    (
        ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// A bare axum handler answering 200 to any request: the ceiling.
pub async fn bare_server() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|_b: axum::body::Bytes| async { "{\"status\":\"ok\"}" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The runtime every HTTP benchmark runs in: two workers, as this machine has two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A sandbox org with credits and concurrency to spare (Ultimate, 10,000 users), so a
/// benchmark measures the path and never the org's limits.
pub async fn roomy_sandbox() -> creditops_sandbox::SandboxHandle {
    creditops_sandbox::spawn(
        creditops_sandbox::SandboxConfig {
            edition: "ultimate".into(),
            users: 10_000,
            ..Default::default()
        },
        "127.0.0.1:0".parse().expect("an address"),
    )
    .await
    .expect("the sandbox starts")
}

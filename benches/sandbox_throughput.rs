//! Sandbox throughput on loopback against a bare axum handler answering 200 (the ceiling),
//! measured in the same run: single-record insert calls/s, and records/s in 100-record batches.
//!
//! `cargo bench --bench sandbox_throughput` runs 5 s per measurement; under `cargo test` it runs a
//! short smoke pass. Results go to stdout as a Markdown table (copied into docs/performance.md).

// The same allocator as the creditops binary, so the numbers are the shipped ones.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::Router;
use creditops::sandbox::{spawn, SandboxConfig};
use serde_json::json;

/// Record numbers, unique across every phase so no insert trips the unique Email check.
static SEQ: AtomicU64 = AtomicU64::new(0);

async fn bare_server() -> SocketAddr {
    let app = Router::new().fallback(post(|_body: axum::body::Bytes| async {
        "{\"status\":\"ok\"}"
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Runs `clients` loops posting bodies from `make` for `dur`; returns (calls/s, errors).
async fn load(
    url: String,
    token: String,
    clients: usize,
    dur: Duration,
    records: usize,
) -> (f64, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + dur;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        let (counter, errors) = (counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let base = SEQ.fetch_add(records as u64, Ordering::Relaxed);
                let data: Vec<_> = (0..records as u64)
                    .map(|i| json!({"Last_Name": format!("Load{}", base + i), "Email": format!("load{}@bench.example", base + i)}))
                    .collect();
                let r = http
                    .post(&url)
                    .header("Authorization", format!("Zoho-oauthtoken {token}"))
                    .json(&json!({ "data": data }))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    (
        counter.load(Ordering::Relaxed) as f64 / secs,
        errors.load(Ordering::Relaxed),
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dur = if full {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(300)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bare = bare_server().await;
        // Ultimate with 10,000 licences: 20 M credits, concurrency 25; the meter never refuses here.
        let sb = spawn(SandboxConfig { edition: "ultimate".into(), users: 10_000, ..Default::default() }, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let token = sb.state.mint_token();
        let bare_url = format!("http://{bare}/crm/v8/Leads");
        let sb_url = format!("{}/crm/v8/Leads", sb.base_url());
        // Warm up connections and code paths.
        load(bare_url.clone(), token.clone(), 4, Duration::from_millis(100), 1).await;
        load(sb_url.clone(), token.clone(), 4, Duration::from_millis(100), 1).await;

        let clients = 16;
        if std::env::var("SANDBOX_BENCH_ONLY").as_deref() == Ok("single") {
            // For profiling: only the sandbox's single-record phase.
            let (single, _) = load(sb_url.clone(), token.clone(), clients, dur, 1).await;
            println!("sandbox single-record insert: {single:.0} calls/s");
            return;
        }
        let (ceiling, _) = load(bare_url.clone(), token.clone(), clients, dur, 1).await;
        let (single, e1) = load(sb_url.clone(), token.clone(), clients, dur, 1).await;
        // 100-record inserts hold a sub-concurrency slot (limit 10): 8 clients.
        let (ceiling_batch, _) = load(bare_url, token.clone(), 8, dur, 100).await;
        let (batch, e2) = load(sb_url, token, 8, dur, 100).await;
        assert_eq!(e1 + e2, 0, "the sandbox refused or failed calls under load");
        println!("| workload | bare axum (ceiling) | sandbox | ratio |");
        println!("|---|---|---|---|");
        println!("| single-record insert, {clients} clients | {ceiling:.0} calls/s | {single:.0} calls/s | {:.2} |", single / ceiling);
        println!(
            "| 100-record insert, 8 clients | {:.0} records/s | {:.0} records/s | {:.2} |",
            ceiling_batch * 100.0,
            batch * 100.0,
            batch / ceiling_batch
        );
        let usage: serde_json::Value = reqwest::get(format!("{}/__sandbox/usage", sb.base_url())).await.unwrap().json().await.unwrap();
        println!("(sandbox metered {} credits over {} calls)", usage["used"], usage["calls"]);
    });
}

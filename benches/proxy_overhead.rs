//! Proxy overhead against direct calls to the sandbox, measured in the same run: added p50/p99
//! latency (one client, sequential calls) and throughput ratio (16 clients); and the ledger's
//! committed inserts per second on its own.
//!
//! `cargo bench --bench proxy_overhead` runs the full measurement; under `cargo test` a short
//! smoke pass.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};
use creditops_store::ledger::{CallRecord, LedgerWriter};

pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

pub async fn latencies(http: &reqwest::Client, url: &str, token: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http
            .get(url)
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let _ = r.bytes().await;
        out.push(t.elapsed());
    }
    out.sort();
    out
}

/// Calls per second from `clients` closed-loop clients spread over `urls` (one each in turn).
pub async fn throughput(urls: &[String], token: String, clients: usize, dur: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + dur;
    let http = reqwest::Client::new();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            let (http, token, done) = (http.clone(), token.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let r = http
                        .get(&url)
                        .header("Authorization", format!("Zoho-oauthtoken {token}"))
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

pub fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, dur, inserts) = if full {
        (4000, Duration::from_secs(5), 200_000)
    } else {
        (50, Duration::from_millis(200), 2_000)
    };
    let rt = crate::load::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let sb = crate::load::roomy_sandbox().await;
        let token = sb.state.mint_token();
        let proxy = spawn_proxy(
            ProxyConfig::new(&sb.base_url(), dir.path().join("ledger.sqlite")),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        // A cheap metered read: GET /crm/v8/org (1 credit), so the proxy's share shows.
        let direct = format!("{}/crm/v8/org", sb.base_url());
        let via = format!("{}/crm/v8/org", proxy.base_url());
        let http = reqwest::Client::new();
        latencies(&http, &direct, &token, n / 10 + 1).await;
        latencies(&http, &via, &token, n / 10 + 1).await;
        let d = latencies(&http, &direct, &token, n).await;
        let p = latencies(&http, &via, &token, n).await;
        let td = throughput(&[direct], token.clone(), 16, dur).await;
        let tp = throughput(&[via], token.clone(), 16, dur).await;
        println!("| measure | direct to sandbox | through proxy | proxy adds / ratio |");
        println!("|---|---|---|---|");
        for (name, q) in [("p50 latency", 0.5), ("p99 latency", 0.99)] {
            let (a, b) = (pct(&d, q), pct(&p, q));
            println!(
                "| {name} | {:.0} µs | {:.0} µs | +{:.0} µs |",
                a.as_secs_f64() * 1e6,
                b.as_secs_f64() * 1e6,
                (b.as_secs_f64() - a.as_secs_f64()) * 1e6
            );
        }
        println!(
            "| throughput, 16 clients | {td:.0} calls/s | {tp:.0} calls/s | {:.2} |",
            tp / td
        );

        // The ledger alone: 64 concurrent appenders, each waiting for its commit.
        let writer = LedgerWriter::open(dir.path().join("bench-ledger.sqlite"), 90).unwrap();
        let start = Instant::now();
        let per = inserts / 64;
        let tasks: Vec<_> = (0..64)
            .map(|w| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        writer
                            .append(CallRecord {
                                at_ms: 1_800_000_000_000 + i as i64,
                                integration: format!("w{w}"),
                                api: "insert_records".into(),
                                module: Some("Leads".into()),
                                method: "POST".into(),
                                path: "/crm/v8/Leads".into(),
                                records: 1,
                                credits: 1,
                                status: 201,
                                latency_ms: 3,
                                priced: true,
                                reported_remaining: None,
                                saved: 0,
                                call_key: None,
                            })
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let rate = (per * 64) as f64 / start.elapsed().as_secs_f64();
        println!("| ledger appends (committed, 64 writers) | | {rate:.0} rows/s | |");
    });
}

//! Sandbox throughput on loopback against a bare axum handler answering 200 (the ceiling),
//! measured in the same run: single-record insert calls/s, and records/s in 100-record batches.
//!
//! `cargo bench --bench sandbox_throughput` runs 5 s per measurement; under `cargo test` it runs a
//! short smoke pass. Results go to stdout as a Markdown table (copied into docs/performance.md).

use crate::load;

use std::time::Duration;

use creditops_sandbox::{spawn, SandboxConfig};
use serde_json::json;

fn records(offset: u64, per: u64) -> impl Fn(u64) -> serde_json::Value + Send + Sync + 'static {
    move |n| {
        let base = offset + n * per;
        let data: Vec<_> = (0..per).map(|i| json!({"Last_Name": format!("Load{}", base + i), "Email": format!("load{}@bench.example", base + i)})).collect();
        json!({ "data": data })
    }
}

pub fn main() {
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
        let bare = load::bare_server().await;
        // Ultimate with 10,000 licences: 20 M credits, concurrency 25; the meter never refuses here.
        let sb = spawn(SandboxConfig { edition: "ultimate".into(), users: 10_000, ..Default::default() }, "127.0.0.1:0".parse().unwrap()).await.unwrap();
        let auth = [("Authorization", format!("Zoho-oauthtoken {}", sb.state.mint_token()))];
        let bare_url = format!("http://{bare}/crm/v8/Leads");
        let sb_url = format!("{}/crm/v8/Leads", sb.base_url());
        // Each phase numbers its records apart, so no insert trips the unique Email check.
        load::post_json(&bare_url, &auth, 4, Duration::from_millis(100), records(0, 1)).await;
        load::post_json(&sb_url, &auth, 4, Duration::from_millis(100), records(1 << 40, 1)).await;
        let clients = 16;
        if std::env::var("SANDBOX_BENCH_ONLY").as_deref() == Ok("single") {
            // For profiling: only the sandbox's single-record phase.
            let (single, _) = load::post_json(&sb_url, &auth, clients, dur, records(2 << 40, 1)).await;
            println!("sandbox single-record insert: {single:.0} calls/s");
            return;
        }
        let (ceiling, _) = load::post_json(&bare_url, &auth, clients, dur, records(0, 1)).await;
        let (single, e1) = load::post_json(&sb_url, &auth, clients, dur, records(3 << 40, 1)).await;
        // 100-record inserts hold a sub-concurrency slot (limit 10): 8 clients.
        let (ceiling_batch, _) = load::post_json(&bare_url, &auth, 8, dur, records(0, 100)).await;
        let (batch, e2) = load::post_json(&sb_url, &auth, 8, dur, records(4 << 40, 100)).await;
        assert_eq!(e1 + e2, 0, "the sandbox refused or failed calls under load");
        println!("| workload | bare axum (ceiling) | sandbox | ratio |");
        println!("|---|---|---|---|");
        println!("| single-record insert, {clients} clients | {ceiling:.0} calls/s | {single:.0} calls/s | {:.2} |", single / ceiling);
        println!("| 100-record insert, 8 clients | {:.0} records/s | {:.0} records/s | {:.2} |", ceiling_batch * 100.0, batch * 100.0, batch / ceiling_batch);
        let usage: serde_json::Value = reqwest::get(format!("{}/__sandbox/usage", sb.base_url())).await.unwrap().json().await.unwrap();
        println!("(sandbox metered {} credits over {} calls)", usage["used"], usage["calls"]);
    });
}

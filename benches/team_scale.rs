//! Team scale: three proxies on one PostgreSQL ledger against one proxy on SQLite, in the same
//! run, with the direct path to the sandbox as the baseline. Committed calls per second
//! (16 closed-loop clients per proxy) and the latency each adds (one client, sequential). The
//! PostgreSQL server is a throwaway cluster started here (skipped without PostgreSQL).
//!
//! `cargo bench --bench benches -- team_scale`; under `cargo test` a short smoke pass.

use std::time::Duration;

use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};

use crate::proxy_overhead::{latencies, pct, throughput};

#[path = "../tests/it/common/postgres.rs"]
#[allow(dead_code)]
mod postgres;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, dur) = if full {
        (3000, Duration::from_secs(5))
    } else {
        (30, Duration::from_millis(200))
    };
    let Some(cluster) = postgres::Cluster::start_durable() else {
        println!("team_scale: skipped (PostgreSQL is not installed)");
        return;
    };
    let url = postgres::create_database(&cluster.admin_url(), "bench");
    let rt = crate::load::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let sb = crate::load::roomy_sandbox().await;
        let token = sb.state.mint_token();
        let path = "/crm/v8/org";
        let direct = format!("{}{path}", sb.base_url());
        let sqlite = spawn_proxy(
            ProxyConfig::new(&sb.base_url(), dir.path().join("ledger.sqlite")),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let mut team = Vec::new();
        for i in 0..3 {
            let mut c = ProxyConfig::new(
                &sb.base_url(),
                creditops_store::db::Location::parse(&url),
            );
            c.name = format!("bench-{i}");
            team.push(spawn_proxy(c, "127.0.0.1:0".parse().unwrap()).await.unwrap());
        }
        let via_sqlite = format!("{}{path}", sqlite.base_url());
        let via_team: Vec<String> = team
            .iter()
            .map(|p| format!("{}{path}", p.base_url()))
            .collect();
        let http = reqwest::Client::new();
        for u in [&direct, &via_sqlite, &via_team[0]] {
            latencies(&http, u, &token, n / 10 + 1).await;
        }
        let d = latencies(&http, &direct, &token, n).await;
        let s = latencies(&http, &via_sqlite, &token, n).await;
        let t = latencies(&http, &via_team[0], &token, n).await;
        let rate_direct = throughput(std::slice::from_ref(&direct), token.clone(), 16, dur).await;
        let rate_sqlite = throughput(&[via_sqlite], token.clone(), 16, dur).await;
        let rate_team = throughput(&via_team, token.clone(), 48, dur).await;
        println!("| measure | direct to sandbox | 1 proxy, SQLite ledger | 3 proxies, one PostgreSQL ledger |");
        println!("|---|---|---|---|");
        for (name, q) in [("added p50 latency", 0.5), ("added p99 latency", 0.99)] {
            let base = micros(pct(&d, q));
            println!(
                "| {name} | ({base:.0} µs) | +{:.0} µs | +{:.0} µs |",
                micros(pct(&s, q)) - base,
                micros(pct(&t, q)) - base
            );
        }
        println!(
            "| committed calls/s | {rate_direct:.0} (16 clients) | {rate_sqlite:.0} (16 clients), {:.2} of direct | {rate_team:.0} (3 × 16 clients), {:.2} of direct, {:.2} of SQLite |",
            rate_sqlite / rate_direct,
            rate_team / rate_direct,
            rate_team / rate_sqlite
        );
    });
    drop(cluster);
}

//! A metadata cache hit's latency through the proxy against a miss (the cache cleared before
//! each call, so every call goes to the sandbox), in the same run. One client, sequential calls
//! to `GET /crm/v8/settings/fields?module=Leads`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};
use creditops_store::cache::{CacheSettings, MetadataCache};

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

pub fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 3000 } else { 30 };
    let rt = crate::load::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let sb = crate::load::roomy_sandbox().await;
        let cache = Arc::new(
            MetadataCache::open(dir.path().join("m.sqlite"), CacheSettings::default()).unwrap(),
        );
        let proxy = spawn_proxy(
            ProxyConfig {
                thresholds: vec![],
                cache: Some(cache.clone()),
                ..ProxyConfig::new(&sb.base_url(), dir.path().join("l.sqlite"))
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        // The cache serves only callers whose token it saw minted: get one through the proxy.
        let minted: serde_json::Value = http
            .post(format!("{}/oauth/v2/token", proxy.base_url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "1000.BENCH"),
                ("client_secret", "s"),
                ("refresh_token", "rt-bench"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = minted["access_token"].as_str().unwrap().to_string();
        let url = format!("{}/crm/v8/settings/fields?module=Leads", proxy.base_url());
        let call = || async {
            let t = Instant::now();
            let r = http
                .get(&url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .send()
                .await
                .unwrap();
            let hit = r
                .headers()
                .get("x-creditops-cache")
                .is_some_and(|v| v == "hit");
            let _ = r.bytes().await.unwrap();
            (t.elapsed(), hit)
        };
        let (mut misses, mut hits) = (Vec::new(), Vec::new());
        for _ in 0..n {
            cache.clear(None);
            let (d, hit) = call().await;
            assert!(!hit);
            misses.push(d);
        }
        call().await;
        for _ in 0..n {
            let (d, hit) = call().await;
            assert!(hit);
            hits.push(d);
        }
        println!("| GET settings/fields through the proxy | p50 | p99 |");
        println!("|---|---|---|");
        println!(
            "| miss (sandbox answers, cache stores) | {:.0} µs | {:.0} µs |",
            pct(&mut misses, 0.5),
            pct(&mut misses, 0.99)
        );
        println!(
            "| hit (answered from the cache) | {:.0} µs | {:.0} µs |",
            pct(&mut hits, 0.5),
            pct(&mut hits, 0.99)
        );
        println!(
            "(hit p50 / miss p50 = {:.2})",
            pct(&mut hits, 0.5) / pct(&mut misses, 0.5)
        );
    });
}

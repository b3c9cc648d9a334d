//! The metadata cache in the proxy: what it saves, single flight, revalidation, invalidation,
//! clearing from the CLI, corruption.

use crate::common;

use std::sync::Arc;

use common::{leads, loopback, token_via, Sb};
use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig, ProxyHandle};
use creditops_store::cache::{CacheSettings, MetadataCache};
use creditops_store::ledger::Ledger;
use serde_json::Value;

async fn proxy(
    sb: &Sb,
    dir: &std::path::Path,
    settings: CacheSettings,
) -> (ProxyHandle, Arc<MetadataCache>) {
    let cache = Arc::new(MetadataCache::open(dir.join("metadata.sqlite"), settings).unwrap());
    let p = spawn_proxy(
        ProxyConfig {
            thresholds: vec![],
            cache: Some(cache.clone()),
            ..ProxyConfig::new(&sb.base, dir.join("ledger.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    (p, cache)
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    let r = http
        .get(url)
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap();
    let cache = r
        .headers()
        .get("x-creditops-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (r.status().as_u16(), cache)
}

/// The SDK pattern: fetch the module's fields before every record call.
async fn workload(base: &str, token: &str, n: usize) {
    let http = reqwest::Client::new();
    for i in 0..n {
        let (s, _) = get(
            &http,
            &format!("{base}/crm/v8/settings/fields?module=Leads"),
            token,
        )
        .await;
        assert_eq!(s, 200);
        let r = http
            .post(format!("{base}/crm/v8/Leads"))
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .json(&leads(1, &format!("w{i}-")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_before_every_call_cost_400_direct_and_at_most_205_through_the_cache() {
    let direct = Sb::default().await;
    let before = direct.used().await;
    workload(&direct.base, &direct.token, 200).await;
    let direct_cost = direct.used().await - before;
    assert!(direct_cost >= 400, "direct: {direct_cost}");

    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let (p, cache) = proxy(&sb, dir.path(), CacheSettings::default()).await;
    let before = sb.used().await;
    let token = token_via(&p.base_url(), "1000.SDK", "rt-user-1").await;
    workload(&p.base_url(), &token, 200).await;
    let proxied_cost = sb.used().await - before;
    assert!(proxied_cost <= 205, "through the proxy: {proxied_cost}");
    let ledger = Ledger::open(dir.path().join("ledger.sqlite")).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        ledger.used_at(now).unwrap(),
        proxied_cost,
        "the ledger still equals the sandbox"
    );
    assert_eq!(
        ledger.saved_at(now).unwrap(),
        199,
        "199 hits, one credit each"
    );
    let s = cache.stats(now);
    assert_eq!(
        (s.entries, s.hits, s.misses, s.credits_saved),
        (1, 199, 1, 199)
    );
    assert!(s.hit_ratio > 0.99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_upstream_call() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = proxy(&sb, dir.path(), CacheSettings::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v8/settings/layouts?module=Deals", p.base_url());
    let token = token_via(&p.base_url(), "1000.SDK", "rt-user-1").await;
    let calls = (0..20).map(|_| get(&http, &url, &token));
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|(s, _)| *s == 200));
    assert_eq!(results.iter().filter(|(_, c)| c == "miss").count(), 1);
    assert_eq!(sb.usage().await["by_api"]["layouts"]["calls"], 1);
}

#[tokio::test]
async fn stale_entries_revalidate_with_if_modified_since_and_writes_invalidate() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = CacheSettings::default();
    settings.ttl.fields = 0; // always stale: every use revalidates
    let (p, cache) = proxy(&sb, dir.path(), settings).await;
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v8/settings/fields?module=Contacts", p.base_url());
    let token = token_via(&p.base_url(), "1000.SDK", "rt-user-1").await;
    assert_eq!(get(&http, &url, &token).await, (200, "miss".into()));
    assert_eq!(get(&http, &url, &token).await, (200, "revalidated".into()));
    let e = &cache.list()[0];
    assert_eq!((e.revalidations, e.misses), (1, 1));
    // The sandbox answered 304 to the revalidation: charged as the call (the default setting).
    assert_eq!(sb.usage().await["by_api"]["fields"]["calls"], 2);
    // A metadata-changing call through the proxy drops the module's entries.
    let org = format!("{}/crm/v8/org", p.base_url());
    assert_eq!(get(&http, &org, &token).await.1, "miss");
    let r = http
        .post(format!(
            "{}/crm/v8/settings/fields?module=Contacts",
            p.base_url()
        ))
        .header("Authorization", format!("Zoho-oauthtoken {}", token))
        .json(&serde_json::json!({"fields": []}))
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() >= 200);
    let keys: Vec<String> = cache.list().into_iter().map(|e| e.key).collect();
    assert_eq!(keys.len(), 1, "only the org entry is left: {keys:?}");
    assert!(keys[0].ends_with("/crm/v8/org"));
    // Record reads are never cached unless opted in.
    let list = format!("{}/crm/v8/Leads?fields=Last_Name", p.base_url());
    assert_eq!(get(&http, &list, &token).await.1, "");
}

#[tokio::test]
async fn a_client_revalidating_gets_304_from_the_cache() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = proxy(&sb, dir.path(), CacheSettings::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/crm/v8/settings/modules", p.base_url());
    let token = token_via(&p.base_url(), "1000.SDK", "rt-user-1").await;
    get(&http, &url, &token).await;
    let r = http
        .get(&url)
        .header("Authorization", format!("Zoho-oauthtoken {}", token))
        .header("If-Modified-Since", chrono::Utc::now().to_rfc2822())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(
        sb.usage().await["by_api"]["modules"]["calls"],
        1,
        "answered by the cache"
    );
}

#[test]
fn the_cli_clears_what_a_running_proxy_uses_and_reports_stats() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cache_dir = dir.path().join("cache");
    std::fs::create_dir_all(&cache_dir).unwrap();
    let (_sb, p, token) = rt.block_on(async {
        let sb = Sb::default().await;
        // The CLI and the proxy share `<cache>/metadata-<profile>.sqlite`.
        let cache = Arc::new(
            MetadataCache::open(
                cache_dir.join("metadata-embedded.sqlite"),
                CacheSettings::default(),
            )
            .unwrap(),
        );
        let p = spawn_proxy(
            ProxyConfig {
                thresholds: vec![],
                cache: Some(cache),
                ..ProxyConfig::new(&sb.base, dir.path().join("l.sqlite"))
            },
            loopback(),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let token = token_via(&p.base_url(), "1000.SDK", "rt-user-1").await;
        for _ in 0..3 {
            get(
                &http,
                &format!("{}/crm/v8/settings/fields?module=Leads", p.base_url()),
                &token,
            )
            .await;
        }
        (sb, p, token)
    });
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
            .args(args)
            .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
            .env("CREDITOPS_CACHE_DIR", &cache_dir)
            .output()
            .unwrap()
    };
    let out = run(&["cache", "stats", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "entries",
        "hits",
        "misses",
        "hit_ratio",
        "credits_saved",
        "bytes",
    ] {
        assert!(v.get(k).is_some(), "{k}: {v}");
    }
    assert_eq!(
        (
            v["entries"].as_u64(),
            v["hits"].as_u64(),
            v["misses"].as_u64(),
            v["credits_saved"].as_u64()
        ),
        (Some(1), Some(2), Some(1), Some(2))
    );
    let list: Value = serde_json::from_slice(&run(&["cache", "list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["kind"], "fields");
    assert_eq!(list[0]["module"], "Leads");
    let out = run(&["cache", "clear", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["cleared"],
        1
    );
    // The running proxy sees the clear at once: the next call is a miss.
    rt.block_on(async {
        let http = reqwest::Client::new();
        assert_eq!(
            get(
                &http,
                &format!("{}/crm/v8/settings/fields?module=Leads", p.base_url()),
                &token
            )
            .await
            .1,
            "miss"
        );
    });
}

#[test]
fn a_corrupted_cache_is_moved_aside_and_a_damaged_entry_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, just bytes that were once one",
    )
    .unwrap();
    let cache = MetadataCache::open(&path, CacheSettings::default()).unwrap();
    assert_eq!(cache.warnings.len(), 1);
    assert!(
        cache.warnings[0].contains("corrupted") && cache.warnings[0].contains("moved"),
        "{:?}",
        cache.warnings
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("corrupt-")));
    let now = chrono::Utc::now().timestamp_millis();
    cache.store(
        "k",
        creditops_store::cache::Kind::Fields,
        Some("Leads"),
        "application/json",
        br#"{"fields":[]}"#,
        now,
    );
    assert!(matches!(
        cache.lookup("k", now),
        creditops_store::cache::Lookup::Fresh(_)
    ));
    // Damage the stored body behind the cache's back.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE entries SET body = X'7B2266' WHERE key = 'k'", [])
        .unwrap();
    assert!(
        matches!(cache.lookup("k", now), creditops_store::cache::Lookup::Miss),
        "never served"
    );
    assert!(cache.list().is_empty(), "and dropped");
}

#[tokio::test]
async fn the_client_caches_metadata_too() {
    use creditops_core::secret::Secret;
    use creditops_net::client::{Credentials, Endpoint, ZohoClient};
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = CacheSettings::default();
    settings.ttl.modules = 0; // modules always revalidate (Zoho answers 304 for modules and fields)
    let cache = Arc::new(MetadataCache::open(dir.path().join("client.sqlite"), settings).unwrap());
    let mut c = ZohoClient::new(
        Endpoint::local(&sb.base),
        Some(Credentials {
            client_id: "1000.C".into(),
            client_secret: Secret::new("s"),
            refresh_token: Secret::new("r"),
        }),
    )
    .unwrap();
    c.cache = Some(cache.clone());
    let q = vec![("module".to_string(), "Leads".to_string())];
    for _ in 0..3 {
        let a = c
            .call(reqwest::Method::GET, "/crm/v8/settings/fields", &q, None)
            .await
            .unwrap();
        assert_eq!(a.status, 200);
        assert!(a.body["fields"].as_array().is_some_and(|f| !f.is_empty()));
    }
    assert_eq!(
        sb.usage().await["by_api"]["fields"]["calls"],
        1,
        "one call, two hits"
    );
    for _ in 0..2 {
        let a = c
            .call(reqwest::Method::GET, "/crm/v8/settings/modules", &[], None)
            .await
            .unwrap();
        assert!(
            a.body["modules"].as_array().is_some_and(|m| !m.is_empty()),
            "a 304 still answers the cached body"
        );
    }
    let modules = cache
        .list()
        .into_iter()
        .find(|e| e.kind == creditops_store::cache::Kind::Modules)
        .unwrap();
    assert_eq!((modules.misses, modules.revalidations), (1, 1));
    // Records are not cached.
    c.call(
        reqwest::Method::GET,
        "/crm/v8/Leads",
        &[("fields".into(), "Last_Name".into())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(cache.list().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_only_callers_who_could_get_the_answer_themselves() {
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let (p, cache) = proxy(&sb, dir.path(), CacheSettings::default()).await;
    let http = reqwest::Client::new();
    let base = p.base_url();
    let fields = format!("{base}/crm/v8/settings/fields?module=Leads");
    let me = format!("{base}/crm/v8/users?type=CurrentUser");
    let alice = token_via(&base, "1000.SDK", "rt-alice").await;
    assert_eq!(get(&http, &fields, &alice).await, (200, "miss".into()));
    assert_eq!(get(&http, &fields, &alice).await, (200, "hit".into()));
    assert_eq!(get(&http, &me, &alice).await, (200, "miss".into()));

    // No token: forwarded (Zoho refuses it), never answered from the cache.
    let r = http.get(&fields).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "the cache must not answer a call without a token"
    );
    assert!(r.headers().get("x-creditops-cache").is_none());
    // A token the proxy never saw minted: forwarded, not answered from the cache.
    let (status, from) = get(&http, &fields, &sb.token).await;
    assert_eq!((status, from.as_str()), (200, ""), "unknown token");
    let (status, from) = get(&http, &fields, "made-up-token").await;
    assert_eq!((status, from.as_str()), (401, ""));

    // Another user of the same client: their own entries, never Alice's current user.
    let bob = token_via(&base, "1000.SDK", "rt-bob").await;
    assert_eq!(get(&http, &me, &bob).await, (200, "miss".into()));
    assert_eq!(get(&http, &fields, &bob).await, (200, "miss".into()));
    // Another client: its own entries too.
    let other = token_via(&base, "1000.OTHER", "rt-alice").await;
    assert_eq!(get(&http, &fields, &other).await, (200, "miss".into()));
    // A new token from Alice's grant is still Alice: her entries serve it.
    let alice_again = token_via(&base, "1000.SDK", "rt-alice").await;
    assert_ne!(alice_again, alice);
    assert_eq!(get(&http, &me, &alice_again).await, (200, "hit".into()));
    // Keys name the client and a hash of the grant, never a token or a refresh token.
    for e in cache.list() {
        assert!(
            !e.key.contains(&alice) && !e.key.contains("rt-alice"),
            "{}",
            e.key
        );
    }
}

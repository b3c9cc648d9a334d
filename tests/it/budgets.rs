//! Budgets per integration, through the proxy in front of the sandbox: a runaway is stopped at
//! its budget while a critical integration keeps working (the sandbox's own count proves what
//! reached it), the reserve refuses background before normal before critical, Retry-After
//! follows the sandbox's clock, `enforce = false` refuses nothing and records what it would
//! have, and bad budget config is refused with file, line and key.

use std::sync::Arc;

use creditops_core::budgets::Budgets;
use creditops_net::proxy::{spawn as spawn_proxy, Clock, ProxyConfig, ProxyHandle};
use creditops_sandbox::SandboxConfig;
use creditops_store::ledger::Ledger;
use serde_json::Value;

use crate::common::{creditops, leads, loopback, tiny_model, write_config, Sb};

async fn org(limit: u64, budgets: &str, dir: &std::path::Path) -> (Sb, ProxyHandle) {
    let model = tiny_model(limit, 50, 20);
    let limits = model.editions.limits("tiny", 0, 0).unwrap();
    let sb = Sb::start(SandboxConfig {
        edition: "tiny".into(),
        users: 0,
        model: model.clone(),
        ..Default::default()
    })
    .await;
    let state = sb.handle.state.clone();
    let budgets: Budgets = toml::from_str(budgets).unwrap();
    let p = spawn_proxy(
        ProxyConfig {
            limits: Some(limits),
            model,
            budgets: Some(budgets),
            // The proxy reads the sandbox's clock, so advancing it moves both.
            clock: Clock(Arc::new(move || state.clock.now_ms())),
            thresholds: vec![],
            ..ProxyConfig::new(&sb.base, dir.join("ledger.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    (sb, p)
}

/// One insert of `records` records (a credit per 10) as `integration`: status, Retry-After, body.
async fn insert(
    sb: &Sb,
    p: &ProxyHandle,
    integration: &str,
    records: usize,
) -> (u16, Option<u64>, Value) {
    // Unique emails: a duplicate would fail in the sandbox, not in the budget.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r = sb
        .http
        .post(format!("{}/crm/v8/Leads", p.base_url()))
        // A token minted now, on the sandbox's clock (the test moves it past an hour).
        .header(
            "Authorization",
            format!("Zoho-oauthtoken {}", sb.handle.state.mint_token()),
        )
        .header("X-Integration", integration)
        .json(&leads(records, &format!("{integration}-{n}-")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_integration_is_stopped_at_its_budget_while_a_critical_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, p) = org(
        100_000,
        "[default]\ncredits = 1000\n[integrations.shop-sync]\ncredits = 50\npriority = \"background\"\n[integrations.orders]\nshare = 0.5\npriority = \"critical\"\n",
        dir.path(),
    )
    .await;
    // The runaway: a loop of one-record inserts, a credit each.
    let (mut ok, mut refused) = (0, 0);
    let mut last = None;
    for _ in 0..80 {
        match insert(&sb, &p, "shop-sync", 1).await {
            (201, _, _) => ok += 1,
            (429, retry, v) => {
                refused += 1;
                assert_eq!(v["code"], "BUDGET_EXCEEDED", "{v}");
                assert!(v["message"].as_str().unwrap().contains("shop-sync"), "{v}");
                last = retry;
            }
            other => panic!("{other:?}"),
        }
        // The critical integration keeps working all along.
        assert_eq!(insert(&sb, &p, "orders", 1).await.0, 201);
    }
    assert_eq!((ok, refused), (50, 30));
    assert_eq!(
        sb.used().await,
        50 + 80,
        "nothing past the budget reached the sandbox"
    );
    // Back when the first of its credits leaves the rolling day.
    let retry = last.unwrap();
    assert!(retry > 86_000 && retry <= 86_400, "{retry}");
    // 23 hours later, still full: Retry-After now counts the last hour.
    sb.advance(23 * 3600).await;
    let (status, retry, _) = insert(&sb, &p, "shop-sync", 1).await;
    assert_eq!(status, 429);
    let retry = retry.unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    // Past it, the credits are back and so is the integration.
    sb.advance(retry as i64 + 1).await;
    assert_eq!(insert(&sb, &p, "shop-sync", 1).await.0, 201);
    let refusals = Ledger::open(dir.path().join("ledger.sqlite"))
        .unwrap()
        .refusals_since(0)
        .unwrap();
    assert_eq!(refusals.get("shop-sync"), Some(&(31, 0)), "{refusals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_limit_background_gives_way_first_then_normal_never_critical() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, p) = org(
        1000,
        "reserve_from = 90\n[integrations.importer]\nshare = 1.0\npriority = \"critical\"\n[integrations.nightly]\nshare = 0.5\npriority = \"background\"\n[integrations.forms]\nshare = 0.2\n[integrations.orders]\nshare = 0.3\npriority = \"critical\"\n",
        dir.path(),
    )
    .await;
    // Fill the org to 91 % through a critical integration.
    for _ in 0..91 {
        assert_eq!(insert(&sb, &p, "importer", 100).await.0, 201);
    }
    let (status, _, v) = insert(&sb, &p, "nightly", 10).await;
    assert_eq!(status, 429, "background refused past 90 %: {v}");
    assert!(v["message"].as_str().unwrap().contains("background"), "{v}");
    assert_eq!(
        insert(&sb, &p, "forms", 10).await.0,
        201,
        "normal still goes at 91 %"
    );
    for _ in 0..4 {
        assert_eq!(insert(&sb, &p, "importer", 100).await.0, 201);
    }
    // 96 %: normal gives way too; critical does not.
    let (status, _, _) = insert(&sb, &p, "forms", 10).await;
    assert_eq!(status, 429, "normal refused past 95 %");
    assert_eq!(insert(&sb, &p, "orders", 10).await.0, 201);
    assert_eq!(sb.used().await, 910 + 1 + 40 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_enforced_budgets_refuse_nothing_and_record_what_they_would_have() {
    let dir = tempfile::tempdir().unwrap();
    let (sb, p) = org(
        100_000,
        "enforce = false\n[integrations.shop-sync]\ncredits = 5\nper_hour = 3\npriority = \"background\"\n",
        dir.path(),
    )
    .await;
    for _ in 0..10 {
        assert_eq!(insert(&sb, &p, "shop-sync", 1).await.0, 201);
    }
    assert_eq!(sb.used().await, 10);
    let ledger = Ledger::open(dir.path().join("ledger.sqlite")).unwrap();
    // Give the fire-and-forget refusal rows a moment to commit.
    let mut seen = (0, 0);
    for _ in 0..100 {
        seen = ledger
            .refusals_since(0)
            .unwrap()
            .get("shop-sync")
            .copied()
            .unwrap_or_default();
        if seen.1 >= 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen,
        (0, 7),
        "three an hour would go, seven would be refused"
    );
}

#[test]
fn bad_budget_config_is_refused_with_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config");
    for (text, key, line, says) in [
        (
            "[budgets.integrations.a]\nshare = 0.7\n[budgets.integrations.b]\nshare = 0.6\n",
            "integrations",
            "line 1",
            "over 100 %",
        ),
        (
            "[budgets.integrations.a]\ncredits = 10\npriority = \"urgent\"\n",
            "priority",
            "line 3",
            "urgent",
        ),
        (
            "[budgets.integrations.a]\ncredits = -5\n",
            "credits",
            "line 2",
            "",
        ),
        (
            "[budgets]\nreserve_from = 120\n",
            "reserve_from",
            "line 2",
            "1-100",
        ),
    ] {
        write_config(&cfg, text);
        let out = creditops(home.path(), &["config", "check"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains("config.toml")
                && err.contains(key)
                && err.contains(line)
                && err.contains(says),
            "{text}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_json_shows_each_integrations_budget_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let budgets = "[integrations.shop-sync]\ncredits = 3\npriority = \"background\"\n";
    let (sb, p) = org(100_000, budgets, dir.path()).await;
    for _ in 0..5 {
        insert(&sb, &p, "shop-sync", 1).await;
    }
    drop(p);
    let home = tempfile::tempdir().unwrap();
    write_config(
        &home.path().join("config"),
        "[budgets.integrations.shop-sync]\ncredits = 3\npriority = \"background\"\n",
    );
    let ledger = dir.path().join("ledger.sqlite");
    let mut v = Value::Null;
    for _ in 0..100 {
        let out = creditops(
            home.path(),
            &["usage", "--json", "--ledger", ledger.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        v = serde_json::from_slice(&out.stdout).unwrap();
        if v["budgets"][0]["refused"] == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let b = &v["budgets"][0];
    assert_eq!(b["integration"], "shop-sync");
    assert_eq!(
        (
            b["budget"].as_u64(),
            b["used"].as_u64(),
            b["remaining"].as_u64()
        ),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(
        (b["refused"].as_u64(), b["priority"].as_str()),
        (Some(2), Some("background"))
    );
}

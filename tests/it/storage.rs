//! Full disks: what was acknowledged is kept, and what cannot be recorded is refused before it
//! costs anything. On a real small tmpfs where the test may mount one; the injected-error
//! variants (tests/it/proxy.rs) run everywhere.

use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};
use creditops_sandbox::{spawn, SandboxConfig};
use creditops_store::ledger::Ledger;
use serde_json::Value;

use crate::common::{leads, loopback, Sb, SmallDisk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_whose_ledger_disk_is_full_forwards_nothing_it_cannot_record() {
    let Some(disk) = SmallDisk::mount(1024) else {
        eprintln!("skipped: cannot mount a tmpfs here (the injected-error test covers this)");
        return;
    };
    let sb = Sb::default().await;
    let ledger = disk.path().join("ledger.sqlite");
    let p = spawn_proxy(ProxyConfig::new(&sb.base, &ledger), loopback())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..3000 {
        let r = http
            .post(format!("{}/crm/v8/Leads", p.base_url()))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .json(&leads(1, &format!("full-{i}-")))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => ok += 1,
            503 => {
                refused += 1;
                if refused >= 50 {
                    break;
                }
            }
            other => panic!("call {i}: {other}"),
        }
    }
    assert!(ok > 0 && refused >= 50, "ok {ok}, refused {refused}");
    // Every acknowledged insert reached the sandbox and no refused one did: its count is the
    // acknowledged calls' credits, one each.
    assert_eq!(sb.used().await, ok, "refused calls never reached Zoho");
    drop(p);
    let now = chrono::Utc::now().timestamp_millis();
    let recorded = Ledger::open(&ledger).unwrap().used_at(now).unwrap();
    assert_eq!(
        recorded, ok,
        "every call that cost credits is in the ledger"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_whose_data_dir_is_full_acknowledges_only_what_it_kept() {
    let Some(disk) = SmallDisk::mount(1024) else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let config = || SandboxConfig {
        data_dir: Some(disk.path().to_path_buf()),
        ..Default::default()
    };
    let sb = spawn(config(), loopback()).await.unwrap();
    let token = sb.state.mint_token();
    let http = reqwest::Client::new();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut failures = 0;
    for i in 0..400 {
        let r = http
            .post(format!("{}/crm/v8/Leads", sb.base_url()))
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .json(&leads(100, &format!("disk-{i}-")))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or_default();
        match status {
            201 => acknowledged.extend(
                v["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d["details"]["id"].as_str().map(String::from)),
            ),
            500 => {
                assert_eq!(v["code"], "INTERNAL_ERROR", "{v}");
                failures += 1;
                if failures >= 5 {
                    break;
                }
            }
            other => panic!("batch {i}: {other} {v}"),
        }
    }
    assert!(
        failures >= 5,
        "the disk never filled ({} records kept)",
        acknowledged.len()
    );
    assert!(!acknowledged.is_empty());
    sb.shutdown().await;
    // Restarted on what the disk holds (with room again, since reads record their charges):
    // every acknowledged record is there.
    disk.grow(8 * 1024);
    let again = spawn(config(), loopback()).await.unwrap();
    let token = again.state.mint_token();
    for id in acknowledged.iter().step_by(37).chain(acknowledged.last()) {
        let r = http
            .get(format!("{}/crm/v8/Leads/{id}", again.base_url()))
            .header("Authorization", format!("Zoho-oauthtoken {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged record {id} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_queue_keeps_every_acknowledged_call_whole() {
    let home = tempfile::tempdir().unwrap();
    // A line torn by a crash mid-write (never acknowledged) is cut, not run into.
    let torn = home.path().join("torn.jsonl");
    std::fs::write(
        &torn,
        "{\"id\":\"h1\",\"method\":\"GET\",\"path\":\"/crm/v8/org\"}\n{\"id\":\"h2\",\"meth",
    )
    .unwrap();
    let sb = Sb::default().await;
    let p = spawn_proxy(
        ProxyConfig {
            hold: Some(torn.clone()),
            ..ProxyConfig::new(&sb.base, home.path().join("l1.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let hold = |base: String, i: usize| {
        http.post(format!("{base}/crm/v8/Leads"))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .json(&leads(20, &format!("held-{i}-")))
            .send()
    };
    let r = hold(p.base_url(), 0).await.unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["details"]["id"], "h2",
        "ids continue after the whole lines"
    );
    let loaded = creditops_core::planner::load(&torn).unwrap();
    assert!(loaded.bad.is_empty(), "{:?}", loaded.bad);
    assert_eq!(loaded.calls.len(), 2);

    // On a disk that fills: every 202 is a whole line the planner reads; every refusal is 503.
    let Some(disk) = SmallDisk::mount(64) else {
        eprintln!("skipped the full-disk half: cannot mount a tmpfs here");
        return;
    };
    let queue = disk.path().join("held.jsonl");
    let p = spawn_proxy(
        ProxyConfig {
            hold: Some(queue.clone()),
            ..ProxyConfig::new(&sb.base, home.path().join("l2.sqlite"))
        },
        loopback(),
    )
    .await
    .unwrap();
    let (mut held, mut refused) = (0, 0);
    for i in 0..2000 {
        match hold(p.base_url(), i).await.unwrap().status().as_u16() {
            202 => held += 1,
            503 => {
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            other => panic!("call {i}: {other}"),
        }
    }
    assert!(held > 0 && refused >= 5, "held {held}, refused {refused}");
    disk.grow(1024);
    assert_eq!(hold(p.base_url(), 9999).await.unwrap().status(), 202);
    held += 1;
    let loaded = creditops_core::planner::load(&queue).unwrap();
    assert!(loaded.bad.is_empty(), "{:?}", loaded.bad);
    assert_eq!(loaded.calls.len(), held, "every acknowledged call, whole");
}

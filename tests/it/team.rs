//! Team scale: several proxies (separate processes) on one PostgreSQL ledger, against a real
//! PostgreSQL server (see common/postgres.rs). Exact totals, org-wide concurrency admission, a
//! proxy killed mid-load, the database stopped mid-load and restarted.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::common::postgres;
use crate::common::{announced_base, Sb};
use creditops_sandbox::SandboxConfig;
use creditops_store::ledger::{Group, Ledger};

/// A proxy process, killed when dropped (a failing test leaves none behind).
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `creditops proxy` on a free port in front of `upstream`, recording in `ledger`.
fn proxy(dir: &std::path::Path, upstream: &str, ledger: &str, name: &str) -> (Running, String) {
    // As a flag must carry it: the password goes in PGPASSWORD.
    let (ledger, password) = match creditops_store::db::is_postgres_url(ledger) {
        true => postgres::split_password(ledger),
        false => (ledger.to_string(), String::new()),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream,
            "--edition",
            "free",
            "--users",
            "1",
            "--name",
            name,
            "--ledger",
            &ledger,
        ])
        .env("PGPASSWORD", password)
        .env("CREDITOPS_CONFIG_DIR", dir.join("cfg"))
        .env("CREDITOPS_DATA_DIR", dir.join(format!("data-{name}")))
        .env("CREDITOPS_CACHE_DIR", dir.join(format!("cache-{name}")))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("creditops proxy starts");
    let stdout = child.stdout.take().expect("stdout");
    let child = Running(child);
    let base = announced_base(stdout);
    (child, base)
}

/// Each worker inserts one record per call through its proxy until `calls` are done or an
/// answer is not 201; returns the 201s, and the statuses of the rest.
async fn load(
    bases: &[String],
    token: &str,
    workers_per_proxy: usize,
    calls: usize,
) -> (u64, Vec<u16>) {
    let http = reqwest::Client::new();
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (p, base) in bases.iter().enumerate() {
        for w in 0..workers_per_proxy {
            let (http, base, token, answered) = (
                http.clone(),
                base.clone(),
                token.to_string(),
                answered.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut other = Vec::new();
                for i in 0..calls {
                    let r = http
                        .post(format!("{base}/crm/v8/Tasks"))
                        .header("Authorization", format!("Zoho-oauthtoken {token}"))
                        .header("X-Integration", format!("worker-{p}"))
                        .json(&json!({"data": [{"Subject": format!("p{p}w{w}c{i}")}]}))
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await;
                    match r.map(|r| r.status().as_u16()) {
                        Ok(201) => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(s) => other.push(s),
                        Err(_) => {
                            other.push(0);
                            break;
                        }
                    }
                }
                other
            }));
        }
    }
    let mut other = Vec::new();
    for t in tasks {
        other.extend(t.await.expect("worker"));
    }
    (answered.load(Ordering::SeqCst), other)
}

/// A sandbox org on the Free edition (5 concurrent calls), each metered call taking
/// `latency_ms` there, so concurrency is real.
async fn free_org(latency_ms: u64) -> Sb {
    Sb::start(SandboxConfig {
        edition: "free".into(),
        users: 1,
        latency: Duration::from_millis(latency_ms),
        ..Default::default()
    })
    .await
}

fn ledger_of(url: &str) -> Ledger {
    let url = url.to_string();
    // The reader's driver keeps off any async runtime: open it on a plain thread.
    std::thread::spawn(move || Ledger::open(creditops_store::db::Location::parse(&url)))
        .join()
        .expect("open")
        .expect("the ledger opens")
}

#[test]
fn three_proxies_on_one_ledger_count_exactly_and_keep_the_org_under_its_concurrency() {
    let Some(url) = postgres::database("three_proxies") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Free edition: 5 concurrent calls for the org; each call takes 5 ms at the sandbox, and
    // 18 workers across three proxies want more than that at once.
    let sb = rt.block_on(free_org(5));
    let mut proxies: Vec<(Running, String)> = (0..3)
        .map(|i| proxy(dir.path(), &sb.base, &url, &format!("proxy-{i}")))
        .collect();
    let bases: Vec<String> = proxies.iter().map(|(_, b)| b.clone()).collect();
    let (answered, other) = rt.block_on(load(&bases, &sb.token, 6, 25));
    let usage = rt.block_on(sb.usage());
    let ledger = ledger_of(&url);
    // A call whose row already holds its price gives its lease back after the answer has left
    // (`finish_later`), so the last few may still be in flight here. The proxies stay up while
    // we wait: they renew what they hold, so a lease never given back would still be counted
    // after the 10 s (twice its time to live), and only given-back leases reach (0, 0).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut leased = ledger
        .leased(chrono::Utc::now().timestamp_millis())
        .unwrap();
    while leased != (0, 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        leased = ledger
            .leased(chrono::Utc::now().timestamp_millis())
            .unwrap();
    }
    for (c, _) in &mut proxies {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert!(
        other.is_empty(),
        "every call was admitted and answered 201: {other:?}"
    );
    assert_eq!(answered, 3 * 6 * 25);
    assert_eq!(
        usage["rejected"], 0,
        "Zoho (the sandbox) refused nothing: {usage}"
    );
    assert!(
        usage["peak_in_flight"].as_u64().unwrap() <= 5,
        "the org stayed within its concurrency: {usage}"
    );
    assert_eq!(leased, (0, 0), "every lease was given back");
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        ledger.used_at(now).unwrap(),
        usage["used"].as_u64().unwrap()
    );
    assert_eq!(ledger.count().unwrap(), answered);
    let by_proxy = ledger.breakdown(now, Group::Proxy).unwrap();
    assert_eq!(by_proxy.len(), 3, "{by_proxy:?}");
    for (name, t) in &by_proxy {
        assert_eq!(t.calls, 6 * 25, "{name}: {t:?}");
    }
}

#[test]
fn a_proxy_killed_mid_load_keeps_every_answered_call_and_its_slots_come_back() {
    let Some(url) = postgres::database("proxy_killed") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(free_org(20));
    let (mut victim, victim_base) = proxy(dir.path(), &sb.base, &url, "victim");
    let (mut survivor, survivor_base) = proxy(dir.path(), &sb.base, &url, "survivor");
    let token = sb.token.clone();
    let (answered, _) = rt.block_on(async {
        let run = tokio::spawn({
            let (b, t) = (victim_base.clone(), token.clone());
            async move { load(&[b], &t, 5, 10_000).await }
        });
        tokio::time::sleep(Duration::from_millis(800)).await;
        victim.kill().unwrap(); // SIGKILL, with calls in flight holding leases
        victim.wait().unwrap();
        run.await.unwrap()
    });
    assert!(answered > 5, "the load ran: {answered}");
    let ledger = ledger_of(&url);
    let recorded = ledger.breakdown(i64::MAX / 2, Group::Proxy).unwrap();
    let _ = recorded;
    let victim_rows = ledger
        .query("SELECT COUNT(*) FROM calls WHERE proxy = 'victim'", vec![])
        .unwrap()[0]
        .count(0);
    // Recorded before answering: every answered call is there (a call may be recorded whose
    // answer the kill cut off, never the other way round).
    assert!(
        victim_rows >= answered && victim_rows <= answered + 5,
        "recorded {victim_rows}, answered {answered}"
    );
    // The dead proxy's leases expire: the survivor gets the whole org's concurrency (5 slots)
    // back within the lease's life, and every call goes through.
    let (ok, other) = rt.block_on(load(&[survivor_base], &token, 5, 4));
    let _ = survivor.kill();
    let _ = survivor.wait();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(ok, 20);
    let usage = rt.block_on(sb.usage());
    assert_eq!(usage["rejected"], 0, "{usage}");
}

/// Four workers call through `base` until the database has been stopped for 600 ms and
/// restarted for 1.5 s; returns every answer's status, in order per worker.
async fn load_through_outage(cluster: &postgres::Cluster, base: &str, token: &str) -> Vec<u16> {
    let http = reqwest::Client::new();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (http, base, token, stop) = (
            http.clone(),
            base.to_string(),
            token.to_string(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let r = http
                    .post(format!("{base}/crm/v8/Tasks"))
                    .header("Authorization", format!("Zoho-oauthtoken {token}"))
                    .json(&json!({"data": [{"Subject": format!("w{w}c{i}")}]}))
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await;
                seen.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    tokio::task::block_in_place(|| cluster.stop_server());
    tokio::time::sleep(Duration::from_millis(600)).await;
    tokio::task::block_in_place(|| cluster.start_server());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[test]
fn postgres_stopped_mid_load_and_restarted_loses_nothing_and_doubles_nothing() {
    let Some(cluster) = postgres::Cluster::start() else {
        postgres::unavailable("postgres_restart");
        return;
    };
    let url = postgres::create_database(&cluster.admin_url(), "restart");
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(free_org(2));
    let (mut child, base) = proxy(dir.path(), &sb.base, &url, "only");
    let statuses = rt.block_on(load_through_outage(&cluster, &base, &sb.token));
    let usage = rt.block_on(sb.usage());
    let _ = child.kill();
    let _ = child.wait();
    let created = statuses.iter().filter(|s| **s == 201).count() as u64;
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert!(refused > 0, "the outage was seen: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 503),
        "only answered or refused-before-sending: {statuses:?}"
    );
    assert!(
        statuses.iter().rev().take(4).all(|s| *s == 201),
        "calls go through again once the database is back"
    );
    // Zoho (the sandbox) charged exactly the calls answered 201; the ledger holds exactly those.
    assert_eq!(usage["used"].as_u64().unwrap(), created, "{usage}");
    let ledger = ledger_of(&url);
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(ledger.used_at(now).unwrap(), created);
    assert_eq!(ledger.count().unwrap(), created);
}

#[test]
fn a_budget_holds_across_proxies_sharing_a_ledger() {
    let Some(url) = postgres::database("budget_across") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
    std::fs::write(
        dir.path().join("cfg/config.toml"),
        "[budgets]\n[budgets.integrations.runaway]\ncredits = 30\npriority = \"background\"\n",
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let (mut a, base_a) = proxy(dir.path(), &sb.base, &url, "east");
    let (mut b, base_b) = proxy(dir.path(), &sb.base, &url, "west");
    let statuses = rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..25 {
            // Alternating: each proxy sees what the other recorded.
            for base in [&base_a, &base_b] {
                let r = sb
                    .http
                    .post(format!("{base}/crm/v8/Tasks"))
                    .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
                    .header("X-Integration", "runaway")
                    .json(&json!({"data": [{"Subject": format!("r{i}")}]}))
                    .send()
                    .await
                    .unwrap();
                out.push(r.status().as_u16());
            }
        }
        out
    });
    // A refusal is recorded off the answer's path: wait for the 20 (bounded) before the
    // proxies that write them are stopped.
    let ledger = ledger_of(&url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut refusals = ledger.refusals_since(0).unwrap();
    while refusals.get("runaway").map_or(0, |r| r.0) < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        refusals = ledger.refusals_since(0).unwrap();
    }
    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(
        created, 30,
        "the budget holds for the org, not per proxy: {statuses:?}"
    );
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(rt.block_on(sb.used()), 30);
    assert_eq!(
        refusals["runaway"],
        (20, 0),
        "every refusal recorded: {refusals:?}"
    );
}

/// Two writers (two proxies) checking thresholds at once on one PostgreSQL ledger: each
/// crossing is claimed once between them, by the database.
#[test]
fn threshold_crossings_fire_once_across_proxies() {
    let Some(url) = postgres::database("crossings_once") else {
        return;
    };
    use creditops_store::ledger::{CallRecord, CrossingCheck, LedgerWriter, STATUS_UNSETTLED};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fired = rt.block_on(async {
        let at = creditops_store::db::Location::parse(&url);
        let writers: Vec<LedgerWriter> = (0..2)
            .map(|i| LedgerWriter::open_as(&at, 30, &format!("p{i}")).unwrap())
            .collect();
        let now = chrono::Utc::now().timestamp_millis();
        let mut tasks = Vec::new();
        for (i, w) in writers.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut fired = Vec::new();
                for k in 0..50 {
                    w.begin(CallRecord {
                        at_ms: now,
                        integration: format!("i{i}"),
                        api: "insert_records".into(),
                        module: None,
                        method: "POST".into(),
                        path: "/crm/v8/Tasks".into(),
                        records: 1,
                        credits: 1,
                        status: STATUS_UNSETTLED,
                        latency_ms: 0,
                        priced: true,
                        reported_remaining: None,
                        saved: 0,
                        call_key: None,
                    })
                    .await
                    .unwrap();
                    let c = w
                        .crossings(CrossingCheck {
                            now_ms: now + k,
                            limit: Some(100),
                            reported_remaining: None,
                            thresholds: vec![50, 80, 100],
                        })
                        .await
                        .unwrap();
                    fired.extend(c.fired);
                }
                fired
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort_unstable();
        all
    });
    assert_eq!(fired, vec![50, 80, 100]);
    let alerts = ledger_of(&url).alerts_since(0).unwrap();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
}

/// One proxy on its own SQLite ledger admits in-process: 12 workers against an org allowed 5
/// calls at once, and Zoho (the sandbox) refuses none.
#[test]
fn one_proxy_on_sqlite_admits_within_the_orgs_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(free_org(5));
    let ledger = dir.path().join("ledger.sqlite");
    let (mut child, base) = proxy(dir.path(), &sb.base, ledger.to_str().unwrap(), "solo");
    let (answered, other) = rt.block_on(load(&[base], &sb.token, 12, 15));
    let usage = rt.block_on(sb.usage());
    let _ = child.kill();
    let _ = child.wait();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(answered, 12 * 15);
    assert_eq!(usage["rejected"], 0, "{usage}");
    assert!(usage["peak_in_flight"].as_u64().unwrap() <= 5, "{usage}");
}

/// With `[store] on_unavailable = "spool"` the outage costs no call: they are recorded in the
/// local spool and replayed into PostgreSQL once it is back, exactly once.
#[test]
fn postgres_stopped_mid_load_with_a_spool_refuses_nothing_and_replays_once() {
    let Some(cluster) = postgres::Cluster::start() else {
        postgres::unavailable("postgres_spool");
        return;
    };
    let url = postgres::create_database(&cluster.admin_url(), "spool");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cfg")).unwrap();
    std::fs::write(
        dir.path().join("cfg/config.toml"),
        "[store]\non_unavailable = \"spool\"\n",
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(free_org(2));
    let (mut child, base) = proxy(dir.path(), &sb.base, &url, "spooler");
    let statuses = rt.block_on(load_through_outage(&cluster, &base, &sb.token));
    let created = statuses.iter().filter(|s| **s == 201).count() as u64;
    assert!(
        statuses.iter().all(|s| *s == 201),
        "nothing refused while the database was away: {statuses:?}"
    );
    let spool =
        creditops_store::db::Location::from(dir.path().join("data-spooler/spool-embedded.sqlite"));
    assert!(
        spool.path().is_some_and(|p| p.exists()),
        "calls went to the spool"
    );
    // The proxy replays the spool within seconds of the database's return.
    let ledger = ledger_of(&url);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ledger.count().unwrap() < created && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(ledger.count().unwrap(), created);
    assert_eq!(ledger.used_at(now).unwrap(), rt.block_on(sb.used()));
    // A replay cut off before the spool noted it (the mark rolled back) copies nothing twice.
    rusqlite::Connection::open(spool.path().unwrap())
        .unwrap()
        .execute(
            "UPDATE live SET value = 0 WHERE key = 'spool_replayed_through'",
            [],
        )
        .unwrap();
    let again = creditops_store::spool::replay(
        &spool,
        &creditops_store::db::Location::parse(&url),
        "spooler",
        now,
    )
    .unwrap();
    assert!(again > 0, "the rolled-back mark made the replay run again");
    assert_eq!(
        ledger.count().unwrap(),
        created,
        "and the ledger kept one copy"
    );
}

/// The event store and the metadata cache on PostgreSQL: what is written reads back whole
/// (bodies as bytes, not text), the channels' tokens stay hashed, a cache hit counts its savings.
#[test]
fn events_and_the_metadata_cache_live_in_postgresql_too() {
    let Some(url) = postgres::database("events_cache") else {
        return;
    };
    use creditops_core::metadata::{CacheSettings, Kind as CacheKind};
    use creditops_core::webhook::{Kind, Summary};
    use creditops_store::cache::{Lookup, MetadataCache};
    use creditops_store::events::{Channel, EventReader, EventWriter, NewEvent};
    let at = creditops_store::db::Location::parse(&url);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = b"{\"module\":\"Leads\",\"ids\":[\"1\"],\"operation\":\"insert\"}\xff".to_vec();
    let id = rt.block_on(async {
        let w = EventWriter::open(&at).unwrap();
        w.save_channel(Channel {
            channel_id: "1001".into(),
            token_hash: creditops_core::secret::token_hash("chan-token"),
            events: vec!["Leads.create".into()],
            notify_url: "http://127.0.0.1:1/hooks".into(),
            expiry_ms: 5,
            profile: "team".into(),
        })
        .await
        .unwrap();
        w.insert(NewEvent {
            received_at_ms: 1_000,
            kind: Kind::Notification,
            name: None,
            summary: Summary {
                module: Some("Leads".into()),
                operation: Some("insert".into()),
                ids: vec!["1".into()],
                channel_id: Some("1001".into()),
                token: None,
            },
            verified: true,
            content_type: "application/json".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.clone(),
        })
        .await
        .unwrap()
    });
    let (event, channels) = creditops_store::db::off_runtime(|| {
        let r = EventReader::open(&at).unwrap();
        (r.get(id).unwrap().unwrap(), r.channels().unwrap())
    });
    assert_eq!(event.new.body, body);
    assert_eq!(event.new.summary.ids, vec!["1".to_string()]);
    assert!(event.new.verified);
    assert_eq!(channels.len(), 1);
    assert!(channels[0].token_hash.starts_with("sha256:"));
    let cache = MetadataCache::open(&at, CacheSettings::default()).unwrap();
    let key = "org1|/crm/v8/settings/modules";
    cache.store(
        key,
        CacheKind::Modules,
        None,
        "application/json",
        b"{\"modules\":[]}",
        10,
    );
    assert!(matches!(cache.lookup(key, 11), Lookup::Fresh(e) if e.body == b"{\"modules\":[]}"));
    cache.hit(key, 1, 12);
    let stats = cache.stats(13);
    assert_eq!((stats.entries, stats.hits, stats.credits_saved), (1, 1, 1));
    assert_eq!(cache.invalidate(None), 1);
    assert!(matches!(cache.lookup(key, 14), Lookup::Miss));
}

/// A write the shared ledger committed while the proxy heard only an error (the connection
/// died in the commit) is spooled too; the replay recognises it by its call key: one row,
/// settled with what the spool learned. And the lease that write took, whose id the proxy
/// never got, is not renewed: it expires.
#[test]
fn a_write_committed_without_an_answer_and_spooled_is_kept_once() {
    let Some(url) = postgres::database("lost_ack") else {
        return;
    };
    use creditops_store::ledger::{CallRecord, LeaseAsk, LedgerWriter, Settled, STATUS_UNSETTLED};
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let rec = |key: &str| CallRecord {
        at_ms: now,
        integration: "erp".into(),
        api: "insert_records".into(),
        module: Some("Leads".into()),
        method: "POST".into(),
        path: "/crm/v8/Leads".into(),
        records: 30,
        credits: 3,
        status: STATUS_UNSETTLED,
        latency_ms: 0,
        priced: true,
        reported_remaining: None,
        saved: 0,
        call_key: Some(key.into()),
    };
    let pg = creditops_store::db::Location::parse(&url);
    let spool = creditops_store::db::Location::from(dir.path().join("spool.sqlite"));
    rt.block_on(async {
        // The shared ledger took the call (and a lease) but the proxy never heard: it spooled
        // the same call and settled it there (Zoho charged 2, not the 3 priced).
        let shared = LedgerWriter::open_as(&pg, 30, "p").unwrap();
        let orphan = shared
            .begin_leased(
                rec("k-lost"),
                Some(LeaseAsk {
                    slots: 1,
                    sub: 0,
                    limit: 5,
                    sub_limit: 5,
                    now_ms: now,
                    expires_ms: now + 1_000,
                }),
            )
            .await
            .unwrap();
        assert!(matches!(
            orphan,
            creditops_store::ledger::Begun::Recorded { lease: Some(_), .. }
        ));
        // What the proxy would hold had it heard; it did not: a fresh writer holds nothing.
        let proxy_view = LedgerWriter::open_as(&pg, 30, "p").unwrap();
        let local = LedgerWriter::open(&spool, 30).unwrap();
        let row = local.begin(rec("k-lost")).await.unwrap();
        local
            .finish(
                row,
                Settled {
                    status: 201,
                    credits: 2,
                    latency_ms: 40,
                    reported_remaining: None,
                },
            )
            .await
            .unwrap();
        let other = local.begin(rec("k-other")).await.unwrap();
        local
            .finish(
                other,
                Settled {
                    status: 201,
                    credits: 3,
                    latency_ms: 40,
                    reported_remaining: None,
                },
            )
            .await
            .unwrap();
        // Renewing keeps only the leases this proxy was given.
        proxy_view.renew_leases(now, 60_000);
        drop((shared, proxy_view, local));
    });
    for _ in 0..2 {
        creditops_store::spool::replay(&spool, &pg, "p", now + 1_000).unwrap();
    }
    let ledger = ledger_of(&url);
    assert_eq!(
        ledger.count().unwrap(),
        2,
        "one row per call, however often replayed"
    );
    assert_eq!(
        ledger.used_at(now + 1_000).unwrap(),
        5,
        "the lost-answer row settled at what Zoho charged (2), the other at 3"
    );
    assert_eq!(
        ledger.leased(now + 2_000).unwrap(),
        (0, 0),
        "the lease nobody holds expired instead of being renewed"
    );
}

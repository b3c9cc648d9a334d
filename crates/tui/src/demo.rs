//! The embedded default's demo workload: simulated integrations calling through the metering
//! proxy, some of them wasteful as real ones are (single-record inserts, a field fetch before
//! every call, status polling), so every gauge shows live, real traffic.

use std::time::Duration;

use creditops_core::planner::Method as CallMethod;
use reqwest::Method;
use serde_json::json;

use creditops_core::secret::Secret;
use creditops_net::client::{Credentials, Endpoint, ZohoClient};

fn client(base: &str, name: &str) -> Option<ZohoClient> {
    let mut c = ZohoClient::new(
        Endpoint::local(base),
        Some(Credentials {
            client_id: format!("1000.DEMO{}", name.to_uppercase().replace('-', "")),
            client_secret: Secret::new("demo-secret"),
            refresh_token: Secret::new(format!("1000.demo-{name}")),
        }),
    )
    .ok()?;
    c.integration = Some(name.to_string());
    // A demo must not hammer a limit it hit: one try, then wait for the next tick.
    c.retry.attempts = 1;
    Some(c)
}

async fn call(
    c: &ZohoClient,
    m: Method,
    path: &str,
    q: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Option<serde_json::Value> {
    let q: Vec<(String, String)> = q
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match c.call(m, path, &q, body.as_ref()).await {
        Ok(a) => Some(a.body),
        Err(e) => {
            tracing::debug!("demo {}: {e}", c.integration.as_deref().unwrap_or("?"));
            None
        }
    }
}

/// Starts the demo integrations against `proxy_base`; they run until the runtime stops.
pub fn start(proxy_base: &str) {
    let base = proxy_base.to_string();
    // shop-sync: one Lead per call, never batched (10x what batching would cost).
    if let Some(c) = client(&base, "shop-sync") {
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                n += 1;
                let body = json!({"data": [{"Last_Name": format!("Shopper {n}"), "Email": format!("shopper{n}-{}@demo.example", std::process::id()), "Lead_Source": "Online Store"}]});
                call(&c, Method::POST, "/crm/v8/Leads", &[], Some(body)).await;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        });
    }
    // erp-bridge: fetches the Accounts fields before every write, as SDKs without a cache do.
    if let Some(c) = client(&base, "erp-bridge") {
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                call(
                    &c,
                    Method::GET,
                    "/crm/v8/settings/fields",
                    &[("module", "Accounts")],
                    None,
                )
                .await;
                let data: Vec<_> = (0..5).map(|i| { n += 1; json!({"Account_Name": format!("ERP Customer {}", (n + i) % 400), "Billing_City": "Lyon"}) }).collect();
                call(
                    &c,
                    Method::POST,
                    "/crm/v8/Accounts/upsert",
                    &[],
                    Some(json!({"data": data})),
                )
                .await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    }
    // report-poller: a Bulk Read job, then status polling every second instead of a callback.
    if let Some(c) = client(&base, "report-poller") {
        tokio::spawn(async move {
            loop {
                let job = call(&c, Method::POST, "/crm/bulk/v8/read", &[], Some(json!({"query": {"module": {"api_name": "Leads"}, "fields": ["Last_Name", "Email"]}}))).await;
                if let Some(id) = job
                    .as_ref()
                    .and_then(|j| j["data"][0]["details"]["id"].as_str())
                    .map(String::from)
                {
                    for _ in 0..10 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        call(
                            &c,
                            Method::GET,
                            &format!("/crm/bulk/v8/read/{id}"),
                            &[],
                            None,
                        )
                        .await;
                    }
                }
                call(&c, Method::POST, "/crm/v8/coql", &[], Some(json!({"select_query": "select Last_Name, Email from Leads where Lead_Source = 'Online Store' limit 500"}))).await;
                tokio::time::sleep(Duration::from_secs(20)).await;
            }
        });
    }
    // support-desk: searches, updates, and now and then converts a lead.
    if let Some(c) = client(&base, "support-desk") {
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                n += 1;
                call(
                    &c,
                    Method::GET,
                    "/crm/v8/Cases/search",
                    &[("word", "a")],
                    None,
                )
                .await;
                call(&c, Method::POST, "/crm/v8/Cases", &[], Some(json!({"data": [{"Subject": format!("Ticket {n}"), "Status": "New", "Priority": "Medium"}]}))).await;
                if n.is_multiple_of(20) {
                    let leads = call(
                        &c,
                        Method::GET,
                        "/crm/v8/Leads",
                        &[("fields", "Last_Name"), ("per_page", "1")],
                        None,
                    )
                    .await;
                    if let Some(id) = leads
                        .as_ref()
                        .and_then(|l| l["data"][0]["id"].as_str())
                        .map(String::from)
                    {
                        call(
                            &c,
                            Method::POST,
                            &format!("/crm/v8/Leads/{id}/actions/convert"),
                            &[],
                            None,
                        )
                        .await;
                    }
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        });
    }
}

/// Subscribes a notification channel on the sandbox (through the proxy, so it is metered) whose
/// callbacks go to the embedded receiver, and tells the receiver and its store about it.
pub async fn subscribe(
    proxy_base: &str,
    receiver: &creditops_net::receiver::ReceiverHandle,
) -> anyhow::Result<()> {
    let c = client(proxy_base, "creditops").ok_or_else(|| anyhow::anyhow!("no client"))?;
    let now = chrono::Utc::now().timestamp_millis();
    let channel_id = format!("{}", 1_000_000_000_000u64 + (now as u64 % 1_000_000));
    let token = format!("{:032x}", rand::random::<u128>());
    let events: Vec<String> = ["Leads.all", "Accounts.all", "Cases.create"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let expiry = now + 24 * 3_600_000;
    let notify_url = format!("{}/hooks/notifications", receiver.base_url());
    let expiry_text = chrono::DateTime::from_timestamp_millis(expiry)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default();
    let body = json!({"watch": [{"channel_id": channel_id, "events": events, "notify_url": notify_url, "token": token, "channel_expiry": expiry_text}]});
    c.call(Method::POST, "/crm/v8/actions/watch", &[], Some(&body))
        .await?;
    receiver.state.know_channel(&channel_id, &token);
    receiver
        .state
        .writer
        .save_channel(creditops_store::events::Channel {
            channel_id,
            token_hash: creditops_core::secret::token_hash(&token),
            events,
            notify_url,
            expiry_ms: expiry,
            profile: "embedded".into(),
        })
        .await
        .map_err(anyhow::Error::msg)
}

/// The demo queue for the Planner tab: what the demo integrations would send in the next
/// minutes, call by call as they send it (single-record writes, a field fetch before each
/// batch of work, reads by id, search-then-create), on records the embedded sandbox holds.
pub fn queue(sandbox: &creditops_sandbox::Sandbox) -> Vec<creditops_core::planner::QueuedCall> {
    use creditops_core::planner::QueuedCall;
    let (leads, tasks): (Vec<String>, Vec<String>) = {
        let org = creditops_sandbox::lock(&sandbox.org);
        let ids = |m: &str| {
            org.records
                .get(m)
                .map(|r| r.keys().take(25).cloned().collect())
                .unwrap_or_default()
        };
        (ids("Leads"), ids("Tasks"))
    };
    let run = std::process::id();
    let mut q: Vec<QueuedCall> = Vec::new();
    let mut push = |method: CallMethod,
                    path: String,
                    query: Vec<(&str, String)>,
                    body: Option<serde_json::Value>,
                    integration: &str| {
        q.push(QueuedCall {
            id: format!("d{}", q.len() + 1).into(),
            method,
            path: path.into(),
            query: query.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            headers: vec![("X-Integration".into(), integration.into())].into(),
            body: body.as_ref().map(creditops_core::planner::queue::Body::new),
        });
    };
    for i in 0..60usize {
        if i % 6 == 0 {
            push(
                CallMethod::Get,
                "/crm/v8/settings/fields".into(),
                vec![("module", "Leads".into())],
                None,
                "crm-bridge",
            );
        }
        push(
            CallMethod::Post,
            "/crm/v8/Leads".into(),
            vec![],
            Some(
                json!({"data": [{"Last_Name": format!("Queued shopper {i}"), "Email": format!("queued{i}-{run}@demo.example"), "Lead_Source": "Online Store"}]}),
            ),
            "shop-sync",
        );
        if i % 2 == 0 {
            push(
                CallMethod::Post,
                "/crm/v8/Contacts".into(),
                vec![],
                Some(json!({"data": [{"Last_Name": format!("Queued contact {i}")}]})),
                "crm-bridge",
            );
        }
        if i % 3 == 0 {
            push(
                CallMethod::Post,
                "/crm/v8/Deals".into(),
                vec![],
                Some(
                    json!({"data": [{"Deal_Name": format!("Queued deal {i}"), "Stage": "Qualification"}]}),
                ),
                "crm-bridge",
            );
        }
        if let Some(id) = leads.get(i % 25) {
            push(
                CallMethod::Get,
                format!("/crm/v8/Leads/{id}"),
                vec![("fields", "Last_Name,Email,City".into())],
                None,
                "report-poller",
            );
        }
        if i % 4 == 1 {
            if let Some(id) = leads.get((i * 7) % 25) {
                push(
                    CallMethod::Put,
                    format!("/crm/v8/Leads/{id}"),
                    vec![],
                    Some(json!({"data": [{"City": format!("Moved {i}")}]})),
                    "crm-bridge",
                );
            }
        }
        if i % 6 == 3 {
            let email = format!("found{i}-{run}@demo.example");
            push(
                CallMethod::Get,
                "/crm/v8/Contacts/search".into(),
                vec![("criteria", format!("(Email:equals:{email})"))],
                None,
                "crm-bridge",
            );
            push(
                CallMethod::Post,
                "/crm/v8/Contacts".into(),
                vec![],
                Some(json!({"data": [{"Last_Name": format!("Found {i}"), "Email": email}]})),
                "crm-bridge",
            );
        }
        if i % 12 == 5 {
            if let Some(id) = tasks.get(i / 12) {
                push(
                    CallMethod::Delete,
                    format!("/crm/v8/Tasks/{id}"),
                    vec![],
                    None,
                    "cleanup",
                );
            }
        }
    }
    q
}

/// Days of history the demo starts with (the Estimate tab needs weeks to forecast from).
pub const HISTORY_DAYS: i64 = 56;

/// Credits the demo org used on day `d` before today (`d` = 2 … [`HISTORY_DAYS`]): weekdays
/// busy, weekends quiet, month ends busier, a slow growth towards today and a little noise, so
/// the forecast, its band and the risk days have something real to show.
pub fn history_day_credits(d: i64, date: chrono::NaiveDate, daily_limit: u64) -> u64 {
    use chrono::Datelike;
    let weekday = match date.weekday() {
        chrono::Weekday::Sat => 0.45,
        chrono::Weekday::Sun => 0.35,
        _ => 1.0,
    };
    let month_end = if date.day() >= 27 { 1.3 } else { 1.0 };
    let growth = 1.0 - 0.004 * d as f64;
    // A fixed-seed hash of the day: the same history on every launch.
    let h = (d as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let noise = 0.92 + (h % 1600) as f64 / 10_000.0;
    (daily_limit as f64 * 0.62 * weekday * month_end * growth * noise).round() as u64
}

/// Writes [`HISTORY_DAYS`] of hourly demo usage, all of it older than the rolling 24 h (so the
/// gauges show only live traffic), into the demo's fresh ledger.
pub async fn seed_history(
    ledger: &std::path::Path,
    now_ms: i64,
    daily_limit: u64,
    retention_days: u32,
) -> anyhow::Result<()> {
    let w = creditops_store::ledger::LedgerWriter::open(ledger, retention_days)?;
    let today = now_ms.div_euclid(86_400_000);
    let mut rows = Vec::new();
    for d in 2..=HISTORY_DAYS {
        let day = today - d;
        let Some(date) =
            chrono::DateTime::from_timestamp_millis(day * 86_400_000).map(|t| t.date_naive())
        else {
            continue;
        };
        let credits = history_day_credits(d, date, daily_limit);
        for hour in 0..24i64 {
            // Three quarters of a day's calls in business hours (08–18 UTC).
            let share = if (8..18).contains(&hour) {
                0.075
            } else {
                0.25 / 14.0
            };
            let hourly = (credits as f64 * share).round() as u32;
            for (integration, part) in [("shop-sync", 0.6), ("erp-bridge", 0.4)] {
                let c = (f64::from(hourly) * part).round() as u32;
                if c == 0 {
                    continue;
                }
                rows.push(creditops_store::ledger::CallRecord {
                    at_ms: day * 86_400_000 + hour * 3_600_000 + 1_800_000,
                    integration: integration.into(),
                    api: "insert_records".into(),
                    module: Some("Leads".into()),
                    method: "POST".into(),
                    path: "/crm/v8/Leads".into(),
                    records: c * 10,
                    credits: c,
                    status: 201,
                    latency_ms: 120,
                    priced: true,
                    reported_remaining: None,
                    saved: 0,
                    call_key: None,
                });
            }
        }
    }
    // Appended together: the writer commits them in groups.
    let results = futures::future::join_all(rows.into_iter().map(|r| w.append(r))).await;
    for r in results {
        r?;
    }
    Ok(())
}

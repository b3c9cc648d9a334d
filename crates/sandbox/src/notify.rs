//! The Notification API (`/crm/v8/actions/watch`): channels, and delivery of Zoho's callback
//! payload to each channel's notify_url after every create, edit and delete. Delivery runs on
//! its own task from a bounded queue, so a write never waits for it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::org::Change;
use super::{lock, Ctx, Reply, Sandbox};
use creditops_core::zoho::time::{parse_time, zoho_time};
use creditops_core::zoho::ZohoError;

const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * 24 * HOUR_MS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub channel_id: String,
    pub events: Vec<String>,
    pub notify_url: String,
    pub token: Option<String>,
    pub expiry_ms: i64,
    pub return_affected_field_values: bool,
    pub notify_on_related_action: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Channels {
    pub map: BTreeMap<String, Channel>,
}

/// One callback to POST.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub body: Value,
}

impl Channels {
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// The callbacks a set of changes causes: one per channel, module and operation.
    pub fn deliveries(&self, changes: &[Change], now_ms: i64, base_url: &str) -> Vec<Delivery> {
        let mut out = Vec::new();
        for ch in self.map.values().filter(|c| c.expiry_ms > now_ms) {
            let mut groups: BTreeMap<(String, &'static str), Vec<&Change>> = BTreeMap::new();
            for change in changes {
                let wanted = ch.events.iter().any(|e| {
                    let (module, event) = e.split_once('.').unwrap_or((e, "all"));
                    module.eq_ignore_ascii_case(&change.module)
                        && (event == "all" || event == change.operation.event())
                });
                if wanted {
                    groups
                        .entry((change.module.clone(), change.operation.as_str()))
                        .or_default()
                        .push(change);
                }
            }
            for ((module, operation), list) in groups {
                let query_params: serde_json::Map<String, Value> = ch
                    .notify_url
                    .split_once('?')
                    .map(|(_, q)| {
                        creditops_core::credits::table::parse_query(q)
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                let affected: Vec<Value> = list
                    .iter()
                    .filter(|c| !c.fields.is_empty())
                    .map(|c| json!({ c.id.clone(): c.fields }))
                    .collect();
                let mut body = json!({
                    "server_time": now_ms,
                    "query_params": query_params,
                    "module": module,
                    "resource_uri": format!("{base_url}/crm/v8/{module}"),
                    "ids": list.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                    "affected_fields": affected,
                    "operation": operation,
                    "channel_id": ch.channel_id,
                    "token": ch.token,
                });
                if ch.return_affected_field_values {
                    body["affected_values"] = Value::Array(
                        list.iter()
                            .filter_map(|c| {
                                let rec = c.record.as_ref()?;
                                let mut o = serde_json::Map::new();
                                o.insert("id".into(), json!(c.id));
                                for f in &c.fields {
                                    o.insert(f.clone(), rec.get(f).cloned().unwrap_or(Value::Null));
                                }
                                Some(Value::Object(o))
                            })
                            .collect(),
                    );
                }
                out.push(Delivery {
                    url: ch.notify_url.clone(),
                    body,
                });
            }
        }
        out
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

/// Posts callbacks from a bounded queue on a task of its own.
pub struct Notifier {
    tx: Option<tokio::sync::mpsc::Sender<Delivery>>,
    pub stats: Arc<Stats>,
}

impl Notifier {
    /// Starts the delivery task when a tokio runtime is running; without one, deliveries are
    /// counted as dropped.
    pub fn start() -> Notifier {
        let stats = Arc::new(Stats::default());
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Notifier { tx: None, stats };
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Delivery>(10_000);
        let s = stats.clone();
        rt.spawn(async move {
            let client = match reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("notifier: {e}");
                    return;
                }
            };
            let limit = Arc::new(tokio::sync::Semaphore::new(16));
            while let Some(d) = rx.recv().await {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let client = client.clone();
                let s = s.clone();
                tokio::spawn(async move {
                    let r = client.post(&d.url).json(&d.body).send().await;
                    match r {
                        Ok(resp) if resp.status().is_success() => {
                            s.sent.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => s.failed.fetch_add(1, Ordering::Relaxed),
                    };
                    drop(permit);
                });
            }
        });
        Notifier {
            tx: Some(tx),
            stats,
        }
    }

    /// Queues a callback; never waits. A full queue drops it and counts the drop.
    pub fn send(&self, d: Delivery) {
        match &self.tx {
            Some(tx) if tx.try_send(d).is_ok() => {}
            _ => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn stats_json(&self) -> Value {
        json!({
            "sent": self.stats.sent.load(Ordering::Relaxed),
            "failed": self.stats.failed.load(Ordering::Relaxed),
            "dropped": self.stats.dropped.load(Ordering::Relaxed),
        })
    }
}

fn channel_id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn bad(e: ZohoError) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, e)
}

fn invalid(field: &str, i: usize) -> ZohoError {
    ZohoError::invalid_data(
        "invalid data",
        json!({"api_name": field, "json_path": format!("$.watch[{i}].{field}")}),
    )
}

fn event_json(sb: &Sandbox, ch: &Channel, event: &str, base: &str) -> Value {
    let module = event.split('.').next().unwrap_or(event);
    let module_id = lock(&sb.org)
        .module(module)
        .map(|m| m.id.to_string())
        .unwrap_or_default();
    json!({"channel_expiry": zoho_time(ch.expiry_ms), "resource_uri": format!("{base}/crm/v8/{module}"),
           "resource_id": module_id, "resource_name": module, "channel_id": ch.channel_id,
           "notification_condition": []})
}

/// `/crm/v8/actions/watch`: POST subscribes, PUT replaces, PATCH adds or removes events,
/// GET lists, DELETE disables.
pub fn watch(sb: &Sandbox, c: &Ctx) -> Reply {
    let base = sb.base_url().to_string();
    let now = c.now_ms;
    match c.method.as_str() {
        "GET" => {
            let chans = lock(&sb.channels);
            let live: Vec<Value> = chans
                .map
                .values()
                .filter(|ch| ch.expiry_ms > now)
                .map(|ch| json!({"channel_id": ch.channel_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(ch.channel_id)), "events": ch.events, "notify_url": ch.notify_url,
                                  "token": ch.token, "channel_expiry": zoho_time(ch.expiry_ms),
                                  "return_affected_field_values": ch.return_affected_field_values,
                                  "notify_on_related_action": ch.notify_on_related_action}))
                .collect();
            if live.is_empty() {
                return Reply::empty(StatusCode::NO_CONTENT);
            }
            let n = live.len();
            Reply::json(
                StatusCode::OK,
                json!({"watch": live, "info": {"per_page": 200, "page": 1, "count": n, "more_records": false}}),
            )
        }
        "DELETE" => {
            let ids: Vec<String> = match c.q("channel_ids") {
                Some(s) => s
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
                None => return bad(ZohoError::required_param("channel_ids")),
            };
            let mut chans = lock(&sb.channels);
            let mut results = Vec::new();
            for id in ids {
                match chans.map.remove(&id) {
                    Some(ch) => {
                        sb.persist(|s| s.delete_channel(&id));
                        results.push(json!({"code": "SUCCESS", "details": {"events": ch.events.iter().map(|e| event_json(sb, &ch, e, &base)).collect::<Vec<_>>()},
                                            "message": "Successfully un-subscribed from actions-watch", "status": "success"}));
                    }
                    None => results.push(
                        ZohoError::invalid_data(
                            "the id given seems to be invalid",
                            json!({"api_name": "channel_ids", "json_path": "channel_ids", "channel_id": id}),
                        )
                        .to_json(),
                    ),
                }
            }
            // 200 all, 207 some; none: 400 with the error itself (notifications.json's 400).
            let status = super::answers::batch_status(&results, StatusCode::OK);
            match results.first() {
                Some(e) if status == StatusCode::BAD_REQUEST => Reply::json(status, e.clone()),
                _ => Reply::json(status, json!({"watch": results})),
            }
        }
        "POST" | "PUT" | "PATCH" => {
            let Some(items) = c
                .json
                .as_ref()
                .and_then(|b| b.get("watch"))
                .and_then(Value::as_array)
            else {
                return bad(ZohoError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": "watch", "json_path": "$.watch"}),
                ));
            };
            let mut chans = lock(&sb.channels);
            let mut results = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(id) = item.get("channel_id").and_then(channel_id_of) else {
                    results.push(invalid("channel_id", i).to_json());
                    continue;
                };
                let events: Vec<String> = item
                    .get("events")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let valid_events = events.iter().all(|e| {
                    let (m, op) = e.split_once('.').unwrap_or((e, ""));
                    lock(&sb.org).module(m).is_ok()
                        && ["create", "edit", "delete", "all"].contains(&op)
                });
                if events.is_empty() || !valid_events {
                    results.push(invalid("events", i).to_json());
                    continue;
                }
                let existing = chans.map.get(&id).cloned();
                if c.method == "PATCH" {
                    let Some(mut ch) = existing else {
                        results.push(
                            ZohoError::invalid_data(
                                "the id given seems to be invalid",
                                json!({"channel_id": id}),
                            )
                            .to_json(),
                        );
                        continue;
                    };
                    if item
                        .get("_delete_events")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                    {
                        ch.events.retain(|e| !events.contains(e));
                    } else {
                        for e in events {
                            if !ch.events.contains(&e) {
                                ch.events.push(e);
                            }
                        }
                    }
                    let details: Vec<Value> = ch
                        .events
                        .iter()
                        .map(|e| event_json(sb, &ch, e, &base))
                        .collect();
                    sb.persist(|s| s.save_channel(&ch));
                    chans.map.insert(id, ch);
                    results.push(json!({"code": "SUCCESS", "details": {"events": details}, "message": "Successfully updated the subscribe details", "status": "success"}));
                    continue;
                }
                let Some(url) = item
                    .get("notify_url")
                    .and_then(Value::as_str)
                    .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                else {
                    results.push(invalid("notify_url", i).to_json());
                    continue;
                };
                let token = item.get("token").and_then(Value::as_str).map(String::from);
                if token.as_ref().is_some_and(|t| t.chars().count() > 50) {
                    results.push(invalid("token", i).to_json());
                    continue;
                }
                // Expiry: at most a week; absent or longer means one hour.
                let expiry_ms = item
                    .get("channel_expiry")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
                    .filter(|t| *t > now && *t <= now + WEEK_MS)
                    .unwrap_or(now + HOUR_MS);
                if item
                    .get("return_affected_field_values")
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    // Callbacks will carry values: changes must now carry the records.
                    lock(&sb.org).keep_change_records = true;
                }
                let ch = Channel {
                    channel_id: id.clone(),
                    events,
                    notify_url: url.into(),
                    token,
                    expiry_ms,
                    return_affected_field_values: item
                        .get("return_affected_field_values")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    notify_on_related_action: item
                        .get("notify_on_related_action")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                };
                let details: Vec<Value> = ch
                    .events
                    .iter()
                    .map(|e| event_json(sb, &ch, e, &base))
                    .collect();
                sb.persist(|s| s.save_channel(&ch));
                chans.map.insert(id, ch);
                results.push(json!({"code": "SUCCESS", "details": {"events": details}, "message": "Successfully subscribed for actions-watch of the given module", "status": "success"}));
            }
            let failed = results.iter().filter(|r| r["status"] == "error").count();
            let status = if failed == 0 {
                StatusCode::OK
            } else if failed == results.len() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::MULTI_STATUS
            };
            Reply::json(status, json!({"watch": results}))
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            ZohoError::new(
                "INVALID_REQUEST_METHOD",
                "The http request method type is not a valid one",
                json!({}),
            ),
        ),
    }
}

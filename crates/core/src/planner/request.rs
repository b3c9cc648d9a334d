//! The HTTP request a plan step sends, built from the queued calls it covers.
//!
//! A plan holds decisions (which calls, which rule, what it costs), not copies of the queue's
//! bodies: the planner stays linear and light on 1M-call queues, and a plan file carries its
//! queue once. The sender builds each request just before sending it.

use super::json_view::JsonView;
use serde_json::{json, Map, Value};

use super::plan::{Rule, Step, StepKind};
use super::queue::QueuedCall;

/// One request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// The module a path names (`/crm/v8/Leads/12` → `Leads`).
fn module_of(path: &str) -> &str {
    path.split('/')
        .filter(|s| !s.is_empty())
        .nth(2)
        .unwrap_or("")
}

/// The record id in the path of a record-level call (`PUT /crm/v8/Leads/12` → `12`).
fn path_id(path: &str) -> Option<&str> {
    path.split('/').filter(|s| !s.is_empty()).nth(3)
}

fn records(call: &QueuedCall) -> Vec<Value> {
    let mut recs = match call.body_value() {
        Some(Value::Object(mut o)) => match o.remove("data") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    // PUT /{module}/{id}: the id lives in the path; in a batch it moves into the record.
    if call.method == "PUT" {
        if let Some(id) = path_id(&call.path) {
            for r in &mut recs {
                if let Value::Object(o) = r {
                    o.entry("id").or_insert_with(|| Value::from(id));
                }
            }
        }
    }
    recs
}

/// A body's keys other than the records (`trigger`, `wf_trigger` …), kept on a batch.
fn extras(call: &QueuedCall) -> Map<String, Value> {
    match call.body_value() {
        Some(Value::Object(o)) => o
            .into_iter()
            .filter(|(k, _)| k.as_str() != "data" && k.as_str() != "duplicate_check_fields")
            .collect(),
        _ => Map::new(),
    }
}

fn as_queued(call: &QueuedCall) -> Request {
    Request {
        method: call.method.to_string(),
        path: call.path.to_string(),
        query: call.query.to_vec(),
        headers: call.headers.to_vec(),
        body: call.body_value(),
    }
}

/// A one-record insert or update as the upsert keyed on `field` that replaces its search.
fn as_upsert(call: &QueuedCall, field: &str) -> Request {
    let mut body = extras(call);
    body.insert("data".into(), Value::Array(records(call)));
    body.insert("duplicate_check_fields".into(), json!([field]));
    Request {
        method: "POST".into(),
        path: format!("/crm/v8/{}/upsert", module_of(&call.path)),
        query: call.query.to_vec(),
        headers: call.headers.to_vec(),
        body: Some(Value::Object(body)),
    }
}

/// The request of one covered call, alone (as queued, or as its upsert).
fn single(call: &QueuedCall, upsert: Option<&str>) -> Request {
    match upsert {
        Some(f) if !f.is_empty() => as_upsert(call, f),
        _ => as_queued(call),
    }
}

/// Builds the request `step` sends; `call` finds a queued call by id.
pub fn build<'q>(
    step: &Step,
    call: impl Fn(&str) -> Option<&'q QueuedCall>,
) -> Result<Request, String> {
    let calls: Vec<&QueuedCall> = step
        .ids
        .iter()
        .map(|id| {
            call(id)
                .ok_or_else(|| format!("the plan names call `{id}`, which its queue does not hold"))
        })
        .collect::<Result<_, _>>()?;
    let first = *calls.first().ok_or("a step covering no call")?;
    let upsert = |k: usize| step.upserts.get(k).map(String::as_str);
    if step.kind == StepKind::Removed {
        return Err("a removed step sends nothing".into());
    }
    if step.kind == StepKind::BulkWrite {
        let data: Vec<Value> = calls.iter().flat_map(|c| records(c)).collect();
        // The operation the covered calls make, and the field an upsert or update finds by.
        let folded = upsert(0).filter(|f| !f.is_empty());
        let queued_key = || {
            first.body_value().and_then(|b| {
                b.get("duplicate_check_fields")?
                    .as_array()?
                    .first()?
                    .as_str()
                    .map(String::from)
            })
        };
        let (operation, find_by) = if let Some(f) = folded {
            ("upsert", Some(f.to_string()))
        } else if first.path.ends_with("/upsert") {
            ("upsert", queued_key())
        } else if first.method == "PUT" {
            ("update", Some("id".to_string()))
        } else {
            ("insert", None)
        };
        let mut body =
            json!({"operation": operation, "module": module_of(&first.path), "data": data});
        if let Some(f) = find_by {
            body["find_by"] = json!(f);
        }
        return Ok(Request {
            method: "POST".into(),
            path: "/crm/bulk/v8/write".into(),
            query: Vec::new(),
            headers: first.headers.to_vec(),
            body: Some(body),
        });
    }
    match step.rule {
        Some(Rule::Coql) => {
            let fields = first
                .query
                .iter()
                .find(|(k, _)| k == "fields")
                .map(|(_, v)| v.as_str())
                .unwrap_or("id");
            let ids: Vec<&str> = calls.iter().filter_map(|c| path_id(&c.path)).collect();
            let query = format!(
                "select {fields} from {} where id in ({}) limit {}",
                module_of(&first.path),
                ids.join(","),
                ids.len().max(1)
            );
            Ok(Request {
                method: "POST".into(),
                path: "/crm/v8/coql".into(),
                query: Vec::new(),
                headers: first.headers.to_vec(),
                body: Some(json!({ "select_query": query })),
            })
        }
        Some(Rule::Composite) => {
            let subs: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    let r = single(c, upsert(k));
                    let mut sub = Map::new();
                    sub.insert("sub_request_id".into(), Value::from(&*c.id));
                    sub.insert("method".into(), Value::from(r.method));
                    sub.insert("uri".into(), Value::from(r.path));
                    if !r.query.is_empty() {
                        let params: Map<String, Value> = r
                            .query
                            .into_iter()
                            .map(|(k, v)| (k, Value::from(v)))
                            .collect();
                        sub.insert("params".into(), Value::Object(params));
                    }
                    if let Some(b) = r.body {
                        sub.insert("body".into(), b);
                    }
                    Value::Object(sub)
                })
                .collect();
            Ok(Request {
                method: "POST".into(),
                path: "/crm/v8/__composite_requests".into(),
                query: Vec::new(),
                headers: Vec::new(),
                body: Some(json!({
                    "rollback_on_fail": false,
                    "parallel_execution": false,
                    "__composite_requests": subs,
                })),
            })
        }
        // The values every covered record takes (the planner checked they are one set), and
        // the records by id.
        Some(Rule::MassUpdate) => {
            let recs: Vec<Value> = calls.iter().flat_map(|c| records(c)).collect();
            let mut values = match recs.first() {
                Some(Value::Object(o)) => o.clone(),
                _ => return Err("a mass update covering no record".into()),
            };
            values.remove("id");
            let ids: Vec<Value> = recs
                .iter()
                .filter_map(|r| {
                    let id = JsonView::from(r.get("id")?);
                    super::classify::id_text(&id).map(Value::from)
                })
                .collect();
            if ids.len() != recs.len() {
                return Err("a mass update record names no id".into());
            }
            Ok(Request {
                method: "POST".into(),
                path: step.path.to_string(),
                query: Vec::new(),
                headers: first.headers.to_vec(),
                body: Some(json!({"data": [values], "ids": ids})),
            })
        }
        _ if calls.len() == 1 => Ok(single(first, upsert(0))),
        // Tags on many records: the calls' common body (tags, over_write) with their ids.
        Some(Rule::Tags) => {
            let mut body = match first.body_value() {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            let ids: Vec<Value> = calls
                .iter()
                .filter_map(|c| path_id(&c.path).map(Value::from))
                .collect();
            body.insert("ids".into(), Value::Array(ids));
            Ok(Request {
                method: "POST".into(),
                path: step.path.to_string(),
                query: first.query.to_vec(),
                headers: first.headers.to_vec(),
                body: Some(Value::Object(body)),
            })
        }
        _ if step.method == "DELETE" => {
            let mut query: Vec<(String, String)> = first
                .query
                .iter()
                .filter(|(k, _)| k != "ids")
                .cloned()
                .collect();
            let ids: Vec<String> = calls
                .iter()
                .flat_map(|c| match c.query.iter().find(|(k, _)| k == "ids") {
                    Some((_, v)) => v.split(',').map(|s| s.trim().to_string()).collect(),
                    None => path_id(&c.path)
                        .map(String::from)
                        .into_iter()
                        .collect::<Vec<_>>(),
                })
                .collect();
            query.push(("ids".into(), ids.join(",")));
            Ok(Request {
                method: "DELETE".into(),
                path: step.path.to_string(),
                query,
                headers: first.headers.to_vec(),
                body: None,
            })
        }
        _ => {
            let mut body = extras(first);
            let data: Vec<Value> = calls.iter().flat_map(|c| records(c)).collect();
            body.insert("data".into(), Value::Array(data));
            if step.path.ends_with("/upsert") {
                let check = match upsert(0) {
                    Some(f) if !f.is_empty() => Some(json!([f])),
                    _ => first
                        .body_value()
                        .and_then(|mut b| b.get_mut("duplicate_check_fields").map(Value::take)),
                };
                if let Some(c) = check {
                    body.insert("duplicate_check_fields".into(), c);
                }
            }
            Ok(Request {
                method: step.method.to_string(),
                path: step.path.to_string(),
                query: first
                    .query
                    .iter()
                    .filter(|(k, _)| k != "ids")
                    .cloned()
                    .collect(),
                headers: first.headers.to_vec(),
                body: Some(Value::Object(body)),
            })
        }
    }
}

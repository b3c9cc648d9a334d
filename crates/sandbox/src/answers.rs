//! What answers are made of: Zoho's error answer, a body's list, the module a settings call
//! names, pages of records and a record's requested fields. Shared by every route module.

use axum::http::StatusCode;
use creditops_core::zoho::time::zoho_time;
use creditops_core::zoho::ZohoError;
use serde_json::{json, Map, Value};

use super::org::Record;
use super::query::field_value;
use super::{schema, Ctx, Reply};

/// The value, or the call answered 400 with the error: how a handler refuses a bad request.
macro_rules! or_400 {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::answers::bad(e),
        }
    };
}
pub(crate) use or_400;

pub fn bad(e: ZohoError) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, e)
}

/// What a body that is not JSON is answered with (once its URL is known to be served).
pub fn body_not_json() -> ZohoError {
    ZohoError::invalid_data(
        "invalid data",
        json!({"api_name": "body", "json_path": "$", "expected_data_type": "jsonobject"}),
    )
}

/// The body's `key` array: `MANDATORY_NOT_FOUND` when absent, `INVALID_DATA` when not a
/// non-empty array.
pub fn body_list<'a>(c: &'a Ctx, key: &str) -> Result<&'a Vec<Value>, ZohoError> {
    let path = format!("$.{key}");
    let v = c.json.as_ref().and_then(|b| b.get(key)).ok_or_else(|| {
        ZohoError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": key, "json_path": path}),
        )
    })?;
    match v.as_array() {
        Some(a) if !a.is_empty() => Ok(a),
        _ => Err(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": key, "json_path": format!("$.{key}"), "expected_data_type": "jsonarray"}),
        )),
    }
}

/// The module a settings call names in `?module=`.
pub fn module_of(
    org: &super::org::Org,
    c: &Ctx,
) -> Result<std::sync::Arc<schema::ModuleDef>, ZohoError> {
    match c.q("module").filter(|m| !m.is_empty()) {
        None => Err(ZohoError::required_param("module")),
        Some(name) => org.module(name).cloned().map_err(|_| {
            ZohoError::new(
                "INVALID_MODULE",
                "the module name given seems to be invalid",
                json!({"api_name": name}),
            )
        }),
    }
}

/// Keeps the requested fields (and id) of a record, user references expanded.
pub fn project(org: &super::org::Org, r: &Record, fields: Option<&[String]>) -> Value {
    let mut out = match fields {
        None => r.clone(),
        Some(fs) => {
            let mut o = Map::new();
            o.insert("id".into(), r.get("id").cloned().unwrap_or(Value::Null));
            for f in fs {
                if let Some(v) = field_value(r, f) {
                    o.insert(f.clone(), v.clone());
                } else if r.contains_key(f.as_str()) || f.contains('.') {
                    o.insert(f.clone(), Value::Null);
                }
            }
            o
        }
    };
    org.expand_users(&mut out);
    Value::Object(out)
}

pub fn page_params(c: &Ctx, max_per_page: usize) -> Result<(usize, usize), ZohoError> {
    let num =
        |k: &str, default: usize| -> Result<usize, ZohoError> {
            match c.q(k) {
                None => Ok(default),
                Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ZohoError::invalid_data("invalid data", json!({"param_name": k}))
                }),
            }
        };
    let per_page = num("per_page", max_per_page.min(200))?;
    if per_page > max_per_page {
        return Err(ZohoError::invalid_data(
            "invalid data",
            json!({"param_name": "per_page", "maximum_length": max_per_page}),
        ));
    }
    Ok((num("page", 1)?, per_page))
}

pub fn paged(
    records: Vec<Value>,
    page: usize,
    per_page: usize,
    offset: usize,
    info_extra: Value,
) -> Reply {
    let total = records.len();
    let start = offset.min(total);
    let end = (start + per_page).min(total);
    let data: Vec<Value> = records[start..end].to_vec();
    if data.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    let more = end < total;
    let mut info =
        json!({"per_page": per_page, "count": data.len(), "page": page, "more_records": more});
    if let (Some(o), Some(extra)) = (info.as_object_mut(), info_extra.as_object()) {
        o.extend(extra.clone());
    }
    if more {
        info["next_page_token"] = json!(format!("pt{end}"));
        info["page_token_expiry"] = json!(zoho_time(
            chrono::Utc::now().timestamp_millis() + 86_400_000
        ));
    }
    Reply::json(StatusCode::OK, json!({"data": data, "info": info}))
}

/// The overall status of a batch: all ok, all failed, or some of each.
pub fn batch_status(results: &[Value], ok: StatusCode) -> StatusCode {
    let failed = results.iter().filter(|r| r["status"] == "error").count();
    if failed == 0 {
        ok
    } else if failed == results.len() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    }
}

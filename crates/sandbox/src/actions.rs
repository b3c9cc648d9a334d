//! Record actions beyond create/read/update/delete: count, mass update, tags, territories,
//! clone, full data, related records and their counts, records by external id, send mail,
//! merge, mass convert and blueprint.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::answers::{bad, batch_status, body_list, or_400, page_params, paged, project};
use super::org::{lookup_id, Change, Operation, Org, Record};
use super::query::parse_criteria;
use super::schema::{self, Relation};
use super::settings::{self, Job, Link, Settings};
use super::setup::tag_named;
use super::{lock, Ctx, Reply, Sandbox};
use creditops_core::zoho::time::zoho_time;
use creditops_core::zoho::ZohoError;

/// Records a mass update may name (Zoho: 500 ids), leads a mass convert may (50).
const MAX_MASS_UPDATE: usize = 500;
const MAX_MASS_CONVERT: usize = 50;

fn ids_of(c: &Ctx) -> Option<Vec<String>> {
    c.json
        .as_ref()
        .and_then(|b| b.get("ids"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(lookup_id).collect())
}

fn mandatory(key: &str, path: &str) -> ZohoError {
    ZohoError::new(
        "MANDATORY_NOT_FOUND",
        "required field not found",
        json!({"api_name": key, "json_path": path}),
    )
}

/// Which records a call selects.
pub type RecordFilter = Box<dyn Fn(&Record) -> bool>;

/// A record filter from `criteria`, `email`, `phone`, `word` or a custom view's `cvid` (the
/// view's criteria); None when none is given. A cvid no view of the module has is refused.
pub fn record_filter(org: &Org, module: &str, c: &Ctx) -> Result<Option<RecordFilter>, ZohoError> {
    let search = ["criteria", "email", "phone", "word"]
        .into_iter()
        .find(|k| c.q(k).is_some());
    if let (Some(s), Some(_)) = (search, c.q("cvid")) {
        return Err(ZohoError::new(
            "AMBIGUITY_DURING_PROCESSING",
            "Please use either Cvid or Search Params. Combination of both the params is not allowed",
            json!({"ambiguity_due_to": [{"param_name": "cvid"}, {"param_name": s}]}),
        ));
    }
    let criteria = match (c.q("cvid"), search) {
        (Some(cvid), _) => {
            let view = org.settings.view(module, cvid).ok_or_else(|| {
                ZohoError::invalid_data("invalid data", json!({"param_name": "cvid"}))
            })?;
            Settings::view_criteria(view)
        }
        (None, Some("criteria")) => c.q("criteria").map(String::from),
        (None, Some(key)) => {
            let v = c.q(key).unwrap_or("").to_lowercase();
            return Ok(Some(match key {
                "email" => Box::new(move |r: &Record| {
                    r.values()
                        .any(|x| x.as_str().is_some_and(|s| s.to_lowercase() == v))
                }),
                "phone" => Box::new(move |r: &Record| {
                    r.get("Phone")
                        .and_then(Value::as_str)
                        .map(str::to_lowercase)
                        == Some(v.clone())
                }),
                _ => Box::new(move |r: &Record| {
                    r.values()
                        .any(|x| x.as_str().is_some_and(|s| s.to_lowercase().contains(&v)))
                }),
            }));
        }
        (None, None) => None,
    };
    match criteria {
        None => Ok(None),
        Some(text) => {
            let expr = parse_criteria(&text).map_err(|why| {
                ZohoError::new(
                    "INVALID_QUERY",
                    "invalid query formed",
                    json!({"reason": why, "param_name": "criteria"}),
                )
            })?;
            Ok(Some(Box::new(move |r: &Record| expr.matches(r))))
        }
    }
}

/// `GET /{module}/actions/count` and `POST` (criteria in the body or the query).
pub fn count(sb: &Sandbox, c: &Ctx, module: &str) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let mut ctx_query = c.query.clone();
    if let Some(crit) = c
        .json
        .as_ref()
        .and_then(|b| b.get("criteria"))
        .and_then(Value::as_str)
    {
        ctx_query.push(("criteria".into(), crit.into()));
    }
    let view = Ctx {
        method: c.method.clone(),
        segs: vec![],
        query: ctx_query,
        headers: Default::default(),
        body: Default::default(),
        json: None,
        body_error: None,
        now_ms: c.now_ms,
        user: c.user.clone(),
    };
    let filter = or_400!(record_filter(&org, m.api_name, &view));
    let n = org.records.get(m.api_name).map_or(0, |recs| {
        recs.values()
            .filter(|r| filter.as_ref().is_none_or(|f| f(r)))
            .count()
    });
    Reply::json(StatusCode::OK, json!({ "count": n }))
}

/// `POST /{module}/actions/mass_update`: the same values on up to 500 records (by `ids`, or
/// every record of a `cvid`), done at once; its status is kept as a job.
pub fn mass_update(sb: &Sandbox, c: &Ctx, module: &str) -> Reply {
    let Some(values) = c
        .json
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(Value::as_object)
        .cloned()
    else {
        return bad(mandatory("data", "$.data"));
    };
    if values.contains_key("id") {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "id", "json_path": "$.data[0].id"}),
        ));
    }
    let mut org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let ids: Vec<String> = match (
        ids_of(c),
        c.json
            .as_ref()
            .and_then(|b| b.get("cvid"))
            .and_then(Value::as_str),
    ) {
        (Some(ids), _) => ids,
        (None, Some(cvid)) => {
            let Some(view) = org.settings.view(m.api_name, cvid) else {
                return bad(ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "cvid", "json_path": "$.cvid"}),
                ));
            };
            let expr = match Settings::view_criteria(view).map(|t| parse_criteria(&t)) {
                Some(Ok(e)) => Some(e),
                Some(Err(_)) => None,
                None => None,
            };
            org.records
                .get(m.api_name)
                .map(|recs| {
                    recs.iter()
                        .filter(|(_, r)| expr.as_ref().is_none_or(|e| e.matches(r)))
                        .map(|(id, _)| id.clone())
                        .collect()
                })
                .unwrap_or_default()
        }
        (None, None) => return bad(mandatory("ids", "$.ids")),
    };
    if ids.is_empty() {
        return bad(ZohoError::new(
            "NO_RECORDS_FOUND",
            "no records found to update",
            json!({}),
        ));
    }
    if ids.len() > MAX_MASS_UPDATE {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": MAX_MASS_UPDATE}),
        ));
    }
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            let mut v = values.clone();
            v.insert("id".into(), json!(id));
            Value::Object(v)
        })
        .collect();
    let (results, changes) = or_400!(org.update(m.api_name, &data, None, &c.user, c.now_ms));
    // A value no record accepts fails the call as a whole, as Zoho validates the data first.
    if results.iter().all(|r| r["status"] == "error") {
        if let Some(first) = results.first() {
            let mut e = first.clone();
            let api = e["details"]["api_name"].as_str().unwrap_or("").to_string();
            e["details"]["json_path"] = json!(format!("$.data[0].{api}"));
            return Reply::json(StatusCode::BAD_REQUEST, json!({ "data": e }));
        }
    }
    let updated = results.iter().filter(|r| r["status"] == "success").count() as u64;
    let job_id = org.settings.new_id();
    org.settings.jobs.push(Job {
        id: job_id.clone(),
        module: m.api_name.into(),
        kind: "mass_update".into(),
        total: ids.len() as u64,
        updated,
        failed: ids.len() as u64 - updated,
    });
    let by = org.current_user().minified();
    let t = zoho_time(c.now_ms);
    Reply::json(
        StatusCode::OK,
        json!({"data": [{"code": "SUCCESS", "status": "success", "message": "mass update scheduled successfully",
                         "details": {"job_id": job_id, "id": job_id, "Created_Time": t, "Modified_Time": t,
                                     "Created_By": by, "Modified_By": by}}]}),
    )
    .with_changes(changes)
    .settings_changed()
}

/// `GET /{module}/actions/mass_update?job_id=` (and mass convert's status).
pub fn job_status(sb: &Sandbox, c: &Ctx, module: &str, kind: &str) -> Reply {
    let org = lock(&sb.org);
    if let Err(e) = org.module(module) {
        return bad(e);
    }
    let Some(id) = c.q("job_id") else {
        return bad(ZohoError::new(
            "MANDATORY_NOT_FOUND",
            "required param not found",
            json!({"param_name": "job_id"}),
        ));
    };
    let Some(j) = org
        .settings
        .jobs
        .iter()
        .find(|j| j.id == id && j.kind == kind)
    else {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"param_name": "job_id"}),
        ));
    };
    let entry = if kind == "mass_convert" {
        json!({"Status": "COMPLETED", "Total_Count": j.total, "Converted_Count": j.updated,
               "Not_Converted_Count": j.failed, "Failed_Count": j.failed})
    } else {
        json!({"Status": "COMPLETED", "Total_Count": j.total, "Updated_Count": j.updated,
               "Not_Updated_Count": j.failed, "Failed_Count": j.failed})
    };
    Reply::json(StatusCode::OK, json!({ "data": [entry] }))
}

/// The records' `Tag` lists after adding or removing `names`.
fn retag(
    org: &mut Org,
    module: &str,
    ids: &[String],
    names: &[String],
    add: bool,
    over_write: bool,
    now_ms: i64,
) -> Result<(Vec<Value>, Vec<Change>), ZohoError> {
    let mut tags = Vec::new();
    for n in names {
        if add {
            tags.push(tag_named(org, module, n, now_ms)?);
        } else if let Some(t) = org
            .settings
            .tags
            .iter()
            .find(|t| t.module == module && t.name.eq_ignore_ascii_case(n))
        {
            tags.push(t.clone());
        }
    }
    let mut results = Vec::new();
    let mut changes = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let Some(rec) = org.records.get_mut(module).and_then(|r| r.get_mut(id)) else {
            results.push(
                ZohoError::invalid_data(
                    "the id given seems to be invalid",
                    json!({"api_name": "ids", "json_path": format!("$.ids[{i}]")}),
                )
                .to_json(),
            );
            continue;
        };
        let list = rec.entry("Tag").or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        let Some(a) = list.as_array_mut() else {
            continue;
        };
        if add {
            if over_write {
                a.clear();
            }
            for t in &tags {
                if !a.iter().any(|x| x["id"] == t.id.as_str()) {
                    a.push(Settings::tag_ref(t));
                }
            }
            if a.len() > settings::MAX_TAGS_PER_RECORD {
                a.truncate(settings::MAX_TAGS_PER_RECORD);
            }
        } else {
            a.retain(|x| !tags.iter().any(|t| x["id"] == t.id.as_str()));
        }
        let now: Vec<Value> = a.clone();
        results.push(json!({"code": "SUCCESS", "status": "success",
            "message": if add { "tags updated successfully" } else { "tags removed successfully" },
            "details": {"id": id, "tags": now}}));
        changes.push(org.change(module, id.clone(), Operation::Update, vec!["Tag".into()]));
    }
    Ok((results, changes))
}

fn tag_names(c: &Ctx) -> Result<Vec<String>, ZohoError> {
    let tags = body_list(c, "tags")?;
    let mut names = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        match t.get("name").and_then(Value::as_str) {
            Some(n) => names.push(n.to_string()),
            None => return Err(mandatory("name", &format!("$.tags[{i}].name"))),
        }
    }
    if names.len() > settings::MAX_TAGS_PER_RECORD {
        return Err(ZohoError::limit_exceeded(
            "tags limit exceeded",
            json!({"limit": settings::MAX_TAGS_PER_RECORD}),
        ));
    }
    Ok(names)
}

/// `POST /{module}/{id}/actions/add_tags|remove_tags` (`record`) and
/// `POST /{module}/actions/add_tags|remove_tags` (ids in the body, up to 500).
pub fn tags(sb: &Sandbox, c: &Ctx, module: &str, record: Option<&str>, add: bool) -> Reply {
    let names = or_400!(tag_names(c));
    let ids = match (record, ids_of(c)) {
        (Some(id), _) => vec![id.to_string()],
        (None, Some(ids)) if !ids.is_empty() => ids,
        (None, _) => return bad(mandatory("ids", "$.ids")),
    };
    if ids.len() > settings::MAX_BULK_TAG_RECORDS {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": settings::MAX_BULK_TAG_RECORDS}),
        ));
    }
    let over_write = c
        .json
        .as_ref()
        .and_then(|b| b.get("over_write"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    match retag(
        &mut org, m.api_name, &ids, &names, add, over_write, c.now_ms,
    ) {
        Ok((results, changes)) => {
            let status = batch_status(&results, StatusCode::OK);
            let mut body = json!({ "data": results });
            if record.is_none() {
                let ok = results.iter().filter(|r| r["status"] == "success").count();
                body["success_count"] = json!(ok.to_string());
                body["locked_count"] = json!("0");
                body["wf_scheduler"] = json!(false);
            }
            Reply::json(status, body)
                .with_changes(changes)
                .settings_changed()
        }
        Err(e) => bad(e),
    }
}

/// `POST /{module}/{id}/actions/assign_territories|remove_territories` and the bulk forms
/// (`{"data":[{"id", "Territories":[{"id"}]}]}`).
pub fn territories(sb: &Sandbox, c: &Ctx, module: &str, record: Option<&str>, add: bool) -> Reply {
    let data = or_400!(body_list(c, "data"));
    let mut org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let known: Vec<(String, String)> = org
        .settings
        .territories
        .iter()
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    let mut results = Vec::new();
    let mut changes = Vec::new();
    for (i, item) in data.iter().enumerate() {
        let id = record
            .map(String::from)
            .or_else(|| lookup_id(item.get("id").unwrap_or(&Value::Null)));
        let Some(id) = id else {
            results.push(mandatory("id", &format!("$.data[{i}].id")).to_json());
            continue;
        };
        let wanted: Vec<String> = item
            .get("Territories")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(lookup_id).collect())
            .unwrap_or_default();
        if wanted.is_empty() {
            results.push(mandatory("Territories", &format!("$.data[{i}].Territories")).to_json());
            continue;
        }
        if let Some(bad_id) = wanted.iter().find(|w| !known.iter().any(|(k, _)| k == *w)) {
            results.push(
                ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "Territories", "json_path": format!("$.data[{i}].Territories"), "id": bad_id}),
                )
                .to_json(),
            );
            continue;
        }
        let Some(rec) = org.records.get_mut(m.api_name).and_then(|r| r.get_mut(&id)) else {
            results.push(
                ZohoError::invalid_data(
                    "the id given seems to be invalid",
                    json!({"api_name": "id", "json_path": format!("$.data[{i}].id")}),
                )
                .to_json(),
            );
            continue;
        };
        let list = rec.entry("Territories").or_insert_with(|| json!([]));
        if !list.is_array() {
            *list = json!([]);
        }
        if let Some(a) = list.as_array_mut() {
            for w in &wanted {
                let present = a.iter().any(|x| x["id"] == w.as_str());
                if add && !present {
                    let name = known.iter().find(|(k, _)| k == w).map(|(_, n)| n.clone());
                    a.push(json!({"id": w, "name": name, "$auto_assigned": false}));
                } else if !add {
                    a.retain(|x| x["id"] != w.as_str());
                }
            }
        }
        results.push(json!({"code": "SUCCESS", "status": "success",
            "message": if add { "the territories data updated successfully" } else { "the territories are removed successfully" },
            "details": {"id": id}}));
        changes.push(org.change(
            m.api_name,
            id,
            Operation::Update,
            vec!["Territories".into()],
        ));
    }
    let status = batch_status(&results, StatusCode::OK);
    Reply::json(status, json!({ "data": results })).with_changes(changes)
}

/// `POST /{module}/{id}/actions/clone`: a new record with the original's values, the body's
/// `data[0]` overriding some.
pub fn clone(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let mut org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let Some(original) = org.records.get(m.api_name).and_then(|r| r.get(id)).cloned() else {
        return bad(ZohoError::invalid_data(
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        ));
    };
    let mut fields = Map::new();
    for f in &m.fields {
        if let Some(v) = original.get(f.api_name) {
            fields.insert(f.api_name.to_string(), v.clone());
        }
    }
    if let Some(over) = c
        .json
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(|d| d.get(0))
        .and_then(Value::as_object)
    {
        fields.extend(over.clone());
    }
    match org.insert(m.api_name, &[Value::Object(fields)], &c.user, c.now_ms) {
        Ok((results, changes)) => match results.first() {
            // One record: its error is the answer's (record.json's 400s are plain errors).
            Some(e) if e["status"] == "error" => Reply::json(StatusCode::BAD_REQUEST, e.clone()),
            _ => Reply::json(StatusCode::CREATED, json!({ "data": results })).with_changes(changes),
        },
        Err(e) => bad(e),
    }
}

/// `GET /{module}/{id}/actions/fetch_full_data` and `GET /{module}/actions/fetch_full_data?ids=`:
/// the named (rich text) fields in full.
pub fn full_data(sb: &Sandbox, c: &Ctx, module: &str, record: Option<&str>) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let Some(fields) = c.q("fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    }) else {
        return bad(ZohoError::required_param("fields"));
    };
    let ids: Vec<String> = match (record, c.q("ids")) {
        (Some(id), _) => vec![id.into()],
        (None, Some(ids)) => ids.split(',').map(|s| s.trim().to_string()).collect(),
        (None, None) => return bad(ZohoError::required_param("ids")),
    };
    if ids.len() > 100 {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": 100}),
        ));
    }
    let rows: Vec<Value> = ids
        .iter()
        .filter_map(|id| org.records.get(m.api_name).and_then(|r| r.get(id)))
        .map(|r| project(&org, r, Some(&fields)))
        .collect();
    if rows.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    Reply::json(StatusCode::OK, json!({ "data": rows }))
}

/// The record a path names, or Zoho's refusal of an id it does not hold.
fn existing<'a>(org: &'a Org, module: &str, id: &str) -> Result<&'a Record, ZohoError> {
    org.records
        .get(module)
        .and_then(|x| x.get(id))
        .ok_or_else(|| {
            ZohoError::invalid_data(
                "the id given seems to be invalid",
                json!({"resource_path_index": 1}),
            )
        })
}

fn related_of<'a>(
    m: &schema::ModuleDef,
    list: &str,
    lists: &'a [schema::RelatedList],
) -> Result<&'a schema::RelatedList, ZohoError> {
    lists
        .iter()
        .find(|r| r.api_name.eq_ignore_ascii_case(list))
        .ok_or_else(|| {
            ZohoError::invalid_data(
                "the related list name given seems to be invalid",
                json!({"resource_path_index": 2, "module": m.api_name}),
            )
        })
}

/// The ids a parent's related list holds.
fn related_ids(org: &Org, module: &str, id: &str, r: &schema::RelatedList) -> Vec<String> {
    match r.relation {
        Relation::Lookup(field) => org
            .records
            .get(r.module)
            .map(|recs| {
                recs.iter()
                    .filter(|(_, rec)| rec.get(field).and_then(lookup_id).as_deref() == Some(id))
                    .map(|(rid, _)| rid.clone())
                    .collect()
            })
            .unwrap_or_default(),
        Relation::Linked => org
            .settings
            .links
            .iter()
            .filter(|l| l.module == module && l.id == id && l.related_list == r.api_name)
            .map(|l| l.related_id.clone())
            .collect(),
    }
}

/// `GET /{module}/{id}/{related_list}`.
pub fn related(sb: &Sandbox, c: &Ctx, module: &str, id: &str, list: &str) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let lists = schema::related_lists(&m);
    let r = *or_400!(related_of(&m, list, &lists));
    or_400!(existing(&org, m.api_name, id));
    let (page, per_page) = or_400!(page_params(c, 200));
    let fields: Option<Vec<String>> = c
        .q("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
    let rows: Vec<Value> = related_ids(&org, m.api_name, id, &r)
        .iter()
        .filter_map(|rid| org.records.get(r.module).and_then(|x| x.get(rid)))
        .map(|rec| project(&org, rec, fields.as_deref()))
        .collect();
    paged(rows, page, per_page, (page - 1) * per_page, json!({}))
}

/// `PUT /{module}/{id}/{related_list}[/{related_id}]` (links) and `DELETE …` (delinks).
pub fn relate(
    sb: &Sandbox,
    c: &Ctx,
    module: &str,
    id: &str,
    list: &str,
    related_id: Option<&str>,
    link: bool,
) -> Reply {
    let targets: Vec<String> = match (related_id, link) {
        (Some(r), _) => vec![r.to_string()],
        (None, true) => match body_list(c, "data") {
            Ok(d) => d
                .iter()
                .filter_map(|x| lookup_id(x.get("id").unwrap_or(&Value::Null)))
                .collect(),
            Err(e) => return bad(e),
        },
        (None, false) => match c.q("ids") {
            Some(ids) => ids
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => return bad(ZohoError::required_param("ids")),
        },
    };
    if targets.is_empty() || targets.len() > 100 {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": 100}),
        ));
    }
    let mut org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let lists = schema::related_lists(&m);
    let r = *or_400!(related_of(&m, list, &lists));
    or_400!(existing(&org, m.api_name, id));
    let mut results = Vec::new();
    let mut changes = Vec::new();
    let mut settings_changed = false;
    for t in &targets {
        if org.records.get(r.module).and_then(|x| x.get(t)).is_none() {
            results.push(
                ZohoError::invalid_data("the id given seems to be invalid", json!({"id": t}))
                    .to_json(),
            );
            continue;
        }
        match r.relation {
            Relation::Lookup(field) => {
                let value = if link { json!({"id": id}) } else { Value::Null };
                let current = org
                    .records
                    .get(r.module)
                    .and_then(|x| x.get(t))
                    .and_then(|rec| rec.get(field))
                    .and_then(lookup_id);
                if !link && current.as_deref() != Some(id) {
                    results.push(
                        ZohoError::invalid_data("the record is not related", json!({"id": t}))
                            .to_json(),
                    );
                    continue;
                }
                match org.update(
                    r.module,
                    &[json!({"id": t, field: value})],
                    None,
                    &c.user,
                    c.now_ms,
                ) {
                    Ok((res, ch)) if res.first().is_some_and(|x| x["status"] == "success") => {
                        changes.extend(ch);
                    }
                    Ok((res, _)) => {
                        results.push(res.into_iter().next().unwrap_or(Value::Null));
                        continue;
                    }
                    Err(e) => {
                        results.push(e.to_json());
                        continue;
                    }
                }
            }
            Relation::Linked => {
                let l = Link {
                    module: m.api_name.into(),
                    id: id.into(),
                    related_list: r.api_name.into(),
                    related_id: t.clone(),
                };
                let present = org.settings.links.contains(&l);
                if link && !present {
                    org.settings.links.push(l);
                } else if !link && present {
                    org.settings.links.retain(|x| x != &l);
                } else if !link {
                    results.push(
                        ZohoError::invalid_data("the record is not related", json!({"id": t}))
                            .to_json(),
                    );
                    continue;
                }
                settings_changed = true;
            }
        }
        results.push(json!({"code": "SUCCESS", "details": {"id": t},
            "message": if link { "relation updated" } else { "relation removed" }, "status": "success"}));
    }
    let status = batch_status(&results, StatusCode::OK);
    let reply = Reply::json(status, json!({ "data": results })).with_changes(changes);
    reply.settings_changed_if(settings_changed)
}

/// `GET|POST /{module}/{id}/actions/get_related_records_count`: every related list's count, or
/// those the body names (`{"get_related_records_count":[{"related_list":{"api_name"}}]}`).
pub fn related_count(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    or_400!(existing(&org, m.api_name, id));
    let lists = schema::related_lists(&m);
    let wanted: Option<Vec<String>> = c
        .json
        .as_ref()
        .and_then(|b| b.get("get_related_records_count"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x["related_list"]["api_name"].as_str().map(String::from))
                .collect()
        });
    let mut out = Vec::new();
    for r in &lists {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.iter().any(|n| n.eq_ignore_ascii_case(r.api_name)))
        {
            continue;
        }
        let n = related_ids(&org, m.api_name, id, r).len();
        out.push(
            json!({"count": n, "related_list": {"api_name": r.api_name, "id": r.id.to_string()}}),
        );
    }
    if let Some(w) = &wanted {
        if let Some(unknown) = w
            .iter()
            .find(|n| !lists.iter().any(|r| r.api_name.eq_ignore_ascii_case(n)))
        {
            return bad(ZohoError::invalid_data(
                "invalid data",
                json!({"api_name": "related_list", "value": unknown}),
            ));
        }
    }
    Reply::json(StatusCode::OK, json!({ "get_related_records_count": out }))
}

/// The record an `X-EXTERNAL: Module.Field` header and a value name, if the field is unique.
pub fn external_id(org: &Org, c: &Ctx, module: &str, value: &str) -> Result<String, ZohoError> {
    let header = c
        .headers
        .get("x-external")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let m = org.module(module)?;
    let field = header
        .split_once('.')
        .filter(|(mm, _)| mm.eq_ignore_ascii_case(m.api_name))
        .map(|(_, f)| f)
        .and_then(|f| m.field(f))
        .filter(|f| f.unique)
        .ok_or_else(|| {
            ZohoError::invalid_data(
                "the external field given seems to be invalid",
                json!({"header_name": "X-EXTERNAL"}),
            )
        })?;
    org.find_by_field(m.api_name, field.api_name, value)
        .ok_or_else(|| {
            ZohoError::invalid_data(
                "the id given seems to be invalid",
                json!({"resource_path_index": 1}),
            )
        })
}

/// `POST /{module}/{id}/actions/send_mail`: checks the mail as Zoho does and reports it sent.
pub fn send_mail(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let data = or_400!(body_list(c, "data"));
    let org = lock(&sb.org);
    match org.get(module, id) {
        Err(e) => return bad(e),
        Ok(None) => {
            return bad(ZohoError::invalid_data(
                "the id given seems to be invalid",
                json!({"resource_path_index": 1}),
            ))
        }
        Ok(Some(_)) => {}
    }
    let mut out = Vec::new();
    for (i, mail) in data.iter().enumerate() {
        let p = |k: &str| format!("$.data[{i}].{k}");
        let from = mail["from"]["email"].as_str();
        let to = mail["to"].as_array().filter(|a| !a.is_empty());
        let missing = if from.is_none() {
            Some("from")
        } else if to.is_none() {
            Some("to")
        } else if mail["subject"].as_str().is_none() {
            Some("subject")
        } else {
            None
        };
        if let Some(k) = missing {
            out.push(mandatory(k, &p(k)).to_json());
            continue;
        }
        if !from.is_some_and(|f| org.users.iter().any(|u| u.email.eq_ignore_ascii_case(f))) {
            out.push(
                ZohoError::invalid_data(
                    "the from address is not one of the org's users",
                    json!({"api_name": "from", "json_path": p("from")}),
                )
                .to_json(),
            );
            continue;
        }
        let message_id = format!("{:x}", rand::random::<u64>());
        out.push(
            json!({"code": "SUCCESS", "details": {"message_id": message_id},
                        "message": "Your mail has been sent successfully.", "status": "success"}),
        );
    }
    Reply::json(batch_status(&out, StatusCode::OK), json!({ "data": out }))
}

/// `POST /{module}/{id}/actions/merge` (`{"merge":[{"data":[{"id"}…]}]}`): the master keeps
/// its values and gains what it lacks from the others, which are deleted.
pub fn merge(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let items = or_400!(body_list(c, "merge"));
    let others: Vec<String> = items
        .first()
        .and_then(|m| m.get("data"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| lookup_id(x.get("id").unwrap_or(&Value::Null)))
                .filter(|x| x != id)
                .collect()
        })
        .unwrap_or_default();
    if others.is_empty() || others.len() > 2 {
        return bad(ZohoError::invalid_data(
            "one or two records merge into the master",
            json!({"api_name": "data", "json_path": "$.merge[0].data"}),
        ));
    }
    let mut org = lock(&sb.org);
    let m = or_400!(org.module(module)).clone();
    let recs = org.records.get(m.api_name);
    let Some(master) = recs.and_then(|r| r.get(id)).cloned() else {
        return bad(ZohoError::invalid_data(
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        ));
    };
    let mut fill = Map::new();
    for o in &others {
        let Some(rec) = recs.and_then(|r| r.get(o)) else {
            return bad(ZohoError::invalid_data(
                "the id given seems to be invalid",
                json!({"id": o}),
            ));
        };
        for f in &m.fields {
            if f.unique {
                continue;
            }
            let empty = master.get(f.api_name).is_none_or(Value::is_null);
            if empty && !fill.contains_key(f.api_name) {
                if let Some(v) = rec.get(f.api_name).filter(|v| !v.is_null()) {
                    fill.insert(f.api_name.to_string(), v.clone());
                }
            }
        }
    }
    let mut changes = Vec::new();
    match org.delete(m.api_name, &others, &c.user, c.now_ms) {
        Ok((_, ch)) => changes.extend(ch),
        Err(e) => return bad(e),
    }
    if !fill.is_empty() {
        fill.insert("id".into(), json!(id));
        if let Ok((_, ch)) = org.update(m.api_name, &[Value::Object(fill)], None, &c.user, c.now_ms)
        {
            changes.extend(ch);
        }
    }
    Reply::json(
        StatusCode::OK,
        json!({"merge": [{"code": "SUCCESS", "details": {"id": id}, "message": "records merged successfully", "status": "success"}]}),
    )
    .with_changes(changes)
}

/// `POST /Leads/actions/mass_convert` (`ids`, up to 50): each lead converted as Convert Lead
/// does; the outcome kept as a job.
pub fn mass_convert(sb: &Sandbox, c: &Ctx) -> Reply {
    let Some(ids) = ids_of(c).filter(|i| !i.is_empty()) else {
        return bad(mandatory("ids", "$.ids"));
    };
    if ids.len() > MAX_MASS_CONVERT {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": MAX_MASS_CONVERT}),
        ));
    }
    let mut options = json!({});
    if let Some(deal) = c.json.as_ref().and_then(|b| b.get("deals")) {
        options["Deals"] = deal.clone();
    }
    let mut org = lock(&sb.org);
    let mut changes = Vec::new();
    let mut converted = 0u64;
    for id in &ids {
        if let Ok((r, ch)) = org.convert_lead(id, &options, &c.user, c.now_ms) {
            if r["status"] == "success" {
                converted += 1;
                changes.extend(ch);
            }
        }
    }
    let job_id = org.settings.new_id();
    org.settings.jobs.push(Job {
        id: job_id.clone(),
        module: "Leads".into(),
        kind: "mass_convert".into(),
        total: ids.len() as u64,
        updated: converted,
        failed: ids.len() as u64 - converted,
    });
    Reply::json(
        StatusCode::OK,
        json!({"data": [{"code": "SUCCESS", "details": {"job_id": job_id},
                         "message": "Mass convert scheduled successfully", "status": "success"}]}),
    )
    .with_changes(changes)
    .settings_changed()
}

/// The Deals blueprint: each stage moves to the next (or to a close).
fn transitions(stage: &str) -> Vec<(String, &'static str)> {
    let stages = schema::DEAL_STAGES;
    let Some(i) = stages.iter().position(|s| *s == stage) else {
        return vec![];
    };
    if stage.starts_with("Closed") {
        return vec![];
    }
    let mut out = vec![];
    if let Some(next) = stages.get(i + 1).filter(|s| !s.starts_with("Closed")) {
        out.push((format!("57257670000004{:05}", i * 10 + 1), *next));
    }
    out.push((format!("57257670000004{:05}", i * 10 + 2), "Closed Won"));
    out.push((format!("57257670000004{:05}", i * 10 + 3), "Closed Lost"));
    out
}

/// `GET /{module}/{id}/actions/blueprint`.
pub fn blueprint(sb: &Sandbox, module: &str, id: &str) -> Reply {
    let org = lock(&sb.org);
    let rec = match org.get(module, id) {
        Err(e) => return bad(e),
        Ok(None) => {
            return bad(ZohoError::invalid_data(
                "the id given seems to be invalid",
                json!({"resource_path_index": 1}),
            ))
        }
        Ok(Some(r)) => r,
    };
    let stage = rec.get("Stage").and_then(Value::as_str).unwrap_or("");
    let trans = transitions(stage);
    if !module.eq_ignore_ascii_case("Deals") || trans.is_empty() {
        return bad(ZohoError::new(
            "RECORD_NOT_IN_PROCESS",
            "the record is not in a blueprint process",
            json!({}),
        ));
    }
    Reply::json(
        StatusCode::OK,
        json!({"blueprint": {
            "process_info": {"field_id": "5725767000000003001", "is_continuous": false, "api_name": "Stage",
                             "continuous": false, "field_label": "Stage", "name": "Deal Pipeline",
                             "column_name": "POTENTIALSTAGE", "field_value": stage,
                             "id": "5725767000000004001", "field_name": "Stage"},
            "transitions": trans.iter().map(|(tid, next)| json!({
                "id": tid, "name": format!("Move to {next}"), "next_field_value": next,
                "parent_transition": null, "data": {}, "fields": [], "criteria_matched": true,
                "criteria_message": null, "type": 2, "execution_time": null})).collect::<Vec<_>>(),
        }}),
    )
}

/// `PUT /{module}/{id}/actions/blueprint` (`{"blueprint":[{"transition_id","data"}]}`): moves
/// the record along a transition it has now, with the transition's data.
pub fn blueprint_move(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let items = or_400!(body_list(c, "blueprint"));
    let Some(tid) = items
        .first()
        .and_then(|b| b.get("transition_id"))
        .and_then(Value::as_str)
    else {
        return bad(mandatory("transition_id", "$.blueprint[0].transition_id"));
    };
    let mut org = lock(&sb.org);
    let stage = match org.get(module, id) {
        Err(e) => return bad(e),
        Ok(None) => {
            return bad(ZohoError::invalid_data(
                "the id given seems to be invalid",
                json!({"resource_path_index": 1}),
            ))
        }
        Ok(Some(r)) => r
            .get("Stage")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    let Some((_, next)) = transitions(&stage).into_iter().find(|(t, _)| t == tid) else {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "transition_id", "json_path": "$.blueprint[0].transition_id"}),
        ));
    };
    let mut values = items[0]
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    values.insert("id".into(), json!(id));
    values.insert("Stage".into(), json!(next));
    match org.update(module, &[Value::Object(values)], None, &c.user, c.now_ms) {
        Ok((res, changes)) if res.first().is_some_and(|r| r["status"] == "success") => {
            Reply::json(
                StatusCode::OK,
                json!({"code": "SUCCESS", "details": {}, "message": "transition updated successfully", "status": "success"}),
            )
            .with_changes(changes)
        }
        Ok((res, _)) => Reply::json(
            StatusCode::BAD_REQUEST,
            res.into_iter().next().unwrap_or(Value::Null),
        ),
        Err(e) => bad(e),
    }
}

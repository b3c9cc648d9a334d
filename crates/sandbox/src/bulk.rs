//! The Bulk APIs: file upload, Bulk Write jobs (ZIP of CSV in, a result ZIP out) and Bulk Read
//! jobs (a ZIP of CSV out). Jobs run when created; their callback is POSTed through the
//! notifier, so the create call answers at once with state ADDED.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{Cursor, Read, Write};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::notify::Delivery;
use super::query::{Expr, Op};
use super::schema::FieldType;
use super::{lock, Ctx, Reply, ReplyBody, Sandbox};
use creditops_core::zoho::time::zoho_time;
use creditops_core::zoho::ZohoError;

/// Most rows a Bulk Write CSV may hold.
pub const MAX_WRITE_ROWS: usize = 25_000;
/// Most records one Bulk Read page holds.
pub const READ_PAGE: usize = 200_000;
/// Bulk Write file size limit (25 MB).
pub const MAX_UPLOAD: usize = 25 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// "read" or "write".
    pub kind: String,
    pub operation: String,
    pub state: String,
    pub created_ms: i64,
    pub request: Value,
    pub summary: Value,
    #[serde(skip)]
    pub result_zip: Vec<u8>,
}

#[derive(Debug, Default, Clone)]
pub struct Jobs {
    pub uploads: HashMap<String, Vec<u8>>,
    pub jobs: BTreeMap<String, Job>,
    pub downloads: VecDeque<i64>,
    next: u64,
}

impl Jobs {
    fn new_id(&mut self, now_ms: i64) -> String {
        self.next += 1;
        (5_725_767_000_100_000_000u64 + (now_ms as u64 % 1_000_000) * 100 + self.next).to_string()
    }
}

fn bad(e: ZohoError) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, e)
}

/// The file part of a multipart body, or the body itself when it is not multipart.
pub fn file_bytes(c: &Ctx) -> Result<Vec<u8>, ZohoError> {
    let ct = c
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return Ok(c.body.to_vec());
    };
    let delim = format!("--{boundary}");
    let body = &c.body[..];
    let mut start =
        find(body, delim.as_bytes(), 0).ok_or_else(|| ZohoError::required_param("file"))?;
    loop {
        let part_start = start + delim.len();
        if body.get(part_start..part_start + 2) == Some(b"--") {
            break;
        }
        let next = find(body, delim.as_bytes(), part_start).ok_or_else(|| {
            ZohoError::invalid_data("invalid data", json!({"param_name": "file"}))
        })?;
        let part = &body[part_start..next];
        if let Some(h) = find(part, b"\r\n\r\n", 0) {
            let headers = String::from_utf8_lossy(&part[..h]).to_ascii_lowercase();
            if headers.contains("name=\"file\"") {
                let mut content = &part[h + 4..];
                if content.ends_with(b"\r\n") {
                    content = &content[..content.len() - 2];
                }
                return Ok(content.to_vec());
            }
        }
        start = next;
    }
    Err(ZohoError::required_param("file"))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Reads the one CSV inside a ZIP: header and rows.
fn read_zip_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a ZIP file: {e}"))?;
    let mut text = String::new();
    let mut found = false;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
        if f.name().to_ascii_lowercase().ends_with(".csv") {
            f.read_to_string(&mut text)
                .map_err(|e| format!("{}: {e}", f.name()))?;
            found = true;
            break;
        }
    }
    if !found {
        return Err("the ZIP holds no CSV file".into());
    }
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(String::from)
        .collect();
    if header.len() > 200 {
        return Err(format!("{} columns; at most 200", header.len()));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| format!("row {}: {e}", i + 2))?;
        rows.push(rec.iter().map(String::from).collect());
        if rows.len() > MAX_WRITE_ROWS {
            return Err(format!("more than {MAX_WRITE_ROWS} rows"));
        }
    }
    Ok((header, rows))
}

/// Writes rows as `name.csv` inside a ZIP.
pub fn zip_csv(name: &str, header: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    let mut csv_bytes = Vec::new();
    {
        let mut w = csv::Writer::from_writer(&mut csv_bytes);
        let _ = w.write_record(header);
        for r in rows {
            let _ = w.write_record(r);
        }
        let _ = w.flush();
    }
    let mut out = Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        if z.start_file(name, opts).is_ok() {
            let _ = z.write_all(&csv_bytes);
        }
        let _ = z.finish();
    }
    out.into_inner()
}

/// `POST /crm/v8/upload`.
pub fn upload(sb: &Sandbox, c: &Ctx) -> Reply {
    let bytes = match file_bytes(c) {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    if bytes.is_empty() {
        return bad(ZohoError::required_param("file"));
    }
    if bytes.len() > MAX_UPLOAD {
        return bad(ZohoError::new(
            "FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
            "invalid data",
            json!({"maximum_size": MAX_UPLOAD}),
        ));
    }
    if let Err(why) = read_zip_csv(&bytes) {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"param_name": "file", "reason": why}),
        ));
    }
    let mut jobs = lock(&sb.bulk);
    let id = jobs.new_id(c.now_ms);
    if !sb.persist(|s| s.save_upload(&id, &bytes)) {
        return Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ZohoError::internal_error("the sandbox could not store the upload"),
        );
    }
    jobs.uploads.insert(id.clone(), bytes);
    Reply::json(
        StatusCode::OK,
        json!({"status": "success", "code": "FILE_UPLOAD_SUCCESS", "message": "file uploaded.",
               "details": {"file_id": id, "created_time": zoho_time(c.now_ms)}}),
    )
}

fn callback_of(req: &Value) -> Option<String> {
    req.get("callback")?
        .get("url")?
        .as_str()
        .filter(|u| u.starts_with("http"))
        .map(String::from)
}

/// Converts a CSV cell to the JSON its field expects.
fn cell(kind: Option<FieldType>, s: &str) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    match kind {
        Some(FieldType::Integer) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(s)),
        Some(FieldType::Currency) => s
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(s)),
        Some(FieldType::Boolean) => match s.to_ascii_lowercase().as_str() {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(s),
        },
        _ => json!(s),
    }
}

/// `POST /crm/bulk/v8/write`: runs the job now, answers ADDED, posts the callback.
pub fn create_write(sb: &Sandbox, c: &Ctx) -> Reply {
    let Some(req) = c.json.clone() else {
        return bad(missing_key("operation"));
    };
    let operation = req
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("insert")
        .to_string();
    if !["insert", "update", "upsert"].contains(&operation.as_str()) {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "operation", "json_path": "$.operation"}),
        ));
    }
    let Some(res) = req.get("resource").and_then(|r| r.get(0)) else {
        return bad(missing_key("resource"));
    };
    let Some(module) = res
        .get("module")
        .and_then(|m| m.get("api_name").or(Some(m)))
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return bad(missing_key("module"));
    };
    let Some(file_id) = res.get("file_id").and_then(Value::as_str).map(String::from) else {
        return bad(missing_key("file_id"));
    };
    let Some(zip) = lock(&sb.bulk).uploads.get(&file_id).cloned() else {
        return bad(ZohoError::invalid_data(
            "the id given seems to be invalid",
            json!({"api_name": "file_id", "json_path": "$.resource[0].file_id"}),
        ));
    };
    let (header, rows) = match read_zip_csv(&zip) {
        Ok(x) => x,
        Err(why) => {
            return bad(ZohoError::invalid_data(
                "invalid data",
                json!({"api_name": "file_id", "reason": why}),
            ))
        }
    };
    let mut org = lock(&sb.org);
    let m = match org.module(&module) {
        Ok(m) => m.clone(),
        Err(e) => return bad(e),
    };
    // Column → field: the mappings given, else the CSV header names.
    let mappings: Vec<(String, usize)> = match res.get("field_mappings").and_then(Value::as_array) {
        Some(maps) => maps
            .iter()
            .filter_map(|x| {
                let api = x.get("api_name")?.as_str()?.to_string();
                let idx = x
                    .get("index")
                    .and_then(Value::as_u64)
                    .map(|i| i as usize)
                    .or_else(|| header.iter().position(|h| h == &api))?;
                Some((api, idx))
            })
            .collect(),
        None => header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), i))
            .collect(),
    };
    let find_by = res.get("find_by").and_then(Value::as_str).map(String::from);
    let (mut added, mut updated, mut skipped) = (0u64, 0u64, 0u64);
    let mut out_rows = Vec::with_capacity(rows.len());
    let mut changes = Vec::new();
    for row in &rows {
        let mut rec = Map::new();
        for (api, idx) in &mappings {
            let kind = m.field(api).map(|f| f.kind);
            let v = row.get(*idx).map(|s| cell(kind, s)).unwrap_or(Value::Null);
            if kind == Some(FieldType::Lookup) || kind == Some(FieldType::Owner) {
                if let Value::String(id) = &v {
                    rec.insert(api.clone(), json!({"id": id}));
                    continue;
                }
            }
            if !v.is_null() || api == "id" {
                rec.insert(api.clone(), v);
            }
        }
        let data = [Value::Object(rec)];
        let r = match operation.as_str() {
            "insert" => org.insert(&module, &data, &c.user, c.now_ms),
            "update" => org.update(&module, &data, None, &c.user, c.now_ms),
            _ => org.upsert(
                &module,
                &data,
                find_by.as_ref().map(std::slice::from_ref),
                &c.user,
                c.now_ms,
            ),
        };
        let (status, id, err) = match r {
            Ok((results, ch)) => {
                changes.extend(ch);
                let res0 = results.into_iter().next().unwrap_or(Value::Null);
                if res0["status"] == "success" {
                    let inserted = res0
                        .get("action")
                        .map_or(operation == "insert", |a| a == "insert");
                    if inserted {
                        added += 1
                    } else {
                        updated += 1
                    }
                    (
                        if inserted { "ADDED" } else { "UPDATED" },
                        res0["details"]["id"].as_str().unwrap_or("").to_string(),
                        String::new(),
                    )
                } else {
                    skipped += 1;
                    (
                        "SKIPPED",
                        String::new(),
                        res0["code"].as_str().unwrap_or("").to_string(),
                    )
                }
            }
            Err(e) => {
                skipped += 1;
                ("SKIPPED", String::new(), e.code)
            }
        };
        let mut out = row.clone();
        out.extend([id, status.to_string(), err]);
        out_rows.push(out);
    }
    drop(org);
    let mut result_header = header.clone();
    result_header.extend([
        "RECORD_ID".to_string(),
        "STATUS".to_string(),
        "ERRORS".to_string(),
    ]);
    let mut jobs = lock(&sb.bulk);
    let id = jobs.new_id(c.now_ms);
    let total = rows.len() as u64;
    let summary = json!({
        "status": "COMPLETED",
        "character_encoding": "UTF-8",
        "resource": [{"status": "COMPLETED", "type": "data", "module": {"api_name": m.api_name, "id": m.id.to_string()},
                      "field_mappings": mappings.iter().map(|(a, i)| json!({"api_name": a, "index": i})).collect::<Vec<_>>(),
                      "file": {"status": "COMPLETED", "name": format!("{file_id}.csv"), "added_count": added,
                               "skipped_count": skipped, "updated_count": updated, "total_count": total}}],
        "id": id,
        "result": {"download_url": format!("/crm/bulk/v8/write/{id}/result")},
        "created_by": {"id": c.user, "name": lock(&sb.org).current_user().full_name},
        "operation": operation,
        "created_time": zoho_time(c.now_ms),
    });
    let job = Job {
        id: id.clone(),
        kind: "write".into(),
        operation: operation.clone(),
        state: "COMPLETED".into(),
        created_ms: c.now_ms,
        request: req.clone(),
        summary: summary.clone(),
        result_zip: zip_csv(&format!("{id}.csv"), &result_header, &out_rows),
    };
    sb.persist(|s| s.save_job(&job));
    jobs.jobs.insert(id.clone(), job);
    drop(jobs);
    if let Some(url) = callback_of(&req) {
        let mut body = summary;
        body["job_id"] = json!(id);
        body["state"] = json!("COMPLETED");
        sb.notifier.send(Delivery { url, body });
    }
    let name = lock(&sb.org).current_user().full_name.clone();
    Reply::json(
        StatusCode::CREATED,
        json!({"status": "success", "code": "ADDED_SUCCESSFULLY", "message": "Added successfully.",
               "details": {"id": id, "created_by": {"id": c.user, "name": name}}}),
    )
    .with_changes(changes)
}

pub fn write_status(sb: &Sandbox, id: &str) -> Reply {
    match lock(&sb.bulk).jobs.get(id).filter(|j| j.kind == "write") {
        Some(j) => Reply::json(StatusCode::OK, j.summary.clone()),
        None => job_not_found(id),
    }
}

pub fn write_result(sb: &Sandbox, id: &str) -> Reply {
    match lock(&sb.bulk).jobs.get(id).filter(|j| j.kind == "write") {
        Some(j) => Reply {
            status: StatusCode::OK,
            body: ReplyBody::Bytes(j.result_zip.clone(), "application/zip"),
            headers: vec![],
            changes: vec![],
            settings_changed: false,
        },
        None => job_not_found(id),
    }
}

/// Converts Bulk Read's JSON criteria into a filter.
fn criteria(v: &Value) -> Result<Expr, String> {
    if let Some(group) = v.get("group").and_then(Value::as_array) {
        let or = v
            .get("group_operator")
            .and_then(Value::as_str)
            .is_some_and(|o| o.eq_ignore_ascii_case("or"));
        let mut parts = group.iter().map(criteria);
        let mut e = parts.next().ok_or("an empty criteria group")??;
        for p in parts {
            e = if or {
                Expr::Or(Box::new(e), Box::new(p?))
            } else {
                Expr::And(Box::new(e), Box::new(p?))
            };
        }
        return Ok(e);
    }
    let field = v
        .get("field")
        .and_then(|f| f.get("api_name").or(Some(f)))
        .and_then(Value::as_str)
        .or_else(|| v.get("api_name").and_then(Value::as_str))
        .ok_or("a criterion needs field.api_name")?
        .to_string();
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    let list = |x: &Value| x.as_array().cloned().unwrap_or_else(|| vec![x.clone()]);
    let (op, values) = match v
        .get("comparator")
        .and_then(Value::as_str)
        .unwrap_or("equal")
    {
        "equal" | "equals" => (Op::Eq, vec![value]),
        "not_equal" => (Op::Ne, vec![value]),
        "in" => (Op::In, list(&value)),
        "not_in" => (Op::NotIn, list(&value)),
        "less_than" => (Op::Lt, vec![value]),
        "less_equal" => (Op::Le, vec![value]),
        "greater_than" => (Op::Gt, vec![value]),
        "greater_equal" => (Op::Ge, vec![value]),
        "starts_with" => (Op::StartsWith, vec![value]),
        "contains" => (
            Op::Like,
            vec![json!(format!("%{}%", value.as_str().unwrap_or("")))],
        ),
        "not_contains" => (
            Op::NotLike,
            vec![json!(format!("%{}%", value.as_str().unwrap_or("")))],
        ),
        "ends_with" => (
            Op::Like,
            vec![json!(format!("%{}", value.as_str().unwrap_or("")))],
        ),
        "between" => (Op::Between, list(&value)),
        other => return Err(format!("unknown comparator `{other}`")),
    };
    Ok(Expr::Cond { field, op, values })
}

fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        Some(other) => other.to_string(),
    }
}

/// `POST /crm/bulk/v8/read`.
pub fn create_read(sb: &Sandbox, c: &Ctx) -> Reply {
    let empty = || {
        Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"data": [{"status": "error", "code": "REQUEST_BODY_IS_EMPTY",
                             "message": "required key query is not found in request body.",
                             "details": {"resource": "query", "expected_data_type": "jsonobject"}}]}),
        )
    };
    let Some(req) = c.json.clone() else {
        return empty();
    };
    let Some(q) = req.get("query") else {
        return empty();
    };
    let Some(module) = q
        .get("module")
        .and_then(|m| m.get("api_name").or(Some(m)))
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return bad(ZohoError::required_param("module"));
    };
    let filter = match q.get("criteria") {
        Some(cr) => match criteria(cr) {
            Ok(e) => Some(e),
            Err(why) => {
                return bad(ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "criteria", "json_path": "$.query.criteria", "reason": why}),
                ))
            }
        },
        None => None,
    };
    let page = q.get("page").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
    let org = lock(&sb.org);
    let m = match org.module(&module) {
        Ok(m) => m.clone(),
        Err(e) => return bad(e),
    };
    let fields: Vec<String> = match q.get("fields").and_then(Value::as_array) {
        Some(f) => f
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        None => m.fields.iter().map(|f| f.api_name.to_string()).collect(),
    };
    let mut header = vec!["Id".to_string()];
    header.extend(
        fields
            .iter()
            .filter(|f| f.as_str() != "id" && f.as_str() != "Id")
            .cloned(),
    );
    let hits: Vec<Vec<String>> = org
        .records
        .get(m.api_name)
        .map(|recs| {
            recs.values()
                .filter(|r| filter.as_ref().is_none_or(|e| e.matches(r)))
                .skip((page - 1) * READ_PAGE)
                .take(READ_PAGE + 1)
                .map(|r| {
                    header
                        .iter()
                        .map(|h| csv_cell(if h == "Id" { r.get("id") } else { r.get(h) }))
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let user_name = org.current_user().full_name.clone();
    drop(org);
    let more = hits.len() > READ_PAGE;
    let rows = &hits[..hits.len().min(READ_PAGE)];
    let mut jobs = lock(&sb.bulk);
    let id = jobs.new_id(c.now_ms);
    let created = zoho_time(c.now_ms);
    let summary = json!({
        "id": id, "operation": "read", "state": "COMPLETED",
        "query": q, "created_by": {"id": c.user, "name": user_name}, "created_time": created,
        "result": {"page": page, "per_page": READ_PAGE, "count": rows.len(), "download_url": format!("/crm/bulk/v8/read/{id}/result"), "more_records": more,
                   // Further pages are asked for by `page`: no token to give.
                   "next_page_token": null},
        "file_type": "csv",
    });
    let job = Job {
        id: id.clone(),
        kind: "read".into(),
        operation: "read".into(),
        state: "COMPLETED".into(),
        created_ms: c.now_ms,
        request: req.clone(),
        summary: summary.clone(),
        result_zip: zip_csv(&format!("{id}.csv"), &header, rows),
    };
    sb.persist(|s| s.save_job(&job));
    jobs.jobs.insert(id.clone(), job);
    drop(jobs);
    if let Some(url) = callback_of(&req) {
        sb.notifier.send(Delivery {
            url,
            body: json!({"data": [summary]}),
        });
    }
    Reply::json(
        StatusCode::CREATED,
        json!({"data": [{"status": "success", "code": "ADDED_SUCCESSFULLY", "message": "Added successfully.",
                         "details": {"id": id, "operation": "read", "state": "ADDED", "created_by": {"id": c.user, "name": user_name}, "created_time": created}}],
               "info": {}}),
    )
}

pub fn read_status(sb: &Sandbox, id: &str) -> Reply {
    match lock(&sb.bulk).jobs.get(id).filter(|j| j.kind == "read") {
        Some(j) => Reply::json(StatusCode::OK, json!({"data": [j.summary]})),
        None => job_not_found(id),
    }
}

/// `GET /crm/bulk/v8/read/{id}/result`: the ZIP; at most 10 downloads a minute, then 429.
pub fn read_result(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let mut jobs = lock(&sb.bulk);
    while jobs
        .downloads
        .front()
        .is_some_and(|t| *t <= c.now_ms - 60_000)
    {
        jobs.downloads.pop_front();
    }
    if jobs.downloads.len() >= 10 {
        return Reply::error(
            StatusCode::TOO_MANY_REQUESTS,
            ZohoError::too_many_requests("Bulk Read downloads are limited to 10 a minute."),
        );
    }
    let zip = match jobs.jobs.get(id).filter(|j| j.kind == "read") {
        Some(j) => j.result_zip.clone(),
        None => return job_not_found(id),
    };
    jobs.downloads.push_back(c.now_ms);
    Reply {
        status: StatusCode::OK,
        body: ReplyBody::Bytes(zip, "application/zip"),
        headers: vec![],
        changes: vec![],
        settings_changed: false,
    }
}

/// Restores a job's result file after a restart (results are rebuilt from the store's copy).
pub fn restore(jobs: &mut Jobs, job: Job, zip: Vec<u8>) {
    let mut job = job;
    job.result_zip = zip;
    jobs.next = jobs.next.max(jobs.jobs.len() as u64 + 1);
    jobs.jobs.insert(job.id.clone(), job);
}

/// Reads a result ZIP back into CSV rows (tests and the planner's sender use it).
pub fn unzip_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    read_zip_csv(bytes)
}

/// A bulk-write body without a key it needs (bulk_write.json's wording).
fn missing_key(key: &str) -> ZohoError {
    ZohoError::new(
        "MANDATORY_NOT_FOUND",
        &format!("required key {key} is not found in request body."),
        json!({"api_name": key, "json_path": format!("$.{key}")}),
    )
}

/// A job id no job has: 404 `RESOURCE_NOT_FOUND`, as the bulk files answer it.
fn job_not_found(id: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        ZohoError::new(
            "RESOURCE_NOT_FOUND",
            "The requested resource doesn't exist.",
            json!({"resource": id}),
        ),
    )
}

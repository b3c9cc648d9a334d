//! Record and org photos: `GET|POST|DELETE /{module}/{id}/photo` and `/org/photo`. An image
//! (PNG, JPEG, GIF or BMP, by its first bytes) sent as the multipart `file` part; kept in
//! memory and, with `--data-dir`, in the store before the upload is acknowledged.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::json;

use super::answers::{bad, or_400};
use super::{bulk, lock, Ctx, Reply, ReplyBody, Sandbox};
use creditops_core::zoho::ZohoError;

/// Photos by owner: `org`, or `Module/id`.
#[derive(Debug, Default)]
pub struct Photos {
    pub map: HashMap<String, Vec<u8>>,
}

/// The image type a photo's first bytes name, if it is one Zoho takes.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else {
        None
    }
}

/// The owner key of a record's photo, once the record is known to exist.
fn record_key(sb: &Sandbox, module: &str, id: &str) -> Result<String, ZohoError> {
    let org = lock(&sb.org);
    match org.get(module, id)? {
        Some(_) => Ok(format!("{}/{id}", org.module(module)?.api_name)),
        None => Err(ZohoError::invalid_data(
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        )),
    }
}

fn download(bytes: &[u8]) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: ReplyBody::Bytes(bytes.to_vec(), image_type(bytes).unwrap_or("image/png")),
        headers: vec![],
        changes: vec![],
        settings_changed: false,
    }
}

/// `GET`: the photo's bytes, or 204 when there is none.
fn get(sb: &Sandbox, key: &str) -> Reply {
    match lock(&sb.photos).map.get(key) {
        Some(b) => download(b),
        None => Reply::empty(StatusCode::NO_CONTENT),
    }
}

/// `POST`: stores the image (kept before it is acknowledged).
fn put(sb: &Sandbox, c: &Ctx, key: &str) -> Result<(), ZohoError> {
    let no_file = || {
        ZohoError::invalid_data(
            "no image was sent (a multipart `file` part)",
            json!({"param_name": "file"}),
        )
    };
    let bytes = bulk::file_bytes(c).map_err(|_| no_file())?;
    if bytes.is_empty() {
        return Err(no_file());
    }
    if image_type(&bytes).is_none() {
        return Err(ZohoError::invalid_data(
            "invalid file format: a PNG, JPEG, GIF or BMP image is expected",
            json!({"param_name": "file"}),
        ));
    }
    if !sb.persist(|s| s.save_photo(key, Some(&bytes))) {
        return Err(ZohoError::internal_error("the photo could not be stored"));
    }
    lock(&sb.photos).map.insert(key.to_string(), bytes);
    Ok(())
}

/// `DELETE`: removes the photo; there must be one.
fn remove(sb: &Sandbox, key: &str) -> Result<(), ZohoError> {
    if !lock(&sb.photos).map.contains_key(key) {
        return Err(ZohoError::invalid_data(
            "there is no photo to delete",
            json!({}),
        ));
    }
    if !sb.persist(|s| s.save_photo(key, None)) {
        return Err(ZohoError::internal_error("the photo could not be deleted"));
    }
    lock(&sb.photos).map.remove(key);
    Ok(())
}

/// `GET|POST|DELETE /{module}/{id}/photo`.
pub fn record(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let key = or_400!(record_key(sb, module, id));
    let done = |message: &str| {
        Reply::json(
            StatusCode::OK,
            json!({"code": "SUCCESS", "details": {}, "message": message, "status": "success"}),
        )
    };
    match c.method.as_str() {
        "GET" => get(sb, &key),
        "POST" => match put(sb, c, &key) {
            Ok(()) => done("photo uploaded successfully"),
            Err(e) => bad(e),
        },
        _ => match remove(sb, &key) {
            Ok(()) => done("Photo deleted"),
            Err(e) => bad(e),
        },
    }
}

/// `GET|POST|DELETE /org/photo`.
pub fn org(sb: &Sandbox, c: &Ctx) -> Reply {
    let org_id = lock(&sb.org).org_id.clone();
    let done = |message: &str| {
        Reply::json(
            StatusCode::OK,
            json!({"code": "SUCCESS", "details": {"id": org_id}, "message": message, "status": "success"}),
        )
    };
    match c.method.as_str() {
        "GET" => get(sb, "org"),
        "POST" => match put(sb, c, "org") {
            Ok(()) => done("photo uploaded successfully"),
            Err(e) => bad(e),
        },
        _ => match remove(sb, "org") {
            Ok(()) => done("photo deleted"),
            Err(e) => bad(e),
        },
    }
}

//! Zoho's settings endpoints over the org's [`Settings`](super::settings::Settings): tags,
//! custom views, layouts, fields and modules (reads by id and the writes), related lists by id,
//! profiles, roles, territories, and the users calls beyond reading.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::answers::{bad, batch_status, body_list, module_of, or_400, paged};
use super::org::{Org, User};
use super::schema::{self, ModuleView};
use super::settings::{self, CustomField, CustomModule, Settings, Tag};
use super::{lock, Ctx, Reply, Sandbox};
use creditops_core::zoho::time::zoho_time;
use creditops_core::zoho::ZohoError;

fn ok_entry(id: &str, message: &str) -> Value {
    json!({"code": "SUCCESS", "details": {"id": id}, "message": message, "status": "success"})
}

/// A body-level error the settings files answer inside their list (`{"fields": [error]}`).
fn wrapped(key: &str, e: ZohoError) -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, json!({ key: [e.to_json()] }))
}

fn not_found_id(id: &str) -> ZohoError {
    ZohoError::invalid_data(
        "the id given seems to be invalid or already deleted",
        json!({"id": id}),
    )
}

/// Applies a settings change to the modules, or undoes it (`undo`) when it does not apply.
fn apply_or_undo(org: &mut Org, undo: impl FnOnce(&mut Settings)) -> Result<(), ZohoError> {
    org.apply_settings().inspect_err(|_| {
        undo(&mut org.settings);
        // The settings before the change applied; they apply again.
        let _ = org.apply_settings();
    })
}

fn admin_ref(org: &Org) -> Value {
    org.current_user().minified()
}

/// A module's labels and the profiles that see it, as `GET /settings/modules` shows them.
pub fn module_view_json(org: &Org, m: &schema::ModuleDef, single: bool) -> Value {
    let (singular, plural) = org
        .settings
        .labels
        .get(m.api_name)
        .cloned()
        .unwrap_or_else(|| (m.singular.to_string(), m.api_name.to_string()));
    let profiles: Vec<Value> = org
        .settings
        .profiles
        .iter()
        .map(|p| json!({"id": p.id, "name": p.name, "_delete": false}))
        .collect();
    let by = admin_ref(org);
    schema::module_json(
        m,
        &ModuleView {
            singular: &singular,
            plural: &plural,
            profiles: &profiles,
        },
        &zoho_time(org.schema_time_ms),
        &by,
        single,
    )
}

// ---- modules -------------------------------------------------------------------------------

/// `GET /settings/modules/{api_name}` and `GET /settings/modules/{id}`.
pub fn module(sb: &Sandbox, key: &str) -> Reply {
    let org = lock(&sb.org);
    let found = if key.bytes().all(|b| b.is_ascii_digit()) {
        org.modules
            .iter()
            .find(|m| m.id.to_string() == key)
            .cloned()
    } else {
        org.module(key).ok().cloned()
    };
    match found {
        Some(m) => Reply::json(
            StatusCode::OK,
            json!({"modules": [module_view_json(&org, &m, true)]}),
        ),
        None => bad(ZohoError::new(
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({}),
        )),
    }
}

/// `POST /settings/modules`: custom modules (each with an owner and a `Name`).
pub fn create_modules(sb: &Sandbox, c: &Ctx) -> Reply {
    let items = match body_list(c, "modules") {
        Ok(i) => i,
        Err(e) => return wrapped("modules", e),
    };
    let mut org = lock(&sb.org);
    let mut out = Vec::new();
    let mut changed = false;
    for (i, item) in items.iter().enumerate() {
        let plural = item.get("plural_label").and_then(Value::as_str);
        let singular = item.get("singular_label").and_then(Value::as_str);
        let (Some(plural), Some(singular)) = (plural, singular) else {
            let key = if plural.is_none() {
                "plural_label"
            } else {
                "singular_label"
            };
            out.push(
                ZohoError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": key, "json_path": format!("$.modules[{i}].{key}")}),
                )
                .to_json(),
            );
            continue;
        };
        let api_name = item
            .get("api_name")
            .and_then(Value::as_str)
            .map(settings::api_name_of)
            .unwrap_or_else(|| settings::api_name_of(plural));
        if api_name.is_empty() || plural.len() > 25 || singular.len() > 25 {
            out.push(
                ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "plural_label", "json_path": format!("$.modules[{i}].plural_label"), "maximum_length": 25}),
                )
                .to_json(),
            );
            continue;
        }
        if org.module(&api_name).is_ok() {
            out.push(
                ZohoError::new(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    json!({"api_name": "api_name", "json_path": format!("$.modules[{i}].api_name")}),
                )
                .to_json(),
            );
            continue;
        }
        if org.settings.custom_modules.len() >= settings::MAX_CUSTOM_MODULES {
            out.push(
                ZohoError::limit_exceeded(
                    "custom module limit reached",
                    json!({"limit": settings::MAX_CUSTOM_MODULES}),
                )
                .to_json(),
            );
            continue;
        }
        let id = org.settings.new_id();
        org.settings.custom_modules.push(CustomModule {
            id: id.clone(),
            api_name,
            singular: singular.into(),
            plural: plural.into(),
        });
        if let Err(e) = apply_or_undo(&mut org, |s| {
            s.custom_modules.pop();
        }) {
            out.push(e.to_json());
            continue;
        }
        org.schema_time_ms = c.now_ms;
        changed = true;
        out.push(ok_entry(&id, "module created"));
    }
    let reply = Reply::json(
        batch_status(&out, StatusCode::CREATED),
        json!({"modules": out}),
    );
    reply.settings_changed_if(changed)
}

/// `PUT /settings/modules` (ids or API names in the body) and `PUT /settings/modules/{key}`:
/// the labels.
pub fn update_modules(sb: &Sandbox, c: &Ctx, key: Option<&str>) -> Reply {
    let items = match body_list(c, "modules") {
        Ok(i) => i,
        Err(e) => return wrapped("modules", e),
    };
    let mut org = lock(&sb.org);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let k = key
            .map(String::from)
            .or_else(|| item.get("id").and_then(Value::as_str).map(String::from))
            .or_else(|| {
                item.get("api_name")
                    .and_then(Value::as_str)
                    .map(String::from)
            });
        let Some(k) = k else {
            out.push(
                ZohoError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": "id", "json_path": format!("$.modules[{i}].id")}),
                )
                .to_json(),
            );
            continue;
        };
        let m = if k.bytes().all(|b| b.is_ascii_digit()) {
            org.modules.iter().find(|m| m.id.to_string() == k).cloned()
        } else {
            org.module(&k).ok().cloned()
        };
        let Some(m) = m else {
            out.push(not_found_id(&k).to_json());
            continue;
        };
        let (mut singular, mut plural) = org
            .settings
            .labels
            .get(m.api_name)
            .cloned()
            .unwrap_or_else(|| (m.singular.to_string(), m.api_name.to_string()));
        if let Some(s) = item.get("singular_label").and_then(Value::as_str) {
            singular = s.into();
        }
        if let Some(p) = item.get("plural_label").and_then(Value::as_str) {
            plural = p.into();
        }
        org.settings
            .labels
            .insert(m.api_name.to_string(), (singular, plural));
        org.schema_time_ms = c.now_ms;
        out.push(ok_entry(&m.id.to_string(), "module updated"));
    }
    Reply::json(batch_status(&out, StatusCode::OK), json!({"modules": out})).settings_changed()
}

// ---- fields --------------------------------------------------------------------------------

fn field_index(m: &schema::ModuleDef, id: &str) -> Option<usize> {
    (0..m.fields.len()).find(|&i| schema::field_id(m, i) == id)
}

/// `GET /settings/fields/{id}?module=`.
pub fn field(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let all = schema::fields_json(&m);
    match all["fields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id))
    {
        Some(f) => Reply::json(StatusCode::OK, json!({"fields": [f]})),
        None => Reply::empty(StatusCode::NO_CONTENT),
    }
}

/// `POST /settings/fields?module=`: custom fields.
pub fn create_fields(sb: &Sandbox, c: &Ctx) -> Reply {
    let items = match body_list(c, "fields") {
        Ok(i) => i,
        Err(e) => return wrapped("fields", e),
    };
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let mut out = Vec::new();
    let mut changed = false;
    for (i, item) in items.iter().enumerate() {
        let path = |k: &str| format!("$.fields[{i}].{k}");
        let Some(label) = item.get("field_label").and_then(Value::as_str) else {
            out.push(
                ZohoError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": "field_label", "json_path": path("field_label")}),
                )
                .to_json(),
            );
            continue;
        };
        let data_type = item
            .get("data_type")
            .and_then(Value::as_str)
            .unwrap_or("text");
        if settings::field_type(data_type).is_none() {
            out.push(
                ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "data_type", "json_path": path("data_type")}),
                )
                .to_json(),
            );
            continue;
        }
        let api_name = settings::api_name_of(label);
        if api_name.is_empty() || label.chars().count() > 50 {
            out.push(
                ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "field_label", "json_path": path("field_label"), "maximum_length": 50}),
                )
                .to_json(),
            );
            continue;
        }
        let custom_here = org
            .settings
            .custom_fields
            .iter()
            .filter(|f| f.module == m.api_name)
            .count();
        if m.field(&api_name).is_some() {
            out.push(
                ZohoError::new(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    json!({"api_name": "field_label", "json_path": path("field_label")}),
                )
                .to_json(),
            );
            continue;
        }
        if custom_here >= settings::MAX_CUSTOM_FIELDS {
            out.push(
                ZohoError::limit_exceeded(
                    "custom field limit reached",
                    json!({"limit": settings::MAX_CUSTOM_FIELDS}),
                )
                .to_json(),
            );
            continue;
        }
        let picklist: Vec<String> = item
            .get("pick_list_values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| {
                        v.get("actual_value")
                            .or_else(|| v.get("display_value"))
                            .or(Some(v))
                            .and_then(Value::as_str)
                            .map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let unique = item
            .get("unique")
            .is_some_and(|u| u.as_bool() == Some(true) || u.is_object());
        let length = item
            .get("length")
            .and_then(Value::as_u64)
            .map_or(255, |l| l.clamp(1, 255) as u32);
        let id = org.settings.new_id();
        org.settings.custom_fields.push(CustomField {
            module: m.api_name.into(),
            id: id.clone(),
            api_name,
            label: label.into(),
            data_type: data_type.into(),
            length,
            unique,
            picklist,
        });
        if let Err(e) = apply_or_undo(&mut org, |s| {
            s.custom_fields.pop();
        }) {
            out.push(e.to_json());
            continue;
        }
        org.schema_time_ms = c.now_ms;
        changed = true;
        out.push(ok_entry(&id, "field created"));
    }
    let reply = Reply::json(
        batch_status(&out, StatusCode::CREATED),
        json!({"fields": out}),
    );
    reply.settings_changed_if(changed)
}

/// `PATCH /settings/fields?module=` (ids in the body) and `PATCH /settings/fields/{id}`: a
/// custom field's label, length, uniqueness or picklist.
pub fn update_fields(sb: &Sandbox, c: &Ctx, path_id: Option<&str>) -> Reply {
    let items = match body_list(c, "fields") {
        Ok(i) => i,
        Err(e) => return wrapped("fields", e),
    };
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let before = org.settings.custom_fields.clone();
    let mut out = Vec::new();
    for item in items {
        let id = path_id
            .map(String::from)
            .or_else(|| item.get("id").and_then(Value::as_str).map(String::from))
            .unwrap_or_default();
        let Some(f) = org
            .settings
            .custom_fields
            .iter_mut()
            .find(|f| f.id == id && f.module == m.api_name)
        else {
            let standard = field_index(&m, &id).is_some();
            let why = if standard {
                "a standard field cannot be changed"
            } else {
                "the id given seems to be invalid"
            };
            out.push(
                ZohoError::invalid_data(
                    why,
                    json!({"api_name": "id", "json_path": "$.fields[0].id", "expected_data_type": "bigint"}),
                )
                .to_json(),
            );
            continue;
        };
        if let Some(l) = item.get("field_label").and_then(Value::as_str) {
            f.label = l.chars().take(50).collect();
        }
        if let Some(l) = item.get("length").and_then(Value::as_u64) {
            f.length = l.clamp(1, 255) as u32;
        }
        if let Some(u) = item.get("unique") {
            f.unique = u.as_bool() == Some(true) || u.is_object();
        }
        if let Some(p) = item.get("pick_list_values").and_then(Value::as_array) {
            f.picklist = p
                .iter()
                .filter_map(|v| {
                    v.get("actual_value")
                        .or(Some(v))
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .collect();
        }
        out.push(ok_entry(&id, "field updated"));
    }
    if let Err(e) = org.apply_settings() {
        org.settings.custom_fields = before;
        let _ = org.apply_settings();
        return bad(e);
    }
    org.schema_time_ms = c.now_ms;
    Reply::json(batch_status(&out, StatusCode::OK), json!({"fields": out})).settings_changed()
}

/// `DELETE /settings/fields/{id}?module=`: custom fields only; the records lose the value.
pub fn delete_field(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let Some(pos) = org
        .settings
        .custom_fields
        .iter()
        .position(|f| f.id == id && f.module == m.api_name)
    else {
        return bad(not_found_id(id));
    };
    let gone = org.settings.custom_fields.remove(pos);
    if let Some(recs) = org.records.get_mut(m.api_name) {
        for r in recs.values_mut() {
            r.remove(&gone.api_name);
        }
    }
    if let Err(e) = org.apply_settings() {
        return bad(e);
    }
    org.schema_time_ms = c.now_ms;
    Reply::json(
        StatusCode::OK,
        json!({"fields": [ok_entry(id, "field deleted")]}),
    )
    .settings_changed()
}

// ---- layouts -------------------------------------------------------------------------------

/// `GET /settings/layouts?module=` and `GET /settings/layouts/{id}?module=`.
pub fn layouts(sb: &Sandbox, c: &Ctx, id: Option<&str>) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let list: Vec<Value> = org
        .settings
        .layouts
        .iter()
        .filter(|l| l.module == m.api_name && id.is_none_or(|id| l.id == id))
        .map(|l| org.settings.layout_json(l, &m))
        .collect();
    if list.is_empty() {
        return match id {
            Some(id) => bad(not_found_id(id)),
            None => Reply::empty(StatusCode::NO_CONTENT),
        };
    }
    Reply::json(StatusCode::OK, json!({"layouts": list}))
}

/// `PATCH /settings/layouts?module=` and `PATCH /settings/layouts/{id}?module=`: a layout's
/// name and the profiles it is shown to.
pub fn update_layouts(sb: &Sandbox, c: &Ctx, path_id: Option<&str>) -> Reply {
    let items = match body_list(c, "layouts") {
        Ok(i) => i,
        // layouts.json's errors carry every detail key it knows.
        Err(_) => {
            return wrapped(
                "layouts",
                ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "layouts", "message": "required key layouts is not found in request body.",
                           "expected_data_type": "jsonarray", "info_message": "", "parent_api_name": "",
                           "json_path": "$.layouts", "supported_values": []}),
                ),
            )
        }
    };
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let profiles: Vec<String> = org.settings.profiles.iter().map(|p| p.id.clone()).collect();
    let mut out = Vec::new();
    for item in items {
        let id = path_id
            .map(String::from)
            .or_else(|| item.get("id").and_then(Value::as_str).map(String::from))
            .unwrap_or_default();
        let Some(l) = org
            .settings
            .layouts
            .iter_mut()
            .find(|l| l.id == id && l.module == m.api_name)
        else {
            out.push(not_found_id(&id).to_json());
            continue;
        };
        if let Some(n) = item.get("name").and_then(Value::as_str) {
            l.name = n.chars().take(50).collect();
        }
        if let Some(ps) = item.get("profiles").and_then(Value::as_array) {
            let ids: Vec<String> = ps
                .iter()
                .filter_map(|p| p.get("id").and_then(Value::as_str))
                .filter(|p| profiles.iter().any(|x| x == p))
                .map(String::from)
                .collect();
            l.profiles = ids;
        }
        l.modified_ms = c.now_ms;
        out.push(ok_entry(&id, "layout updated"));
    }
    Reply::json(batch_status(&out, StatusCode::OK), json!({"layouts": out})).settings_changed()
}

/// `DELETE /settings/layouts/{id}?module=`: a custom layout.
pub fn delete_layout(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let Some(pos) = org
        .settings
        .layouts
        .iter()
        .position(|l| l.id == id && l.module == m.api_name)
    else {
        return bad(not_found_id(id));
    };
    if !org.settings.layouts[pos].custom {
        return bad(ZohoError::new(
            "NOT_ALLOWED",
            "the standard layout cannot be deleted",
            json!({"id": id}),
        ));
    }
    org.settings.layouts.remove(pos);
    Reply::json(
        StatusCode::OK,
        json!({"layouts": [ok_entry(id, "layout deleted")]}),
    )
    .settings_changed()
}

/// `POST` (activate) and `DELETE` (deactivate) `/settings/layouts/{id}/actions/activate`.
pub fn activate_layout(sb: &Sandbox, c: &Ctx, id: &str, active: bool) -> Reply {
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let Some(l) = org
        .settings
        .layouts
        .iter_mut()
        .find(|l| l.id == id && l.module == m.api_name)
    else {
        return bad(not_found_id(id));
    };
    if !l.custom && !active {
        return bad(ZohoError::new(
            "NOT_ALLOWED",
            "the standard layout cannot be deactivated",
            json!({"id": id}),
        ));
    }
    l.active = active;
    l.modified_ms = c.now_ms;
    Reply::json(
        StatusCode::OK,
        json!({"layouts": [ok_entry(id, "layout updated")]}),
    )
    .settings_changed()
}

// ---- related lists -------------------------------------------------------------------------

/// `GET /settings/related_lists/{id}?module=`.
pub fn related_list(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let lists = schema::related_lists(&m);
    match lists.iter().position(|r| r.id.to_string() == id) {
        Some(i) => Reply::json(
            StatusCode::OK,
            json!({"related_lists": [schema::related_list_json(&m, &lists[i], i)]}),
        ),
        None => Reply::empty(StatusCode::NO_CONTENT),
    }
}

// ---- custom views --------------------------------------------------------------------------

/// `GET /settings/custom_views?module=` and `GET /settings/custom_views/{id}?module=`.
pub fn views(sb: &Sandbox, c: &Ctx, id: Option<&str>) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let by = admin_ref(&org);
    let list: Vec<Value> = org
        .settings
        .views
        .iter()
        .filter(|v| v.module == m.api_name && id.is_none_or(|id| v.id == id))
        .map(|v| org.settings.view_json(v, &m, &by, org.schema_time_ms))
        .collect();
    if list.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    let default = org
        .settings
        .views
        .iter()
        .find(|v| v.module == m.api_name && v.default)
        .map(|v| v.id.clone())
        .unwrap_or_default();
    let n = list.len();
    Reply::json(
        StatusCode::OK,
        json!({"custom_views": list, "info": {"per_page": 200, "count": n, "page": 1, "more_records": false,
               "default": default, "translation": {"public_views": "Public Views", "other_users_views": "Other Users' Views",
               "shared_with_me": "Shared With Me", "created_by_me": "Created By Me"}}}),
    )
}

/// `PUT /settings/custom_views/actions/change_sort?module=` (ids in the body) and
/// `PUT /settings/custom_views/{id}/actions/change_sort?module=`.
pub fn change_sort(sb: &Sandbox, c: &Ctx, path_id: Option<&str>) -> Reply {
    let items = or_400!(body_list(c, "custom_views"));
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let id = path_id
            .map(String::from)
            .or_else(|| item.get("id").and_then(Value::as_str).map(String::from))
            .unwrap_or_default();
        let sort_by = item
            .get("sort_by")
            .and_then(|s| s.get("api_name").or(Some(s)))
            .and_then(Value::as_str);
        let Some(sort_by) = sort_by else {
            out.push(
                ZohoError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": "sort_by", "json_path": format!("$.custom_views[{i}].sort_by")}),
                )
                .to_json(),
            );
            continue;
        };
        if m.field(sort_by).is_none() {
            out.push(
                ZohoError::invalid_data(
                    "invalid data",
                    json!({"api_name": "sort_by", "json_path": format!("$.custom_views[{i}].sort_by")}),
                )
                .to_json(),
            );
            continue;
        }
        let desc = item.get("sort_order").and_then(Value::as_str) == Some("desc");
        let Some(v) = org
            .settings
            .views
            .iter_mut()
            .find(|v| v.id == id && v.module == m.api_name)
        else {
            out.push(
                ZohoError::invalid_data("the id given seems to be invalid", json!({"id": id}))
                    .to_json(),
            );
            continue;
        };
        v.sort_by = Some(sort_by.into());
        v.desc = desc;
        out.push(ok_entry(&id, "custom view sort order updated"));
    }
    Reply::json(
        batch_status(&out, StatusCode::OK),
        json!({"custom_views": out}),
    )
    .settings_changed()
}

// ---- tags ----------------------------------------------------------------------------------

fn tag_success(s: &Settings, t: &Tag, by: &Value, message: &str) -> Value {
    let mut details = s.tag_json(t, by);
    if let Some(d) = details.as_object_mut() {
        d.remove("name");
    }
    json!({"code": "SUCCESS", "status": "success", "message": message, "details": details})
}

/// `GET /settings/tags?module=`.
pub fn tags(sb: &Sandbox, c: &Ctx) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let by = admin_ref(&org);
    let list: Vec<Value> = org
        .settings
        .tags
        .iter()
        .filter(|t| t.module == m.api_name)
        .map(|t| org.settings.tag_json(t, &by))
        .collect();
    let n = list.len();
    Reply::json(
        StatusCode::OK,
        json!({"tags": list, "info": {"count": n, "allowed_count": settings::MAX_TAGS_PER_MODULE}}),
    )
}

/// Finds or creates a module's tag by name (add-tags calls create the tags they name).
pub fn tag_named(org: &mut Org, module: &str, name: &str, now_ms: i64) -> Result<Tag, ZohoError> {
    if let Some(t) = org
        .settings
        .tags
        .iter()
        .find(|t| t.module == module && t.name.eq_ignore_ascii_case(name))
    {
        return Ok(t.clone());
    }
    check_tag_name(name)?;
    if org
        .settings
        .tags
        .iter()
        .filter(|t| t.module == module)
        .count()
        >= settings::MAX_TAGS_PER_MODULE
    {
        return Err(ZohoError::limit_exceeded(
            "tag limit reached",
            json!({"limit": settings::MAX_TAGS_PER_MODULE}),
        ));
    }
    let id = org.settings.new_id();
    let n = org.settings.tags.len();
    let t = Tag {
        id,
        module: module.into(),
        name: name.into(),
        color_code: settings::TAG_COLOURS[n % settings::TAG_COLOURS.len()].into(),
        created_ms: now_ms,
        modified_ms: now_ms,
    };
    org.settings.tags.push(t.clone());
    Ok(t)
}

fn check_tag_name(name: &str) -> Result<(), ZohoError> {
    if name.trim().is_empty() || name.chars().count() > 25 {
        return Err(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "name", "json_path": "$.tags[0].name", "maximum_length": 25}),
        ));
    }
    Ok(())
}

fn colour_of(item: &Value, i: usize) -> Result<Option<String>, ZohoError> {
    match item.get("color_code").and_then(Value::as_str) {
        None => Ok(None),
        Some(c) if settings::TAG_COLOURS.contains(&c) => Ok(Some(c.into())),
        Some(_) => Err(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "color_code", "json_path": format!("$.tags[{i}].color_code")}),
        )),
    }
}

/// `POST /settings/tags?module=`.
pub fn create_tags(sb: &Sandbox, c: &Ctx) -> Reply {
    let items = or_400!(body_list(c, "tags"));
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let by = admin_ref(&org);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            out.push(
                ZohoError::new(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": "name", "json_path": format!("$.tags[{i}].name")}),
                )
                .to_json(),
            );
            continue;
        };
        if let Some(t) = org
            .settings
            .tags
            .iter()
            .find(|t| t.module == m.api_name && t.name.eq_ignore_ascii_case(name))
        {
            out.push(
                ZohoError::new(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    json!({"id": t.id, "api_name": "name"}),
                )
                .to_json(),
            );
            continue;
        }
        let colour = match colour_of(item, i) {
            Ok(c) => c,
            Err(e) => {
                out.push(e.to_json());
                continue;
            }
        };
        match tag_named(&mut org, m.api_name, name, c.now_ms) {
            Ok(mut t) => {
                if let Some(col) = colour {
                    t.color_code = col;
                    if let Some(x) = org.settings.tags.iter_mut().find(|x| x.id == t.id) {
                        x.color_code = t.color_code.clone();
                    }
                }
                out.push(tag_success(
                    &org.settings,
                    &t,
                    &by,
                    "tags created successfully",
                ));
            }
            Err(e) => out.push(e.to_json()),
        }
    }
    Reply::json(
        batch_status(&out, StatusCode::CREATED),
        json!({"tags": out}),
    )
    .settings_changed()
}

/// `PUT /settings/tags?module=` (ids in the body) and `PUT /settings/tags/{id}?module=`:
/// renames and recolours, carried onto the records that hold the tag.
pub fn update_tags(sb: &Sandbox, c: &Ctx, path_id: Option<&str>) -> Reply {
    let items = or_400!(body_list(c, "tags"));
    let mut org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    let by = admin_ref(&org);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let id = path_id
            .map(String::from)
            .or_else(|| item.get("id").and_then(Value::as_str).map(String::from))
            .unwrap_or_default();
        let colour = match colour_of(item, i) {
            Ok(c) => c,
            Err(e) => {
                out.push(e.to_json());
                continue;
            }
        };
        let name = item.get("name").and_then(Value::as_str);
        if let Some(n) = name {
            if let Err(e) = check_tag_name(n) {
                out.push(e.to_json());
                continue;
            }
            if org
                .settings
                .tags
                .iter()
                .any(|t| t.module == m.api_name && t.id != id && t.name.eq_ignore_ascii_case(n))
            {
                out.push(
                    ZohoError::new(
                        "DUPLICATE_DATA",
                        "duplicate data",
                        json!({"id": id, "api_name": "name"}),
                    )
                    .to_json(),
                );
                continue;
            }
        }
        let Some(t) = org
            .settings
            .tags
            .iter_mut()
            .find(|t| t.id == id && t.module == m.api_name)
        else {
            out.push(not_found_id(&id).to_json());
            continue;
        };
        if let Some(n) = name {
            t.name = n.into();
        }
        if let Some(col) = colour {
            t.color_code = col;
        }
        t.modified_ms = c.now_ms;
        let t = t.clone();
        retag_records(&mut org, &t);
        out.push(tag_success(
            &org.settings,
            &t,
            &by,
            "tags updated successfully",
        ));
    }
    Reply::json(batch_status(&out, StatusCode::OK), json!({"tags": out})).settings_changed()
}

/// Rewrites the records' copy of a tag (or drops it when `t` is gone).
fn retag_records(org: &mut Org, t: &Tag) {
    if let Some(recs) = org.records.get_mut(&t.module) {
        for r in recs.values_mut() {
            if let Some(a) = r.get_mut("Tag").and_then(Value::as_array_mut) {
                for x in a.iter_mut() {
                    if x["id"] == t.id.as_str() {
                        *x = Settings::tag_ref(t);
                    }
                }
            }
        }
    }
}

fn untag_records(org: &mut Org, module: &str, id: &str) {
    if let Some(recs) = org.records.get_mut(module) {
        for r in recs.values_mut() {
            if let Some(a) = r.get_mut("Tag").and_then(Value::as_array_mut) {
                a.retain(|x| x["id"] != id);
            }
        }
    }
}

/// `DELETE /settings/tags/{id}`: the records lose it too.
pub fn delete_tag(sb: &Sandbox, id: &str) -> Reply {
    let mut org = lock(&sb.org);
    let by = admin_ref(&org);
    let Some(pos) = org.settings.tags.iter().position(|t| t.id == id) else {
        return bad(not_found_id(id));
    };
    let t = org.settings.tags.remove(pos);
    untag_records(&mut org, &t.module, &t.id);
    Reply::json(
        StatusCode::OK,
        json!({"tags": [tag_success(&org.settings, &t, &by, "tags deleted successfully")]}),
    )
    .settings_changed()
}

/// `POST /settings/tags/{id}/actions/merge`: the `conflict_id` tag is merged into `id`.
pub fn merge_tags(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let items = or_400!(body_list(c, "tags"));
    let Some(other) = items
        .first()
        .and_then(|t| t.get("conflict_id"))
        .and_then(Value::as_str)
    else {
        return bad(ZohoError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "conflict_id", "json_path": "$.tags[0].conflict_id"}),
        ));
    };
    let mut org = lock(&sb.org);
    let by = admin_ref(&org);
    let Some(keep) = org.settings.tags.iter().find(|t| t.id == id).cloned() else {
        return bad(not_found_id(id));
    };
    let Some(pos) = org
        .settings
        .tags
        .iter()
        .position(|t| t.id == other && t.module == keep.module && t.id != keep.id)
    else {
        return bad(not_found_id(other));
    };
    let gone = org.settings.tags.remove(pos);
    if let Some(recs) = org.records.get_mut(&keep.module) {
        for r in recs.values_mut() {
            if let Some(a) = r.get_mut("Tag").and_then(Value::as_array_mut) {
                let had_gone = a.iter().any(|x| x["id"] == gone.id.as_str());
                a.retain(|x| x["id"] != gone.id.as_str());
                if had_gone && !a.iter().any(|x| x["id"] == keep.id.as_str()) {
                    a.push(Settings::tag_ref(&keep));
                }
            }
        }
    }
    Reply::json(
        StatusCode::OK,
        json!({"tags": [tag_success(&org.settings, &keep, &by, "tags updated successfully")]}),
    )
    .settings_changed()
}

/// `GET /settings/tags/{id}/actions/records_count?module=`.
pub fn tag_records_count(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let org = lock(&sb.org);
    let m = or_400!(module_of(&org, c));
    if !org
        .settings
        .tags
        .iter()
        .any(|t| t.id == id && t.module == m.api_name)
    {
        return bad(not_found_id(id));
    }
    let n = org.records.get(m.api_name).map_or(0, |recs| {
        recs.values()
            .filter(|r| {
                r.get("Tag")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x["id"] == id))
            })
            .count()
    });
    Reply::json(StatusCode::OK, json!({"count": n.to_string()}))
}

// ---- profiles, roles, territories ----------------------------------------------------------

/// `GET /settings/profiles` and `GET /settings/profiles/{id}`.
pub fn profiles(sb: &Sandbox, id: Option<&str>) -> Reply {
    let org = lock(&sb.org);
    let by = admin_ref(&org);
    let list: Vec<Value> = org
        .settings
        .profiles
        .iter()
        .filter(|p| id.is_none_or(|id| p.id == id))
        .map(|p| org.settings.profile_json(p, &by))
        .collect();
    if list.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    Reply::json(
        StatusCode::OK,
        json!({"profiles": list, "info": {"license_limit": 25}}),
    )
}

/// `POST /settings/profiles/{id}/actions/clone`: a custom profile from another.
pub fn clone_profile(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let items = match body_list(c, "profiles") {
        Ok(i) => i,
        Err(_) => {
            return bad(ZohoError::invalid_data(
                "invalid data",
                json!({"api_name": "profiles", "expected_data_type": "jsonarray"}),
            ))
        }
    };
    let mut org = lock(&sb.org);
    let Some(from) = org.settings.profiles.iter().find(|p| p.id == id).cloned() else {
        return bad(ZohoError::invalid_data(
            "the id given seems to be invalid or already deleted",
            json!({}),
        ));
    };
    let Some(name) = items
        .first()
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
    else {
        return bad(ZohoError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": "name"}),
        ));
    };
    if let Some(dup) = org
        .settings
        .profiles
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
    {
        return bad(ZohoError::new(
            "DUPLICATE_DATA",
            "duplicate data",
            json!({"api_name": "name", "id": dup.id}),
        ));
    }
    if org.settings.profiles.len() >= 25 {
        return bad(ZohoError::new(
            "LICENSE_LIMIT_EXCEEDED",
            "Request exceeds your license limit.",
            json!({"limit": "25"}),
        ));
    }
    let new_id = org.settings.new_id();
    let description = items[0]
        .get("description")
        .and_then(Value::as_str)
        .map_or(from.description.clone(), String::from);
    org.settings.profiles.push(settings::Profile {
        id: new_id.clone(),
        name: name.chars().take(50).collect(),
        description,
        custom: true,
        default: false,
        modified_ms: c.now_ms,
    });
    Reply::json(
        StatusCode::CREATED,
        json!({"profiles": [ok_entry(&new_id, "profile created successfully")]}),
    )
    .settings_changed()
}

/// `PUT /settings/profiles/{id}`: name and description of a custom profile.
pub fn update_profile(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let items = match body_list(c, "profiles") {
        Ok(i) => i,
        Err(_) => {
            return bad(ZohoError::invalid_data(
                "invalid data",
                json!({"api_name": "profiles", "expected_data_type": "jsonarray"}),
            ))
        }
    };
    let mut org = lock(&sb.org);
    let Some(p) = org.settings.profiles.iter_mut().find(|p| p.id == id) else {
        return bad(ZohoError::invalid_data(
            "the id given seems to be invalid or already deleted",
            json!({}),
        ));
    };
    if let Some(n) = items
        .first()
        .and_then(|x| x.get("name"))
        .and_then(Value::as_str)
    {
        p.name = n.chars().take(50).collect();
    }
    if let Some(d) = items
        .first()
        .and_then(|x| x.get("description"))
        .and_then(Value::as_str)
    {
        p.description = d.chars().take(250).collect();
    }
    p.modified_ms = c.now_ms;
    Reply::json(
        StatusCode::OK,
        json!({"profiles": [ok_entry(id, "profile updated successfully")]}),
    )
    .settings_changed()
}

/// `DELETE /settings/profiles/{id}?transfer_to=`: a custom profile; its users move.
pub fn delete_profile(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let mut org = lock(&sb.org);
    let Some(pos) = org.settings.profiles.iter().position(|p| p.id == id) else {
        return bad(ZohoError::invalid_data(
            "the id given seems to be invalid or already deleted",
            json!({}),
        ));
    };
    if !org.settings.profiles[pos].custom {
        return bad(ZohoError::invalid_data(
            "The action given is invalid",
            json!({}),
        ));
    }
    let Some(to) = c
        .q("transfer_to")
        .filter(|t| *t != id && org.settings.profiles.iter().any(|p| p.id == *t))
    else {
        return bad(ZohoError::required_param("transfer_to"));
    };
    let to = to.to_string();
    for u in org.users.iter_mut().filter(|u| u.profile == id) {
        u.profile = to.clone();
    }
    for l in org.settings.layouts.iter_mut() {
        l.profiles.retain(|p| p != id);
    }
    org.settings.profiles.remove(pos);
    Reply::json(StatusCode::OK, ok_entry(id, "Profile deleted")).settings_changed()
}

fn named_json(n: &settings::Named, key: &str) -> Value {
    match key {
        "roles" => {
            json!({"id": n.id, "name": n.name, "display_label": n.name, "description": n.description,
                          "reporting_to": n.links.first().map(|r| json!({"id": r})), "admin_user": n.links.is_empty(),
                          "share_with_peers": true, "forecast_manager": null})
        }
        _ => json!({"id": n.id, "name": n.name, "description": n.description, "manager": null,
                    "parent_id": null, "permission_type": "read_write_delete"}),
    }
}

/// `GET /settings/roles[/{id}]` and `GET /settings/territories[/{id}]`.
pub fn named(sb: &Sandbox, key: &str, id: Option<&str>) -> Reply {
    let org = lock(&sb.org);
    let all = match key {
        "roles" => &org.settings.roles,
        _ => &org.settings.territories,
    };
    let list: Vec<Value> = all
        .iter()
        .filter(|n| id.is_none_or(|id| n.id == id))
        .map(|n| named_json(n, key))
        .collect();
    if list.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    Reply::json(StatusCode::OK, json!({ key: list }))
}

// ---- users ---------------------------------------------------------------------------------

fn user_error(i: usize, key: &str, code: &str, message: &str) -> Value {
    ZohoError::new(
        code,
        message,
        json!({"api_name": key, "json_path": format!("$.users[{i}].{key}")}),
    )
    .to_json()
}

fn ref_id(v: Option<&Value>) -> Option<String> {
    v.and_then(|r| r.get("id").or(Some(r)))
        .and_then(|x| x.as_str().map(String::from))
}

/// `POST /users`: within the org's licences; role and profile must exist.
pub fn create_users(sb: &Sandbox, c: &Ctx) -> Reply {
    let items = or_400!(body_list(c, "users"));
    let mut org = lock(&sb.org);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(last) = item.get("last_name").and_then(Value::as_str) else {
            out.push(user_error(
                i,
                "last_name",
                "MANDATORY_NOT_FOUND",
                "required field not found",
            ));
            continue;
        };
        let Some(email) = item.get("email").and_then(Value::as_str) else {
            out.push(user_error(
                i,
                "email",
                "MANDATORY_NOT_FOUND",
                "required field not found",
            ));
            continue;
        };
        if !email.contains('@') {
            out.push(user_error(i, "email", "INVALID_DATA", "invalid data"));
            continue;
        }
        if org
            .users
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(email))
        {
            out.push(user_error(i, "email", "DUPLICATE_DATA", "duplicate data"));
            continue;
        }
        let role = ref_id(item.get("role"));
        let profile = ref_id(item.get("profile"));
        let (Some(role), Some(profile)) = (role, profile) else {
            let key = if item.get("role").is_none() {
                "role"
            } else {
                "profile"
            };
            out.push(user_error(
                i,
                key,
                "MANDATORY_NOT_FOUND",
                "required field not found",
            ));
            continue;
        };
        if !org.settings.roles.iter().any(|r| r.id == role) {
            out.push(user_error(i, "role", "INVALID_DATA", "invalid data"));
            continue;
        }
        if !org.settings.profiles.iter().any(|p| p.id == profile) {
            out.push(user_error(i, "profile", "INVALID_DATA", "invalid data"));
            continue;
        }
        let active = org.users.iter().filter(|u| u.active).count() as u64;
        if active >= org.licences.max(1) {
            out.push(
                ZohoError::new(
                    "LICENSE_LIMIT_EXCEEDED",
                    "Request exceeds your license limit.",
                    json!({"api_name": "users", "json_path": format!("$.users[{i}]")}),
                )
                .to_json(),
            );
            continue;
        }
        let first = item.get("first_name").and_then(Value::as_str).unwrap_or("");
        let id = org.new_id();
        org.users.push(User {
            id: id.clone(),
            full_name: format!("{first} {last}").trim().to_string(),
            first_name: first.into(),
            last_name: last.into(),
            email: email.into(),
            role,
            profile,
            active: true,
        });
        out.push(ok_entry(&id, "User added"));
    }
    Reply::json(
        batch_status(&out, StatusCode::CREATED),
        json!({"users": out}),
    )
    .settings_changed()
}

/// `PUT /users` (ids in the body) and `PUT /users/{id}`.
pub fn update_users(sb: &Sandbox, c: &Ctx, path_id: Option<&str>) -> Reply {
    let items = or_400!(body_list(c, "users"));
    let mut org = lock(&sb.org);
    let roles: Vec<String> = org.settings.roles.iter().map(|r| r.id.clone()).collect();
    let profiles: Vec<String> = org.settings.profiles.iter().map(|p| p.id.clone()).collect();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let id = path_id
            .map(String::from)
            .or_else(|| item.get("id").and_then(Value::as_str).map(String::from));
        let Some(id) = id else {
            out.push(user_error(
                i,
                "id",
                "MANDATORY_NOT_FOUND",
                "required field not found",
            ));
            continue;
        };
        let role = ref_id(item.get("role"));
        let profile = ref_id(item.get("profile"));
        if role.as_ref().is_some_and(|r| !roles.contains(r)) {
            out.push(user_error(i, "role", "INVALID_DATA", "invalid data"));
            continue;
        }
        if profile.as_ref().is_some_and(|p| !profiles.contains(p)) {
            out.push(user_error(i, "profile", "INVALID_DATA", "invalid data"));
            continue;
        }
        let Some(u) = org.users.iter_mut().find(|u| u.id == id) else {
            out.push(user_error(i, "id", "INVALID_DATA", "invalid data"));
            continue;
        };
        if let Some(f) = item.get("first_name").and_then(Value::as_str) {
            u.first_name = f.into();
        }
        if let Some(l) = item.get("last_name").and_then(Value::as_str) {
            u.last_name = l.into();
        }
        u.full_name = format!("{} {}", u.first_name, u.last_name)
            .trim()
            .to_string();
        if let Some(r) = role {
            u.role = r;
        }
        if let Some(p) = profile {
            u.profile = p;
        }
        if let Some(s) = item.get("status").and_then(Value::as_str) {
            u.active = s == "active";
        }
        out.push(ok_entry(&id, "User updated"));
    }
    Reply::json(batch_status(&out, StatusCode::OK), json!({"users": out})).settings_changed()
}

/// `DELETE /users/{id}`: not the org's admin (the acting user).
pub fn delete_user(sb: &Sandbox, id: &str) -> Reply {
    let mut org = lock(&sb.org);
    if org.current_user().id == id {
        return bad(ZohoError::new(
            "CANNOT_DELETE",
            "the primary contact cannot be deleted",
            json!({"resource_path_index": 0}),
        ));
    }
    let Some(pos) = org.users.iter().position(|u| u.id == id) else {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"resource_path_index": 0}),
        ));
    };
    org.users.remove(pos);
    for g in org.settings.groups.iter_mut() {
        g.links.retain(|u| u != id);
    }
    Reply::json(
        StatusCode::OK,
        json!({"users": [ok_entry(id, "User deleted")]}),
    )
    .settings_changed()
}

/// `GET /users/actions/count?type=`.
pub fn users_count(sb: &Sandbox, c: &Ctx) -> Reply {
    let org = lock(&sb.org);
    let n = org
        .users
        .iter()
        .filter(|u| match c.q("type") {
            Some("ActiveUsers") => u.active,
            Some("DeactiveUsers") => !u.active,
            Some("AdminUsers") => u.profile == settings::ADMIN_PROFILE,
            _ => true,
        })
        .count();
    Reply::json(StatusCode::OK, json!({"count": n.to_string()}))
}

/// `GET /users/{id}/actions/associated_groups`.
pub fn associated_groups(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let org = lock(&sb.org);
    if org.user(id).is_none() {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"resource_path_index": 0}),
        ));
    }
    let by = admin_ref(&org);
    let t = zoho_time(org.schema_time_ms);
    let groups: Vec<Value> = org
        .settings
        .groups
        .iter()
        .filter(|g| g.links.iter().any(|u| u == id))
        .map(|g| {
            json!({"id": g.id, "name": g.name, "description": g.description,
                        "created_time": t, "modified_time": t, "created_by": by, "modified_by": by})
        })
        .collect();
    let (page, per_page) = (1, 200);
    let mut r = paged(groups, page, per_page, 0, json!({}));
    if let super::ReplyBody::Json(v) = &mut r.body {
        if let Some(data) = v.as_object_mut().and_then(|o| o.remove("data")) {
            v["user_groups"] = data;
        }
    }
    let _ = c;
    r
}

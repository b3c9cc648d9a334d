//! Zoho's endpoints over the org state, plus the operator endpoints (`/__sandbox/…`) and OAuth.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::answers::{bad, batch_status, module_of, or_400, page_params, paged, project};
use super::org::{lookup_id, Record};
use super::query::{parse_criteria, parse_select, sort_records, Expr};
use super::schema;
use super::{actions, bulk, lock, notify, photos, setup, Ctx, Reply, ReplyBody, Sandbox};
use creditops_core::zoho::time::{parse_time, zoho_time};
use creditops_core::zoho::ZohoError;

/// The operator endpoints: usage, reset and the clock. Outside Zoho's namespace, unmetered.
pub fn operator(
    sb: &Sandbox,
    method: &Method,
    rest: &str,
    body: &[u8],
    query: &[(String, String)],
) -> Reply {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return bad(ZohoError::invalid_data(
                    "body",
                    json!({"reason": e.to_string()}),
                ))
            }
        }
    };
    let now = sb.clock.now_ms();
    match (method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "usage") => {
            let mut u = lock(&sb.meter).usage_json(now);
            u["records"] = json!(lock(&sb.org).record_count());
            u["notifications"] = sb.notifier.stats_json();
            u["clock_offset_ms"] = json!(sb.clock.offset_ms());
            Reply::json(StatusCode::OK, u)
        }
        ("POST", "reset") => {
            let seed = body.get("seed").and_then(Value::as_u64).or_else(|| {
                query
                    .iter()
                    .find(|(k, _)| k == "seed")
                    .and_then(|(_, v)| v.parse().ok())
            });
            sb.reset(seed);
            Reply::json(StatusCode::OK, json!({"reset": true}))
        }
        ("GET", "clock") => Reply::json(
            StatusCode::OK,
            json!({"now_ms": now, "offset_ms": sb.clock.offset_ms()}),
        ),
        ("POST", "clock") => {
            if let Some(s) = body.get("advance_seconds").and_then(Value::as_i64) {
                sb.clock.advance(s * 1000);
            } else if let Some(ms) = body.get("advance_ms").and_then(Value::as_i64) {
                sb.clock.advance(ms);
            } else if let Some(off) = body.get("offset_ms").and_then(Value::as_i64) {
                sb.clock.set_offset(off);
            } else {
                return bad(ZohoError::required_param("advance_seconds"));
            }
            let off = sb.clock.offset_ms();
            sb.persist(|s| s.save_meta("clock_offset_ms", &off.to_string()));
            Reply::json(
                StatusCode::OK,
                json!({"now_ms": sb.clock.now_ms(), "offset_ms": off}),
            )
        }
        ("POST", "token") => {
            // A shortcut for tests and `creditops send --target`, within the same client
            // restrictions as the OAuth endpoint: a restricted sandbox wants its client.
            let get = |k: &str| {
                query
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
                    .or_else(|| body.get(k).and_then(Value::as_str))
            };
            if !client_allowed(sb, get) {
                return Reply::json(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "invalid_client", "error_description": "this sandbox mints tokens only for its configured client (client_id and client_secret)"}),
                );
            }
            Reply::json(
                StatusCode::OK,
                json!({"access_token": sb.mint_token(), "expires_in": 3600}),
            )
        }
        _ => Reply::error(StatusCode::NOT_FOUND, ZohoError::invalid_url()),
    }
}

/// Whether a token request names the sandbox's client, when it is restricted to one.
fn client_allowed<'a>(sb: &Sandbox, get: impl Fn(&str) -> Option<&'a str>) -> bool {
    let cfg = &sb.config;
    cfg.client_id
        .as_deref()
        .is_none_or(|c| get("client_id") == Some(c))
        && cfg
            .client_secret
            .as_ref()
            .is_none_or(|s| get("client_secret") == Some(s.expose()))
}

/// `POST /oauth/v2/token`: refresh_token and authorization_code grants, with the parameters in
/// the query string, a form body or a multipart body, as Zoho's accounts server takes them.
pub fn token(
    sb: &Sandbox,
    method: &Method,
    content_type: Option<&str>,
    body: &[u8],
    query: &[(String, String)],
    now: i64,
) -> Reply {
    if method != Method::POST {
        return Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "invalid_request"}),
        );
    }
    let params = creditops_core::zoho::oauth::token_params(content_type, body, query);
    let get = |k: &str| creditops_core::zoho::oauth::param(&params, k);
    let cfg = &sb.config;
    if !client_allowed(sb, get) {
        return Reply::json(StatusCode::OK, json!({"error": "invalid_client"}));
    }
    let (grant_key, refresh) = match get("grant_type") {
        Some("refresh_token") => {
            let Some(rt) = get("refresh_token") else {
                return Reply::json(StatusCode::OK, json!({"error": "invalid_code"}));
            };
            if cfg.refresh_token.as_ref().is_some_and(|s| s.expose() != rt) {
                return Reply::json(StatusCode::OK, json!({"error": "invalid_code"}));
            }
            (rt.to_string(), None)
        }
        Some("authorization_code") => {
            // A grant code has Zoho's shape (`1000.` and more); used once (below).
            let Some(code) = get("code").filter(|c| c.starts_with("1000.") && c.len() > 5) else {
                return Reply::json(StatusCode::OK, json!({"error": "invalid_code"}));
            };
            let rt = cfg
                .refresh_token
                .as_ref()
                .map(|s| s.expose().to_string())
                .unwrap_or_else(|| format!("1000.{:032x}", rand::random::<u128>()));
            (format!("code:{code}"), Some(rt))
        }
        _ => return Reply::json(StatusCode::OK, json!({"error": "unsupported_grant_type"})),
    };
    {
        let mut t = lock(&sb.tokens);
        // A grant code gives one token: checked and marked under one lock, so two exchanges
        // of one code at once cannot both succeed.
        if refresh.is_some() && t.issued.contains_key(&grant_key) {
            return Reply::json(StatusCode::OK, json!({"error": "invalid_code"}));
        }
        let issued = t.issued.entry(grant_key).or_default();
        while issued.front().is_some_and(|at| *at <= now - 600_000) {
            issued.pop_front();
        }
        if issued.len() >= 10 {
            return Reply::json(
                StatusCode::BAD_REQUEST,
                json!({"error": "Access Denied", "error_description": "You have made too many requests continuously. Please try again after some time.", "status": "failure"}),
            );
        }
        issued.push_back(now);
    }
    let access = sb.mint_token();
    let mut answer = json!({
        "access_token": access,
        "expires_in": 3600,
        "api_domain": sb.base_url(),
        "token_type": "Bearer",
        "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.users.ALL ZohoCRM.org.ALL ZohoCRM.bulk.ALL ZohoCRM.coql.READ ZohoCRM.notifications.ALL",
    });
    if let Some(rt) = refresh {
        answer["refresh_token"] = json!(rt);
    }
    Reply::json(StatusCode::OK, answer)
}

/// A route's handler, holding the path segments it was matched with.
type Handler<'a> = Box<dyn FnOnce(&Sandbox, &Ctx) -> Reply + 'a>;

fn h<'a>(f: impl FnOnce(&Sandbox, &Ctx) -> Reply + 'a) -> Option<Handler<'a>> {
    Some(Box::new(f))
}

/// Path segments that are never a module's API name.
const NOT_MODULES: &[&str] = &[
    "settings",
    "users",
    "org",
    "coql",
    "actions",
    "__apis",
    "__composite_requests",
    "upload",
    "bulk",
];

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Routes one authenticated, admitted call: the route first (a URL Zoho cannot serve is a
/// 404 whatever its body), then the body.
pub fn dispatch(sb: &Sandbox, c: &Ctx) -> Reply {
    let segs: Vec<&str> = c.segs.iter().map(String::as_str).collect();
    let Some(handler) = route(c.method.as_str(), &segs, c) else {
        return Reply::error(StatusCode::NOT_FOUND, ZohoError::invalid_url());
    };
    if let Some(e) = &c.body_error {
        return bad(e.clone());
    }
    handler(sb, c)
}

/// The table of what the sandbox serves: Zoho's operations, by method and path.
fn route<'a>(m: &str, segs: &[&'a str], c: &Ctx) -> Option<Handler<'a>> {
    let external = c.headers.contains_key("x-external");
    match *segs {
        ["crm", "v8", "settings", "modules"] => match m {
            "GET" => h(|sb, c| metadata(sb, c, "modules", None)),
            "POST" => h(setup::create_modules),
            "PUT" => h(|sb, c| setup::update_modules(sb, c, None)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "modules", key] => match m {
            "GET" => h(move |sb, c| metadata(sb, c, "module", Some(key))),
            "PUT" => h(move |sb, c| setup::update_modules(sb, c, Some(key))),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "fields"] => match m {
            "GET" => h(|sb, c| metadata(sb, c, "fields", None)),
            "POST" => h(setup::create_fields),
            "PATCH" => h(|sb, c| setup::update_fields(sb, c, None)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "fields", id] => match m {
            "GET" => h(move |sb, c| setup::field(sb, c, id)),
            "PATCH" => h(move |sb, c| setup::update_fields(sb, c, Some(id))),
            "DELETE" => h(move |sb, c| setup::delete_field(sb, c, id)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "layouts"] => match m {
            "GET" => h(|sb, c| setup::layouts(sb, c, None)),
            "PATCH" => h(|sb, c| setup::update_layouts(sb, c, None)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "layouts", id] => match m {
            "GET" => h(move |sb, c| setup::layouts(sb, c, Some(id))),
            "PATCH" => h(move |sb, c| setup::update_layouts(sb, c, Some(id))),
            "DELETE" => h(move |sb, c| setup::delete_layout(sb, c, id)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "layouts", id, "actions", "activate"] => match m {
            "POST" => h(move |sb, c| setup::activate_layout(sb, c, id, true)),
            "DELETE" => h(move |sb, c| setup::activate_layout(sb, c, id, false)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "related_lists"] if m == "GET" => {
            h(|sb, c| metadata(sb, c, "related_lists", None))
        }
        ["crm", "v8", "settings", "related_lists", id] if m == "GET" => {
            h(move |sb, c| setup::related_list(sb, c, id))
        }
        ["crm", "v8", "settings", "custom_views"] if m == "GET" => {
            h(|sb, c| setup::views(sb, c, None))
        }
        ["crm", "v8", "settings", "custom_views", "actions", "change_sort"] if m == "PUT" => {
            h(|sb, c| setup::change_sort(sb, c, None))
        }
        ["crm", "v8", "settings", "custom_views", id] if m == "GET" => {
            h(move |sb, c| setup::views(sb, c, Some(id)))
        }
        ["crm", "v8", "settings", "custom_views", id, "actions", "change_sort"] if m == "PUT" => {
            h(move |sb, c| setup::change_sort(sb, c, Some(id)))
        }
        ["crm", "v8", "settings", "tags"] => match m {
            "GET" => h(setup::tags),
            "POST" => h(setup::create_tags),
            "PUT" => h(|sb, c| setup::update_tags(sb, c, None)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "tags", id] => match m {
            "PUT" => h(move |sb, c| setup::update_tags(sb, c, Some(id))),
            "DELETE" => h(move |sb, _| setup::delete_tag(sb, id)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "tags", id, "actions", "merge"] if m == "POST" => {
            h(move |sb, c| setup::merge_tags(sb, c, id))
        }
        ["crm", "v8", "settings", "tags", id, "actions", "records_count"] if m == "GET" => {
            h(move |sb, c| setup::tag_records_count(sb, c, id))
        }
        ["crm", "v8", "settings", "profiles"] if m == "GET" => h(|sb, _| setup::profiles(sb, None)),
        ["crm", "v8", "settings", "profiles", id] => match m {
            "GET" => h(move |sb, _| setup::profiles(sb, Some(id))),
            "PUT" => h(move |sb, c| setup::update_profile(sb, c, id)),
            "DELETE" => h(move |sb, c| setup::delete_profile(sb, c, id)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "settings", "profiles", id, "actions", "clone"] if m == "POST" => {
            h(move |sb, c| setup::clone_profile(sb, c, id))
        }
        ["crm", "v8", "settings", kind @ ("roles" | "territories")] if m == "GET" => {
            h(move |sb, _| setup::named(sb, kind, None))
        }
        ["crm", "v8", "settings", kind @ ("roles" | "territories"), id] if m == "GET" => {
            h(move |sb, _| setup::named(sb, kind, Some(id)))
        }
        ["crm", "v8", "org"] if m == "GET" => h(|sb, _| org(sb)),
        ["crm", "v8", "org", "photo"] => match m {
            "GET" | "POST" | "DELETE" => h(photos::org),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "users"] => match m {
            "GET" => h(|sb, c| users(sb, c, None)),
            "POST" => h(setup::create_users),
            "PUT" => h(|sb, c| setup::update_users(sb, c, None)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "users", "actions", "count"] if m == "GET" => h(setup::users_count),
        ["crm", "v8", "users", id] => match m {
            "GET" => h(move |sb, c| users(sb, c, Some(id))),
            "PUT" => h(move |sb, c| setup::update_users(sb, c, Some(id))),
            "DELETE" => h(move |sb, _| setup::delete_user(sb, id)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", "users", id, "actions", "associated_groups"] if m == "GET" => {
            h(move |sb, c| setup::associated_groups(sb, c, id))
        }
        ["crm", "v8", "__apis"] if m == "GET" => h(|sb, _| apis(sb)),
        ["crm", "v8", "coql"] if m == "POST" => h(coql),
        ["crm", "v8", "__composite_requests"] if m == "POST" => h(composite),
        ["crm", "v8", "upload"] if m == "POST" => h(bulk::upload),
        ["crm", "v8", "actions", "watch"] => h(notify::watch),
        ["crm", "bulk", "v8", "write"] if m == "POST" => h(bulk::create_write),
        ["crm", "bulk", "v8", "write", id] if m == "GET" => {
            h(move |sb, _| bulk::write_status(sb, id))
        }
        ["crm", "bulk", "v8", "write", id, "result"] if m == "GET" => {
            h(move |sb, _| bulk::write_result(sb, id))
        }
        ["crm", "bulk", "v8", "read"] if m == "POST" => h(bulk::create_read),
        ["crm", "bulk", "v8", "read", id] if m == "GET" => {
            h(move |sb, _| bulk::read_status(sb, id))
        }
        ["crm", "bulk", "v8", "read", id, "result"] if m == "GET" => {
            h(move |sb, c| bulk::read_result(sb, c, id))
        }
        ["crm", "v8", "Leads", id, "actions", "convert"] if m == "POST" => {
            h(move |sb, c| convert(sb, c, id))
        }
        ["crm", "v8", "Leads", "actions", "mass_convert"] => match m {
            "POST" => h(actions::mass_convert),
            "GET" => h(|sb, c| actions::job_status(sb, c, "Leads", "mass_convert")),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, ..] if NOT_MODULES.contains(&module) => None,
        ["crm", "v8", module, "upsert"] if m == "POST" => {
            h(move |sb, c| write(sb, c, module, WriteKind::Upsert, None))
        }
        ["crm", "v8", module, "search"] if m == "GET" => h(move |sb, c| search(sb, c, module)),
        ["crm", "v8", module, "deleted"] if m == "GET" => h(move |sb, c| deleted(sb, c, module)),
        ["crm", "v8", module, "actions", "count"] if m == "GET" || m == "POST" => {
            h(move |sb, c| actions::count(sb, c, module))
        }
        ["crm", "v8", module, "actions", "mass_update"] => match m {
            "POST" => h(move |sb, c| actions::mass_update(sb, c, module)),
            "GET" => h(move |sb, c| actions::job_status(sb, c, module, "mass_update")),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, "actions", op @ ("add_tags" | "remove_tags")] if m == "POST" => {
            h(move |sb, c| actions::tags(sb, c, module, None, op == "add_tags"))
        }
        ["crm", "v8", module, "actions", op @ ("assign_territories" | "remove_territories")]
            if m == "POST" =>
        {
            h(move |sb, c| actions::territories(sb, c, module, None, op == "assign_territories"))
        }
        ["crm", "v8", module, "actions", "fetch_full_data"] if m == "GET" => {
            h(move |sb, c| actions::full_data(sb, c, module, None))
        }
        ["crm", "v8", module] => match m {
            "GET" => h(move |sb, c| list(sb, c, module)),
            "POST" => h(move |sb, c| write(sb, c, module, WriteKind::Insert, None)),
            "PUT" => h(move |sb, c| write(sb, c, module, WriteKind::Update, None)),
            "DELETE" => h(move |sb, c| delete(sb, c, module, None)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, id, "actions", action] if is_id(id) => match (m, action) {
            ("POST", "add_tags" | "remove_tags") => {
                h(move |sb, c| actions::tags(sb, c, module, Some(id), action == "add_tags"))
            }
            ("POST", "assign_territories" | "remove_territories") => h(move |sb, c| {
                actions::territories(sb, c, module, Some(id), action == "assign_territories")
            }),
            ("POST", "clone") => h(move |sb, c| actions::clone(sb, c, module, id)),
            ("GET", "fetch_full_data") => {
                h(move |sb, c| actions::full_data(sb, c, module, Some(id)))
            }
            ("GET" | "POST", "get_related_records_count") => {
                h(move |sb, c| actions::related_count(sb, c, module, id))
            }
            ("POST", "send_mail") => h(move |sb, c| actions::send_mail(sb, c, module, id)),
            ("POST", "merge") => h(move |sb, c| actions::merge(sb, c, module, id)),
            ("GET", "blueprint") => h(move |sb, _| actions::blueprint(sb, module, id)),
            ("PUT", "blueprint") => h(move |sb, c| actions::blueprint_move(sb, c, module, id)),
            _ => None,
        },
        ["crm", "v8", module, id] if is_id(id) => match m {
            "GET" => h(move |sb, c| get_one(sb, c, module, id)),
            "PUT" => h(move |sb, c| write(sb, c, module, WriteKind::Update, Some(id))),
            "DELETE" => h(move |sb, c| delete(sb, c, module, Some(id))),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, value] if external => match m {
            "GET" | "PUT" | "DELETE" => h(move |sb, c| by_external_id(sb, c, module, value)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, id, "photo"] if is_id(id) => match m {
            "GET" | "POST" | "DELETE" => h(move |sb, c| photos::record(sb, c, module, id)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, id, list] if is_id(id) => match m {
            "GET" => h(move |sb, c| actions::related(sb, c, module, id, list)),
            "PUT" => h(move |sb, c| actions::relate(sb, c, module, id, list, None, true)),
            "DELETE" => h(move |sb, c| actions::relate(sb, c, module, id, list, None, false)),
            _ => h(|_, _| method_not_allowed()),
        },
        ["crm", "v8", module, id, list, rid] if is_id(id) && is_id(rid) => match m {
            "PUT" => h(move |sb, c| actions::relate(sb, c, module, id, list, Some(rid), true)),
            "DELETE" => h(move |sb, c| actions::relate(sb, c, module, id, list, Some(rid), false)),
            _ => h(|_, _| method_not_allowed()),
        },
        _ => None,
    }
}

/// `GET|PUT|DELETE /{module}/{value}` with `X-EXTERNAL: Module.Field`: the record whose
/// unique external field holds the value.
fn by_external_id(sb: &Sandbox, c: &Ctx, module: &str, value: &str) -> Reply {
    let id = {
        let org = lock(&sb.org);
        match actions::external_id(&org, c, module, value) {
            Ok(id) => id,
            Err(e) if c.method == Method::GET => {
                let _ = e;
                return Reply::empty(StatusCode::NO_CONTENT);
            }
            Err(e) => return bad(e),
        }
    };
    match c.method.as_str() {
        "GET" => get_one(sb, c, module, &id),
        "PUT" => write(sb, c, module, WriteKind::Update, Some(&id)),
        _ => delete(sb, c, module, Some(&id)),
    }
}

fn method_not_allowed() -> Reply {
    Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        ZohoError::new(
            "INVALID_REQUEST_METHOD",
            "The http request method type is not a valid one",
            json!({}),
        ),
    )
}

/// `GET /settings/modules[/{key}]`, `/settings/fields` and `/settings/related_lists`.
fn metadata(sb: &Sandbox, c: &Ctx, kind: &str, key: Option<&str>) -> Reply {
    {
        let org = lock(&sb.org);
        // Modules and fields honour If-Modified-Since with 304.
        if matches!(kind, "modules" | "module" | "fields") {
            if let Some(since) = c
                .headers
                .get("if-modified-since")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_time)
            {
                if org.schema_time_ms <= since {
                    return Reply::empty(StatusCode::NOT_MODIFIED);
                }
            }
        }
        if kind == "modules" {
            return Reply::json(
                StatusCode::OK,
                json!({"modules": org.modules.iter().map(|m| setup::module_view_json(&org, m, false)).collect::<Vec<_>>()}),
            );
        }
    }
    if kind == "module" {
        return setup::module(sb, key.unwrap_or(""));
    }
    let org = lock(&sb.org);
    match module_of(&org, c) {
        Ok(m) => Reply::json(
            StatusCode::OK,
            match kind {
                "fields" => schema::fields_json(&m),
                _ => schema::related_lists_json(&m),
            },
        ),
        Err(e) => bad(e),
    }
}

fn org(sb: &Sandbox) -> Reply {
    let org = lock(&sb.org);
    let admin = org.current_user();
    Reply::json(
        StatusCode::OK,
        json!({"org": [{
            "id": org.org_id,
            "company_name": org.company,
            "zgid": org.org_id,
            "domain_name": "org".to_string() + &org.org_id[..8],
            "primary_email": admin.email,
            "primary_zuid": admin.id,
            "currency": "US Dollar",
            "currency_symbol": "$",
            "iso_code": "USD",
            "country_code": "US",
            "time_zone": "UTC",
            "mc_status": false,
            "gapps_enabled": false,
            "type": "Production",
            "privacy_settings": true,
            "license_details": {
                "paid": org.edition != "free",
                "paid_type": org.edition,
                "users_license_purchased": org.licences,
                "trial_type": null,
                "trial_expiry": null,
                "trial_action": "",
                "paid_expiry": zoho_time(org.schema_time_ms + 365 * 86_400_000),
            },
        }]}),
    )
}

fn users(sb: &Sandbox, c: &Ctx, id: Option<&str>) -> Reply {
    let org = lock(&sb.org);
    let name_of = |list: &[super::settings::Named], id: &str| {
        list.iter()
            .find(|x| x.id == id)
            .map_or_else(String::new, |x| x.name.clone())
    };
    let profile_name = |id: &str| {
        org.settings
            .profiles
            .iter()
            .find(|p| p.id == id)
            .map_or_else(String::new, |p| p.name.clone())
    };
    let render = |u: &super::org::User| {
        json!({"id": u.id, "full_name": u.full_name, "first_name": u.first_name, "last_name": u.last_name,
               "email": u.email, "status": if u.active { "active" } else { "disabled" }, "confirm": true,
               "role": {"name": name_of(&org.settings.roles, &u.role), "id": u.role},
               "profile": {"name": profile_name(&u.profile), "id": u.profile},
               "time_zone": "UTC", "locale": "en_US", "language": "en_US", "country_locale": "en_US",
               "zuid": u.id})
    };
    let list: Vec<Value> = match (id, c.q("type")) {
        (Some(id), _) => org.user(id).map(render).into_iter().collect(),
        (None, Some("CurrentUser")) => vec![render(org.current_user())],
        (None, _) => org.users.iter().map(render).collect(),
    };
    if list.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    let n = list.len();
    Reply::json(
        StatusCode::OK,
        json!({"users": list, "info": {"per_page": 200, "count": n, "page": 1, "more_records": false}}),
    )
}

/// The OAuth scope an API needs, by the part of Zoho it belongs to.
fn scope_of(method: &str, path: &str) -> String {
    let write = if method == "GET" { "READ" } else { "ALL" };
    let area = if path.contains("/bulk/") {
        return "ZohoCRM.bulk.ALL".into();
    } else if path.ends_with("/coql") {
        return "ZohoCRM.coql.READ".into();
    } else if path.contains("/settings/") {
        "settings"
    } else if path.contains("/users") {
        "users"
    } else if path.ends_with("/org") || path.contains("/org/") {
        "org"
    } else if path.contains("/actions/watch") {
        "notifications"
    } else {
        "modules"
    };
    format!("ZohoCRM.{area}.{write}")
}

/// `GET /__apis`: one entry per path, one operation per method, with the credits the table
/// charges (a path's query variants folded into its bounds), modules spelled out.
fn apis(sb: &Sandbox) -> Reply {
    let org = lock(&sb.org);
    let table = &sb.config.model.table;
    let mut paths: Vec<String> = Vec::new();
    let mut ops: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for row in table.rows() {
        let methods: Vec<&str> = if row.method == "*" {
            vec!["GET", "POST", "PUT", "DELETE"]
        } else {
            vec![row.method.as_str()]
        };
        let concrete: Vec<String> = if row.path.contains("{module}") {
            org.modules
                .iter()
                .map(|m| row.path.replace("{module}", m.api_name))
                .collect()
        } else {
            vec![row.path.clone()]
        };
        for path in concrete {
            for method in &methods {
                let method = method.to_ascii_uppercase();
                if !seen.insert((method.clone(), path.clone())) {
                    continue;
                }
                // The row that prices this path may be a more specific one (a literal module
                // name); the bounds are what the table charges for it.
                let Some((min, max)) = table.bounds(&method, &path) else {
                    continue;
                };
                if !ops.contains_key(&path) {
                    paths.push(path.clone());
                }
                ops.entry(path.clone()).or_default().push(json!({
                    "method": method, "oauth_scope": scope_of(&method, &path),
                    "min_credits": min, "max_credits": max,
                }));
            }
        }
    }
    let out: Vec<Value> = paths
        .into_iter()
        .map(|p| {
            let o = ops.remove(&p).unwrap_or_default();
            json!({"path": p, "operation_types": o})
        })
        .collect();
    Reply::json(StatusCode::OK, json!({"__apis": out}))
}

fn fields_param(c: &Ctx, m: &schema::ModuleDef) -> Result<Vec<String>, ZohoError> {
    let raw = c
        .q("fields")
        .ok_or_else(|| ZohoError::required_param("fields"))?;
    let fields: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if fields.is_empty() {
        return Err(ZohoError::required_param("fields"));
    }
    if fields.len() > 50 {
        return Err(ZohoError::limit_exceeded(
            "Max field limit exceeded",
            json!({"param_name": "fields", "maximum_length": 50}),
        ));
    }
    for f in &fields {
        let base = f.split('.').next().unwrap_or("");
        if base != "id"
            && m.field(base).is_none()
            && !["Created_Time", "Modified_Time", "Created_By", "Modified_By"].contains(&base)
        {
            return Err(ZohoError::invalid_data(
                "invalid data",
                json!({"param_name": "fields", "api_name": f}),
            ));
        }
    }
    Ok(fields)
}

fn list(sb: &Sandbox, c: &Ctx, module: &str) -> Reply {
    let org = lock(&sb.org);
    let m = match org.module(module) {
        Ok(m) => m.clone(),
        Err(e) => return bad(e),
    };
    let fields = or_400!(fields_param(c, &m));
    let (page, per_page) = or_400!(page_params(c, 200));
    let recs = org.records.get(m.api_name);
    let mut selected: Vec<&Record> = match c.q("ids") {
        Some(ids) => ids
            .split(',')
            .filter_map(|id| recs.and_then(|r| r.get(id.trim())))
            .collect(),
        None => recs.map(|r| r.values().collect()).unwrap_or_default(),
    };
    // A custom view filters and sorts the list (its own sort unless the call names one).
    let mut view_sort = None;
    if let Some(cvid) = c.q("cvid") {
        let Some(view) = org.settings.view(m.api_name, cvid) else {
            return bad(ZohoError::invalid_data(
                "invalid data",
                json!({"param_name": "cvid"}),
            ));
        };
        view_sort = view.sort_by.clone().map(|f| (f, view.desc));
        match actions::record_filter(&org, m.api_name, c) {
            Ok(Some(f)) => selected.retain(|r| f(r)),
            Ok(None) => {}
            Err(e) => return bad(e),
        }
    }
    let sort_by = c
        .q("sort_by")
        .map(String::from)
        .or_else(|| view_sort.as_ref().map(|(f, _)| f.clone()))
        .unwrap_or_else(|| "id".into());
    let desc = match c.q("sort_order") {
        Some(o) => o == "desc",
        None => view_sort.as_ref().is_some_and(|(_, d)| *d),
    };
    sort_records(&mut selected, &[(sort_by.clone(), !desc)]);
    let offset = match c.q("page_token") {
        Some(t) => match t.strip_prefix("pt").and_then(|n| n.parse::<usize>().ok()) {
            Some(o) => o,
            None => {
                return bad(ZohoError::invalid_data(
                    "invalid data",
                    json!({"param_name": "page_token"}),
                ))
            }
        },
        None => {
            if page * per_page > 2000 {
                return bad(ZohoError::new(
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "Record count exceeded",
                    json!({"limit": 2000, "param_name": "page"}),
                ));
            }
            (page - 1) * per_page
        }
    };
    if offset > 100_000 {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": 100_000}),
        ));
    }
    let rows: Vec<Value> = selected
        .iter()
        .map(|r| project(&org, r, Some(&fields)))
        .collect();
    paged(
        rows,
        page,
        per_page,
        offset,
        json!({"sort_by": sort_by, "sort_order": if desc { "desc" } else { "asc" }}),
    )
}

fn get_one(sb: &Sandbox, c: &Ctx, module: &str, id: &str) -> Reply {
    let org = lock(&sb.org);
    match org.get(module, id) {
        Err(e) => bad(e),
        Ok(None) => Reply::empty(StatusCode::NO_CONTENT),
        Ok(Some(r)) => {
            let fields: Option<Vec<String>> = c
                .q("fields")
                .map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
            Reply::json(
                StatusCode::OK,
                json!({"data": [project(&org, r, fields.as_deref())]}),
            )
        }
    }
}

fn search(sb: &Sandbox, c: &Ctx, module: &str) -> Reply {
    let org = lock(&sb.org);
    let m = match org.module(module) {
        Ok(m) => m.clone(),
        Err(e) => return bad(e),
    };
    let (page, per_page) = or_400!(page_params(c, 200));
    let filter: Box<dyn Fn(&Record) -> bool> = if let Some(crit) = c.q("criteria") {
        let expr = match parse_criteria(crit) {
            Ok(e) => e,
            Err(why) => {
                return bad(ZohoError::new(
                    "INVALID_QUERY",
                    "invalid query formed",
                    json!({"reason": why, "param_name": "criteria"}),
                ))
            }
        };
        if expr.count() > 10 {
            return bad(ZohoError::limit_exceeded(
                "Maximum lookup field limit in criteria exceeded",
                json!({"param_name": "criteria", "limit": 10}),
            ));
        }
        Box::new(move |r| expr.matches(r))
    } else if let Some(email) = c.q("email") {
        let email = email.to_lowercase();
        let module = m.clone();
        Box::new(move |r| {
            module
                .fields
                .iter()
                .filter(|f| f.kind == schema::FieldType::Email)
                .any(|f| {
                    r.get(f.api_name)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.to_lowercase() == email)
                })
        })
    } else if let Some(phone) = c.q("phone") {
        let phone = phone.to_string();
        Box::new(move |r| r.get("Phone").and_then(Value::as_str) == Some(phone.as_str()))
    } else if let Some(word) = c.q("word") {
        let word = word.to_lowercase();
        Box::new(move |r| {
            r.values()
                .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(&word)))
        })
    } else {
        return bad(ZohoError::required_param("criteria"));
    };
    let start = (page - 1) * per_page;
    if start + per_page > 2000 {
        return bad(ZohoError::new(
            "LIMIT_REACHED",
            "Record count exceeded",
            json!({"limit": 2000}),
        ));
    }
    let hits: Vec<Value> = org
        .records
        .get(m.api_name)
        .map(|r| {
            r.values()
                .filter(|rec| filter(rec))
                .map(|rec| project(&org, rec, None))
                .collect()
        })
        .unwrap_or_default();
    paged(hits, page, per_page, start, json!({}))
}

fn deleted(sb: &Sandbox, c: &Ctx, module: &str) -> Reply {
    let org = lock(&sb.org);
    let (page, per_page) = or_400!(page_params(c, 200));
    match org.deleted_list(module) {
        Ok(list) => paged(list, page, per_page, (page - 1) * per_page, json!({})),
        Err(e) => bad(e),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum WriteKind {
    Insert,
    Update,
    Upsert,
}

fn data_array(c: &Ctx) -> Result<&Vec<Value>, ZohoError> {
    let body = c
        .json
        .as_ref()
        .ok_or_else(|| ZohoError::required_param("data"))?;
    let data = body
        .get("data")
        .ok_or_else(|| ZohoError::required_param("data"))?
        .as_array()
        .ok_or_else(|| ZohoError::invalid_data("invalid data", json!({"expected_data_type": "jsonarray", "api_name": "data", "json_path": "$.data"})))?;
    if data.is_empty() {
        return Err(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "data", "json_path": "$.data"}),
        ));
    }
    if data.len() > 100 {
        return Err(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": 100}),
        ));
    }
    Ok(data)
}

fn write(sb: &Sandbox, c: &Ctx, module: &str, kind: WriteKind, path_id: Option<&str>) -> Reply {
    let data = or_400!(data_array(c));
    let mut org = lock(&sb.org);
    let result = match kind {
        WriteKind::Insert => org.insert(module, data, &c.user, c.now_ms),
        WriteKind::Update => org.update(module, data, path_id, &c.user, c.now_ms),
        WriteKind::Upsert => {
            let fields: Option<Vec<String>> = c
                .json
                .as_ref()
                .and_then(|b| b.get("duplicate_check_fields"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                });
            org.upsert(module, data, fields.as_deref(), &c.user, c.now_ms)
        }
    };
    match result {
        Ok((results, changes)) => {
            let ok = if kind == WriteKind::Insert {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let status = batch_status(&results, ok);
            Reply::json(status, json!({"data": results})).with_changes(changes)
        }
        Err(e) => bad(e),
    }
}

fn delete(sb: &Sandbox, c: &Ctx, module: &str, path_id: Option<&str>) -> Reply {
    let ids: Vec<String> = match path_id {
        Some(id) => vec![id.to_string()],
        None => match c.q("ids") {
            Some(ids) => ids
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => return bad(ZohoError::required_param("ids")),
        },
    };
    if ids.is_empty() {
        return bad(ZohoError::required_param("ids"));
    }
    let mut org = lock(&sb.org);
    match org.delete(module, &ids, &c.user, c.now_ms) {
        Ok((results, changes)) => {
            let status = batch_status(&results, StatusCode::OK);
            Reply::json(status, json!({"data": results})).with_changes(changes)
        }
        Err(e) => bad(e),
    }
}

fn convert(sb: &Sandbox, c: &Ctx, id: &str) -> Reply {
    let options = c
        .json
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(|d| d.get(0))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut org = lock(&sb.org);
    match org.convert_lead(id, &options, &c.user, c.now_ms) {
        Ok((result, changes)) => {
            Reply::json(StatusCode::OK, json!({"data": [result]})).with_changes(changes)
        }
        Err(e) => bad(e),
    }
}

fn coql(sb: &Sandbox, c: &Ctx) -> Reply {
    let Some(q) = c
        .json
        .as_ref()
        .and_then(|b| b.get("select_query"))
        .and_then(Value::as_str)
    else {
        return bad(ZohoError::new(
            "INVALID_QUERY",
            "invalid query formed",
            json!({"reason": "the body has no select_query"}),
        ));
    };
    let select = match parse_select(q) {
        Ok(s) => s,
        Err(why) => {
            return bad(ZohoError::new(
                "SYNTAX_ERROR",
                "invalid query formed",
                json!({"reason": why}),
            ))
        }
    };
    let org = lock(&sb.org);
    let m = match org.module(&select.module) {
        Ok(m) => m.clone(),
        Err(e) => {
            return bad(ZohoError::new(
                "INVALID_QUERY",
                "invalid query formed",
                json!({"reason": e.message, "module": select.module}),
            ))
        }
    };
    for f in select
        .fields
        .iter()
        .chain(select.order.iter().map(|(f, _)| f))
    {
        let base = f.split('.').next().unwrap_or("");
        if base != "id"
            && m.field(base).is_none()
            && !["Created_Time", "Modified_Time", "Created_By", "Modified_By"].contains(&base)
        {
            return bad(ZohoError::new(
                "INVALID_QUERY",
                "invalid query formed",
                json!({"reason": format!("unknown field `{f}`"), "column_name": f}),
            ));
        }
    }
    let limit = select.limit.unwrap_or(200);
    if limit > 2000 {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": 2000}),
        ));
    }
    if select.offset + limit > 100_000 {
        return bad(ZohoError::limit_exceeded(
            "Record count exceeded",
            json!({"limit": 100_000}),
        ));
    }
    let all = org.records.get(m.api_name);
    let filter: Option<&Expr> = select.filter.as_ref();
    let mut hits: Vec<&Record> = all
        .map(|r| {
            r.values()
                .filter(|rec| filter.is_none_or(|e| e.matches(rec)))
                .collect()
        })
        .unwrap_or_default();
    if !select.order.is_empty() {
        sort_records(&mut hits, &select.order);
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .iter()
        .skip(select.offset)
        .take(limit)
        .map(|r| project(&org, r, Some(&select.fields)))
        .collect();
    if page.is_empty() {
        return Reply::empty(StatusCode::NO_CONTENT);
    }
    let more = select.offset + page.len() < total;
    let n = page.len();
    Reply::json(
        StatusCode::OK,
        json!({"data": page, "info": {"count": n, "more_records": more}}),
    )
}

/// Replaces `@{sub_request_id:$.data[0].details.id}` with values from earlier answers.
fn substitute(v: &Value, answers: &[(String, Value)]) -> Value {
    match v {
        Value::String(s) if s.contains("@{") => Value::String(substitute_str(s, answers)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, answers)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, answers)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, answers: &[(String, Value)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("@{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let inner = &after[..end];
        let value = inner.split_once(':').and_then(|(id, path)| {
            let body = &answers.iter().find(|(sid, _)| sid == id)?.1;
            json_path(body, path)
        });
        match value {
            Some(Value::String(v)) => out.push_str(&v),
            Some(v) => out.push_str(&v.to_string()),
            None => out.push_str(&rest[i..i + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Follows `$.a.b[0].c` into a JSON value.
fn json_path(v: &Value, path: &str) -> Option<Value> {
    let mut cur = v;
    let p = path.trim().strip_prefix('$')?;
    for part in p.split('.').filter(|s| !s.is_empty()) {
        let (name, idx) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        if let Some(i) = idx {
            cur = cur.get(i)?;
        }
    }
    Some(cur.clone())
}

fn missing_composite() -> ZohoError {
    ZohoError::new(
        "MANDATORY_NOT_FOUND",
        "required field not found",
        json!({"api_name": "__composite_requests", "json_path": "$.__composite_requests"}),
    )
}

/// `POST /__composite_requests`: 1–5 sub-requests, optional rollback on failure.
fn composite(sb: &Sandbox, c: &Ctx) -> Reply {
    let Some(body) = c.json.as_ref() else {
        return bad(missing_composite());
    };
    let Some(subs) = body.get("__composite_requests").and_then(Value::as_array) else {
        return bad(missing_composite());
    };
    if subs.is_empty() || subs.len() > 5 {
        return bad(ZohoError::invalid_data(
            "invalid data",
            json!({"api_name": "__composite_requests", "json_path": "$.__composite_requests", "maximum_length": 5}),
        ));
    }
    let rollback = body
        .get("rollback_on_fail")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let parallel = body
        .get("parallel_execution")
        .or_else(|| body.get("concurrent_execution"))
        .and_then(Value::as_bool)
        .unwrap_or(!rollback);
    if rollback && parallel {
        return bad(ZohoError::new(
            "AMBIGUITY_DURING_PROCESSING",
            "rollback_on_fail and parallel execution cannot both be true",
            json!({"ambiguity_due_to": [{"api_name": "rollback_on_fail", "json_path": "$.rollback_on_fail"}, {"api_name": "parallel_execution", "json_path": "$.parallel_execution"}]}),
        ));
    }
    let snapshot = rollback.then(|| lock(&sb.org).clone());
    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let mut changes = Vec::new();
    let mut failed_at = None;
    let mut settings_changed = false;
    for (i, sub) in subs.iter().enumerate() {
        let sub = substitute(sub, &answers);
        let sid = sub
            .get("sub_request_id")
            .and_then(|v| {
                v.as_str()
                    .map(String::from)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .unwrap_or_else(|| (i + 1).to_string());
        let method = sub
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let uri = sub.get("uri").and_then(Value::as_str).unwrap_or("");
        let mut query: Vec<(String, String)> = sub
            .get("params")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (path, inline) = uri.split_once('?').unwrap_or((uri, ""));
        query.extend(creditops_core::credits::table::parse_query(inline));
        let sub_body = sub
            .get("body")
            .filter(|b| !b.is_null() && b.as_object().is_none_or(|o| !o.is_empty()))
            .cloned();
        // A write sub-request carries one record; a read up to 25.
        let records = sub_body
            .as_ref()
            .and_then(|b| b.get("data"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let reply = if records > 1 && method != "GET" {
            bad(ZohoError::limit_exceeded(
                "Record count exceeded",
                json!({"limit": 1, "json_path": format!("$.__composite_requests[{i}].body.data")}),
            ))
        } else if method == "GET"
            && query
                .iter()
                .any(|(k, v)| k == "per_page" && v.parse::<usize>().is_ok_and(|n| n > 25))
        {
            bad(ZohoError::limit_exceeded(
                "Record count exceeded",
                json!({"limit": 25, "param_name": "per_page"}),
            ))
        } else if !path.starts_with("/crm/")
            || path.contains("__composite_requests")
            || path.contains("/bulk/")
        {
            Reply::error(
                StatusCode::BAD_REQUEST,
                ZohoError::new(
                    "NOT_SUPPORTED",
                    "Please check if the URL trying to access is a correct one",
                    json!({"uri": uri}),
                ),
            )
        } else {
            let price = sb.config.model.price(&creditops_core::credits::Call {
                method: &method,
                path,
                query: &query,
                body: sub_body.as_ref(),
            });
            let _slot = match price {
                Ok(p) if p.sub_concurrency => match super::meter::take_sub_slot(&sb.meter) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        results.push(sub_result(
                            &sid,
                            &Reply::error(StatusCode::TOO_MANY_REQUESTS, e),
                        ));
                        failed_at.get_or_insert(i);
                        continue;
                    }
                },
                _ => None,
            };
            let ctx = Ctx {
                method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
                segs: creditops_core::credits::table::normalise_path(path),
                query,
                headers: c.headers.clone(),
                body: bytes::Bytes::new(),
                json: sub_body,
                body_error: None,
                now_ms: c.now_ms,
                user: c.user.clone(),
            };
            dispatch(sb, &ctx)
        };
        let ok = reply.status.is_success() || reply.status == StatusCode::NOT_MODIFIED;
        let ok = ok && reply.status != StatusCode::MULTI_STATUS;
        results.push(sub_result(&sid, &reply));
        answers.push((sid, reply.json_body()));
        changes.extend(reply.changes);
        settings_changed |= reply.settings_changed;
        if !ok {
            failed_at.get_or_insert(i);
            if rollback {
                break;
            }
        }
    }
    if let (Some(at), Some(snap)) = (failed_at, snapshot) {
        *lock(&sb.org) = snap;
        changes.clear();
        let total = subs.len();
        let mut rolled: Vec<Value> = Vec::with_capacity(total);
        for (i, sub) in subs.iter().enumerate() {
            let sid = sub
                .get("sub_request_id")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| (i + 1).to_string());
            if i == at {
                rolled.push(results[i].clone());
            } else {
                rolled.push(json!({"code": if i < at { "ROLLBACK_PERFORMED" } else { "NOT_EXECUTED" }, "details": {"rollbacked_by_sub_request_index": at}, "message": "the request was rolled back", "status": "error", "sub_request_id": sid}));
            }
        }
        return Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"__composite_requests": rolled}),
        );
    }
    let status = batch_status(&results, StatusCode::OK);
    let reply = Reply::json(status, json!({"__composite_requests": results})).with_changes(changes);
    reply.settings_changed_if(settings_changed)
}

fn sub_result(sid: &str, reply: &Reply) -> Value {
    let body = match &reply.body {
        ReplyBody::Json(v) => v.clone(),
        _ => Value::Null,
    };
    let ok = reply.status.as_u16() < 400 && reply.status != StatusCode::MULTI_STATUS;
    let (code, message) = if ok {
        ("SUCCESS".to_string(), "success".to_string())
    } else {
        (
            body.get("code")
                .and_then(Value::as_str)
                .unwrap_or("FAILURE")
                .to_string(),
            body.get("message")
                .and_then(Value::as_str)
                .unwrap_or("failure")
                .to_string(),
        )
    };
    json!({
        "code": code,
        "details": {"response": {"status_code": reply.status.as_u16(), "body": body, "headers": {}}},
        "message": message,
        "status": if ok { "success" } else { "error" },
        "sub_request_id": sid,
    })
}

/// Parses a lookup or id from a JSON value (re-exported for bulk and notify).
pub fn id_of(v: &Value) -> Option<String> {
    lookup_id(v)
}

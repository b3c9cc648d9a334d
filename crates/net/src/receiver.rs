//! The webhook receiver (axum): `POST /hooks/notifications`, `/hooks/bulk` and
//! `/hooks/workflow/{name}`. A notification is accepted only when its channel_id and token match
//! a channel creditops knows; workflow and bulk hooks can require a shared secret. Every
//! accepted event is committed to the store before the 2xx answer; rejected requests are kept
//! in a capped log with the reason. Nothing here panics on input.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use tokio::sync::broadcast;

use creditops_config::WebhookSecret;
use creditops_core::webhook::{self as parse, Kind};
use creditops_store::events::{Event, EventReader, EventWriter, NewEvent};

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub store: creditops_store::db::Location,
    pub body_limit: usize,
    /// channel id → token, besides the channels in the store (flags, config).
    pub channels: HashMap<String, String>,
    pub workflow: HashMap<String, WebhookSecret>,
    pub bulk_secret: Option<WebhookSecret>,
    pub forward_to: Option<String>,
    /// Only events this matches are forwarded (all are stored): `listen --filter`.
    pub forward_filter: Option<creditops_core::webhook::Filter>,
    /// Events older than this many days are dropped (at start, then hourly); 0 keeps all.
    pub keep_days: u32,
}

impl ReceiverConfig {
    pub fn new(store: impl Into<creditops_store::db::Location>) -> ReceiverConfig {
        ReceiverConfig {
            store: store.into(),
            body_limit: 1024 * 1024,
            channels: HashMap::new(),
            workflow: HashMap::new(),
            bulk_secret: None,
            forward_to: None,
            forward_filter: None,
            keep_days: creditops_config::DEFAULT_KEEP_DAYS,
        }
    }
}

pub struct Receiver {
    pub config: ReceiverConfig,
    pub writer: EventWriter,
    /// channel id → token hash: the configured channels and the store's.
    known: RwLock<HashMap<String, String>>,
    /// When the store's channels were last read (ms), so unknown ids reread it at most once a
    /// second.
    reloaded_ms: AtomicI64,
    /// Accepted events, for tails (the console, `creditops listen`).
    pub tail: broadcast::Sender<Event>,
    http: reqwest::Client,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
}

impl Receiver {
    /// Makes a channel known (a subscription creditops just made).
    pub fn know_channel(&self, id: &str, token: &str) {
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), creditops_core::secret::token_hash(token));
    }

    fn known_hash(&self, id: &str) -> Option<String> {
        self.known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Rereads the store's channels (`creditops channels enable` writes them while a receiver
    /// runs), at most once a second.
    fn reload_channels(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        let last = self.reloaded_ms.load(Ordering::Relaxed);
        if now - last < 1000
            || self
                .reloaded_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match EventReader::open(&self.config.store)
            .and_then(|r| r.channels().map_err(|e| e.to_string()))
        {
            Ok(channels) => {
                let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
                for c in channels {
                    known.insert(c.channel_id, c.token_hash);
                }
            }
            Err(e) => tracing::warn!("receiver: rereading channels: {e}"),
        }
    }
}

/// Connections one client address may hold open on the receiver.
pub const PER_CLIENT_CONNECTIONS: usize = 64;

pub type ReceiverHandle = crate::server::ServerHandle<Receiver>;

pub async fn spawn(config: ReceiverConfig, listen: SocketAddr) -> anyhow::Result<ReceiverHandle> {
    let writer = EventWriter::open(&config.store).map_err(anyhow::Error::msg)?;
    let mut known: HashMap<String, String> = config
        .channels
        .iter()
        .map(|(id, token)| (id.clone(), creditops_core::secret::token_hash(token)))
        .collect();
    for c in EventReader::open(&config.store)
        .map_err(anyhow::Error::msg)?
        .channels()?
    {
        known.insert(c.channel_id, c.token_hash);
    }
    let listener = crate::server::bind(listen).await?;
    let (tail, _) = broadcast::channel(4096);
    let state = Arc::new(Receiver {
        config,
        writer,
        known: RwLock::new(known),
        reloaded_ms: AtomicI64::new(0),
        tail,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        accepted: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    });
    // The store keeps `keep_days` of events: pruned now and every hour while the receiver runs.
    if state.config.keep_days > 0 {
        let s = Arc::downgrade(&state);
        let keep_ms = i64::from(state.config.keep_days) * 86_400_000;
        tokio::spawn(async move {
            while let Some(r) = s.upgrade() {
                r.writer
                    .prune(chrono::Utc::now().timestamp_millis() - keep_ms);
                drop(r);
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        });
    }
    let app = Router::new().fallback(handle).with_state(state.clone());
    // Zoho's callbacks come from a few addresses; one client holding every descriptor must not
    // keep them out.
    let limits = crate::server::Limits {
        header_timeout: std::time::Duration::from_secs(10),
        per_client: Some(PER_CLIENT_CONNECTIONS),
    };
    Ok(ReceiverHandle::serve_with(
        listener, app, state, "receiver", limits,
    )?)
}

fn answer(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"status": if status.is_success() { "ok" } else { "error" }, "code": code, "message": message}))).into_response()
}

/// Header names whose values are never stored or shown.
fn is_secret_header(name: &str, secret_header: Option<&str>) -> bool {
    matches!(
        name,
        "authorization" | "cookie" | "proxy-authorization" | "x-creditops-secret"
    ) || secret_header.is_some_and(|h| h.eq_ignore_ascii_case(name))
}

fn secret_ok(s: &WebhookSecret, headers: &HeaderMap, query: &[(String, String)]) -> bool {
    let header = s.header.as_deref().unwrap_or("x-creditops-secret");
    let given = headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "secret")
                .map(|(_, v)| v.clone())
        });
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), s.secret.expose().as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(
    State(r): State<Arc<Receiver>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let now = chrono::Utc::now().timestamp_millis();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = creditops_core::credits::table::parse_query(parts.uri.query().unwrap_or(""));
    let peer_s = peer.ip().to_string();
    let reject = |status: StatusCode, code: &str, reason: &str, bytes: &[u8]| {
        r.rejected.fetch_add(1, Ordering::Relaxed);
        r.writer.reject(now, &path, &peer_s, reason, bytes);
        answer(status, code, reason)
    };
    let (kind, name) = match path.trim_end_matches('/') {
        "/hooks/notifications" => (Kind::Notification, None),
        "/hooks/bulk" => (Kind::Bulk, None),
        p => match p.strip_prefix("/hooks/workflow/") {
            Some(n)
                if !n.is_empty()
                    && n.len() <= 64
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                (Kind::Workflow, Some(n.to_string()))
            }
            _ => return reject(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such hook: POST /hooks/notifications, /hooks/bulk or /hooks/workflow/{name}",
                &[],
            ),
        },
    };
    if parts.method != Method::POST {
        return reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "hooks take POST",
            &[],
        );
    }
    let bytes = match crate::server::read_body(body, r.config.body_limit).await {
        Ok(b) => b,
        Err(crate::server::BodyError::TimedOut) => {
            return reject(
                StatusCode::REQUEST_TIMEOUT,
                "BODY_TIMEOUT",
                "the body did not arrive in time",
                &[],
            )
        }
        Err(crate::server::BodyError::TooLarge) => {
            return reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                &format!("body over the {} byte limit", r.config.body_limit),
                &[],
            )
        }
    };
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed = match parse::body(&content_type, &bytes) {
        Ok(b) => b,
        Err(e) => return reject(StatusCode::BAD_REQUEST, "MALFORMED", &e.to_string(), &bytes),
    };
    // What is kept (stored, tailed, exported, forwarded): the body with its credentials — a
    // channel's token above all — redacted. Verification reads them from the parsed original.
    let kept = parse::redact_credentials(&content_type, &bytes);
    let summary = parse::summary(kind, &parsed);
    let (verified, secret_header) = match kind {
        Kind::Notification => {
            let Some(ch) = summary.channel_id.as_deref() else {
                return reject(
                    StatusCode::FORBIDDEN,
                    "UNKNOWN_CHANNEL",
                    "no channel_id in the callback",
                    &kept,
                );
            };
            let expected = match r.known_hash(ch) {
                Some(h) => Some(h),
                // A channel enabled after the receiver started is in the store by now.
                None => {
                    r.reload_channels();
                    r.known_hash(ch)
                }
            };
            let given = summary
                .token
                .as_deref()
                .map(creditops_core::secret::token_hash);
            match (expected, given) {
                (None, _) => {
                    return reject(
                        StatusCode::FORBIDDEN,
                        "UNKNOWN_CHANNEL",
                        &format!("channel {ch} is not one creditops knows"),
                        &kept,
                    )
                }
                (Some(t), Some(given)) if constant_time_eq(t.as_bytes(), given.as_bytes()) => {
                    (true, None)
                }
                (Some(_), _) => {
                    return reject(
                        StatusCode::FORBIDDEN,
                        "TOKEN_MISMATCH",
                        &format!("the token does not match channel {ch}"),
                        &kept,
                    )
                }
            }
        }
        Kind::Workflow => match name.as_ref().and_then(|n| r.config.workflow.get(n)) {
            Some(s) if secret_ok(s, &parts.headers, &query) => (true, s.header.clone()),
            Some(_) => {
                return reject(
                    StatusCode::FORBIDDEN,
                    "BAD_SECRET",
                    "the webhook's shared secret is missing or wrong",
                    &kept,
                )
            }
            None => (false, None),
        },
        Kind::Bulk => match &r.config.bulk_secret {
            Some(s) if secret_ok(s, &parts.headers, &query) => (true, s.header.clone()),
            Some(_) => {
                return reject(
                    StatusCode::FORBIDDEN,
                    "BAD_SECRET",
                    "the bulk callback's shared secret is missing or wrong",
                    &kept,
                )
            }
            None => (false, None),
        },
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let value = if is_secret_header(k.as_str(), secret_header.as_deref()) {
                "***".to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (k.as_str().to_string(), value)
        })
        .collect();
    let mut summary = summary;
    summary.token = None; // verified; never stored
    let new = NewEvent {
        received_at_ms: now,
        kind,
        name,
        summary,
        verified,
        content_type: content_type.clone(),
        headers,
        body: kept,
    };
    let id = match r.writer.insert(new.clone()).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!("receiver: {e}");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "STORE_UNAVAILABLE",
                "the event could not be stored; retry",
            );
        }
    };
    r.accepted.fetch_add(1, Ordering::Relaxed);
    let event = Event {
        id,
        new,
        forward_status: None,
    };
    let wanted = r.config.forward_filter.as_ref().is_none_or(|f| {
        f.matches(
            event.new.kind,
            event.new.name.as_deref(),
            &event.new.summary,
            event.new.verified,
            &event.body_text(),
        )
    });
    match r.config.forward_to.clone().filter(|_| wanted) {
        Some(url) => {
            let r2 = r.clone();
            tokio::spawn(async move {
                let status = forward(&r2.http, &url, &event).await;
                r2.writer.forwarded(event.id, &status);
                let _ = r2.tail.send(Event {
                    forward_status: Some(status),
                    ..event
                });
            });
        }
        None => {
            let _ = r.tail.send(event);
        }
    }
    answer(StatusCode::OK, "SUCCESS", &format!("event {id} stored"))
}

/// Re-POSTs an event with its original body and content type; answers the forward's status.
pub async fn forward(http: &reqwest::Client, url: &str, e: &Event) -> String {
    let mut req = http.post(url).body(e.new.body.clone());
    if !e.new.content_type.is_empty() {
        req = req.header("content-type", &e.new.content_type);
    }
    match req.send().await {
        Ok(resp) => resp.status().as_u16().to_string(),
        Err(err) => format!("error: {}", err.without_url()),
    }
}

//! The embedded Zoho CRM v8 emulator: records, COQL, composite, bulk, metadata, notifications,
//! OAuth, and a credit meter that charges every call from the credit model over a rolling 24 h
//! window and answers 429 as Zoho does. It runs as `creditops sandbox` or in-process
//! ([`spawn`]), so the console and the tests embed it.

pub mod actions;
pub mod answers;
pub mod bulk;
pub mod meter;
pub mod notify;
pub mod org;
pub mod photos;
pub mod query;
pub mod routes;
pub mod schema;
pub mod settings;
pub mod setup;
pub mod store;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};

use creditops_core::credits::CreditModel;
use creditops_core::secret::Secret;
use creditops_core::zoho::ZohoError;

use meter::Meter;
use org::{Change, Org};

/// The most a request body may hold (a Bulk Write ZIP may be 25 MB).
pub const MAX_BODY: usize = 26 * 1024 * 1024;
/// The most a JSON API body may hold before 413.
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub edition: String,
    pub users: u64,
    pub addon: u64,
    pub seed: u64,
    pub data_dir: Option<PathBuf>,
    /// When set, only this client id / secret / refresh token get tokens.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Added to every metered call, to make concurrency visible as on a real server.
    pub latency: Duration,
    /// Whether a `304 Not Modified` answer is charged (Zoho does not say; default: charged).
    pub charge_not_modified: bool,
    pub model: CreditModel,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            edition: "enterprise".into(),
            users: 10,
            addon: 0,
            seed: 1,
            data_dir: None,
            client_id: None,
            client_secret: None,
            refresh_token: None,
            latency: Duration::ZERO,
            charge_not_modified: true,
            model: CreditModel::default(),
        }
    }
}

/// The sandbox's clock: real time plus an offset the operator endpoint moves.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
    pub fn set_offset(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed);
    }
}

/// Issued access tokens and the refresh-rate history (10 new tokens per refresh token per
/// 10 minutes, as Zoho enforces).
#[derive(Debug, Default)]
pub struct Tokens {
    pub access: HashMap<String, i64>,
    pub issued: HashMap<String, VecDeque<i64>>,
}

/// The whole sandbox's state.
pub struct Sandbox {
    pub config: SandboxConfig,
    pub org: Mutex<Org>,
    pub meter: Arc<Mutex<Meter>>,
    pub clock: Clock,
    pub tokens: Mutex<Tokens>,
    pub channels: Mutex<notify::Channels>,
    pub bulk: Mutex<bulk::Jobs>,
    pub photos: Mutex<photos::Photos>,
    pub store: Option<Mutex<store::Store>>,
    pub notifier: notify::Notifier,
    /// The acting user of every call (the org's admin; user ids do not change on reset).
    admin_id: String,
    base_url: OnceLock<String>,
}

/// Locks a mutex, recovering the data if a panic poisoned it (the state stays usable).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    /// Builds the state: from the data folder when it has one, else a fresh demo org.
    pub fn new(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let limits = config
            .model
            .editions
            .limits(&config.edition, config.users, config.addon)?;
        let clock = Clock::default();
        let now = clock.now_ms();
        let mut meter = Meter::new(limits);
        let mut kept = store::Kept::default();
        let (mut org, store) = match &config.data_dir {
            Some(dir) => {
                let mut st = store::Store::open(&dir.join("sandbox.sqlite"))?;
                let org = match st.load(&mut meter, &mut kept, &clock, now)? {
                    Some(org) => org,
                    None => {
                        let org = Org::demo(config.seed, &config.edition, config.users, now);
                        st.save_org(&org)?;
                        org
                    }
                };
                (org, Some(Mutex::new(st)))
            }
            None => (
                Org::demo(config.seed, &config.edition, config.users, now),
                None,
            ),
        };
        // A store saves whole records, so changes must carry them.
        org.keep_change_records = store.is_some();
        let admin_id = org.current_user().id.clone();
        Ok(Sandbox {
            admin_id,
            config,
            org: Mutex::new(org),
            meter: Arc::new(Mutex::new(meter)),
            clock,
            tokens: Mutex::new(kept.tokens),
            channels: Mutex::new(kept.channels),
            bulk: Mutex::new(kept.jobs),
            photos: Mutex::new(kept.photos),
            store,
            notifier: notify::Notifier::start(),
            base_url: OnceLock::new(),
        })
    }

    /// The sandbox's own base URL (what the token endpoint answers as `api_domain`).
    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map_or("http://127.0.0.1", String::as_str)
    }

    /// Issues an access token directly (tests and the embedded console use this).
    pub fn mint_token(&self) -> String {
        let token = format!("1000.{:032x}", rand::random::<u128>());
        let expiry = self.clock.now_ms() + 3_600_000;
        lock(&self.tokens).access.insert(token.clone(), expiry);
        self.persist(|s| s.save_token(&token, expiry));
        token
    }

    /// Runs a store write when the sandbox persists; returns whether what had to be kept was
    /// kept (true when nothing persists). A failure is logged; calls whose effect could not be
    /// kept answer 5xx rather than acknowledge it.
    pub fn persist(&self, f: impl FnOnce(&mut store::Store) -> anyhow::Result<()>) -> bool {
        let Some(st) = &self.store else {
            return true;
        };
        match f(&mut lock(st)) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("sandbox store: {e:#}");
                false
            }
        }
    }

    /// Resets records, usage, channels and jobs to a fresh demo org.
    pub fn reset(&self, seed: Option<u64>) {
        let now = self.clock.now_ms();
        let seed = seed.unwrap_or(self.config.seed);
        let mut org = Org::demo(seed, &self.config.edition, self.config.users, now);
        org.keep_change_records = self.store.is_some();
        {
            let mut m = lock(&self.meter);
            m.window.clear();
            m.calls = 0;
            m.rejected = 0;
            m.peak_in_flight = m.in_flight;
        }
        lock(&self.channels).clear();
        *lock(&self.bulk) = bulk::Jobs::default();
        *lock(&self.photos) = photos::Photos::default();
        self.persist(|s| s.reset(&org));
        *lock(&self.org) = org;
    }

    /// Persists and announces what a call changed (announces only what was kept); returns
    /// whether it was kept. Never waits for delivery.
    pub fn after_changes(&self, changes: &[Change]) -> bool {
        if changes.is_empty() {
            return true;
        }
        let kept = self.persist(|s| {
            s.save_changes(changes)?;
            let org = lock(&self.org);
            for c in changes
                .iter()
                .filter(|c| c.operation == org::Operation::Delete)
            {
                if let Some(d) = org
                    .deleted
                    .get(&c.module)
                    .and_then(|v| v.iter().rev().find(|d| d.id == c.id))
                {
                    s.save_deleted(&c.module, d)?;
                }
                if let Some(lead) = org.converted.get(&c.id) {
                    s.save_converted(&c.id, lead)?;
                }
            }
            s.save_next_id(org.next_id)
        });
        if !kept {
            return false;
        }
        let now = self.clock.now_ms();
        let deliveries = lock(&self.channels).deliveries(changes, now, self.base_url());
        for d in deliveries {
            self.notifier.send(d);
        }
        true
    }
}

/// A running sandbox: its address, state, and a way to stop it.
pub type SandboxHandle = creditops_net::server::ServerHandle<Sandbox>;

/// Starts the sandbox on `listen` (port 0 picks a free one) in this tokio runtime.
pub async fn spawn(config: SandboxConfig, listen: SocketAddr) -> anyhow::Result<SandboxHandle> {
    let listener = creditops_net::server::bind(listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(Sandbox::new(config)?);
    let _ = state.base_url.set(format!("http://{addr}"));
    Ok(SandboxHandle::serve(
        listener,
        router(state.clone()),
        state,
        "sandbox",
    )?)
}

/// The sandbox's router: every path goes through one handler that authenticates, prices,
/// admits, dispatches and charges.
pub fn router(state: Arc<Sandbox>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// What a route answers.
pub struct Reply {
    pub status: StatusCode,
    pub body: ReplyBody,
    pub headers: Vec<(&'static str, String)>,
    pub changes: Vec<Change>,
    /// The org's settings or users changed: the store saves them.
    pub settings_changed: bool,
}

pub enum ReplyBody {
    Json(Value),
    Bytes(Vec<u8>, &'static str),
    Empty,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
            changes: Vec::new(),
            settings_changed: false,
        }
    }
    pub fn error(status: StatusCode, e: ZohoError) -> Reply {
        Reply::json(status, e.to_json())
    }
    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: ReplyBody::Empty,
            headers: Vec::new(),
            changes: Vec::new(),
            settings_changed: false,
        }
    }
    pub fn with_changes(mut self, changes: Vec<Change>) -> Reply {
        self.changes = changes;
        self
    }
    /// Marks a reply whose call changed the org's settings or users.
    pub fn settings_changed(self) -> Reply {
        self.settings_changed_if(true)
    }
    /// Marks it when `changed`.
    pub fn settings_changed_if(mut self, changed: bool) -> Reply {
        self.settings_changed |= changed;
        self
    }
    /// The JSON body, if any (composite reads its sub-requests' answers).
    pub fn json_body(&self) -> Value {
        match &self.body {
            ReplyBody::Json(v) => v.clone(),
            _ => Value::Null,
        }
    }
}

fn into_response(reply: Reply, extra: Vec<(&'static str, String)>) -> Response {
    let mut resp = match reply.body {
        ReplyBody::Json(v) => {
            let mut r = (reply.status, axum::Json(v)).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
            r
        }
        ReplyBody::Bytes(b, ct) => {
            let mut r = (reply.status, b).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static(ct));
            r
        }
        ReplyBody::Empty => reply.status.into_response(),
    };
    for (k, v) in reply.headers.into_iter().chain(extra) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// One parsed request, as routes see it.
pub struct Ctx {
    pub method: Method,
    /// Path segments with the API version normalised to v8.
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Option<Value>,
    /// Why the body is not JSON, if it is not: answered only once the route is known (a URL
    /// Zoho cannot serve is a 404 whatever its body).
    pub body_error: Option<ZohoError>,
    pub now_ms: i64,
    pub user: String,
}

impl Ctx {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub fn seg(&self, i: usize) -> Option<&str> {
        self.segs.get(i).map(String::as_str)
    }
}

async fn handle(State(sb): State<Arc<Sandbox>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match creditops_net::server::read_body(body, MAX_BODY).await {
        Ok(b) => b,
        Err(creditops_net::server::BodyError::TooLarge) => return too_large(),
        Err(creditops_net::server::BodyError::TimedOut) => {
            return into_response(
                Reply::error(
                    StatusCode::REQUEST_TIMEOUT,
                    ZohoError::new(
                        "REQUEST_TIMEOUT",
                        "the request body did not arrive in time",
                        json!({}),
                    ),
                ),
                vec![],
            )
        }
    };
    let path = parts.uri.path().to_string();
    let query = creditops_core::credits::table::parse_query(parts.uri.query().unwrap_or(""));
    let now_ms = sb.clock.now_ms();

    if let Some(rest) = path.strip_prefix("/__sandbox/") {
        return into_response(
            routes::operator(&sb, &parts.method, rest, &bytes, &query),
            vec![],
        );
    }
    if path == "/oauth/v2/token" {
        return into_response(
            routes::token(
                &sb,
                &parts.method,
                parts
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                &bytes,
                &query,
                now_ms,
            ),
            vec![],
        );
    }

    // Authentication.
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = auth.strip_prefix("Zoho-oauthtoken ").map(str::trim) else {
        return into_response(
            Reply::error(
                StatusCode::UNAUTHORIZED,
                ZohoError::authentication_failure(),
            ),
            vec![],
        );
    };
    let valid = lock(&sb.tokens)
        .access
        .get(token)
        .is_some_and(|exp| *exp > now_ms);
    if !valid {
        return into_response(
            Reply::error(StatusCode::UNAUTHORIZED, ZohoError::invalid_token()),
            vec![],
        );
    }

    // The body: JSON where it is JSON; uploads stay bytes.
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_upload = path.ends_with("/upload");
    if !is_upload && bytes.len() > MAX_JSON_BODY {
        return too_large();
    }
    let (json, body_error) =
        if bytes.is_empty() || is_upload || content_type.starts_with("multipart/") {
            (None, None)
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => (Some(v), None),
                Err(_) => (None, Some(answers::body_not_json())),
            }
        };

    // Price, then admit (credits, concurrency, sub-concurrency).
    let segs = creditops_core::credits::table::normalise_path(&path);
    let seg_refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let priced = sb.config.model.table.price_segments(
        parts.method.as_str(),
        &seg_refs,
        &query,
        json.as_ref(),
    );
    drop(seg_refs);
    let price = match priced {
        Ok(p) => p,
        Err(e) => {
            let details = match &e {
                creditops_core::credits::CostError::LimitExceeded { max, .. } => {
                    json!({"limit": max})
                }
                creditops_core::credits::CostError::TooManySubRequests { max, .. } => {
                    json!({"maximum_length": max, "api_name": "__composite_requests"})
                }
                creditops_core::credits::CostError::CoqlLimit { max, .. } => json!({"limit": max}),
            };
            return into_response(
                Reply::error(
                    StatusCode::BAD_REQUEST,
                    ZohoError::new(e.code(), &e.to_string(), details),
                ),
                vec![],
            );
        }
    };
    let permit = match meter::admit(&sb.meter, &price, now_ms) {
        Ok(p) => p,
        Err(e) => {
            let remaining = lock(&sb.meter).remaining_header(now_ms);
            let extra = remaining
                .map(|r| vec![("x-api-credits-remaining", r.to_string())])
                .unwrap_or_default();
            return into_response(Reply::error(StatusCode::TOO_MANY_REQUESTS, e), extra);
        }
    };
    if !sb.config.latency.is_zero() {
        tokio::time::sleep(sb.config.latency).await;
    }

    let user = sb.admin_id.clone();
    let ctx = Ctx {
        method: parts.method.clone(),
        segs,
        query,
        headers: parts.headers,
        body: bytes,
        json,
        body_error,
        now_ms,
        user,
    };
    let mut reply = routes::dispatch(&sb, &ctx);
    drop(permit);

    // Answers Zoho does not charge (or charges less for) are refunded.
    let charged = creditops_core::credits::table::charged_credits(
        &price,
        reply.status.as_u16(),
        sb.config.charge_not_modified,
    );
    let refund = u64::from(price.credits - charged.min(price.credits));
    let remaining = {
        let mut m = lock(&sb.meter);
        if refund > 0 {
            m.window.refund(now_ms, refund);
        }
        m.remaining_header(now_ms)
    };
    let charge_kept = charged == 0
        || sb.persist(|s| {
            s.save_charge(
                now_ms,
                u64::from(charged),
                &price.rule,
                price.module.as_deref(),
            )
        });
    let changes = std::mem::take(&mut reply.changes);
    let settings_kept = !reply.settings_changed || sb.persist(|s| s.save_settings(&lock(&sb.org)));
    if !(sb.after_changes(&changes) && charge_kept && settings_kept) {
        // With --data-dir, an acknowledged change must survive a restart: what could not be
        // stored is not acknowledged. The call is charged as Zoho charges a 500.
        let as_failed = creditops_core::credits::table::charged_credits(
            &price,
            500,
            sb.config.charge_not_modified,
        );
        if charged > as_failed {
            lock(&sb.meter)
                .window
                .refund(now_ms, u64::from(charged - as_failed));
        }
        return into_response(
            Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ZohoError::internal_error(
                    "the sandbox could not store this call's effect (its --data-dir is full or failing)",
                ),
            ),
            vec![],
        );
    }
    let extra = remaining
        .map(|r| vec![("x-api-credits-remaining", r.to_string())])
        .unwrap_or_default();
    into_response(reply, extra)
}

fn too_large() -> Response {
    into_response(
        Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ZohoError::limit_exceeded(
                "Record count exceeded",
                json!({"maximum_size_bytes": MAX_JSON_BODY}),
            ),
        ),
        vec![],
    )
}

//! The metering proxy: integrations use it as their Zoho base URL. Each call is priced from the
//! credit model, forwarded (headers kept, Authorization passed through, the answer streamed
//! back) and recorded in the ledger before the answer leaves. In-flight calls are counted
//! against concurrency and sub-concurrency; threshold crossings are recorded once and
//! optionally posted or shown as desktop notifications.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::TryStreamExt;
use serde_json::{json, Value};

use creditops_core::credits::table::{charged_credits, parse_query};
use creditops_core::credits::{CreditModel, Limits};
use creditops_store::ledger::{CallRecord, LedgerWriter};

/// Largest request body the proxy reads (a Bulk Write ZIP may be 25 MB).
pub const MAX_BODY: usize = 26 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The API base calls go to (`https://sandbox.zohoapis.eu`, `http://127.0.0.1:7878`).
    pub upstream: String,
    /// Where `/oauth/…` goes (the accounts host); default: the upstream.
    pub accounts_upstream: Option<String>,
    pub integration_header: String,
    /// The org's limits, when known (flags or profile); else learned from Zoho's header.
    pub limits: Option<Limits>,
    pub thresholds: Vec<u32>,
    pub alert_post_url: Option<String>,
    pub desktop_alerts: bool,
    pub model: CreditModel,
    /// Where calls are recorded: a SQLite file, or PostgreSQL shared with other proxies.
    pub ledger: creditops_store::db::Location,
    pub retention_days: u32,
    pub charge_not_modified: bool,
    /// The metadata cache (shared with `creditops cache`); None to forward everything.
    pub cache: Option<Arc<creditops_store::cache::MetadataCache>>,
    /// Hold mode: API calls are appended to this queue file (JSONL, the planner's format) and
    /// answered 202 instead of being forwarded.
    pub hold: Option<PathBuf>,
    /// The base URL callers reach the proxy at, written into token answers' `api_domain`;
    /// default: the scheme and Host of the call.
    pub public_url: Option<String>,
    /// Budgets per integration (None: none).
    pub budgets: Option<creditops_core::budgets::Budgets>,
    /// Where the proxy reads the time (tests share the sandbox's movable clock).
    pub clock: Clock,
    /// This proxy's name in a shared ledger (the Gauges' breakdown by proxy); default empty.
    pub name: String,
    /// How long a call waits for a concurrency slot when the org is at its limit before the
    /// proxy answers 429 itself.
    pub admission_wait: Duration,
    /// With a PostgreSQL ledger: a local SQLite spool that records calls while the database
    /// cannot be reached (replayed into it when it is back). None: such calls are refused.
    pub spool: Option<PathBuf>,
}

/// The time, in epoch milliseconds: the system's, or one a test moves.
#[derive(Clone)]
pub struct Clock(pub Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock(Arc::new(|| chrono::Utc::now().timestamp_millis()))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl ProxyConfig {
    /// A proxy to `upstream` recording in `ledger`, with the defaults: X-Integration,
    /// thresholds 80/90/100, the limit learned from Zoho's header, no alert targets, the
    /// built-in cost model, 90 days of retention, 304s charged, no metadata cache.
    pub fn new(upstream: &str, ledger: impl Into<creditops_store::db::Location>) -> ProxyConfig {
        ProxyConfig {
            upstream: upstream.to_string(),
            accounts_upstream: None,
            integration_header: "X-Integration".into(),
            limits: None,
            thresholds: vec![80, 90, 100],
            alert_post_url: None,
            desktop_alerts: false,
            model: CreditModel::default(),
            ledger: ledger.into(),
            retention_days: 90,
            charge_not_modified: true,
            cache: None,
            hold: None,
            public_url: None,
            budgets: None,
            clock: Clock::default(),
            name: String::new(),
            admission_wait: Duration::from_secs(10),
            spool: None,
        }
    }
}

/// The proxy's live state.
pub struct Proxy {
    pub config: ProxyConfig,
    pub writer: LedgerWriter,
    http: reqwest::Client,
    pub in_flight: AtomicU32,
    pub sub_in_flight: AtomicU32,
    /// Access tokens seen in token answers that passed through → who they belong to.
    identities: Mutex<HashMap<String, Identity>>,
    /// The latest `X-API-CREDITS-REMAINING`, for the next threshold check (the limit is
    /// learned as the ledger's total + this when none is configured).
    last_reported: Mutex<Option<u64>>,
    /// What was spent, per integration and org-wide, for budgets.
    pub spending: Mutex<Spending>,
    /// A threshold check is wanted / running (see `check_thresholds`).
    check_wanted: AtomicBool,
    check_running: AtomicBool,
    /// Hold mode's queue file and how many calls it holds.
    held: Option<Mutex<Held>>,
    /// How calls are admitted against the org's concurrency limits.
    admission: Admission,
    /// A reader of the shared ledger (PostgreSQL): budgets are decided from what every proxy
    /// recorded, not from this proxy's calls alone.
    shared: Option<Arc<creditops_store::ledger::Ledger>>,
    /// Where calls are recorded while the shared ledger is unreachable (see `ProxyConfig`).
    spool: Option<LedgerWriter>,
}

/// How long a concurrency lease lives unless its proxy renews it: a proxy that died gives its
/// slots back within this.
pub const LEASE_TTL_MS: i64 = 5_000;

/// Admission against Zoho's concurrency and sub-concurrency limits, which are per org.
enum Admission {
    /// The limits are not known (learned from Zoho): calls go as they come.
    Open,
    /// One proxy on its own ledger: slots counted in this process.
    InProcess {
        slots: Arc<tokio::sync::Semaphore>,
        sub: Arc<tokio::sync::Semaphore>,
        limit: u32,
        sub_limit: u32,
    },
    /// Proxies sharing a ledger: leases in the database, taken with the call's record.
    Leases { limit: u32, sub_limit: u32 },
}

struct Held {
    file: std::fs::File,
    count: u64,
    /// The file's length after the last whole line: where a failed write is cut back to.
    len: u64,
}

pub type ProxyHandle = crate::server::ServerHandle<Proxy>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// The proxy's state: its ledger writer, its upstream client, its hold queue. Serve it
    /// with [`router`].
    pub fn new(config: ProxyConfig) -> anyhow::Result<Arc<Proxy>> {
        let writer = LedgerWriter::open_as(&config.ledger, config.retention_days, &config.name)?;
        let spool = match (&config.spool, writer.is_shared()) {
            (Some(path), true) => Some(LedgerWriter::open_as(
                path,
                config.retention_days,
                &config.name,
            )?),
            _ => None,
        };
        let shared = if writer.is_shared() && config.budgets.is_some() {
            Some(Arc::new(creditops_store::ledger::Ledger::open(
                &config.ledger,
            )?))
        } else {
            None
        };
        let admission = match (&config.limits, writer.is_shared()) {
            (None, _) => Admission::Open,
            (Some(l), true) => Admission::Leases {
                limit: l.concurrency.max(1),
                sub_limit: l.sub_concurrency.max(1),
            },
            (Some(l), false) => Admission::InProcess {
                slots: Arc::new(tokio::sync::Semaphore::new(l.concurrency.max(1) as usize)),
                sub: Arc::new(tokio::sync::Semaphore::new(
                    l.sub_concurrency.max(1) as usize
                )),
                limit: l.concurrency.max(1),
                sub_limit: l.sub_concurrency.max(1),
            },
        };
        // Budgets count what the ledger already holds for the last 24 h.
        let mut spending = Spending::default();
        if config.budgets.is_some() {
            let now = config.clock.now_ms();
            let ledger = creditops_store::ledger::Ledger::open(&config.ledger)?;
            for (integration, at_ms, credits) in
                ledger.charges_since(now - creditops_core::credits::WINDOW_MS)?
            {
                spending
                    .by_integration
                    .entry(integration)
                    .or_default()
                    .charge(at_ms, credits);
                spending.org.charge(at_ms, credits);
            }
        }
        let held = match &config.hold {
            Some(path) => Some(Mutex::new(open_hold(path)?)),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Arc::new(Proxy {
            config,
            writer,
            http,
            in_flight: AtomicU32::new(0),
            sub_in_flight: AtomicU32::new(0),
            identities: Mutex::new(HashMap::new()),
            last_reported: Mutex::new(None),
            spending: Mutex::new(spending),
            check_wanted: AtomicBool::new(false),
            check_running: AtomicBool::new(false),
            held,
            admission,
            shared,
            spool,
        }))
    }
}

/// Starts the proxy on `listen` in this runtime.
pub async fn spawn(config: ProxyConfig, listen: SocketAddr) -> anyhow::Result<ProxyHandle> {
    let state = Proxy::new(config)?;
    let listener = crate::server::bind(listen).await?;
    let handle = ProxyHandle::serve(listener, router(state.clone()), state.clone(), "proxy")?;
    // Keep this proxy's concurrency leases alive while it runs.
    if matches!(state.admission, Admission::Leases { .. }) {
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(LEASE_TTL_MS as u64 / 5)).await;
                if Arc::strong_count(&s) <= 1 {
                    break;
                }
                s.writer.renew_leases(s.config.clock.now_ms(), LEASE_TTL_MS);
            }
        });
    }
    // Replay what was spooled while the shared ledger was away, once it is back.
    if let (Some(_), Some(path)) = (&state.spool, state.config.spool.clone()) {
        let s = state.clone();
        tokio::spawn(async move {
            let spool = creditops_store::db::Location::from(path);
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if Arc::strong_count(&s) <= 1 {
                    break;
                }
                let (spool, ledger, name, now) = (
                    spool.clone(),
                    s.config.ledger.clone(),
                    s.config.name.clone(),
                    s.config.clock.now_ms(),
                );
                let replayed = tokio::task::spawn_blocking(move || {
                    creditops_store::spool::replay(&spool, &ledger, &name, now)
                })
                .await;
                match replayed {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!("spool: {n} calls replayed into the ledger"),
                    Ok(Err(e)) => tracing::debug!("spool: not replayed yet: {e}"),
                    Err(e) => tracing::error!("spool: {e}"),
                }
            }
        });
    }
    // Publish in-flight counts for `creditops usage` in other processes.
    let s = state.clone();
    tokio::spawn(async move {
        let mut last = u32::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if Arc::strong_count(&s) <= 1 {
                break;
            }
            let v = s.in_flight.load(Ordering::Relaxed);
            let now = chrono::Utc::now().timestamp_millis();
            if v != last || now % 5_000 < 500 {
                s.writer.live("in_flight", i64::from(v), now);
                last = v;
            }
        }
    });
    Ok(handle)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and those reqwest/hyper set themselves.
fn skip_header(name: &str, integration_header: &str) -> bool {
    matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    ) || name.eq_ignore_ascii_case(integration_header)
}

/// Why the proxy answers a call itself instead of passing Zoho's answer on. Each is Zoho's
/// error shape with a code of creditops' own.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("request body too large")]
    BodyTooLarge,
    #[error("the request body did not arrive in time")]
    BodyTimedOut,
    #[error("creditops proxy: the upstream did not answer: {0}")]
    Upstream(String),
    #[error("creditops proxy: the upstream's answer broke off: {0}")]
    UpstreamBody(String),
    #[error("creditops proxy: the ledger cannot record this call, so it was not sent to Zoho and cost nothing; try again later")]
    LedgerUnavailable,
    #[error("creditops proxy --hold queues JSON calls; this body is not JSON, so the call was neither held nor forwarded")]
    NotHeld,
    #[error("creditops proxy --hold queues GET, POST, PUT, PATCH and DELETE calls (what a plan can send); this {0} was neither held nor forwarded")]
    MethodNotHeld(String),
    #[error("creditops proxy: the call could not be written to the hold queue")]
    HoldQueue,
    /// `/__sandbox/*` is a creditops sandbox's operator API; Zoho has no such URL.
    #[error("Please check if the URL trying to access is a correct one")]
    NoSuchUrl,
    /// The integration's budget (or the reserve for higher priorities) refuses the call.
    #[error("{message}")]
    BudgetExceeded { message: String, retry_after_s: u64 },
    /// The org stayed at its concurrency limit for the whole admission wait.
    #[error("creditops proxy: the org is at its concurrency limit ({in_flight} of {limit} slots in flight across its proxies); the call waited {waited_s} s, was not sent and cost nothing; retry after {retry_after_s} s")]
    ConcurrencyLimit {
        in_flight: u64,
        limit: u32,
        waited_s: u64,
        retry_after_s: u64,
    },
}

impl ProxyError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ProxyError::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "LIMIT_EXCEEDED"),
            ProxyError::BodyTimedOut => (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
            ProxyError::Upstream(_) => (StatusCode::BAD_GATEWAY, "UPSTREAM_UNREACHABLE"),
            ProxyError::UpstreamBody(_) => (StatusCode::BAD_GATEWAY, "UPSTREAM_ANSWER_BROKEN"),
            ProxyError::LedgerUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "LEDGER_UNAVAILABLE")
            }
            ProxyError::NotHeld => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "NOT_HELD"),
            ProxyError::MethodNotHeld(_) => (StatusCode::METHOD_NOT_ALLOWED, "NOT_HELD"),
            ProxyError::HoldQueue => (StatusCode::SERVICE_UNAVAILABLE, "HOLD_QUEUE_UNAVAILABLE"),
            ProxyError::NoSuchUrl => (StatusCode::NOT_FOUND, "INVALID_URL_PATTERN"),
            ProxyError::BudgetExceeded { .. } => (StatusCode::TOO_MANY_REQUESTS, "BUDGET_EXCEEDED"),
            // Zoho's own code for its concurrency refusals: SDKs already back off on it.
            ProxyError::ConcurrencyLimit { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS")
            }
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut resp = (
            status,
            axum::Json(
                json!({"code": code, "details": {}, "message": self.to_string(), "status": "error"}),
            ),
        )
            .into_response();
        match &self {
            ProxyError::BudgetExceeded { retry_after_s, .. }
            | ProxyError::ConcurrencyLimit { retry_after_s, .. } => {
                set_header(&mut resp, "retry-after", &retry_after_s.to_string())
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                set_header(&mut resp, "retry-after", "30")
            }
            _ => {}
        }
        resp
    }
}

/// The proxy as an axum app over its state: what `spawn` serves, and what tests drive without a
/// socket (the caller's address is then unknown: calls are attributed by header or token).
pub fn router(state: Arc<Proxy>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn handle(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    serve(&p, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// One call as the proxy sees it: read whole (pricing needs the records), split once.
struct Call {
    parts: axum::http::request::Parts,
    body: bytes::Bytes,
    path: String,
    raw_query: String,
    query: Vec<(String, String)>,
    /// The path's segments, normalised (pricing and the cache both read them).
    segs: Vec<String>,
    /// Where it goes upstream.
    url: String,
    /// `/oauth/…`: token calls, forwarded unmetered, their answers learned from.
    oauth: bool,
    /// Everything but OAuth and the sandbox's operator endpoints is priced and recorded.
    metered: bool,
    integration: String,
    /// Whom the call's token belongs to, when the proxy saw it minted.
    identity: Option<Identity>,
    now_ms: i64,
    started: Instant,
}

/// The request path: read, (hold), price, admit, cache, forward, record, answer.
async fn serve(p: &Arc<Proxy>, req: Request) -> Result<Response, ProxyError> {
    let call = read_call(p, req).await?;
    // The sandbox's operator endpoints go only to a sandbox: never to Zoho, where they would
    // carry the caller's headers to a host that has no such API.
    if call.path.starts_with("/__sandbox/")
        && !matches!(
            creditops_core::zoho::destination(&p.config.upstream),
            Ok(creditops_core::zoho::Destination::Other)
        )
    {
        return Err(ProxyError::NoSuchUrl);
    }
    if let (true, Some(held)) = (call.metered, &p.held) {
        return hold(held, &call);
    }
    let priced = price(p, &call);
    let _release = admit(p, &call, &priced);
    let cached = match consult_cache(p, &call, &priced).await {
        CacheStep::Hit(resp) => return Ok(resp),
        CacheStep::Forward(cached) => cached,
    };
    // The integration's budget (and the reserve) before anything is spent; what the call is
    // priced at is held against the budget until its answer settles it.
    let held = admit_budget(p, &call, &priced).await?;
    // Recorded before it is sent: a call the ledger cannot take is refused here, before it
    // costs anything.
    let row = if call.metered {
        match begin(p, &call, &priced).await {
            Ok(row) => Some(row),
            Err(e) => {
                release_budget(p, &call, held, 0);
                return Err(e);
            }
        }
    } else {
        None
    };
    let upstream = match forward(p, &call, cached.as_ref()).await {
        Ok(u) => u,
        Err(e) => {
            release_budget(p, &call, held, 0);
            if let Some(row) = &row {
                // Nothing was answered; a call that never reached Zoho costs nothing.
                settle(p, &call, row, 0, StatusCode::BAD_GATEWAY.as_u16(), None).await;
            }
            return Err(e);
        }
    };
    let status = upstream.status();
    let headers = upstream.headers().clone();
    if call.oauth && status.is_success() {
        // Learn whom the access token belongs to (attribution, the cache's scope), and keep
        // the client behind the proxy: `api_domain` names the proxy, not the upstream.
        let bytes = read_answer(upstream).await?;
        let bytes = learn_token(p, &call, &bytes).unwrap_or(bytes);
        return Ok(rebuild(status, &headers, Body::from(bytes)));
    }
    // The credits recorded for this call, told to the caller too (`creditops send` sums them
    // per step).
    let charged = match &row {
        Some(row) => Some(record(p, &call, &priced, row, status, &headers).await),
        None => None,
    };
    release_budget(p, &call, held, charged.unwrap_or(0));
    let mut resp = answer(p, &call, status, &headers, upstream, cached).await?;
    if let Some(credits) = charged {
        set_header(&mut resp, "x-creditops-charged", &credits.to_string());
    }
    Ok(resp)
}

async fn read_call(p: &Proxy, req: Request) -> Result<Call, ProxyError> {
    let started = Instant::now();
    let now_ms = p.config.clock.now_ms();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, body) = req.into_parts();
    let body = crate::server::read_body(body, MAX_BODY)
        .await
        .map_err(|e| match e {
            crate::server::BodyError::TimedOut => ProxyError::BodyTimedOut,
            crate::server::BodyError::TooLarge => ProxyError::BodyTooLarge,
        })?;
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let oauth = path.starts_with("/oauth/");
    let base = if oauth {
        p.config
            .accounts_upstream
            .as_deref()
            .unwrap_or(&p.config.upstream)
    } else {
        &p.config.upstream
    };
    let url = if raw_query.is_empty() {
        format!("{}{}", base.trim_end_matches('/'), path)
    } else {
        format!("{}{}?{}", base.trim_end_matches('/'), path, raw_query)
    };
    let metered = !oauth && !path.starts_with("/__sandbox/");
    let identity = identity_of(p, &parts.headers);
    let integration = integration_of(p, &parts.headers, identity.as_ref(), peer);
    Ok(Call {
        query: parse_query(&raw_query),
        segs: creditops_core::credits::table::normalise_path(&path),
        parts,
        body,
        path,
        raw_query,
        url,
        oauth,
        metered,
        integration,
        identity,
        now_ms,
        started,
    })
}

/// Prices the call from itself; a call Zoho refuses before pricing costs nothing.
fn price(
    p: &Proxy,
    call: &Call,
) -> Result<creditops_core::credits::Price, creditops_core::credits::CostError> {
    let json_body: Option<Value> = if call.body.is_empty() {
        None
    } else {
        serde_json::from_slice(&call.body).ok()
    };
    let seg_refs: Vec<&str> = call.segs.iter().map(String::as_str).collect();
    p.config.model.table.price_segments(
        call.parts.method.as_str(),
        &seg_refs,
        &call.query,
        json_body.as_ref(),
    )
}

/// Counts the call in flight (concurrency and sub-concurrency) until the returned guard drops.
fn admit<'a>(
    p: &'a Proxy,
    call: &Call,
    priced: &Result<creditops_core::credits::Price, creditops_core::credits::CostError>,
) -> Release<'a> {
    let (slots, sub) = match priced {
        Ok(pr) if call.metered => (pr.concurrency_slots, u32::from(pr.sub_concurrency)),
        _ => (0, 0),
    };
    p.in_flight.fetch_add(slots, Ordering::Relaxed);
    p.sub_in_flight.fetch_add(sub, Ordering::Relaxed);
    Release { p, slots, sub }
}

/// What the cache made of a call.
enum CacheStep {
    /// Answered from the cache.
    Hit(Response),
    /// Goes upstream; when cacheable, with its key's flight lock and any stale entry.
    Forward(Option<CachedCall>),
}

/// The metadata cache answers what it can; a stale entry is revalidated, and concurrent misses
/// for one key wait for the first one's upstream call. Writes that change metadata drop it.
async fn consult_cache(
    p: &Arc<Proxy>,
    call: &Call,
    priced: &Result<creditops_core::credits::Price, creditops_core::credits::CostError>,
) -> CacheStep {
    let (true, Some(cache), Ok(pr)) = (call.metered, &p.config.cache, priced) else {
        return CacheStep::Forward(None);
    };
    // Only a caller whose token the proxy saw minted is answered from (or stored in) the
    // cache, and only with what was fetched for the same identity: an answer never reaches a
    // caller who could not have had it from Zoho.
    let Some(identity) = &call.identity else {
        return CacheStep::Forward(None);
    };
    let refs: Vec<&str> = call.segs.iter().map(String::as_str).collect();
    let method = call.parts.method.as_str();
    if let Some(module) = creditops_store::cache::invalidation(method, &refs, &call.query) {
        let n = cache.invalidate(module.as_deref());
        tracing::info!("cache: {method} {} invalidated {n} entries", call.path);
    }
    let Some((kind, module)) = creditops_store::cache::classify(
        method,
        &refs,
        &call.query,
        &cache.settings.record_modules,
    ) else {
        return CacheStep::Forward(None);
    };
    let scope = format!("{}#{}", p.config.upstream, identity.scope());
    let key = creditops_store::cache::key(&scope, &call.path, &call.query);
    if let creditops_store::cache::Lookup::Fresh(e) = cache.lookup(&key, call.now_ms) {
        return CacheStep::Hit(serve_hit(p, call, pr, cache, &key, e).await);
    }
    let guard = cache.flight(&key).lock_owned().await;
    let stale = match cache.lookup(&key, call.now_ms) {
        creditops_store::cache::Lookup::Fresh(e) => {
            return CacheStep::Hit(serve_hit(p, call, pr, cache, &key, e).await)
        }
        creditops_store::cache::Lookup::Stale(e) => Some(e),
        creditops_store::cache::Lookup::Miss => None,
    };
    CacheStep::Forward(Some(CachedCall {
        cache: cache.clone(),
        key,
        kind,
        module,
        stale,
        _guard: guard,
    }))
}

/// Sends the call upstream with the caller's headers (less hop-by-hop ones), revalidating a
/// stale cache entry with If-Modified-Since.
async fn forward(
    p: &Proxy,
    call: &Call,
    cached: Option<&CachedCall>,
) -> Result<reqwest::Response, ProxyError> {
    let mut out = p.http.request(call.parts.method.clone(), &call.url);
    for (name, value) in &call.parts.headers {
        if !skip_header(name.as_str(), &p.config.integration_header) {
            out = out.header(name, value);
        }
    }
    if let Some(e) = cached.and_then(|c| c.stale.as_ref()) {
        // Revalidate: Zoho answers 304 when nothing changed since we last knew.
        if let Some(t) = chrono::DateTime::from_timestamp_millis(e.stored_ms) {
            out = out.header("if-modified-since", t.to_rfc2822());
        }
    }
    out.body(call.body.clone()).send().await.map_err(|e| {
        let msg = upstream_error(&e);
        tracing::warn!("proxy: upstream failed: {msg}");
        ProxyError::Upstream(msg)
    })
}

/// A reqwest error without the upstream URL in it (it may carry a query with ids).
fn upstream_error(e: &reqwest::Error) -> String {
    match e.url() {
        Some(u) => e.to_string().replace(u.as_str(), "<upstream>"),
        None => e.to_string(),
    }
}

/// Reads an answer whole; an answer that breaks off is an error, never an empty body.
async fn read_answer(upstream: reqwest::Response) -> Result<bytes::Bytes, ProxyError> {
    upstream.bytes().await.map_err(|e| {
        let msg = upstream_error(&e);
        tracing::warn!("proxy: upstream answer broke off: {msg}");
        ProxyError::UpstreamBody(msg)
    })
}

/// What each integration, and the org, spent in the last 24 h through this proxy (primed from
/// the ledger at start), for budgets. Calls in flight are held at their priced credits.
#[derive(Default)]
pub struct Spending {
    pub org: creditops_core::credits::RollingWindow,
    pub by_integration: HashMap<String, creditops_core::credits::RollingWindow>,
    /// Budget alerts already sent: (integration, percent).
    alerted: std::collections::HashSet<(String, u32)>,
}

/// Credits a call holds against its integration's budget while in flight.
#[derive(Debug, Clone, Copy)]
struct BudgetHold {
    at_ms: i64,
    credits: u64,
}

/// Checks the call against its integration's budget and the reserve. Refused: recorded, and
/// answered 429 BUDGET_EXCEEDED when budgets are enforced; let through (and recorded as "would
/// refuse") when not. Allowed: the priced credits are held until the call settles.
async fn admit_budget(
    p: &Proxy,
    call: &Call,
    priced: &Result<creditops_core::credits::Price, creditops_core::credits::CostError>,
) -> Result<Option<BudgetHold>, ProxyError> {
    let (true, Some(budgets), Ok(pr)) = (call.metered, &p.config.budgets, priced) else {
        return Ok(None);
    };
    let limit = p.config.limits.as_ref().map(|l| l.daily_limit);
    let Some(budget) = budgets.for_integration(&call.integration, limit) else {
        return Ok(None);
    };
    let need = u64::from(pr.credits);
    // A shared ledger: the windows are what every proxy recorded (calls in flight at their
    // priced credits), read from the database's per-minute totals.
    let org_wide = match &p.shared {
        Some(ledger) => {
            let (ledger, integration, now) =
                (ledger.clone(), call.integration.clone(), call.now_ms);
            let read =
                tokio::task::spawn_blocking(move || ledger.window_minutes(&integration, now)).await;
            match read {
                Ok(Ok(minutes)) => Some(minutes),
                // Spooling: the budgets go on from this proxy's own count until it is back.
                _ if p.spool.is_some() => None,
                _ => {
                    tracing::error!("proxy: the shared ledger's totals cannot be read; refusing");
                    return Err(ProxyError::LedgerUnavailable);
                }
            }
        }
        None => None,
    };
    let mut spent = lock(&p.spending);
    let spent = &mut *spent;
    if let Some((org, mine)) = org_wide {
        let window = |pairs: Vec<(i64, u64)>| {
            let mut w = creditops_core::credits::RollingWindow::new();
            for (at, credits) in pairs {
                w.charge(at, credits);
            }
            w
        };
        spent.org = window(org);
        spent
            .by_integration
            .insert(call.integration.clone(), window(mine));
    }
    let empty = creditops_core::credits::RollingWindow::new();
    let mine = spent
        .by_integration
        .get(&call.integration)
        .unwrap_or(&empty);
    let verdict = creditops_core::budgets::decide(
        budgets,
        &budget,
        mine,
        &spent.org,
        limit,
        call.now_ms,
        need,
    );
    if let Err((refusal, retry_after_s)) = verdict {
        let message = refusal.message(&call.integration);
        p.writer.refusal(creditops_store::ledger::Refused {
            at_ms: call.now_ms,
            integration: call.integration.clone(),
            kind: refusal.kind().to_string(),
            enforced: budgets.enforce,
            credits: pr.credits,
            message: message.clone(),
        });
        if budgets.enforce {
            tracing::info!("refused: {message}");
            return Err(ProxyError::BudgetExceeded {
                message,
                retry_after_s,
            });
        }
        tracing::info!("would refuse (enforce = false): {message}");
    }
    spent
        .by_integration
        .entry(call.integration.clone())
        .or_default()
        .charge(call.now_ms, need);
    spent.org.charge(call.now_ms, need);
    Ok(Some(BudgetHold {
        at_ms: call.now_ms,
        credits: need,
    }))
}

/// Settles what a call held against its budget: keeps what it was charged, gives back the rest,
/// and alerts when the integration passes 80 % or 100 % of its budget.
fn release_budget(p: &Proxy, call: &Call, held: Option<BudgetHold>, charged: u32) {
    let Some(held) = held else { return };
    let back = held.credits.saturating_sub(u64::from(charged));
    let mut spent = lock(&p.spending);
    let spent = &mut *spent;
    if back > 0 {
        if let Some(w) = spent.by_integration.get_mut(&call.integration) {
            w.refund(held.at_ms, back);
        }
        spent.org.refund(held.at_ms, back);
    }
    let (Some(budgets), Some(w)) = (
        &p.config.budgets,
        spent.by_integration.get_mut(&call.integration),
    ) else {
        return;
    };
    let limit = p.config.limits.as_ref().map(|l| l.daily_limit);
    let Some(budget) = budgets.for_integration(&call.integration, limit) else {
        return;
    };
    let used = w.used(call.now_ms);
    for t in [80u32, 100] {
        let key = (call.integration.clone(), t);
        if used * 100 >= budget.daily * u64::from(t) {
            if spent.alerted.insert(key) {
                let message = format!(
                    "integration `{}` has used {t} % of its budget: {used} of {} credits in the last 24 h",
                    call.integration, budget.daily
                );
                tracing::warn!("{message}");
                post_alert(
                    p,
                    json!({"integration": call.integration, "threshold": t, "used": used, "budget": budget.daily, "message": message}),
                );
            }
        } else {
            spent.alerted.remove(&key);
        }
    }
}

/// Writes the call's row before it is sent, at the credits it is priced at (the most it can
/// cost), and waits for the commit.
/// A call recorded before it is sent, with its hold on the org's concurrency (released when
/// it settles, or when the handler ends however it ends).
struct Recorded {
    row: i64,
    /// Recorded in the spool (the shared ledger was unreachable): settled there too.
    spooled: bool,
    /// The credits the row was written with (what the call was priced at).
    credits: u32,
    lease: Option<i64>,
    _permits: Option<(
        tokio::sync::OwnedSemaphorePermit,
        Option<tokio::sync::OwnedSemaphorePermit>,
    )>,
}

/// Records the call before it is sent, once the org has room for it: within its concurrency
/// and sub-concurrency limits, across every proxy sharing the ledger. A call that cannot be
/// recorded, or finds no room within the admission wait, is refused here and costs nothing.
async fn begin(
    p: &Proxy,
    call: &Call,
    priced: &Result<creditops_core::credits::Price, creditops_core::credits::CostError>,
) -> Result<Recorded, ProxyError> {
    let (slots, sub) = match priced {
        Ok(pr) => (pr.concurrency_slots.max(1), u32::from(pr.sub_concurrency)),
        Err(_) => (1, 0),
    };
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + p.config.admission_wait;
    let busy = |in_flight: u64, limit: u32| ProxyError::ConcurrencyLimit {
        in_flight,
        limit,
        waited_s: started.elapsed().as_secs(),
        retry_after_s: 1,
    };
    let mut permits = None;
    if let Admission::InProcess {
        slots: sem,
        sub: sub_sem,
        limit,
        sub_limit,
    } = &p.admission
    {
        let held = |sem: &tokio::sync::Semaphore, limit: u32| {
            u64::from(limit).saturating_sub(sem.available_permits() as u64)
        };
        let main =
            tokio::time::timeout_at(deadline, sem.clone().acquire_many_owned(slots.min(*limit)))
                .await
                .map_err(|_| busy(held(sem, *limit), *limit))?
                .map_err(|_| busy(held(sem, *limit), *limit))?;
        let extra = if sub > 0 {
            Some(
                tokio::time::timeout_at(
                    deadline,
                    sub_sem.clone().acquire_many_owned(sub.min(*sub_limit)),
                )
                .await
                .map_err(|_| busy(held(sem, *limit), *limit))?
                .map_err(|_| busy(held(sem, *limit), *limit))?,
            )
        } else {
            None
        };
        permits = Some((main, extra));
    }
    let (credits, api, module, records, is_priced) = match priced {
        Ok(pr) => (
            pr.credits,
            pr.rule.to_string(),
            pr.module.clone(),
            pr.records,
            pr.priced,
        ),
        Err(e) => (0, format!("refused:{}", e.code()), None, 0, true),
    };
    let rec = CallRecord {
        at_ms: call.now_ms,
        integration: call.integration.clone(),
        api,
        module,
        method: call.parts.method.to_string(),
        path: call.path.clone(),
        records,
        credits,
        status: creditops_store::ledger::STATUS_UNSETTLED,
        latency_ms: 0,
        priced: is_priced,
        reported_remaining: None,
        saved: 0,
        // Random: a write retried into the spool after a lost answer is recognised on replay.
        call_key: Some(format!("{:032x}", rand::random::<u128>())),
    };
    let priced_credits = rec.credits;
    let Admission::Leases { limit, sub_limit } = p.admission else {
        let row = match p.writer.begin(rec.clone()).await {
            Ok(row) => row,
            Err(e) => return spooled(p, rec, e, permits).await,
        };
        return Ok(Recorded {
            row,
            spooled: false,
            credits: priced_credits,
            lease: None,
            _permits: permits,
        });
    };
    let mut pause = Duration::from_millis(2);
    loop {
        let now = p.config.clock.now_ms();
        let ask = creditops_store::ledger::LeaseAsk {
            slots: slots.min(limit),
            sub: sub.min(sub_limit),
            limit,
            sub_limit,
            now_ms: now,
            expires_ms: now + LEASE_TTL_MS,
        };
        let begun = match p.writer.begin_leased(rec.clone(), Some(ask)).await {
            Ok(b) => b,
            Err(e) => return spooled(p, rec, e, None).await,
        };
        match begun {
            creditops_store::ledger::Begun::Recorded { row, lease } => {
                return Ok(Recorded {
                    row,
                    spooled: false,
                    credits: priced_credits,
                    lease,
                    _permits: None,
                })
            }
            creditops_store::ledger::Begun::Busy { in_flight, .. } => {
                if tokio::time::Instant::now() + pause > deadline {
                    return Err(busy(in_flight, limit));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Records a call the shared ledger could not take in the spool, when there is one (without
/// org-wide admission: the proxies cannot coordinate without their database); else refuses it.
async fn spooled(
    p: &Proxy,
    rec: CallRecord,
    why: creditops_store::ledger::LedgerError,
    permits: Option<(
        tokio::sync::OwnedSemaphorePermit,
        Option<tokio::sync::OwnedSemaphorePermit>,
    )>,
) -> Result<Recorded, ProxyError> {
    let credits = rec.credits;
    // The call is refused unless the spool takes it: the ledger's failed `begin` may have
    // been stored all the same, and must not stay as a call that was never sent.
    let key = rec.call_key.clone();
    let refused = |p: &Proxy| {
        if let Some(k) = &key {
            p.writer.void_unsent(k);
        }
        Err(ProxyError::LedgerUnavailable)
    };
    let Some(spool) = &p.spool else {
        tracing::error!("proxy: refusing a call the ledger cannot record: {why}");
        return refused(p);
    };
    match spool.begin(rec).await {
        Ok(row) => {
            tracing::warn!("proxy: the ledger is unreachable ({why}); the call is spooled");
            Ok(Recorded {
                row,
                spooled: true,
                credits,
                lease: None,
                _permits: permits,
            })
        }
        Err(e) => {
            tracing::error!(
                "proxy: refusing a call neither the ledger ({why}) nor the spool ({e}) can record"
            );
            refused(p)
        }
    }
}

/// Settles the call's row with what its answer cost. When that write fails the row keeps the
/// priced credits (never fewer than were spent) and the answer still goes back: the call
/// reached Zoho, and dropping its answer would only make the caller repeat it.
async fn settle(
    p: &Proxy,
    call: &Call,
    row: &Recorded,
    credits: u32,
    status: u16,
    reported_remaining: Option<u64>,
) {
    let settled = creditops_store::ledger::Settled {
        status,
        credits,
        latency_ms: call.started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
        reported_remaining,
    };
    let writer = match (&p.spool, row.spooled) {
        (Some(spool), true) => spool,
        _ => &p.writer,
    };
    if credits == row.credits {
        // The row already holds what the call cost: what is left to write (status, latency,
        // the lease given back) need not hold the answer up. A crash before it commits leaves
        // the row unsettled at the same credits.
        writer.finish_later(row.row, settled, row.lease);
    } else if let Err(e) = writer.finish_leased(row.row, settled, row.lease).await {
        tracing::error!(
            "proxy: the call is recorded at its priced credits; settling it failed: {e}"
        );
    }
}

/// Settles the call's row with what Zoho charged (durable before the answer leaves: a SIGKILL
/// loses nothing that was answered) and returns the credits.
async fn record(
    p: &Arc<Proxy>,
    call: &Call,
    priced: &Result<creditops_core::credits::Price, creditops_core::credits::CostError>,
    row: &Recorded,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> u32 {
    let reported_remaining = headers
        .get("x-api-credits-remaining")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let credits = match priced {
        Ok(pr) => charged_credits(pr, status.as_u16(), p.config.charge_not_modified),
        Err(_) => 0,
    };
    settle(p, call, row, credits, status.as_u16(), reported_remaining).await;
    tracing::debug!(
        "{} {} → {} · {credits} credits · {}",
        call.parts.method,
        call.path,
        status.as_u16(),
        call.integration
    );
    check_thresholds(p, reported_remaining);
    credits
}

/// The upstream's answer as the caller gets it: cacheable answers buffered and kept, the rest
/// streamed.
async fn answer(
    p: &Proxy,
    call: &Call,
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    upstream: reqwest::Response,
    cached: Option<CachedCall>,
) -> Result<Response, ProxyError> {
    let now_ms = call.now_ms;
    let Some(c) = cached else {
        // JSON answers of a known, modest size are read whole so URLs naming the upstream can
        // be rewritten; the rest (files, long or unsized answers) stream through.
        let json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("json"));
        if json
            && upstream
                .content_length()
                .is_some_and(|n| n <= REWRITE_MAX as u64)
        {
            let bytes = read_answer(upstream).await?;
            return Ok(rebuild(
                status,
                headers,
                Body::from(behind_proxy(p, call, bytes)),
            ));
        }
        let stream = upstream.bytes_stream().map_err(std::io::Error::other);
        return Ok(rebuild(status, headers, Body::from_stream(stream)));
    };
    // Cacheable answers are small: buffer, keep, answer. One that breaks off is neither kept
    // nor passed on as if whole. The cache keeps what the upstream said; URLs are rewritten on
    // the way out, for the base each caller used.
    let bytes = read_answer(upstream).await?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    Ok(match (status.as_u16(), &c.stale) {
        (304, Some(e)) => {
            c.cache.revalidated(&c.key, now_ms);
            let body = behind_proxy(p, call, e.body.clone().into());
            let mut resp = rebuild(reqwest::StatusCode::OK, headers, Body::from(body));
            set_header(&mut resp, "content-type", &e.content_type);
            set_header(&mut resp, "x-creditops-cache", "revalidated");
            resp
        }
        (200, _) => {
            c.cache.store(
                &c.key,
                c.kind,
                c.module.as_deref(),
                &content_type,
                &bytes,
                now_ms,
            );
            let mut resp = rebuild(status, headers, Body::from(behind_proxy(p, call, bytes)));
            set_header(&mut resp, "x-creditops-cache", "miss");
            resp
        }
        _ => rebuild(status, headers, Body::from(behind_proxy(p, call, bytes))),
    })
}

/// Largest JSON answer read whole to rewrite the URLs in it.
const REWRITE_MAX: usize = 4 * 1024 * 1024;

/// An answer with every absolute URL that names the upstream (or its accounts host) rewritten
/// to the proxy's own base, so a client that follows one (a bulk download, `api_domain`)
/// stays behind the proxy and metered.
fn behind_proxy(p: &Proxy, call: &Call, body: bytes::Bytes) -> bytes::Bytes {
    let public = public_base(p, call);
    let mut out: Option<Vec<u8>> = None;
    for upstream in std::iter::once(&p.config.upstream).chain(&p.config.accounts_upstream) {
        let from = upstream.trim_end_matches('/');
        if from.is_empty() || from == public {
            continue;
        }
        let current = out.as_deref().unwrap_or(&body);
        if let Some(replaced) = replace_all(current, from.as_bytes(), public.as_bytes()) {
            out = Some(replaced);
        }
    }
    out.map_or(body, bytes::Bytes::from)
}

/// `haystack` with every `from` replaced by `to`, or None when there is none.
fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = haystack;
    let mut found = false;
    while let Some(i) = rest.windows(from.len()).position(|w| w == from) {
        found = true;
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    found.then(|| {
        out.extend_from_slice(rest);
        out
    })
}

/// Opens (or creates) a hold queue, counting the calls it already holds so ids continue. A
/// last line without its newline was torn by a crash mid-write and never acknowledged: it is
/// cut off, so the next call does not run into it.
fn open_hold(path: &std::path::Path) -> anyhow::Result<Held> {
    let err = |e: std::io::Error| anyhow::anyhow!("hold queue {}: {e}", path.display());
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(err(e)),
    };
    let whole = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let count = text[..whole]
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count() as u64;
    creditops_store::db::create_private(path).map_err(err)?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(err)?;
    if whole < text.len() {
        tracing::warn!(
            "hold queue {}: cutting a torn last line ({} bytes, never acknowledged)",
            path.display(),
            text.len() - whole
        );
        file.set_len(whole as u64).map_err(err)?;
    }
    Ok(Held {
        file,
        count,
        len: whole as u64,
    })
}

/// Hold mode: the call is appended to the queue (written before the answer) and answered 202.
/// A body that is not JSON cannot be planned, so it is refused (415) rather than half-kept.
fn hold(held: &Mutex<Held>, call: &Call) -> Result<Response, ProxyError> {
    use std::io::Write as _;
    let method = creditops_core::planner::Method::parse(call.parts.method.as_str())
        .ok_or_else(|| ProxyError::MethodNotHeld(call.parts.method.to_string()))?;
    let json_body = if call.body.is_empty() {
        None
    } else {
        Some(serde_json::from_slice::<Value>(&call.body).map_err(|_| ProxyError::NotHeld)?)
    };
    let mut h = lock(held);
    let id = format!("h{}", h.count + 1);
    let queued = creditops_core::planner::QueuedCall {
        id: id.as_str().into(),
        method,
        path: call.path.as_str().into(),
        query: creditops_core::planner::queue::without_credentials(parse_query(&call.raw_query))
            .into(),
        headers: vec![("X-Integration".to_string(), call.integration.clone())].into(),
        body: json_body
            .as_ref()
            .map(creditops_core::planner::queue::Body::new),
    };
    let mut line = creditops_core::planner::queue::to_jsonl_line(&queued);
    line.push('\n');
    if let Err(e) = h
        .file
        .write_all(line.as_bytes())
        .and_then(|_| h.file.sync_data())
    {
        // A half-written line would swallow the next call's: cut it off.
        tracing::error!("proxy: hold queue: {e}");
        let len = h.len;
        if let Err(e) = h.file.set_len(len) {
            tracing::error!("proxy: hold queue: cutting a failed write back: {e}");
        }
        return Err(ProxyError::HoldQueue);
    }
    h.count += 1;
    h.len += line.len() as u64;
    let mut resp = axum::Json(serde_json::json!({
        "code": "HELD",
        "status": "success",
        "message": "queued by creditops proxy --hold; plan and send it with creditops plan / send",
        "details": {"id": id},
    }))
    .into_response();
    *resp.status_mut() = StatusCode::ACCEPTED;
    Ok(resp)
}

/// A cacheable call on its way upstream: holds the key's flight lock until it is answered.
struct CachedCall {
    cache: Arc<creditops_store::cache::MetadataCache>,
    key: String,
    kind: creditops_store::cache::Kind,
    module: Option<String>,
    stale: Option<creditops_store::cache::Entry>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// Answers from the cache: no upstream call, no credits; the ledger records what it saved.
async fn serve_hit(
    p: &Proxy,
    c: &Call,
    price: &creditops_core::credits::Price,
    cache: &creditops_store::cache::MetadataCache,
    key: &str,
    e: creditops_store::cache::Entry,
) -> Response {
    let saved = price.credits;
    cache.hit(key, u64::from(saved), c.now_ms);
    // A client revalidating what it already has gets 304, as Zoho would answer.
    let since = c
        .parts
        .headers
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok())
        .and_then(creditops_core::zoho::time::parse_time);
    let not_modified = since.is_some_and(|s| s >= e.stored_ms - 1000);
    let status = if not_modified { 304 } else { 200 };
    let rec = CallRecord {
        at_ms: c.now_ms,
        integration: c.integration.clone(),
        api: format!("cache_hit:{}", price.rule),
        module: price.module.clone(),
        method: c.parts.method.to_string(),
        path: c.path.to_string(),
        records: 0,
        credits: 0,
        status,
        latency_ms: c.started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
        priced: true,
        reported_remaining: None,
        saved,
        call_key: None,
    };
    if let Err(err) = p.writer.append(rec).await {
        tracing::error!("proxy: {err}");
    }
    let mut resp = if not_modified {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(behind_proxy(p, c, e.body.into())))
    };
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if !not_modified {
        set_header(&mut resp, "content-type", &e.content_type);
    }
    set_header(&mut resp, "x-creditops-cache", "hit");
    resp
}

/// Decrements the in-flight counts when the handler ends, however it ends.
struct Release<'a> {
    p: &'a Proxy,
    slots: u32,
    sub: u32,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.p.in_flight.fetch_sub(self.slots, Ordering::Relaxed);
        self.p.sub_in_flight.fetch_sub(self.sub, Ordering::Relaxed);
    }
}

fn rebuild(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: Body,
) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in headers {
        let n = name.as_str();
        if matches!(
            n,
            "connection" | "keep-alive" | "transfer-encoding" | "content-length"
        ) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

/// Whom an access token belongs to, as learned from the token answer that carried it: the
/// OAuth client, and the grant it was minted from (a hash of the refresh token or code), which
/// stands for the user. The metadata cache is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub client: String,
    grant: u64,
}

impl Identity {
    /// The cache's scope: client and grant, never the token itself.
    fn scope(&self) -> String {
        format!("{}/{:016x}", self.client, self.grant)
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Zoho-oauthtoken "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The identity behind a call's token, if the proxy saw that token minted.
fn identity_of(p: &Proxy, headers: &HeaderMap) -> Option<Identity> {
    lock(&p.identities).get(bearer(headers)?).cloned()
}

fn integration_of(
    p: &Proxy,
    headers: &HeaderMap,
    identity: Option<&Identity>,
    peer: Option<SocketAddr>,
) -> String {
    if let Some(v) = headers
        .get(p.config.integration_header.as_str())
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if !v.is_empty() {
            return v.chars().take(100).collect();
        }
    }
    if let Some(id) = identity {
        return format!("client:{}", id.client);
    }
    match peer {
        Some(peer) => format!("addr:{}", peer.ip()),
        None => "addr:unknown".into(),
    }
}

/// Reads a token answer: remembers whom its access token belongs to, and rewrites its
/// `api_domain` to the proxy's own base, so an SDK that follows it (Zoho's Node.js SDK does)
/// stays behind the proxy. Returns the answer to send on when it was rewritten.
fn learn_token(p: &Proxy, call: &Call, answer: &[u8]) -> Option<bytes::Bytes> {
    let params = creditops_core::zoho::oauth::token_params(
        call.parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        &call.body,
        &call.query,
    );
    let param = |k| creditops_core::zoho::oauth::param(&params, k);
    let mut v = serde_json::from_slice::<Value>(answer).ok()?;
    if let (Some(client), Some(token)) = (
        param("client_id"),
        v.get("access_token").and_then(Value::as_str),
    ) {
        let grant = param("refresh_token")
            .map(|rt| format!("refresh:{rt}"))
            .or_else(|| param("code").map(|c| format!("code:{c}")))
            .unwrap_or_default();
        let identity = Identity {
            client: client.to_string(),
            grant: {
                use std::hash::{Hash, Hasher};
                let mut h = std::hash::DefaultHasher::new();
                grant.hash(&mut h);
                h.finish()
            },
        };
        let mut map = lock(&p.identities);
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(token.to_string(), identity);
    }
    let public = public_base(p, call);
    let domain = v.get_mut("api_domain")?;
    *domain = Value::String(public);
    serde_json::to_vec(&v).ok().map(bytes::Bytes::from)
}

/// The proxy's base URL as its callers reach it: configured (`public_url`), else the scheme
/// and Host the call came with.
fn public_base(p: &Proxy, call: &Call) -> String {
    if let Some(u) = &p.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = call
        .parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// Asks for a threshold check after a call settled. Checks run one at a time per proxy, off the
/// call's path; calls settling meanwhile are folded into the next one. The check itself is
/// decided by the ledger (its total, every proxy writing it counted), so several proxies
/// alert once per crossing between them.
fn check_thresholds(p: &Arc<Proxy>, reported: Option<u64>) {
    if p.config.thresholds.is_empty() {
        return;
    }
    if let Some(r) = reported {
        *lock(&p.last_reported) = Some(r);
    }
    p.check_wanted.store(true, Ordering::SeqCst);
    if p.check_running.swap(true, Ordering::SeqCst) {
        return;
    }
    let p = p.clone();
    tokio::spawn(async move {
        loop {
            if !p.check_wanted.swap(false, Ordering::SeqCst) {
                p.check_running.store(false, Ordering::SeqCst);
                // A call that settled between the two stores would otherwise go unchecked.
                if p.check_wanted.load(Ordering::SeqCst)
                    && !p.check_running.swap(true, Ordering::SeqCst)
                {
                    continue;
                }
                break;
            }
            let check = creditops_store::ledger::CrossingCheck {
                now_ms: p.config.clock.now_ms(),
                limit: p.config.limits.as_ref().map(|l| l.daily_limit),
                reported_remaining: lock(&p.last_reported).take(),
                thresholds: p.config.thresholds.clone(),
            };
            match p.writer.crossings(check).await {
                Ok(c) => {
                    if let Some(limit) = c.limit {
                        for t in c.fired {
                            notify(&p, t, c.used, limit);
                        }
                    }
                }
                Err(e) => tracing::error!("proxy: threshold check: {e}"),
            }
        }
    });
}

/// Posts an alert to `[alerts] post_url`, when there is one (off the caller's path).
fn post_alert(p: &Proxy, body: Value) {
    if let Some(url) = p.config.alert_post_url.clone() {
        let http = p.http.clone();
        tokio::spawn(async move {
            if let Err(e) = http.post(&url).json(&body).send().await {
                tracing::warn!("alert post failed: {}", e.without_url());
            }
        });
    }
}

fn notify(p: &Arc<Proxy>, threshold: u32, used: u64, limit: u64) {
    let message =
        format!("Zoho API credits at {threshold}%: {used} of {limit} used in the last 24 h");
    tracing::warn!("{message}");
    post_alert(
        p,
        json!({"threshold": threshold, "used": used, "limit": limit, "message": message}),
    );
    if p.config.desktop_alerts {
        // notify-send where the desktop has it; nothing to do where it has not.
        let _ = std::process::Command::new("notify-send")
            .args(["creditops", &message])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

//! Sends a plan to a target through an in-process metering proxy, so what the target charges is
//! counted in the ledger by the same code that meters every other integration.
//!
//! Levels run one after another. Within a level, steps that share a module run in plan order
//! (a chain); chains run concurrently within the edition's concurrency and sub-concurrency
//! (a composite holds five slots). A 429 is retried with backoff (Retry-After when given); it
//! is not charged. `@{call}` references are replaced by the id the referenced call created.
//! Bulk Write steps upload a ZIP of CSV, create the job with a callback to a loopback listener,
//! and wait for that callback: no polling, so the job costs what the plan says. A mass update
//! answers a job, not records: its status is read once (the plan prices that read) to learn
//! how many records it updated.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use creditops_core::credits::Call;
use creditops_core::planner::plan::{Plan, Rule, Step, StepKind};
use creditops_core::planner::queue::QueuedCall;
use creditops_core::planner::request::{self, Request};
use creditops_core::secret::Secret;

/// Where and how to send.
#[derive(Clone)]
pub struct SendOptions {
    /// The API base the proxy forwards to (a sandbox, or a profile's endpoint).
    pub upstream: String,
    pub token: Secret,
    /// The target is a creditops sandbox: its own count is read before and after.
    pub sandbox: bool,
    pub ledger: creditops_store::db::Location,
    pub concurrency: u32,
    pub sub_concurrency: u32,
    /// `X-Integration` the ledger records these calls under.
    pub integration: String,
    /// What is retried (`crate::retry`: 429s and refused connections; never a write that may
    /// have reached the target).
    pub retry: crate::retry::RetryPolicy,
    /// How long a Bulk Write may take before its callback.
    pub bulk_timeout: Duration,
    /// A callback base the target can reach; None: a loopback listener (local targets only).
    pub callback_base: Option<String>,
    /// The credit model the metering proxy prices with (the user's overrides included).
    pub model: creditops_core::credits::CreditModel,
    /// Told `(steps done, steps in all)` as steps finish (the CLI draws progress with it).
    pub progress: Option<Progress>,
}

/// A progress callback: `(steps done, steps in all)`.
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

impl std::fmt::Debug for SendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOptions")
            .field("upstream", &self.upstream)
            .field("sandbox", &self.sandbox)
            .field("integration", &self.integration)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl SendOptions {
    pub fn new(
        upstream: &str,
        token: Secret,
        ledger: impl Into<creditops_store::db::Location>,
    ) -> SendOptions {
        SendOptions {
            upstream: upstream.trim_end_matches('/').to_string(),
            token,
            sandbox: false,
            ledger: ledger.into(),
            concurrency: 5,
            sub_concurrency: 10,
            integration: "creditops-send".into(),
            retry: crate::retry::RetryPolicy {
                attempts: 6,
                ..Default::default()
            },
            bulk_timeout: Duration::from_secs(120),
            callback_base: None,
            model: creditops_core::credits::CreditModel::default(),
            progress: None,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepResult {
    pub step: usize,
    pub ids: Vec<String>,
    pub rule: Option<String>,
    pub method: String,
    pub path: String,
    /// Final HTTP status (0: not sent).
    pub status: u16,
    pub predicted_credits: u32,
    /// Credits the ledger charged this step's calls.
    pub charged_credits: u64,
    pub attempts: u32,
    pub records: u32,
    pub failed_records: u32,
    /// What went wrong: the step's error, or a summary of its failed records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each failed record (or call) with Zoho's code and message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
}

/// One record (or call) the target refused.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// The queued call the record came from.
    pub call: String,
    pub code: String,
    pub message: String,
    /// The field Zoho named, if any (`details.api_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl std::fmt::Display for Failure {
    /// `MANDATORY_NOT_FOUND required field not found (Last_Name)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)?;
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        Ok(())
    }
}

impl Failure {
    fn of(call: &str, answer: &Value) -> Failure {
        let text = |k: &str| answer.get(k).and_then(Value::as_str).map(String::from);
        Failure {
            call: call.to_string(),
            code: text("code").unwrap_or_else(|| "ERROR".into()),
            message: text("message").unwrap_or_default(),
            field: answer
                .pointer("/details/api_name")
                .and_then(Value::as_str)
                .map(String::from),
        }
    }
}

/// The outcome of a send.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    pub predicted_credits: u64,
    pub charged_credits: u64,
    pub sandbox_charged_credits: Option<u64>,
    pub calls: u64,
    pub failed_records: u64,
    pub failed_steps: u64,
    pub elapsed_ms: u64,
    pub steps: Vec<StepResult>,
}

/// Ids records got from the calls that created them (`@{call}` → id).
type Created = Arc<Mutex<HashMap<String, String>>>;

struct Runner {
    http: reqwest::Client,
    base: String,
    opts: SendOptions,
    created: Created,
    slots: Semaphore,
    sub_slots: Semaphore,
    callbacks: Option<Callbacks>,
    /// HTTP calls made (tries included).
    calls: std::sync::atomic::AtomicU64,
}

struct Callbacks {
    url: String,
    waiting: Waiting,
    _server: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends `plan` (made from `queue`) to `opts.upstream` and reports predicted against charged
/// credits.
pub async fn send(plan: &Plan, queue: &[QueuedCall], opts: SendOptions) -> anyhow::Result<Report> {
    let by_id: HashMap<&str, &QueuedCall> = queue.iter().map(|c| (&*c.id, c)).collect();
    let requests: Vec<Result<Request, String>> = plan
        .steps
        .iter()
        .map(|s| request::build(s, |id| by_id.get(id).copied()))
        .collect();
    let started = Instant::now();
    let since_ms = chrono::Utc::now().timestamp_millis();
    let mut proxy_cfg = crate::proxy::ProxyConfig::new(&opts.upstream, opts.ledger.clone());
    proxy_cfg.model = opts.model.clone();
    let proxy = crate::proxy::spawn(proxy_cfg, "127.0.0.1:0".parse()?).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let sandbox_before = if opts.sandbox {
        Some(sandbox_used(&http, &opts.upstream).await?)
    } else {
        None
    };
    let needs_bulk = plan.steps.iter().any(|s| s.kind == StepKind::BulkWrite);
    let callbacks = if needs_bulk {
        Some(callbacks(opts.callback_base.clone()).await?)
    } else {
        None
    };
    let runner = Arc::new(Runner {
        http: http.clone(),
        base: proxy.base_url(),
        created: Arc::new(Mutex::new(HashMap::new())),
        slots: Semaphore::new(opts.concurrency.max(1) as usize),
        sub_slots: Semaphore::new(opts.sub_concurrency.max(1) as usize),
        callbacks,
        calls: std::sync::atomic::AtomicU64::new(0),
        opts,
    });
    let mut results: Vec<Option<StepResult>> = vec![None; plan.steps.len()];
    // Steps by level, in plan order.
    let mut levels: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in plan.steps.iter().enumerate() {
        if s.kind == StepKind::Removed {
            results[i] = Some(blank_result(i, s));
        } else {
            levels.entry(s.level).or_default().push(i);
        }
    }
    for (_, steps) in levels {
        let mut set = tokio::task::JoinSet::new();
        for chain in chains(&plan.steps, &requests, &steps) {
            let runner = runner.clone();
            let chain_steps: Vec<(usize, Step, Result<Request, String>)> = chain
                .iter()
                .map(|&i| (i, plan.steps[i].clone(), requests[i].clone()))
                .collect();
            set.spawn(async move {
                let mut out = Vec::new();
                for (i, s, r) in chain_steps {
                    out.push((i, runner.run_step(i, &s, r).await));
                }
                out
            });
        }
        while let Some(done) = set.join_next().await {
            for (i, r) in done? {
                results[i] = Some(r);
            }
            if let Some(p) = &runner.opts.progress {
                p(results.iter().flatten().count(), results.len());
            }
        }
    }
    // The proxy committed every answered call before answering; read what it charged.
    let ledger = creditops_store::ledger::Ledger::open(&runner.opts.ledger)?;
    let (charged, _) = ledger.charged_to(&runner.opts.integration, since_ms)?;
    let steps: Vec<StepResult> = results.into_iter().flatten().collect();
    let sandbox_charged = match sandbox_before {
        // Saturating: charges older than 24 h may leave the window while the plan runs.
        Some(before) => Some(
            sandbox_used(&http, &runner.opts.upstream)
                .await?
                .saturating_sub(before),
        ),
        None => None,
    };
    proxy.shutdown().await;
    Ok(Report {
        target: runner.opts.upstream.clone(),
        predicted_credits: plan.credits_after,
        charged_credits: charged,
        sandbox_charged_credits: sandbox_charged,
        calls: runner.calls.load(std::sync::atomic::Ordering::Relaxed),
        failed_records: steps.iter().map(|s| u64::from(s.failed_records)).sum(),
        failed_steps: steps.iter().filter(|s| s.error.is_some()).count() as u64,
        elapsed_ms: started.elapsed().as_millis() as u64,
        steps,
    })
}

/// A step's result before anything is sent (all a removed step reports).
fn blank_result(i: usize, s: &Step) -> StepResult {
    StepResult {
        step: i,
        ids: s.ids.iter().map(|i| i.to_string()).collect(),
        rule: s.rule.map(|r| r.name().to_string()),
        method: s.method.to_string(),
        path: s.path.to_string(),
        status: 0,
        predicted_credits: 0,
        charged_credits: 0,
        attempts: 0,
        records: 0,
        failed_records: 0,
        error: None,
        failures: Vec::new(),
    }
}

async fn sandbox_used(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let v: Value = http
        .get(format!("{base}/__sandbox/usage"))
        .send()
        .await?
        .json()
        .await?;
    v.get("used")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow::anyhow!("{base}/__sandbox/usage has no `used`"))
}

/// The modules a step touches (a composite: all of its sub-requests').
fn modules_of(s: &Step, r: Option<&Request>) -> Vec<String> {
    let module = |path: &str| {
        let segs = creditops_core::credits::table::normalise_path(path);
        match segs.as_slice() {
            [crm, _, m, ..] if crm == "crm" => Some(m.clone()),
            _ => None,
        }
    };
    let body = r.and_then(|r| r.body.as_ref());
    if s.path.ends_with("__composite_requests") {
        let subs = body
            .and_then(|b| b.get("__composite_requests"))
            .and_then(Value::as_array);
        return subs
            .into_iter()
            .flatten()
            .filter_map(|sub| module(sub.get("uri")?.as_str()?))
            .collect();
    }
    if s.kind == StepKind::BulkWrite {
        let m = body.and_then(|b| b.get("module")).and_then(Value::as_str);
        return m.map(String::from).into_iter().collect();
    }
    if s.path.ends_with("/coql") {
        return vec!["coql".into()];
    }
    module(&s.path).into_iter().collect()
}

/// Splits a level's steps into chains: steps sharing a module (transitively) form one chain,
/// kept in plan order.
fn chains(all: &[Step], requests: &[Result<Request, String>], steps: &[usize]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..steps.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (k, &i) in steps.iter().enumerate() {
        for m in modules_of(&all[i], requests[i].as_ref().ok()) {
            match owner.get(&m) {
                Some(&o) => {
                    let (a, b) = (find(&mut parent, o), find(&mut parent, k));
                    if a != b {
                        parent[b.max(a)] = a.min(b);
                    }
                }
                None => {
                    owner.insert(m, k);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (k, &i) in steps.iter().enumerate() {
        let root = find(&mut parent, k);
        groups.entry(root).or_default().push(i);
    }
    groups.into_values().collect()
}

/// Replaces every `@{call}` in strings (a whole value, or a path segment) by the id that call
/// created; the first missing one is named.
fn resolve(v: &mut Value, created: &HashMap<String, String>) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains("@{") => {
            *s = resolve_str(s, created)?;
            Ok(())
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve(x, created)),
        Value::Object(o) => o.values_mut().try_for_each(|x| resolve(x, created)),
        _ => Ok(()),
    }
}

fn resolve_str(s: &str, created: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("@{") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let Some(end) = tail.find('}') else {
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name = &tail[..end];
        match created.get(name) {
            Some(id) => out.push_str(id),
            None => return Err(format!("`@{{{name}}}` names a call that created no record")),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Removes the records of `data` (or sub-requests of a composite) whose `@{call}` references
/// are unresolved, keeping `step.ids`/`spans` in line; how many records were removed.
fn drop_unresolved(body: &mut Value, step: &mut Step, created: &HashMap<String, String>) -> u32 {
    let ok = |v: &Value| {
        let mut v = v.clone();
        resolve(&mut v, created).is_ok()
    };
    if let Some(subs) = body
        .get_mut("__composite_requests")
        .and_then(Value::as_array_mut)
    {
        let mut dropped = 0;
        let mut k = 0;
        subs.retain(|sub| {
            let keep = ok(sub);
            if !keep {
                dropped += step.spans.get(k).copied().unwrap_or(0).max(1);
                step.ids.remove(k);
                if k < step.spans.len() {
                    step.spans.remove(k);
                }
            } else {
                k += 1;
            }
            keep
        });
        return dropped;
    }
    let Some(data) = body.get_mut("data").and_then(Value::as_array_mut) else {
        if !ok(body) {
            step.ids.clear();
            return step.records.max(1);
        }
        return 0;
    };
    let spans = if step.spans.is_empty() {
        vec![data.len() as u32]
    } else {
        step.spans.clone()
    };
    let mut kept = Vec::with_capacity(data.len());
    let (mut ids, mut new_spans) = (Vec::new(), Vec::new());
    let mut dropped = 0;
    let mut at = 0usize;
    for (k, n) in spans.iter().enumerate() {
        let n = *n as usize;
        let part: Vec<Value> = data
            .get(at..(at + n).min(data.len()))
            .unwrap_or_default()
            .to_vec();
        at += n;
        if part.iter().all(ok) {
            kept.extend(part);
            if let Some(id) = step.ids.get(k) {
                ids.push(id.clone());
            }
            new_spans.push(n as u32);
        } else {
            dropped += n as u32;
        }
    }
    *data = kept;
    step.ids = ids;
    step.spans = new_spans;
    dropped
}

fn record_ok(r: &Value) -> bool {
    r.get("status").and_then(Value::as_str) == Some("success")
}

fn created_id(r: &Value) -> Option<String> {
    record_ok(r)
        .then(|| {
            r.pointer("/details/id")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .flatten()
}

impl Runner {
    async fn run_step(
        &self,
        index: usize,
        step: &Step,
        request: Result<Request, String>,
    ) -> StepResult {
        let mut result = blank_result(index, step);
        result.predicted_credits = step.credits;
        result.records = step.records;
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                result.error = Some(e);
                result.failed_records = step.records;
                return result;
            }
        };
        let slots = if step.path.ends_with("__composite_requests") {
            5
        } else {
            1
        };
        let price = self.opts.model.table.price(&Call {
            method: &request.method,
            path: &request.path,
            query: &request.query,
            body: request.body.as_ref(),
        });
        let needs_sub = price.as_ref().is_ok_and(|p| p.sub_concurrency);
        let slots = slots.min(self.opts.concurrency.max(1));
        let _permit = self.slots.acquire_many(slots).await;
        let _sub = if needs_sub {
            Some(self.sub_slots.acquire().await)
        } else {
            None
        };
        let outcome = if step.kind == StepKind::BulkWrite {
            self.bulk(index, &request, &mut result).await
        } else if step.rule == Some(Rule::MassUpdate) {
            self.mass_update(index, step, &request, &mut result).await
        } else {
            self.call(index, step, &request, &mut result).await
        };
        if let Err(e) = outcome {
            result.error = Some(e);
            if result.failed_records == 0 {
                result.failed_records = step.records;
            }
        }
        if result.error.is_none() && result.failed_records > 0 {
            let first = result.failures.first();
            result.error = Some(format!(
                "{} of {} record(s) failed{}",
                result.failed_records,
                result.records.max(result.failed_records),
                first.map(|f| format!(": {f}")).unwrap_or_default()
            ));
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    /// Sends one request with backoff on 429/5xx: the final status, JSON body, and the credits
    /// the proxy charged over all tries.
    async fn send(
        &self,
        index: usize,
        method: &str,
        path: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: Option<&Value>,
        result: &mut StepResult,
    ) -> Result<(u16, Value), String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let policy = self.opts.retry;
        loop {
            result.attempts += 1;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .query(query)
                .header(
                    "Authorization",
                    format!("Zoho-oauthtoken {}", self.opts.token.expose()),
                )
                .header("X-Integration", &self.opts.integration);
            for (k, v) in headers {
                if !k.eq_ignore_ascii_case("x-integration")
                    && !k.eq_ignore_ascii_case("authorization")
                {
                    req = req.header(k, v);
                }
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let outcome = crate::retry::Outcome::of_error(&e);
                    if policy.retries(method.as_str(), outcome, result.attempts) {
                        tokio::time::sleep(policy.wait(result.attempts, None)).await;
                        continue;
                    }
                    return Err(match outcome {
                        crate::retry::Outcome::NotConnected => {
                            format!("not sent: no connection ({e})")
                        }
                        _ if !crate::retry::is_read(method.as_str()) => format!(
                            "the call may have reached the target and was not retried (a write could land twice): {e}"
                        ),
                        _ => format!("request failed: {e}"),
                    });
                }
            };
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            let retry_after = header("retry-after");
            result.charged_credits += header("x-creditops-charged").unwrap_or(0);
            let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if policy.retries(
                method.as_str(),
                crate::retry::Outcome::Status(status),
                result.attempts,
            ) {
                let wait = policy.wait(result.attempts, retry_after.map(Duration::from_secs));
                tracing::info!("send: step {index} answered {status}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok((status, v));
        }
    }

    async fn call(
        &self,
        index: usize,
        step: &Step,
        request: &Request,
        result: &mut StepResult,
    ) -> Result<(), String> {
        let created = lock(&self.created).clone();
        let path = resolve_str(&request.path, &created)?;
        let mut query = request.query.clone();
        for (_, v) in query.iter_mut() {
            if v.contains("@{") {
                *v = resolve_str(v, &created)?;
            }
        }
        let mut body = request.body.clone();
        // A record (or sub-request) naming a call that created nothing fails alone, as it
        // would have when queued; the rest of the step is sent.
        let mut sent = step.clone();
        if let Some(b) = body.as_mut() {
            let dropped = drop_unresolved(b, &mut sent, &created);
            if dropped > 0 {
                result.failed_records += dropped;
                result.error = Some(format!(
                    "{dropped} record(s) name a call that created no record"
                ));
            }
            if sent.ids.is_empty() {
                return Ok(());
            }
            resolve(b, &created)?;
        }
        let (status, answer) = self
            .send(
                index,
                &request.method,
                &path,
                &query,
                &request.headers,
                body.as_ref(),
                result,
            )
            .await?;
        result.status = status;
        self.account(&sent, status, &answer, result);
        Ok(())
    }

    /// Counts failed records and remembers created ids, per covered call.
    fn account(&self, step: &Step, status: u16, answer: &Value, result: &mut StepResult) {
        let per_record = answer.get("data").is_some_and(Value::is_array)
            || answer
                .get("__composite_requests")
                .is_some_and(Value::is_array);
        if status >= 400 && !per_record {
            let f = Failure::of("", answer);
            result.error = Some(format!("{status} {}: {}", f.code, f.message));
            result.failed_records = step.records;
            for id in &step.ids {
                result.failures.push(Failure::of(id, answer));
            }
            return;
        }
        if let Some(subs) = answer.get("__composite_requests").and_then(Value::as_array) {
            for (k, sub) in subs.iter().enumerate() {
                let id = step.ids.get(k).cloned().unwrap_or_default();
                let records = step.spans.get(k).copied().unwrap_or(0);
                let body = sub
                    .pointer("/details/response/body")
                    .unwrap_or(&Value::Null);
                let data = body.get("data").and_then(Value::as_array);
                match data {
                    Some(d) if records > 0 => {
                        let failed: Vec<&Value> = d.iter().filter(|r| !record_ok(r)).collect();
                        result.failed_records += (failed.len() as u32).min(records);
                        for r in failed {
                            result.failures.push(Failure::of(&id, r));
                        }
                        if let Some(cid) = d.first().and_then(created_id) {
                            lock(&self.created).insert(id.to_string(), cid);
                        }
                    }
                    _ if sub.get("status").and_then(Value::as_str) != Some("success") => {
                        result.failed_records += records.max(1);
                        result.failures.push(Failure::of(&id, sub));
                    }
                    _ => {}
                }
            }
            return;
        }
        let Some(data) = answer.get("data").and_then(Value::as_array) else {
            return;
        };
        if step.records == 0 {
            return;
        }
        let mut at = 0usize;
        let spans: Vec<u32> = if step.spans.is_empty() {
            vec![step.records]
        } else {
            step.spans.clone()
        };
        for (k, n) in spans.iter().enumerate() {
            let n = *n as usize;
            let part = data.get(at..(at + n).min(data.len())).unwrap_or_default();
            let id = step.ids.get(k).map_or("", |i| &**i);
            for r in part.iter().filter(|r| !record_ok(r)) {
                result.failed_records += 1;
                result.failures.push(Failure::of(id, r));
            }
            if let (Some(id), Some(cid)) = (step.ids.get(k), part.first().and_then(created_id)) {
                lock(&self.created).insert(id.to_string(), cid);
            }
            at += n;
        }
    }

    /// A mass update answers a job, not records: the job's status (read once, as the plan
    /// priced it) says how many records it updated. Zoho names no record it did not update,
    /// so those are reported as a count on the step.
    async fn mass_update(
        &self,
        index: usize,
        step: &Step,
        request: &Request,
        result: &mut StepResult,
    ) -> Result<(), String> {
        let (status, answer) = self
            .send(
                index,
                &request.method,
                &request.path,
                &request.query,
                &request.headers,
                request.body.as_ref(),
                result,
            )
            .await?;
        result.status = status;
        let entry = match answer.get("data") {
            Some(Value::Array(a)) => a.first().unwrap_or(&Value::Null),
            Some(one) => one,
            None => &answer,
        };
        let job = entry
            .pointer("/details/job_id")
            .and_then(Value::as_str)
            .filter(|_| status < 300);
        let Some(job) = job else {
            // Refused as a whole (a value no record takes, too many ids …): every record failed.
            let f = Failure::of("", entry);
            result.error = Some(format!("{status} {}: {}", f.code, f.message));
            result.failed_records = step.records;
            for id in &step.ids {
                result.failures.push(Failure::of(id, entry));
            }
            return Ok(());
        };
        let query = [("job_id".to_string(), job.to_string())];
        let (st, report) = self
            .send(
                index,
                "GET",
                &request.path,
                &query,
                &request.headers,
                None,
                result,
            )
            .await?;
        let done = report.pointer("/data/0").unwrap_or(&Value::Null);
        let count = |k: &str| done.get(k).and_then(Value::as_u64);
        let state = done.get("Status").and_then(Value::as_str).unwrap_or("");
        if st >= 300 || state != "COMPLETED" {
            return Err(format!(
                "mass update job {job} ran, but its status answered {st} {}: what it updated is not known",
                if state.is_empty() { "(no status)" } else { state }
            ));
        }
        let total = count("Total_Count").unwrap_or(u64::from(step.records));
        let updated = count("Updated_Count").unwrap_or(0);
        let failed = total.saturating_sub(updated);
        if failed > 0 {
            result.failed_records = u32::try_from(failed).unwrap_or(u32::MAX);
            result.failures.push(Failure {
                call: String::new(),
                code: "NOT_UPDATED".into(),
                message: format!(
                    "mass update job {job}: {failed} of {total} records not updated (Failed_Count {}, Not_Updated_Count {}); Zoho names no record",
                    count("Failed_Count").unwrap_or(0),
                    count("Not_Updated_Count").unwrap_or(0)
                ),
                field: None,
            });
        }
        Ok(())
    }

    async fn bulk(
        &self,
        index: usize,
        request: &Request,
        result: &mut StepResult,
    ) -> Result<(), String> {
        let Some(cb) = &self.callbacks else {
            return Err("no callback listener".into());
        };
        let body = request.body.as_ref().ok_or("bulk step without records")?;
        let module = body
            .get("module")
            .and_then(Value::as_str)
            .ok_or("bulk step without module")?;
        let operation = body
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or("insert");
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or("bulk step without data")?;
        let (zip, columns) = csv_zip(data).map_err(|e| format!("building the CSV: {e}"))?;
        let part = reqwest::multipart::Part::bytes(zip)
            .file_name(format!("{module}.zip"))
            .mime_str("application/zip")
            .map_err(|e| e.to_string())?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let up = self
            .http
            .post(format!("{}/crm/v8/upload", self.base))
            .header(
                "Authorization",
                format!("Zoho-oauthtoken {}", self.opts.token.expose()),
            )
            .header("X-Integration", &self.opts.integration)
            .header("feature", "bulk-write")
            .multipart(form)
            .send()
            .await
            .map_err(|e| format!("upload failed: {e}"))?;
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result.attempts += 1;
        result.charged_credits += up
            .headers()
            .get("x-creditops-charged")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let up_status = up.status().as_u16();
        let up: Value = up.json().await.unwrap_or(Value::Null);
        let file_id = up
            .pointer("/details/file_id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("upload answered {up_status}: {up}"))?
            .to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let key = format!("step{index}");
        lock(&cb.waiting).insert(key.clone(), tx);
        let mappings: Vec<Value> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"api_name": c, "index": i}))
            .collect();
        let mut job = json!({
            "operation": operation,
            "callback": {"url": format!("{}/bulk/{key}", cb.url), "method": "post"},
            "resource": [{"type": "data", "module": {"api_name": module}, "file_id": file_id,
                          "field_mappings": mappings}],
        });
        // Updates and upserts name the field that finds each row's record.
        if let Some(f) = body.get("find_by") {
            job["resource"][0]["find_by"] = f.clone();
        }
        let (status, answer) = self
            .send(
                index,
                "POST",
                "/crm/bulk/v8/write",
                &[],
                &[],
                Some(&job),
                result,
            )
            .await?;
        result.status = status;
        if status >= 300 {
            lock(&cb.waiting).remove(&key);
            return Err(format!("Bulk Write job refused ({status}): {answer}"));
        }
        let done = tokio::time::timeout(self.opts.bulk_timeout, rx)
            .await
            .map_err(|_| "no callback from the Bulk Write job in time".to_string())?
            .map_err(|_| "callback listener stopped".to_string())?;
        let file = done
            .pointer("/resource/0/file")
            .cloned()
            .unwrap_or(Value::Null);
        let skipped = file
            .get("skipped_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        result.failed_records = skipped as u32;
        if done.get("state").and_then(Value::as_str) != Some("COMPLETED") {
            return Err(format!(
                "Bulk Write job ended {}",
                done.get("state").unwrap_or(&Value::Null)
            ));
        }
        Ok(())
    }
}

/// A ZIP holding one CSV of `records` (columns in first-seen order).
fn csv_zip(records: &[Value]) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let mut columns: Vec<String> = Vec::new();
    for r in records {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&columns)?;
    for r in records {
        let row: Vec<String> = columns
            .iter()
            .map(|c| match r.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        w.write_record(&row)?;
    }
    let csv = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    z.start_file("records.csv", zip::write::SimpleFileOptions::default())?;
    z.write_all(&csv)?;
    z.finish()?;
    Ok((out.into_inner(), columns))
}

/// Waiters for Bulk Write callbacks, by key.
type Waiting = Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>>;

/// A loopback listener for Bulk Write callbacks (`POST /bulk/{key}`). A step registers its key
/// before it creates the job, so a callback always finds its waiter; one nobody waits for is
/// dropped.
async fn callbacks(base: Option<String>) -> anyhow::Result<Callbacks> {
    let waiting: Waiting = Arc::new(Mutex::new(HashMap::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let w = waiting.clone();
    let app = axum::Router::new().route(
        "/bulk/{key}",
        axum::routing::post(
            move |axum::extract::Path(key): axum::extract::Path<String>,
                  body: axum::body::Bytes| {
                let w = w.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if let Some(tx) = lock(&w).remove(&key) {
                        let _ = tx.send(v);
                    }
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Callbacks {
        url: base.unwrap_or_else(|| format!("http://{addr}")),
        waiting,
        _server: server,
    })
}

//! Rewrites a queue into the cheapest equivalent plan.
//!
//! Three passes, each linear in the queue:
//! 1. classify every call (write, delete, read by id, search, wide read, metadata, other) and
//!    decide the removals: identical GETs with no write in between (dedupe), repeated metadata GETs
//!    (cache), searches whose write follows on the same unique value (upsert);
//! 2. give every kept call a *level*: one more than the level of the latest earlier call it
//!    conflicts with (same record, a module-wide read or write, a reference to an id created
//!    earlier, a global barrier). Calls of one level are independent of each other;
//! 3. per level, group compatible calls (same module, operation and request shape) into batches
//!    of up to 100 records, bulk jobs, COQL queries by id, and pack what is left into composite
//!    requests of up to 5 sub-requests where that saves credits.
//!
//! Steps are emitted level by level, so any order of the steps within a level is equivalent;
//! the sender still keeps plan order for steps that share a module, which also keeps the order
//! of inserts carrying the same unique value.
//!
//! The lower bound runs the same passes with every ordering constraint relaxed (one level, every
//! duplicate removed): no plan built from these rules can cost less.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::queue::QueuedCall;
use crate::credits::table::normalise_path;
use crate::credits::{Call, CostTable};

/// A rewrite rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    Batch,
    Upsert,
    Dedupe,
    Cache,
    Composite,
    Bulk,
    Coql,
}

impl Rule {
    pub const ALL: [Rule; 7] = [
        Rule::Batch,
        Rule::Upsert,
        Rule::Dedupe,
        Rule::Cache,
        Rule::Composite,
        Rule::Bulk,
        Rule::Coql,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rule::Batch => "batch",
            Rule::Upsert => "upsert",
            Rule::Dedupe => "dedupe",
            Rule::Cache => "cache",
            Rule::Composite => "composite",
            Rule::Bulk => "bulk",
            Rule::Coql => "coql",
        }
    }

    /// One line for help screens.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Batch => "writes on one module → calls of up to 100 records",
            Rule::Upsert => "search-then-write on a unique value → one upsert",
            Rule::Dedupe => "identical GETs with no write in between → one",
            Rule::Cache => "repeated metadata GETs → answered by the cache",
            Rule::Composite => "small independent calls → composite requests of ≤ 5",
            Rule::Bulk => "very large write sets → a Bulk Write job with a callback",
            Rule::Coql => "many GETs by id on one module → one COQL query",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        Rule::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()))
    }
}

/// Which rules are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSet(u8);

impl RuleSet {
    pub fn all() -> RuleSet {
        RuleSet(0x7f)
    }
    pub fn none() -> RuleSet {
        RuleSet(0)
    }
    pub fn has(self, r: Rule) -> bool {
        self.0 & (1 << r as u8) != 0
    }
    pub fn set(&mut self, r: Rule, on: bool) {
        if on {
            self.0 |= 1 << r as u8;
        } else {
            self.0 &= !(1 << r as u8);
        }
    }
    pub fn toggle(&mut self, r: Rule) {
        self.set(r, !self.has(r));
    }
    /// `batch,upsert,…`: the rules named, and no others.
    pub fn parse(list: &str) -> Result<RuleSet, String> {
        let mut set = RuleSet::none();
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            let r = Rule::parse(name).ok_or_else(|| {
                format!(
                    "unknown rule `{}` (rules: {})",
                    name.trim(),
                    Rule::ALL.map(Rule::name).join(", ")
                )
            })?;
            set.set(r, true);
        }
        Ok(set)
    }
    pub fn names(self) -> Vec<&'static str> {
        Rule::ALL
            .into_iter()
            .filter(|r| self.has(*r))
            .map(Rule::name)
            .collect()
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// One HTTP call.
    Call,
    /// A Bulk Write job: upload a ZIP of CSV, create the job with a callback, wait for it.
    BulkWrite,
    /// Not sent: a rule made it unnecessary (credits 0).
    Removed,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The queued calls this step covers, in queue order.
    pub ids: Vec<String>,
    pub kind: StepKind,
    /// The rule that made this step; None when the call is sent as queued.
    pub rule: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    pub records: u32,
    pub credits: u32,
    /// Steps of one level are independent; level n runs after level n-1 finished.
    pub level: u32,
    /// Records each covered call contributes (writes), parallel to `ids`: how the sender maps
    /// a batch answer's `data[i]` back to the calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<u32>,
    /// Why a removed step is not sent, or what a rewrite did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A plan and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub calls_before: u64,
    pub credits_before: u64,
    pub calls_after: u64,
    pub credits_after: u64,
    pub lower_bound: u64,
    pub savings_by_rule: std::collections::BTreeMap<String, i64>,
    pub rules: Vec<String>,
    pub levels: u32,
    /// Credits each queued call costs as queued, parallel to the queue.
    pub call_credits: Vec<u32>,
    pub steps: Vec<Step>,
}

/// A module's API name, interned.
type ModId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    Insert,
    Update,
    Upsert,
    Delete,
}

impl WriteKind {
    fn method(self) -> &'static str {
        match self {
            WriteKind::Insert | WriteKind::Upsert => "POST",
            WriteKind::Update => "PUT",
            WriteKind::Delete => "DELETE",
        }
    }
    fn operation(self) -> &'static str {
        match self {
            WriteKind::Insert => "insert",
            WriteKind::Update => "update",
            WriteKind::Upsert => "upsert",
            WriteKind::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone)]
enum Class {
    /// Insert, update, upsert or delete of records of one module. `ids`: the records an
    /// update/delete names (ids or `@{call}` references).
    Write {
        module: ModId,
        kind: WriteKind,
        records: u32,
        ids: Vec<String>,
        /// Upsert's duplicate_check_fields, joined by `,`.
        check: String,
        /// Everything but the records (query, headers, other body keys): calls batch only with
        /// calls of the same shape.
        shape: String,
    },
    ReadId {
        module: ModId,
        id: String,
        fields: String,
    },
    /// A search on one `field = value` (criteria `(F:equals:V)`, or `email=`/`phone=`).
    Search {
        module: ModId,
        field: String,
        value: String,
    },
    /// A read of many records of a module (list, search, count, COQL).
    ReadWide {
        module: Option<ModId>,
    },
    Metadata,
    /// Anything that may change what any later call sees (metadata writes, unknown calls).
    Barrier,
    /// A call on one module the planner does not rewrite (convert, send mail, tags …).
    Other {
        module: ModId,
    },
}

struct Classified {
    class: Class,
    credits: u32,
    /// Price failed (LIMIT_EXCEEDED …): sent as queued.
    unpriceable: bool,
    refs: Vec<String>,
}

/// Per-module conflict state: the latest level of each kind of access (-1: none).
#[derive(Debug, Clone, Copy)]
struct ModState {
    wide_read: i64,
    any_read: i64,
    insert: i64,
    record_write: i64,
    upsert: i64,
    upsert_key: u64,
    wide_write: i64,
    writes: u64,
    /// Latest level of an insert setting a unique field's value.
    unique_insert: i64,
    /// Latest level of a call that may free a unique value (a delete, or an update that sets a
    /// unique field: the old value is unknown).
    unique_free: i64,
}

impl Default for ModState {
    fn default() -> Self {
        ModState {
            wide_read: -1,
            any_read: -1,
            insert: -1,
            record_write: -1,
            upsert: -1,
            upsert_key: 0,
            wide_write: -1,
            writes: 0,
            unique_insert: -1,
            unique_free: -1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct RecState {
    write: i64,
    read: i64,
    writes: u64,
}

/// The planner's inputs besides the queue.
pub struct Options<'a> {
    pub rules: RuleSet,
    pub table: &'a CostTable,
}

/// Fields Zoho keeps unique by default (the system duplicate checks). Writes that set them keep
/// their order where a batch could change which one wins.
const UNIQUE_FIELDS: &[(&str, &str)] = &[
    ("Leads", "Email"),
    ("Contacts", "Email"),
    ("Accounts", "Account_Name"),
    ("Products", "Product_Code"),
    ("Vendors", "Vendor_Name"),
];

/// Hashes of the unique-field values a write sets: `(module, field, value)`.
fn unique_values(module: &str, body: Option<&Value>) -> Vec<u64> {
    let fields: Vec<&str> = UNIQUE_FIELDS
        .iter()
        .filter(|(m, _)| *m == module)
        .map(|(_, f)| *f)
        .collect();
    if fields.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in data_array(body).map(Vec::as_slice).unwrap_or_default() {
        for f in &fields {
            if let Some(v) = r.get(*f).and_then(Value::as_str) {
                out.push(hash_str(&format!(
                    "{module}\u{1}{f}\u{1}{}",
                    v.to_ascii_lowercase()
                )));
            }
        }
    }
    out
}

fn has_unique_fields(module: &str) -> bool {
    UNIQUE_FIELDS.iter().any(|(m, _)| *m == module)
}

/// Rows one bulk job may carry (Zoho: 25,000 rows a CSV).
pub const BULK_MAX_ROWS: u32 = 25_000;
/// Ids one COQL `in (…)` takes.
pub const COQL_MAX_IDS: usize = 50;
/// Sub-requests of one composite call.
pub const COMPOSITE_MAX: usize = 5;
/// Records of one batch call.
pub const BATCH_MAX: u32 = 100;

/// Plans `queue`: the plan with its lower bound.
pub fn plan(queue: &[QueuedCall], opts: &Options<'_>) -> Plan {
    let mut modules = Interner::default();
    let classified: Vec<Classified> = queue
        .iter()
        .map(|c| classify(c, opts.table, &mut modules))
        .collect();
    let built = build(queue, &classified, &modules, opts, false);
    let bound = build(queue, &classified, &modules, opts, true);
    let credits_before: u64 = classified.iter().map(|c| u64::from(c.credits)).sum();
    let credits_after: u64 = built.steps.iter().map(|s| u64::from(s.credits)).sum();
    let calls_after: u64 = built
        .steps
        .iter()
        .map(|s| match s.kind {
            StepKind::Call => 1,
            StepKind::BulkWrite => 2,
            StepKind::Removed => 0,
        })
        .sum();
    let lower_bound: u64 = bound.steps.iter().map(|s| u64::from(s.credits)).sum();
    let mut savings = std::collections::BTreeMap::new();
    for s in &built.steps {
        if let Some(rule) = &s.rule {
            let before: u64 = s
                .ids
                .iter()
                .filter_map(|id| built.index.get(id.as_str()))
                .map(|&i| u64::from(classified[i].credits))
                .sum();
            *savings.entry(rule.clone()).or_insert(0i64) += before as i64 - i64::from(s.credits);
        }
    }
    Plan {
        calls_before: queue.len() as u64,
        credits_before,
        calls_after,
        credits_after,
        lower_bound: lower_bound.min(credits_after),
        savings_by_rule: savings,
        rules: opts.rules.names().into_iter().map(String::from).collect(),
        levels: built.levels,
        call_credits: classified.iter().map(|c| c.credits).collect(),
        steps: built.steps,
    }
}

/// The queue as it is: one step per call, each in a level of its own (strict queue order).
pub fn as_queued(queue: &[QueuedCall], table: &CostTable) -> Plan {
    let mut modules = Interner::default();
    let mut steps = Vec::with_capacity(queue.len());
    let mut credits = Vec::with_capacity(queue.len());
    for (i, c) in queue.iter().enumerate() {
        let cl = classify(c, table, &mut modules);
        credits.push(cl.credits);
        let mut s = passthrough(c, &cl, i as u32);
        s.spans = Vec::new();
        steps.push(s);
    }
    let total: u64 = credits.iter().map(|&c| u64::from(c)).sum();
    Plan {
        calls_before: queue.len() as u64,
        credits_before: total,
        calls_after: queue.len() as u64,
        credits_after: total,
        lower_bound: total,
        savings_by_rule: Default::default(),
        rules: Vec::new(),
        levels: queue.len() as u32,
        call_credits: credits,
        steps,
    }
}

#[derive(Default)]
struct Interner {
    ids: HashMap<String, ModId>,
    names: Vec<String>,
}

impl Interner {
    fn get(&mut self, name: &str) -> ModId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as ModId;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
    fn name(&self, id: ModId) -> &str {
        &self.names[id as usize]
    }
}

/// Zoho's reserved first segments after the version: not module names.
fn is_module(seg: &str) -> bool {
    !matches!(
        seg,
        "settings"
            | "org"
            | "users"
            | "coql"
            | "actions"
            | "upload"
            | "files"
            | "__composite_requests"
            | "__apis"
            | "__features"
            | "__notification"
    ) && !seg.starts_with("__")
}

fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn data_array(body: Option<&Value>) -> Option<&Vec<Value>> {
    body?.get("data")?.as_array()
}

/// Every `@{call}` inside a string.
fn refs_in(s: &str, out: &mut Vec<String>) {
    let mut rest = s;
    while let Some(at) = rest.find("@{") {
        let tail = &rest[at + 2..];
        let Some(end) = tail.find('}') else {
            return;
        };
        out.push(tail[..end].to_string());
        rest = &tail[end + 1..];
    }
}

/// `@{call}` references in a body (ids of records created by earlier calls).
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => refs_in(s, out),
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// `(Field:equals:value)`: the one condition of a search, when it is that simple.
fn equals_criterion(criteria: &str) -> Option<(String, String)> {
    let inner = criteria.trim().strip_prefix('(')?.strip_suffix(')')?;
    if inner.contains('(') || inner.contains(")and(") || inner.contains(")or(") {
        return None;
    }
    let (field, rest) = inner.split_once(':')?;
    let value = rest.strip_prefix("equals:")?;
    if field.is_empty() || value.is_empty() {
        return None;
    }
    Some((field.to_string(), value.to_string()))
}

/// The request's shape apart from its records: calls batch only with calls of equal shape.
fn shape_of(call: &QueuedCall, extra: &str) -> String {
    let mut s = String::new();
    for (k, v) in &call.query {
        if k != "ids" {
            s.push_str(k);
            s.push('=');
            s.push_str(v);
            s.push('&');
        }
    }
    s.push('|');
    for (k, v) in &call.headers {
        s.push_str(&k.to_ascii_lowercase());
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    if let Some(Value::Object(o)) = &call.body {
        for (k, v) in o {
            if k != "data" && k != "duplicate_check_fields" {
                s.push_str(k);
                s.push('=');
                s.push_str(&v.to_string());
                s.push(';');
            }
        }
    }
    s.push('|');
    s.push_str(extra);
    s
}

fn classify(call: &QueuedCall, table: &CostTable, modules: &mut Interner) -> Classified {
    let segs_owned = normalise_path(&call.path);
    let segs: Vec<&str> = segs_owned.iter().map(String::as_str).collect();
    let price = table.price_segments(&call.method, &segs, &call.query, call.body.as_ref());
    let mut refs = Vec::new();
    if let Some(b) = &call.body {
        collect_refs(b, &mut refs);
    }
    refs_in(&call.path, &mut refs);
    for (_, v) in &call.query {
        refs_in(v, &mut refs);
    }
    let (credits, unpriceable) = match &price {
        Ok(p) => (p.credits, false),
        Err(_) => (0, true),
    };
    let m = call.method.as_str();
    let class = if unpriceable {
        match segs.as_slice() {
            ["crm", _, module, ..] if is_module(module) => Class::Other {
                module: modules.get(module),
            },
            _ => Class::Barrier,
        }
    } else {
        classify_segments(call, m, &segs, modules)
    };
    Classified {
        class,
        credits,
        unpriceable,
        refs,
    }
}

fn classify_segments(call: &QueuedCall, m: &str, segs: &[&str], modules: &mut Interner) -> Class {
    let body = call.body.as_ref();
    let records = data_array(body).map_or(0, |d| d.len() as u32);
    let shape = |extra: &str| shape_of(call, extra);
    match (m, segs) {
        ("GET", ["crm", "v8", "settings", ..]) | ("GET", ["crm", "v8", "org"]) => Class::Metadata,
        ("GET", ["crm", "v8", "users", ..]) | ("GET", ["crm", "v8", "__apis"]) => {
            Class::ReadWide { module: None }
        }
        (_, ["crm", "v8", "settings", ..]) => Class::Barrier,
        ("POST", ["crm", "v8", "coql"]) => {
            let module = body
                .and_then(|b| b.get("select_query"))
                .and_then(Value::as_str)
                .and_then(coql_module)
                .map(|name| modules.get(&name));
            Class::ReadWide { module }
        }
        ("GET", ["crm", "v8", module, id]) if is_module(module) && is_record_id(id) => {
            Class::ReadId {
                module: modules.get(module),
                id: (*id).to_string(),
                fields: query_value(&call.query, "fields").unwrap_or("").to_string(),
            }
        }
        ("GET", ["crm", "v8", module, "search"]) if is_module(module) => {
            let q = &call.query;
            let criterion = match (
                query_value(q, "criteria"),
                query_value(q, "email"),
                query_value(q, "phone"),
            ) {
                (Some(c), None, None) => equals_criterion(c),
                (None, Some(e), None) => Some(("Email".to_string(), e.to_string())),
                (None, None, Some(p)) => Some(("Phone".to_string(), p.to_string())),
                _ => None,
            };
            let module = modules.get(module);
            match criterion {
                Some((field, value)) if q.len() == 1 => Class::Search {
                    module,
                    field,
                    value,
                },
                _ => Class::ReadWide {
                    module: Some(module),
                },
            }
        }
        ("GET", ["crm", "v8", module, ..]) if is_module(module) => Class::ReadWide {
            module: Some(modules.get(module)),
        },
        ("POST", ["crm", "v8", module]) if is_module(module) && records > 0 => Class::Write {
            module: modules.get(module),
            kind: WriteKind::Insert,
            records,
            ids: Vec::new(),
            check: String::new(),
            shape: shape(""),
        },
        ("PUT", ["crm", "v8", module]) if is_module(module) && records > 0 => {
            let data = data_array(body).map(Vec::as_slice).unwrap_or_default();
            let ids: Option<Vec<String>> = data.iter().map(record_id).collect();
            match ids {
                Some(ids) => Class::Write {
                    module: modules.get(module),
                    kind: WriteKind::Update,
                    records,
                    ids,
                    check: String::new(),
                    shape: shape(""),
                },
                None => Class::Other {
                    module: modules.get(module),
                },
            }
        }
        ("PUT", ["crm", "v8", module, id]) if is_module(module) && records == 1 => Class::Write {
            module: modules.get(module),
            kind: WriteKind::Update,
            records,
            ids: vec![(*id).to_string()],
            check: String::new(),
            shape: shape(""),
        },
        ("POST", ["crm", "v8", module, "upsert"]) if is_module(module) && records > 0 => {
            let check = body
                .and_then(|b| b.get("duplicate_check_fields"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            Class::Write {
                module: modules.get(module),
                kind: WriteKind::Upsert,
                records,
                ids: Vec::new(),
                shape: shape(&check),
                check,
            }
        }
        ("DELETE", ["crm", "v8", module]) if is_module(module) => {
            let ids: Vec<String> = query_value(&call.query, "ids")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if ids.is_empty() {
                Class::Other {
                    module: modules.get(module),
                }
            } else {
                Class::Write {
                    module: modules.get(module),
                    kind: WriteKind::Delete,
                    records: ids.len() as u32,
                    ids,
                    check: String::new(),
                    shape: shape(""),
                }
            }
        }
        ("DELETE", ["crm", "v8", module, id]) if is_module(module) && is_record_id(id) => {
            Class::Write {
                module: modules.get(module),
                kind: WriteKind::Delete,
                records: 1,
                ids: vec![(*id).to_string()],
                check: String::new(),
                shape: shape(""),
            }
        }
        (_, ["crm", "v8", module, ..]) if is_module(module) => Class::Other {
            module: modules.get(module),
        },
        _ => Class::Barrier,
    }
}

fn is_record_id(s: &str) -> bool {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        || (s.starts_with("@{") && s.ends_with('}'))
}

fn record_id(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn coql_module(q: &str) -> Option<String> {
    let lower = q.to_ascii_lowercase();
    let at = lower.find(" from ")?;
    q[at + 6..].split_whitespace().next().map(|s| {
        s.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
            .to_string()
    })
}

fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

struct Built {
    steps: Vec<Step>,
    levels: u32,
    index: HashMap<String, usize>,
}

/// What pass 1 decided for a call.
#[derive(Debug, Clone)]
enum Fate {
    Keep,
    /// Removed by `rule`; the note says why.
    Removed(Rule, String),
    /// A write turned into an upsert keyed on `field` (its search removed).
    Upsert(String),
}

fn build(
    queue: &[QueuedCall],
    classified: &[Classified],
    modules: &Interner,
    opts: &Options<'_>,
    relaxed: bool,
) -> Built {
    let n = queue.len();
    let rules = opts.rules;
    let mut index = HashMap::with_capacity(n);
    for (i, c) in queue.iter().enumerate() {
        index.insert(c.id.clone(), i);
    }

    // Pass 1: removals and upsert conversions.
    let mut fate: Vec<Fate> = vec![Fate::Keep; n];
    let mut mods: Vec<ModState> = vec![ModState::default(); modules.names.len()];
    let mut recs: HashMap<(ModId, &str), RecState> = HashMap::new();
    let mut global_writes: u64 = 0;
    let mut meta_writes: u64 = 0;
    // GET key → (first call, version of what it reads when first seen).
    let mut seen_gets: HashMap<String, (usize, u64)> = HashMap::new();
    // (module, field, value) → the search call and the module's write count then.
    let mut searches: HashMap<(ModId, &str, &str), (usize, u64)> = HashMap::new();
    for (i, (call, c)) in queue.iter().zip(classified).enumerate() {
        match &c.class {
            Class::Metadata
            | Class::ReadId { .. }
            | Class::ReadWide { .. }
            | Class::Search { .. } => {
                let version = match &c.class {
                    Class::Metadata => meta_writes.wrapping_add(global_writes << 32),
                    Class::ReadId { module, id, .. } => {
                        let m = &mods[*module as usize];
                        let r = recs.get(&(*module, id.as_str())).map_or(0, |r| r.writes);
                        r.wrapping_mul(1_000_003)
                            .wrapping_add(m.writes)
                            .wrapping_add(global_writes << 40)
                    }
                    Class::ReadWide { module: Some(m) } | Class::Search { module: m, .. } => {
                        mods[*m as usize].writes.wrapping_add(global_writes << 40)
                    }
                    _ => global_writes,
                };
                let is_meta = matches!(c.class, Class::Metadata);
                let rule = if is_meta { Rule::Cache } else { Rule::Dedupe };
                if rules.has(rule) && !c.unpriceable {
                    let key = get_key(call);
                    match seen_gets.get(&key) {
                        Some(&(first, v)) if relaxed || v == version => {
                            let why = if is_meta {
                                format!(
                                    "answered by the metadata cache (filled by {})",
                                    queue[first].id
                                )
                            } else {
                                format!("same answer as {}", queue[first].id)
                            };
                            fate[i] = Fate::Removed(rule, why);
                            continue;
                        }
                        _ => {
                            seen_gets.insert(key, (i, version));
                        }
                    }
                }
                if let Class::Search {
                    module,
                    field,
                    value,
                } = &c.class
                {
                    if rules.has(Rule::Upsert) {
                        searches.insert(
                            (*module, field.as_str(), value.as_str()),
                            (i, mods[*module as usize].writes),
                        );
                    }
                }
            }
            Class::Write {
                module, kind, ids, ..
            } => {
                if rules.has(Rule::Upsert)
                    && matches!(kind, WriteKind::Insert | WriteKind::Update)
                    && !searches.is_empty()
                {
                    if let Some(data) = data_array(call.body.as_ref()).filter(|d| d.len() == 1) {
                        let found = data[0].as_object().and_then(|rec| {
                            rec.iter().find_map(|(f, v)| {
                                let v = v.as_str()?;
                                let &(s, w) = searches.get(&(*module, f.as_str(), v))?;
                                let unchanged = relaxed || w == mods[*module as usize].writes;
                                (unchanged && matches!(fate[s], Fate::Keep)).then(|| (s, f.clone()))
                            })
                        });
                        if let Some((s, field)) = found {
                            fate[s] = Fate::Removed(
                                Rule::Upsert,
                                format!("folded into the upsert of {} keyed on {field}", call.id),
                            );
                            fate[i] = Fate::Upsert(field);
                        }
                    }
                }
                let m = &mut mods[*module as usize];
                m.writes += 1;
                for id in ids {
                    recs.entry((*module, id.as_str()))
                        .or_insert(RecState {
                            write: -1,
                            read: -1,
                            writes: 0,
                        })
                        .writes += 1;
                }
            }
            Class::Other { module } => mods[*module as usize].writes += 1,
            Class::Barrier => {
                global_writes += 1;
                if call.path.contains("/settings") {
                    meta_writes += 1;
                }
            }
        }
    }

    // Pass 2: levels.
    for m in mods.iter_mut() {
        *m = ModState::default();
    }
    recs.clear();
    let mut level: Vec<i64> = vec![-1; n];
    let mut value_level: HashMap<u64, i64> = HashMap::new();
    let mut barrier: i64 = -1;
    let mut max_level: i64 = -1;
    let mut meta_read: i64 = -1;
    for i in 0..n {
        if !matches!(fate[i], Fate::Keep | Fate::Upsert(_)) {
            continue;
        }
        if relaxed {
            level[i] = 0;
            continue;
        }
        let c = &classified[i];
        let mut l = barrier + 1;
        for r in &c.refs {
            if let Some(&j) = index.get(r.as_str()) {
                if j < i {
                    l = l.max(level[j] + 1);
                }
            }
        }
        let upsert_field = match &fate[i] {
            Fate::Upsert(f) => Some(f.as_str()),
            _ => None,
        };
        match &c.class {
            Class::Barrier => {
                l = l.max(max_level + 1);
                barrier = l;
                meta_read = meta_read.max(l);
            }
            Class::Metadata => {
                meta_read = meta_read.max(l);
            }
            Class::ReadWide { module: None } => {}
            Class::ReadWide { module: Some(m) } | Class::Search { module: m, .. } => {
                let s = &mut mods[*m as usize];
                l = l
                    .max(s.insert + 1)
                    .max(s.record_write + 1)
                    .max(s.upsert + 1)
                    .max(s.wide_write + 1);
                s.wide_read = s.wide_read.max(l);
                s.any_read = s.any_read.max(l);
            }
            Class::ReadId { module, id, .. } => {
                let s = &mut mods[*module as usize];
                l = l.max(s.upsert + 1).max(s.wide_write + 1);
                let r = recs.entry((*module, id.as_str())).or_insert(RecState {
                    write: -1,
                    read: -1,
                    writes: 0,
                });
                l = l.max(r.write + 1);
                r.read = r.read.max(l);
                s.any_read = s.any_read.max(l);
            }
            Class::Write {
                module,
                kind,
                ids,
                check,
                ..
            } => {
                let s = &mut mods[*module as usize];
                let kind = if upsert_field.is_some() {
                    WriteKind::Upsert
                } else {
                    *kind
                };
                l = l.max(s.wide_read + 1).max(s.wide_write + 1);
                // Unique values: two writes setting one value keep their order, and a write
                // setting one never passes a call that may free one (or the reverse).
                let mname = modules.name(*module);
                let values = if has_unique_fields(mname) && kind != WriteKind::Delete {
                    unique_values(mname, queue[i].body.as_ref())
                } else {
                    Vec::new()
                };
                for v in &values {
                    if let Some(&lv) = value_level.get(v) {
                        l = l.max(lv + 1);
                    }
                }
                match kind {
                    WriteKind::Insert if !values.is_empty() => l = l.max(s.unique_free + 1),
                    WriteKind::Update if !values.is_empty() => l = l.max(s.unique_insert + 1),
                    WriteKind::Delete if has_unique_fields(mname) => l = l.max(s.unique_insert + 1),
                    _ => {}
                }
                match kind {
                    WriteKind::Insert => {
                        l = l.max(s.upsert + 1);
                        s.insert = s.insert.max(l);
                        if !values.is_empty() {
                            s.unique_insert = s.unique_insert.max(l);
                        }
                    }
                    WriteKind::Update | WriteKind::Delete => {
                        l = l.max(s.upsert + 1);
                        for id in ids {
                            if let Some(r) = recs.get(&(*module, id.as_str())) {
                                l = l.max(r.write + 1).max(r.read + 1);
                            }
                        }
                        for id in ids {
                            let r = recs.entry((*module, id.as_str())).or_insert(RecState {
                                write: -1,
                                read: -1,
                                writes: 0,
                            });
                            r.write = r.write.max(l);
                        }
                        s.record_write = s.record_write.max(l);
                        if kind == WriteKind::Delete || !values.is_empty() {
                            s.unique_free = s.unique_free.max(l);
                        }
                    }
                    WriteKind::Upsert => {
                        let key = hash_str(upsert_field.unwrap_or(check));
                        l = l
                            .max(s.any_read + 1)
                            .max(s.insert + 1)
                            .max(s.record_write + 1);
                        if s.upsert_key == key || s.upsert < 0 {
                            l = l.max(s.upsert);
                        } else {
                            l = l.max(s.upsert + 1);
                        }
                        s.upsert = s.upsert.max(l);
                        s.upsert_key = key;
                    }
                }
                for v in values {
                    value_level.insert(v, l);
                }
            }
            Class::Other { module } => {
                let s = &mut mods[*module as usize];
                l = l
                    .max(s.any_read + 1)
                    .max(s.insert + 1)
                    .max(s.record_write + 1)
                    .max(s.upsert + 1)
                    .max(s.wide_write + 1);
                s.wide_write = l;
            }
        }
        if !matches!(c.class, Class::Barrier | Class::Metadata) {
            l = l.max(0);
        }
        if matches!(c.class, Class::Metadata) {
            l = l.max(0);
        }
        // Metadata reads wait for metadata writes (barriers) only.
        let _ = meta_read;
        level[i] = l;
        max_level = max_level.max(l);
    }

    // Pass 3: group per level.
    let levels = (max_level + 1).max(0) as usize;
    let mut by_level: Vec<Vec<u32>> = vec![Vec::new(); if relaxed { 1 } else { levels }];
    for i in 0..n {
        if level[i] >= 0 {
            by_level[level[i] as usize].push(i as u32);
        }
    }
    let mut steps: Vec<Step> = Vec::with_capacity(n / 4 + 16);
    let mut referenced: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for c in classified {
        referenced.extend(c.refs.iter().map(String::as_str));
    }
    let ctx = Ctx {
        queue,
        classified,
        modules,
        fate: &fate,
        referenced,
        table: opts.table,
        rules,
    };
    for (lv, calls) in by_level.iter().enumerate() {
        plan_level(&ctx, calls, lv as u32, &mut steps);
    }
    // Removed calls: a step of their own, costing nothing, in queue order at the end.
    for (i, f) in fate.iter().enumerate() {
        if let Fate::Removed(rule, why) = f {
            let call = &queue[i];
            steps.push(Step {
                ids: vec![call.id.clone()],
                kind: StepKind::Removed,
                rule: Some(rule.name().to_string()),
                method: call.method.clone(),
                path: call.path.clone(),
                query: call.query.clone(),
                headers: Vec::new(),
                body: None,
                records: 0,
                credits: 0,
                level: 0,
                spans: Vec::new(),
                note: Some(why.clone()),
            });
        }
    }
    Built {
        steps,
        levels: by_level.len() as u32,
        index,
    }
}

fn get_key(call: &QueuedCall) -> String {
    let mut q: Vec<&(String, String)> = call.query.iter().collect();
    q.sort();
    let mut k = String::with_capacity(call.path.len() + 32);
    k.push_str(&call.method);
    k.push(' ');
    k.push_str(&call.path);
    for (a, b) in q {
        k.push('&');
        k.push_str(a);
        k.push('=');
        k.push_str(b);
    }
    k
}

fn passthrough(call: &QueuedCall, c: &Classified, level: u32) -> Step {
    let records = match &c.class {
        Class::Write { records, .. } => *records,
        _ => 0,
    };
    Step {
        ids: vec![call.id.clone()],
        kind: StepKind::Call,
        rule: None,
        method: call.method.clone(),
        path: call.path.clone(),
        query: call.query.clone(),
        headers: call.headers.clone(),
        body: call.body.clone(),
        records,
        credits: c.credits,
        level,
        spans: if records > 0 {
            vec![records]
        } else {
            Vec::new()
        },
        note: None,
    }
}

/// What the per-level grouping reads.
struct Ctx<'a> {
    queue: &'a [QueuedCall],
    classified: &'a [Classified],
    modules: &'a Interner,
    fate: &'a [Fate],
    /// Calls whose created id a later call uses (`@{id}`): never in a bulk job (no ids back).
    referenced: std::collections::HashSet<&'a str>,
    table: &'a CostTable,
    rules: RuleSet,
}

impl Classified {
    fn records(&self) -> u32 {
        match &self.class {
            Class::Write { records, .. } => *records,
            _ => 0,
        }
    }
}

/// Compatible writes of one level: same module, operation and request shape, in queue order.
struct Group {
    module: ModId,
    kind: WriteKind,
    check: String,
    calls: Vec<u32>,
    records: u32,
}

/// How a group is sent: bulk jobs, or batches whose last may shed trailing calls to a composite.
struct GroupPlan {
    bulk: bool,
    chunks: Vec<Vec<u32>>,
    /// Trailing single-record calls of the last chunk that save a credit by leaving it.
    movable: usize,
    riding: bool,
}

fn plan_level(ctx: &Ctx<'_>, calls: &[u32], level: u32, steps: &mut Vec<Step>) {
    let rules = ctx.rules;
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<(ModId, u8, &str), usize> = HashMap::new();
    let mut reads: Vec<(ModId, &str, Vec<u32>)> = Vec::new();
    let mut read_of: HashMap<(ModId, &str), usize> = HashMap::new();
    // Calls sent one by one unless a composite takes them: (call, composite-eligible).
    let mut singles: Vec<(u32, bool)> = Vec::new();
    for &ci in calls {
        let i = ci as usize;
        let c = &ctx.classified[i];
        let upsert = matches!(ctx.fate[i], Fate::Upsert(_));
        match &c.class {
            Class::Write {
                module,
                kind,
                records,
                check,
                shape,
                ..
            } if !c.unpriceable && (rules.has(Rule::Batch) || rules.has(Rule::Bulk) || upsert) => {
                let (kind, check) = match &ctx.fate[i] {
                    Fate::Upsert(f) => (WriteKind::Upsert, f.as_str()),
                    _ => (*kind, check.as_str()),
                };
                let key = (
                    *module,
                    kind as u8,
                    if upsert { check } else { shape.as_str() },
                );
                let g = *group_of.entry(key).or_insert_with(|| {
                    groups.push(Group {
                        module: *module,
                        kind,
                        check: check.to_string(),
                        calls: Vec::new(),
                        records: 0,
                    });
                    groups.len() - 1
                });
                groups[g].calls.push(ci);
                groups[g].records += records;
            }
            Class::ReadId { module, fields, id }
                if rules.has(Rule::Coql) && coql_fields(fields) && is_plain_id(id) =>
            {
                let r = *read_of
                    .entry((*module, fields.as_str()))
                    .or_insert_with(|| {
                        reads.push((*module, fields.as_str(), Vec::new()));
                        reads.len() - 1
                    });
                reads[r].2.push(ci);
            }
            _ => singles.push((ci, composite_eligible(ctx, ci))),
        }
    }

    let mut out: Vec<(u32, Step)> = Vec::new();
    let mut plans: Vec<GroupPlan> = Vec::with_capacity(groups.len());
    for g in &groups {
        let bulk = rules.has(Rule::Bulk) && bulk_fits(ctx, g) && bulk_pays(ctx, g);
        if bulk || !(rules.has(Rule::Batch) || g.kind == WriteKind::Upsert) {
            if !bulk {
                singles.extend(g.calls.iter().map(|&c| (c, composite_eligible(ctx, c))));
            }
            plans.push(GroupPlan {
                bulk,
                chunks: vec![g.calls.clone()],
                movable: 0,
                riding: false,
            });
            continue;
        }
        // Greedy chunks of up to 100 records; a call is never split.
        let mut chunks: Vec<Vec<u32>> = Vec::new();
        let mut chunk: Vec<u32> = Vec::new();
        let mut chunk_records = 0;
        for &ci in &g.calls {
            let r = ctx.classified[ci as usize].records();
            if chunk_records + r > BATCH_MAX && !chunk.is_empty() {
                chunks.push(std::mem::take(&mut chunk));
                chunk_records = 0;
            }
            chunk.push(ci);
            chunk_records += r;
        }
        chunks.push(chunk);
        let movable = if rules.has(Rule::Composite) {
            let last = chunks.last().map(Vec::as_slice).unwrap_or_default();
            trailing_to_save(ctx, g, last)
        } else {
            0
        };
        plans.push(GroupPlan {
            bulk: false,
            chunks,
            movable,
            riding: false,
        });
    }

    for (module, fields, ids) in &reads {
        let mname = ctx.modules.name(*module);
        let mut rest: &[u32] = ids;
        // Five or fewer reads ride a composite more cheaply (shared with other calls).
        let min_coql = if rules.has(Rule::Composite) { 6 } else { 2 };
        while rest.len() >= min_coql {
            let take = rest.len().min(COQL_MAX_IDS);
            let s = coql_step(ctx, mname, fields, &rest[..take], level);
            out.push((rest[0], s));
            rest = &rest[take..];
        }
        singles.extend(rest.iter().map(|&c| (c, composite_eligible(ctx, c))));
    }

    // Composites: eligible singles ride when there are at least two slots; a group's movable
    // remainder rides when that lowers the level's total. For m remainders the best are the m
    // smallest, so trying m = 0..=R in that order finds the cheapest choice.
    let mut composite_calls: Vec<u32> = Vec::new();
    if rules.has(Rule::Composite) {
        let eligible: Vec<u32> = singles
            .iter()
            .filter(|(c, ok)| *ok && ctx.classified[*c as usize].credits >= 1)
            .map(|(c, _)| *c)
            .collect();
        let mut order: Vec<usize> = (0..plans.len()).filter(|&k| plans[k].movable > 0).collect();
        order.sort_by_key(|&k| plans[k].movable);
        let cost = |slots: usize, batches: usize| {
            let composite = if slots >= 2 {
                slots.div_ceil(COMPOSITE_MAX)
            } else {
                slots
            };
            composite + batches
        };
        let mut best_m = 0;
        let mut best = cost(eligible.len(), order.len());
        let mut slots = eligible.len();
        for (m, &k) in order.iter().enumerate() {
            slots += plans[k].movable;
            let c = cost(slots, order.len() - m - 1);
            if c < best {
                best = c;
                best_m = m + 1;
            }
        }
        let total: usize = eligible.len()
            + order[..best_m]
                .iter()
                .map(|&k| plans[k].movable)
                .sum::<usize>();
        if total >= 2 {
            composite_calls.extend(&eligible);
            for &k in &order[..best_m] {
                plans[k].riding = true;
            }
        }
    }
    for (g, p) in groups.iter().zip(plans.iter_mut()) {
        let module = ctx.modules.name(g.module);
        if p.bulk {
            for chunk in records_chunks(ctx, &g.calls, BULK_MAX_ROWS) {
                let s = bulk_step(ctx, g, module, &chunk, level);
                out.push((chunk[0], s));
            }
            continue;
        }
        if !(rules.has(Rule::Batch) || g.kind == WriteKind::Upsert) {
            continue;
        }
        let last = p.chunks.len() - 1;
        for (k, chunk) in p.chunks.iter().enumerate() {
            let mut cs: &[u32] = chunk;
            if k == last && p.riding {
                let keep = cs.len() - p.movable;
                composite_calls.extend(&cs[keep..]);
                cs = &cs[..keep];
            }
            if !cs.is_empty() {
                out.push((cs[0], batch_step(ctx, g, module, cs, level)));
            }
        }
    }
    let riding: std::collections::HashSet<u32> = composite_calls.iter().copied().collect();
    for &(ci, _) in &singles {
        if !riding.contains(&ci) {
            out.push((ci, single_step(ctx, ci, level)));
        }
    }
    out.sort_by_key(|(first, _)| *first);
    steps.extend(out.into_iter().map(|(_, s)| s));
    // Composites come last in the level: a remainder that left a batch still runs after it.
    composite_calls.sort_unstable();
    for chunk in composite_calls.chunks(COMPOSITE_MAX) {
        steps.push(composite_step(ctx, chunk, level));
    }
}

fn coql_fields(fields: &str) -> bool {
    !fields.is_empty()
        && fields.split(',').count() <= 50
        && fields
            .split(',')
            .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// A call that may be a composite sub-request: a record-level call carrying at most one record
/// (Zoho: a write sub-request carries one record; a read by id answers one).
fn composite_eligible(ctx: &Ctx<'_>, ci: u32) -> bool {
    let i = ci as usize;
    let c = &ctx.classified[i];
    if c.unpriceable {
        return false;
    }
    match &c.class {
        Class::Write { records, kind, .. } => {
            *records == 1
                && (*kind != WriteKind::Delete || ctx.queue[i].path.split('/').count() == 5)
        }
        Class::ReadId { .. } => ctx.queue[i].query.iter().all(|(k, _)| k == "fields"),
        _ => false,
    }
}

/// Credits of one call of `g`'s kind carrying `k` records, by the cost table.
fn group_cost(ctx: &Ctx<'_>, g: &Group, module: &str, k: u32) -> u32 {
    if k == 0 {
        return 0;
    }
    let (path, query, body) = match g.kind {
        WriteKind::Delete => (
            format!("/crm/v8/{module}"),
            vec![("ids".to_string(), vec!["1"; k as usize].join(","))],
            None,
        ),
        WriteKind::Upsert => (
            format!("/crm/v8/{module}/upsert"),
            Vec::new(),
            Some(json!({"data": vec![Value::Null; k as usize]})),
        ),
        _ => (
            format!("/crm/v8/{module}"),
            Vec::new(),
            Some(json!({"data": vec![Value::Null; k as usize]})),
        ),
    };
    ctx.table
        .price(&Call {
            method: g.kind.method(),
            path: &path,
            query: &query,
            body: body.as_ref(),
        })
        .map_or(k, |p| p.credits)
}

/// How many trailing single-record calls of `chunk` must leave it for the chunk to cost one
/// credit less (0: none can).
fn trailing_to_save(ctx: &Ctx<'_>, g: &Group, chunk: &[u32]) -> usize {
    let module = ctx.modules.name(g.module);
    let records: u32 = chunk
        .iter()
        .map(|&c| ctx.classified[c as usize].records())
        .sum();
    let full = group_cost(ctx, g, module, records);
    let mut left = records;
    for (t, &ci) in chunk.iter().rev().enumerate() {
        if !composite_eligible(ctx, ci) || t + 1 > COMPOSITE_MAX * 2 {
            return 0;
        }
        left -= 1;
        if group_cost(ctx, g, module, left) < full {
            return t + 1;
        }
    }
    0
}

fn bulk_fits(ctx: &Ctx<'_>, g: &Group) -> bool {
    g.kind == WriteKind::Insert
        && g.calls.iter().all(|&ci| {
            let i = ci as usize;
            let call = &ctx.queue[i];
            ctx.classified[i].refs.is_empty()
                && !ctx.referenced.contains(call.id.as_str())
                && call.query.is_empty()
                && data_array(call.body.as_ref()).is_some_and(|d| {
                    d.iter().all(|r| {
                        r.as_object()
                            .is_some_and(|o| o.values().all(|v| !(v.is_object() || v.is_array())))
                    })
                })
        })
}

/// A Bulk Write costs the job plus the upload; it pays when that is below the batches' cost.
fn bulk_pays(ctx: &Ctx<'_>, g: &Group) -> bool {
    let module = ctx.modules.name(g.module);
    let per_job = bulk_job_credits(ctx.table);
    let jobs = g.records.div_ceil(BULK_MAX_ROWS);
    let batches = (g.records / BATCH_MAX) * group_cost(ctx, g, module, BATCH_MAX)
        + group_cost(ctx, g, module, g.records % BATCH_MAX);
    u64::from(jobs) * u64::from(per_job) < u64::from(batches)
}

fn bulk_job_credits(table: &CostTable) -> u32 {
    let price = |method: &str, path: &str| {
        table
            .price(&Call {
                method,
                path,
                query: &[],
                body: None,
            })
            .map_or(1, |p| p.credits)
    };
    price("POST", "/crm/bulk/v8/write") + price("POST", "/crm/v8/upload")
}

fn records_chunks(ctx: &Ctx<'_>, calls: &[u32], max: u32) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut n = 0;
    for &ci in calls {
        let r = ctx.classified[ci as usize].records();
        if n + r > max && !chunk.is_empty() {
            out.push(std::mem::take(&mut chunk));
            n = 0;
        }
        chunk.push(ci);
        n += r;
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// The records of the calls, in order (an update by path id gets its `id`).
fn records_of(ctx: &Ctx<'_>, cs: &[u32]) -> (Vec<Value>, Vec<u32>) {
    let mut data = Vec::new();
    let mut spans = Vec::with_capacity(cs.len());
    for &ci in cs {
        let call = &ctx.queue[ci as usize];
        let recs = data_array(call.body.as_ref()).cloned().unwrap_or_default();
        spans.push(recs.len() as u32);
        if let Class::Write {
            kind: WriteKind::Update,
            ids,
            ..
        } = &ctx.classified[ci as usize].class
        {
            // PUT /{module}/{id}: the id lives in the path.
            for (mut r, id) in recs.into_iter().zip(ids.iter()) {
                if let Value::Object(o) = &mut r {
                    o.entry("id").or_insert_with(|| Value::from(id.clone()));
                }
                data.push(r);
            }
        } else {
            data.extend(recs);
        }
    }
    (data, spans)
}

fn ids_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<String> {
    cs.iter()
        .map(|&c| ctx.queue[c as usize].id.clone())
        .collect()
}

fn price_step(ctx: &Ctx<'_>, s: &Step) -> u32 {
    ctx.table
        .price(&Call {
            method: &s.method,
            path: &s.path,
            query: &s.query,
            body: s.body.as_ref(),
        })
        .map_or(0, |p| p.credits)
}

/// A body's keys other than the records (`trigger`, `wf_trigger` …), kept on the batch.
fn body_extras(call: &QueuedCall) -> Map<String, Value> {
    match &call.body {
        Some(Value::Object(o)) => o
            .iter()
            .filter(|(k, _)| k.as_str() != "data" && k.as_str() != "duplicate_check_fields")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Map::new(),
    }
}

fn batch_step(ctx: &Ctx<'_>, g: &Group, module: &str, cs: &[u32], level: u32) -> Step {
    let first = &ctx.queue[cs[0] as usize];
    let upsert_converted = cs
        .iter()
        .any(|&c| matches!(ctx.fate[c as usize], Fate::Upsert(_)));
    if cs.len() == 1 && !upsert_converted {
        return single_step(ctx, cs[0], level);
    }
    let rule = if upsert_converted {
        Rule::Upsert
    } else {
        Rule::Batch
    };
    let mut step = Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(rule.name().into()),
        method: g.kind.method().into(),
        path: format!("/crm/v8/{module}"),
        query: first
            .query
            .iter()
            .filter(|(k, _)| k != "ids")
            .cloned()
            .collect(),
        headers: first.headers.clone(),
        body: None,
        records: 0,
        credits: 0,
        level,
        spans: Vec::new(),
        note: None,
    };
    if g.kind == WriteKind::Delete {
        let mut ids = Vec::new();
        let mut spans = Vec::new();
        for &ci in cs {
            if let Class::Write { ids: i, .. } = &ctx.classified[ci as usize].class {
                spans.push(i.len() as u32);
                ids.extend(i.iter().cloned());
            }
        }
        step.query.push(("ids".into(), ids.join(",")));
        step.records = ids.len() as u32;
        step.spans = spans;
        step.note = Some(format!("{} deletes in one call", cs.len()));
    } else {
        let (data, spans) = records_of(ctx, cs);
        let mut body = body_extras(first);
        step.records = data.len() as u32;
        body.insert("data".into(), Value::Array(data));
        if g.kind == WriteKind::Upsert {
            step.path = format!("/crm/v8/{module}/upsert");
            if !g.check.is_empty() {
                let fields: Vec<Value> = g.check.split(',').map(Value::from).collect();
                body.insert("duplicate_check_fields".into(), Value::Array(fields));
            }
        }
        step.body = Some(Value::Object(body));
        step.spans = spans;
        step.note = Some(format!(
            "{} {} calls, {} records",
            cs.len(),
            g.kind.operation(),
            step.records
        ));
    }
    step.credits = price_step(ctx, &step);
    step
}

/// A call sent alone: as queued, or as the upsert its search turned it into.
fn single_step(ctx: &Ctx<'_>, ci: u32, level: u32) -> Step {
    let i = ci as usize;
    let mut step = passthrough(&ctx.queue[i], &ctx.classified[i], level);
    if let Fate::Upsert(field) = &ctx.fate[i] {
        to_upsert(&mut step, field);
        step.credits = price_step(ctx, &step);
    }
    step
}

/// Turns a one-record insert or update into an upsert keyed on `field`.
fn to_upsert(step: &mut Step, field: &str) {
    let module = step.path.split('/').nth(3).unwrap_or("").to_string();
    let mut body = match step.body.take() {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    if let Some(Value::Array(data)) = body.get_mut("data") {
        // PUT /{module}/{id}: the id moves into the record.
        if let Some(id) = step.path.split('/').nth(4) {
            if let Some(Value::Object(r)) = data.get_mut(0) {
                r.entry("id").or_insert_with(|| Value::from(id));
            }
        }
    }
    body.insert("duplicate_check_fields".into(), json!([field]));
    step.method = "POST".into();
    step.path = format!("/crm/v8/{module}/upsert");
    step.body = Some(Value::Object(body));
    step.rule = Some(Rule::Upsert.name().into());
    step.note = Some(format!("upsert keyed on {field} (its search removed)"));
}

fn coql_step(ctx: &Ctx<'_>, module: &str, fields: &str, cs: &[u32], level: u32) -> Step {
    let ids: Vec<&str> = cs
        .iter()
        .filter_map(|&c| match &ctx.classified[c as usize].class {
            Class::ReadId { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let query = format!(
        "select {fields} from {module} where id in ({}) limit {}",
        ids.join(","),
        ids.len().max(1)
    );
    let mut step = Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::Coql.name().into()),
        method: "POST".into(),
        path: "/crm/v8/coql".into(),
        query: Vec::new(),
        headers: ctx.queue[cs[0] as usize].headers.clone(),
        body: Some(json!({ "select_query": query })),
        records: 0,
        credits: 0,
        level,
        spans: Vec::new(),
        note: Some(format!("{} reads by id in one query", cs.len())),
    };
    step.credits = price_step(ctx, &step);
    step
}

fn bulk_step(ctx: &Ctx<'_>, g: &Group, module: &str, cs: &[u32], level: u32) -> Step {
    let (data, spans) = records_of(ctx, cs);
    let records = data.len() as u32;
    Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::BulkWrite,
        rule: Some(Rule::Bulk.name().into()),
        method: "POST".into(),
        path: "/crm/bulk/v8/write".into(),
        query: Vec::new(),
        headers: ctx.queue[cs[0] as usize].headers.clone(),
        body: Some(json!({"operation": g.kind.operation(), "module": module, "data": data})),
        records,
        credits: bulk_job_credits(ctx.table),
        level,
        spans,
        note: Some(format!(
            "upload + Bulk Write job of {records} rows, completion by callback"
        )),
    }
}

fn composite_step(ctx: &Ctx<'_>, cs: &[u32], level: u32) -> Step {
    let mut subs = Vec::with_capacity(cs.len());
    let mut spans = Vec::with_capacity(cs.len());
    for &ci in cs {
        let s = single_step(ctx, ci, level);
        let mut sub = Map::new();
        sub.insert("sub_request_id".into(), Value::from(s.ids[0].clone()));
        sub.insert("method".into(), Value::from(s.method.clone()));
        sub.insert("uri".into(), Value::from(s.path.clone()));
        if !s.query.is_empty() {
            let params: Map<String, Value> = s
                .query
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect();
            sub.insert("params".into(), Value::Object(params));
        }
        if let Some(b) = s.body {
            sub.insert("body".into(), b);
        }
        spans.push(s.records);
        subs.push(Value::Object(sub));
    }
    let mut step = Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::Composite.name().into()),
        method: "POST".into(),
        path: "/crm/v8/__composite_requests".into(),
        query: Vec::new(),
        headers: Vec::new(),
        body: Some(json!({
            "rollback_on_fail": false,
            "parallel_execution": false,
            "__composite_requests": subs,
        })),
        records: spans.iter().sum(),
        credits: 0,
        level,
        spans,
        note: Some(format!("{} sub-requests in order", cs.len())),
    };
    step.credits = price_step(ctx, &step);
    step
}

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

use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::queue::QueuedCall;
use crate::credits::table::normalise_path;
use crate::credits::{Call, CostTable};

/// Text a plan mostly takes from a fixed set (rule names, methods): borrowed, so a plan of a
/// million steps does not allocate two strings a step.
pub type Text = std::borrow::Cow<'static, str>;

fn method_text(m: &str) -> Text {
    match m {
        "GET" => Text::Borrowed("GET"),
        "POST" => Text::Borrowed("POST"),
        "PUT" => Text::Borrowed("PUT"),
        "PATCH" => Text::Borrowed("PATCH"),
        "DELETE" => Text::Borrowed("DELETE"),
        other => Text::Owned(other.to_string()),
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// One HTTP call.
    #[default]
    Call,
    /// A Bulk Write job: upload a ZIP of CSV, create the job with a callback, wait for it.
    BulkWrite,
    /// Not sent: a rule made it unnecessary (credits 0).
    Removed,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Step {
    /// The queued calls this step covers, in queue order.
    pub ids: Vec<Arc<str>>,
    pub kind: StepKind,
    /// The rule that made this step; None when the call is sent as queued.
    pub rule: Option<Text>,
    pub method: Text,
    pub path: Arc<str>,
    pub records: u32,
    pub credits: u32,
    /// Steps of one level are independent; level n runs after level n-1 finished.
    pub level: u32,
    /// Records each covered call contributes (writes), parallel to `ids`: how the sender maps
    /// a batch answer's `data[i]` back to the calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<u32>,
    /// For calls a search turned into upserts: the key field of each covered call ("" for the
    /// others), parallel to `ids`; empty when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upserts: Vec<String>,
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
}

#[derive(Debug, Clone)]
enum Class {
    /// Insert, update, upsert or delete of records of one module. `ids`: the records an
    /// update/delete names (ids or `@{call}` references).
    Write {
        module: ModId,
        kind: WriteKind,
        records: u32,
        ids: Vec<u64>,
        /// Upsert's duplicate_check_fields, joined by `,`.
        check: String,
        /// Everything but the records (query, headers, other body keys): calls batch only with
        /// calls of the same shape.
        shape: u64,
    },
    ReadId {
        module: ModId,
        /// Hash of the record id (`id_key`).
        id: u64,
        /// Hash of the `fields` asked for: reads batch into one COQL query only with equal ones.
        fields: u64,
        /// A plain id, plain field names, nothing but `fields` in the query: COQL can ask it.
        coql: bool,
    },
    /// A search on one `field = value` (criteria `(F:equals:V)`, or `email=`/`phone=`);
    /// `key` = `strong_key(module, field, value)`.
    Search {
        module: ModId,
        key: u64,
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
    /// A GET's identity (path and sorted query, `strong_key`), for dedupe and the cache.
    get_key: Option<u64>,
    /// Hashes of the unique-field values a write sets.
    unique: Vec<u64>,
}

/// Per-module conflict state: the latest level of each kind of access (-1: none).
#[derive(Debug, Clone, Copy)]
struct ModState {
    wide_read: i64,
    any_read: i64,
    insert: i64,
    record_write: i64,
    upsert: i64,
    /// Latest level of an upsert keyed on fields the unique-value tracking does not cover.
    upsert_untracked: i64,
    upsert_key: u64,
    wide_write: i64,
    writes: u64,
    /// Latest level of a write setting a unique field's value (insert, update, upsert).
    unique_set: i64,
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
            upsert_untracked: -1,
            upsert_key: 0,
            wide_write: -1,
            writes: 0,
            unique_set: -1,
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
    use std::hash::Hasher;
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
                // Zoho compares these case-insensitively.
                let mut h = rustc_hash::FxHasher::default();
                h.write(module.as_bytes());
                h.write_u8(1);
                h.write(f.as_bytes());
                h.write_u8(1);
                for b in v.bytes() {
                    h.write_u8(b.to_ascii_lowercase());
                }
                out.push(h.finish());
            }
        }
    }
    out
}

fn is_unique_field(module: &str, field: &str) -> bool {
    UNIQUE_FIELDS
        .iter()
        .any(|(m, f)| *m == module && *f == field)
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
    let (classified, modules) = classify_all(queue, opts.table);
    let index: HashMap<&str, usize> = queue.iter().enumerate().map(|(i, c)| (&*c.id, i)).collect();
    // The plan and its lower bound are independent: on a big queue, each gets a core.
    let (built, bound) = if queue.len() >= PARALLEL_FROM {
        std::thread::scope(|scope| {
            let bound = scope.spawn(|| build(queue, &classified, &modules, &index, opts, true));
            let built = build(queue, &classified, &modules, &index, opts, false);
            let bound = bound
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (built, bound)
        })
    } else {
        (
            build(queue, &classified, &modules, &index, opts, false),
            build(queue, &classified, &modules, &index, opts, true),
        )
    };
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
    let lower_bound = bound.credits;
    let mut savings = std::collections::BTreeMap::new();
    for s in &built.steps {
        if let Some(rule) = &s.rule {
            let before: u64 = s
                .ids
                .iter()
                .filter_map(|id| index.get(&**id))
                .map(|&i| u64::from(classified[i].credits))
                .sum();
            *savings.entry(rule.to_string()).or_insert(0i64) +=
                before as i64 - i64::from(s.credits);
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

/// Classifies every call; big queues on as many threads as the machine has (calls classify
/// independently; each thread interns its modules, merged after).
/// Queues from this size are planned on several threads.
const PARALLEL_FROM: usize = 20_000;

fn classify_all(queue: &[QueuedCall], table: &CostTable) -> (Vec<Classified>, Interner) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if queue.len() < PARALLEL_FROM || threads < 2 {
        let mut modules = Interner::default();
        let v = queue
            .iter()
            .map(|c| classify(c, table, &mut modules))
            .collect();
        return (v, modules);
    }
    let chunk = queue.len().div_ceil(threads);
    let parts: Vec<(Vec<Classified>, Interner)> = std::thread::scope(|scope| {
        let handles: Vec<_> = queue
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut modules = Interner::default();
                    let v: Vec<Classified> = part
                        .iter()
                        .map(|c| classify(c, table, &mut modules))
                        .collect();
                    (v, modules)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut modules = Interner::default();
    let mut out = Vec::with_capacity(queue.len());
    for (part, local) in parts {
        let map: Vec<ModId> = local.names.iter().map(|n| modules.get(n)).collect();
        out.extend(part.into_iter().map(|mut c| {
            c.class.remap(&map);
            c
        }));
    }
    (out, modules)
}

impl Class {
    /// Rewrites module ids interned by one thread into the merged interner's.
    fn remap(&mut self, map: &[ModId]) {
        match self {
            Class::Write { module, .. }
            | Class::ReadId { module, .. }
            | Class::Search { module, .. }
            | Class::Other { module }
            | Class::ReadWide {
                module: Some(module),
            } => *module = map[*module as usize],
            Class::ReadWide { module: None } | Class::Metadata | Class::Barrier => {}
        }
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

/// The request's shape apart from its records (query, headers, other body keys, upsert keys):
/// calls batch only with calls of equal shape.
fn shape_of(call: &QueuedCall, extra: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (k, v) in &call.query {
        if k != "ids" {
            h.write(k.as_bytes());
            h.write_u8(b'=');
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
    }
    h.write_u8(0xfe);
    for (k, v) in &call.headers {
        h.write(k.to_ascii_lowercase().as_bytes());
        h.write_u8(b':');
        h.write(v.as_bytes());
        h.write_u8(0xff);
    }
    h.write_u8(0xfe);
    if let Some(Value::Object(o)) = &call.body {
        for (k, v) in o {
            if k != "data" && k != "duplicate_check_fields" {
                h.write(k.as_bytes());
                h.write_u8(b'=');
                h.write(v.to_string().as_bytes());
                h.write_u8(0xff);
            }
        }
    }
    h.write_u8(0xfe);
    h.write(extra.as_bytes());
    h.finish()
}

/// The path's segments, other API versions read as v8. Queue paths are plain paths, so the
/// common case splits without allocating strings; percent-escapes take the general route.
fn segments(path: &str) -> (Vec<&str>, Option<Vec<String>>) {
    if path.contains('%') || path.contains("://") {
        let owned = normalise_path(path);
        return (Vec::new(), Some(owned));
    }
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let at = match segs.as_slice() {
        ["crm", "bulk", ..] => 2,
        ["crm", ..] => 1,
        _ => usize::MAX,
    };
    if let Some(v) = segs.get_mut(at) {
        if v.len() >= 2 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit()) {
            *v = "v8";
        }
    }
    (segs, None)
}

fn classify(call: &QueuedCall, table: &CostTable, modules: &mut Interner) -> Classified {
    let (fast, owned) = segments(&call.path);
    let owned_refs: Vec<&str>;
    let segs: &[&str] = match &owned {
        Some(o) => {
            owned_refs = o.iter().map(String::as_str).collect();
            &owned_refs
        }
        None => &fast,
    };
    let price = table.price_segments(&call.method, segs, &call.query, call.body.as_ref());
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
        match segs {
            ["crm", _, module, ..] if is_module(module) => Class::Other {
                module: modules.get(module),
            },
            _ => Class::Barrier,
        }
    } else {
        classify_segments(call, m, segs, modules)
    };
    let get_key = (m == "GET").then(|| get_key(call));
    let unique = match &class {
        Class::Write { module, kind, .. } if *kind != WriteKind::Delete => {
            unique_values(modules.name(*module), call.body.as_ref())
        }
        _ => Vec::new(),
    };
    Classified {
        class,
        credits,
        unpriceable,
        refs,
        get_key,
        unique,
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
            let fields = query_value(&call.query, "fields").unwrap_or("");
            Class::ReadId {
                module: modules.get(module),
                id: id_key(id),
                fields: strong_key([fields.as_bytes()]),
                coql: coql_fields(fields)
                    && is_plain_id(id)
                    && call.query.iter().all(|(k, _)| k == "fields"),
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
            let module_id = modules.get(module);
            match criterion {
                Some((field, value)) if q.len() == 1 => Class::Search {
                    module: module_id,
                    key: strong_key([module.as_bytes(), field.as_bytes(), value.as_bytes()]),
                },
                _ => Class::ReadWide {
                    module: Some(module_id),
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
            let ids: Option<Vec<u64>> = data
                .iter()
                .map(|r| record_id(r).map(|id| id_key(&id)))
                .collect();
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
            ids: vec![id_key(id)],
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
            let ids: Vec<u64> = query_value(&call.query, "ids")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(id_key)
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
                ids: vec![id_key(id)],
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

/// A fast hash for conflict tracking (record ids, unique values): a collision only adds an
/// ordering constraint, never changes what a plan does.
fn id_key(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// A keyed hash of parts (SipHash) for decisions a collision would change: which GETs are the
/// same, which write a search belongs to, which calls share a request shape.
fn strong_key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        h.write(p);
        h.write_u8(0xff);
    }
    h.finish()
}

fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

struct Built {
    steps: Vec<Step>,
    /// The steps' credits (the lower bound keeps only this).
    credits: u64,
    levels: u32,
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
    index: &HashMap<&str, usize>,
    opts: &Options<'_>,
    relaxed: bool,
) -> Built {
    let n = queue.len();
    let rules = opts.rules;

    // Pass 1: removals and upsert conversions.
    let mut fate: Vec<Fate> = vec![Fate::Keep; n];
    let mut mods: Vec<ModState> = vec![ModState::default(); modules.names.len()];
    let mut recs: HashMap<(ModId, u64), RecState> = HashMap::default();
    let mut global_writes: u64 = 0;
    let mut meta_writes: u64 = 0;
    // GET key → (first call, version of what it reads when first seen).
    let mut seen_gets: HashMap<u64, (usize, u64)> = HashMap::default();
    // strong_key(module, field, value) → the search call and the module's write count then.
    let mut searches: HashMap<u64, (usize, u64)> = HashMap::default();
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
                        let r = recs.get(&(*module, *id)).map_or(0, |r| r.writes);
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
                if let (true, false, Some(key)) = (rules.has(rule), c.unpriceable, c.get_key) {
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
                if let Class::Search { module, key } = &c.class {
                    if rules.has(Rule::Upsert) {
                        searches.insert(*key, (i, mods[*module as usize].writes));
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
                        let mname = modules.name(*module).as_bytes();
                        let found = data[0].as_object().and_then(|rec| {
                            rec.iter().find_map(|(f, v)| {
                                let v = v.as_str()?;
                                let key = strong_key([mname, f.as_bytes(), v.as_bytes()]);
                                let &(s, w) = searches.get(&key)?;
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
                    recs.entry((*module, *id))
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
    let mut value_level: HashMap<u64, i64> = HashMap::default();
    let mut barrier: i64 = -1;
    let mut max_level: i64 = -1;
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
            }
            // Metadata and org-wide reads wait for barriers only (metadata writes are barriers).
            Class::Metadata | Class::ReadWide { module: None } => {}
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
                let r = recs.entry((*module, *id)).or_insert(RecState {
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
                // Unique values: two writes setting one value keep their order; a write setting
                // one never passes a call that may free one, nor the reverse. An update setting
                // a unique field is both (its old value is unknown), so such updates keep their
                // order among themselves: one may free what a later one takes.
                let mname = modules.name(*module);
                let values = &c.unique;
                for v in values {
                    if let Some(&lv) = value_level.get(v) {
                        l = l.max(lv + 1);
                    }
                }
                match kind {
                    WriteKind::Insert if !values.is_empty() => l = l.max(s.unique_free + 1),
                    WriteKind::Update if !values.is_empty() => {
                        l = l.max(s.unique_set + 1).max(s.unique_free + 1)
                    }
                    WriteKind::Delete if has_unique_fields(mname) => l = l.max(s.unique_set + 1),
                    _ => {}
                }
                match kind {
                    WriteKind::Insert => {
                        // An upsert keyed on a tracked unique field conflicts with an insert
                        // only through a shared value (value_level, above).
                        l = l.max(s.upsert_untracked + 1);
                        s.insert = s.insert.max(l);
                        if !values.is_empty() {
                            s.unique_set = s.unique_set.max(l);
                        }
                    }
                    WriteKind::Update | WriteKind::Delete => {
                        l = l.max(s.upsert + 1);
                        for id in ids {
                            if let Some(r) = recs.get(&(*module, *id)) {
                                l = l.max(r.write + 1).max(r.read + 1);
                            }
                        }
                        for id in ids {
                            let r = recs.entry((*module, *id)).or_insert(RecState {
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
                        if !values.is_empty() {
                            s.unique_set = s.unique_set.max(l);
                        }
                    }
                    WriteKind::Upsert => {
                        let keyed_on = upsert_field.unwrap_or(check);
                        let key = hash_str(keyed_on);
                        // It may update any record it matches: after reads and writes of
                        // records. Keyed on a tracked unique field, it matches by value only,
                        // so inserts meet it through their values and frees through unique_free;
                        // keyed on anything else, it waits for every insert.
                        let tracked = if keyed_on.is_empty() {
                            has_unique_fields(mname)
                        } else {
                            keyed_on.split(',').all(|f| is_unique_field(mname, f))
                        };
                        l = l.max(s.any_read + 1).max(s.record_write + 1);
                        if tracked {
                            l = l.max(s.unique_free + 1);
                        } else {
                            l = l.max(s.insert + 1);
                        }
                        if s.upsert_key == key || s.upsert < 0 {
                            l = l.max(s.upsert);
                        } else {
                            l = l.max(s.upsert + 1);
                        }
                        s.upsert = s.upsert.max(l);
                        s.upsert_key = key;
                        if tracked {
                            // It may insert: a setter of unique values, as an insert is.
                            s.unique_set = s.unique_set.max(l);
                        } else {
                            s.upsert_untracked = s.upsert_untracked.max(l);
                        }
                    }
                }
                for v in values {
                    value_level.insert(*v, l);
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
    // At most one step a call: reserved once, so a big plan never moves its steps.
    let mut steps: Vec<Step> = Vec::with_capacity(if relaxed { 0 } else { n });
    let mut referenced: HashSet<&str> = HashSet::default();
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
        light: relaxed,
        memo: Default::default(),
        paths: Default::default(),
    };
    let mut credits = 0u64;
    for (lv, calls) in by_level.iter().enumerate() {
        credits += plan_level(&ctx, calls, lv as u32, &mut steps);
    }
    // Removed calls: a step of their own, costing nothing, in queue order at the end.
    for (i, f) in fate.iter().enumerate() {
        if let Fate::Removed(rule, why) = f {
            let call = &queue[i];
            steps.push(Step {
                ids: vec![call.id.clone()],
                kind: StepKind::Removed,
                rule: Some(rule.name().into()),
                method: method_text(&call.method),
                path: call.path.clone(),
                records: 0,
                credits: 0,
                level: 0,
                spans: Vec::new(),
                upserts: Vec::new(),
                note: Some(why.clone()),
            });
        }
    }
    Built {
        steps,
        credits,
        levels: by_level.len() as u32,
    }
}

fn get_key(call: &QueuedCall) -> u64 {
    let mut q: Vec<&(String, String)> = call.query.iter().collect();
    q.sort();
    strong_key(
        std::iter::once(call.path.as_bytes())
            .chain(q.iter().flat_map(|(a, b)| [a.as_bytes(), b.as_bytes()])),
    )
}

fn passthrough(call: &QueuedCall, c: &Classified, level: u32) -> Step {
    let records = c.records();
    Step {
        ids: vec![call.id.clone()],
        kind: StepKind::Call,
        rule: None,
        method: method_text(&call.method),
        path: call.path.clone(),
        records,
        credits: c.credits,
        level,
        // One call: its records are the step's (`spans` is for steps of several calls).
        spans: Vec::new(),
        upserts: Vec::new(),
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
    referenced: HashSet<&'a str>,
    table: &'a CostTable,
    rules: RuleSet,
    /// Only credits matter (the lower bound): steps carry no requests.
    light: bool,
    /// Credits of synthetic calls by (what, module, count): pricing is by count, so one
    /// lookup per distinct size.
    memo: std::cell::RefCell<HashMap<(u8, ModId, u32), u32>>,
    /// `/crm/v8/{module}` and `/crm/v8/{module}/upsert`, made once per module.
    paths: std::cell::RefCell<HashMap<(ModId, bool), Arc<str>>>,
}

/// What a synthetic call is, for pricing by count.
#[derive(Debug, Clone, Copy)]
enum Priced {
    Write(WriteKind),
    Composite,
    Coql,
}

impl Ctx<'_> {
    /// Credits of one call of `what` on `module` carrying `k` records (sub-requests, ids), by
    /// the cost table, built as the plan would send it.
    fn cost(&self, what: Priced, module: ModId, k: u32) -> u32 {
        if k == 0 {
            return 0;
        }
        let tag = match what {
            Priced::Write(w) => w as u8,
            Priced::Composite => 10,
            Priced::Coql => 11,
        };
        if let Some(&c) = self.memo.borrow().get(&(tag, module, k)) {
            return c;
        }
        let name = self.modules.name(module);
        let n = k as usize;
        let (method, path, query, body) = match what {
            Priced::Write(WriteKind::Delete) => (
                "DELETE",
                format!("/crm/v8/{name}"),
                vec![("ids".to_string(), vec!["1"; n].join(","))],
                None,
            ),
            Priced::Write(WriteKind::Upsert) => (
                "POST",
                format!("/crm/v8/{name}/upsert"),
                Vec::new(),
                Some(json!({"data": vec![Value::Null; n]})),
            ),
            Priced::Write(w) => (
                w.method(),
                format!("/crm/v8/{name}"),
                Vec::new(),
                Some(json!({"data": vec![Value::Null; n]})),
            ),
            Priced::Composite => (
                "POST",
                "/crm/v8/__composite_requests".to_string(),
                Vec::new(),
                Some(json!({"__composite_requests": vec![json!({}); n]})),
            ),
            Priced::Coql => (
                "POST",
                "/crm/v8/coql".to_string(),
                Vec::new(),
                Some(json!({"select_query": format!("select id from {name} limit {k}")})),
            ),
        };
        let c = self
            .table
            .price(&Call {
                method,
                path: &path,
                query: &query,
                body: body.as_ref(),
            })
            .map_or(k, |p| p.credits);
        self.memo.borrow_mut().insert((tag, module, k), c);
        c
    }

    fn module_path(&self, module: ModId, upsert: bool) -> Arc<str> {
        self.paths
            .borrow_mut()
            .entry((module, upsert))
            .or_insert_with(|| {
                let name = self.modules.name(module);
                if upsert {
                    format!("/crm/v8/{name}/upsert").into()
                } else {
                    format!("/crm/v8/{name}").into()
                }
            })
            .clone()
    }

    /// A step that only counts (the lower bound's).
    fn light_step(&self, kind: StepKind, credits: u32, level: u32) -> Step {
        Step {
            kind,
            credits,
            level,
            ..Step::default()
        }
    }
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

/// A level's steps as they are made, each with its first call's position; only their credits
/// when nothing but credits is wanted.
struct LevelSteps {
    keep: bool,
    steps: Vec<(u32, Step)>,
    credits: u64,
}

impl LevelSteps {
    fn push(&mut self, first: u32, step: Step) {
        self.credits += u64::from(step.credits);
        if self.keep {
            self.steps.push((first, step));
        }
    }
}

/// Plans one level's calls into `steps`; the credits they cost.
fn plan_level(ctx: &Ctx<'_>, calls: &[u32], level: u32, steps: &mut Vec<Step>) -> u64 {
    let rules = ctx.rules;
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<(ModId, u8, u64), usize> = HashMap::default();
    let mut reads: Vec<(ModId, Vec<u32>)> = Vec::new();
    let mut read_of: HashMap<(ModId, u64), usize> = HashMap::default();
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
                    if upsert { hash_str(check) } else { *shape },
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
            Class::ReadId {
                module,
                fields,
                coql: true,
                ..
            } if rules.has(Rule::Coql) => {
                let r = *read_of.entry((*module, *fields)).or_insert_with(|| {
                    reads.push((*module, Vec::new()));
                    reads.len() - 1
                });
                reads[r].1.push(ci);
            }
            _ => singles.push((ci, composite_eligible(ctx, ci))),
        }
    }

    let mut out = LevelSteps {
        keep: !ctx.light,
        steps: Vec::new(),
        credits: 0,
    };
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
        let chunks = records_chunks(ctx, &g.calls, BATCH_MAX);
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

    for (module, ids) in &reads {
        let mut rest: &[u32] = ids;
        // Five or fewer reads ride a composite more cheaply (shared with other calls).
        let min_coql = if rules.has(Rule::Composite) { 6 } else { 2 };
        while rest.len() >= min_coql {
            let take = rest.len().min(COQL_MAX_IDS);
            let s = coql_step(ctx, *module, &rest[..take], level);
            out.push(rest[0], s);
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
        if p.bulk {
            for chunk in records_chunks(ctx, &g.calls, BULK_MAX_ROWS) {
                let s = bulk_step(ctx, &chunk, level);
                out.push(chunk[0], s);
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
                out.push(cs[0], batch_step(ctx, g, cs, level));
            }
        }
    }
    let riding: HashSet<u32> = composite_calls.iter().copied().collect();
    for &(ci, _) in &singles {
        if !riding.contains(&ci) {
            out.push(ci, single_step(ctx, ci, level));
        }
    }
    // Queue order by first call; sorting positions, not the steps, keeps the moves down.
    let mut order: Vec<(u32, u32)> = out
        .steps
        .iter()
        .enumerate()
        .map(|(k, (first, _))| (*first, k as u32))
        .collect();
    order.sort_unstable();
    steps.reserve(order.len());
    for &(_, k) in &order {
        steps.push(std::mem::take(&mut out.steps[k as usize].1));
    }
    // Composites come last in the level: a remainder that left a batch still runs after it.
    composite_calls.sort_unstable();
    let mut credits = out.credits;
    for chunk in composite_calls.chunks(COMPOSITE_MAX) {
        let s = composite_step(ctx, chunk, level);
        credits += u64::from(s.credits);
        if !ctx.light {
            steps.push(s);
        }
    }
    credits
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

/// How many trailing single-record calls of `chunk` must leave it for the chunk to cost one
/// credit less (0: none can).
fn trailing_to_save(ctx: &Ctx<'_>, g: &Group, chunk: &[u32]) -> usize {
    let records: u32 = chunk
        .iter()
        .map(|&c| ctx.classified[c as usize].records())
        .sum();
    let full = ctx.cost(Priced::Write(g.kind), g.module, records);
    let mut left = records;
    for (t, &ci) in chunk.iter().rev().enumerate() {
        if !composite_eligible(ctx, ci) || t + 1 > COMPOSITE_MAX * 2 {
            return 0;
        }
        left -= 1;
        if ctx.cost(Priced::Write(g.kind), g.module, left) < full {
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
                && !ctx.referenced.contains(&*call.id)
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
    let per_job = bulk_job_credits(ctx.table);
    let jobs = g.records.div_ceil(BULK_MAX_ROWS);
    let batches = (g.records / BATCH_MAX) * ctx.cost(Priced::Write(g.kind), g.module, BATCH_MAX)
        + ctx.cost(Priced::Write(g.kind), g.module, g.records % BATCH_MAX);
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

/// Greedy chunks of calls carrying at most `max` records each; a call is never split.
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
fn ids_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<Arc<str>> {
    cs.iter()
        .map(|&c| ctx.queue[c as usize].id.clone())
        .collect()
}

fn spans_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<u32> {
    cs.iter()
        .map(|&c| ctx.classified[c as usize].records())
        .collect()
}

/// The upsert key of each covered call a search turned into an upsert ("" for the others);
/// empty when none was.
fn upserts_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<String> {
    if !cs
        .iter()
        .any(|&c| matches!(ctx.fate[c as usize], Fate::Upsert(_)))
    {
        return Vec::new();
    }
    cs.iter()
        .map(|&c| match &ctx.fate[c as usize] {
            Fate::Upsert(f) => f.clone(),
            _ => String::new(),
        })
        .collect()
}

fn batch_step(ctx: &Ctx<'_>, g: &Group, cs: &[u32], level: u32) -> Step {
    let upserts = upserts_of(ctx, cs);
    if cs.len() == 1 && upserts.is_empty() {
        return single_step(ctx, cs[0], level);
    }
    let records: u32 = cs
        .iter()
        .map(|&c| ctx.classified[c as usize].records())
        .sum();
    let credits = ctx.cost(Priced::Write(g.kind), g.module, records);
    if ctx.light {
        return ctx.light_step(StepKind::Call, credits, level);
    }
    let rule = if upserts.is_empty() {
        Rule::Batch
    } else {
        Rule::Upsert
    };
    let path = ctx.module_path(g.module, g.kind == WriteKind::Upsert);
    // Upserts say their key; the other batches say enough by rule, method and records.
    let note = (g.kind == WriteKind::Upsert && !g.check.is_empty())
        .then(|| format!("upserts keyed on {}", g.check));
    Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(rule.name().into()),
        method: g.kind.method().into(),
        path,
        records,
        credits,
        level,
        spans: spans_of(ctx, cs),
        upserts,
        note,
    }
}

/// A call sent alone: as queued, or as the upsert its search turned it into.
fn single_step(ctx: &Ctx<'_>, ci: u32, level: u32) -> Step {
    let i = ci as usize;
    let c = &ctx.classified[i];
    let upsert = match (&ctx.fate[i], &c.class) {
        (Fate::Upsert(field), Class::Write { module, .. }) => Some((field, *module)),
        _ => None,
    };
    let credits = match upsert {
        Some((_, module)) => ctx.cost(Priced::Write(WriteKind::Upsert), module, c.records()),
        None => c.credits,
    };
    if ctx.light {
        return ctx.light_step(StepKind::Call, credits, level);
    }
    let mut step = passthrough(&ctx.queue[i], c, level);
    if let Some((field, module)) = upsert {
        step.method = "POST".into();
        step.path = ctx.module_path(module, true);
        step.rule = Some(Rule::Upsert.name().into());
        step.upserts = vec![field.clone()];
        step.note = Some(format!("upsert keyed on {field} (its search removed)"));
        step.credits = credits;
    }
    step
}

fn coql_step(ctx: &Ctx<'_>, module: ModId, cs: &[u32], level: u32) -> Step {
    let credits = ctx.cost(Priced::Coql, module, cs.len() as u32);
    if ctx.light {
        return ctx.light_step(StepKind::Call, credits, level);
    }
    Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::Coql.name().into()),
        method: "POST".into(),
        path: "/crm/v8/coql".into(),
        records: 0,
        credits,
        level,
        spans: Vec::new(),
        upserts: Vec::new(),
        note: None,
    }
}

fn bulk_step(ctx: &Ctx<'_>, cs: &[u32], level: u32) -> Step {
    let credits = bulk_job_credits(ctx.table);
    if ctx.light {
        return ctx.light_step(StepKind::BulkWrite, credits, level);
    }
    let spans = spans_of(ctx, cs);
    let records = spans.iter().sum();
    Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::BulkWrite,
        rule: Some(Rule::Bulk.name().into()),
        method: "POST".into(),
        path: "/crm/bulk/v8/write".into(),
        records,
        credits,
        level,
        spans,
        upserts: Vec::new(),
        note: Some("upload, then the job; its end comes by callback".into()),
    }
}

fn composite_step(ctx: &Ctx<'_>, cs: &[u32], level: u32) -> Step {
    let credits = ctx.cost(Priced::Composite, 0, cs.len() as u32);
    if ctx.light {
        return ctx.light_step(StepKind::Call, credits, level);
    }
    let spans = spans_of(ctx, cs);
    Step {
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::Composite.name().into()),
        method: "POST".into(),
        path: "/crm/v8/__composite_requests".into(),
        records: spans.iter().sum(),
        credits,
        level,
        spans,
        upserts: upserts_of(ctx, cs),
        note: None,
    }
}

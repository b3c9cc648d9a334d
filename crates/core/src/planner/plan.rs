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
//!
//! Here: the plan's types, `plan`, and passes 1 and 2; `classify` and `group` hold the rest.

use super::unique::UniqueFields;
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde::{Deserialize, Serialize};

use super::classify::{
    classify, classify_all, data_array, strong_key, Class, Classified, Interner, ModId, WriteKind,
    PARALLEL_FROM,
};
use super::group::{passthrough, plan_level, Ctx};
use super::json_view::JsonView;
use super::queue::QueuedCall;
use crate::credits::CostTable;

/// The HTTP method of a queued call or a step: one byte (a million calls, and their steps,
/// each name one), read and written as its upper-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// The method `name` names, in any case.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// "GET, POST, PUT, PATCH, DELETE": for messages.
    pub fn listed() -> String {
        Method::ALL.map(Method::as_str).join(", ")
    }
}

impl std::ops::Deref for Method {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Method {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(name: &str) -> Result<Method, String> {
        Method::parse(name).ok_or_else(|| {
            format!(
                "method `{}` is not one of {}",
                name.to_ascii_uppercase(),
                Method::listed()
            )
        })
    }
}

impl Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Method, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A rewrite rule. Written by its name (`name`: `"batch"`), as plan files have always had it,
/// and read by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    Batch,
    Upsert,
    Dedupe,
    Cache,
    Composite,
    Bulk,
    Coql,
    Tags,
    /// Serialised as Zoho names the call (`mass_update`).
    #[serde(rename = "mass_update")]
    MassUpdate,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::Batch,
        Rule::Upsert,
        Rule::Dedupe,
        Rule::Cache,
        Rule::Composite,
        Rule::Bulk,
        Rule::Coql,
        Rule::Tags,
        Rule::MassUpdate,
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
            Rule::Tags => "tags",
            Rule::MassUpdate => "mass_update",
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
            Rule::Tags => "tag calls per record → bulk add/remove of up to 500 records",
            Rule::MassUpdate => "the same values written to many records → mass updates of ≤ 500",
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
pub struct RuleSet(u16);

impl RuleSet {
    pub fn all() -> RuleSet {
        let mut set = RuleSet::none();
        for r in Rule::ALL {
            set.set(r, true);
        }
        set
    }
    pub fn none() -> RuleSet {
        RuleSet(0)
    }
    pub fn has(self, r: Rule) -> bool {
        self.0 & (1 << r as u16) != 0
    }
    pub fn set(&mut self, r: Rule, on: bool) {
        if on {
            self.0 |= 1 << r as u16;
        } else {
            self.0 &= !(1 << r as u16);
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

/// What a step does. Written by its name (`as_str`), read by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
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

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl StepKind {
    pub const ALL: [StepKind; 3] = [StepKind::Call, StepKind::BulkWrite, StepKind::Removed];

    /// Its name in plan files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Call => "call",
            StepKind::BulkWrite => "bulk_write",
            StepKind::Removed => "removed",
        }
    }
}

impl Serialize for StepKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Step {
    /// The queued calls this step covers, in queue order.
    pub ids: Vec<Arc<str>>,
    pub kind: StepKind,
    /// The rule that made this step; None when the call is sent as queued.
    pub rule: Option<Rule>,
    pub method: Method,
    pub path: Arc<str>,
    pub records: u32,
    pub credits: u32,
    /// What the covered calls cost as queued (the step saves the difference).
    #[serde(default)]
    pub credits_before: u32,
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
    /// The fewest credits any plan from these rules can cost keeping the orderings
    /// equivalence requires (`planner::bound`): what is above it is the planner's.
    #[serde(default)]
    pub ordered_lower_bound: u64,
    pub savings_by_rule: std::collections::BTreeMap<String, i64>,
    pub rules: Vec<String>,
    pub levels: u32,
    /// Credits each queued call costs as queued, parallel to the queue.
    pub call_credits: Vec<u32>,
    /// The unique fields the plan kept writes ordered on, and where they came from.
    #[serde(default)]
    pub unique_fields: UniqueFields,
    pub steps: Vec<Step>,
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
    /// The org's unique fields (None: Zoho's defaults).
    pub unique: Option<&'a UniqueFields>,
}

/// Rows one bulk job may carry (Zoho: 25,000 rows a CSV).
pub const BULK_MAX_ROWS: u32 = 25_000;
/// Ids one COQL `in (…)` takes.
pub const COQL_MAX_IDS: usize = 50;
/// Sub-requests of one composite call.
pub const COMPOSITE_MAX: usize = 5;
/// Records of one batch call.
pub const BATCH_MAX: u32 = 100;
/// Records one bulk add/remove tags call names (Zoho: 500 ids).
pub const BULK_TAGS_MAX: u32 = 500;
/// Records one mass update names by id (Zoho: 500; more is a scheduled job by custom view).
pub const MASS_UPDATE_MAX: u32 = 500;

/// Plans `queue`: the plan with its lower bound.
pub fn plan(queue: &[QueuedCall], opts: &Options<'_>) -> Plan {
    let defaults = UniqueFields::defaults();
    let unique = opts.unique.unwrap_or(&defaults);
    let (classified, modules) = classify_all(queue, opts.table, unique);
    let (referenced, index) = referenced(queue, &classified);
    let refs = Refs {
        names: &referenced,
        index: &index,
    };
    // The plan and its lower bound are independent: on a big queue, each gets a core.
    let (built, bound) = if queue.len() >= PARALLEL_FROM {
        std::thread::scope(|scope| {
            let bound =
                scope.spawn(|| build(queue, &classified, &modules, &refs, opts, Pass::LowerBound));
            let built = build(queue, &classified, &modules, &refs, opts, Pass::Plan);
            let bound = bound
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (built, bound)
        })
    } else {
        (
            build(queue, &classified, &modules, &refs, opts, Pass::Plan),
            build(queue, &classified, &modules, &refs, opts, Pass::LowerBound),
        )
    };
    let lower_bound = bound.credits;
    drop(bound);
    let call_credits: Vec<u32> = classified.iter().map(|c| c.credits).collect();
    drop(classified);
    let mut built = built;
    built.steps.append(&mut built.removed);
    let credits_before: u64 = call_credits.iter().map(|&c| u64::from(c)).sum();
    // The steps' figures in one pass (a million-call plan has a quarter of a million steps).
    let (mut credits_after, mut calls_after) = (0u64, 0u64);
    let mut saved: [Option<i64>; Rule::ALL.len()] = [None; Rule::ALL.len()];
    for s in &built.steps {
        credits_after += u64::from(s.credits);
        calls_after += match s.kind {
            StepKind::Call => 1,
            StepKind::BulkWrite => 2,
            StepKind::Removed => 0,
        };
        if let Some(rule) = s.rule {
            *saved[rule as usize].get_or_insert(0) +=
                i64::from(s.credits_before) - i64::from(s.credits);
        }
    }
    let savings = Rule::ALL
        .iter()
        .zip(saved)
        .filter_map(|(rule, saved)| Some((rule.name().to_string(), saved?)))
        .collect();
    Plan {
        calls_before: queue.len() as u64,
        credits_before,
        calls_after,
        credits_after,
        lower_bound: lower_bound.min(credits_after),
        ordered_lower_bound: built.ordered,
        savings_by_rule: savings,
        rules: opts.rules.names().into_iter().map(String::from).collect(),
        levels: built.levels,
        call_credits,
        unique_fields: unique.clone(),
        steps: built.steps,
    }
}

/// Removed calls: a step of their own, costing nothing, in queue order (after the levels').
fn removed_steps(queue: &[QueuedCall], fate: &Fates, classified: &[Classified]) -> Vec<Step> {
    let removed = |f: &&Fate| matches!(f, Fate::Removed(..));
    let mut steps = Vec::with_capacity(fate.as_slice().iter().filter(removed).count());
    for (i, f) in fate.as_slice().iter().enumerate() {
        if let Fate::Removed(rule, by) = f {
            let by = *by as usize;
            let why = match (rule, fate.upsert_field(by)) {
                (Rule::Cache, _) => {
                    format!(
                        "answered by the metadata cache (filled by {})",
                        queue[by].id
                    )
                }
                (Rule::Upsert, Some(field)) => {
                    format!(
                        "folded into the upsert of {} keyed on {field}",
                        queue[by].id
                    )
                }
                _ => format!("same answer as {}", queue[by].id),
            };
            let call = &queue[i];
            steps.push(Step {
                ids: vec![call.id.clone()],
                kind: StepKind::Removed,
                rule: Some(*rule),
                method: call.method,
                path: call.path.clone(),
                records: 0,
                credits: 0,
                credits_before: classified[i].credits,
                level: 0,
                spans: Vec::new(),
                upserts: Vec::new(),
                note: Some(why),
            });
        }
    }
    steps
}

/// The queue as it is: one step per call, each in a level of its own (strict queue order).
pub fn as_queued(queue: &[QueuedCall], table: &CostTable) -> Plan {
    let mut modules = Interner::default();
    let mut memo = crate::credits::table::RowMemo::default();
    let mut steps = Vec::with_capacity(queue.len());
    let mut credits = Vec::with_capacity(queue.len());
    for (i, c) in queue.iter().enumerate() {
        let cl = classify(c, table, &UniqueFields::defaults(), &mut modules, &mut memo);
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
        ordered_lower_bound: total,
        savings_by_rule: Default::default(),
        rules: Vec::new(),
        levels: queue.len() as u32,
        call_credits: credits,
        unique_fields: UniqueFields::defaults(),
        steps,
    }
}

/// Calls whose created record a later call names (`@{id}`), and where they stand.
fn referenced<'q>(
    queue: &'q [QueuedCall],
    classified: &'q [Classified],
) -> (HashSet<&'q str>, HashMap<&'q str, usize>) {
    let names: HashSet<&str> = classified
        .iter()
        .flat_map(|c| c.refs().iter().map(String::as_str))
        .collect();
    let index = if names.is_empty() {
        HashMap::default()
    } else {
        queue
            .iter()
            .enumerate()
            .filter(|(_, c)| names.contains(&*c.id))
            .map(|(i, c)| (&*c.id, i))
            .collect()
    };
    (names, index)
}

/// The `@{id}` references of a queue: the ids named, and where those calls stand.
struct Refs<'a> {
    names: &'a HashSet<&'a str>,
    index: &'a HashMap<&'a str, usize>,
}

struct Built {
    steps: Vec<Step>,
    /// The removed calls' steps (the plan's pass only).
    removed: Vec<Step>,
    /// The steps' credits (the lower bound keeps only this).
    credits: u64,
    levels: u32,
    /// The ordered lower bound under this pass's removals (the plan's pass only).
    ordered: u64,
    /// What pass 1 decided for each call (for tests: a plan lets it go with the levels).
    #[cfg(test)]
    fate: Fates,
}

/// The planner's view of a queue, for tests that check plans against their own search: each
/// call's class and price, the interned modules, and pass 1's removals.
#[cfg(test)]
pub(super) fn explain(
    queue: &[QueuedCall],
    opts: &Options<'_>,
) -> (Vec<Classified>, Interner, Fates) {
    let defaults = UniqueFields::defaults();
    let unique = opts.unique.unwrap_or(&defaults);
    let (classified, modules) = classify_all(queue, opts.table, unique);
    let (referenced, index) = referenced(queue, &classified);
    let refs = Refs {
        names: &referenced,
        index: &index,
    };
    let fate = build(queue, &classified, &modules, &refs, opts, Pass::Plan).fate;
    (classified, modules, fate)
}

/// What pass 1 decided for a call.
#[derive(Debug, Clone)]
pub(super) enum Fate {
    Keep,
    /// Removed by `rule` because of the call at this index: the first of the identical GETs
    /// (dedupe, cache), or the write whose upsert replaces this search (upsert). The step's
    /// note is written from it (not kept per call: a million calls).
    Removed(Rule, u32),
    /// A write turned into an upsert (its search removed), keyed on the field at this index
    /// of [`Fates`]' fields (a fate is kept per call: 8 bytes, where a `String` made it 24).
    Upsert(u32),
}

/// What pass 1 decided for each call, and the key fields of the upserts it made.
pub(super) struct Fates {
    of: Vec<Fate>,
    fields: Vec<String>,
}

impl Fates {
    fn new(n: usize) -> Fates {
        Fates {
            of: vec![Fate::Keep; n],
            fields: Vec::new(),
        }
    }

    /// Call `i` becomes an upsert keyed on `field`.
    fn set_upsert(&mut self, i: usize, field: String) {
        self.of[i] = Fate::Upsert(self.fields.len() as u32);
        self.fields.push(field);
    }

    /// The key field of call `i`, when pass 1 made it an upsert.
    pub(super) fn upsert_field(&self, i: usize) -> Option<&str> {
        match self.of[i] {
            Fate::Upsert(k) => self.fields.get(k as usize).map(String::as_str),
            _ => None,
        }
    }

    pub(super) fn as_slice(&self) -> &[Fate] {
        &self.of
    }
}

impl std::ops::Index<usize> for Fates {
    type Output = Fate;
    fn index(&self, i: usize) -> &Fate {
        &self.of[i]
    }
}

impl std::ops::IndexMut<usize> for Fates {
    fn index_mut(&mut self, i: usize) -> &mut Fate {
        &mut self.of[i]
    }
}

/// Which computation a pass makes: the plan itself, or its lower bound (every ordering
/// constraint relaxed, and only credits kept: steps carry no requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    Plan,
    LowerBound,
}

fn build(
    queue: &[QueuedCall],
    classified: &[Classified],
    modules: &Interner,
    refs: &Refs<'_>,
    opts: &Options<'_>,
    pass: Pass,
) -> Built {
    let index = refs.index;
    let n = queue.len();
    let rules = opts.rules;
    let defaults = UniqueFields::defaults();
    let unique = opts.unique.unwrap_or(&defaults);

    // Pass 1: removals and upsert conversions.
    let mut fate = Fates::new(n);
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
                    match seen_gets.get(&key.get()) {
                        Some(&(first, v)) if pass == Pass::LowerBound || v == version => {
                            fate[i] = Fate::Removed(rule, first as u32);
                            continue;
                        }
                        _ => {
                            seen_gets.insert(key.get(), (i, version));
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
                    let body = call.body.as_ref().map(|b| JsonView::parse(b.text()));
                    if let Some(data) = data_array(body.as_ref()).filter(|d| d.len() == 1) {
                        let mname = modules.name(*module).as_bytes();
                        let found = data[0].as_object().and_then(|rec| {
                            rec.iter().find_map(|(f, v)| {
                                let v = v.as_str()?;
                                let key = strong_key([mname, f.as_bytes(), v.as_bytes()]);
                                let &(s, w) = searches.get(&key)?;
                                let unchanged =
                                    pass == Pass::LowerBound || w == mods[*module as usize].writes;
                                (unchanged && matches!(fate[s], Fate::Keep))
                                    .then(|| (s, f.to_string()))
                            })
                        });
                        if let Some((s, field)) = found {
                            fate[s] = Fate::Removed(Rule::Upsert, i as u32);
                            fate.set_upsert(i, field);
                        }
                    }
                }
                let m = &mut mods[*module as usize];
                m.writes += 1;
                // Versions of records matter to the plan only (the bound ignores them, above).
                let versioned = if pass == Pass::Plan { &ids[..] } else { &[] };
                for id in versioned {
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

    // A context per thread: its price caches are its own.
    let ctx_of = || Ctx {
        queue,
        classified,
        modules,
        fate: &fate,
        referenced: refs.names,
        table: opts.table,
        rules,
        pass,
        memo: Default::default(),
        paths: Default::default(),
    };
    let ctx_of = &ctx_of;
    // The ordered bound and the removed calls' steps read pass 1's removals and write nothing:
    // on a big queue they start now, each on a thread of its own beside passes 2 and 3 (made
    // after pass 2, the bound held one core alone at the end of a 1M-call plan; made after
    // the levels, the removed steps did).
    let beside = pass == Pass::Plan && n >= PARALLEL_FROM;
    let (steps, credits, levels, ordered, removed) = std::thread::scope(|scope| {
        /// A thread's answer, or its panic carried on.
        fn joined<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
        }
        let bound =
            beside.then(|| scope.spawn(|| super::bound::ordered_lower_bound(&ctx_of(), unique)));
        let removed = beside.then(|| scope.spawn(|| removed_steps(queue, &fate, classified)));

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
            if pass == Pass::LowerBound {
                level[i] = 0;
                continue;
            }
            let c = &classified[i];
            let mut l = barrier + 1;
            for r in c.refs() {
                if let Some(&j) = index.get(r.as_str()) {
                    if j < i {
                        l = l.max(level[j] + 1);
                    }
                }
            }
            let upsert_field = fate.upsert_field(i);
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
                    let values = c.unique();
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
                        WriteKind::Delete if unique.has_any(mname) => l = l.max(s.unique_set + 1),
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
                        WriteKind::Update
                        | WriteKind::Delete
                        | WriteKind::AddTags
                        | WriteKind::RemoveTags => {
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
                            let key = strong_key([keyed_on.as_bytes()]);
                            // It may update any record it matches: after reads and writes of
                            // records. Keyed on a tracked unique field, it matches by value only,
                            // so inserts meet it through their values and frees through unique_free;
                            // keyed on anything else, it waits for every insert.
                            let tracked = if keyed_on.is_empty() {
                                unique.has_any(mname)
                            } else {
                                keyed_on.split(',').all(|f| unique.is_unique(mname, f))
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

        // What the levels needed is freed before the steps are made (a plan's peak is its end).
        drop((recs, seen_gets, searches, value_level, mods));

        // Pass 3: group per level.
        let levels = (max_level + 1).max(0) as usize;
        let mut by_level: Vec<Vec<u32>> = vec![
            Vec::new();
            match pass {
                Pass::LowerBound => 1,
                Pass::Plan => levels,
            }
        ];
        for i in 0..n {
            if level[i] >= 0 {
                by_level[level[i] as usize].push(i as u32);
            }
        }
        drop(level);
        // At most one step a call: reserved once, so a big plan never moves its steps.
        let mut steps: Vec<Step> = Vec::with_capacity(match pass {
            Pass::LowerBound => 0,
            Pass::Plan => n,
        });
        let ctx = ctx_of();
        // Levels `from..to` planned with `ctx`, their steps pushed in level order.
        let levels_of = |ctx: &Ctx<'_>, from: usize, to: usize, steps: &mut Vec<Step>| -> u64 {
            by_level[from..to]
                .iter()
                .enumerate()
                .map(|(k, calls)| plan_level(ctx, calls, (from + k) as u32, steps))
                .sum()
        };
        let all = by_level.len();
        let by_level = &by_level;
        let levels_of = &levels_of;
        // Levels are planned independently: on a big queue the later half of the calls' levels
        // is planned on a thread of its own, its steps appended after.
        let credits = if beside {
            let half = by_level.iter().map(Vec::len).sum::<usize>() / 2;
            let mut calls = 0;
            let split = by_level
                .iter()
                .position(|l| {
                    calls += l.len();
                    calls > half
                })
                .map_or(all, |at| at + 1);
            // A scope of its own: the levels' lists are made inside the outer scope, whose
            // threads may borrow only what outlives it.
            let (later_credits, credits) = std::thread::scope(|inner| {
                let later = inner.spawn(move || {
                    let mut steps =
                        Vec::with_capacity(by_level[split..].iter().map(Vec::len).sum());
                    let credits = levels_of(&ctx_of(), split, all, &mut steps);
                    (credits, steps)
                });
                let credits = levels_of(&ctx, 0, split, &mut steps);
                let (later_credits, mut later_steps) = joined(later);
                steps.append(&mut later_steps);
                (later_credits, credits)
            });
            credits + later_credits
        } else {
            levels_of(&ctx, 0, all, &mut steps)
        };
        let ordered = match (bound, pass) {
            (Some(h), _) => joined(h),
            (None, Pass::Plan) => super::bound::ordered_lower_bound(&ctx, unique),
            (None, Pass::LowerBound) => 0,
        };
        let removed = match (removed, pass) {
            (Some(h), _) => joined(h),
            (None, Pass::Plan) => removed_steps(queue, &fate, classified),
            (None, Pass::LowerBound) => Vec::new(),
        };
        (steps, credits, all as u32, ordered, removed)
    });
    Built {
        steps,
        removed,
        credits,
        levels,
        ordered,
        #[cfg(test)]
        fate,
    }
}

//! One level's calls grouped into steps: batches of up to 100 records, Bulk Write jobs, COQL
//! reads by id, and composites for what is left where they lower the level's credits. Steps
//! are priced by count from the cost table (memoised), and carry the calls they cover, not
//! their bodies (`planner::request` builds those).

use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde_json::{json, Value};

use super::classify::*;
use super::plan::*;
use super::queue::QueuedCall;
use crate::credits::{Call, CostTable};
use crate::prefetch::prefetch_at;

/// How many calls ahead of the one at hand a level asks for (`prefetch_at`).
pub(super) const PREFETCH_AHEAD: usize = 8;

/// The class a write is grouped in (module, kind after pass 1, and its request shape or, for a
/// search folded into an upsert, its key), or None when it is sent alone: the one definition,
/// shared by the levels' grouping and the ordered bound.
pub(super) fn write_class(ctx: &Ctx<'_>, i: usize) -> Option<(ModId, WriteKind, u64)> {
    let c = &ctx.classified[i];
    let Class::Write {
        module,
        kind,
        shape,
        ..
    } = &c.class
    else {
        return None;
    };
    let upsert = matches!(ctx.fate[i], Fate::Upsert(_));
    if c.unpriceable || !grouped(ctx.rules, *kind, upsert) {
        return None;
    }
    Some(match &ctx.fate[i] {
        Fate::Upsert(_) => {
            let field = ctx.fate.upsert_field(i).unwrap_or_default();
            (*module, WriteKind::Upsert, strong_key([field.as_bytes()]))
        }
        _ => (*module, *kind, *shape),
    })
}

/// Whether a level groups this write with others of its class (batches, bulk jobs, bulk tags).
pub(super) fn grouped(rules: RuleSet, kind: WriteKind, upsert: bool) -> bool {
    if kind.is_tags() {
        rules.has(Rule::Tags)
    } else {
        rules.has(Rule::Batch)
            || rules.has(Rule::Bulk)
            || upsert
            || (kind == WriteKind::Update && rules.has(Rule::MassUpdate))
    }
}

/// The values a kept update sets on every record it names, when the mass update rule may
/// carry it (0: it may not): `classify::mass_values`, not turned into an upsert, not sent
/// alone, and no later call naming its answer (a mass update answers a job, not records).
pub(super) fn mass_key(ctx: &Ctx<'_>, i: usize) -> u64 {
    let c = &ctx.classified[i];
    match (&c.class, &ctx.fate[i]) {
        (
            Class::Write {
                kind: WriteKind::Update,
                mass,
                ..
            },
            Fate::Keep,
        ) if *mass != 0
            && ctx.rules.has(Rule::MassUpdate)
            && !c.unpriceable
            && c.unique().is_empty()
            && c.refs().is_empty()
            && !ctx.referenced.contains(&*ctx.queue[i].id) =>
        {
            *mass
        }
        _ => 0,
    }
}

/// `/crm/v8/{module}/actions/mass_update`.
pub(super) fn mass_update_path(module: &str) -> String {
    format!("/crm/v8/{module}/actions/mass_update")
}

/// Whether a group of this kind is sent as calls of many records (else one by one, or a job).
pub(super) fn sends_batches(rules: RuleSet, kind: WriteKind) -> bool {
    if kind.is_tags() {
        rules.has(Rule::Tags)
    } else {
        rules.has(Rule::Batch) || kind == WriteKind::Upsert
    }
}

/// `/crm/v8/{module}/actions/add_tags` (or remove_tags): tags on many records.
pub(super) fn tags_path(module: &str, kind: WriteKind) -> String {
    let action = if kind == WriteKind::AddTags {
        "add_tags"
    } else {
        "remove_tags"
    };
    format!("/crm/v8/{module}/actions/{action}")
}

pub(super) fn passthrough(call: &QueuedCall, c: &Classified, level: u32) -> Step {
    let records = c.records();
    Step {
        ids: vec![call.id.clone()],
        kind: StepKind::Call,
        rule: None,
        method: call.method,
        path: call.path.clone(),
        records,
        credits: c.credits,
        credits_before: c.credits,
        level,
        // One call: its records are the step's (`spans` is for steps of several calls).
        spans: Vec::new(),
        upserts: Vec::new(),
        note: None,
    }
}

/// What the per-level grouping reads.
pub(super) struct Ctx<'a> {
    pub(super) queue: &'a [QueuedCall],
    pub(super) classified: &'a [Classified],
    pub(super) modules: &'a Interner,
    pub(super) fate: &'a Fates,
    /// Calls whose created id a later call uses (`@{id}`): never in a bulk job (no ids back).
    pub(super) referenced: &'a HashSet<&'a str>,
    pub(super) table: &'a CostTable,
    pub(super) rules: RuleSet,
    /// The plan, or its lower bound (only credits matter: steps carry no requests).
    pub(super) pass: Pass,
    /// Credits of synthetic calls by (what, module, count): pricing is by count, so one
    /// lookup per distinct size.
    pub(super) memo: std::cell::RefCell<HashMap<(u8, ModId, u32), u32>>,
    /// `/crm/v8/{module}` and `/crm/v8/{module}/upsert`, made once per module.
    pub(super) paths: std::cell::RefCell<HashMap<(ModId, bool), Arc<str>>>,
}

/// What a synthetic call is, for pricing by count.
#[derive(Debug, Clone, Copy)]
pub(super) enum Priced {
    Write(WriteKind),
    Composite,
    Coql,
    /// A mass update and the read of its job's status that tells what it did.
    MassUpdate,
}

impl Ctx<'_> {
    /// Credits of one call of `what` on `module` carrying `k` records (sub-requests, ids), by
    /// the cost table, built as the plan would send it.
    pub(super) fn cost(&self, what: Priced, module: ModId, k: u32) -> u32 {
        if k == 0 {
            return 0;
        }
        let tag = match what {
            Priced::Write(w) => w as u8,
            Priced::Composite => 10,
            Priced::Coql => 11,
            Priced::MassUpdate => 12,
        };
        if let Some(&c) = self.memo.borrow().get(&(tag, module, k)) {
            return c;
        }
        // Composites name no module (a queue may have none).
        let name = || self.modules.name(module);
        let n = k as usize;
        let price = |method: &str, path: &str, query: &[(String, String)], body: Option<&Value>| {
            self.table
                .price(&Call {
                    method,
                    path,
                    query,
                    body,
                })
                .map_or(k, |p| p.credits)
        };
        let (method, path, query, body) = match what {
            Priced::Write(WriteKind::Delete) => (
                "DELETE",
                format!("/crm/v8/{}", name()),
                vec![("ids".to_string(), vec!["1"; n].join(","))],
                None,
            ),
            Priced::Write(WriteKind::Upsert) => (
                "POST",
                format!("/crm/v8/{}/upsert", name()),
                Vec::new(),
                Some(json!({"data": vec![Value::Null; n]})),
            ),
            Priced::Write(w) if w.is_tags() => (
                "POST",
                tags_path(name(), w),
                Vec::new(),
                Some(json!({"tags": [{"name": "t"}], "ids": vec!["1"; n]})),
            ),
            Priced::Write(w) => (
                w.method().as_str(),
                format!("/crm/v8/{}", name()),
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
                Some(json!({"select_query": format!("select id from {} limit {k}", name())})),
            ),
            Priced::MassUpdate => {
                let path = mass_update_path(name());
                let body = json!({"data": [{"f": "v"}], "ids": vec!["1"; n]});
                let c = price("POST", &path, &[], Some(&body))
                    + price("GET", &path, &[("job_id".into(), "1".into())], None);
                self.memo.borrow_mut().insert((tag, module, k), c);
                return c;
            }
        };
        let c = price(method, &path, &query, body.as_ref());
        self.memo.borrow_mut().insert((tag, module, k), c);
        c
    }

    /// A Bulk Write's credits (upload and job), asked of the table once per plan: every
    /// group of every level weighs it.
    pub(super) fn bulk_job(&self) -> u32 {
        *self
            .memo
            .borrow_mut()
            .entry((u8::MAX, 0, 0))
            .or_insert_with(|| bulk_job_credits(self.table))
    }

    pub(super) fn module_path(&self, module: ModId, upsert: bool) -> Arc<str> {
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
    pub(super) fn bound_step(&self, kind: StepKind, credits: u32, level: u32) -> Step {
        Step {
            kind,
            credits,
            level,
            ..Step::default()
        }
    }
}

/// Compatible writes of one level: same module, operation and request shape, in queue order.
pub(super) struct Group {
    module: ModId,
    kind: WriteKind,
    check: String,
    calls: Vec<u32>,
    records: u32,
}

/// How a group is sent: bulk jobs, or batches whose last may shed trailing calls to a composite.
pub(super) struct GroupPlan {
    bulk: bool,
    chunks: Vec<Vec<u32>>,
    /// Trailing single-record calls of the last chunk that save a credit by leaving it.
    movable: usize,
    riding: bool,
}

/// A level's steps as they are made, each with its first call's position; only their credits
/// when nothing but credits is wanted.
pub(super) struct LevelSteps {
    keep: bool,
    steps: Vec<(u32, Step)>,
    credits: u64,
}

impl LevelSteps {
    pub(super) fn push(&mut self, first: u32, step: Step) {
        self.credits += u64::from(step.credits);
        if self.keep {
            self.steps.push((first, step));
        }
    }
}

/// Plans one level's calls into `steps`; the credits they cost.
pub(super) fn plan_level(ctx: &Ctx<'_>, calls: &[u32], level: u32, steps: &mut Vec<Step>) -> u64 {
    let rules = ctx.rules;
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<(ModId, u8, u64), usize> = HashMap::default();
    let mut reads: Vec<(ModId, Vec<u32>)> = Vec::new();
    let mut read_of: HashMap<(ModId, u64), usize> = HashMap::default();
    // Calls sent one by one unless a composite takes them: (call, composite-eligible).
    let mut singles: Vec<(u32, bool)> = Vec::new();
    for (k, &ci) in calls.iter().enumerate() {
        // A level's calls are spread over the whole queue: what the next ones read is asked
        // for ahead, while this one is grouped.
        if let Some(&ahead) = calls.get(k + PREFETCH_AHEAD) {
            let ahead = ahead as usize;
            prefetch_at(ctx.classified, ahead);
            prefetch_at(ctx.fate.as_slice(), ahead);
            prefetch_at(ctx.queue, ahead);
        }
        let i = ci as usize;
        let c = &ctx.classified[i];
        let class = write_class(ctx, i);
        match &c.class {
            Class::Write { records, check, .. } if class.is_some() => {
                let Some((module, kind, shape)) = class else {
                    continue;
                };
                let check = ctx.fate.upsert_field(i).unwrap_or(check);
                let key = (module, kind as u8, shape);
                let g = *group_of.entry(key).or_insert_with(|| {
                    groups.push(Group {
                        module,
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
        keep: ctx.pass == Pass::Plan,
        steps: Vec::new(),
        credits: 0,
    };
    // Mass updates first: they carry five times a batch's records for a fraction of its price,
    // so what they take never goes to a batch, a job or a composite.
    if rules.has(Rule::MassUpdate) {
        for g in groups.iter_mut().filter(|g| g.kind == WriteKind::Update) {
            for chunk in take_mass_updates(ctx, g) {
                out.push(chunk[0], mass_step(ctx, g.module, &chunk, level));
            }
        }
    }
    let mut plans: Vec<GroupPlan> = Vec::with_capacity(groups.len());
    for g in &groups {
        if g.calls.is_empty() {
            plans.push(GroupPlan {
                bulk: false,
                chunks: Vec::new(),
                movable: 0,
                riding: false,
            });
            continue;
        }
        // Whether it pays first: it is arithmetic, and fitting reads every body.
        let bulk = rules.has(Rule::Bulk) && bulk_pays(ctx, g) && bulk_fits(ctx, g);
        if bulk || !sends_batches(rules, g.kind) {
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
        let chunks = records_chunks(ctx, &g.calls, g.kind.max_records());
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
            .filter(|(_, ok)| *ok)
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
        if !sends_batches(rules, g.kind) || p.chunks.is_empty() {
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
        if ctx.pass == Pass::Plan {
            steps.push(s);
        }
    }
    credits
}

/// A call that may be a composite sub-request: a record-level call carrying at most one record
/// (Zoho: a write sub-request carries one record; a read by id answers one) that costs
/// something alone (a free call gains nothing by riding).
pub(super) fn composite_eligible(ctx: &Ctx<'_>, ci: u32) -> bool {
    let i = ci as usize;
    let c = &ctx.classified[i];
    if c.unpriceable || c.credits < 1 {
        return false;
    }
    match &c.class {
        // Tag calls are actions, which a composite does not carry.
        Class::Write { records, kind, .. } => {
            *records == 1
                && !kind.is_tags()
                && (*kind != WriteKind::Delete || ctx.queue[i].path.split('/').count() == 5)
        }
        Class::ReadId { .. } => ctx.queue[i].query.iter().all(|(k, _)| k == "fields"),
        _ => false,
    }
}

/// How many trailing single-record calls of `chunk` must leave it for the chunk to cost one
/// credit less (0: none can).
pub(super) fn trailing_to_save(ctx: &Ctx<'_>, g: &Group, chunk: &[u32]) -> usize {
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

/// A Bulk Write job can carry the group: inserts, updates (each record names its id) or
/// upserts keyed on one field (a job's `find_by`), flat values, no `@{}` on either side (a job
/// answers no ids, and a CSV cell is sent as written).
pub(super) fn bulk_fits(ctx: &Ctx<'_>, g: &Group) -> bool {
    let kind_fits = match g.kind {
        WriteKind::Insert | WriteKind::Update => true,
        WriteKind::Upsert => !g.check.is_empty() && !g.check.contains(','),
        _ => false,
    };
    kind_fits
        && g.calls.iter().all(|&ci| {
            let i = ci as usize;
            let call = &ctx.queue[i];
            ctx.classified[i].refs().is_empty()
                && !ctx.referenced.contains(&*call.id)
                && call.query.is_empty()
                && ctx.classified[i].bulk.flat
                // An update names its record: in the record, or in the path.
                && (g.kind != WriteKind::Update || ctx.classified[i].bulk.named)
        })
}

/// What `records` records of a group cost in full batches and one last partial batch.
fn batches_credits(ctx: &Ctx<'_>, g: &Group, records: u32) -> u32 {
    (records / BATCH_MAX) * ctx.cost(Priced::Write(g.kind), g.module, BATCH_MAX)
        + ctx.cost(Priced::Write(g.kind), g.module, records % BATCH_MAX)
}

/// A Bulk Write costs the job plus the upload; it pays when that is below the batches' cost.
pub(super) fn bulk_pays(ctx: &Ctx<'_>, g: &Group) -> bool {
    let per_job = ctx.bulk_job();
    let jobs = g.records.div_ceil(BULK_MAX_ROWS);
    u64::from(jobs) * u64::from(per_job) < u64::from(batches_credits(ctx, g, g.records))
}

/// Takes out of an update group the calls mass updates carry more cheaply, as mass updates:
/// calls setting the same values, in chunks of up to 500 records naming distinct records
/// (largest first), each kept only when it costs less than what it saves the group (the
/// batches it empties, or the calls sent alone or in composites).
fn take_mass_updates(ctx: &Ctx<'_>, g: &mut Group) -> Vec<Vec<u32>> {
    // Most groups of most levels are a few single-record updates: a mass update of one
    // record never pays, and nothing is built for them.
    let mut carried = 0u32;
    for &c in &g.calls {
        if mass_key(ctx, c as usize) != 0 {
            carried += ctx.classified[c as usize].records();
            if carried >= 2 {
                break;
            }
        }
    }
    if carried < 2 {
        return Vec::new();
    }
    let mut set_of: HashMap<u64, usize> = HashMap::default();
    let mut sets: Vec<Vec<u32>> = Vec::new();
    for &ci in &g.calls {
        let key = mass_key(ctx, ci as usize);
        if key != 0 {
            let k = *set_of.entry(key).or_insert_with(|| {
                sets.push(Vec::new());
                sets.len() - 1
            });
            sets[k].push(ci);
        }
    }
    let records = |cs: &[u32]| -> u32 {
        cs.iter()
            .map(|&c| ctx.classified[c as usize].records())
            .sum()
    };
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    for set in &sets {
        let mut chunk: Vec<u32> = Vec::new();
        let mut named: HashSet<u64> = HashSet::default();
        let mut n = 0;
        for &ci in set {
            let Class::Write { ids, records, .. } = &ctx.classified[ci as usize].class else {
                continue;
            };
            let repeats = ids.iter().any(|id| named.contains(id));
            if !chunk.is_empty() && (n + records > MASS_UPDATE_MAX || repeats) {
                chunks.push(std::mem::take(&mut chunk));
                named.clear();
                n = 0;
            }
            chunk.push(ci);
            named.extend(ids.iter().copied());
            n += records;
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    }
    chunks.sort_by_key(|c| std::cmp::Reverse(records(c)));
    let batched = sends_batches(ctx.rules, g.kind);
    let composite = ctx.rules.has(Rule::Composite);
    let mut left = g.records;
    let mut taken: Vec<Vec<u32>> = Vec::new();
    for chunk in chunks {
        let r = records(&chunk);
        let saves = if batched {
            // Saturating: a user's cost table need not price more records higher.
            batches_credits(ctx, g, left).saturating_sub(batches_credits(ctx, g, left - r))
        } else {
            // Sent alone, or five to a composite: what they would cost at the least.
            let (mut alone, mut riders) = (0u32, 0u32);
            for &c in &chunk {
                if composite && composite_eligible(ctx, c) {
                    riders += 1;
                } else {
                    alone += ctx.classified[c as usize].credits;
                }
            }
            alone + riders / COMPOSITE_MAX as u32
        };
        if ctx.cost(Priced::MassUpdate, g.module, r) < saves {
            left -= r;
            taken.push(chunk);
        }
    }
    if !taken.is_empty() {
        let gone: HashSet<u32> = taken.iter().flatten().copied().collect();
        g.calls.retain(|c| !gone.contains(c));
        g.records = left;
    }
    taken
}

pub(super) fn bulk_job_credits(table: &CostTable) -> u32 {
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
pub(super) fn records_chunks(ctx: &Ctx<'_>, calls: &[u32], max: u32) -> Vec<Vec<u32>> {
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

/// What the calls cost as queued.
fn credits_of(ctx: &Ctx<'_>, cs: &[u32]) -> u32 {
    cs.iter().map(|&c| ctx.classified[c as usize].credits).sum()
}

fn ids_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<Arc<str>> {
    cs.iter()
        .map(|&c| ctx.queue[c as usize].id.clone())
        .collect()
}

pub(super) fn spans_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<u32> {
    cs.iter()
        .map(|&c| ctx.classified[c as usize].records())
        .collect()
}

/// The upsert key of each covered call a search turned into an upsert ("" for the others);
/// empty when none was.
pub(super) fn upserts_of(ctx: &Ctx<'_>, cs: &[u32]) -> Vec<String> {
    if !cs
        .iter()
        .any(|&c| matches!(ctx.fate[c as usize], Fate::Upsert(_)))
    {
        return Vec::new();
    }
    cs.iter()
        .map(|&c| {
            ctx.fate
                .upsert_field(c as usize)
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

pub(super) fn batch_step(ctx: &Ctx<'_>, g: &Group, cs: &[u32], level: u32) -> Step {
    let upserts = upserts_of(ctx, cs);
    if cs.len() == 1 && upserts.is_empty() {
        return single_step(ctx, cs[0], level);
    }
    let records: u32 = cs
        .iter()
        .map(|&c| ctx.classified[c as usize].records())
        .sum();
    let credits = ctx.cost(Priced::Write(g.kind), g.module, records);
    if ctx.pass == Pass::LowerBound {
        return ctx.bound_step(StepKind::Call, credits, level);
    }
    let rule = if g.kind.is_tags() {
        Rule::Tags
    } else if upserts.is_empty() {
        Rule::Batch
    } else {
        Rule::Upsert
    };
    let path = if g.kind.is_tags() {
        tags_path(ctx.modules.name(g.module), g.kind).into()
    } else {
        ctx.module_path(g.module, g.kind == WriteKind::Upsert)
    };
    // Upserts say their key; the other batches say enough by rule, method and records.
    let note = (g.kind == WriteKind::Upsert && !g.check.is_empty())
        .then(|| format!("upserts keyed on {}", g.check));
    Step {
        credits_before: credits_of(ctx, cs),
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(rule),
        method: g.kind.method(),
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
pub(super) fn single_step(ctx: &Ctx<'_>, ci: u32, level: u32) -> Step {
    let i = ci as usize;
    let c = &ctx.classified[i];
    let upsert = match (ctx.fate.upsert_field(i), &c.class) {
        (Some(field), Class::Write { module, .. }) => Some((field, *module)),
        _ => None,
    };
    let credits = match upsert {
        Some((_, module)) => ctx.cost(Priced::Write(WriteKind::Upsert), module, c.records()),
        None => c.credits,
    };
    if ctx.pass == Pass::LowerBound {
        return ctx.bound_step(StepKind::Call, credits, level);
    }
    let mut step = passthrough(&ctx.queue[i], c, level);
    if let Some((field, module)) = upsert {
        step.method = Method::Post;
        step.path = ctx.module_path(module, true);
        step.rule = Some(Rule::Upsert);
        step.upserts = vec![field.to_string()];
        step.note = Some(format!("upsert keyed on {field} (its search removed)"));
        step.credits = credits;
    }
    step
}

/// Calls setting the same values on distinct records, as one mass update (and the read of its
/// job's status, which the sender makes to learn what it did).
pub(super) fn mass_step(ctx: &Ctx<'_>, module: ModId, cs: &[u32], level: u32) -> Step {
    let spans = spans_of(ctx, cs);
    let records: u32 = spans.iter().sum();
    let credits = ctx.cost(Priced::MassUpdate, module, records);
    if ctx.pass == Pass::LowerBound {
        return ctx.bound_step(StepKind::Call, credits, level);
    }
    Step {
        credits_before: credits_of(ctx, cs),
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::MassUpdate),
        method: Method::Post,
        path: mass_update_path(ctx.modules.name(module)).into(),
        records,
        credits,
        level,
        spans,
        upserts: Vec::new(),
        note: Some("the same values on every record; then its job's status is read".into()),
    }
}

pub(super) fn coql_step(ctx: &Ctx<'_>, module: ModId, cs: &[u32], level: u32) -> Step {
    let credits = ctx.cost(Priced::Coql, module, cs.len() as u32);
    if ctx.pass == Pass::LowerBound {
        return ctx.bound_step(StepKind::Call, credits, level);
    }
    Step {
        credits_before: credits_of(ctx, cs),
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::Coql),
        method: Method::Post,
        path: "/crm/v8/coql".into(),
        records: 0,
        credits,
        level,
        spans: Vec::new(),
        upserts: Vec::new(),
        note: None,
    }
}

pub(super) fn bulk_step(ctx: &Ctx<'_>, cs: &[u32], level: u32) -> Step {
    let credits = ctx.bulk_job();
    if ctx.pass == Pass::LowerBound {
        return ctx.bound_step(StepKind::BulkWrite, credits, level);
    }
    let spans = spans_of(ctx, cs);
    let records = spans.iter().sum();
    Step {
        credits_before: credits_of(ctx, cs),
        ids: ids_of(ctx, cs),
        kind: StepKind::BulkWrite,
        rule: Some(Rule::Bulk),
        method: Method::Post,
        path: "/crm/bulk/v8/write".into(),
        records,
        credits,
        level,
        spans,
        // Folded searches: the job upserts on their field.
        upserts: upserts_of(ctx, cs),
        note: Some("upload, then the job; its end comes by callback".into()),
    }
}

pub(super) fn composite_step(ctx: &Ctx<'_>, cs: &[u32], level: u32) -> Step {
    let credits = ctx.cost(Priced::Composite, 0, cs.len() as u32);
    if ctx.pass == Pass::LowerBound {
        return ctx.bound_step(StepKind::Call, credits, level);
    }
    let spans = spans_of(ctx, cs);
    Step {
        credits_before: credits_of(ctx, cs),
        ids: ids_of(ctx, cs),
        kind: StepKind::Call,
        rule: Some(Rule::Composite),
        method: Method::Post,
        path: "/crm/v8/__composite_requests".into(),
        records: spans.iter().sum(),
        credits,
        level,
        spans,
        upserts: upserts_of(ctx, cs),
        note: None,
    }
}

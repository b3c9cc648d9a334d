//! The ordered lower bound: the fewest credits any plan built from the planner's rules can cost
//! while keeping every ordering equivalence requires. Beside the relaxed bound (no ordering at
//! all), it tells how much of a plan's distance from that is the planner's and how much is the
//! price of equivalence.
//!
//! The argument (docs/architecture.md, "The ordered lower bound"):
//!
//! * A plan sends each kept call (the plan's removals are taken as given) in one step: a batch
//!   of one *class* (module, operation, request shape or upsert key), a COQL read of one class
//!   (module, fields), a composite of up to five eligible calls, a Bulk Write job, or alone.
//!   Calls in one step run as one, so no two of them may be ordered.
//! * A *cut* for a class is a kept call that must come after every call of the class before it
//!   and before every call of the class after it (a list read between inserts of its module; a
//!   delete between inserts that set unique values; an upsert between updates; a barrier). No
//!   step can hold calls of one class from both sides of a cut, so each class falls into
//!   *segments*, and the steps of different segments are different steps.
//! * A segment's calls cost at least what its cheapest split costs: `q` of them in composites
//!   (a composite costs 1 credit for up to 5 calls: at least 1/5 a call, whatever else rides
//!   with them) and the rest in its own steps, which cost at least the cheapest chunking of
//!   their records by the cost table (exact up to 1,000 records, the cheapest rate per record
//!   beyond), or Bulk Write jobs; updates a mass update may carry cost at least one mass
//!   update's price per 500 of them. The bound takes the least over `q` and those.
//! * Calls of no class cost their own price, or 1/5 when a composite may carry them.
//!
//! Every relaxation only lowers the figure (orderings other than cuts, the composites' need
//! for independent company, the records of a call travelling together), so it stays a lower
//! bound; tests check it against the cheapest plan found by exhaustive search on small queues.

use rustc_hash::FxHashMap as HashMap;

use super::classify::{strong_key, Class, Classified, Interner, ModId, WriteKind};
use super::group::{composite_eligible, mass_key, sends_batches, write_class, Ctx, Priced};
use super::plan::{Fate, Rule, BULK_MAX_ROWS, COMPOSITE_MAX, COQL_MAX_IDS, MASS_UPDATE_MAX};
use super::unique::UniqueFields;

/// Credits are counted in sixtieths here: a composite's share of 1/k credit (k ≤ 5) is whole.
const UNIT: u64 = 60;

/// Segment sizes priced exactly (by dynamic programming over chunk sizes); beyond, by the
/// cheapest rate per record, which is never more than the exact price.
const EXACT_UP_TO: usize = 1_000;

/// What a call is grouped as: the planner's classes (`group::plan_level` groups by the same
/// keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClassKey {
    Write { module: ModId, kind: u8, key: u64 },
    Read { module: ModId, fields: u64 },
}

/// A class's figures within one segment.
#[derive(Debug, Default, Clone, Copy)]
struct Segment {
    calls: u64,
    records: u64,
    /// Calls a composite may carry.
    eligible: u64,
    /// The cheapest price of one of its calls sent alone.
    cheapest_single: u64,
    /// Calls (and their records) a mass update may carry.
    mass_calls: u64,
    mass_records: u64,
}

/// Per-module counts of the kept calls that are cuts for some class, in queue order.
#[derive(Debug, Default, Clone)]
struct Cuts {
    wide_reads: u64,
    others: u64,
    reads_by_id: u64,
    record_writes: u64,
    inserts: u64,
    upserts: u64,
    untracked_upserts: u64,
    /// Upserts per key (`strong_key` of the key fields).
    upserts_by_key: HashMap<u64, u64>,
    /// Writes that take unique values: inserts and updates setting one, tracked upserts.
    setters: u64,
    /// Writes that may free one: deletes, updates setting one.
    frees: u64,
}

/// What the bound knows of a write (small: one per call of a million).
struct WriteFacts {
    module: ModId,
    kind: WriteKind,
    /// The upsert's key (`strong_key` of its fields), for upserts; 0 otherwise.
    key: u64,
    /// Sets unique values (inserts and updates with a unique field's value).
    sets_values: bool,
    /// An upsert that matches by tracked unique fields only.
    tracked: bool,
}

fn write_facts(
    c: &Classified,
    upsert_field: Option<&str>,
    modules: &Interner,
    unique: &UniqueFields,
) -> Option<WriteFacts> {
    let Class::Write {
        module,
        kind,
        check,
        ..
    } = &c.class
    else {
        return None;
    };
    let (kind, keyed_on) = match upsert_field {
        Some(f) => (WriteKind::Upsert, f),
        None => (*kind, &**check),
    };
    let mname = modules.name(*module);
    let tracked = kind == WriteKind::Upsert
        && if keyed_on.is_empty() {
            unique.has_any(mname)
        } else {
            keyed_on.split(',').all(|f| unique.is_unique(mname, f))
        };
    Some(WriteFacts {
        module: *module,
        kind,
        sets_values: !c.unique().is_empty()
            && matches!(kind, WriteKind::Insert | WriteKind::Update),
        tracked,
        key: if kind == WriteKind::Upsert {
            strong_key([keyed_on.as_bytes()])
        } else {
            0
        },
    })
}

/// The ordered lower bound of a plan of `classified` under `fate` (see the module's text).
pub(super) fn ordered_lower_bound(ctx: &Ctx<'_>, unique: &UniqueFields) -> u64 {
    let rules = ctx.rules;
    let n = ctx.classified.len();
    let kept = |i: usize| matches!(ctx.fate[i], Fate::Keep | Fate::Upsert(_));
    // The class of each kept call, as plan_level would group it (None: sent alone or in a
    // composite).
    let class_of = |i: usize| -> Option<ClassKey> {
        if let Some((module, kind, key)) = write_class(ctx, i) {
            return Some(ClassKey::Write {
                module,
                kind: kind as u8,
                key,
            });
        }
        match &ctx.classified[i].class {
            Class::ReadId {
                module,
                fields,
                coql: true,
                ..
            } if rules.has(Rule::Coql) => Some(ClassKey::Read {
                module: *module,
                fields: *fields,
            }),
            _ => None,
        }
    };
    // Worked out where needed, twice, not kept: a million of them took 24 MB.
    let facts = |i: usize| -> Option<WriteFacts> {
        if kept(i) {
            write_facts(
                &ctx.classified[i],
                ctx.fate.upsert_field(i),
                ctx.modules,
                unique,
            )
        } else {
            None
        }
    };
    // Whether every call of a write class sets unique values: only then do the calls that
    // free one cut it (a call setting none does not wait for them).
    let mut all_set: HashMap<ClassKey, bool> = HashMap::default();
    for i in 0..n {
        if let (Some(k), Some(f)) = (class_of(i), facts(i)) {
            let e = all_set.entry(k).or_insert(true);
            *e = *e && f.sets_values;
        }
    }
    let composite = rules.has(Rule::Composite);
    let share = composite_share(ctx);
    let mut cuts: Vec<Cuts> = vec![Cuts::default(); ctx.modules.names.len()];
    let mut barriers: u64 = 0;
    // Each class's segment so far, with its epoch. Epochs only grow along the queue, so a
    // call of a class in a later epoch closes the class's segment: it is priced then and let
    // go (a million calls made hundreds of thousands of segments, kept to the end).
    let mut open: HashMap<ClassKey, (u64, Segment)> = HashMap::default();
    let mut prices = Prices::default();
    // A Bulk Write's price (upload and job), in sixtieths: asked of the table once.
    let bulk_job = u64::from(ctx.bulk_job()) * UNIT;
    let mut closed: u64 = 0;
    let mut alone: u64 = 0;
    for i in 0..n {
        if !kept(i) {
            continue;
        }
        let fact = &facts(i);
        let c = &ctx.classified[i];
        let eligible = composite && composite_eligible(ctx, i as u32);
        let own = u64::from(single_price(ctx, i)) * UNIT;
        match class_of(i) {
            None => alone += if eligible { own.min(share) } else { own },
            Some(key) => {
                let m = match key {
                    ClassKey::Write { module, .. } | ClassKey::Read { module, .. } => module,
                };
                let k = &cuts[m as usize];
                // The cuts this class waits for on both sides (see `Cuts`).
                let epoch = barriers
                    + k.others
                    + match (fact, key) {
                        (Some(f), _) => {
                            let mut e = k.wide_reads;
                            match f.kind {
                                WriteKind::Insert => {
                                    e += k.untracked_upserts;
                                    if all_set.get(&key) == Some(&true) {
                                        e += k.frees;
                                    }
                                }
                                WriteKind::Update => {
                                    e += k.upserts;
                                    if all_set.get(&key) == Some(&true) {
                                        e += k.frees + k.setters;
                                    }
                                }
                                WriteKind::AddTags | WriteKind::RemoveTags => e += k.upserts,
                                WriteKind::Delete => {
                                    e += k.upserts;
                                    if unique.has_any(ctx.modules.name(m)) {
                                        e += k.setters;
                                    }
                                }
                                WriteKind::Upsert => {
                                    let same = k.upserts_by_key.get(&f.key);
                                    e += k.upserts - same.copied().unwrap_or(0);
                                    e += k.reads_by_id + k.record_writes;
                                    if f.tracked {
                                        e += k.frees;
                                    } else {
                                        e += k.inserts;
                                    }
                                }
                            }
                            e
                        }
                        (None, _) => k.upserts,
                    };
                let fresh = || Segment {
                    cheapest_single: u64::MAX,
                    ..Segment::default()
                };
                let (at, s) = open.entry(key).or_insert_with(|| (epoch, fresh()));
                if *at != epoch {
                    let done = std::mem::replace(s, fresh());
                    *at = epoch;
                    closed +=
                        segment_bound(ctx, key, &done, share, composite, &mut prices, bulk_job);
                }
                s.calls += 1;
                s.records += u64::from(c.records());
                s.eligible += u64::from(eligible);
                s.cheapest_single = s.cheapest_single.min(own);
                if mass_key(ctx, i) != 0 {
                    s.mass_calls += 1;
                    s.mass_records += u64::from(c.records());
                }
            }
        }
        // This call as a cut for what follows.
        match &c.class {
            Class::Barrier => barriers += 1,
            Class::ReadWide { module: Some(m) } | Class::Search { module: m, .. } => {
                cuts[*m as usize].wide_reads += 1;
            }
            Class::ReadId { module, .. } => cuts[*module as usize].reads_by_id += 1,
            Class::Other { module } => cuts[*module as usize].others += 1,
            _ => {}
        }
        if let Some(f) = fact {
            let k = &mut cuts[f.module as usize];
            match f.kind {
                WriteKind::Insert => k.inserts += 1,
                WriteKind::Update
                | WriteKind::Delete
                | WriteKind::AddTags
                | WriteKind::RemoveTags => k.record_writes += 1,
                WriteKind::Upsert => {
                    k.upserts += 1;
                    *k.upserts_by_key.entry(f.key).or_insert(0) += 1;
                    if f.tracked {
                        k.setters += 1;
                    } else {
                        k.untracked_upserts += 1;
                    }
                }
            }
            if f.sets_values {
                k.setters += 1;
            }
            if f.kind == WriteKind::Delete || (f.kind == WriteKind::Update && f.sets_values) {
                k.frees += 1;
            }
        }
    }
    let mut total = alone + closed;
    for (key, (_, s)) in &open {
        total += segment_bound(ctx, *key, s, share, composite, &mut prices, bulk_job);
    }
    total.div_ceil(UNIT)
}

/// The least a composite charges a call it carries, in sixtieths (u64::MAX: composites off).
fn composite_share(ctx: &Ctx<'_>) -> u64 {
    (1..=COMPOSITE_MAX as u32)
        .map(|k| u64::from(ctx.cost(Priced::Composite, 0, k)) * UNIT / u64::from(k))
        .min()
        .unwrap_or(u64::MAX)
}

/// A call's price sent alone: as queued, or as the upsert its search turned it into.
fn single_price(ctx: &Ctx<'_>, i: usize) -> u32 {
    let c = &ctx.classified[i];
    match (&ctx.fate[i], &c.class) {
        (Fate::Upsert(_), Class::Write { module, .. }) => {
            ctx.cost(Priced::Write(WriteKind::Upsert), *module, c.records())
        }
        _ => c.credits,
    }
}

/// Per class (and the price of its cheapest single call, which prices chunks of one): the
/// exact cheapest chunkings, grown as segments ask, and the cheapest rate per unit.
#[derive(Default)]
struct Prices {
    exact: HashMap<(ClassKey, u64), Chunking>,
}

/// The least cost of each size up to what was asked, the cheapest (price, size) ratio, and
/// the price of one chunk of each size.
type Chunking = (Vec<u64>, (u64, u64), Vec<u64>);

/// The least a segment costs (sixtieths).
fn segment_bound(
    ctx: &Ctx<'_>,
    key: ClassKey,
    s: &Segment,
    share: u64,
    composite: bool,
    prices: &mut Prices,
    bulk_job: u64,
) -> u64 {
    let rules = ctx.rules;
    // Price of one chunk of k (records for writes, reads for COQL), sent as its own step.
    let (chunk_max, chunk): (u64, Box<dyn Fn(u64) -> u64 + '_>) = match key {
        ClassKey::Write { module, kind, .. } => {
            let kind = write_kind(kind);
            if sends_batches(rules, kind) {
                (
                    u64::from(kind.max_records()),
                    Box::new(move |k| {
                        u64::from(ctx.cost(Priced::Write(kind), module, k as u32)) * UNIT
                    }),
                )
            } else {
                // Not batched: each call alone (a call's records travel together).
                let single = s.cheapest_single;
                (1, Box::new(move |_| single))
            }
        }
        ClassKey::Read { module, .. } => (
            COQL_MAX_IDS as u64,
            Box::new(move |k| {
                if k == 1 {
                    s.cheapest_single
                } else {
                    u64::from(ctx.cost(Priced::Coql, module, k as u32)) * UNIT
                }
            }),
        ),
    };
    let is_write = matches!(key, ClassKey::Write { .. });
    // Records (writes) or calls (reads) the own steps carry when q calls ride composites.
    let units = |q: u64| {
        if is_write && chunk_max > 1 {
            s.records - q
        } else {
            s.calls - q
        }
    };
    let (table, rate, chunks) = prices
        .exact
        .entry((key, s.cheapest_single))
        .or_insert_with(|| {
            // Each chunk size priced once (the table's lookups are not free; the chunking
            // below asks for them a hundred thousand times).
            let chunks: Vec<u64> = (0..=chunk_max)
                .map(|k| if k == 0 { 0 } else { chunk(k) })
                .collect();
            let rate = (1..=chunk_max)
                .map(|k| (chunks[k as usize], k))
                .min_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)))
                .unwrap_or((0, 1));
            (vec![0], rate, chunks)
        });
    let rate = *rate;
    let exact_len = (units(0) as usize).min(EXACT_UP_TO);
    for r in table.len()..=exact_len {
        let best = (1..=chunk_max.min(r as u64))
            .map(|k| chunks[k as usize] + table[r - k as usize])
            .min()
            .unwrap_or(0);
        table.push(best);
    }
    let own = |u: u64| -> u64 {
        if u == 0 {
            return 0;
        }
        if (u as usize) < table.len() {
            table[u as usize]
        } else {
            // Beyond the exact table: the cheapest rate per unit.
            (u * rate.0).div_ceil(rate.1)
        }
    };
    let bulk = |records: u64| -> u64 {
        if !(is_write && rules.has(Rule::Bulk)) {
            return u64::MAX;
        }
        if let ClassKey::Write { kind, .. } = key {
            if !matches!(
                write_kind(kind),
                WriteKind::Insert | WriteKind::Update | WriteKind::Upsert
            ) {
                return u64::MAX;
            }
        }
        let job = bulk_job;
        let rows = u64::from(BULK_MAX_ROWS);
        // A job costs more than the records at the cheapest rate: it cannot pay.
        if records * rate.0 <= job * rate.1 {
            return u64::MAX;
        }
        (1..=records.div_ceil(rows))
            .map(|b| b * job + own(records.saturating_sub(b * rows)))
            .min()
            .unwrap_or(u64::MAX)
    };
    // Units the cheap carriers may take out of the own steps: up to `max_q` composite riders
    // (`share` each) and up to `mass_units` in mass updates (at least one mass update's price
    // per 500 of them, whatever their values: relaxed).
    let max_q = if composite { s.eligible } else { 0 };
    let (mass_units, mass_price) = match key {
        ClassKey::Write { module, .. } if s.mass_calls > 0 => (
            if is_write && chunk_max > 1 {
                s.mass_records
            } else {
                s.mass_calls
            },
            u64::from(ctx.cost(Priced::MassUpdate, module, 1)) * UNIT,
        ),
        _ => (0, 0),
    };
    let per_mass = u64::from(MASS_UPDATE_MAX);
    // The least the carriers charge for taking `t` units: x of them in mass updates, t − x
    // riding composites. Within each run of 500 the price falls as x grows, so the least is at
    // an end of the allowed range or at a multiple of 500.
    let carried = |t: u64| -> Option<u64> {
        let hi = t.min(mass_units);
        let lo = t.saturating_sub(max_q);
        if lo > hi {
            return None;
        }
        let price = |x: u64| {
            (x.div_ceil(per_mass) * mass_price).saturating_add((t - x).saturating_mul(share))
        };
        [
            lo,
            hi,
            hi / per_mass * per_mass,
            lo.div_ceil(per_mass) * per_mass,
        ]
        .into_iter()
        .filter(|x| (lo..=hi).contains(x))
        .map(price)
        .min()
    };
    let all = units(0);
    (0..=all.min(max_q + mass_units))
        .filter_map(|t| {
            let rest = all - t;
            let pure = if rest == 0 {
                0
            } else {
                own(rest).min(bulk(rest))
            };
            carried(t).map(|c| c.saturating_add(pure))
        })
        .min()
        .unwrap_or(0)
}

fn write_kind(k: u8) -> WriteKind {
    match k {
        0 => WriteKind::Insert,
        1 => WriteKind::Update,
        2 => WriteKind::Upsert,
        3 => WriteKind::Delete,
        4 => WriteKind::AddTags,
        _ => WriteKind::RemoveTags,
    }
}

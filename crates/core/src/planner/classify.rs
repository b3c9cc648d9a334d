//! What each queued call is, for the planner: its class (write, read by id, search, wide read,
//! metadata, barrier, other), its price, the references it makes, the unique values it sets and
//! the keys that identify it. Classification is per call and runs on every core for big queues.

use super::json_view::JsonView;
use super::unique::UniqueFields;
use rustc_hash::FxHashMap as HashMap;

use super::queue::QueuedCall;
use crate::credits::table::RowMemo;
use crate::credits::table::{normalise_path, BodyFacts};
use crate::credits::CostTable;

/// A module's API name, interned.
pub(super) type ModId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteKind {
    Insert,
    Update,
    Upsert,
    Delete,
    /// Tags added to one record (`POST /{module}/{id}/actions/add_tags`): for ordering, an
    /// update of that record that sets no field.
    AddTags,
    RemoveTags,
}

impl WriteKind {
    pub(super) fn method(self) -> super::plan::Method {
        use super::plan::Method;
        match self {
            WriteKind::Insert | WriteKind::Upsert | WriteKind::AddTags | WriteKind::RemoveTags => {
                Method::Post
            }
            WriteKind::Update => Method::Put,
            WriteKind::Delete => Method::Delete,
        }
    }

    pub(super) fn is_tags(self) -> bool {
        matches!(self, WriteKind::AddTags | WriteKind::RemoveTags)
    }

    /// The most records one call of this kind carries: 500 ids for bulk tags, else 100.
    pub(super) fn max_records(self) -> u32 {
        if self.is_tags() {
            super::plan::BULK_TAGS_MAX
        } else {
            super::plan::BATCH_MAX
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Class {
    /// Insert, update, upsert or delete of records of one module. `ids`: the records an
    /// update/delete names (ids or `@{call}` references).
    Write {
        module: ModId,
        kind: WriteKind,
        records: u32,
        ids: Box<[u64]>,
        /// Upsert's duplicate_check_fields, joined by `,`.
        check: CheckFields,
        /// Everything but the records (query, headers, other body keys): calls batch only with
        /// calls of the same shape.
        shape: u64,
        /// For an update a mass update can carry: the hash of the values every record of it
        /// sets (`mass_values`); 0 otherwise.
        mass: u64,
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

/// What a Bulk Write needs of a write's records, read here where its body is parsed (a big
/// group's fit was asked of every body, parsed again, in each pass).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct BulkShape {
    /// A `data` array of objects whose values are all flat (a CSV cell is one value).
    pub(super) flat: bool,
    /// Every record names the record it updates: by `id`, or the path names it.
    pub(super) named: bool,
}

/// `segments`: how many non-empty segments the call's path has.
pub(super) fn bulk_shape(segments: usize, body: Option<&JsonView>) -> BulkShape {
    let Some(data) = data_array(body) else {
        return BulkShape::default();
    };
    let path_names_it = segments == 4;
    BulkShape {
        flat: data.iter().all(|r| {
            r.as_object()
                .is_some_and(|o| o.iter().all(|(_, v)| !(v.is_object() || v.is_array())))
        }),
        named: path_names_it || data.iter().all(|r| record_id(r).is_some()),
    }
}

/// An upsert's duplicate_check_fields joined by `,` ("" for none), behind a thin pointer: few
/// writes name any, and a million calls are classified (8 bytes a call saved).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[allow(clippy::box_collection)] // a thin pointer: see above
pub(super) struct CheckFields(Option<Box<String>>);

impl CheckFields {
    pub(super) fn new(fields: String) -> CheckFields {
        CheckFields((!fields.is_empty()).then(|| Box::new(fields)))
    }
}

impl std::ops::Deref for CheckFields {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_deref().map_or("", String::as_str)
    }
}

pub(super) struct Classified {
    pub(super) class: Class,
    pub(super) credits: u32,
    /// Price failed (LIMIT_EXCEEDED …): sent as queued.
    pub(super) unpriceable: bool,
    /// A write whose records a Bulk Write job's CSV can carry (see [`bulk_shape`]).
    pub(super) bulk: BulkShape,
    /// A GET's identity (path and sorted query, `strong_key`), for dedupe and the cache.
    pub(super) get_key: Option<std::num::NonZeroU64>,
    /// What few calls have, behind one pointer (a million calls: 32 bytes each saved).
    extra: Option<Box<Extra>>,
}

/// A call's `@{}` references and the unique values it sets.
struct Extra {
    refs: Box<[String]>,
    unique: Box<[u64]>,
}

/// Hashes of the unique-field values a write sets: `(module, field, value)`.
pub(super) fn unique_values(
    module: &str,
    body: Option<&JsonView>,
    unique: &UniqueFields,
) -> Vec<u64> {
    use std::hash::Hasher;
    let fields = unique.of(module);
    if fields.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in data_array(body).unwrap_or_default() {
        for f in fields {
            if let Some(v) = r.get(f.as_str()).and_then(JsonView::as_str) {
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

/// Classifies every call; big queues on as many threads as the machine has (calls classify
/// independently; each thread interns its modules, merged after).
/// Queues from this size are planned on several threads.
pub(super) const PARALLEL_FROM: usize = 20_000;

/// The threads a big queue's parts are worked on with: the cores, at most 8.
pub(super) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

pub(super) fn classify_all(
    queue: &[QueuedCall],
    table: &CostTable,
    unique: &UniqueFields,
) -> (Vec<Classified>, Interner) {
    let threads = threads();
    if queue.len() < PARALLEL_FROM || threads < 2 {
        let mut modules = Interner::default();
        let mut memo = RowMemo::default();
        let v = queue
            .iter()
            .map(|c| classify(c, table, unique, &mut modules, &mut memo))
            .collect();
        return (v, modules);
    }
    // The calls are classified a piece at a time, each piece taken by whichever thread is
    // free (one slowed by other work on the machine does not hold the other idle), straight
    // into its place in one vector (per-thread vectors merged after would need the million
    // calls twice for a moment; slots filled first would be touched by one thread alone).
    // Each thread interns modules its own way; remapped in place after.
    const PIECE: usize = 16 << 10;
    let n = queue.len();
    let mut out: Vec<Classified> = Vec::with_capacity(n);
    let slots: Vec<std::sync::Mutex<&mut [std::mem::MaybeUninit<Classified>]>> = out
        .spare_capacity_mut()[..n]
        .chunks_mut(PIECE)
        .map(std::sync::Mutex::new)
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (slots, next) = (&slots, &next);
    // Each thread's modules, and the pieces it classified.
    let locals: Vec<(Interner, Vec<usize>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut modules = Interner::default();
                    let mut memo = RowMemo::default();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(piece) = slots.get(i) else {
                            return (modules, done);
                        };
                        let mut piece = piece.lock().unwrap_or_else(|e| e.into_inner());
                        for (c, slot) in queue[i * PIECE..].iter().zip(piece.iter_mut()) {
                            slot.write(classify(c, table, unique, &mut modules, &mut memo));
                        }
                        done.push(i);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    // SAFETY: every piece was taken by a thread (each took pieces until none was left) and
    // each of its slots written (a piece is as long as its stretch of the queue); a thread
    // that panicked was resumed above, before this line, leaving the vector empty.
    unsafe { out.set_len(n) };
    let mut modules = Interner::default();
    for (local, pieces) in &locals {
        let map: Vec<ModId> = local.names.iter().map(|n| modules.get(n)).collect();
        for &i in pieces {
            for c in &mut out[i * PIECE..((i + 1) * PIECE).min(n)] {
                c.class.remap(&map);
            }
        }
    }
    (out, modules)
}

impl Class {
    /// Rewrites module ids interned by one thread into the merged interner's.
    pub(super) fn remap(&mut self, map: &[ModId]) {
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

#[derive(Default)]
pub(super) struct Interner {
    pub(super) ids: HashMap<String, ModId>,
    pub(super) names: Vec<String>,
}

impl Interner {
    pub(super) fn get(&mut self, name: &str) -> ModId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as ModId;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
    pub(super) fn name(&self, id: ModId) -> &str {
        &self.names[id as usize]
    }
}

/// Zoho's reserved first segments after the version: not module names.
pub(super) fn is_module(seg: &str) -> bool {
    // Modules' API names start with a capital (Leads, Custom_Module1); the reserved ones never
    // do (a million calls are asked).
    if seg.as_bytes().first().is_some_and(u8::is_ascii_uppercase) {
        return true;
    }
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

pub(super) fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(super) fn data_array<'b, 'a>(body: Option<&'b JsonView<'a>>) -> Option<&'b [JsonView<'a>]> {
    body?.get("data")?.as_array()
}

/// Every `@{call}` inside a string.
pub(super) fn refs_in(s: &str, out: &mut Vec<String>) {
    if !has_pair(s, b'@', b'{') {
        return;
    }
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

/// Whether `s` holds byte `a` followed by `b`: memchr finds each `a` (a million texts are
/// searched, most without one; `str::contains` builds a searcher per text).
fn has_pair(s: &str, a: u8, b: u8) -> bool {
    let bytes = s.as_bytes();
    memchr::memchr_iter(a, bytes).any(|i| bytes.get(i + 1) == Some(&b))
}

/// Whether a body's JSON text may hold `@{`: written plainly, or with an escape (`\u0040{`).
/// One pass for both (most bodies have an `@`: emails).
fn may_name_calls(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(b'@', b'\\', bytes).any(|i| {
        matches!(
            (bytes[i], bytes.get(i + 1)),
            (b'@', Some(b'{')) | (b'\\', Some(b'u'))
        )
    })
}

/// The `@{call}` references a call makes: in its body, path and query.
pub(super) fn call_refs(call: &QueuedCall) -> Vec<String> {
    let body = call.body.as_ref().map(|b| b.text());
    // Most bodies name no call: their text says so without parsing them.
    let view = body.filter(|t| may_name_calls(t)).map(JsonView::parse);
    refs_of(call, view.as_ref())
}

/// [`call_refs`], the body read from `body` (the call's body parsed, or None when its text
/// names no call: classification has it parsed already).
fn refs_of(call: &QueuedCall, body: Option<&JsonView>) -> Vec<String> {
    let mut refs = Vec::new();
    if let Some(b) = body {
        collect_refs(b, &mut refs);
    }
    refs_in(&call.path, &mut refs);
    for (_, v) in &call.query {
        refs_in(v, &mut refs);
    }
    refs
}

/// `@{call}` references in a body (ids of records created by earlier calls).
pub(super) fn collect_refs(v: &JsonView, out: &mut Vec<String>) {
    match v {
        JsonView::String(s) => refs_in(s, out),
        JsonView::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        JsonView::Object(o) => o.iter().for_each(|(_, x)| collect_refs(x, out)),
        _ => {}
    }
}

/// `(Field:equals:value)`: the one condition of a search, when it is that simple.
pub(super) fn equals_criterion(criteria: &str) -> Option<(String, String)> {
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
pub(super) fn shape_of(call: &QueuedCall, body: Option<&JsonView>, extra: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = strong_hasher();
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
    if let Some(JsonView::Object(o)) = body {
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

/// Paths with up to this many segments split on the stack.
const MAX_SEGMENTS: usize = 12;

/// The path's segments into `buf`, other API versions read as v8; None when the path needs the
/// general route (percent-escapes, a full URL, too many segments). Queue paths are plain, so a
/// million calls split without allocating.
fn split_plain<'p>(path: &'p str, buf: &mut [&'p str; MAX_SEGMENTS]) -> Option<usize> {
    // One pass over the bytes: split at `/` (empty segments dropped), give up at a `%` or a
    // `://`.
    let bytes = path.as_bytes();
    let (mut n, mut start) = (0, 0);
    for i in 0..=bytes.len() {
        match bytes.get(i) {
            Some(b'%') => return None,
            Some(b':') if bytes[i + 1..].starts_with(b"//") => return None,
            Some(b'/') | None => {
                if i > start {
                    *buf.get_mut(n)? = &path[start..i];
                    n += 1;
                }
                start = i + 1;
            }
            Some(_) => {}
        }
    }
    let at = match &buf[..n] {
        ["crm", "bulk", ..] => 2,
        ["crm", ..] => 1,
        _ => usize::MAX,
    };
    if let Some(v) = buf[..n].get_mut(at) {
        if v.len() >= 2 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit()) {
            *v = "v8";
        }
    }
    Some(n)
}

pub(super) fn classify(
    call: &QueuedCall,
    table: &CostTable,
    unique: &UniqueFields,
    modules: &mut Interner,
    memo: &mut RowMemo,
) -> Classified {
    let mut buf = [""; MAX_SEGMENTS];
    let owned: Vec<String>;
    let owned_refs: Vec<&str>;
    let plain = split_plain(&call.path, &mut buf);
    let segs: &[&str] = match plain {
        Some(n) => &buf[..n],
        None => {
            owned = normalise_path(&call.path);
            owned_refs = owned.iter().map(String::as_str).collect();
            &owned_refs
        }
    };
    // Parsed once here, for the price, the class and the unique values; dropped after.
    let body = call.body.as_ref().map(|b| JsonView::parse(b.text()));
    let price = table.credits_segments_memo(
        memo,
        &call.method,
        segs,
        &call.query,
        &body_facts(body.as_ref()),
    );
    let names_calls = call.body.as_ref().is_some_and(|b| may_name_calls(b.text()));
    let refs = refs_of(call, body.as_ref().filter(|_| names_calls));
    let (credits, unpriceable) = match price {
        Ok(c) => (c, false),
        Err(_) => (0, true),
    };
    let class = if unpriceable {
        match segs {
            ["crm", _, module, ..] if is_module(module) => Class::Other {
                module: modules.get(module),
            },
            _ => Class::Barrier,
        }
    } else {
        classify_segments(call, body.as_ref(), segs, modules)
    };
    // 0 is kept for "none" (a hash of 0 reads as 1: a collision only merges two GETs'
    // identities with a chance of 2^-64, as any other).
    let get_key = (call.method == super::plan::Method::Get)
        .then(|| std::num::NonZeroU64::new(get_key(call)).unwrap_or(std::num::NonZeroU64::MIN));
    let unique = match &class {
        // Deletes and tag changes set no field.
        Class::Write {
            module,
            kind: WriteKind::Insert | WriteKind::Update | WriteKind::Upsert,
            ..
        } => unique_values(modules.name(*module), body.as_ref(), unique),
        _ => Vec::new(),
    };
    let bulk = match &class {
        Class::Write { .. } => {
            // The plain split's segments are the path's non-empty ones.
            let segments =
                plain.unwrap_or_else(|| call.path.split('/').filter(|s| !s.is_empty()).count());
            bulk_shape(segments, body.as_ref())
        }
        _ => BulkShape::default(),
    };
    Classified {
        class,
        credits,
        unpriceable,
        bulk,
        get_key,
        extra: (!refs.is_empty() || !unique.is_empty()).then(|| {
            Box::new(Extra {
                refs: refs.into_boxed_slice(),
                unique: unique.into_boxed_slice(),
            })
        }),
    }
}

pub(super) fn classify_segments(
    call: &QueuedCall,
    body: Option<&JsonView>,
    segs: &[&str],
    modules: &mut Interner,
) -> Class {
    use super::plan::Method::{Delete, Get, Post, Put};
    // Every call the planner tells apart is under /crm/v8 (other versions read as v8): the
    // rest of the path is matched, with the method as its enum (a byte, where the method's
    // name and the two segments were compared again for each pattern tried).
    let ["crm", "v8", rest @ ..] = segs else {
        return Class::Barrier;
    };
    let records = data_array(body).map_or(0, |d| d.len() as u32);
    let shape = |extra: &str| shape_of(call, body, extra);
    match (call.method, rest) {
        (Get, ["settings", ..]) | (Get, ["org"]) => Class::Metadata,
        (Get, ["users", ..]) | (Get, ["__apis"]) => Class::ReadWide { module: None },
        (_, ["settings", ..]) => Class::Barrier,
        (Post, ["coql"]) => {
            let module = body
                .and_then(|b| b.get("select_query"))
                .and_then(JsonView::as_str)
                .and_then(coql_module)
                .map(|name| modules.get(&name));
            Class::ReadWide { module }
        }
        (Get, [module, id]) if is_module(module) && is_record_id(id) => {
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
        (Get, [module, "search"]) if is_module(module) => {
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
        (Get, [module, ..]) if is_module(module) => Class::ReadWide {
            module: Some(modules.get(module)),
        },
        (Post, [module]) if is_module(module) && records > 0 => Class::Write {
            module: modules.get(module),
            kind: WriteKind::Insert,
            records,
            ids: Box::default(),
            check: CheckFields::default(),
            shape: shape(""),
            mass: 0,
        },
        (Put, [module]) if is_module(module) && records > 0 => {
            let data = data_array(body).unwrap_or_default();
            let ids: Option<Vec<u64>> = data
                .iter()
                .map(|r| record_id(r).map(|id| id_key(&id)))
                .collect();
            match ids {
                Some(ids) => Class::Write {
                    module: modules.get(module),
                    kind: WriteKind::Update,
                    records,
                    ids: ids.into_boxed_slice(),
                    check: CheckFields::default(),
                    shape: shape(""),
                    mass: mass_values(call, body, None),
                },
                None => Class::Other {
                    module: modules.get(module),
                },
            }
        }
        (Post, [module, id, "actions", action @ ("add_tags" | "remove_tags")])
            if is_module(module) && is_record_id(id) =>
        {
            Class::Write {
                module: modules.get(module),
                kind: if *action == "add_tags" {
                    WriteKind::AddTags
                } else {
                    WriteKind::RemoveTags
                },
                records: 1,
                ids: Box::new([id_key(id)]),
                check: CheckFields::default(),
                // The tags and over_write are in the shape: calls batch with the same ones.
                shape: shape(action),
                mass: 0,
            }
        }
        (Put, [module, id]) if is_module(module) && records == 1 => Class::Write {
            module: modules.get(module),
            kind: WriteKind::Update,
            records,
            ids: Box::new([id_key(id)]),
            check: CheckFields::default(),
            shape: shape(""),
            mass: mass_values(call, body, Some(id)),
        },
        (Post, [module, "upsert"]) if is_module(module) && records > 0 => {
            let check = body
                .and_then(|b| b.get("duplicate_check_fields"))
                .and_then(JsonView::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(JsonView::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            Class::Write {
                module: modules.get(module),
                kind: WriteKind::Upsert,
                records,
                ids: Box::default(),
                shape: shape(&check),
                check: CheckFields::new(check),
                mass: 0,
            }
        }
        (Delete, [module]) if is_module(module) => {
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
                    ids: ids.into_boxed_slice(),
                    check: CheckFields::default(),
                    shape: shape(""),
                    mass: 0,
                }
            }
        }
        (Delete, [module, id]) if is_module(module) && is_record_id(id) => Class::Write {
            module: modules.get(module),
            kind: WriteKind::Delete,
            records: 1,
            ids: Box::new([id_key(id)]),
            check: CheckFields::default(),
            shape: shape(""),
            mass: 0,
        },
        (_, [module, ..]) if is_module(module) => Class::Other {
            module: modules.get(module),
        },
        _ => Class::Barrier,
    }
}

/// The hash of the values an update sets on every record it names, when a mass update can
/// carry it (0 when not): a body of `data` alone (no `trigger` or other keys a mass update
/// does not take), no query, each record named by a plain id (in the record or, for
/// `PUT /{module}/{id}`, the path) and setting the same fields to the same flat values
/// (strings, numbers, booleans: a multi-select list would be appended to, not replaced, and
/// null or a lookup may mean other things to a mass update), none an `@{}` reference.
pub(super) fn mass_values(
    call: &QueuedCall,
    body: Option<&JsonView>,
    path_id: Option<&str>,
) -> u64 {
    use std::hash::Hasher;
    if !call.query.is_empty() || path_id.is_some_and(|id| !is_plain_id(id)) {
        return 0;
    }
    let Some(JsonView::Object(o)) = body else {
        return 0;
    };
    if o.len() != 1 {
        return 0;
    }
    let Some(data) = data_array(body).filter(|d| !d.is_empty()) else {
        return 0;
    };
    let mut key = 0u64;
    for r in data {
        let Some(rec) = r.as_object() else {
            return 0;
        };
        let id_ok = match (record_id(r), path_id) {
            (Some(id), _) => is_plain_id(&id),
            (None, Some(_)) => true,
            (None, None) => false,
        };
        if !id_ok {
            return 0;
        }
        let mut h = strong_hasher();
        let mut fields = 0;
        // The map keeps its keys sorted: equal records hash equally.
        for (k, v) in rec.iter().filter(|(k, _)| k != "id") {
            h.write(k.as_bytes());
            h.write_u8(0xff);
            // Each kind of value by a byte of its own and its content (no text made for it):
            // equal values hash alike, a string never as a number.
            match v {
                JsonView::String(s) if !has_pair(s, b'@', b'{') => {
                    h.write_u8(b's');
                    h.write(s.as_bytes());
                }
                JsonView::Number(n) => {
                    h.write_u8(b'n');
                    h.write(n.to_string().as_bytes());
                }
                JsonView::Bool(b) => h.write_u8(if *b { b't' } else { b'f' }),
                _ => return 0,
            }
            h.write_u8(0xfe);
            fields += 1;
        }
        if fields == 0 {
            return 0;
        }
        // Never 0: 0 says "not carried".
        let this = h.finish() | 1;
        if key != 0 && this != key {
            return 0;
        }
        key = this;
    }
    key
}

pub(super) fn is_record_id(s: &str) -> bool {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        || (s.starts_with("@{") && s.ends_with('}'))
}

/// The id a record names: its `id`, a non-empty string or a number.
pub(super) fn record_id(v: &JsonView) -> Option<String> {
    id_text(v.get("id")?)
}

/// An id's text: a non-empty string or a number.
pub(super) fn id_text(id: &JsonView) -> Option<String> {
    match id {
        JsonView::String(s) if !s.is_empty() => Some(s.to_string()),
        JsonView::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a price reads of a body (see [`BodyFacts`]), from the planner's view of it.
fn body_facts<'b>(body: Option<&'b JsonView>) -> BodyFacts<'b> {
    let at = |key: &str| body.and_then(|b| b.get(key));
    BodyFacts::read(
        |key| at(key).and_then(JsonView::as_array).map(|a| a.len() as u32),
        |key| at(key).and_then(JsonView::as_str),
    )
}

pub(super) fn coql_module(q: &str) -> Option<String> {
    let lower = q.to_ascii_lowercase();
    let at = lower.find(" from ")?;
    q[at + 6..].split_whitespace().next().map(|s| {
        s.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
            .to_string()
    })
}

/// A fast hash for conflict tracking (record ids, unique values): a collision only adds an
/// ordering constraint, never changes what a plan does.
pub(super) fn id_key(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// The hasher for decisions a collision would change (which GETs are the same, which write a
/// search belongs to, which calls share a request shape or a mass update's values): foldhash's
/// quality hash, 64 bits as SipHash's, a chance of 2^-64 that two differ and hash alike, at a
/// fraction of SipHash's cost (a million calls are hashed). Its seed is fixed: a queue plans
/// the same way every time.
pub(super) fn strong_hasher() -> impl std::hash::Hasher {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0x6372_6564_6974_6f70).build_hasher()
}

/// `parts` hashed by [`strong_hasher`], each ended by a byte no UTF-8 text holds.
pub(super) fn strong_key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    use std::hash::Hasher;
    let mut h = strong_hasher();
    for p in parts {
        h.write(p);
        h.write_u8(0xff);
    }
    h.finish()
}

pub(super) fn get_key(call: &QueuedCall) -> u64 {
    let key = |q: &[&(String, String)]| {
        strong_key(
            std::iter::once(call.path.as_bytes())
                .chain(q.iter().flat_map(|(a, b)| [a.as_bytes(), b.as_bytes()])),
        )
    };
    match &call.query[..] {
        // One parameter or none is already in order (the common case: no sorting buffer).
        [] => key(&[]),
        [one] => key(&[one]),
        many => {
            let mut q: Vec<&(String, String)> = many.iter().collect();
            q.sort();
            key(&q)
        }
    }
}

impl Classified {
    /// The `@{call}` references the call makes.
    pub(super) fn refs(&self) -> &[String] {
        self.extra.as_deref().map_or(&[], |e| &e.refs)
    }

    /// Hashes of the unique-field values a write sets.
    pub(super) fn unique(&self) -> &[u64] {
        self.extra.as_deref().map_or(&[], |e| &e.unique)
    }

    pub(super) fn records(&self) -> u32 {
        match &self.class {
            Class::Write { records, .. } => *records,
            _ => 0,
        }
    }
}

pub(super) fn coql_fields(fields: &str) -> bool {
    let mut count = 0;
    !fields.is_empty()
        && fields.split(',').all(|f| {
            count += 1;
            count <= 50
                && !f.is_empty()
                && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

pub(super) fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain split is the general one (`normalise_path`) wherever it answers, and leaves
    /// escapes and full URLs to it.
    #[test]
    fn a_plain_path_splits_as_the_general_route_does() {
        for path in [
            "/crm/v8/Leads",
            "/crm/v2.1/Leads/123/actions/convert",
            "//crm//v7/Leads/",
            "/crm/bulk/v3/write",
            "/crm/v8/settings/fields",
            "crm/v8/Contacts/search",
            "/crm/v8/Leads:x/1",
            "/",
            "",
        ] {
            let mut buf = [""; MAX_SEGMENTS];
            let n = split_plain(path, &mut buf).expect(path);
            assert_eq!(buf[..n].to_vec(), normalise_path(path), "{path}");
        }
        for path in [
            "/crm/v8/Le%61ds",
            "https://www.zohoapis.com/crm/v8/Leads",
            "/a/b/c/d/e/f/g/h/i/j/k/l/m",
        ] {
            assert_eq!(split_plain(path, &mut [""; MAX_SEGMENTS]), None, "{path}");
        }
    }

    #[test]
    fn modules_and_coql_fields_are_told_apart() {
        for m in ["Leads", "Custom_Module1", "leads_custom", "Deals"] {
            assert!(is_module(m), "{m}");
        }
        for m in ["settings", "org", "coql", "__apis", "__anything", "actions"] {
            assert!(!is_module(m), "{m}");
        }
        let fifty = vec!["F"; 50].join(",");
        assert!(coql_fields("Last_Name,Email") && coql_fields(&fifty));
        for f in ["", "A,,B", "A,B-C", &format!("{fifty},G")] {
            assert!(!coql_fields(f), "{f}");
        }
    }
}

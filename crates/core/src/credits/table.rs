//! The cost table: data rows compiled in from `costs.toml`, overridable by a user file, and the
//! pricing of a concrete HTTP call against it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The built-in table, compiled in so the binary prices calls with no files around it.
pub const BUILTIN_COSTS: &str = include_str!("costs.toml");

/// Path segments that are never a module API name, so `{module}` does not swallow them.
const RESERVED_SEGMENTS: &[&str] = &[
    "settings",
    "actions",
    "users",
    "org",
    "coql",
    "__apis",
    "__composite_requests",
    "upload",
    "bulk",
    "__notification",
    "files",
];

/// How a row turns a call into credits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CostRule {
    /// A fixed price; calls over `max_records` are refused.
    Flat {
        credits: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_records: Option<u32>,
    },
    /// One credit per `per` records, rounded up; more than `max_records` is refused.
    PerRecords { per: u32, max_records: u32 },
    /// COQL: priced by the LIMIT of the select query, `[up_to_rows, credits]` ascending.
    Coql { tiers: Vec<[u32; 2]> },
    /// A composite request: a fixed price per call, whatever its sub-requests.
    Composite { credits: u32, max_sub_requests: u32 },
}

/// When a call takes a sub-concurrency slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubConcurrency {
    #[default]
    Never,
    Always,
    #[serde(rename = "over_10_records")]
    Over10Records,
}

/// One row of the cost table, as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostRow {
    pub name: String,
    /// An HTTP method, or `*` for any.
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_has: Option<String>,
    pub rule: CostRule,
    #[serde(default, skip_serializing_if = "is_default")]
    pub sub_concurrency: SubConcurrency,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub concurrency_slots: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_credits: Option<u32>,
    /// Bounds from Zoho's live price list (`__apis`): the rule's answer is clamped to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_credits: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_credits: Option<u32>,
    pub source: String,
}

fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn is_default(v: &SubConcurrency) -> bool {
    *v == SubConcurrency::Never
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostFile {
    #[serde(default)]
    op: Vec<CostRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Module,
    Id,
    Any,
}

#[derive(Debug, Clone)]
struct CompiledRow {
    row: CostRow,
    /// The row's name and source, shared by every price it makes (no allocation per call).
    name: Arc<str>,
    source: Arc<str>,
    method: Option<String>,
    segments: Vec<Segment>,
    specificity: u32,
}

/// A concrete HTTP call to price.
#[derive(Debug, Clone, Default)]
pub struct Call<'a> {
    pub method: &'a str,
    /// A path (`/crm/v8/Leads`) or a full URL; a `?query` on it is read too.
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
}

/// What a price reads of a call's body: the lengths of its `ids`, `data` and
/// `__composite_requests` arrays, and a COQL query's text. Read from a parsed body
/// ([`BodyFacts::of`]), or by the planner from its own view of one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyFacts<'a> {
    pub ids: Option<u32>,
    pub data: Option<u32>,
    pub sub_requests: Option<u32>,
    pub select_query: Option<&'a str>,
}

impl<'a> BodyFacts<'a> {
    /// The facts of a body however it is held: `array_len` gives the length of the array at
    /// a top-level key, `text` the string at one (the keys a price reads are named here only).
    pub fn read(
        array_len: impl Fn(&str) -> Option<u32>,
        text: impl Fn(&str) -> Option<&'a str>,
    ) -> BodyFacts<'a> {
        BodyFacts {
            ids: array_len("ids"),
            data: array_len("data"),
            sub_requests: array_len("__composite_requests"),
            select_query: text("select_query"),
        }
    }

    /// The facts of a parsed body.
    pub fn of(body: Option<&'a Value>) -> BodyFacts<'a> {
        let at = |key: &str| body.and_then(|b| b.get(key));
        BodyFacts::read(
            |key| at(key).and_then(Value::as_array).map(|a| a.len() as u32),
            |key| at(key).and_then(Value::as_str),
        )
    }
}

/// How a rule arrived at its answer (turned into words only when someone reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Unpriced,
    Flat,
    PerRecords { per: u32 },
    Coql { limit: u32, up_to: u32 },
    Composite { sub_requests: u32 },
}

/// What a call costs and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Price {
    pub credits: u32,
    /// The row that priced the call (`unpriced` when none matched).
    pub rule: Arc<str>,
    #[serde(skip)]
    pub basis: Basis,
    /// False when no row matched: the call is charged the default of 1 credit and flagged.
    pub priced: bool,
    pub records: u32,
    pub module: Option<String>,
    pub sub_concurrency: bool,
    pub concurrency_slots: u32,
    pub failure_credits: Option<u32>,
    pub source: Arc<str>,
}

impl Price {
    /// A human account of the rule, e.g. "1 per 10 records, rounded up (37 records)".
    pub fn explanation(&self) -> String {
        match self.basis {
            Basis::Unpriced => {
                "no row matches: the default of 1 credit for any API not listed".into()
            }
            Basis::Flat => format!("flat {}", self.credits),
            Basis::PerRecords { per } => {
                format!("1 per {per} records, rounded up ({} records)", self.records)
            }
            Basis::Coql { limit, up_to } => format!("COQL LIMIT {limit}: up to {up_to} rows"),
            Basis::Composite { sub_requests } => format!(
                "{} per composite call ({sub_requests} sub-requests)",
                self.credits
            ),
        }
    }
}

/// Credits an answer is charged, given its HTTP status: Zoho does not charge a 401 (no valid
/// token) or a 429 (refused by a limit); a 304 is charged unless configured otherwise (Zoho does
/// not say); a failed call is charged its `failure_credits` where the table names them. The
/// sandbox and the proxy both charge by this one rule, so their counts agree.
pub fn charged_credits(price: &Price, status: u16, charge_not_modified: bool) -> u32 {
    match status {
        401 | 404 | 429 => 0,
        304 if !charge_not_modified => 0,
        s if s >= 400 => price.failure_credits.unwrap_or(price.credits),
        _ => price.credits,
    }
}

/// A row's credit bounds: its rule's, unless the row states them (an imported `__apis` row).
pub fn row_bounds(row: &CostRow) -> (u32, u32) {
    let (min, max) = super::rule_bounds(&row.rule);
    (
        row.min_credits
            .unwrap_or(min)
            .min(row.max_credits.unwrap_or(max)),
        row.max_credits.unwrap_or(max),
    )
}

/// Why a call cannot be priced: Zoho refuses it before charging.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("LIMIT_EXCEEDED: {records} records in one call, at most {max} ({rule})")]
    LimitExceeded {
        records: u32,
        max: u32,
        rule: String,
    },
    #[error("INVALID_DATA: {sub_requests} sub-requests in one composite call, 1 to {max}")]
    TooManySubRequests { sub_requests: u32, max: u32 },
    #[error("LIMIT_EXCEEDED: COQL LIMIT {limit} is over the {max} rows a call may read")]
    CoqlLimit { limit: u32, max: u32 },
}

impl CostError {
    /// Zoho's error code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CostError::LimitExceeded { .. } | CostError::CoqlLimit { .. } => "LIMIT_EXCEEDED",
            CostError::TooManySubRequests { .. } => "INVALID_DATA",
        }
    }
}

/// Errors reading a cost table file.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: row `{row}`: {message}")]
    Row {
        file: String,
        row: String,
        message: String,
    },
}

/// The whole table, compiled for matching.
#[derive(Debug, Clone)]
pub struct CostTable {
    rows: Vec<CompiledRow>,
    /// The rows (indices, most specific first) by how many segments their path has: a call
    /// is matched against rows of its own length only (a million calls are priced in a plan).
    by_len: Vec<Vec<u32>>,
    /// Whether a row names an all-digit segment (then an id's digits are part of a path's
    /// shape in a [`RowMemo`]).
    digit_literals: bool,
}

/// The rows each path shape matches, for [`CostTable::credits_segments_memo`]; one per
/// thread, for one table.
#[derive(Debug, Default)]
pub struct RowMemo {
    rows: rustc_hash::FxHashMap<Box<[u8]>, Box<[u32]>>,
    /// The shape being looked up (kept: no allocation per call).
    key: Vec<u8>,
}

/// Whether `row`'s method and path match (its query is [`query_matches`]'), and the module its
/// path names (None when the row has no module segment).
fn path_matches<'p>(row: &CompiledRow, method: &str, segs: &[&'p str]) -> Option<Option<&'p str>> {
    if let Some(m) = &row.method {
        if !m.eq_ignore_ascii_case(method) {
            return None;
        }
    }
    let mut module = None;
    for (pattern, seg) in row.segments.iter().zip(segs) {
        match pattern {
            Segment::Literal(l) => {
                if l != seg {
                    return None;
                }
            }
            Segment::Module => {
                if !is_module_name(seg) {
                    return None;
                }
                module = Some(*seg);
            }
            Segment::Id => {
                // A `{placeholder}` stands for an id in a listed path (`__apis`).
                let placeholder = seg.starts_with('{') && seg.ends_with('}');
                if !placeholder && (seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_digit())) {
                    return None;
                }
            }
            Segment::Any => {}
        }
    }
    Some(module)
}

/// Whether the query a row asks for (`query_has`) is there, with a value.
fn query_matches(row: &CompiledRow, query: &[(String, String)]) -> bool {
    match &row.row.query_has {
        Some(key) => query.iter().any(|(k, v)| k == key && !v.is_empty()),
        None => true,
    }
}

impl CostTable {
    /// The built-in table.
    pub fn builtin() -> Self {
        // The built-in file is tested to parse; failing here is a build defect, not input.
        Self::from_toml(BUILTIN_COSTS, "built-in costs.toml")
            .expect("the built-in cost table parses (tested)")
    }

    /// The built-in table, parsed once and shared (for callers without a `CreditModel`).
    pub fn builtin_shared() -> &'static CostTable {
        static TABLE: std::sync::OnceLock<CostTable> = std::sync::OnceLock::new();
        TABLE.get_or_init(CostTable::builtin)
    }

    /// A table from TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, TableError> {
        let rows = parse_rows(text, file)?;
        let mut table = CostTable {
            rows: Vec::new(),
            by_len: Vec::new(),
            digit_literals: false,
        };
        for row in rows {
            table.push(compile(row, file)?);
        }
        table.sort();
        Ok(table)
    }

    /// The built-in table with the user's rows laid over it: a user row with the same method,
    /// path and condition as a built-in one replaces it; other user rows join the table and win
    /// ties of specificity.
    pub fn with_overrides(mut self, text: &str, file: &str) -> Result<Self, TableError> {
        let user = parse_rows(text, file)?;
        let mut compiled = Vec::with_capacity(user.len());
        for row in user {
            compiled.push(compile(row, file)?);
        }
        self.rows.retain(|builtin| {
            !compiled.iter().any(|u| {
                u.row.method.eq_ignore_ascii_case(&builtin.row.method)
                    && u.row.path == builtin.row.path
                    && u.row.query_has == builtin.row.query_has
            })
        });
        // User rows go first so the stable sort lets them win ties.
        compiled.append(&mut self.rows);
        self.rows = compiled;
        self.sort();
        Ok(self)
    }

    fn push(&mut self, row: CompiledRow) {
        self.rows.push(row);
    }

    fn sort(&mut self) {
        self.rows.sort_by_key(|r| std::cmp::Reverse(r.specificity));
        self.by_len.clear();
        for (i, r) in self.rows.iter().enumerate() {
            let n = r.segments.len();
            if self.by_len.len() <= n {
                self.by_len.resize(n + 1, Vec::new());
            }
            self.by_len[n].push(i as u32);
        }
        self.digit_literals = self.rows.iter().any(|r| {
            r.segments.iter().any(|s| {
                matches!(s, Segment::Literal(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            })
        });
    }

    /// The rows, most specific first.
    pub fn rows(&self) -> impl Iterator<Item = &CostRow> {
        self.rows.iter().map(|r| &r.row)
    }

    /// The row that prices `method path?query`, if any.
    pub fn find(&self, method: &str, path: &str, query: &[(String, String)]) -> Option<&CostRow> {
        let segments = normalise_path(path);
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        self.match_row(method, &segs, query).map(|(r, _)| &r.row)
    }

    /// The fewest and most credits a `method path` call can cost: over the row that prices it
    /// and the rows for the same pattern that a query parameter selects (Get Records with
    /// `cvid`). What `GET /__apis` lists, one entry per method and path.
    pub fn bounds(&self, method: &str, path: &str) -> Option<(u32, u32)> {
        let best = self.find(method, path, &[])?;
        let mut out = row_bounds(best);
        for r in self.rows() {
            if r.query_has.is_some()
                && r.path == best.path
                && r.method.eq_ignore_ascii_case(&best.method)
            {
                let (lo, hi) = row_bounds(r);
                out = (out.0.min(lo), out.1.max(hi));
            }
        }
        Some(out)
    }

    /// The row that prices a call, and the module the path names (borrowed: most rows tried
    /// fail, so nothing is allocated while trying them).
    fn match_row<'s, 'p>(
        &'s self,
        method: &str,
        segs: &[&'p str],
        query: &[(String, String)],
    ) -> Option<(&'s CompiledRow, Option<&'p str>)> {
        let same_length = self.by_len.get(segs.len()).map(Vec::as_slice);
        same_length
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.rows[i as usize])
            .find_map(|row| {
                let module = path_matches(row, method, segs)?;
                query_matches(row, query).then(|| (row, module.or_else(|| literal_module(segs))))
            })
    }

    /// Only the credits of a call, as [`CostTable::price_segments`] says, with the rows its
    /// method and path match remembered in `memo` by the path's shape: a queue of a million
    /// calls names a few dozen shapes, and each is matched against the table once.
    pub fn credits_segments_memo(
        &self,
        memo: &mut RowMemo,
        method: &str,
        segs: &[&str],
        query: &[(String, String)],
        body: &BodyFacts<'_>,
    ) -> Result<u32, CostError> {
        memo.key.clear();
        memo.key.extend_from_slice(method.as_bytes());
        for seg in segs {
            // An id's digits do not change which rows match, unless a row names digits.
            if !self.digit_literals && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                memo.key.push(0xff);
            } else {
                memo.key
                    .extend_from_slice(&(seg.len() as u32).to_le_bytes());
                memo.key.extend_from_slice(seg.as_bytes());
            }
        }
        let candidates = match memo.rows.get(memo.key.as_slice()) {
            Some(c) => c,
            None => {
                let found: Box<[u32]> = self
                    .by_len
                    .get(segs.len())
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .copied()
                    .filter(|&i| path_matches(&self.rows[i as usize], method, segs).is_some())
                    .collect();
                memo.rows.entry(memo.key.as_slice().into()).or_insert(found)
            }
        };
        let row = candidates
            .iter()
            .map(|&i| &self.rows[i as usize])
            .find(|row| query_matches(row, query));
        self.credits_of(row, query, body)
    }

    /// What `row` charges for a call (1 without a row: an unknown path).
    fn credits_of(
        &self,
        row: Option<&CompiledRow>,
        query: &[(String, String)],
        body: &BodyFacts<'_>,
    ) -> Result<u32, CostError> {
        let Some(row) = row else {
            return Ok(1);
        };
        let r = &row.row;
        let records = count_records(body, query);
        let (credits, _) = apply_rule(&r.rule, &r.name, records, body)?;
        Ok(clamp(credits, r.min_credits, r.max_credits))
    }

    /// Prices one call. An unknown path costs 1 credit and is flagged `priced: false`.
    pub fn price(&self, call: &Call<'_>) -> Result<Price, CostError> {
        let (path_only, inline_query) = split_query(call.path);
        let mut query_owned;
        let query: &[(String, String)] = if inline_query.is_empty() {
            call.query
        } else {
            query_owned = parse_query(inline_query);
            query_owned.extend_from_slice(call.query);
            &query_owned
        };
        let segments = normalise_path(path_only);
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        self.price_segments(call.method, &segs, query, call.body)
    }

    /// Prices a call whose path is already split by [`normalise_path`] (servers split once and
    /// route on the same segments).
    pub fn price_segments(
        &self,
        method: &str,
        segs: &[&str],
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Price, CostError> {
        let facts = BodyFacts::of(body);
        let records = count_records(&facts, query);
        let Some((row, module)) = self.match_row(method, segs, query) else {
            return Ok(Price {
                credits: 1,
                rule: Arc::from("unpriced"),
                basis: Basis::Unpriced,
                priced: false,
                records,
                module: literal_module(segs).map(String::from),
                sub_concurrency: false,
                concurrency_slots: 1,
                failure_credits: None,
                source: Arc::from("api-limits pages: any API not listed costs 1"),
            });
        };
        let r = &row.row;
        // Bulk jobs name their module in the body, not the path.
        let module = module.map(String::from).or_else(|| {
            let b = body?;
            let m = b
                .pointer("/query/module/api_name")
                .or_else(|| b.pointer("/resource/0/module/api_name"))?;
            m.as_str().map(String::from)
        });
        let (credits, basis) = apply_rule(&r.rule, &r.name, records, &facts)?;
        let credits = clamp(credits, r.min_credits, r.max_credits);
        let sub_concurrency = match r.sub_concurrency {
            SubConcurrency::Never => false,
            SubConcurrency::Always => true,
            SubConcurrency::Over10Records => records > 10,
        };
        Ok(Price {
            credits,
            rule: row.name.clone(),
            basis,
            priced: true,
            records,
            module,
            sub_concurrency,
            concurrency_slots: r.concurrency_slots,
            failure_credits: r.failure_credits,
            source: row.source.clone(),
        })
    }
}

fn clamp(credits: u32, min: Option<u32>, max: Option<u32>) -> u32 {
    let c = min.map_or(credits, |m| credits.max(m));
    max.map_or(c, |m| c.min(m))
}

fn apply_rule(
    rule: &CostRule,
    name: &str,
    records: u32,
    body: &BodyFacts<'_>,
) -> Result<(u32, Basis), CostError> {
    match rule {
        CostRule::Flat {
            credits,
            max_records,
        } => {
            if let Some(max) = max_records {
                if records > *max {
                    return Err(CostError::LimitExceeded {
                        records,
                        max: *max,
                        rule: name.into(),
                    });
                }
            }
            Ok((*credits, Basis::Flat))
        }
        CostRule::PerRecords { per, max_records } => {
            if records > *max_records {
                return Err(CostError::LimitExceeded {
                    records,
                    max: *max_records,
                    rule: name.into(),
                });
            }
            let per = (*per).max(1);
            let credits = records.max(1).div_ceil(per);
            Ok((credits, Basis::PerRecords { per }))
        }
        CostRule::Coql { tiers } => {
            let query = body.select_query.unwrap_or("");
            let limit = coql_limit(query).unwrap_or(200);
            let max = tiers.last().map_or(2000, |t| t[0]);
            match tiers.iter().find(|t| limit <= t[0]) {
                Some(t) => Ok((t[1], Basis::Coql { limit, up_to: t[0] })),
                None => Err(CostError::CoqlLimit { limit, max }),
            }
        }
        CostRule::Composite {
            credits,
            max_sub_requests,
        } => {
            let subs = body.sub_requests.unwrap_or(0);
            if subs > *max_sub_requests {
                return Err(CostError::TooManySubRequests {
                    sub_requests: subs,
                    max: *max_sub_requests,
                });
            }
            Ok((*credits, Basis::Composite { sub_requests: subs }))
        }
    }
}

/// The number of rows a COQL select query asks for: `LIMIT n`, `LIMIT offset, n` or
/// `LIMIT n OFFSET m`. None when it has no LIMIT (Zoho then reads 200).
pub fn coql_limit(query: &str) -> Option<u32> {
    let lower = query.to_ascii_lowercase();
    let mut words = lower
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .peekable();
    let mut found = None;
    while let Some(w) = words.next() {
        if w == "limit" {
            let first = words.next().and_then(|n| n.parse::<u32>().ok());
            // `LIMIT offset, count`: the comma split leaves the count as the next word.
            let second = if lower.contains(',') {
                words.peek().and_then(|n| n.parse::<u32>().ok())
            } else {
                None
            };
            found = second.or(first);
        }
    }
    found
}

fn count_records(body: &BodyFacts<'_>, query: &[(String, String)]) -> u32 {
    // Calls that act on many records by id (mass update, bulk tags, mass convert) name them in
    // the body's `ids`; their `data` (if any) holds the values to write, once.
    if let Some(ids) = body.ids {
        return ids;
    }
    if let Some(data) = body.data {
        return data;
    }
    if let Some((_, ids)) = query.iter().find(|(k, _)| k == "ids") {
        return ids.split(',').filter(|s| !s.trim().is_empty()).count() as u32;
    }
    1
}

fn is_module_name(seg: &str) -> bool {
    !seg.is_empty()
        && !RESERVED_SEGMENTS.contains(&seg)
        && !seg.bytes().all(|b| b.is_ascii_digit())
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The module a path names when the matching row had no `{module}` placeholder
/// (e.g. `/crm/v8/Leads/{id}/actions/convert`).
fn literal_module<'p>(segs: &[&'p str]) -> Option<&'p str> {
    match segs {
        ["crm", v, m, ..] if v.starts_with('v') && is_module_name(m) => Some(*m),
        _ => None,
    }
}

fn split_query(path: &str) -> (&str, &str) {
    match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path, ""),
    }
}

/// Parses `a=1&b=2` (percent-decoded) into pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a path (or full URL) into segments, pricing other API versions as v8.
pub fn normalise_path(path: &str) -> Vec<String> {
    let path = split_query(path).0;
    let path = match path.find("://") {
        Some(i) => {
            let rest = &path[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => path,
    };
    let mut segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let version_at = match segs.as_slice() {
        [crm, bulk, ..] if crm == "crm" && bulk == "bulk" => 2,
        [crm, ..] if crm == "crm" => 1,
        _ => usize::MAX,
    };
    if let Some(v) = segs.get_mut(version_at) {
        if is_version(v) {
            *v = "v8".into();
        }
    }
    segs
}

fn is_version(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

fn parse_rows(text: &str, file: &str) -> Result<Vec<CostRow>, TableError> {
    let parsed: CostFile = toml::from_str(text).map_err(|e| TableError::Parse {
        file: file.into(),
        message: crate::toml_diag::describe_toml_error(text, &e),
    })?;
    Ok(parsed.op)
}

fn compile(row: CostRow, file: &str) -> Result<CompiledRow, TableError> {
    let err = |message: String| TableError::Row {
        file: file.into(),
        row: row.name.clone(),
        message,
    };
    if !row.path.starts_with('/') {
        return Err(err(format!("path `{}` must start with /", row.path)));
    }
    let mut segments = Vec::new();
    for seg in normalise_path(&row.path) {
        segments.push(match seg.as_str() {
            "{module}" | "{module_api_name}" => Segment::Module,
            "{id}" | "{record_id}" | "{job_id}" | "{lead_id}" => Segment::Id,
            s if s.starts_with('{') && s.ends_with('}') => Segment::Any,
            s => Segment::Literal(s.to_string()),
        });
    }
    match &row.rule {
        CostRule::PerRecords { per: 0, .. } => return Err(err("`per` must be at least 1".into())),
        CostRule::Coql { tiers } if tiers.is_empty() => {
            return Err(err("`tiers` must not be empty".into()))
        }
        CostRule::Coql { tiers } if tiers.windows(2).any(|w| w[0][0] >= w[1][0]) => {
            return Err(err("`tiers` must rise in rows".into()))
        }
        _ => {}
    }
    let method = if row.method == "*" {
        None
    } else {
        Some(row.method.to_ascii_uppercase())
    };
    let literal = segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count() as u32;
    let typed = segments
        .iter()
        .filter(|s| matches!(s, Segment::Module | Segment::Id))
        .count() as u32;
    let specificity = literal * 4
        + typed * 2
        + u32::from(row.query_has.is_some()) * 3
        + u32::from(method.is_some());
    Ok(CompiledRow {
        name: Arc::from(row.name.as_str()),
        source: Arc::from(row.source.as_str()),
        row,
        method,
        segments,
        specificity,
    })
}

impl fmt::Display for CostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostRule::Flat {
                credits,
                max_records: None,
            } => write!(f, "{credits}"),
            CostRule::Flat {
                credits,
                max_records: Some(m),
            } => write!(f, "{credits} (at most {m} records)"),
            CostRule::PerRecords { per, max_records } => {
                write!(f, "1 per {per} records (at most {max_records})")
            }
            CostRule::Coql { tiers } => {
                let mut lo = 1;
                let parts: Vec<String> = tiers
                    .iter()
                    .map(|t| {
                        let s = format!("LIMIT {lo}-{}: {}", t[0], t[1]);
                        lo = t[0] + 1;
                        s
                    })
                    .collect();
                write!(f, "{}", parts.join(", "))
            }
            CostRule::Composite {
                credits,
                max_sub_requests,
            } => write!(f, "{credits} per call (1-{max_sub_requests} sub-requests)"),
        }
    }
}

//! Queues of pending calls: JSONL (one call per line), HAR 1.2 (as browsers and proxies export
//! them), and the JSONL the proxy writes in hold mode. A bad line is reported as `FILE:LINE:
//! reason`; a queue with bad lines is refused unless the caller asks to skip them, and then
//! every skipped line is still named.

use super::scan::{skip_space, string_stop};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One pending HTTP call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedCall {
    /// The call's id in the queue: the one given, else `L<line>` (JSONL) or `E<entry>` (HAR).
    /// Shared (`Arc`): a plan names calls by id, and a million-step plan clones them all.
    pub id: Arc<str>,
    /// The HTTP method (one byte: see `Method`).
    pub method: super::plan::Method,
    /// The path, from `/crm/…`, without query (a full URL is reduced to its path).
    pub path: Arc<str>,
    #[serde(default, skip_serializing_if = "Pairs::is_empty")]
    pub query: Pairs,
    #[serde(default, skip_serializing_if = "Pairs::is_empty")]
    pub headers: Pairs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

/// A queued call's query parameters or headers, in order. Most calls have none, and a million
/// are held at once: none is one null pointer (8 bytes, no allocation; a `Vec` is 24). Shared:
/// a queue repeats a few queries many times (`fields=…` on reads by id), and each is stored
/// once ([`Repeats`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(clippy::rc_buffer)] // a thin pointer: see above
pub struct Pairs(Option<Arc<Vec<(String, String)>>>);

impl Pairs {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl From<Vec<(String, String)>> for Pairs {
    fn from(mut pairs: Vec<(String, String)>) -> Pairs {
        if pairs.is_empty() {
            return Pairs(None);
        }
        // Grown a pair at a time, a vector keeps room for four (192 bytes).
        if pairs.capacity() > pairs.len() {
            pairs.shrink_to_fit();
        }
        Pairs(Some(Arc::new(pairs)))
    }
}

impl std::ops::Deref for Pairs {
    type Target = [(String, String)];
    fn deref(&self) -> &[(String, String)] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl FromIterator<(String, String)> for Pairs {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Pairs {
        Pairs::from(pairs.into_iter().collect::<Vec<_>>())
    }
}

impl PartialEq<Vec<(String, String)>> for Pairs {
    fn eq(&self, other: &Vec<(String, String)>) -> bool {
        **self == other[..]
    }
}

impl<'a> IntoIterator for &'a Pairs {
    type Item = &'a (String, String);
    type IntoIter = std::slice::Iter<'a, (String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        Vec::<(String, String)>::deserialize(d).map(Pairs::from)
    }
}

/// A queued call's JSON body, kept as its text: a million bodies held as parsed values take
/// gigabytes (two maps each), as text about 70 bytes. Each is parsed when the planner or the
/// sender reads it; it was checked to be JSON when it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Body(Box<serde_json::value::RawValue>);

impl Body {
    /// A body from a value.
    pub fn new(v: &Value) -> Body {
        // A Value always serialises.
        Body(serde_json::value::to_raw_value(v).unwrap_or_else(|_| {
            serde_json::value::RawValue::from_string("null".into())
                .unwrap_or_else(|_| unreachable!("null is JSON"))
        }))
    }

    /// A body from text [`json_value`] checked: one well-formed JSON value, no space around.
    fn from_checked(text: &str) -> Body {
        // SAFETY: `from_string_unchecked` asks for one well-formed JSON value without leading
        // or trailing whitespace (other code may rely on a RawValue holding that), which is
        // what `json_value` gives: `json_view::value_end` answers only for the extent serde_json
        // reads as one value (`the_quick_skip_is_serdes`), else serde_json checked it; both
        // start at the value's first byte and end at its last. Debug builds (the tests) check
        // it again in `from_string_unchecked`.
        Body(unsafe { serde_json::value::RawValue::from_string_unchecked(text.to_owned()) })
    }

    /// The body's JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The body parsed.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        self.text() == other.text() || self.value() == other.value()
    }
}

impl QueuedCall {
    /// The body parsed (None without one).
    pub fn body_value(&self) -> Option<Value> {
        self.body.as_ref().map(Body::value)
    }
}

/// What a queue repeats, each stored once: the paths it names (few paths, many times: inserts
/// on a module, list reads, reads and writes of one record) and its query texts (a million
/// calls held a million copies of a few). One per parsing thread.
#[derive(Default)]
struct Repeats {
    paths: rustc_hash::FxHashSet<Arc<str>>,
    /// Query texts as written in the line (JSON), and what they read as.
    queries: rustc_hash::FxHashMap<Box<str>, Pairs>,
}

impl Repeats {
    /// Query texts kept at most, and the longest kept: a queue whose queries are all different
    /// (searches on each record's email) keeps a few and reads the rest as they come.
    const QUERIES: usize = 1024;
    const QUERY_BYTES: usize = 256;

    fn path(&mut self, path: &str) -> Arc<str> {
        if let Some(p) = self.paths.get(path) {
            return p.clone();
        }
        let p: Arc<str> = path.into();
        self.paths.insert(p.clone());
        p
    }

    /// A query written as a JSON object of scalars (`text`), less its credentials; None when
    /// it is not one.
    fn query(&mut self, text: &str) -> Option<Pairs> {
        if let Some(q) = self.queries.get(text) {
            return Some(q.clone());
        }
        let pairs: Pairs =
            without_credentials(serde_json::from_str::<ScalarPairs>(text).ok()?.0).into();
        if self.queries.len() < Self::QUERIES && text.len() <= Self::QUERY_BYTES {
            self.queries.insert(text.into(), pairs.clone());
        }
        Some(pairs)
    }
}

/// A line (or HAR entry) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// `FILE:LINE` (JSONL) or `FILE:entries[N]` (HAR).
    pub at: String,
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// What loading a queue found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub calls: Vec<QueuedCall>,
    pub bad: Vec<BadLine>,
    /// Things worth saying that lose nothing (HAR entries that are not CRM API calls).
    pub notes: Vec<String>,
}

/// Reads a queue file, bounded by [`crate::input::data_limit`]; the format is told by its
/// content (a HAR is one JSON object with `log`). A JSONL queue is read a block at a time
/// ([`read_queue`]).
pub fn load(path: &Path) -> Result<Loaded, crate::input::InputError> {
    load_named(path, &path.display().to_string())
}

/// [`load`], naming the file `name` in bad lines and errors (the console shows a short name).
pub fn load_named(path: &Path, name: &str) -> Result<Loaded, crate::input::InputError> {
    // A regular file's length sizes the calls; a pipe says 0.
    let (f, len, limit) = crate::input::open_data(path, name)?;
    read_queue(f, name, limit, len)
}

/// Parses a queue's text; `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Loaded {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') && looks_like_har(trimmed) {
        parse_har(text, file)
    } else {
        parse_jsonl(text, file)
    }
}

fn looks_like_har(text: &str) -> bool {
    // A HAR file is a single object whose first key is usually "log"; a JSONL line never is.
    let head: String = text
        .chars()
        .take(64)
        .filter(|c| !c.is_whitespace())
        .collect();
    head.starts_with("{\"log\"")
}

/// JSONL: `{"method", "path", "query"?, "headers"?, "body"?, "id"?}` per line; blank lines and
/// lines starting with `#` are skipped.
pub fn parse_jsonl(text: &str, file: &str) -> Loaded {
    // Read as a file is, from the text's bytes: UTF-8 already, and never taken for a HAR.
    read_queue_in_blocks(
        text.as_bytes(),
        file,
        u64::MAX,
        text.len() as u64,
        BLOCK_BYTES,
        false,
    )
    .unwrap_or_else(|e| Loaded {
        bad: vec![BadLine {
            at: file.to_string(),
            reason: e.to_string(),
        }],
        ..Loaded::default()
    })
}

/// A queue is read this many bytes at a time.
const BLOCK_BYTES: u64 = 16 << 20;
/// A block is parsed in pieces of about this many bytes (whole lines), each taken by whichever
/// core is free: a core slowed by other work on the machine does not hold the other idle.
const PIECE_BYTES: usize = 256 << 10;
/// Pieces read and not yet parsed, at most (a block's worth: the text in memory stays about
/// two blocks).
const PIECES_WAITING: usize = 64;

/// A queue read from `r` a block at a time, never whole: a JSONL queue is parsed block by
/// block (its calls are all that is kept), so a 125 MB file costs its calls, not its text as
/// well. A HAR file (one JSON object) is read whole and parsed as one. At most `limit` bytes
/// are read (more is [`InputError::TooLarge`]); `size_hint` (a file's length, or 0) lets the
/// calls be allocated once.
pub fn read_queue(
    r: impl std::io::Read + Send,
    file: &str,
    limit: u64,
    size_hint: u64,
) -> Result<Loaded, crate::input::InputError> {
    read_queue_in_blocks(r, file, limit, size_hint, BLOCK_BYTES, true)
}

/// A piece of a block: whole lines, parsed by whichever core is free.
struct Piece {
    /// An `Arc<String>`, not `Arc<str>`: made from the block read, it copies nothing.
    block: Arc<String>,
    range: std::ops::Range<usize>,
    /// The number of its first line, and its place among the pieces.
    first: usize,
    seq: usize,
}

/// What comes back to the thread that gathers the pieces.
enum Parsed {
    /// A piece's calls, its place, and its length in bytes.
    Piece(usize, ParsedPart, usize),
    Failed(crate::input::InputError),
}

/// [`read_queue`] with blocks of `block` bytes (tests use small ones); `har`: whether the text
/// may be a HAR file. Three kinds of threads: one reads the blocks and cuts them into pieces,
/// one per core parses the pieces as they come (each with its own path store), and this one
/// puts the parsed pieces back in file order as they come back. Reading, parsing and
/// gathering overlap: no core waits at a block's end for the others.
fn read_queue_in_blocks(
    r: impl std::io::Read + Send,
    file: &str,
    limit: u64,
    size_hint: u64,
    block: u64,
    har: bool,
) -> Result<Loaded, crate::input::InputError> {
    let mut blocks = Blocks {
        r,
        file,
        limit,
        block,
        har,
        buf: Vec::new(),
        read: 0,
        before: 0,
        line: 1,
        eof: false,
        spare: Vec::new(),
    };
    let first = match blocks.next_block()? {
        Some(Block::Har(text)) => return Ok(parse_har(&text, file)),
        Some(Block::Lines(lines)) => lines,
        None => return Ok(finish_jsonl(ParsedPart::default(), file)),
    };
    let threads = super::classify::threads();
    if threads < 2 || (blocks.eof && first.text.len() < 2 * PIECE_BYTES) {
        // A small queue, or one core: parsed here.
        let mut repeats = Repeats::default();
        let mut all = parse_lines(&first.text, first.first, &mut repeats);
        blocks.give_back(first.text);
        while let Some(next) = blocks.next_block()? {
            let Block::Lines(lines) = next else { break };
            append(
                &mut all,
                parse_lines(&lines.text, lines.first, &mut repeats),
            );
            blocks.give_back(lines.text);
        }
        return Ok(finish_jsonl(all, file));
    }
    std::thread::scope(|scope| {
        let (piece_tx, piece_rx) = std::sync::mpsc::sync_channel::<Piece>(PIECES_WAITING);
        // The parsing threads take turns at the pieces; the last of them to end (even by a
        // panic) lets go of the channel, so the reading never waits for a parser that is gone.
        let piece_rx = Arc::new(std::sync::Mutex::new(piece_rx));
        let (parsed_tx, parsed_rx) = std::sync::mpsc::sync_channel::<Parsed>(PIECES_WAITING);
        let failed_tx = parsed_tx.clone();
        // Blocks whose every piece was parsed, back to the reading (see `Blocks::give_back`).
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<String>();
        scope.spawn(move || {
            let mut seq = 0;
            let mut lines = first;
            loop {
                for piece in pieces(lines, &mut seq) {
                    // A closed channel: the gathering stopped at an error, or the parsers are
                    // gone; so does the reading.
                    if piece_tx.send(piece).is_err() {
                        return;
                    }
                }
                spare_rx.try_iter().for_each(|text| blocks.give_back(text));
                lines = match blocks.next_block() {
                    Ok(Some(Block::Lines(lines))) => lines,
                    // The end (a HAR is only ever told from the first block, read above).
                    Ok(_) => return,
                    Err(e) => {
                        let _ = failed_tx.send(Parsed::Failed(e));
                        return;
                    }
                };
            }
        });
        for _ in 0..threads {
            let parsed_tx = parsed_tx.clone();
            let piece_rx = piece_rx.clone();
            let spare_tx = spare_tx.clone();
            scope.spawn(move || {
                let mut repeats = Repeats::default();
                loop {
                    let piece = match piece_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    // No piece left (or the reading stopped): this core's work is done.
                    let Ok(piece) = piece else { return };
                    let text = &piece.block[piece.range.clone()];
                    let part = parse_lines(text, piece.first, &mut repeats);
                    if parsed_tx
                        .send(Parsed::Piece(piece.seq, part, text.len()))
                        .is_err()
                    {
                        return;
                    }
                    // The block's last piece: its text goes back to be read into (the reading
                    // may have ended: then it is freed).
                    if let Some(text) = Arc::into_inner(piece.block) {
                        let _ = spare_tx.send(text);
                    }
                }
            });
        }
        drop((parsed_tx, piece_rx, spare_tx));
        let mut all = ParsedPart::default();
        // Pieces parsed before one ahead of them wait here, by place.
        let mut waiting: std::collections::BTreeMap<usize, ParsedPart> = Default::default();
        let (mut next, mut bytes) = (0, 0u64);
        for parsed in parsed_rx {
            let (seq, part, len) = match parsed {
                Parsed::Piece(seq, part, len) => (seq, part, len),
                Parsed::Failed(e) => return Err(e),
            };
            if bytes == 0 && size_hint > len as u64 {
                // From what the first piece held: room for the rest at once (a million
                // calls moved at every doubling would need twice their room for a moment).
                let more = part.calls.len() * (size_hint as usize - len) / len.max(1);
                all.calls.reserve(more + more / 16);
                all.lines.reserve(more + more / 16);
            }
            bytes += len as u64;
            waiting.insert(seq, part);
            while let Some(part) = waiting.remove(&next) {
                append(&mut all, part);
                next += 1;
            }
        }
        Ok(finish_jsonl(all, file))
    })
}

/// A block's lines cut into pieces of about [`PIECE_BYTES`], numbered from `seq` on.
fn pieces(lines: Lines, seq: &mut usize) -> Vec<Piece> {
    let block = Arc::new(lines.text);
    let mut out = Vec::with_capacity(block.len() / PIECE_BYTES + 1);
    let (mut at, mut line) = (0, lines.first);
    while at < block.len() {
        let rest = &block.as_bytes()[at..];
        let len = match rest
            .get(PIECE_BYTES..)
            .and_then(|t| memchr::memchr(b'\n', t))
        {
            Some(i) => PIECE_BYTES + i + 1,
            None => rest.len(),
        };
        out.push(Piece {
            block: block.clone(),
            range: at..at + len,
            first: line,
            seq: *seq,
        });
        line += memchr::memchr_iter(b'\n', &rest[..len]).count();
        at += len;
        *seq += 1;
    }
    out
}

/// `part`, the lines after those of `all`, appended to it.
fn append(all: &mut ParsedPart, part: ParsedPart) {
    let base = all.calls.len();
    all.refs
        .extend(part.refs.into_iter().map(|(i, r)| (base + i, r)));
    all.calls.extend(part.calls);
    all.lines.extend(part.lines);
    all.bad.extend(part.bad);
}

/// What [`Blocks`] reads next: whole lines of a JSONL queue, or a HAR file whole.
enum Block {
    Lines(Lines),
    Har(String),
}

struct Lines {
    text: String,
    /// The number of the block's first line.
    first: usize,
}

/// A queue's text read a block of whole lines at a time, bounded by `limit`.
struct Blocks<'f, R> {
    r: R,
    file: &'f str,
    limit: u64,
    block: u64,
    /// Whether the text may be a HAR file (told from its first bytes).
    har: bool,
    /// What followed the last newline read (the start of the next block).
    buf: Vec<u8>,
    /// Bytes read in all, and those before `buf` (for the offset of a bad byte).
    read: u64,
    before: u64,
    line: usize,
    eof: bool,
    /// Blocks given back once parsed, for the next ones (see [`Blocks::give_back`]).
    spare: Vec<Vec<u8>>,
}

impl<R: std::io::Read> Blocks<'_, R> {
    /// A parsed block's text, to be read into again (two kept at most: the blocks in flight).
    fn give_back(&mut self, text: String) {
        if self.spare.len() < 2 {
            self.spare.push(text.into_bytes());
        }
    }

    fn next_block(&mut self) -> Result<Option<Block>, crate::input::InputError> {
        use crate::input::InputError;
        use std::io::Read as _;
        let file = self.file;
        loop {
            if self.eof && self.buf.is_empty() {
                return Ok(None);
            }
            let cut = if self.eof {
                self.buf.len()
            } else {
                let want = self
                    .block
                    .min(self.limit.saturating_add(1).saturating_sub(self.read));
                // What was there before holds no newline (it is what followed the last one),
                // so only the new bytes are searched: a long line costs one pass, not one per
                // block.
                let fresh = self.buf.len();
                // Room for the block at once: grown by doubling, the buffer would keep twice
                // a block.
                self.buf.reserve(want as usize);
                let n = (&mut self.r)
                    .take(want)
                    .read_to_end(&mut self.buf)
                    .map_err(|source| InputError::Io {
                        name: file.to_string(),
                        source,
                    })? as u64;
                self.read += n;
                if self.read > self.limit {
                    return Err(InputError::TooLarge {
                        name: file.to_string(),
                        limit: self.limit,
                        how: crate::input::DATA_HOW,
                    });
                }
                self.eof = n < want || want == 0;
                if self.har && self.before == 0 && fresh == 0 {
                    let head = String::from_utf8_lossy(&self.buf[..self.buf.len().min(256)]);
                    if looks_like_har(head.trim_start()) {
                        // The bytes read so far, then the rest: one bounded read of the whole.
                        let whole =
                            std::io::Cursor::new(std::mem::take(&mut self.buf)).chain(&mut self.r);
                        let text = crate::input::read_text_from(
                            whole,
                            file,
                            self.limit,
                            crate::input::DATA_HOW,
                        )?;
                        self.eof = true;
                        return Ok(Some(Block::Har(text)));
                    }
                }
                if self.eof {
                    self.buf.len()
                } else {
                    // Whole lines only; a line longer than a block waits for the next read.
                    match memchr::memrchr(b'\n', &self.buf[fresh..]) {
                        Some(i) => fresh + i + 1,
                        None => continue,
                    }
                }
            };
            // What follows the cut starts the next block, in a block given back when there is
            // one (its pages are mapped already: a fresh 16 MB was faulted in, page by page).
            let mut rest = self.spare.pop().unwrap_or_default();
            rest.clear();
            rest.extend_from_slice(&self.buf[cut..]);
            self.buf.truncate(cut);
            let text = String::from_utf8(std::mem::replace(&mut self.buf, rest)).map_err(|e| {
                InputError::NotText {
                    name: file.to_string(),
                    at: (self.before as usize).saturating_add(e.utf8_error().valid_up_to()),
                }
            })?;
            let first = self.line;
            self.line += memchr::memchr_iter(b'\n', text.as_bytes()).count();
            self.before += cut as u64;
            return Ok(Some(Block::Lines(Lines { text, first })));
        }
    }
}

/// What is left once every line was parsed: ids repeated by a later line, bad lines in file
/// order, and the `@{}` references checked.
fn finish_jsonl(all: ParsedPart, file: &str) -> Loaded {
    let mut out = Loaded {
        calls: all.calls,
        ..Loaded::default()
    };
    let mut lines = all.lines;
    let at = |line_no: usize| format!("{file}:{line_no}");
    let mut bad: Vec<(usize, String)> = all.bad;
    // Ids are unique: a later line that repeats one is bad.
    let repeated = repeated_ids(&out.calls);
    let mut refs = all.refs;
    if !repeated.is_empty() {
        // The references of the calls that stay, at their places once the others are gone.
        refs.retain(|(i, _)| repeated.binary_search(i).is_err());
        for (i, _) in &mut refs {
            *i -= repeated.partition_point(|&r| r < *i);
        }
        let mut keep = vec![true; out.calls.len()];
        for &i in &repeated {
            keep[i] = false;
            bad.push((
                lines[i],
                format!("id `{}` is used by an earlier line", out.calls[i].id),
            ));
        }
        let mut k = keep.iter();
        out.calls.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        lines.retain(|_| *k.next().unwrap_or(&true));
    }
    bad.sort_by_key(|(n, _)| *n);
    out.bad = bad
        .into_iter()
        .map(|(n, reason)| BadLine { at: at(n), reason })
        .collect();
    check_references(&mut out, &lines, file, refs);
    out
}

/// The calls whose id an earlier call has, in queue order (ids borrowed, not cloned: a
/// million). A big queue is checked on the cores, each keeping the ids whose hash falls to it
/// (a repeated id hashes alike, so each repeat is found by one of them).
fn repeated_ids(calls: &[QueuedCall]) -> Vec<usize> {
    use std::hash::BuildHasher;
    let threads = if calls.len() < super::classify::PARALLEL_FROM {
        1
    } else {
        super::classify::threads()
    };
    let part = |k: usize| -> Vec<usize> {
        let mut seen: rustc_hash::FxHashSet<&str> = Default::default();
        seen.reserve(calls.len() / threads + 1);
        calls
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                threads == 1 || rustc_hash::FxBuildHasher.hash_one(&*c.id) as usize % threads == k
            })
            .filter(|(_, c)| !seen.insert(&c.id))
            .map(|(i, _)| i)
            .collect()
    };
    if threads == 1 {
        return part(0);
    }
    let mut all: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|k| scope.spawn(move || part(k))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    all.sort_unstable();
    all
}

/// `@{ID}` references name the call whose created record they stand for, so each must name an
/// *earlier* call: one that names no call, a later one or itself (and so any cycle) would be
/// planned as if the record existed. Such a call becomes a bad line, and so does every call
/// that names a refused one (the queue is refused unless bad lines are skipped; skipping
/// never leaves a reference to a call that is gone). `lines[i]` is `calls[i]`'s line.
/// `refs`: the calls that name others (by index in `out.calls`, in order) and what they name.
fn check_references(
    out: &mut Loaded,
    lines: &[usize],
    file: &str,
    refs: Vec<(usize, Vec<String>)>,
) {
    if refs.is_empty() {
        return;
    }
    let refs_of = |i: usize| -> &[String] {
        refs.binary_search_by_key(&i, |(k, _)| *k)
            .map_or(&[], |at| refs[at].1.as_slice())
    };
    // Where the named calls stand (only those: a map of a million ids took 32 MB).
    let named: HashSet<&str> = refs
        .iter()
        .flat_map(|(_, r)| r.iter().map(String::as_str))
        .collect();
    let pos: HashMap<&str, usize> = out
        .calls
        .iter()
        .enumerate()
        .filter(|(_, c)| named.contains(&*c.id))
        .map(|(i, c)| (&*c.id, i))
        .collect();
    let at = |i: usize| format!("{file}:{}", lines[i]);
    // Whether following references from `from` comes back to `to` (a cycle through `to`).
    let reaches = |from: usize, to: usize| {
        let mut stack = vec![from];
        let mut seen = HashSet::new();
        while let Some(k) = stack.pop() {
            if k == to {
                return true;
            }
            if seen.insert(k) {
                stack.extend(
                    refs_of(k)
                        .iter()
                        .filter_map(|r| pos.get(r.as_str()).copied()),
                );
            }
        }
        false
    };
    let mut why: Vec<Option<String>> = vec![None; out.calls.len()];
    for (i, rs) in &refs {
        let i = *i;
        for r in rs {
            let reason = match pos.get(r.as_str()).copied() {
                None => format!("`@{{{r}}}` names no call in the queue"),
                Some(j) if j == i => format!("`@{{{r}}}` names this call itself"),
                Some(j) if j > i && reaches(j, i) => format!(
                    "`@{{{r}}}` forms a cycle: this call and the one on {} name each other",
                    at(j)
                ),
                Some(j) if j > i => format!(
                    "`@{{{r}}}` names a later call ({}): a reference names an earlier call",
                    at(j)
                ),
                Some(_) => continue,
            };
            why[i] = Some(reason);
            break;
        }
    }
    // What names a refused call is refused too, until nothing changes.
    loop {
        let mut changed = false;
        for (i, rs) in &refs {
            let i = *i;
            if why[i].is_some() {
                continue;
            }
            let refused = rs.iter().find_map(|r| {
                let j = *pos.get(r.as_str())?;
                why[j].is_some().then(|| (r.clone(), j))
            });
            if let Some((r, j)) = refused {
                why[i] = Some(format!("`@{{{r}}}` names a call refused on {}", at(j)));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if why.iter().all(Option::is_none) {
        return;
    }
    let calls = std::mem::take(&mut out.calls);
    for (i, (call, reason)) in calls.into_iter().zip(why).enumerate() {
        match reason {
            None => out.calls.push(call),
            Some(reason) => out.bad.push(BadLine { at: at(i), reason }),
        }
    }
    out.bad.sort_by_key(|b| line_of(&b.at));
}

/// The line number at the end of a `FILE:LINE` (bad lines are listed in file order).
fn line_of(at: &str) -> usize {
    at.rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One part of a queue's lines, parsed: the calls with their line numbers, and the bad lines.
#[derive(Default)]
struct ParsedPart {
    calls: Vec<QueuedCall>,
    lines: Vec<usize>,
    bad: Vec<(usize, String)>,
    /// The calls that name others with `@{}` (by index in `calls`) and the ids they name:
    /// found where each line is parsed, on its core (few calls have any).
    refs: Vec<(usize, Vec<String>)>,
}

/// The calls (or reasons) of the lines of `text`, whose first line is number `first`.
fn parse_lines(text: &str, first: usize, repeats: &mut Repeats) -> ParsedPart {
    let mut out = ParsedPart::default();
    // The lines' ends, found once (by the vector search: lines are long enough for it):
    // counted for room for every line at once (a vector grown by doubling copies its calls
    // each time), then cut at.
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', text.as_bytes())
        .chain((!text.ends_with('\n')).then_some(text.len()))
        .collect();
    out.calls.reserve(ends.len());
    out.lines.reserve(ends.len());
    let mut start = 0;
    for (n, &end) in ends.iter().enumerate() {
        // A newline is one byte: both ends are on character boundaries.
        let line = text[start..end].trim();
        start = end + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_no = first + n;
        match call_from_line(line, line_no, repeats) {
            Ok(c) => {
                let refs = super::classify::call_refs(&c);
                if !refs.is_empty() {
                    out.refs.push((out.calls.len(), refs));
                }
                out.calls.push(c);
                out.lines.push(line_no);
            }
            Err(reason) => out.bad.push((line_no, reason)),
        }
    }
    out
}

/// A JSONL line's values as their JSON text, borrowed from the line: the fast way in for good
/// lines (a bad line is read again by [`call_from_line_checked`] for its precise reason).
#[derive(Default)]
struct RawLine<'a> {
    method: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    headers: Option<&'a str>,
    /// Checked to be one well-formed JSON value, without spaces around it (`json_value`).
    body: Option<&'a str>,
    id: Option<&'a str>,
}

/// A queue line's keys.
#[derive(Clone, Copy)]
enum Key {
    Method,
    Path,
    Id,
    Body,
    Query,
    Headers,
}

/// The keys as written in a line (quoted), the most common first.
const QUEUE_KEYS: [(&[u8], Key); 6] = [
    (b"\"method\"", Key::Method),
    (b"\"path\"", Key::Path),
    (b"\"id\"", Key::Id),
    (b"\"body\"", Key::Body),
    (b"\"query\"", Key::Query),
    (b"\"headers\"", Key::Headers),
];

/// A line read as the one shape queue lines have: an object of the six keys, each at most
/// once, plain (unescaped) keys, nothing after it. Strings are found by their quotes (a
/// quarter of the time serde's generic way took); other values, and every body, are checked
/// well-formed where they stand (`json_value`). None for anything else: the careful way
/// reads it.
fn raw_line(line: &str) -> Option<RawLine<'_>> {
    let b = line.as_bytes();
    let mut out = RawLine::default();
    let mut i = skip_space(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_space(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_space(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        // A key is one of six plain words, told with its quotes by its first bytes (read as
        // any string, a key cost its search, a check for escapes and a comparison); anything
        // else (another key, one written with an escape) is for the careful way.
        let rest = b.get(i..)?;
        let &(written, key) = QUEUE_KEYS.iter().find(|(k, _)| rest.starts_with(k))?;
        i = skip_space(b, i + written.len());
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_space(b, i + 1);
        let slot = match key {
            Key::Method => &mut out.method,
            Key::Path => &mut out.path,
            Key::Id => &mut out.id,
            Key::Body => &mut out.body,
            Key::Query => &mut out.query,
            Key::Headers => &mut out.headers,
        };
        // A body is kept as its text: checked whole here. Other strings are found by their
        // quotes, and decoded (their escapes checked) where they are read.
        let (value, end) = match b.get(i) {
            Some(b'"') if !matches!(key, Key::Body) => json_string(line, i),
            _ => json_value(line, i),
        }?;
        if slot.replace(value).is_some() {
            return None;
        }
        i = skip_space(b, end);
        match b.get(i) {
            Some(b',') => i = skip_space(b, i + 1),
            Some(b'}') => return (skip_space(b, i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

/// The JSON string starting at `at` (a quote), quotes included, and the index after it. Its
/// escapes are not checked here (a string with one is decoded by serde_json, which does);
/// a control character, which JSON does not allow unescaped, gives None.
fn json_string(line: &str, at: usize) -> Option<(&str, usize)> {
    let b = line.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        i = string_stop(b, i);
        match *b.get(i)? {
            b'"' => return Some((&line[at..=i], i + 1)),
            // The escaped character is skipped (a quote there does not end the string).
            b'\\' => i += 2,
            _ => return None,
        }
    }
}

/// The JSON value starting at `at` (not a space), checked to be well-formed, and the index
/// after it: by the quick check (`json_view::value_end`), else by serde_json.
fn json_value(line: &str, at: usize) -> Option<(&str, usize)> {
    if let Some(end) = super::json_view::value_end(line, at) {
        return Some((&line[at..end], end));
    }
    let mut de = serde_json::Deserializer::from_str(line.get(at..)?);
    let value = <&serde_json::value::RawValue as Deserialize>::deserialize(&mut de).ok()?;
    // The value's text is a slice of the line: where it ends is where the line goes on.
    let end = value.get().as_ptr() as usize - line.as_ptr() as usize + value.get().len();
    Some((value.get(), end))
}

/// Query or header pairs straight from a JSON object of scalars (no map built in between).
struct ScalarPairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for ScalarPairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ScalarPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of strings, numbers or booleans")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<ScalarPairs, A::Error> {
                // Most have one pair: room for it alone, not the four a first push makes.
                let mut out = Vec::with_capacity(1);
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    let v = match v {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(serde::de::Error::custom("not a scalar")),
                    };
                    out.push((k, v));
                }
                Ok(ScalarPairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// One JSONL line as a call. Good lines take the fast way (values borrowed, the body kept as
/// text); anything unusual is read again the careful way, which says what is wrong.
fn call_from_line(line: &str, line_no: usize, repeats: &mut Repeats) -> Result<QueuedCall, String> {
    match fast_call(line, line_no, repeats) {
        Some(done) => done,
        None => call_from_line_checked(line, line_no, repeats),
    }
}

fn fast_call(
    line: &str,
    line_no: usize,
    repeats: &mut Repeats,
) -> Option<Result<QueuedCall, String>> {
    let raw = raw_line(line)?;
    let method = raw_str(raw.method?)?;
    let path = raw_str(raw.path?)?;
    let id: Arc<str> = match raw.id.filter(|v| *v != "null") {
        None => format!("L{line_no}").into(),
        Some(v) => match raw_str(v) {
            Some(s) if !s.is_empty() => s.into(),
            Some(_) => return None,
            None => match serde_json::from_str::<Value>(v).ok()? {
                Value::Number(n) => n.to_string().into(),
                _ => return None,
            },
        },
    };
    let query = match raw.query {
        None | Some("null") => Pairs::default(),
        Some(v) => repeats.query(v)?,
    };
    let headers = match raw.headers {
        None | Some("null") => Pairs::default(),
        Some(v) => without_credentials(serde_json::from_str::<ScalarPairs>(v).ok()?.0).into(),
    };
    let body = raw.body.filter(|b| *b != "null").map(Body::from_checked);
    Some(build(repeats, id, &method, &path, query, headers, body))
}

/// A JSON string's text (quotes included), decoded: borrowed from the line when it has no
/// escape (the common case: nothing allocated), decoded and checked by serde_json when it
/// has; None when the value is not a string or not a good one.
fn raw_str(t: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        // Found by its quotes (`json_string`): no quote, no control character.
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(t)
        .ok()
        .map(std::borrow::Cow::Owned)
}

fn call_from_line_checked(
    line: &str,
    line_no: usize,
    repeats: &mut Repeats,
) -> Result<QueuedCall, String> {
    use serde_json::value::RawValue;
    // The line's keys with their values unparsed: the body stays text (see `Body`), and the
    // few small values are parsed where they are read.
    let obj: std::collections::BTreeMap<std::borrow::Cow<'_, str>, &RawValue> =
        serde_json::from_str(line).map_err(|_| match serde_json::from_str::<Value>(line) {
            Ok(_) => "expected a JSON object".to_string(),
            Err(e) => format!("not JSON: {e}"),
        })?;
    for key in obj.keys() {
        if !["method", "path", "query", "headers", "body", "id"].contains(&key.as_ref()) {
            return Err(format!(
                "unknown key `{key}` (expected method, path, query, headers, body, id)"
            ));
        }
    }
    let small = |k: &str| -> Option<Value> {
        obj.get(k)
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
    };
    let body = obj
        .get("body")
        .filter(|raw| raw.get().trim() != "null")
        .map(|raw| Body((*raw).to_owned()));
    let method = small("method");
    let method = method
        .as_ref()
        .and_then(Value::as_str)
        .ok_or("`method` is missing or not a string")?;
    let raw_path = small("path");
    let raw_path = raw_path
        .as_ref()
        .and_then(Value::as_str)
        .ok_or("`path` is missing or not a string")?;
    let id: Arc<str> = match small("id") {
        None | Some(Value::Null) => format!("L{line_no}").into(),
        Some(Value::String(s)) if !s.is_empty() => s.into(),
        Some(Value::Number(n)) => n.to_string().into(),
        Some(_) => return Err("`id` must be a non-empty string or a number".into()),
    };
    // Pairs in the order the line gives them (a parsed map would sort them), as the fast way
    // reads them; the map only to say what is wrong.
    let in_order = |k: &str| {
        obj.get(k)
            .and_then(|raw| serde_json::from_str::<ScalarPairs>(raw.get()).ok())
            .map(|p| p.0)
    };
    let query = match small("query") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => crate::credits::table::parse_query(s.trim_start_matches('?')),
        Some(Value::Object(m)) => match in_order("query") {
            Some(p) => p,
            None => pairs(&m, "query")?,
        },
        Some(_) => return Err("`query` must be an object or a query string".into()),
    };
    let headers = match small("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => match in_order("headers") {
            Some(p) => p,
            None => pairs(&m, "headers")?,
        },
        Some(_) => return Err("`headers` must be an object".into()),
    };
    build(
        repeats,
        id,
        method,
        raw_path,
        without_credentials(query).into(),
        without_credentials(headers).into(),
        body,
    )
}

fn pairs(m: &Map<String, Value>, what: &str) -> Result<Vec<(String, String)>, String> {
    m.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            _ => Err(format!("`{what}.{k}` must be a string, number or boolean")),
        })
        .collect()
}

/// Checks and normalises one call: method known, path under `/crm/`, a query in the path moved
/// to `query`. `query` and `headers` come without credentials (see [`without_credentials`]);
/// so does a query in the path, here.
fn build(
    repeats: &mut Repeats,
    id: Arc<str>,
    method: &str,
    raw_path: &str,
    mut query: Pairs,
    headers: Pairs,
    body: Option<Body>,
) -> Result<QueuedCall, String> {
    let method: super::plan::Method = method.parse()?;
    // A path as queued starts with `/`; only a full URL is looked into for its scheme.
    let scheme = if raw_path.starts_with('/') {
        None
    } else {
        raw_path.find("://")
    };
    let path_only = match scheme {
        Some(i) => {
            let rest = &raw_path[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => raw_path,
    };
    let (path, inline) = match memchr::memchr(b'?', path_only.as_bytes()) {
        Some(at) => (&path_only[..at], &path_only[at + 1..]),
        None => (path_only, ""),
    };
    if !path.starts_with("/crm/") {
        return Err(format!(
            "path `{path}` is not a Zoho CRM API path (it must start with /crm/)"
        ));
    }
    if !inline.is_empty() {
        let mut q = without_credentials(crate::credits::table::parse_query(inline));
        q.extend(query.iter().cloned());
        query = q.into();
    }
    if method == "GET" && body.is_some() {
        return Err("a GET carries no body".into());
    }
    Ok(QueuedCall {
        id,
        method,
        path: repeats.path(path),
        query,
        headers,
        body,
    })
}

/// Headers or query parameters less every credential (Authorization, Cookie, X-Api-Key, and
/// anything named like a token, key, secret or password): queues, plans and hold files are
/// files people share, and the sender brings its own token.
pub fn without_credentials(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    // Most name none: kept as they are, not rebuilt.
    if !pairs
        .iter()
        .any(|(k, _)| crate::secret::is_credential_name(k))
    {
        return pairs;
    }
    pairs
        .into_iter()
        .filter(|(k, _)| !crate::secret::is_credential_name(k))
        .collect()
}

/// HAR 1.2: `log.entries[].request` with method, url, headers, queryString and postData.
/// Entries that are not CRM API calls (pages, scripts, OAuth) are left out and counted in a note.
pub fn parse_har(text: &str, file: &str) -> Loaded {
    let mut out = Loaded::default();
    let mut repeats = Repeats::default();
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            out.bad.push(BadLine {
                at: format!("{file}:{}", e.line()),
                reason: format!("not a HAR file: {e}"),
            });
            return out;
        }
    };
    let Some(entries) = v.pointer("/log/entries").and_then(Value::as_array) else {
        out.bad.push(BadLine {
            at: format!("{file}:1"),
            reason: "not a HAR file: no log.entries array".into(),
        });
        return out;
    };
    let mut not_api = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let at = format!("{file}:entries[{i}]");
        let Some(req) = e.get("request") else {
            out.bad.push(BadLine {
                at,
                reason: "entry has no request".into(),
            });
            continue;
        };
        let (Some(method), Some(url)) = (
            req.get("method").and_then(Value::as_str),
            req.get("url").and_then(Value::as_str),
        ) else {
            out.bad.push(BadLine {
                at,
                reason: "request needs method and url".into(),
            });
            continue;
        };
        if !url.contains("/crm/") {
            not_api += 1;
            continue;
        }
        // The URL carries the query already; queryString repeats it (HAR 1.2), so it is not added.
        let headers: Vec<(String, String)> = req
            .get("headers")
            .and_then(Value::as_array)
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        Some((
                            h.get("name")?.as_str()?.to_string(),
                            h.get("value")?.as_str()?.to_string(),
                        ))
                    })
                    .filter(|(k, _)| !k.starts_with(':') && k.eq_ignore_ascii_case("x-integration"))
                    .collect()
            })
            .unwrap_or_default();
        let body = match req.pointer("/postData/text").and_then(Value::as_str) {
            None | Some("") => None,
            Some(t) => match serde_json::from_str::<Value>(t) {
                Ok(b) => Some(Body::new(&b)),
                Err(err) => {
                    out.bad.push(BadLine {
                        at,
                        reason: format!("postData.text is not JSON: {err}"),
                    });
                    continue;
                }
            },
        };
        match build(
            &mut repeats,
            format!("E{i}").into(),
            method,
            url,
            Pairs::default(),
            without_credentials(headers).into(),
            body,
        ) {
            Ok(c) => out.calls.push(c),
            Err(reason) => out.bad.push(BadLine { at, reason }),
        }
    }
    if not_api > 0 {
        out.notes.push(format!(
            "{file}: {not_api} entries are not Zoho CRM API calls and were left out"
        ));
    }
    out
}

/// Writes calls as JSONL (the hold mode's format and the one `plan` reads back).
pub fn to_jsonl_line(call: &QueuedCall) -> String {
    let mut obj = Map::new();
    obj.insert("id".into(), Value::from(&*call.id));
    obj.insert("method".into(), Value::from(call.method.as_str()));
    obj.insert("path".into(), Value::from(&*call.path));
    if !call.query.is_empty() {
        let q: Map<String, Value> = call
            .query
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        obj.insert("query".into(), Value::Object(q));
    }
    if !call.headers.is_empty() {
        let h: Map<String, Value> = call
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        obj.insert("headers".into(), Value::Object(h));
    }
    if let Some(b) = &call.body {
        obj.insert("body".into(), b.value());
    }
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fast way in reads every line as the careful way does: the same call, or the same
    /// reason. Lines of every shape, and thousands of them mutated a byte at a time (cut,
    /// doubled, replaced by a quote, brace, backslash, control character, comma...).
    #[test]
    fn the_fast_way_in_reads_each_line_as_the_careful_way_does() {
        let lines = [
            r#"{"id": "q1", "method": "POST", "path": "/crm/v8/Leads", "body": {"data": [{"Last_Name": "N1", "Email": "u1@x.example"}]}}"#,
            r#"{"method":"GET","path":"/crm/v8/Leads?fields=Email","query":{"page":2,"per_page":"10","x":true},"headers":{"If-Modified-Since":"x","Authorization":"Zoho-oauthtoken 1"}}"#,
            r#" { "method" : "PUT" , "path" : "/crm/v8/Deals/12" , "id" : 7 , "body" : null } "#,
            r#"{"method":"DELETE","path":"https://www.zohoapis.com/crm/v8/Leads?ids=1,2","id":null}"#,
            r#"{"method":"POST","path":"/crm/v8/Le"ads","id":"q\2","body":{"data":[{"a":"@{q1}"}]}}"#,
            r#"{"method":"GET","path":"/crm/v8/org","query":"?a=1&b=2"}"#,
            r#"{"method":"GET","path":"/crm/v8/org","id":""}"#,
            r#"{"method":"GET","path":"/crm/v8/org","id":"a","id":"b"}"#,
            r#"{"method":"GET","path":"/crm/v8/org","extra":1}"#,
            r#"{"method":"GET","path":"/crm/v8/org"}"#,
            r#"{"method":"GET","path":"/other"}"#,
            r#"{"method":"GET","path":"/crm/v8/Leads","body":{"data":[]}}"#,
            r#"{"method":"FETCH","path":"/crm/v8/Leads"}"#,
            r#"{"method":"GET"}"#,
            r#"{}"#,
            r#"[1,2]"#,
            r#""just a string""#,
            r#"{"method":"GET","path":"/crm/v8/org"} trailing"#,
            r#"{"method":"GET","path":"/crm/v8/org","query":{"a":{"b":1}}}"#,
            r#"{"method":"GET","path":"/crm/v8/é/org","headers":{"X-Note":"naïve"}}"#,
        ];
        let read = |line: &str, careful: bool| {
            let mut repeats = Repeats::default();
            if careful {
                call_from_line_checked(line, 3, &mut repeats)
            } else {
                call_from_line(line, 3, &mut repeats)
            }
        };
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.gen::<u64>();
        let mut checked = 0;
        for line in lines {
            let mut variants = vec![line.to_string()];
            for _ in 0..400 {
                let mut bytes = line.as_bytes().to_vec();
                let at = (next() % bytes.len() as u64) as usize;
                let put = [
                    b'"', b'{', b'}', b'\\', 0x01, b',', b':', b' ', b'n', b'1', b'[',
                ];
                match next() % 3 {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, bytes[at]),
                    _ => bytes[at] = put[(next() % put.len() as u64) as usize],
                }
                if let Ok(text) = String::from_utf8(bytes) {
                    variants.push(text);
                }
            }
            for v in &variants {
                assert_eq!(read(v, false), read(v, true), "{v}");
                checked += 1;
            }
        }
        assert!(checked > 7_000);
        // The lines above are of both kinds.
        assert!(read(lines[0], false).is_ok() && read(lines[8], false).is_err());
    }

    /// A query text read again is the pairs it read as the first time, shared, credentials
    /// dropped each time; a path's own query still comes first; past the kept texts, queries
    /// are read as they come and read the same.
    #[test]
    fn repeated_queries_are_stored_once_and_read_as_the_first() {
        let mut repeats = Repeats::default();
        let mut read = |line: &str| call_from_line(line, 1, &mut repeats).unwrap();
        let line = r#"{"method":"GET","path":"/crm/v8/Leads/1","query":{"fields":"Email","access_token":"t","n":2}}"#;
        let (a, b) = (read(line), read(line));
        let want = vec![
            ("fields".to_string(), "Email".to_string()),
            ("n".into(), "2".into()),
        ];
        assert_eq!(a.query, want);
        assert_eq!(b.query, want);
        assert!(matches!((&a.query.0, &b.query.0), (Some(x), Some(y)) if Arc::ptr_eq(x, y)));
        let inline = read(
            r#"{"method":"GET","path":"/crm/v8/Leads/1?page=2&api_key=k","query":{"fields":"Email","access_token":"t","n":2}}"#,
        );
        assert_eq!(
            inline.query,
            vec![
                ("page".to_string(), "2".to_string()),
                ("fields".into(), "Email".into()),
                ("n".into(), "2".into())
            ]
        );
        // The line as read on its own (nothing kept) is what the shared store gives.
        assert_eq!(
            read(line),
            call_from_line_checked(line, 1, &mut Repeats::default()).unwrap()
        );
        for i in 0..Repeats::QUERIES + 50 {
            let line = format!(
                r#"{{"method":"GET","path":"/crm/v8/Leads/search","query":{{"email":"u{i}@x.example","token":"s"}}}}"#
            );
            let call = read(&line);
            assert_eq!(
                call.query,
                vec![("email".to_string(), format!("u{i}@x.example"))]
            );
        }
        assert_eq!(repeats.queries.len(), Repeats::QUERIES);
        let again = call_from_line(line, 1, &mut repeats).unwrap();
        assert_eq!(again.query, want);
    }

    #[test]
    fn jsonl_lines_are_read_and_bad_ones_named() {
        let text = r#"{"method":"post","path":"/crm/v8/Leads","body":{"data":[{"Last_Name":"A"}]},"id":"a"}
# a comment

{"method":"GET","path":"https://www.zohoapis.eu/crm/v8/Leads/12?fields=Email"}
not json
{"method":"FETCH","path":"/crm/v8/Leads"}
{"method":"GET","path":"/index.html"}
{"method":"GET","path":"/crm/v8/Leads","id":"a"}
{"method":"GET","path":"/crm/v8/Leads","mehtod":"x"}
"#;
        let l = parse(text, "q.jsonl");
        assert_eq!(l.calls.len(), 2);
        assert_eq!(l.calls[0].method, "POST");
        assert_eq!(&*l.calls[1].id, "L4");
        assert_eq!(&*l.calls[1].path, "/crm/v8/Leads/12");
        assert_eq!(l.calls[1].query, vec![("fields".into(), "Email".into())]);
        let at: Vec<&str> = l.bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(
            at,
            [
                "q.jsonl:5",
                "q.jsonl:6",
                "q.jsonl:7",
                "q.jsonl:8",
                "q.jsonl:9"
            ]
        );
        assert_eq!(
            l.bad[1].reason,
            "method `FETCH` is not one of GET, POST, PUT, PATCH, DELETE"
        );
        assert!(l.bad[3].reason.contains("used by an earlier line"));
        assert!(l.bad[4].reason.contains("unknown key `mehtod`"));
    }

    /// A repeated id and a bad reference in one queue: each named on its own line, the
    /// references of the calls after a removed one still checked at their places; and on a
    /// queue big enough to be checked on several cores, every repeat found, in order.
    #[test]
    fn repeated_ids_and_references_are_named_on_their_lines() {
        let text = r#"{"id":"a","method":"POST","path":"/crm/v8/Leads","body":{"data":[{"Last_Name":"A"}]}}
{"id":"a","method":"GET","path":"/crm/v8/Leads"}
{"id":"b","method":"PUT","path":"/crm/v8/Leads/@{a}","body":{"data":[{"City":"Graz"}]}}
{"id":"c","method":"PUT","path":"/crm/v8/Leads/@{zz}","body":{"data":[{"City":"Linz"}]}}
{"id":"d","method":"GET","path":"/crm/v8/Leads/@{b}"}"#;
        let l = parse(text, "q");
        let ids: Vec<&str> = l.calls.iter().map(|c| &*c.id).collect();
        assert_eq!(ids, ["a", "b", "d"]);
        let bad: Vec<String> = l.bad.iter().map(ToString::to_string).collect();
        assert_eq!(
            bad,
            [
                "q:2: id `a` is used by an earlier line",
                "q:4: `@{zz}` names no call in the queue"
            ]
        );
        let mut big: String = (0..30_000)
            .map(|i| format!("{{\"id\":\"q{i}\",\"method\":\"GET\",\"path\":\"/crm/v8/Leads\"}}\n"))
            .collect();
        for i in [7, 29_999, 12_345] {
            big.push_str(&format!(
                "{{\"id\":\"q{i}\",\"method\":\"GET\",\"path\":\"/crm/v8/Deals\"}}\n"
            ));
        }
        let l = parse(&big, "big");
        assert_eq!(l.calls.len(), 30_000);
        let at: Vec<&str> = l.bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(at, ["big:30001", "big:30002", "big:30003"]);
        assert!(l.calls.iter().all(|c| &*c.path == "/crm/v8/Leads"));
    }

    /// Calls are written (plan files, hold files) as they were read: the one-byte method as its
    /// name, no query or headers as no key, pairs in order; and read back equal.
    #[test]
    fn calls_are_written_and_read_back_whole() {
        let text = r#"{"method":"delete","path":"/crm/v8/Leads?ids=1,2&wf_trigger=false","id":"d"}
{"method":"PATCH","path":"/crm/v8/Leads/1","headers":{"X-Integration":"shop"},"body":{"data":[{"City":"Graz"}]},"id":"p"}
{"method":"GET","path":"/crm/v8/Leads","id":"g"}"#;
        let l = parse(text, "q.jsonl");
        assert!(l.bad.is_empty(), "{:?}", l.bad);
        let json = serde_json::to_value(&l.calls).unwrap();
        assert_eq!(json[0]["method"], "DELETE");
        assert_eq!(
            json[0]["query"],
            json!([["ids", "1,2"], ["wf_trigger", "false"]])
        );
        assert_eq!(json[1]["headers"], json!([["X-Integration", "shop"]]));
        assert!(json[2].get("query").is_none() && json[2].get("headers").is_none());
        let back: Vec<QueuedCall> = serde_json::from_value(json).unwrap();
        assert_eq!(back, l.calls);
        assert!(back[2].query.is_empty() && back[2].headers.is_empty());
        let line = to_jsonl_line(&l.calls[1]);
        assert_eq!(parse(&line, "again").calls[0], l.calls[1]);
        let bad: Result<QueuedCall, _> =
            serde_json::from_value(json!({"id": "x", "method": "TRACE", "path": "/crm/v8/Leads"}));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("method `TRACE` is not one of"),
            "a plan file naming another method is refused, and says why"
        );
    }

    #[test]
    fn har_entries_become_calls_and_credentials_stay_behind() {
        let har = json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [
            {"request": {"method": "POST", "url": "https://www.zohoapis.com/crm/v8/Contacts",
                "headers": [{"name": "Authorization", "value": "Zoho-oauthtoken SECRET"}],
                "postData": {"mimeType": "application/json", "text": "{\"data\":[{\"Last_Name\":\"B\"}]}"}}},
            {"request": {"method": "GET", "url": "https://crm.zoho.com/app.js", "headers": []}},
            {"request": {"method": "GET", "url": "https://www.zohoapis.com/crm/v8/Contacts?ids=1,2", "headers": []}},
            {"request": {"method": "POST", "url": "https://www.zohoapis.com/crm/v8/Contacts", "postData": {"text": "{oops"}}}
        ]}});
        let l = parse(&har.to_string(), "x.har");
        assert_eq!(l.calls.len(), 2);
        assert_eq!(&*l.calls[0].id, "E0");
        assert!(l.calls[0].headers.is_empty());
        assert_eq!(l.calls[1].query, vec![("ids".into(), "1,2".into())]);
        assert_eq!(l.bad.len(), 1);
        assert_eq!(l.bad[0].at, "x.har:entries[3]");
        assert_eq!(l.notes.len(), 1);
    }

    #[test]
    fn big_queues_parse_in_parts_and_keep_line_numbers() {
        // Many pieces, taken by the cores in turn: order and line numbers kept.
        let mut text = String::new();
        for i in 1..=60_000 {
            match i {
                50_000 => text.push_str("{\"method\":\"GET\"\n"),
                55_555 => text.push_str("{\"id\":\"c7\",\"method\":\"GET\",\"path\":\"/crm/v8/Leads\"}\n"),
                _ => text.push_str(&format!(
                    "{{\"id\":\"c{i}\",\"method\":\"POST\",\"path\":\"/crm/v8/Leads\",\"body\":{{\"data\":[{{\"Last_Name\":\"padding padding padding {i}\"}}]}}}}\n"
                )),
            }
        }
        assert!(text.len() > 4 << 20);
        let l = parse(&text, "big.jsonl");
        assert_eq!(l.calls.len(), 59_998);
        let at: Vec<&str> = l.bad.iter().map(|b| b.at.as_str()).collect();
        assert_eq!(at, ["big.jsonl:50000", "big.jsonl:55555"]);
        assert!(l.bad[1].reason.contains("`c7` is used by an earlier line"));
        assert_eq!(&*l.calls[49_999].id, "c50001", "order kept across parts");
    }

    #[test]
    fn jsonl_round_trips() {
        let l = parse(
            r#"{"id":"x","method":"PUT","path":"/crm/v8/Leads/1","query":{"a":"1"},"headers":{"X-Integration":"i"},"body":{"data":[{"id":"1"}]}}"#,
            "f",
        );
        let line = to_jsonl_line(&l.calls[0]);
        let again = parse(&line, "f");
        assert_eq!(again.calls, l.calls);
    }

    /// Read a block at a time, a queue is what its text parses to, whatever the blocks cut:
    /// lines longer than a block, CRLF, no last newline, multi-byte characters, bad lines
    /// (named by their line), repeated ids and references across blocks.
    #[test]
    fn a_queue_read_in_blocks_is_the_queue_parsed_whole() {
        let mut text = String::new();
        for i in 0..400 {
            let line = match i % 50 {
                7 => "not json".to_string(),
                13 => format!("{{\"id\":\"c{}\",\"method\":\"GET\",\"path\":\"/crm/v8/Leads\"}}", i - 13),
                21 => format!("{{\"id\":\"c{i}\",\"method\":\"PUT\",\"path\":\"/crm/v8/Leads/@{{c{}}}\",\"body\":{{\"data\":[{{\"City\":\"Zürich ✓\"}}]}}}}", i - 1),
                33 => format!("{{\"id\":\"c{i}\",\"method\":\"POST\",\"path\":\"/crm/v8/Leads\",\"body\":{{\"data\":[{{\"Description\":\"{}\"}}]}}}}", "long ".repeat(60)),
                _ => format!("{{\"id\":\"c{i}\",\"method\":\"POST\",\"path\":\"/crm/v8/Leads\",\"body\":{{\"data\":[{{\"Last_Name\":\"N{i}\"}}]}}}}"),
            };
            text.push_str(&line);
            text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
        }
        text.push_str("# a comment, and no newline at the end");
        let whole = parse(&text, "q.jsonl");
        assert!(!whole.bad.is_empty() && whole.calls.len() > 300);
        for block in [64, 100, 257, 4096, 1 << 20] {
            let read = read_queue_in_blocks(
                text.as_bytes(),
                "q.jsonl",
                1 << 30,
                text.len() as u64,
                block,
                true,
            )
            .unwrap();
            assert_eq!(read.calls, whole.calls, "block {block}");
            assert_eq!(read.bad, whole.bad, "block {block}");
        }
    }

    #[test]
    fn a_queue_read_in_blocks_stops_at_its_bound_and_names_a_bad_byte() {
        use crate::input::InputError;
        // An endless stream (as /dev/zero) stops at the bound, whatever the block.
        let endless = std::io::repeat(b'x');
        match read_queue_in_blocks(endless, "zero", 10_000, 0, 1_000, true) {
            Err(InputError::TooLarge { limit, .. }) => assert_eq!(limit, 10_000),
            other => panic!("{other:?}"),
        }
        // Endless lines: blocks go to the parsers until the reading thread meets the bound.
        match read_queue_in_blocks(std::io::repeat(b'\n'), "lines", 10_000, 0, 1_000, true) {
            Err(InputError::TooLarge { limit, .. }) => assert_eq!(limit, 10_000),
            other => panic!("{other:?}"),
        }
        // A byte that is not UTF-8, in a later block: its offset in the file.
        let mut bytes = b"{\"method\":\"GET\",\"path\":\"/crm/v8/org\"}\n".repeat(10);
        let at = bytes.len() + 4;
        bytes.extend_from_slice(b"{\"id\xff\"}\n");
        match read_queue_in_blocks(&bytes[..], "bin", 1 << 20, 0, 64, true) {
            Err(InputError::NotText { at: got, .. }) => assert_eq!(got, at),
            other => panic!("{other:?}"),
        }
        // A HAR file is told from its first bytes and read whole.
        let har = r#"{"log":{"entries":[{"request":{"method":"GET","url":"https://www.zohoapis.com/crm/v8/org","headers":[]}}]}}"#;
        let l = read_queue_in_blocks(har.as_bytes(), "h.har", 1 << 20, 0, 16, true).unwrap();
        assert_eq!(l.calls.len(), 1);
        assert_eq!(&*l.calls[0].path, "/crm/v8/org");
    }
}

//! `creditops plan QUEUE`: the cheapest equivalent plan for a queue of pending calls.

use std::path::{Path, PathBuf};

use creditops_core::planner::{self, Plan, QueuedCall, RuleSet, StepKind};
use creditops_core::prefetch::prefetch;
use serde::{Deserialize, Serialize};

use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The queue: JSONL (one call per line), a HAR 1.2 file, or the proxy's --hold file.
    queue: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    /// Write the plan and its queue to this file (for `creditops send`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rules to apply, comma-separated (default all): batch,upsert,dedupe,cache,composite,bulk,coql,tags,mass_update.
    #[arg(long)]
    rules: Option<String>,
    /// Plan the good lines of a queue with bad ones (each still reported).
    #[arg(long)]
    skip_bad: bool,
    /// Steps listed in the text output (all with --json).
    #[arg(long, default_value_t = 40)]
    show: usize,
    /// Read the org's unique fields (fields metadata) from this profile or creditops sandbox
    /// URL, instead of Zoho's default duplicate checks: writes are kept in order on exactly
    /// the values the org keeps unique. Costs one metadata call per written module (the
    /// profile's metadata cache answers repeats).
    #[arg(long, value_name = "PROFILE|URL")]
    org: Option<String>,
}

/// A plan file: the plan and the queue it was made from.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanFile {
    pub format: String,
    #[serde(flatten)]
    pub plan: Plan,
    pub queue: Vec<QueuedCall>,
}

/// A plan file as written: the same fields as [`PlanFile`], borrowed (a million-step plan is not
/// copied to be written).
#[derive(Serialize)]
struct PlanFileOut<'a> {
    format: &'a str,
    #[serde(flatten)]
    plan: &'a Plan,
    queue: &'a [QueuedCall],
}

pub const PLAN_FORMAT: &str = "creditops-plan/1";

pub fn rules_of(list: Option<&str>) -> anyhow::Result<RuleSet> {
    match list {
        None => Ok(RuleSet::all()),
        Some(l) => RuleSet::parse(l).map_err(|e| input_error(format!("--rules: {e}"))),
    }
}

/// Loads a queue, read a block at a time (`planner::queue::read_queue`), refusing bad lines
/// (all listed) unless `skip_bad`.
pub fn load_queue(path: &Path, skip_bad: bool) -> anyhow::Result<Vec<QueuedCall>> {
    let loaded = planner::load(path).map_err(|e| input_error(e.to_string()))?;
    checked_queue(loaded, skip_bad)
}

pub fn queue_from_text(text: &str, path: &Path, skip_bad: bool) -> anyhow::Result<Vec<QueuedCall>> {
    checked_queue(planner::parse(text, &path.display().to_string()), skip_bad)
}

/// The calls of a queue whose bad lines are refused, or skipped (each named) when asked.
fn checked_queue(loaded: planner::Loaded, skip_bad: bool) -> anyhow::Result<Vec<QueuedCall>> {
    for n in &loaded.notes {
        eprintln!("creditops: note: {n}");
    }
    if !loaded.bad.is_empty() {
        let lines: Vec<String> = loaded.bad.iter().map(ToString::to_string).collect();
        if !skip_bad {
            return Err(input_error(format!(
                "{} bad line(s) in the queue; fix them or pass --skip-bad:\n{}",
                lines.len(),
                lines.join("\n")
            )));
        }
        for l in &lines {
            eprintln!("creditops: skipped {l}");
        }
        eprintln!(
            "creditops: skipped {} bad line(s), planning {} call(s)",
            lines.len(),
            loaded.calls.len()
        );
    }
    Ok(loaded.calls)
}

/// Turns transparent huge pages off for this process. A plan touches fresh memory once, mostly
/// in small pieces; with 2 MB pages the kernel zeroes 2 MB at each first touch, and that was a
/// third of a 1M-call plan's samples (`clear_page_erms`). Five paired runs of that plan: 4.17 →
/// 3.45 s wall, 6.1 → 5.2 s of CPU, peak 638 → 624 MB (docs/performance.md). A batch command
/// only: the long-running servers keep the system's setting.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory of ours;
    // its result is ignored (an old kernel without the option just keeps its pages).
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// mimalloc's `mi_option_purge_delay`: its place in mimalloc v3's `mi_option_e`, as
/// libmimalloc-sys 0.1.49 vendors it (the crate names no constant for it);
/// `the_purge_delay_is_the_option_set` holds the number to that option.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

// mimalloc's own functions (the global allocator, `main.rs`), which the crate does not wrap.
extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn mi_collect(force: bool);
}

/// Memory a phase lets go of is given back to the system 10 ms after, not the second
/// mimalloc v3 waits by default: a plan frees its load's blocks, id sets and vectors just
/// before the levels allocate theirs, and held a second longer they added 20-60 MB to a 1M-call
/// plan's peak (373-412 → 350-366 MB in paired runs, no slower: docs/performance.md). A
/// batch command only, as `without_huge_pages`.
fn purge_freed_memory_promptly() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table (atomically); any
    // value of the purge delay is valid.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 10) }
}

/// Memory freed so far given back to the system now. Called once the queue is read: its
/// reading frees about 100 MB for a 1M-call queue (blocks, the parsers' pieces and tables) just
/// before classification allocates its 80 MB, and the purge delay (even 10 ms) left it held at
/// that moment. Peaks of six paired runs of that plan: 344-368 → 343-355 MB, no slower
/// (docs/performance.md).
fn give_back_freed_memory() {
    // SAFETY: mi_collect takes a flag and frees only what mimalloc holds as free.
    unsafe { mi_collect(true) }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    without_huge_pages();
    purge_freed_memory_promptly();
    let ctx = Context::load()?;
    let rules = rules_of(args.rules.as_deref())?;
    // Progress for people, on a terminal and not under --json: a big queue takes seconds.
    let started = std::time::Instant::now();
    let progress = !args.json && std::io::stderr().is_terminal();
    let say = |what: String| {
        if progress {
            eprint!("\r\x1b[Kcreditops: {what}");
        }
    };
    say(format!("reading {}…", args.queue.display()));
    let queue = load_queue(&args.queue, args.skip_bad)?;
    give_back_freed_memory();
    say(format!(
        "planning {} calls (read in {:.1} s)…",
        creditops_core::fmt::thousands(queue.len() as u64),
        started.elapsed().as_secs_f64()
    ));
    let unique = match &args.org {
        Some(org) => Some(org_unique_fields(&ctx, org, &queue)?),
        None => None,
    };
    let plan = planner::plan(
        &queue,
        &planner::Options {
            rules,
            table: &ctx.model.table,
            unique: unique.as_ref(),
        },
    );
    if progress {
        eprint!("\r\x1b[K");
    }
    if let Some(out) = &args.out {
        let file = PlanFileOut {
            format: PLAN_FORMAT,
            plan: &plan,
            queue: &queue,
        };
        // Private (0600): a plan carries its queue, bodies and all. Streamed, never whole.
        creditops_config::write_private_with(out, |w| {
            serde_json::to_writer(w, &file).map_err(std::io::Error::from)
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
        eprintln!("plan written to {}", out.display());
    }
    if args.json {
        print_plan_json(&plan)?;
    } else {
        out!("{}", text_report(&plan, args.show));
    }
    // The process ends here: freeing a million calls and steps one by one took a 1M-call
    // plan 0.2 s that the system does at once.
    std::mem::forget(plan);
    std::mem::forget(queue);
    Ok(())
}

/// `plan --json`: the plan as `print_json` writes it (see [`write_plan_json`]).
fn print_plan_json(plan: &Plan) -> anyhow::Result<()> {
    let stdout = std::io::stdout().lock();
    match write_plan_json(plan, std::io::BufWriter::with_capacity(1 << 20, stdout)) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The plan as pretty JSON and a newline, the bytes `serde_json` writes, with its steps
/// rendered on the cores a batch at a time (a million-call plan is 100 MB of JSON) and its
/// per-call credits written straight out, never held whole.
fn write_plan_json(plan: &Plan, mut w: impl std::io::Write) -> std::io::Result<()> {
    /// Steps a thread renders at once.
    const BATCH: usize = 4096;
    // Everything but the two long lists, as serde writes it: the steps are its last field,
    // and an empty list ends it with `[]\n}`.
    let text = serde_json::to_vec_pretty(&plan_head(plan))?;
    let layout = || std::io::Error::other("the plan's JSON is not laid out as expected");
    // The credits of each call (a million numbers) go in the head's empty list, as serde
    // would have written them.
    let empty_credits = b"\"call_credits\": []";
    let at = memchr::memmem::find(&text, empty_credits)
        .map(|at| at + empty_credits.len() - 1)
        .ok_or_else(layout)?;
    w.write_all(&text[..at])?;
    let mut number = itoa::Buffer::new();
    for (i, &c) in plan.call_credits.iter().enumerate() {
        w.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        w.write_all(number.format(c).as_bytes())?;
    }
    if !plan.call_credits.is_empty() {
        w.write_all(b"\n  ")?;
    }
    let text = &text[at..];
    if plan.steps.is_empty() {
        w.write_all(text)?;
    } else {
        let tail = b"[]\n}";
        if !text.ends_with(tail) {
            return Err(layout());
        }
        w.write_all(&text[..text.len() - tail.len()])?;
        w.write_all(b"[")?;
        // Batches alternate between this thread and one helper, which renders the next
        // batch while this one renders and writes its own (one helper for the whole list:
        // a thread per batch left its freed buffers behind in its own heap).
        let render = |b: usize, batch: &[planner::Step]| -> Vec<u8> {
            let mut out = Vec::with_capacity(batch.len() * 512);
            for (i, step) in batch.iter().enumerate() {
                // The ids steps name were allocated all over the queue's reading: the next
                // step's are asked for while this one is written.
                if let Some(next) = batch.get(i + 1) {
                    next.ids
                        .iter()
                        .take(IDS_AHEAD)
                        .for_each(|id| prefetch(&**id));
                }
                if b + i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"\n    ");
                write_step_json(step, &mut out);
            }
            out
        };
        let batches = || plan.steps.chunks(BATCH).enumerate();
        let count = plan.steps.len().div_ceil(BATCH);
        std::thread::scope(|scope| -> std::io::Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
            let (batches, render) = (&batches, &render);
            let helper = scope.spawn(move || {
                for (k, batch) in batches().skip(1).step_by(2) {
                    if tx.send(render(k * BATCH, batch)).is_err() {
                        return; // the writer stopped (a closed pipe): nothing more to do
                    }
                }
            });
            for (k, batch) in batches().step_by(2) {
                w.write_all(&render(k * BATCH, batch))?;
                if k + 1 < count {
                    let theirs = rx
                        .recv()
                        .map_err(|_| std::io::Error::other("the JSON helper stopped"))?;
                    w.write_all(&theirs)?;
                }
            }
            drop(rx);
            helper
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            Ok(())
        })?;
        w.write_all(b"\n  ]\n}")?;
    }
    w.write_all(b"\n")?;
    w.flush()
}

/// `plan` without its two long lists (they are written apart).
fn plan_head(plan: &Plan) -> Plan {
    Plan {
        calls_before: plan.calls_before,
        credits_before: plan.credits_before,
        calls_after: plan.calls_after,
        credits_after: plan.credits_after,
        lower_bound: plan.lower_bound,
        ordered_lower_bound: plan.ordered_lower_bound,
        savings_by_rule: plan.savings_by_rule.clone(),
        rules: plan.rules.clone(),
        levels: plan.levels,
        call_credits: Vec::new(),
        unique_fields: plan.unique_fields.clone(),
        steps: Vec::new(),
    }
}

/// One step as `serde_json::to_vec_pretty` writes it, four spaces deeper (its place in the
/// plan's list). By hand: serde's writer escapes every key and string byte by byte, and that
/// was half of a 1M-call plan's JSON time; `plan_json_is_what_serde_writes` holds the bytes
/// equal, field by field and in every form a field takes.
fn write_step_json(step: &planner::Step, out: &mut Vec<u8>) {
    let mut number = itoa::Buffer::new();
    let field = |out: &mut Vec<u8>, name: &[u8]| {
        out.extend_from_slice(b"\n      \"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\": ");
    };
    out.push(b'{');
    field(out, b"ids");
    json_list(out, &step.ids, |out, k, id| {
        if let Some(ahead) = step.ids.get(k + IDS_AHEAD) {
            prefetch(&**ahead);
        }
        json_str(out, id)
    });
    out.push(b',');
    field(out, b"kind");
    json_str(out, step.kind.as_str());
    out.push(b',');
    field(out, b"rule");
    match step.rule {
        Some(rule) => json_str(out, rule.name()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    field(out, b"method");
    json_str(out, step.method.as_str());
    out.push(b',');
    field(out, b"path");
    json_str(out, &step.path);
    for (name, n) in [
        (&b"records"[..], step.records),
        (b"credits", step.credits),
        (b"credits_before", step.credits_before),
        (b"level", step.level),
    ] {
        out.push(b',');
        field(out, name);
        out.extend_from_slice(number.format(n).as_bytes());
    }
    if !step.spans.is_empty() {
        out.push(b',');
        field(out, b"spans");
        json_list(out, &step.spans, |out, _, n| {
            out.extend_from_slice(number.format(*n).as_bytes())
        });
    }
    if !step.upserts.is_empty() {
        out.push(b',');
        field(out, b"upserts");
        json_list(out, &step.upserts, |out, _, s| json_str(out, s));
    }
    if let Some(note) = &step.note {
        out.push(b',');
        field(out, b"note");
        json_str(out, note);
    }
    out.extend_from_slice(b"\n    }");
}

/// Ids asked for ahead of the one written (see [`creditops_core::prefetch`]).
const IDS_AHEAD: usize = 4;

/// A list inside a step, as serde's pretty writer lays it out there (`[]` when empty); `item`
/// writes the item at an index.
fn json_list<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, usize, &T)) {
    if items.is_empty() {
        out.extend_from_slice(b"[]");
        return;
    }
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        out.extend_from_slice(if i == 0 {
            b"\n        "
        } else {
            b",\n        "
        });
        item(out, i, x);
    }
    out.extend_from_slice(b"\n      ]");
}

/// A JSON string: as it is between quotes when nothing in it needs escaping (ids, paths and
/// names never do), else as serde_json escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a vector cannot fail, and a `str` always serialises.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// The modules a queue writes to (`/crm/v8/{Module}…` with a write method).
fn written_modules(queue: &[QueuedCall]) -> std::collections::BTreeSet<String> {
    queue
        .iter()
        .filter(|c| c.method != "GET")
        .filter_map(|c| {
            let segs = creditops_core::credits::table::normalise_path(&c.path);
            match segs.as_slice() {
                [crm, _, m, ..]
                    if crm == "crm" && m.chars().next().is_some_and(char::is_uppercase) =>
                {
                    Some(m.clone())
                }
                _ => None,
            }
        })
        .collect()
}

/// The unique fields of the modules `queue` writes, read from `org` (a profile, or a creditops
/// sandbox URL): one `GET /settings/fields?module=` each.
fn org_unique_fields(
    ctx: &Context,
    org: &str,
    queue: &[QueuedCall],
) -> anyhow::Result<planner::UniqueFields> {
    use creditops_net::client::{Endpoint, ZohoClient};
    let modules = written_modules(queue);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let (client, source) = if org.starts_with("http://") || org.starts_with("https://") {
            creditops_core::zoho::destination(org).map_err(|e| input_error(format!("--org: {e}")))?;
            if creditops_core::zoho::is_production_url(org) {
                return Err(input_error(format!(
                    "--org {org} is Zoho production: name a profile that allows it instead"
                )));
            }
            let base = org.trim_end_matches('/').to_string();
            let tok: serde_json::Value = reqwest::Client::new()
                .post(format!("{base}/__sandbox/token"))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("--org {base}: {e}"))?
                .json()
                .await
                .map_err(|_| {
                    input_error(format!(
                        "--org {base} is not a creditops sandbox (no /__sandbox/token); name a profile for a Zoho org"
                    ))
                })?;
            let token = tok
                .get("access_token")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| anyhow::anyhow!("{base}/__sandbox/token gave no token"))?;
            let c = ZohoClient::new(Endpoint::local(&base), None)?
                .with_token(creditops_core::secret::Secret::new(token))
                .await;
            (c, format!("org at {base}"))
        } else {
            let (name, p) = ctx
                .config
                .config
                .profile(Some(org))
                .map_err(|e| input_error(format!("--org: {e}")))?;
            let mut c = super::profile_client(&name, &p)?;
            let at = ctx.config.config.metadata_at(&ctx.paths, &name);
            c.cache = creditops_store::cache::MetadataCache::open(at, ctx.config.config.cache.clone())
                .ok()
                .map(std::sync::Arc::new);
            (c, format!("profile `{name}`"))
        };
        let mut read = std::collections::BTreeMap::new();
        for m in modules {
            let q = vec![("module".to_string(), m.clone())];
            let answer = client
                .call(reqwest::Method::GET, "/crm/v8/settings/fields", &q, None)
                .await
                .map_err(|e| anyhow::anyhow!("--org: the fields of {m}: {e}"))?;
            read.insert(m, planner::UniqueFields::from_fields_metadata(&answer.body));
        }
        Ok(planner::UniqueFields::of_org(&source, read))
    })
}

pub fn text_report(plan: &Plan, show: usize) -> String {
    use creditops_core::fmt::thousands;
    use std::fmt::Write;
    let mut s = String::new();
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * (b as f64 - a as f64) / b as f64
        }
    };
    let _ = writeln!(
        s,
        "calls    {:>12} → {:>12}",
        thousands(plan.calls_before),
        thousands(plan.calls_after)
    );
    let _ = writeln!(
        s,
        "credits  {:>12} → {:>12}  ({:.1} % saved)",
        thousands(plan.credits_before),
        thousands(plan.credits_after),
        pct(plan.credits_after, plan.credits_before)
    );
    let ratio = |bound: u64| {
        if bound == 0 {
            "-".to_string()
        } else {
            format!("{:.2}×", plan.credits_after as f64 / bound as f64)
        }
    };
    let _ = writeln!(
        s,
        "ordered bound {:>7}  (plan {}; what is above it is the planner's)",
        thousands(plan.ordered_lower_bound),
        ratio(plan.ordered_lower_bound)
    );
    let _ = writeln!(
        s,
        "lower bound {:>9}  (plan {}: no ordering kept)",
        thousands(plan.lower_bound),
        ratio(plan.lower_bound)
    );
    let _ = writeln!(s, "levels   {:>12}", thousands(u64::from(plan.levels)));
    let u = &plan.unique_fields;
    if u.source == "defaults" {
        let _ = writeln!(
            s,
            "unique fields: Zoho's defaults (pass --org PROFILE|URL for the org's own)"
        );
    } else {
        let list: Vec<String> = u
            .fields
            .iter()
            .filter(|(_, f)| !f.is_empty())
            .map(|(m, f)| format!("{m}.{}", f.join(",")))
            .collect();
        let _ = writeln!(s, "unique fields: from {}: {}", u.source, list.join(" "));
    }
    if !plan.savings_by_rule.is_empty() {
        let _ = writeln!(s, "saved by rule:");
        for (rule, saved) in &plan.savings_by_rule {
            let _ = writeln!(s, "  {rule:<10} {saved:>10}");
        }
    }
    let rows = plan
        .steps
        .iter()
        .take(show)
        .enumerate()
        .map(|(i, st)| {
            let level = if st.kind == StepKind::Removed {
                "-".to_string()
            } else {
                st.level.to_string()
            };
            let covers = if st.ids.len() <= 4 {
                st.ids.join(",")
            } else {
                format!("{},… ({} calls)", st.ids[..3].join(","), st.ids.len())
            };
            vec![
                thousands(i as u64 + 1),
                level,
                st.rule.map_or("-", |r| r.name()).to_string(),
                st.method.to_string(),
                truncate(&st.path, 48),
                thousands(st.records as u64),
                thousands(u64::from(st.credits)),
                covers,
            ]
        })
        .collect();
    let _ = write!(
        s,
        "\n{}",
        super::table(
            &["step", "level", "rule", "method", "path", "records", "credits", "covers"],
            rows,
            &[0, 1, 5, 6],
        )
    );
    if plan.steps.len() > show {
        let _ = writeln!(
            s,
            "… {} more steps (--show N, or --json for all)",
            plan.steps.len() - show
        );
    }
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

#[cfg(test)]
mod tests {
    /// The number we set is mimalloc's purge delay: it reads 1000 (v3's default purge delay,
    /// unless the environment set another) and then what we set.
    #[test]
    fn the_purge_delay_is_the_option_set() {
        extern "C" {
            fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
        }
        // SAFETY: reads an integer of mimalloc's option table.
        let before = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(before, 1000, "not mimalloc v3's purge delay");
        }
        purge_freed_memory_promptly();
        // SAFETY: as above.
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, 10);
    }

    use super::*;

    /// `plan --json` writes the bytes serde writes, whatever the number of steps and calls:
    /// none, one, and more than two batches of each thread.
    #[test]
    fn plan_json_is_what_serde_writes() {
        let text: String = (0..9_000)
            .map(|i| {
                format!(
                    "{{\"method\":\"GET\",\"path\":\"/crm/v8/settings/fields\",\"query\":{{\"module\":\"M{i}\"}}}}\n"
                )
            })
            .collect();
        let table = creditops_core::credits::CostTable::builtin();
        for n in [0, 1, 9_000] {
            let queue = planner::parse(&text.lines().take(n).collect::<Vec<_>>().join("\n"), "q");
            let plan = planner::plan(
                &queue.calls,
                &planner::Options {
                    rules: RuleSet::parse("batch").unwrap(),
                    table: &table,
                    unique: None,
                },
            );
            assert_eq!(plan.steps.len(), n);
            let mut ours = Vec::new();
            write_plan_json(&plan, &mut ours).unwrap();
            let mut serde = serde_json::to_vec_pretty(&plan).unwrap();
            serde.push(b'\n');
            assert!(ours == serde, "{n} calls: the JSON differs");
        }
        // Every form each field of a step takes: every kind and rule (and none), lists empty,
        // of one and of several, strings that need escaping (quotes, backslashes, control
        // characters, newlines) and those that do not (non-ASCII is written as it is).
        let texts = [
            "q1",
            "a\"quote",
            "back\\slash",
            "ctl\u{1}\u{1f}",
            "line\nbreak\ttab",
            "é ✓ 🦀",
            "",
        ];
        let rules = std::iter::once(None).chain(planner::Rule::ALL.map(Some));
        let mut steps = Vec::new();
        for (k, rule) in rules.enumerate() {
            for kind in StepKind::ALL {
                let pick = |n: usize| texts.iter().cycle().skip(k).take(n);
                steps.push(planner::Step {
                    ids: pick(k % 4).map(|t| std::sync::Arc::from(*t)).collect(),
                    kind,
                    rule,
                    method: planner::Method::ALL[k % 5],
                    path: texts[k % texts.len()].into(),
                    records: k as u32,
                    credits: u32::MAX - k as u32,
                    credits_before: 10u32.pow(k as u32 % 10),
                    level: k as u32 * 7,
                    spans: (0..k as u32 % 3).collect(),
                    upserts: pick(k % 3).map(|t| t.to_string()).collect(),
                    note: (k % 2 == 1).then(|| texts[(k + 1) % texts.len()].to_string()),
                });
            }
        }
        let plan = Plan {
            call_credits: vec![0, 1, u32::MAX],
            steps,
            ..planner::plan(
                &[],
                &planner::Options {
                    rules: RuleSet::all(),
                    table: &table,
                    unique: None,
                },
            )
        };
        let mut ours = Vec::new();
        write_plan_json(&plan, &mut ours).unwrap();
        let mut serde = serde_json::to_vec_pretty(&plan).unwrap();
        serde.push(b'\n');
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(serde).unwrap()
        );
    }
}

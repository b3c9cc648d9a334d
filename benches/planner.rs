//! Planning time for 10k, 100k and 1M queued calls of a realistic mix, against pricing the same
//! queue call by call (`as_queued`: classify and price every call, no rewriting) in the same run
//! as the baseline. The ratio shows what the rules cost on top of reading the queue once.

use creditops_core::credits::CostTable;
use creditops_core::planner::{self, QueuedCall, RuleSet};
use criterion::{BenchmarkId, Criterion};
use serde_json::json;

const MODULES: [&str; 7] = [
    "Leads", "Contacts", "Accounts", "Deals", "Tasks", "Products", "Cases",
];

/// A day of an integration's calls: mostly single-record inserts and updates across modules,
/// reads by id, some deletes, list reads, repeated metadata GETs, search-then-insert pairs and
/// updates of records created earlier in the queue.
pub fn queue(n: usize) -> Vec<QueuedCall> {
    let mut q = Vec::with_capacity(n);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let call = |id: String,
                method: &'static str,
                path: String,
                query: Vec<(String, String)>,
                body: Option<serde_json::Value>| QueuedCall {
        id: id.into(),
        method: method.parse().expect("the bench names methods it knows"),
        path: path.into(),
        query: query.into(),
        headers: Default::default(),
        body: body.as_ref().map(creditops_core::planner::queue::Body::new),
    };
    let mut i: usize = 0;
    while q.len() < n {
        let r = rand();
        let m = MODULES[(r % 7) as usize];
        let id = format!("q{i}");
        let rec_id = 5_725_767_000_001_000_000u64 + (r >> 8) % 20_000;
        match (r >> 40) % 100 {
            0..=49 => q.push(call(id, "POST", format!("/crm/v8/{m}"), vec![],
                Some(json!({"data": [{"Last_Name": format!("N{i}"), "Email": format!("u{i}@x.example")}]})))),
            50..=64 => q.push(call(id, "PUT", format!("/crm/v8/{m}/{rec_id}"), vec![],
                Some(json!({"data": [{"Description": "touched"}]})))),
            65..=69 => q.push(call(id, "DELETE", format!("/crm/v8/{m}/{rec_id}"), vec![], None)),
            70..=84 => q.push(call(id, "GET", format!("/crm/v8/{m}/{rec_id}"),
                vec![("fields".into(), "Last_Name,Email".into())], None)),
            85..=88 => q.push(call(id, "GET", format!("/crm/v8/{m}"), vec![("fields".into(), "Last_Name".into())], None)),
            89..=93 => q.push(call(id, "GET", "/crm/v8/settings/fields".into(), vec![("module".into(), m.into())], None)),
            94..=96 => {
                let mail = format!("s{i}@x.example");
                q.push(call(format!("{id}s"), "GET", format!("/crm/v8/{m}/search"),
                    vec![("criteria".into(), format!("(Email:equals:{mail})"))], None));
                q.push(call(id, "POST", format!("/crm/v8/{m}"), vec![],
                    Some(json!({"data": [{"Last_Name": "S", "Email": mail}]}))));
            }
            _ => {
                let target = format!("q{}", i.saturating_sub(1 + (r as usize >> 20) % 50));
                q.push(call(id, "PUT", format!("/crm/v8/{m}/@{{{target}}}"), vec![],
                    Some(json!({"data": [{"City": "Moved"}]}))));
            }
        }
        i += 1;
    }
    q.truncate(n);
    q
}

fn bench(c: &mut Criterion) {
    let table = CostTable::builtin();
    let mut g = c.benchmark_group("planner");
    g.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let q = queue(n);
        // What the plan does to this queue, once, outside the timing.
        let p = planner::plan(
            &q,
            &planner::Options {
                rules: RuleSet::all(),
                table: &table,
                unique: None,
            },
        );
        eprintln!(
            "queue of {n}: {} credits as queued → {} planned (lower bound {}), {} steps in {} levels",
            p.credits_before,
            p.credits_after,
            p.lower_bound,
            p.steps.len(),
            p.levels
        );
        g.bench_with_input(BenchmarkId::new("as_queued", n), &q, |b, q| {
            b.iter(|| planner::as_queued(q, &table).credits_before)
        });
        g.bench_with_input(BenchmarkId::new("plan", n), &q, |b, q| {
            b.iter(|| {
                planner::plan(
                    q,
                    &planner::Options {
                        rules: RuleSet::all(),
                        table: &table,
                        unique: None,
                    },
                )
                .credits_after
            })
        });
    }
    g.finish();
}

pub fn main() {
    let mut c = crate::criterion();
    bench(&mut c);
    c.final_summary();
}

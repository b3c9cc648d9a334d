//! The benchmarks, one binary: `cargo bench --bench benches` runs them all, `cargo bench --bench
//! benches -- NAME …` the ones whose names contain NAME. Under `cargo test --all-targets` each
//! runs once, briefly, as a test that it still works. Results: docs/performance.md.

use criterion::Criterion;

// The same allocator as the creditops binary, so the numbers are the shipped ones.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cache_latency;
mod console_draw;
mod estimate;
#[path = "support/load.rs"]
mod load;
mod planner;
mod proxy_overhead;
mod receiver_throughput;
mod sandbox_dispatch;
mod sandbox_throughput;
mod team_scale;

const BENCHES: &[(&str, fn())] = &[
    ("cache_latency", cache_latency::main),
    ("console_draw", console_draw::main),
    ("estimate", estimate::main),
    ("planner", planner::main),
    ("proxy_overhead", proxy_overhead::main),
    ("receiver_throughput", receiver_throughput::main),
    ("sandbox_dispatch", sandbox_dispatch::main),
    ("sandbox_throughput", sandbox_throughput::main),
    ("team_scale", team_scale::main),
];

/// A Criterion configured from the command line (`--bench` measures; without it, as under
/// `cargo test`, each benchmark runs once), with the module filter already applied here.
fn criterion() -> Criterion {
    Criterion::default().configure_from_args().with_filter("")
}

fn main() {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, run) in BENCHES {
        if names.is_empty() || names.iter().any(|n| name.contains(n.as_str())) {
            run();
        }
    }
}

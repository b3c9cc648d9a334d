//! Draw time of the full Gauges view at 200×50 with a day of per-minute data (1,440 points,
//! 40 modules/APIs/integrations), against drawing an empty frame of the same size in the same
//! run as the baseline.

use std::collections::BTreeMap;

use creditops_store::ledger::Tally;
use creditops_store::usage::{AlertState, LimitSource, Usage};
use creditops_tui::app::{App, Source};
use creditops_tui::data::Snapshot;
use creditops_tui::theme::ThemeSet;
use criterion::Criterion;
use ratatui::backend::TestBackend;
use ratatui::widgets::Block;
use ratatui::Terminal;

fn tallies(prefix: &str, n: u64) -> BTreeMap<String, Tally> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}{i}"),
                Tally {
                    calls: i * 37 + 1,
                    credits: i * 101 + 5,
                },
            )
        })
        .collect()
}

fn snapshot() -> Snapshot {
    let per_minute: Vec<u64> = (0..1440u64)
        .map(|m| (m * 7919) % 97 + if (600..660).contains(&m) { 300 } else { 0 })
        .collect();
    let used: u64 = per_minute.iter().sum();
    Snapshot {
        usage: Some(Usage {
            now_ms: 1_795_780_800_000,
            used,
            limit: Some(120_000),
            limit_source: LimitSource::Configured,
            base_limit: Some(100_000),
            addon: Some(20_000),
            remaining: Some(120_000 - used),
            percent: Some(used as f64 * 100.0 / 120_000.0),
            burn_per_hour: 4_200.0,
            exhaustion_eta_seconds: Some(5_400),
            freeing_next_hour: 3_100,
            reported_remaining: Some(40_000),
            reported_at_ms: Some(1_795_780_700_000),
            metered_minus_reported: Some(12),
            in_flight: 7,
            concurrency_limit: Some(20),
            sub_concurrency_limit: Some(10),
            alerts: [80, 90, 100]
                .iter()
                .map(|t| AlertState {
                    threshold: *t,
                    credits: 1_200 * u64::from(*t),
                    crossed: *t == 80,
                    crossed_at_ms: None,
                })
                .collect(),
            by_module: tallies("Module", 40),
            by_api: tallies("api_", 40),
            by_integration: tallies("integration-", 40),
            by_proxy: tallies("proxy-", 3),
            budgets: Vec::new(),
        }),
        per_minute,
        calls: 100_000,
        error: None,
    }
}

fn bench(c: &mut Criterion) {
    let themes = ThemeSet::builtin();
    let theme = themes.default_theme().clone();
    let (keys, _) = creditops_tui::app::bindings(&BTreeMap::new());
    let mut app = App::new(
        themes,
        theme,
        keys,
        Source {
            embedded: true,
            label: "EMBEDDED SANDBOX".into(),
        },
        0,
    );
    app.gauges.snapshot = snapshot();
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let mut g = c.benchmark_group("console_draw_200x50");
    g.bench_function("empty_frame", |b| {
        b.iter(|| {
            term.draw(|f| f.render_widget(Block::default(), f.area()))
                .unwrap()
                .area
        })
    });
    g.bench_function("gauges_full_day", |b| {
        b.iter(|| term.draw(|f| app.draw(f)).unwrap().area)
    });
    g.finish();
}

pub fn main() {
    let mut c = crate::criterion();
    bench(&mut c);
    c.final_summary();
}

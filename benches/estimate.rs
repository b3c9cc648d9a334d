//! A full estimate (four candidate models, rolling-origin backtest, forecast, recommendation)
//! over two years of daily history, against a bare seasonal-naive forecast of the same series
//! in the same run as the baseline.

use creditops_core::credits::Editions;
use creditops_core::estimate::input::{Day, History};
use creditops_core::estimate::model::Model;
use creditops_core::estimate::{estimate, Request};
use criterion::Criterion;

fn history(days: usize) -> History {
    let start = chrono::NaiveDate::from_ymd_opt(2024, 11, 25).unwrap();
    let week = [1.0, 1.1, 1.05, 1.0, 0.95, 0.35, 0.3];
    History {
        days: (0..days)
            .map(|t| Day {
                date: start + chrono::Duration::days(t as i64),
                credits: (40_000.0 + 30.0 * t as f64)
                    * week[t % 7]
                    * (1.0 + ((t * 7919) % 101) as f64 / 1000.0),
            })
            .collect(),
        warnings: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let h = history(730);
    let y = h.values();
    let editions = Editions::builtin();
    let req = Request {
        horizon: 30,
        level: 0.9,
        daily_limit: 70_000,
        cap: Some(3_000_000),
    };
    let mut g = c.benchmark_group("estimate_730_days");
    g.bench_function("seasonal_naive_forecast_only", |b| {
        b.iter(|| Model::SeasonalNaive.fit(&y, 30))
    });
    g.bench_function("full_estimate", |b| {
        b.iter(|| estimate(&h, &req, &editions))
    });
    g.finish();
}

pub fn main() {
    let mut c = crate::criterion();
    bench(&mut c);
    c.final_summary();
}

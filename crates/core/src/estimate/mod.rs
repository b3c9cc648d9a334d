//! The add-on credit estimator: forecast daily usage (weekly seasonality, trend, prediction
//! intervals), the model chosen by rolling-origin backtest on the user's own history, then the
//! add-on limit that keeps the chance of a day running out under 1 − level, with its cost.
//! Pure: no I/O.

pub mod input;
pub mod model;

use serde::Serialize;

use crate::credits::Editions;
use input::History;
use model::{quantile, Model, SEASON};

/// What to estimate for.
#[derive(Debug, Clone)]
pub struct Request {
    pub horizon: usize,
    pub level: f64,
    pub daily_limit: u64,
    pub cap: Option<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Backtest {
    /// Mean absolute scaled error against the in-sample seasonal naive (below 1 beats it).
    pub mase: Option<f64>,
    /// Share of actuals inside the prediction interval.
    pub coverage: f64,
    pub origins: usize,
    pub horizon: usize,
    /// The out-of-sample errors, per origin, over the growth of the interval with the horizon
    /// (what the forecast's band is drawn from: calibrated on days the model had not seen).
    #[serde(skip)]
    pub errors: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Candidate {
    pub model: &'static str,
    pub backtest: Option<Backtest>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub date: String,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// Chance this day needs more than the daily limit.
    pub p_over_limit: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RiskDay {
    pub date: String,
    pub p_over_limit: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub model: &'static str,
    pub backtest: Option<Backtest>,
    pub candidates: Vec<Candidate>,
    pub history_days: usize,
    pub level: f64,
    pub horizon: usize,
    pub forecast: Vec<Point>,
    pub daily_limit: u64,
    pub recommended_addon: u64,
    pub expected_addon_credits_per_day: f64,
    pub expected_monthly_cost_usd: f64,
    pub days_at_risk: Vec<RiskDay>,
    pub message: Option<String>,
}

/// Out-of-sample errors needed before they, not in-sample residuals, set a band.
const MIN_CALIBRATION_ERRORS: usize = 14;

/// Rolling-origin backtest of `m`: origins a week apart, each forecasting `h` days.
fn backtest(m: Model, y: &[f64], h: usize, level: f64) -> Option<Backtest> {
    let min_train = 3 * SEASON;
    if y.len() < min_train + h {
        return None;
    }
    let origins = ((y.len() - min_train - h) / SEASON + 1).min(8);
    let (mut abs_scaled, mut count) = (0.0, 0usize);
    let mut scale_zero = true;
    let mut errors: Vec<Vec<f64>> = Vec::with_capacity(origins);
    let mut in_sample: Vec<Vec<f64>> = Vec::with_capacity(origins);
    let mut outcomes: Vec<Vec<(f64, f64, f64)>> = Vec::with_capacity(origins);
    for k in 0..origins {
        let o = y.len() - h - k * SEASON;
        let train = &y[..o];
        let test = &y[o..o + h];
        let scale = train
            .windows(SEASON + 1)
            .map(|w| (w[SEASON] - w[0]).abs())
            .sum::<f64>()
            / (train.len() - SEASON) as f64;
        let (f, mut r) = m.fit(train, h);
        r.sort_by(|a, b| a.total_cmp(b));
        in_sample.push(r);
        let mut e = Vec::with_capacity(h);
        let mut seen = Vec::with_capacity(h);
        for (i, (&a, &p)) in test.iter().zip(&f).enumerate() {
            let g = m.growth(i + 1);
            e.push((a - p) / g);
            seen.push((a, p, g));
            if scale > 0.0 {
                scale_zero = false;
                abs_scaled += (a - p).abs() / scale;
                count += 1;
            } else if (a - p).abs() > 1e-9 {
                // A flat history that then moves: the error is real, the scale is not.
                abs_scaled += f64::INFINITY;
                count += 1;
            }
        }
        errors.push(e);
        outcomes.push(seen);
    }
    // Coverage as the forecast's band is drawn: from out-of-sample errors, each origin judged
    // by the errors of the others (cross-conformal), else by its in-sample residuals.
    let (mut inside, mut total) = (0usize, 0usize);
    for (k, o) in outcomes.iter().enumerate() {
        let mut others: Vec<f64> = errors
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .flat_map(|(_, e)| e.iter().copied())
            .collect();
        if others.len() < MIN_CALIBRATION_ERRORS {
            others = in_sample[k].clone();
        }
        others.sort_by(|a, b| a.total_cmp(b));
        let (ql, qh) = (
            quantile(&others, (1.0 - level) / 2.0),
            quantile(&others, (1.0 + level) / 2.0),
        );
        for &(a, p, g) in o {
            if a >= p + ql * g - 1e-9 && a <= p + qh * g + 1e-9 {
                inside += 1;
            }
            total += 1;
        }
    }
    let mase = if scale_zero && count == 0 {
        Some(0.0)
    } else if count == 0 {
        None
    } else {
        Some(abs_scaled / count as f64).filter(|v| v.is_finite())
    };
    Some(Backtest {
        mase,
        coverage: inside as f64 / total.max(1) as f64,
        origins,
        horizon: h,
        errors,
    })
}

/// Forecasts `history` and recommends an add-on limit.
pub fn estimate(history: &History, req: &Request, editions: &Editions) -> Estimate {
    let y = history.values();
    let n = y.len();
    let h = req.horizon.max(1);
    let level = req.level.clamp(0.5, 0.999);
    let bt_h = h.min(2 * SEASON);
    let models = [
        Model::SeasonalNaive,
        Model::HoltWinters,
        Model::HoltWintersLog,
        Model::RobustDecomposition,
    ];
    let mut candidates = Vec::new();
    let mut message = None;
    let chosen = if n < Model::HoltWinters.min_len() {
        message = Some(format!(
            "only {n} day(s) of history: too short to model a weekly pattern (needs {} days) or to backtest (needs {}); this is the naive estimate (mean of the last week)",
            2 * SEASON,
            3 * SEASON + bt_h
        ));
        Model::Naive
    } else {
        for m in models {
            candidates.push(Candidate {
                model: m.name(),
                backtest: backtest(m, &y, bt_h, level),
            });
        }
        // The lowest backtest MASE wins; ties go to the simpler model (listed first).
        let best = candidates
            .iter()
            .zip(models)
            .filter_map(|(c, m)| c.backtest.as_ref().and_then(|b| b.mase).map(|s| (s, m)))
            .fold(None::<(f64, Model)>, |acc, (s, m)| match acc {
                Some((bs, _)) if bs <= s + 1e-12 => acc,
                _ => Some((s, m)),
            });
        match best {
            Some((_, m)) => m,
            None => {
                message = Some(format!("{n} days of history: enough to model, too few to backtest (needs {}); the robust decomposition is used untested", 3 * SEASON + bt_h));
                Model::RobustDecomposition
            }
        }
    };
    let backtest_result = candidates
        .iter()
        .zip(models)
        .find(|(_, m)| *m == chosen)
        .and_then(|(c, _)| c.backtest.clone());
    let (mean, mut resid) = if n == 0 {
        (vec![0.0; h], vec![0.0])
    } else {
        chosen.fit(&y, h)
    };
    // The band: from the chosen model's out-of-sample errors when the backtest made enough
    // (in-sample residuals flatter a model: its 90 % band covered 97 % of unseen days).
    if let Some(b) = &backtest_result {
        let oos: Vec<f64> = b.errors.iter().flatten().copied().collect();
        if oos.len() >= MIN_CALIBRATION_ERRORS {
            resid = oos;
        }
    }
    if resid.is_empty() {
        resid.push(0.0);
    }
    // A history too short to model (the naive mean) that shows no spread yet still has some:
    // the band is ±25 % of the level (wide on purpose), never a line.
    let spread = resid.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - resid.iter().copied().fold(f64::INFINITY, f64::min);
    if chosen == Model::Naive && spread < 1e-9 {
        let level_now = mean.first().copied().unwrap_or(0.0).abs().max(1.0);
        resid = vec![-0.25 * level_now, 0.0, 0.25 * level_now];
    }
    resid.sort_by(|a, b| a.total_cmp(b));
    let (ql, qh, qlevel) = (
        quantile(&resid, (1.0 - level) / 2.0),
        quantile(&resid, (1.0 + level) / 2.0),
        quantile(&resid, level),
    );
    let start = history
        .days
        .last()
        .map_or_else(|| chrono::Utc::now().date_naive(), |d| d.date);
    let limit = req.daily_limit as f64;
    let mut forecast = Vec::with_capacity(h);
    let mut needed: f64 = 0.0;
    let mut days_at_risk = Vec::new();
    let mut samples_per_day: Vec<Vec<f64>> = Vec::with_capacity(h);
    for (i, &m) in mean.iter().enumerate() {
        let g = chosen.growth(i + 1);
        let date = start + chrono::Duration::days(i as i64 + 1);
        let samples: Vec<f64> = resid.iter().map(|r| (m + r * g).max(0.0)).collect();
        let p_over = samples.iter().filter(|s| **s > limit).count() as f64 / samples.len() as f64;
        needed = needed.max(m + qlevel * g - limit);
        if p_over > 1.0 - level {
            days_at_risk.push(RiskDay {
                date: date.to_string(),
                p_over_limit: p_over,
                mean: m,
            });
        }
        forecast.push(Point {
            date: date.to_string(),
            mean: m,
            lo: (m + ql * g).max(0.0),
            hi: (m + qh * g).max(0.0),
            p_over_limit: p_over,
        });
        samples_per_day.push(samples);
    }
    // Round up to whole thousands; never past the edition's cap.
    let mut recommended = if needed > 0.0 {
        ((needed / 1000.0).ceil() * 1000.0) as u64
    } else {
        0
    };
    if let Some(cap) = req.cap {
        recommended = recommended.min(cap.saturating_sub(req.daily_limit));
    }
    let rec = recommended as f64;
    let (mut used_sum, mut cost_sum) = (0.0, 0.0);
    for samples in &samples_per_day {
        let k = samples.len() as f64;
        used_sum += samples
            .iter()
            .map(|s| (s - limit).clamp(0.0, rec))
            .sum::<f64>()
            / k;
        cost_sum += samples
            .iter()
            .map(|s| editions.addon_price_usd((s - limit).clamp(0.0, rec) as u64))
            .sum::<f64>()
            / k;
    }
    let days = samples_per_day.len().max(1) as f64;
    Estimate {
        model: chosen.name(),
        backtest: backtest_result,
        candidates,
        history_days: n,
        level,
        horizon: h,
        forecast,
        daily_limit: req.daily_limit,
        recommended_addon: recommended,
        expected_addon_credits_per_day: used_sum / days,
        expected_monthly_cost_usd: (cost_sum / days * 30.0 * 100.0).round() / 100.0,
        days_at_risk,
        message,
    }
}

/// The estimate as CSV (one row per forecast day).
pub fn to_csv(e: &Estimate) -> String {
    let mut out = String::from("date,mean,lo,hi,p_over_limit\n");
    for p in &e.forecast {
        out.push_str(&format!(
            "{},{:.1},{:.1},{:.1},{:.4}\n",
            p.date, p.mean, p.lo, p.hi, p.p_over_limit
        ));
    }
    out
}

/// The estimate as a Markdown report.
pub fn to_markdown(e: &Estimate, history: &History) -> String {
    let mut s = String::from("# Add-on credit estimate\n\n");
    s.push_str(&format!(
        "- history: {} days ({} to {})\n",
        e.history_days,
        history
            .days
            .first()
            .map(|d| d.date.to_string())
            .unwrap_or_default(),
        history
            .days
            .last()
            .map(|d| d.date.to_string())
            .unwrap_or_default()
    ));
    s.push_str(&format!("- model: {}", e.model));
    if let Some(b) = &e.backtest {
        s.push_str(&format!(
            " (backtest over {} origins, {} days ahead: MASE {}, {}% interval coverage {:.0}%)",
            b.origins,
            b.horizon,
            b.mase.map_or("n/a".into(), |m| format!("{m:.2}")),
            (e.level * 100.0).round(),
            b.coverage * 100.0
        ));
    }
    s.push_str(&format!(
        "\n- daily limit: {}\n- recommended add-on: {} credits per 24 h (level {:.0}%)\n",
        e.daily_limit,
        e.recommended_addon,
        e.level * 100.0
    ));
    s.push_str(&format!(
        "- expected add-on use: {:.0} credits a day; expected cost ${:.2} a month\n",
        e.expected_addon_credits_per_day, e.expected_monthly_cost_usd
    ));
    if let Some(m) = &e.message {
        s.push_str(&format!("- note: {m}\n"));
    }
    s.push_str(&format!("\n## Days at risk ({})\n\n", e.days_at_risk.len()));
    for d in &e.days_at_risk {
        s.push_str(&format!(
            "- {}: {:.0}% chance over the limit (expected {:.0})\n",
            d.date,
            d.p_over_limit * 100.0,
            d.mean
        ));
    }
    s.push_str("\n## Forecast\n\n| date | mean | lo | hi |\n|---|---|---|---|\n");
    for p in &e.forecast {
        s.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} |\n",
            p.date, p.mean, p.lo, p.hi
        ));
    }
    s
}

#[cfg(test)]
mod tests;

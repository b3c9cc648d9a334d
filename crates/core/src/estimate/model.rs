//! Forecasting models for daily usage with weekly seasonality. Each fits a training series and
//! answers point forecasts and its in-sample residuals (which set the prediction intervals).

pub const SEASON: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Each day as the same weekday a week before.
    SeasonalNaive,
    /// Additive Holt-Winters with a damped trend, smoothing parameters fitted by grid search.
    HoltWinters,
    /// The same on log(1 + y): weekly swings that grow with the level (multiplicative).
    HoltWintersLog,
    /// A robust multiplicative decomposition on log(1 + y): Theil-Sen trend (spikes do not
    /// bend it) plus weekday medians, so weekly swings scale with the level as usage does.
    RobustDecomposition,
    /// The mean of the last week: for series too short for the others.
    Naive,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::SeasonalNaive => "seasonal_naive",
            Model::HoltWinters => "holt_winters",
            Model::HoltWintersLog => "holt_winters_multiplicative",
            Model::RobustDecomposition => "robust_decomposition",
            Model::Naive => "naive_mean",
        }
    }

    /// The fewest days the model needs.
    pub fn min_len(self) -> usize {
        match self {
            Model::Naive => 1,
            Model::SeasonalNaive => SEASON + 1,
            Model::HoltWinters | Model::HoltWintersLog | Model::RobustDecomposition => 2 * SEASON,
        }
    }

    /// Point forecasts for `h` days after `y`, and in-sample residuals (actual − fitted).
    pub fn fit(self, y: &[f64], h: usize) -> (Vec<f64>, Vec<f64>) {
        match self {
            Model::Naive => naive(y, h),
            Model::SeasonalNaive => seasonal_naive(y, h),
            Model::HoltWinters => holt_winters(y, h),
            Model::HoltWintersLog => {
                // Fit on the log scale; answer (and measure residuals) on the original one.
                let logged: Vec<f64> = y.iter().map(|v| v.max(0.0).ln_1p()).collect();
                let (f, r) = holt_winters(&logged, h);
                let fitted_log: Vec<f64> = logged[SEASON..]
                    .iter()
                    .zip(&r)
                    .map(|(l, e)| l - e)
                    .collect();
                let residuals = y[SEASON..]
                    .iter()
                    .zip(&fitted_log)
                    .map(|(v, fl)| v - fl.exp_m1())
                    .collect();
                (
                    f.into_iter().map(|v| v.exp_m1().max(0.0)).collect(),
                    residuals,
                )
            }
            Model::RobustDecomposition => {
                let logged: Vec<f64> = y.iter().map(|v| v.max(0.0).ln_1p()).collect();
                let (f, fitted) = robust(&logged, h);
                let residuals = y
                    .iter()
                    .zip(&fitted)
                    .map(|(v, fl)| v - fl.exp_m1())
                    .collect();
                (
                    f.into_iter().map(|v| v.exp_m1().max(0.0)).collect(),
                    residuals,
                )
            }
        }
    }

    /// How prediction-interval width grows with the horizon (in units of the residuals'
    /// spread). Seasonal-naive residuals are already a week ahead; the others are one day ahead.
    pub fn growth(self, step: usize) -> f64 {
        match self {
            Model::SeasonalNaive => (step.div_ceil(SEASON) as f64).sqrt(),
            _ => (step as f64).sqrt().min(3.0),
        }
    }
}

fn naive(y: &[f64], h: usize) -> (Vec<f64>, Vec<f64>) {
    let tail = &y[y.len().saturating_sub(SEASON)..];
    let mean = if tail.is_empty() {
        0.0
    } else {
        tail.iter().sum::<f64>() / tail.len() as f64
    };
    (vec![mean; h], y.iter().map(|v| v - mean).collect())
}

fn seasonal_naive(y: &[f64], h: usize) -> (Vec<f64>, Vec<f64>) {
    let n = y.len();
    let f = (0..h).map(|i| y[n - SEASON + (i % SEASON)]).collect();
    let r = (SEASON..n).map(|t| y[t] - y[t - SEASON]).collect();
    (f, r)
}

/// One pass of damped additive Holt-Winters; returns (SSE, final state, residuals).
fn hw_run(y: &[f64], a: f64, b: f64, g: f64, phi: f64) -> (f64, f64, f64, [f64; SEASON], Vec<f64>) {
    let m = SEASON;
    let first: f64 = y[..m].iter().sum::<f64>() / m as f64;
    let second: f64 = y[m..2 * m].iter().sum::<f64>() / m as f64;
    let mut level = first;
    let mut trend = (second - first) / m as f64;
    let mut season = [0.0; SEASON];
    for i in 0..m {
        season[i] = y[i] - first;
    }
    let mut sse = 0.0;
    let mut residuals = Vec::with_capacity(y.len());
    for (t, &v) in y.iter().enumerate().skip(m) {
        let s = season[t % m];
        let fitted = level + phi * trend + s;
        let e = v - fitted;
        sse += e * e;
        residuals.push(e);
        let new_level = a * (v - s) + (1.0 - a) * (level + phi * trend);
        trend = b * (new_level - level) + (1.0 - b) * phi * trend;
        season[t % m] = g * (v - new_level) + (1.0 - g) * s;
        level = new_level;
    }
    (sse, level, trend, season, residuals)
}

fn holt_winters(y: &[f64], h: usize) -> (Vec<f64>, Vec<f64>) {
    let mut best: Option<(f64, f64, f64, f64, f64)> = None;
    for &a in &[0.05, 0.1, 0.2, 0.3, 0.5, 0.7] {
        for &b in &[0.0, 0.01, 0.05, 0.1, 0.2] {
            for &g in &[0.01, 0.05, 0.1, 0.2, 0.3, 0.5] {
                for &phi in &[0.9, 0.95, 0.98, 1.0] {
                    let (sse, ..) = hw_run(y, a, b, g, phi);
                    if best.is_none_or(|bst| sse < bst.0) {
                        best = Some((sse, a, b, g, phi));
                    }
                }
            }
        }
    }
    let (_, a, b, g, phi) = best.unwrap_or((0.0, 0.2, 0.05, 0.1, 0.95));
    let (_, level, trend, season, residuals) = hw_run(y, a, b, g, phi);
    let n = y.len();
    let mut damp = 0.0;
    let f = (1..=h)
        .map(|k| {
            damp += phi.powi(k as i32);
            (level + damp * trend + season[(n + k - 1) % SEASON]).max(0.0)
        })
        .collect();
    (f, residuals)
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Forecasts and fitted values (not residuals) of the decomposition on `y`.
fn robust(y: &[f64], h: usize) -> (Vec<f64>, Vec<f64>) {
    let n = y.len();
    // Theil-Sen slope over pairs a week or more apart (so the weekly pattern does not tilt it);
    // long series are thinned to keep it O(n·k).
    let stride = (n / 400).max(1);
    let mut slopes = Vec::new();
    for i in (0..n).step_by(stride) {
        for j in ((i + SEASON)..n).step_by(SEASON * stride) {
            slopes.push((y[j] - y[i]) / (j - i) as f64);
        }
    }
    let slope = median(&mut slopes);
    let mut detrended: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(t, v)| v - slope * t as f64)
        .collect();
    let intercept = median(&mut detrended.clone());
    for v in detrended.iter_mut() {
        *v -= intercept;
    }
    let mut season = [0.0; SEASON];
    for (d, s) in season.iter_mut().enumerate() {
        let mut vals: Vec<f64> = detrended.iter().skip(d).step_by(SEASON).copied().collect();
        *s = median(&mut vals);
    }
    let fitted = |t: usize| intercept + slope * t as f64 + season[t % SEASON];
    let f = (n..n + h).map(|t| fitted(t).max(0.0)).collect();
    (f, (0..n).map(fitted).collect())
}

/// The p-quantile of `v` (linear interpolation); 0 for none.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

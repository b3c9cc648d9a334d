//! Daily usage history: from a CSV (a header naming `date` and `credits` columns) or the ledger.
//! Bad rows are errors that say FILE:LINE: reason; gaps, duplicates and unsorted rows are
//! repaired, each with a warning naming the lines.

use std::collections::BTreeMap;

use chrono::NaiveDate;

/// One day's usage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub credits: f64,
}

/// A repaired daily series, oldest first, one entry per day.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    pub days: Vec<Day>,
    pub warnings: Vec<String>,
}

impl History {
    pub fn values(&self) -> Vec<f64> {
        self.days.iter().map(|d| d.credits).collect()
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.date_naive())
        })
        .or_else(|| NaiveDate::parse_from_str(s, "%d/%m/%Y").ok())
}

/// Reads CSV text; `file` names it in messages. All bad rows are reported together.
/// The most credits a day can plausibly hold: far above any edition's cap (Ultimate's
/// unlimited orgs included), far below where a float stops counting whole credits.
pub const MAX_DAILY_CREDITS: f64 = 1e12;

/// The longest gap between two days of one history: beyond it the rows are two series (or a
/// typo in a year), and filling the gap would invent years of days.
pub const MAX_GAP_DAYS: i64 = 366;

/// Daily history from a CSV with `date` and `credits` columns. `today` (UTC) bounds the dates:
/// a day after it has not happened.
pub fn from_csv(text: &str, file: &str) -> Result<History, Vec<String>> {
    from_csv_at(text, file, chrono::Utc::now().date_naive())
}

/// [`from_csv`] with the day it is (for tests).
pub fn from_csv_at(text: &str, file: &str, today: NaiveDate) -> Result<History, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("{file}:1: cannot read the header: {e}")]),
    };
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(dc), Some(cc)) = (col("date"), col("credits")) else {
        return Err(vec![format!(
            "{file}:1: the header must name a `date` and a `credits` column (found: {})",
            header.iter().collect::<Vec<_>>().join(", ")
        )]);
    };
    let mut errors = Vec::new();
    let mut rows: Vec<(usize, NaiveDate, f64)> = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{file}:{line}: {e}"));
                continue;
            }
        };
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let date = rec.get(dc).unwrap_or("");
        let credits = rec.get(cc).unwrap_or("");
        let Some(d) = parse_date(date) else {
            errors.push(format!(
                "{file}:{line}: `{date}` is not a date (YYYY-MM-DD)"
            ));
            continue;
        };
        if d > today {
            errors.push(format!(
                "{file}:{line}: {d} is in the future (today is {today})"
            ));
            continue;
        }
        match credits.replace([',', '_'], "").parse::<f64>() {
            Ok(c) if c.is_finite() && c > MAX_DAILY_CREDITS => errors.push(format!(
                "{file}:{line}: credits {credits} is more than a day can hold (at most {MAX_DAILY_CREDITS:e})"
            )),
            Ok(c) if c.is_finite() && c >= 0.0 => rows.push((line, d, c)),
            Ok(c) => errors.push(format!(
                "{file}:{line}: credits {c} is not a count (negative or not finite)"
            )),
            Err(_) => errors.push(format!(
                "{file}:{line}: credits `{credits}` is not a number"
            )),
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(format!(
            "{file}: no days of history, only a header: an estimate needs daily rows"
        ));
    }
    let mut by_date: Vec<&(usize, NaiveDate, f64)> = rows.iter().collect();
    by_date.sort_by_key(|r| r.1);
    for w in by_date.windows(2) {
        let gap = (w[1].1 - w[0].1).num_days();
        if gap > MAX_GAP_DAYS {
            errors.push(format!(
                "{file}:{}: {} comes {gap} days after {} (line {}): a gap of more than {MAX_GAP_DAYS} days is not one history",
                w[1].0, w[1].1, w[0].1, w[0].0
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(repair(rows))
}

/// Daily totals from the ledger (`YYYY-MM-DD`, credits). `today` (UTC) is still under way:
/// counted as a day of usage it would drag the history down, so it is left out, and said.
pub fn from_daily(totals: &[(String, u64)], today: NaiveDate) -> History {
    let rows: Vec<(usize, NaiveDate, f64)> = totals
        .iter()
        .enumerate()
        .filter_map(|(i, (d, c))| parse_date(d).map(|d| (i + 1, d, *c as f64)))
        .collect();
    let partial = rows.iter().any(|r| r.1 >= today);
    let mut h = repair(rows.into_iter().filter(|r| r.1 < today).collect());
    if partial {
        h.warnings.push(format!(
            "today ({today}) is under way: left out of the history"
        ));
    }
    h
}

/// Sorts, merges duplicates and fills gaps, saying what it did and where.
pub fn repair(rows: Vec<(usize, NaiveDate, f64)>) -> History {
    let mut warnings = Vec::new();
    if rows.windows(2).any(|w| w[1].1 < w[0].1) {
        let out_of_order: Vec<String> = rows
            .windows(2)
            .filter(|w| w[1].1 < w[0].1)
            .map(|w| w[1].0.to_string())
            .collect();
        warnings.push(format!(
            "rows not in date order (line {}): sorted",
            out_of_order.join(", ")
        ));
    }
    let mut by_date: BTreeMap<NaiveDate, Vec<(usize, f64)>> = BTreeMap::new();
    for (line, d, c) in rows {
        by_date.entry(d).or_default().push((line, c));
    }
    let mut days = Vec::new();
    for (date, entries) in &by_date {
        if entries.len() > 1 {
            let lines: Vec<String> = entries.iter().map(|(l, _)| l.to_string()).collect();
            let all_same = entries.iter().all(|(_, c)| *c == entries[0].1);
            let credits = if all_same {
                warnings.push(format!(
                    "{date} appears {} times with the same credits (lines {}): kept once",
                    entries.len(),
                    lines.join(", ")
                ));
                entries[0].1
            } else {
                warnings.push(format!(
                    "{date} appears {} times (lines {}): their credits are summed",
                    entries.len(),
                    lines.join(", ")
                ));
                entries.iter().map(|(_, c)| c).sum()
            };
            days.push(Day {
                date: *date,
                credits,
            });
        } else {
            days.push(Day {
                date: *date,
                credits: entries[0].1,
            });
        }
    }
    // Fill gaps by straight lines between the neighbours.
    let mut filled: Vec<Day> = Vec::with_capacity(days.len());
    let mut gaps = Vec::new();
    for d in days {
        if let Some(prev) = filled.last().copied() {
            let span = (d.date - prev.date).num_days();
            for k in 1..span {
                let t = k as f64 / span as f64;
                let date = prev.date + chrono::Duration::days(k);
                filled.push(Day {
                    date,
                    credits: prev.credits + t * (d.credits - prev.credits),
                });
                gaps.push(date.to_string());
            }
        }
        filled.push(d);
    }
    if !gaps.is_empty() {
        let shown: Vec<&str> = gaps.iter().take(6).map(String::as_str).collect();
        let more = if gaps.len() > 6 {
            format!(" and {} more", gaps.len() - 6)
        } else {
            String::new()
        };
        warnings.push(format!(
            "{} missing day(s) filled by interpolation: {}{more}",
            gaps.len(),
            shown.join(", ")
        ));
    }
    History {
        days: filled,
        warnings,
    }
}

/// The largest credits used in any 24 consecutive hours, from hourly totals: `(sum, first hour)`.
pub fn worst_rolling_24h(hourly: &[(String, u64)]) -> Option<(u64, String)> {
    let parsed: Vec<(chrono::NaiveDateTime, u64)> = hourly
        .iter()
        .filter_map(|(h, c)| {
            chrono::NaiveDateTime::parse_from_str(&format!("{h}:00"), "%Y-%m-%dT%H:%M:%S")
                .ok()
                .map(|t| (t, *c))
        })
        .collect();
    let start = parsed.first()?.0;
    let hours = ((parsed.last()?.0 - start).num_hours() + 1) as usize;
    let mut series = vec![0u64; hours];
    for (t, c) in &parsed {
        series[(*t - start).num_hours() as usize] += c;
    }
    let w = 24.min(series.len());
    let mut sum: u64 = series[..w].iter().sum();
    let (mut best, mut at) = (sum, 0);
    for i in w..series.len() {
        sum = sum + series[i] - series[i - w];
        if sum > best {
            best = sum;
            at = i + 1 - w;
        }
    }
    Some((
        best,
        (start + chrono::Duration::hours(at as i64))
            .format("%Y-%m-%dT%H:00")
            .to_string(),
    ))
}

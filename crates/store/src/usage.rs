//! The gauges, computed from the ledger: used against the limit in the rolling window, burn
//! rate, time to exhaustion, what frees up, alerts, and breakdowns. `creditops usage` prints it;
//! the console's Gauges view draws it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ledger::{Group, Ledger, LedgerError, Tally};
use creditops_core::credits::Limits;

/// Where the limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// `--edition/--users/--addon` or the profile.
    Configured,
    /// Metered used + Zoho's `X-API-CREDITS-REMAINING`, at the time Zoho last sent it.
    Learned,
    /// Neither yet: Zoho sends the header only past 50 % use.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertState {
    pub threshold: u32,
    pub credits: u64,
    pub crossed: bool,
    /// When the ledger recorded the crossing (the proxy records each once).
    pub crossed_at_ms: Option<i64>,
}

/// Every gauge at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub now_ms: i64,
    pub used: u64,
    pub limit: Option<u64>,
    pub limit_source: LimitSource,
    pub base_limit: Option<u64>,
    pub addon: Option<u64>,
    pub remaining: Option<u64>,
    pub percent: Option<f64>,
    /// Credits per hour over the last 15 minutes.
    pub burn_per_hour: f64,
    /// Seconds until the limit is reached at the current burn, counting credits that free up;
    /// None when not on course to run out within 24 h.
    pub exhaustion_eta_seconds: Option<u64>,
    pub freeing_next_hour: u64,
    pub reported_remaining: Option<u64>,
    pub reported_at_ms: Option<i64>,
    /// Metered remaining minus reported remaining, at the time of the report (positive: Zoho
    /// counts more than the meter does).
    pub metered_minus_reported: Option<i64>,
    pub in_flight: u32,
    pub concurrency_limit: Option<u32>,
    pub sub_concurrency_limit: Option<u32>,
    pub alerts: Vec<AlertState>,
    pub by_module: BTreeMap<String, Tally>,
    pub by_api: BTreeMap<String, Tally>,
    pub by_integration: BTreeMap<String, Tally>,
    /// Which proxy recorded the calls (several proxies sharing one ledger; "" for calls from
    /// before proxies had names).
    pub by_proxy: BTreeMap<String, Tally>,
    /// Each integration's budget and where it stands (empty without budgets).
    pub budgets: Vec<BudgetUse>,
}

/// One integration against its budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetUse {
    pub integration: String,
    pub priority: creditops_core::budgets::Priority,
    /// Credits per rolling 24 h.
    pub budget: u64,
    pub used: u64,
    pub remaining: u64,
    pub percent: f64,
    pub per_hour: Option<u64>,
    pub used_last_hour: u64,
    /// Credits per hour over the last 15 minutes.
    pub burn_per_hour: f64,
    /// Seconds until this integration reaches its own budget at its current burn.
    pub exhaustion_eta_seconds: Option<u64>,
    /// Calls refused in the last 24 h, and calls that would have been (`enforce = false`).
    pub refused: u64,
    pub would_refuse: u64,
}

/// Reads the gauges at `now` from the ledger. `limits` comes from flags or the profile; without
/// it the limit is learned from Zoho's header once Zoho sends it.
pub fn snapshot(
    ledger: &Ledger,
    now: i64,
    limits: Option<&Limits>,
    thresholds: &[u32],
    budgets: Option<&creditops_core::budgets::Budgets>,
) -> Result<Usage, LedgerError> {
    let used = ledger.used_at(now)?;
    let reported = ledger.latest_reported()?;
    let (limit, source) = match (limits, reported) {
        (Some(l), _) => (Some(l.daily_limit), LimitSource::Configured),
        (None, Some((at, rem))) => (Some(ledger.used_at(at)? + rem), LimitSource::Learned),
        (None, None) => (None, LimitSource::Unknown),
    };
    let metered_minus_reported = match (limit, reported) {
        (Some(l), Some((at, rem))) => {
            let metered_remaining = l.saturating_sub(ledger.used_at(at)?);
            Some(metered_remaining as i64 - rem as i64)
        }
        _ => None,
    };
    let burn_15 = ledger.credits_between(now - 15 * 60_000, now)?;
    let burn_per_hour = burn_15 as f64 * 4.0;
    let freeing = ledger.freeing(now, 60_000, 24 * 60)?;
    let exhaustion_eta_seconds = limit.and_then(|l| eta(used, l, burn_per_hour / 60.0, &freeing));
    let recorded = ledger.alerts_since(now - creditops_core::credits::WINDOW_MS)?;
    let alerts = match limit {
        Some(l) => thresholds
            .iter()
            .map(|&t| {
                let credits = l * u64::from(t) / 100;
                AlertState {
                    threshold: t,
                    credits,
                    crossed: used >= credits,
                    crossed_at_ms: recorded.iter().rev().find(|a| a.1 == t).map(|a| a.0),
                }
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Usage {
        now_ms: now,
        used,
        limit,
        limit_source: source,
        base_limit: limits.map(|l| l.base_limit),
        addon: limits.map(|l| l.addon_effective),
        remaining: limit.map(|l| l.saturating_sub(used)),
        percent: limit
            .filter(|l| *l > 0)
            .map(|l| used as f64 * 100.0 / l as f64),
        burn_per_hour,
        exhaustion_eta_seconds,
        freeing_next_hour: freeing.iter().take(60).sum(),
        reported_remaining: reported.map(|r| r.1),
        reported_at_ms: reported.map(|r| r.0),
        metered_minus_reported,
        in_flight: ledger.live("in_flight", now, 10_000)?.unwrap_or(0).max(0) as u32,
        concurrency_limit: limits.map(|l| l.concurrency),
        sub_concurrency_limit: limits.map(|l| l.sub_concurrency),
        alerts,
        by_module: ledger.breakdown(now, Group::Module)?,
        by_api: ledger.breakdown(now, Group::Api)?,
        by_integration: ledger.breakdown(now, Group::Integration)?,
        by_proxy: ledger.breakdown(now, Group::Proxy)?,
        budgets: match budgets {
            Some(b) => budget_uses(ledger, now, b, limit)?,
            None => Vec::new(),
        },
    })
}

/// Every named integration, and every other one seen in the window under the default budget,
/// against its budget.
fn budget_uses(
    ledger: &Ledger,
    now: i64,
    budgets: &creditops_core::budgets::Budgets,
    limit: Option<u64>,
) -> Result<Vec<BudgetUse>, LedgerError> {
    let window = creditops_core::credits::WINDOW_MS;
    let day = ledger.credits_by_integration_since(now - window, now)?;
    let hour = ledger.credits_by_integration_since(now - 3_600_000, now)?;
    let quarter = ledger.credits_by_integration_since(now - 15 * 60_000, now)?;
    let refusals = ledger.refusals_since(now - window)?;
    let mut names: std::collections::BTreeSet<&str> =
        budgets.integrations.keys().map(String::as_str).collect();
    if budgets.default.is_some() {
        names.extend(day.keys().map(String::as_str));
        names.extend(refusals.keys().map(String::as_str));
    }
    let mut out = Vec::new();
    for name in names {
        let Some(b) = budgets.for_integration(name, limit) else {
            continue;
        };
        let used = day.get(name).copied().unwrap_or(0);
        let burn_per_hour = quarter.get(name).copied().unwrap_or(0) as f64 * 4.0;
        let (refused, would_refuse) = refusals.get(name).copied().unwrap_or_default();
        out.push(BudgetUse {
            integration: name.to_string(),
            priority: b.priority,
            budget: b.daily,
            used,
            remaining: b.daily.saturating_sub(used),
            percent: if b.daily > 0 {
                used as f64 * 100.0 / b.daily as f64
            } else {
                0.0
            },
            per_hour: b.per_hour,
            used_last_hour: hour.get(name).copied().unwrap_or(0),
            burn_per_hour,
            exhaustion_eta_seconds: eta(used, b.daily, burn_per_hour / 60.0, &[]),
            refused,
            would_refuse,
        });
    }
    Ok(out)
}

/// Minutes until `used + burn × t − freed(t)` reaches `limit`, within 24 h; seconds.
pub fn eta(used: u64, limit: u64, burn_per_minute: f64, freeing_per_minute: &[u64]) -> Option<u64> {
    if used >= limit {
        return Some(0);
    }
    if burn_per_minute <= 0.0 {
        return None;
    }
    let mut level = used as f64;
    for (minute, freed) in freeing_per_minute.iter().enumerate() {
        level += burn_per_minute - *freed as f64;
        if level >= limit as f64 {
            return Some((minute as u64 + 1) * 60);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::eta;

    #[test]
    fn eta_counts_burn_and_what_frees_up() {
        // 1,000 left at 10 a minute: 100 minutes.
        assert_eq!(eta(9_000, 10_000, 10.0, &[0; 1440]), Some(6_000));
        // Already out.
        assert_eq!(eta(10_000, 10_000, 0.0, &[0; 1440]), Some(0));
        // No burn: never.
        assert_eq!(eta(9_000, 10_000, 0.0, &[0; 1440]), None);
        // What frees up each minute outpaces the burn: never.
        assert_eq!(eta(9_000, 10_000, 10.0, &[12; 1440]), None);
        // Frees 5 a minute, burns 10: net 5 a minute, 200 minutes.
        assert_eq!(eta(9_000, 10_000, 10.0, &[5; 1440]), Some(12_000));
        // Not within 24 h.
        assert_eq!(eta(0, 1_000_000, 1.0, &[0; 1440]), None);
    }
}

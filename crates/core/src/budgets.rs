//! Budgets per integration: a runaway integration is stopped at its own budget before it spends
//! the credits the critical ones need. Pure: what a budget is, how a config's shares become
//! credits, and whether a call may go, with when to come back if not.
//!
//! The reserve: past `reserve_from` % of the org's limit, `background` integrations are refused;
//! past the midpoint between that mark and 100 %, `normal` ones too; `critical` ones only ever
//! meet their own budget (and Zoho's limit). So the last credits of the day go to what matters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::credits::window::Charge;
use crate::credits::WINDOW_MS;

const HOUR_MS: i64 = 3_600_000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Critical,
    #[default]
    Normal,
    Background,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::Normal => "normal",
            Priority::Background => "background",
        }
    }
}

/// One budget as written in config: a share of the daily limit or a number of credits per
/// rolling 24 h, optionally a cap per rolling hour, and a priority.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u64>,
    #[serde(default)]
    pub priority: Priority,
}

/// `[budgets]` in config.toml (or `[profiles.NAME.budgets]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// % of the org's limit past which lower priorities are refused first.
    #[serde(default = "default_reserve_from")]
    pub reserve_from: u32,
    /// false: record what would be refused, refuse nothing.
    #[serde(default = "default_enforce")]
    pub enforce: bool,
    /// For every integration not named (each its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<BudgetSpec>,
    #[serde(default)]
    pub integrations: BTreeMap<String, BudgetSpec>,
}

fn default_reserve_from() -> u32 {
    90
}

fn default_enforce() -> bool {
    true
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            reserve_from: default_reserve_from(),
            enforce: true,
            default: None,
            integrations: BTreeMap::new(),
        }
    }
}

/// A budget in credits, for one integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub daily: u64,
    pub per_hour: Option<u64>,
    pub priority: Priority,
}

impl BudgetSpec {
    /// What is wrong with it (key, message), if anything.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        match (self.share, self.credits) {
            (Some(_), Some(_)) => {
                return Some(("share", "give a share or credits, not both".into()))
            }
            (None, None) => return Some(("credits", "give a share (0-1] or credits".into())),
            (Some(s), None) if !(s > 0.0 && s <= 1.0) => {
                return Some(("share", format!("{s} is not a share: it must be in (0, 1]")))
            }
            (None, Some(0)) => return Some((
                "credits",
                "a budget of 0 credits refuses everything; remove the integration's calls instead"
                    .into(),
            )),
            _ => {}
        }
        if self.per_hour == Some(0) {
            return Some(("per_hour", "0 credits an hour refuses everything".into()));
        }
        None
    }

    /// In credits, against the org's daily limit (a share needs one).
    pub fn resolve(&self, daily_limit: Option<u64>) -> Option<Budget> {
        let daily = match (self.credits, self.share, daily_limit) {
            (Some(c), _, _) => c,
            (None, Some(s), Some(limit)) => ((limit as f64) * s).floor() as u64,
            _ => return None,
        };
        Some(Budget {
            daily,
            per_hour: self.per_hour,
            priority: self.priority,
        })
    }
}

impl Budgets {
    /// What is wrong with the whole (key, message): each budget, the reserve mark, and named
    /// budgets that add up to more than the org's limit (`limit`, when known; shares always).
    pub fn problem(&self, daily_limit: Option<u64>) -> Option<(String, String)> {
        if !(1..=100).contains(&self.reserve_from) {
            return Some((
                "reserve_from".into(),
                format!("{} % is not within 1-100", self.reserve_from),
            ));
        }
        for (name, spec) in self
            .default
            .iter()
            .map(|s| ("default", s))
            .chain(self.integrations.iter().map(|(n, s)| (n.as_str(), s)))
        {
            if let Some((key, msg)) = spec.problem() {
                return Some((key.into(), format!("budget `{name}`: {msg}")));
            }
        }
        let shares: f64 = self.integrations.values().filter_map(|s| s.share).sum();
        let credits: u64 = self.integrations.values().filter_map(|s| s.credits).sum();
        let total = match daily_limit {
            Some(l) if l > 0 => shares + credits as f64 / l as f64,
            _ => shares,
        };
        if total > 1.0 + 1e-9 {
            return Some((
                "integrations".into(),
                format!(
                    "the named budgets add up to {:.0} % of the daily limit, over 100 % in total",
                    total * 100.0
                ),
            ));
        }
        None
    }

    /// The budget that applies to `integration`: its own, else the default, else none.
    pub fn for_integration(&self, integration: &str, daily_limit: Option<u64>) -> Option<Budget> {
        self.integrations
            .get(integration)
            .or(self.default.as_ref())
            .and_then(|s| s.resolve(daily_limit))
    }

    /// The org usage (in %) from which `priority` is refused by the reserve (None: never).
    pub fn reserve_mark(&self, priority: Priority) -> Option<f64> {
        let from = f64::from(self.reserve_from);
        match priority {
            Priority::Critical => None,
            Priority::Background => Some(from),
            Priority::Normal => Some(from + (100.0 - from) / 2.0),
        }
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The integration's rolling-24 h budget.
    Daily { budget: u64, used: u64 },
    /// The integration's rolling-hour cap.
    Hourly { per_hour: u64, used: u64 },
    /// The org is past the mark where this priority gives way.
    Reserve {
        priority: Priority,
        mark_percent: f64,
        org_percent: f64,
    },
}

impl Refusal {
    /// The message a caller reads, naming the budget.
    pub fn message(&self, integration: &str) -> String {
        match self {
            Refusal::Daily { budget, used } => format!(
                "creditops budget: integration `{integration}` has used {used} of its {budget} credits in the last 24 h"
            ),
            Refusal::Hourly { per_hour, used } => format!(
                "creditops budget: integration `{integration}` has used {used} of its {per_hour} credits in the last hour"
            ),
            Refusal::Reserve { priority, mark_percent, org_percent } => format!(
                "creditops budget: the org has used {org_percent:.1} % of its daily limit; past {mark_percent:.1} % the last credits are kept for higher priorities than `{}` ({integration})",
                priority.as_str()
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Daily { .. } => "daily",
            Refusal::Hourly { .. } => "hourly",
            Refusal::Reserve { .. } => "reserve",
        }
    }
}

/// The charges that count against budgets, oldest first (the last 24 h).
pub trait Spent {
    fn charges_since(&self, since_ms: i64) -> Box<dyn Iterator<Item = Charge> + '_>;
}

impl<T> Spent for crate::credits::RollingWindow<T> {
    fn charges_since(&self, since_ms: i64) -> Box<dyn Iterator<Item = Charge> + '_> {
        Box::new(self.charges().copied().filter(move |c| c.at_ms > since_ms))
    }
}

impl Spent for Vec<Charge> {
    fn charges_since(&self, since_ms: i64) -> Box<dyn Iterator<Item = Charge> + '_> {
        Box::new(self.iter().copied().filter(move |c| c.at_ms > since_ms))
    }
}

/// Credits spent in `(now - span, now]`.
pub fn used_within(charges: &dyn Spent, now_ms: i64, span_ms: i64) -> u64 {
    charges
        .charges_since(now_ms - span_ms)
        .filter(|c| c.at_ms <= now_ms)
        .map(|c| c.credits)
        .sum()
}

/// How long until `need` more credits fit under `cap` in a rolling `span`: the time when
/// enough of what was spent leaves the window. None when they fit now.
pub fn wait_until_fits(
    charges: &dyn Spent,
    now_ms: i64,
    span_ms: i64,
    need: u64,
    cap: u64,
) -> Option<i64> {
    let used = used_within(charges, now_ms, span_ms);
    if used + need <= cap {
        return None;
    }
    // Never fits (a single call larger than the cap): after the whole window.
    let mut over = (used + need).saturating_sub(cap);
    for c in charges.charges_since(now_ms - span_ms) {
        if c.at_ms > now_ms {
            break;
        }
        over = over.saturating_sub(c.credits);
        if over == 0 {
            return Some((c.at_ms + span_ms - now_ms).max(1000));
        }
    }
    Some(span_ms)
}

/// Whether a call costing `need` may go: its integration's daily and hourly budget, and the
/// reserve against the org's usage. `Err` carries the refusal and how many seconds until it
/// would go.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    budgets: &Budgets,
    budget: &Budget,
    integration_charges: &dyn Spent,
    org_charges: &dyn Spent,
    org_limit: Option<u64>,
    now_ms: i64,
    need: u64,
) -> Result<(), (Refusal, u64)> {
    let secs = |ms: i64| (ms as u64).div_ceil(1000).max(1);
    if let Some(wait) = wait_until_fits(integration_charges, now_ms, WINDOW_MS, need, budget.daily)
    {
        let used = used_within(integration_charges, now_ms, WINDOW_MS);
        return Err((
            Refusal::Daily {
                budget: budget.daily,
                used,
            },
            secs(wait),
        ));
    }
    if let Some(per_hour) = budget.per_hour {
        if let Some(wait) = wait_until_fits(integration_charges, now_ms, HOUR_MS, need, per_hour) {
            let used = used_within(integration_charges, now_ms, HOUR_MS);
            return Err((Refusal::Hourly { per_hour, used }, secs(wait)));
        }
    }
    if let (Some(mark), Some(limit)) = (budgets.reserve_mark(budget.priority), org_limit) {
        if limit > 0 {
            let cap = ((limit as f64) * mark / 100.0).floor() as u64;
            let used = used_within(org_charges, now_ms, WINDOW_MS);
            if used + need > cap {
                let wait =
                    wait_until_fits(org_charges, now_ms, WINDOW_MS, need, cap).unwrap_or(1000);
                return Err((
                    Refusal::Reserve {
                        priority: budget.priority,
                        mark_percent: mark,
                        org_percent: used as f64 * 100.0 / limit as f64,
                    },
                    secs(wait),
                ));
            }
        }
    }
    Ok(())
}

/// A budget the history suggests for one integration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub integration: String,
    /// The integration's 95th-percentile day (days it made no call count as 0).
    pub p95_day: u64,
    pub max_day: u64,
    /// p95 plus headroom, rounded up to a tidy number: the `credits` to write.
    pub recommended: u64,
}

/// Per-integration budgets from daily history: each integration's p95 day over the days the
/// history spans, plus `headroom` (0.2 = 20 %), rounded up to 2 significant figures.
pub fn advise(daily: &[(String, i64, u64)], headroom: f64) -> Vec<Advice> {
    let (Some(first), Some(last)) = (
        daily.iter().map(|d| d.1).min(),
        daily.iter().map(|d| d.1).max(),
    ) else {
        return Vec::new();
    };
    let span = (last - first + 1).max(1) as usize;
    let mut by: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (name, day, credits) in daily {
        let v = by.entry(name.as_str()).or_insert_with(|| vec![0; span]);
        if let Some(slot) = v.get_mut((day - first) as usize) {
            *slot += credits;
        }
    }
    by.into_iter()
        .map(|(name, mut days)| {
            days.sort_unstable();
            let p95 = days[((days.len() - 1) as f64 * 0.95).round() as usize];
            let max = days.last().copied().unwrap_or(0);
            Advice {
                integration: name.to_string(),
                p95_day: p95,
                max_day: max,
                recommended: tidy(((p95 as f64) * (1.0 + headroom)).ceil() as u64),
            }
        })
        .collect()
}

/// Rounds up to two significant figures (4,321 → 4,400), at least 10.
fn tidy(n: u64) -> u64 {
    let mut step = 1u64;
    while n / step >= 100 {
        step *= 10;
    }
    (n.div_ceil(step) * step).max(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(list: &[(i64, u64)]) -> Vec<Charge> {
        list.iter()
            .map(|&(at_ms, credits)| Charge { at_ms, credits })
            .collect()
    }

    fn budgets() -> Budgets {
        toml::from_str(
            "reserve_from = 90\n[default]\nshare = 0.2\n[integrations.shop-sync]\ncredits = 500\nper_hour = 100\npriority = \"background\"\n[integrations.orders]\nshare = 0.5\npriority = \"critical\"\n",
        )
        .unwrap()
    }

    #[test]
    fn advice_is_each_integrations_p95_day_plus_headroom() {
        // 20 days: "sync" spends 100 a day with one 1,000 spike; "reports" only on 2 days.
        let mut daily = Vec::new();
        for d in 0..20i64 {
            daily.push(("sync".to_string(), d, if d == 7 { 1000 } else { 100 }));
        }
        daily.push(("reports".to_string(), 3, 50));
        daily.push(("reports".to_string(), 9, 70));
        let a = advise(&daily, 0.2);
        let sync = a.iter().find(|x| x.integration == "sync").unwrap();
        // One spike in twenty days is past the 95th percentile: the budget is set by the
        // usual day, and the worst day is shown beside it.
        assert_eq!(
            (sync.p95_day, sync.max_day, sync.recommended),
            (100, 1000, 120)
        );
        let reports = a.iter().find(|x| x.integration == "reports").unwrap();
        assert_eq!(
            (reports.p95_day, reports.recommended),
            (50, 60),
            "zero days count"
        );
        assert_eq!(tidy(4321), 4400);
        assert_eq!(tidy(3), 10);
    }

    #[test]
    fn budgets_resolve_from_shares_and_credits() {
        let b = budgets();
        assert_eq!(b.problem(Some(10_000)), None);
        assert_eq!(
            b.for_integration("shop-sync", Some(10_000)).unwrap().daily,
            500
        );
        assert_eq!(
            b.for_integration("orders", Some(10_000)).unwrap().daily,
            5_000
        );
        assert_eq!(
            b.for_integration("anyone", Some(10_000)).unwrap().daily,
            2_000
        );
        assert_eq!(
            b.for_integration("anyone", None),
            None,
            "a share needs a limit"
        );
    }

    #[test]
    fn bad_budgets_are_named() {
        let mut b = budgets();
        b.integrations.get_mut("orders").unwrap().share = Some(0.6);
        b.integrations.insert(
            "billing".into(),
            BudgetSpec {
                share: Some(0.45),
                ..Default::default()
            },
        );
        let (key, msg) = b.problem(None).unwrap();
        assert_eq!(key, "integrations");
        assert!(msg.contains("over 100 %"), "{msg}");
        let mut b = budgets();
        b.integrations.get_mut("orders").unwrap().credits = Some(5);
        assert_eq!(b.problem(None).unwrap().0, "share");
        let mut b = budgets();
        b.reserve_from = 0;
        assert_eq!(b.problem(None).unwrap().0, "reserve_from");
        // Credits over the limit, once it is known.
        let b = budgets();
        assert!(b.problem(Some(900)).is_some(), "500 + 50 % of 900 > 900");
    }

    #[test]
    fn a_budget_stops_its_integration_and_says_when_to_come_back() {
        let b = budgets();
        let budget = b.for_integration("shop-sync", Some(10_000)).unwrap();
        let now = 100 * HOUR_MS;
        // 95 credits in the last hour, 480 in the day: one more credit fits the day and the hour.
        let mine = spent(&[(now - 20 * HOUR_MS, 385), (now - 30 * 60_000, 95)]);
        assert_eq!(
            decide(&b, &budget, &mine, &mine, Some(10_000), now, 1),
            Ok(())
        );
        // Ten credits pass the hour's cap: back when the 95 leave the hour.
        let (r, wait) = decide(&b, &budget, &mine, &mine, Some(10_000), now, 10).unwrap_err();
        assert_eq!(r.kind(), "hourly");
        assert_eq!(wait, 30 * 60);
        // Twenty-five pass the day's 500: back when the 385 leave the window (4 h).
        let (r, wait) = decide(&b, &budget, &mine, &mine, Some(10_000), now, 25).unwrap_err();
        assert_eq!(
            r,
            Refusal::Daily {
                budget: 500,
                used: 480
            }
        );
        assert_eq!(wait, 4 * 3600);
    }

    #[test]
    fn the_reserve_refuses_background_then_normal_never_critical() {
        let b = budgets();
        let now = 100 * HOUR_MS;
        let nothing: Vec<Charge> = Vec::new();
        let limit = Some(10_000);
        let bg = b.for_integration("shop-sync", limit).unwrap();
        let normal = b.for_integration("web-forms", limit).unwrap();
        let critical = b.for_integration("orders", limit).unwrap();
        let org_at = |credits| spent(&[(now - HOUR_MS, credits)]);
        let at91 = org_at(9_100);
        assert!(decide(&b, &bg, &nothing, &at91, limit, now, 1).is_err());
        assert!(decide(&b, &normal, &nothing, &at91, limit, now, 1).is_ok());
        let at96 = org_at(9_600);
        let (r, wait) = decide(&b, &normal, &nothing, &at96, limit, now, 1).unwrap_err();
        assert_eq!(r.kind(), "reserve");
        assert_eq!(wait, 23 * 3600, "back when the org's credits free up");
        assert!(decide(&b, &critical, &nothing, &at96, limit, now, 1).is_ok());
    }
}

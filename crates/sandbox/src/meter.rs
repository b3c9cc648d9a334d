//! The sandbox's own credit meter: the rolling window, concurrency and sub-concurrency, and the
//! counts `/__sandbox/usage` reports. Charges are taken at admission, so concurrent calls cannot
//! overshoot the limit; an answer Zoho does not charge for is refunded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use creditops_core::credits::{Limits, Price, RollingWindow, WINDOW_MS};
use creditops_core::zoho::ZohoError;

/// What a charge was for: the API (cost-table row) and the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeTag {
    pub api: std::sync::Arc<str>,
    pub module: Option<String>,
}

#[derive(Debug)]
pub struct Meter {
    pub limits: Limits,
    pub window: RollingWindow<ChargeTag>,
    pub in_flight: u32,
    pub sub_in_flight: u32,
    pub calls: u64,
    pub rejected: u64,
    pub peak_in_flight: u32,
}

impl Meter {
    pub fn new(limits: Limits) -> Meter {
        Meter {
            limits,
            window: RollingWindow::default(),
            in_flight: 0,
            sub_in_flight: 0,
            calls: 0,
            rejected: 0,
            peak_in_flight: 0,
        }
    }

    pub fn used(&mut self, now_ms: i64) -> u64 {
        self.window.used(now_ms)
    }

    /// The `X-API-CREDITS-REMAINING` value, once usage reaches 50 % of the non-add-on limit.
    pub fn remaining_header(&mut self, now_ms: i64) -> Option<u64> {
        let used = self.used(now_ms);
        (used * 2 >= self.limits.base_limit).then(|| self.limits.daily_limit.saturating_sub(used))
    }

    pub fn usage_json(&mut self, now_ms: i64) -> Value {
        let used = self.used(now_ms);
        let mut by_api: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut by_module: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (c, tag) in self.window.entries() {
            if c.at_ms > now_ms {
                continue;
            }
            let e = by_api.entry(&*tag.api).or_default();
            e.0 += 1;
            e.1 += c.credits;
            let m = by_module
                .entry(tag.module.as_deref().unwrap_or("-"))
                .or_default();
            m.0 += 1;
            m.1 += c.credits;
        }
        let table = |m: BTreeMap<&str, (u64, u64)>| -> Value {
            m.into_iter()
                .map(|(k, (calls, credits))| {
                    (k.to_string(), json!({"calls": calls, "credits": credits}))
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "used": used,
            "limit": self.limits.daily_limit,
            "base_limit": self.limits.base_limit,
            "remaining": self.limits.daily_limit.saturating_sub(used),
            "window_seconds": WINDOW_MS / 1000,
            "in_flight": self.in_flight,
            "sub_in_flight": self.sub_in_flight,
            "peak_in_flight": self.peak_in_flight,
            "concurrency_limit": self.limits.concurrency,
            "sub_concurrency_limit": self.limits.sub_concurrency,
            "calls": self.calls,
            "rejected": self.rejected,
            "freeing_next_hour": self.window.freeing_within(now_ms, 3_600_000),
            "by_api": table(by_api),
            "by_module": table(by_module),
            "now_ms": now_ms,
        })
    }
}

/// A call's hold on concurrency slots; released on drop.
pub struct Permit {
    meter: Arc<Mutex<Meter>>,
    slots: u32,
    sub: u32,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut m) = self.meter.lock() {
            m.in_flight = m.in_flight.saturating_sub(self.slots);
            m.sub_in_flight = m.sub_in_flight.saturating_sub(self.sub);
        }
    }
}

/// Admits a call: checks credits, concurrency and sub-concurrency, takes the slots and charges
/// the credits. Every refusal is Zoho's 429.
pub fn admit(meter: &Arc<Mutex<Meter>>, price: &Price, now_ms: i64) -> Result<Permit, ZohoError> {
    let mut m = meter.lock().map_err(|_| {
        ZohoError::new(
            "INTERNAL_ERROR",
            "Internal server error occurred.",
            json!({}),
        )
    })?;
    let used = m.used(now_ms);
    let credits = u64::from(price.credits);
    if used + credits > m.limits.daily_limit {
        m.rejected += 1;
        return Err(ZohoError::too_many_requests(
            "You have reached the API credit limit for the last 24 hours. Try again after credits free up.",
        ));
    }
    if m.in_flight + price.concurrency_slots > m.limits.concurrency {
        m.rejected += 1;
        return Err(ZohoError::too_many_requests(
            "The number of concurrent requests has exceeded the allowed limit.",
        ));
    }
    let sub = u32::from(price.sub_concurrency);
    if sub > 0 && m.sub_in_flight + sub > m.limits.sub_concurrency {
        m.rejected += 1;
        return Err(ZohoError::too_many_requests(
            "The number of concurrent requests to this API has exceeded the allowed sub-concurrency limit.",
        ));
    }
    m.in_flight += price.concurrency_slots;
    m.peak_in_flight = m.peak_in_flight.max(m.in_flight);
    m.sub_in_flight += sub;
    m.calls += 1;
    m.window.charge_tagged(
        now_ms,
        credits,
        ChargeTag {
            api: price.rule.clone(),
            module: price.module.clone(),
        },
    );
    Ok(Permit {
        meter: meter.clone(),
        slots: price.concurrency_slots,
        sub,
    })
}

/// Takes an extra sub-concurrency slot (a composite's sub-request), or refuses with 429.
pub fn take_sub_slot(meter: &Arc<Mutex<Meter>>) -> Result<Permit, ZohoError> {
    let mut m = meter.lock().map_err(|_| {
        ZohoError::new(
            "INTERNAL_ERROR",
            "Internal server error occurred.",
            json!({}),
        )
    })?;
    if m.sub_in_flight + 1 > m.limits.sub_concurrency {
        m.rejected += 1;
        return Err(ZohoError::too_many_requests(
            "The number of concurrent requests to this API has exceeded the allowed sub-concurrency limit.",
        ));
    }
    m.sub_in_flight += 1;
    Ok(Permit {
        meter: meter.clone(),
        slots: 0,
        sub: 1,
    })
}

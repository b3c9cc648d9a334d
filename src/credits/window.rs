//! The rolling 24-hour window: each call's credits come back 24 hours after the call.

use std::collections::VecDeque;

/// The window's length in milliseconds.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Credits charged at an instant (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub at_ms: i64,
    pub credits: u64,
}

/// Credits used at instant `t` by charges (any order): those in `(t - 24 h, t]`.
pub fn used_at(charges: &[Charge], t: i64) -> u64 {
    charges
        .iter()
        .filter(|c| c.at_ms <= t && c.at_ms > t - WINDOW_MS)
        .map(|c| c.credits)
        .sum()
}

/// A live window kept in time order, with a running total, for meters that charge as they go.
#[derive(Debug, Clone, Default)]
pub struct RollingWindow {
    charges: VecDeque<Charge>,
    total: u64,
}

impl RollingWindow {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a charge. Charges are expected in time order; an earlier one is placed in order.
    pub fn charge(&mut self, at_ms: i64, credits: u64) {
        if credits == 0 {
            return;
        }
        let c = Charge { at_ms, credits };
        match self.charges.back() {
            Some(last) if last.at_ms > at_ms => {
                let pos = self.charges.partition_point(|x| x.at_ms <= at_ms);
                self.charges.insert(pos, c);
            }
            _ => self.charges.push_back(c),
        }
        self.total += credits;
    }

    /// Drops charges that have left the window at `now`.
    pub fn expire(&mut self, now_ms: i64) {
        while let Some(front) = self.charges.front() {
            if front.at_ms <= now_ms - WINDOW_MS {
                self.total -= front.credits;
                self.charges.pop_front();
            } else {
                break;
            }
        }
    }

    /// Credits used at `now` (expiring what has left the window).
    pub fn used(&mut self, now_ms: i64) -> u64 {
        self.expire(now_ms);
        // Charges stamped after `now` (a clock moved back) are not yet counted.
        let future: u64 = self
            .charges
            .iter()
            .rev()
            .take_while(|c| c.at_ms > now_ms)
            .map(|c| c.credits)
            .sum();
        self.total - future
    }

    /// Credits that come back in `(now, now + horizon]`.
    pub fn freeing_within(&self, now_ms: i64, horizon_ms: i64) -> u64 {
        self.charges
            .iter()
            .filter(|c| {
                let free_at = c.at_ms + WINDOW_MS;
                free_at > now_ms && free_at <= now_ms + horizon_ms && c.at_ms <= now_ms
            })
            .map(|c| c.credits)
            .sum()
    }

    /// When the next credits come back after `now`, and how many then (charges of one instant
    /// grouped).
    pub fn next_free(&self, now_ms: i64) -> Option<Charge> {
        let first = self
            .charges
            .iter()
            .find(|c| c.at_ms + WINDOW_MS > now_ms && c.at_ms <= now_ms)?;
        let credits = self
            .charges
            .iter()
            .filter(|c| c.at_ms == first.at_ms)
            .map(|c| c.credits)
            .sum();
        Some(Charge {
            at_ms: first.at_ms + WINDOW_MS,
            credits,
        })
    }

    /// The charges in the window, oldest first.
    pub fn charges(&self) -> impl Iterator<Item = &Charge> {
        self.charges.iter()
    }

    /// Credits coming back per bucket over the next `buckets × bucket_ms`.
    pub fn freeing_schedule(&self, now_ms: i64, bucket_ms: i64, buckets: usize) -> Vec<u64> {
        let mut out = vec![0u64; buckets];
        for c in &self.charges {
            if c.at_ms > now_ms {
                continue;
            }
            let free_at = c.at_ms + WINDOW_MS;
            if free_at <= now_ms {
                continue;
            }
            let i = ((free_at - now_ms - 1) / bucket_ms) as usize;
            if i < buckets {
                out[i] += c.credits;
            }
        }
        out
    }
}

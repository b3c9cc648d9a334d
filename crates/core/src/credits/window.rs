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
/// Each charge may carry a tag (the API and module that spent it, say) for breakdowns.
#[derive(Debug, Clone)]
pub struct RollingWindow<T = ()> {
    entries: VecDeque<(Charge, T)>,
    total: u64,
}

impl<T> Default for RollingWindow<T> {
    fn default() -> Self {
        RollingWindow {
            entries: VecDeque::new(),
            total: 0,
        }
    }
}

impl RollingWindow<()> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an untagged charge.
    pub fn charge(&mut self, at_ms: i64, credits: u64) {
        self.charge_tagged(at_ms, credits, ());
    }
}

impl<T> RollingWindow<T> {
    /// Records a charge. Charges are expected in time order; an earlier one is placed in order.
    pub fn charge_tagged(&mut self, at_ms: i64, credits: u64, tag: T) {
        if credits == 0 {
            return;
        }
        let c = Charge { at_ms, credits };
        match self.entries.back() {
            Some((last, _)) if last.at_ms > at_ms => {
                let pos = self.entries.partition_point(|(x, _)| x.at_ms <= at_ms);
                self.entries.insert(pos, (c, tag));
            }
            _ => self.entries.push_back((c, tag)),
        }
        self.total += credits;
    }

    /// Drops charges that have left the window at `now`.
    pub fn expire(&mut self, now_ms: i64) {
        while let Some((front, _)) = self.entries.front() {
            if front.at_ms <= now_ms - WINDOW_MS {
                self.total -= front.credits;
                self.entries.pop_front();
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
            .entries
            .iter()
            .rev()
            .take_while(|(c, _)| c.at_ms > now_ms)
            .map(|(c, _)| c.credits)
            .sum();
        self.total - future
    }

    /// Credits that come back in `(now, now + horizon]`.
    pub fn freeing_within(&self, now_ms: i64, horizon_ms: i64) -> u64 {
        self.charges()
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
            .charges()
            .find(|c| c.at_ms + WINDOW_MS > now_ms && c.at_ms <= now_ms)?;
        let credits = self
            .charges()
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
        self.entries.iter().map(|(c, _)| c)
    }

    /// The charges with their tags, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &(Charge, T)> {
        self.entries.iter()
    }

    /// Takes back up to `credits` of what was charged at `at_ms` (an answer that is not charged
    /// after all); returns how many were taken back.
    pub fn refund(&mut self, at_ms: i64, credits: u64) -> u64 {
        let mut left = credits;
        for (c, _) in self.entries.iter_mut().rev() {
            if left == 0 || c.at_ms < at_ms {
                break;
            }
            if c.at_ms == at_ms {
                let take = left.min(c.credits);
                c.credits -= take;
                left -= take;
            }
        }
        let refunded = credits - left;
        self.total -= refunded;
        self.entries.retain(|(c, _)| c.credits > 0);
        refunded
    }

    /// Forgets every charge.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.total = 0;
    }

    /// Credits coming back per bucket over the next `buckets × bucket_ms`.
    pub fn freeing_schedule(&self, now_ms: i64, bucket_ms: i64, buckets: usize) -> Vec<u64> {
        let mut out = vec![0u64; buckets];
        for c in self.charges() {
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

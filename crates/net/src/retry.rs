//! One retry policy for every creditops call to Zoho (the client and the plan sender): what is
//! retried, how often, and how long to wait.
//!
//! A call is retried only when retrying cannot repeat something Zoho did. A 429 was refused by
//! a limit before anything happened, and a connection that was never made carried nothing:
//! both are retried for every method. A 5xx, a timeout or a connection lost after the request
//! left may have landed: a read (GET) is retried, a write is not; it is reported, and what it
//! did is for the caller to look at (retrying an insert could insert twice).

use std::time::Duration;

/// How a try ended, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An answer with this HTTP status.
    Status(u16),
    /// No connection was made: the request never left.
    NotConnected,
    /// The request may have left (a timeout, a connection lost mid-call).
    Lost,
}

impl Outcome {
    /// The outcome of a reqwest error: whether the request can have reached the server.
    pub fn of_error(e: &reqwest::Error) -> Outcome {
        if e.is_connect() {
            Outcome::NotConnected
        } else {
            Outcome::Lost
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all (the first included).
    pub attempts: u32,
    /// The first wait; each further one doubles, with up to a quarter more of jitter.
    pub base: Duration,
    /// No wait is longer, Retry-After included.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

/// Whether `method` only reads (so a try that may have landed can be repeated).
pub fn is_read(method: &str) -> bool {
    method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")
}

impl RetryPolicy {
    /// Whether try number `attempt` (from 1) of a `method` call that ended in `outcome` is tried
    /// again.
    pub fn retries(&self, method: &str, outcome: Outcome, attempt: u32) -> bool {
        if attempt >= self.attempts {
            return false;
        }
        match outcome {
            Outcome::Status(429) | Outcome::NotConnected => true,
            Outcome::Status(s) if s >= 500 => is_read(method),
            Outcome::Lost => is_read(method),
            Outcome::Status(_) => false,
        }
    }

    /// How long to wait before try `attempt + 1`: Retry-After when the answer gave one (capped),
    /// else the doubling backoff with jitter, so clients refused together do not return together.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(r) = retry_after {
            return r.min(self.max);
        }
        let exp = self
            .base
            .saturating_mul(1 << attempt.saturating_sub(1).min(10));
        let jitter = exp.mul_f64(rand::random::<f64>() * 0.25);
        (exp + jitter).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_that_may_have_landed_are_not_retried() {
        let p = RetryPolicy::default();
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert!(p.retries(method, Outcome::Status(429), 1), "{method} 429");
            assert!(
                p.retries(method, Outcome::NotConnected, 1),
                "{method} refused"
            );
            assert!(!p.retries(method, Outcome::Status(400), 1), "{method} 400");
            assert!(!p.retries(method, Outcome::Status(201), 1));
        }
        for outcome in [Outcome::Status(500), Outcome::Status(502), Outcome::Lost] {
            assert!(p.retries("GET", outcome, 1), "{outcome:?}");
            for write in ["POST", "PUT", "PATCH", "DELETE"] {
                assert!(!p.retries(write, outcome, 1), "{write} {outcome:?}");
            }
        }
        assert!(
            !p.retries("GET", Outcome::Status(429), p.attempts),
            "no try past the last"
        );
    }

    #[test]
    fn waits_double_with_jitter_and_honour_retry_after_up_to_the_cap() {
        let p = RetryPolicy::default();
        for attempt in 1..=3 {
            let w = p.wait(attempt, None);
            let exp = p.base * (1 << (attempt - 1));
            assert!(w >= exp && w <= exp + exp / 4, "{attempt}: {w:?}");
        }
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(p.wait(1, Some(Duration::from_secs(600))), p.max);
        assert_eq!(p.wait(30, None), p.max);
    }
}

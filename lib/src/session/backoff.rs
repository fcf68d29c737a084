//! When to reconnect: exponential backoff with jitter and a cap, an optional
//! limit, and which failures are not worth retrying at all.
//!
//! "Equal jitter": attempt n waits half of min(cap, initial × 2^n) plus a
//! random part of the other half, so that clients cut off together do not
//! come back together, and delays grow but never pass the cap. The caller
//! supplies the random number and does the waiting.

use crate::exit::Status;
use std::time::Duration;

/// The reconnect policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The delay before the first attempt (before jitter).
    pub initial: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// Failed attempts in a row after which to give up; `None`: never.
    pub limit: Option<u32>,
}

impl Default for Policy {
    /// 1 s, doubling up to 60 s (a chat client should come back within a
    /// minute of the network), retried forever.
    fn default() -> Self {
        Policy {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            limit: None,
        }
    }
}

/// The backoff state; see the module documentation.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Policy,
    attempts: u32,
}

impl Backoff {
    /// No attempt made yet.
    pub fn new(policy: Policy) -> Backoff {
        Backoff {
            policy,
            attempts: 0,
        }
    }

    /// The delay before the next attempt (counted), or `None` once the
    /// limit is reached; `random` is any number from the caller.
    pub fn next_delay(&mut self, random: u32) -> Option<Duration> {
        if self
            .policy
            .limit
            .is_some_and(|limit| self.attempts >= limit)
        {
            return None;
        }
        let factor = 1u32.checked_shl(self.attempts.min(31)).unwrap_or(u32::MAX);
        let ceiling = self
            .policy
            .initial
            .checked_mul(factor)
            .unwrap_or(self.policy.cap)
            .min(self.policy.cap);
        let half = ceiling / 2;
        let random_part = half.mul_f64(f64::from(random) / f64::from(u32::MAX));
        self.attempts = self.attempts.saturating_add(1);
        Some(half + random_part)
    }

    /// A session came up: the next failure starts from the beginning.
    pub fn succeeded(&mut self) {
        self.attempts = 0;
    }

    /// Attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Whether a failure with this status is permanent: retrying cannot help
/// (authentication or a certificate refused, configuration, usage, bad
/// data, no such server or account). Timeouts, resets, stream errors (75,
/// 76) and the rest are temporary.
pub fn is_permanent(status: Status) -> bool {
    matches!(
        status,
        Status::NoPerm | Status::Config | Status::Usage | Status::DataErr | Status::Unavailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: Option<u32>) -> Policy {
        Policy {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            limit,
        }
    }

    #[test]
    fn delays_grow_within_their_jitter_up_to_the_cap() {
        let mut low = Backoff::new(policy(None));
        let mut high = Backoff::new(policy(None));
        let ceilings = [1, 2, 4, 8, 16, 32, 60, 60];
        for ceiling in ceilings {
            let ceiling = Duration::from_secs(ceiling);
            assert_eq!(low.next_delay(0), Some(ceiling / 2));
            let top = high.next_delay(u32::MAX).unwrap();
            assert!(
                top <= ceiling && top >= ceiling - Duration::from_millis(1),
                "{top:?}"
            );
        }
    }

    #[test]
    fn the_limit_and_a_success() {
        let mut b = Backoff::new(policy(Some(2)));
        assert!(b.next_delay(1).is_some());
        assert!(b.next_delay(1).is_some());
        assert_eq!(b.next_delay(1), None);
        assert_eq!(b.attempts(), 2);
        b.succeeded();
        assert_eq!(b.next_delay(0), Some(Duration::from_millis(500)));
    }

    #[test]
    fn no_overflow_after_many_attempts() {
        let mut b = Backoff::new(policy(None));
        for _ in 0..100 {
            assert!(b.next_delay(u32::MAX).unwrap() <= Duration::from_secs(60));
        }
    }

    #[test]
    fn permanent_and_temporary() {
        assert!(is_permanent(Status::NoPerm));
        assert!(is_permanent(Status::Config));
        assert!(!is_permanent(Status::TempFail));
        assert!(!is_permanent(Status::Protocol));
    }
}

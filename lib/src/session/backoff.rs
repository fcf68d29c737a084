//! Reconnecting, sans I/O: how long to wait before the next attempt, when to
//! give up, and which failures are not worth another attempt.
//!
//! [`Backoff`] doubles the delay at each failed attempt, up to a cap, with
//! "equal jitter": half of each delay is fixed and the other half random,
//! so that the clients of a server that restarts do not all come back at
//! the same instant, while the delays still grow. [`is_permanent`] says
//! which exit statuses a retry cannot fix.
//!
//! What the caller does: read the random numbers (any source will do, it
//! need not be cryptographic) and the clock, sleep, and decide when a
//! session counts as up ([`Backoff::succeeded`]).

use crate::exit::Status;
use std::time::Duration;

/// The reconnection policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The delay before the first attempt (at most; half of it at least).
    pub initial: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// How many attempts to make before giving up; `None`: never give up.
    pub limit: Option<u32>,
}

impl Default for Policy {
    /// Start at 1 s, and wait at most 5 minutes, forever: about where the
    /// common XMPP clients settle (Conversations waits at most 300 s, Smack's
    /// reconnection manager about 5 minutes), so a server that comes back is
    /// found within minutes without being hammered while it is down.
    fn default() -> Self {
        Policy {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            limit: None,
        }
    }
}

/// The reconnection state: how many attempts failed in a row.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// The policy it follows.
    policy: Policy,
    /// Attempts counted since the last success.
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

    /// The delay before the next attempt, which it counts; `None` once the
    /// policy's limit of attempts is reached. `random` is any `u32` from the
    /// caller: with `d = min(cap, initial × 2^attempts)`, the delay is
    /// `d/2 + (d/2) × random / u32::MAX`, from `d/2` (random 0) to `d`
    /// (`u32::MAX`). Each delay is thus at least the previous one's most,
    /// until the cap, and none exceeds the cap.
    pub fn next_delay(&mut self, random: u32) -> Option<Duration> {
        if self
            .policy
            .limit
            .is_some_and(|limit| self.attempts >= limit)
        {
            return None;
        }
        let cap = self.policy.cap.as_nanos();
        let ceiling = 1u128
            .checked_shl(self.attempts)
            .and_then(|factor| self.policy.initial.as_nanos().checked_mul(factor))
            .map_or(cap, |delay| delay.min(cap));
        let fixed = ceiling / 2;
        // At most 2^95 × 2^32: no overflow in u128.
        let jitter = (ceiling - fixed) * u128::from(random) / u128::from(u32::MAX);
        self.attempts = self.attempts.saturating_add(1);
        Some(from_nanos(fixed + jitter))
    }

    /// A session came up: the next failure starts again from `initial`, and
    /// the limit counts afresh. Call it once the session proved itself (say,
    /// it logged in and stayed up a while): a server that accepts the login
    /// and drops us at once would otherwise be retried at `initial` forever.
    pub fn succeeded(&mut self) {
        self.attempts = 0;
    }

    /// The attempts counted since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// A duration of `nanos` nanoseconds (at most [`Duration::MAX`]).
fn from_nanos(nanos: u128) -> Duration {
    const PER_SECOND: u128 = 1_000_000_000;
    let seconds = u64::try_from(nanos / PER_SECOND).unwrap_or(u64::MAX);
    let rest = u32::try_from(nanos % PER_SECOND).unwrap_or_default();
    Duration::new(seconds, rest)
}

/// Whether a session that ended with this exit status should not be tried
/// again, because the same attempt would fail the same way.
///
/// Permanent: what only the user can fix. 77: authentication refused (wrong
/// password, account disabled) or certificate not trusted; 78, 64, 66, 73:
/// configuration and usage; 65: bad data (a bad JID, or downstream's bad
/// input, which a new connection would only replay); 69: the service is not
/// there (no XMPP service or address for the domain, no usable SASL
/// mechanism, no such room: xmpp-connect says 75, not 69, for a refused or
/// unreachable server); 70: a bug would repeat; 126, 127: the program cannot
/// run. 0 is no failure, and not tried again either.
///
/// Temporary: 75 (timeouts, resets, a closed connection, a server shutting
/// down), 76 (a protocol error: a restarted or another server may behave),
/// 71 (out of processes or descriptors) and 74 (an I/O error, such as a full
/// disk).
pub fn is_permanent(status: Status) -> bool {
    match status {
        Status::Ok
        | Status::Usage
        | Status::DataErr
        | Status::NoInput
        | Status::NoUser
        | Status::Unavailable
        | Status::Software
        | Status::CantCreat
        | Status::NoPerm
        | Status::Config
        | Status::CannotExecute
        | Status::CommandNotFound => true,
        // A domain that DNS says does not exist (68) may be a resolver's
        // passing trouble in the middle of a session: retried.
        Status::NoHost | Status::OsErr | Status::IoErr | Status::TempFail | Status::Protocol => {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn backoff(limit: Option<u32>) -> Backoff {
        Backoff::new(Policy {
            limit,
            ..Policy::default()
        })
    }

    #[test]
    fn the_default_policy() {
        assert_eq!(
            Policy::default(),
            Policy {
                initial: SECOND,
                cap: 300 * SECOND,
                limit: None
            }
        );
    }

    #[test]
    fn delays_double_at_most() {
        let mut b = backoff(None);
        let most: Vec<u64> = (0..10)
            .map(|_| b.next_delay(u32::MAX).unwrap().as_secs())
            .collect();
        assert_eq!(most, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(b.attempts(), 10);
    }

    #[test]
    fn jitter_bounds() {
        let mut least = backoff(None);
        let mut most = backoff(None);
        let mut middle = backoff(None);
        for attempt in 0..12 {
            let ceiling = (SECOND * 2u32.pow(attempt)).min(300 * SECOND);
            assert_eq!(least.next_delay(0), Some(ceiling / 2), "{attempt}");
            assert_eq!(most.next_delay(u32::MAX), Some(ceiling), "{attempt}");
            let delay = middle.next_delay(u32::MAX / 2).unwrap();
            assert!(
                ceiling / 2 < delay && delay < ceiling,
                "{attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn delays_grow_whatever_the_random_numbers_until_the_cap() {
        let mut b = backoff(None);
        let mut previous = Duration::ZERO;
        for attempt in 0..9 {
            let random = if attempt % 2 == 0 { u32::MAX } else { 0 };
            let delay = b.next_delay(random).unwrap();
            assert!(delay >= previous, "{attempt}: {delay:?} < {previous:?}");
            previous = delay;
        }
    }

    #[test]
    fn capped() {
        let mut b = backoff(None);
        for _ in 0..20 {
            b.next_delay(u32::MAX);
        }
        assert_eq!(b.next_delay(u32::MAX), Some(300 * SECOND));
        assert_eq!(b.next_delay(0), Some(150 * SECOND));
        // A cap below the initial delay caps it too.
        let mut b = Backoff::new(Policy {
            initial: 10 * SECOND,
            cap: 4 * SECOND,
            limit: None,
        });
        assert_eq!(b.next_delay(u32::MAX), Some(4 * SECOND));
    }

    #[test]
    fn limit() {
        let mut b = backoff(Some(3));
        for _ in 0..3 {
            assert!(b.next_delay(0).is_some());
        }
        assert_eq!(b.next_delay(0), None);
        assert_eq!(b.next_delay(0), None);
        assert_eq!(b.attempts(), 3);
        assert_eq!(backoff(Some(0)).next_delay(0), None);
    }

    #[test]
    fn success_resets() {
        let mut b = backoff(Some(2));
        b.next_delay(0);
        b.next_delay(0);
        assert_eq!(b.next_delay(0), None);
        b.succeeded();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.next_delay(u32::MAX), Some(SECOND));
        assert_eq!(b.attempts(), 1);
    }

    #[test]
    fn no_overflow_after_100_attempts() {
        let mut b = backoff(None);
        for _ in 0..100 {
            let delay = b.next_delay(u32::MAX).unwrap();
            assert!(delay <= 300 * SECOND);
        }
        assert_eq!(b.next_delay(u32::MAX), Some(300 * SECOND));
        // Extremes: the longest durations, the most attempts.
        let mut b = Backoff::new(Policy {
            initial: Duration::MAX,
            cap: Duration::MAX,
            limit: None,
        });
        assert_eq!(b.next_delay(u32::MAX), Some(Duration::MAX));
        b.attempts = u32::MAX;
        assert_eq!(b.next_delay(u32::MAX), Some(Duration::MAX));
        assert_eq!(b.attempts(), u32::MAX);
        let mut b = Backoff::new(Policy {
            initial: Duration::from_nanos(1),
            ..Policy::default()
        });
        b.attempts = 200;
        assert_eq!(b.next_delay(u32::MAX), Some(300 * SECOND));
    }

    #[test]
    fn permanent_and_temporary_failures() {
        for status in [
            Status::NoPerm,
            Status::Config,
            Status::Usage,
            Status::DataErr,
            Status::Unavailable,
            Status::Ok,
        ] {
            assert!(is_permanent(status), "{status:?}");
        }
        for status in [
            Status::TempFail,
            Status::Protocol,
            Status::OsErr,
            Status::IoErr,
        ] {
            assert!(!is_permanent(status), "{status:?}");
        }
    }
}

//! Keepalive, sans I/O: when to probe an idle connection, and when to call
//! it dead.
//!
//! A TCP connection whose peer vanished (a NAT that forgot us, a laptop
//! that slept, a server that crashed) can look open for hours. [`Keepalive`]
//! decides from the time alone: once nothing was heard for `interval`, probe
//! the server once; once that probe went unanswered for `timeout`, the
//! connection is dead. Any byte from the server counts as life, so a busy
//! connection is never probed.
//!
//! What the caller does:
//!
//! - pass the time (`now`) to every call: nothing here reads a clock;
//! - call [`Keepalive::heard`] whenever bytes arrive from the server;
//! - call [`Keepalive::poll`] when [`Keepalive::next_wake`] comes (and may
//!   call it at any other time); on [`Due::Probe`], write something the
//!   server must answer: `<r/>` with stream management, else an XEP-0199
//!   ping (whitespace is answered by nothing);
//! - on [`Due::Dead`], drop the connection and reconnect (see
//!   [`super::backoff`]).

use std::time::{Duration, Instant};

/// The longest interval or timeout taken as given; longer ones are cut to
/// this (about a century: never, in practice), so that no deadline overflows.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The probe-and-timeout state of one connection; see the module documentation.
#[derive(Clone, Debug)]
pub struct Keepalive {
    /// The silence after which to probe.
    interval: Duration,
    /// How long a probe may go unanswered.
    timeout: Duration,
    /// When the server was last heard from.
    last_heard: Instant,
    /// When the outstanding probe was sent, if one is out.
    probe: Option<Instant>,
}

/// What [`Keepalive::poll`] says is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// Send a probe now (it is recorded as sent).
    Probe,
    /// The probe went unanswered: the connection is dead.
    Dead {
        /// How long the server has been silent.
        silent: Duration,
    },
}

impl Keepalive {
    /// A connection just heard from at `now`: probe after `interval` of
    /// silence, call it dead when the probe goes unanswered for `timeout`.
    pub fn new(interval: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            interval: interval.min(LONGEST),
            timeout: timeout.min(LONGEST),
            last_heard: now,
            probe: None,
        }
    }

    /// Bytes arrived from the server at `now`: the silence ends, and an
    /// outstanding probe is answered. (A `now` before the probe was sent
    /// does not answer it; a `now` before the last one changes nothing.)
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = self.last_heard.max(now);
        if self.probe.is_some_and(|sent| now >= sent) {
            self.probe = None;
        }
    }

    /// What is due at `now`: [`Due::Probe`] once `interval` passed since the
    /// server was last heard and no probe is out (the probe is recorded as
    /// sent at `now`); [`Due::Dead`] once the probe has gone unanswered for
    /// `timeout` (and at every poll after that, until [`Keepalive::heard`]).
    /// Never a second probe for one silence.
    pub fn poll(&mut self, now: Instant) -> Due {
        match self.probe {
            Some(sent) if now >= sent + self.timeout => Due::Dead {
                silent: now.saturating_duration_since(self.last_heard),
            },
            Some(_) => Due::Nothing,
            None if now >= self.last_heard + self.interval => {
                self.probe = Some(now);
                Due::Probe
            }
            None => Due::Nothing,
        }
    }

    /// When to call [`Keepalive::poll`] next: when the probe is due, or,
    /// with a probe out, when it times out. (It may be in the past.)
    pub fn next_wake(&self) -> Instant {
        match self.probe {
            Some(sent) => sent + self.timeout,
            None => self.last_heard + self.interval,
        }
    }

    /// The longest a dead connection goes unnoticed when polled on time:
    /// `interval + timeout`.
    pub fn detection_bound(&self) -> Duration {
        self.interval + self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(60);
    const TIMEOUT: Duration = Duration::from_secs(20);
    const SECOND: Duration = Duration::from_secs(1);

    fn keepalive() -> (Keepalive, Instant) {
        let start = Instant::now();
        (Keepalive::new(INTERVAL, TIMEOUT, start), start)
    }

    #[test]
    fn nothing_before_the_interval() {
        let (mut k, start) = keepalive();
        assert_eq!(k.poll(start), Due::Nothing);
        assert_eq!(k.poll(start + INTERVAL - SECOND), Due::Nothing);
        assert_eq!(k.next_wake(), start + INTERVAL);
    }

    #[test]
    fn probe_once_the_interval_passed_and_only_once() {
        let (mut k, start) = keepalive();
        assert_eq!(k.poll(start + INTERVAL), Due::Probe);
        assert_eq!(k.next_wake(), start + INTERVAL + TIMEOUT);
        assert_eq!(k.poll(start + INTERVAL), Due::Nothing);
        assert_eq!(k.poll(start + INTERVAL + TIMEOUT - SECOND), Due::Nothing);
    }

    #[test]
    fn dead_at_exactly_last_heard_plus_interval_plus_timeout() {
        let (mut k, start) = keepalive();
        let heard = start + 5 * SECOND;
        k.heard(heard);
        assert_eq!(k.poll(k.next_wake()), Due::Probe);
        let death = heard + INTERVAL + TIMEOUT;
        assert_eq!(k.next_wake(), death);
        assert_eq!(k.poll(death - Duration::from_nanos(1)), Due::Nothing);
        assert_eq!(
            k.poll(death),
            Due::Dead {
                silent: INTERVAL + TIMEOUT
            }
        );
        assert_eq!(k.detection_bound(), INTERVAL + TIMEOUT);
        // Still dead at the next poll, and never probed again.
        assert_eq!(
            k.poll(death + SECOND),
            Due::Dead {
                silent: INTERVAL + TIMEOUT + SECOND
            }
        );
    }

    #[test]
    fn heard_just_before_the_deadline_saves_the_connection() {
        let (mut k, start) = keepalive();
        assert_eq!(k.poll(start + INTERVAL), Due::Probe);
        let answer = start + INTERVAL + TIMEOUT - Duration::from_nanos(1);
        k.heard(answer);
        assert_eq!(k.poll(start + INTERVAL + TIMEOUT), Due::Nothing);
        // A new silence: a new probe, after a full interval.
        assert_eq!(k.next_wake(), answer + INTERVAL);
        assert_eq!(k.poll(answer + INTERVAL - SECOND), Due::Nothing);
        assert_eq!(k.poll(answer + INTERVAL), Due::Probe);
    }

    #[test]
    fn traffic_postpones_the_probe() {
        let (mut k, start) = keepalive();
        k.heard(start + 50 * SECOND);
        assert_eq!(k.poll(start + INTERVAL), Due::Nothing);
        assert_eq!(k.next_wake(), start + 50 * SECOND + INTERVAL);
    }

    #[test]
    fn a_late_poll_probes_with_a_full_timeout() {
        // The process was suspended past the whole detection bound: the
        // probe still gets its timeout before the verdict.
        let (mut k, start) = keepalive();
        let late = start + 10 * INTERVAL;
        assert_eq!(k.poll(late), Due::Probe);
        assert_eq!(k.poll(late + TIMEOUT - SECOND), Due::Nothing);
        assert_eq!(
            k.poll(late + TIMEOUT),
            Due::Dead {
                silent: 10 * INTERVAL + TIMEOUT
            }
        );
    }

    #[test]
    fn heard_out_of_order_is_harmless() {
        let (mut k, start) = keepalive();
        k.heard(start + 30 * SECOND);
        k.heard(start + 10 * SECOND);
        assert_eq!(k.next_wake(), start + 30 * SECOND + INTERVAL);
        // Bytes timed before the probe went out do not answer it.
        let probe = start + 30 * SECOND + INTERVAL;
        assert_eq!(k.poll(probe), Due::Probe);
        k.heard(probe - SECOND);
        assert_eq!(
            k.poll(probe + TIMEOUT),
            Due::Dead {
                silent: TIMEOUT + SECOND
            }
        );
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let start = Instant::now();
        let mut k = Keepalive::new(Duration::MAX, Duration::MAX, start);
        assert_eq!(k.poll(start + INTERVAL), Due::Nothing);
        assert!(k.next_wake() > start + LONGEST / 2);
        assert_eq!(k.detection_bound(), 2 * LONGEST);
    }
}

//! The keepalive: when to probe an idle connection, and when to call it dead.
//!
//! Any byte from the server counts as life ([`Keepalive::heard`]). After
//! `interval` of silence one probe is due; if nothing is heard within
//! `timeout` after it, the connection is dead. What the probe is (an
//! `<r/>`, a ping) and what to do with a dead connection are the caller's.

use std::time::{Duration, Instant};

/// What is due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing.
    Nothing,
    /// Send a probe (recorded as sent).
    Probe,
    /// The probe went unanswered: the connection is dead.
    Dead {
        /// How long the server has been silent.
        silent: Duration,
    },
}

/// The keepalive state; see the module documentation.
#[derive(Debug, Clone)]
pub struct Keepalive {
    interval: Duration,
    timeout: Duration,
    last_heard: Instant,
    probe_sent: Option<Instant>,
}

impl Keepalive {
    /// Probe after `interval` of silence; a probe may go unanswered for `timeout`.
    pub fn new(interval: Duration, timeout: Duration, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            timeout,
            last_heard: now,
            probe_sent: None,
        }
    }

    /// Something arrived from the server: an outstanding probe is answered.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.probe_sent = None;
    }

    /// What is due at `now`; a probe is due once for each silence.
    pub fn poll(&mut self, now: Instant) -> Due {
        match self.probe_sent {
            Some(sent) if now >= sent + self.timeout => Due::Dead {
                silent: now.saturating_duration_since(self.last_heard),
            },
            Some(_) => Due::Nothing,
            None if now >= self.last_heard + self.interval => {
                self.probe_sent = Some(now);
                Due::Probe
            }
            None => Due::Nothing,
        }
    }

    /// When [`Keepalive::poll`] has something to say next.
    pub fn next_wake(&self) -> Instant {
        match self.probe_sent {
            Some(sent) => sent + self.timeout,
            None => self.last_heard + self.interval,
        }
    }

    /// The longest a dead connection goes unnoticed: interval + timeout.
    pub fn detection_bound(&self) -> Duration {
        self.interval + self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn probe_then_dead_at_exactly_the_bound() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(60 * S, 30 * S, t0);
        assert_eq!(k.next_wake(), t0 + 60 * S);
        assert_eq!(k.poll(t0 + 59 * S), Due::Nothing);
        assert_eq!(k.poll(t0 + 60 * S), Due::Probe);
        assert_eq!(k.poll(t0 + 61 * S), Due::Nothing, "one probe a silence");
        assert_eq!(k.next_wake(), t0 + 90 * S);
        assert_eq!(k.poll(t0 + 89 * S), Due::Nothing);
        assert_eq!(k.poll(t0 + 90 * S), Due::Dead { silent: 90 * S });
        assert_eq!(k.detection_bound(), 90 * S);
    }

    #[test]
    fn heard_before_the_deadline_clears_the_probe() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(10 * S, 5 * S, t0);
        assert_eq!(k.poll(t0 + 10 * S), Due::Probe);
        k.heard(t0 + 14 * S);
        assert_eq!(k.poll(t0 + 15 * S), Due::Nothing);
        assert_eq!(k.next_wake(), t0 + 24 * S);
        assert_eq!(k.poll(t0 + 24 * S), Due::Probe);
    }

    #[test]
    fn traffic_postpones_the_probe() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(10 * S, 5 * S, t0);
        k.heard(t0 + 8 * S);
        assert_eq!(k.poll(t0 + 10 * S), Due::Nothing);
        assert_eq!(k.next_wake(), t0 + 18 * S);
    }
}

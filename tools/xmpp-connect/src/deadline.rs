//! One time limit for the whole connection setup (`--timeout`).

use std::io;
use std::time::{Duration, Instant};
use xmpp_pipes::exit::Error;

/// The moment connection setup must be over.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
    total: Duration,
}

impl Deadline {
    /// A deadline `total` from now.
    pub fn after(total: Duration) -> Self {
        Deadline {
            end: Instant::now() + total,
            total,
        }
    }

    /// The time left, or a `TimedOut` I/O error once it has passed.
    pub fn remaining(&self) -> io::Result<Duration> {
        let left = self.end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
        } else {
            Ok(left)
        }
    }

    /// Whether the deadline has passed.
    pub fn passed(&self) -> bool {
        self.remaining().is_err()
    }

    /// The timeout error (75) for a step that did not finish in time.
    pub fn error(&self, during: &str) -> Error {
        Error::temp(format!(
            "timed out after {}s {during} (try again later, or raise --timeout)",
            self.total.as_secs_f64()
        ))
    }
}

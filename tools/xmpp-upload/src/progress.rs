//! The file as the PUT reads it: counted (for the message of a lost
//! connection) and, on a terminal and for a large file, shown as a progress
//! line on stderr that is redrawn at each whole percent.

use std::io::{self, Read};
use xmpp_pipes::exit::print_line;
use xmpp_pipes::upload::human_size;

/// The smallest file that gets a progress line.
pub const SHOWN_FROM: u64 = 1 << 20;

/// A reader that counts what was read, and shows it when asked to.
pub struct Counted<R> {
    inner: R,
    total: u64,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    shown: Option<Shown>,
}

/// The progress line's state.
struct Shown {
    name: String,
    percent: u64,
}

impl<R: Read> Counted<R> {
    /// Count `inner`, of `total` bytes; show progress when `show`.
    pub fn new(inner: R, total: u64, name: &str, show: bool) -> Self {
        Counted {
            inner,
            total,
            read: Default::default(),
            shown: show.then(|| Shown {
                name: name.to_owned(),
                percent: u64::MAX,
            }),
        }
    }

    /// A handle on the count, readable after the reader is gone.
    pub fn counter(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.read.clone()
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let done = self
            .read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed)
            + n as u64;
        if let Some(shown) = &mut self.shown {
            let percent = (done * 100).checked_div(self.total).unwrap_or(100);
            if percent != shown.percent {
                shown.percent = percent;
                let end = if done >= self.total { "\n" } else { "" };
                print_line(&format!(
                    "\rxmpp-upload: {} {percent:3}% ({} of {}){end}",
                    shown.name,
                    human_size(done),
                    human_size(self.total)
                ));
            }
        }
        Ok(n)
    }
}

/// Whether stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    rustix::termios::isatty(std::io::stderr())
}

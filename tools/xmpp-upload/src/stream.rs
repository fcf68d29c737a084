//! The logged-in stream on fds 6 and 7: stanza lines in, each within a
//! deadline (poll, no busy waiting), and stanza lines out.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::time::Instant;
use xmpp_pipes::exit::{Error, Result, Status};

/// The longest stanza line taken from fd 6; a longer one is skipped (not
/// kept in memory), since no answer we wait for is anywhere near it.
pub const MAX_LINE: usize = 1 << 20;

/// Stanza lines from fd 6.
pub struct Lines {
    fd: std::fs::File,
    buffer: Vec<u8>,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    eof: bool,
}

/// What [`Lines::next_before`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A line, without its newline.
    Line(String),
    /// The stream ended.
    End,
    /// The deadline passed first.
    TimedOut,
}

impl Lines {
    /// Read lines from `fd`.
    pub fn new(fd: OwnedFd) -> Lines {
        Lines {
            fd: std::fs::File::from(fd),
            buffer: Vec::new(),
            skipping: false,
            eof: false,
        }
    }

    /// The next line, waiting until `deadline` at most.
    pub fn next_before(&mut self, deadline: Instant) -> Result<Next> {
        loop {
            if let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                if std::mem::take(&mut self.skipping) {
                    continue;
                }
                let line = String::from_utf8_lossy(&line[..at])
                    .trim_end_matches('\r')
                    .to_owned();
                return Ok(Next::Line(line));
            }
            if self.buffer.len() > MAX_LINE {
                self.buffer.clear();
                self.skipping = true;
            }
            if self.eof {
                return Ok(Next::End);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Next::TimedOut);
            }
            let timeout = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: 1 << 30,
                tv_nsec: 0,
            });
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::os("poll on fd 6", e)),
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.fd.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::new(Status::IoErr, format!("cannot read fd 6: {e}"))),
            }
        }
    }

    /// Read and drop everything until the stream ends (so that xmpp-auth
    /// never finds its reader gone while it confirms what we sent).
    pub fn drain(&mut self) -> Result<()> {
        self.buffer.clear();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.fd.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::new(Status::IoErr, format!("cannot read fd 6: {e}"))),
            }
        }
    }
}

/// Stanza lines to fd 7, one `write` each.
pub struct Out {
    fd: std::fs::File,
}

impl Out {
    /// Write lines to `fd`.
    pub fn new(fd: OwnedFd) -> Out {
        Out {
            fd: std::fs::File::from(fd),
        }
    }

    /// Send stanza lines.
    pub fn send(&mut self, lines: &[String]) -> Result<()> {
        for line in lines {
            let mut bytes = Vec::with_capacity(line.len() + 1);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            self.fd
                .write_all(&bytes)
                .map_err(|e| Error::new(Status::IoErr, format!("cannot write fd 7: {e}")))?;
        }
        Ok(())
    }

    /// End our input to xmpp-auth: it confirms what was sent, then closes.
    pub fn close(self) {
        drop(self.fd);
    }
}

//! Where stanzas and iq ids go.
//!
//! Each stanza line, with its `\n`, goes to stdout in one `write(2)` (a short
//! write is completed by more writes): no buffering, so every stanza is on its
//! way as soon as its input line was read, and a line of at most PIPE_BUF
//! bytes cannot be interleaved with other writers of a shared named pipe.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::xml::Element;

/// The outputs of a run.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--id-fd`: where iq ids are written; None for stderr.
    id_fd: Option<i32>,
}

/// Write all of `data` to `fd`, as one `write(2)` unless the kernel takes less.
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

impl Output {
    /// Stanzas to stdout; iq ids to `id_fd`, or as `stanza-fmt: id ID` lines on stderr.
    pub fn new(id_fd: Option<i32>) -> Self {
        Output { id_fd }
    }

    /// Write one stanza as a stanza line.
    pub fn stanza(&self, stanza: &Element) -> Result<()> {
        let mut line = crate::stanza::line(stanza).map_err(|e| Error::data(e.to_string()))?;
        line.push('\n');
        self.line(&line)
    }

    /// Write one stanza line that is already serialised (with its `\n`).
    pub fn line(&self, line: &str) -> Result<()> {
        write_all(io::stdout().as_fd(), line.as_bytes())
            .map_err(|e| Error::new(Status::IoErr, format!("cannot write to stdout: {e}")))
    }

    /// Tell the script the id of an iq just written.
    pub fn iq_id(&self, id: &str) -> Result<()> {
        match self.id_fd {
            Some(fd) => {
                // SAFETY: the option parser checked that fd is open; it stays
                // open for the whole run, as nothing here closes it.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                write_all(fd, format!("{id}\n").as_bytes())
                    .map_err(|e| Error::new(Status::IoErr, format!("cannot write to --id-fd: {e}")))
            }
            None => write_all(
                io::stderr().as_fd(),
                format!("stanza-fmt: id {id}\n").as_bytes(),
            )
            .map_err(|e| Error::new(Status::IoErr, format!("cannot write to stderr: {e}"))),
        }
    }
}

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
    /// Where stanza lines are written (stdout, or a pipe in tests).
    stanza_fd: i32,
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
        Self::to_fds(1, id_fd)
    }

    /// Stanzas to `stanza_fd`, iq ids to `id_fd` (or stderr); both must stay open while in use.
    pub fn to_fds(stanza_fd: i32, id_fd: Option<i32>) -> Self {
        Output { stanza_fd, id_fd }
    }

    /// Write one stanza as a stanza line.
    pub fn stanza(&self, stanza: &Element) -> Result<()> {
        let mut line = crate::stanza::line(stanza).map_err(|e| Error::data(e.to_string()))?;
        line.push('\n');
        self.line(&line)
    }

    /// Write one stanza line that is already serialised (with its `\n`).
    pub fn line(&self, line: &str) -> Result<()> {
        self.bytes(line.as_bytes())
    }

    /// Write one line as it is (with its `\n`): a line `--relay` passes on.
    pub fn bytes(&self, line: &[u8]) -> Result<()> {
        // SAFETY: stdout, or a descriptor the caller of `to_fds` keeps open.
        let fd = unsafe { BorrowedFd::borrow_raw(self.stanza_fd) };
        write_all(fd, line)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn stanzas_and_ids_are_whole_lines() {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let (id_read, id_write) = rustix::pipe::pipe().unwrap();
        let output = Output::to_fds(
            std::os::fd::AsRawFd::as_raw_fd(&write),
            Some(std::os::fd::AsRawFd::as_raw_fd(&id_write)),
        );
        output
            .stanza(&Element::new("presence", xmpp_pipes::xml::NS_CLIENT).with_attr("id", "a&b"))
            .unwrap();
        output.iq_id("xp-1").unwrap();
        assert!(output
            .stanza(&Element::new("message", "jabber:client").with_text("\u{1}"))
            .is_err());
        drop((write, id_write));
        let mut text = String::new();
        std::fs::File::from(read).read_to_string(&mut text).unwrap();
        assert_eq!(text, "<presence id='a&amp;b'/>\n");
        let mut ids = String::new();
        std::fs::File::from(id_read)
            .read_to_string(&mut ids)
            .unwrap();
        assert_eq!(ids, "xp-1\n");
    }
}

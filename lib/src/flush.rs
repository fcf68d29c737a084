//! Flushing buffered output at the moment input may block.
//!
//! A filter that buffers its output must flush it before it waits for more
//! input, or a finished line sits in its buffer until the next one arrives
//! (forever, in a quiet chat). "Is the input buffer empty?" is the wrong
//! test: a newline or a whitespace keepalive after a stanza leaves bytes
//! there, and the parser then blocks on the read after them. The right
//! moment is the read itself: a buffered reader only reads from its source
//! when it has nothing left, so wrapping the source in [`FlushBeforeRead`]
//! flushes exactly when waiting may begin, while lines that arrive together
//! still leave in one write.
//!
//! That moment is also when a filter learns that nothing reads its output
//! any more, before it has anything to write ([`wait_for_input`]): a
//! pipeline whose last stage died ends at once, not at the next stanza.

use rustix::event::{poll, PollFd, PollFlags};
use std::io::{self, Read};
use std::os::fd::BorrowedFd;

/// What [`wait_for_input`] says when the output's reader is gone.
pub const READER_GONE: &str = "nothing reads stdout any more";

/// Wait until `input` can be read, or `output` has no reader left (a pipe
/// whose reader exited: POLLERR; a socket: POLLHUP). The second is an
/// error of kind [`io::ErrorKind::BrokenPipe`] saying [`READER_GONE`].
/// Outputs that never report either (a file, a terminal) never end it.
pub fn wait_for_input(input: BorrowedFd<'_>, output: BorrowedFd<'_>) -> io::Result<()> {
    let mut fds = [
        PollFd::from_borrowed_fd(input, PollFlags::IN),
        PollFd::from_borrowed_fd(output, PollFlags::empty()),
    ];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    if fds[1].revents().intersects(PollFlags::ERR | PollFlags::HUP) {
        return Err(io::Error::new(io::ErrorKind::BrokenPipe, READER_GONE));
    }
    Ok(())
}

/// A reader that runs a flush before every read of its source.
pub struct FlushBeforeRead<R, F> {
    source: R,
    flush: F,
}

impl<R: Read, F: FnMut() -> io::Result<()>> FlushBeforeRead<R, F> {
    /// Wrap `source`; `flush` runs before each read of it, and its error
    /// is returned from that read.
    pub fn new(source: R, flush: F) -> Self {
        FlushBeforeRead { source, flush }
    }
}

impl<R: Read, F: FnMut() -> io::Result<()>> Read for FlushBeforeRead<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (self.flush)()?;
        self.source.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::BufRead;

    #[test]
    fn flushes_only_when_the_buffer_needs_the_source() {
        let flushes = Cell::new(0);
        let source = FlushBeforeRead::new(&b"one\ntwo\n"[..], || {
            flushes.set(flushes.get() + 1);
            Ok(())
        });
        let mut reader = io::BufReader::new(source);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(flushes.get(), 1, "the first fill");
        reader.read_line(&mut line).unwrap();
        assert_eq!(
            flushes.get(),
            1,
            "the second line was buffered: no read, no flush"
        );
        line.clear();
        assert_eq!(reader.read_line(&mut line).unwrap(), 0);
        assert_eq!(flushes.get(), 2, "before the read that finds the end");
    }

    #[test]
    fn waiting_ends_with_input_or_when_the_output_has_no_reader() {
        use std::os::fd::AsFd;
        let (input_r, input_w) = rustix::pipe::pipe().unwrap();
        let (output_r, output_w) = rustix::pipe::pipe().unwrap();
        rustix::io::write(&input_w, b"x").unwrap();
        wait_for_input(input_r.as_fd(), output_w.as_fd()).unwrap();
        let mut byte = [0u8];
        rustix::io::read(&input_r, &mut byte).unwrap();
        drop(output_r);
        let err = wait_for_input(input_r.as_fd(), output_w.as_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(err.to_string(), READER_GONE);
    }

    #[test]
    fn a_failed_flush_fails_the_read() {
        let mut source = FlushBeforeRead::new(&b"x"[..], || Err(io::Error::other("stdout closed")));
        let err = source.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.to_string(), "stdout closed");
    }
}

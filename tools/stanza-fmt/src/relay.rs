//! `--relay PIPE`: the lines other programs write to a named pipe (the
//! tree's `DIR/in`), passed on to stdout unchanged.
//!
//! With `--relay`, stanza-fmt is the only writer of the session's input:
//! what jid-route answers, what `ii-client cmd` and the user's scripts
//! write to `DIR/in`, and the messages of the contact pipes all go out
//! through its stdout, a line a `write(2)`, so that no line (a contact's
//! message of 200 KiB either) is interleaved with another. A writer of the
//! pipe still writes a line with one `write(2)` of at most PIPE_BUF bytes,
//! so that the pipe itself does not interleave it with another writer's.
//!
//! [`Relay`] is the logic, without I/O: bytes in as they were read, lines
//! out. It does not look into a line (xmpp-auth judges it), except to drop
//! a blank one, which xmpp-auth would skip too. A line without its `\n`
//! waits for it: the pipe never reports end of file (stanza-fmt holds it
//! open for writing too), so a line is complete only with its `\n`. A line
//! longer than [`MAX_RELAY_LINE`] (the most xmpp-auth takes) is reported
//! once and dropped up to its `\n`; the next line is passed on as usual.

use crate::text::{LineBuffer, Piece};

/// The longest line passed on, in bytes without its `\n`: the longest
/// xmpp-auth takes from downstream (its `MAX_STANZA`, 16 MiB).
pub const MAX_RELAY_LINE: usize = 16 << 20;

/// What [`Relay::push`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    /// A complete line, as it was written, with its `\n`: write it as it is.
    Line(Vec<u8>),
    /// Line `number` (from 1) of the pipe was longer than the bound: not
    /// passed on, its bytes dropped up to its `\n`.
    TooLong {
        /// The line's number within the pipe.
        number: usize,
    },
}

/// Cuts what a relayed pipe gives into the lines to pass on.
#[derive(Debug)]
pub struct Relay {
    buffer: LineBuffer,
    /// Lines seen so far (blank and too long ones included).
    lines: usize,
}

impl Relay {
    /// A relay of lines of at most `max` bytes each.
    pub fn new(max: usize) -> Self {
        Relay {
            buffer: LineBuffer::exact(max),
            lines: 0,
        }
    }

    /// Take `data`, as read; append what the lines it completes give to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Relayed>) {
        let mut pieces = Vec::new();
        self.buffer.push(data, &mut pieces);
        for piece in pieces {
            self.lines += 1;
            match piece {
                Piece::Line(line) if line.iter().all(u8::is_ascii_whitespace) => {}
                Piece::Line(mut line) => {
                    line.push(b'\n');
                    out.push(Relayed::Line(line));
                }
                Piece::TooLong => out.push(Relayed::TooLong { number: self.lines }),
            }
        }
    }

    /// True when no partial line waits for its `\n`.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// The bytes of the partial line waiting for its `\n`.
    pub fn pending(&self) -> usize {
        self.buffer.pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(chunks: &[&[u8]], max: usize) -> (Vec<Relayed>, Relay) {
        let mut relay = Relay::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            relay.push(chunk, &mut out);
        }
        (out, relay)
    }

    fn line(text: &str) -> Relayed {
        Relayed::Line(text.as_bytes().to_vec())
    }

    #[test]
    fn several_lines_in_one_read_each_whole_and_unchanged() {
        let (out, relay) = relay(
            &[b"<presence/>\n<iq id='a'/>\r\n<message>\xff</message>\n"],
            100,
        );
        assert_eq!(
            out,
            [
                line("<presence/>\n"),
                line("<iq id='a'/>\r\n"),
                Relayed::Line(b"<message>\xff</message>\n".to_vec()),
            ]
        );
        assert!(relay.is_empty());
    }

    #[test]
    fn a_partial_line_waits_for_its_newline() {
        let (out, relay) = relay(&[b"<presence/>\n<mess", b"age/"], 100);
        assert_eq!(out, [line("<presence/>\n")]);
        assert!(!relay.is_empty(), "the partial line is kept");
        assert_eq!(relay.pending(), "<message/".len());
        let (out, relay) = self::relay(&[b"<mess", b"age/", b">\n"], 100);
        assert_eq!(out, [line("<message/>\n")]);
        assert!(relay.is_empty());
        assert_eq!(relay.pending(), 0);
    }

    #[test]
    fn blank_lines_are_dropped_but_counted() {
        let (out, _) = relay(&[b"\n \t\r\n<a/>\n", &[b'x'; 11], b"\n"], 10);
        assert_eq!(out, [line("<a/>\n"), Relayed::TooLong { number: 4 }]);
    }

    #[test]
    fn a_line_over_the_bound_is_told_once_and_dropped_up_to_its_newline() {
        let long = [b'x'; 25];
        let (out, relay) = relay(&[b"<a/>\n", &long[..9], &long[9..], &long, b"\n<b/>\n"], 10);
        assert_eq!(
            out,
            [
                line("<a/>\n"),
                Relayed::TooLong { number: 2 },
                line("<b/>\n")
            ]
        );
        assert!(relay.is_empty());
        // Exactly the bound passes; a `\r` counts, as xmpp-auth counts it.
        let (out, _) = self::relay(&[b"0123456789\n", b"012345678\r\n", b"0123456789\r\n"], 10);
        assert_eq!(
            out,
            [
                line("0123456789\n"),
                line("012345678\r\n"),
                Relayed::TooLong { number: 3 }
            ]
        );
        // Still dropping while its newline has not come: no partial line
        // to tell at the end (it was told as too long).
        let (_, relay) = self::relay(&[&long], 10);
        assert!(!relay.is_empty());
        assert_eq!(relay.pending(), 0);
    }
}

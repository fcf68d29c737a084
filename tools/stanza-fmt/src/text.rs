//! Input text: bounded line splitting and the checks that make text sendable.
//!
//! [`LineBuffer`] cuts a byte stream that arrives in arbitrary chunks into
//! lines (`\n` or `\r\n`), with a bound on a line's length: a longer line is
//! reported once and its bytes discarded up to the next `\n`; made
//! [`LineBuffer::exact`], it keeps a line's bytes as they came (a `\r`
//! included), for `--relay`. [`clean`]
//! turns a line's bytes into text XML can carry, or says exactly what is
//! wrong and where; with `lossy`, it replaces instead (U+FFFD) and says what
//! it replaced.

use xmpp_pipes::xml::is_xml_char;

/// The longest line (in bytes, without the line end) taken from stdin or a contact pipe.
pub const MAX_LINE: usize = 64 * 1024;

/// The longest line taken from a contact pipe of `--dir`: one longer is
/// refused in the conversation; one over the server's stanza limit is sent
/// in parts.
pub const MAX_CONTACT_LINE: usize = 1024 * 1024;

/// The most `--whole` takes from stdin, in bytes.
pub const MAX_WHOLE: usize = 256 * 1024;

/// What [`LineBuffer`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A complete line, without its `\n` or `\r\n`.
    Line(Vec<u8>),
    /// A line longer than the bound; its bytes are discarded.
    TooLong,
}

/// Cuts a byte stream into lines; partial lines are kept until complete.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    discarding: bool,
    max: usize,
    /// A `\r` before the `\n` is no part of the line (text), or is (exact).
    strip_cr: bool,
}

impl LineBuffer {
    /// A buffer refusing lines longer than `max` bytes (a `\r` that ends
    /// the line not counted, and taken off).
    pub fn new(max: usize) -> Self {
        Self::with(max, true)
    }

    /// A buffer that gives every line exactly as it came but for its `\n`
    /// (a `\r` before it kept, and counted in the bound of `max` bytes).
    pub fn exact(max: usize) -> Self {
        Self::with(max, false)
    }

    fn with(max: usize, strip_cr: bool) -> Self {
        LineBuffer {
            buf: Vec::new(),
            discarding: false,
            max,
            strip_cr,
        }
    }

    /// Take the line just completed, without its `\r` unless exact.
    fn take_line(&mut self) -> Piece {
        let mut line = std::mem::take(&mut self.buf);
        if self.strip_cr && line.ends_with(b"\r") {
            line.pop();
        }
        Piece::Line(line)
    }

    /// Take `data`; append the lines it completes to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Piece>) {
        while !data.is_empty() {
            let newline = data.iter().position(|&b| b == b'\n');
            let (part, rest, complete) = match newline {
                Some(at) => (&data[..at], &data[at + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            data = rest;
            if self.discarding {
                self.discarding = !complete;
                continue;
            }
            self.buf.extend_from_slice(part);
            // A '\r' that ends a text line is not part of it, so allow for it in the bound.
            let len = self.buf.len() - usize::from(self.strip_cr && self.buf.ends_with(b"\r"));
            if len > self.max {
                self.buf.clear();
                self.discarding = !complete;
                out.push(Piece::TooLong);
            } else if complete {
                out.push(self.take_line());
            }
        }
    }

    /// True when no partial line waits for its end.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && !self.discarding
    }

    /// The bytes of the partial line waiting for its end (none while a
    /// line over the bound, already told, is being dropped).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// At the end of the input: the last line if it had no `\n`.
    pub fn finish(&mut self) -> Option<Piece> {
        let was_discarding = std::mem::take(&mut self.discarding);
        if was_discarding || self.buf.is_empty() {
            return None;
        }
        Some(self.take_line())
    }
}

/// Text that can be sent, with what was replaced to make it so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// The text.
    pub text: String,
    /// What `lossy` replaced: (line within the input, from 1; description).
    pub warnings: Vec<(usize, String)>,
}

/// Why some bytes cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line within the input, from 1.
    pub line: usize,
    /// What is wrong, and where in that line.
    pub message: String,
}

/// Check that `raw` is UTF-8 made of characters XML 1.0 can carry; with
/// `lossy`, replace what is not by U+FFFD instead (and say so).
pub fn clean(raw: &[u8], lossy: bool) -> Result<Cleaned, Problem> {
    let mut warnings = Vec::new();
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text.to_owned(),
        Err(err) => {
            let before = &raw[..err.valid_up_to()];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let byte = err.valid_up_to() - line_start + 1;
            if !lossy {
                return Err(Problem {
                    line,
                    message: format!("invalid UTF-8 at byte {byte} (use --lossy to replace it)"),
                });
            }
            warnings.push((line, "invalid UTF-8 replaced by U+FFFD".to_owned()));
            String::from_utf8_lossy(raw).into_owned()
        }
    };
    let mut line = 1;
    let mut column = 0;
    let mut bad = None;
    for ch in text.chars() {
        column += 1;
        if ch == '\n' {
            line += 1;
            column = 0;
        } else if !is_xml_char(ch) {
            bad = Some((ch, line, column));
            break;
        }
    }
    let Some((ch, line, column)) = bad else {
        return Ok(Cleaned { text, warnings });
    };
    if !lossy {
        return Err(Problem {
            line,
            message: format!(
                "character U+{:04X} at position {column} cannot be sent in XML (use --lossy to replace it)",
                ch as u32
            ),
        });
    }
    warnings.push((
        line,
        format!(
            "character U+{:04X} (and any like it) replaced by U+FFFD",
            ch as u32
        ),
    ));
    let text = text
        .chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect();
    Ok(Cleaned { text, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<Piece> {
        let mut buffer = LineBuffer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            buffer.push(chunk, &mut out);
        }
        out.extend(buffer.finish());
        out
    }

    fn line(text: &str) -> Piece {
        Piece::Line(text.as_bytes().to_vec())
    }

    #[test]
    fn lines_across_chunks_and_crlf() {
        assert_eq!(
            split(&[b"one\r", b"\ntw", b"o\n\nthree"], 10),
            [line("one"), line("two"), line(""), line("three")]
        );
        assert_eq!(split(&[b"a\r\n", b"b\r"], 10), [line("a"), line("b")]);
    }

    #[test]
    fn long_lines_are_reported_once_and_discarded() {
        assert_eq!(
            split(&[b"12345", b"67890", b"12\nok\n"], 10),
            [Piece::TooLong, line("ok")]
        );
        assert_eq!(split(&[b"1234567890\r\n"], 10), [line("1234567890")]);
        assert_eq!(split(&[b"12345678901\n"], 10), [Piece::TooLong]);
        assert_eq!(split(&[b"123456789012"], 10), [Piece::TooLong]);
    }

    #[test]
    fn refuses_or_replaces() {
        assert_eq!(
            clean("héllo 😀".as_bytes(), false).unwrap().text,
            "héllo 😀"
        );
        let err = clean(b"ab\xffc", false).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("byte 3"), "{}", err.message);
        let err = clean(b"one\ntwo\x01", false).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("U+0001 at position 4"),
            "{}",
            err.message
        );
        let err = clean(b"one\nt\xc3", false).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("byte 2"), "{}", err.message);

        let lossy = clean(b"a\xffb\x01c\x02", true).unwrap();
        assert_eq!(lossy.text, "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
        assert_eq!(lossy.warnings.len(), 2);
    }
}

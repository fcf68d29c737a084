//! Stanza lines from a long-lived writer, each line judged on its own.
//!
//! [`super::Feed`] frames a stream: one malformed byte and the rest of the
//! stream is lost, which is right for a server's stream and for a one-shot
//! pipeline, and wrong for a session that lives for weeks behind a named
//! pipe anyone of the user's programs may write junk to. [`Lines`] takes
//! bytes as they arrive, cuts them at `\n` (the stanza-line contract), and
//! frames every line by itself: a line that is not complete, well-formed
//! top-level elements is refused whole (nothing of it is passed on) and the
//! next line is read as if nothing happened. A line longer than the bound is
//! refused as soon as it grows past it; its bytes up to its `\n` are dropped.

use super::feed::Feed;
use super::framer::{FrameError, Item};
use std::collections::VecDeque;

/// What one line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum LineItem {
    /// A stanza line, or the end of the stream (`</stream:stream>`).
    Item(Item),
    /// A line refused, and why (its first bytes, shown lossily, included).
    Refused(String),
}

/// A push-fed splitter and framer of stanza lines; see the module documentation.
pub struct Lines {
    max: usize,
    /// Bytes of the line being received.
    partial: Vec<u8>,
    /// The current line grew past `max`: drop everything up to its `\n`.
    skipping: bool,
    /// What the complete lines gave, not yet taken.
    ready: VecDeque<LineItem>,
    /// How many lines were read (to name one in a refusal).
    number: u64,
}

/// How many bytes of a refused line its refusal quotes.
const QUOTED: usize = 60;

impl Lines {
    /// Lines of at most `max` bytes each (without the `\n`).
    pub fn new(max: usize) -> Lines {
        Lines {
            max,
            partial: Vec::new(),
            skipping: false,
            ready: VecDeque::new(),
            number: 0,
        }
    }

    /// Append bytes that arrived; complete lines are framed at once.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let end = bytes.iter().position(|&b| b == b'\n');
            let (piece, rest) = match end {
                Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
                None => (bytes, None),
            };
            if !self.skipping {
                self.partial.extend_from_slice(piece);
                if self.partial.len() > self.max {
                    self.number += 1;
                    self.ready.push_back(LineItem::Refused(format!(
                        "line {} is longer than {} bytes ({}...)",
                        self.number,
                        self.max,
                        quote(&self.partial)
                    )));
                    self.partial = Vec::new();
                    self.skipping = true;
                }
            }
            match rest {
                Some(rest) => {
                    if self.skipping {
                        self.skipping = false;
                    } else {
                        let line = std::mem::take(&mut self.partial);
                        self.line(&line);
                    }
                    bytes = rest;
                }
                None => break,
            }
        }
    }

    /// The input ended: a last line without its `\n` is framed too.
    pub fn finish(&mut self) {
        if !self.skipping && !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        self.skipping = false;
    }

    /// The next item or refusal of the lines received so far.
    pub fn next_item(&mut self) -> Option<LineItem> {
        self.ready.pop_front()
    }

    /// Bytes of a line not yet complete.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Frame one complete line: all its items, or its refusal.
    fn line(&mut self, line: &[u8]) {
        self.number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match frame(line, self.max) {
            Ok(items) => self.ready.extend(items.into_iter().map(LineItem::Item)),
            Err(why) => self.ready.push_back(LineItem::Refused(format!(
                "line {} ({}): {why}",
                self.number,
                quote(line)
            ))),
        }
    }
}

/// The items of one line, or why it is not stanza lines.
fn frame(line: &[u8], max: usize) -> Result<Vec<Item>, String> {
    let mut feed = Feed::new(max);
    feed.push(line).map_err(|e| e.to_string())?;
    let mut items = Vec::new();
    loop {
        match feed.next_item() {
            Ok(Some(Item::Header(_))) => {
                return Err(
                    "a stream header: write stanzas only, the stream is already open".into(),
                )
            }
            Ok(Some(item)) => items.push(item),
            Ok(None) if feed.at_boundary() => return Ok(items),
            Ok(None) | Err(FrameError::Truncated) => {
                return Err("not a complete element (a stanza is one line)".into())
            }
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// The first bytes of `line`, for a message (lossy, control characters escaped).
fn quote(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(&line[..line.len().min(QUOTED)]);
    text.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(lines: &mut Lines) -> Vec<LineItem> {
        std::iter::from_fn(|| lines.next_item()).collect()
    }

    fn stanza(s: &str) -> LineItem {
        LineItem::Item(Item::Stanza(s.into()))
    }

    #[test]
    fn good_lines_pass_however_split() {
        let input = b"<message to='a@b'><body>hi</body></message>\n<presence/>\n";
        for cut in 0..input.len() {
            let mut lines = Lines::new(1000);
            lines.push(&input[..cut]);
            lines.push(&input[cut..]);
            assert_eq!(
                all(&mut lines),
                vec![
                    stanza("<message to='a@b'><body>hi</body></message>"),
                    stanza("<presence/>")
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_bad_line_is_refused_and_the_next_taken() {
        let mut lines = Lines::new(1000);
        lines.push(b"junk junk\n<message to='a@b'>\n<presence/>junk\n\n<presence/>\n");
        let got = all(&mut lines);
        assert_eq!(got.len(), 4, "{got:?}");
        for (item, line) in got[..3].iter().zip(1..) {
            let LineItem::Refused(why) = item else {
                panic!("not refused: {item:?}")
            };
            assert!(why.starts_with(&format!("line {line} (")), "{why}");
        }
        assert_eq!(got[3], stanza("<presence/>"));
    }

    #[test]
    fn a_header_is_refused_and_a_close_passed() {
        let mut lines = Lines::new(1000);
        lines.push(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>\n");
        lines.push(b"</stream:stream>\n");
        let got = all(&mut lines);
        assert!(matches!(&got[0], LineItem::Refused(why) if why.contains("stream header")));
        assert_eq!(got[1], LineItem::Item(Item::Close));
    }

    #[test]
    fn a_long_line_is_refused_at_once_and_skipped_to_its_end() {
        let mut lines = Lines::new(10);
        lines.push(b"<message>0123456789");
        assert!(
            matches!(lines.next_item(), Some(LineItem::Refused(why)) if why.contains("longer than 10"))
        );
        lines.push(&[b'x'; 100]);
        assert_eq!(lines.buffered(), 0);
        lines.push(b"x</message>\n<a/>\n");
        assert_eq!(all(&mut lines), vec![stanza("<a/>")]);
    }

    #[test]
    fn the_last_line_counts_at_the_end() {
        let mut lines = Lines::new(100);
        lines.push(b"<a/>\n<b/>");
        assert_eq!(all(&mut lines), vec![stanza("<a/>")]);
        lines.finish();
        assert_eq!(all(&mut lines), vec![stanza("<b/>")]);
    }
}

//! The push-fed framer: bytes in as they arrive, items out, never blocking.
//!
//! [`super::Framer`] pulls its input from a `BufRead` and blocks until an
//! element is complete. An event loop built on poll(2) cannot block: it reads
//! whatever the socket has and must hand it on. Telling the `Framer` "no data
//! yet" does not work either: its quick-xml reader takes an empty read for the
//! end of the input (or an error for a failed read) and from then on only
//! reports the end, so it would be broken for good mid-element.
//!
//! [`Feed`] therefore keeps the bytes pushed to it in a buffer that a `Framer`
//! reads from, and lets the `Framer` read only when the buffer holds a
//! complete item: a small scanner follows the markup as the bytes arrive
//! (tags with quoted attribute values that may contain `>`, end tags,
//! `<?..?>`, `<!--..-->`, `<![CDATA[..]]>`, references, element depth and
//! names) and counts the complete top-level items (stream headers, elements,
//! `</stream:stream>`). The scanner finds the ends of markup exactly as
//! quick-xml does (it uses quick-xml's own end finders where they are public),
//! so the `Framer` never reaches the end of the buffer inside an element, and
//! the items are exactly those a `Framer` would read from the same bytes,
//! however they were split: the same stanza lines, headers and errors.
//!
//! What the `Framer` refuses never leaves the caller waiting: the scanner also
//! recognises markup the `Framer` is certain to reject (a comment, a
//! processing instruction, text or a reference outside any element, an end
//! tag that does not match, nesting past [`MAX_DEPTH`]) and lets the `Framer`
//! read it as soon as it is complete, so that it reports its error; a DTD is
//! refused as soon as `<!D` arrives. Memory is bounded as by the `Framer`:
//! [`Feed::push`] refuses an element (or a run of white space between
//! elements) larger than `max` bytes as soon as it grows past that, and the
//! bytes the `Framer` has read are dropped.

use super::framer::{check_qname, is_stream_element, FrameError, Framer, Item, MAX_DEPTH};
use quick_xml::events::BytesStart;
use quick_xml::parser::{ElementParser, Parser, PiParser};
use quick_xml::utils::{is_whitespace, name_len};
use std::io::{self, BufRead, Read};

/// What the framer reports for a DTD (the same words as [`Framer`]'s).
const DTD: &str = "a document type declaration (DTD)";

/// The UTF-8 byte order mark, which quick-xml skips at the start of the input.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// A framer fed with bytes as they arrive; see the module documentation.
///
/// After each [`push`](Feed::push), call [`next_item`](Feed::next_item) until
/// it returns `Ok(None)`: items are kept until taken. Once an error has been
/// returned the feed stays failed and returns that error again.
pub struct Feed {
    framer: Framer<Buffer>,
    scanner: Scanner,
    max: usize,
    /// The error the feed failed with, returned by every later call (once the
    /// items completed before it have been taken).
    error: Option<FrameError>,
}

impl Feed {
    /// A feed refusing any element larger than `max` bytes (as [`Framer::new`]).
    pub fn new(max: usize) -> Feed {
        Feed {
            framer: Framer::new(Buffer::default(), max),
            scanner: Scanner::new(),
            max,
            error: None,
        }
    }

    /// Append bytes that arrived. `Err(FrameError::TooLarge { max })` as soon
    /// as the element being received exceeds `max` bytes, so memory stays
    /// bounded even when the element never completes; the items completed
    /// before it can still be taken with [`next_item`](Feed::next_item).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if let Some(err) = &self.error {
            return Err(copy_error(err));
        }
        if self.scanner.stopped() {
            // What is buffered already ends in an error: the rest is never read.
            return Ok(());
        }
        let buffer = self.framer.get_mut();
        buffer.append(bytes);
        if let Err(err) = self.scanner.scan(&buffer.data, buffer.base, self.max) {
            self.scanner.state = State::Failing;
            self.error = Some(copy_error(&err));
            return Err(err);
        }
        Ok(())
    }

    /// The next complete item, or `Ok(None)` when more bytes are needed. Items
    /// are exactly those [`Framer::next_item`] would return for the same bytes
    /// (same stanza lines, headers, `Close`, same errors for malformed input;
    /// errors may come as soon as the bad bytes are complete).
    pub fn next_item(&mut self) -> Result<Option<Item>, FrameError> {
        if self.scanner.ready > 0 {
            return match self.framer.next_item() {
                Ok(Some(item)) => {
                    self.scanner.ready -= 1;
                    if self.scanner.ready == 0 && self.scanner.state == State::Failing {
                        // The framer took what the scanner was sure it refuses.
                        debug_assert!(self.error.is_some(), "the framer accepted a refused item");
                        if self.error.is_none() {
                            self.error = Some(FrameError::Malformed(
                                "the framer accepted what the feed took for an error".into(),
                            ));
                        }
                    }
                    Ok(Some(item))
                }
                Ok(None) => {
                    // The scanner counted an item the framer did not find.
                    debug_assert!(
                        self.scanner.ready == 0,
                        "the framer reached the end inside an item"
                    );
                    self.fail(FrameError::Truncated)
                }
                Err(err) => self.fail(err),
            };
        }
        if let Some(err) = &self.error {
            return Err(copy_error(err));
        }
        if self.scanner.state == State::Dtd {
            // The framer refuses a DTD: let it read to the end of what is
            // buffered, for an error it finds first; if the DTD is not
            // complete it ends there, which is no truncation.
            return match self.framer.next_item() {
                Ok(Some(item)) => Ok(Some(item)),
                Ok(None) | Err(FrameError::Truncated) => {
                    self.fail(FrameError::Forbidden(DTD.into()))
                }
                Err(err) => self.fail(err),
            };
        }
        Ok(None)
    }

    /// Whether nothing half-received is buffered (only white space since the
    /// last item): an EOF now is clean; otherwise the caller reports
    /// [`FrameError::Truncated`]. Complete items may still be waiting in
    /// [`next_item`](Feed::next_item).
    pub fn at_boundary(&self) -> bool {
        self.error.is_none()
            && self.scanner.starts.is_empty()
            && matches!(
                self.scanner.state,
                State::Bom(0) | State::Text { dirty: false }
            )
    }

    /// Bytes buffered and not yet consumed as items (for tests / bounds).
    pub fn buffered(&self) -> usize {
        let buffer = self.framer.get_ref();
        buffer.data.len() - buffer.start
    }

    /// Fail with `err` from now on.
    fn fail(&mut self, err: FrameError) -> Result<Option<Item>, FrameError> {
        self.scanner.ready = 0;
        self.scanner.state = State::Failing;
        self.error = Some(copy_error(&err));
        Err(err)
    }
}

/// The same error again (`FrameError` is not `Clone`: its `Io` is not).
fn copy_error(err: &FrameError) -> FrameError {
    match err {
        FrameError::Malformed(what) => FrameError::Malformed(what.clone()),
        FrameError::Forbidden(what) => FrameError::Forbidden(what.clone()),
        FrameError::TooLarge { max } => FrameError::TooLarge { max: *max },
        FrameError::Truncated => FrameError::Truncated,
        FrameError::Io(io) => FrameError::Io(io::Error::new(io.kind(), io.to_string())),
    }
}

/// The bytes pushed and not yet read by the framer, which reads them as its
/// `BufRead` (all of them at once: quick-xml then finds the ends of markup in
/// one piece, as the scanner does).
#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    /// How much of `data` the framer has read.
    start: usize,
    /// The stream offset of `data[0]`.
    base: u64,
}

impl Buffer {
    /// Append `bytes`, first dropping what the framer has read if that is at
    /// least half of the buffer (so each byte is moved at most once on average).
    fn append(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.data.len() {
            self.data.drain(..self.start);
            self.base += self.start as u64;
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }
}

impl Read for Buffer {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        super::framer::read_buffered(self, out)
    }
}

impl BufRead for Buffer {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(&self.data[self.start..])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.data.len());
        if self.start == self.data.len() {
            // All read: dropping it costs nothing.
            self.base += self.start as u64;
            self.data.clear();
            self.start = 0;
        }
    }
}

/// Where the scanner is in the markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of the stream, after this many bytes of a byte order mark.
    Bom(usize),
    /// In text. Outside any element, `dirty` says whether the text (since
    /// the last markup) has anything but white space, which the framer refuses.
    Text { dirty: bool },
    /// After `&` outside any element: the framer refuses the reference when
    /// quick-xml ends it, at `;`, `&` or `<`.
    TopRef,
    /// After `<`.
    Open,
    /// In a start tag (or an end tag, `end`): quick-xml's own parser finds its
    /// `>`, outside quoted attribute values (also in end tags, as quick-xml).
    Tag { end: bool, parser: ElementParser },
    /// In `<?...?>`, which quick-xml's own parser ends at the first `?>`.
    Pi(PiParser),
    /// After `<!`.
    Bang,
    /// In `<!-...`, after `dashes` (at most 2) `-` in a row.
    Comment { dashes: u8 },
    /// In `<![...`, after `brackets` (at most 2) `]` in a row.
    CData { brackets: u8 },
    /// In `<!DOCTYPE`: the framer is sure to refuse it, and nothing more is read.
    Dtd,
    /// The last item counted is one the framer is sure to refuse (or the feed
    /// has failed): nothing more is read.
    Failing,
}

/// Follows the markup of the bytes pushed and counts the complete items.
///
/// Offsets are stream offsets (bytes since the start of the stream).
struct Scanner {
    state: State,
    /// The next byte to scan.
    pos: u64,
    /// Where the framer starts counting the size of the element being
    /// received: after the last item, the last white space or XML
    /// declaration outside any element (where the framer sets its mark).
    mark: u64,
    /// Where the current text began (after the last markup).
    text_start: u64,
    /// Where the current markup began (its `<`).
    markup: u64,
    /// The names of the open elements of the element being received,
    /// one after the other, as quick-xml keeps them...
    names: String,
    /// ...and where each begins in `names`: the depth is `starts.len()`.
    starts: Vec<usize>,
    /// Complete items (or certain errors) buffered and not yet taken.
    ready: usize,
}

impl Scanner {
    fn new() -> Scanner {
        Scanner {
            state: State::Bom(0),
            pos: 0,
            mark: 0,
            text_start: 0,
            markup: 0,
            names: String::new(),
            starts: Vec::new(),
            ready: 0,
        }
    }

    /// Whether nothing more is to be scanned.
    fn stopped(&self) -> bool {
        matches!(self.state, State::Dtd | State::Failing)
    }

    /// Scan `data` (the buffer, whose first byte is at offset `base`) from
    /// `self.pos` to its end. The error is [`FrameError::TooLarge`].
    fn scan(&mut self, data: &[u8], base: u64, max: usize) -> Result<(), FrameError> {
        let end = base + data.len() as u64;
        while self.pos < end {
            let rest = &data[(self.pos - base) as usize..];
            match self.state {
                State::Dtd | State::Failing => return Ok(()),
                State::Bom(seen) => {
                    if rest[0] == BOM[seen] {
                        self.pos += 1;
                        self.state = State::Bom(seen + 1);
                        if seen + 1 == BOM.len() {
                            self.enter_text();
                        }
                    } else {
                        // No byte order mark: any part of one seen is text,
                        // and not white space. Scan this byte again as text.
                        self.state = State::Text { dirty: seen > 0 };
                    }
                }
                State::Text { mut dirty } if self.starts.is_empty() => {
                    // Outside any element: white space, or the framer refuses the text.
                    let found = rest.iter().position(|&b| {
                        let stop = b == b'<' || b == b'&';
                        dirty |= !stop && !is_whitespace(b);
                        stop
                    });
                    let Some(k) = found else {
                        self.pos = end;
                        self.state = State::Text { dirty };
                        continue;
                    };
                    let at = self.pos + k as u64;
                    if dirty {
                        // quick-xml ends the text here, and the framer refuses it.
                        self.refuse(at + 1, max)?;
                    } else if rest[k] == b'&' {
                        self.pos = at + 1;
                        self.state = State::TopRef;
                    } else {
                        if at > self.text_start {
                            // The framer sets its mark after white space.
                            self.set_mark(at, max)?;
                        }
                        self.open_markup(at);
                    }
                }
                State::Text { .. } => match rest.iter().position(|&b| b == b'<') {
                    // Inside an element only `<` matters (a reference never contains it).
                    Some(k) => self.open_markup(self.pos + k as u64),
                    None => self.pos = end,
                },
                State::TopRef => match rest.iter().position(|&b| matches!(b, b';' | b'&' | b'<')) {
                    Some(k) => self.refuse(self.pos + k as u64 + 1, max)?,
                    None => self.pos = end,
                },
                State::Open => {
                    // As quick-xml, decide on the byte after `<`; its parsers
                    // for tags and `<?` start at that byte.
                    self.state = match rest[0] {
                        b'!' => {
                            self.pos += 1;
                            State::Bang
                        }
                        b'?' => State::Pi(PiParser(false)),
                        b => State::Tag {
                            end: b == b'/',
                            parser: ElementParser::Outside,
                        },
                    };
                }
                State::Tag {
                    end: is_end,
                    mut parser,
                } => match parser.feed(rest) {
                    Some(k) => {
                        let close = self.pos + k as u64;
                        self.pos = close + 1;
                        let tag = &data[(self.markup - base) as usize..=(close - base) as usize];
                        self.tag(is_end, tag, max)?;
                    }
                    None => {
                        self.pos = end;
                        self.state = State::Tag {
                            end: is_end,
                            parser,
                        };
                    }
                },
                State::Pi(mut parser) => match parser.feed(rest) {
                    Some(k) => {
                        let close = self.pos + k as u64;
                        self.pos = close + 1;
                        let pi = &data[(self.markup - base) as usize..=(close - base) as usize];
                        if self.starts.is_empty() && is_declaration(pi) {
                            // Outside any element the framer skips an XML
                            // declaration and sets its mark after it.
                            self.set_mark(self.pos, max)?;
                            self.enter_text();
                        } else {
                            // A processing instruction, or a declaration
                            // inside an element: refused.
                            self.refuse(self.pos, max)?;
                        }
                    }
                    None => {
                        self.pos = end;
                        self.state = State::Pi(parser);
                    }
                },
                State::Bang => match rest[0] {
                    b'[' => {
                        self.pos += 1;
                        self.state = State::CData { brackets: 0 };
                    }
                    b'-' => {
                        self.pos += 1;
                        self.state = State::Comment { dashes: 1 };
                    }
                    b'D' | b'd' => {
                        // A DTD, or a syntax error where quick-xml ends it.
                        self.state = State::Dtd;
                        return Ok(());
                    }
                    // quick-xml refuses any other `<!` at once.
                    _ => self.refuse(self.pos + 1, max)?,
                },
                State::Comment { mut dashes } => {
                    // quick-xml ends a comment at the first `>` after `--`,
                    // at least 6 bytes after its `<` (`<!---->` is the shortest).
                    let mut close = None;
                    for (k, &b) in rest.iter().enumerate() {
                        let at = self.pos + k as u64;
                        if b == b'>' && dashes == 2 && at - self.markup >= 6 {
                            close = Some(at);
                            break;
                        }
                        dashes = if b == b'-' { (dashes + 1).min(2) } else { 0 };
                    }
                    match close {
                        // A comment is refused (or not one: a syntax error).
                        Some(at) => self.refuse(at + 1, max)?,
                        None => {
                            self.pos = end;
                            self.state = State::Comment { dashes };
                        }
                    }
                }
                State::CData { mut brackets } => {
                    // quick-xml ends CDATA at the first `>` after `]]` (after `<![`).
                    let mut close = None;
                    for (k, &b) in rest.iter().enumerate() {
                        if b == b'>' && brackets == 2 {
                            close = Some(self.pos + k as u64);
                            break;
                        }
                        brackets = if b == b']' { (brackets + 1).min(2) } else { 0 };
                    }
                    let Some(close) = close else {
                        self.pos = end;
                        self.state = State::CData { brackets };
                        continue;
                    };
                    self.pos = close + 1;
                    let cdata = &data[(self.markup - base) as usize..=(close - base) as usize];
                    if self.starts.is_empty()
                        || !cdata.starts_with(b"<![CDATA[")
                        || std::str::from_utf8(cdata).is_err()
                    {
                        // Outside any element, not CDATA, or not UTF-8: refused.
                        self.refuse(self.pos, max)?;
                    } else {
                        self.enter_text();
                    }
                }
            }
        }
        if !self.stopped() && end - self.mark > max as u64 {
            return Err(FrameError::TooLarge { max });
        }
        Ok(())
    }

    /// A complete tag (`<` to `>`, at `self.pos - 1`): follow the depth as the
    /// framer does, and count the item it completes.
    fn tag(&mut self, is_end: bool, tag: &[u8], max: usize) -> Result<(), FrameError> {
        let after = self.pos;
        self.enter_text();
        let Ok(tag) = std::str::from_utf8(tag) else {
            // quick-xml refuses a tag that is not UTF-8.
            return self.refuse(after, max);
        };
        if is_end {
            // As quick-xml: between `</` and `>`, white space trimmed at the end.
            let content = &tag[2..tag.len() - 1];
            let name = content.trim_end_matches([' ', '\t', '\r', '\n']);
            let Some(&start) = self.starts.last() else {
                // Outside any element: `</stream:stream>`, or refused.
                return self.complete(after, max);
            };
            if self.names[start..] != *name {
                return self.refuse(after, max);
            }
            self.starts.pop();
            self.names.truncate(start);
            return if self.starts.is_empty() {
                self.complete(after, max)
            } else {
                Ok(())
            };
        }
        let empty = tag.ends_with("/>");
        // As quick-xml: between `<` and `>` or `/>`; the name ends at white space.
        let content = &tag[1..tag.len() - if empty { 2 } else { 1 }];
        let name = &content[..name_len(content.as_bytes())];
        if check_qname(name).is_err() {
            return self.refuse(after, max);
        }
        let depth = self.starts.len();
        if depth == 0 {
            if empty {
                // An empty stanza (or stream header).
                return self.complete(after, max);
            }
            return match is_stream_element(name, &BytesStart::from_content(content, name.len())) {
                // A stanza begins.
                Ok(false) => {
                    self.push_name(name);
                    Ok(())
                }
                // A stream header.
                Ok(true) => self.complete(after, max),
                Err(_) => self.refuse(after, max),
            };
        }
        if depth >= MAX_DEPTH {
            return self.refuse(after, max);
        }
        if !empty {
            self.push_name(name);
        }
        Ok(())
    }

    fn push_name(&mut self, name: &str) {
        self.starts.push(self.names.len());
        self.names.push_str(name);
    }

    /// The `<` at `at` begins markup.
    fn open_markup(&mut self, at: u64) {
        self.markup = at;
        self.pos = at + 1;
        self.state = State::Open;
    }

    /// Markup ended at `self.pos`: text follows.
    fn enter_text(&mut self) {
        self.text_start = self.pos;
        self.state = State::Text { dirty: false };
    }

    /// The framer sets its mark at `at`: what it counted must fit in `max`.
    fn set_mark(&mut self, at: u64, max: usize) -> Result<(), FrameError> {
        if at - self.mark > max as u64 {
            return Err(FrameError::TooLarge { max });
        }
        self.mark = at;
        Ok(())
    }

    /// An item ends at `at`: the framer returns it (or an error before it).
    fn complete(&mut self, at: u64, max: usize) -> Result<(), FrameError> {
        self.set_mark(at, max)?;
        self.ready += 1;
        Ok(())
    }

    /// The framer is sure to return an error by `at`: let it read that far,
    /// and scan no more.
    fn refuse(&mut self, at: u64, max: usize) -> Result<(), FrameError> {
        self.complete(at, max)?;
        self.state = State::Failing;
        Ok(())
    }
}

/// Whether quick-xml takes `<?...?>` for an XML declaration (`<?xml` and then
/// white space or the end), not a processing instruction.
fn is_declaration(pi: &[u8]) -> bool {
    if pi.len() <= 3 || std::str::from_utf8(pi).is_err() {
        // `<?>` is a syntax error, and what is not UTF-8 an encoding error.
        return false;
    }
    let content = &pi[2..pi.len() - 2];
    content.starts_with(b"xml") && (content.len() == 3 || is_whitespace(content[3]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::framer::DEFAULT_MAX_STANZA;

    type Outcome = (Vec<Item>, Option<String>);

    /// What a `Framer` reads from the whole input at once.
    fn framed(input: &[u8], max: usize) -> Outcome {
        let mut framer = Framer::new(input, max);
        let mut items = Vec::new();
        loop {
            match framer.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return (items, None),
                Err(err) => return (items, Some(err.to_string())),
            }
        }
    }

    /// What a `Feed` gives for `chunks`, taking items after each push; an
    /// end away from a boundary is `Truncated`, as the caller reports it.
    fn fed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Outcome {
        let mut feed = Feed::new(max);
        let mut items = Vec::new();
        for chunk in chunks {
            let pushed = feed.push(chunk);
            loop {
                match feed.next_item() {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => break,
                    Err(err) => return (items, Some(err.to_string())),
                }
            }
            if let Err(err) = pushed {
                return (items, Some(err.to_string()));
            }
        }
        let end = (!feed.at_boundary()).then(|| FrameError::Truncated.to_string());
        (items, end)
    }

    /// Feeding `input` split at every byte, byte by byte and in chunks of
    /// several sizes gives what the framer reads from all of it; returns that.
    fn same_as_framer(input: &[u8]) -> Outcome {
        let expected = framed(input, DEFAULT_MAX_STANZA);
        for at in 0..=input.len() {
            let (head, tail) = input.split_at(at);
            assert_eq!(
                fed([head, tail], DEFAULT_MAX_STANZA),
                expected,
                "split at {at} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        for size in [1, 2, 3, 5, 7, 16, 100] {
            assert_eq!(
                fed(input.chunks(size), DEFAULT_MAX_STANZA),
                expected,
                "chunks of {size} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        expected
    }

    /// The stanza lines of `items`.
    fn stanzas(items: &[Item]) -> Vec<&str> {
        items
            .iter()
            .filter_map(|item| match item {
                Item::Stanza(line) => Some(line.as_str()),
                _ => None,
            })
            .collect()
    }

    const CLIENT: &str = "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.com' \
        version='1.0' xml:lang='en'>\
        <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
        <mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
        </stream:features>\n\
        <challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==</challenge>\
        <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\
        <?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream=\"http://etherx.jabber.org/streams\" id=\"s2\" version='1.0'>\
        <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features> \n\
        <iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
        <jid>alice@example.com/r\u{e9}sum\u{e9}</jid></bind></iq>\n\
        <message from='bob@example.com/x' to='alice@example.com' type='chat' id='a>b' \
        note=\"x/>y\" q=\"it's\" r='say \"hi\"'>\
        <body>h\u{e9}llo &amp; &lt;w\u{f6}rld&gt; &#x2603;&#9731; \u{1F600}\nline two ]] &gt;</body>\
        <x xmlns='urn:x'><![CDATA[<not a='tag'/> ]] ] > & \u{2603}]]></x></message>\
        \n \n\t\r\n \
        <presence from='carol@example.com/\u{1F600}' />\
        <iq type='get' id='r1'><query xmlns='jabber:iq:roster'\n/></iq\n>\
        <message><a><a><a/></a></a ></message>\
        </stream:stream>";

    #[test]
    fn client_stream_split_anywhere_frames_as_the_framer() {
        let (items, end) = same_as_framer(CLIENT.as_bytes());
        assert_eq!(end, None);
        assert!(matches!(&items[0], Item::Header(h) if h.attr("id") == Some("s1")));
        assert!(matches!(&items[4], Item::Header(h) if h.attr("id") == Some("s2")));
        assert_eq!(items.last(), Some(&Item::Close));
        let lines = stanzas(&items);
        assert_eq!(lines.len(), 9);
        assert!(
            lines[5].contains("id='a&gt;b' note='x/&gt;y' q='it&apos;s'"),
            "{}",
            lines[5]
        );
        assert!(
            lines[5].contains("<x xmlns='urn:x'>&lt;not a='tag'/&gt; ]] ] &gt; &amp; \u{2603}</x>"),
            "{}",
            lines[5]
        );
    }

    #[test]
    fn stanza_lines_without_header_split_anywhere_frame_as_the_framer() {
        // Downstream of xmpp-auth: stanza lines, then the stream's close.
        let input = "<message from='bob@example.com/x' type='chat'><body>one \u{e9}</body></message>\n\
            <presence xmlns:stream='http://etherx.jabber.org/streams'/>\n\
            <stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>\n\
            <x:stream xmlns:x='urn:other'><x:y/></x:stream>\n\
            <iq type='set' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='O&apos;Neil &amp; co'/></query></iq>\n\
            </stream:stream>\n";
        let (items, end) = same_as_framer(input.as_bytes());
        assert_eq!(end, None);
        assert_eq!(stanzas(&items).len(), 5);
        assert_eq!(items.last(), Some(&Item::Close));
    }

    #[test]
    fn other_stream_shapes_split_anywhere_frame_as_the_framer() {
        for input in [
            // A byte order mark, another prefix, an empty header, a restart after a close.
            &b"\xEF\xBB\xBF<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'><s:features/><a/></s:stream>"[..],
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/><a/>",
            b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'></stream:stream>\
              <stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='urn:x'><a/></stream:stream>",
            b"  \r\n",
            b"",
            b"<?xml version='1.0' encoding='UTF-8'?><?xml version='1.0'?>\n<a/>",
        ] {
            let (_, end) = same_as_framer(input);
            assert_eq!(end, None, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn malformed_input_fails_as_the_framer_wherever_split() {
        let header =
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
        let cases: Vec<Vec<u8>> = [
            "<!-- a comment -->",
            "<a/><!-- a comment --><b/>",
            "<message><body>x<!-- -- --></body></message>",
            "<!---->",
            "<!-->-->",
            "<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]><a/>",
            "<a/><!DOCTYPE a>",
            "<message><!doctype x></message>",
            "<a b='1' b='2'><!DOCTYPE x>",
            "<a><b></a></b>",
            "<a></b>",
            "</a>",
            "<a/>hello<b/>",
            "<a/>hello&amp;",
            "<a/> &amp; <b/>",
            "<a/>&x<",
            "<a/><?pi data?>",
            "<a><?xml version='1.0'?></a>",
            "<!x>",
            "<![CDATA[x]]>",
            "<a>&undeclared;</a>",
            "<a b='1'c='2'/>",
            "<>",
            "<a><1/></a>",
            "<a>]]></a>",
            "<u:a/>",
        ]
        .iter()
        .flat_map(|case| {
            [
                case.as_bytes().to_vec(),
                format!("{header}{case}").into_bytes(),
            ]
        })
        .chain([
            b"<a>\xFF</a>".to_vec(),
            b"<a\xFF/>".to_vec(),
            b"<a b='\xC3'/>".to_vec(),
            b"<a/>\xFF<b/>".to_vec(),
            b"\xEF\xBB<a/>".to_vec(),
            b"<?xml version='\xFF'?><a/>".to_vec(),
            b"<a><![CDATA[\xFF]]></a>".to_vec(),
            format!(
                "{}{}",
                "<a>".repeat(MAX_DEPTH + 1),
                "</a>".repeat(MAX_DEPTH + 1)
            )
            .into_bytes(),
        ])
        .collect();
        for input in cases {
            let (_, end) = same_as_framer(&input);
            let end =
                end.unwrap_or_else(|| panic!("no error: {:?}", String::from_utf8_lossy(&input)));
            assert_ne!(
                end,
                FrameError::Truncated.to_string(),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn complete_input_the_framer_calls_truncated_is_so_wherever_split() {
        // quick-xml reports these syntax errors as unclosed markup, which the
        // framer reports as truncation although the input is complete.
        for input in [&b"<?>"[..], b"<a><![CDAT[x]]></a>", b"<a/><!-x-->"] {
            assert_eq!(
                same_as_framer(input).1,
                Some(FrameError::Truncated.to_string())
            );
        }
        // A `<!D` that is no DTD is refused as a DTD (the framer: truncated).
        let (items, end) = fed([&b"<a/><!Dx>"[..]], DEFAULT_MAX_STANZA);
        assert_eq!(items, vec![Item::Stanza("<a/>".into())]);
        assert_eq!(end, Some(FrameError::Forbidden(DTD.into()).to_string()));
    }

    #[test]
    fn truncated_input_is_not_at_a_boundary() {
        for input in [
            &b"<a>"[..],
            b"<a",
            b"<",
            b"<a b='>",
            b"<a><![CDATA[",
            b"<?xml",
            b"<stream:stream",
        ] {
            assert_eq!(
                same_as_framer(input).1,
                Some(FrameError::Truncated.to_string())
            );
        }
    }

    #[test]
    fn errors_come_once_the_bad_bytes_are_complete() {
        for (input, what) in [
            (&b"<a/><!-- x -->"[..], "a comment"),
            (b"<a/><!DOCTYPE", DTD),
            (b"<a><b></c>", "does not match"),
            (b"<a>\xFF</a>", "invalid UTF-8"),
            (b"<a/>x<", "text outside any element"),
            (b"<?pi?>", "a processing instruction"),
        ] {
            let mut feed = Feed::new(DEFAULT_MAX_STANZA);
            feed.push(input).unwrap();
            let err = loop {
                match feed.next_item() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("waiting on {:?}", String::from_utf8_lossy(input)),
                    Err(err) => break err,
                }
            };
            assert!(err.to_string().contains(what), "{err}");
            // The feed stays failed.
            assert_eq!(feed.next_item().unwrap_err().to_string(), err.to_string());
            assert_eq!(feed.push(b"<b/>").unwrap_err().to_string(), err.to_string());
            assert!(!feed.at_boundary());
        }
    }

    #[test]
    fn a_never_ending_element_is_too_large_as_soon_as_it_exceeds_max() {
        let max = 100;
        let mut feed = Feed::new(max);
        feed.push(b"<a/> \n<message><body>").unwrap();
        assert_eq!(feed.next_item().unwrap(), Some(Item::Stanza("<a/>".into())));
        // The element began at its `<`, after the white space.
        let mut pushed = "<message><body>".len();
        loop {
            let result = feed.push(b"x");
            pushed += 1;
            if pushed <= max {
                result.unwrap();
                assert_eq!(feed.next_item().unwrap(), None);
                assert!(feed.buffered() <= max + 2);
            } else {
                assert!(
                    matches!(result, Err(FrameError::TooLarge { max: 100 })),
                    "{result:?}"
                );
                break;
            }
        }
        assert!(matches!(
            feed.next_item(),
            Err(FrameError::TooLarge { max: 100 })
        ));
        assert!(matches!(
            feed.push(b"</body>"),
            Err(FrameError::TooLarge { max: 100 })
        ));
    }

    #[test]
    fn an_element_of_max_bytes_passes_and_one_more_is_too_large() {
        let element = b"<message><body>0123456789</body></message>";
        let (items, end) = fed([&element[..]], element.len());
        assert_eq!((items.len(), end), (1, None));
        let (items, end) = fed(element.chunks(1), element.len() - 1);
        assert!(items.is_empty());
        assert_eq!(
            end,
            Some(
                FrameError::TooLarge {
                    max: element.len() - 1
                }
                .to_string()
            )
        );
        // Items completed before the large one are still taken.
        let mut input = b"<a/>".to_vec();
        input.extend_from_slice(element);
        let (items, end) = fed([&input[..]], element.len() - 1);
        assert_eq!(items, vec![Item::Stanza("<a/>".into())]);
        assert!(end.is_some());
        // As on a stream, white space between elements counts too.
        let (items, end) = fed([&b"<a/>"[..], &[b' '; 200], b"<b/>"], 100);
        assert_eq!(items, vec![Item::Stanza("<a/>".into())]);
        assert_eq!(end, Some(FrameError::TooLarge { max: 100 }.to_string()));
    }

    #[test]
    fn at_boundary_between_stanzas_and_after_white_space_not_inside() {
        let mut feed = Feed::new(DEFAULT_MAX_STANZA);
        assert!(feed.at_boundary());
        let steps: &[(&[u8], bool)] = &[
            (b"<?xml version='1.0'?>", true),
            (b"\n", true),
            (
                b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'",
                false,
            ),
            (b">", true),
            (b"<message a='>'", false),
            (b"><body>x", false),
            (b"</body></message", false),
            (b">", true),
            (b" \r\n\t ", true),
            (b"<", false),
            (b"presence/>", true),
            (b"<!", false),
        ];
        for &(bytes, boundary) in steps {
            feed.push(bytes).unwrap();
            while feed.next_item().unwrap().is_some() {}
            assert_eq!(
                feed.at_boundary(),
                boundary,
                "after {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn what_the_framer_read_is_dropped() {
        let mut feed = Feed::new(1000);
        let stanza = b"<message to='a@b'><body>hello</body></message>\n";
        for _ in 0..10_000 {
            feed.push(stanza).unwrap();
            assert!(matches!(feed.next_item(), Ok(Some(Item::Stanza(_)))));
            assert_eq!(feed.next_item().unwrap(), None);
            // Only the trailing white space waits for the next element.
            assert_eq!(feed.buffered(), 1);
            assert!(feed.framer.get_ref().data.len() <= 2 * stanza.len());
        }
        feed.push(b"<message><bo").unwrap();
        assert_eq!(feed.next_item().unwrap(), None);
        assert_eq!(feed.buffered(), 1 + "<message><bo".len());
    }

    #[test]
    fn items_wait_until_taken() {
        let mut feed = Feed::new(DEFAULT_MAX_STANZA);
        feed.push(b"<a/><b/><c").unwrap();
        feed.push(b"/>").unwrap();
        for name in ["a", "b", "c"] {
            assert_eq!(
                feed.next_item().unwrap(),
                Some(Item::Stanza(format!("<{name}/>")))
            );
        }
        assert_eq!(feed.next_item().unwrap(), None);
        assert_eq!(feed.buffered(), 0);
    }
}

//! Element boundaries in the bytes a client sends, so that the TLS records
//! carrying them can end on one.
//!
//! Prosody 0.12 (Debian bookworm's 0.12.3 among them) resumes an XEP-0198
//! session by moving the new connection onto the old session, but the
//! connection's `data` handler still feeds the old session's XML parser: the
//! bytes of the resumed stream continue whatever the dead connection had left
//! in it. If that connection died after delivering part of a stanza
//! (`<message to='x'><bo`), the first stanza of the resumed stream completes
//! that one into nonsense; Prosody answers `<not-well-formed/>` and destroys
//! the session it has just resumed.
//!
//! Prosody hands its parser whole decrypted TLS records, never part of one.
//! A connection whose every record ends on an element boundary therefore never
//! leaves part of an element in the server's parser, however it dies. The
//! only exception is an element larger than a record (16 KiB): rustls must cut
//! it, and a connection that dies between its records leaves the first part.
//!
//! [`Boundaries`] follows the bytes as they are pushed (sans I/O: it keeps
//! none of them, only where it is in the markup) and says where the last
//! boundary is, so that the sender hands TLS only bytes up to there. A
//! boundary is any point outside markup where no element below the stream is
//! open: after an XML declaration or other `<?..?>`, a comment or anything
//! else closed by `>` there; after a stream header (a start tag whose local
//! name is `stream`, which neither nests nor needs closing: the client sends a
//! new header after SASL success and after STARTTLS without closing the old
//! one); after a complete element (its end tag, or `<x/>`); after
//! `</stream:stream>`; and anywhere in text there (white space keepalives,
//! or garbage). Tags are ended as quick-xml ends them (its own parser skips
//! `>` in quoted attribute values), comments at `-->` and CDATA at `]]>`.
//!
//! Nothing makes it hold bytes forever on its own: markup it does not know
//! (`<!DOCTYPE`, `<!x`, a tag whose name cannot start a name) ends at its
//! `>` without opening anything. What stays open is an element that is really
//! open, which the server cannot act on either; the sender bounds that by
//! sending anyway when its buffer is full (or the input ended).

use quick_xml::parser::{ElementParser, Parser, PiParser};
use quick_xml::utils::is_whitespace;

/// What follows `<![` in CDATA.
const CDATA: &[u8] = b"CDATA[";

/// Where the element boundaries are in the bytes pushed so far; see the
/// module documentation.
///
/// Offsets are stream offsets (bytes since the first push). A sender that
/// buffers the bytes it pushes and drains them from the front tells how many
/// it drained with [`take`](Boundaries::take); [`complete`](Boundaries::complete)
/// is then how many of the bytes still buffered end at the last boundary.
#[derive(Debug, Clone, Default)]
pub struct Boundaries {
    state: State,
    /// Elements open below the stream (stream headers do not count).
    depth: usize,
    /// Bytes pushed.
    pushed: u64,
    /// The offset of the last boundary.
    last: u64,
    /// The boundaries after the bytes taken, in order (for
    /// [`within`](Boundaries::within)).
    ends: std::collections::VecDeque<u64>,
    /// Bytes taken by the caller.
    taken: u64,
}

/// Where the tracker is in the markup.
#[derive(Debug, Clone, Copy, Default)]
enum State {
    /// In text.
    #[default]
    Text,
    /// After `<`.
    Open,
    /// In a start tag (or an end tag, `end`), which quick-xml's own parser
    /// ends at its `>`, outside quoted attribute values.
    Tag {
        end: bool,
        parser: ElementParser,
        name: Name,
        /// The byte before the ones being scanned (`/` before `>` is `/>`).
        last: u8,
    },
    /// In `<?...?>`, which quick-xml's own parser ends at the first `?>`.
    Pi(PiParser),
    /// After `<!`.
    Bang,
    /// After `<!-`.
    Dash,
    /// After `<![` and this many bytes of `CDATA[`.
    CDataOpen(usize),
    /// In a comment, after `dashes` (at most 2) `-` in a row. (Not quick-xml's
    /// `CommentParser`: in 0.42 it takes `-` + `x-` + `>` for `-->`.)
    Comment { dashes: u8 },
    /// In CDATA, after `brackets` (at most 2) `]` in a row.
    CData { brackets: u8 },
    /// In other `<!...`, ended at its `>` outside quotes.
    Other(ElementParser),
}

/// What the tracker knows of a start tag's name: whether its local name is
/// `stream`, without keeping the name.
#[derive(Debug, Clone, Copy, Default)]
struct Name {
    /// Its length so far.
    len: usize,
    /// Its first byte.
    first: u8,
    /// Its last (up to) 7 bytes, at the end of the array.
    tail: [u8; 7],
    /// The name has ended.
    done: bool,
}

impl Name {
    /// Follow the name through `bytes` (the start of which may be in it).
    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.done {
                return;
            }
            if is_whitespace(b) || matches!(b, b'/' | b'>' | b'\'' | b'"' | b'=') {
                self.done = true;
                return;
            }
            if self.len == 0 {
                self.first = b;
            }
            self.len += 1;
            self.tail.copy_within(1.., 0);
            self.tail[6] = b;
        }
    }

    /// Whether it can be the name of an element (it starts as a name does).
    fn is_name(&self) -> bool {
        self.len > 0
            && (self.first.is_ascii_alphabetic() || matches!(self.first, b'_' | b':' | 0x80..))
    }

    /// Whether its local name is `stream`.
    fn is_stream(&self) -> bool {
        (self.len == 6 && self.tail[1..] == *b"stream")
            || (self.len > 6 && self.tail == *b":stream")
    }
}

impl Boundaries {
    /// A tracker at the start of a stream (no element open).
    pub fn new() -> Boundaries {
        Boundaries::default()
    }

    /// Follow the next bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        let base = self.pushed;
        let mut at = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            match self.state {
                State::Text => match rest.iter().position(|&b| b == b'<') {
                    Some(k) => {
                        at += k;
                        self.text_ends(base + at as u64);
                        at += 1;
                        self.state = State::Open;
                    }
                    None => {
                        at = bytes.len();
                        self.text_ends(base + at as u64);
                    }
                },
                State::Open => {
                    // As quick-xml, decide on the byte after `<`; the parsers
                    // for tags and `<?` start at that byte.
                    self.state = match rest[0] {
                        b'!' => {
                            at += 1;
                            State::Bang
                        }
                        b'?' => State::Pi(PiParser(false)),
                        b => State::Tag {
                            end: b == b'/',
                            parser: ElementParser::Outside,
                            name: Name {
                                // An end tag's name does not matter.
                                done: b == b'/',
                                ..Name::default()
                            },
                            last: b'<',
                        },
                    };
                }
                State::Tag {
                    end,
                    mut parser,
                    mut name,
                    last,
                } => {
                    let found = parser.feed(rest);
                    name.scan(&rest[..found.unwrap_or(rest.len())]);
                    match found {
                        Some(k) => {
                            let empty = if k > 0 { rest[k - 1] } else { last } == b'/';
                            at += k + 1;
                            self.tag(end, empty, name);
                            self.markup_ends(base + at as u64);
                        }
                        None => {
                            at = bytes.len();
                            self.state = State::Tag {
                                end,
                                parser,
                                name,
                                last: rest[rest.len() - 1],
                            };
                        }
                    }
                }
                State::Pi(mut parser) => match parser.feed(rest) {
                    Some(k) => {
                        at += k + 1;
                        self.markup_ends(base + at as u64);
                    }
                    None => {
                        at = bytes.len();
                        self.state = State::Pi(parser);
                    }
                },
                // What is not a comment or CDATA is scanned again as other `<!`.
                State::Bang => {
                    self.state = match rest[0] {
                        b'-' => State::Dash,
                        b'[' => State::CDataOpen(0),
                        _ => State::Other(ElementParser::Outside),
                    };
                    if !matches!(self.state, State::Other(_)) {
                        at += 1;
                    }
                }
                State::Dash => {
                    self.state = if rest[0] == b'-' {
                        at += 1;
                        State::Comment { dashes: 0 }
                    } else {
                        State::Other(ElementParser::Outside)
                    };
                }
                State::CDataOpen(seen) => {
                    self.state = if rest[0] == CDATA[seen] {
                        at += 1;
                        if seen + 1 == CDATA.len() {
                            State::CData { brackets: 0 }
                        } else {
                            State::CDataOpen(seen + 1)
                        }
                    } else {
                        State::Other(ElementParser::Outside)
                    };
                }
                State::Comment { dashes } => match closer(rest, b'-', dashes) {
                    Ok(k) => {
                        at += k + 1;
                        self.markup_ends(base + at as u64);
                    }
                    Err(dashes) => {
                        at = bytes.len();
                        self.state = State::Comment { dashes };
                    }
                },
                State::CData { brackets } => match closer(rest, b']', brackets) {
                    Ok(k) => {
                        at += k + 1;
                        self.markup_ends(base + at as u64);
                    }
                    Err(brackets) => {
                        at = bytes.len();
                        self.state = State::CData { brackets };
                    }
                },
                State::Other(mut parser) => match parser.feed(rest) {
                    Some(k) => {
                        at += k + 1;
                        self.markup_ends(base + at as u64);
                    }
                    None => {
                        at = bytes.len();
                        self.state = State::Other(parser);
                    }
                },
            }
        }
        self.pushed = base + bytes.len() as u64;
    }

    /// Bytes pushed so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The offset of the last boundary (0 before anything was pushed).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Whether the bytes pushed so far end at a boundary.
    pub fn at_boundary(&self) -> bool {
        self.last == self.pushed
    }

    /// How many of the bytes not yet taken end at the last boundary (0 when
    /// more than that were taken).
    pub fn complete(&self) -> usize {
        usize::try_from(self.last.saturating_sub(self.taken)).unwrap_or(usize::MAX)
    }

    /// How many of the bytes not yet taken end at the last boundary within
    /// the first `limit` of them; where there is none, at the first boundary
    /// after them (an element larger than `limit`); 0 without a boundary.
    ///
    /// A sender that hands TLS at most a record (16 KiB) at a time, up to
    /// this, makes every record end on a boundary but for elements larger
    /// than a record.
    pub fn within(&self, limit: usize) -> usize {
        let end = self.taken + limit as u64;
        let inside = self.ends.iter().take_while(|&&at| at <= end).last();
        inside.or_else(|| self.ends.front()).map_or(0, |&at| {
            usize::try_from(at - self.taken).unwrap_or(usize::MAX)
        })
    }

    /// Bytes pushed and not yet taken.
    pub fn waiting(&self) -> usize {
        usize::try_from(self.pushed - self.taken).unwrap_or(usize::MAX)
    }

    /// The caller took (sent, dropped) the next `n` bytes: boundaries or not,
    /// [`complete`](Boundaries::complete) counts from after them.
    pub fn take(&mut self, n: usize) {
        debug_assert!(n <= self.waiting(), "took more than was pushed");
        self.taken = (self.taken + n as u64).min(self.pushed);
        while self.ends.front().is_some_and(|&at| at <= self.taken) {
            self.ends.pop_front();
        }
    }

    /// Text runs up to `at` (exclusive): a boundary if no element is open.
    fn text_ends(&mut self, at: u64) {
        if self.depth == 0 {
            if at > self.last.max(self.taken) {
                self.ends.push_back(at);
            }
            self.last = at;
        }
    }

    /// Markup ended just before `at`: text follows.
    fn markup_ends(&mut self, at: u64) {
        self.state = State::Text;
        self.text_ends(at);
    }

    /// A complete tag: follow the depth.
    fn tag(&mut self, end: bool, empty: bool, name: Name) {
        if end {
            // `</stream:stream>` (or a stray end tag) at depth 0 stays there.
            self.depth = self.depth.saturating_sub(1);
        } else if empty || !name.is_name() || (self.depth == 0 && name.is_stream()) {
            // `<x/>`, a stream header, or not an element at all.
        } else {
            self.depth += 1;
        }
    }
}

/// In a comment (`mark` `-`) or CDATA (`]`) after `seen` marks in a row: the
/// index in `bytes` of the `>` after two marks that ends it, or the marks in
/// a row at the end of `bytes`.
fn closer(bytes: &[u8], mark: u8, mut seen: u8) -> Result<usize, u8> {
    for (k, &b) in bytes.iter().enumerate() {
        if b == b'>' && seen == 2 {
            return Ok(k);
        }
        seen = if b == mark { (seen + 1).min(2) } else { 0 };
    }
    Err(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A realistic client stream: each piece is markup (a boundary only
    /// after it, `false`) or top-level text (a boundary at each byte, `true`).
    const UPSTREAM: &[(&str, bool)] = &[
        ("<?xml version='1.0'?>", false),
        ("\n", true),
        (
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='example.com' \
             version='1.0'>",
            false,
        ),
        (
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
             AGFsaWNlAHNlY3JldA==</auth>",
            false,
        ),
        (
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream=\"http://etherx.jabber.org/streams\" to='example.com' \
             version='1.0'>",
            false,
        ),
        (
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
             <resource>r\u{e9}sum\u{e9}</resource></bind></iq>",
            false,
        ),
        (
            "<message to='bob@example.com' id='a>b' note=\"x/>y\" q=\"it's\" r='</message>'>\
             <body>1 &lt; 2 > 0 \u{1F600}</body>\
             <x xmlns='urn:x'><![CDATA[<not a='tag'/> </message> ]] ] > ]]></x>\
             <!-- a-x-> <b> </message> - --></message>",
            false,
        ),
        (" \n\t", true),
        ("<r xmlns='urn:xmpp:sm:3'/>", false),
        ("<presence/>", false),
        ("<presence >\n<show>away</show></presence>", false),
        (
            "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'\n/></iq\n>",
            false,
        ),
        ("<message><a><a><a/></a></a ></message>", false),
        (
            "<iq type='get' id='s'><stream xmlns='urn:x'><stream/></stream></iq>",
            false,
        ),
        (" ", true),
        ("<?pi x='>'?>", false),
        ("<!-- top -->", false),
        ("</stream:stream>", false),
        ("\n", true),
    ];

    fn upstream() -> (Vec<u8>, Vec<u64>) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for &(piece, text) in UPSTREAM {
            let start = bytes.len();
            bytes.extend_from_slice(piece.as_bytes());
            if text {
                expected.extend((start + 1..=bytes.len()).map(|at| at as u64));
            } else {
                expected.push(bytes.len() as u64);
            }
        }
        (bytes, expected)
    }

    /// The boundaries found when `input` is pushed one byte at a time.
    fn boundaries(input: &[u8]) -> Vec<u64> {
        let mut tracker = Boundaries::new();
        let mut found = Vec::new();
        for &b in input {
            tracker.push(&[b]);
            if tracker.at_boundary() {
                found.push(tracker.pushed());
            }
        }
        found
    }

    /// The last boundary at or before `at`.
    fn last_before(boundaries: &[u64], at: u64) -> u64 {
        boundaries
            .iter()
            .copied()
            .filter(|&b| b <= at)
            .max()
            .unwrap_or(0)
    }

    /// Pushing `chunks` reports, after each, the last of `boundaries` so far.
    fn check<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, boundaries: &[u64], what: &str) {
        let mut tracker = Boundaries::new();
        for chunk in chunks {
            tracker.push(chunk);
            assert_eq!(
                tracker.last(),
                last_before(boundaries, tracker.pushed()),
                "{what}, after {} bytes",
                tracker.pushed()
            );
        }
    }

    #[test]
    fn upstream_boundaries_are_where_elements_end() {
        let (input, expected) = upstream();
        assert_eq!(boundaries(&input), expected);
    }

    #[test]
    fn upstream_split_anywhere_gives_the_same_boundaries() {
        let (input, expected) = upstream();
        check([&input[..]], &expected, "unsplit");
        for at in 0..=input.len() {
            let (head, tail) = input.split_at(at);
            check([head, tail], &expected, &format!("split at {at}"));
        }
        for size in [2, 3, 5, 7, 16, 100] {
            check(input.chunks(size), &expected, &format!("chunks of {size}"));
        }
    }

    #[test]
    fn a_partial_element_is_never_complete() {
        let header = "<stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
        let stanza = "<message to='x@example.com' id='a>b' q=\"<body>\"><body>hi</body>\
            <x><![CDATA[</message>]]><!--</message>--></x></message>";
        for cut in 0..stanza.len() {
            let mut tracker = Boundaries::new();
            tracker.push(header.as_bytes());
            tracker.push(&stanza.as_bytes()[..cut]);
            assert_eq!(tracker.complete(), header.len(), "cut at {cut}");
            tracker.push(&stanza.as_bytes()[cut..]);
            assert_eq!(
                tracker.complete(),
                header.len() + stanza.len(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn nested_elements_of_the_same_name_count_depth() {
        let input = b"<a><a><a/><a></a></a>";
        let mut tracker = Boundaries::new();
        tracker.push(input);
        assert_eq!(tracker.last(), 0, "one <a> is still open");
        tracker.push(b"</a>");
        assert!(tracker.at_boundary());
        // `stream` below the stream level nests as any element.
        assert_eq!(boundaries(b"<q><stream><stream/></stream></q>"), [33]);
        assert_eq!(boundaries(b"<q><x:stream></x:stream></q>"), [28]);
    }

    #[test]
    fn stream_headers_do_not_nest() {
        let header = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
        let input = format!("{header}<a/>{header}<b/></stream:stream>");
        let ends = |upto: &str| input.find(upto).unwrap() as u64 + upto.len() as u64;
        assert_eq!(
            boundaries(input.as_bytes()),
            [
                header.len() as u64,
                ends("<a/>"),
                ends("<a/>") + header.len() as u64,
                ends("<b/>"),
                input.len() as u64
            ]
        );
        // Any prefix, or none.
        assert_eq!(boundaries(b"<stream><x></x>"), [8, 15]);
        assert_eq!(boundaries(b"<s:stream><x>"), [10]);
        assert_eq!(boundaries(b"<streams><x>"), [] as [u64; 0]);
        assert_eq!(boundaries(b"<stream2><x>"), [] as [u64; 0]);
    }

    #[test]
    fn taking_counts_from_what_is_left() {
        let mut tracker = Boundaries::new();
        tracker.push(b"<a/><b>");
        assert_eq!((tracker.complete(), tracker.waiting()), (4, 7));
        tracker.take(4);
        assert_eq!((tracker.complete(), tracker.waiting()), (0, 3));
        // Taken past the boundary (sent without waiting for one).
        tracker.take(3);
        assert_eq!((tracker.complete(), tracker.waiting()), (0, 0));
        tracker.push(b"text");
        assert_eq!((tracker.complete(), tracker.waiting()), (0, 4));
        tracker.push(b"</b> ");
        assert_eq!((tracker.complete(), tracker.waiting()), (9, 9));
    }

    #[test]
    fn unknown_or_malformed_markup_ends_at_its_close() {
        for markup in [
            "<!DOCTYPE x SYSTEM 'a>b'>",
            "<!x>",
            "<!->",
            "<![CDAT>",
            "<>",
            "< x>",
            "<1a>",
            "<-a>",
            "</>",
            "</a>",
            "<?>",
            "<!---->",
        ] {
            let input = format!("{markup}<a/>");
            assert_eq!(
                boundaries(input.as_bytes()),
                [markup.len() as u64, input.len() as u64],
                "{markup}"
            );
        }
        // Not ended yet.
        for markup in [
            "<!-->",
            "<!--->",
            "<![CDATA[>",
            "<![CDATA[]>",
            "<?x>",
            "<a b='>",
        ] {
            assert_eq!(boundaries(markup.as_bytes()), [] as [u64; 0], "{markup}");
        }
    }

    #[test]
    fn text_at_the_top_is_a_boundary_anywhere() {
        assert_eq!(boundaries(b" x\n"), [1, 2, 3]);
        // Not inside an element.
        assert_eq!(boundaries(b"<a> x\n</a>"), [10]);
    }

    #[test]
    fn within_a_limit_is_the_last_boundary_there_else_the_first_after() {
        let mut b = Boundaries::new();
        let small = "<message><body>hi</body></message>"; // 34 bytes
        let big = format!("<message><body>{}</body></message>", "x".repeat(100));
        b.push(small.as_bytes());
        b.push(small.as_bytes());
        b.push(big.as_bytes());
        b.push(b"<r xmlns='urn:xmpp:sm:3'/><a");
        assert_eq!(b.within(34), 34);
        assert_eq!(b.within(67), 34);
        assert_eq!(b.within(68), 68);
        // A larger element than the limit: up to its end.
        assert_eq!(b.within(80), 68);
        b.take(68);
        assert_eq!(b.within(10), big.len(), "the first boundary after");
        assert_eq!(b.within(1000), big.len() + 26);
        b.take(big.len() + 26);
        assert_eq!(b.within(1000), 0, "an open element: nothing yet");
        assert_eq!(b.complete(), 0);
    }
}

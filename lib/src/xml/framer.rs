//! The stanza framer: an XMPP stream in, one top-level element at a time out.
//!
//! [`Framer`] reads any XMPP stream bytes (with or without `<?xml?>` and
//! `<stream:stream>` headers, including the restarts after STARTTLS and SASL)
//! from a [`BufRead`] in whatever chunks they arrive, and returns each
//! top-level element as soon as its end tag has been read, re-serialised as a
//! *stanza line*: one line, UTF-8, no raw newline (line breaks become `&#10;`),
//! every namespace prefix it uses that was declared on the stream header
//! declared on the line itself, the implied `jabber:client` namespace left
//! implicit. Whitespace keepalives between stanzas are dropped.
//!
//! What RFC 6120 §11.1 forbids (DTDs, processing instructions, comments,
//! undeclared entities) and malformed XML are errors. Memory is bounded by the
//! largest element (`max` bytes of input), never by the length of the stream.

use super::escape::{push_attr, push_text};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead};

/// The default bound on one top-level element, in bytes of input (1 MiB).
pub const DEFAULT_MAX_STANZA: usize = 1 << 20;

/// How deeply elements may nest in a stanza (the stanza itself is level 1).
/// Real payloads stay far below; the bound keeps every later stage (which
/// builds element trees) safe from a stanza nested thousands deep.
pub const MAX_DEPTH: usize = 256;

/// How many namespace declarations may be in scope at once inside a stanza,
/// and how many a stream header may make. A stanza line then carries at most
/// `2 * MAX_NAMESPACES + 1` (the header's it uses are copied onto its root),
/// which [`super::Element::parse`] accepts; real stanzas use a handful.
pub const MAX_NAMESPACES: usize = 64;

/// One thing read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A stream header (`<stream:stream ...>`), at the start or at a restart.
    Header(StreamHeader),
    /// A complete top-level element, as a stanza line (without the `\n`).
    Stanza(String),
    /// The end of the stream: `</stream:stream>`.
    Close,
}

/// The attributes of a stream header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// The qualified name of the stream element, normally `stream:stream`.
    pub qname: String,
    /// The attributes in document order (namespace declarations included), unescaped.
    pub attrs: Vec<(String, String)>,
}

impl StreamHeader {
    /// The value of an attribute by its qualified name (`id`, `from`, `xml:lang`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The namespace declared for `prefix` ("" for the default namespace).
    pub fn namespace(&self, prefix: &str) -> Option<&str> {
        self.attrs.iter().find_map(|(key, value)| {
            (declared_prefix(key) == Some(prefix)).then_some(value.as_str())
        })
    }

    /// The stream's `version` attribute, if any.
    pub fn version(&self) -> Option<&str> {
        self.attr("version")
    }
}

/// Why the stream could not be framed.
#[derive(Debug)]
pub enum FrameError {
    /// Not well-formed XML (or invalid UTF-8, or a character XML cannot carry).
    Malformed(String),
    /// Well-formed but forbidden in XMPP (RFC 6120 §11.1): DTD, PI, comment, entity.
    Forbidden(String),
    /// One element grew past the bound.
    TooLarge {
        /// The bound, in bytes.
        max: usize,
    },
    /// The input ended inside an element.
    Truncated,
    /// Reading failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Malformed(what) => write!(f, "malformed XML: {what}"),
            FrameError::Forbidden(what) => {
                write!(f, "{what} (forbidden in XMPP, RFC 6120 section 11.1)")
            }
            FrameError::TooLarge { max } => write!(f, "an element is larger than {max} bytes"),
            FrameError::Truncated => write!(f, "the stream ended in the middle of an element"),
            FrameError::Io(err) => write!(f, "read error: {err}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A `BufRead` that refuses to hand out more than `max` bytes past the mark.
struct Bounded<R> {
    inner: R,
    consumed: u64,
    mark: u64,
    max: u64,
    exceeded: bool,
}

/// `Read::read` for a reader whose real interface is `BufRead` (copy what
/// `fill_buf` offers, consume it): the framer's readers are both such.
pub(crate) fn read_buffered(reader: &mut impl BufRead, out: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(out.len());
    out[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

impl<R: BufRead> io::Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, out)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed - self.mark > self.max {
            self.exceeded = true;
            return Err(io::Error::other("element too large"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// Where the framer is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// No stream header seen (or the stream was closed): elements here are stanzas too.
    Outside,
    /// Inside `<stream:stream>`: elements here are stanzas.
    Stream,
}

/// Reads an XMPP stream and yields [`Item`]s; see the module documentation.
pub struct Framer<R> {
    reader: Reader<Bounded<R>>,
    buf: Vec<u8>,
    state: State,
}

/// What the framer knows about the stream and the element being read.
struct State {
    level: Level,
    stream_qname: String,
    /// Namespace declarations of the current stream header: (prefix, uri).
    stream_ns: Vec<(String, String)>,
    line: String,
    /// Open elements of the current stanza (qualified names).
    open: Vec<String>,
    /// Where to insert namespace declarations in `line` (after the root's name).
    root_name_end: usize,
    /// Prefixes used outside any declaration in the stanza, to be declared on its root.
    used_prefixes: Vec<String>,
    /// Namespace declarations in scope inside the stanza: (depth of the
    /// declaring element, prefix). At most [`MAX_NAMESPACES`], as the stream's
    /// are, so that looking prefixes up in them stays cheap.
    declared_prefixes: Vec<(usize, String)>,
}

impl<R: BufRead> Framer<R> {
    /// A framer over `input`, refusing any element larger than `max` bytes.
    pub fn new(input: R, max: usize) -> Self {
        let bounded = Bounded {
            inner: input,
            consumed: 0,
            mark: 0,
            max: max as u64,
            exceeded: false,
        };
        let mut reader = Reader::from_reader(bounded);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Framer {
            reader,
            buf: Vec::new(),
            state: State {
                level: Level::Outside,
                stream_qname: String::new(),
                stream_ns: Vec::new(),
                line: String::new(),
                open: Vec::new(),
                root_name_end: 0,
                used_prefixes: Vec::new(),
                declared_prefixes: Vec::new(),
            },
        }
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader.get_ref().inner
    }

    /// The underlying reader, mutably (for [`super::feed::Feed`], which
    /// appends the bytes that arrive to it).
    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.reader.get_mut().inner
    }

    /// Bytes consumed from the input so far.
    pub fn position(&self) -> u64 {
        self.reader.get_ref().consumed
    }

    /// Whether the framer is between elements (nothing half-read is pending).
    pub fn at_boundary(&self) -> bool {
        self.state.open.is_empty()
    }

    /// The next item, or `None` at the end of the input between elements.
    pub fn next_item(&mut self) -> Result<Option<Item>, FrameError> {
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(event) => event,
                Err(err) => return Err(self.convert_error(err)),
            };
            let item = match event {
                Event::Start(start) => self.state.start(&start, false)?,
                Event::Empty(start) => self.state.start(&start, true)?,
                Event::End(end) => {
                    let name = end.name().as_ref().to_owned();
                    self.state.end(name)?
                }
                Event::Text(text) => {
                    if text.contains("]]>") {
                        return Err(FrameError::Malformed("']]>' in text".into()));
                    }
                    // As it is: line ends are kept (and become references on the line).
                    let text: &str = &text;
                    if self.state.open.is_empty() {
                        if !text.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                            return Err(FrameError::Malformed(format!(
                                "text outside any element at byte {}",
                                self.reader.buffer_position()
                            )));
                        }
                        self.set_mark();
                        None
                    } else {
                        push_text(&mut self.state.line, text)
                            .map_err(|e| FrameError::Malformed(e.to_string()))?;
                        None
                    }
                }
                Event::CData(data) => {
                    if self.state.open.is_empty() {
                        return Err(FrameError::Malformed("CDATA outside any element".into()));
                    }
                    push_text(&mut self.state.line, &data)
                        .map_err(|e| FrameError::Malformed(e.to_string()))?;
                    None
                }
                Event::GeneralRef(reference) => {
                    if self.state.open.is_empty() {
                        return Err(FrameError::Malformed(
                            "entity reference outside any element".into(),
                        ));
                    }
                    self.state.reference(&reference)?;
                    None
                }
                Event::Decl(_) => {
                    if !self.state.open.is_empty() {
                        return Err(FrameError::Forbidden(
                            "an XML declaration inside an element".into(),
                        ));
                    }
                    self.set_mark();
                    None
                }
                Event::Comment(_) => return Err(FrameError::Forbidden("a comment".into())),
                Event::PI(_) => {
                    return Err(FrameError::Forbidden("a processing instruction".into()))
                }
                Event::DocType(_) => {
                    return Err(FrameError::Forbidden(
                        "a document type declaration (DTD)".into(),
                    ))
                }
                Event::Eof => {
                    return if self.state.open.is_empty() {
                        Ok(None)
                    } else {
                        Err(FrameError::Truncated)
                    };
                }
            };
            if let Some(item) = item {
                self.set_mark();
                return Ok(Some(item));
            }
        }
    }

    fn set_mark(&mut self) {
        let bounded = self.reader.get_mut();
        bounded.mark = bounded.consumed;
    }

    fn convert_error(&self, err: quick_xml::Error) -> FrameError {
        let bounded = self.reader.get_ref();
        if bounded.exceeded {
            return FrameError::TooLarge {
                max: bounded.max as usize,
            };
        }
        match err {
            quick_xml::Error::Io(io) => FrameError::Io(io::Error::new(io.kind(), io.to_string())),
            quick_xml::Error::Syntax(syntax) if is_eof_syntax(&syntax) => FrameError::Truncated,
            quick_xml::Error::Encoding(_) => FrameError::Malformed(format!(
                "invalid UTF-8 at byte {}",
                self.reader.error_position()
            )),
            other => {
                FrameError::Malformed(format!("{other} at byte {}", self.reader.error_position()))
            }
        }
    }
}

impl State {
    fn start(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<Option<Item>, FrameError> {
        let qname = start.name().as_ref().to_owned();
        check_qname(&qname)?;
        if self.open.is_empty() && is_stream_element(&qname, start)? {
            let header = StreamHeader {
                attrs: attributes(start)?,
                qname: qname.clone(),
            };
            let mut stream_ns = Vec::new();
            for (key, value) in &header.attrs {
                // What the header declares is copied onto stanza lines: it
                // must be text XML can carry (found by fuzzing: a NUL
                // reference in a namespace name became an empty one).
                if let Some(bad) = value.chars().find(|&c| !super::escape::is_xml_char(c)) {
                    return Err(FrameError::Malformed(format!(
                        "character U+{:04X} in the stream header's attribute {key}",
                        bad as u32
                    )));
                }
                if let Some(prefix) = declared_prefix(key) {
                    check_declaration(prefix, value)?;
                    stream_ns.push((prefix.to_owned(), value.clone()));
                    if stream_ns.len() > MAX_NAMESPACES {
                        return Err(too_many_namespaces());
                    }
                }
            }
            self.stream_ns = stream_ns;
            self.stream_qname = qname;
            self.level = if empty { Level::Outside } else { Level::Stream };
            return Ok(Some(Item::Header(header)));
        }
        let root = self.open.is_empty();
        if self.open.len() >= MAX_DEPTH {
            return Err(too_deep());
        }
        if root {
            self.line.clear();
            self.used_prefixes.clear();
            self.declared_prefixes.clear();
        }
        self.line.push('<');
        self.line.push_str(&qname);
        if root {
            self.root_name_end = self.line.len();
        }
        let depth = self.open.len();
        let attrs = borrowed_attributes(start)?;
        for (key, value) in &attrs {
            if let Some(prefix) = declared_prefix(key) {
                check_declaration(prefix, value)?;
                self.declared_prefixes.push((depth, prefix.to_owned()));
                if self.declared_prefixes.len() > MAX_NAMESPACES {
                    return Err(too_many_namespaces());
                }
            }
        }
        self.note_prefix_use(&qname, &qname)?;
        for (key, value) in attrs {
            if declared_prefix(key).is_none() {
                self.note_prefix_use(key, &qname)?;
            }
            self.line.push(' ');
            self.line.push_str(key);
            self.line.push_str("='");
            push_attr(&mut self.line, &value).map_err(|e| FrameError::Malformed(e.to_string()))?;
            self.line.push('\'');
        }
        if empty {
            self.line.push_str("/>");
            if root {
                // The root's own declarations stay for finish_stanza to see.
                return Ok(Some(self.finish_stanza()));
            }
            self.declared_prefixes.retain(|(d, _)| *d < depth);
        } else {
            self.line.push('>');
            self.open.push(qname);
        }
        Ok(None)
    }

    fn end(&mut self, name: String) -> Result<Option<Item>, FrameError> {
        match self.open.last() {
            None if self.level == Level::Stream && name == self.stream_qname => {
                self.level = Level::Outside;
                Ok(Some(Item::Close))
            }
            // Downstream of xmpp-auth the stream's close arrives without its header.
            None if self.level == Level::Outside && name == "stream:stream" => {
                Ok(Some(Item::Close))
            }
            None => Err(FrameError::Malformed(format!(
                "unexpected end tag </{name}>"
            ))),
            Some(open) if *open != name => Err(FrameError::Malformed(format!(
                "end tag </{name}> does not match <{open}>"
            ))),
            Some(_) => {
                self.open.pop();
                let depth = self.open.len();
                if depth > 0 {
                    // (At the root, its own declarations stay for finish_stanza.)
                    self.declared_prefixes.retain(|(d, _)| *d < depth);
                }
                self.line.push_str("</");
                self.line.push_str(&name);
                self.line.push('>');
                Ok(self.open.is_empty().then(|| self.finish_stanza()))
            }
        }
    }

    fn reference(&mut self, reference: &quick_xml::events::BytesRef<'_>) -> Result<(), FrameError> {
        if reference.is_char_ref() {
            let ch = reference
                .resolve_char_ref()
                .map_err(|e| FrameError::Malformed(e.to_string()))?
                .ok_or_else(|| FrameError::Malformed("bad character reference".into()))?;
            return push_text(&mut self.line, ch.encode_utf8(&mut [0; 4]))
                .map_err(|e| FrameError::Malformed(e.to_string()));
        }
        let name: &str = reference;
        match name {
            "amp" | "lt" | "gt" | "quot" | "apos" => {
                self.line.push('&');
                self.line.push_str(name);
                self.line.push(';');
                Ok(())
            }
            other => Err(FrameError::Forbidden(format!(
                "the undeclared entity &{other};"
            ))),
        }
    }

    /// Check that the prefix of `qname` (an element's or attribute's name in
    /// the element `element`) is bound: in the stanza, by the stream header
    /// (then it is declared on the line), or `xml`. The `stream` prefix is
    /// bound to the streams namespace when nothing declares it, as on the
    /// stream element itself (stanza lines carry no stream header).
    fn note_prefix_use(&mut self, qname: &str, element: &str) -> Result<(), FrameError> {
        let Some((prefix, _)) = qname.split_once(':') else {
            return Ok(());
        };
        if prefix == "xml"
            || self.declared_prefixes.iter().any(|(_, p)| p == prefix)
            || self.used_prefixes.iter().any(|p| p == prefix)
        {
            return Ok(());
        }
        if self.stream_ns.iter().any(|(p, _)| p == prefix) || prefix == "stream" {
            self.used_prefixes.push(prefix.to_owned());
            return Ok(());
        }
        Err(FrameError::Malformed(format!(
            "unbound namespace prefix '{prefix}' in <{element}>"
        )))
    }

    /// Complete the current stanza line: declare the stream's namespaces it relies on.
    fn finish_stanza(&mut self) -> Item {
        let mut declarations = String::new();
        // Declarations left in scope are the root's own.
        let default_declared = self.declared_prefixes.iter().any(|(_, p)| p.is_empty());
        if !default_declared {
            if let Some((_, uri)) = self.stream_ns.iter().find(|(p, _)| p.is_empty()) {
                if uri != super::NS_CLIENT {
                    push_declaration(&mut declarations, "", uri);
                }
            }
        }
        for prefix in &self.used_prefixes {
            match self.stream_ns.iter().find(|(p, _)| p == prefix) {
                Some((_, uri)) => push_declaration(&mut declarations, prefix, uri),
                None => push_declaration(&mut declarations, prefix, super::NS_STREAMS),
            }
        }
        self.declared_prefixes.clear();
        let mut line = std::mem::take(&mut self.line);
        if !declarations.is_empty() {
            line.insert_str(self.root_name_end, &declarations);
        }
        Item::Stanza(line)
    }
}

fn push_declaration(out: &mut String, prefix: &str, uri: &str) {
    out.push_str(" xmlns");
    if !prefix.is_empty() {
        out.push(':');
        out.push_str(prefix);
    }
    out.push_str("='");
    // A namespace URI from a header that parsed is always escapable.
    let _ = push_attr(out, uri);
    out.push('\'');
}

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// Past [`MAX_DEPTH`] (here and in [`super::Element::parse`]).
pub(crate) fn too_deep() -> FrameError {
    FrameError::Malformed(format!("elements nested more than {MAX_DEPTH} deep"))
}

fn too_many_namespaces() -> FrameError {
    FrameError::Malformed(format!(
        "more than {MAX_NAMESPACES} namespace declarations in scope"
    ))
}

/// Namespaces in XML 1.0 §3: no empty namespace for a prefix, `xmlns` never
/// declared, `xml` and only `xml` bound to the XML namespace.
fn check_declaration(prefix: &str, uri: &str) -> Result<(), FrameError> {
    let bad = if prefix == "xmlns" || uri == NS_XMLNS {
        Some("the xmlns prefix or namespace cannot be declared")
    } else if (prefix == "xml") != (uri == NS_XML) {
        Some("only the xml prefix may be bound to the XML namespace, and only to it")
    } else if uri.is_empty() && !prefix.is_empty() {
        Some("a prefix cannot be bound to the empty namespace name")
    } else {
        None
    };
    match bad {
        Some(why) => {
            let key = if prefix.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{prefix}")
            };
            Err(FrameError::Malformed(format!("{key}='{uri}': {why}")))
        }
        None => Ok(()),
    }
}

/// The prefix an attribute declares (`xmlns` → "", `xmlns:p` → "p"), if it is a declaration.
fn declared_prefix(key: &str) -> Option<&str> {
    if key == "xmlns" {
        Some("")
    } else {
        key.strip_prefix("xmlns:")
    }
}

fn is_eof_syntax(err: &quick_xml::errors::SyntaxError) -> bool {
    use quick_xml::errors::SyntaxError::*;
    matches!(
        err,
        UnclosedTag
            | UnclosedComment
            | UnclosedCData
            | UnclosedDoctype
            | UnclosedPI
            | UnclosedXmlDecl
            | UnclosedSingleQuotedAttributeValue
            | UnclosedDoubleQuotedAttributeValue
    )
}

/// The attributes of a start tag, unescaped, duplicates refused.
fn attributes(start: &BytesStart<'_>) -> Result<Vec<(String, String)>, FrameError> {
    Ok(borrowed_attributes(start)?
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.into_owned()))
        .collect())
}

/// The attributes of `start`, checked and unescaped, borrowing from it where
/// nothing had to change (the common case: no entity, no line break).
fn borrowed_attributes<'a>(
    start: &'a BytesStart<'_>,
) -> Result<Vec<(&'a str, Cow<'a, str>)>, FrameError> {
    check_attribute_separation(start)?;
    let mut out = Vec::new();
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|e| FrameError::Malformed(e.to_string()))?;
        let key = attr.key.into_inner();
        check_qname(key)?;
        // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space becomes a space.
        let raw: Cow<'a, str> = match attr.value {
            Cow::Borrowed(text) if !text.contains(['\t', '\n', '\r']) => Cow::Borrowed(text),
            value => Cow::Owned(value.replace(['\t', '\n', '\r'], " ")),
        };
        if raw.contains('<') {
            return Err(FrameError::Malformed(format!(
                "a raw '<' in the value of attribute {key}"
            )));
        }
        let unescape_error = |e| match e {
            quick_xml::escape::EscapeError::UnrecognizedEntity(_, name) => {
                FrameError::Forbidden(format!("the undeclared entity &{name}; in attribute {key}"))
            }
            other => FrameError::Malformed(format!("attribute {key}: {other}")),
        };
        let value = match raw {
            Cow::Borrowed(text) => quick_xml::escape::unescape(text).map_err(unescape_error)?,
            Cow::Owned(text) => Cow::Owned(
                quick_xml::escape::unescape(&text)
                    .map_err(unescape_error)?
                    .into_owned(),
            ),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// XML 1.0 `NameStartChar` without the colon (Namespaces in XML: `NCName`).
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 `NameChar` without the colon.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A name is a `QName` (Namespaces in XML 1.0 §4): `NCName` or `NCName:NCName`.
/// Check that `name` is a QName (Namespaces in XML §4): `NCName` or `prefix:NCName`.
pub(crate) fn check_qname(name: &str) -> Result<(), FrameError> {
    let ncname = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
    };
    let valid = match name.split_once(':') {
        Some((prefix, local)) => ncname(prefix) && ncname(local),
        None => ncname(name),
    };
    if valid {
        Ok(())
    } else {
        Err(FrameError::Malformed(format!(
            "'{name}' is not a valid XML name"
        )))
    }
}

/// XML 1.0 §3.1: attributes are separated by white space (`a='1'b='2'` is not XML).
fn check_attribute_separation(start: &BytesStart<'_>) -> Result<(), FrameError> {
    let mut quote = None;
    let mut just_closed = false;
    for b in start.attributes_raw().bytes() {
        if just_closed && !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'/') {
            return Err(FrameError::Malformed(format!(
                "no white space between the attributes of <{}>",
                start.name().as_ref()
            )));
        }
        just_closed = false;
        match quote {
            Some(q) if b == q => {
                quote = None;
                just_closed = true;
            }
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None => {}
        }
    }
    Ok(())
}

/// Whether a start tag at stream level is the stream element itself.
pub(crate) fn is_stream_element(qname: &str, start: &BytesStart<'_>) -> Result<bool, FrameError> {
    let Some((prefix, local)) = qname.split_once(':') else {
        return Ok(false);
    };
    if local != "stream" {
        return Ok(false);
    }
    let declaration = format!("xmlns:{prefix}");
    let declared = attributes(start)?
        .into_iter()
        .find(|(key, _)| *key == declaration)
        .map(|(_, uri)| uri);
    Ok(match declared {
        Some(uri) => uri == super::NS_STREAMS,
        None => prefix == "stream",
    })
}

#[cfg(test)]
mod tests;

//! A small element tree for inspecting one stanza line.
//!
//! Stanza lines are standalone XML, so each parses on its own. Namespaces are
//! resolved; an element with no namespace in scope is in the implied
//! `jabber:client` namespace, as on a stanza line.

use super::escape::{push_attr, push_text};
use super::framer::FrameError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// An element: its local name, namespace, attributes and children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The local name (`message`, `mechanisms`).
    pub name: String,
    /// The namespace URI.
    pub ns: String,
    /// Attributes by qualified name, unescaped, without namespace declarations.
    pub attrs: Vec<(String, String)>,
    /// Child elements and text, in document order.
    pub children: Vec<Node>,
}

/// A child of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data, unescaped.
    Text(String),
}

impl Element {
    /// An element with a name and namespace and nothing else.
    pub fn new(name: &str, ns: &str) -> Self {
        Element {
            name: name.to_owned(),
            ns: ns.to_owned(),
            ..Element::default()
        }
    }

    /// Parse one stanza line (or any single XML element).
    pub fn parse(line: &str) -> Result<Element, FrameError> {
        let mut reader = NsReader::from_str(line);
        reader.config_mut().trim_text(false);
        // Every line the framer makes fits (see MAX_NAMESPACES).
        reader
            .resolver_mut()
            .set_max_namespace_bindings(2 * super::MAX_NAMESPACES + 1);
        let mut stack: Vec<Element> = Vec::new();
        loop {
            let (ns, event) = next_event(&mut reader)?;
            match event {
                Event::Start(_) | Event::Empty(_) if stack.len() >= super::MAX_DEPTH => {
                    return Err(super::framer::too_deep())
                }
                Event::Start(start) => stack.push(element_from(&start, ns)?),
                Event::Empty(start) => {
                    let element = element_from(&start, ns)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(element)),
                        None => return Ok(element),
                    }
                }
                Event::End(_) => {
                    let element = stack
                        .pop()
                        .ok_or_else(|| FrameError::Malformed("unexpected end tag".into()))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(element)),
                        None => return Ok(element),
                    }
                }
                Event::Text(text) => push_child_text(&mut stack, &text),
                Event::CData(data) => push_child_text(&mut stack, &data),
                Event::GeneralRef(reference) => {
                    let text = resolve_reference(&reference)?;
                    push_child_text(&mut stack, text.encode_utf8(&mut [0; 4]));
                }
                Event::Eof => return Err(FrameError::Truncated),
                Event::Decl(_) => {}
                Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {
                    return Err(FrameError::Forbidden("a comment, PI or DTD".into()))
                }
            }
        }
    }

    /// The outermost element of one stanza line, without its children: its
    /// name, namespace and attributes, read from its start tag alone (for
    /// a look at a stanza's addressing without parsing all of it).
    pub fn parse_start(line: &str) -> Result<Element, FrameError> {
        let mut reader = NsReader::from_str(line);
        loop {
            let (ns, event) = next_event(&mut reader)?;
            match event {
                Event::Start(start) | Event::Empty(start) => return element_from(&start, ns),
                Event::Eof => return Err(FrameError::Truncated),
                _ => {}
            }
        }
    }

    /// Whether this element has the given local name and namespace.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The value of an attribute by qualified name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Set (or replace) an attribute; builder style.
    pub fn with_attr(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.attrs.iter_mut().find(|(key, _)| key == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name.to_owned(), value)),
        }
        self
    }

    /// Append a child element; builder style.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Append text; builder style.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// The child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(element) => Some(element),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this name and namespace.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.elements().find(|child| child.is(name, ns))
    }

    /// The first child element in this namespace, whatever its name
    /// (stanza and stream error conditions are found this way).
    pub fn child_in(&self, ns: &str) -> Option<&Element> {
        self.elements().find(|child| child.ns == ns)
    }

    /// The text directly inside this element, concatenated.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|node| match node {
                Node::Text(text) => Some(text.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    /// Serialise as a stanza line. The namespace is declared where it differs
    /// from the parent's (`parent_ns`; pass [`super::NS_CLIENT`] for a stanza).
    /// Fails only on a character XML cannot carry.
    pub fn to_line(&self, parent_ns: &str) -> Result<String, super::escape::BadChar> {
        let mut out = String::new();
        self.write(&mut out, parent_ns)?;
        Ok(out)
    }

    fn write(&self, out: &mut String, parent_ns: &str) -> Result<(), super::escape::BadChar> {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            out.push_str(" xmlns='");
            push_attr(out, &self.ns)?;
            out.push('\'');
        }
        for (key, value) in &self.attrs {
            out.push(' ');
            out.push_str(key);
            out.push_str("='");
            push_attr(out, value)?;
            out.push('\'');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return Ok(());
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(element) => element.write(out, &self.ns)?,
                Node::Text(text) => push_text(out, text)?,
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
        Ok(())
    }
}

fn push_child_text(stack: &mut [Element], text: &str) {
    if let Some(parent) = stack.last_mut() {
        match parent.children.last_mut() {
            Some(Node::Text(existing)) => existing.push_str(text),
            _ => parent.children.push(Node::Text(text.to_owned())),
        }
    }
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, FrameError> {
    if reference.is_char_ref() {
        return reference
            .resolve_char_ref()
            .map_err(|e| FrameError::Malformed(e.to_string()))?
            .ok_or_else(|| FrameError::Malformed("bad character reference".into()));
    }
    match &**reference {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(FrameError::Forbidden(format!(
            "the undeclared entity &{other};"
        ))),
    }
}

/// The next event of `reader`, with the namespace name of its element.
fn next_event<'a>(reader: &mut NsReader<&'a [u8]>) -> Result<(String, Event<'a>), FrameError> {
    let (resolved, event) = reader
        .read_resolved_event()
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok((namespace(resolved)?, event))
}

/// The namespace name an element's prefix resolves to: the attribute's
/// value, unescaped (`xmlns='a&amp;b'` is `a&b`), as `to_line` escapes it
/// again; `jabber:client` where none is declared.
fn namespace(resolved: ResolveResult) -> Result<String, FrameError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(quick_xml::escape::unescape(ns.as_ref())
            .map_err(|e| FrameError::Malformed(format!("namespace name: {e}")))?
            .into_owned()),
        ResolveResult::Unbound => Ok(super::NS_CLIENT.to_owned()),
        ResolveResult::Unknown(prefix) => Err(FrameError::Malformed(format!(
            "undeclared namespace prefix {prefix}"
        ))),
    }
}

fn element_from(start: &BytesStart<'_>, ns: String) -> Result<Element, FrameError> {
    // A name with two colons would lose its middle part (found by fuzzing).
    super::framer::check_qname(start.name().as_ref())?;
    let name = start.local_name().as_ref().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|e| FrameError::Malformed(e.to_string()))?;
        let key = attr.key.as_ref().to_owned();
        super::framer::check_qname(&key)?;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        // Unescaped only, as before quick-xml 0.41 (no white-space normalisation:
        // stanza lines carry none raw).
        let value = quick_xml::escape::unescape(&attr.value)
            .map_err(|e| FrameError::Malformed(format!("attribute {key}: {e}")))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        ns,
        attrs,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_start_reads_the_start_tag_alone() {
        let line =
            "<message xmlns='jabber:client' from='a&amp;b@x/r' id='m1'><body>hi</body></message>";
        let start = Element::parse_start(line).unwrap();
        assert!(start.is("message", crate::xml::NS_CLIENT));
        assert_eq!(start.attr("from"), Some("a&b@x/r"));
        assert_eq!(start.attr("id"), Some("m1"));
        assert!(start.child("body", crate::xml::NS_CLIENT).is_none());
        // The rest of the line is not read: its faults do not matter here.
        assert!(Element::parse_start("<message id='m2'><body>cut").is_ok());
        assert!(Element::parse_start("").is_err());
    }

    #[test]
    fn parses_namespaces_attributes_and_text() {
        let features = Element::parse(
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms \
             xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>\
             </mechanisms><sm xmlns='urn:xmpp:sm:3'/></stream:features>",
        )
        .unwrap();
        assert!(features.is("features", super::super::NS_STREAMS));
        let mechs = features
            .child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
            .unwrap();
        let names: Vec<String> = mechs.elements().map(Element::text).collect();
        assert_eq!(names, ["SCRAM-SHA-1", "PLAIN"]);
        assert!(features.child("sm", "urn:xmpp:sm:3").is_some());

        let message =
            Element::parse("<message to='a@b' type='chat'><body>x &amp; y&#10;z</body></message>")
                .unwrap();
        assert!(message.is("message", "jabber:client"));
        assert_eq!(message.attr("type"), Some("chat"));
        assert_eq!(
            message.child("body", "jabber:client").unwrap().text(),
            "x & y\nz"
        );
    }

    #[test]
    fn builds_and_serialises() {
        let iq = Element::new("iq", "jabber:client")
            .with_attr("type", "set")
            .with_attr("id", "b1")
            .with_child(
                Element::new("bind", "urn:ietf:params:xml:ns:xmpp-bind").with_child(
                    Element::new("resource", "urn:ietf:params:xml:ns:xmpp-bind")
                        .with_text("a'b<c>\n"),
                ),
            );
        let line = iq.to_line("jabber:client").unwrap();
        assert_eq!(
            line,
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>a'b&lt;c&gt;&#10;</resource></bind></iq>"
        );
        assert_eq!(Element::parse(&line).unwrap(), iq);
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(Element::parse(&nested(super::super::MAX_DEPTH)).is_ok());
        let err = Element::parse(&nested(super::super::MAX_DEPTH + 1)).unwrap_err();
        assert!(
            err.to_string().contains("nested more than 256 deep"),
            "{err}"
        );
        // Far deeper than any stack would take, refused all the same.
        assert!(Element::parse(&nested(200_000)).is_err());
    }

    #[test]
    fn refuses_bad_input() {
        assert!(Element::parse("<a><b></a>").is_err());
        assert!(Element::parse("<p:a/>").is_err());
        assert!(Element::parse("<a>&bomb;</a>").is_err());
        assert!(Element::parse("<a>").is_err());
    }

    #[test]
    fn namespace_names_are_unescaped_and_survive_a_round_trip() {
        // Found by fuzz/fuzz_targets/framer.rs.
        let element = Element::parse("<m xmlns='urn:a&amp;b&#x3c;c&gt;'/>").unwrap();
        assert_eq!(element.ns, "urn:a&b<c>");
        let line = element.to_line(crate::xml::NS_CLIENT).unwrap();
        assert_eq!(Element::parse(&line).unwrap(), element, "{line}");
        let text = "<message xmlnw='' xmlns='jabber:client><query xmlns=' jabbs='urn:x' a=\"'\"/>";
        let element = Element::parse(text).unwrap();
        let line = element.to_line(crate::xml::NS_CLIENT).unwrap();
        assert_eq!(Element::parse(&line).unwrap(), element, "{line}");
    }

    /// Found by fuzzing: `<a:b:c/>` parsed as `b:c` in a's namespace, and
    /// its line then named an undeclared prefix.
    #[test]
    fn names_with_two_colons_are_refused() {
        assert!(Element::parse("<stream:strexs:stam xmlns:stream='urn:x'/>").is_err());
        assert!(Element::parse("<a x:y:z='1'/>").is_err());
        assert!(Element::parse("<a xmlns:x='urn:x' x:y='1'/>").is_ok());
    }
}

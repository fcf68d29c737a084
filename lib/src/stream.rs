//! XMPP streams: headers, namespaces, features and stream errors (RFC 6120 §4).
//!
//! [`Stream`] pairs a [`Framer`] on the read side with a writer, and offers
//! the few operations that stream negotiation needs: open a stream, read the
//! next element (turning stream errors into [`Error`]s), send an element.

use crate::exit::{Error, Result, Status};
use crate::xml::{escape_attr, Element, FrameError, Framer, Item, StreamHeader, NS_STREAMS};
use std::io::{BufRead, Write};

/// `urn:ietf:params:xml:ns:xmpp-tls`: STARTTLS.
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// `urn:ietf:params:xml:ns:xmpp-sasl`: SASL.
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// `urn:ietf:params:xml:ns:xmpp-bind`: resource binding.
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// `urn:ietf:params:xml:ns:xmpp-session`: legacy session establishment.
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// `urn:ietf:params:xml:ns:xmpp-streams`: stream error conditions.
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// `urn:ietf:params:xml:ns:xmpp-stanzas`: stanza error conditions.
pub const NS_STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// `urn:xmpp:sm:3`: stream management (XEP-0198).
pub const NS_SM: &str = "urn:xmpp:sm:3";
/// `urn:xmpp:ping`: XMPP ping (XEP-0199).
pub const NS_PING: &str = "urn:xmpp:ping";
/// `jabber:iq:register`: in-band registration (XEP-0077).
pub const NS_REGISTER: &str = "jabber:iq:register";
/// `http://jabber.org/features/iq-register`: the registration stream feature.
pub const NS_REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// `http://jabber.org/protocol/muc`: joining a group chat (XEP-0045).
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// `http://jabber.org/protocol/muc#user`: what a room says about its occupants (XEP-0045).
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// `http://jabber.org/protocol/muc#owner`: room configuration by its owner (XEP-0045).
pub const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// `jabber:x:data`: data forms (XEP-0004).
pub const NS_DATA: &str = "jabber:x:data";

/// Parse a line from the server during negotiation; a stream error is an [`Error`].
pub fn parse_server_element(line: &str) -> Result<Element> {
    let element = Element::parse(line).map_err(frame_error)?;
    if element.is("error", NS_STREAMS) {
        return Err(Error::new(
            stream_error_status(&element),
            describe_stream_error(&element),
        ));
    }
    Ok(element)
}

/// An error saying what arrived from the server instead of what was expected.
pub fn unexpected(got: &Element, wanted: &str) -> Error {
    Error::protocol(format!(
        "expected {wanted} from the server, got <{}/> ({})",
        got.name, got.ns
    ))
}

/// The opening of a client stream to `domain` (with the XML declaration).
pub fn client_header(domain: &str, from: Option<&str>) -> String {
    let domain = escape_attr(domain).unwrap_or_default();
    let from = from
        .and_then(|jid| escape_attr(jid).ok())
        .map(|jid| format!(" from='{jid}'"))
        .unwrap_or_default();
    format!(
        "<?xml version='1.0'?><stream:stream to='{domain}'{from} version='1.0' xml:lang='en' \
         xmlns='jabber:client' xmlns:stream='{NS_STREAMS}'>"
    )
}

/// The closing tag of a stream.
pub const CLOSE: &str = "</stream:stream>";

/// Describe a stream error element (`<stream:error>`) as one line:
/// the condition name, the text if any, and for `see-other-host` the host.
pub fn describe_stream_error(error: &Element) -> String {
    let condition = error
        .child_in(NS_STREAM_ERRORS)
        .filter(|c| c.name != "text")
        .map(|c| (c.name.clone(), c.text()))
        .unwrap_or_else(|| ("undefined-condition".into(), String::new()));
    let text = error
        .child("text", NS_STREAM_ERRORS)
        .map(|t| format!(" ({})", t.text().trim()))
        .unwrap_or_default();
    let mut line = format!("stream error: {}{}", condition.0, text);
    if condition.0 == "see-other-host" && !condition.1.trim().is_empty() {
        line.push_str(&format!(": the server sends us to {}", condition.1.trim()));
    }
    if condition.0 == "conflict" {
        line.push_str(
            ": another session took this resource (sessions that may run at the same \
             time need no fixed resource: drop --resource, or resource = in the config)",
        );
    }
    line
}

/// The exit status a stream error condition maps to.
pub fn stream_error_status(error: &Element) -> Status {
    match error.child_in(NS_STREAM_ERRORS).map(|c| c.name.as_str()) {
        Some("not-authorized" | "policy-violation" | "host-unknown" | "improper-addressing") => {
            Status::NoPerm
        }
        Some(
            "system-shutdown"
            | "conflict"
            | "connection-timeout"
            | "reset"
            | "resource-constraint"
            | "remote-connection-failed"
            | "see-other-host",
        ) => Status::TempFail,
        _ => Status::Protocol,
    }
}

/// The condition of a stanza's `<error/>` child (`not-authorized`, `conflict`, ...);
/// `undefined-condition` when the error names none, `None` without an error.
pub fn stanza_error_condition(stanza: &Element) -> Option<&str> {
    let error = stanza.elements().find(|e| e.name == "error")?;
    Some(
        error
            .elements()
            .find(|c| c.ns == NS_STANZA_ERRORS && c.name != "text")
            .map_or("undefined-condition", |c| c.name.as_str()),
    )
}

/// Describe a stanza `<error/>` child: the condition and text.
pub fn describe_stanza_error(stanza: &Element) -> String {
    let (Some(error), Some(condition)) = (
        stanza.elements().find(|e| e.name == "error"),
        stanza_error_condition(stanza),
    ) else {
        return "an error without details".into();
    };
    match error.child("text", NS_STANZA_ERRORS) {
        Some(text) => format!("{condition} ({})", text.text().trim()),
        None => condition.to_owned(),
    }
}

/// Turn a framing error on a connection into a tool error.
pub fn frame_error(err: FrameError) -> Error {
    match err {
        FrameError::Io(io) => Error::from(io).context("connection"),
        FrameError::Truncated => {
            Error::temp("the server closed the connection in the middle of an element")
        }
        other => Error::protocol(format!("the server sent {other}")),
    }
}

/// Stream negotiation on a connection: a framer on the read side, a writer on the other.
pub struct Stream<R, W> {
    framer: Framer<R>,
    writer: W,
    /// The header of the stream the server opened last.
    pub header: Option<StreamHeader>,
}

impl<R: BufRead, W: Write> Stream<R, W> {
    /// A stream reading from `reader` and writing to `writer`.
    pub fn new(reader: R, writer: W, max_stanza: usize) -> Self {
        Stream {
            framer: Framer::new(reader, max_stanza),
            writer,
            header: None,
        }
    }

    /// Send raw text (already valid XML) and flush.
    pub fn send(&mut self, xml: &str) -> Result<()> {
        self.writer
            .write_all(xml.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| Error::from(e).context("sending to the server"))
    }

    /// Send an element (in the `jabber:client` context) and flush.
    pub fn send_element(&mut self, element: &Element) -> Result<()> {
        let line = element
            .to_line(crate::xml::NS_CLIENT)
            .map_err(|e| Error::data(e.to_string()))?;
        self.send(&line)
    }

    /// Open (or restart) the stream and read the server's header and features.
    pub fn open(&mut self, domain: &str, from: Option<&str>) -> Result<Element> {
        self.send(&client_header(domain, from))?;
        loop {
            match self.framer.next_item().map_err(frame_error)? {
                Some(Item::Header(header)) => {
                    if header.version().is_none_or(|v| !v.starts_with("1.")) {
                        return Err(Error::protocol(
                            "the server does not speak XMPP 1.0 (no version='1.0' on its stream header)",
                        ));
                    }
                    self.header = Some(header);
                }
                Some(Item::Stanza(line)) if self.header.is_some() => {
                    let element = self.parse(&line)?;
                    return if element.is("features", NS_STREAMS) {
                        Ok(element)
                    } else {
                        Err(self.unexpected(&element, "stream features"))
                    };
                }
                Some(Item::Stanza(_)) => {
                    return Err(Error::protocol(
                        "the server sent an element before its stream header",
                    ))
                }
                Some(Item::Close) | None => {
                    return Err(Error::temp(
                        "the server closed the stream during negotiation",
                    ))
                }
            }
        }
    }

    /// The next top-level element; a stream error or the end of the stream is an [`Error`].
    pub fn next_element(&mut self) -> Result<Element> {
        match self.framer.next_item().map_err(frame_error)? {
            Some(Item::Stanza(line)) => self.parse(&line),
            Some(Item::Header(_)) => Err(Error::protocol(
                "the server restarted the stream unexpectedly",
            )),
            Some(Item::Close) | None => Err(Error::temp("the server closed the stream")),
        }
    }

    fn parse(&self, line: &str) -> Result<Element> {
        parse_server_element(line)
    }

    /// An error saying what arrived instead of what was expected.
    pub fn unexpected(&self, got: &Element, wanted: &str) -> Error {
        unexpected(got, wanted)
    }

    /// Split into the framer and the writer, e.g. to relay stanzas afterwards.
    pub fn into_parts(self) -> (Framer<R>, W) {
        (self.framer, self.writer)
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut W {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_reads_features_and_reports_stream_errors() {
        let server = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='{NS_STREAMS}' version='1.0' id='x'>\
             <stream:features><starttls xmlns='{NS_TLS}'><required/></starttls></stream:features>\
             <stream:error><see-other-host xmlns='{NS_STREAM_ERRORS}'>other.example:5223</see-other-host>\
             <text xmlns='{NS_STREAM_ERRORS}'>moved</text></stream:error>"
        );
        let mut sent = Vec::new();
        let mut stream = Stream::new(server.as_bytes(), &mut sent, 65536);
        let features = stream.open("example.org", None).unwrap();
        assert!(features.child("starttls", NS_TLS).is_some());
        let err = stream.next_element().unwrap_err();
        assert_eq!(err.status(), Status::TempFail);
        assert_eq!(
            err.message(),
            "stream error: see-other-host (moved): the server sends us to other.example:5223"
        );
        drop(stream);
        let sent = String::from_utf8(sent).unwrap();
        assert!(
            sent.starts_with("<?xml version='1.0'?><stream:stream to='example.org' version='1.0'")
        );
    }

    #[test]
    fn refuses_pre_xmpp_1_servers() {
        let server = format!(
            "<stream:stream xmlns:stream='{NS_STREAMS}' xmlns='jabber:client'><stream:features/>"
        );
        let mut stream = Stream::new(server.as_bytes(), Vec::new(), 65536);
        let err = stream.open("example.org", None).unwrap_err();
        assert!(err.message().contains("version='1.0'"), "{err}");
    }
}

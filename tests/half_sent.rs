//! A connection that dies in the middle of an element must leave nothing of
//! it in the server, or Prosody 0.12 refuses the resumed session.
//!
//! Prosody 0.12 resumes an XEP-0198 session with the dead connection's XML
//! parser, so the first stanza of the resumed stream would complete whatever
//! part of an element that connection had delivered, into a
//! `<not-well-formed/>` stream error that destroys the session (see
//! `xmpp_pipes::xml::boundary`). xmpp-connect therefore ends every TLS record
//! on an element boundary. Here, in bridge mode with raw XML against
//! Prosody 0.12 and 13: `<r/>` and the start of a message go to xmpp-connect in
//! one write (so the relay reads them together); once the server's `<a/>`
//! shows that `<r/>` went out, the connection is killed; a second connection
//! resumes the session and asks again, and must be answered, not refused.
//! And the other side of the rule: an element larger than the relay's buffer,
//! with no boundary for a long while, still goes out whole.

use harness::{Account, Prosody, RawStream, Transport};

const SM: &str = "urn:xmpp:sm:3";

/// A raw XML stream through `xmpp-connect` in bridge mode (STARTTLS),
/// logged in with SASL PLAIN, the restarted stream's features read.
fn log_in(prosody: &Prosody, account: &Account) -> RawStream {
    let mut raw = RawStream::bridge(prosody, Transport::StartTls);
    let header = RawStream::header(prosody.domain(), None);
    raw.open(&header);
    raw.plain_login(account, &header);
    raw
}

/// The value of attribute `name` in the first `element` tag of `xml`.
fn attr(xml: &str, element: &str, name: &str) -> String {
    let tag = xml
        .split(&format!("<{element} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no <{element}> in {xml}"));
    let tag = &tag[..tag.find('>').unwrap()];
    let value = tag
        .split(&format!(" {name}="))
        .nth(1)
        .or_else(|| tag.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in <{element} {tag}>"));
    let quote = &value[..1];
    value[1..].split(quote).next().unwrap().to_owned()
}

harness::on_every_server! {
    prosody:

    fn a_connection_killed_mid_element_leaves_nothing_of_it_and_the_session_resumes(prosody) {
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let mut first = log_in(prosody, &alice);
        first.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        first.until("</iq>");
        first.send(&format!("<enable xmlns='{SM}' resume='true'/>"));
        let enabled = first.until("/>");
        let id = attr(&enabled, "enabled", "id");
        // One write: the relay reads both parts at once; only `<r/>` may go.
        first.send(&format!(
            "<r xmlns='{SM}'/><message to='{}' type='chat'><body>half",
            bob.jid
        ));
        first.until("<a ");
        drop(first);

        let mut second = log_in(prosody, &alice);
        second.send(&format!("<resume xmlns='{SM}' previd='{id}' h='0'/>"));
        let resumed = second.until("/>");
        assert!(resumed.contains("<resumed"), "not resumed: {resumed}");
        // A whole message, then a request: the answer counts it (h 1), where
        // Prosody 0.12 would have closed the stream with an `<a h='0'/>` and
        // `<not-well-formed/>`.
        second.send(&format!(
            "<message to='{}' type='chat'><body>whole</body></message><r xmlns='{SM}'/>",
            bob.jid
        ));
        let before = second.until("<a ");
        let rest = second.until("/>");
        let answer = format!("{before}{rest}");
        assert_eq!(attr(&answer, "a", "h"), "1", "{answer}");
    }

    fn an_element_larger_than_the_relay_buffer_goes_out_whole(prosody) {
        // 150 KB: past the relay's 64 KiB, within Prosody's stanza limit. The
        // relay must send it although no boundary comes for a long while.
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let mut raw = log_in(prosody, &alice);
        raw.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
        raw.until("</iq>");
        raw.send(&format!("<enable xmlns='{SM}'/>"));
        raw.until("<enabled");
        let body = "x".repeat(150_000);
        raw.send(&format!(
            "<message to='{}' type='chat'><body>{body}</body></message><r xmlns='{SM}'/>",
            bob.jid
        ));
        let before = raw.until("<a ");
        let answer = format!("{before}{}", raw.until("/>"));
        assert_eq!(attr(&answer, "a", "h"), "1", "{answer}");
    }
}

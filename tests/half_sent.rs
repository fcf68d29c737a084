//! A connection that dies in the middle of an element must leave nothing of
//! it in the server, or Prosody 0.12 refuses the resumed session.
//!
//! Prosody 0.12 resumes an XEP-0198 session with the dead connection's XML
//! parser, so the first stanza of the resumed stream would complete whatever
//! part of an element that connection had delivered, into a
//! `<not-well-formed/>` stream error that destroys the session (see
//! `xmpp_pipes::xml::boundary`). xmpp-connect therefore ends every TLS record
//! on an element boundary. Here, in bridge mode with raw XML against the
//! harness Prosody: `<r/>` and the start of a message go to xmpp-connect in
//! one write (so the relay reads them together); once the server's `<a/>`
//! shows that `<r/>` went out, the connection is killed; a second connection
//! resumes the session and asks again, and must be answered, not refused.
//! And the other side of the rule: an element larger than the relay's buffer,
//! with no boundary for a long while, still goes out whole.

use base64::Engine;
use harness::Prosody;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);
const SM: &str = "urn:xmpp:sm:3";

/// A raw XML stream through `xmpp-connect` in bridge mode.
struct Raw {
    child: Child,
    input: ChildStdin,
    chunks: Receiver<String>,
    /// What the server sent and was not yet matched.
    seen: String,
}

impl Raw {
    fn open(prosody: &Prosody) -> Raw {
        let mut command = harness::connect(prosody, harness::Transport::StartTls);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("xmpp-connect");
        let mut output = child.stdout.take().unwrap();
        let (send, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n @ 1..) = output.read(&mut buf) {
                let chunk = String::from_utf8_lossy(&buf[..n]).into_owned();
                if send.send(chunk).is_err() {
                    return;
                }
            }
        });
        let input = child.stdin.take().unwrap();
        Raw {
            child,
            input,
            chunks,
            seen: String::new(),
        }
    }

    fn send(&mut self, xml: &str) {
        self.input.write_all(xml.as_bytes()).expect("write");
    }

    /// Wait until the server has sent `what`; what came up to its end is
    /// returned and forgotten. A stream error instead fails the test.
    #[track_caller]
    fn until(&mut self, what: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(at) = self.seen.find(what) {
                let rest = self.seen.split_off(at + what.len());
                return std::mem::replace(&mut self.seen, rest);
            }
            assert!(
                !self.seen.contains("<stream:error"),
                "the server ended the stream instead of sending {what:?}: {}",
                self.seen
            );
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!("the server did not send {what:?}; it sent {:?}", self.seen),
            }
        }
    }

    /// Stream header, SASL PLAIN, the restarted stream's features.
    fn log_in(prosody: &Prosody, user: &str, password: &str) -> Raw {
        let mut raw = Raw::open(prosody);
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{}' version='1.0'>",
            prosody.domain()
        );
        raw.send(&header);
        raw.until("</stream:features>");
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        raw.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"
        ));
        raw.until("<success");
        raw.send(&header);
        raw.until("</stream:features>");
        raw
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

#[test]
fn a_connection_killed_mid_element_leaves_nothing_of_it_and_the_session_resumes() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut first = Raw::log_in(prosody, &alice.user, &alice.password);
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

    let mut second = Raw::log_in(prosody, &alice.user, &alice.password);
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

#[test]
fn an_element_larger_than_the_relay_buffer_goes_out_whole() {
    // 150 KB: past the relay's 64 KiB, within Prosody's stanza limit. The
    // relay must send it although no boundary comes for a long while.
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut raw = Raw::log_in(prosody, &alice.user, &alice.password);
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

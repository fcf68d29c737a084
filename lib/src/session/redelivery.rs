//! Messages that come twice because a session was given up: told apart, sans I/O.
//!
//! When a resumed session has to be given up (the server stopped reading
//! it, see [`super::state`]), the server treats what it had sent us there
//! and never saw acknowledged as undelivered: Prosody, for one, puts those
//! messages into offline storage when the session ends, and they come again,
//! with an XEP-0203 `<delay>`, in the next session. Downstream already has
//! them. [`Redelivery`] keeps the sender and id of the last
//! [`Redelivery::KEPT`] messages given downstream, and once
//! [`Redelivery::arm`]ed says which delayed message is one of them.
//!
//! Only a delayed message with a sender and an id, both the same as one of
//! the messages kept, is a repeat: a sender that reuses its ids for live
//! messages loses nothing, and a message without an id is always new.

use crate::recent::Recent;
use crate::xml::Element;

/// XEP-0203 delayed delivery.
const NS_DELAY: &str = "urn:xmpp:delay";

/// The `(from, id)` of the last messages given downstream; see the module documentation.
#[derive(Debug, Default)]
pub struct Redelivery {
    keys: Recent<(String, String), { Redelivery::KEPT }>,
    armed: bool,
}

impl Redelivery {
    /// How many messages are kept: more than a server keeps unacknowledged
    /// for one session (Prosody 500, ejabberd 5000 by default).
    pub const KEPT: usize = 8192;

    /// A message (a `<message>` stanza line) was given downstream; only its
    /// start tag is read.
    pub fn delivered(&mut self, line: &str) {
        if let Some(key) = Element::parse_start(line).ok().as_ref().and_then(key) {
            self.keys.insert(key);
        }
    }

    /// A session was given up: from now on, delayed repeats are told.
    pub fn arm(&mut self) {
        self.armed = true;
    }

    /// Whether the message `line` is a delayed copy of one already given
    /// downstream (always `false`, without reading it, until [`Redelivery::arm`]).
    pub fn is_repeat(&self, line: &str) -> bool {
        self.armed
            && line.contains(NS_DELAY)
            && Element::parse(line).is_ok_and(|message| {
                message.child("delay", NS_DELAY).is_some()
                    && key(&message).is_some_and(|key| self.keys.contains(&key))
            })
    }
}

/// A message's sender and id, when it has both.
fn key(message: &Element) -> Option<(String, String)> {
    let from = message.attr("from").filter(|from| !from.is_empty())?;
    let id = message.attr("id").filter(|id| !id.is_empty())?;
    Some((from.to_owned(), id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: &str) -> String {
        format!("<message xmlns='jabber:client' from='bob@x/r' id='{id}'><body>hi</body></message>")
    }

    fn delayed(from: &str, id: &str) -> String {
        format!(
            "<message xmlns='jabber:client' from='{from}' id='{id}'><body>hi</body>\
             <delay xmlns='urn:xmpp:delay' from='x' stamp='2026-12-02T10:00:00Z'/></message>"
        )
    }

    #[test]
    fn a_delayed_copy_of_a_delivered_message_is_a_repeat_once_armed() {
        let mut seen = Redelivery::default();
        seen.delivered(&live("m1"));
        assert!(!seen.is_repeat(&delayed("bob@x/r", "m1")), "not armed yet");
        seen.arm();
        assert!(seen.is_repeat(&delayed("bob@x/r", "m1")));
        assert!(!seen.is_repeat(&delayed("bob@x/r", "m2")), "another id");
        assert!(!seen.is_repeat(&delayed("eve@x/r", "m1")), "another sender");
        assert!(
            !seen.is_repeat(&live("m1")),
            "a live message is never a repeat"
        );
    }

    #[test]
    fn a_message_without_an_id_is_always_new() {
        let mut seen = Redelivery::default();
        let bare = "<message xmlns='jabber:client' from='bob@x/r'><body>hi</body></message>";
        seen.delivered(bare);
        seen.arm();
        let again = "<message xmlns='jabber:client' from='bob@x/r'><body>hi</body>\
             <delay xmlns='urn:xmpp:delay' stamp='2026-12-02T10:00:00Z'/></message>";
        assert!(!seen.is_repeat(again));
    }

    #[test]
    fn only_the_last_kept_messages_are_remembered() {
        let mut seen = Redelivery::default();
        for n in 0..=Redelivery::KEPT {
            seen.delivered(&live(&format!("m{n}")));
        }
        seen.arm();
        assert!(
            !seen.is_repeat(&delayed("bob@x/r", "m0")),
            "the oldest went"
        );
        assert!(seen.is_repeat(&delayed("bob@x/r", "m1")));
        assert!(seen.is_repeat(&delayed("bob@x/r", &format!("m{}", Redelivery::KEPT))));
        assert_eq!(seen.keys.len(), Redelivery::KEPT);
    }
}

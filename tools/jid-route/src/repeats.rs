//! Messages seen already: the same XEP-0359 origin-id from the same sender.
//!
//! After a new session (a server restart, a resumption refused) the sender's
//! client sends again what the server had not acknowledged, and the server
//! may also hand over its own copy from offline storage: at least once, so
//! sometimes twice. Messages of xmpp-auth carry an origin-id for this. A
//! repeat is dropped before any rule or the tree sees it: a line is written
//! to `out` once, a bot answers once.
//!
//! The id is trusted only as the sender's own: the key is the sender's bare
//! JID (its full JID in a room, where the bare one is the room), so nobody
//! can suppress someone else's message. At most [`REMEMBERED`] keys are kept,
//! the oldest forgotten first.

use crate::stanza::{Kind, Stanza};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::recent::Recent;

use crate::archive::NS_SID;
/// How many (sender, origin-id) pairs are remembered.
pub const REMEMBERED: usize = 10_000;

/// The messages seen in this run.
#[derive(Debug, Default)]
pub struct Repeats {
    seen: Recent<(String, String), REMEMBERED>,
    /// Repeats dropped so far.
    pub dropped: u64,
}

impl Repeats {
    /// Whether `stanza` from `sender` repeats a message seen before (it is
    /// remembered if not).
    pub fn is_repeat(&mut self, stanza: &Stanza, sender: &Jid) -> bool {
        if stanza.kind != Kind::Message || stanza.stanza_type == "error" {
            return false;
        }
        let Some(id) = stanza
            .element
            .child("origin-id", NS_SID)
            .and_then(|origin| origin.attr("id"))
        else {
            return false;
        };
        let who = if stanza.is_groupchat() {
            sender.to_string()
        } else {
            sender.to_bare().to_string()
        };
        if self.seen.insert((who, id.to_owned())) {
            return false;
        }
        self.dropped += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, kind: &str, origin: &str) -> Stanza {
        Stanza::parse(format!(
            "<message from='{from}' type='{kind}'><body>x</body>\
             <origin-id xmlns='urn:xmpp:sid:0' id='{origin}'/></message>"
        ))
        .unwrap()
    }

    fn sender(stanza: &Stanza) -> Jid {
        stanza.from.clone().unwrap().unwrap()
    }

    #[test]
    fn the_same_origin_id_from_the_same_sender_is_a_repeat() {
        let mut repeats = Repeats::default();
        let first = message("alice@example.org/phone", "chat", "o1");
        assert!(!repeats.is_repeat(&first, &sender(&first)));
        // Again, from another resource of hers (the copy from offline storage).
        let again = message("alice@example.org", "chat", "o1");
        assert!(repeats.is_repeat(&again, &sender(&again)));
        // Someone else's message with her id is no repeat of hers.
        let eve = message("eve@example.org/x", "chat", "o1");
        assert!(!repeats.is_repeat(&eve, &sender(&eve)));
        let other = message("alice@example.org/phone", "chat", "o2");
        assert!(!repeats.is_repeat(&other, &sender(&other)));
        assert_eq!(repeats.dropped, 1);
    }

    #[test]
    fn in_a_room_each_occupant_s_ids_are_its_own() {
        let mut repeats = Repeats::default();
        let a = message("room@muc.example.org/a", "groupchat", "o1");
        let b = message("room@muc.example.org/b", "groupchat", "o1");
        assert!(!repeats.is_repeat(&a, &sender(&a)));
        assert!(!repeats.is_repeat(&b, &sender(&b)));
        assert!(repeats.is_repeat(&a, &sender(&a)));
    }

    #[test]
    fn without_an_origin_id_or_as_an_error_nothing_is_a_repeat() {
        let mut repeats = Repeats::default();
        let plain = Stanza::parse("<message from='a@b'><body>x</body></message>".into()).unwrap();
        assert!(!repeats.is_repeat(&plain, &sender(&plain)));
        assert!(!repeats.is_repeat(&plain, &sender(&plain)));
        let error = message("a@b", "error", "o1");
        assert!(!repeats.is_repeat(&error, &sender(&error)));
        assert!(!repeats.is_repeat(&error, &sender(&error)));
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_bound() {
        let mut repeats = Repeats::default();
        for n in 0..=REMEMBERED {
            let m = message("a@b", "chat", &format!("o{n}"));
            assert!(!repeats.is_repeat(&m, &sender(&m)));
        }
        let first = message("a@b", "chat", "o0");
        assert!(!repeats.is_repeat(&first, &sender(&first)), "forgotten");
        assert_eq!(repeats.seen.len(), REMEMBERED);
    }
}

//! Messages of ours that bounced before the server acknowledged them.
//!
//! A line of ours goes into `out` when the server acknowledges it (the
//! `<acked/>` event of `xmpp-auth --session-events`). A server may bounce a
//! message (an error reply with its id: no such user, a room service that
//! refuses chat) before its acknowledgement comes. Such a message was not
//! said: at its acknowledgement, [`Bounced::take`] gives the reason, and
//! the conversation shows it as not delivered instead of as said.
//!
//! The error is trusted only from where the message went: the key is the
//! bare JID it bounced from with the id, so nobody else can make our line
//! read as not delivered. At most [`REMEMBERED`] bounces are kept, the
//! oldest forgotten first.

use std::collections::VecDeque;
use xmpp_pipes::jid::Jid;

/// How many bounces are remembered until their acknowledgement.
pub const REMEMBERED: usize = 256;

/// The bounces not yet matched with an acknowledgement.
#[derive(Debug, Default)]
pub struct Bounced {
    /// (bare JID it came from, message id, why), oldest first.
    kept: VecDeque<(Jid, String, String)>,
}

impl Bounced {
    /// An error reply with message id `id` came from `from`, saying `why`.
    pub fn note(&mut self, from: &Jid, id: &str, why: &str) {
        if self.kept.len() == REMEMBERED {
            self.kept.pop_front();
        }
        self.kept
            .push_back((from.to_bare(), id.to_owned(), why.to_owned()));
    }

    /// Why the message with id `id` to `to` bounced, if it did (forgotten then).
    pub fn take(&mut self, to: &Jid, id: &str) -> Option<String> {
        let to = to.to_bare();
        let at = self
            .kept
            .iter()
            .position(|(from, kept, _)| *from == to && kept == id)?;
        self.kept.remove(at).map(|(_, _, why)| why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    #[test]
    fn a_bounce_is_taken_once_and_only_for_its_id_and_sender() {
        let mut bounced = Bounced::default();
        bounced.note(&jid("room@muc.x/svc"), "m1", "item-not-found");
        assert_eq!(bounced.take(&jid("eve@x"), "m1"), None, "another sender");
        assert_eq!(bounced.take(&jid("room@muc.x"), "m2"), None, "another id");
        assert_eq!(
            bounced.take(&jid("room@muc.x"), "m1").as_deref(),
            Some("item-not-found")
        );
        assert_eq!(bounced.take(&jid("room@muc.x"), "m1"), None, "taken");
    }

    #[test]
    fn only_the_last_bounces_are_kept() {
        let mut bounced = Bounced::default();
        for n in 0..=REMEMBERED {
            bounced.note(&jid("a@x"), &format!("m{n}"), "gone");
        }
        assert_eq!(bounced.take(&jid("a@x"), "m0"), None);
        assert!(bounced
            .take(&jid("a@x"), &format!("m{REMEMBERED}"))
            .is_some());
    }
}

//! Bounces: the error replies to downstream's messages, matched by id and
//! checked against the address they went to.
//!
//! A message to an unknown account (`nobody@localhost`), a mistyped domain
//! (`bob@lcoalhost`) or a server that cannot be reached comes back as a
//! `<message type='error'/>` with the message's id, from its addressee (or
//! the addressee's server). Stream management acknowledges the message all
//! the same: the server *took* it. A notifier that exits 0 on the
//! acknowledgement alone reports success for an alert nobody will read.
//!
//! [`Bounces`] remembers downstream's messages (id and addressee) from when
//! they are sent until `linger` after the server acknowledged them, and
//! recognises their error replies in that window: the server's own bounces
//! (local accounts) come before its acknowledgement, a remote server's after,
//! within seconds. A reply is accepted only from the address the message went
//! to, its bare JID or its domain (the server answering for it): an error
//! from anyone else with a guessed id is nobody's bounce. A message that
//! bounced before its acknowledgement is kept until then, and
//! [`Bounces::acked`] says why, so that the acknowledgement's report
//! (`<acked bounced='WHY'/>`) does not pass it off as said. Sans I/O: the
//! caller gives the time.

use crate::exit::Status;
use crate::jid::Jid;
use crate::stream::{describe_stanza_error, stanza_error_condition};
use crate::xml::Element;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most this many messages are remembered (a long session without
/// stream management never has them acknowledged); the oldest go first.
const MAX_WATCHED: usize = 4096;

/// One message sent, waiting for its acknowledgement and then `linger`.
#[derive(Debug)]
struct Watched {
    id: String,
    to: Jid,
    /// When the server acknowledged it.
    acked: Option<Instant>,
    /// Why it bounced, when it did before its acknowledgement (kept for
    /// [`Bounces::acked`] to say).
    bounced: Option<String>,
}

/// A message of downstream's that came back; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// Where the message went.
    pub to: Jid,
    /// The error condition and text, as [`describe_stanza_error`] gives them.
    pub reason: String,
    /// The exit status it stands for.
    pub status: Status,
}

impl std::fmt::Display for Bounce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the message to {} bounced: {}", self.to, self.reason)
    }
}

/// Downstream's messages that may still bounce.
#[derive(Debug)]
pub struct Bounces {
    watched: VecDeque<Watched>,
    linger: Duration,
}

impl Bounces {
    /// Messages are remembered until `linger` after their acknowledgement.
    pub fn new(linger: Duration) -> Bounces {
        Bounces {
            watched: VecDeque::new(),
            linger,
        }
    }

    /// Downstream's message `id` to `to` went out.
    pub fn sent(&mut self, id: &str, to: Jid) {
        if self.watched.len() == MAX_WATCHED {
            self.watched.pop_front();
        }
        self.watched.push_back(Watched {
            id: id.to_owned(),
            to,
            acked: None,
            bounced: None,
        });
    }

    /// The server acknowledged the message `id`; why it bounced, when it
    /// did before this (it is forgotten then: it cannot bounce again).
    pub fn acked(&mut self, id: &str, now: Instant) -> Option<String> {
        let index = self
            .watched
            .iter()
            .position(|w| w.id == id && w.acked.is_none())?;
        if self.watched[index].bounced.is_some() {
            return self.watched.remove(index).and_then(|w| w.bounced);
        }
        self.watched[index].acked = Some(now);
        None
    }

    /// The server confirmed everything sent so far (servers without stream
    /// management: the answer to a ping sent after it all).
    pub fn acked_all(&mut self, now: Instant) {
        // What bounced already cannot bounce again.
        self.watched.retain(|w| w.bounced.is_none());
        for watched in self.watched.iter_mut().filter(|w| w.acked.is_none()) {
            watched.acked = Some(now);
        }
    }

    /// Forget what was acknowledged `linger` or more ago.
    pub fn expire(&mut self, now: Instant) {
        let linger = self.linger;
        self.watched
            .retain(|w| w.acked.is_none_or(|acked| now < acked + linger));
    }

    /// Until when a message acknowledged to a remote domain (neither `ours`
    /// nor one of its subdomains, where the server's components such as
    /// `conference.` live and answer at once) may still bounce (the wait at
    /// the end of a session), if any may.
    pub fn lingering_until(&self, ours: &str) -> Option<Instant> {
        self.watched
            .iter()
            .filter(|w| is_remote(w.to.domain(), ours))
            .filter_map(|w| w.acked.map(|acked| acked + self.linger))
            .max()
    }

    /// If `message` is the error reply to one of the messages remembered,
    /// that message's bounce (and it is forgotten, or, before its
    /// acknowledgement, kept until then as bounced).
    pub fn bounced(&mut self, message: &Element) -> Option<Bounce> {
        if message.name != "message" || message.attr("type") != Some("error") {
            return None;
        }
        let id = message.attr("id")?;
        let from = Jid::parse(message.attr("from")?).ok()?;
        let index = self
            .watched
            .iter()
            .position(|w| w.id == id && w.bounced.is_none() && answers_for(&from, &w.to))?;
        let reason = describe_stanza_error(message);
        let to = if self.watched[index].acked.is_none() {
            let watched = &mut self.watched[index];
            watched.bounced = Some(reason.clone());
            watched.to.clone()
        } else {
            self.watched.remove(index)?.to
        };
        Some(Bounce {
            to,
            reason,
            status: status(message),
        })
    }
}

/// Whether `domain` is served by another server than `ours` (ASCII case aside).
fn is_remote(domain: &str, ours: &str) -> bool {
    let (domain, ours) = (domain.to_ascii_lowercase(), ours.to_ascii_lowercase());
    domain != ours && !domain.ends_with(&format!(".{ours}"))
}

/// Whether an error from `from` may speak for `to`: the same account (any
/// of its resources, or its bare JID), or its domain, the server itself.
fn answers_for(from: &Jid, to: &Jid) -> bool {
    from.to_bare() == to.to_bare()
        || (from.is_bare() && from.local().is_none() && from.domain() == to.domain())
}

/// The exit status of a bounce, by its condition (RFC 6120 §8.3.3) and type.
fn status(message: &Element) -> Status {
    let error_type = message
        .elements()
        .find(|e| e.name == "error")
        .and_then(|e| e.attr("type"));
    match stanza_error_condition(message) {
        Some("remote-server-not-found" | "remote-server-timeout") => Status::NoHost,
        Some(
            "item-not-found"
            | "recipient-unavailable"
            | "service-unavailable"
            | "gone"
            | "jid-malformed"
            | "redirect",
        ) => Status::NoUser,
        Some(
            "forbidden"
            | "not-allowed"
            | "not-authorized"
            | "policy-violation"
            | "registration-required"
            | "subscription-required",
        ) => Status::NoPerm,
        _ if error_type == Some("wait") => Status::TempFail,
        _ => Status::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINGER: Duration = Duration::from_secs(5);

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    fn error(from: &str, id: &str, condition: &str) -> Element {
        Element::parse(&format!(
            "<message xmlns='jabber:client' type='error' id='{id}' from='{from}'>\
             <error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></message>"
        ))
        .unwrap()
    }

    #[test]
    fn an_unknown_account_bounces_with_67_naming_the_address() {
        let mut bounces = Bounces::new(LINGER);
        bounces.sent("m1", jid("nobody@localhost"));
        let bounce = bounces
            .bounced(&error("nobody@localhost", "m1", "service-unavailable"))
            .unwrap();
        assert_eq!(bounce.status, Status::NoUser);
        assert_eq!(
            bounce.to_string(),
            "the message to nobody@localhost bounced: service-unavailable"
        );
        // Once only.
        assert_eq!(
            bounces.bounced(&error("nobody@localhost", "m1", "service-unavailable")),
            None
        );
    }

    #[test]
    fn a_bounce_before_the_acknowledgement_is_told_at_it() {
        let now = Instant::now();
        let mut bounces = Bounces::new(LINGER);
        bounces.sent("m1", jid("room@conference.localhost"));
        bounces.sent("m2", jid("bob@localhost"));
        let error = error("conference.localhost", "m1", "item-not-found");
        assert!(bounces.bounced(&error).is_some());
        assert_eq!(bounces.bounced(&error), None, "once only");
        assert_eq!(bounces.acked("m1", now).as_deref(), Some("item-not-found"));
        assert_eq!(bounces.acked("m1", now), None, "forgotten");
        assert_eq!(bounces.acked("m2", now), None, "not bounced");
    }

    #[test]
    fn an_unknown_domain_bounces_with_68_from_the_domain() {
        let mut bounces = Bounces::new(LINGER);
        bounces.sent("m1", jid("bob@lcoalhost"));
        let bounce = bounces
            .bounced(&error("lcoalhost", "m1", "remote-server-not-found"))
            .unwrap();
        assert_eq!(bounce.status, Status::NoHost);
        bounces.sent("m2", jid("bob@far.example"));
        let timeout = error("bob@far.example", "m2", "remote-server-timeout");
        assert_eq!(bounces.bounced(&timeout).unwrap().status, Status::NoHost);
    }

    #[test]
    fn an_error_from_anyone_else_or_with_another_id_is_no_bounce() {
        let mut bounces = Bounces::new(LINGER);
        bounces.sent("m1", jid("bob@localhost"));
        for forged in [
            error("mallory@localhost", "m1", "item-not-found"),
            error("bob@localhost.evil", "m1", "item-not-found"),
            error("evil", "m1", "item-not-found"),
            error("localhost/res", "m1", "item-not-found"),
            error("bob@localhost", "m2", "item-not-found"),
        ] {
            assert_eq!(bounces.bounced(&forged), None, "{forged:?}");
        }
        let chat = Element::parse(
            "<message xmlns='jabber:client' type='chat' id='m1' from='bob@localhost'/>",
        )
        .unwrap();
        assert_eq!(bounces.bounced(&chat), None);
        // The real one still counts.
        assert!(bounces
            .bounced(&error("bob@localhost", "m1", "item-not-found"))
            .is_some());
    }

    #[test]
    fn an_address_is_answered_by_its_account_or_its_domain() {
        for from in [
            "bob@localhost/phone",
            "bob@localhost/laptop",
            "bob@localhost",
            "localhost",
        ] {
            let mut bounces = Bounces::new(LINGER);
            bounces.sent("m1", jid("bob@localhost/phone"));
            assert!(
                bounces
                    .bounced(&error(from, "m1", "recipient-unavailable"))
                    .is_some(),
                "{from}"
            );
        }
    }

    #[test]
    fn conditions_map_to_statuses() {
        let cases = [
            ("item-not-found", Status::NoUser),
            ("gone", Status::NoUser),
            ("remote-server-timeout", Status::NoHost),
            ("forbidden", Status::NoPerm),
            ("policy-violation", Status::NoPerm),
            ("undefined-condition", Status::Unavailable),
        ];
        for (condition, expected) in cases {
            let mut bounces = Bounces::new(LINGER);
            bounces.sent("m", jid("bob@localhost"));
            let bounce = bounces.bounced(&error("bob@localhost", "m", condition));
            assert_eq!(bounce.map(|b| b.status), Some(expected), "{condition}");
        }
        let wait = Element::parse(
            "<message xmlns='jabber:client' type='error' id='m' from='bob@localhost'>\
             <error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></message>",
        )
        .unwrap();
        let mut bounces = Bounces::new(LINGER);
        bounces.sent("m", jid("bob@localhost"));
        assert_eq!(bounces.bounced(&wait).unwrap().status, Status::TempFail);
    }

    #[test]
    fn a_message_is_forgotten_linger_after_its_acknowledgement() {
        let start = Instant::now();
        let mut bounces = Bounces::new(LINGER);
        bounces.sent("m1", jid("bob@far.example"));
        bounces.sent("m2", jid("bob@localhost"));
        bounces.sent("m3", jid("room@conference.localhost"));
        assert_eq!(bounces.lingering_until("localhost"), None, "not acked yet");
        bounces.acked("m2", start);
        bounces.acked("m3", start);
        assert_eq!(
            bounces.lingering_until("localhost"),
            None,
            "ours, and our subdomain"
        );
        bounces.acked("m1", start);
        assert_eq!(bounces.lingering_until("localhost"), Some(start + LINGER));
        bounces.expire(start + LINGER - Duration::from_millis(1));
        assert!(bounces
            .bounced(&error("far.example", "m1", "remote-server-timeout"))
            .is_some());
        bounces.expire(start + LINGER);
        assert_eq!(
            bounces.bounced(&error("bob@localhost", "m2", "item-not-found")),
            None
        );
        assert_eq!(bounces.lingering_until("localhost"), None);
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_bound() {
        let mut bounces = Bounces::new(LINGER);
        for n in 0..=MAX_WATCHED {
            bounces.sent(&format!("m{n}"), jid("bob@localhost"));
        }
        assert_eq!(
            bounces.bounced(&error("bob@localhost", "m0", "item-not-found")),
            None
        );
        let last = format!("m{MAX_WATCHED}");
        assert!(bounces
            .bounced(&error("bob@localhost", &last, "item-not-found"))
            .is_some());
    }
}

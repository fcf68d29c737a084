//! Presence per resource, summed up per contact.
//!
//! A contact online with several resources has one presence for each; the
//! `presence` file shows the best of them: the highest priority, then the
//! most available `show` (chat, available, away, xa, dnd). When the last
//! resource goes offline the contact is `unavailable`.

use crate::stanza::{one_line, truncate, Stanza};
use std::collections::HashMap;
use xmpp_pipes::jid::Jid;

/// The presence of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `available`, `unavailable`, or the `show` value (`away`, `chat`, `dnd`, `xa`).
    pub show: String,
    /// The status text, on one line.
    pub status: Option<String>,
    /// The priority (RFC 6121 §4.7.2.3), 0 when missing or bad.
    pub priority: i8,
}

impl State {
    /// The state a presence stanza of type available or unavailable announces.
    pub fn of(stanza: &Stanza) -> State {
        let status = stanza
            .child_text("status")
            .map(|text| one_line(text.trim()))
            .filter(|text| !text.is_empty());
        let priority = stanza
            .child_text("priority")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        State {
            show: stanza.show(),
            status,
            priority,
        }
    }

    /// Whether the resource is online.
    pub fn is_available(&self) -> bool {
        self.show != "unavailable"
    }

    /// The line for a `presence` file: `SHOW` or `SHOW STATUS`.
    pub fn line(&self) -> String {
        match &self.status {
            Some(status) => format!("{} {status}", self.show),
            None => self.show.clone(),
        }
    }

    fn rank(&self) -> (i8, u8) {
        let show = match self.show.as_str() {
            "chat" => 5,
            "available" => 4,
            "away" => 3,
            "xa" => 2,
            "dnd" => 1,
            _ => 0,
        };
        (self.priority, show)
    }
}

/// How many contacts' presences are remembered at once (only those online
/// are): past that, a new contact's presence is shown as it comes, without
/// summing up its resources, so that a flood of senders cannot grow memory
/// without bound.
pub const MAX_CONTACTS: usize = 10_000;

/// How many resources of one contact are remembered: a further resource's
/// presence is ignored until one of them goes offline.
pub const MAX_RESOURCES: usize = 100;

/// The longest status text kept, in bytes; a longer one is cut at a
/// character boundary.
pub const MAX_STATUS: usize = 1024;

/// One contact online: its resources (sorted by name) and what is shown.
#[derive(Debug)]
struct Contact {
    resources: Vec<(String, State)>,
    shown: State,
}

/// The presences seen this session, by bare JID and resource.
#[derive(Debug)]
pub struct Presences {
    online: HashMap<String, Contact>,
    /// At most this many contacts remembered ([`MAX_CONTACTS`]).
    limit: usize,
}

impl Default for Presences {
    fn default() -> Presences {
        Presences::with_limit(MAX_CONTACTS)
    }
}

impl Presences {
    /// Remember at most `limit` contacts at once.
    pub fn with_limit(limit: usize) -> Presences {
        Presences {
            online: HashMap::new(),
            limit,
        }
    }

    /// Record `state` for `from`; returns the contact's new summary if it changed.
    pub fn update(&mut self, from: &Jid, mut state: State) -> Option<State> {
        if let Some(status) = &mut state.status {
            truncate(status, MAX_STATUS);
        }
        let bare = from.to_bare().to_string();
        let resource = from.resource().unwrap_or_default();
        let Some(contact) = self.online.get_mut(&bare) else {
            if state.is_available() && self.online.len() < self.limit {
                let contact = Contact {
                    resources: vec![(resource.to_owned(), state.clone())],
                    shown: state.clone(),
                };
                self.online.insert(bare, contact);
            }
            return Some(state);
        };
        let at = contact
            .resources
            .binary_search_by(|(name, _)| name.as_str().cmp(resource));
        match (at, state.is_available()) {
            (Ok(at), true) => contact.resources[at].1 = state.clone(),
            (Ok(at), false) => {
                contact.resources.remove(at);
            }
            (Err(at), true) if contact.resources.len() < MAX_RESOURCES => {
                contact
                    .resources
                    .insert(at, (resource.to_owned(), state.clone()));
            }
            (Err(_), _) => return None,
        }
        let Some(best) = contact
            .resources
            .iter()
            .map(|(_, state)| state)
            .max_by_key(|state| state.rank())
            .cloned()
        else {
            // The last resource went offline: forget the contact.
            self.online.remove(&bare);
            return Some(State {
                show: "unavailable".into(),
                ..state
            });
        };
        if contact.shown == best {
            return None;
        }
        contact.shown = best.clone();
        Some(best)
    }

    /// Every contact whose presence was seen, and still shown as available.
    pub fn available_contacts(&self) -> Vec<String> {
        let mut names: Vec<String> = self.online.keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(presences: &mut Presences, line: &str) -> Option<String> {
        let stanza = Stanza::parse(line.to_owned()).unwrap();
        let from = stanza.from.clone().unwrap().unwrap();
        presences
            .update(&from, State::of(&stanza))
            .map(|s| s.line())
    }

    #[test]
    fn best_resource_wins_and_last_one_out_is_unavailable() {
        let mut p = Presences::default();
        assert_eq!(
            update(
                &mut p,
                "<presence from='b@x/phone'><show>away</show><status>at  lunch</status></presence>"
            )
            .as_deref(),
            Some("away at  lunch")
        );
        assert_eq!(
            update(&mut p, "<presence from='b@x/pc'/>").as_deref(),
            Some("available")
        );
        assert_eq!(
            update(&mut p, "<presence from='b@x/pc'/>"),
            None,
            "no change"
        );
        assert_eq!(
            update(
                &mut p,
                "<presence from='b@x/phone'><show>dnd</show><priority>9</priority></presence>"
            )
            .as_deref(),
            Some("dnd")
        );
        assert_eq!(
            update(&mut p, "<presence from='b@x/phone' type='unavailable'/>").as_deref(),
            Some("available")
        );
        assert_eq!(p.available_contacts(), ["b@x"]);
        assert_eq!(
            update(
                &mut p,
                "<presence from='b@x/pc' type='unavailable'><status>bye</status></presence>"
            )
            .as_deref(),
            Some("unavailable bye")
        );
        assert!(p.available_contacts().is_empty());
        assert_eq!(
            update(
                &mut p,
                "<presence from='c@x/a'><priority>junk</priority></presence>"
            )
            .as_deref(),
            Some("available")
        );
    }

    #[test]
    fn only_contacts_online_are_remembered_and_no_more_than_the_limit() {
        let mut p = Presences::with_limit(2);
        for n in 0..5 {
            let on = format!("<presence from='c{n}@x/r'/>");
            let off = format!("<presence from='c{n}@x/r' type='unavailable'/>");
            assert_eq!(update(&mut p, &on).as_deref(), Some("available"));
            assert_eq!(update(&mut p, &off).as_deref(), Some("unavailable"));
        }
        assert!(p.online.is_empty());
        for n in 0..5 {
            let on = format!("<presence from='c{n}@x/r'><show>away</show></presence>");
            assert_eq!(update(&mut p, &on).as_deref(), Some("away"));
        }
        assert_eq!(p.online.len(), 2);
        assert_eq!(p.available_contacts(), ["c0@x", "c1@x"]);
        // Past the limit a contact's presence is shown as it comes.
        assert_eq!(
            update(
                &mut p,
                "<presence from='c4@x/r'><show>away</show></presence>"
            )
            .as_deref(),
            Some("away")
        );
    }

    #[test]
    fn resources_and_status_texts_are_bounded() {
        let mut p = Presences::default();
        for n in 0..MAX_RESOURCES {
            let on = format!("<presence from='b@x/r{n:03}'><priority>-1</priority></presence>");
            let want = (n == 0).then_some("available");
            assert_eq!(update(&mut p, &on).as_deref(), want, "{n}");
        }
        // One more resource is not remembered, even when it would win.
        assert_eq!(
            update(
                &mut p,
                "<presence from='b@x/z'><show>chat</show></presence>"
            ),
            None
        );
        assert_eq!(
            update(
                &mut p,
                "<presence from='b@x/r000'><show>chat</show></presence>"
            )
            .as_deref(),
            Some("chat")
        );
        let long = "é".repeat(MAX_STATUS);
        let shown = update(
            &mut p,
            &format!("<presence from='c@x/r'><status>{long}</status></presence>"),
        )
        .unwrap();
        assert!(
            shown.len() <= "available ".len() + MAX_STATUS,
            "{}",
            shown.len()
        );
        assert!(shown.ends_with('é'), "{shown}");
    }
}

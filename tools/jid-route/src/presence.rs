//! Presence per resource, summed up per contact.
//!
//! A contact online with several resources has one presence for each; the
//! `presence` file shows the best of them: the highest priority, then the
//! most available `show` (chat, available, away, xa, dnd). When the last
//! resource goes offline the contact is `unavailable`.

use crate::stanza::{one_line, Stanza};
use std::collections::{BTreeMap, HashMap};
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

/// The presences seen this session, by bare JID and resource.
#[derive(Debug, Default)]
pub struct Presences {
    by_contact: HashMap<String, BTreeMap<String, State>>,
    summaries: HashMap<String, State>,
}

impl Presences {
    /// Record `state` for `from`; returns the contact's new summary if it changed.
    pub fn update(&mut self, from: &Jid, state: State) -> Option<State> {
        let bare = from.to_bare().to_string();
        let resource = from.resource().unwrap_or_default().to_owned();
        let resources = self.by_contact.entry(bare.clone()).or_default();
        let last_status = state.status.clone();
        if state.is_available() {
            resources.insert(resource, state);
        } else {
            resources.remove(&resource);
        }
        let summary = resources
            .values()
            .max_by_key(|state| state.rank())
            .cloned()
            .unwrap_or(State {
                show: "unavailable".into(),
                status: last_status,
                priority: 0,
            });
        if self.summaries.get(&bare) == Some(&summary) {
            return None;
        }
        self.summaries.insert(bare, summary.clone());
        Some(summary)
    }

    /// Every contact whose presence was seen, and still shown as available.
    pub fn available_contacts(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .summaries
            .iter()
            .filter(|(_, state)| state.is_available())
            .map(|(name, _)| name.clone())
            .collect();
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
}

//! The roster (RFC 6121 §2), as the tree shows it in `DIR/roster`: fetched
//! when a session begins, kept up to date by roster pushes, without I/O.
//!
//! `DIR/roster` has a line per contact, sorted, fields separated by a tab
//! (shown here as `→`):
//!
//! ```text
//! alice@example.org→both→Alice→Friends,Work
//! bob@example.org→none+asked→→
//! ```
//!
//! JID (normalised), subscription (`none`, `to`, `from`, `both`; `+asked`
//! while our request waits for an answer), name, groups (comma-separated).
//! Tabs, newlines, control characters and, in groups, commas from the
//! network become a blank.

use crate::ids::fresh_id;
use crate::stanza::{Kind, Stanza};
use std::collections::BTreeMap;
use xmpp_pipes::jid::Jid;
use xmpp_pipes::xml::{Element, NS_CLIENT};

/// The roster namespace.
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// At most this many contacts are kept (a larger roster is cut, with a warning).
pub const MAX_ITEMS: usize = 100_000;

/// One contact of the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `none`, `to`, `from` or `both`.
    pub subscription: String,
    /// Our subscription request waits for an answer (`ask='subscribe'`).
    pub asked: bool,
    /// The name we gave the contact.
    pub name: String,
    /// The groups.
    pub groups: Vec<String>,
}

/// A change a roster push made to one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The contact.
    pub jid: Jid,
    /// What it is now (none: removed).
    pub now: Option<Item>,
}

impl Change {
    /// What changed, as a notice for the contact's `out`; none when the
    /// subscription stayed as it was (a new name or group).
    pub fn notice(&self, before: Option<&Item>) -> Option<String> {
        let jid = &self.jid;
        let Some(now) = &self.now else {
            return Some(format!("roster: {jid} was removed from the roster"));
        };
        if before.is_some_and(|b| b.subscription == now.subscription && b.asked == now.asked) {
            return None;
        }
        let what = match now.subscription.as_str() {
            "both" => "you and they see each other's presence",
            "to" => "you see their presence",
            "from" => "they see your presence",
            _ => "no presence subscription either way",
        };
        let asked = if now.asked {
            " (your request waits for their answer)"
        } else {
            ""
        };
        Some(format!(
            "roster: {jid} subscription {}: {what}{asked}",
            now.subscription
        ))
    }
}

/// The roster the tree knows, and the fetch in progress.
#[derive(Debug, Default)]
pub struct Roster {
    items: BTreeMap<String, (Jid, Item)>,
    /// The id of the roster get sent, until its answer came.
    asked: Option<String>,
    /// Whether a fetch's answer came (pushes before it change no notices).
    pub fetched: bool,
}

impl Roster {
    /// The roster get to send when a session begins (a new id each time).
    pub fn fetch(&mut self) -> Element {
        let id = fresh_id("roster");
        self.asked = Some(id.clone());
        Element::new("iq", NS_CLIENT)
            .with_attr("type", "get")
            .with_attr("id", id)
            .with_child(Element::new("query", NS_ROSTER))
    }

    /// If `stanza` answers our roster get (its id, from our own account):
    /// `Some(Ok(()))` once the roster is replaced by the answer's, or
    /// `Some(Err(why))` for an error. `None`: not that answer.
    pub fn answer(&mut self, stanza: &Stanza, me: &Jid) -> Option<Result<(), String>> {
        let asked = self.asked.as_deref()?;
        if stanza.kind != Kind::Iq
            || stanza.id.as_deref() != Some(asked)
            || !stanza.from_account(me)
        {
            return None;
        }
        self.asked = None;
        if stanza.stanza_type != "result" {
            let why = xmpp_pipes::stream::describe_stanza_error(&stanza.element);
            return Some(Err(format!("the server did not give the roster: {why}")));
        }
        self.items.clear();
        if let Some(query) = stanza.element.child("query", NS_ROSTER) {
            for item in query.elements().filter(|e| e.is("item", NS_ROSTER)) {
                if let Some((jid, item)) = read_item(item) {
                    if item.subscription != "remove" && self.items.len() < MAX_ITEMS {
                        self.items.insert(jid.to_string(), (jid, item));
                    }
                }
            }
        }
        self.fetched = true;
        Some(Ok(()))
    }

    /// Apply a roster push (RFC 6121 §2.1.6: one item; its sender was
    /// checked by the caller): the change, with the item as it was before,
    /// or `None` when the push holds no usable item.
    pub fn push(&mut self, stanza: &Stanza) -> Option<(Change, Option<Item>)> {
        let query = stanza.element.child("query", NS_ROSTER)?;
        let mut items = query.elements().filter(|e| e.is("item", NS_ROSTER));
        let (jid, item) = read_item(items.next()?)?;
        if items.next().is_some() {
            return None;
        }
        let key = jid.to_string();
        let before = if item.subscription == "remove" {
            self.items.remove(&key).map(|(_, item)| item)
        } else if self.items.len() < MAX_ITEMS || self.items.contains_key(&key) {
            self.items
                .insert(key, (jid.clone(), item.clone()))
                .map(|(_, item)| item)
        } else {
            return None;
        };
        let now = (item.subscription != "remove").then_some(item);
        Some((Change { jid, now }, before))
    }

    /// The text of `DIR/roster`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (key, (_, item)) in &self.items {
            let subscription = if item.asked {
                format!("{}+asked", item.subscription)
            } else {
                item.subscription.clone()
            };
            text.push_str(&format!(
                "{key}\t{subscription}\t{}\t{}\n",
                item.name,
                item.groups.join(",")
            ));
        }
        text
    }
}

/// One `<item/>`: its bare JID (normalised) and what it says; `None`
/// when the JID is not a valid bare JID.
fn read_item(item: &Element) -> Option<(Jid, Item)> {
    let jid = Jid::parse(item.attr("jid")?).ok().filter(Jid::is_bare)?;
    let subscription = match item.attr("subscription").unwrap_or("none") {
        known @ ("none" | "to" | "from" | "both" | "remove") => known.to_owned(),
        _ => "none".to_owned(),
    };
    let groups = item
        .elements()
        .filter(|e| e.is("group", NS_ROSTER))
        .map(|g| field(&g.text()).replace(',', " "))
        .filter(|g| !g.trim().is_empty())
        .collect();
    Some((
        jid,
        Item {
            subscription,
            asked: item.attr("ask") == Some("subscribe"),
            name: field(item.attr("name").unwrap_or_default()),
            groups,
        },
    ))
}

/// Text from the network as one field of a line: no tab, newline or control character.
fn field(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stanza line from the server, parsed.
    fn stanza(line: String) -> Stanza {
        Stanza::parse(line).expect("a stanza line")
    }

    #[test]
    fn the_fetch_s_answer_is_taken_only_by_its_id_from_our_account() {
        let me = Jid::parse("bob@x/tree").unwrap();
        let mut roster = Roster::default();
        let id = roster.fetch().attr("id").unwrap().to_owned();
        let answer = |from: &str, id: &str| {
            stanza(format!(
                "<iq type='result' id='{id}' {from}><query xmlns='jabber:iq:roster'>\
                 <item jid='Alice@X' subscription='both' name='Al\tice'><group>Friends</group>\
                 <group>a,b</group></item><item jid='carol@x' ask='subscribe'/>\
                 <item jid='bad@x/res'/></query></iq>"
            ))
        };
        assert!(roster.answer(&answer("from='eve@x'", &id), &me).is_none());
        assert!(roster.answer(&answer("", "guessed"), &me).is_none());
        assert_eq!(
            roster.answer(&answer("from='bob@x'", &id), &me),
            Some(Ok(()))
        );
        assert_eq!(
            roster.render(),
            "alice@x\tboth\tAl ice\tFriends,a b\ncarol@x\tnone+asked\t\t\n"
        );
        assert!(roster.answer(&answer("", &id), &me).is_none(), "one answer");
    }

    #[test]
    fn pushes_change_one_contact_and_say_what_changed() {
        let mut roster = Roster::default();
        let push = |item: &str| {
            stanza(format!(
                "<iq type='set' id='p'><query xmlns='jabber:iq:roster'>{item}</query></iq>"
            ))
        };
        let (change, before) = roster
            .push(&push("<item jid='alice@x' ask='subscribe'/>"))
            .unwrap();
        assert_eq!(
            change.notice(before.as_ref()).unwrap(),
            "roster: alice@x subscription none: no presence subscription either way \
             (your request waits for their answer)"
        );
        let (change, before) = roster
            .push(&push("<item jid='alice@x' subscription='to'/>"))
            .unwrap();
        assert!(change
            .notice(before.as_ref())
            .unwrap()
            .contains("you see their presence"));
        let (change, before) = roster
            .push(&push("<item jid='alice@x' subscription='to' name='A'/>"))
            .unwrap();
        assert_eq!(
            change.notice(before.as_ref()),
            None,
            "only the name changed"
        );
        assert_eq!(roster.render(), "alice@x\tto\tA\t\n");
        let (change, before) = roster
            .push(&push("<item jid='alice@x' subscription='remove'/>"))
            .unwrap();
        assert!(change.notice(before.as_ref()).unwrap().contains("removed"));
        assert_eq!(roster.render(), "");
        assert!(
            roster
                .push(&push("<item jid='a@x'/><item jid='b@x'/>"))
                .is_none(),
            "a push has one item"
        );
    }
}

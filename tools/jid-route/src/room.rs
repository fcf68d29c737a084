//! Group chats (XEP-0045) as the tree shows them: which rooms we are in
//! (from our own presence there, status 110), who is in each (with role
//! and affiliation), and what a room's presence says in words: joins,
//! leaves, kicks, bans, nick and role changes. A new room made for us
//! (status 201) is accepted with its default configuration (an instant
//! room, §10.1.2), so that others can join.
//!
//! A room is only a room we asked to join: with `xmpp-auth --session-events`
//! each join that goes out is told first (`<joining room='ROOM'/>`), and a
//! group chat presence from any other JID (a contact's presence that claims,
//! with status 110, that we are in "its room") is no room's ([`Rooms::unasked`]).
//! Without events (a chain without xmpp-auth's events) the status is taken
//! on its word.
//!
//! Nicks are shown so that none passes for a JID or for us: `%`, `@`, `<`,
//! `>`, white space and control characters become `%XX` ([`shown_nick`]),
//! so a nick never holds an `@`, and our own lines in a room are shown
//! under our bare JID, which no nick can spell.

use crate::event::NS_MUC_USER;
use crate::stanza::{one_line, Kind, Stanza};
use std::collections::{BTreeMap, HashMap, HashSet};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::xml::Element;

/// The namespace of a room owner's requests.
const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// Data forms (XEP-0004).
const NS_DATA: &str = "jabber:x:data";
/// How many rooms not joined (occupant lists seen before our own presence) are kept.
const MAX_PENDING: usize = 64;
/// How many occupants of one room are kept.
const MAX_OCCUPANTS: usize = 10_000;
/// How many rooms asked to join are remembered.
const MAX_ASKED: usize = 10_000;

/// One occupant as the room describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Occupant {
    role: String,
    affiliation: String,
    /// The real JID, where the room tells it.
    jid: Option<String>,
}

/// One room: our nick once we are in, and its occupants.
#[derive(Debug, Default)]
struct Room {
    /// Our nick: we are in the room.
    ours: Option<String>,
    occupants: BTreeMap<String, Occupant>,
}

/// What a room's presence meant.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// What to show in the room's `out`, in order.
    pub notices: Vec<String>,
    /// The occupant list to write (`DIR/ROOM/occupants`), when it changed
    /// in a room we are in (or we just left it: then empty).
    pub occupants: Option<String>,
    /// The room was created for us: accept the instant room with this iq.
    pub configure: Option<Element>,
    /// We have just entered the room (our own presence, the first since
    /// the join).
    pub entered: bool,
}

/// The rooms; see the module documentation.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<Jid, Room>,
    /// The ids of our instant-room requests, and the room each went to.
    configuring: HashMap<String, Jid>,
    /// The rooms xmpp-auth told us it joins (`<joining/>`).
    asked: HashSet<Jid>,
    /// Whether joins are told (xmpp-auth's events are seen): then only the
    /// rooms in `asked` are rooms.
    told: bool,
}

impl Rooms {
    /// Whether we are in `room` (a bare JID).
    pub fn is_in(&self, room: &Jid) -> bool {
        self.rooms.get(room).is_some_and(|r| r.ours.is_some())
    }

    /// Whether `sender` is our own occupant JID in the room.
    pub fn is_us(&self, sender: &Jid) -> bool {
        let room = self.rooms.get(&sender.to_bare());
        room.and_then(|r| r.ours.as_deref())
            .is_some_and(|ours| Some(ours) == sender.resource())
    }

    /// Joins are told from now on (xmpp-auth's events come): a room is
    /// one only once its join was told.
    pub fn joins_are_told(&mut self) {
        self.told = true;
    }

    /// xmpp-auth sends a join to `room` (its bare JID).
    pub fn joining(&mut self, room: Jid) {
        self.told = true;
        if self.asked.len() < MAX_ASKED {
            self.asked.insert(room);
        }
    }

    /// Whether `stanza` is a group chat presence (`<x xmlns='…muc#user'/>`)
    /// from a JID we never asked to join, while joins are told: not a
    /// room's, whatever it says (`Some(true)` when it claims to be about
    /// us, status 110). `None`: no such presence.
    pub fn unasked(&self, stanza: &Stanza, sender: &Jid) -> Option<bool> {
        if !self.told || stanza.kind != Kind::Presence || self.asked.contains(&sender.to_bare()) {
            return None;
        }
        let x = stanza.element.child("x", NS_MUC_USER)?;
        Some(
            x.elements()
                .any(|e| e.name == "status" && e.attr("code") == Some("110")),
        )
    }

    /// A new session: the server has forgotten our presence in every room.
    pub fn forget(&mut self) -> Vec<Jid> {
        let joined = self
            .rooms
            .iter()
            .filter(|(_, r)| r.ours.is_some())
            .map(|(room, _)| room.clone())
            .collect();
        self.rooms.clear();
        joined
    }

    /// A presence from `sender` (a room's occupant JID); `None` when it is
    /// no MUC presence (no `<x xmlns='…muc#user'/>`, or no nick).
    pub fn presence(&mut self, stanza: &Stanza, sender: &Jid) -> Option<Seen> {
        if stanza.kind != Kind::Presence {
            return None;
        }
        let x = stanza.element.child("x", NS_MUC_USER)?;
        let nick = sender.resource()?.to_owned();
        let bare = sender.to_bare();
        let codes: Vec<&str> = x
            .elements()
            .filter(|e| e.name == "status")
            .filter_map(|e| e.attr("code"))
            .collect();
        let item = x.elements().find(|e| e.name == "item");
        let reason = item
            .and_then(|i| i.elements().find(|e| e.name == "reason"))
            .map(|r| one_line(&r.text()))
            .filter(|r| !r.trim().is_empty());
        let because = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        let occupant = Occupant {
            role: item
                .and_then(|i| i.attr("role"))
                .unwrap_or("none")
                .to_owned(),
            affiliation: item
                .and_then(|i| i.attr("affiliation"))
                .unwrap_or("none")
                .to_owned(),
            jid: item.and_then(|i| i.attr("jid")).map(one_line),
        };
        let ours = codes.contains(&"110");
        if !self.rooms.contains_key(&bare) {
            self.make_room_for(&bare);
        }
        let room = self.rooms.get_mut(&bare)?;
        let was_in = room.ours.is_some();
        let shown = shown_nick(&nick);
        let who = if ours {
            "you".to_owned()
        } else {
            shown.clone()
        };
        let mut seen = Seen::default();
        if stanza.stanza_type == "unavailable" {
            room.occupants.remove(&nick);
            let text = if codes.contains(&"303") {
                let new = item.and_then(|i| i.attr("nick")).unwrap_or_default();
                if ours {
                    room.ours = Some(new.to_owned());
                }
                format!("{shown} is now known as {}", shown_nick(new))
            } else if codes.contains(&"307") {
                format!("{who} {} kicked from the room{because}", were(ours))
            } else if codes.contains(&"301") {
                format!("{who} {} banned from the room{because}", were(ours))
            } else if codes.contains(&"321") {
                format!(
                    "{who} {} removed from the room: the affiliation changed",
                    were(ours)
                )
            } else if codes.contains(&"322") {
                format!(
                    "{who} {} removed from the room: it is members-only now",
                    were(ours)
                )
            } else if codes.contains(&"332") {
                format!(
                    "{who} {} removed from the room: the service is shutting down",
                    were(ours)
                )
            } else {
                format!("{who} left the room{because}")
            };
            seen.notices.push(text);
            if ours && !codes.contains(&"303") {
                room.ours = None;
                room.occupants.clear();
                seen.occupants = Some(String::new());
                return Some(seen);
            }
        } else {
            let before = room.occupants.insert(nick.clone(), occupant.clone());
            if ours {
                room.ours = Some(nick.clone());
            }
            match before {
                None if ours && !was_in => {
                    seen.entered = true;
                    seen.notices.push(format!("you are in the room as {shown}"));
                    if codes.contains(&"201") {
                        seen.notices.push(
                            "the room was made for you: accepting its default configuration \
                             (an instant room) so that others can join"
                                .into(),
                        );
                        let id = crate::ids::fresh_id("jr-room");
                        self.configuring.insert(id.clone(), bare.clone());
                        seen.configure = Some(instant_room(&bare, &id));
                    }
                }
                None => seen
                    .notices
                    .push(format!("{who} is in the room ({})", occupant.role)),
                Some(before) => {
                    if before.role != occupant.role {
                        seen.notices
                            .push(format!("{who} {} now {}", is(ours), occupant.role));
                    }
                    if before.affiliation != occupant.affiliation {
                        seen.notices.push(format!(
                            "{}'s affiliation is now {}",
                            if ours { "your" } else { shown.as_str() },
                            occupant.affiliation
                        ));
                    }
                }
            }
        }
        let room = &self.rooms[&bare];
        if room.ours.is_some() {
            seen.occupants = Some(render(&room.occupants));
        }
        Some(seen)
    }

    /// The answer to one of our instant-room requests (from that room):
    /// what to say in its `out`; `None` when `stanza` is not one.
    pub fn configured(&mut self, stanza: &Stanza, sender: &Jid) -> Option<(Jid, String)> {
        if stanza.kind != Kind::Iq || !matches!(stanza.stanza_type.as_str(), "result" | "error") {
            return None;
        }
        let id = stanza.id.as_ref()?;
        if self.configuring.get(id) != Some(sender) {
            return None;
        }
        let room = self.configuring.remove(id)?;
        let text = if stanza.stanza_type == "result" {
            "the room is open (an instant room): others can join".to_owned()
        } else {
            format!(
                "the room refused its default configuration: {} (it stays locked)",
                one_line(&xmpp_pipes::stream::describe_stanza_error(&stanza.element))
            )
        };
        Some((room, text))
    }

    /// A room seen for the first time; rooms never joined are forgotten
    /// past [`MAX_PENDING`], so that presences from anyone cannot fill memory.
    fn make_room_for(&mut self, bare: &Jid) {
        let pending: Vec<Jid> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.ours.is_none())
            .map(|(j, _)| j.clone())
            .collect();
        if pending.len() >= MAX_PENDING {
            for jid in pending {
                self.rooms.remove(&jid);
            }
        }
        self.rooms.insert(bare.clone(), Room::default());
    }
}

/// `were` or `was`, for us or another.
fn were(ours: bool) -> &'static str {
    if ours {
        "were"
    } else {
        "was"
    }
}

/// `are` or `is`, for us or another.
fn is(ours: bool) -> &'static str {
    if ours {
        "are"
    } else {
        "is"
    }
}

/// The occupant list, a line each, sorted by nick: `NICK<TAB>ROLE<TAB>AFFILIATION[<TAB>JID]`.
fn render(occupants: &BTreeMap<String, Occupant>) -> String {
    let mut text = String::new();
    for (nick, o) in occupants.iter().take(MAX_OCCUPANTS) {
        text.push_str(&format!(
            "{}\t{}\t{}",
            shown_nick(nick),
            one_line(&o.role),
            one_line(&o.affiliation)
        ));
        if let Some(jid) = &o.jid {
            text.push('\t');
            text.push_str(&jid.replace('\t', " "));
        }
        text.push('\n');
    }
    text
}

/// The owner's request that accepts a new room's default configuration
/// (XEP-0045 §10.1.2: an empty submitted form).
fn instant_room(room: &Jid, id: &str) -> Element {
    Element::new("iq", xmpp_pipes::xml::NS_CLIENT)
        .with_attr("type", "set")
        .with_attr("to", room.to_string())
        .with_attr("id", id)
        .with_child(
            Element::new("query", NS_MUC_OWNER)
                .with_child(Element::new("x", NS_DATA).with_attr("type", "submit")),
        )
}

/// A nick as the tree shows it: `%`, `@`, `<`, `>`, white space and
/// control characters as `%XX` (UTF-8 bytes), so that it is never a JID,
/// never our own name, and always one word between `<` and `>`.
pub fn shown_nick(nick: &str) -> String {
    let mut shown = String::new();
    for c in nick.chars() {
        if matches!(c, '%' | '@' | '<' | '>') || c.is_whitespace() || c.is_control() {
            let mut bytes = [0u8; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                shown.push_str(&format!("%{b:02X}"));
            }
        } else {
            shown.push(c);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(rooms: &mut Rooms, line: &str) -> Seen {
        let stanza = Stanza::parse(line.to_owned()).unwrap();
        let from = stanza.from.clone().unwrap().unwrap();
        rooms.presence(&stanza, &from).unwrap()
    }

    const ROOM: &str = "r@muc.x";

    fn p(nick: &str, kind: &str, inner: &str) -> String {
        format!(
            "<presence from='{ROOM}/{nick}'{kind}><x xmlns='{NS_MUC_USER}'>{inner}</x></presence>"
        )
    }

    #[test]
    fn nicks_never_spell_a_jid_or_a_second_word() {
        assert_eq!(shown_nick("alice"), "alice");
        assert_eq!(shown_nick("boss@example.org"), "boss%40example.org");
        assert_eq!(shown_nick("a b<c>%"), "a%20b%3Cc%3E%25");
        assert_eq!(shown_nick("é\n"), "é%0A");
    }

    #[test]
    fn once_joins_are_told_only_a_room_asked_is_a_room() {
        let mut rooms = Rooms::default();
        let claim = |from: &str| {
            Stanza::parse(format!(
                "<presence from='{from}'><x xmlns='{NS_MUC_USER}'><item role='moderator'/>\
                 <status code='110'/></x></presence>"
            ))
            .unwrap()
        };
        let eve = Jid::parse("eve@x/boss").unwrap();
        assert_eq!(
            rooms.unasked(&claim("eve@x/boss"), &eve),
            None,
            "not told: taken on its word"
        );
        rooms.joins_are_told();
        assert_eq!(rooms.unasked(&claim("eve@x/boss"), &eve), Some(true));
        let plain = Stanza::parse("<presence from='eve@x/boss'/>".into()).unwrap();
        assert_eq!(rooms.unasked(&plain, &eve), None, "no group chat presence");
        let ours = Jid::parse(&format!("{ROOM}/bob")).unwrap();
        assert_eq!(
            rooms.unasked(&claim(&format!("{ROOM}/bob")), &ours),
            Some(true)
        );
        rooms.joining(Jid::parse(ROOM).unwrap());
        assert_eq!(rooms.unasked(&claim(&format!("{ROOM}/bob")), &ours), None);
        let me = presence(
            &mut rooms,
            &p("bob", "", "<item role='participant'/><status code='110'/>"),
        );
        assert!(me.entered);
        let again = presence(
            &mut rooms,
            &p("bob", "", "<item role='moderator'/><status code='110'/>"),
        );
        assert!(!again.entered, "a role change is no entry");
    }

    #[test]
    fn a_join_lists_the_occupants_and_a_new_room_is_accepted() {
        let mut rooms = Rooms::default();
        let other = presence(
            &mut rooms,
            &p("alice", "", "<item role='moderator' affiliation='owner'/>"),
        );
        assert_eq!(other.notices, ["alice is in the room (moderator)"]);
        assert_eq!(other.occupants, None, "not in the room yet");
        let me = presence(
            &mut rooms,
            &p("bob", "", "<item role='participant' affiliation='none'/><status code='110'/><status code='201'/>"),
        );
        assert!(rooms.is_in(&Jid::parse(ROOM).unwrap()));
        assert_eq!(me.notices[0], "you are in the room as bob");
        assert_eq!(
            me.occupants.as_deref(),
            Some("alice\tmoderator\towner\nbob\tparticipant\tnone\n")
        );
        let iq = me
            .configure
            .unwrap()
            .to_line(xmpp_pipes::xml::NS_CLIENT)
            .unwrap();
        assert!(
            iq.contains("muc#owner") && iq.contains("type='submit'"),
            "{iq}"
        );
        let id = Element::parse(&iq).unwrap().attr("id").unwrap().to_owned();
        let answer = |from: &str| {
            Stanza::parse(format!("<iq type='result' id='{id}' from='{from}'/>")).unwrap()
        };
        let stranger = Jid::parse("eve@x").unwrap();
        assert_eq!(rooms.configured(&answer("eve@x"), &stranger), None);
        let room = Jid::parse(ROOM).unwrap();
        assert!(rooms
            .configured(&answer(ROOM), &room)
            .unwrap()
            .1
            .contains("others can join"));
        assert_eq!(rooms.configured(&answer(ROOM), &room), None, "once");
    }

    #[test]
    fn kicks_bans_nick_and_role_changes_are_told() {
        let mut rooms = Rooms::default();
        presence(
            &mut rooms,
            &p("bob", "", "<item role='participant'/><status code='110'/>"),
        );
        presence(&mut rooms, &p("alice", "", "<item role='participant'/>"));
        let role = presence(&mut rooms, &p("alice", "", "<item role='moderator'/>"));
        assert_eq!(role.notices, ["alice is now moderator"]);
        let nick = presence(
            &mut rooms,
            &p(
                "alice",
                " type='unavailable'",
                "<item nick='al@ice'/><status code='303'/>",
            ),
        );
        assert_eq!(nick.notices, ["alice is now known as al%40ice"]);
        presence(&mut rooms, &p("al@ice", "", "<item role='moderator'/>"));
        let kick = presence(
            &mut rooms,
            &p(
                "al@ice",
                " type='unavailable'",
                "<item role='none'><reason>spam</reason></item><status code='307'/>",
            ),
        );
        assert_eq!(kick.notices, ["al%40ice was kicked from the room (spam)"]);
        assert_eq!(kick.occupants.as_deref(), Some("bob\tparticipant\tnone\n"));
        let ban = presence(
            &mut rooms,
            &p(
                "bob",
                " type='unavailable'",
                "<item affiliation='outcast'/><status code='301'/><status code='110'/>",
            ),
        );
        assert_eq!(ban.notices, ["you were banned from the room"]);
        assert_eq!(ban.occupants.as_deref(), Some(""));
        assert!(!rooms.is_in(&Jid::parse(ROOM).unwrap()));
    }
}

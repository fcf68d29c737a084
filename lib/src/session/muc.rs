//! Group chat (XEP-0045) as a session needs it: the rooms of `--join`.
//!
//! With `--join ROOM@SERVICE/NICK`, the session joins the room before it
//! reads anything from downstream: it sends the join presence (asking for no
//! history), and waits for the room's self-presence (status 110) or an error
//! presence. A room that the service had to create for us (status 201) is
//! configured as an instant room with `--create-rooms`, and is otherwise an
//! error: a notifier that posts into a room nobody reads, because of a typo in
//! its name, should say so. At the end the rooms are left before delivery is
//! confirmed, so the confirmation covers the leaving too.
//!
//! A `groupchat` message from downstream to a room that neither `--join` nor
//! downstream's own join presence entered is refused ([`Rooms::check_outgoing`]):
//! the server would bounce it, and a notifier would lose its message.

use crate::exit::{Error, Result, Status};
use crate::jid::Jid;
use crate::password::Password;
use crate::stream::{self, NS_DATA, NS_MUC, NS_MUC_OWNER, NS_MUC_USER};
use crate::xml::{Element, NS_CLIENT};
use std::collections::HashMap;

/// The status code of a room's presence about ourselves (XEP-0045 §7.2.2).
const STATUS_SELF: &str = "110";
/// The status code of a room's presence saying it was created for us (XEP-0045 §10.1).
const STATUS_CREATED: &str = "201";
/// The id of the iq that accepts a new room's default configuration; the room's index follows.
const CONFIGURE_ID: &str = "xa-muc-create-";

/// How far the join of one room has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The join presence is sent (or about to be).
    Joining,
    /// The room was created for us; its configuration is sent.
    Configuring,
    /// The room let us in.
    Joined,
}

/// One room of `--join`.
#[derive(Debug)]
struct Join {
    /// Our occupant JID in the room (the room may change the nick).
    occupant: Jid,
    /// The room's bare JID.
    room: Jid,
    state: State,
}

/// What a stanza from the server means for the joins.
#[derive(Debug)]
pub enum Observed {
    /// Nothing: it is about something else.
    Other,
    /// A room let us in (its self-presence); the presence goes downstream as usual.
    Joined,
    /// A room was created for us and is locked: send this iq to configure it.
    Configure(String),
    /// The answer to a room configuration: the room is ready, or refused it. Consumed.
    Configured(Result<()>),
    /// A room refused us (its error presence).
    Refused(Error),
}

/// The rooms of a session: those of `--join`, and those downstream joined itself.
#[derive(Debug, Default)]
pub struct Rooms {
    joins: Vec<Join>,
    /// The rooms downstream sent a join presence to (bare JID), with that
    /// presence, to send again in a new session.
    by_downstream: HashMap<Jid, String>,
    /// Accept a room that is created for us.
    create: bool,
}

impl Rooms {
    /// The rooms of `--join` (occupant JIDs `ROOM@SERVICE/NICK`), none joined
    /// yet; `create` accepts a room the service creates for us.
    pub fn new(join: &[Jid], create: bool) -> Rooms {
        Rooms {
            joins: join
                .iter()
                .map(|occupant| Join {
                    occupant: occupant.clone(),
                    room: occupant.to_bare(),
                    state: State::Joining,
                })
                .collect(),
            by_downstream: HashMap::new(),
            create,
        }
    }

    /// Whether `--join` named any room.
    pub fn any(&self) -> bool {
        !self.joins.is_empty()
    }

    /// Whether some room of `--join` has not let us in yet.
    pub fn waiting(&self) -> bool {
        self.joins.iter().any(|join| join.state != State::Joined)
    }

    /// The rooms not joined yet, for a message.
    pub fn not_joined(&self) -> String {
        let rooms: Vec<String> = self
            .joins
            .iter()
            .filter(|join| join.state != State::Joined)
            .map(|join| join.room.to_string())
            .collect();
        rooms.join(", ")
    }

    /// The join presences (XEP-0045 §7.2.1), with the password if any, asking for no history.
    pub fn join_stanzas(&self, password: Option<&Password>) -> Result<Vec<String>> {
        self.joins
            .iter()
            .map(|join| {
                let mut x = Element::new("x", NS_MUC);
                if let Some(password) = password {
                    x = x.with_child(Element::new("password", NS_MUC).with_text(password.expose()));
                }
                x = x.with_child(Element::new("history", NS_MUC).with_attr("maxchars", "0"));
                line(
                    Element::new("presence", NS_CLIENT)
                        .with_attr("to", join.occupant.to_string())
                        .with_child(x),
                )
            })
            .collect()
    }

    /// A new session began (the old one could not be resumed): every room is
    /// to be joined again. The join presences of `--join` (waited for as at
    /// the start), then the ones downstream sent itself, as it sent them.
    pub fn rejoin_stanzas(&mut self, password: Option<&Password>) -> Result<Vec<String>> {
        for join in &mut self.joins {
            join.state = State::Joining;
        }
        let mut stanzas = self.join_stanzas(password)?;
        stanzas.extend(self.by_downstream.values().cloned());
        Ok(stanzas)
    }

    /// The presences that leave every room of `--join` (XEP-0045 §7.14), whether or not
    /// it let us in: a room that answers late must not keep us.
    pub fn leave_stanzas(&self) -> Result<Vec<String>> {
        self.joins
            .iter()
            .map(|join| {
                line(
                    Element::new("presence", NS_CLIENT)
                        .with_attr("to", join.occupant.to_string())
                        .with_attr("type", "unavailable"),
                )
            })
            .collect()
    }

    /// Look at a stanza from the server while joins are under way.
    pub fn observe(&mut self, stanza: &Element) -> Observed {
        if stanza.is("iq", NS_CLIENT) {
            return self.observe_configured(stanza);
        }
        if !stanza.is("presence", NS_CLIENT) {
            return Observed::Other;
        }
        let Some(from) = stanza.attr("from").and_then(|from| Jid::parse(from).ok()) else {
            return Observed::Other;
        };
        let room = from.to_bare();
        let create = self.create;
        let Some((index, join)) = self
            .joins
            .iter_mut()
            .enumerate()
            .find(|(_, join)| join.room == room && join.state == State::Joining)
        else {
            return Observed::Other;
        };
        match stanza.attr("type") {
            Some("error") => Observed::Refused(refusal(&join.occupant, stanza)),
            Some(_) => Observed::Other,
            None => {
                let codes = status_codes(stanza);
                if !codes.contains(&STATUS_SELF) {
                    return Observed::Other;
                }
                // The room may have changed our nick (status 210): leave under the new one.
                join.occupant = from;
                if !codes.contains(&STATUS_CREATED) {
                    join.state = State::Joined;
                    return Observed::Joined;
                }
                if !create {
                    return Observed::Refused(Error::unavailable(format!(
                        "the room {room} did not exist: the service created it for us, and we \
                         leave it (check the room's name, or add --create-rooms to create it)"
                    )));
                }
                join.state = State::Configuring;
                match instant_room(&room, index) {
                    Ok(iq) => Observed::Configure(iq),
                    Err(err) => Observed::Refused(err),
                }
            }
        }
    }

    /// The answer to an instant-room configuration, if `iq` is one.
    fn observe_configured(&mut self, iq: &Element) -> Observed {
        let index = iq
            .attr("id")
            .and_then(|id| id.strip_prefix(CONFIGURE_ID))
            .and_then(|index| index.parse::<usize>().ok());
        let Some(join) = index.and_then(|index| self.joins.get_mut(index)) else {
            return Observed::Other;
        };
        if join.state != State::Configuring {
            return Observed::Other;
        }
        match iq.attr("type") {
            Some("result") => {
                join.state = State::Joined;
                Observed::Configured(Ok(()))
            }
            Some("error") => Observed::Configured(Err(Error::new(
                refusal_status(stream::stanza_error_condition(iq)),
                format!(
                    "the new room {} refused its default configuration: {}",
                    join.room,
                    stream::describe_stanza_error(iq)
                ),
            ))),
            _ => Observed::Other,
        }
    }

    /// Check a stanza line from downstream before it goes to the server: a
    /// `groupchat` message must go to a room this session joined. Notes the
    /// rooms downstream joins itself (a presence with the MUC `<x/>`), and
    /// gives that room's bare JID back.
    pub fn check_outgoing(&mut self, name: &str, line: &str) -> Result<Option<Jid>> {
        let interesting = match name {
            "message" => line.contains("groupchat"),
            "presence" => line.contains(NS_MUC),
            _ => false,
        };
        // Not parsed: the server judges what is not well-formed in our terms.
        let Some(stanza) = interesting.then(|| Element::parse(line).ok()).flatten() else {
            return Ok(None);
        };
        if let Some(room) = joined_room(&stanza) {
            self.by_downstream.insert(room.clone(), line.to_owned());
            return Ok(Some(room));
        }
        if !stanza.is("message", NS_CLIENT) || stanza.attr("type") != Some("groupchat") {
            return Ok(None);
        }
        let to = stanza.attr("to").and_then(|to| Jid::parse(to).ok());
        let Some(room) = to.map(|to| to.to_bare()) else {
            return Err(Error::data(
                "a groupchat message without a valid room in its 'to'",
            ));
        };
        let joined = self.by_downstream.contains_key(&room)
            || self
                .joins
                .iter()
                .any(|join| join.room == room && join.state == State::Joined);
        if joined {
            Ok(None)
        } else {
            Err(Error::data(format!(
                "message to room {room}, which this session did not join: join it first (--join {room}/NICK, or the join presence of stanza-fmt's /join {room}/NICK)"
            )))
        }
    }
}

/// The room that `stanza` joins, if it is a join presence (XEP-0045 §7.2.1:
/// no type, the MUC `<x/>`, to an occupant JID).
pub fn joined_room(stanza: &Element) -> Option<Jid> {
    if !stanza.is("presence", NS_CLIENT)
        || stanza.attr("type").is_some()
        || stanza.child("x", NS_MUC).is_none()
    {
        return None;
    }
    let to = Jid::parse(stanza.attr("to")?).ok()?;
    (!to.is_bare()).then(|| to.to_bare())
}

/// A stanza line of an element we built.
fn line(element: Element) -> Result<String> {
    element
        .to_line(NS_CLIENT)
        .map_err(|e| Error::data(e.to_string()))
}

/// The status codes of a room's presence (`<x xmlns='…muc#user'><status code=…/>`).
fn status_codes(presence: &Element) -> Vec<&str> {
    presence
        .elements()
        .filter(|x| x.is("x", NS_MUC_USER))
        .flat_map(Element::elements)
        .filter(|status| status.is("status", NS_MUC_USER))
        .filter_map(|status| status.attr("code"))
        .collect()
}

/// The iq that accepts a new room's default configuration: an instant room (XEP-0045 §10.1.2).
fn instant_room(room: &Jid, index: usize) -> Result<String> {
    line(
        Element::new("iq", NS_CLIENT)
            .with_attr("type", "set")
            .with_attr("to", room.to_string())
            .with_attr("id", format!("{CONFIGURE_ID}{index}"))
            .with_child(
                Element::new("query", NS_MUC_OWNER)
                    .with_child(Element::new("x", NS_DATA).with_attr("type", "submit")),
            ),
    )
}

/// The exit status for a room's error condition: 77 when the room refuses us
/// (fix the configuration), 69 when there is no such room or service, 75 when
/// trying again later may work, 76 for anything else.
fn refusal_status(condition: Option<&str>) -> Status {
    match condition {
        Some(
            "not-authorized"
            | "forbidden"
            | "registration-required"
            | "not-allowed"
            | "not-acceptable",
        ) => Status::NoPerm,
        Some("item-not-found" | "remote-server-not-found" | "gone") => Status::Unavailable,
        Some(
            "conflict"
            | "service-unavailable"
            | "remote-server-timeout"
            | "resource-constraint"
            | "recipient-unavailable",
        ) => Status::TempFail,
        _ => Status::Protocol,
    }
}

/// What a room's error condition means when joining (XEP-0045 §7.2).
fn refusal_hint(condition: Option<&str>, nick: &str) -> String {
    match condition {
        Some("not-authorized") => {
            "the room needs a password, and this one is missing or wrong (--room-password-file)"
                .into()
        }
        Some("forbidden") => "this account is banned from the room".into(),
        Some("registration-required") => {
            "the room is members-only, and this account is not a member".into()
        }
        Some("not-allowed") => {
            "the service does not allow it (creating the room, or reaching its server)".into()
        }
        Some("not-acceptable") => "the room wants this account's registered nick".into(),
        Some("conflict") => format!(
            "another occupant has the nick {nick}: choose another, or try again once they left"
        ),
        Some("service-unavailable") => {
            "the room is full, or the service is down: try again later".into()
        }
        Some("item-not-found") => "there is no such room (and it cannot be created)".into(),
        Some("remote-server-not-found") => "there is no such group-chat service".into(),
        _ => "the room refused the join".into(),
    }
}

/// The error for a room's error presence to our join.
fn refusal(occupant: &Jid, stanza: &Element) -> Error {
    let condition = stream::stanza_error_condition(stanza);
    let nick = occupant.resource().unwrap_or_default();
    Error::new(
        refusal_status(condition),
        format!(
            "cannot join {} as {nick}: {}: {}",
            occupant.to_bare(),
            stream::describe_stanza_error(stanza),
            refusal_hint(condition, nick)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(join: &[&str], create: bool) -> Rooms {
        let join: Vec<Jid> = join.iter().map(|j| Jid::parse(j).unwrap()).collect();
        Rooms::new(&join, create)
    }

    fn presence(xml: &str) -> Element {
        Element::parse(xml).unwrap()
    }

    const SELF: &str =
        "<presence from='r@muc.example/bot'><x xmlns='http://jabber.org/protocol/muc#user'>\
         <item affiliation='none' role='participant'/><status code='110'/></x></presence>";

    #[test]
    fn join_and_leave_stanzas() {
        let rooms = rooms(&["r@muc.example/bot"], false);
        let password = Password::new("s3cret & co".into());
        assert_eq!(
            rooms.join_stanzas(Some(&password)).unwrap(),
            [
                "<presence to='r@muc.example/bot'><x xmlns='http://jabber.org/protocol/muc'>\
              <password>s3cret &amp; co</password><history maxchars='0'/></x></presence>"
            ]
        );
        assert_eq!(
            rooms.leave_stanzas().unwrap(),
            ["<presence to='r@muc.example/bot' type='unavailable'/>"]
        );
    }

    #[test]
    fn self_presence_joins_and_others_do_not() {
        let mut rooms = rooms(&["r@muc.example/bot", "s@muc.example/bot"], false);
        let other =
            "<presence from='r@muc.example/alice'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <item affiliation='owner' role='moderator'/></x></presence>";
        assert!(matches!(rooms.observe(&presence(other)), Observed::Other));
        assert!(matches!(rooms.observe(&presence(SELF)), Observed::Joined));
        assert!(rooms.waiting());
        assert_eq!(rooms.not_joined(), "s@muc.example");
        // Once joined, the room's presences are nothing new.
        assert!(matches!(rooms.observe(&presence(SELF)), Observed::Other));
    }

    #[test]
    fn error_presences_name_the_condition_and_pick_the_status() {
        let cases = [
            ("not-authorized", Status::NoPerm, "password"),
            ("forbidden", Status::NoPerm, "banned"),
            ("registration-required", Status::NoPerm, "members-only"),
            ("not-allowed", Status::NoPerm, "creating the room"),
            ("conflict", Status::TempFail, "nick bot"),
            ("service-unavailable", Status::TempFail, "full"),
            ("item-not-found", Status::Unavailable, "no such room"),
            (
                "remote-server-not-found",
                Status::Unavailable,
                "no such group-chat service",
            ),
            ("bad-request", Status::Protocol, "refused"),
        ];
        for (condition, status, hint) in cases {
            let mut rooms = rooms(&["r@muc.example/bot"], false);
            let error = format!(
                "<presence from='r@muc.example/bot' type='error'><x xmlns='http://jabber.org/protocol/muc'/>\
                 <error type='auth'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
            );
            let Observed::Refused(err) = rooms.observe(&presence(&error)) else {
                panic!("{condition} is a refusal");
            };
            assert_eq!(err.status(), status, "{condition}");
            assert!(
                err.message()
                    .starts_with(&format!("cannot join r@muc.example as bot: {condition}: ")),
                "{err}"
            );
            assert!(err.message().contains(hint), "{err}");
        }
    }

    #[test]
    fn a_created_room_is_configured_only_when_asked() {
        let created = SELF.replace(
            "<status code='110'/>",
            "<status code='201'/><status code='110'/>",
        );
        let mut refuse = rooms(&["r@muc.example/bot"], false);
        let Observed::Refused(err) = refuse.observe(&presence(&created)) else {
            panic!("a created room is refused without --create-rooms");
        };
        assert_eq!(err.status(), Status::Unavailable);
        assert!(err.message().contains("--create-rooms"), "{err}");

        let mut create = rooms(&["r@muc.example/bot"], true);
        let Observed::Configure(iq) = create.observe(&presence(&created)) else {
            panic!("a created room is configured with --create-rooms");
        };
        assert_eq!(
            iq,
            "<iq type='set' to='r@muc.example' id='xa-muc-create-0'>\
             <query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>"
        );
        assert!(create.waiting());
        let result = "<iq type='result' from='r@muc.example' id='xa-muc-create-0'/>";
        assert!(matches!(
            create.observe(&presence(result)),
            Observed::Configured(Ok(()))
        ));
        assert!(!create.waiting());
    }

    #[test]
    fn groupchat_goes_only_to_joined_rooms() {
        let mut rooms = rooms(&["r@muc.example/bot"], false);
        let message =
            |to: &str| format!("<message to='{to}' type='groupchat'><body>hi</body></message>");
        let err = rooms
            .check_outgoing("message", &message("r@muc.example"))
            .unwrap_err();
        assert_eq!(err.status(), Status::DataErr);
        assert_eq!(
            err.message(),
            "message to room r@muc.example, which this session did not join: join it first (--join r@muc.example/NICK, or the join presence of stanza-fmt's /join r@muc.example/NICK)"
        );
        rooms.observe(&presence(SELF));
        rooms
            .check_outgoing("message", &message("r@muc.example"))
            .unwrap();
        assert!(rooms
            .check_outgoing("message", &message("other@muc.example"))
            .is_err());
        // Chat messages, and private messages to an occupant, are not groupchat.
        rooms
            .check_outgoing("message", "<message to='other@muc.example/x' type='chat'/>")
            .unwrap();
        // A room downstream joins itself is joined, and named.
        let joined = rooms
            .check_outgoing(
                "presence",
                "<presence to='other@muc.example/me'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
            )
            .unwrap();
        assert_eq!(joined, Some(Jid::parse("other@muc.example").unwrap()));
        // Leaving, or a presence to the bare room, joins nothing.
        for line in [
            "<presence to='other@muc.example/me' type='unavailable'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
            "<presence to='other@muc.example'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
        ] {
            assert_eq!(rooms.check_outgoing("presence", line).unwrap(), None, "{line}");
        }
        rooms
            .check_outgoing("message", &message("other@muc.example"))
            .unwrap();
    }
}

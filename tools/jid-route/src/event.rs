//! What a stanza means to a person: the reading that both the directory
//! tree (`--dir`) and the terminal (`--print`) show.

use crate::presence::State;
use crate::stanza::{one_line, printable, Kind, Stanza};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::stream::describe_stanza_error;
use xmpp_pipes::xml::Element;

/// The namespace of MUC occupant information (XEP-0045).
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// One thing to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chat, normal or headline message with text: `contact` is the bare JID of the conversation.
    Message {
        /// The conversation (the sender's bare JID).
        contact: Jid,
        /// Who wrote it, as shown between `<` and `>`.
        author: String,
        /// The text, terminal escapes defused.
        text: String,
        /// When it was said, if it came late (XEP-0203 `<delay/>`: offline
        /// storage, room history); never later than its arrival.
        when: Option<jiff::Timestamp>,
    },
    /// A line about a conversation: a subject, a subscription request, an error, a room join.
    Notice {
        /// The conversation (a bare JID).
        contact: Jid,
        /// What happened, on one line.
        text: String,
    },
    /// A contact's resource changed its presence.
    Presence {
        /// The full JID of the resource.
        from: Jid,
        /// Its new state.
        state: State,
    },
    /// An answer (result or error) to one of our iq requests.
    IqAnswer {
        /// The request's id, as sent.
        id: String,
        /// Its `from` (none: our own account answered).
        from: Option<Jid>,
        /// `result`, or `error: CONDITION`.
        summary: String,
    },
}

/// Read a stanza from `sender` (its validated `from`, or our own account
/// when it had none) as events; an `Err` says why it cannot be shown.
/// Stanzas with nothing to show (chat states, receipts, probes, iq requests) give no events.
/// `in_room`: the sender's bare JID is a room we are in. Only there is a
/// `groupchat` message a room's, its author a nick: anyone else's
/// `groupchat` is shown as a chat message, under the sender's bare JID, so
/// that a contact cannot pass a resource `boss@example.org` off as an author.
pub fn interpret(
    stanza: &Stanza,
    sender: Option<&Jid>,
    in_room: bool,
) -> Result<Vec<Event>, String> {
    if stanza.kind == Kind::Iq {
        return iq_answer(stanza).into_iter().collect();
    }
    if !matches!(stanza.kind, Kind::Message | Kind::Presence) {
        return Ok(Vec::new());
    }
    let sender = sender.ok_or("no from attribute, and our own JID is unknown (--me)")?;
    let bare = sender.to_bare();
    if stanza.kind == Kind::Message {
        return Ok(message(stanza, sender, bare, in_room));
    }
    Ok(presence(stanza, sender, bare, in_room))
}

fn iq_answer(stanza: &Stanza) -> Option<Result<Event, String>> {
    let summary = match stanza.stanza_type.as_str() {
        "result" => "result".to_owned(),
        "error" => format!(
            "error: {}",
            one_line(&describe_stanza_error(&stanza.element))
        ),
        _ => return None,
    };
    let from = match &stanza.from {
        None => None,
        Some(Ok(from)) => Some(from.clone()),
        Some(Err(err)) => return Some(Err(format!("an iq answer from an invalid address: {err}"))),
    };
    Some(match &stanza.id {
        Some(id) => Ok(Event::IqAnswer {
            id: id.clone(),
            from,
            summary,
        }),
        None => Err("an iq answer without an id".into()),
    })
}

fn notice(contact: &Jid, text: String) -> Event {
    Event::Notice {
        contact: contact.clone(),
        text: one_line(&text),
    }
}

fn message(stanza: &Stanza, sender: &Jid, bare: Jid, in_room: bool) -> Vec<Event> {
    let mut events = Vec::new();
    if stanza.stanza_type == "error" {
        let why = describe_stanza_error(&stanza.element);
        events.push(notice(&bare, format!("message to {sender} failed: {why}")));
        return events;
    }
    let groupchat = stanza.is_groupchat() && in_room;
    let author = match (groupchat, sender.resource()) {
        (true, Some(nick)) => crate::room::shown_nick(nick),
        _ => bare.to_string(),
    };
    if let Some(subject) = stanza.child_text("subject") {
        if groupchat {
            // An empty subject: cleared by an occupant, or none set (the
            // room's own one on entering, XEP-0045 §7.2.15).
            let text = match (subject.trim().is_empty(), sender.resource()) {
                (false, _) => format!("{author} set the topic to: {subject}"),
                (true, Some(_)) => format!("{author} cleared the topic"),
                (true, None) => "the room has no topic".to_owned(),
            };
            events.push(notice(&bare, text));
        } else if !subject.trim().is_empty() {
            events.push(notice(
                &bare,
                format!("{author} set the subject: {subject}"),
            ));
        }
    }
    let body = crate::oob::message_text(&stanza.element, stanza.child_text("body"));
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        if groupchat && sender.resource().is_none() {
            events.push(notice(&bare, body));
        } else {
            events.push(Event::Message {
                contact: bare,
                author,
                text: printable(&body),
                when: delay(&stanza.element),
            });
        }
    }
    events
}

/// A presence in words; a group chat one (`<x xmlns='…muc#user'/>`) is a
/// room's notice only `in_room` (a room we are in): from anyone else it is
/// their presence, whatever it carries.
fn presence(stanza: &Stanza, sender: &Jid, bare: Jid, in_room: bool) -> Vec<Event> {
    let who = bare.to_string();
    let text = match stanza.stanza_type.as_str() {
        "available" | "unavailable" => {
            let state = State::of(stanza);
            if in_room && stanza.element.child("x", NS_MUC_USER).is_some() {
                let nick = crate::room::shown_nick(sender.resource().unwrap_or_default());
                let what = if state.is_available() {
                    "is in the room"
                } else {
                    "left the room"
                };
                return vec![notice(&bare, format!("{nick} {what}"))];
            }
            return vec![Event::Presence {
                from: sender.clone(),
                state,
            }];
        }
        "subscribe" => format!(
            "{who} asks to subscribe to your presence (answer: /approve {who} or /deny {who})"
        ),
        "subscribed" => format!("{who} approved your subscription to their presence"),
        "unsubscribe" => format!("{who} unsubscribed from your presence"),
        "unsubscribed" => format!("{who} denied or cancelled your subscription to their presence"),
        "error" => format!(
            "presence error from {sender}: {}",
            describe_stanza_error(&stanza.element)
        ),
        _ => return Vec::new(),
    };
    vec![notice(&bare, text)]
}

/// Our own message, acknowledged by the server (`xmpp-auth --session-events`
/// reports it in an `<acked/>`): the line said in the conversation with its
/// recipient, by `me`. Group chat is left out: the room sends it back, and
/// that copy is the one shown.
pub fn own_message(message: &Element, me: &Jid) -> Option<Event> {
    if message.attr("type") == Some("groupchat") {
        return None;
    }
    let to = Jid::parse(message.attr("to")?).ok()?.to_bare();
    let body = message
        .child("body", xmpp_pipes::xml::NS_CLIENT)
        .map(Element::text);
    let body = crate::oob::message_text(message, body).filter(|body| !body.is_empty())?;
    Some(Event::Message {
        contact: to,
        author: me.to_bare().to_string(),
        text: printable(&body),
        when: None,
    })
}

/// How much of a message's text a refusal quotes.
const QUOTED: usize = 200;

/// A message of ours that xmpp-auth refused (`--refuse-bad-input` reports
/// it in a `<refused why='...'/>`): a notice in the conversation it was
/// for, saying what was not sent and why. `None` when the refusal is no
/// message's with a valid `to` (xmpp-auth's line in the log says it then).
pub fn refused(event: &Element) -> Option<Event> {
    let why = event.attr("why").unwrap_or("refused");
    let message = event.child("message", xmpp_pipes::xml::NS_CLIENT)?;
    let contact = Jid::parse(message.attr("to")?).ok()?.to_bare();
    let body = message
        .child("body", xmpp_pipes::xml::NS_CLIENT)
        .map(Element::text)
        .unwrap_or_default();
    Some(notice(
        &contact,
        format!("not sent: {} ({})", quoted(&body), one_line(why)),
    ))
}

/// A message's text as a notice quotes it: on one line, at most
/// [`QUOTED`] characters, and the whole length where it was cut.
pub fn quoted(body: &str) -> String {
    let mut quoted: String = one_line(body).chars().take(QUOTED).collect();
    if quoted.len() < body.len() {
        quoted.push_str(&format!("... ({} bytes)", body.len()));
    }
    quoted
}

/// XEP-0203: the time a late message was said, from its `<delay stamp/>`;
/// a stamp in the future (a clock that is wrong, or a sender's trick) is
/// not taken: a line is never dated after it arrived.
pub fn delay(message: &Element) -> Option<jiff::Timestamp> {
    let stamp = message.child("delay", NS_DELAY)?.attr("stamp")?;
    let when: jiff::Timestamp = stamp.trim().parse().ok()?;
    (when <= jiff::Timestamp::now()).then_some(when)
}

/// XEP-0203 delayed delivery.
const NS_DELAY: &str = "urn:xmpp:delay";

#[cfg(test)]
mod tests {
    use super::*;

    fn events(line: &str) -> Result<Vec<Event>, String> {
        let stanza = Stanza::parse(line.to_owned()).unwrap();
        let sender = stanza.from.clone().map(|r| r.unwrap());
        interpret(&stanza, sender.as_ref(), true)
    }

    fn jid(text: &str) -> Jid {
        Jid::parse(text).unwrap()
    }

    #[test]
    fn a_refused_message_is_a_notice_in_its_conversation() {
        let event = Element::parse(
            "<refused xmlns='urn:xmpp-pipes:session:0' why='not in the room'>\
             <message xmlns='jabber:client' to='room@muc.x/nick' type='groupchat'>\
             <body>hi&#10;there</body></message></refused>",
        )
        .unwrap();
        assert_eq!(
            refused(&event),
            Some(Event::Notice {
                contact: jid("room@muc.x"),
                text: "not sent: hi there (not in the room)".into()
            })
        );
        let long = format!(
            "<refused xmlns='urn:xmpp-pipes:session:0' why='big'>\
             <message xmlns='jabber:client' to='a@x'><body>{}</body></message></refused>",
            "y".repeat(1000)
        );
        let Some(Event::Notice { text, .. }) = refused(&Element::parse(&long).unwrap()) else {
            panic!("no notice")
        };
        assert!(text.ends_with("... (1000 bytes) (big)"), "{text}");
        let junk =
            Element::parse("<refused xmlns='urn:xmpp-pipes:session:0' why='junk'/>").unwrap();
        assert_eq!(refused(&junk), None);
    }

    #[test]
    fn a_late_message_keeps_its_time_unless_it_claims_the_future() {
        let when = |delay: &str| match &events(&format!(
            "<message from='b@x/pc' type='chat'><body>hi</body>{delay}</message>"
        ))
        .unwrap()[..]
        {
            [Event::Message { when, .. }] => *when,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            when("<delay xmlns='urn:xmpp:delay' from='x' stamp='2026-11-30T08:15:00Z'/>"),
            Some("2026-11-30T08:15:00Z".parse().unwrap())
        );
        assert_eq!(
            when("<delay xmlns='urn:xmpp:delay' stamp='2999-01-01T00:00:00Z'/>"),
            None
        );
        assert_eq!(
            when("<delay xmlns='urn:xmpp:delay' stamp='yesterday'/>"),
            None
        );
        assert_eq!(
            when("<delay xmlns='urn:other' stamp='2026-11-30T08:15:00Z'/>"),
            None
        );
        assert_eq!(when(""), None);
    }

    #[test]
    fn a_groupchat_from_no_room_of_ours_is_the_sender_s_own() {
        let stanza = Stanza::parse(
            "<message from='eve@x/boss@x' type='groupchat'><body>pay</body></message>".into(),
        )
        .unwrap();
        let sender = stanza.from.clone().map(|r| r.unwrap());
        let events = interpret(&stanza, sender.as_ref(), false).unwrap();
        assert!(
            matches!(&events[..], [Event::Message { contact, author, .. }]
                if contact.to_string() == "eve@x" && author == "eve@x"),
            "{events:?}"
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            events("<message from='Bob@X/pc' type='chat'><body>hi\u{1b}[2J</body></message>")
                .unwrap(),
            [Event::Message {
                contact: jid("bob@x"),
                author: "bob@x".into(),
                text: "hi\u{FFFD}[2J".into(),
                when: None,
            }]
        );
        assert_eq!(
            events("<message from='room@muc.x/Alice' type='groupchat'><subject>news</subject><body>yo</body></message>").unwrap(),
            [
                Event::Notice { contact: jid("room@muc.x"), text: "Alice set the topic to: news".into() },
                Event::Message { contact: jid("room@muc.x"), author: "Alice".into(), text: "yo".into(), when: None },
            ]
        );
        assert_eq!(
            events("<message from='room@muc.x/Alice' type='groupchat'><subject/></message>")
                .unwrap(),
            [Event::Notice {
                contact: jid("room@muc.x"),
                text: "Alice cleared the topic".into()
            }]
        );
        assert!(events("<message from='b@x' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>").unwrap().is_empty());
        let error = events("<message from='b@x' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>").unwrap();
        assert_eq!(
            error,
            [Event::Notice {
                contact: jid("b@x"),
                text: "message to b@x failed: item-not-found".into()
            }]
        );
        assert!(
            events("<message type='chat'><body>x</body></message>").is_err(),
            "no from, no --me"
        );
    }

    #[test]
    fn presence_and_subscriptions() {
        let text = |line: &str| match events(line).unwrap().as_slice() {
            [Event::Notice { text, .. }] => text.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            text("<presence from='bob@localhost' type='subscribe'/>"),
            "bob@localhost asks to subscribe to your presence (answer: /approve bob@localhost or /deny bob@localhost)"
        );
        assert!(text("<presence from='bob@localhost' type='unsubscribed'/>").contains("denied"));
        assert_eq!(text("<presence from='r@muc/A l'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>"), "A%20l is in the room");
        // Not in the room: the contact's presence, whatever it carries.
        let stanza = Stanza::parse(
            "<presence from='eve@x/bob@x'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>".into(),
        )
        .unwrap();
        let eve = stanza.from.clone().unwrap().unwrap();
        assert!(matches!(
            interpret(&stanza, Some(&eve), false).unwrap().as_slice(),
            [Event::Presence { .. }]
        ));
        assert!(
            matches!(events("<presence from='b@x/r'><show>away</show></presence>").unwrap().as_slice(),
            [Event::Presence { state, .. }] if state.show == "away")
        );
        assert!(events("<presence from='b@x' type='probe'/>")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn iq_answers() {
        assert_eq!(
            events("<iq type='result' id='r1'/>").unwrap(),
            [Event::IqAnswer {
                id: "r1".into(),
                from: None,
                summary: "result".into()
            }]
        );
        assert!(matches!(
            &events("<iq type='result' id='r2' from='b@x/y'/>").unwrap()[..],
            [Event::IqAnswer { from: Some(from), .. }] if from.to_string() == "b@x/y"
        ));
        assert!(events("<iq type='result'/>").is_err());
        assert!(
            events("<iq type='get' id='g' from='a@b'><ping xmlns='urn:xmpp:ping'/></iq>")
                .unwrap()
                .is_empty()
        );
    }
}

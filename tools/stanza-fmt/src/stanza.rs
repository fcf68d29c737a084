//! The stanzas stanza-fmt writes, each as RFC 6121 or its XEP prescribes.
//!
//! Every builder returns an [`Element`] in the `jabber:client` namespace;
//! [`line`] turns it into a stanza line. Ids are given by the caller.

use xmpp_pipes::jid::Jid;
use xmpp_pipes::stream::NS_PING;
use xmpp_pipes::xml::{Element, NS_CLIENT};

/// `jabber:iq:roster` (RFC 6121 §2).
pub const NS_ROSTER: &str = "jabber:iq:roster";
pub use xmpp_pipes::stream::NS_MUC;
/// `http://jabber.org/protocol/disco#info` (XEP-0030).
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// `jabber:iq:version` (XEP-0092).
pub const NS_VERSION: &str = "jabber:iq:version";

/// A message's content and metadata.
#[derive(Debug, Clone, Default)]
pub struct Message<'a> {
    /// The `type` attribute.
    pub kind: &'a str,
    /// `<subject/>`, if any (may be empty: clears a room's subject).
    pub subject: Option<&'a str>,
    /// `<body/>`, if any.
    pub body: Option<&'a str>,
    /// `<thread/>`, if any.
    pub thread: Option<&'a str>,
    /// `xml:lang`, if any.
    pub lang: Option<&'a str>,
}

fn client(name: &str) -> Element {
    Element::new(name, NS_CLIENT)
}

/// `<message to type id xml:lang><subject/><body/><thread/></message>` (RFC 6121 §5.2).
pub fn message(to: &Jid, id: &str, m: &Message<'_>) -> Element {
    let mut el = client("message")
        .with_attr("to", to.to_string())
        .with_attr("type", m.kind)
        .with_attr("id", id);
    if let Some(lang) = m.lang {
        el = el.with_attr("xml:lang", lang);
    }
    if let Some(subject) = m.subject {
        el = el.with_child(client("subject").with_text(subject));
    }
    if let Some(body) = m.body {
        el = el.with_child(client("body").with_text(body));
    }
    if let Some(thread) = m.thread {
        el = el.with_child(client("thread").with_text(thread));
    }
    el
}

/// Availability as `/presence` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Available, no `<show/>`.
    Available,
    /// `<show>away</show>`.
    Away,
    /// `<show>chat</show>`: free for chat.
    Chat,
    /// `<show>dnd</show>`: do not disturb.
    Dnd,
    /// `<show>xa</show>`: extended away.
    Xa,
    /// `type='unavailable'`.
    Unavailable,
}

impl Show {
    /// The word for it on a command line (`online` and `offline` are accepted too).
    pub fn from_word(word: &str) -> Option<Show> {
        Some(match word {
            "available" | "online" => Show::Available,
            "away" => Show::Away,
            "chat" => Show::Chat,
            "dnd" => Show::Dnd,
            "xa" => Show::Xa,
            "unavailable" | "offline" => Show::Unavailable,
            _ => return None,
        })
    }
}

/// Presence: broadcast (`to` None) or directed (RFC 6121 §4.2, §4.5, §4.6).
pub fn presence(
    to: Option<&Jid>,
    id: &str,
    show: Show,
    status: Option<&str>,
    lang: Option<&str>,
) -> Element {
    let mut el = client("presence");
    if let Some(to) = to {
        el = el.with_attr("to", to.to_string());
    }
    if show == Show::Unavailable {
        el = el.with_attr("type", "unavailable");
    }
    el = el.with_attr("id", id);
    if let (Some(lang), Some(_)) = (lang, status) {
        el = el.with_attr("xml:lang", lang);
    }
    let word = match show {
        Show::Away => Some("away"),
        Show::Chat => Some("chat"),
        Show::Dnd => Some("dnd"),
        Show::Xa => Some("xa"),
        Show::Available | Show::Unavailable => None,
    };
    if let Some(word) = word {
        el = el.with_child(client("show").with_text(word));
    }
    if let Some(status) = status {
        el = el.with_child(client("status").with_text(status));
    }
    el
}

/// Subscription presence: `subscribe`, `subscribed`, `unsubscribe`, `unsubscribed` (RFC 6121 §3).
pub fn subscription(to: &Jid, id: &str, kind: &str) -> Element {
    client("presence")
        .with_attr("to", to.to_string())
        .with_attr("type", kind)
        .with_attr("id", id)
}

/// Joining a room: presence to ROOM@SERVICE/NICK with the MUC `<x/>` (XEP-0045 §7.2, §7.2.5).
pub fn join(occupant: &Jid, id: &str, password: Option<&str>) -> Element {
    let mut x = Element::new("x", NS_MUC);
    if let Some(password) = password {
        x = x.with_child(Element::new("password", NS_MUC).with_text(password));
    }
    client("presence")
        .with_attr("to", occupant.to_string())
        .with_attr("id", id)
        .with_child(x)
}

/// An iq: `<iq type to id>payload</iq>` (RFC 6120 §8.2.3); `to` None addresses our own account.
pub fn iq(kind: &str, to: Option<&Jid>, id: &str, payload: Element) -> Element {
    let mut el = client("iq").with_attr("type", kind);
    if let Some(to) = to {
        el = el.with_attr("to", to.to_string());
    }
    el.with_attr("id", id).with_child(payload)
}

/// Roster get (RFC 6121 §2.1.3).
pub fn roster_get(id: &str) -> Element {
    iq("get", None, id, Element::new("query", NS_ROSTER))
}

/// Roster set adding or updating an item (RFC 6121 §2.3, §2.4).
pub fn roster_set(id: &str, jid: &Jid, name: Option<&str>, groups: &[String]) -> Element {
    let mut item = Element::new("item", NS_ROSTER).with_attr("jid", jid.to_string());
    if let Some(name) = name {
        item = item.with_attr("name", name);
    }
    for group in groups {
        item = item.with_child(Element::new("group", NS_ROSTER).with_text(group.as_str()));
    }
    iq(
        "set",
        None,
        id,
        Element::new("query", NS_ROSTER).with_child(item),
    )
}

/// Roster set removing an item (RFC 6121 §2.5).
pub fn roster_remove(id: &str, jid: &Jid) -> Element {
    let item = Element::new("item", NS_ROSTER)
        .with_attr("jid", jid.to_string())
        .with_attr("subscription", "remove");
    iq(
        "set",
        None,
        id,
        Element::new("query", NS_ROSTER).with_child(item),
    )
}

/// XMPP ping (XEP-0199 §4).
pub fn ping(to: &Jid, id: &str) -> Element {
    iq("get", Some(to), id, Element::new("ping", NS_PING))
}

/// Service discovery info query (XEP-0030 §3.1), optionally of a node.
pub fn disco_info(to: &Jid, id: &str, node: Option<&str>) -> Element {
    let mut query = Element::new("query", NS_DISCO_INFO);
    if let Some(node) = node {
        query = query.with_attr("node", node);
    }
    iq("get", Some(to), id, query)
}

/// Software version query (XEP-0092 §2).
pub fn version(to: &Jid, id: &str) -> Element {
    iq("get", Some(to), id, Element::new("query", NS_VERSION))
}

/// Serialise a stanza as a stanza line (without the `\n`).
pub fn line(stanza: &Element) -> Result<String, xmpp_pipes::xml::escape::BadChar> {
    stanza.to_line(NS_CLIENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(text: &str) -> Jid {
        Jid::parse(text).unwrap()
    }

    fn text_of(stanza: Element) -> String {
        line(&stanza).unwrap()
    }

    #[test]
    fn messages_and_presence() {
        let m = Message {
            kind: "chat",
            subject: Some("s"),
            body: Some("a\nb & <c>"),
            thread: Some("t"),
            lang: Some("en"),
        };
        assert_eq!(
            text_of(message(&jid("b@x"), "1", &m)),
            "<message to='b@x' type='chat' id='1' xml:lang='en'><subject>s</subject>\
             <body>a&#10;b &amp; &lt;c&gt;</body><thread>t</thread></message>"
        );
        assert_eq!(
            text_of(presence(None, "2", Show::Xa, Some("zzz"), Some("de"))),
            "<presence id='2' xml:lang='de'><show>xa</show><status>zzz</status></presence>"
        );
        assert_eq!(
            text_of(presence(
                Some(&jid("r@m/n")),
                "3",
                Show::Unavailable,
                None,
                Some("de")
            )),
            "<presence to='r@m/n' type='unavailable' id='3'/>"
        );
        assert_eq!(
            text_of(subscription(&jid("b@x"), "4", "subscribed")),
            "<presence to='b@x' type='subscribed' id='4'/>"
        );
    }

    #[test]
    fn rooms_roster_and_queries() {
        assert_eq!(
            text_of(join(&jid("r@m/n"), "5", Some("pw"))),
            "<presence to='r@m/n' id='5'><x xmlns='http://jabber.org/protocol/muc'>\
             <password>pw</password></x></presence>"
        );
        assert_eq!(
            text_of(roster_set("6", &jid("b@x"), Some("B"), &["G".to_owned()])),
            "<iq type='set' id='6'><query xmlns='jabber:iq:roster'><item jid='b@x' name='B'>\
             <group>G</group></item></query></iq>"
        );
        assert_eq!(
            text_of(roster_remove("7", &jid("b@x"))),
            "<iq type='set' id='7'><query xmlns='jabber:iq:roster'>\
             <item jid='b@x' subscription='remove'/></query></iq>"
        );
        assert_eq!(
            text_of(ping(&jid("x"), "8")),
            "<iq type='get' to='x' id='8'><ping xmlns='urn:xmpp:ping'/></iq>"
        );
        assert_eq!(
            text_of(disco_info(&jid("x"), "9", Some("n"))),
            "<iq type='get' to='x' id='9'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/></iq>"
        );
        assert_eq!(
            text_of(version(&jid("x"), "10")),
            "<iq type='get' to='x' id='10'><query xmlns='jabber:iq:version'/></iq>"
        );
    }
}

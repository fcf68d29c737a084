//! One stanza line, parsed once, with the fields routing and commands need.

use xmpp_pipes::jid::{Jid, JidError};
use xmpp_pipes::stream::describe_stanza_error;
use xmpp_pipes::xml::{Element, FrameError, NS_CLIENT};

/// The longest value put in one environment variable, in bytes: Linux
/// refuses a single environment string over 128 KiB, and the whole stanza
/// is on the command's standard input anyway.
pub const MAX_ENV_VALUE: usize = 64 * 1024;

/// The environment variables jid-route sets (or removes) for commands.
pub const ENV_NAMES: [&str; 16] = [
    "XMPP_KIND",
    "XMPP_TYPE",
    "XMPP_FROM",
    "XMPP_FROM_BARE",
    "XMPP_TO",
    "XMPP_ID",
    "XMPP_BODY",
    "XMPP_SUBJECT",
    "XMPP_THREAD",
    "XMPP_NICK",
    "XMPP_SHOW",
    "XMPP_STATUS",
    "XMPP_PRIORITY",
    "XMPP_NS",
    "XMPP_ERROR",
    "XMPP_CARBON",
];

/// The kind of a top-level element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `<message/>`.
    Message,
    /// `<presence/>`.
    Presence,
    /// `<iq/>`.
    Iq,
    /// Anything else (a stream error, a nonza): its local name.
    Other(String),
}

impl Kind {
    /// The name, as in `XMPP_KIND`.
    pub fn name(&self) -> &str {
        match self {
            Kind::Message => "message",
            Kind::Presence => "presence",
            Kind::Iq => "iq",
            Kind::Other(name) => name,
        }
    }
}

/// A stanza line and what was read from it.
#[derive(Debug, Clone)]
pub struct Stanza {
    /// The line, as the framer produced it (no `\n`).
    pub line: String,
    /// The parsed element.
    pub element: Element,
    /// Its kind.
    pub kind: Kind,
    /// The type, defaults applied: `normal` for a message, `available` for a presence.
    pub stanza_type: String,
    /// The `from` attribute: absent, a valid normalised JID, or why it is not one.
    pub from: Option<Result<Jid, JidError>>,
    /// The `to` attribute, normalised when valid.
    pub to: Option<String>,
    /// The `id` attribute.
    pub id: Option<String>,
    /// The direction (`sent`, `received`) of the carbon copy (XEP-0280)
    /// this message came in, our own account's; `None`: it came itself.
    pub carbon: Option<&'static str>,
}

impl Stanza {
    /// Parse a stanza line.
    pub fn parse(line: String) -> Result<Stanza, FrameError> {
        let element = Element::parse(&line)?;
        let kind = if element.ns == NS_CLIENT {
            match element.name.as_str() {
                "message" => Kind::Message,
                "presence" => Kind::Presence,
                "iq" => Kind::Iq,
                other => Kind::Other(other.to_owned()),
            }
        } else {
            Kind::Other(element.name.clone())
        };
        let stanza_type = match (element.attr("type"), &kind) {
            (Some(t), _) => t.to_owned(),
            (None, Kind::Message) => "normal".to_owned(),
            (None, Kind::Presence) => "available".to_owned(),
            (None, _) => String::new(),
        };
        let from = element.attr("from").map(Jid::parse);
        let to = element
            .attr("to")
            .map(|to| Jid::parse(to).map_or_else(|_| to.to_owned(), |jid| jid.to_string()));
        let id = element.attr("id").map(str::to_owned);
        Ok(Stanza {
            line,
            element,
            kind,
            stanza_type,
            from,
            to,
            id,
            carbon: None,
        })
    }

    /// The text of a direct child in the stanza's namespace (`body`, `subject`, `status`...).
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.element
            .child(name, &self.element.ns)
            .map(|child| child.text())
    }

    /// The namespace of the payload: the first child element that is not an `error`.
    pub fn payload_ns(&self) -> Option<&str> {
        self.element
            .elements()
            .find(|child| !(child.name == "error" && child.ns == self.element.ns))
            .map(|child| child.ns.as_str())
    }

    /// The `show` of a presence, `available` or `unavailable` when it has none.
    pub fn show(&self) -> String {
        match self.child_text("show") {
            Some(show) if !show.trim().is_empty() => one_line(show.trim()),
            _ => self.stanza_type.clone(),
        }
    }

    /// Whether it comes from our own account (`me`): no `from`, or our bare
    /// JID (RFC 6120 §8.1.2.1), as roster pushes and archive results must.
    pub fn from_account(&self, me: &Jid) -> bool {
        match &self.from {
            None => true,
            Some(Ok(from)) => from.is_bare() && *from == me.to_bare(),
            Some(Err(_)) => false,
        }
    }

    /// Whether this is a group chat message.
    pub fn is_groupchat(&self) -> bool {
        self.kind == Kind::Message && self.stanza_type == "groupchat"
    }

    /// The environment for a command handling this stanza: every name of
    /// [`ENV_NAMES`] with its value, or `None` where it is to be removed.
    pub fn env(&self, sender: Option<&Jid>) -> Vec<(&'static str, Option<String>)> {
        let from = sender;
        let mut values: Vec<(&'static str, Option<String>)> = vec![
            ("XMPP_KIND", Some(self.kind.name().to_owned())),
            (
                "XMPP_TYPE",
                Some(self.stanza_type.clone()).filter(|t| !t.is_empty()),
            ),
            ("XMPP_FROM", from.map(Jid::to_string)),
            ("XMPP_FROM_BARE", from.map(|jid| jid.to_bare().to_string())),
            ("XMPP_TO", self.to.clone()),
            ("XMPP_ID", self.id.clone()),
            ("XMPP_BODY", self.child_text("body")),
            ("XMPP_SUBJECT", self.child_text("subject")),
            ("XMPP_THREAD", self.child_text("thread")),
            (
                "XMPP_NICK",
                from.filter(|_| self.is_groupchat())
                    .and_then(|jid| jid.resource().map(str::to_owned)),
            ),
            ("XMPP_SHOW", self.child_text("show")),
            ("XMPP_STATUS", self.child_text("status")),
            ("XMPP_PRIORITY", self.child_text("priority")),
            ("XMPP_NS", self.payload_ns().map(str::to_owned)),
            (
                "XMPP_ERROR",
                (self.stanza_type == "error").then(|| describe_stanza_error(&self.element)),
            ),
            ("XMPP_CARBON", self.carbon.map(str::to_owned)),
        ];
        for (_, value) in &mut values {
            if let Some(text) = value {
                truncate(text, MAX_ENV_VALUE);
            }
        }
        values
    }
}

/// Cut `text` to at most `max` bytes, at a character boundary.
pub fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// Text from the network made safe for a terminal: control characters
/// (escape sequences!) other than newline and tab become U+FFFD.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\n' || c == '\t' || !c.is_control() {
                c
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}

/// Like [`printable`], and on one line: newlines become spaces.
pub fn one_line(text: &str) -> String {
    printable(text).replace(['\n', '\t'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(line: &str) -> Vec<(&'static str, Option<String>)> {
        let stanza = Stanza::parse(line.to_owned()).unwrap();
        let from = stanza.from.clone().and_then(Result::ok);
        stanza.env(from.as_ref())
    }

    fn get<'a>(env: &'a [(&str, Option<String>)], name: &str) -> Option<&'a str> {
        env.iter()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value.as_deref())
    }

    #[test]
    fn environment_of_a_chat_message() {
        let env = env_of(
            "<message from='Alice@Example.org/Phone' to='me@example.org' type='chat' id='m1'>\
             <body>hi $(touch pwned) &apos;q&apos;&#10;2</body><subject>s</subject><thread>t</thread></message>",
        );
        assert_eq!(env.len(), ENV_NAMES.len());
        assert_eq!(get(&env, "XMPP_KIND"), Some("message"));
        assert_eq!(get(&env, "XMPP_TYPE"), Some("chat"));
        assert_eq!(get(&env, "XMPP_FROM"), Some("alice@example.org/Phone"));
        assert_eq!(get(&env, "XMPP_FROM_BARE"), Some("alice@example.org"));
        assert_eq!(get(&env, "XMPP_TO"), Some("me@example.org"));
        assert_eq!(get(&env, "XMPP_ID"), Some("m1"));
        assert_eq!(get(&env, "XMPP_BODY"), Some("hi $(touch pwned) 'q'\n2"));
        assert_eq!(get(&env, "XMPP_SUBJECT"), Some("s"));
        assert_eq!(get(&env, "XMPP_THREAD"), Some("t"));
        assert_eq!(get(&env, "XMPP_NICK"), None);
        assert_eq!(get(&env, "XMPP_ERROR"), None);
    }

    #[test]
    fn environment_of_groupchat_presence_iq_and_errors() {
        let env = env_of(
            "<message from='room@muc.example.org/Bob' type='groupchat'><body>x</body></message>",
        );
        assert_eq!(get(&env, "XMPP_NICK"), Some("Bob"));
        assert_eq!(get(&env, "XMPP_FROM_BARE"), Some("room@muc.example.org"));

        let env = env_of("<presence from='a@b/c'><show>away</show><status>lunch</status><priority>5</priority></presence>");
        assert_eq!(get(&env, "XMPP_TYPE"), Some("available"));
        assert_eq!(get(&env, "XMPP_SHOW"), Some("away"));
        assert_eq!(get(&env, "XMPP_STATUS"), Some("lunch"));
        assert_eq!(get(&env, "XMPP_PRIORITY"), Some("5"));

        let env =
            env_of("<iq from='a@b/c' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>");
        assert_eq!(get(&env, "XMPP_KIND"), Some("iq"));
        assert_eq!(get(&env, "XMPP_NS"), Some("jabber:iq:version"));
        assert_eq!(get(&env, "XMPP_BODY"), None);

        let env = env_of(
            "<message from='a@b' type='error'><error type='cancel'><item-not-found \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        );
        assert_eq!(get(&env, "XMPP_ERROR"), Some("item-not-found"));
        assert_eq!(get(&env, "XMPP_FROM"), Some("a@b"));
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let body = "é".repeat(MAX_ENV_VALUE);
        let env = env_of(&format!(
            "<message from='a@b'><body>{body}</body></message>"
        ));
        let cut = get(&env, "XMPP_BODY").unwrap();
        assert!(cut.len() <= MAX_ENV_VALUE && cut.len() >= MAX_ENV_VALUE - 1);
        assert!(body.starts_with(cut));
    }

    #[test]
    fn kinds_and_default_types() {
        let stanza = Stanza::parse("<message to='x@y'/>".into()).unwrap();
        assert_eq!(
            (stanza.kind.clone(), stanza.stanza_type.as_str()),
            (Kind::Message, "normal")
        );
        assert!(stanza.from.is_none());
        let stanza =
            Stanza::parse("<stream:error xmlns:stream='http://etherx.jabber.org/streams'/>".into())
                .unwrap();
        assert_eq!(stanza.kind, Kind::Other("error".into()));
        let stanza = Stanza::parse("<message from='../../x@y'/>".into()).unwrap();
        assert!(matches!(stanza.from, Some(Err(_))));
    }

    #[test]
    fn terminal_escapes_are_defused() {
        assert_eq!(
            printable("a\u{1b}[2Jb\tc\nd\u{7f}\u{9b}"),
            "a\u{FFFD}[2Jb\tc\nd\u{FFFD}\u{FFFD}"
        );
        assert_eq!(one_line("a\nb\tc"), "a b c");
    }
}

//! The command language of `--commands`: one command a line.
//!
//! [`parse`] turns one (already cleaned) input line into a [`Line`]: a
//! [`Command`], plain text for the `--to` contact, or nothing (a blank line
//! or a `/#` comment). Parsing is pure; turning a command into a stanza is
//! the job of [`crate::format`]. Every error names what to write instead.

use crate::stanza::Show;
use std::io::BufReader;
use xmpp_pipes::jid::Jid;
use xmpp_pipes::xml::{Element, Framer, Item};

/// One command, with its arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/msg JID TEXT` and `/subject JID SUBJECT [:: TEXT]`: a message.
    Message {
        /// The addressee.
        to: Jid,
        /// Its subject, if any.
        subject: Option<String>,
        /// Its body, if any.
        body: Option<String>,
    },
    /// `/presence [SHOW] [STATUS]` (`to` None) and `/presence-to JID [SHOW] [STATUS]`.
    Presence {
        /// The addressee of directed presence.
        to: Option<Jid>,
        /// Availability.
        show: Show,
        /// The status text.
        status: Option<String>,
    },
    /// `/subscribe`, `/approve`, `/deny`, `/unsubscribe`: presence of this `type`.
    Subscription {
        /// The contact.
        to: Jid,
        /// `subscribe`, `subscribed`, `unsubscribed` or `unsubscribe`.
        kind: &'static str,
    },
    /// `/roster`: roster get.
    Roster,
    /// `/add JID [NAME] [GROUP...]`: roster set.
    Add {
        /// The contact.
        jid: Jid,
        /// Its name in the roster.
        name: Option<String>,
        /// Its roster groups.
        groups: Vec<String>,
    },
    /// `/remove JID`: roster set with `subscription='remove'`.
    Remove(Jid),
    /// `/join ROOM@SERVICE/NICK [PASSWORD]`.
    Join {
        /// The occupant JID: room and nick.
        occupant: Jid,
        /// The room password.
        password: Option<String>,
    },
    /// `/leave ROOM[/NICK] [STATUS]`.
    Leave {
        /// The room, with the nick if given.
        room: Jid,
        /// The status text sent with the unavailable presence.
        status: Option<String>,
    },
    /// `/say ROOM TEXT`: a groupchat message.
    Say {
        /// The room (bare).
        room: Jid,
        /// The text.
        text: String,
    },
    /// `/ping JID` (XEP-0199).
    Ping(Jid),
    /// `/disco JID [NODE]` (XEP-0030 disco#info).
    Disco {
        /// The entity queried.
        to: Jid,
        /// The node queried, if any.
        node: Option<String>,
    },
    /// `/version JID` (XEP-0092).
    Version(Jid),
    /// `/raw XML`: one element, as a stanza line.
    Raw(String),
}

/// What one input line of `--commands` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A command.
    Command(Command),
    /// Text for the `--to` contact (`//text` gives `/text`).
    Text(String),
    /// A blank line or a `/#` comment.
    Nothing,
}

/// The commands and how each is written, for error messages and documentation.
pub const USAGE: &[(&str, &str)] = &[
    ("msg", "/msg JID TEXT"),
    ("subject", "/subject JID SUBJECT [:: TEXT]"),
    ("presence", "/presence [SHOW] [STATUS]"),
    ("presence-to", "/presence-to JID [SHOW] [STATUS]"),
    ("roster", "/roster"),
    ("add", "/add JID [NAME] [GROUP...]"),
    ("remove", "/remove JID"),
    ("subscribe", "/subscribe JID"),
    ("approve", "/approve JID"),
    ("deny", "/deny JID"),
    ("unsubscribe", "/unsubscribe JID"),
    ("join", "/join ROOM@SERVICE/NICK [PASSWORD]"),
    ("leave", "/leave ROOM[/NICK] [STATUS]"),
    ("say", "/say ROOM TEXT"),
    ("ping", "/ping JID"),
    ("disco", "/disco JID [NODE]"),
    ("version", "/version JID"),
    ("raw", "/raw XML"),
];

/// The largest `/raw` element, in bytes.
const MAX_RAW: usize = 64 * 1024;

/// Parse one input line of `--commands`.
pub fn parse(line: &str) -> Result<Line, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with("/#") {
        return Ok(Line::Nothing);
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Line::Text(line.to_owned()));
    };
    if command.starts_with('/') {
        return Ok(Line::Text(command.to_owned()));
    }
    let (name, rest) = word(command);
    let Some(&(_, usage)) = USAGE.iter().find(|(known, _)| *known == name) else {
        let known: Vec<String> = USAGE.iter().map(|(n, _)| format!("/{n}")).collect();
        return Err(format!(
            "unknown command /{name} (known: {}; write //{name} to send the text as a message)",
            known.join(", ")
        ));
    };
    parse_command(name, rest)
        .map(Line::Command)
        .map_err(|e| format!("{e} (write {usage})"))
}

fn parse_command(name: &str, rest: &str) -> Result<Command, String> {
    let one_jid = |rest: &str| -> Result<Jid, String> {
        let (jid, extra) = word(rest);
        if !extra.is_empty() {
            return Err(format!("/{name}: unexpected {extra:?} after the JID"));
        }
        jid_arg(name, jid)
    };
    Ok(match name {
        "msg" => {
            let (jid, text) = word(rest);
            Command::Message {
                to: jid_arg(name, jid)?,
                subject: None,
                body: Some(required(name, "TEXT", text)?),
            }
        }
        "subject" => {
            let (jid, text) = word(rest);
            let to = jid_arg(name, jid)?;
            let (subject, body) = match text.split_once("::") {
                Some((subject, body)) => (subject.trim(), optional(body)),
                None => (text, None),
            };
            Command::Message {
                to,
                subject: Some(required(name, "SUBJECT", subject)?),
                body,
            }
        }
        "presence" => {
            let (show, status) = show_and_status(rest);
            Command::Presence {
                to: None,
                show,
                status,
            }
        }
        "presence-to" => {
            let (jid, rest) = word(rest);
            let (show, status) = show_and_status(rest);
            Command::Presence {
                to: Some(jid_arg(name, jid)?),
                show,
                status,
            }
        }
        "roster" if rest.is_empty() => Command::Roster,
        "roster" => return Err(format!("/roster takes no argument, not {rest:?}")),
        "add" => {
            let mut words = quoted_words(rest)?.into_iter();
            let jid = jid_arg(name, &words.next().unwrap_or_default())?;
            let name = words.next().filter(|n| !n.is_empty());
            Command::Add {
                jid,
                name,
                groups: words.filter(|g| !g.is_empty()).collect(),
            }
        }
        "remove" => Command::Remove(one_jid(rest)?),
        "subscribe" | "approve" | "deny" | "unsubscribe" => Command::Subscription {
            to: one_jid(rest)?,
            kind: match name {
                "subscribe" => "subscribe",
                "approve" => "subscribed",
                "deny" => "unsubscribed",
                _ => "unsubscribe",
            },
        },
        "join" => {
            let (jid, password) = word(rest);
            let occupant = jid_arg(name, jid)?;
            if occupant.resource().is_none() || occupant.local().is_none() {
                return Err(format!(
                    "/join needs ROOM@SERVICE/NICK, not {:?}",
                    occupant.to_string()
                ));
            }
            Command::Join {
                occupant,
                password: optional(password),
            }
        }
        "leave" => {
            let (jid, status) = word(rest);
            Command::Leave {
                room: jid_arg(name, jid)?,
                status: optional(status),
            }
        }
        "say" => {
            let (jid, text) = word(rest);
            Command::Say {
                room: jid_arg(name, jid)?.to_bare(),
                text: required(name, "TEXT", text)?,
            }
        }
        "ping" => Command::Ping(one_jid(rest)?),
        "version" => Command::Version(one_jid(rest)?),
        "disco" => {
            let (jid, node) = word(rest);
            Command::Disco {
                to: jid_arg(name, jid)?,
                node: optional(node),
            }
        }
        "raw" => Command::Raw(raw_element(required(name, "XML", rest)?.as_str())?),
        other => return Err(format!("/{other} is not implemented")),
    })
}

/// The first whitespace-separated word and the rest, both trimmed.
fn word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], text[end..].trim()),
        None => (text, ""),
    }
}

fn required(command: &str, what: &str, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        Err(format!("/{command}: missing {what}"))
    } else {
        Ok(text.to_owned())
    }
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn jid_arg(command: &str, text: &str) -> Result<Jid, String> {
    if text.is_empty() {
        return Err(format!("/{command}: missing JID"));
    }
    Jid::parse(text).map_err(|e| format!("/{command}: {e}"))
}

fn show_and_status(text: &str) -> (Show, Option<String>) {
    let (first, rest) = word(text);
    match Show::from_word(first) {
        Some(show) => (show, optional(rest)),
        None => (Show::Available, optional(text)),
    }
}

/// Words separated by white space; `"two words"` is one word (no escapes inside).
fn quoted_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let end = after
                .find('"')
                .ok_or_else(|| format!("unclosed quote in {text:?}"))?;
            words.push(after[..end].to_owned());
            rest = after[end + 1..].trim_start();
        } else {
            let (first, tail) = word(rest);
            words.push(first.to_owned());
            rest = tail;
        }
    }
    Ok(words)
}

/// Check that `xml` is exactly one well-formed element and return it as a stanza line.
pub fn raw_element(xml: &str) -> Result<String, String> {
    let mut framer = Framer::new(BufReader::new(xml.as_bytes()), MAX_RAW);
    let line = match framer.next_item() {
        Ok(Some(Item::Stanza(line))) => line,
        Ok(Some(Item::Header(_) | Item::Close)) => {
            return Err("/raw: a stream header or close is not a stanza".to_owned())
        }
        Ok(None) => return Err("/raw: missing XML".to_owned()),
        Err(e) => return Err(format!("/raw: {e}")),
    };
    match framer.next_item() {
        Ok(None) => {}
        Ok(Some(_)) => return Err("/raw: more than one element".to_owned()),
        Err(e) => return Err(format!("/raw: after the element: {e}")),
    }
    Element::parse(&line).map_err(|e| format!("/raw: {e}"))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(line: &str) -> Command {
        match parse(line) {
            Ok(Line::Command(command)) => command,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        parse(line).expect_err(line)
    }

    fn jid(text: &str) -> Jid {
        Jid::parse(text).unwrap()
    }

    #[test]
    fn text_comments_and_escapes() {
        assert_eq!(parse("hello /x").unwrap(), Line::Text("hello /x".into()));
        assert_eq!(parse("//etc/motd").unwrap(), Line::Text("/etc/motd".into()));
        assert_eq!(parse("  ").unwrap(), Line::Nothing);
        assert_eq!(parse("/# note").unwrap(), Line::Nothing);
    }

    #[test]
    fn messages() {
        assert_eq!(
            command("/msg Bob@Example.org  hi  there "),
            Command::Message {
                to: jid("bob@example.org"),
                subject: None,
                body: Some("hi  there".into())
            }
        );
        assert_eq!(
            command("/subject bob@example.org Lunch plans :: at noon?"),
            Command::Message {
                to: jid("bob@example.org"),
                subject: Some("Lunch plans".into()),
                body: Some("at noon?".into())
            }
        );
        assert_eq!(
            command("/subject bob@example.org Only a subject"),
            Command::Message {
                to: jid("bob@example.org"),
                subject: Some("Only a subject".into()),
                body: None
            }
        );
        assert!(error("/msg bob@example.org").contains("missing TEXT"));
        assert!(error("/msg").contains("missing JID"));
        assert!(error("/subject a@b :: body").contains("missing SUBJECT"));
    }

    #[test]
    fn presence() {
        assert_eq!(
            command("/presence"),
            Command::Presence {
                to: None,
                show: Show::Available,
                status: None
            }
        );
        assert_eq!(
            command("/presence dnd in a meeting"),
            Command::Presence {
                to: None,
                show: Show::Dnd,
                status: Some("in a meeting".into())
            }
        );
        assert_eq!(
            command("/presence back soon"),
            Command::Presence {
                to: None,
                show: Show::Available,
                status: Some("back soon".into())
            }
        );
        assert_eq!(
            command("/presence-to a@b/r offline"),
            Command::Presence {
                to: Some(jid("a@b/r")),
                show: Show::Unavailable,
                status: None
            }
        );
    }

    #[test]
    fn roster_and_subscriptions() {
        assert_eq!(command("/roster"), Command::Roster);
        assert!(error("/roster now").contains("no argument"));
        assert_eq!(
            command(r#"/add bob@b "Bob Smith" Friends "Work mates""#),
            Command::Add {
                jid: jid("bob@b"),
                name: Some("Bob Smith".into()),
                groups: vec!["Friends".into(), "Work mates".into()]
            }
        );
        assert_eq!(
            command("/add bob@b"),
            Command::Add {
                jid: jid("bob@b"),
                name: None,
                groups: vec![]
            }
        );
        assert!(error(r#"/add bob@b "Bob"#).contains("unclosed quote"));
        assert!(error("/add").contains("missing JID"));
        assert_eq!(command("/remove bob@b"), Command::Remove(jid("bob@b")));
        for (word, kind) in [
            ("subscribe", "subscribe"),
            ("approve", "subscribed"),
            ("deny", "unsubscribed"),
            ("unsubscribe", "unsubscribe"),
        ] {
            assert_eq!(
                command(&format!("/{word} bob@b")),
                Command::Subscription {
                    to: jid("bob@b"),
                    kind
                }
            );
        }
        let err = error("/approve bob@b please");
        assert!(err.contains("unexpected") && err.contains("write /approve JID"));
    }

    #[test]
    fn rooms_and_queries() {
        assert_eq!(
            command("/join ops@conference.b/bot s3cret word"),
            Command::Join {
                occupant: jid("ops@conference.b/bot"),
                password: Some("s3cret word".into())
            }
        );
        assert!(error("/join ops@conference.b").contains("ROOM@SERVICE/NICK"));
        assert_eq!(
            command("/leave ops@conference.b bye"),
            Command::Leave {
                room: jid("ops@conference.b"),
                status: Some("bye".into())
            }
        );
        assert_eq!(
            command("/say ops@conference.b/x hello all"),
            Command::Say {
                room: jid("ops@conference.b"),
                text: "hello all".into()
            }
        );
        assert_eq!(command("/ping b"), Command::Ping(jid("b")));
        assert_eq!(command("/version a@b/r"), Command::Version(jid("a@b/r")));
        assert_eq!(
            command("/disco b node#1"),
            Command::Disco {
                to: jid("b"),
                node: Some("node#1".into())
            }
        );
        assert!(error("/ping a b").contains("unexpected"));
        assert!(error("/ping a@@b").contains("/ping"));
    }

    #[test]
    fn raw_is_one_element() {
        assert_eq!(
            command("/raw <presence type='probe' to='a@b'/>"),
            Command::Raw("<presence type='probe' to='a@b'/>".into())
        );
        assert_eq!(
            command("/raw  <iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq> "),
            Command::Raw("<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>".into())
        );
        for bad in [
            "/raw",
            "/raw <a/><b/>",
            "/raw <a>",
            "/raw <a></b>",
            "/raw text",
            "/raw <a/> text",
            "/raw <!-- c --><a/>",
            "/raw <p:a/>",
            "/raw <a>&ent;</a>",
        ] {
            let err = error(bad);
            assert!(err.contains("/raw"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_commands_say_what_to_write() {
        let err = error("/shrug");
        assert!(err.contains("unknown command /shrug"));
        assert!(err.contains("//shrug"));
    }
}

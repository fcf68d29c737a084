//! `--print`: readable lines for a terminal.
//!
//! ```text
//! 10:05 <bob@example.org> hello
//! 10:05 [room@muc.example.org] <Alice> hi all
//! 10:06 -!- bob@example.org is away (at lunch)
//! 10:07 -!- [iq r1] error: item-not-found
//! 2026-11-30 08:15 <bob@example.org> said while we were away
//! ```
//!
//! A message that came late (offline storage, room history) shows the date
//! and time it was said.
//!
//! Text from the network has its control characters defused first, so a
//! message cannot send escape sequences to the terminal.

use crate::event::Event;
use crate::presence::State;
use xmpp_pipes::jid::Jid;

/// The local time as `HH:MM`.
pub fn clock() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%H:%M")
        .to_string()
}

/// The terminal lines for one event (each ending in `\n`), given the
/// contact's new presence summary for [`Event::Presence`] (none: unchanged,
/// nothing to print) and our own JID (to say "you are" for our presence).
pub fn lines(event: &Event, summary: Option<&State>, me: Option<&Jid>) -> String {
    let time = clock();
    match event {
        Event::Message {
            contact,
            author,
            text,
            when,
        } => {
            let time = when.map_or(time, |when| {
                when.to_zoned(jiff::tz::TimeZone::system())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string()
            });
            let prefix = if *author == contact.to_string() {
                format!("{time} <{author}>")
            } else {
                format!("{time} [{contact}] <{author}>")
            };
            let text = text.strip_suffix('\n').unwrap_or(text);
            text.split('\n')
                .map(|line| format!("{prefix} {}\n", line.strip_suffix('\r').unwrap_or(line)))
                .collect()
        }
        Event::Notice { contact, text } => {
            if text.contains(&contact.to_string()) {
                format!("{time} -!- {text}\n")
            } else {
                format!("{time} -!- [{contact}] {text}\n")
            }
        }
        Event::Presence { from, .. } => {
            let Some(state) = summary else {
                return String::new();
            };
            let bare = from.to_bare();
            let who = if me.is_some_and(|me| me.to_bare() == bare) {
                "you are".to_owned()
            } else {
                format!("{bare} is")
            };
            match &state.status {
                Some(status) => format!("{time} -!- {who} {} ({status})\n", state.show),
                None => format!("{time} -!- {who} {}\n", state.show),
            }
        }
        Event::IqAnswer { id, summary, .. } => {
            format!(
                "{time} -!- [iq {}] {summary}\n",
                crate::stanza::one_line(id)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(text: &str) -> Jid {
        Jid::parse(text).unwrap()
    }

    #[test]
    fn readable_lines() {
        let chat = Event::Message {
            contact: jid("bob@x"),
            author: "bob@x".into(),
            text: "one\ntwo".into(),
            when: None,
        };
        let text = lines(&chat, None, None);
        let shown: Vec<&str> = text.lines().map(|l| &l[6..]).collect();
        assert_eq!(shown, ["<bob@x> one", "<bob@x> two"]);
        let room = Event::Message {
            contact: jid("r@muc"),
            author: "Al".into(),
            text: "hi".into(),
            when: None,
        };
        assert!(lines(&room, None, None).ends_with(" [r@muc] <Al> hi\n"));
        let away = State {
            show: "away".into(),
            status: Some("at lunch".into()),
            priority: 0,
        };
        let presence = Event::Presence {
            from: jid("bob@x/pc"),
            state: away.clone(),
        };
        assert!(lines(&presence, Some(&away), None).ends_with(" -!- bob@x is away (at lunch)\n"));
        assert!(lines(&presence, Some(&away), Some(&jid("bob@x/me")))
            .ends_with(" -!- you are away (at lunch)\n"));
        assert_eq!(lines(&presence, None, None), "");
    }
}

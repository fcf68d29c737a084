//! Input lines to stanzas: the state of one run.
//!
//! A [`Formatter`] takes the lines of stdin (plain text or commands) and of
//! the contact pipes of `--dir`, checks them, builds the stanza each one asks
//! for and writes it. It remembers the nick of every room joined with
//! `/join`, so that `/leave ROOM` knows whom to make unavailable.

use crate::command::{self, Command, Line};
use crate::ids::IdGen;
use crate::options::Options;
use crate::output::Output;
use crate::stanza::{self, Message, Show};
use crate::text::{self, Piece, MAX_LINE};
use std::collections::HashMap;
use xmpp_pipes::exit::{self, Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::xml::Element;

/// Bytes of a server's stanza limit left for what comes after stanza-fmt:
/// the id, xmpp-auth's origin-id and receipt request.
pub const MARGIN: usize = 512;

/// Where an input line came from, for messages: stdin or a contact's pipe.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The pipe's path; None for stdin.
    pub pipe: Option<&'a str>,
    /// The line number within that input, from 1.
    pub number: usize,
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pipe {
            Some(pipe) => write!(f, "{pipe}: line {}", self.number),
            None => write!(f, "line {}", self.number),
        }
    }
}

/// Turns input lines into stanzas on the output.
pub struct Formatter<'a> {
    options: &'a Options,
    ids: IdGen,
    output: Output,
    /// Rooms joined with `/join`: bare room JID → occupant JID (room/nick).
    rooms: HashMap<Jid, Jid>,
}

impl<'a> Formatter<'a> {
    /// A formatter for a run with these options, ids and output.
    pub fn new(options: &'a Options, ids: IdGen, output: Output) -> Self {
        Formatter {
            options,
            ids,
            output,
            rooms: HashMap::new(),
        }
    }

    /// The text of one input line, checked (or repaired with `--lossy`, with a warning).
    /// A piece holding several lines (`--whole`) starts at line `origin.number`.
    pub fn clean(&self, origin: Origin<'_>, piece: Piece) -> Result<String> {
        let at = |line: usize| Origin {
            number: origin.number + line - 1,
            ..origin
        };
        let raw = match piece {
            Piece::Line(raw) => raw,
            Piece::TooLong => {
                return Err(Error::data(format!(
                    "{origin}: longer than {MAX_LINE} bytes"
                )))
            }
        };
        let cleaned = text::clean(&raw, self.options.lossy)
            .map_err(|problem| Error::data(format!("{}: {}", at(problem.line), problem.message)))?;
        for (line, warning) in &cleaned.warnings {
            exit::warn("stanza-fmt", format!("{}: {warning}", at(*line)));
        }
        Ok(cleaned.text)
    }

    /// One line of stdin: plain text for `--to`, or with `--commands` a command.
    pub fn stdin_line(&mut self, origin: Origin<'_>, piece: Piece) -> Result<()> {
        let text = self.clean(origin, piece)?;
        let line = if self.options.mode == crate::options::Mode::Commands {
            command::parse(&text).map_err(|e| Error::data(format!("{origin}: {e}")))?
        } else if text.trim().is_empty() {
            Line::Nothing
        } else {
            Line::Text(text)
        };
        match line {
            Line::Nothing => Ok(()),
            Line::Text(text) => {
                let to = self.options.to.as_ref().ok_or_else(|| {
                    Error::data(format!(
                        "{origin}: not a command and there is no --to (write /msg JID TEXT, or //TEXT for text starting with /)"
                    ))
                })?;
                self.text_message(to, &text)
            }
            Line::Command(command) => self.command(command).map_err(|e| e.context(origin)),
        }
    }

    /// Pass on a line of `--relay`'s pipe as it is (with its `\n`).
    pub fn relayed_line(&self, line: &[u8]) -> Result<()> {
        self.output.bytes(line)
    }

    /// Send `text` as a message to `to`, with `--type`, `--subject`, `--thread` and `--lang`.
    pub fn text_message(&mut self, to: &Jid, text: &str) -> Result<()> {
        let id = self.ids.next_id();
        self.output.stanza(&self.chat(to, &id, text, false))
    }

    /// A groupchat message with `text` to `room` (a room's `in` in `--dir`).
    pub fn room_message(&mut self, room: &Jid, text: &str) -> Result<()> {
        let id = self.ids.next_id();
        self.output.stanza(&self.chat(room, &id, text, true))
    }

    /// A line of a contact's pipe (`--dir`): a message to `to` (group chat
    /// when `room`), whole when its stanza, with [`MARGIN`] for what
    /// xmpp-auth adds, fits in `limit` bytes, else in parts
    /// ([`crate::parts`]), in order. How many messages were sent.
    pub fn contact_line(
        &mut self,
        to: &Jid,
        text: &str,
        room: bool,
        limit: usize,
    ) -> Result<usize> {
        let empty =
            stanza::line(&self.chat(to, "", "", room)).map_err(|e| Error::data(e.to_string()))?;
        let budget = limit.saturating_sub(MARGIN + empty.len());
        let parts = crate::parts::parts(text, budget);
        for part in &parts {
            let id = self.ids.next_id();
            self.output.stanza(&self.chat(to, &id, part, room))?;
        }
        Ok(parts.len())
    }

    /// The message stanza for `text`: group chat to a room, else with
    /// `--type`, `--subject` and `--thread`; `--lang` for both.
    fn chat(&self, to: &Jid, id: &str, text: &str, room: bool) -> Element {
        let options = self.options;
        if room {
            return groupchat(to, id, text, options.lang.as_deref());
        }
        let message = Message {
            kind: options.message_type.as_str(),
            subject: options.subject.as_deref(),
            body: Some(text),
            thread: options.thread.as_deref(),
            lang: options.lang.as_deref(),
        };
        stanza::message(to, id, &message)
    }

    fn command(&mut self, command: Command) -> Result<()> {
        let lang = self.options.lang.as_deref();
        let id = self.ids.next_id();
        let stanza = match command {
            Command::Message { to, subject, body } => {
                let message = Message {
                    kind: self.options.message_type.as_str(),
                    subject: subject.as_deref(),
                    body: body.as_deref(),
                    thread: self.options.thread.as_deref(),
                    lang,
                };
                stanza::message(&to, &id, &message)
            }
            Command::Say { room, text } => groupchat(&room, &id, &text, lang),
            Command::Presence { to, show, status } => {
                stanza::presence(to.as_ref(), &id, show, status.as_deref(), lang)
            }
            Command::Subscription { to, kind } => stanza::subscription(&to, &id, kind),
            Command::Join { occupant, password } => {
                self.rooms.insert(occupant.to_bare(), occupant.clone());
                stanza::join(&occupant, &id, password.as_deref())
            }
            Command::Leave { room, status } => {
                let occupant = self.occupant(&room)?;
                self.rooms.remove(&occupant.to_bare());
                stanza::presence(
                    Some(&occupant),
                    &id,
                    Show::Unavailable,
                    status.as_deref(),
                    lang,
                )
            }
            Command::Roster => return self.iq(stanza::roster_get(&id), &id),
            Command::Add { jid, name, groups } => {
                return self.iq(stanza::roster_set(&id, &jid, name.as_deref(), &groups), &id)
            }
            Command::Remove(jid) => return self.iq(stanza::roster_remove(&id, &jid), &id),
            Command::Ping(to) => return self.iq(stanza::ping(&to, &id), &id),
            Command::Disco { to, node } => {
                return self.iq(stanza::disco_info(&to, &id, node.as_deref()), &id)
            }
            Command::Version(to) => return self.iq(stanza::version(&to, &id), &id),
            Command::Raw(line) => {
                // A raw iq request is noted as the commands' are.
                if let (Some(tree), Ok(iq)) = (&self.options.asked, Element::parse(&line)) {
                    if iq.name == "iq" && matches!(iq.attr("type"), Some("get" | "set")) {
                        if let Some(id) = iq.attr("id") {
                            xmpp_pipes::tree::note_asked(tree, id, iq.attr("to"))?;
                        }
                    }
                }
                return self.output.line(&format!("{line}\n"));
            }
        };
        self.output.stanza(&stanza)
    }

    /// Write an iq and tell its id; first note it in the tree (`--asked`),
    /// so that its answer finds the note.
    fn iq(&mut self, stanza: Element, id: &str) -> Result<()> {
        if let Some(tree) = &self.options.asked {
            xmpp_pipes::tree::note_asked(tree, id, stanza.attr("to"))?;
        }
        self.output.stanza(&stanza)?;
        self.output.iq_id(id)
    }

    /// The occupant JID `/leave` makes unavailable: ROOM/NICK as given, or the nick of `/join`.
    fn occupant(&self, room: &Jid) -> Result<Jid> {
        if room.resource().is_some() {
            return Ok(room.clone());
        }
        self.rooms.get(room).cloned().ok_or_else(|| {
            Error::data(format!(
                "/leave {room}: no /join of this room earlier in the input (write /leave ROOM@SERVICE/NICK)"
            ))
        })
    }
}

/// A groupchat message (XEP-0045 §7.4).
fn groupchat(room: &Jid, id: &str, text: &str, lang: Option<&str>) -> xmpp_pipes::xml::Element {
    let message = Message {
        kind: "groupchat",
        body: Some(text),
        lang,
        ..Message::default()
    };
    stanza::message(room, id, &message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Mode;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    /// Run `lines` through a formatter; the stanza lines written and each line's outcome.
    fn run(options: &Options, lines: &[&[u8]]) -> (Vec<String>, Vec<Result<()>>) {
        let (read, write) = rustix::pipe::pipe().unwrap();
        let output = Output::to_fds(write.as_raw_fd(), None);
        let mut formatter = Formatter::new(options, IdGen::with_prefix("t".into()), output);
        let outcomes = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let origin = Origin {
                    pipe: None,
                    number: i + 1,
                };
                formatter.stdin_line(origin, Piece::Line(line.to_vec()))
            })
            .collect();
        drop(write);
        let mut text = String::new();
        std::fs::File::from(read).read_to_string(&mut text).unwrap();
        (text.lines().map(str::to_owned).collect(), outcomes)
    }

    fn commands() -> Options {
        Options {
            mode: Mode::Commands,
            ..Options::default()
        }
    }

    #[test]
    fn leave_uses_the_nick_of_join() {
        let (lines, outcomes) = run(
            &commands(),
            &[b"/join r@muc.b/nick", b"/leave r@muc.b", b"/leave r@muc.b"],
        );
        assert!(outcomes[0].is_ok() && outcomes[1].is_ok());
        assert_eq!(
            lines[1],
            "<presence to='r@muc.b/nick' type='unavailable' id='xp-t-2'/>"
        );
        let err = outcomes[2].as_ref().unwrap_err();
        assert!(err
            .message()
            .starts_with("line 3: /leave r@muc.b: no /join"));
    }

    #[test]
    fn text_needs_a_contact() {
        let (lines, outcomes) = run(&commands(), &[b"hello", b"//hi"]);
        assert!(lines.is_empty());
        for outcome in outcomes {
            assert!(outcome.unwrap_err().message().contains("no --to"));
        }
        let options = Options {
            to: Jid::parse("a@b").ok(),
            ..commands()
        };
        let (lines, _) = run(&options, &[b"//hi", b"/# nothing", b""]);
        assert_eq!(
            lines,
            ["<message to='a@b' type='chat' id='xp-t-1'><body>/hi</body></message>"]
        );
    }

    #[test]
    fn errors_name_the_line_within_a_whole_input() {
        let options = Options::default();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let formatter = Formatter::new(
            &options,
            IdGen::new(),
            Output::to_fds(write.as_raw_fd(), None),
        );
        let origin = Origin {
            pipe: Some("DIR/a@b/in"),
            number: 7,
        };
        let err = formatter
            .clean(origin, Piece::Line(b"ok\nstill ok\n\x02".to_vec()))
            .unwrap_err();
        assert!(err
            .message()
            .starts_with("DIR/a@b/in: line 9: character U+0002"));
        let err = formatter.clean(origin, Piece::TooLong).unwrap_err();
        assert!(err.message().contains("longer than"));
        drop((read, write));
    }
}

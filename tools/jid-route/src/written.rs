//! What the tree has written, kept in the tree (`DIR/.archive`): the last
//! archive id whose lines are in `out` (where the next catch-up starts), the
//! keys of the messages written lately (so that nothing is written twice,
//! whether it comes live, as a carbon, from the archive or as room history),
//! and for each room the time of its last line and the stanza-id the room
//! gave it (where the next catch-up from the room's archive starts).
//!
//! A key names a message the way only our own side can: `archive ID` (the
//! XEP-0359 stanza-id our own server gave it, `by` our bare JID), `origin ID`
//! (the origin-id of a message the tree itself sent) or `room ROOM ID` (the
//! stanza-id a room gave it, `by` the room). The file is plain text:
//!
//! ```text
//! xmpp-pipes archive 1
//! last GesrsUZFu6BsqWSHRuoNmHKH 2026-12-02T04:39:09Z
//! room room@muc.example.org 2026-12-02T04:40:00Z 1f2e3d4c-room-id
//! key archive GesrsUZFu6BsqWSHRuoNmHKH
//! key origin xp-2fd5e6a7b176f5ae
//! ```
//!
//! This module only reads and renders it; `dir.rs` writes it durably.

use std::collections::BTreeMap;
use xmpp_pipes::recent::Recent;

/// The first line of the file.
pub const HEADER: &str = "xmpp-pipes archive 1";
/// The name of the file in the tree.
pub const FILE: &str = ".archive";
/// How many keys are remembered (the oldest forgotten first).
pub const KEYS: usize = 2000;
/// How many rooms' times are remembered.
pub const ROOMS: usize = 1000;

/// The record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// The last archive id written, and when its message was archived.
    pub last: Option<(String, jiff::Timestamp)>,
    keys: Recent<String, KEYS>,
    /// Each room's last line's time, and its id in the room's archive.
    rooms: BTreeMap<String, RoomMark>,
}

/// Where a room's lines in the tree end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMark {
    /// When the last line was said.
    pub when: jiff::Timestamp,
    /// The stanza-id the room gave it (`by` the room), where it gave one.
    pub id: Option<String>,
}

/// A key in our own archive.
pub fn archive_key(id: &str) -> String {
    format!("archive {}", clean(id))
}

/// A key of a message the tree sent itself.
pub fn origin_key(id: &str) -> String {
    format!("origin {}", clean(id))
}

/// A key in a room's archive.
pub fn room_key(room: &str, id: &str) -> String {
    format!("room {} {}", clean(room), clean(id))
}

/// A word for the file: no blank or control character.
fn clean(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

impl Written {
    /// Read the file's text; lines it does not know are skipped (an older
    /// or damaged file loses only what it cannot say).
    pub fn parse(text: &str) -> Written {
        let mut written = Written::default();
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return written;
        }
        for line in lines {
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("last"), Some(id), Some(when)) => {
                    if let Ok(when) = when.parse() {
                        written.last = Some((id.to_owned(), when));
                    }
                }
                (Some("room"), Some(room), Some(when)) => {
                    if let Ok(when) = when.parse() {
                        let id = words.next().filter(|id| !id.is_empty()).map(str::to_owned);
                        written.rooms.insert(room.to_owned(), RoomMark { when, id });
                    }
                }
                (Some("key"), Some(_), Some(_)) => {
                    written.keys.insert(line["key ".len()..].to_owned());
                }
                _ => {}
            }
        }
        written
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = format!("{HEADER}\n");
        if let Some((id, when)) = &self.last {
            text.push_str(&format!("last {id} {when}\n"));
        }
        for (room, mark) in &self.rooms {
            match &mark.id {
                Some(id) => text.push_str(&format!("room {room} {} {id}\n", mark.when)),
                None => text.push_str(&format!("room {room} {}\n", mark.when)),
            }
        }
        for key in self.keys.iter() {
            text.push_str(&format!("key {key}\n"));
        }
        text
    }

    /// Whether any of `keys` was written already.
    pub fn knows(&self, keys: &[String]) -> bool {
        keys.iter().any(|key| self.keys.contains(key))
    }

    /// `keys` are written now; an `archive` key is also the new start of
    /// the next catch-up (`when`: when the archive took it).
    pub fn note(&mut self, keys: &[String], when: jiff::Timestamp) {
        for key in keys {
            if let Some(id) = key.strip_prefix("archive ") {
                self.last = Some((id.to_owned(), when));
            }
            self.keys.insert(key.clone());
        }
    }

    /// The time of the last line written in `room`.
    pub fn room_time(&self, room: &str) -> Option<jiff::Timestamp> {
        self.room_mark(room).map(|mark| mark.when)
    }

    /// Where the lines written in `room` end.
    pub fn room_mark(&self, room: &str) -> Option<&RoomMark> {
        self.rooms.get(&clean(room))
    }

    /// A line was written in `room`, said at `when`, with the stanza-id
    /// `id` the room gave it: the room's mark moves to it unless an
    /// earlier line is written late (the mark only goes forward).
    pub fn note_room(&mut self, room: &str, when: jiff::Timestamp, id: Option<&str>) {
        let room = clean(room);
        if !self.rooms.contains_key(&room) && self.rooms.len() == ROOMS {
            if let Some(oldest) = self
                .rooms
                .iter()
                .min_by_key(|(_, mark)| mark.when)
                .map(|(room, _)| room.clone())
            {
                self.rooms.remove(&oldest);
            }
        }
        let id = id.map(clean);
        match self.rooms.get_mut(&room) {
            Some(mark) if when < mark.when => {}
            Some(mark) => {
                mark.when = when;
                mark.id = id;
            }
            None => {
                self.rooms.insert(room, RoomMark { when, id });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_record_reads_back_what_it_wrote() {
        let mut written = Written::default();
        let keys = [archive_key("A1"), origin_key("o 1")];
        assert!(!written.knows(&keys));
        written.note(&keys, at("2026-12-02T04:39:09Z"));
        written.note_room("room@muc.x", at("2026-12-02T04:40:00Z"), Some("R2"));
        written.note_room("room@muc.x", at("2026-12-02T04:30:00Z"), Some("R1"));
        written.note_room("other@muc.x", at("2026-12-02T04:30:00Z"), None);
        assert!(written.knows(&[origin_key("o 1")]));
        let text = written.render();
        assert!(text.contains("key origin o_1\n"), "{text}");
        let again = Written::parse(&text);
        assert_eq!(again, written);
        assert_eq!(
            again.last,
            Some(("A1".to_owned(), at("2026-12-02T04:39:09Z")))
        );
        assert_eq!(
            again.room_time("room@muc.x"),
            Some(at("2026-12-02T04:40:00Z")),
            "a room's time only goes forward"
        );
        assert_eq!(
            again.room_mark("room@muc.x").unwrap().id.as_deref(),
            Some("R2")
        );
        assert_eq!(again.room_mark("other@muc.x").unwrap().id, None);
        // An older file's room line, without an id, still reads.
        let old = Written::parse(&format!("{HEADER}\nroom r@muc.x 2026-12-02T04:30:00Z\n"));
        assert_eq!(old.room_time("r@muc.x"), Some(at("2026-12-02T04:30:00Z")));
    }

    #[test]
    fn a_file_of_another_kind_or_version_is_not_read() {
        assert_eq!(
            Written::parse("last A1 2026-12-02T04:39:09Z\n"),
            Written::default()
        );
        let odd = format!("{HEADER}\nlast A1 never\nsomething else\nkey archive B\n");
        let written = Written::parse(&odd);
        assert_eq!(written.last, None);
        assert!(written.knows(&[archive_key("B")]));
    }

    #[test]
    fn the_oldest_keys_are_forgotten_past_the_bound() {
        let mut written = Written::default();
        let when = at("2026-12-02T04:39:09Z");
        for n in 0..=KEYS {
            written.note(&[archive_key(&n.to_string())], when);
        }
        assert!(!written.knows(&[archive_key("0")]));
        assert!(written.knows(&[archive_key("1")]));
        assert_eq!(written.last.as_ref().unwrap().0, KEYS.to_string());
    }
}

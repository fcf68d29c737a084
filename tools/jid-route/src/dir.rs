//! `--dir DIR`: the directory tree of DESIGN.md, written through the shared
//! crate's [`Tree`] (safe names, `O_NOFOLLOW`, directories 0700, files 0600).
//!
//! Conversations go to `DIR/<bare-jid>/out`, presence to
//! `DIR/<bare-jid>/presence` (our own to `DIR/mypresence`), answers to our
//! iq requests to `DIR/iq/<id>`, and what cannot be put anywhere safely to
//! `DIR/unrouted`.

use crate::event::Event;
use crate::presence::State;
use crate::written::{self, Written};
use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::tree::{self, contact_name, format_time, out_lines, sanitise_id, TimeFormat, Tree};

/// The tree, and which presence files this session wrote (to clear them at the end).
pub struct DirSink {
    tree: Tree,
    time: TimeFormat,
    me: Option<Jid>,
    presence_files: BTreeSet<String>,
    wrote_mypresence: bool,
    /// How many names (`JID` or `iq/ID`) this session created.
    created: usize,
    /// `--max-new`.
    max_new: usize,
    /// iq answers dropped: nobody asked, or not from where the iq went.
    unsolicited: u64,
    /// Where the last message's line went: its directory, and the length
    /// of that `out` before it (for [`DirSink::take_back_last_message`]).
    last_message: Option<(String, u64)>,
}

/// Turn a failed file operation in the tree into an error: 74 when the
/// disk failed or filled up, 73 when the file could not be created or opened.
pub fn file_error(path: &Path, err: io::Error) -> Error {
    let status = match err.raw_os_error() {
        Some(code)
            if [
                rustix::io::Errno::IO.raw_os_error(),
                rustix::io::Errno::NOSPC.raw_os_error(),
                rustix::io::Errno::DQUOT.raw_os_error(),
                rustix::io::Errno::FBIG.raw_os_error(),
            ]
            .contains(&code) =>
        {
            Status::IoErr
        }
        _ => Status::CantCreat,
    };
    Error::new(status, format!("cannot write {}: {err}", path.display()))
}

/// The default of `--max-new`: names (contact directories, iq answer
/// files) created per session.
pub const DEFAULT_MAX_NEW: usize = 10_000;

impl DirSink {
    /// Create at most `max` new names in the tree in this session.
    pub fn with_max_new(mut self, max: usize) -> DirSink {
        self.max_new = max;
        self
    }

    /// Whether `name` (relative to DIR) may be written: it exists, or it is
    /// new and within `--max-new`. A hostile peer with endless sender
    /// addresses or iq ids fills `DIR/unrouted` (a log the user can rotate),
    /// not the file system with names; nothing is remembered per name, so
    /// memory stays flat too.
    fn admit(&mut self, name: &str) -> std::result::Result<(), String> {
        if self.tree.path().join(name).symlink_metadata().is_ok() {
            return Ok(());
        }
        if self.created >= self.max_new {
            return Err(format!(
                "{} new names in DIR this session already (--max-new): not creating {name}",
                self.max_new
            ));
        }
        self.created += 1;
        Ok(())
    }

    /// The directory name of `contact`: a safe name (else why not), and one
    /// that [`DirSink::admit`] lets this session write.
    fn contact_dir(&mut self, contact: &Jid) -> std::result::Result<String, String> {
        let name = contact_name(contact)
            .map_err(|why| format!("no safe directory name for this sender: {why}"))?;
        self.admit(&name)?;
        Ok(name)
    }

    /// Open (creating it 0700 if needed) the tree at `path`.
    pub fn open(path: &Path, time: TimeFormat, me: Option<Jid>) -> Result<DirSink> {
        let tree = Tree::open(path).map_err(|e| file_error(path, e))?;
        Ok(DirSink {
            tree,
            time,
            me: me.map(|jid| jid.to_bare()),
            presence_files: BTreeSet::new(),
            wrote_mypresence: false,
            created: 0,
            max_new: DEFAULT_MAX_NEW,
            unsolicited: 0,
            last_message: None,
        })
    }

    /// The tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    fn fail(&self, dir: Option<&str>, file: &str) -> impl FnOnce(io::Error) -> Error {
        let mut path = self.tree.path().to_owned();
        path.extend(dir);
        path.push(file);
        move |err| file_error(&path, err)
    }

    fn append(&self, dir: Option<&str>, file: &str, data: &str) -> Result<u64> {
        self.tree
            .append(dir, file, data.as_bytes())
            .map_err(self.fail(dir, file))
    }

    fn replace(&self, dir: Option<&str>, file: &str, data: &str) -> Result<()> {
        self.tree
            .replace(dir, file, data.as_bytes())
            .map_err(self.fail(dir, file))
    }

    /// Replace the occupant list of `room` (`DIR/ROOM/occupants`).
    pub fn write_occupants(&mut self, room: &Jid, text: &str) -> Result<Result<(), String>> {
        let name = match self.contact_dir(room) {
            Ok(name) => name,
            Err(why) => return Ok(Err(why)),
        };
        self.replace(Some(&name), tree::OCCUPANTS, text)?;
        Ok(Ok(()))
    }

    /// A private message with an occupant of `room`, in `DIR/ROOM/private`.
    pub fn write_private(
        &mut self,
        room: &Jid,
        author: &str,
        text: &str,
        when: Option<jiff::Timestamp>,
    ) -> Result<Result<(), String>> {
        let name = match self.contact_dir(room) {
            Ok(name) => name,
            Err(why) => return Ok(Err(why)),
        };
        let when = when.unwrap_or_else(jiff::Timestamp::now);
        self.append(
            Some(&name),
            tree::PRIVATE,
            &out_lines(when, self.time, author, text),
        )?;
        Ok(Ok(()))
    }

    /// Write one event. `summary` is the contact's new presence for an
    /// [`Event::Presence`] (nothing is written when it did not change);
    /// `line` is the stanza line, kept whole for iq answers. The inner `Err`
    /// says why the event could not be put in the tree safely.
    pub fn show(
        &mut self,
        event: &Event,
        summary: Option<&State>,
        line: &str,
    ) -> Result<Result<(), String>> {
        let now = jiff::Timestamp::now();
        match event {
            Event::Message {
                contact,
                author,
                text,
                when,
            } => {
                let name = match self.contact_dir(contact) {
                    Ok(name) => name,
                    Err(why) => return Ok(Err(why)),
                };
                let before = self.append(
                    Some(&name),
                    tree::OUT,
                    &out_lines(when.unwrap_or(now), self.time, author, text),
                )?;
                self.last_message = Some((name, before));
            }
            Event::Notice { contact, text } => {
                let name = match self.contact_dir(contact) {
                    Ok(name) => name,
                    Err(why) => return Ok(Err(why)),
                };
                let time = format_time(now, self.time);
                self.append(Some(&name), tree::OUT, &format!("{time} -!- {text}\n"))?;
            }
            Event::Presence { from, .. } => {
                let Some(state) = summary else {
                    return Ok(Ok(()));
                };
                let bare = from.to_bare();
                let text = format!("{}\n", state.line());
                if self.me.as_ref() == Some(&bare) {
                    self.replace(None, tree::MYPRESENCE, &text)?;
                    self.wrote_mypresence = true;
                } else {
                    let name = match self.contact_dir(&bare) {
                        Ok(name) => name,
                        Err(why) => return Ok(Err(why)),
                    };
                    self.replace(Some(&name), tree::PRESENCE, &text)?;
                    self.presence_files.insert(name);
                }
            }
            Event::IqAnswer { id, from, .. } => {
                if let Err(why) = self.asked(id, from.as_ref())? {
                    self.drop_unsolicited(id, from.as_ref(), &why);
                    return Ok(Ok(()));
                }
                let name = sanitise_id(id);
                if let Err(why) = self.admit(&format!("{}/{name}", tree::IQ)) {
                    return Ok(Err(why));
                }
                self.replace(Some(tree::IQ), &name, &format!("{line}\n"))?;
            }
        }
        Ok(Ok(()))
    }

    /// Whether the answer to `id` from `from` is one to take: an iq with that
    /// id was noted as sent (stanza-fmt `--asked`, `--dir`), and the answer
    /// comes from where it went (RFC 6120 §8.1.2.1: our account, or its
    /// server, for an iq without `to`). The note is used up either way.
    fn asked(&self, id: &str, from: Option<&Jid>) -> Result<std::result::Result<(), String>> {
        let path = self.tree.path().join(tree::IQ);
        let noted = tree::take_asked(&self.tree, id).map_err(|e| file_error(&path, e))?;
        let Some(to) = noted else {
            return Ok(Err("nobody asked".into()));
        };
        let ours = |from: &Jid| {
            self.me.as_ref().is_some_and(|me| {
                from.to_bare() == *me || (from.local().is_none() && from.domain() == me.domain())
            })
        };
        let right = match (&to, from) {
            (None, None) => true,
            (None, Some(from)) => ours(from),
            (Some(to), Some(from)) => Jid::parse(to).is_ok_and(|to| to == *from),
            (Some(to), None) => self
                .me
                .as_ref()
                .is_some_and(|me| Jid::parse(to).is_ok_and(|to| to == *me)),
        };
        Ok(if right {
            Ok(())
        } else {
            Err(format!(
                "it went to {}",
                to.as_deref().unwrap_or("our account")
            ))
        })
    }

    /// An answer nobody asked for is dropped: counted, and told on stderr
    /// at the 1st, 10th, 100th, ... (one line per burst, not one per answer);
    /// it never costs a name of `--max-new`.
    fn drop_unsolicited(&mut self, id: &str, from: Option<&Jid>, why: &str) {
        self.unsolicited += 1;
        let n = self.unsolicited;
        if n == 10u64.pow(n.ilog10()) {
            let from = from.map_or("our account".to_owned(), ToString::to_string);
            xmpp_pipes::exit::warn(
                "jid-route",
                format!(
                    "dropped {n} iq answer(s) nobody asked for (the last: id {} from {from}: {why})",
                    crate::stanza::one_line(id)
                ),
            );
        }
    }

    /// Keep the session's stanza limit in `DIR/.max-stanza` for stanza-fmt
    /// (replaced atomically), or remove it when the server announced none.
    pub fn write_stanza_limit(&self, max_bytes: Option<usize>) -> Result<()> {
        match max_bytes {
            Some(max) => self.replace(None, tree::MAX_STANZA, &format!("{max}\n")),
            None => self
                .tree
                .remove(None, tree::MAX_STANZA)
                .map_err(self.fail(None, tree::MAX_STANZA)),
        }
    }

    /// Replace `DIR/roster` with `text` (atomically).
    pub fn write_roster(&self, text: &str) -> Result<()> {
        self.replace(None, tree::ROSTER, text)
    }

    /// The record of what the tree has written (`DIR/.archive`); an empty
    /// one when there is none yet.
    pub fn load_written(&self) -> Result<Written> {
        use std::io::Read;
        let mut text = String::new();
        match self
            .tree
            .open_file(None, written::FILE, rustix::fs::OFlags::RDONLY)
        {
            Ok(file) => {
                file.take(1 << 20)
                    .read_to_string(&mut text)
                    .map_err(self.fail(None, written::FILE))?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(self.fail(None, written::FILE)(err)),
        }
        Ok(Written::parse(&text))
    }

    /// Replace `DIR/.archive` with `written`, durably: the new file is on
    /// the disk (fsync) before it takes the old one's name, and the rename
    /// is on the disk before this returns.
    pub fn save_written(&self, written: &Written) -> Result<()> {
        use rustix::fs::OFlags;
        use std::io::Write;
        let temp = format!("{}.tmp", written::FILE);
        let save = || -> io::Result<()> {
            let mut file = self.tree.open_file(
                None,
                &temp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC,
            )?;
            file.write_all(written.render().as_bytes())?;
            file.sync_all()?;
            let root = self.tree.dir(None)?;
            rustix::fs::renameat(&root, temp.as_str(), &root, written::FILE)?;
            rustix::fs::fsync(&root)?;
            Ok(())
        };
        save().map_err(|err| {
            // A part written on a full disk holds space the next start needs.
            if let Ok(root) = self.tree.dir(None) {
                let _ = rustix::fs::unlinkat(&root, temp.as_str(), rustix::fs::AtFlags::empty());
            }
            self.fail(None, written::FILE)(err)
        })
    }

    /// Cut the line of the last message [`DirSink::show`] wrote from its
    /// `out` again, durably. Cutting needs no space, so this works on a
    /// full disk.
    pub fn take_back_last_message(&self) -> io::Result<()> {
        let Some((name, before)) = &self.last_message else {
            return Ok(());
        };
        let file = self
            .tree
            .open_file(Some(name), tree::OUT, rustix::fs::OFlags::WRONLY)?;
        file.set_len(*before)?;
        file.sync_data()
    }

    /// Make what was appended to `contact`'s `out` durable (fdatasync), so
    /// that the record may say it is written.
    pub fn sync_out(&self, contact: &Jid) -> Result<()> {
        let Ok(name) = contact_name(contact) else {
            return Ok(());
        };
        self.tree
            .open_file(Some(&name), tree::OUT, rustix::fs::OFlags::WRONLY)
            .and_then(|file| file.sync_data())
            .map_err(self.fail(Some(&name), tree::OUT))
    }

    /// Append a stanza that could not be routed to `DIR/unrouted`:
    /// `TIME<TAB>REASON<TAB>STANZA-LINE`.
    pub fn unrouted(&self, line: &str, reason: &str) -> Result<()> {
        let time = format_time(jiff::Timestamp::now(), self.time);
        let reason = crate::stanza::one_line(reason).replace('\t', " ");
        self.append(None, tree::UNROUTED, &format!("{time}\t{reason}\t{line}\n"))?;
        Ok(())
    }

    /// The session is over: every presence file written becomes `unavailable`.
    pub fn finish(&mut self) -> Result<()> {
        self.clear_presence()
    }

    /// Presence from before can no longer be trusted (the session is over,
    /// or a new one began): every presence file written, and
    /// `DIR/mypresence`, becomes `unavailable`.
    pub fn clear_presence(&mut self) -> Result<()> {
        for name in std::mem::take(&mut self.presence_files) {
            self.replace(Some(&name), tree::PRESENCE, "unavailable\n")?;
        }
        if std::mem::take(&mut self.wrote_mypresence) {
            self.replace(None, tree::MYPRESENCE, "unavailable\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("jid-route-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn unsafe_names_are_refused_without_touching_the_disk() {
        let root = scratch("unsafe");
        let mut sink = DirSink::open(&root, TimeFormat::Epoch, None).unwrap();
        for name in ["iq", "in", "unrouted", "..@example.org", "ext@"] {
            let Ok(contact) = Jid::parse(name) else {
                continue;
            };
            let event = Event::Message {
                contact,
                author: "x".into(),
                text: "hi".into(),
                when: None,
            };
            let refused = sink.show(&event, None, "<message/>").unwrap();
            assert!(refused.is_err(), "{name}");
        }
        let long = Jid::parse(&format!("{}@example.org", "a".repeat(250))).unwrap();
        let event = Event::Notice {
            contact: long,
            text: "x".into(),
        };
        assert!(sink.show(&event, None, "<message/>").unwrap().is_err());
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        sink.unrouted("<message/>", "why\tnot").unwrap();
        let unrouted = std::fs::read_to_string(root.join("unrouted")).unwrap();
        assert!(unrouted.ends_with("\twhy not\t<message/>\n"), "{unrouted}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn iq_answers_are_written_under_a_sanitised_id() {
        let root = scratch("iq");
        let mut sink = DirSink::open(&root, TimeFormat::Local, None).unwrap();
        tree::note_asked(&root, "../../x", None).unwrap();
        let event = Event::IqAnswer {
            id: "../../x".into(),
            from: None,
            summary: "result".into(),
        };
        sink.show(&event, None, "<iq type='result' id='../../x'/>")
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("iq/_.._x")).unwrap(),
            "<iq type='result' id='../../x'/>\n"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn iq_answers_are_taken_only_as_asked_and_only_from_where_the_iq_went() {
        let root = scratch("iq-asked");
        let me = Jid::parse("me@example.org/pipes").unwrap();
        let mut sink = DirSink::open(&root, TimeFormat::Local, Some(me)).unwrap();
        let mut answer = |id: &str, from: Option<&str>| {
            let event = Event::IqAnswer {
                id: id.into(),
                from: from.map(|f| Jid::parse(f).unwrap()),
                summary: "result".into(),
            };
            sink.show(&event, None, &format!("<iq type='result' id='{id}'/>"))
                .unwrap()
                .unwrap();
            root.join("iq").join(id).exists()
        };
        // Unasked: dropped, and no name made.
        assert!(!answer("planted", Some("eve@example.org")));
        // Asked of bob: not from eve, and the note is used up by the try.
        tree::note_asked(&root, "p1", Some("bob@example.org/phone")).unwrap();
        assert!(!answer("p1", Some("eve@example.org/x")));
        assert!(
            !answer("p1", Some("bob@example.org/phone")),
            "one answer per note"
        );
        tree::note_asked(&root, "p2", Some("bob@example.org/phone")).unwrap();
        assert!(answer("p2", Some("bob@example.org/phone")));
        // Without a to: our account or its server (or no from).
        for (id, from) in [
            ("r1", None),
            ("r2", Some("me@example.org")),
            ("r3", Some("example.org")),
        ] {
            tree::note_asked(&root, id, None).unwrap();
            assert!(answer(id, from), "{id}");
        }
        tree::note_asked(&root, "r4", None).unwrap();
        assert!(!answer("r4", Some("eve@example.org")));
        assert_eq!(sink.unsolicited, 4);
        assert_eq!(sink.created, 4, "dropped answers cost no name");
        std::fs::remove_dir_all(&root).unwrap();
    }
}

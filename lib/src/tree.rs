//! The directory tree of DESIGN.md (sj's layout, close to ii's), made safe.
//!
//! ```text
//! DIR/in                   named pipe: stanzas to the server
//! DIR/mypresence           our own presence
//! DIR/unrouted             what could not be routed safely (appended)
//! DIR/iq/<id>              the answer to the iq with that id
//! DIR/iq/.asked.<id>       an iq we sent and where it went, until its answer
//! DIR/ext/<namespace>      executable handlers for incoming iq requests
//! DIR/<bare-jid>/in        named pipe: text lines become chat messages to that contact
//! DIR/<bare-jid>/out       the conversation, appended
//! DIR/<bare-jid>/presence  the contact's presence, replaced atomically
//! ```
//!
//! Nothing from the network becomes a path without passing through this
//! module: a contact's directory is named by a validated, normalised bare
//! [`Jid`] (never `.`/`..`, never a reserved name, never a `/`, at most 255
//! bytes), an iq id by [`sanitise_id`]. Every file is opened relative to the
//! tree's directory fd with `O_NOFOLLOW`, so a symbolic link planted in the
//! tree is refused rather than followed. Directories are created 0700, files
//! 0600.

use crate::jid::Jid;
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The named pipe of stanzas to the server (in DIR) or of lines to a contact (in a contact's directory).
pub const IN: &str = "in";
/// A contact's conversation file.
pub const OUT: &str = "out";
/// A contact's presence file.
pub const PRESENCE: &str = "presence";
/// Our own presence (in DIR, or to one contact in that contact's directory).
pub const MYPRESENCE: &str = "mypresence";
/// What could not be routed safely.
pub const UNROUTED: &str = "unrouted";
/// The directory of iq answers.
pub const IQ: &str = "iq";
/// The directory of iq request handlers.
pub const EXT: &str = "ext";

/// The roster (jid-route `--roster`).
pub const ROSTER: &str = "roster";

/// A room's occupant list, in the room's directory (jid-route); its being
/// there makes the directory a room's: its `in` sends group chat.
pub const OCCUPANTS: &str = "occupants";
/// A room's private messages with its occupants, in the room's directory.
pub const PRIVATE: &str = "private";

/// The server's stanza limit (XEP-0478 `max-bytes`) in DIR, one line with
/// the number of bytes, as the session announced it: jid-route keeps it,
/// stanza-fmt `--dir` cuts longer lines into parts to fit.
pub const MAX_STANZA: &str = ".max-stanza";

/// Names in DIR that no contact directory may take (`state` and `log` are
/// ii-client's).
pub const RESERVED: [&str; 9] = [
    IN, MYPRESENCE, UNROUTED, IQ, EXT, OUT, ROSTER, "state", "log",
];

/// The longest file name (NAME_MAX on Linux).
pub const NAME_MAX: usize = 255;

/// Why a name is not safe in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeName(pub String);

impl std::fmt::Display for UnsafeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnsafeName {}

/// The directory name for a contact: its bare JID, checked to be one safe path component.
pub fn contact_name(jid: &Jid) -> Result<String, UnsafeName> {
    let name = jid.to_bare().to_string();
    check_component(&name)?;
    if name.starts_with('.') {
        return Err(UnsafeName(format!(
            "{name:?} starts with a dot (hidden, and skipped by Tree::contacts)"
        )));
    }
    if RESERVED.contains(&name.as_str()) {
        return Err(UnsafeName(format!(
            "{name:?} is a reserved name in the tree"
        )));
    }
    Ok(name)
}

/// Check that `name` is a single, ordinary path component.
pub fn check_component(name: &str) -> Result<(), UnsafeName> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(UnsafeName(format!("{name:?} is not a usable file name")));
    }
    if name.contains('/') || name.contains('\0') {
        return Err(UnsafeName(format!("{name:?} holds a '/' or NUL")));
    }
    if name.len() > NAME_MAX {
        return Err(UnsafeName(format!(
            "a name of {} bytes is too long for a file name",
            name.len()
        )));
    }
    Ok(())
}

/// The note of an iq sent, in `DIR/iq`: [`sanitise_id`] never starts a name
/// with a dot, so a note cannot be taken for an answer, nor an answer for a note.
fn asked_name(id: &str) -> String {
    format!(".asked.{}", sanitise_id(id))
}

/// Note in the tree at `path` that the iq `id` went to `to` (none: our own
/// account), so that jid-route takes its answer ([`take_asked`]), and only
/// from there. Written before the iq is sent.
pub fn note_asked(path: &Path, id: &str, to: Option<&str>) -> crate::exit::Result<()> {
    Tree::open(path)
        .and_then(|tree| {
            tree.replace(
                Some(IQ),
                &asked_name(id),
                format!("{}\n", to.unwrap_or("")).as_bytes(),
            )
        })
        .map_err(|e| {
            crate::exit::Error::new(
                crate::exit::Status::CantCreat,
                format!("cannot note the iq {id} in {}/{IQ}: {e}", path.display()),
            )
        })
}

/// Where the iq `id` went, if one was noted ([`note_asked`]): `Some(None)`
/// for our own account, `Some(Some(jid))` else. The note is removed: one
/// answer per request.
pub fn take_asked(tree: &Tree, id: &str) -> io::Result<Option<Option<String>>> {
    use std::io::Read;
    let name = asked_name(id);
    if tree.path().join(IQ).symlink_metadata().is_err() {
        // No DIR/iq: nothing was asked (and it is not made for nothing).
        return Ok(None);
    }
    let mut file = match tree.open_file(Some(IQ), &name, OFlags::RDONLY) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut to = String::new();
    Read::by_ref(&mut file).take(4096).read_to_string(&mut to)?;
    tree.remove(Some(IQ), &name)?;
    let to = to.trim();
    Ok(Some((!to.is_empty()).then(|| to.to_owned())))
}

/// A file name for an iq id (or an XML namespace): characters other than
/// `A-Z a-z 0-9 . _ -` become `_`, leading dots are dropped, at most 128 bytes;
/// never empty.
pub fn sanitise_id(id: &str) -> String {
    let mut name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while name.starts_with('.') {
        name.remove(0);
    }
    name.truncate(128);
    if name.is_empty() {
        name.push('_');
    }
    name
}

/// An open tree: every operation is relative to its directory fd.
pub struct Tree {
    root: OwnedFd,
    path: PathBuf,
}

fn open_dir_at(parent: impl AsFd, name: &str) -> io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

fn ensure_dir_at(parent: impl AsFd, name: &str) -> io::Result<OwnedFd> {
    match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(err) => return Err(err.into()),
    }
    open_dir_at(parent, name)
}

impl Tree {
    /// Open (creating it 0700 if missing) the tree at `path`.
    pub fn open(path: &Path) -> io::Result<Tree> {
        match std::fs::create_dir(path) {
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
        let root = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Tree {
            root,
            path: path.to_owned(),
        })
    }

    /// The tree's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory `dir` in the tree (created 0700 if missing; a symlink is refused),
    /// or the tree itself for `None`.
    pub fn dir(&self, dir: Option<&str>) -> io::Result<OwnedFd> {
        match dir {
            None => Ok(rustix::io::fcntl_dupfd_cloexec(&self.root, 3)?),
            Some(name) => {
                check_component(name)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                ensure_dir_at(&self.root, name)
            }
        }
    }

    /// Open `file` in `dir` with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`), creating it 0600 if `O_CREAT` is given.
    pub fn open_file(&self, dir: Option<&str>, file: &str, flags: OFlags) -> io::Result<File> {
        check_component(file).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let dir = self.dir(dir)?;
        let fd = rustix::fs::openat(
            &dir,
            file,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        Ok(File::from(fd))
    }

    /// Append `data` to `file` in `dir` with one write (created 0600 if missing).
    ///
    /// Whole or nothing: when the write fails part way (the disk is full,
    /// EFBIG under RLIMIT_FSIZE), what of `data` went in is cut off again,
    /// unless someone else appended meanwhile, so no torn line stays.
    /// Returns the file's length before `data`, where it went.
    pub fn append(&self, dir: Option<&str>, file: &str, data: &[u8]) -> io::Result<u64> {
        let mut out =
            self.open_file(dir, file, OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE)?;
        let before = out.metadata()?.len();
        let mut written = 0;
        while written < data.len() {
            match out.write(&data[written..]) {
                Ok(0) => return Err(cut(&out, before, written, io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(cut(&out, before, written, err)),
            }
        }
        Ok(before)
    }

    /// Replace `file` in `dir` atomically: write a temporary file, then rename it over.
    pub fn replace(&self, dir: Option<&str>, file: &str, data: &[u8]) -> io::Result<()> {
        check_component(file).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let dirfd = self.dir(dir)?;
        let temp = format!(".{file}.tmp.{}", std::process::id());
        let result = (|| {
            let fd = rustix::fs::openat(
                &dirfd,
                temp.as_str(),
                OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::TRUNC
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            File::from(fd).write_all(data)?;
            rustix::fs::renameat(&dirfd, temp.as_str(), &dirfd, file)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dirfd, temp.as_str(), rustix::fs::AtFlags::empty());
        }
        result
    }

    /// Remove `file` in `dir`, if it exists.
    pub fn remove(&self, dir: Option<&str>, file: &str) -> io::Result<()> {
        check_component(file).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let dirfd = self.dir(dir)?;
        match rustix::fs::unlinkat(&dirfd, file, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Make sure `name` in `dir` is a named pipe (created 0600 if missing; anything else there is an error).
    pub fn fifo(&self, dir: Option<&str>, name: &str) -> io::Result<()> {
        check_component(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let dirfd = self.dir(dir)?;
        match rustix::fs::mkfifoat(&dirfd, name, Mode::from_raw_mode(0o600)) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                let stat = rustix::fs::statat(&dirfd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
                if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Fifo {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{name} exists and is not a named pipe"),
                    ))
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The names of the contact directories now in the tree (reserved and
    /// hidden names left out): the [`jid_dirs`](Tree::jid_dirs) spelt as
    /// their normalised form.
    pub fn contacts(&self) -> io::Result<Vec<String>> {
        Ok(self
            .jid_dirs()?
            .into_iter()
            .filter(JidDir::is_contact)
            .map(|dir| dir.name)
            .collect())
    }

    /// The directories now in the tree (not symbolic links; hidden and
    /// reserved names left out) whose name is a bare JID, in any spelling,
    /// sorted by name.
    pub fn jid_dirs(&self) -> io::Result<Vec<JidDir>> {
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !entry.file_type()?.is_dir() {
                continue;
            }
            let Ok(jid) = Jid::parse(&name) else {
                continue;
            };
            if let (true, Ok(normal)) = (jid.is_bare(), contact_name(&jid)) {
                dirs.push(JidDir { name, normal });
            }
        }
        dirs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(dirs)
    }
}

/// A directory of the tree named as a bare JID ([`Tree::jid_dirs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JidDir {
    /// Its name in the tree.
    pub name: String,
    /// Its JID's normalised form ([`contact_name`]): `name` itself for a
    /// contact directory, else the directory `name` is another spelling of
    /// (`Alice@Example.org` for `alice@example.org`).
    pub normal: String,
}

impl JidDir {
    /// Whether it is spelt as its normalised form: a contact directory.
    pub fn is_contact(&self) -> bool {
        self.name == self.normal
    }
}

/// After a failed append of which `written` bytes went in at `before`:
/// cut them off (if the file is still ours alone), and give back `err`.
fn cut(out: &File, before: u64, written: usize, err: io::Error) -> io::Error {
    if written > 0
        && out
            .metadata()
            .is_ok_and(|m| m.len() == before + written as u64)
    {
        let _ = out.set_len(before);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn temp_tree(name: &str) -> (PathBuf, Tree) {
        let path = std::env::temp_dir().join(format!("xp-tree-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let tree = Tree::open(&path).unwrap();
        (path, tree)
    }

    #[test]
    fn contact_names_are_safe() {
        let ok = Jid::parse("Bob@Example.org/phone").unwrap();
        assert_eq!(contact_name(&ok).unwrap(), "bob@example.org");
        assert!(
            contact_name(&Jid::parse("iq").unwrap()).is_err(),
            "reserved"
        );
        assert!(
            contact_name(&Jid::parse("in").unwrap()).is_err(),
            "reserved"
        );
        assert!(
            contact_name(&Jid::parse("..@example.org").unwrap()).is_err(),
            "hidden"
        );
        let long = Jid::parse(&format!("{}@example.org", "a".repeat(300))).unwrap();
        assert!(contact_name(&long).is_err(), "too long for a file name");
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(check_component(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_sanitised() {
        assert_eq!(sanitise_id("abc-1.2_3"), "abc-1.2_3");
        assert_eq!(sanitise_id("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitise_id("..."), "_");
        assert_eq!(sanitise_id(""), "_");
        assert_eq!(sanitise_id("jabber:iq:version"), "jabber_iq_version");
        assert_eq!(sanitise_id(&"x".repeat(500)).len(), 128);
    }

    #[test]
    fn files_are_private_and_replaced_atomically() {
        let (path, tree) = temp_tree("files");
        tree.append(Some("bob@example.org"), OUT, b"one\n").unwrap();
        tree.append(Some("bob@example.org"), OUT, b"two\n").unwrap();
        let out = path.join("bob@example.org/out");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\ntwo\n");
        assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(path.join("bob@example.org"))
                .unwrap()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        tree.replace(Some("bob@example.org"), PRESENCE, b"away\n")
            .unwrap();
        tree.replace(Some("bob@example.org"), PRESENCE, b"online\n")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(path.join("bob@example.org/presence")).unwrap(),
            "online\n"
        );
        tree.fifo(Some("bob@example.org"), IN).unwrap();
        tree.fifo(Some("bob@example.org"), IN).unwrap();
        assert!(
            tree.fifo(Some("bob@example.org"), OUT).is_err(),
            "a regular file is not a pipe"
        );
        assert_eq!(tree.contacts().unwrap(), vec!["bob@example.org"]);
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn jid_dirs_are_directories_named_as_bare_jids_in_any_spelling() {
        let (path, tree) = temp_tree("jid-dirs");
        for dir in [
            "alice@example.org",
            "Bob@Example.org",
            "Cafe\u{301}@x",
            ".Hidden@x",
            "not a jid@",
            "roster",
        ] {
            std::fs::create_dir(path.join(dir)).unwrap();
        }
        std::fs::write(path.join("Carol@x"), "a file").unwrap();
        std::os::unix::fs::symlink("alice@example.org", path.join("Alice@example.org")).unwrap();
        let dir = |name: &str, normal: &str| JidDir {
            name: name.to_owned(),
            normal: normal.to_owned(),
        };
        assert_eq!(
            tree.jid_dirs().unwrap(),
            [
                dir("Bob@Example.org", "bob@example.org"),
                dir("Cafe\u{301}@x", "caf\u{e9}@x"),
                dir("alice@example.org", "alice@example.org"),
            ]
        );
        assert_eq!(tree.contacts().unwrap(), ["alice@example.org"]);
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn planted_symlinks_are_not_followed() {
        let (path, tree) = temp_tree("links");
        let outside = std::env::temp_dir().join(format!("xp-tree-outside-{}", std::process::id()));
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, path.join("eve@example.org")).unwrap();
        assert!(tree.append(Some("eve@example.org"), OUT, b"x").is_err());
        std::fs::create_dir(path.join("mallory@example.org")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), path.join("mallory@example.org/out"))
            .unwrap();
        assert!(tree.append(Some("mallory@example.org"), OUT, b"x").is_err());
        assert!(!outside.join("target").exists());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}

/// How `out` lines show the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// `YYYY-MM-DD HH:MM` in local time, as sj writes it.
    #[default]
    Local,
    /// Seconds since the epoch, as ii writes it since 1.8.
    Epoch,
}

/// Format a time for an `out` line.
pub fn format_time(when: jiff::Timestamp, format: TimeFormat) -> String {
    match format {
        TimeFormat::Epoch => when.as_second().to_string(),
        TimeFormat::Local => when
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
    }
}

/// The `out` lines for one message: `TIME <who> text`, one line for each line
/// of `text`, so that every line stays attributable to its sender.
pub fn out_lines(when: jiff::Timestamp, format: TimeFormat, who: &str, text: &str) -> String {
    let time = format_time(when, format);
    let mut out = String::new();
    let text = text.strip_suffix('\n').unwrap_or(text);
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        out.push_str(&format!("{time} <{who}> {line}\n"));
    }
    out
}

#[cfg(test)]
mod out_tests {
    use super::*;

    #[test]
    fn every_line_is_attributed() {
        let when: jiff::Timestamp = "2026-11-22T10:05:00Z".parse().unwrap();
        assert_eq!(
            out_lines(when, TimeFormat::Epoch, "bob@example.org", "one\r\ntwo\n"),
            "1795341900 <bob@example.org> one\n1795341900 <bob@example.org> two\n"
        );
        let local = out_lines(when, TimeFormat::Local, "bob", "hi");
        assert!(local.ends_with(" <bob> hi\n"), "{local}");
        assert_eq!(local.len(), "YYYY-MM-DD HH:MM <bob> hi\n".len());
    }
}

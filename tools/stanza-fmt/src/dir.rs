//! `--dir DIR`: the outbound half of the directory tree.
//!
//! Every contact directory `DIR/<bare-jid>` gets a named pipe `DIR/<jid>/in`
//! (0600, made if missing). Each complete line written there becomes a
//! message to that contact on stdout and is appended to `DIR/<jid>/out` as
//! our line; in a room's directory (jid-route keeps `occupants` there) a
//! groupchat message to the room. New contact directories are picked up as they appear: DIR is
//! watched with inotify, and one `poll(2)` waits for the inotify fd, every
//! pipe and (with `--commands`) stdin. There is no timer and no polling loop.
//!
//! The pipes are opened read-write (and non-blocking), so this process is
//! always a writer of its own pipes: a pipe never reports end of file, writers
//! may come and go (`echo hi > DIR/bob@example.org/in`), and nothing has to be
//! reopened as ii does. A partial line stays buffered until its `\n` arrives.
//!
//! More contacts than descriptors: at most [`capacity`] pipes are open (the
//! soft RLIMIT_NOFILE, raised to the hard one, less a reserve). Beyond it
//! the least recently read contact without a partial line is *parked*: its
//! `in` moved aside, what is left read and sent, the pipe removed and
//! closed, its directory watched. An `in` made there again (a named pipe
//! by `ii-client say`, or a file by `echo hi > DIR/JID/in`, read and sent
//! once closed) brings it back, parking another. So no `in` pipe exists
//! without its reader, and no writer waits for ever.
//!
//! `--relay PIPE` (ii-client passes `DIR/in`): the named pipe is opened
//! the same way and polled with the rest; each complete line of it goes to
//! stdout unchanged ([`crate::relay`]), a line a write, so that stdout is
//! the session's only input and no line of it is interleaved with another.
//! With it, the loop also ends when nothing reads stdout any more (its pipe's
//! reader, xmpp-auth, is gone), rather than waiting for the next write.
//!
//! A bad line (invalid UTF-8, a character XML cannot carry, too long) is
//! reported on stderr and skipped; a bad command on stdin too. An output
//! error, or DIR itself going away, ends the loop; stdin's end does not.
//!
//! SIGTERM and SIGINT (`ii-client stop`) end it too, and nothing already
//! written is lost: the handler only writes a byte to a socket ([`Signals`],
//! signal-hook's self-pipe) that the same `poll` waits for, and the loop
//! then reads what every pipe holds (the relay pipe, each contact's) and
//! sends its complete lines as usual, tells each partial line left on
//! stderr (not sent), takes a parked contact's `in` file closed meanwhile,
//! and ends with 0 ([`Server::finish`]). A pipe is read as far as it held
//! bytes then (`FIONREAD`), so a writer that never stops cannot keep the
//! run alive. A second signal ends it at once (128 + the signal's number),
//! for when the drain itself cannot go on (stdout's reader is stuck).

use crate::format::{Formatter, Origin};
use crate::options::Options;
use crate::relay::{Relay, Relayed, MAX_RELAY_LINE};
use crate::spelling;
use crate::text::{LineBuffer, Piece, MAX_CONTACT_LINE, MAX_LINE};
use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, ReadFlags, WatchFlags};
use rustix::fs::OFlags;
use rustix::io::Errno;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use xmpp_pipes::exit::{self, Error, Result, Status};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::tree::{self, JidDir, Tree};

/// The stanza limit assumed while the session has announced none
/// (`DIR/.max-stanza`): ejabberd's default `max_stanza_size`, which it
/// does not announce, the smallest common one.
pub const DEFAULT_STANZA_LIMIT: usize = 65536;

/// The most reads from one pipe before the others get their turn.
const READS_PER_TURN: usize = 8;

/// The most one read of a pipe or of stdin takes.
const CHUNK: usize = 16 * 1024;

/// Descriptors kept free of contact pipes: stdio, inotify, the tree's, and
/// those open for a moment (a directory, an `out`, `--id-fd`).
const RESERVED_FDS: u64 = 16;

/// What a parked contact's directory is watched for: its `in` coming back.
const PARKED_EVENTS: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::ONLYDIR);

/// One contact's pipe and the line being read from it.
struct Contact {
    jid: Jid,
    /// `DIR/<jid>/in`, for messages.
    label: String,
    pipe: File,
    buffer: LineBuffer,
    lines: usize,
    /// The turn it was last read in (the least recent is parked first).
    used: u64,
}

/// `--relay PIPE`: the named pipe whose lines go to stdout as they are.
struct RelayPipe {
    /// PIPE as given, for messages.
    label: String,
    pipe: File,
    relay: Relay,
}

/// The served tree: its contacts and the inotify watch on DIR.
struct Server<'o> {
    options: &'o Options,
    tree: Tree,
    inotify: OwnedFd,
    /// The watch on DIR itself.
    dir_watch: i32,
    contacts: BTreeMap<String, Contact>,
    /// Contact directories whose pipe could not be made (reported once).
    refused: BTreeSet<String>,
    /// Directories in another spelling of a JID left as they are (reported once).
    kept_spellings: BTreeSet<String>,
    /// The most pipes open at once ([`capacity`]).
    capacity: usize,
    /// Contacts without an open pipe (more than `capacity`): their `in` is
    /// removed, so that no writer waits on it, and their directory watched
    /// (watch descriptor → name) until an `in` is made there again.
    parked: BTreeMap<i32, String>,
    /// Turns of reading, for `Contact::used`.
    turn: u64,
    /// `--relay`'s pipe.
    relay: Option<RelayPipe>,
}

/// How many contact pipes may be open at once: the soft RLIMIT_NOFILE,
/// first raised to the hard one, less [`RESERVED_FDS`]; at least one.
fn capacity() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if soft != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            soft = limit.maximum;
        }
    }
    soft.map_or(usize::MAX, |n| {
        usize::try_from(n.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX)
    })
}

/// SIGTERM and SIGINT as a socket that `poll` waits for with the pipes:
/// their handler (signal-hook's) writes a byte to its other end.
struct Signals {
    read: UnixStream,
}

impl Signals {
    /// Handle SIGTERM and SIGINT from now on: the first of them makes
    /// `read` readable, the second ends the process at once with 128 + its
    /// number.
    fn register() -> Result<Signals> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let failed = |err: std::io::Error| Error::os("cannot handle SIGTERM and SIGINT", err);
        let (read, write) = UnixStream::pair().map_err(failed)?;
        read.set_nonblocking(true).map_err(failed)?;
        let once = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT] {
            // In this order: the second signal finds the flag the first set.
            signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, once.clone())
                .and_then(|_| signal_hook::flag::register(signal, once.clone()))
                .and_then(|_| write.try_clone())
                .and_then(|end| signal_hook::low_level::pipe::register(signal, end))
                .map_err(failed)?;
        }
        Ok(Signals { read })
    }

    /// Whether a signal came since the last call (what it wrote is read).
    fn came(&self) -> bool {
        let mut byte = [0u8; 64];
        let mut came = false;
        loop {
            match rustix::io::read(&self.read, &mut byte) {
                Ok(1..) => came = true,
                Err(Errno::INTR) => {}
                Ok(0) | Err(_) => return came,
            }
        }
    }
}

/// Serve the tree at `path` until an output error or a signal ends the run.
pub fn serve(path: &Path, formatter: &mut Formatter<'_>, options: &Options) -> Result<u8> {
    // First: a signal from now on is a byte to read, not the end.
    let signals = Signals::register()?;
    let os = |what: &str, err: std::io::Error| {
        Error::new(
            Status::CantCreat,
            format!("{}: {what}: {err}", path.display()),
        )
    };
    let tree = Tree::open(path).map_err(|e| os("cannot open the tree", e))?;
    // Before the contacts: writers of the pipe find their reader at once.
    let relay = options.relay.as_deref().map(RelayPipe::open).transpose()?;
    let inotify = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
        .map_err(|e| os("inotify", e.into()))?;
    // Watch before the first scan, so that no directory made in between is missed.
    let dir_watch = inotify::add_watch(
        &inotify,
        path,
        WatchFlags::CREATE
            | WatchFlags::MOVED_TO
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR,
    )
    .map_err(|e| os("inotify", e.into()))?;
    let mut server = Server {
        options,
        tree,
        inotify,
        dir_watch,
        contacts: BTreeMap::new(),
        refused: BTreeSet::new(),
        kept_spellings: BTreeSet::new(),
        capacity: capacity(),
        parked: BTreeMap::new(),
        turn: 0,
        relay,
    };
    server.rescan(formatter)?;
    let mut stdin = (options.mode == crate::options::Mode::Commands).then(|| StdinLines {
        buffer: LineBuffer::new(MAX_LINE),
        lines: 0,
    });
    loop {
        let ready = server.wait(&signals, stdin.is_some())?;
        if ready.stdout_gone {
            return Err(Error::new(
                Status::IoErr,
                "stdout: nothing reads it any more (the session it fed is over)",
            ));
        }
        if ready.signal && signals.came() {
            server.finish(formatter)?;
            return Ok(0);
        }
        if let (true, Some(relay)) = (ready.relay, &mut server.relay) {
            relay.read(Take::Turn, formatter)?;
        }
        if ready.inotify {
            server.changes(formatter)?;
        }
        if let (true, Some(lines)) = (ready.stdin, &mut stdin) {
            if !lines.read(formatter)? {
                stdin = None;
            }
        }
        server.turn += 1;
        for name in ready.contacts {
            server.read_contact(&name, Take::Turn, formatter)?;
        }
    }
}

/// A contact's `in` that is a plain file, not the pipe ([`Server::plain_in`]).
enum PlainIn {
    /// Not a plain file (missing, or the pipe).
    None,
    /// It ends with a newline: its lines are sent now, then the pipe made.
    Complete,
    /// Empty, or its last line unfinished: its writer may not be done, so
    /// it is sent once it is closed (the contact parked meanwhile).
    Unfinished,
}

/// What `poll` found ready.
struct Ready {
    /// SIGTERM or SIGINT came.
    signal: bool,
    inotify: bool,
    stdin: bool,
    /// `--relay`'s pipe is readable.
    relay: bool,
    /// With `--relay`: stdout's reader is gone (or stdout is closed).
    stdout_gone: bool,
    contacts: Vec<String>,
}

impl Server<'_> {
    /// Wait until a signal came, or the inotify fd, stdin (if
    /// `with_stdin`) or a pipe is readable.
    fn wait(&self, signals: &Signals, with_stdin: bool) -> Result<Ready> {
        let stdin = std::io::stdin();
        let names: Vec<&String> = self.contacts.keys().collect();
        let flags = PollFlags::IN;
        let mut fds = vec![
            PollFd::new(&signals.read, flags),
            PollFd::new(&self.inotify, flags),
        ];
        if with_stdin {
            fds.push(PollFd::from_borrowed_fd(stdin.as_fd(), flags));
        }
        let stdout = std::io::stdout();
        if let Some(relay) = &self.relay {
            fds.push(PollFd::new(&relay.pipe, flags));
            // No event asked for: poll tells POLLERR when the pipe has no
            // reader left (POLLHUP for a socket, POLLNVAL when closed).
            fds.push(PollFd::from_borrowed_fd(stdout.as_fd(), PollFlags::empty()));
        }
        fds.extend(self.contacts.values().map(|c| PollFd::new(&c.pipe, flags)));
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => break,
                Err(Errno::INTR) => continue,
                Err(err) => return Err(Error::os("poll", err)),
            }
        }
        let mut ready = fds.iter().map(|fd| !fd.revents().is_empty());
        let signal = ready.next().unwrap_or(false);
        let inotify = ready.next().unwrap_or(false);
        let stdin_ready = with_stdin && ready.next().unwrap_or(false);
        let with_relay = self.relay.is_some();
        let relay = with_relay && ready.next().unwrap_or(false);
        let stdout_gone = with_relay && ready.next().unwrap_or(false);
        let contacts = names
            .into_iter()
            .zip(ready)
            .filter(|(_, is_ready)| *is_ready)
            .map(|(name, _)| name.clone())
            .collect();
        Ok(Ready {
            signal,
            inotify,
            stdin: stdin_ready,
            relay,
            stdout_gone,
            contacts,
        })
    }

    /// Drain the inotify events, then bring the contacts up to date, and
    /// serve again the parked contacts whose `in` was made again.
    fn changes(&mut self, formatter: &mut Formatter<'_>) -> Result<()> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.inotify, &mut buf);
        let mut gone = false;
        let mut in_dir = false;
        // Parked contacts with an `in` again (true: a file closed after writing).
        let mut wanted: BTreeMap<String, bool> = BTreeMap::new();
        loop {
            match reader.next() {
                Ok(event) if event.wd() == self.dir_watch => {
                    in_dir = true;
                    gone |= event.events().intersects(
                        ReadFlags::DELETE_SELF | ReadFlags::MOVE_SELF | ReadFlags::IGNORED,
                    );
                }
                Ok(event) => {
                    let Some(name) = self.parked.get(&event.wd()) else {
                        continue;
                    };
                    if event.events().contains(ReadFlags::IGNORED) {
                        // The directory went; the rescan forgets it.
                        in_dir = true;
                    } else if event.file_name().map(|n| n.to_bytes()) == Some(tree::IN.as_bytes()) {
                        *wanted.entry(name.clone()).or_default() |=
                            event.events().contains(ReadFlags::CLOSE_WRITE);
                    }
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => continue,
                Err(err) => return Err(Error::os("inotify", err)),
            }
        }
        if gone {
            return Err(Error::new(
                Status::IoErr,
                format!(
                    "{}: the directory was removed or moved",
                    self.tree.path().display()
                ),
            ));
        }
        if in_dir {
            self.rescan(formatter)?;
        }
        for (name, closed) in wanted {
            self.unpark(&name, closed, formatter)?;
        }
        Ok(())
    }

    /// Serve every contact directory now in the tree (those made with
    /// another spelling adopted first), and forget those gone.
    fn rescan(&mut self, formatter: &mut Formatter<'_>) -> Result<()> {
        let listed = self.tree.jid_dirs().map_err(|e| {
            Error::new(
                Status::IoErr,
                format!("{}: cannot list: {e}", self.tree.path().display()),
            )
        })?;
        let (contacts, spellings): (Vec<JidDir>, Vec<JidDir>) =
            listed.into_iter().partition(JidDir::is_contact);
        let mut names: BTreeSet<String> = contacts.into_iter().map(|dir| dir.name).collect();
        names.extend(self.adopt_spellings(spellings, formatter)?);
        self.contacts.retain(|name, _| names.contains(name));
        self.refused.retain(|name| names.contains(name));
        let inotify = &self.inotify;
        self.parked.retain(|&wd, name| {
            let keep = names.contains(name);
            if !keep {
                let _ = inotify::remove_watch(inotify, wd);
            }
            keep
        });
        let parked: BTreeSet<String> = self.parked.values().cloned().collect();
        for name in names {
            if self.contacts.contains_key(&name)
                || self.refused.contains(&name)
                || parked.contains(&name)
            {
                continue;
            }
            self.serve_contact(&name, formatter)?;
        }
        Ok(())
    }

    /// Directories made with another spelling of a JID (`Alice@X`): moved
    /// or merged into the normalised one, their name a link to it
    /// ([`spelling::adopt`]); a plain `in` found in one is sent. Each is told
    /// on stderr (`DIR/log`); one left as it is, once. The normalised
    /// directories they went to are returned: contact directories now.
    fn adopt_spellings(
        &mut self,
        spellings: Vec<JidDir>,
        formatter: &mut Formatter<'_>,
    ) -> Result<Vec<String>> {
        const ASIDE: &str = ".in.spelling";
        let root = self.tree.path().display().to_string();
        self.kept_spellings
            .retain(|typed| spellings.iter().any(|s| &s.name == typed));
        let mut adopted = Vec::new();
        for found in spellings {
            if self.kept_spellings.contains(&found.name) {
                continue;
            }
            let (typed, normal) = (&found.name, &found.normal);
            let same = format!("{root}/{typed}: the same contact as {root}/{normal}");
            let kept = match spelling::adopt(&self.tree, &found, ASIDE) {
                Ok(spelling::Adopted::Moved) => {
                    exit::warn(
                        "stanza-fmt",
                        format!(
                            "{same} (its normalised form): moved there, {typed} made a link to it"
                        ),
                    );
                    // A plain `in` it held is taken when it is served.
                    None
                }
                Ok(spelling::Adopted::Merged { in_file }) => {
                    exit::warn(
                        "stanza-fmt",
                        format!("{same}: merged into it, {typed} made a link to it"),
                    );
                    if in_file {
                        self.send_file(normal, ASIDE, formatter)?;
                    }
                    None
                }
                Ok(spelling::Adopted::Kept(why)) => Some(why),
                Err(err) => Some(err.to_string()),
            };
            match kept {
                Some(why) => {
                    exit::warn("stanza-fmt", format!("{same}: not served: {why}"));
                    self.kept_spellings.insert(found.name);
                }
                None => adopted.push(found.normal),
            }
        }
        Ok(adopted)
    }

    /// Open the pipe of contact `name`, first parking the least recently
    /// used contact when `capacity` pipes are open (or the descriptors ran
    /// out); parked itself when none can be.
    fn serve_contact(&mut self, name: &str, formatter: &mut Formatter<'_>) -> Result<()> {
        match self.plain_in(name) {
            PlainIn::None => {}
            PlainIn::Complete => self.send_file(name, tree::IN, formatter)?,
            PlainIn::Unfinished => {
                exit::warn(
                    "stanza-fmt",
                    format!(
                        "{}/{name}/{}: a plain file without a newline at its end, not the \
                         pipe: sent once its writer closes it",
                        self.tree.path().display(),
                        tree::IN
                    ),
                );
                // Its writer's close (CLOSE_WRITE) brings the contact back.
                return self.park(name);
            }
        }
        for _ in 0..2 {
            if self.contacts.len() >= self.capacity && !self.park_one(formatter)? {
                break;
            }
            match self.open_contact(name) {
                Ok(contact) => {
                    self.contacts.insert(name.to_owned(), contact);
                    return Ok(());
                }
                Err(err) if err.raw_os_error() == Some(Errno::MFILE.raw_os_error()) => {
                    self.capacity = self.contacts.len().max(1);
                }
                Err(err) => {
                    exit::warn(
                        "stanza-fmt",
                        format!("{}/{name}/{}: {err}", self.tree.path().display(), tree::IN),
                    );
                    self.refused.insert(name.to_owned());
                    return Ok(());
                }
            }
        }
        self.park(name)
    }

    /// Park the least recently used contact with no partial line: its `in`
    /// moved aside (no new writer finds it), what is left in the pipe read
    /// and sent, then removed and closed. False when none can be parked.
    fn park_one(&mut self, formatter: &mut Formatter<'_>) -> Result<bool> {
        let mut idle: Vec<(u64, String)> = self
            .contacts
            .iter()
            .filter(|(_, c)| c.buffer.is_empty())
            .map(|(name, c)| (c.used, name.clone()))
            .collect();
        idle.sort();
        for (_, name) in idle {
            let Ok(dirfd) = self.tree.dir(Some(&name)) else {
                continue;
            };
            let aside = ".in.parking";
            if rustix::fs::renameat(&dirfd, tree::IN, &dirfd, aside).is_err() {
                continue;
            }
            while self.read_contact(&name, Take::Turn, formatter)? {}
            if self
                .contacts
                .get(&name)
                .is_some_and(|c| !c.buffer.is_empty())
            {
                // A writer is in the middle of a line: keep it.
                let _ = rustix::fs::renameat(&dirfd, aside, &dirfd, tree::IN);
                continue;
            }
            let _ = rustix::fs::unlinkat(&dirfd, aside, rustix::fs::AtFlags::empty());
            self.contacts.remove(&name);
            self.park(&name)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// What `in` of contact `name` is when it is not (yet) the pipe: a
    /// writer got there first (`mkdir DIR/JID; echo hi > DIR/JID/in`).
    fn plain_in(&self, name: &str) -> PlainIn {
        use std::io::{Read, Seek, SeekFrom};
        // Looked at before it is opened: opening the pipe would make us
        // one more reader, whose close breaks a writer's pipe.
        let path = self.tree.path().join(name).join(tree::IN);
        if !std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file()) {
            return PlainIn::None;
        }
        let Ok(mut file) =
            self.tree
                .open_file(Some(name), tree::IN, OFlags::RDONLY | OFlags::NONBLOCK)
        else {
            return PlainIn::None;
        };
        let mut last = [0u8];
        // NOFOLLOW in Tree::open_file: a link put there meanwhile is refused.
        if !file.metadata().is_ok_and(|meta| meta.is_file()) {
            return PlainIn::None;
        }
        let ends_a_line = file.seek(SeekFrom::End(-1)).is_ok()
            && file.read_exact(&mut last).is_ok()
            && last[0] == b'\n';
        if ends_a_line {
            PlainIn::Complete
        } else {
            PlainIn::Unfinished
        }
    }

    /// Park contact `name`: no `in` pipe (a writer would wait on it for
    /// ever), its directory watched for one made again.
    fn park(&mut self, name: &str) -> Result<()> {
        let path = self.tree.path().join(name);
        if std::fs::symlink_metadata(path.join(tree::IN)).is_ok_and(|m| m.file_type().is_fifo()) {
            let _ = self.tree.remove(Some(name), tree::IN);
        }
        match inotify::add_watch(&self.inotify, &path, PARKED_EVENTS) {
            Ok(wd) => {
                self.parked.insert(wd, name.to_owned());
            }
            Err(err) => {
                exit::warn("stanza-fmt", format!("{}: inotify: {err}", path.display()));
                self.refused.insert(name.to_owned());
            }
        }
        Ok(())
    }

    /// A parked contact's `in` was made again: a named pipe (`ii-client say`
    /// makes one) is served; a file a writer made (`echo hi > DIR/JID/in`)
    /// is read and sent once it is closed, then removed, and a pipe served.
    fn unpark(&mut self, name: &str, closed: bool, formatter: &mut Formatter<'_>) -> Result<()> {
        let Some(wd) = self
            .parked
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(&wd, _)| wd)
        else {
            return Ok(());
        };
        let path = self.tree.path().join(name).join(tree::IN);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_fifo() => {}
            Ok(meta) if meta.is_file() && closed => self.send_file(name, tree::IN, formatter)?,
            _ => return Ok(()),
        }
        self.parked.remove(&wd);
        let _ = inotify::remove_watch(&self.inotify, wd);
        self.serve_contact(name, formatter)
    }

    /// Send the lines of the file a writer made as a parked contact's
    /// `in` (or that a merged spelling left, `file`), then remove it.
    fn send_file(&mut self, name: &str, file: &str, formatter: &mut Formatter<'_>) -> Result<()> {
        use std::io::Read;
        let label = format!("{}/{name}/{file}", self.tree.path().display());
        let jid = Jid::parse(name).map_err(|e| Error::data(format!("{label}: {e}")))?;
        let mut data = Vec::new();
        self.tree
            .open_file(Some(name), file, OFlags::RDONLY | OFlags::NONBLOCK)
            .and_then(|mut file| file.read_to_end(&mut data))
            .and_then(|_| self.tree.remove(Some(name), file))
            .map_err(|e| Error::os(&label, e))?;
        let mut buffer = LineBuffer::new(MAX_CONTACT_LINE);
        let mut pieces = Vec::new();
        buffer.push(&data, &mut pieces);
        pieces.extend(buffer.finish());
        self.send_pieces(name, &jid, &label, 1, pieces, formatter)
    }

    /// Make (if missing) and open the pipe of the contact directory `name`.
    fn open_contact(&self, name: &str) -> std::io::Result<Contact> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let jid = Jid::parse(name).map_err(|e| invalid(e.to_string()))?;
        tree::contact_name(&jid).map_err(|e| invalid(e.to_string()))?;
        self.tree.fifo(Some(name), tree::IN)?;
        let pipe = self
            .tree
            .open_file(Some(name), tree::IN, OFlags::RDWR | OFlags::NONBLOCK)?;
        if !pipe.metadata()?.file_type().is_fifo() {
            return Err(invalid("not a named pipe".to_owned()));
        }
        Ok(Contact {
            jid,
            label: format!("{}/{name}/{}", self.tree.path().display(), tree::IN),
            pipe,
            buffer: LineBuffer::new(MAX_CONTACT_LINE),
            lines: 0,
            used: self.turn,
        })
    }

    /// Read what the pipe of contact `name` holds (`how` much); send and
    /// log every complete line. True when there may be more to read.
    fn read_contact(
        &mut self,
        name: &str,
        how: Take,
        formatter: &mut Formatter<'_>,
    ) -> Result<bool> {
        let Some(contact) = self.contacts.get_mut(name) else {
            return Ok(false);
        };
        contact.used = self.turn;
        let mut pieces = Vec::new();
        let buffer = &mut contact.buffer;
        let more = read_pipe(&contact.pipe, &contact.label, how, |data| {
            buffer.push(data, &mut pieces)
        })?;
        let jid = contact.jid.clone();
        let label = contact.label.clone();
        let first = contact.lines + 1;
        contact.lines += pieces.len();
        self.send_pieces(name, &jid, &label, first, pieces, formatter)?;
        Ok(more)
    }

    /// Send the lines read from the `in` of contact `name` (`label`), the
    /// first of them line `first` there, and log them in `out` unless
    /// `--no-out`; a bad one is told and skipped.
    fn send_pieces(
        &mut self,
        name: &str,
        jid: &Jid,
        label: &str,
        first: usize,
        pieces: Vec<Piece>,
        formatter: &mut Formatter<'_>,
    ) -> Result<()> {
        let read = pieces.len();
        for (index, piece) in pieces.into_iter().enumerate() {
            let origin = Origin {
                pipe: Some(label),
                number: first + index,
            };
            if piece == Piece::TooLong {
                let why =
                    format!("a line longer than {MAX_CONTACT_LINE} bytes (send it as a file)");
                exit::warn("stanza-fmt", format!("{origin}: not sent: {why}"));
                self.notice(name, &format!("not sent: {why}"));
                continue;
            }
            let text = match formatter.clean(origin, piece) {
                Ok(text) => text,
                Err(err) if err.status() == Status::DataErr => {
                    exit::report("stanza-fmt", &err);
                    continue;
                }
                Err(err) => return Err(err),
            };
            if text.trim().is_empty() {
                continue;
            }
            // A room's directory (jid-route keeps its occupant list there):
            // its lines are group chat.
            let room = self.tree.path().join(name).join(tree::OCCUPANTS).is_file();
            let limit = self.stanza_limit();
            let sent = formatter.contact_line(jid, &text, room, limit);
            if let Ok(parts @ 2..) = sent {
                exit::warn(
                    "stanza-fmt",
                    format!("{origin}: over the server's stanza limit of {limit} bytes: sent in {parts} parts"),
                );
            }
            sent.map_err(|err| {
                // Say exactly what was read from the pipe and not sent.
                let after = read - index - 1;
                err.context(format!(
                    "{label}: line {} not sent{}",
                    first + index,
                    match after {
                        0 => String::new(),
                        1 => ", nor the line read after it".into(),
                        n => format!(", nor the {n} lines read after it"),
                    }
                ))
            })?;
            if self.options.no_out {
                continue;
            }
            let lines = tree::out_lines(
                jiff::Timestamp::now(),
                self.options.time_format,
                &self.options.me,
                &text,
            );
            if let Err(err) = self.tree.append(Some(name), tree::OUT, lines.as_bytes()) {
                exit::warn(
                    "stanza-fmt",
                    format!("{}/{name}/{}: {err}", self.tree.path().display(), tree::OUT),
                );
            }
        }
        Ok(())
    }
}

impl Server<'_> {
    /// SIGTERM or SIGINT came: send what the writers already wrote, then
    /// the run ends. Every pipe is read as far as it holds bytes now and
    /// its complete lines sent as usual; then the events that came
    /// meanwhile are taken (a parked contact's `in` file closed: sent),
    /// and the pipes served since read too. Each partial line left is told
    /// on stderr: it is not sent.
    fn finish(&mut self, formatter: &mut Formatter<'_>) -> Result<()> {
        self.drain(formatter)?;
        self.changes(formatter)?;
        self.drain(formatter)?;
        let relay = self.relay.iter().map(|r| (&r.label, r.relay.pending()));
        let contacts = self
            .contacts
            .values()
            .map(|c| (&c.label, c.buffer.pending()));
        for (label, bytes) in relay.chain(contacts) {
            if bytes > 0 {
                exit::warn("stanza-fmt", unsent_partial(label, bytes));
            }
        }
        Ok(())
    }

    /// Read what every pipe holds now, and send its complete lines.
    fn drain(&mut self, formatter: &mut Formatter<'_>) -> Result<()> {
        if let Some(relay) = &mut self.relay {
            relay.read(Take::Held, formatter)?;
        }
        let names: Vec<String> = self.contacts.keys().cloned().collect();
        for name in names {
            self.read_contact(&name, Take::Held, formatter)?;
        }
        Ok(())
    }

    /// The server's stanza limit as jid-route keeps it (`DIR/.max-stanza`),
    /// else [`DEFAULT_STANZA_LIMIT`].
    fn stanza_limit(&self) -> usize {
        use std::io::Read;
        let mut text = String::new();
        self.tree
            .open_file(None, tree::MAX_STANZA, OFlags::RDONLY | OFlags::NONBLOCK)
            .and_then(|mut file| file.by_ref().take(64).read_to_string(&mut text))
            .ok()
            .and_then(|_| text.trim().parse().ok())
            .filter(|&limit: &usize| limit >= 1024)
            .unwrap_or(DEFAULT_STANZA_LIMIT)
    }

    /// A notice in the conversation of contact `name` (`TIME -!- TEXT`);
    /// when even that cannot be written, stderr says so.
    fn notice(&self, name: &str, text: &str) {
        let time = tree::format_time(jiff::Timestamp::now(), self.options.time_format);
        if let Err(err) = self.tree.append(
            Some(name),
            tree::OUT,
            format!("{time} -!- {text}\n").as_bytes(),
        ) {
            exit::warn(
                "stanza-fmt",
                format!("{}/{name}/{}: {err}", self.tree.path().display(), tree::OUT),
            );
        }
    }
}

/// How much of a pipe [`read_pipe`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// At most [`READS_PER_TURN`] reads, so that one busy writer cannot
    /// starve the others (poll reports the pipe again while data is left).
    Turn,
    /// What it holds now (`FIONREAD`), however much: before the run ends.
    /// What a writer adds meanwhile is not waited for.
    Held,
}

/// Read what `pipe` (named `label`) holds, `how` much, giving each chunk
/// to `take`. True when there may be more to read.
fn read_pipe(pipe: &File, label: &str, how: Take, mut take: impl FnMut(&[u8])) -> Result<bool> {
    let mut chunk = [0u8; CHUNK];
    let (mut reads, mut left) = match how {
        Take::Turn => (READS_PER_TURN, usize::MAX),
        Take::Held => (
            usize::MAX,
            rustix::io::ioctl_fionread(pipe)
                .map_err(|err| Error::os(label, err))
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))?,
        ),
    };
    while reads > 0 && left > 0 {
        match rustix::io::read(pipe, &mut chunk[..left.min(CHUNK)]) {
            Ok(0) | Err(Errno::AGAIN) => return Ok(false),
            Ok(n) => {
                reads -= 1;
                left -= n;
                take(&chunk[..n]);
            }
            Err(Errno::INTR) => continue,
            Err(err) => return Err(Error::os(label, err)),
        }
    }
    Ok(left > 0)
}

/// What stderr says of a line without its newline left in pipe `label`
/// (`bytes` long) when the run ends.
fn unsent_partial(label: &str, bytes: usize) -> String {
    let unit = if bytes == 1 { "byte" } else { "bytes" };
    format!("{label}: a partial line of {bytes} {unit} without its newline at the end: not sent")
}

impl RelayPipe {
    /// Make `path` a named pipe (0600) if nothing is there, and open it for
    /// reading and writing without blocking: it never reports end of file,
    /// and its writers never find it without a reader while we run.
    fn open(path: &Path) -> Result<RelayPipe> {
        let label = path.display().to_string();
        let cannot =
            |err: std::io::Error| Error::new(Status::CantCreat, format!("--relay {label}: {err}"));
        match rustix::fs::mkfifoat(
            rustix::fs::CWD,
            path,
            rustix::fs::Mode::from_raw_mode(0o600),
        ) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(err) => return Err(cannot(err.into())),
        }
        let fd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| cannot(e.into()))?;
        let pipe = File::from(fd);
        let stat = rustix::fs::fstat(&pipe).map_err(|e| cannot(e.into()))?;
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Fifo {
            return Err(cannot(std::io::Error::other("not a named pipe")));
        }
        if rustix::fs::fstat(std::io::stdout())
            .is_ok_and(|out| (out.st_dev, out.st_ino) == (stat.st_dev, stat.st_ino))
        {
            return Err(Error::usage(format!(
                "--relay {label} is stdout itself: what is written would be read back \
                 (point stdout at xmpp-auth's input instead)"
            )));
        }
        Ok(RelayPipe {
            label,
            pipe,
            relay: Relay::new(MAX_RELAY_LINE),
        })
    }

    /// Read what the pipe holds (`how` much), and pass every complete line on.
    fn read(&mut self, how: Take, formatter: &mut Formatter<'_>) -> Result<()> {
        let mut lines = Vec::new();
        let relay = &mut self.relay;
        read_pipe(&self.pipe, &self.label, how, |data| {
            relay.push(data, &mut lines)
        })?;
        for line in lines {
            match line {
                Relayed::Line(line) => formatter.relayed_line(&line)?,
                Relayed::TooLong { number } => exit::warn(
                    "stanza-fmt",
                    format!(
                        "{}: line {number}: longer than {MAX_RELAY_LINE} bytes: not passed on \
                         (dropped up to its end)",
                        self.label
                    ),
                ),
            }
        }
        Ok(())
    }
}

/// Commands on stdin in `--dir --commands` mode.
struct StdinLines {
    buffer: LineBuffer,
    lines: usize,
}

impl StdinLines {
    /// Read once from stdin (it is readable); false at its end or on a read error.
    fn read(&mut self, formatter: &mut Formatter<'_>) -> Result<bool> {
        let mut chunk = [0u8; CHUNK];
        let mut pieces = Vec::new();
        let open = loop {
            match rustix::io::read(std::io::stdin().as_fd(), &mut chunk) {
                Ok(0) => {
                    pieces.extend(self.buffer.finish());
                    break false;
                }
                Ok(n) => {
                    self.buffer.push(&chunk[..n], &mut pieces);
                    break true;
                }
                Err(Errno::INTR) => continue,
                Err(err) => {
                    exit::warn("stanza-fmt", format!("cannot read stdin: {err}"));
                    break false;
                }
            }
        };
        for piece in pieces {
            self.lines += 1;
            let origin = Origin {
                pipe: None,
                number: self.lines,
            };
            match formatter.stdin_line(origin, piece) {
                Err(err) if err.status() == Status::DataErr => exit::report("stanza-fmt", &err),
                other => other?,
            }
        }
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-blocking pipe of 1 MiB holding `bytes` bytes: (read end, write end).
    fn pipe_holding(bytes: usize) -> (File, File) {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
        )
        .unwrap();
        rustix::pipe::fcntl_setpipe_size(&write, 1 << 20).unwrap();
        let data = vec![b'x'; bytes];
        assert_eq!(rustix::io::write(&write, &data).unwrap(), bytes);
        (File::from(read), File::from(write))
    }

    #[test]
    fn a_turn_reads_a_bounded_amount_and_held_reads_all_there_is() {
        let (read, _write) = pipe_holding(300 * 1024);
        let mut got = 0;
        let more = read_pipe(&read, "p", Take::Turn, |d| got += d.len()).unwrap();
        assert!(more, "poll tells again");
        assert_eq!(got, READS_PER_TURN * CHUNK);
        let more = read_pipe(&read, "p", Take::Held, |d| got += d.len()).unwrap();
        assert!(!more);
        assert_eq!(got, 300 * 1024, "every byte, in more reads than a turn's");
        // An empty pipe: nothing read, no wait (its write end is open).
        assert!(!read_pipe(&read, "p", Take::Held, |_| panic!("read")).unwrap());
        assert!(!read_pipe(&read, "p", Take::Turn, |_| panic!("read")).unwrap());
    }

    #[test]
    fn held_reads_what_the_pipe_holds_and_no_more() {
        let (read, write) = pipe_holding(10);
        let mut got = Vec::new();
        read_pipe(&read, "p", Take::Held, |d| {
            got.extend_from_slice(d);
            // A writer that never stops: what it adds now is not waited for.
            rustix::io::write(&write, b"more").unwrap();
        })
        .unwrap();
        assert_eq!(got, b"xxxxxxxxxx");
    }

    #[test]
    fn a_partial_line_left_is_told_with_its_pipe_and_size() {
        assert_eq!(
            unsent_partial("t/bob@x/in", 7),
            "t/bob@x/in: a partial line of 7 bytes without its newline at the end: not sent"
        );
        assert!(unsent_partial("t/in", 1).contains(" of 1 byte without"));
    }
}

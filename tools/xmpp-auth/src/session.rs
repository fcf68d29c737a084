//! The event loop: one poll(2) over the server connection, downstream (PROG
//! on fds 6/7, or stdin/stdout in bridge mode), the control channel to
//! xmpp-connect, PROG's pidfd and the session's timer, around
//! [`xmpp_pipes::session::Session`], which decides everything.
//!
//! The loop only moves bytes: what arrives from the server is framed
//! ([`Feed`]) and given to the session; what the session says to send is
//! written; a new connection is asked for on the control channel and its
//! socket taken from there. Downstream's fds are never made non-blocking
//! (they may be shared with a terminal or a sibling): they are read once
//! and written at most [`DOWNSTREAM_WRITE`] bytes per readiness, which a
//! pipe that polls writable always takes.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Child, Command};
use std::time::Instant;
use xmpp_pipes::control::{self, Message};
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::session::login::Transport;
use xmpp_pipes::session::{Action, Session, State};
use xmpp_pipes::stream;
use xmpp_pipes::xml::feed::Feed;
use xmpp_pipes::xml::lines::{LineItem, Lines};
use xmpp_pipes::xml::{FrameError, Item};

/// The largest element accepted from the server or downstream (bytes).
pub const MAX_STANZA: usize = 16 << 20;
/// Read at most this much at a time.
const CHUNK: usize = 16 * 1024;
/// Write at most this much to downstream after poll says it is writable.
const DOWNSTREAM_WRITE: usize = 4096;
/// Stop reading one side while this much waits to be written to the other.
const BUFFER_LIMIT: usize = 256 * 1024;

/// One connection to the server: its fds, the framer, what waits to be written.
struct Connection {
    read: OwnedFd,
    write: Option<OwnedFd>,
    feed: Feed,
    out: Vec<u8>,
}

impl Connection {
    fn new(read: OwnedFd, write: OwnedFd) -> Connection {
        for fd in [&read, &write] {
            let _ = rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK);
        }
        Connection {
            read,
            write: Some(write),
            feed: Feed::new(MAX_STANZA),
            out: Vec::new(),
        }
    }

    /// Write what waits, as far as the connection takes it.
    fn flush(&mut self) -> std::io::Result<()> {
        let Some(write) = &self.write else {
            self.out.clear();
            return Ok(());
        };
        while !self.out.is_empty() {
            match rustix::io::write(write, &self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

/// Downstream: where the server's stanzas go and where ours come from.
struct Downstream {
    input: Option<OwnedFd>,
    output: Option<OwnedFd>,
    feed: Input,
    out: Vec<u8>,
    /// The byte counts of the lines in `out` (the first one possibly part-written).
    lines: VecDeque<usize>,
    /// For messages: "stdin"/"stdout" or "the program".
    input_name: &'static str,
    output_name: &'static str,
}

/// How downstream's bytes become stanzas.
enum Input {
    /// A stream: its first malformed byte ends it (one-shot use).
    Stream(Box<Feed>),
    /// Stanza lines, each judged alone: a bad one is refused, the next read
    /// (`--refuse-bad-input`, a long-lived session).
    Lines(Lines),
}

impl Input {
    /// Append bytes read; `Err` ends a stream.
    fn push(&mut self, bytes: &[u8]) -> std::result::Result<(), FrameError> {
        match self {
            Input::Stream(feed) => feed.push(bytes),
            Input::Lines(lines) => {
                lines.push(bytes);
                Ok(())
            }
        }
    }

    /// The input ended: whether it ended between stanzas.
    fn finish(&mut self) -> bool {
        match self {
            Input::Stream(feed) => feed.at_boundary(),
            Input::Lines(lines) => {
                lines.finish();
                true
            }
        }
    }

    /// The next stanza, end or refusal.
    fn next_item(&mut self) -> std::result::Result<Option<LineItem>, FrameError> {
        match self {
            Input::Stream(feed) => Ok(feed.next_item()?.map(LineItem::Item)),
            Input::Lines(lines) => Ok(lines.next_item()),
        }
    }
}

/// PROG: the command, started once the first login has bound a JID.
struct Prog {
    command: Option<Command>,
    /// Its ends of the pipes, kept until it is started.
    fds: Option<(OwnedFd, OwnedFd)>,
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
}

/// Everything the loop needs from the command line and the edge.
pub struct Setup {
    /// The session itself.
    pub session: Session,
    /// The first connection (fds 6 and 7).
    pub first: (OwnedFd, OwnedFd),
    /// Its transport facts.
    pub transport: Transport,
    /// The control channel to xmpp-connect, if it offers one.
    pub control: Option<OwnedFd>,
    /// PROG and its arguments; empty for bridge mode.
    pub prog: Vec<std::ffi::OsString>,
    /// `--unacked-file`.
    pub unacked_file: Option<std::path::PathBuf>,
    /// `--state-file`.
    pub state_file: Option<std::path::PathBuf>,
    /// Where the account's FAST token is kept, when FAST is used.
    pub fast_store: Option<crate::fast::Store>,
}

/// Run the session to its end; the exit status.
pub fn run(setup: Setup) -> Result<u8> {
    let Setup {
        mut session,
        first,
        transport,
        control,
        prog,
        unacked_file,
        state_file,
        mut fast_store,
    } = setup;
    let (mut downstream, mut prog) = downstream(&prog, session.refuses_bad_input())?;
    let mut control = control;
    let mut connection = Some(Connection::new(first.0, first.1));
    session.connected(transport, Instant::now());
    loop {
        carry_out(
            &mut session,
            &mut connection,
            &mut control,
            &mut downstream,
            state_file.as_deref(),
            fast_store.as_mut(),
            Instant::now(),
        );
        if prog.child.is_none() && prog.command.is_some() {
            if let Some(jid) = session.jid() {
                start_prog(&mut prog, &jid.to_string(), session.max_stanza())?;
            }
        }
        if session.is_done() && (downstream.out.is_empty() || downstream.output.is_none()) {
            break;
        }
        wait_and_handle(
            &mut session,
            &mut connection,
            &mut control,
            &mut downstream,
            &mut prog,
        )?;
    }
    drop(connection);
    // PROG sees both its fds close, and its status is part of the verdict.
    downstream.input = None;
    downstream.output = None;
    if let Some(child) = &mut prog.child {
        let status = child
            .wait()
            .map_err(|e| Error::new(Status::OsErr, format!("waiting for PROG: {e}")))?;
        session.child_exited(xmpp_pipes::ucspi::exit_code(status), Instant::now());
    }
    let verdict = session
        .finished(|lines| note_unacked(unacked_file.as_deref(), lines))
        .expect("the session is done");
    write_state(state_file.as_deref(), &State::Closed);
    verdict.result
}

/// Write `lines` to `--unacked-file` and say so, for the final report.
fn note_unacked(file: Option<&std::path::Path>, lines: &[String]) -> Option<String> {
    let path = file?;
    Some(match write_unacked(path, lines) {
        Ok(()) => format!("; they are in {}", path.display()),
        Err(err) => format!("; cannot write {}: {err}", path.display()),
    })
}

/// Downstream's fds: stdin/stdout in bridge mode, else pipes for PROG (started later).
fn downstream(prog: &[std::ffi::OsString], refuse: bool) -> Result<(Downstream, Prog)> {
    let make = |input, output, input_name, output_name| Downstream {
        input: Some(input),
        output: Some(output),
        feed: if refuse {
            Input::Lines(Lines::new(MAX_STANZA))
        } else {
            Input::Stream(Box::new(Feed::new(MAX_STANZA)))
        },
        out: Vec::new(),
        lines: VecDeque::new(),
        input_name,
        output_name,
    };
    if prog.is_empty() {
        let input = dup(std::io::stdin().as_fd())?;
        let output = dup(std::io::stdout().as_fd())?;
        let none = Prog {
            command: None,
            fds: None,
            child: None,
            pidfd: None,
        };
        return Ok((make(input, output, "stdin", "stdout"), none));
    }
    let (to_prog_read, to_prog_write) = pipe()?;
    let (from_prog_read, from_prog_write) = pipe()?;
    let command = xmpp_pipes::ucspi::command_with_stream(prog, &to_prog_read, &from_prog_write)?;
    Ok((
        make(from_prog_read, to_prog_write, "the program", "the program"),
        Prog {
            command: Some(command),
            fds: Some((to_prog_read, from_prog_write)),
            child: None,
            pidfd: None,
        },
    ))
}

/// Start PROG with XMPP_JID, once the first login bound it.
fn start_prog(prog: &mut Prog, jid: &str, max_stanza: Option<usize>) -> Result<()> {
    let Some(mut command) = prog.command.take() else {
        return Ok(());
    };
    command
        .env("XMPP_JID", jid)
        .env_remove(xmpp_pipes::password::ENV_PASSWORD);
    match max_stanza {
        Some(max) => command.env("XMPP_MAX_STANZA", max.to_string()),
        None => command.env_remove("XMPP_MAX_STANZA"),
    };
    let child = xmpp_pipes::ucspi::spawn(&mut command)?;
    prog.fds = None;
    prog.pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    prog.child = Some(child);
    Ok(())
}

/// Poll everything once and hand what happened to the session.
fn wait_and_handle(
    session: &mut Session,
    connection: &mut Option<Connection>,
    control: &mut Option<OwnedFd>,
    downstream: &mut Downstream,
    prog: &mut Prog,
) -> Result<()> {
    let now = Instant::now();
    let server_flags = if connection.is_some() && downstream.out.len() < BUFFER_LIMIT {
        PollFlags::IN
    } else {
        PollFlags::empty()
    };
    let server_out = connection
        .as_ref()
        .is_some_and(|c| !c.out.is_empty() && c.write.is_some());
    let input_wanted = session.wants_downstream()
        && downstream.input.is_some()
        && connection
            .as_ref()
            .is_some_and(|c| c.out.len() < BUFFER_LIMIT);
    let output_wanted = !downstream.out.is_empty() && downstream.output.is_some();
    let timeout = session.next_wake().map(|at| {
        let left = at.saturating_duration_since(now);
        Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 3600,
            tv_nsec: 0,
        })
    });

    // Fixed slots, so that readiness is read back by name.
    let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(7);
    fn slot<'a>(
        fds: &mut Vec<PollFd<'a>>,
        fd: Option<BorrowedFd<'a>>,
        flags: PollFlags,
    ) -> Option<usize> {
        fd.filter(|_| !flags.is_empty()).map(|fd| {
            fds.push(PollFd::from_borrowed_fd(fd, flags));
            fds.len() - 1
        })
    }
    let server_read = slot(
        &mut fds,
        connection.as_ref().map(|c| c.read.as_fd()),
        server_flags,
    );
    let server_write = slot(
        &mut fds,
        connection
            .as_ref()
            .and_then(|c| c.write.as_ref())
            .map(AsFd::as_fd)
            .filter(|_| server_out),
        PollFlags::OUT,
    );
    let input = slot(
        &mut fds,
        downstream
            .input
            .as_ref()
            .map(AsFd::as_fd)
            .filter(|_| input_wanted),
        PollFlags::IN,
    );
    // Watched even with nothing to write: a pipe whose reader went away
    // says so (POLLERR), and the session must not stay up for nobody.
    let output = slot(
        &mut fds,
        downstream.output.as_ref().map(AsFd::as_fd),
        if output_wanted {
            PollFlags::OUT
        } else {
            PollFlags::ERR
        },
    );
    let control_slot = slot(&mut fds, control.as_ref().map(AsFd::as_fd), PollFlags::IN);
    let pid_slot = slot(
        &mut fds,
        prog.pidfd.as_ref().map(AsFd::as_fd),
        PollFlags::IN,
    );
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(err) => return Err(Error::os("poll", err)),
    }
    let ready = |slot: Option<usize>| slot.map_or(PollFlags::empty(), |i| fds[i].revents());
    let (server_read, server_write, input, output, control_ready, pid_ready) = (
        ready(server_read),
        ready(server_write),
        ready(input),
        ready(output),
        ready(control_slot),
        ready(pid_slot),
    );
    drop(fds);
    let now = Instant::now();
    if output_wanted && !output.is_empty() {
        write_downstream(session, downstream, now);
    } else if output.intersects(PollFlags::ERR | PollFlags::HUP) && downstream.output.is_some() {
        downstream.output = None;
        let name = downstream.output_name;
        session.downstream_lost(
            Error::new(
                Status::IoErr,
                format!(
                    "cannot write to {name}: its reader went away \
                     (what the server sends now is left with it)"
                ),
            ),
            now,
        );
    }
    if !server_write.is_empty() {
        flush_connection(session, connection, now);
    }
    if !server_read.is_empty() {
        read_server(session, connection, now);
    }
    if !input.is_empty() {
        read_downstream(session, downstream, now);
    }
    if !control_ready.is_empty() {
        read_control(session, connection, control, now);
    }
    if !pid_ready.is_empty() {
        if let Some(child) = &mut prog.child {
            if let Ok(Some(status)) = child.try_wait() {
                prog.pidfd = None;
                session.child_exited(xmpp_pipes::ucspi::exit_code(status), now);
            }
        }
    }
    // Items framed but not yet taken (downstream's wait while offline).
    take_downstream_items(session, downstream, now);
    if session.next_wake().is_some_and(|at| Instant::now() >= at) {
        session.tick(Instant::now());
    }
    Ok(())
}

/// Carry out the session's actions.
fn carry_out(
    session: &mut Session,
    connection: &mut Option<Connection>,
    control: &mut Option<OwnedFd>,
    downstream: &mut Downstream,
    state_file: Option<&std::path::Path>,
    mut fast_store: Option<&mut crate::fast::Store>,
    now: Instant,
) {
    loop {
        let actions = session.actions();
        if actions.is_empty() {
            return;
        }
        for action in actions {
            match action {
                Action::Send(xml) => {
                    if let Some(c) = connection {
                        c.out.extend_from_slice(xml.as_bytes());
                    }
                }
                Action::Deliver(line) => {
                    if downstream.output.is_some() {
                        downstream.out.extend_from_slice(line.as_bytes());
                        downstream.out.push(b'\n');
                        downstream.lines.push_back(line.len() + 1);
                    }
                }
                Action::Drop => {
                    // What was sent last goes out as far as the connection
                    // takes it now (the word that ends a session given up).
                    if let Some(c) = connection.as_mut() {
                        let _ = c.flush();
                    }
                    *connection = None;
                }
                Action::Connect => {
                    *connection = None;
                    let sent = control
                        .as_ref()
                        .map(|fd| control::send(fd.as_fd(), &Message::Connect, None));
                    if !matches!(sent, Some(Ok(()))) {
                        *control = None;
                        session.connector_gone(now);
                    }
                }
                Action::State(state) => write_state(state_file, &state),
                Action::Features(features) => {
                    if let Some(store) = fast_store.as_deref_mut() {
                        // Only a lost round trip if this fails: no word.
                        let _ = store.remember_features(features);
                    }
                }
                Action::Token(update) => {
                    if let Some(store) = fast_store.as_deref_mut() {
                        if let Err(err) = store.apply(&update) {
                            xmpp_pipes::exit::warn(
                                "xmpp-auth",
                                format!("cannot keep the FAST token: {err}; the next login uses the password"),
                            );
                        }
                    }
                }
                Action::Notice(text) => {
                    xmpp_pipes::exit::print_line(&format!("xmpp-auth: {text}\n"))
                }
            }
        }
        flush_connection(session, connection, now);
    }
}

/// Write what waits for the server; a failure is the connection's loss.
fn flush_connection(session: &mut Session, connection: &mut Option<Connection>, now: Instant) {
    let Some(c) = connection else { return };
    if let Err(err) = c.flush() {
        *connection = None;
        session.connection_lost(Error::temp(format!("sending to the server: {err}")), now);
    }
}

/// Read what the server sent and give the session every complete item.
fn read_server(session: &mut Session, connection: &mut Option<Connection>, now: Instant) {
    let Some(c) = connection else { return };
    let mut buf = vec![0u8; CHUNK];
    let lost = match rustix::io::read(&c.read, &mut buf) {
        Ok(0) => Some((!c.feed.at_boundary()).then(|| stream::frame_error(FrameError::Truncated))),
        Ok(n) => {
            session.heard(now);
            c.feed
                .push(&buf[..n])
                .err()
                .map(|e| Some(stream::frame_error(e)))
        }
        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => return,
        Err(err) => Some(Some(Error::temp(format!("reading from the server: {err}")))),
    };
    // Every complete item first: what arrived before a loss counts (an
    // acknowledgement just before a reset, say).
    loop {
        let Some(c) = connection.as_mut() else { return };
        match c.feed.next_item() {
            Ok(Some(item)) => session.server_item(item, now),
            Ok(None) => break,
            Err(err) => {
                session.connection_lost(stream::frame_error(err), now);
                return;
            }
        }
    }
    match lost {
        Some(Some(err)) => session.connection_lost(err, now),
        Some(None) => session.connection_ended(now),
        None => {}
    }
}

/// Read what downstream wrote.
fn read_downstream(session: &mut Session, downstream: &mut Downstream, now: Instant) {
    let Some(input) = &downstream.input else {
        return;
    };
    let mut buf = vec![0u8; CHUNK];
    match rustix::io::read(input, &mut buf) {
        Ok(0) => {
            downstream.input = None;
            let clean = downstream.feed.finish();
            take_downstream_items(session, downstream, now);
            let error = (!clean).then(|| {
                Error::data(format!(
                    "bad input from {}: {}",
                    downstream.input_name,
                    FrameError::Truncated
                ))
            });
            session.downstream_ended(error, now);
        }
        Ok(n) => {
            if let Err(err) = downstream.feed.push(&buf[..n]) {
                downstream.input = None;
                let name = downstream.input_name;
                session.downstream_ended(
                    Some(Error::data(format!("bad input from {name}: {err}"))),
                    now,
                );
            }
        }
        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
        Err(err) => {
            downstream.input = None;
            let name = downstream.input_name;
            session.downstream_ended(
                Some(Error::new(
                    Status::IoErr,
                    format!("reading from {name}: {err}"),
                )),
                now,
            );
        }
    }
}

/// Give the session downstream's complete stanzas, as long as it takes them.
fn take_downstream_items(session: &mut Session, downstream: &mut Downstream, now: Instant) {
    while session.wants_downstream() {
        let name = downstream.input_name;
        match downstream.feed.next_item() {
            Ok(Some(LineItem::Item(Item::Stanza(line)))) => session.downstream_stanza(line, now),
            Ok(Some(LineItem::Refused(why))) => {
                session.downstream_refused(format!("bad input from {name}: {why}"), now)
            }
            Ok(Some(LineItem::Item(Item::Header(_)))) => {
                downstream.input = None;
                session.downstream_ended(
                    Some(Error::data(format!(
                        "{name} sent a stream header: write stanzas only, the stream is already open"
                    ))),
                    now,
                );
            }
            Ok(Some(LineItem::Item(Item::Close))) => {
                downstream.input = None;
                session.downstream_ended(None, now);
            }
            Ok(None) => {
                session.downstream_quiet();
                return;
            }
            Err(err) => {
                downstream.input = None;
                session.downstream_ended(
                    Some(Error::data(format!("bad input from {name}: {err}"))),
                    now,
                );
            }
        }
    }
}

/// Write to downstream; count each line written whole as delivered.
fn write_downstream(session: &mut Session, downstream: &mut Downstream, now: Instant) {
    let Some(output) = &downstream.output else {
        return;
    };
    let end = downstream.out.len().min(DOWNSTREAM_WRITE);
    match rustix::io::write(output, &downstream.out[..end]) {
        Ok(mut n) => {
            downstream.out.drain(..n);
            while let Some(first) = downstream.lines.front_mut() {
                if n < *first {
                    *first -= n;
                    break;
                }
                n -= *first;
                downstream.lines.pop_front();
                session.delivered();
            }
        }
        Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
        Err(err) => {
            downstream.output = None;
            let lost = downstream.lines.len();
            downstream.out.clear();
            downstream.lines.clear();
            let name = downstream.output_name;
            session.downstream_lost(
                Error::new(
                    Status::IoErr,
                    format!(
                        "cannot write to {name}: {err}: its reader went away \
                         ({lost} stanzas not delivered are left with the server)"
                    ),
                ),
                now,
            );
        }
    }
}

/// A message from xmpp-connect.
fn read_control(
    session: &mut Session,
    connection: &mut Option<Connection>,
    control: &mut Option<OwnedFd>,
    now: Instant,
) {
    let Some(fd) = control.as_ref() else { return };
    match control::receive(fd.as_fd()) {
        Ok(Some((Message::Connected(facts), Some(socket)))) => {
            let transport = match transport(|name| facts.get(name).map(str::to_owned)) {
                Ok(transport) => transport,
                Err(err) => {
                    session.connect_failed(err, now);
                    return;
                }
            };
            let write = match socket.try_clone() {
                Ok(write) => write,
                Err(err) => {
                    session.connect_failed(Error::os("dup", err), now);
                    return;
                }
            };
            *connection = Some(Connection::new(socket, write));
            session.connected(transport, now);
        }
        Ok(Some((Message::Failed { status, message }, _))) => {
            session.connect_failed(Error::new(status, message), now);
        }
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => {
            *control = None;
            session.connector_gone(now);
        }
    }
}

/// The transport facts, by their environment variable names (read once at the edge).
pub fn transport(lookup: impl Fn(&str) -> Option<String>) -> Result<Transport> {
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    let exporter = lookup(ENV_EXPORTER)
        .map(|value| {
            BASE64
                .decode(value.as_bytes())
                .map_err(|_| Error::config(format!("{ENV_EXPORTER} is not valid base64")))
        })
        .transpose()?;
    Ok(Transport {
        tls: lookup(ENV_TLS).is_some(),
        exporter,
    })
}

/// The environment variable that says the transport is TLS (set by xmpp-connect).
pub const ENV_TLS: &str = "SSL_PROTOCOL";
/// The environment variable with tls-exporter channel-binding data (base64).
pub const ENV_EXPORTER: &str = "XMPP_TLS_EXPORTER";

/// Replace the state file (if any) with one line: `STATE SINCE [DETAIL]`,
/// SINCE in UTC (RFC 3339). A failure to write it is a warning, not the
/// session's end.
fn write_state(path: Option<&std::path::Path>, state: &State) {
    let Some(path) = path else { return };
    let (word, detail) = state.describe();
    let since = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now());
    let line = if detail.is_empty() {
        format!("{word} {since}\n")
    } else {
        format!("{word} {since} {detail}\n")
    };
    if let Err(err) = replace_file(path, line.as_bytes(), false) {
        xmpp_pipes::exit::warn(
            "xmpp-auth",
            format_args!("cannot write {}: {err}", path.display()),
        );
    }
}

/// Write `data` to `path` (0600, never through a symlink), replacing it
/// atomically; with `sync`, on disk before it replaces the old one.
fn replace_file(path: &std::path::Path, data: &[u8], sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&temp)?;
    file.write_all(data)?;
    if sync {
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)
}

/// Write `lines` to `path` (0600), replacing it atomically, synced.
fn write_unacked(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    let mut data = String::new();
    for line in lines {
        data.push_str(line);
        data.push('\n');
    }
    replace_file(path, data.as_bytes(), true)
}

fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| Error::os("dup", e))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::os("pipe", e))
}

//! The logged-in session: stanzas relayed between the server and downstream
//! (PROG on fds 6/7, or stdin/stdout in bridge mode).
//!
//! Two threads carry the stanzas, one each way; the main thread waits for
//! what they report. Session-level duties stay here: stream management
//! acknowledgements (`<r/>`, `<a/>`) and XEP-0199 pings are answered and never
//! reach downstream. At the end of downstream's input, delivery is confirmed
//! (an acknowledgement request with stream management, otherwise a ping
//! round-trip, which proves the server processed everything sent before it),
//! the stream is closed, and the exit status says whether everything was.
//!
//! With `--join`, the rooms are joined first ([`crate::muc`]): the server's
//! stanzas flow downstream meanwhile, but downstream's are not read until
//! every room let us in, so that no message goes out before its room is
//! joined. The rooms are left at the end, before delivery is confirmed.

use crate::login::{Negotiated, MAX_STANZA};
use crate::muc::{Observed, Rooms};
use crate::options::Options;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::flush::FlushBeforeRead;
use xmpp_pipes::password::Password;
use xmpp_pipes::stream::{self, NS_PING, NS_SM};
use xmpp_pipes::xml::{Element, Framer, Item, NS_CLIENT};

/// The id of the ping that confirms delivery on servers without stream management.
const FINAL_PING_ID: &str = "xa-final-ping";

/// Ends the process with status 75 if not cancelled within the timeout.
pub struct Watchdog {
    cancel: Sender<()>,
}

impl Watchdog {
    /// Start a watchdog for `what` (used in the message).
    pub fn start(timeout: Duration, what: &'static str) -> Watchdog {
        let (cancel, cancelled) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                xmpp_pipes::exit::print_line(&format!(
                    "xmpp-auth: timed out after {} s {what}\n",
                    timeout.as_secs_f64()
                ));
                std::process::exit(Status::TempFail.code().into());
            }
        });
        Watchdog { cancel }
    }

    /// Stop the watchdog.
    pub fn cancel(self) {
        drop(self.cancel);
    }
}

/// What the relay threads report to the main thread.
enum Event {
    /// Downstream's input ended.
    DownstreamEof,
    /// Downstream wrote something that is not a stanza.
    DownstreamError(Error),
    /// The server acknowledged stanzas (stream management) or answered the final ping.
    Confirmed,
    /// The server closed the stream (`</stream:stream>`).
    ServerClosed,
    /// The connection ended without a closing tag, or the stream failed.
    ServerFailed(Error),
    /// PROG exited with this status.
    ChildExited(u8),
    /// A room of `--join` let us in.
    RoomJoined,
    /// A room of `--join` refused us.
    RoomRefused(Error),
}

/// Ask the server for an acknowledgement each time this many stanzas wait for one.
const ACK_EVERY: usize = 64;

/// State shared by both directions: the writer to the server and the counters.
struct Shared {
    writer: BufWriter<File>,
    stream_management: bool,
    /// Stanzas sent since stream management was enabled (XEP-0198's count, mod 2^32).
    sent: u32,
    /// The last `h` the server acknowledged.
    acked: u32,
    /// Sent stanzas not acknowledged yet, oldest first, each marked with
    /// whether it came from downstream (else xmpp-auth sent it itself).
    unacked: VecDeque<(String, bool)>,
    /// Stanzas from downstream sent (what the final report counts).
    sent_downstream: u64,
    /// Stanzas received and handled (delivered downstream or answered).
    handled: u32,
    /// Whether the final ping was answered (servers without stream management).
    ping_answered: bool,
    /// The group chats joined, and those being joined.
    rooms: Rooms,
    /// Our closing tag is sent: nothing more may follow it (RFC 6120 §4.4), not even an answer.
    closed: bool,
}

impl Shared {
    fn write(&mut self, xml: &str) -> std::io::Result<()> {
        self.writer.write_all(xml.as_bytes())
    }

    /// Send stanzas of our own and flush them.
    fn send_now(&mut self, lines: &[String], what: &str) -> Result<()> {
        lines
            .iter()
            .try_for_each(|line| self.send_stanza(line))
            .and_then(|()| self.writer.flush())
            .map_err(|e| Error::from(e).context(what))
    }

    /// Send one stanza line, counting it for stream management.
    fn send_stanza(&mut self, line: &str) -> std::io::Result<()> {
        self.send_counted(line, false)
    }

    /// Send a stanza that downstream wrote (the ones the final report counts).
    fn send_downstream(&mut self, line: &str) -> std::io::Result<()> {
        self.sent_downstream += 1;
        self.send_counted(line, true)
    }

    fn send_counted(&mut self, line: &str, downstream: bool) -> std::io::Result<()> {
        self.write(line)?;
        if self.stream_management && is_counted(line) {
            self.sent = self.sent.wrapping_add(1);
            self.unacked.push_back((line.to_owned(), downstream));
            // Ask for an acknowledgement now and then, so that a long session
            // (a log followed for months) keeps only the last few stanzas.
            if self.unacked.len().is_multiple_of(ACK_EVERY) {
                self.write(&format!("<r xmlns='{NS_SM}'/>"))?;
            }
        }
        Ok(())
    }

    fn acknowledge(&mut self, h: u32) {
        let newly = h.wrapping_sub(self.acked) as usize;
        for _ in 0..newly.min(self.unacked.len()) {
            self.unacked.pop_front();
        }
        self.acked = h;
    }

    fn outstanding(&self) -> usize {
        self.unacked.len()
    }

    /// Downstream's stanzas not acknowledged, oldest first.
    fn unacked_downstream(&self) -> impl Iterator<Item = &str> {
        self.unacked
            .iter()
            .filter(|(_, downstream)| *downstream)
            .map(|(line, _)| line.as_str())
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The local name of a stanza line's root element, if it has no prefix.
fn root_name(line: &str) -> &str {
    let name = line.strip_prefix('<').unwrap_or_default();
    let end = name.find([' ', '/', '>']).unwrap_or(name.len());
    &name[..end]
}

/// Whether XEP-0198 counts this element (message, presence, iq in jabber:client).
fn is_counted(line: &str) -> bool {
    matches!(root_name(line), "message" | "presence" | "iq")
}

/// Run the session until downstream is done and delivery is confirmed (or not);
/// `room_password` is the password for the rooms of `--join`.
pub fn run(
    negotiated: Negotiated,
    options: &Options,
    room_password: Option<&Password>,
) -> Result<u8> {
    let Negotiated {
        framer,
        writer,
        jid,
        stream_management,
        pending,
    } = negotiated;
    let (events, inbox) = mpsc::channel();
    let (down_in, down_out, source) = if options.prog.is_empty() {
        (
            dup(std::io::stdin().as_fd())?,
            dup(std::io::stdout().as_fd())?,
            "stdin",
        )
    } else {
        let (to_prog_read, to_prog_write) = pipe()?;
        let (from_prog_read, from_prog_write) = pipe()?;
        let mut command: Command =
            xmpp_pipes::ucspi::command_with_stream(&options.prog, &to_prog_read, &from_prog_write)?;
        command
            .env("XMPP_JID", jid.to_string())
            .env_remove(xmpp_pipes::password::ENV_PASSWORD);
        let mut child = xmpp_pipes::ucspi::spawn(&mut command)?;
        drop((to_prog_read, from_prog_write));
        let child_events = events.clone();
        std::thread::spawn(move || {
            let code = child
                .wait()
                .map(xmpp_pipes::ucspi::exit_code)
                .unwrap_or(Status::OsErr.code());
            let _ = child_events.send(Event::ChildExited(code));
        });
        (from_prog_read, to_prog_write, "the program")
    };
    let shared = Arc::new(Mutex::new(Shared {
        writer: BufWriter::new(writer),
        stream_management,
        sent: 0,
        acked: 0,
        unacked: VecDeque::new(),
        sent_downstream: 0,
        handled: 0,
        ping_answered: false,
        rooms: Rooms::new(&options.rooms),
        closed: false,
    }));
    if options.presence {
        lock(&shared).send_now(&["<presence/>".to_owned()], "sending presence")?;
    }
    let mut down_out = BufWriter::new(File::from(down_out));
    for line in &pending {
        writeln!(down_out, "{line}").map_err(|e| Error::from(e).context("writing downstream"))?;
    }
    down_out
        .flush()
        .map_err(|e| Error::from(e).context("writing downstream"))?;

    {
        let (shared, events) = (Arc::clone(&shared), events.clone());
        std::thread::spawn(move || server_to_downstream(framer, down_out, &shared, &events));
    }
    let mut ending = Ending::default();
    if !join_rooms(&shared, &inbox, options, room_password, &mut ending)? {
        // Downstream's input is never read: PROG sees its fd 7 closed.
        drop(down_in);
        return finish(&shared, &inbox, options, ending, false);
    }
    {
        let (shared, events) = (Arc::clone(&shared), events.clone());
        // What downstream wrote goes out when downstream goes quiet.
        let flusher = Arc::clone(&shared);
        let input = BufReader::new(FlushBeforeRead::new(File::from(down_in), move || {
            lock(&flusher).writer.flush()
        }));
        std::thread::spawn(move || downstream_to_server(input, source, &shared, &events));
    }
    drop(events);
    finish(&shared, &inbox, options, ending, true)
}

/// Join the rooms of `--join`, within the timeout; `Ok(true)` once every room
/// let us in (or there is none), `Ok(false)` when a room refused us, did not
/// answer, or the session ended meanwhile (`ending` says which).
fn join_rooms(
    shared: &Mutex<Shared>,
    inbox: &Receiver<Event>,
    options: &Options,
    password: Option<&Password>,
    ending: &mut Ending,
) -> Result<bool> {
    let joins = {
        let guard = lock(shared);
        if !guard.rooms.any() {
            return Ok(true);
        }
        guard.rooms.join_stanzas(password)?
    };
    lock(shared).send_now(&joins, "joining the rooms")?;
    let deadline = Instant::now() + options.timeout;
    while lock(shared).rooms.waiting() {
        match recv_until(inbox, deadline) {
            Some(event) => {
                if ending.note(event) {
                    return Ok(false);
                }
            }
            None => {
                ending.room_error = Some(Error::temp(format!(
                    "timed out after {} s waiting to join {}: the room did not answer",
                    options.timeout.as_secs_f64(),
                    lock(shared).rooms.not_joined()
                )));
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// What the main thread has learnt of how the session ends.
#[derive(Default)]
struct Ending {
    /// PROG's exit status, once it exited.
    child_status: Option<u8>,
    /// The server is gone: cleanly (`None`) or with an error.
    server_gone: Option<Option<Error>>,
    /// Downstream's input was bad.
    input_error: Option<Error>,
    /// A room of `--join` refused us or did not answer.
    room_error: Option<Error>,
}

impl Ending {
    /// Record one event; `true` when it ends downstream's input phase.
    fn note(&mut self, event: Event) -> bool {
        match event {
            Event::DownstreamEof => true,
            Event::DownstreamError(err) => {
                self.input_error = Some(err);
                true
            }
            Event::ServerClosed => {
                self.server_gone = Some(None);
                true
            }
            Event::ServerFailed(err) => {
                self.server_gone = Some(Some(err));
                true
            }
            Event::ChildExited(code) => {
                self.child_status = Some(code);
                false
            }
            Event::RoomRefused(err) => {
                self.room_error.get_or_insert(err);
                true
            }
            Event::Confirmed | Event::RoomJoined => false,
        }
    }

    /// Take events until `done` holds, the server goes, or the deadline passes.
    fn wait_until(&mut self, inbox: &Receiver<Event>, deadline: Instant, done: impl Fn() -> bool) {
        while !done() && self.server_gone.is_none() {
            match recv_until(inbox, deadline) {
                Some(Event::DownstreamEof | Event::DownstreamError(_)) => {}
                Some(event) => {
                    self.note(event);
                }
                None => break,
            }
        }
    }
}

/// The main thread's part: wait for the end (when `relaying` downstream's input),
/// leave the rooms, confirm delivery, close, decide the status.
fn finish(
    shared: &Mutex<Shared>,
    inbox: &Receiver<Event>,
    options: &Options,
    mut ending: Ending,
    relaying: bool,
) -> Result<u8> {
    // Phase 1: until downstream's input ends or the server goes away.
    if relaying {
        while let Ok(event) = inbox.recv() {
            if ending.note(event) {
                break;
            }
        }
    }
    // Phase 2: leave the rooms, confirm delivery and close, while the server is there.
    if ending.server_gone.is_none() {
        let request = {
            let mut guard = lock(shared);
            let leave = guard.rooms.leave_stanzas();
            leave
                .and_then(|leave| guard.send_now(&leave, "leaving the rooms"))
                .and_then(|()| {
                    let request = if guard.stream_management {
                        format!("<r xmlns='{NS_SM}'/>")
                    } else {
                        format!(
                            "<iq type='get' id='{FINAL_PING_ID}'><ping xmlns='{NS_PING}'/></iq>"
                        )
                    };
                    guard
                        .write(&request)
                        .and_then(|()| guard.writer.flush())
                        .map_err(Error::from)
                })
        };
        if request.is_ok() {
            let confirmed = || {
                let s = lock(shared);
                if s.stream_management {
                    s.outstanding() == 0
                } else {
                    s.ping_answered
                }
            };
            ending.wait_until(inbox, Instant::now() + options.timeout, confirmed);
        }
        let close = {
            let mut guard = lock(shared);
            guard.closed = true;
            guard
                .write(stream::CLOSE)
                .and_then(|()| guard.writer.flush())
        };
        if close.is_ok() {
            ending.wait_until(inbox, Instant::now() + options.timeout, || false);
        }
    }
    // Closing our side of the connection lets xmpp-connect finish TLS.
    {
        let mut guard = lock(shared);
        let _ = guard.writer.flush();
        let _ = rustix::net::shutdown(guard.writer.get_ref(), rustix::net::Shutdown::Write);
    }
    if !options.prog.is_empty() {
        while ending.child_status.is_none() {
            match inbox.recv() {
                Ok(event) => {
                    ending.note(event);
                }
                Err(_) => break,
            }
        }
    }
    verdict(&lock(shared), ending, options.unacked_file.as_deref())
}

fn recv_until(inbox: &Receiver<Event>, deadline: Instant) -> Option<Event> {
    let left = deadline.saturating_duration_since(Instant::now());
    inbox.recv_timeout(left).ok()
}

/// The exit status: a room's refusal first (PROG may fail because of it), then
/// PROG's failure, then bad input, then anything unconfirmed.
/// "N of M stanzas sent were not acknowledged", counting downstream's
/// stanzas only: they arrived in order, so the first M − N of downstream's
/// input are confirmed and the rest is what to send again. With
/// `--unacked-file`, the N lines are written there.
fn unacknowledged_report(shared: &Shared, unacked_file: Option<&std::path::Path>) -> String {
    let lines: Vec<&str> = shared.unacked_downstream().collect();
    let total = shared.sent_downstream;
    if lines.is_empty() {
        return "the server did not acknowledge the session's own stanzas (presence, rooms)"
            .to_owned();
    }
    let mut report = format!(
        "{} of {total} stanzas sent were not acknowledged by the server (the first {} were)",
        lines.len(),
        total - lines.len() as u64
    );
    if let Some(path) = unacked_file {
        match write_unacked(path, &lines) {
            Ok(()) => report.push_str(&format!("; they are in {}", path.display())),
            Err(err) => report.push_str(&format!("; cannot write {}: {err}", path.display())),
        }
    }
    report
}

/// Write `lines` to `path` (0600), replacing it atomically.
fn write_unacked(path: &std::path::Path, lines: &[&str]) -> std::io::Result<()> {
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
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

fn verdict(shared: &Shared, ending: Ending, unacked_file: Option<&std::path::Path>) -> Result<u8> {
    let Ending {
        child_status: child,
        server_gone,
        input_error,
        room_error,
    } = ending;
    let server_error = server_gone.flatten();
    if let Some(code) = child.filter(|&code| code != 0 && room_error.is_none()) {
        return Ok(code);
    }
    let unconfirmed = if shared.stream_management {
        (shared.outstanding() > 0).then(|| unacknowledged_report(shared, unacked_file))
    } else {
        (!shared.ping_answered)
            .then(|| "the server did not confirm that it processed what was sent".to_owned())
    };
    if let Some(err) = room_error.or(input_error) {
        return Err(match unconfirmed {
            Some(lost) => err.context(lost),
            None => err,
        });
    }
    match (server_error, unconfirmed) {
        (Some(err), Some(lost)) => Err(Error::new(err.status(), format!("{err}; {lost}"))),
        (None, Some(lost)) => Err(Error::temp(lost)),
        (Some(err), None) => Err(err),
        (None, None) => Ok(child.unwrap_or(0)),
    }
}

/// Relay downstream's stanzas to the server.
fn downstream_to_server(
    input: impl BufRead,
    source: &str,
    shared: &Mutex<Shared>,
    events: &Sender<Event>,
) {
    let mut framer = Framer::new(input, MAX_STANZA);
    let event = loop {
        match framer.next_item() {
            Ok(Some(Item::Stanza(line))) => {
                let mut guard = lock(shared);
                // Nothing of a stanza to a room not joined goes out, nor anything after it.
                if let Err(err) = guard.rooms.check_outgoing(root_name(&line), &line) {
                    break Event::DownstreamError(err.context(format!("bad input from {source}")));
                }
                // Flushed by the input when it next may block (see below).
                if let Err(err) = guard.send_downstream(&line) {
                    break Event::ServerFailed(Error::from(err).context("sending to the server"));
                }
            }
            Ok(Some(Item::Header(_))) => {
                break Event::DownstreamError(Error::data(format!(
                    "{source} sent a stream header: write stanzas only, the stream is already open"
                )))
            }
            Ok(Some(Item::Close)) | Ok(None) => break Event::DownstreamEof,
            Err(err) => {
                break Event::DownstreamError(Error::data(format!(
                    "bad input from {source}: {err}"
                )))
            }
        }
    };
    let _ = lock(shared).writer.flush();
    let _ = events.send(event);
}

/// Relay the server's stanzas downstream, answering session-level requests.
fn server_to_downstream(
    mut framer: Framer<BufReader<File>>,
    mut out: BufWriter<File>,
    shared: &Mutex<Shared>,
    events: &Sender<Event>,
) {
    let event = loop {
        let line = match framer.next_item() {
            Ok(Some(Item::Stanza(line))) => line,
            Ok(Some(Item::Close)) => {
                let _ = writeln!(out, "{}", stream::CLOSE).and_then(|()| out.flush());
                break Event::ServerClosed;
            }
            Ok(Some(Item::Header(_))) => {
                break Event::ServerFailed(Error::protocol(
                    "the server restarted the stream unexpectedly",
                ))
            }
            Ok(None) => {
                break Event::ServerFailed(Error::temp("the connection to the server was lost"))
            }
            Err(err) => break Event::ServerFailed(stream::frame_error(err)),
        };
        match handle_session_level(&line, shared, events)
            .and_then(|consumed| Ok(consumed || observe_rooms(&line, shared, events)?))
        {
            Ok(true) => continue,
            Ok(false) => {}
            Err(err) => break Event::ServerFailed(err),
        }
        // One write per stanza, flushed at once: a stanza never waits in our
        // buffer for the next (the framer may block on a keepalive after it),
        // and what is acknowledged to the server was really delivered.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // Downstream is gone: stop taking stanzas we cannot deliver (they stay unacknowledged).
            break Event::DownstreamEof;
        }
        if is_counted(&line) {
            let mut guard = lock(shared);
            guard.handled = guard.handled.wrapping_add(1);
        }
        if root_name(&line) == "stream:error" {
            let error = Element::parse(&line).map(|e| {
                Error::new(
                    stream::stream_error_status(&e),
                    stream::describe_stream_error(&e),
                )
            });
            if let Ok(error) = error {
                let _ = events.send(Event::ServerFailed(error));
            }
        }
    };
    let _ = out.flush();
    drop(out);
    let _ = events.send(event);
}

/// Follow the joins of `--join` while they are under way; `Ok(true)` when the
/// line was consumed (the answer to a new room's configuration, which is ours).
fn observe_rooms(line: &str, shared: &Mutex<Shared>, events: &Sender<Event>) -> Result<bool> {
    if !matches!(root_name(line), "presence" | "iq") {
        return Ok(false);
    }
    let mut guard = lock(shared);
    if !guard.rooms.waiting() {
        return Ok(false);
    }
    let Ok(stanza) = Element::parse(line) else {
        return Ok(false);
    };
    let event = match guard.rooms.observe(&stanza) {
        Observed::Other => return Ok(false),
        Observed::Configure(iq) => {
            guard.send_now(&[iq], "configuring a new room")?;
            return Ok(false);
        }
        Observed::Joined => Event::RoomJoined,
        Observed::Refused(err) => Event::RoomRefused(err),
        Observed::Configured(answer) => {
            guard.handled = guard.handled.wrapping_add(1);
            let _ = events.send(answer.map_or_else(Event::RoomRefused, |()| Event::RoomJoined));
            return Ok(true);
        }
    };
    let _ = events.send(event);
    Ok(false)
}

/// Answer what the session must answer itself; `Ok(true)` when the line was consumed.
fn handle_session_level(
    line: &str,
    shared: &Mutex<Shared>,
    events: &Sender<Event>,
) -> Result<bool> {
    let name = root_name(line);
    if !matches!(name, "r" | "a" | "iq") {
        return Ok(false);
    }
    let element = Element::parse(line).map_err(stream::frame_error)?;
    let mut guard = lock(shared);
    let write_error = |e: std::io::Error| Error::from(e).context("answering the server");
    // A server may still ask after our close (Prosody asks for an acknowledgement
    // of what it sent last): the stream is over, so the request goes unanswered.
    let request = element.is("r", NS_SM) || element.attr("type") == Some("get");
    if guard.closed && request {
        return Ok(true);
    }
    if element.is("r", NS_SM) {
        let h = guard.handled;
        guard
            .write(&format!("<a xmlns='{NS_SM}' h='{h}'/>"))
            .and_then(|()| guard.writer.flush())
            .map_err(write_error)?;
        return Ok(true);
    }
    if element.is("a", NS_SM) {
        let h: u32 = element
            .attr("h")
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| {
                Error::protocol(
                    "the server sent a stream-management acknowledgement without a valid h",
                )
            })?;
        guard.acknowledge(h);
        let _ = events.send(Event::Confirmed);
        return Ok(true);
    }
    if !element.is("iq", NS_CLIENT) {
        return Ok(false);
    }
    let kind = element.attr("type").unwrap_or_default();
    if element.attr("id") == Some(FINAL_PING_ID) && matches!(kind, "result" | "error") {
        guard.handled = guard.handled.wrapping_add(1);
        guard.ping_answered = true;
        let _ = events.send(Event::Confirmed);
        return Ok(true);
    }
    if kind == "get" && element.child("ping", NS_PING).is_some() {
        let mut pong = Element::new("iq", NS_CLIENT).with_attr("type", "result");
        if let Some(id) = element.attr("id") {
            pong = pong.with_attr("id", id);
        }
        if let Some(from) = element.attr("from") {
            pong = pong.with_attr("to", from);
        }
        let pong = pong
            .to_line(NS_CLIENT)
            .map_err(|e| Error::protocol(e.to_string()))?;
        guard.handled = guard.handled.wrapping_add(1);
        guard
            .send_stanza(&pong)
            .and_then(|()| guard.writer.flush())
            .map_err(write_error)?;
        return Ok(true);
    }
    Ok(false)
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| Error::os("dup", e))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::os("pipe", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names_and_counting() {
        assert_eq!(root_name("<message to='a'/>"), "message");
        assert_eq!(root_name("<iq>"), "iq");
        assert_eq!(root_name("<r xmlns='urn:xmpp:sm:3'/>"), "r");
        assert!(is_counted("<presence/>"));
        assert!(!is_counted("<r xmlns='urn:xmpp:sm:3'/>"));
        assert!(!is_counted("<stream:error/>"));
    }
}

//! The relay: bytes between the server connection and the local side (PROG's
//! fds 6/7, or stdin/stdout in bridge mode), in one thread with poll(2).
//!
//! Each direction has a bounded buffer, and a side is only read while the
//! buffer towards the other side has room, so a slow reader slows the writer
//! down instead of growing memory (back-pressure). The end of the local input
//! closes our half of the connection (TLS close_notify, then a TCP half-close)
//! and the relay waits, at most the drain time, for the server to finish; the
//! end of the server's data closes the local output once everything was
//! written.
//!
//! Towards the server, every TLS record ends on an element boundary
//! ([`xmpp_pipes::xml::boundary`]): Prosody 0.12 resumes an XEP-0198 session
//! with the dead connection's XML parser, so a stanza that connection had
//! delivered in part would corrupt the resumed stream, and Prosody's parser
//! only ever gets whole records. So rustls is handed bytes only when it has
//! nothing left to write, and then the bytes up to the last boundary within
//! [`RECORD`] (4 KiB, within one record) in one write, which makes that
//! record end there (a larger write would be cut into records anywhere, and
//! a connection dying between them would leave part of an element; Prosody
//! 13 does the same as 0.12, seen in the soak as `not-well-formed` after a
//! resumption that resent many stanzas at once). Bytes are never held
//! forever: a full buffer without a boundary goes (one element larger than
//! the buffer; an element larger than a record, 16 KiB, is cut by the
//! records anyway). At the end of the local input, everything up to the last
//! boundary goes, and a part of an element after it is dropped: its writer
//! went away in the middle of it, and sent it would poison a resumption the
//! same way (what the server did not acknowledge, xmpp-auth sends again). The
//! same rules hold without TLS, where they are harmless.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustls::ClientConnection;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};
use xmpp_pipes::exit::{Error, Status};
use xmpp_pipes::xml::boundary::Boundaries;

/// The most handed to TLS in one write, ending on a boundary (but an
/// element larger than this): one record (rustls cuts at 16 KiB), and no
/// more than Prosody reads at a time (its debug log shows reads of 4096
/// bytes), so that a record waiting alone in the server is read whole.
const RECORD: usize = 4 * 1024;
/// Read at most this much at a time, from either side.
const CHUNK: usize = 16 * 1024;
/// Stop reading a side once this much waits for the other side.
const BUFFER_LIMIT: usize = 64 * 1024;
/// The most that waits to be sent to the server: input is read (CHUNK at a
/// time) only while less than BUFFER_LIMIT waits, and handed on only once the
/// previous bytes are out, all of it at most. As rustls's buffer limit it
/// bounds the records it keeps, and never makes it take less than offered
/// (which would end a record away from a boundary).
const SEND_LIMIT: usize = BUFFER_LIMIT + CHUNK;
/// Write at most this much to the local side after poll says it is writable:
/// a pipe with room for one page takes this without blocking.
const LOCAL_WRITE: usize = 4096;

/// The connection to the server, with or without TLS.
pub struct Server {
    socket: TcpStream,
    tls: Option<ClientConnection>,
    /// Plaintext mode: bytes accepted but not yet written (at most SEND_LIMIT).
    pending: Vec<u8>,
    closing: bool,
    write_shut: bool,
    /// Reads still to be acknowledged at once ([`crate::connect::quickack`]):
    /// the login's exchanges, not the session's traffic.
    quickacks: u32,
}

/// How many reads from the server get an immediate ACK: a login with
/// SASL1 takes about a dozen.
const QUICKACK_READS: u32 = 32;

impl Server {
    /// A TLS connection (the handshake done).
    pub fn tls(socket: TcpStream, mut conn: ClientConnection) -> Server {
        conn.set_buffer_limit(Some(SEND_LIMIT));
        Server::new(socket, Some(conn))
    }

    /// A connection without TLS (`--plaintext`).
    pub fn plain(socket: TcpStream) -> Server {
        Server::new(socket, None)
    }

    fn new(socket: TcpStream, tls: Option<ClientConnection>) -> Server {
        Server {
            socket,
            tls,
            pending: Vec::new(),
            closing: false,
            write_shut: false,
            quickacks: QUICKACK_READS,
        }
    }

    fn wants_write(&self) -> bool {
        match &self.tls {
            Some(conn) => conn.wants_write(),
            None => !self.pending.is_empty(),
        }
    }

    /// Once everything before is written, take what of `up` may go (see
    /// [`Upstream::sendable`]), all in one write; how much was taken.
    fn accept(&mut self, up: &mut Upstream) -> io::Result<usize> {
        let offered = up.sendable();
        if offered == 0 || self.wants_write() {
            return Ok(0);
        }
        let bytes = &up.bytes[..offered];
        let taken = match &mut self.tls {
            Some(conn) => {
                // With nothing buffered and at most SEND_LIMIT offered, rustls
                // takes it all at once; it returns less only to send a TLS 1.3
                // key update first, and the rest then follows at once.
                let mut taken = 0;
                while taken < offered {
                    match conn.writer().write(&bytes[taken..])? {
                        0 => break,
                        n => taken += n,
                    }
                }
                taken
            }
            None => {
                self.pending.extend_from_slice(bytes);
                offered
            }
        };
        up.drain(taken);
        Ok(taken)
    }

    /// Write what is queued, as far as the socket takes it.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(conn) => {
                while conn.wants_write() {
                    conn.write_tls(&mut self.socket)?;
                }
            }
            None => {
                while !self.pending.is_empty() {
                    let n = self.socket.write(&self.pending)?;
                    self.pending.drain(..n);
                }
            }
        }
        Ok(())
    }

    /// Read what the socket has; `Ok(true)` at the end of the server's data.
    fn receive(&mut self, down: &mut Vec<u8>) -> Result<bool, Error> {
        if self.quickacks > 0 {
            self.quickacks -= 1;
            crate::connect::quickack(&self.socket);
        }
        let mut buf = [0u8; CHUNK];
        match &mut self.tls {
            None => match self.socket.read(&mut buf) {
                Ok(0) => Ok(true),
                Ok(n) => {
                    down.extend_from_slice(&buf[..n]);
                    Ok(false)
                }
                Err(err) => would_block(err).map(|()| false),
            },
            Some(conn) => {
                let tcp_end = match conn.read_tls(&mut self.socket) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(err) => return would_block(err).map(|()| false),
                };
                let state = conn.process_new_packets().map_err(|err| {
                    // Tell the server why, if it still listens.
                    let _ = conn.write_tls(&mut self.socket);
                    Error::protocol(format!("TLS error on the connection: {err}"))
                })?;
                let closed = state.peer_has_closed();
                take_plaintext(conn, down)?;
                Ok(tcp_end || closed)
            }
        }
    }

    /// Start closing our half: close_notify first, a TCP half-close once it is out.
    fn close(&mut self) {
        if let Some(conn) = &mut self.tls {
            conn.send_close_notify();
        }
        self.closing = true;
    }
}

/// The bytes from the local side not yet handed to the server, and where
/// their element boundaries are.
#[derive(Default)]
struct Upstream {
    bytes: Vec<u8>,
    boundaries: Boundaries,
}

impl Upstream {
    fn extend(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        self.boundaries.push(data);
    }

    /// How many bytes may go to the server now: those up to the last element
    /// boundary within a record; all of them when the buffer is full without
    /// a boundary (one element larger than the buffer).
    fn sendable(&self) -> usize {
        match self.boundaries.within(RECORD) {
            0 if self.bytes.len() >= BUFFER_LIMIT => self.bytes.len(),
            within => within,
        }
    }

    fn drain(&mut self, n: usize) {
        self.bytes.drain(..n);
        self.boundaries.take(n);
    }

    fn clear(&mut self) {
        self.drain(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Sending to the server failed (a reset, say): stop taking input, but go
/// on delivering what the server sent before, for at most `drain` more, so
/// that every stanza that arrived whole reaches the local side. The first
/// problem is the one told.
fn give_up_sending(
    outcome: &mut Outcome,
    err: Error,
    server: &mut Server,
    (up, local_ended): (&mut Upstream, &mut bool),
    (drain_until, drain): (&mut Option<Instant>, Duration),
) {
    outcome.problem.get_or_insert(err);
    up.clear();
    *local_ended = true;
    server.closing = true;
    server.write_shut = true;
    drain_until.get_or_insert_with(|| Instant::now() + drain);
}

/// Move decrypted bytes that rustls holds into `down`.
fn take_plaintext(conn: &mut ClientConnection, down: &mut Vec<u8>) -> Result<(), Error> {
    let mut buf = [0u8; CHUNK];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => down.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            // The TCP connection ended without close_notify: the XML stream's
            // own end tag is what tells a complete stream from a cut one.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => return Err(Error::temp(format!("reading from the server: {err}"))),
        }
    }
}

fn would_block(err: io::Error) -> Result<(), Error> {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(()),
        _ => Err(Error::temp(format!(
            "the connection to the server broke: {err}"
        ))),
    }
}

/// The local side: where the server's bytes go, and where ours come from.
pub struct Local {
    /// Read from here (PROG's fd 7, or stdin).
    pub input: OwnedFd,
    /// Write to here (PROG's fd 6, or stdout).
    pub output: OwnedFd,
    /// Bridge mode: losing the output ends the session (nobody reads the
    /// server any more); with PROG, PROG decides by closing its fd 7.
    pub output_loss_ends: bool,
    /// A pidfd of PROG: once PROG has exited, nobody waits for the server's
    /// data, so the relay ends as soon as PROG's last bytes are sent.
    pub prog: Option<OwnedFd>,
}

/// How the relay ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The server ended its data (cleanly or not).
    pub server_ended: bool,
    /// What went wrong on the connection, if anything.
    pub problem: Option<Error>,
    /// The local output went away while the server still sent data (lost).
    pub output_lost: bool,
    /// The server did not end its side within the drain time after ours.
    pub drain_timed_out: bool,
    /// PROG exited.
    pub prog_exited: bool,
    /// The control channel became readable (a request for a new connection,
    /// or its end): the relay stopped at once, abandoning this connection.
    pub control_ready: bool,
}

/// Relay until both directions are done; `drain` bounds the wait for the
/// server after our side has closed. With a `control` channel
/// ([`xmpp_pipes::control`]), the relay also ends as soon as it is readable.
pub fn relay(
    server: &mut Server,
    local: Local,
    drain: Duration,
    control: Option<BorrowedFd<'_>>,
) -> Outcome {
    let Local {
        input,
        output,
        output_loss_ends,
        prog,
    } = local;
    let mut prog_exited = false;
    let mut control_closed = false;
    let mut output = Some(output);
    let mut up = Upstream::default();
    let mut down: Vec<u8> = Vec::new();
    let mut local_ended = false;
    let mut server_ended = false;
    let mut outcome = Outcome::default();
    let mut drain_until: Option<Instant> = None;

    if let Err(err) = server.socket.set_nonblocking(true) {
        outcome.problem = Some(Error::os("making the connection non-blocking", err));
        return outcome;
    }
    if let Some(conn) = &mut server.tls {
        if let Err(err) = take_plaintext(conn, &mut down) {
            outcome.problem = Some(err);
            return outcome;
        }
    }

    loop {
        // Move data along and advance the closing handshake: write what is
        // queued, and once it is all out queue more, as long as that moves.
        loop {
            if server.wants_write() && !server.write_shut {
                if let Err(err) = server.flush().map_or_else(would_block, Ok) {
                    let err = err.context("sending to the server");
                    let local = (&mut up, &mut local_ended);
                    give_up_sending(&mut outcome, err, server, local, (&mut drain_until, drain));
                }
            }
            let mut moved = false;
            if !up.is_empty() && !server.closing {
                let accepted = server.accept(&mut up);
                moved = accepted.as_ref().is_ok_and(|&taken| taken > 0);
                if let Err(err) = accepted {
                    let err = Error::temp(format!("sending to the server: {err}"));
                    let local = (&mut up, &mut local_ended);
                    give_up_sending(&mut outcome, err, server, local, (&mut drain_until, drain));
                }
            }
            if local_ended && !up.is_empty() && up.sendable() == 0 && !server.wants_write() {
                // The local side ended in the middle of an element: its
                // writer went away while writing it (xmpp-auth drops a
                // connection it has given up on). Sent, it would stay in the
                // server's parser, which Prosody (0.12 and 13) goes on with
                // when the session is resumed on a new connection: the
                // resumed stream would be `not-well-formed`. The stanza is
                // not lost: what the server did not acknowledge is resent.
                up.clear();
                moved = true;
            }
            if local_ended && up.is_empty() && !server.closing {
                server.close();
                moved = true;
            }
            if !moved {
                break;
            }
        }
        if server.closing && !server.wants_write() && !server.write_shut {
            let _ = server.socket.shutdown(Shutdown::Write);
            server.write_shut = true;
            drain_until = Some(Instant::now() + drain);
        }
        if output.is_none() && !down.is_empty() {
            outcome.output_lost = true;
            down.clear();
        }
        if server_ended && down.is_empty() {
            break;
        }
        if server.write_shut && local_ended && (server_ended || prog_exited) {
            break;
        }

        // Wait for the next thing that can move.
        let socket_flags = if server_ended {
            PollFlags::empty()
        } else {
            let mut flags = PollFlags::empty();
            if down.len() < BUFFER_LIMIT {
                flags |= PollFlags::IN;
            }
            if server.wants_write() && !server.write_shut {
                flags |= PollFlags::OUT;
            }
            flags
        };
        let input_flags = if !local_ended && up.len() < BUFFER_LIMIT && !server.closing {
            PollFlags::IN
        } else {
            PollFlags::empty()
        };
        let output_flags = if output.is_some() && !down.is_empty() {
            PollFlags::OUT
        } else {
            PollFlags::empty()
        };
        let timeout = match drain_until {
            Some(_) if prog_exited => None,
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    outcome.drain_timed_out = true;
                    break;
                }
                Some(Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                }))
            }
            None => None,
        };
        let mut fds = vec![
            PollFd::new(&server.socket, socket_flags),
            PollFd::new(&input, input_flags),
        ];
        if let Some(out) = &output {
            fds.push(PollFd::new(out, output_flags));
        }
        let prog_index = fds.len();
        if let Some(pidfd) = prog.as_ref().filter(|_| !prog_exited) {
            fds.push(PollFd::new(pidfd, PollFlags::IN));
        }
        let control_index = fds.len();
        if let Some(control) = control.as_ref().filter(|_| !control_closed) {
            fds.push(PollFd::new(control, PollFlags::IN));
        }
        if (socket_flags | input_flags | output_flags).is_empty() && drain_until.is_none() {
            // Nothing can move any more (cannot happen by the checks above,
            // but never wait forever on nothing).
            break;
        }
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => {
                outcome.problem = Some(Error::os("poll", err));
                break;
            }
        }
        let ready = |index: usize| fds.get(index).map_or(PollFlags::empty(), PollFd::revents);
        let (socket_ready, input_ready) = (ready(0), ready(1));
        let output_ready = if output.is_some() {
            ready(2)
        } else {
            PollFlags::empty()
        };
        let prog_ready = if prog.is_some() && !prog_exited {
            ready(prog_index)
        } else {
            PollFlags::empty()
        };
        let control_ready = if control.is_some() && !control_closed {
            ready(control_index)
        } else {
            PollFlags::empty()
        };
        drop(fds);
        if !control_ready.is_empty() {
            if control.is_some_and(has_message) {
                outcome.control_ready = true;
                break;
            }
            // The channel's end (PROG exited or closed it): not a request;
            // this connection goes on to its own end.
            control_closed = true;
        }
        if !prog_ready.is_empty() && prog.is_some() && !prog_exited {
            prog_exited = true;
            // Whatever the server still sends has no reader now.
            output = None;
            down.clear();
        }
        let wake = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;

        if socket_flags.contains(PollFlags::IN) && socket_ready.intersects(wake) {
            match server.receive(&mut down) {
                Ok(true) => server_ended = true,
                Ok(false) => {}
                Err(err) => {
                    outcome.problem.get_or_insert(err);
                    server_ended = true;
                }
            }
        }
        if input_flags.contains(PollFlags::IN) && input_ready.intersects(wake) {
            let mut buf = [0u8; CHUNK];
            match rustix::io::read(&input, &mut buf) {
                Ok(0) => local_ended = true,
                Ok(n) => up.extend(&buf[..n]),
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(_) => local_ended = true,
            }
        }
        if output_flags.contains(PollFlags::OUT) && !output_ready.is_empty() {
            if let Some(out) = &output {
                let end = down.len().min(LOCAL_WRITE);
                match rustix::io::write(out, &down[..end]) {
                    Ok(n) => {
                        down.drain(..n);
                    }
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                    Err(_) => {
                        output = None;
                        if output_loss_ends {
                            local_ended = true;
                        }
                    }
                }
            }
        }
    }
    // Let the local side see the end of the server's data.
    drop(output);
    outcome.server_ended = server_ended;
    outcome.prog_exited = prog_exited;
    if outcome.output_lost && outcome.problem.is_none() && output_loss_ends {
        outcome.problem = Some(Error::new(
            Status::IoErr,
            "the output was closed while the server still sent data",
        ));
    }
    outcome
}

/// Whether a message waits on the control channel (not just its end).
fn has_message(control: BorrowedFd<'_>) -> bool {
    use rustix::net::{recv, RecvFlags};
    let mut byte = [0u8; 1];
    matches!(
        recv(control, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Ok((n, _)) if n > 0
    )
}

/// Duplicate stdin and stdout for bridge mode (so dropping them leaves 0 and 1 alone).
pub fn stdio() -> io::Result<(OwnedFd, OwnedFd)> {
    let input = rustix::io::dup(std::io::stdin().as_fd())?;
    let output = rustix::io::dup(std::io::stdout().as_fd())?;
    Ok((input, output))
}

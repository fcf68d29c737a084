//! A fault-injection TCP proxy: it sits on 127.0.0.1 between a client under
//! test and a real server, forwards bytes both ways, and on command does to
//! every connection what the network or a server can do to it: reset it
//! ([`FaultProxy::reset`]), close it cleanly ([`FaultProxy::cut`]), or let it
//! go silent ([`FaultProxy::black_hole`], [`FaultProxy::restore`]).
//!
//! One thread runs everything: it `poll`s the listener, every socket and a
//! wake-up socket, and carries out a command before the call that gave it
//! returns, so that a test never has to wait for a fault to "take": once
//! `reset()` returns, the RSTs are sent. The thread ends, and every socket is
//! closed, when the [`FaultProxy`] is dropped.
//!
//! Memory is bounded: at most [`MAX_CONNECTIONS`] connections (more wait in
//! the listen backlog), each holding at most [`BUFFER`] bytes per direction;
//! a side that sends faster than the other reads is not read from until
//! there is room again (TCP flow control does the rest).

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How many bytes the proxy holds per connection and direction, at most.
pub const BUFFER: usize = 32 * 1024;

/// How many connections the proxy has open at most; further clients wait in
/// the listen backlog until one closes.
pub const MAX_CONNECTIONS: usize = 256;

/// How many bytes [`FaultProxy::cut`] reads and discards from a socket
/// before it closes it (unread bytes would turn the FIN into a RST).
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// A TCP proxy on 127.0.0.1 that forwards to `target` and injects faults on
/// command.
///
/// Each accepted connection is forwarded over a new connection to `target`
/// (both with `TCP_NODELAY`); a FIN from one side is passed on as a FIN to
/// the other once the bytes before it are through, an error (a RST) on one
/// side resets the other. If `target` refuses, the client's connection is
/// reset.
pub struct FaultProxy {
    addr: SocketAddr,
    commands: Sender<(Command, Sender<()>)>,
    /// Written to after a command is sent, to wake the proxy's thread.
    wake: UnixStream,
    counts: Arc<Counts>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listen on a free port of 127.0.0.1 and forward every connection to
    /// `target`.
    pub fn start(target: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let (commands, commands_rx) = mpsc::channel();
        let counts = Arc::new(Counts::default());
        let event_loop = EventLoop {
            listener,
            target,
            wake: wake_rx,
            commands: commands_rx,
            counts: Arc::clone(&counts),
            connections: Vec::new(),
            hole: false,
            accepted: 0,
            accept_failed: false,
            scratch: vec![0; BUFFER].into_boxed_slice(),
        };
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || event_loop.run())?;
        Ok(FaultProxy {
            addr,
            commands,
            wake,
            counts,
            thread: Some(thread),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`, the address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reset every connection now (RST to both sides: `SO_LINGER` 0, then
    /// close), as a server crash or a NAT timeout does. Returns after the
    /// RSTs were sent. New connections are forwarded as before (or not, in a
    /// black hole).
    pub fn reset(&self) {
        self.command(Command::Reset);
    }

    /// Cut every connection cleanly: FIN both ways. Bytes the proxy holds
    /// are sent if the receiver takes them at once, else dropped; bytes
    /// waiting to be read are read and dropped, so that the close sends a FIN
    /// and not a RST. Bytes that arrive later are answered with a RST by the
    /// kernel, as for any closed socket. Returns after the FINs were sent.
    /// New connections are forwarded as before (or not, in a black hole).
    pub fn cut(&self) {
        self.command(Command::Cut);
    }

    /// Black hole, as a dead link: stop forwarding in both directions, with
    /// no RST and no FIN. Bytes from either side, those the proxy held and
    /// those arriving later, are read and dropped (a FIN or a RST from a side
    /// is not passed on either). New connections are accepted (they count in
    /// [`accepted`](Self::accepted) and [`open`](Self::open)) but not
    /// forwarded: nothing is connected to the target for them.
    ///
    /// Unlike a real dead link, the proxy's kernel still acknowledges what it
    /// is sent (and answers keepalive probes), so a peer's TCP sees its bytes
    /// delivered: its retransmission timeout and `TCP_USER_TIMEOUT` never
    /// fire; only timeouts above TCP (an XMPP ping, a read deadline) notice.
    pub fn black_hole(&self) {
        self.command(Command::BlackHole);
    }

    /// End the black hole: new connections are forwarded again; the
    /// connections that were in the hole (from before it, and those accepted
    /// during it) are reset (RST to both sides, as in [`reset`](Self::reset));
    /// their bytes are gone. Without a black hole, does nothing.
    pub fn restore(&self) {
        self.command(Command::Restore);
    }

    /// How many connections the proxy has accepted so far (in a black hole
    /// too).
    pub fn accepted(&self) -> usize {
        self.counts.lock().accepted
    }

    /// How many connections are open now (from accept until both sides
    /// closed, or the proxy reset or cut them).
    pub fn open(&self) -> usize {
        self.counts.lock().open
    }

    /// Block until [`accepted`](Self::accepted) is at least `n`, or `timeout` passes;
    /// returns whether it happened.
    pub fn wait_accepted(&self, n: usize, timeout: Duration) -> bool {
        let guard = self.counts.lock();
        let (guard, _) = self
            .counts
            .changed
            .wait_timeout_while(guard, timeout, |t| t.accepted < n)
            .unwrap_or_else(|e| e.into_inner());
        guard.accepted >= n
    }

    /// Sends `command` to the proxy's thread and waits until it is done.
    #[track_caller]
    fn command(&self, command: Command) {
        let (done, done_rx) = mpsc::channel();
        let sent = self.commands.send((command, done)).is_ok();
        // A full wake-up socket already has a wake-up pending.
        let _ = (&self.wake).write(&[1]);
        if !sent || done_rx.recv().is_err() {
            panic!("the fault proxy's thread is gone (it panicked)");
        }
    }
}

impl Drop for FaultProxy {
    /// Stops the proxy's thread, which closes every socket and the listener.
    fn drop(&mut self) {
        let (done, _) = mpsc::channel();
        let _ = self.commands.send((Command::Stop, done));
        let _ = (&self.wake).write(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the controlling side asks the proxy's thread to do.
#[derive(Debug, Clone, Copy)]
enum Command {
    Reset,
    Cut,
    BlackHole,
    Restore,
    Stop,
}

/// The counters, published by the proxy's thread.
#[derive(Default)]
struct Counts {
    tally: Mutex<Tally>,
    changed: Condvar,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    accepted: usize,
    open: usize,
}

impl Counts {
    fn lock(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The proxy's thread.
struct EventLoop {
    listener: TcpListener,
    target: SocketAddr,
    wake: UnixStream,
    commands: Receiver<(Command, Sender<()>)>,
    counts: Arc<Counts>,
    connections: Vec<Connection>,
    /// Whether in a black hole.
    hole: bool,
    accepted: usize,
    /// `accept` failed for want of a resource (file descriptors, memory):
    /// the listener is not polled until a connection closes or a command
    /// comes, lest the loop spin.
    accept_failed: bool,
    /// Where bytes to drop are read to.
    scratch: Box<[u8]>,
}

impl EventLoop {
    fn run(mut self) {
        loop {
            let listening = !self.accept_failed && self.connections.len() < MAX_CONNECTIONS;
            let mut fds = vec![PollFd::new(&self.wake, PollFlags::IN)];
            if listening {
                fds.push(PollFd::new(&self.listener, PollFlags::IN));
            }
            // How many sockets of each connection are polled.
            let mut polled = Vec::with_capacity(self.connections.len());
            for connection in &self.connections {
                let before = fds.len();
                connection.poll_fds(&mut fds);
                polled.push(fds.len() - before);
            }
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => panic!("fault proxy: poll: {e}"),
            }
            let revents: Vec<PollFlags> = fds.iter().map(PollFd::revents).collect();
            drop(fds);

            if !revents[0].is_empty() {
                if !self.drain_wake() || !self.run_commands() {
                    return;
                }
                // The connections the events were for may be gone.
                continue;
            }
            let mut at = 1;
            if listening {
                if !revents[1].is_empty() {
                    self.accept_all();
                }
                at += 1;
            }
            let mut closed = false;
            let mut index = 0;
            for count in polled {
                let events = &revents[at..at + count];
                at += count;
                if events.iter().all(|e| e.is_empty()) {
                    index += 1;
                    continue;
                }
                match self.connections[index].step(events, &mut self.scratch) {
                    Outcome::Open => index += 1,
                    Outcome::Closed => {
                        drop(self.connections.remove(index));
                        closed = true;
                    }
                    Outcome::Reset => {
                        self.connections.remove(index).reset();
                        closed = true;
                    }
                }
            }
            if closed {
                self.accept_failed = false;
            }
            self.publish();
        }
    }

    /// Reads the wake-up bytes; false when the controlling side is gone.
    fn drain_wake(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match self.wake.read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Carries out the pending commands; false on [`Command::Stop`] or when
    /// the controlling side is gone.
    fn run_commands(&mut self) -> bool {
        loop {
            let (command, done) = match self.commands.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
            match command {
                Command::Stop => return false,
                Command::Reset => {
                    for connection in self.connections.drain(..) {
                        connection.reset();
                    }
                }
                Command::Cut => {
                    for connection in self.connections.drain(..) {
                        connection.cut(&mut self.scratch);
                    }
                }
                Command::BlackHole => {
                    self.hole = true;
                    self.connections = self
                        .connections
                        .drain(..)
                        .map(Connection::into_hole)
                        .collect();
                }
                Command::Restore => {
                    self.hole = false;
                    let (holes, forwarded) = self
                        .connections
                        .drain(..)
                        .partition(|c| matches!(c, Connection::Hole(_)));
                    self.connections = forwarded;
                    for connection in holes {
                        connection.reset();
                    }
                }
            }
            self.accept_failed = false;
            self.publish();
            let _ = done.send(());
        }
    }

    fn accept_all(&mut self) {
        while self.connections.len() < MAX_CONNECTIONS {
            let client = match self.listener.accept() {
                Ok((client, _)) => client,
                Err(e) => match e.kind() {
                    ErrorKind::WouldBlock => return,
                    ErrorKind::Interrupted | ErrorKind::ConnectionAborted => continue,
                    _ => {
                        self.accept_failed = true;
                        return;
                    }
                },
            };
            self.accepted += 1;
            if client.set_nonblocking(true).is_err() {
                reset(client);
                continue;
            }
            let _ = client.set_nodelay(true);
            if self.hole {
                self.connections.push(Connection::Hole(vec![Leg {
                    socket: client,
                    listen: true,
                }]));
                continue;
            }
            match connect(self.target) {
                Ok((server, connecting)) => self.connections.push(Connection::Forward(Forward {
                    client,
                    server,
                    connecting,
                    up: Pipe::new(),
                    down: Pipe::new(),
                })),
                Err(_) => reset(client),
            }
        }
    }

    fn publish(&self) {
        let now = Tally {
            accepted: self.accepted,
            open: self.connections.len(),
        };
        let mut tally = self.counts.lock();
        if *tally != now {
            *tally = now;
            self.counts.changed.notify_all();
        }
    }
}

/// Starts a non-blocking connect to `target`; the socket and whether the
/// connect is still under way.
fn connect(target: SocketAddr) -> std::io::Result<(TcpStream, bool)> {
    let family = if target.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let socket = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_tcp_nodelay(&socket, true)?;
    let connecting = match rustix::net::connect(&socket, &target) {
        Ok(()) => false,
        Err(Errno::INPROGRESS) => true,
        Err(e) => return Err(e.into()),
    };
    Ok((TcpStream::from(socket), connecting))
}

/// Closes `socket` with a RST.
fn reset(socket: TcpStream) {
    let _ = rustix::net::sockopt::set_socket_linger(&socket, Some(Duration::ZERO));
    drop(socket);
}

/// Closes `socket` with a FIN: shut down writing, read and drop what waits
/// to be read (else the close would send a RST), close.
fn close_cleanly(socket: TcpStream, scratch: &mut [u8]) {
    let _ = socket.shutdown(Shutdown::Write);
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        match (&socket).read(scratch) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(socket);
}

/// What became of a connection after an event.
enum Outcome {
    Open,
    Closed,
    Reset,
}

enum Connection {
    /// Forwarding.
    Forward(Forward),
    /// In a black hole: the client's socket and the target's (if it had
    /// one), read from and dropped.
    Hole(Vec<Leg>),
}

struct Forward {
    client: TcpStream,
    server: TcpStream,
    /// The connect to the target is under way.
    connecting: bool,
    /// Client to server.
    up: Pipe,
    /// Server to client.
    down: Pipe,
}

/// A socket in a black hole.
struct Leg {
    socket: TcpStream,
    /// Still read from (no EOF or error yet). Only such sockets are polled:
    /// a closed one would be ready all the time.
    listen: bool,
}

impl Connection {
    /// Adds its sockets to poll, each with the events it waits for. A socket
    /// that waits for nothing is left out: one that both sides shut down is
    /// "hung up" for good, and would make `poll` return at once.
    fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) {
        match self {
            Connection::Forward(f) => {
                let mut client = PollFlags::empty();
                if f.up.room() {
                    client |= PollFlags::IN;
                }
                if f.down.pending() {
                    client |= PollFlags::OUT;
                }
                let mut server = PollFlags::empty();
                if f.connecting {
                    server |= PollFlags::OUT;
                } else {
                    if f.down.room() {
                        server |= PollFlags::IN;
                    }
                    if f.up.pending() {
                        server |= PollFlags::OUT;
                    }
                }
                if !client.is_empty() {
                    fds.push(PollFd::new(&f.client, client));
                }
                if !server.is_empty() {
                    fds.push(PollFd::new(&f.server, server));
                }
            }
            Connection::Hole(legs) => {
                for leg in legs.iter().filter(|l| l.listen) {
                    fds.push(PollFd::new(&leg.socket, PollFlags::IN));
                }
            }
        }
    }

    /// Handles `events`, the results for the sockets [`Self::poll_fds`]
    /// added (in that order; it must not have changed since).
    fn step(&mut self, events: &[PollFlags], scratch: &mut [u8]) -> Outcome {
        match self {
            Connection::Forward(f) => match f.step(events) {
                Ok(true) => Outcome::Open,
                Ok(false) => Outcome::Closed,
                Err(_) => Outcome::Reset,
            },
            Connection::Hole(legs) => {
                for (leg, event) in legs.iter_mut().filter(|l| l.listen).zip(events) {
                    if !event.is_empty() {
                        leg.listen = drop_input(&leg.socket, scratch);
                    }
                }
                Outcome::Open
            }
        }
    }

    /// Into a black hole: what the proxy holds is dropped.
    fn into_hole(self) -> Connection {
        match self {
            Connection::Forward(f) => Connection::Hole(vec![
                Leg {
                    socket: f.client,
                    listen: !f.up.eof,
                },
                Leg {
                    socket: f.server,
                    listen: !f.connecting && !f.down.eof,
                },
            ]),
            hole => hole,
        }
    }

    fn sockets(self) -> Vec<TcpStream> {
        match self {
            Connection::Forward(f) => vec![f.client, f.server],
            Connection::Hole(legs) => legs.into_iter().map(|l| l.socket).collect(),
        }
    }

    /// Closes every socket with a RST.
    fn reset(self) {
        for socket in self.sockets() {
            reset(socket);
        }
    }

    /// Sends what the proxy holds as far as the receiver takes it at once,
    /// then closes every socket with a FIN.
    fn cut(mut self, scratch: &mut [u8]) {
        if let Connection::Forward(f) = &mut self {
            if !f.connecting {
                let _ = f.up.flush(&f.server);
            }
            let _ = f.down.flush(&f.client);
        }
        for socket in self.sockets() {
            close_cleanly(socket, scratch);
        }
    }
}

impl Forward {
    /// Moves bytes; `Ok(false)` when both directions are closed, an error
    /// when a side failed (the connection is then reset).
    fn step(&mut self, events: &[PollFlags]) -> std::io::Result<bool> {
        if events.iter().any(|e| e.contains(PollFlags::ERR)) {
            return Err(std::io::Error::other("socket error"));
        }
        if self.connecting {
            // The target's socket is polled (for OUT) whenever connecting,
            // after the client's if that was polled too.
            let server = events.last().copied().unwrap_or_else(PollFlags::empty);
            if !server.is_empty() {
                if let Some(e) = self.server.take_error()? {
                    return Err(e);
                }
                self.server.peer_addr()?;
                self.connecting = false;
            }
        }
        self.up.fill(&self.client)?;
        if !self.connecting {
            self.down.fill(&self.server)?;
            self.up.flush(&self.server)?;
        }
        self.down.flush(&self.client)?;
        Ok(!(self.up.shut && self.down.shut))
    }
}

/// Reads and drops what `socket` has; false once it is at EOF or failed.
fn drop_input(socket: &TcpStream, scratch: &mut [u8]) -> bool {
    loop {
        match (&*socket).read(scratch) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// The bytes of one direction of a connection, on their way.
struct Pipe {
    buf: Box<[u8]>,
    /// `buf[start..end]` waits to be sent.
    start: usize,
    end: usize,
    /// The source sent its FIN.
    eof: bool,
    /// The FIN was passed on.
    shut: bool,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            shut: false,
        }
    }

    /// Whether to read from the source.
    fn room(&self) -> bool {
        !self.eof && self.end - self.start < self.buf.len()
    }

    /// Whether there are bytes to send.
    fn pending(&self) -> bool {
        self.start < self.end
    }

    /// Reads from `from` what fits.
    fn fill(&mut self, from: &TcpStream) -> std::io::Result<()> {
        if !self.room() {
            return Ok(());
        }
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match (&*from).read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }

    /// Writes to `to` what it takes; passes the FIN on once all is sent.
    fn flush(&mut self, to: &TcpStream) -> std::io::Result<()> {
        while self.pending() {
            match (&*to).write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        if self.eof && !self.shut {
            to.shutdown(Shutdown::Write)?;
            self.shut = true;
        }
        Ok(())
    }
}

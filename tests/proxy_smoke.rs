//! Checks the fault-injection proxy itself, against a small echo server on
//! 127.0.0.1 (not Prosody): bytes pass both ways, and reset, cut, black hole
//! and restore do to both sides what they say.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use harness::proxy::FaultProxy;

/// A bound on every wait that should succeed.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read waits for an answer that must not come.
const SILENCE: Duration = Duration::from_millis(300);

/// How a connection to the echo server ended, as the server saw it.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// EOF (a FIN).
    Eof,
    /// A read or write error of this kind.
    Error(ErrorKind),
}

/// An echo server on 127.0.0.1: sends back what it reads, closes after EOF,
/// and reports how each connection ended.
struct Echo {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    ends: Receiver<End>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (end_tx, ends) = mpsc::channel();
        let thread = std::thread::spawn({
            let accepted = Arc::clone(&accepted);
            let stop = Arc::clone(&stop);
            move || {
                for socket in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut socket) = socket else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let end_tx = end_tx.clone();
                    // Ends when the connection does (every test's proxy
                    // closes its connections when dropped).
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 8192];
                        let end = loop {
                            match socket.read(&mut buf) {
                                Ok(0) => break End::Eof,
                                Ok(n) => {
                                    if let Err(e) = socket.write_all(&buf[..n]) {
                                        break End::Error(e.kind());
                                    }
                                }
                                Err(e) => break End::Error(e.kind()),
                            }
                        };
                        let _ = end_tx.send(end);
                    });
                }
            }
        });
        Echo {
            addr,
            accepted,
            ends,
            stop,
            thread: Some(thread),
        }
    }

    /// How many connections it accepted.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// How the next connection to end ended.
    #[track_caller]
    fn next_end(&self) -> End {
        self.ends
            .recv_timeout(TIMEOUT)
            .expect("an echo connection to end")
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn connect(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Sends `data` and reads it back.
#[track_caller]
fn round_trip(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).expect("write");
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).expect("read the echo");
    assert_eq!(back, data);
}

/// Sends `data` and asserts that no answer comes within [`SILENCE`]: no
/// bytes, no EOF, no reset.
#[track_caller]
fn assert_no_answer(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).expect("write");
    s.set_read_timeout(Some(SILENCE)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected no answer, got {other:?}"),
    }
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
}

#[track_caller]
fn assert_reset(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected ConnectionReset, got {other:?}"),
    }
}

#[test]
fn bytes_pass_both_ways_and_fin_is_passed_on() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).expect("start the proxy");
    assert_eq!(proxy.addr().port(), proxy.port());
    assert!(proxy.addr().ip().is_loopback());
    let mut s = connect(&proxy);
    round_trip(&mut s, b"hello");
    round_trip(&mut s, b"<presence/>");
    assert_eq!((proxy.accepted(), proxy.open()), (1, 1));

    // Much more than the proxy's buffers, written while it is read back, so
    // that both directions fill up and wait for each other.
    let big: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut writer = s.try_clone().unwrap();
    let sent = big.clone();
    let writing = std::thread::spawn(move || {
        writer.write_all(&sent).expect("write the big block");
        // Half-close: the echo server gets EOF, echoes the rest and closes.
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    s.read_to_end(&mut back).expect("read the big block back");
    writing.join().unwrap();
    assert!(back == big, "{} bytes back of {}", back.len(), big.len());
    assert_eq!(echo.next_end(), End::Eof);
    assert_eq!(echo.accepted(), 1);
}

#[test]
fn reset_sends_rst_to_both_sides() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).expect("start the proxy");
    let mut s = connect(&proxy);
    round_trip(&mut s, b"ping");
    proxy.reset();
    assert_eq!(proxy.open(), 0);
    assert_reset(&mut s);
    assert_eq!(echo.next_end(), End::Error(ErrorKind::ConnectionReset));

    // The proxy still forwards new connections.
    let mut again = connect(&proxy);
    round_trip(&mut again, b"pong");
    assert!(proxy.wait_accepted(2, TIMEOUT));
    assert_eq!((proxy.accepted(), proxy.open()), (2, 1));
}

#[test]
fn cut_sends_fin_to_both_sides() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).expect("start the proxy");
    let mut s = connect(&proxy);
    round_trip(&mut s, b"ping");
    proxy.cut();
    assert_eq!(proxy.open(), 0);
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).expect("EOF, not an error"), 0);
    assert_eq!(echo.next_end(), End::Eof);
}

#[test]
fn black_hole_forwards_nothing_and_restore_resets_its_connections() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).expect("start the proxy");
    let mut before = connect(&proxy);
    round_trip(&mut before, b"ping");

    proxy.black_hole();
    assert_no_answer(&mut before, b"are you there?");
    // A new connection is accepted, but nothing is forwarded for it.
    let mut during = connect(&proxy);
    assert!(proxy.wait_accepted(2, TIMEOUT));
    assert_no_answer(&mut during, b"hello?");
    assert_eq!(
        echo.accepted(),
        1,
        "the proxy connected to the target in a black hole"
    );
    assert_eq!(proxy.open(), 2);
    // No FIN or RST reached the server either.
    assert!(echo.ends.try_recv().is_err());

    proxy.restore();
    assert_eq!(proxy.open(), 0);
    // Their bytes are gone: a reset, not the echo.
    assert_reset(&mut before);
    assert_reset(&mut during);
    assert_eq!(echo.next_end(), End::Error(ErrorKind::ConnectionReset));

    let mut after = connect(&proxy);
    round_trip(&mut after, b"back again");
    assert_eq!((proxy.accepted(), proxy.open()), (3, 1));
    assert_eq!(echo.accepted(), 2);
}

#[test]
fn wait_accepted_counts_connections() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).expect("start the proxy");
    assert_eq!((proxy.accepted(), proxy.open()), (0, 0));
    assert!(!proxy.wait_accepted(1, SILENCE));
    let _first = connect(&proxy);
    assert!(proxy.wait_accepted(1, TIMEOUT));
    let _second = connect(&proxy);
    let _third = connect(&proxy);
    assert!(proxy.wait_accepted(3, TIMEOUT));
    assert_eq!(proxy.accepted(), 3);
    assert!(!proxy.wait_accepted(4, SILENCE));
}

#[test]
fn unreachable_target_resets_the_client() {
    // A port that was free a moment ago, so most likely refused.
    let target: SocketAddr = ([127, 0, 0, 1], harness::free_port()).into();
    let proxy = FaultProxy::start(target).expect("start the proxy");
    let mut s = connect(&proxy);
    assert_reset(&mut s);
    assert!(proxy.wait_accepted(1, TIMEOUT));
}

#[test]
fn drop_closes_everything() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr).expect("start the proxy");
    let addr = proxy.addr();
    let mut s = connect(&proxy);
    round_trip(&mut s, b"ping");
    drop(proxy);
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    echo.next_end();
    let refused = TcpStream::connect(addr).expect_err("the listener is closed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

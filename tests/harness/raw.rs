//! A raw XML stream to a harness server, for tests that speak XMPP
//! themselves: through `xmpp-connect` in bridge mode (TLS done by it), or on
//! a plain TCP connection (to see what a server says before TLS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::{Account, Server, Transport};

/// How long [`RawStream::until`] waits for the server.
const LIMIT: Duration = Duration::from_secs(20);

/// One XML stream's bytes both ways; what the server sent is kept until a
/// test matches it. Killed (bridge) or closed (TCP) when dropped.
pub struct RawStream {
    child: Option<Child>,
    input: Box<dyn Write + Send>,
    chunks: Receiver<String>,
    /// What the server sent and was not yet matched.
    seen: String,
}

/// Forwards what `output` reads to a channel, chunk by chunk, until EOF.
fn pump(mut output: impl Read + Send + 'static) -> Receiver<String> {
    let (send, chunks) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n @ 1..) = output.read(&mut buf) {
            if send
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    chunks
}

impl RawStream {
    /// A TLS connection made by `xmpp-connect` (bridge mode, the harness
    /// CA trusted); over STARTTLS, xmpp-connect has done the pre-TLS stream.
    pub fn bridge(server: &(impl Server + ?Sized), transport: Transport) -> RawStream {
        let mut command = crate::connect(server, transport);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("xmpp-connect");
        let chunks = pump(child.stdout.take().expect("stdout"));
        let input = Box::new(child.stdin.take().expect("stdin"));
        RawStream {
            child: Some(child),
            input,
            chunks,
            seen: String::new(),
        }
    }

    /// A plain TCP connection to `port` on 127.0.0.1 (nothing secured).
    pub fn plain(port: u16) -> RawStream {
        let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let chunks = pump(socket.try_clone().expect("dup socket"));
        RawStream {
            child: None,
            input: Box::new(socket),
            chunks,
            seen: String::new(),
        }
    }

    /// A client stream header to `domain`, with `from` if given.
    pub fn header(domain: &str, from: Option<&str>) -> String {
        let from = from.map(|f| format!(" from='{f}'")).unwrap_or_default();
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'{from} version='1.0'>"
        )
    }

    /// Sends `xml` as it is.
    pub fn send(&mut self, xml: &str) {
        self.input.write_all(xml.as_bytes()).expect("write");
    }

    /// Waits until the server has sent `what`; what came up to its end is
    /// returned and forgotten. A stream error instead, silence for 20 s or
    /// the end of the connection fails the test.
    #[track_caller]
    pub fn until(&mut self, what: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(at) = self.seen.find(what) {
                let rest = self.seen.split_off(at + what.len());
                return std::mem::replace(&mut self.seen, rest);
            }
            assert!(
                !self.seen.contains("<stream:error"),
                "the server ended the stream instead of sending {what:?}: {}",
                self.seen
            );
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!("the server did not send {what:?}; it sent {:?}", self.seen),
            }
        }
    }

    /// Opens the stream (`header`) and returns everything up to the end of
    /// its features.
    #[track_caller]
    pub fn open(&mut self, header: &str) -> String {
        self.send(header);
        self.until("</stream:features>")
    }

    /// Logs `account` in with SASL1 PLAIN on an open stream and opens the
    /// next one with `header`; returns its features.
    #[track_caller]
    pub fn plain_login(&mut self, account: &Account, header: &str) -> String {
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{}\0{}", account.user, account.password));
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"
        ));
        self.until("<success");
        self.open(header)
    }
}

impl Drop for RawStream {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

//! HTTP upload (XEP-0363) in the tests: an HTTPS GET that fetches what was
//! uploaded (checked against the test CA), and [`HttpStub`], a one-shot
//! HTTPS server for what no real upload service does: answer an error code,
//! cut the connection in the middle of the PUT, show a certificate for
//! another name.

use crate::hostile::server_config;
use crate::CertKey;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// GET `url` (https://localhost:PORT/...) trusting only the CA in `ca_pem`;
/// returns the body of a 200 answer, panics otherwise.
pub fn https_get(url: &str, ca_pem: &Path) -> Vec<u8> {
    let rest = url.strip_prefix("https://").expect("an https URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.split_once(':').unwrap_or((authority, "443"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).expect("CA file") {
        roots.add(cert.expect("CA PEM")).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, socket);
    write!(
        tls,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => {}
        // Some servers close without close_notify after an HTTP/1.0 answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("GET {url}: {e}"),
    }
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    assert!(
        head.starts_with("HTTP/1.") && head[9..].starts_with("200"),
        "GET {url}: {head}"
    );
    answer.split_off(end + 4)
}

/// What [`HttpStub`] does with the one connection it takes.
#[derive(Debug, Clone, Copy)]
pub enum StubPlay {
    /// Read the request head, then answer this status (and close).
    Answer(u16),
    /// Read the request head and this many bytes of the body, then close
    /// the connection without an answer (a connection lost during the PUT).
    CutAfter(usize),
}

/// What the stub saw: the request head, and how many body bytes came.
#[derive(Debug, Default)]
pub struct StubSeen {
    /// The request line and headers.
    pub head: String,
    /// Body bytes read.
    pub body_bytes: usize,
}

/// A one-connection HTTPS server on 127.0.0.1 with `cert`.
pub struct HttpStub {
    port: u16,
    thread: Option<JoinHandle<StubSeen>>,
    stop: mpsc::Sender<()>,
}

impl HttpStub {
    /// Listen on a free port and play `play` on the first connection.
    pub fn start(cert: &CertKey, play: StubPlay) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = Arc::new(server_config(cert));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, socket);
            let mut seen = StubSeen::default();
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            // The head.
            let body_start = loop {
                match tls.read(&mut chunk) {
                    Ok(0) | Err(_) => return seen,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
                if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
            };
            seen.head = String::from_utf8_lossy(&buffer[..body_start]).into_owned();
            seen.body_bytes = buffer.len() - body_start;
            match play {
                StubPlay::Answer(code) => {
                    // The whole body first: unread bytes would turn the close into a reset.
                    let length = seen
                        .head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|l| l.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while seen.body_bytes < length {
                        match tls.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => seen.body_bytes += n,
                        }
                    }
                    let _ = write!(
                        tls,
                        "HTTP/1.1 {code} Stub\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
                StubPlay::CutAfter(limit) => {
                    while seen.body_bytes < limit {
                        match tls.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => seen.body_bytes += n,
                        }
                    }
                    // A reset, as a crashed server or a dead link gives.
                    let _ =
                        rustix::net::sockopt::set_socket_linger(&tls.sock, Some(Duration::ZERO));
                }
            }
            drop(tls);
            let _ = stopped.recv_timeout(Duration::ZERO);
            seen
        });
        HttpStub {
            port,
            thread: Some(thread),
            stop,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it saw, once the connection is over.
    pub fn finish(mut self) -> StubSeen {
        let _ = self.stop.send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

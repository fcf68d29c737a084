//! A hostile server for what no real server does: withhold STARTTLS, answer
//! it with `<failure/>`, slip bytes in after `<proceed/>`, say nothing at
//! all, or show a certificate that is wrong for the domain.
//!
//! It accepts one connection on 127.0.0.1, plays its script, and reports what
//! the client sent, so that tests can check that nothing (a credential, a
//! stream header) went over a connection that should have been refused.

use crate::pki::CertKey;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server does with the connection.
#[derive(Debug, Clone)]
pub enum Script {
    /// Open a stream whose features lack `<starttls/>`.
    NoStartTls,
    /// Offer STARTTLS, then answer it with `<failure/>`.
    StartTlsFailure,
    /// Offer STARTTLS and send bytes right after `<proceed/>`.
    DataAfterProceed,
    /// Accept and say nothing.
    Silent,
    /// TLS with this certificate: after STARTTLS, or from the first byte.
    Tls {
        /// The certificate and key to show.
        cert: CertKey,
        /// STARTTLS first (else direct TLS).
        starttls: bool,
    },
}

/// What the client did on the connection.
#[derive(Debug, Default)]
pub struct Seen {
    /// Everything the client sent before TLS (or everything, without TLS).
    pub before_tls: String,
    /// Whether a TLS handshake completed.
    pub handshake_done: bool,
    /// What the client sent inside TLS.
    pub inside_tls: Vec<u8>,
}

/// A running hostile server.
pub struct Hostile {
    port: u16,
    thread: JoinHandle<Seen>,
}

const FEATURES_WITHOUT_TLS: &str =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
    <mechanism>PLAIN</mechanism></mechanisms></stream:features>";
const FEATURES_WITH_TLS: &str =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
const PROCEED: &str = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const FAILURE: &str = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>";
/// How long the server waits for the client before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

impl Hostile {
    /// Listen on a free port of 127.0.0.1 and play `script` with the first client.
    pub fn start(script: Script) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (socket, _) = listener.accept().expect("accept");
            socket.set_read_timeout(Some(PATIENCE)).unwrap();
            play(socket, script)
        });
        Hostile { port, thread }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `--host`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Wait for the client to go, and tell what it sent.
    pub fn finish(self) -> Seen {
        self.thread
            .join()
            .expect("the hostile server thread panicked")
    }
}

fn play(socket: TcpStream, script: Script) -> Seen {
    let mut seen = Seen::default();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut writer = socket;
    let read_header = |reader: &mut BufReader<TcpStream>, seen: &mut Seen| {
        // `<?xml ...?>` and `<stream:stream ...>`
        for _ in 0..2 {
            let mut part = Vec::new();
            let _ = reader.read_until(b'>', &mut part);
            seen.before_tls.push_str(&String::from_utf8_lossy(&part));
        }
    };
    let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                  xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='h' from='localhost'>";
    let starttls = |reader: &mut BufReader<TcpStream>,
                    writer: &mut TcpStream,
                    seen: &mut Seen,
                    answer: &str| {
        read_header(reader, seen);
        let _ = writer.write_all(format!("{header}{FEATURES_WITH_TLS}").as_bytes());
        let mut part = Vec::new();
        let _ = reader.read_until(b'>', &mut part); // <starttls .../>
        seen.before_tls.push_str(&String::from_utf8_lossy(&part));
        let _ = writer.write_all(answer.as_bytes());
    };
    match script {
        Script::Silent => {}
        Script::NoStartTls => {
            read_header(&mut reader, &mut seen);
            let _ = writer.write_all(format!("{header}{FEATURES_WITHOUT_TLS}").as_bytes());
        }
        Script::StartTlsFailure => starttls(&mut reader, &mut writer, &mut seen, FAILURE),
        Script::DataAfterProceed => {
            let injected = format!("{PROCEED}<iq type='result' id='injected'/>");
            starttls(&mut reader, &mut writer, &mut seen, &injected);
        }
        Script::Tls {
            cert,
            starttls: first,
        } => {
            if first {
                starttls(&mut reader, &mut writer, &mut seen, PROCEED);
            }
            tls(writer, &cert, &mut seen);
            return seen;
        }
    }
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    seen.before_tls.push_str(&String::from_utf8_lossy(&rest));
    seen
}

fn tls(mut socket: TcpStream, cert: &CertKey, seen: &mut Seen) {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key PEM");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut socket).is_err() {
            return;
        }
    }
    seen.handshake_done = true;
    let mut stream = rustls::Stream::new(&mut conn, &mut socket);
    let _ = stream.read_to_end(&mut seen.inside_tls);
}

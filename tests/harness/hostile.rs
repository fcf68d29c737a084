//! A hostile server for what no real server does: withhold STARTTLS, answer
//! it with `<failure/>` or never answer it, slip bytes in after `<proceed/>`,
//! say nothing at all, show a certificate that is wrong for the domain, or,
//! inside TLS, play a scripted SASL exchange ([`SaslPlay`]): a wrong SCRAM
//! server signature, a foreign nonce, absurd iteration counts, bad base64,
//! a reset in the middle, stream errors, a DTD, one byte at a time; or
//! log the client in honestly and then misbehave in the session
//! ([`SessionPlay`]): a reset in the middle of a stanza, an endless stanza.
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
    /// Offer STARTTLS, read `<starttls/>`, and never answer it.
    StartTlsNoProceed,
    /// Direct TLS with this certificate (from a [`crate::Pki`] the client
    /// trusts), then XMPP up to SASL: a stream header, features offering
    /// SCRAM-SHA-1 and SCRAM-SHA-256, and `play` against the client's `<auth/>`.
    Sasl {
        /// The certificate and key to show.
        cert: CertKey,
        /// What the server does once the client has sent `<auth/>`.
        play: SaslPlay,
    },
    /// TLS with this certificate: after STARTTLS, or from the first byte.
    Tls {
        /// The certificate and key to show.
        cert: CertKey,
        /// STARTTLS first (else direct TLS).
        starttls: bool,
    },
}

/// The SASL part of [`Script::Sasl`]. Afterwards the server reads what the
/// client sends until it closes the connection.
#[derive(Debug, Clone)]
pub enum SaslPlay {
    /// An honest SCRAM exchange for this password; after `<success/>` the
    /// server waits for the client's next stream header and closes.
    Correct {
        /// The account's password.
        password: String,
    },
    /// An honest server-first, then a `<success/>` whose `v=` is wrong.
    WrongSignature,
    /// This server-first (plain text, sent in base64), with `{cnonce}`
    /// replaced by the client's nonce; a client-final is answered with
    /// `<failure><not-authorized/></failure>`.
    ServerFirst(String),
    /// An honest server-first, then a TCP reset (RST, no TLS close).
    ResetAfterServerFirst,
    /// These bytes (raw XML) in answer to `<auth/>`.
    Raw(String),
    /// These bytes, not necessarily UTF-8, in answer to `<auth/>`.
    Bytes(Vec<u8>),
    /// An element whose attribute value never ends, in answer to `<auth/>`:
    /// the same byte for as long as the client reads (or this many bytes).
    EndlessAttribute(usize),
    /// These bytes in answer to `<auth/>`, then a TCP reset.
    RawThenReset(String),
    /// These bytes in answer to `<auth/>`, one byte at a time with this
    /// pause after each; stops when the client goes.
    SlowLoris(String, Duration),
    /// These bytes in answer to the client's stream header, in place of
    /// the server's header and features (the client never gets to `<auth/>`).
    Header(String),
    /// An honest login (SCRAM for this password, then resource binding),
    /// then `then` in the session.
    Session {
        /// The account's password.
        password: String,
        /// What the server does once the client is bound.
        then: SessionPlay,
    },
}

/// What a server does in the session, after an honest login
/// ([`SaslPlay::Session`]).
#[derive(Debug, Clone)]
pub enum SessionPlay {
    /// These bytes (stanzas, and perhaps part of one), then a TCP reset.
    RawThenReset(String),
    /// This stanza opening, then its text for this many bytes (made as it
    /// is sent, so the server holds little of it), for as long as the
    /// client reads.
    Endless(String, u64),
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
const FEATURES_SCRAM: &str =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
    <mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms>\
    </stream:features>";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const FEATURES_BIND: &str =
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
const SALT: &[u8] = b"hostile salt";
const ITERATIONS: u32 = 4096;
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
            // What the script sends leaves at once (no Nagle delay), so that
            // a reset that follows it does not discard it unsent.
            socket.set_nodelay(true).unwrap();
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
        Script::StartTlsNoProceed => starttls(&mut reader, &mut writer, &mut seen, ""),
        Script::Sasl { cert, play } => {
            if let Some(mut conn) = TlsConn::accept(writer, &cert, &mut seen) {
                match sasl(&mut conn, header, play, &mut seen) {
                    Some(End::Reset) => conn.reset(),
                    Some(End::Drain) | None => conn.drain(&mut seen),
                }
            }
            return seen;
        }
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

pub(crate) fn server_config(cert: &CertKey) -> rustls::ServerConfig {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key PEM");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate")
}

fn tls(mut socket: TcpStream, cert: &CertKey, seen: &mut Seen) {
    let config = server_config(cert);
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

/// A server-side TLS connection that records what the client sends.
struct TlsConn {
    conn: rustls::ServerConnection,
    socket: TcpStream,
    /// How much of `seen.inside_tls` the script has looked at.
    consumed: usize,
}

impl TlsConn {
    fn accept(mut socket: TcpStream, cert: &CertKey, seen: &mut Seen) -> Option<TlsConn> {
        let mut conn = rustls::ServerConnection::new(Arc::new(server_config(cert))).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket).ok()?;
        }
        seen.handshake_done = true;
        Some(TlsConn {
            conn,
            socket,
            consumed: 0,
        })
    }

    /// Reads until what the client sent since the last call contains
    /// `marker`; returns that part (up to and with the marker), or `None`
    /// when the client went first.
    fn read_until(&mut self, marker: &str, seen: &mut Seen) -> Option<String> {
        loop {
            let fresh = &seen.inside_tls[self.consumed..];
            if let Some(at) = find(fresh, marker.as_bytes()) {
                let end = at + marker.len();
                let part = String::from_utf8_lossy(&fresh[..end]).into_owned();
                self.consumed += end;
                return Some(part);
            }
            let mut buf = [0u8; 4096];
            let n = rustls::Stream::new(&mut self.conn, &mut self.socket)
                .read(&mut buf)
                .ok()?;
            if n == 0 {
                return None;
            }
            seen.inside_tls.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads the client's stream header.
    fn read_header(&mut self, seen: &mut Seen) -> Option<String> {
        let mut part = self.read_until("<stream:stream", seen)?;
        part.push_str(&self.read_until(">", seen)?);
        Some(part)
    }

    fn send(&mut self, data: &str) -> Option<()> {
        self.send_bytes(data.as_bytes())
    }

    fn send_bytes(&mut self, data: &[u8]) -> Option<()> {
        let mut stream = rustls::Stream::new(&mut self.conn, &mut self.socket);
        stream.write_all(data).ok()?;
        stream.flush().ok()
    }

    /// Sends `byte` over and over, `limit` bytes in all, or until the client
    /// refuses and goes (the send fails: `None`).
    fn send_repeated(&mut self, byte: u8, limit: u64) -> Option<()> {
        let chunk = [byte; 64 * 1024];
        let mut sent = 0;
        while sent < limit {
            self.send_bytes(&chunk)?;
            sent += chunk.len() as u64;
        }
        Some(())
    }

    /// Reads everything else the client sends, until it closes.
    fn drain(&mut self, seen: &mut Seen) {
        let _ =
            rustls::Stream::new(&mut self.conn, &mut self.socket).read_to_end(&mut seen.inside_tls);
    }

    /// Closes with a TCP reset: no TLS close_notify, no FIN.
    fn reset(self) {
        let _ = rustix::net::sockopt::set_socket_linger(&self.socket, Some(Duration::ZERO));
        drop(self.socket);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_default()
}

/// The text content of the first `<tag ...>...</tag>` in `xml`.
fn content<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml.find(&format!("<{tag}")).unwrap_or(0);
    let rest = &xml[start..];
    let open = rest.find('>').map_or(rest.len(), |i| i + 1);
    let close = rest.find(&format!("</{tag}>")).unwrap_or(rest.len());
    rest.get(open..close).unwrap_or("")
}

/// Whether the client's `<auth/>` chose SCRAM-SHA-1 (else SHA-256).
fn is_sha1(auth: &str) -> bool {
    auth.contains("'SCRAM-SHA-1'") || auth.contains("\"SCRAM-SHA-1\"")
}

/// The SCRAM computations of an honest server (RFC 5802 §3).
struct Scram {
    sha1: bool,
    client_first_bare: String,
    server_first: String,
}

impl Scram {
    fn from_auth(auth: &str, server_first_template: Option<&str>) -> Scram {
        let client_first = String::from_utf8_lossy(&unb64(content(auth, "auth"))).into_owned();
        // gs2-header "n,," / "y,,": the bare message follows the second comma.
        let client_first_bare = client_first.splitn(3, ',').nth(2).unwrap_or("").to_owned();
        let cnonce = client_first_bare
            .split(',')
            .find_map(|p| p.strip_prefix("r="))
            .unwrap_or("")
            .to_owned();
        let server_first = match server_first_template {
            Some(template) => template.replace("{cnonce}", &cnonce),
            None => format!("r={cnonce}hostile,s={},i={ITERATIONS}", b64(SALT)),
        };
        Scram {
            sha1: is_sha1(auth),
            client_first_bare,
            server_first,
        }
    }

    fn challenge(&self) -> String {
        format!(
            "<challenge xmlns='{NS_SASL}'>{}</challenge>",
            b64(self.server_first.as_bytes())
        )
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        if self.sha1 {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        } else {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }

    /// `v=` for the client's `<response/>`, given the password.
    fn server_final(&self, response: &str, password: &str) -> String {
        let client_final =
            String::from_utf8_lossy(&unb64(content(response, "response"))).into_owned();
        let without_proof = client_final
            .rsplit_once(",p=")
            .map_or(client_final.as_str(), |(w, _)| w);
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let mut salted = vec![0u8; if self.sha1 { 20 } else { 32 }];
        if self.sha1 {
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password.as_bytes(), SALT, ITERATIONS, &mut salted);
        } else {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), SALT, ITERATIONS, &mut salted);
        }
        let server_key = self.hmac(&salted, b"Server Key");
        format!(
            "v={}",
            b64(&self.hmac(&server_key, auth_message.as_bytes()))
        )
    }
}

/// How a [`SaslPlay`] ends.
#[derive(PartialEq)]
enum End {
    /// Read what the client sends until it closes.
    Drain,
    /// Reset the connection.
    Reset,
}

/// Plays `play`; `None` when the client went first.
fn sasl(conn: &mut TlsConn, header: &str, play: SaslPlay, seen: &mut Seen) -> Option<End> {
    conn.read_header(seen)?;
    if let SaslPlay::Header(text) = &play {
        conn.send(text)?;
        return Some(End::Drain);
    }
    conn.send(&format!("{header}{FEATURES_SCRAM}"))?;
    let auth = conn.read_until("</auth>", seen)?;
    let success = |v: &str| format!("<success xmlns='{NS_SASL}'>{}</success>", b64(v.as_bytes()));
    match play {
        SaslPlay::Correct { password } => {
            honest_scram(conn, &auth, &password, seen)?;
            conn.send(&format!("{header}<stream:features/></stream:stream>"))?;
        }
        SaslPlay::WrongSignature => {
            let scram = Scram::from_auth(&auth, None);
            conn.send(&scram.challenge())?;
            conn.read_until("</response>", seen)?;
            let wrong = vec![0x5a; if scram.sha1 { 20 } else { 32 }];
            conn.send(&success(&format!("v={}", b64(&wrong))))?;
        }
        SaslPlay::ServerFirst(template) => {
            let scram = Scram::from_auth(&auth, Some(&template));
            conn.send(&scram.challenge())?;
            conn.read_until("</response>", seen)?;
            conn.send(&format!(
                "<failure xmlns='{NS_SASL}'><not-authorized/></failure></stream:stream>"
            ))?;
        }
        SaslPlay::ResetAfterServerFirst => {
            let scram = Scram::from_auth(&auth, None);
            conn.send(&scram.challenge())?;
            return Some(End::Reset);
        }
        SaslPlay::Raw(text) => conn.send(&text)?,
        SaslPlay::Bytes(bytes) => conn.send_bytes(&bytes)?,
        SaslPlay::EndlessAttribute(limit) => {
            conn.send(&format!("<challenge xmlns='{NS_SASL}' a='"))?;
            conn.send_repeated(b'x', limit as u64)?;
        }
        SaslPlay::RawThenReset(text) => {
            conn.send(&text)?;
            return Some(End::Reset);
        }
        SaslPlay::SlowLoris(text, pause) => {
            for byte in text.as_bytes() {
                let mut stream = rustls::Stream::new(&mut conn.conn, &mut conn.socket);
                stream.write_all(std::slice::from_ref(byte)).ok()?;
                stream.flush().ok()?;
                // The server's behaviour under test, not synchronisation.
                std::thread::sleep(pause);
            }
        }
        SaslPlay::Session { password, then } => {
            honest_scram(conn, &auth, &password, seen)?;
            conn.send(&format!("{header}{FEATURES_BIND}"))?;
            let bind = conn.read_until("</iq>", seen)?;
            let id = bind
                .split_once("id='")
                .and_then(|(_, rest)| rest.split_once('\''))
                .map_or("", |(id, _)| id);
            conn.send(&format!(
                "<iq type='result' id='{id}'><bind xmlns='{NS_BIND}'>\
                 <jid>alice@localhost/hostile</jid></bind></iq>"
            ))?;
            return session(conn, then);
        }
        SaslPlay::Header(_) => unreachable!(),
    }
    Some(End::Drain)
}

/// An honest SCRAM exchange after `auth`, for `password`, up to the
/// client's new stream header.
fn honest_scram(conn: &mut TlsConn, auth: &str, password: &str, seen: &mut Seen) -> Option<()> {
    let scram = Scram::from_auth(auth, None);
    conn.send(&scram.challenge())?;
    let response = conn.read_until("</response>", seen)?;
    let v = b64(scram.server_final(&response, password).as_bytes());
    conn.send(&format!("<success xmlns='{NS_SASL}'>{v}</success>"))?;
    conn.read_header(seen)?;
    Some(())
}

/// Plays `then` on a logged-in session.
fn session(conn: &mut TlsConn, then: SessionPlay) -> Option<End> {
    match then {
        SessionPlay::RawThenReset(text) => {
            conn.send(&text)?;
            Some(End::Reset)
        }
        SessionPlay::Endless(opening, limit) => {
            conn.send(&opening)?;
            conn.send_repeated(b'A', limit)?;
            Some(End::Drain)
        }
    }
}

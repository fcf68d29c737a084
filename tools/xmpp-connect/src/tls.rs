//! TLS with rustls: whom to trust (the system trust store, else webpki-roots;
//! `--cafile`; `--pin`), the handshake, and the facts about the session that
//! PROG gets in its environment.
//!
//! The system trust store is read as OpenSSL and Go read it: one PEM bundle
//! (`SSL_CERT_FILE`, else the first of [`SYSTEM_CERT_FILES`] that exists) and
//! directories of PEM files (`SSL_CERT_DIR`, else those of
//! [`SYSTEM_CERT_DIRS`] that exist). Every file of a directory is read, not
//! only c_rehash's `HASH.0` names; symbolic links to a file of the same
//! directory (c_rehash's links) are passed over, as Go does, since their
//! target is read anyway. What cannot be read or parsed is skipped and
//! counted, never fatal. The environment is read by [`crate::options`]; here
//! the locations are plain data ([`SystemStore`]).
//!
//! The certificate is always checked for the XMPP domain, never for the host
//! that DNS pointed at (RFC 6125, RFC 7590 §3.2). There is no switch that turns
//! verification off: a server with a self-signed certificate is accepted by
//! pinning its key with `--pin`, which still verifies the handshake signatures.

use crate::deadline::Deadline;
use crate::options::TrustChoice;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use xmpp_pipes::exit::{Error, Result};

/// The ALPN protocol name of direct TLS for clients (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// The RFC 9266 exporter label for tls-exporter channel binding.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The length of the tls-exporter channel-binding value (RFC 9266 §2).
pub const EXPORTER_LENGTH: usize = 32;

/// The system's CA bundle: the first of these files that exists (Go's list;
/// Debian's update-ca-certificates writes the first).
pub const SYSTEM_CERT_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];
/// The system's directories of CA certificates: each of these that exists.
pub const SYSTEM_CERT_DIRS: &[&str] = &["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// Where the system trust store is, as the environment says (read once, by
/// [`crate::options`]); what it leaves open is the system's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemStore {
    /// `SSL_CERT_FILE`: the PEM bundle read instead of the system's.
    pub cert_file: Option<PathBuf>,
    /// `SSL_CERT_DIR`: the directories read instead of the system's.
    pub cert_dirs: Option<Vec<PathBuf>>,
}

impl SystemStore {
    /// Whether the environment named any place.
    fn named_by_environment(&self) -> bool {
        self.cert_file.is_some() || self.cert_dirs.is_some()
    }
}

/// A `--pin`: the SHA-256 digest of a certificate's SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin([u8; 32]);

impl Pin {
    /// Parse `sha256:BASE64` (standard base64 of the 32-byte digest, as
    /// `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64` prints it).
    pub fn parse(text: &str) -> std::result::Result<Pin, String> {
        let encoded = text.strip_prefix("sha256:").ok_or_else(|| {
            format!("{text:?} is not sha256:BASE64 (the only pin kind is sha256 of the public key)")
        })?;
        let digest = BASE64
            .decode(encoded)
            .map_err(|e| format!("{text:?}: the part after sha256: is not base64 ({e})"))?;
        let digest: [u8; 32] = digest.try_into().map_err(|_| {
            format!("{text:?}: a SHA-256 digest has 32 bytes (44 base64 characters)")
        })?;
        Ok(Pin(digest))
    }

    /// The pin of a DER certificate's public key, if the certificate parses.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Option<Pin> {
        let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
        let spki = parsed.subject_public_key_info();
        Some(Pin(Sha256::digest(spki.as_ref()).into()))
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", BASE64.encode(self.0))
    }
}

/// The TLS settings for one connection, and a record of the certificate the
/// server showed (for error messages).
pub struct Tls {
    config: Arc<ClientConfig>,
    verifier: Arc<Recorder>,
    source: TrustSource,
}

impl Tls {
    /// Settings for `trust` (reads `--cafile` or the system trust store now,
    /// so that a bad file is reported before anything goes over the network).
    pub fn new(trust: &TrustChoice) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let (inner, source): (Arc<dyn ServerCertVerifier>, _) = match trust {
            TrustChoice::System(store) => {
                let loaded = load_system_store(store, SYSTEM_CERT_FILES, SYSTEM_CERT_DIRS);
                let (roots, source) = system_or_built_in(store, loaded)?;
                (webpki_verifier(roots, &provider)?, source)
            }
            TrustChoice::CaFile(path) => (
                webpki_verifier(load_ca_file(path)?, &provider)?,
                TrustSource::CaFile(path.clone()),
            ),
            TrustChoice::Pin(pin) => (
                Arc::new(PinVerifier {
                    pin: *pin,
                    algorithms,
                }),
                TrustSource::Pin,
            ),
        };
        let verifier = Arc::new(Recorder {
            inner,
            leaf: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        Ok(Tls {
            config: Arc::new(config),
            verifier,
            source,
        })
    }

    /// Run the handshake for `domain` on `socket` (blocking, within
    /// `deadline`), offering ALPN `xmpp-client` for direct TLS (XEP-0368).
    pub fn handshake(
        &self,
        domain: &str,
        socket: &mut TcpStream,
        direct_tls: bool,
        deadline: &Deadline,
    ) -> Result<ClientConnection> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|_| Error::usage(format!("{domain:?} is not a valid TLS server name")))?;
        let config = if direct_tls {
            let mut config = (*self.config).clone();
            config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
            Arc::new(config)
        } else {
            self.config.clone()
        };
        let mut conn = ClientConnection::new(config, name)
            .map_err(|e| Error::config(format!("TLS set-up: {e}")))?;
        while conn.is_handshaking() {
            let left = deadline
                .remaining()
                .map_err(|_| deadline.error("during the TLS handshake"))?;
            socket.set_read_timeout(Some(left))?;
            socket.set_write_timeout(Some(left))?;
            if let Err(err) = conn.complete_io(socket) {
                return Err(self.handshake_error(domain, err, deadline));
            }
        }
        Ok(conn)
    }

    /// Turn a failed handshake into an error that says what to do.
    fn handshake_error(&self, domain: &str, err: io::Error, deadline: &Deadline) -> Error {
        let tls_error = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let shown = self.verifier.leaf_pin();
        match tls_error {
            Some(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)) => {
                Error::denied(format!(
                    "the server's certificate key is {} and does not match --pin; \
                     refusing to continue (if the server's key changed on purpose, pin the new one)",
                    shown.map_or_else(|| "unreadable".to_owned(), |p| p.to_string())
                ))
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                Error::denied(format!(
                    "the server's certificate for {domain} is not trusted by {}: \
                     it is signed by an unknown certificate authority{}; refusing to continue ({})",
                    self.source,
                    shown.map(|p| format!(" (its key is {p})")).unwrap_or_default(),
                    self.source.advice()
                ))
            }
            Some(rustls::Error::InvalidCertificate(problem)) => Error::denied(format!(
                "the server's certificate is not valid for {domain}: {}{}; refusing to continue \
                 (use --cafile for a private CA, or --pin for a self-signed certificate you have checked)",
                describe_certificate_error(problem),
                shown.map(|p| format!(" (its key is {p})")).unwrap_or_default()
            )),
            Some(other) => Error::protocol(format!("TLS handshake failed: {other}")),
            None if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                deadline.error("during the TLS handshake")
            }
            None => Error::temp(format!(
                "the connection broke during the TLS handshake: {err}"
            )),
        }
    }
}

fn describe_certificate_error(problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => {
            "it is signed by an unknown certificate authority".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it is issued for another name".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet".into()
        }
        CertificateError::Revoked => "it has been revoked".into(),
        other => format!("{other:?}"),
    }
}

/// Whose trust a refusal is from, as its message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TrustSource {
    /// The system trust store: where it was read, how many CA certificates
    /// it gave and how many entries were skipped.
    System {
        places: Vec<String>,
        certificates: usize,
        skipped: usize,
        from_environment: bool,
    },
    /// webpki-roots, the system having no CA certificate.
    BuiltIn,
    /// `--cafile`.
    CaFile(PathBuf),
    /// `--pin` (whose refusals have their own wording).
    Pin,
}

impl TrustSource {
    /// What to do about a certificate this source does not trust.
    fn advice(&self) -> &'static str {
        match self {
            TrustSource::System {
                from_environment: false,
                ..
            } => {
                "add its CA with update-ca-certificates, or use --cafile for a private CA, \
                 or --pin for a self-signed certificate you have checked"
            }
            TrustSource::System { .. } => {
                "add its CA to SSL_CERT_FILE or SSL_CERT_DIR, or use --cafile for a private CA, \
                 or --pin for a self-signed certificate you have checked"
            }
            TrustSource::BuiltIn => {
                "install the system's CA certificates (ca-certificates) and add its CA with \
                 update-ca-certificates, or use --cafile for a private CA, \
                 or --pin for a self-signed certificate you have checked"
            }
            TrustSource::CaFile(_) | TrustSource::Pin => {
                "use --cafile with the CA that signed it, \
                 or --pin for a self-signed certificate you have checked"
            }
        }
    }
}

impl fmt::Display for TrustSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSource::System {
                places,
                certificates,
                skipped,
                ..
            } => {
                let plural = if *certificates == 1 { "" } else { "s" };
                write!(
                    f,
                    "the system trust store ({}: {certificates} CA certificate{plural}",
                    places.join(", ")
                )?;
                if *skipped > 0 {
                    write!(f, "; {skipped} skipped, unreadable or not certificates")?;
                }
                f.write_str(")")
            }
            TrustSource::BuiltIn => f.write_str("the built-in roots (the system has none)"),
            TrustSource::CaFile(path) => write!(f, "--cafile {}", path.display()),
            TrustSource::Pin => f.write_str("--pin"),
        }
    }
}

/// The system trust store as read: the CA certificates, where they came
/// from, and what was skipped.
#[derive(Debug)]
struct SystemRoots {
    roots: RootCertStore,
    /// The places read, as messages name them: a path, or
    /// `SSL_CERT_FILE=PATH` / `SSL_CERT_DIR=DIR:DIR` for the environment's.
    places: Vec<String>,
    /// PEM sections, certificates, files and directories that could not be used.
    skipped: usize,
    /// Why a place the environment named could not be read.
    problems: Vec<String>,
}

/// Read the system trust store: `store`'s places, else the first of
/// `default_files` that exists and each of `default_dirs` that exists.
/// Nothing here is fatal: what cannot be used is counted in `skipped`.
fn load_system_store(
    store: &SystemStore,
    default_files: &[&str],
    default_dirs: &[&str],
) -> SystemRoots {
    let mut found = Found::default();
    let mut places = Vec::new();
    let mut problems = Vec::new();
    match &store.cert_file {
        Some(file) => {
            places.push(format!("SSL_CERT_FILE={}", file.display()));
            if let Err(e) = found.read_pem(file) {
                found.skipped += 1;
                problems.push(format!("SSL_CERT_FILE {}: {e}", file.display()));
            }
        }
        None => {
            if let Some(file) = default_files.iter().map(Path::new).find(|p| p.is_file()) {
                places.push(file.display().to_string());
                if found.read_pem(file).is_err() {
                    found.skipped += 1;
                }
            }
        }
    }
    match &store.cert_dirs {
        Some(dirs) => {
            let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            places.push(format!("SSL_CERT_DIR={}", shown.join(":")));
            for dir in dirs {
                if let Err(e) = found.read_pem_dir(dir) {
                    found.skipped += 1;
                    problems.push(format!("SSL_CERT_DIR {}: {e}", dir.display()));
                }
            }
        }
        None => {
            for dir in default_dirs.iter().map(Path::new).filter(|d| d.is_dir()) {
                places.push(dir.display().to_string());
                if found.read_pem_dir(dir).is_err() {
                    found.skipped += 1;
                }
            }
        }
    }
    // A bundle and a directory usually hold the same certificates.
    let mut certs = found.certs;
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup();
    let mut roots = RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(certs);
    SystemRoots {
        roots,
        places,
        skipped: found.skipped + unusable,
        problems,
    }
}

/// The system's CA certificates, else (when the environment named no place)
/// the built-in ones; a store the environment named that gives none is a
/// configuration error rather than a silent change of whom to trust.
fn system_or_built_in(
    store: &SystemStore,
    loaded: SystemRoots,
) -> Result<(RootCertStore, TrustSource)> {
    if !loaded.roots.is_empty() {
        let source = TrustSource::System {
            places: loaded.places,
            certificates: loaded.roots.len(),
            skipped: loaded.skipped,
            from_environment: store.named_by_environment(),
        };
        return Ok((loaded.roots, source));
    }
    if store.named_by_environment() {
        let problems = match loaded.problems.is_empty() {
            true => String::new(),
            false => format!(" ({})", loaded.problems.join("; ")),
        };
        return Err(Error::config(format!(
            "no usable CA certificate in the system trust store ({}){problems}: \
             fix or unset SSL_CERT_FILE and SSL_CERT_DIR, or use --cafile",
            loaded.places.join(", ")
        )));
    }
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok((roots, TrustSource::BuiltIn))
}

/// The certificates read so far, and which files they came from (by device
/// and inode, so that a file is read once however many names lead to it:
/// Debian's bundle is in /etc/ssl/certs too).
#[derive(Default)]
struct Found {
    certs: Vec<CertificateDer<'static>>,
    files: HashSet<(u64, u64)>,
    skipped: usize,
}

impl Found {
    /// Add the certificates of the PEM file `path`; sections that do not
    /// parse are counted as skipped.
    fn read_pem(&mut self, path: &Path) -> io::Result<()> {
        let file = fs::File::open(path)?;
        let meta = file.metadata()?;
        if !self.files.insert((meta.dev(), meta.ino())) {
            return Ok(());
        }
        let mut text = Vec::new();
        io::Read::read_to_end(&mut &file, &mut text)?;
        for item in CertificateDer::pem_slice_iter(&text) {
            match item {
                Ok(cert) => self.certs.push(cert),
                Err(_) => self.skipped += 1,
            }
        }
        Ok(())
    }

    /// Add the certificates of every file in `dir` (not its subdirectories,
    /// and not symbolic links to a file of `dir` itself, whose target is read
    /// anyway: c_rehash's `HASH.0` links).
    fn read_pem_dir(&mut self, dir: &Path) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let Ok(entry) = entry else {
                self.skipped += 1;
                continue;
            };
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_symlink())
                && fs::read_link(&path)
                    .is_ok_and(|target| target.parent().is_some_and(|p| p.as_os_str().is_empty()))
            {
                continue;
            }
            match fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {
                    if self.read_pem(&path).is_err() {
                        self.skipped += 1;
                    }
                }
                Ok(_) => {}
                // A dangling link: nothing there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => self.skipped += 1,
            }
        }
        Ok(())
    }
}

fn webpki_verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::config(format!("TLS set-up: {e}")))?;
    Ok(verifier)
}

/// The CA certificates of a PEM file (`--cafile`).
pub fn load_ca_file(path: &Path) -> Result<RootCertStore> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::config(format!("--cafile {shown}: {}", pem_error(e))))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("--cafile {shown}: {}", pem_error(e))))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "--cafile {shown}: no PEM certificates (-----BEGIN CERTIFICATE-----) in the file"
        )));
    }
    let mut roots = RootCertStore::empty();
    for (index, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            Error::config(format!(
                "--cafile {shown}: certificate {} is not usable: {e}",
                index + 1
            ))
        })?;
    }
    Ok(roots)
}

fn pem_error(err: rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not a PEM file ({other:?})"),
    }
}

/// Passes every question on to the real verifier, and remembers the leaf
/// certificate so that errors can name the key the server showed.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn ServerCertVerifier>,
    leaf: Mutex<Option<CertificateDer<'static>>>,
}

impl Recorder {
    fn leaf_pin(&self) -> Option<Pin> {
        let leaf = self.leaf.lock().ok()?;
        leaf.as_ref().and_then(Pin::of_certificate)
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut leaf) = self.leaf.lock() {
            *leaf = Some(end_entity.clone().into_owned());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts exactly the certificate whose public key has the pinned digest;
/// handshake signatures are still checked against that key.
#[derive(Debug)]
struct PinVerifier {
    pin: Pin,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match Pin::of_certificate(end_entity) {
            Some(pin) if pin == self.pin => Ok(ServerCertVerified::assertion()),
            Some(_) => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What PROG learns about the TLS session, under s6-tlsc's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `SSL_PROTOCOL`: `TLSv1.3` or `TLSv1.2`.
    pub protocol: String,
    /// `SSL_CIPHER`: the cipher suite's IANA name.
    pub cipher: String,
    /// `SSL_PEER_CERT_HASH`: SHA-256 of the server's certificate (DER), in hex.
    pub peer_cert_hash: String,
    /// `XMPP_TLS_EXPORTER`: the RFC 9266 channel-binding value, base64 (TLS 1.3 only).
    pub exporter: Option<String>,
}

impl Facts {
    /// Read the facts off an established connection.
    pub fn of(conn: &ClientConnection) -> Facts {
        let protocol = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|suite| format!("{:?}", suite.suite()))
            .unwrap_or_default();
        let peer_cert_hash = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| hex(&Sha256::digest(leaf.as_ref())))
            .unwrap_or_default();
        // RFC 9266 defines tls-exporter for TLS 1.3 (and TLS 1.2 only with
        // extended master secret, which rustls does not tell us): 1.3 only.
        let exporter = (conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3))
            .then(|| {
                conn.export_keying_material([0u8; EXPORTER_LENGTH], EXPORTER_LABEL, None)
                    .ok()
                    .map(|value| BASE64.encode(value))
            })
            .flatten();
        Facts {
            protocol,
            cipher,
            peer_cert_hash,
            exporter,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_print_alike() {
        let text = format!("sha256:{}", BASE64.encode([7u8; 32]));
        let pin = Pin::parse(&text).unwrap();
        assert_eq!(pin.to_string(), text);
        for bad in [
            "",
            "sha1:AAAA",
            "sha256:",
            "sha256:!!!!",
            &format!("sha256:{}", BASE64.encode([1u8; 20])),
        ] {
            assert!(Pin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pin_of_a_certificate_is_the_digest_of_its_public_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["example.org".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let expected = Pin(Sha256::digest(key.public_key_der()).into());
        assert_eq!(Pin::of_certificate(cert.der()), Some(expected));
        assert_eq!(
            Pin::of_certificate(&CertificateDer::from(vec![1, 2, 3])),
            None
        );
    }

    #[test]
    fn ca_files_that_are_missing_empty_or_not_pem_are_configuration_errors() {
        let dir = std::env::temp_dir().join(format!("xmpp-connect-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        for path in [dir.join("missing.pem"), empty, junk] {
            let err = load_ca_file(&path).unwrap_err();
            assert_eq!(
                err.status(),
                xmpp_pipes::exit::Status::Config,
                "{}",
                err.message()
            );
            assert!(err.message().contains("--cafile"), "{}", err.message());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory of this test process.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xmpp-connect-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn ca_pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).unwrap().pem()
    }

    const JUNK: &str = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_system_store_reads_a_bundle_and_every_file_of_its_directories() {
        let dir = scratch("system-store");
        let (one, two, three) = (ca_pem("one"), ca_pem("two"), ca_pem("three"));
        let bundle = dir.join("bundle.crt");
        fs::write(&bundle, format!("{one}{JUNK}{two}")).unwrap();
        let certs = dir.join("certs");
        fs::create_dir(&certs).unwrap();
        fs::write(certs.join("three.pem"), &three).unwrap();
        fs::write(certs.join("one-again.crt"), &one).unwrap();
        fs::write(certs.join("README"), "not a certificate\n").unwrap();
        fs::write(certs.join("broken.pem"), JUNK).unwrap();
        std::os::unix::fs::symlink("three.pem", certs.join("abcdef01.0")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x.pem", certs.join("dangling.pem")).unwrap();
        fs::create_dir(certs.join("java")).unwrap();

        let store = SystemStore {
            cert_file: Some(bundle.clone()),
            cert_dirs: Some(vec![certs.clone()]),
        };
        let loaded = load_system_store(&store, &[], &[]);
        assert_eq!(loaded.roots.len(), 3, "duplicates and links counted once");
        assert_eq!(loaded.skipped, 2, "the two junk sections");
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let (_, source) = system_or_built_in(&store, loaded).unwrap();
        assert_eq!(
            source.to_string(),
            format!(
                "the system trust store (SSL_CERT_FILE={}, SSL_CERT_DIR={}: 3 CA certificates; \
                 2 skipped, unreadable or not certificates)",
                bundle.display(),
                certs.display()
            )
        );
        assert!(source.advice().contains("SSL_CERT_FILE or SSL_CERT_DIR"));

        // The defaults: the first bundle that exists, every directory that does.
        let missing = dir.join("missing.crt");
        let (missing, bundle_str, certs_str) = (
            missing.to_str().unwrap(),
            bundle.to_str().unwrap(),
            certs.to_str().unwrap(),
        );
        let none = SystemStore::default();
        let loaded = load_system_store(&none, &[missing, bundle_str], &[missing, certs_str]);
        assert_eq!(loaded.places, [bundle_str, certs_str]);
        let (roots, source) = system_or_built_in(&none, loaded).unwrap();
        assert_eq!(roots.len(), 3);
        assert!(
            source.to_string().starts_with(&format!(
                "the system trust store ({bundle_str}, {certs_str}: 3 CA"
            )),
            "{source}"
        );
        assert!(source.advice().contains("update-ca-certificates"));

        // SSL_CERT_DIR alone replaces the directories, not the bundle.
        let only_dir = SystemStore {
            cert_file: None,
            cert_dirs: Some(vec![certs.clone()]),
        };
        let loaded = load_system_store(&only_dir, &[bundle_str], &[missing]);
        assert_eq!(
            loaded.places,
            [bundle_str.to_owned(), format!("SSL_CERT_DIR={certs_str}")]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_system_without_certificates_falls_back_to_the_built_in_roots() {
        let dir = scratch("no-store");
        let empty = dir.join("empty");
        fs::create_dir(&empty).unwrap();
        let none = SystemStore::default();
        let loaded = load_system_store(&none, &["/nonexistent/ca.crt"], &[empty.to_str().unwrap()]);
        let (roots, source) = system_or_built_in(&none, loaded).unwrap();
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert_eq!(source, TrustSource::BuiltIn);
        assert_eq!(
            source.to_string(),
            "the built-in roots (the system has none)"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_environment_store_without_certificates_is_a_configuration_error() {
        let dir = scratch("env-store");
        let junk = dir.join("junk.pem");
        fs::write(&junk, JUNK).unwrap();
        for store in [
            SystemStore {
                cert_file: Some(dir.join("missing.pem")),
                cert_dirs: None,
            },
            SystemStore {
                cert_file: Some(junk.clone()),
                cert_dirs: Some(vec![dir.join("no-dir")]),
            },
        ] {
            let loaded = load_system_store(&store, &[], &[]);
            let err = system_or_built_in(&store, loaded).unwrap_err();
            assert_eq!(err.status(), xmpp_pipes::exit::Status::Config, "{err}");
            let named = store.cert_file.as_ref().unwrap().display().to_string();
            assert!(
                err.message().contains(&format!("SSL_CERT_FILE={named}")),
                "{err}"
            );
            assert!(
                err.message().contains("fix or unset SSL_CERT_FILE"),
                "{err}"
            );
        }
        let store = SystemStore {
            cert_file: Some(dir.join("missing.pem")),
            cert_dirs: None,
        };
        let err = system_or_built_in(&store, load_system_store(&store, &[], &[])).unwrap_err();
        assert!(err.message().contains("No such file"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refusals_name_the_trust_source() {
        assert_eq!(
            TrustSource::CaFile("/etc/lan-ca.pem".into()).to_string(),
            "--cafile /etc/lan-ca.pem"
        );
        let one = TrustSource::System {
            places: vec!["/etc/ssl/certs/ca-certificates.crt".into()],
            certificates: 1,
            skipped: 0,
            from_environment: false,
        };
        assert_eq!(
            one.to_string(),
            "the system trust store (/etc/ssl/certs/ca-certificates.crt: 1 CA certificate)"
        );
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}

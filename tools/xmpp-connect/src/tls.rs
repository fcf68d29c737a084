//! TLS with rustls: the client set-up for the CAs that [`crate::trust`] gives
//! (or for a `--pin`), the handshake, the verifiers that check and remember
//! the server's certificate, and the facts about the session that PROG gets in
//! its environment.
//!
//! The certificate is always checked for the XMPP domain, never for the host
//! that DNS pointed at (RFC 6125, RFC 7590 §3.2). There is no switch that turns
//! verification off: a server with a self-signed certificate is accepted by
//! pinning its key with `--pin`, which still verifies the handshake signatures.

use crate::deadline::Deadline;
use crate::options::TrustChoice;
use crate::trust::{self, TrustSource};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use xmpp_pipes::exit::{Error, Result};

/// The ALPN protocol name of direct TLS for clients (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// The RFC 9266 exporter label for tls-exporter channel binding.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The length of the tls-exporter channel-binding value (RFC 9266 §2).
pub const EXPORTER_LENGTH: usize = 32;

// The trust store is crate::trust's; these stay reachable here for the paths
// in use (crate::tls::SystemStore, crate::tls::load_ca_file).
pub use crate::trust::{load_ca_file, SystemStore, SYSTEM_CERT_DIRS, SYSTEM_CERT_FILES};

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
                let (roots, source) = trust::system_roots(store)?;
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

    /// The rustls settings with this trust's verifier, for another client
    /// that must trust exactly as xmpp-connect does (xmpp-upload's HTTPS).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// Why a handshake with `name` over [`Tls::client_config`] failed, in
    /// xmpp-connect's words (77 for a certificate refused, 76 for TLS).
    pub fn refusal(&self, name: &str, err: io::Error, deadline: &Deadline) -> Error {
        self.handshake_error(name, err, deadline)
    }

    /// Whose trust the certificates are checked against (for `--verbose`).
    pub fn source(&self) -> String {
        self.source.to_string()
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
            crate::connect::quickack(socket);
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
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
                Error::protocol(
                    "the server did not answer the TLS handshake in TLS (plain text, as on a \
                     STARTTLS port: 5222 by default): for such a port drop --direct-tls, or give \
                     the direct-TLS port (5223 by default)",
                )
            }
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

fn webpki_verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>> {
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::config(format!("TLS set-up: {e}")))?;
    Ok(verifier)
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
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}

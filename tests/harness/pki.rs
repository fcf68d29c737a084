//! Test certificates made with rcgen.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::TempDir;

/// A certificate authority: its certificate and key.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate CA key");
        let cert = params.self_signed(&key).expect("self-sign CA");
        Ca { cert, key }
    }

    fn issue(&self, params: CertificateParams) -> CertKey {
        let key = KeyPair::generate().expect("generate key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign certificate");
        CertKey::new(&cert, &key)
    }
}

fn leaf_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("certificate params");
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("test"),
    );
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// A certificate with its private key, in PEM, for a (hostile) test server.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate chain in PEM: just the leaf certificate.
    pub chain_pem: String,
    /// The private key in PEM (PKCS#8).
    pub key_pem: String,
    /// The leaf certificate in DER.
    pub leaf_der: Vec<u8>,
    /// `sha256:BASE64` of the leaf's SubjectPublicKeyInfo, as `--pin` takes.
    pub pin: String,
}

impl CertKey {
    fn new(cert: &Certificate, key: &KeyPair) -> CertKey {
        let leaf_der = cert.der().to_vec();
        CertKey {
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            pin: spki_pin(&leaf_der),
            leaf_der,
        }
    }

    /// The chain and key as a (cert chain PEM, key PEM) pair.
    pub fn pems(&self) -> (String, String) {
        (self.chain_pem.clone(), self.key_pem.clone())
    }

    /// Writes `<stem>.crt` and `<stem>.key` into `dir`; returns their paths.
    pub fn write_to(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let crt = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        write_file(&crt, self.chain_pem.as_bytes(), 0o644);
        write_file(&key, self.key_pem.as_bytes(), 0o600);
        (crt, key)
    }
}

pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The test PKI: a CA, a server certificate for `localhost` (SANs
/// `localhost`, `conference.localhost`) signed by it, and a second,
/// unrelated CA; all as PEM files in a temp dir.
pub struct Pki {
    /// The test CA's certificate (PEM file): trust this to accept the server.
    pub ca_pem: PathBuf,
    /// The server certificate (PEM file).
    pub cert_pem: PathBuf,
    /// The server certificate's private key (PEM file, mode 0600).
    pub key_pem: PathBuf,
    /// An unrelated CA's certificate (PEM file), for "untrusted CA" tests.
    pub other_ca_pem: PathBuf,
    /// `sha256:BASE64` of the server certificate's SubjectPublicKeyInfo.
    pub pin: String,
    ca: Ca,
    other_ca: Ca,
    server: CertKey,
    dir: TempDir,
}

impl Pki {
    /// The server's DNS names.
    pub const SERVER_NAMES: [&'static str; 2] = ["localhost", "conference.localhost"];

    /// Makes the CAs and the server certificate and writes them out.
    pub fn new() -> Pki {
        let dir = TempDir::new("pki");
        let ca = Ca::new("xmpp-pipes test CA");
        let other_ca = Ca::new("xmpp-pipes unrelated CA");
        let server = ca.issue(leaf_params(&Self::SERVER_NAMES));
        let ca_pem = dir.join("ca.pem");
        let other_ca_pem = dir.join("other-ca.pem");
        write_file(&ca_pem, ca.cert.pem().as_bytes(), 0o644);
        write_file(&other_ca_pem, other_ca.cert.pem().as_bytes(), 0o644);
        let (cert_pem, key_pem) = server.write_to(dir.path(), "server");
        Pki {
            ca_pem,
            cert_pem,
            key_pem,
            other_ca_pem,
            pin: server.pin.clone(),
            ca,
            other_ca,
            server,
            dir,
        }
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server certificate in DER.
    pub fn leaf_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.server.leaf_der.clone())
    }

    /// The test CA's certificate in DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.cert.der().clone()
    }

    /// The server certificate and key (the ones Prosody serves).
    pub fn server(&self) -> &CertKey {
        &self.server
    }

    /// A certificate for `names`, signed by the test CA (trusted).
    pub fn issue(&self, names: &[&str]) -> CertKey {
        self.ca.issue(leaf_params(names))
    }

    /// A certificate for `names`, signed by the test CA, that expired in 2001.
    pub fn issue_expired(&self, names: &[&str]) -> CertKey {
        let mut params = leaf_params(names);
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        self.ca.issue(params)
    }

    /// A certificate for `names`, signed by the test CA (trusted), valid
    /// from yesterday for `days` days. (rcgen's default validity runs to the
    /// year 4096, which ejabberd's certificate watcher cannot set a timer
    /// for: its `pkix` server crashes, and STARTTLS then fails.)
    pub fn issue_for_days(&self, names: &[&str], days: i64) -> CertKey {
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64
            / 86_400;
        let date = |days: i64| {
            let (y, m, d) = civil_from_days(days);
            rcgen::date_time_ymd(y, m, d)
        };
        let mut params = leaf_params(names);
        params.not_before = date(today - 1);
        params.not_after = date(today + days);
        self.ca.issue(params)
    }

    /// A certificate for `names`, signed by the unrelated CA (untrusted).
    pub fn issue_untrusted(&self, names: &[&str]) -> CertKey {
        self.other_ca.issue(leaf_params(names))
    }

    /// A self-signed certificate for `names`.
    pub fn self_signed(names: &[&str]) -> CertKey {
        let key = KeyPair::generate().expect("generate key");
        let cert = leaf_params(names).self_signed(&key).expect("self-sign");
        CertKey::new(&cert, &key)
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u8, d as u8)
}

/// Reads one DER TLV at the start of `der`: (tag, content, rest).
fn der_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = der[0];
    let (len, head) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            let len = der[2..2 + k]
                .iter()
                .fold(0usize, |a, b| a << 8 | *b as usize);
            (len, 2 + k)
        }
    };
    (tag, &der[head..head + len], &der[head + len..])
}

/// The DER SubjectPublicKeyInfo of an X.509 certificate given in DER.
pub(crate) fn spki_der(cert_der: &[u8]) -> &[u8] {
    let (_, cert, _) = der_tlv(cert_der);
    let (_, mut tbs, _) = der_tlv(cert);
    if tbs[0] == 0xa0 {
        tbs = der_tlv(tbs).2; // [0] version
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        tbs = der_tlv(tbs).2;
    }
    let (_, content, rest) = der_tlv(tbs);
    let whole = tbs.len() - rest.len();
    let _ = content;
    &tbs[..whole]
}

/// `sha256:BASE64` (standard alphabet, padded) of the SubjectPublicKeyInfo
/// of the DER certificate `cert_der`: the form the tools' `--pin` takes.
pub fn spki_pin(cert_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der(cert_der));
    format!(
        "sha256:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn spki_matches_rcgen() {
        let key = KeyPair::generate().unwrap();
        let cert = leaf_params(&["a.test"]).self_signed(&key).unwrap();
        assert_eq!(spki_der(cert.der()), key.public_key_der().as_slice());
    }
}

//! Where the CA certificates come from: the system trust store, else the
//! built-in roots (webpki-roots), or `--cafile`'s PEM file alone; and how a
//! refusal names the one that refused (`TrustSource`). [`crate::tls`] builds
//! its verifier from them; a `--pin` trusts no CA and does not come here.
//!
//! The system trust store is read as OpenSSL and Go read it, in this order:
//! one PEM bundle (`SSL_CERT_FILE`, else the first of [`SYSTEM_CERT_FILES`]
//! that exists), then directories of PEM files (`SSL_CERT_DIR`, else each of
//! [`SYSTEM_CERT_DIRS`] that exists); a certificate found in both counts once.
//! Each variable replaces only its own default, as it does for OpenSSL and Go,
//! so that a setting means here what it means to every other program on the
//! system: `SSL_CERT_FILE` alone still reads the system's directories, and
//! `SSL_CERT_DIR` alone the system's bundle.
//!
//! Every file of a directory is read, not only c_rehash's `HASH.0` names;
//! symbolic links to a file of the same directory (c_rehash's links) are
//! passed over, as Go does, since their target is read anyway. What cannot be
//! read or parsed is skipped and counted, never fatal. A store that gives no
//! CA certificate at all falls back to the built-in roots only when the
//! environment named no place; a store it named is a configuration error
//! instead, not a silent change of whom to trust.
//!
//! `--cafile` replaces all of this: only its certificates are trusted, and a
//! file that is missing, empty or not PEM is a configuration error.
//!
//! Nothing here reads the environment: [`crate::options`] reads
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` once and hands them over as plain data
//! ([`SystemStore`]).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use xmpp_pipes::exit::{Error, Result};

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

/// The system trust store's CA certificates (at `store`'s places, else the
/// system's), else the built-in roots; with the source a refusal names.
pub(crate) fn system_roots(store: &SystemStore) -> Result<(RootCertStore, TrustSource)> {
    let loaded = load_system_store(store, SYSTEM_CERT_FILES, SYSTEM_CERT_DIRS);
    system_or_built_in(store, loaded)
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

/// Whose trust a refusal is from, as its message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrustSource {
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
    pub(crate) fn advice(&self) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

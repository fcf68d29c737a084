//! Whom xmpp-connect trusts without `--cafile` or `--pin`: the system trust
//! store, found as OpenSSL finds it (`SSL_CERT_FILE`, a PEM bundle;
//! `SSL_CERT_DIR`, colon-separated directories of PEM files, every file read),
//! against the harness Prosody, whose certificate is signed by a private CA.
//! The machine's own /etc/ssl is never changed: the variables point at files
//! of the test's own.

use harness::{chat, online, run, tool, Output, Prosody, TempDir, Transport};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// The trust store variables: `None` removes one from the environment.
struct Store<'a> {
    cert_file: Option<&'a Path>,
    cert_dir: Option<&'a str>,
}

/// `xmpp-connect [args] --host 127.0.0.1:PORT [--direct-tls] localhost`,
/// isolated from the user's configuration, with `store` as its trust
/// store variables; ready for PROG.
fn xmpp_connect(prosody: &Prosody, transport: Transport, store: &Store, args: &[&str]) -> Command {
    let options: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let mut command = harness::connect_with(prosody, transport, &options);
    command
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(file) = store.cert_file {
        command.env("SSL_CERT_FILE", file);
    }
    if let Some(dir) = store.cert_dir {
        command.env("SSL_CERT_DIR", dir);
    }
    command
}

/// Run xmpp-connect with a PROG that writes `$SSL_PROTOCOL` to a file;
/// returns the output and what PROG wrote (None: PROG never ran).
fn try_connect(transport: Transport, store: &Store, args: &[&str]) -> (Output, Option<String>) {
    let prosody = Prosody::shared();
    let dir = TempDir::new("trust-prog");
    let marker = dir.join("protocol");
    let mut command = xmpp_connect(prosody, transport, store, args);
    command.args([
        "sh",
        "-c",
        &format!("printf %s \"$SSL_PROTOCOL\" > '{}'", marker.display()),
    ]);
    let output = run(command, b"", LIMIT);
    (output, std::fs::read_to_string(&marker).ok())
}

fn assert_connected(output: &Output, protocol: Option<String>) {
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "a trusted connection is silent");
    let protocol = protocol.expect("PROG ran");
    assert!(protocol.starts_with("TLSv1."), "{protocol:?}");
}

fn assert_refused(output: &Output, protocol: Option<String>, code: i32, says: &[&str]) -> String {
    assert_eq!(output.code(), Some(code), "{output}");
    assert_eq!(protocol, None, "PROG must not run: {output}");
    let stderr = output.stderr_str();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {output}");
    for text in says {
        assert!(stderr.contains(text), "expected {text:?} in: {output}");
    }
    stderr
}

/// A PEM bundle of `certs` (files) in `dir`.
fn bundle(dir: &TempDir, name: &str, certs: &[&Path]) -> std::path::PathBuf {
    let text: String = certs
        .iter()
        .map(|cert| std::fs::read_to_string(cert).unwrap())
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_ca_in_ssl_cert_file_is_trusted_without_cafile() {
    let prosody = Prosody::shared();
    let pki = prosody.pki();
    let dir = TempDir::new("trust-file");
    // A bundle like ca-certificates.crt: other CAs, the one that counts, junk.
    let file = bundle(
        &dir,
        "ca-certificates.crt",
        &[&pki.other_ca_pem, prosody.ca_pem()],
    );
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
    std::fs::write(&file, text).unwrap();
    let store = Store {
        cert_file: Some(&file),
        cert_dir: None,
    };
    for transport in [Transport::StartTls, Transport::DirectTls] {
        let (output, protocol) = try_connect(transport, &store, &[]);
        assert_connected(&output, protocol);
    }

    // The cron notifier moved over from go-sendxmpp: a message goes out
    // with SSL_CERT_FILE as its only trust setting.
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let body = format!("trusted by SSL_CERT_FILE {}", harness::random_string(8));
    let mut command = xmpp_connect(prosody, Transport::StartTls, &store, &[]);
    command
        .arg(tool("xmpp-auth"))
        .arg("--password-file")
        .arg(&alice.password_file)
        .arg(&alice.jid);
    let output = run(command, chat(&bob.jid, &body).as_bytes(), LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "a successful send is silent");
    receiver.expect_line(LIMIT, |line| line.contains(&body));
}

#[test]
fn a_ca_in_ssl_cert_dir_is_trusted_under_any_file_name() {
    let prosody = Prosody::shared();
    let pki = prosody.pki();
    let dir = TempDir::new("trust-dir");
    // SSL_CERT_FILE holds only another CA: the directory alone must do.
    let other = bundle(&dir, "other.pem", &[&pki.other_ca_pem]);
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for name in ["lan-ca.pem", "lan-ca.crt", "no-extension"] {
        let certs = dir.join(format!("certs-{name}"));
        std::fs::create_dir(&certs).unwrap();
        std::fs::copy(prosody.ca_pem(), certs.join(name)).unwrap();
        std::fs::write(certs.join("README"), "not a certificate\n").unwrap();
        // A colon-separated list, the CA in its second directory.
        let list = format!("{}:{}", empty.display(), certs.display());
        let store = Store {
            cert_file: Some(&other),
            cert_dir: Some(&list),
        };
        let (output, protocol) = try_connect(Transport::StartTls, &store, &[]);
        assert_connected(&output, protocol);
    }
}

#[test]
fn a_store_without_the_ca_is_refused_with_77_naming_it() {
    let prosody = Prosody::shared();
    let pki = prosody.pki();
    let dir = TempDir::new("trust-refused");
    let other = bundle(&dir, "other.pem", &[&pki.other_ca_pem]);
    let store = Store {
        cert_file: Some(&other),
        cert_dir: None,
    };
    for transport in [Transport::StartTls, Transport::DirectTls] {
        let (output, protocol) = try_connect(transport, &store, &[]);
        assert_refused(
            &output,
            protocol,
            77,
            &[
                "the server's certificate for localhost is not trusted by the system trust store \
                 (SSL_CERT_FILE=",
                &other.display().to_string(),
                "it is signed by an unknown certificate authority",
                &pki.pin,
                "add its CA to SSL_CERT_FILE or SSL_CERT_DIR, or use --cafile",
            ],
        );
    }

    // Without the variables: the machine's own store (or, on a machine
    // that has none, the built-in roots) does not know the test CA.
    let none = Store {
        cert_file: None,
        cert_dir: None,
    };
    let (output, protocol) = try_connect(Transport::StartTls, &none, &[]);
    let said = assert_refused(&output, protocol, 77, &["is not trusted by the "]);
    assert!(
        said.contains("the system trust store (")
            && said.contains("add its CA with update-ca-certificates")
            || said.contains("the built-in roots (the system has none)"),
        "{output}"
    );
}

#[test]
fn cafile_replaces_the_system_trust_store() {
    let prosody = Prosody::shared();
    let pki = prosody.pki();
    let with_ca = Store {
        cert_file: Some(prosody.ca_pem()),
        cert_dir: None,
    };
    let other = pki.other_ca_pem.to_str().unwrap();
    let (output, protocol) = try_connect(Transport::StartTls, &with_ca, &["--cafile", other]);
    assert_refused(
        &output,
        protocol,
        77,
        &[
            &format!("is not trusted by --cafile {other}: "),
            "use --cafile with the CA that signed it",
        ],
    );
    // And the other way round: --cafile trusts what the store does not.
    let dir = TempDir::new("trust-cafile");
    let without = bundle(&dir, "other.pem", &[&pki.other_ca_pem]);
    let store = Store {
        cert_file: Some(&without),
        cert_dir: None,
    };
    let ca = prosody.ca_pem().to_str().unwrap();
    let (output, protocol) = try_connect(Transport::StartTls, &store, &["--cafile", ca]);
    assert_connected(&output, protocol);
}

#[test]
fn a_store_the_environment_names_that_holds_nothing_is_a_configuration_error() {
    let dir = TempDir::new("trust-empty");
    let missing = dir.join("missing.pem");
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap().to_owned();
    let store = Store {
        cert_file: Some(&missing),
        cert_dir: Some(&empty),
    };
    let (output, protocol) = try_connect(Transport::StartTls, &store, &[]);
    assert_refused(
        &output,
        protocol,
        78,
        &[
            "no usable CA certificate in the system trust store",
            &format!("SSL_CERT_FILE={}", missing.display()),
            "No such file",
            "fix or unset SSL_CERT_FILE and SSL_CERT_DIR",
        ],
    );
}

//! Checks the harness itself: Prosody is up on both ports with the right
//! certificate, accounts can be registered, dnsmasq answers SRV queries.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use harness::{run, Dns, Prosody, Spawned, SrvRecord};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

const TIMEOUT: Duration = Duration::from_secs(10);
const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

/// Reads from `r` until `needle` appears (or EOF/timeout, then panics).
fn read_until(r: &mut impl Read, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = r.read(&mut buf).unwrap_or_else(|e| {
            panic!(
                "read error {e} before {needle:?}; got {:?}",
                String::from_utf8_lossy(&got)
            )
        });
        assert!(
            n > 0,
            "EOF before {needle:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if text.contains(needle) {
            return text.into_owned();
        }
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

fn tls_config(ca_pem: &std::path::Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).expect("open CA file") {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn starttls_port_offers_starttls() {
    let p = Prosody::shared();
    let mut s = connect(p.starttls_port());
    s.write_all(STREAM_HEADER.as_bytes()).unwrap();
    let reply = read_until(&mut s, "</stream:features>");
    assert!(reply.contains("<starttls"), "no <starttls in {reply}");
    assert!(
        reply.contains("<required"),
        "STARTTLS not required: {reply}"
    );
}

#[test]
fn direct_tls_port_serves_the_test_certificate() {
    let p = Prosody::shared();
    let config = tls_config(p.ca_pem());
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, connect(p.direct_tls_port()));
    // The first write drives the handshake, which verifies the chain and name.
    tls.write_all(STREAM_HEADER.as_bytes())
        .expect("TLS handshake / write");
    let reply = read_until(&mut tls, "</stream:features>");
    assert!(reply.contains("<mechanisms"), "no SASL mechanisms: {reply}");
    assert!(reply.contains("SCRAM-SHA-1"), "no SCRAM-SHA-1: {reply}");
    let certs = tls.conn.peer_certificates().expect("peer certificates");
    assert_eq!(
        certs[0],
        p.pki().leaf_der(),
        "unexpected server certificate"
    );
    assert_eq!(harness::spki_pin(&certs[0]), p.pki().pin);
    assert!(p.pki().pin.starts_with("sha256:") && p.pki().pin.ends_with('='));
}

#[test]
fn direct_tls_rejects_the_unrelated_ca() {
    let p = Prosody::shared();
    let config = tls_config(&p.pki().other_ca_pem);
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, connect(p.direct_tls_port()));
    let err = tls
        .write_all(STREAM_HEADER.as_bytes())
        .expect_err("handshake must fail with an untrusted CA");
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "unexpected error: {err}"
    );
}

#[test]
fn accounts_can_be_registered() {
    let p = Prosody::shared();
    let a = p.new_account("smoke");
    let b = p.new_account("smoke");
    assert_ne!(a.jid, b.jid);
    assert!(a.jid.ends_with("@localhost"));
    assert_eq!(
        std::fs::read_to_string(&a.password_file).unwrap(),
        a.password
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&a.password_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for acc in [&a, &b] {
        let stored = p
            .data_dir()
            .join("localhost/accounts")
            .join(format!("{}.dat", acc.user));
        assert!(stored.is_file(), "{} not stored", acc.jid);
    }
}

#[test]
fn spawned_reads_lines_and_kills_on_drop() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo ready; while read l; do echo \"got $l\"; done"]);
    let mut s = Spawned::start(cmd);
    assert_eq!(s.read_line_timeout(TIMEOUT).as_deref(), Some("ready"));
    s.write_line("x");
    assert_eq!(s.expect_line(TIMEOUT, |l| l.starts_with("got")), "got x");
    assert_eq!(s.read_line_timeout(Duration::from_millis(100)), None);
    s.close_stdin();
    assert!(s.wait_timeout(TIMEOUT).expect("exits on EOF").success());
}

#[test]
#[should_panic(expected = "timeout")]
fn run_times_out() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    run(cmd, b"", Duration::from_millis(200));
}

/// A DNS query for `name`, type SRV (33), class IN, id 0x4242.
fn srv_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 33, 0, 1]);
    q
}

#[test]
fn dns_answers_srv() {
    let dns = Dns::start_with_hosts(
        &[
            SrvRecord::client("example.test", "xmpp.example.test", 25222).priority(5),
            SrvRecord::no_service("_xmpps-client._tcp", "example.test"),
        ],
        &[("xmpp.example.test", "127.0.0.1".parse().unwrap())],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    sock.connect(dns.addr()).unwrap();

    sock.send(&srv_query("_xmpp-client._tcp.example.test"))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("DNS reply");
    let reply = &buf[..n];
    assert_eq!(&reply[..2], &[0x42, 0x42], "id");
    assert_eq!(reply[3] & 0x0f, 0, "rcode: {reply:?}");
    assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "answer count");
    // RDATA: priority 5, weight 0, port 25222, then the target name.
    let rdata = [0, 5, 0, 0, 0x62, 0x86, 4, b'x', b'm', b'p', b'p'];
    assert!(
        reply.windows(rdata.len()).any(|w| w == rdata),
        "SRV rdata not found in {reply:?}"
    );

    sock.send(&srv_query("_xmpps-client._tcp.example.test"))
        .unwrap();
    let n = sock.recv(&mut buf).expect("DNS reply");
    let reply = &buf[..n];
    assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1, "answer count");
    // RDATA of length 7: priority, weight, port and the root name ".".
    let rdlength = u16::from_be_bytes([reply[n - 9], reply[n - 8]]);
    assert!(
        rdlength == 7 && reply[n - 1] == 0,
        "no '.' target in {reply:?}"
    );
    dns.wait_log("_xmpp-client._tcp.example.test", TIMEOUT);
}

#[test]
fn private_prosody_restarts() {
    let p = Prosody::start();
    let port = p.starttls_port();
    assert_ne!(port, Prosody::shared().starttls_port());
    let a = p.new_account("restart");
    p.restart();
    assert!(p.is_running());
    let mut s = connect(port);
    s.write_all(STREAM_HEADER.as_bytes()).unwrap();
    read_until(&mut s, "<starttls");
    assert!(p.log().contains("Activated service 'c2s'"));
    drop(a);
    p.stop();
    assert!(!p.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn tools_are_found() {
    for name in ["xmpp-connect", "xmpp-auth"] {
        let path = harness::tool(name);
        assert!(path.is_file(), "{}", path.display());
        assert!(path.ends_with(name));
    }
}

#[test]
#[should_panic(expected = "cargo build --workspace")]
fn missing_tool_says_how_to_build() {
    harness::tool("no-such-tool");
}

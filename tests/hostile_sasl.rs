//! xmpp-connect and xmpp-auth against a hostile server that speaks XMPP
//! inside TLS far enough to play SASL (SCRAM) wrongly on purpose: a wrong
//! server signature, a nonce that is not ours, absurd iteration counts,
//! malformed base64, resets in the middle, every RFC 6120 stream error, a
//! STARTTLS that is never answered, a slow-loris server, a DTD and entity
//! bombs; and, once logged in, a reset in the middle of a stanza and a
//! 1 GiB stanza. The tools run as real processes; the server records what the
//! client sent, so that the tests can check that nothing went out that
//! must not (a client-final, a stanza, a second stream header).

use harness::{
    isolate, run, tool, Hostile, Output, Pki, SaslPlay, Script, Seen, SessionPlay, TempDir,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// The address space the whole chain may use (RLIMIT_AS): bounded memory.
const MEMORY: u64 = 1 << 30;

/// A trusted test PKI and a certificate for `localhost` signed by it.
struct Setup {
    pki: Pki,
    cert: harness::CertKey,
    dir: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let pki = Pki::new();
        let cert = pki.issue(&["localhost"]);
        let dir = TempDir::new("hostile-sasl");
        write_private(&dir.join("pw"), "correct horse");
        Setup { pki, cert, dir }
    }

    fn server(&self, play: SaslPlay) -> Hostile {
        Hostile::start(Script::Sasl {
            cert: self.cert.clone(),
            play,
        })
    }

    /// `xmpp-connect --direct-tls … localhost xmpp-auth --password-file F
    /// [auth_args] alice@localhost sh -c 'touch started'`, under RLIMIT_AS;
    /// returns the output, whether PROG ran, and how long it all took.
    fn login(&self, server: &Hostile, auth_args: &[&str]) -> (Output, bool, Duration) {
        let marker = self.dir.join("started");
        let _ = std::fs::remove_file(&marker);
        let prog = format!("touch '{}'", marker.display());
        let (output, took) = self.chain(server, auth_args, &prog);
        (output, marker.exists(), took)
    }

    /// `xmpp-connect --direct-tls … localhost xmpp-auth --password-file F
    /// [auth_args] alice@localhost sh -c PROG`, under RLIMIT_AS; returns the
    /// output and how long it all took.
    fn chain(&self, server: &Hostile, auth_args: &[&str], prog: &str) -> (Output, Duration) {
        let mut command = Command::new(tool("xmpp-connect"));
        isolate(&mut command, &self.dir.join("no-home"));
        command
            .args(["--direct-tls", "--host", &server.host(), "--cafile"])
            .arg(&self.pki.ca_pem)
            .arg("localhost")
            .arg(tool("xmpp-auth"))
            .arg("--password-file")
            .arg(self.dir.join("pw"))
            .args(auth_args)
            .arg("alice@localhost")
            .args(["sh", "-c", prog]);
        limit_memory(&mut command);
        let start = Instant::now();
        let output = run(command, b"", LIMIT);
        (output, start.elapsed())
    }

    /// Log in honestly, then let the server play `then`; PROG copies what
    /// it receives on fd 6 to a file. Returns the output and that file.
    /// Without reconnecting (`--no-reconnect`): the hostile server plays
    /// once, and what is asserted is how the one session ends.
    fn session(&self, then: SessionPlay) -> (Output, String) {
        let server = self.server(SaslPlay::Session {
            password: "correct horse".into(),
            then,
        });
        let received = self.dir.join("received");
        let _ = std::fs::remove_file(&received);
        let prog = format!("cat <&6 > '{}'", received.display());
        let (output, _) = self.chain(&server, &["--no-reconnect"], &prog);
        server.finish();
        let received = std::fs::read_to_string(&received).unwrap_or_default();
        (output, received)
    }
}

fn limit_memory(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = rustix::process::Rlimit {
                current: Some(MEMORY),
                maximum: Some(MEMORY),
            };
            rustix::process::setrlimit(rustix::process::Resource::As, limit)?;
            Ok(())
        });
    }
}

fn write_private(path: &Path, content: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .unwrap();
}

fn sent(seen: &Seen) -> String {
    String::from_utf8_lossy(&seen.inside_tls).into_owned()
}

/// The chain failed with `code`, one line on stderr saying `says`, PROG never ran.
#[track_caller]
fn assert_refused(output: &Output, started: bool, code: i32, says: &str) {
    assert_eq!(output.code(), Some(code), "{output}");
    assert!(!started, "PROG must not run: {output}");
    let stderr = output.stderr_str();
    assert!(stderr.contains(says), "expected {says:?} in: {output}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {output}");
}

/// The client got as far as `<auth/>` and sent nothing after it: no
/// client-final, no new stream, no stanza.
#[track_caller]
fn assert_stopped_after_auth(seen: &Seen) {
    let sent = sent(seen);
    assert!(sent.contains("</auth>"), "{sent}");
    let after = &sent[sent.find("</auth>").unwrap() + "</auth>".len()..];
    for forbidden in [
        "<response",
        "<stream:stream",
        "<iq",
        "<message",
        "<presence",
    ] {
        assert!(
            !after.contains(forbidden),
            "{forbidden} sent after <auth/>: {sent}"
        );
    }
}

#[test]
fn the_honest_scram_server_is_accepted() {
    // The control for the tests below: with the right server signature,
    // the client goes on to restart the stream (and stops only because this
    // server offers no resource binding).
    let setup = Setup::new();
    for mechanism in ["SCRAM-SHA-1", "SCRAM-SHA-256"] {
        let server = setup.server(SaslPlay::Correct {
            password: "correct horse".into(),
        });
        let (output, started, _) = setup.login(&server, &["--mechanism", mechanism]);
        assert_refused(&output, started, 76, "resource binding");
        let sent = sent(&server.finish());
        assert!(sent.contains(&format!("mechanism='{mechanism}'")), "{sent}");
        assert!(sent.contains("<response"), "{sent}");
        assert_eq!(sent.matches("<stream:stream").count(), 2, "{sent}");
    }
}

#[test]
fn a_wrong_server_signature_is_refused_with_77() {
    let setup = Setup::new();
    for mechanism in ["SCRAM-SHA-1", "SCRAM-SHA-256"] {
        let server = setup.server(SaslPlay::WrongSignature);
        let (output, started, _) = setup.login(&server, &["--mechanism", mechanism]);
        assert_refused(&output, started, 77, "server signature");
        let sent = sent(&server.finish());
        let after = &sent[sent.find("</response>").expect("a client-final") + 11..];
        assert!(!after.contains("<stream:stream"), "no new stream: {sent}");
        assert!(
            !after.contains("<iq") && !after.contains("<message"),
            "{sent}"
        );
    }
}

#[test]
fn a_nonce_that_does_not_extend_ours_is_refused_before_client_final() {
    let setup = Setup::new();
    for (server_first, says) in [
        (
            "r=someone-elses-nonce,s=c2FsdA==,i=4096",
            "does not start with the client's nonce",
        ),
        (
            "r=x{cnonce},s=c2FsdA==,i=4096",
            "does not start with the client's nonce",
        ),
        ("r={cnonce},s=c2FsdA==,i=4096", "did not add its part"),
    ] {
        let server = setup.server(SaslPlay::ServerFirst(server_first.into()));
        let (output, started, _) = setup.login(&server, &[]);
        assert_refused(&output, started, 76, says);
        assert_stopped_after_auth(&server.finish());
    }
}

#[test]
fn iteration_counts_out_of_bounds_are_refused_at_once() {
    let setup = Setup::new();
    let max = xmpp_pipes::sasl::MAX_ITERATIONS.to_string();
    assert_eq!(max, "10000000", "the documented maximum (xmpp-auth(1))");
    for count in [
        "0",
        "100000000",
        "10000001",
        "18446744073709551617",
        "-1",
        "",
    ] {
        let server = setup.server(SaslPlay::ServerFirst(format!(
            "r={{cnonce}}srv,s=c2FsdA==,i={count}"
        )));
        let (output, started, took) = setup.login(&server, &[]);
        assert_refused(&output, started, 76, &format!("not between 1 and {max}"));
        assert_stopped_after_auth(&server.finish());
        // 10^8 rounds of PBKDF2 in a debug build take minutes.
        assert!(took < Duration::from_secs(15), "took {took:?}: {output}");
    }
}

#[test]
fn malformed_base64_from_the_server_is_refused() {
    let setup = Setup::new();
    let cases = [
        // The challenge itself.
        SaslPlay::Raw(format!(
            "<challenge xmlns='{NS_SASL}'>!!not*base64!!</challenge>"
        )),
        SaslPlay::Raw(format!("<challenge xmlns='{NS_SASL}'>cj1h=YQ</challenge>")),
        // The salt inside a well-encoded server-first.
        SaslPlay::ServerFirst("r={cnonce}srv,s=!!!,i=4096".into()),
    ];
    for play in cases {
        let server = setup.server(play);
        let (output, started, _) = setup.login(&server, &[]);
        assert_refused(&output, started, 76, "base64");
        assert_stopped_after_auth(&server.finish());
    }
}

#[test]
fn a_reset_in_the_middle_of_sasl_is_75() {
    let setup = Setup::new();
    let cases = [
        SaslPlay::ResetAfterServerFirst,
        // In the middle of an element.
        SaslPlay::RawThenReset(format!("<challenge xmlns='{NS_SASL}'>cj1")),
    ];
    for play in cases {
        let server = setup.server(play);
        let (output, started, _) = setup.login(&server, &[]);
        assert_eq!(output.code(), Some(75), "{output}");
        assert!(!started, "{output}");
        // Exactly one line: xmpp-auth's (xmpp-connect stays quiet about the
        // reset when its PROG failed and said so).
        let stderr = output.stderr_str();
        assert_eq!(stderr.lines().count(), 1, "one line: {output}");
        assert!(stderr.starts_with("xmpp-auth: "), "{output}");
        server.finish();
    }
}

/// RFC 6120 §4.9.3, and the status each maps to (xmpp-auth(1)): 77 for
/// those that refuse us, 75 for those worth a retry, 76 for the rest.
const STREAM_ERRORS: &[(&str, i32)] = &[
    ("bad-format", 76),
    ("bad-namespace-prefix", 76),
    ("conflict", 75),
    ("connection-timeout", 75),
    ("host-gone", 76),
    ("host-unknown", 77),
    ("improper-addressing", 77),
    ("internal-server-error", 76),
    ("invalid-from", 76),
    ("invalid-namespace", 76),
    ("invalid-xml", 76),
    ("not-authorized", 77),
    ("not-well-formed", 76),
    ("policy-violation", 77),
    ("remote-connection-failed", 75),
    ("reset", 75),
    ("resource-constraint", 75),
    ("restricted-xml", 76),
    ("see-other-host", 75),
    ("system-shutdown", 75),
    ("undefined-condition", 76),
    ("unsupported-encoding", 76),
    ("unsupported-feature", 76),
    ("unsupported-stanza-type", 76),
    ("unsupported-version", 76),
];

#[test]
fn every_stream_error_during_negotiation_is_named_with_its_status() {
    let setup = Setup::new();
    for &(condition, code) in STREAM_ERRORS {
        let content = if condition == "see-other-host" {
            "other.example:5222"
        } else {
            ""
        };
        let server = setup.server(SaslPlay::Raw(format!(
            "<stream:error><{condition} xmlns='{NS_STREAMS}'>{content}</{condition}>\
             <text xmlns='{NS_STREAMS}'>scripted</text></stream:error></stream:stream>"
        )));
        let (output, started, _) = setup.login(&server, &[]);
        assert_refused(
            &output,
            started,
            code,
            &format!("stream error: {condition} (scripted)"),
        );
        if condition == "see-other-host" {
            assert!(
                output
                    .stderr_str()
                    .contains("the server sends us to other.example:5222"),
                "{output}"
            );
        }
        assert_stopped_after_auth(&server.finish());
    }
}

#[test]
fn a_starttls_never_answered_times_out_with_75() {
    let server = Hostile::start(Script::StartTlsNoProceed);
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .args(["--timeout", "2", "--host", &server.host(), "localhost"])
        .args(["sh", "-c", "exit 0"]);
    let start = Instant::now();
    let output = run(command, b"", LIMIT);
    let took = start.elapsed();
    assert_refused(&output, false, 75, "timed out");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let seen = server.finish();
    assert!(seen.before_tls.contains("<starttls"), "{seen:?}");
    assert!(!seen.before_tls.contains("<auth"), "{seen:?}");
}

#[test]
fn a_slow_loris_server_hits_the_login_timeout() {
    let setup = Setup::new();
    // Some 600 bytes at 0.2 s each: two minutes, unless the client gives up.
    let challenge = format!(
        "<challenge xmlns='{NS_SASL}'>{}</challenge>",
        "A".repeat(600)
    );
    let server = setup.server(SaslPlay::SlowLoris(challenge, Duration::from_millis(200)));
    let (output, started, took) = setup.login(&server, &["--timeout", "2"]);
    assert_refused(&output, started, 75, "timed out after 2 s logging in");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert_stopped_after_auth(&server.finish());
}

#[test]
fn a_dtd_or_an_entity_bomb_during_login_is_refused_with_bounded_memory() {
    let setup = Setup::new();
    let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                  xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='h' from='localhost'>";
    let mut laughs = String::from("<!DOCTYPE lolz [<!ENTITY lol0 'lol'>");
    for i in 1..10 {
        let prev = format!("&lol{};", i - 1).repeat(10);
        laughs.push_str(&format!("<!ENTITY lol{i} '{prev}'>"));
    }
    laughs.push(']');
    laughs.push('>');
    let cases = [
        // A DTD before the stream header: billion laughs.
        SaslPlay::Header(format!(
            "<?xml version='1.0'?>{laughs}<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
             <stream:features>&lol9;</stream:features>"
        )),
        // A DTD after it.
        SaslPlay::Header(format!("{header}{laughs}<stream:features/>")),
        // An entity reference (undeclared) in answer to <auth/>.
        SaslPlay::Raw(format!(
            "<challenge xmlns='{NS_SASL}'>&lol9;&lol9;</challenge>"
        )),
        // An external entity.
        SaslPlay::Raw(format!(
            "<!DOCTYPE c [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><challenge xmlns='{NS_SASL}'>&x;</challenge>"
        )),
    ];
    for play in cases {
        let server = setup.server(play);
        let (output, started, _) = setup.login(&server, &[]);
        assert_eq!(output.code(), Some(76), "{output}");
        assert!(!started, "{output}");
        assert_eq!(output.stderr_str().lines().count(), 1, "{output}");
        let stderr = output.stderr_str();
        assert!(
            stderr.contains("forbidden in XMPP") || stderr.contains("malformed XML"),
            "{output}"
        );
        let sent = sent(&server.finish());
        assert!(!sent.contains("<response"), "{sent}");
    }
}

#[test]
fn an_oversized_element_during_login_is_refused_with_bounded_memory() {
    let setup = Setup::new();
    // Past xmpp-auth's 16 MiB bound; under RLIMIT_AS of 1 GiB.
    let huge = format!(
        "<challenge xmlns='{NS_SASL}'>{}</challenge>",
        "A".repeat(20 << 20)
    );
    let server = setup.server(SaslPlay::Raw(huge));
    let (output, started, _) = setup.login(&server, &[]);
    assert_refused(&output, started, 76, "larger than 16777216 bytes");
    assert_stopped_after_auth(&server.finish());
}

#[test]
fn invalid_utf8_and_an_endless_attribute_during_login_are_refused() {
    let setup = Setup::new();
    // Invalid UTF-8 inside the challenge: a lone continuation byte, an
    // overlong encoding, a surrogate.
    for bad in [&b"\x80"[..], b"\xc0\xaf", b"\xed\xa0\x80"] {
        let mut bytes = format!("<challenge xmlns='{NS_SASL}'>").into_bytes();
        bytes.extend_from_slice(bad);
        bytes.extend_from_slice(b"</challenge>");
        let server = setup.server(SaslPlay::Bytes(bytes));
        let (output, started, _) = setup.login(&server, &[]);
        assert_eq!(output.code(), Some(76), "{bad:?}: {output}");
        assert!(!started, "{output}");
        assert_eq!(output.stderr_str().lines().count(), 1, "{output}");
        let sent = sent(&server.finish());
        assert!(!sent.contains("<response"), "{sent}");
    }
    // An attribute value that never ends: refused at the element bound
    // (16 MiB during login), not read forever; memory stays bounded (the
    // run is under RLIMIT_AS).
    let server = setup.server(SaslPlay::EndlessAttribute(64 << 20));
    let (output, started, _) = setup.login(&server, &[]);
    assert_eq!(output.code(), Some(76), "{output}");
    assert!(!started, "{output}");
    assert!(output.stderr_str().contains("larger than"), "{output}");
    server.finish();
}

#[test]
fn a_reset_in_the_middle_of_a_stanza_passes_on_only_whole_stanzas() {
    let setup = Setup::new();
    let whole = "<message from='bob@localhost/pc' to='alice@localhost/hostile' type='chat'>\
                 <body>whole</body></message>";
    let (output, received) = setup.session(SessionPlay::RawThenReset(format!(
        "{whole}<message from='bob@localhost/pc' type='chat'><body>half of it"
    )));
    assert_eq!(output.code(), Some(75), "{output}");
    let stderr = output.stderr_str();
    assert_eq!(stderr.lines().count(), 1, "{output}");
    assert!(stderr.starts_with("xmpp-auth: "), "{output}");
    // Downstream got the whole stanza as one line, and nothing of the half.
    assert_eq!(received.lines().count(), 1, "{received:?} {output}");
    assert!(received.starts_with("<message ") && received.contains("<body>whole</body>"));
    assert!(!received.contains("half"), "{received:?}");
}

#[test]
fn a_one_gib_stanza_in_the_session_is_refused_with_bounded_memory() {
    let setup = Setup::new();
    // 1 GiB of text in one message, made as it is sent; the chain runs
    // under RLIMIT_AS of 1 GiB and must refuse it at its 16 MiB bound.
    let (output, received) = setup.session(SessionPlay::Endless(
        "<message from='bob@localhost/pc' type='chat'><body>".into(),
        1 << 30,
    ));
    assert_eq!(output.code(), Some(76), "{output}");
    let stderr = output.stderr_str();
    assert_eq!(stderr.lines().count(), 1, "{output}");
    assert!(stderr.contains("larger than 16777216 bytes"), "{output}");
    assert_eq!(received, "", "nothing of it reaches downstream");
}

#[test]
fn a_stanza_nested_too_deep_in_the_session_is_refused_with_76() {
    let setup = Setup::new();
    let whole = "<message from='bob@localhost/pc' type='chat'><body>before</body></message>";
    let depth = 100_000;
    let deep = format!(
        "<message from='bob@localhost/pc'>{}{}</message>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let (output, received) = setup.session(SessionPlay::RawThenReset(format!("{whole}{deep}")));
    assert_eq!(output.code(), Some(76), "{output}");
    let stderr = output.stderr_str();
    assert_eq!(stderr.lines().count(), 1, "{output}");
    assert!(stderr.contains("nested more than 256 deep"), "{output}");
    assert_eq!(received.lines().count(), 1, "{received:?}");
    assert!(received.contains("<body>before</body>"), "{received:?}");
}

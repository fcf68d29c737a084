//! xmpp-connect against servers that misbehave on purpose (no real server
//! does these things): missing STARTTLS, `<failure/>`, bytes injected after
//! `<proceed/>`, silence, and certificates that are wrong for the domain.
//! Plus the bad input a user can give on the command line.

use harness::{run, tool, Hostile, Output, Pki, Script, TempDir};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// xmpp-connect with `args`, DOMAIN `localhost` and a PROG that only leaves
/// a mark; returns the output and whether PROG ran.
fn connect(args: &[&str]) -> (Output, bool) {
    let dir = TempDir::new("hostile");
    let marker = dir.join("started");
    let mut command = Command::new(tool("xmpp-connect"));
    command.args(args).arg("localhost").args([
        "sh",
        "-c",
        &format!("touch '{}'", marker.display()),
    ]);
    let output = run(command, b"", LIMIT);
    (output, marker.exists())
}

fn assert_refused(output: &Output, started: bool, code: i32, says: &str) {
    assert_eq!(output.code(), Some(code), "{output}");
    assert!(!started, "PROG must not run: {output}");
    let stderr = output.stderr_str();
    assert!(stderr.contains(says), "expected {says:?} in: {output}");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {output}");
}

#[test]
fn a_server_without_starttls_is_refused() {
    let server = Hostile::start(Script::NoStartTls);
    let (output, started) = connect(&["--host", &server.host()]);
    assert_refused(&output, started, 76, "does not offer STARTTLS");
    let seen = server.finish();
    assert!(!seen.before_tls.contains("<auth"), "{seen:?}");
}

#[test]
fn a_starttls_failure_is_reported_by_name() {
    let server = Hostile::start(Script::StartTlsFailure);
    let (output, started) = connect(&["--host", &server.host()]);
    assert_refused(&output, started, 76, "<failure/>");
    server.finish();
}

#[test]
fn bytes_injected_after_proceed_are_refused() {
    let server = Hostile::start(Script::DataAfterProceed);
    let (output, started) = connect(&["--host", &server.host()]);
    assert_refused(&output, started, 76, "after <proceed/>");
    server.finish();
}

#[test]
fn a_silent_server_times_out_with_75() {
    let server = Hostile::start(Script::Silent);
    let (output, started) = connect(&["--timeout", "1", "--host", &server.host()]);
    assert_refused(&output, started, 75, "timed out");
    server.finish();
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let pki = Pki::new();
    let ca = pki.ca_pem.to_str().unwrap().to_owned();
    for starttls in [true, false] {
        let cert = pki.issue(&["other.example"]);
        let server = Hostile::start(Script::Tls { cert, starttls });
        let mut args = vec!["--cafile", &ca];
        if !starttls {
            args.push("--direct-tls");
        }
        let host = server.host();
        args.extend(["--host", &host]);
        let (output, started) = connect(&args);
        assert_refused(&output, started, 77, "not valid for localhost");
        let seen = server.finish();
        assert!(!seen.handshake_done, "{seen:?}");
        assert!(seen.inside_tls.is_empty());
    }
}

#[test]
fn an_expired_certificate_is_refused() {
    let pki = Pki::new();
    let ca = pki.ca_pem.to_str().unwrap().to_owned();
    let server = Hostile::start(Script::Tls {
        cert: pki.issue_expired(&["localhost"]),
        starttls: false,
    });
    let (output, started) = connect(&["--cafile", &ca, "--direct-tls", "--host", &server.host()]);
    assert_refused(&output, started, 77, "expired");
    server.finish();
}

#[test]
fn a_self_signed_certificate_is_accepted_only_by_its_pin() {
    let cert = Pki::self_signed(&["localhost"]);
    let pin = cert.pin.clone();

    // Not trusted without the pin; the error shows the key to check.
    let server = Hostile::start(Script::Tls {
        cert: cert.clone(),
        starttls: true,
    });
    let (output, started) = connect(&["--host", &server.host()]);
    assert_refused(&output, started, 77, &pin);
    server.finish();

    // Another pin: refused, naming the real one.
    let other = Pki::self_signed(&["localhost"]).pin;
    let server = Hostile::start(Script::Tls {
        cert: cert.clone(),
        starttls: true,
    });
    let (output, started) = connect(&["--pin", &other, "--host", &server.host()]);
    assert_refused(&output, started, 77, &pin);
    assert!(!server.finish().handshake_done);

    // The right pin: PROG runs with the TLS facts and its bytes arrive.
    let server = Hostile::start(Script::Tls {
        cert,
        starttls: true,
    });
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .args(["--pin", &pin, "--host", &server.host(), "localhost"])
        .args([
            "sh",
            "-c",
            "printf '%s|%s|%s|%s' \"$XMPP_DOMAIN\" \"$SSL_PROTOCOL\" \"$TCPREMOTEIP\" \"${XMPP_TLS_EXPORTER:+exporter}\" >&7",
        ]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    let seen = server.finish();
    assert!(seen.handshake_done);
    assert_eq!(
        String::from_utf8_lossy(&seen.inside_tls),
        "localhost|TLSv1.3|127.0.0.1|exporter"
    );
}

#[test]
fn prog_status_is_passed_on_and_prog_sees_the_servers_bytes() {
    let pki = Pki::new();
    let ca = pki.ca_pem.to_str().unwrap().to_owned();
    let server = Hostile::start(Script::Tls {
        cert: pki.issue(&["localhost"]),
        starttls: false,
    });
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .args([
            "--cafile",
            &ca,
            "--direct-tls",
            "--host",
            &server.host(),
            "localhost",
        ])
        .args(["sh", "-c", "echo ping >&7; exit 3"]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(3), "{output}");
    assert_eq!(server.finish().inside_tls, b"ping\n");
}

#[test]
fn bridge_mode_sends_stdin_and_ends_cleanly() {
    let pki = Pki::new();
    let ca = pki.ca_pem.to_str().unwrap().to_owned();
    let server = Hostile::start(Script::Tls {
        cert: pki.issue(&["localhost"]),
        starttls: true,
    });
    let mut command = Command::new(tool("xmpp-connect"));
    command.args(["--cafile", &ca, "--host", &server.host(), "localhost"]);
    let payload = "x".repeat(300_000);
    let output = run(command, payload.as_bytes(), LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(server.finish().inside_tls.len(), payload.len());
}

#[test]
fn nothing_listening_is_a_temporary_failure() {
    let port = harness::free_port();
    let (output, started) = connect(&["--host", &format!("127.0.0.1:{port}")]);
    assert_refused(&output, started, 75, "cannot connect");
}

#[test]
fn bad_command_lines_are_usage_errors() {
    for args in [
        &[][..],
        &["--host"],
        &["--pin", "md5:abc", "localhost"],
        &["--pin", "sha256:short", "localhost"],
        &["--direct-tls", "localhost"],
        &["--timeout", "never", "localhost"],
        &["--host", "[::1", "localhost"],
        &["--resolver", "dns.example", "localhost"],
        &["--no-such-option", "localhost"],
        &["not a domain"],
    ] {
        let output = run(
            {
                let mut c = Command::new(tool("xmpp-connect"));
                c.args(args);
                c
            },
            b"",
            LIMIT,
        );
        assert_eq!(output.code(), Some(64), "{args:?}: {output}");
        assert_eq!(output.stderr_str().lines().count(), 1, "{args:?}: {output}");
        assert!(
            output.stderr_str().starts_with("xmpp-connect: "),
            "{output}"
        );
    }
}

#[test]
fn an_unusable_cafile_is_a_configuration_error_before_connecting() {
    let dir = TempDir::new("cafile");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    // The port is never contacted: the file is read first.
    for file in [junk, dir.join("missing.pem")] {
        let (output, started) =
            connect(&["--cafile", file.to_str().unwrap(), "--host", "127.0.0.1:1"]);
        assert_refused(&output, started, 78, "--cafile");
    }
}

#[test]
fn a_missing_prog_is_127() {
    let pki = Pki::new();
    let ca = pki.ca_pem.to_str().unwrap().to_owned();
    let server = Hostile::start(Script::Tls {
        cert: pki.issue(&["localhost"]),
        starttls: false,
    });
    let mut command = Command::new(tool("xmpp-connect"));
    command.args([
        "--cafile",
        &ca,
        "--direct-tls",
        "--host",
        &server.host(),
        "localhost",
        "/nonexistent/prog",
    ]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(127), "{output}");
    assert!(
        output.stderr_str().contains("/nonexistent/prog"),
        "{output}"
    );
    server.finish();
}

#[test]
fn plaintext_warns_and_strips_stale_tls_facts() {
    let server = Hostile::start(Script::Silent);
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .env("SSL_PROTOCOL", "TLSv1.3")
        .env("XMPP_TLS_EXPORTER", "forged")
        .args(["--plaintext", "--host", &server.host(), "localhost"])
        .args([
            "sh",
            "-c",
            "echo \"[${SSL_PROTOCOL-unset}${XMPP_TLS_EXPORTER-unset}]\" >&7",
        ]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert!(output.stderr_str().contains("--plaintext"), "{output}");
    assert_eq!(server.finish().before_tls, "[unsetunset]\n");
}

//! The chain against a second server implementation: ejabberd (Debian's
//! package) started by the harness on 127.0.0.1, passwords stored as
//! SCRAM-SHA-256. And go-sendxmpp through it, both ways.
//!
//! ejabberd only runs as root here (Debian's ejabberdctl refuses other
//! users, and the harness switches to the `ejabberd` user); without it, or
//! without root, the tests say SKIPPED on stderr and pass (they fail instead
//! under tests/run as root, which installs it).

use harness::{
    chat, connect, login, online_with, run, tool, Ejabberd, GoSendxmpp, Signal, TempDir, Transport,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// xmpp-auth's arguments for SCRAM-SHA-256 without channel binding. Its
/// default choice, SCRAM-SHA-256-PLUS with tls-exporter, is refused by
/// ejabberd 23.01: see [`the_default_mechanism_choice_logs_in`].
const SCRAM_256: [&str; 2] = ["--mechanism", "SCRAM-SHA-256"];

/// The shared ejabberd, or None (with a SKIPPED line) if it cannot run here.
fn ejabberd(test: &str) -> Option<&'static Ejabberd> {
    match Ejabberd::unavailable() {
        Some(why) => {
            harness::skip(test, &why);
            None
        }
        None => Some(Ejabberd::shared()),
    }
}

/// Logs in over `transport` with `auth_args`, sends one message to an
/// online receiver, closes stdin: the chain exits 0 once ejabberd has
/// acknowledged it (stream management), and the receiver gets it.
fn deliver(ejabberd: &Ejabberd, transport: Transport, auth_args: &[&str]) {
    let (alice, bob) = (ejabberd.new_account("alice"), ejabberd.new_account("bob"));
    let mut receiver = online_with(ejabberd, &bob, &SCRAM_256);
    let body = format!(
        "hello ejabberd over {transport:?} {}",
        harness::random_string(8)
    );
    let output = run(
        login(ejabberd, &alice, transport, auth_args),
        chat(&bob.jid, &body).as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "a successful send is silent");
    let line = receiver.expect_line(LIMIT, |line| line.contains(&body));
    assert!(line.starts_with("<message"), "{line}");
    assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");
}

#[test]
fn starttls_login_with_scram_sha_256_delivers_a_message() {
    if let Some(e) = ejabberd("starttls_login_with_scram_sha_256_delivers_a_message") {
        deliver(e, Transport::StartTls, &SCRAM_256);
    }
}

#[test]
fn direct_tls_login_with_scram_sha_256_delivers_a_message() {
    if let Some(e) = ejabberd("direct_tls_login_with_scram_sha_256_delivers_a_message") {
        deliver(e, Transport::DirectTls, &SCRAM_256);
    }
}

/// Fails with ejabberd 23.01 (Debian 12's): xmpp-auth prefers
/// SCRAM-SHA-256-PLUS with tls-exporter binding (RFC 9266) when the server
/// offers -PLUS and the connection is TLS 1.3; ejabberd 23.01 (p1_xmpp
/// 1.6.1) knows only `tls-unique`, yet offers SCRAM-SHA-256-PLUS over TLS
/// 1.3 too and does not advertise its binding types (XEP-0440), so it
/// answers `<failure><not-authorized/><text>Invalid channel
/// binding</text></failure>` and xmpp-auth exits 77.
#[test]
fn the_default_mechanism_choice_logs_in() {
    if let Some(e) = ejabberd("the_default_mechanism_choice_logs_in") {
        deliver(e, Transport::StartTls, &[]);
    }
}

#[test]
fn without_stream_management_delivery_is_confirmed_by_a_ping() {
    if let Some(e) = ejabberd("without_stream_management_delivery_is_confirmed_by_a_ping") {
        deliver(
            e,
            Transport::StartTls,
            &["--mechanism", "SCRAM-SHA-256", "--no-stream-management"],
        );
    }
}

#[test]
fn scram_sha_1_is_not_offered_for_sha_256_passwords() {
    let Some(ejabberd) = ejabberd("scram_sha_1_is_not_offered_for_sha_256_passwords") else {
        return;
    };
    let alice = ejabberd.new_account("alice");
    let output = run(
        login(
            ejabberd,
            &alice,
            Transport::StartTls,
            &["--mechanism", "SCRAM-SHA-1"],
        ),
        b"",
        LIMIT,
    );
    assert_eq!(output.code(), Some(69), "{output}");
    assert!(output.stderr_str().contains("SCRAM-SHA-1"), "{output}");
}

#[test]
fn a_wrong_password_is_refused_with_77() {
    let Some(ejabberd) = ejabberd("a_wrong_password_is_refused_with_77") else {
        return;
    };
    let alice = ejabberd.new_account("alice");
    let dir = TempDir::new("wrongpw");
    let file = dir.join("pw");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .and_then(|mut f| f.write_all(b"not the password"))
            .unwrap();
    }
    let mut command = connect(ejabberd, Transport::StartTls);
    command
        .arg(tool("xmpp-auth"))
        .arg("--password-file")
        .arg(&file)
        .arg(&alice.jid);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(77), "{output}");
    assert!(output.stderr_str().contains("not-authorized"), "{output}");
    assert_eq!(output.stderr_str().lines().count(), 1, "{output}");
}

#[test]
fn the_receiver_gets_lines_and_the_server_closes() {
    let Some(ejabberd) = ejabberd("the_receiver_gets_lines_and_the_server_closes") else {
        return;
    };
    let bob = ejabberd.new_account("bob");
    let mut receiver = online_with(ejabberd, &bob, &SCRAM_256);
    receiver.close_stdin();
    receiver.expect_line(LIMIT, |line| line == "</stream:stream>");
    let status = receiver.wait_timeout(LIMIT).expect("the receiver exits");
    assert_eq!(status.code(), Some(0), "{}", receiver.stderr());
}

/// A private ejabberd, frozen with SIGSTOP: what the chain sent is never
/// acknowledged, and the chain says so with 75 once its timeout is over.
#[test]
fn unacknowledged_stanzas_are_reported_with_75() {
    if let Some(why) = Ejabberd::unavailable() {
        harness::skip("unacknowledged_stanzas_are_reported_with_75", &why);
        return;
    }
    let ejabberd = Ejabberd::start();
    let alice = ejabberd.new_account("alice");
    let mut session = online_with(
        &ejabberd,
        &alice,
        &["--mechanism", "SCRAM-SHA-256", "--timeout", "2"],
    );
    ejabberd.signal(Signal::STOP);
    session.write(chat(&alice.jid, "into the void").as_bytes());
    session.close_stdin();
    let status = session.wait_timeout(LIMIT);
    ejabberd.signal(Signal::CONT);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(75),
        "{}",
        session.stderr()
    );
    assert!(
        session
            .stderr()
            .contains("stanzas sent were not acknowledged"),
        "{}",
        session.stderr()
    );
}

#[test]
fn ejabberd_listens_on_loopback_only_and_ejabberdctl_reaches_it() {
    let Some(ejabberd) = ejabberd("ejabberd_listens_on_loopback_only_and_ejabberdctl_reaches_it")
    else {
        return;
    };
    let ports = [
        ejabberd.starttls_port(),
        ejabberd.direct_tls_port(),
        ejabberd.dist_port(),
    ];
    // /proc/net/tcp{,6}: "sl local_address rem_address st …", LISTEN is 0A.
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some("0A")) = (fields.get(1), fields.get(3).copied()) else {
                continue;
            };
            let Some((addr, port)) = local.split_once(':') else {
                continue;
            };
            let port = u16::from_str_radix(port, 16).unwrap();
            if ports.contains(&port) {
                listening.push((port, addr.to_string()));
            }
        }
    }
    for port in ports {
        let addrs: Vec<&str> = listening
            .iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, a)| a.as_str())
            .collect();
        // 127.0.0.1 in /proc/net/tcp's byte order.
        assert_eq!(addrs, ["0100007F"], "port {port}: {listening:?}");
    }
    let output = ejabberd.ctl_run(&["status"]);
    assert_eq!(output.code(), Some(0), "{output}");
    assert!(output.stdout_str().contains(ejabberd.node()), "{output}");
}

fn have_go_sendxmpp(test: &str) -> bool {
    let found = GoSendxmpp::program().is_some();
    if !found {
        harness::skip(
            test,
            "go-sendxmpp is not installed (apt-get install go-sendxmpp)",
        );
    }
    found
}

#[test]
fn go_sendxmpp_and_the_chain_talk_through_ejabberd() {
    const TEST: &str = "go_sendxmpp_and_the_chain_talk_through_ejabberd";
    let Some(ejabberd) = ejabberd(TEST) else {
        return;
    };
    if !have_go_sendxmpp(TEST) {
        return;
    }
    let (alice, bob) = (ejabberd.new_account("alice"), ejabberd.new_account("bob"));

    // go-sendxmpp to the chain.
    let mut receiver = online_with(ejabberd, &bob, &SCRAM_256);
    let marker = harness::random_string(8);
    let output = GoSendxmpp::new(ejabberd, &alice, Transport::DirectTls)
        .send(&bob.jid, &format!("from go {marker}\n"));
    assert_eq!(output.code(), Some(0), "{output}");
    let line = receiver.expect_line(LIMIT, |line| line.contains(&marker));
    assert!(line.starts_with("<message"), "{line}");
    assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");
    drop(receiver);

    // The chain to go-sendxmpp.
    let mut listener = GoSendxmpp::new(ejabberd, &bob, Transport::StartTls).listen();
    let marker = harness::random_string(8);
    let output = run(
        login(ejabberd, &alice, Transport::StartTls, &SCRAM_256),
        chat(&bob.jid, &format!("to go {marker}")).as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    let line = listener.expect_line(LIMIT, |line| line.contains(&marker));
    assert!(
        line.ends_with(&format!(" {}: to go {marker}", alice.jid)),
        "{line:?}"
    );
}

//! End to end: xmpp-connect and xmpp-auth against a real Prosody on
//! 127.0.0.1 (and a dnsmasq for SRV records), as a user would run them; the
//! logins and deliveries against each of the four harness servers (Prosody
//! 0.12 and 13, ejabberd 23.01 and 24.12).

use harness::{
    chat, connect, login, online, run, tool, Dns, Prosody, Server, Signal, SrvRecord, TempDir,
    Transport,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Send one message from a new account to a receiver that is online, over `transport`
/// with extra xmpp-auth arguments; check the chain's status and the delivery.
fn deliver(server: &dyn Server, transport: Transport, auth_args: &[&str]) {
    let (alice, bob) = (server.new_account("alice"), server.new_account("bob"));
    let mut receiver = online(server, &bob);
    let body = format!("hello over {transport:?} {}", harness::random_string(8));
    let output = run(
        login(server, &alice, transport, auth_args),
        chat(&bob.jid, &body).as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "a successful send is silent");
    let line = receiver.expect_line(LIMIT, |line| line.contains(&body));
    assert!(line.starts_with("<message"), "{line}");
    assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");
}

harness::on_every_server! {
    fn starttls_login_delivers_a_message(server) {
        deliver(server, Transport::StartTls, &[]);
    }

    fn direct_tls_login_delivers_a_message(server) {
        deliver(server, Transport::DirectTls, &[]);
    }

    fn without_stream_management_delivery_is_confirmed_by_a_ping(server) {
        deliver(server, Transport::StartTls, &["--no-stream-management"]);
    }

    fn the_receiver_gets_lines_and_the_servers_close(server) {
        let bob = server.new_account("bob");
        let mut receiver = online(server, &bob);
        receiver.close_stdin();
        receiver.expect_line(LIMIT, |line| line == "</stream:stream>");
        let status = receiver.wait_timeout(LIMIT).expect("the receiver exits");
        assert_eq!(status.code(), Some(0), "{}", receiver.stderr());
    }

    fn prog_gets_the_stream_on_fds_6_and_7_and_its_status_is_passed_on(server) {
        let (alice, bob) = (server.new_account("alice"), server.new_account("bob"));
        let mut receiver = online(server, &bob);
        let dir = TempDir::new("prog");
        let script = format!(
            "printf '%s' \"$XMPP_JID\" > '{jid}'; printf '%s' \"$XMPP_DOMAIN $SSL_PROTOCOL\" > '{tls}'; \
             printf \"<message to='{to}'><body>from prog</body></message>\" >&7; exec 7>&-; \
             cat <&6 > '{seen}'; exit 3",
            jid = dir.join("jid").display(),
            tls = dir.join("tls").display(),
            seen = dir.join("seen").display(),
            to = bob.jid
        );
        let mut command = login(server, &alice, Transport::StartTls, &[]);
        command.args(["sh", "-c", &script]);
        let output = run(command, b"", LIMIT);
        assert_eq!(
            output.code(),
            Some(3),
            "PROG's status is the chain's: {output}"
        );
        receiver.expect_line(LIMIT, |line| line.contains("from prog"));
        let jid = std::fs::read_to_string(dir.join("jid")).unwrap();
        assert!(
            jid.starts_with(&format!("{}/", alice.jid)),
            "XMPP_JID is the bound full JID: {jid:?}"
        );
        let tls = std::fs::read_to_string(dir.join("tls")).unwrap();
        assert!(tls.starts_with("localhost TLSv1."), "{tls:?}");
        let seen = std::fs::read_to_string(dir.join("seen")).unwrap();
        assert!(
            seen.ends_with("</stream:stream>\n"),
            "PROG saw the server's close: {seen:?}"
        );
    }

    fn a_wrong_password_is_refused_with_77(server) {
        let alice = server.new_account("alice");
        let dir = TempDir::new("wrongpw");
        let file = dir.join("pw");
        write_private(&file, "not the password");
        let mut command = connect(server, Transport::StartTls);
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
}

#[test]
fn options_after_the_jid_belong_to_prog() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let mut command = login(prosody, &alice, Transport::StartTls, &[]);
    command.args([
        "sh",
        "-c",
        "exec 7>&-; cat <&6 >/dev/null; test \"$1\" = --timeout && exit 4",
        "sh",
        "--timeout",
    ]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(4), "{output}");
}

fn write_private(path: &std::path::Path, content: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(content.as_bytes()).unwrap();
}

/// Run xmpp-connect with `args` and a PROG that leaves a marker if it ever starts.
fn connect_refused(args: &[&str], domain: &str) -> (harness::Output, bool) {
    let dir = TempDir::new("refused");
    let marker = dir.join("started");
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .args(args)
        .arg(domain)
        .args(["sh", "-c", &format!("touch '{}'", marker.display())]);
    let output = run(command, b"", LIMIT);
    (output, marker.exists())
}

#[test]
fn an_untrusted_certificate_stops_before_any_credential_is_sent() {
    let prosody = Prosody::shared();
    let host = format!("127.0.0.1:{}", prosody.starttls_port());
    let other_ca = prosody.pki().other_ca_pem.to_str().unwrap().to_owned();
    let (output, started) = connect_refused(&["--host", &host, "--cafile", &other_ca], "localhost");
    assert_eq!(output.code(), Some(77), "{output}");
    assert!(!started, "the next program must not run");
    // Without --cafile, the public roots do not know the test CA either.
    let (output, started) = connect_refused(&["--host", &host], "localhost");
    assert_eq!(output.code(), Some(77), "{output}");
    assert!(!started);
}

#[test]
fn the_pin_accepts_exactly_the_servers_key() {
    let prosody = Prosody::shared();
    let host = format!("127.0.0.1:{}", prosody.starttls_port());
    let wrong = "sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let (output, started) = connect_refused(&["--host", &host, "--pin", wrong], "localhost");
    assert_eq!(output.code(), Some(77), "{output}");
    assert!(
        output.stderr_str().contains(&prosody.pki().pin),
        "the message gives the server's pin: {output}"
    );
    assert!(!started);

    let alice = prosody.new_account("alice");
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .args(["--host", &host, "--pin", &prosody.pki().pin, "localhost"])
        .arg(tool("xmpp-auth"))
        .arg("--password-file")
        .arg(&alice.password_file)
        .arg(&alice.jid);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
}

/// `xmpp-connect --resolver DNS --cafile CA localhost`: discovery through the test's DNS server.
fn resolver_connect(dns: &Dns, prosody: &Prosody) -> Command {
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .arg("--resolver")
        .arg(dns.addr().to_string())
        .arg("--cafile")
        .arg(prosody.ca_pem())
        .arg("localhost");
    command
}

/// Discover and connect, with a PROG that prints the port it was connected to.
fn discover(dns: &Dns, prosody: &Prosody) -> harness::Output {
    let mut command = resolver_connect(dns, prosody);
    command.args(["sh", "-c", "printf '%s' \"$TCPREMOTEPORT\""]);
    run(command, b"", LIMIT)
}

#[test]
fn srv_discovery_follows_priorities_across_both_services() {
    let prosody = Prosody::shared();
    let localhost = [("localhost", "127.0.0.1".parse().unwrap())];
    let dead = harness::free_port();
    // The lowest priority value first: direct TLS here, the dead STARTTLS target never tried.
    let dns = Dns::start_with_hosts(
        &[
            SrvRecord::direct_tls("localhost", "localhost", prosody.direct_tls_port()).priority(0),
            SrvRecord::client("localhost", "localhost", dead).priority(10),
        ],
        &localhost,
    );
    let output = discover(&dns, prosody);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), prosody.direct_tls_port().to_string());

    // A dead first choice: the next target by priority is tried.
    let dns = Dns::start_with_hosts(
        &[
            SrvRecord::client("localhost", "localhost", dead).priority(1),
            SrvRecord::client("localhost", "localhost", prosody.starttls_port()).priority(5),
            SrvRecord::direct_tls("localhost", "localhost", prosody.direct_tls_port()).priority(9),
        ],
        &localhost,
    );
    let output = discover(&dns, prosody);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), prosody.starttls_port().to_string());
}

#[test]
fn srv_dot_target_means_no_service() {
    let prosody = Prosody::shared();
    let dns = Dns::start(&[SrvRecord::no_service("_xmpp-client._tcp", "localhost")]);
    let output = discover(&dns, prosody);
    assert_eq!(output.code(), Some(69), "{output}");
    assert_eq!(output.stdout_str(), "", "PROG never ran");
}

#[test]
fn a_domain_that_does_not_exist_is_68_not_try_again_later() {
    let dns = Dns::start(&[]);
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .arg("--resolver")
        .arg(dns.addr().to_string())
        .args(["nosuch.invalid", "true"]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(68), "{output}");
    assert!(
        output.stderr_str().ends_with(
            "xmpp-connect: no such domain: nosuch.invalid does not exist in DNS (check its spelling)\n"
        ),
        "{output}"
    );
}

#[test]
fn a_full_login_through_srv_discovery() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let dns = Dns::start_with_hosts(
        &[SrvRecord::client(
            "localhost",
            "localhost",
            prosody.starttls_port(),
        )],
        &[("localhost", "127.0.0.1".parse().unwrap())],
    );
    let mut command = resolver_connect(&dns, prosody);
    command
        .arg(tool("xmpp-auth"))
        .arg("--password-file")
        .arg(&alice.password_file)
        .arg(&alice.jid);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
}

/// A plaintext server that offers only PLAIN, records what the client sends, and never authenticates.
#[test]
fn plain_is_refused_over_plaintext_without_sending_the_password() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut header = Vec::new();
        reader.read_until(b'>', &mut header).unwrap(); // <?xml ...?>
        reader.read_until(b'>', &mut header).unwrap(); // <stream:stream ...>
        let mut writer = stream;
        writer
            .write_all(
                b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                  xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='x' from='localhost'>\
                  <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
                  <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
            )
            .unwrap();
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        header.extend(rest);
        String::from_utf8_lossy(&header).into_owned()
    });
    let dir = TempDir::new("plain");
    let file = dir.join("pw");
    write_private(&file, "SECRET-PASSWORD");
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .args([
            "--plaintext",
            "--host",
            &format!("127.0.0.1:{port}"),
            "localhost",
        ])
        .arg(tool("xmpp-auth"))
        .args(["--mechanism", "PLAIN", "--password-file"])
        .arg(&file)
        .arg("user@localhost");
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(69), "{output}");
    assert!(output.stderr_str().contains("PLAIN"), "{output}");
    let seen = server.join().unwrap();
    assert!(
        !seen.contains("<auth"),
        "nothing was sent to authenticate: {seen}"
    );
    assert!(!seen.contains("SECRET"), "{seen}");
}

#[test]
fn the_password_stays_out_of_argv_and_the_environment_of_children() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let dir = TempDir::new("secret");
    let script = format!(
        "tr '\\0' '\\n' < /proc/$$/environ > '{env}'; tr '\\0' ' ' < /proc/$PPID/cmdline > '{cmdline}'; \
         exec 7>&-; cat <&6 > /dev/null",
        env = dir.join("env").display(),
        cmdline = dir.join("cmdline").display()
    );
    let mut command = connect(prosody, Transport::StartTls);
    command
        .arg(tool("xmpp-auth"))
        .arg(&alice.jid)
        .args(["sh", "-c", &script])
        .env("XMPP_PASSWORD", &alice.password);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    let env = std::fs::read_to_string(dir.join("env")).unwrap();
    let cmdline = std::fs::read_to_string(dir.join("cmdline")).unwrap();
    assert!(
        cmdline.contains("xmpp-auth"),
        "PROG's parent is xmpp-auth: {cmdline}"
    );
    assert!(
        !env.contains(&alice.password) && !env.contains("XMPP_PASSWORD"),
        "{env}"
    );
    assert!(!cmdline.contains(&alice.password), "{cmdline}");
}

#[test]
fn registration_creates_the_account() {
    let prosody = Prosody::shared();
    let user = harness::unique("newbie");
    let jid = format!("{user}@localhost");
    let dir = TempDir::new("register");
    let file = dir.join("pw");
    write_private(&file, &harness::random_string(20));
    let auth = |extra: &[&str]| {
        let mut command = connect(prosody, Transport::StartTls);
        command
            .arg(tool("xmpp-auth"))
            .args(extra)
            .arg("--password-file")
            .arg(&file)
            .arg(&jid);
        run(command, b"", LIMIT)
    };
    let output = auth(&[]);
    assert_eq!(
        output.code(),
        Some(77),
        "the account does not exist yet: {output}"
    );
    let output = auth(&["--register"]);
    assert_eq!(output.code(), Some(0), "{output}");
    let output = auth(&[]);
    assert_eq!(output.code(), Some(0), "the new account logs in: {output}");
    let output = auth(&["--register"]);
    assert_eq!(output.code(), Some(0), "{output}");
    assert!(output.stderr_str().contains("exists already"), "{output}");
}

harness::on_every_server! {
    /// A private server, frozen with SIGSTOP: what the chain sent is never
    /// acknowledged, and the chain says so with 75 once its timeout is over.
    fn unacknowledged_stanzas_are_reported_with_75(shared) {
        let server = shared.version().start();
        let alice = server.new_account("alice");
        let mut session = harness::online_with(&*server, &alice, &["--timeout", "2"]);
        server.signal(Signal::STOP);
        session.write(chat(&alice.jid, "into the void").as_bytes());
        session.close_stdin();
        let status = session.wait_timeout(LIMIT);
        server.signal(Signal::CONT);
        // Only downstream's stanzas count (the session's own presence is not
        // the user's to send again): the message.
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(75),
            "{}",
            session.stderr()
        );
        assert!(
            session
                .stderr()
                .contains("1 of 1 stanzas sent were not acknowledged by the server (the first 0 were)"),
            "{}",
            session.stderr()
        );
    }
}

#[test]
fn an_account_on_another_domain_than_the_one_connected_to_is_named() {
    let prosody = Prosody::shared();
    let mut alice = prosody.new_account("alice");
    alice.jid = format!("{}@example.org", alice.user);
    let command = harness::login(prosody, &alice, harness::Transport::StartTls, &[]);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(64), "{output}");
    assert!(
        output.stderr_str().contains(&format!(
            "the account {} is on example.org, but xmpp-connect connected to localhost",
            alice.jid
        )),
        "{output}"
    );
}

#[test]
fn the_tls_mode_and_port_mixed_up_name_the_fix() {
    let prosody = Prosody::shared();
    let try_port = |port: u16, direct: bool| {
        let mut command = Command::new(tool("xmpp-connect"));
        command
            .arg("--host")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--cafile")
            .arg(prosody.ca_pem())
            .args(direct.then_some("--direct-tls"))
            .args(["localhost", "true"]);
        run(command, b"", LIMIT)
    };
    // STARTTLS to the direct-TLS port: the server hangs up at our header.
    let output = try_port(prosody.direct_tls_port(), false);
    assert_ne!(output.code(), Some(0), "{output}");
    assert!(output.stderr_str().contains("add --direct-tls"), "{output}");
    // Direct TLS to the STARTTLS port: plain text where TLS was expected.
    let output = try_port(prosody.starttls_port(), true);
    assert_eq!(output.code(), Some(76), "{output}");
    assert!(
        output.stderr_str().contains("drop --direct-tls"),
        "{output}"
    );
}

#[test]
fn verbose_says_what_the_connection_and_the_login_used() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let mut command = Command::new(tool("xmpp-connect"));
    command
        .arg("-v")
        .arg("--host")
        .arg(format!("127.0.0.1:{}", prosody.starttls_port()))
        .arg("--cafile")
        .arg(prosody.ca_pem())
        .arg("localhost")
        .arg(tool("xmpp-auth"))
        .args(["--verbose", "--password-file"])
        .arg(&alice.password_file)
        .arg(&alice.jid);
    let output = run(command, b"", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    let stderr = output.stderr_str();
    for expected in [
        "xmpp-connect: targets, in order: 127.0.0.1:",
        "xmpp-connect: connected to 127.0.0.1 at 127.0.0.1:",
        "; the certificate for localhost is trusted by --cafile ",
        "xmpp-auth: SASL mechanism SCRAM-SHA-",
        "xmpp-auth: stream features after SASL: ",
        &format!("xmpp-auth: bound {}/", alice.jid),
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {output}");
    }
}

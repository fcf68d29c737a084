//! The chain against a second server implementation: ejabberd 23.01
//! (Debian 12's package) and 24.12 (bookworm-backports, unpacked by
//! tests/fetch-servers) started by the harness on 127.0.0.1, passwords
//! stored as SCRAM-SHA-256. What every server is checked for (logins,
//! deliveries, go-sendxmpp) is in connect_auth.rs and interop.rs; here,
//! what is ejabberd's own.
//!
//! ejabberd only runs as root here (Debian's ejabberdctl refuses other
//! users, and the harness switches to the `ejabberd` user); without it, or
//! without root, the tests say SKIPPED on stderr and pass (they fail instead
//! under tests/run as root, which installs it).

use harness::{chat, login, online, run, Ejabberd, Transport};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// xmpp-auth's arguments for SCRAM-SHA-256 without channel binding.
const SCRAM_256: [&str; 2] = ["--mechanism", "SCRAM-SHA-256"];

/// Logs in over `transport` with `auth_args`, sends one message to an
/// online receiver, closes stdin: the chain exits 0 once ejabberd has
/// acknowledged it (stream management), and the receiver gets it.
fn deliver(ejabberd: &Ejabberd, transport: Transport, auth_args: &[&str]) {
    let (alice, bob) = (ejabberd.new_account("alice"), ejabberd.new_account("bob"));
    let mut receiver = online(ejabberd, &bob);
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

harness::on_every_server! {
    ejabberd:

    fn starttls_login_with_scram_sha_256_delivers_a_message(ejabberd) {
        deliver(ejabberd, Transport::StartTls, &SCRAM_256);
    }

    fn direct_tls_login_with_scram_sha_256_delivers_a_message(ejabberd) {
        deliver(ejabberd, Transport::DirectTls, &SCRAM_256);
    }

    fn scram_sha_1_is_not_offered_for_sha_256_passwords(ejabberd) {
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

    fn ejabberd_listens_on_loopback_only_and_ejabberdctl_reaches_it(ejabberd) {
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
}

//! A message that bounces is a failure, not a success: against each of the
//! four harness servers (Prosody 0.12 and 13, ejabberd 23.01 and 24.12;
//! remote domains against Prosody), the one-shot chain (`xmpp-connect ...
//! xmpp-auth`, stdin one message) exits with the bounce's status and names the recipient, once,
//! although the server acknowledged the message. And a session whose
//! resource another one takes ends with 75, without fighting for it.

use harness::{Account, Output, Prosody, Server, Transport};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// `alice` sends one chat message to `to` through the chain; `auth` are
/// extra xmpp-auth options.
fn send(prosody: &(impl Server + ?Sized), alice: &Account, to: &str, auth: &[&str]) -> Output {
    let command = harness::login(prosody, alice, Transport::StartTls, auth);
    let line = format!("<message to='{to}' type='chat'><body>the backup failed</body></message>\n");
    harness::run(command, line.as_bytes(), LIMIT)
}

harness::on_every_server! {
    fn a_message_to_an_unknown_account_exits_67_naming_it(prosody) {
        let alice = prosody.new_account("alice");
        let nobody = format!("nobody-{}@{}", harness::random_string(8), prosody.domain());
        let out = send(prosody, &alice, &nobody, &[]);
        assert_eq!(out.code(), Some(67), "{out}");
        let stderr = out.stderr_str();
        assert_eq!(
            stderr,
            format!("xmpp-auth: the message to {nobody} bounced: service-unavailable\n"),
            "one line, naming the recipient: {out}"
        );
        // The bounce itself is passed on, as any stanza.
        assert!(out.stdout_str().contains("type='error'"), "{out}");
    }

    fn a_message_to_an_account_that_exists_exits_0(prosody) {
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let out = send(prosody, &alice, &bob.jid, &[]);
        assert_eq!(out.code(), Some(0), "{out}");
        assert_eq!(out.stderr_str(), "", "{out}");
    }

    fn a_session_whose_resource_another_one_takes_exits_75_saying_so(prosody) {
        // Two jobs with the same fixed resource: the server gives it to the
        // second and ends the first with `conflict`. The first must not come
        // back for it (they would take it from each other for ever), and its
        // status must say "try again", not "do not retry".
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let mut first = harness::online_with(prosody, &alice, &["--resource", "cron"]);
        let second = send(prosody, &alice, &bob.jid, &["--resource", "cron"]);
        assert_eq!(second.code(), Some(0), "{second}");
        let status = first.wait_timeout(LIMIT).expect("the first session ends");
        assert_eq!(status.code(), Some(75), "{}", first.stderr());
        assert!(
            first.stderr().contains("stream error: conflict")
                && first
                    .stderr()
                    .contains("another session took this resource"),
            "{}",
            first.stderr()
        );
        assert!(
            !first.stderr().contains("connecting again"),
            "{}",
            first.stderr()
        );
    }
}

#[test]
fn a_remote_server_that_cannot_be_reached_exits_68_within_the_linger() {
    // A server that tries other servers; the domain is an address where
    // nothing listens (no DNS is asked, nothing leaves the machine).
    let prosody = Prosody::start_with(harness::ProsodyOptions {
        s2s_out: true,
        ..Default::default()
    });
    let alice = prosody.account("alice");
    let out = send(&prosody, &alice, "bob@127.0.0.3", &["--linger", "20"]);
    assert_eq!(out.code(), Some(68), "{out}");
    // remote-server-not-found when nothing answers; once, in a full run on
    // this shared machine, a server we did not start answered on
    // 127.0.0.3:5269, and Prosody 13 said remote-server-timeout
    // ("host-unknown"): both are 68, both name the recipient.
    assert!(
        out.stderr_str()
            .starts_with("xmpp-auth: the message to bob@127.0.0.3 bounced: remote-server-"),
        "{out}"
    );
}

#[test]
fn without_server_to_server_a_remote_domain_is_refused_with_77() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let out = send(prosody, &alice, "bob@far.example", &[]);
    assert_eq!(out.code(), Some(77), "{out}");
    assert!(
        out.stderr_str()
            .starts_with("xmpp-auth: the message to bob@far.example bounced: not-allowed"),
        "{out}"
    );
}

//! Interoperability with an independent client: go-sendxmpp (Debian's
//! package) receives what the chain sends and sends what the chain
//! receives, through each of the four harness servers on 127.0.0.1
//! (Prosody 0.12 and 13, ejabberd 23.01 and 24.12).
//!
//! Without go-sendxmpp installed the tests say SKIPPED on stderr and pass
//! (they fail instead under tests/run, which installs it).

use harness::{chat, login, online, run, GoSendxmpp, Prosody, Server, Transport};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

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

/// The chain sends; go-sendxmpp, listening, prints the message.
fn chain_to_go_sendxmpp(prosody: &dyn Server, transport: Transport) {
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut listener = GoSendxmpp::new(prosody, &bob, Transport::StartTls).listen();
    let marker = harness::random_string(8);
    let output = run(
        login(prosody, &alice, transport, &[]),
        chat(&bob.jid, &format!("to go &lt;{marker}&gt; &amp; ünïcode")).as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    let line = listener.expect_line(LIMIT, |line| line.contains(&marker));
    assert!(
        line.ends_with(&format!(" {}: to go <{marker}> & ünïcode", alice.jid)),
        "go-sendxmpp prints `TIME FROM: BODY`, unescaped: {line:?}"
    );
}

harness::on_every_server! {
    /// Over STARTTLS and direct TLS.
    fn go_sendxmpp_receives_what_the_chain_sends(server) {
        if have_go_sendxmpp("go_sendxmpp_receives_what_the_chain_sends") {
            chain_to_go_sendxmpp(server, Transport::StartTls);
            chain_to_go_sendxmpp(server, Transport::DirectTls);
        }
    }
}

/// go-sendxmpp sends over `transport`; the chain, online, receives.
fn go_sendxmpp_to_chain(prosody: &dyn Server, transport: Transport) {
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let marker = harness::random_string(8);
    let output = GoSendxmpp::new(prosody, &alice, transport)
        .send(&bob.jid, &format!("from go <{marker}> & co\n"));
    assert_eq!(output.code(), Some(0), "{output}");
    let line = receiver.expect_line(LIMIT, |line| line.contains(&marker));
    assert!(line.starts_with("<message"), "{line}");
    assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");
    assert!(
        line.contains(&format!("from go &lt;{marker}&gt; &amp; co</body>")),
        "{line}"
    );
}

harness::on_every_server! {
    /// Over STARTTLS and direct TLS.
    fn the_chain_receives_what_go_sendxmpp_sends(server) {
        if have_go_sendxmpp("the_chain_receives_what_go_sendxmpp_sends") {
            go_sendxmpp_to_chain(server, Transport::StartTls);
            go_sendxmpp_to_chain(server, Transport::DirectTls);
        }
    }
}

#[test]
fn go_sendxmpp_trusts_the_test_ca_only_through_ssl_cert_file() {
    if !have_go_sendxmpp("go_sendxmpp_trusts_the_test_ca_only_through_ssl_cert_file") {
        return;
    }
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let go = GoSendxmpp::new(prosody, &alice, Transport::StartTls);
    let mut command = go.command();
    command.env_remove("SSL_CERT_FILE").arg(&alice.jid);
    let output = run(command, b"unseen\n", LIMIT);
    assert_ne!(output.code(), Some(0), "{output}");
    assert!(
        output
            .stderr_str()
            .contains("certificate signed by unknown authority"),
        "{output}"
    );
}

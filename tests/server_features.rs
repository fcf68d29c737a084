//! What each of the four harness servers offers, as raw XML: the stream
//! features before TLS, after TLS (direct TLS, the stream header carrying
//! `from`, which ejabberd 24.12 needs to offer SASL2) and after a SASL1
//! PLAIN login. Each test checks what the chain relies on and prints the
//! features (`cargo test --test server_features -- --nocapture`;
//! docs/SERVERS.md holds them as seen). And tests/fetch-servers' bad input.

use harness::{RawStream, Server, ServerVersion, Transport};

/// Prints `features` under a heading naming the server and the stage.
fn show(server: &dyn Server, stage: &str, features: &str) {
    let start = features.find("<stream:features").unwrap_or(0);
    println!(
        "--- {} {stage} ---\n{}\n",
        server.version().name(),
        &features[start..]
    );
}

harness::on_every_server! {
    /// STARTTLS is offered, and required, on the plain port.
    fn before_tls_starttls_is_required(server) {
        let mut raw = RawStream::plain(server.starttls_port());
        let features = raw.open(&RawStream::header(server.domain(), None));
        show(server, "before TLS", &features);
        assert!(features.contains("<starttls"), "{features}");
        assert!(features.contains("<required"), "{features}");
    }

    /// After TLS: SASL1 always, SASL2 (with Bind2, FAST and channel-binding
    /// types) exactly on the servers that have it.
    fn after_tls_sasl_is_offered(server) {
        let alice = server.new_account("alice");
        let mut raw = RawStream::bridge(server, Transport::DirectTls);
        let features = raw.open(&RawStream::header(server.domain(), Some(&alice.jid)));
        show(server, "after TLS", &features);
        assert!(features.contains("urn:ietf:params:xml:ns:xmpp-sasl"), "{features}");
        assert!(features.contains("<mechanism>PLAIN</mechanism>"), "{features}");
        let sasl2 = server.version().has_sasl2();
        for ns in ["urn:xmpp:sasl:2", "urn:xmpp:bind:0", "urn:xmpp:fast:0", "urn:xmpp:sasl-cb:0"] {
            assert_eq!(features.contains(ns), sasl2, "{ns} in {features}");
        }
    }

    /// After TLS with a stream header without `from`: ejabberd 24.12 then
    /// offers SASL1 alone, Prosody 13 SASL2 all the same.
    fn after_tls_without_from(server) {
        let mut raw = RawStream::bridge(server, Transport::DirectTls);
        let features = raw.open(&RawStream::header(server.domain(), None));
        show(server, "after TLS, header without from", &features);
        assert!(features.contains("urn:ietf:params:xml:ns:xmpp-sasl"), "{features}");
        let sasl2 = server.version() == ServerVersion::Prosody(harness::ProsodyVersion::V13);
        assert_eq!(features.contains("urn:xmpp:sasl:2"), sasl2, "{features}");
    }

    /// After SASL1: resource binding and stream management.
    fn after_login_bind_and_stream_management(server) {
        let alice = server.new_account("alice");
        let mut raw = RawStream::bridge(server, Transport::DirectTls);
        let header = RawStream::header(server.domain(), Some(&alice.jid));
        raw.open(&header);
        let features = raw.plain_login(&alice, &header);
        show(server, "after authentication", &features);
        assert!(features.contains("urn:ietf:params:xml:ns:xmpp-bind"), "{features}");
        assert!(features.contains("urn:xmpp:sm:3"), "{features}");
    }
}

/// tests/fetch-servers, given a directory it cannot write, says so in one
/// line and exits 73 without fetching anything.
#[test]
fn fetch_servers_refuses_a_directory_it_cannot_write() {
    let mut command = std::process::Command::new(harness::repo_root().join("tests/fetch-servers"));
    command.arg("/proc/no-such-directory");
    let output = harness::run(command, b"", std::time::Duration::from_secs(30));
    assert_eq!(output.code(), Some(73), "{output}");
    assert_eq!(
        output.stderr_str(),
        "fetch-servers: cannot write to /proc/no-such-directory: give a directory of your own\n",
        "{output}"
    );
}

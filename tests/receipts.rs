//! `xmpp-auth --receipt`: success only once a client of the recipient
//! confirmed the message (XEP-0184), against each of the four harness servers, with an
//! independent client as the recipient: slixmpp (from PyPI, in the virtual
//! environment tests/run makes), which answers receipt requests, or, told
//! not to, ignores them.

use harness::{
    interop_python_or_skip, interop_script, Account, Output, Server, Spawned, Transport,
};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// `account`'s slixmpp client, online once this returns.
fn recipient(prosody: &dyn Server, account: &Account, receipts: bool) -> Option<Spawned> {
    let python = interop_python_or_skip("receipts")?;
    let mut command = Command::new(python);
    command
        .arg(interop_script("receipt_client.py"))
        .arg(&account.jid)
        .arg(&account.password_file)
        .arg("127.0.0.1")
        .arg(prosody.starttls_port().to_string())
        .arg(prosody.ca_pem());
    if !receipts {
        command.arg("--no-receipts");
    }
    let mut client = Spawned::start(command);
    client.expect_line(LIMIT, |line| line == "online");
    Some(client)
}

/// alice sends `body` to `to` with `--receipt` and `--timeout timeout`.
fn send(prosody: &dyn Server, alice: &Account, to: &str, body: &str, timeout: &str) -> Output {
    let args = ["--receipt", "--timeout", timeout];
    let command = harness::login(prosody, alice, Transport::StartTls, &args);
    let line = format!("<message to='{to}' type='chat'><body>{body}</body></message>\n");
    harness::run(command, line.as_bytes(), LIMIT)
}

harness::on_every_server! {
    fn a_recipient_whose_client_confirms_gives_0(prosody) {
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let Some(mut client) = recipient(prosody, &bob, true) else {
            return;
        };
        let body = harness::unique("confirmed");
        let out = send(prosody, &alice, &bob.jid, &body, "20");
        assert_eq!(out.code(), Some(0), "{out}");
        client.expect_line(LIMIT, |line| line == format!("got {body}"));
        client.close_stdin();
    }

    fn a_recipient_whose_client_does_not_confirm_gives_75_naming_it(prosody) {
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let Some(mut client) = recipient(prosody, &bob, false) else {
            return;
        };
        let body = harness::unique("unconfirmed");
        let out = send(prosody, &alice, &bob.jid, &body, "2");
        assert_eq!(out.code(), Some(75), "{out}");
        assert!(
            out.stderr_str()
                .contains(&format!("no delivery receipt from {} within 2 s", bob.jid)),
            "{out}"
        );
        // It did arrive: the server took it and the client got it.
        client.expect_line(LIMIT, |line| line == format!("got {body}"));
        client.close_stdin();
    }

    fn a_recipient_with_no_client_online_gives_75(prosody) {
        let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
        let out = send(prosody, &alice, &bob.jid, "stored offline", "2");
        assert_eq!(out.code(), Some(75), "{out}");
        assert!(out.stderr_str().contains("no delivery receipt"), "{out}");
    }
}

//! The login each server gets (issue 13): SASL2 with Bind2, inline stream
//! management and FAST where the server offers them (Prosody 13 with the
//! prosody-modules of 2025, ejabberd 24.12), SASL1 elsewhere (Prosody 0.12,
//! ejabberd 23.01), on all four real servers; the FAST token's life on disk.

use harness::{chat, login, online, run, Account, Server, Transport};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Where xmpp-auth keeps `account`'s FAST slot 0 under the harness's HOME.
fn slot(server: &dyn Server, account: &Account) -> PathBuf {
    server
        .scratch_dir()
        .join("no-home/.local/state/xmpp-pipes/fast")
        .join(&account.jid)
        .join("0")
}

/// Log in (`-v` and `args`), send `body` to `to` if given, close; stderr.
fn log_in(
    server: &dyn Server,
    account: &Account,
    args: &[&str],
    to: Option<(&str, &str)>,
) -> String {
    let mut auth_args = vec!["-v"];
    auth_args.extend_from_slice(args);
    let input = to.map(|(jid, body)| chat(jid, body)).unwrap_or_default();
    let output = run(
        login(server, account, Transport::DirectTls, &auth_args),
        input.as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    let stderr = output.stderr_str().to_owned();
    assert!(
        !stderr.contains(&account.password),
        "the password in stderr: {stderr}"
    );
    stderr
}

fn token_line(server: &dyn Server, account: &Account) -> Option<String> {
    std::fs::read_to_string(slot(server, account))
        .ok()?
        .lines()
        .find(|l| l.starts_with("token="))
        .map(str::to_owned)
}

harness::on_every_server! {
    /// SASL2 and a FAST token where offered, the token used next time, and
    /// a message delivered either way; SASL1 where SASL2 is not offered.
    fn the_login_takes_the_shortest_path_the_server_offers(server) {
        let (alice, bob) = (server.new_account("alice"), server.new_account("bob"));
        let mut receiver = online(server, &bob);
        let first = log_in(server, &alice, &[], Some((&bob.jid, "first")));
        receiver.expect_line(LIMIT, |l| l.contains(">first<"));
        let second = log_in(server, &alice, &[], Some((&bob.jid, "second")));
        receiver.expect_line(LIMIT, |l| l.contains(">second<"));
        if !server.version().has_sasl2() {
            for stderr in [&first, &second] {
                assert!(stderr.contains("xmpp-auth: SASL mechanism SCRAM-SHA-"), "{stderr}");
                assert!(!stderr.contains("SASL2"), "{stderr}");
            }
            assert_eq!(token_line(server, &alice), None);
            return;
        }
        assert!(
            first.contains("xmpp-auth: SASL2 with Bind2 and stream management inline, asking for a FAST token (HT-SHA-256-"),
            "{first}"
        );
        assert!(first.contains(&format!("xmpp-auth: bound {}/xmpp-pipes", alice.jid)), "{first}");
        let token = token_line(server, &alice).expect("a token kept after the first login");
        let mode = std::fs::metadata(slot(server, &alice)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(second.contains("xmpp-auth: SASL2 with the stored FAST token (HT-SHA-256-"), "{second}");
        // The first login's features were kept: the second sends its
        // <authenticate/> with the stream header (XEP-0388 allows the cache).
        assert!(
            second.contains("xmpp-auth: SASL2 from the features cached by the last login, sent with the stream header"),
            "{second}"
        );
        let secret = token.trim_start_matches("token=");
        for stderr in [&first, &second] {
            assert!(!stderr.contains(secret), "the token in stderr: {stderr}");
        }
    }

    /// --forget-fast invalidates the token at the server and on disk; the
    /// password logs in next, and asks for a new one.
    fn forget_fast_invalidates_the_token(server) {
        if !server.version().has_sasl2() {
            return;
        }
        let alice = server.new_account("alice");
        log_in(server, &alice, &[], None);
        let old = token_line(server, &alice).expect("a token");
        let path = slot(server, &alice);
        let before = std::fs::read_to_string(&path).unwrap();
        let stderr = log_in(server, &alice, &["--forget-fast"], None);
        assert!(
            stderr.contains("with the stored FAST token (HT-SHA-256-") && stderr.contains("invalidating it"),
            "{stderr}"
        );
        assert_eq!(token_line(server, &alice), None, "forgotten on disk");
        // The server forgot it too: written back, it is refused, and the
        // password logs in on the same stream.
        std::fs::write(&path, before).unwrap();
        let stderr = log_in(server, &alice, &[], None);
        assert!(stderr.contains("the server refused the stored FAST token"), "{stderr}");
        assert!(stderr.contains("asking for a FAST token"), "{stderr}");
        let new = token_line(server, &alice).expect("a new token");
        assert_ne!(new, old);
    }

    /// A token stands for the password it came with: a wrong password is
    /// refused (77) although a token is stored, and the token stays.
    fn a_wrong_password_is_refused_even_with_a_token(server) {
        if !server.version().has_sasl2() {
            return;
        }
        let alice = server.new_account("alice");
        log_in(server, &alice, &[], None);
        let token = token_line(server, &alice).expect("a token");
        let wrong = server.scratch_dir().join(format!("{}.wrong", alice.jid));
        std::fs::write(&wrong, "not the password").unwrap();
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut command = harness::connect(server, Transport::DirectTls);
        command
            .arg(harness::tool("xmpp-auth"))
            .arg("--password-file")
            .arg(&wrong)
            .arg(&alice.jid);
        let output = run(command, b"", LIMIT);
        assert_eq!(output.code(), Some(77), "{output}");
        assert_eq!(token_line(server, &alice), Some(token), "the token stays for the right password");
    }

    /// --no-sasl2 logs in with SASL1; --resource gets exactly that resource
    /// (Bind2 cannot ask for one).
    fn no_sasl2_and_a_resource_asked_for(server) {
        let alice = server.new_account("alice");
        let stderr = log_in(server, &alice, &["--no-sasl2", "--no-fast"], None);
        assert!(stderr.contains("xmpp-auth: SASL mechanism SCRAM-SHA-"), "{stderr}");
        assert!(!stderr.contains("SASL2"), "{stderr}");
        let stderr = log_in(server, &alice, &["--resource", "desk"], None);
        assert!(stderr.contains(&format!("xmpp-auth: bound {}/desk", alice.jid)), "{stderr}");
    }
}

harness::on_every_server! {
    /// `-v` says which SASL profile and mechanism the login took, and
    /// whether SCRAM's downgrade protection (XEP-0474) was checked.
    fn verbose_says_the_path_and_the_downgrade_check(server) {
        let alice = server.new_account("alice");
        let stderr = log_in(server, &alice, &["--no-fast"], None);
        assert!(stderr.contains("xmpp-auth: SASL mechanism SCRAM-SHA-"), "{stderr}");
        assert!(stderr.contains("xmpp-auth: SCRAM downgrade protection (XEP-0474): "), "{stderr}");
        assert_eq!(stderr.contains("xmpp-auth: SASL2"), server.version().has_sasl2(), "{stderr}");
        // ejabberd 24.12 sends XEP-0474's hash (Prosody 13.0.1 does not):
        // an independent implementation of it agrees with ours.
        if server.version().name() == "ejabberd-24.12" {
            assert!(stderr.contains("the server's hash matches what it advertised"), "{stderr}");
        }
    }
}

harness::on_every_server! {
    /// The server's stanza limit (XEP-0478), where it announces one, is
    /// made known to PROG (XMPP_MAX_STANZA) and in --session-events.
    fn the_stanza_limit_is_made_known_downstream(server) {
        let alice = server.new_account("alice");
        let file = server.scratch_dir().join(format!("{}.limit", alice.jid));
        let script = format!(
            "printf '%s ' \"${{XMPP_MAX_STANZA-none}}\" > '{}'; head -n 1 <&6 >> '{}'",
            file.display(),
            file.display()
        );
        let mut command = login(server, &alice, Transport::DirectTls, &["--session-events"]);
        command.args(["sh", "-c", &script]);
        let output = run(command, b"", LIMIT);
        assert_eq!(output.code(), Some(0), "{output}");
        let seen = std::fs::read_to_string(&file).unwrap();
        let (env, event) = seen.split_once(' ').unwrap();
        assert!(event.starts_with("<session xmlns='urn:xmpp-pipes:session:0' state='new'"), "{seen}");
        if server.version().name() == "prosody-13" {
            // Prosody 13.0.1 announces max-bytes 262144.
            assert_eq!(env, "262144", "{seen}");
            assert!(event.contains("max-bytes='262144'"), "{seen}");
        } else if env == "none" {
            assert!(!event.contains("max-bytes"), "{seen}");
        } else {
            assert!(event.contains(&format!("max-bytes='{env}'")), "{seen}");
        }
    }
}

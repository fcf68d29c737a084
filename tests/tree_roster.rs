//! The tree keeps the roster: `ii-client run` fetches it when the session
//! begins and keeps `DIR/roster` up to date from roster pushes, so that a
//! contact's approval and denial of our subscription show (in DIR/roster
//! and as notices in the contact's `out`); tested against the harness
//! Prosody with the contact as a second session.

use harness::{wait_for_file, Prosody, Spawned, TempDir};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn ii_client() -> std::process::Command {
    harness::example("ii-client")
}

#[test]
fn approvals_and_denials_show_in_dir_roster_and_the_conversation() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-roster");
    let dir = temp.join("xmpp");
    let mut run = ii_client();
    run.arg("run")
        .arg(&dir)
        .arg(&bob.jid)
        .arg(&bob.password_file)
        .arg("--host")
        .arg(format!("127.0.0.1:{}", prosody.starttls_port()))
        .arg("--cafile")
        .arg(prosody.ca_pem());
    let mut session = Spawned::start(run);
    // The fetch's answer: an empty roster, written as an empty file.
    wait_for_file(&dir.join("roster"), LIMIT, |roster| roster.is_empty());
    let mut alice_online = harness::online(prosody, &alice);

    let mut cmd = ii_client();
    cmd.arg("cmd")
        .arg(&dir)
        .arg(format!("/subscribe {}", alice.jid));
    harness::run(cmd, b"", LIMIT).assert_success();
    alice_online.expect_line(LIMIT, |line| {
        line.contains("type='subscribe'") && line.contains(&bob.jid)
    });
    let roster_path = dir.join("roster");
    let asked = format!("{}\tnone+asked\t\t\n", alice.jid);
    wait_for_file(&roster_path, LIMIT, |roster| roster == asked);

    alice_online.write(format!("<presence to='{}' type='subscribed'/>\n", bob.jid).as_bytes());
    let approved = format!("{}\tto\t\t\n", alice.jid);
    wait_for_file(&roster_path, LIMIT, |roster| roster == approved);
    let out_path = dir.join(&alice.jid).join("out");
    let out = wait_for_file(&out_path, LIMIT, |out| {
        out.contains("subscription to: you see their presence")
    });
    assert!(out.contains("approved your subscription"), "{out}");

    alice_online.write(format!("<presence to='{}' type='unsubscribed'/>\n", bob.jid).as_bytes());
    let denied = format!("{}\tnone\t\t\n", alice.jid);
    wait_for_file(&roster_path, LIMIT, |roster| roster == denied);
    let out = wait_for_file(&out_path, LIMIT, |out| {
        out.contains("subscription none: no presence subscription either way")
    });
    eprintln!("acceptance: {}'s out:\n{out}", alice.jid);

    alice_online.close_stdin();
    let mut stop = ii_client();
    stop.arg("stop").arg(&dir);
    harness::run(stop, b"", LIMIT).assert_success();
    let status = session.wait_timeout(LIMIT).expect("ii-client run ends");
    assert!(status.success(), "{status:?}");
}

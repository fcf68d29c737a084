//! The ii tree (examples/ii-client) against the harness Prosody.
//!
//! Catch-up from the account's archive (XEP-0313 MAM): what
//! was said while `ii-client run` was stopped, by a contact and by the
//! account's other client (the phone), is in the right `out` once it runs
//! again, once, in order, with the time it was said; live messages are not
//! written twice; forged archive results from a contact change nothing.
//!
//! The roster: fetched when the session begins, `DIR/roster` kept up to
//! date from roster pushes, so that a contact's approval and denial of our
//! subscription show (in DIR/roster and as notices in the contact's `out`),
//! with the contact as a second session.

use harness::ii::{body, long_line, run as ii_run, start, stop};
use harness::{wait_for_file, Account, Prosody, Spawned, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Send `text` from `from` to `bob` and wait until it is in `out`: a live
/// message waits for the catch-up, so the catch-up is over then.
fn marker(from: &mut Spawned, bob: &Account, out: &Path, text: &str) -> String {
    from.write(harness::chat(&bob.jid, text).as_bytes());
    wait_for_file(out, LIMIT, |out| out.contains(text))
}

/// The lines of `out` that end with ` <who> text`.
fn count(out: &str, who: &str, text: &str) -> usize {
    let end = format!(" <{who}> {text}");
    out.lines().filter(|line| line.ends_with(&end)).count()
}

#[test]
fn what_was_said_while_the_tree_was_stopped_is_written_once_in_order() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-archive");
    let dir = temp.join("xmpp");
    let out_path = dir.join(&alice.jid).join("out");

    // First run: a live line each way.
    let mut session = start(prosody, &bob, &dir);
    let mut alice_online = harness::online(prosody, &alice);
    let live = harness::unique("live");
    alice_online.write(harness::chat(&bob.jid, &live).as_bytes());
    let mine = harness::unique("mine");
    let mut say = harness::example("ii-client");
    say.arg("say").arg(&dir).arg(&alice.jid).arg(&mine);
    harness::run(say, b"", LIMIT).assert_success();
    alice_online.expect_line(LIMIT, |line| line.contains(&mine));
    wait_for_file(&out_path, LIMIT, |out| {
        out.contains(&live) && out.contains(&mine)
    });
    stop(&dir, &mut session);
    let record = std::fs::read_to_string(dir.join(".archive")).unwrap();
    assert!(
        record.starts_with("xmpp-pipes archive 1\nlast "),
        "{record}"
    );

    // While it is stopped: alice writes, and bob's phone writes to her.
    let away: Vec<String> = (0..3)
        .map(|n| harness::unique(&format!("away{n}")))
        .collect();
    for text in &away {
        alice_online.write(harness::chat(&bob.jid, text).as_bytes());
    }
    let mut phone = harness::online_with(prosody, &bob, &["--resource", "phone"]);
    let from_phone = harness::unique("from the phone");
    phone.write(harness::chat(&alice.jid, &from_phone).as_bytes());
    alice_online.expect_line(LIMIT, |line| line.contains(&from_phone));
    phone.close_stdin();
    // Bob's messages to alice are archived at once; hers to him too, as
    // the phone's session saw the last one of them before it went.
    let _ = phone.wait_timeout(LIMIT);

    // Second run: the catch-up writes the gap; nothing is there twice.
    let mut session = start(prosody, &bob, &dir);
    let out = wait_for_file(&out_path, LIMIT, |out| {
        out.contains(&from_phone) && away.iter().all(|text| out.contains(text))
    });
    for text in &away {
        assert_eq!(count(&out, &alice.jid, text), 1, "{out}");
    }
    assert_eq!(count(&out, &alice.jid, &live), 1, "{out}");
    assert_eq!(count(&out, &bob.jid, &mine), 1, "{out}");
    assert_eq!(count(&out, &bob.jid, &from_phone), 1, "{out}");
    let position = |text: &str| out.find(text).unwrap();
    assert!(position(&away[0]) < position(&away[1]), "{out}");
    assert!(position(&away[1]) < position(&away[2]), "{out}");
    assert!(position(&live) < position(&away[0]), "{out}");
    for line in out.lines() {
        let shape: String = line[..16]
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99 99:99", "{line}");
    }

    // A live line after the catch-up, then a third run: nothing new twice.
    let after = harness::unique("after");
    alice_online.write(harness::chat(&bob.jid, &after).as_bytes());
    wait_for_file(&out_path, LIMIT, |out| out.contains(&after));
    stop(&dir, &mut session);
    let mut session = start(prosody, &bob, &dir);
    let third = harness::unique("third run");
    let again = marker(&mut alice_online, &bob, &out_path, &third);
    assert_eq!(count(&again, &alice.jid, &after), 1, "{again}");
    assert_eq!(again.lines().count(), out.lines().count() + 2, "{again}");
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    let caught: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("caught up from the archive"))
        .collect();
    assert!(
        caught[0].ends_with(
            "caught up from the archive: 4 message(s) written, 1 in the tree already (1 page(s))"
        ),
        "{log}"
    );
    // The third run found nothing old: at most the marker, when alice's
    // line reached the archive before the third run's query did.
    match &caught[1..] {
        [] => {}
        [third_run] => assert!(
            third_run.ends_with(": 1 message(s) written, 0 in the tree already (1 page(s))"),
            "the third run's catch-up could only have found the marker: {log}"
        ),
        _ => panic!("a catch-up in each run: {log}"),
    }
    eprintln!("acceptance: out after three runs:\n{again}\nDIR/log:\n{log}");
    alice_online.close_stdin();
    stop(&dir, &mut session);
}

#[test]
fn a_contact_s_forged_archive_results_and_carbons_change_nothing() {
    let prosody = Prosody::shared();
    let (eve, bob) = (prosody.new_account("eve"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-archive-forged");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let mut eve_online = harness::online(prosody, &eve);
    let forged = harness::unique("forged");
    // A result as our archive would send it, from eve, naming bob's
    // contact boss as the author, for a queryid it guessed.
    eve_online.write(
        format!(
            "<message to='{bob}'><result xmlns='urn:xmpp:mam:2' queryid='x' id='A1'>\
             <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' \
             stamp='2026-01-01T00:00:00Z'/><message xmlns='jabber:client' \
             from='boss@localhost/pc' to='{bob}' type='chat'><body>{forged}</body>\
             </message></forwarded></result></message>\n",
            bob = bob.jid
        )
        .as_bytes(),
    );
    // Carbon copies (XEP-0280) from eve: one as if boss wrote to bob, one
    // as if bob's phone had said something to boss (CVE-2017-5589's class).
    let carbons: Vec<String> = ["received", "sent"]
        .iter()
        .map(|direction| {
            let text = harness::unique(&format!("forged {direction} carbon"));
            let (from, to) = match *direction {
                "received" => ("boss@localhost/pc".to_owned(), bob.jid.clone()),
                _ => (format!("{}/phone", bob.jid), "boss@localhost".to_owned()),
            };
            eve_online.write(
                format!(
                    "<message to='{bob}'><{direction} xmlns='urn:xmpp:carbons:2'>\
                     <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
                     from='{from}' to='{to}' type='chat'><body>{text}</body></message>\
                     </forwarded></{direction}></message>\n",
                    bob = bob.jid
                )
                .as_bytes(),
            );
            text
        })
        .collect();
    let real = harness::unique("then a real line");
    let eve_out = marker(
        &mut eve_online,
        &bob,
        &dir.join(&eve.jid).join("out"),
        &real,
    );
    let unrouted = wait_for_file(&dir.join("unrouted"), LIMIT, |u| {
        u.contains(&forged) && carbons.iter().all(|c| u.contains(c))
    });
    assert!(
        unrouted.contains("not from our own account: forged"),
        "{unrouted}"
    );
    assert_eq!(
        unrouted
            .matches(&format!("a carbon copy from {}", eve.jid))
            .count(),
        2,
        "{unrouted}"
    );
    assert!(!dir.join("boss@localhost").exists());
    assert!(!eve_out.contains(&forged), "{eve_out}");
    for text in &carbons {
        assert!(!eve_out.contains(text), "{eve_out}");
    }
    eve_online.close_stdin();
    stop(&dir, &mut session);
}

#[test]
fn approvals_and_denials_show_in_dir_roster_and_the_conversation() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-roster");
    let dir = temp.join("xmpp");
    let mut session = Spawned::start(ii_run(prosody, &bob, &dir));
    // The fetch's answer: an empty roster, written as an empty file.
    wait_for_file(&dir.join("roster"), LIMIT, |roster| roster.is_empty());
    let mut alice_online = harness::online(prosody, &alice);

    let mut cmd = harness::example("ii-client");
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
    stop(&dir, &mut session);
}

/// Run `ii-client cmd DIR COMMAND`.
fn cmd(dir: &Path, command: &str) -> harness::Output {
    let mut cmd = harness::example("ii-client");
    cmd.arg("cmd").arg(dir).arg(command);
    harness::run(cmd, b"", LIMIT)
}

#[test]
fn bad_input_is_refused_with_a_word_and_the_session_goes_on() {
    use std::io::Write;
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-bad-input");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let mut alice_online = harness::online(prosody, &alice);

    // 2 KB of junk, then half an element, straight into DIR/in.
    let mut junk = "junk <not xml & ".repeat(128);
    junk.push_str("\n<message to='x@y'>\n");
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("in"))
        .and_then(|mut pipe| pipe.write_all(junk.as_bytes()))
        .unwrap();
    // A group chat line to a room this session is not in.
    let room = format!("{}@{}", harness::unique("nowhere"), prosody.muc_domain());
    let unsent = harness::unique("unsent");
    cmd(&dir, &format!("/say {room} {unsent}")).assert_success();
    // A command misspelt: refused by the command, told here and in the log.
    let output = cmd(&dir, "/shrug");
    assert_eq!(output.status.code(), Some(65), "{output}");

    // The session goes on: the next line is said.
    let after = harness::unique("after");
    let mut say = harness::example("ii-client");
    say.arg("say").arg(&dir).arg(&alice.jid).arg(&after);
    harness::run(say, b"", LIMIT).assert_success();
    alice_online.expect_line(LIMIT, |line| line.contains(&after));
    let room_out = wait_for_file(&dir.join(&room).join("out"), LIMIT, |out| {
        out.contains(&unsent)
    });
    assert!(
        room_out.contains(&format!(
            "-!- not sent: {unsent} (message to room {room}, which this session did not join"
        )),
        "{room_out}"
    );
    let log = wait_for_file(&dir.join("log"), LIMIT, |log| {
        log.contains("unknown command") && log.matches("refused").count() >= 3
    });
    assert!(
        log.contains(
            "xmpp-auth: refused a line from downstream, not sent: bad input from stdin: line "
        ),
        "{log}"
    );
    assert!(log.contains(" (junk <not xml & junk"), "{log}");
    assert!(log.contains("not a complete element"), "{log}");
    assert!(
        log.contains(&format!(
            "xmpp-auth: refused a message to {room} from downstream"
        )),
        "{log}"
    );
    assert!(log.contains("ii-client cmd: stanza-fmt: "), "{log}");
    eprintln!("acceptance: DIR/log:\n{log}\n{room}/out:\n{room_out}");
    alice_online.close_stdin();
    stop(&dir, &mut session);
}

#[test]
fn a_room_the_ii_way_group_chat_private_lines_kicks_and_an_instant_room() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-room");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let room = format!("{}@{}", harness::unique("room"), prosody.muc_domain());
    let room_dir = dir.join(&room);
    let out_path = room_dir.join("out");

    // A new room: made for us, and opened (the instant room) for others.
    cmd(&dir, &format!("/join {room}/bob")).assert_success();
    wait_for_file(&out_path, LIMIT, |out| out.contains("others can join"));
    assert!(room_dir.join("occupants").is_file());

    // Alice comes in under a nick spelt as bob's JID: it cannot pass for him.
    let mut alice_online = harness::online(prosody, &alice);
    let nick = bob.jid.clone();
    alice_online.write(
        format!(
            "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>\n"
        )
        .as_bytes(),
    );
    alice_online.expect_line(LIMIT, |line| line.contains("status code='110'"));
    let shown = nick.replace('@', "%40");
    let occupants = wait_for_file(&room_dir.join("occupants"), LIMIT, |o| o.contains(&shown));
    assert!(occupants.contains("bob\tmoderator\towner"), "{occupants}");

    // ROOM/in is group chat; our line shows under our JID once the room sends it back.
    let ours = harness::unique("to the room");
    let mut say = harness::example("ii-client");
    say.arg("say").arg(&dir).arg(&room).arg(&ours);
    harness::run(say, b"", LIMIT).assert_success();
    alice_online.expect_line(LIMIT, |line| {
        line.contains("type='groupchat'") && line.contains(&ours)
    });
    let theirs = harness::unique("from alice");
    alice_online.write(
        format!("<message to='{room}' type='groupchat'><body>{theirs}</body></message>\n")
            .as_bytes(),
    );
    // A private line from her occupant: in ROOM/private with the nick, not in the room's out.
    let private = harness::unique("psst");
    alice_online.write(
        format!("<message to='{room}/bob' type='chat'><body>{private}</body></message>\n")
            .as_bytes(),
    );
    let private_out = wait_for_file(&room_dir.join("private"), LIMIT, |p| p.contains(&private));
    assert_eq!(count(&private_out, &shown, &private), 1, "{private_out}");
    let out = wait_for_file(&out_path, LIMIT, |out| out.contains(&theirs));
    assert_eq!(count(&out, &bob.jid, &ours), 1, "{out}");
    assert_eq!(count(&out, &shown, &theirs), 1, "{out}");
    assert!(!out.contains(&private), "{out}");

    // Bob, the owner, kicks her: the room's out says so, and she is gone from the list.
    let kick = format!(
        "/raw <iq type='set' to='{room}' id='kick'><query xmlns='http://jabber.org/protocol/muc#admin'>\
         <item nick='{nick}' role='none'><reason>enough</reason></item></query></iq>"
    );
    cmd(&dir, &kick).assert_success();
    let out = wait_for_file(&out_path, LIMIT, |out| out.contains("kicked"));
    assert!(
        out.contains(&format!("-!- {shown} was kicked from the room (enough)")),
        "{out}"
    );
    wait_for_file(&room_dir.join("occupants"), LIMIT, |o| !o.contains(&shown));
    eprintln!("acceptance: {room}/out:\n{out}\nprivate:\n{private_out}");
    alice_online.close_stdin();
    stop(&dir, &mut session);
}

#[test]
fn a_long_line_goes_whole_up_to_the_server_s_limit_and_in_parts_beyond() {
    use std::io::Write;
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-long-lines");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    // Prosody 13 announces its limit (XEP-0478); jid-route keeps it for stanza-fmt.
    let limit = wait_for_file(&dir.join(".max-stanza"), LIMIT, |l| !l.is_empty());
    assert_eq!(limit, "262144\n");
    let mut alice_online = harness::online(prosody, &alice);
    let first = harness::unique("first");
    let mut say = harness::example("ii-client");
    say.arg("say").arg(&dir).arg(&alice.jid).arg(&first);
    harness::run(say, b"", LIMIT).assert_success();
    alice_online.expect_line(LIMIT, |line| line.contains(&first));
    let mut pipe = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(&alice.jid).join("in"))
        .unwrap();

    // 100 KB, under the limit: one message, whole.
    let under = long_line(&harness::unique("under"), 9_500);
    assert!(under.len() > 100_000);
    pipe.write_all(format!("{under}\n").as_bytes()).unwrap();
    let got = alice_online.expect_line(LIMIT, |line| line.contains(&under[..30]));
    assert_eq!(body(&got), under);

    // 300 KB, over it: two parts in order, each within the limit.
    let over = long_line(&harness::unique("over"), 27_000);
    assert!(over.len() > 262_144 + 30_000);
    pipe.write_all(format!("{over}\n").as_bytes()).unwrap();
    let one = alice_online.expect_line(LIMIT, |line| line.contains("<body>(1/2) "));
    let two = alice_online.expect_line(LIMIT, |line| line.contains("<body>(2/2) "));
    assert!(one.len() < 262_144 && two.len() < 262_144);
    let joined = format!(
        "{}{}",
        body(&one).strip_prefix("(1/2) ").unwrap(),
        body(&two).strip_prefix("(2/2) ").unwrap()
    );
    assert_eq!(joined, over);

    // Over a mebibyte: refused, and the conversation says so; the next line goes.
    let huge = long_line("huge", 110_000);
    pipe.write_all(format!("{huge}\nafter the huge one\n").as_bytes())
        .unwrap();
    alice_online.expect_line(LIMIT, |line| line.contains("after the huge one"));
    let out_path = dir.join(&alice.jid).join("out");
    let out = wait_for_file(&out_path, LIMIT, |out| out.contains("after the huge one"));
    assert_eq!(count(&out, &bob.jid, &under), 1, "the whole line in out");
    assert!(out.contains(&format!(" <{}> (1/2) {}", bob.jid, &over[..30])));
    assert!(out.contains(" <bob"), "{}", &out[..200]);
    assert!(
        out.contains("-!- not sent: a line longer than 1048576 bytes (send it as a file)"),
        "{}",
        out.lines()
            .filter(|l| l.len() < 300)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    assert!(
        log.contains("over the server's stanza limit of 262144 bytes: sent in 2 parts"),
        "{log}"
    );
    eprintln!(
        "acceptance: long lines: {} bytes whole, {} bytes in 2 parts ({} and {} bytes on the wire), {} bytes refused",
        under.len(),
        over.len(),
        one.len(),
        two.len(),
        huge.len()
    );
    drop(pipe);
    alice_online.close_stdin();
    stop(&dir, &mut session);
}

/// A small tmpfs mounted for a test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// Mount a tmpfs of `size` at `path`, or say why not (not root, no mount).
    fn mount(path: &Path, size: &str) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let mut mount = Command::new("mount");
        mount
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"));
        mount.arg("tmpfs").arg(path);
        let output = harness::run(mount, b"", LIMIT);
        if !output.status.success() {
            return Err(format!("mount -t tmpfs: {}", output.stderr_str().trim()));
        }
        Ok(SmallDisk {
            path: path.to_owned(),
        })
    }

    /// Fill it with `DISK/filler` until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = vec![b'x'; 4096];
        while filler.write_all(&block).is_ok() {}
        while filler.write_all(b"x").is_ok() {}
    }

    /// Free the space `fill` took.
    fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let mut umount = Command::new("umount");
        umount.arg("-l").arg(&self.path);
        let _ = harness::run(umount, b"", LIMIT);
    }
}

#[test]
fn a_full_disk_ends_the_session_and_the_next_start_loses_nothing() {
    let temp = TempDir::new("tree-disk-full");
    let disk = match SmallDisk::mount(&temp.join("disk"), "512k") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!(
                "SKIPPED a_full_disk_ends_the_session_and_the_next_start_loses_nothing: {why}"
            );
            return;
        }
    };
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let dir = disk.path.join("xmpp");
    let out_path = dir.join(&alice.jid).join("out");
    let mut session = start(prosody, &bob, &dir);
    let mut alice_online = harness::online(prosody, &alice);
    let first = harness::unique("before");
    let before = marker(&mut alice_online, &bob, &out_path, &first);

    // The disk fills; alice writes on: jid-route cannot write, exits 74,
    // and the session ends with it.
    disk.fill();
    // (A page of tmpfs holds the end of out: lines longer than one do not fit.)
    let lost: Vec<String> = (0..3)
        .map(|n| harness::unique(&format!("full{n}")) + &" padding".repeat(600))
        .collect();
    // One message is enough: the session ends with it, not at the next one.
    alice_online.write(harness::chat(&bob.jid, &lost[0]).as_bytes());
    let status = session.wait_timeout(LIMIT).expect("the session ends");
    for text in &lost[1..] {
        alice_online.write(harness::chat(&bob.jid, text).as_bytes());
    }
    assert_eq!(status.code(), Some(74), "{status:?}\n{}", session.stderr());
    let stderr = session.stderr();
    let full = std::fs::read_to_string(&out_path).unwrap();
    assert!(full.ends_with('\n'), "a torn line in out: {full:?}");
    assert!(full.starts_with(&before), "{full}");
    assert!(!lost.iter().all(|text| full.contains(text)), "{full}");

    // Space again: the next start writes what came meanwhile, once each, in order.
    disk.free();
    let mut session = start(prosody, &bob, &dir);
    let after = marker(
        &mut alice_online,
        &bob,
        &out_path,
        &harness::unique("after"),
    );
    assert!(after.starts_with(&full), "{after}");
    assert_eq!(count(&after, &alice.jid, &first), 1, "{after}");
    for text in &lost {
        assert_eq!(count(&after, &alice.jid, text), 1, "{after}");
    }
    let position = |text: &str| after.find(text).unwrap();
    assert!(position(&lost[0]) < position(&lost[1]) && position(&lost[1]) < position(&lost[2]));
    assert!(after
        .lines()
        .all(|line| line.len() > 16 && line.as_bytes()[16] == b' '));
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    eprintln!(
        "acceptance: disk full: ii-client run exited {:?}; its stderr:\n{stderr}\nDIR/log:\n{log}\nout after the restart:\n{after}",
        status.code()
    );
    alice_online.close_stdin();
    stop(&dir, &mut session);
    drop(disk);
}

/// The full JID the tree's session is bound to, from DIR/state.
fn session_jid(dir: &Path, account: &Account) -> String {
    let state = std::fs::read_to_string(dir.join("state")).unwrap();
    state
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{}/", account.jid)))
        .unwrap_or_else(|| panic!("{}'s full JID in DIR/state: {state}", account.jid))
        .to_owned()
}

/// `account` logged in over raw XML (SASL1 PLAIN, bound to `resource`, or
/// to one the server picks): a client that sends whatever the test writes,
/// where our own xmpp-auth would refuse it.
fn raw_client(prosody: &Prosody, account: &Account, resource: Option<&str>) -> harness::RawStream {
    let mut raw = harness::RawStream::bridge(prosody, harness::Transport::DirectTls);
    let header = harness::RawStream::header(prosody.domain(), Some(&account.jid));
    raw.open(&header);
    raw.plain_login(account, &header);
    let resource = resource.map_or(String::new(), |r| format!("<resource>{r}</resource>"));
    raw.send(&format!(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{resource}</bind></iq>"
    ));
    raw.until("</iq>");
    raw
}

/// A contact cannot pass for someone else in the tree: eve logs in with the
/// resource `boss@localhost`, then with bob's own JID as her resource, and
/// sends bob's full JID `type='groupchat'` lines (Prosody delivers a
/// groupchat to a full JID that is online; eve speaks raw XML, since our
/// own xmpp-auth refuses a groupchat to a room it did not join); each shows
/// under eve's bare JID in her own `out`, never as boss or as bob's own
/// line, and no directory is made for boss.
#[test]
fn a_contact_with_a_jid_for_a_resource_cannot_forge_an_author() {
    let prosody = Prosody::shared();
    let (eve, bob) = (prosody.new_account("eve"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-forged-author");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let bob_full = session_jid(&dir, &bob);
    let out = dir.join(&eve.jid).join("out");
    for resource in ["boss@localhost", bob.jid.as_str()] {
        let mut raw = raw_client(prosody, &eve, Some(resource));
        let forged = harness::unique("forged");
        raw.send(&format!(
            "<message to='{bob_full}' type='groupchat'><body>{forged}</body></message>"
        ));
        let text = wait_for_file(&out, LIMIT, |o| o.contains(&forged));
        assert_eq!(
            count(&text, &eve.jid, &forged),
            1,
            "under eve's bare JID: {text}"
        );
        for who in ["boss@localhost", bob.jid.as_str()] {
            assert_eq!(count(&text, who, &forged), 0, "not as {who}: {text}");
        }
    }
    assert!(
        !dir.join("boss@localhost").exists(),
        "no directory for boss"
    );
    let own = std::fs::read_to_string(dir.join(&bob.jid).join("out")).unwrap_or_default();
    assert!(
        !own.contains("forged"),
        "nothing in a conversation with ourselves: {own}"
    );
    stop(&dir, &mut session);
}

/// Iq answers nobody asked for, from a contact, against Prosody: 10,001
/// results with ids of eve's choosing (as if guessed) leave nothing in
/// DIR/iq, are told in DIR/log in a few lines (one a burst), and cost no
/// new-contact name: a new contact's first message still gets its own
/// directory afterwards.
#[test]
fn a_flood_of_planted_iq_answers_changes_nothing_in_the_tree() {
    let prosody = Prosody::shared();
    let (eve, bob, carol) = (
        prosody.new_account("eve"),
        prosody.new_account("bob"),
        prosody.new_account("carol"),
    );
    let temp = TempDir::new("tree-iq-flood");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let bob_full = session_jid(&dir, &bob);
    let mut raw = raw_client(prosody, &eve, None);
    let mut flood = String::new();
    for n in 0..10_001 {
        flood.push_str(&format!(
            "<iq type='result' id='xp-1-{n}-planted' to='{bob_full}'>\
             <query xmlns='jabber:iq:roster'><item jid='boss@localhost' subscription='both'/></query></iq>"
        ));
    }
    raw.send(&flood);
    // Then eve's own chat line: everything before it was taken by then.
    let last = harness::unique("after the flood");
    raw.send(&format!(
        "<message to='{bob_full}' type='chat'><body>{last}</body></message>"
    ));
    wait_for_file(&dir.join(&eve.jid).join("out"), LIMIT, |o| {
        o.contains(&last)
    });
    let planted: Vec<_> = std::fs::read_dir(dir.join("iq"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        planted.iter().all(|n| n.to_string_lossy().starts_with('.')),
        "no answer taken: {planted:?}"
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let warnings = log.lines().filter(|l| l.contains("nobody asked")).count();
    assert!(
        (1..=6).contains(&warnings),
        "a line a burst, not one an answer ({warnings}):\n{log}"
    );
    // A new contact still gets a directory of its own.
    let mut carol_online = harness::online(prosody, &carol);
    let hello = harness::unique("hello from carol");
    marker(
        &mut carol_online,
        &bob,
        &dir.join(&carol.jid).join("out"),
        &hello,
    );
    carol_online.close_stdin();
    stop(&dir, &mut session);
}

/// bob's phone is an independent client (slixmpp): what it sends to alice
/// while the tree is stopped comes back with the archive as bob's own line,
/// and what it sends while the tree runs comes as a carbon, once each.
#[test]
fn an_independent_client_as_the_phone_is_in_the_tree_once() {
    let Some(python) = harness::interop_python_or_skip("tree phone") else {
        return;
    };
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-phone");
    let dir = temp.join("xmpp");
    let out_path = dir.join(&alice.jid).join("out");
    let mut session = start(prosody, &bob, &dir);
    let mut alice_online = harness::online(prosody, &alice);
    let first = marker(
        &mut alice_online,
        &bob,
        &out_path,
        &harness::unique("first"),
    );
    stop(&dir, &mut session);

    let mut phone = Command::new(python);
    phone
        .arg(harness::interop_script("phone.py"))
        .arg(&bob.jid)
        .arg(&bob.password_file)
        .arg("127.0.0.1")
        .arg(prosody.starttls_port().to_string())
        .arg(prosody.ca_pem());
    let mut phone = Spawned::start(phone);
    phone.expect_line(LIMIT, |line| line == "online");
    let away = harness::unique("from the phone while stopped");
    phone.write(format!("{} {away}\n", alice.jid).as_bytes());
    alice_online.expect_line(LIMIT, |line| line.contains(&away));

    let mut session = start(prosody, &bob, &dir);
    wait_for_file(&out_path, LIMIT, |out| out.contains(&away));
    let live = harness::unique("from the phone while running");
    phone.write(format!("{} {live}\n", alice.jid).as_bytes());
    alice_online.expect_line(LIMIT, |line| line.contains(&live));
    let out = wait_for_file(&out_path, LIMIT, |out| out.contains(&live));
    assert_eq!(count(&out, &bob.jid, &away), 1, "{out}");
    assert_eq!(count(&out, &bob.jid, &live), 1, "{out}");
    assert!(out.find(&away) < out.find(&live), "{out}");
    assert_eq!(out.lines().count(), first.lines().count() + 2, "{out}");
    phone.close_stdin();
    alice_online.close_stdin();
    stop(&dir, &mut session);
}

/// A contact cannot make herself a room we are in: eve sends bob a presence
/// that says, with XEP-0045's status 110, that it is his own in "her room",
/// then a groupchat line. No room is made of her (no occupants file), her
/// line shows under her bare JID, bob's line to her still goes as chat, and
/// DIR/log says what was refused. (xmpp-auth tells jid-route each join it
/// sends; only those rooms are rooms.)
#[test]
fn a_contact_who_claims_that_we_are_in_her_room_makes_no_room() {
    let prosody = Prosody::shared();
    let (eve, bob) = (prosody.new_account("eve"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-forged-room");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let bob_full = session_jid(&dir, &bob);
    let mut raw = raw_client(prosody, &eve, Some("bob"));
    // Available, so that a chat to her bare JID reaches this client.
    raw.send("<presence/>");
    raw.send(&format!(
        "<presence to='{bob_full}'><x xmlns='http://jabber.org/protocol/muc#user'>\
         <item role='moderator' affiliation='owner'/><status code='110'/></x></presence>"
    ));
    let forged = harness::unique("as if a room");
    raw.send(&format!(
        "<message to='{bob_full}' type='groupchat'><body>{forged}</body></message>"
    ));
    let eve_dir = dir.join(&eve.jid);
    let out = wait_for_file(&eve_dir.join("out"), LIMIT, |o| o.contains(&forged));
    assert_eq!(count(&out, &eve.jid, &forged), 1, "under her JID: {out}");
    assert!(!eve_dir.join("occupants").exists(), "no room of eve's");
    assert!(
        !out.contains("in the room"),
        "her presence is hers, no room's: {out}"
    );
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "a presence from {}/bob says we are in it (XEP-0045 status 110)",
            eve.jid
        )),
        "{log}"
    );
    let reply = harness::unique("a chat line back");
    let mut say = harness::example("ii-client");
    say.arg("say").arg(&dir).arg(&eve.jid).arg(&reply);
    harness::run(say, b"", LIMIT).assert_success();
    let got = raw.until(&reply);
    let message = &got[got.rfind("<message").expect("a message")..];
    assert!(message.contains("type='chat'"), "{message}");
    stop(&dir, &mut session);
}

/// Group chat catch-up (MUC MAM, XEP-0313 §6): what a room said while the
/// tree was stopped (more lines than the room's history gives) is in the
/// room's `out` after the next join, once each, in order, with the time it
/// was said; what was written before is not written again, and a live
/// line afterwards comes once.
#[test]
fn what_a_room_said_while_the_tree_was_stopped_comes_from_the_room_s_archive() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-room-archive");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let room = format!("{}@{}", harness::unique("archived"), prosody.muc_domain());
    let out_path = dir.join(&room).join("out");
    cmd(&dir, &format!("/join {room}/bob")).assert_success();
    wait_for_file(&out_path, LIMIT, |out| out.contains("others can join"));
    let mut alice_online = harness::online(prosody, &alice);
    alice_online.write(
        format!(
            "<presence to='{room}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>\n"
        )
        .as_bytes(),
    );
    alice_online.expect_line(LIMIT, |line| line.contains("status code='110'"));
    let said = |alice: &mut Spawned, text: &str| {
        alice.write(
            format!("<message to='{room}' type='groupchat'><body>{text}</body></message>\n")
                .as_bytes(),
        );
        // The room sends every line back to its author: then it is archived.
        alice.expect_line(LIMIT, |line| line.contains(text));
    };
    let before = harness::unique("before");
    said(&mut alice_online, &before);
    wait_for_file(&out_path, LIMIT, |out| out.contains(&before));
    stop(&dir, &mut session);

    // 30 lines while bob's tree is stopped: Prosody's history gives 20.
    let away: Vec<String> = (0..30)
        .map(|n| harness::unique(&format!("room away{n:02}")))
        .collect();
    for text in &away {
        said(&mut alice_online, text);
    }
    let mut session = start(prosody, &bob, &dir);
    cmd(&dir, &format!("/join {room}/bob")).assert_success();
    wait_for_file(&out_path, LIMIT, |out| {
        away.iter().all(|text| out.contains(text))
    });
    let after = harness::unique("room after");
    said(&mut alice_online, &after);
    let out = wait_for_file(&out_path, LIMIT, |o| o.contains(&after));
    for text in away.iter().chain([&before, &after]) {
        assert_eq!(count(&out, "alice", text), 1, "{text}: {out}");
    }
    let position = |text: &str| out.find(text).unwrap();
    assert!(position(&before) < position(&away[0]), "{out}");
    for pair in away.windows(2) {
        assert!(position(&pair[0]) < position(&pair[1]), "in order: {out}");
    }
    assert!(position(&away[29]) < position(&after), "{out}");
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    assert!(
        log.contains(&format!(
            "{room}: caught up from the room's archive: 30 message(s) written"
        )),
        "{log}"
    );
    let record = std::fs::read_to_string(dir.join(".archive")).unwrap();
    let mark = record
        .lines()
        .find(|l| l.starts_with(&format!("room {room} ")))
        .unwrap_or_else(|| panic!("the room's mark: {record}"));
    assert_eq!(mark.split(' ').count(), 4, "with the room's id: {mark}");
    eprintln!("acceptance: {room}/out after the catch-up:\n{out}");
    alice_online.close_stdin();
    stop(&dir, &mut session);
}

/// The hostile contact as an independent client (slixmpp, logged in as eve
/// with the resource `boss@localhost`): a groupchat line to bob's full JID,
/// a presence saying bob is in "her room" (status 110) and another groupchat
/// line, a carbon copy of a made-up message from boss, an archive result
/// naming boss, and an iq result with a guessed id. The tree shows eve's
/// two lines as hers, makes no room of her and no directory for boss, takes
/// no iq answer, puts the forged copies in DIR/unrouted, and bob's answer
/// still reaches her as chat.
#[test]
fn an_independent_client_as_the_hostile_contact_forges_nothing() {
    let Some(python) = harness::interop_python_or_skip("tree hostile contact") else {
        return;
    };
    let prosody = Prosody::shared();
    let (eve, bob) = (prosody.new_account("eve"), prosody.new_account("bob"));
    let temp = TempDir::new("tree-hostile");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    let bob_full = session_jid(&dir, &bob);
    let mut hostile = Command::new(python);
    hostile
        .arg(harness::interop_script("hostile.py"))
        .arg(format!("{}/boss@localhost", eve.jid))
        .arg(&eve.password_file)
        .arg("127.0.0.1")
        .arg(prosody.starttls_port().to_string())
        .arg(prosody.ca_pem());
    let mut hostile = Spawned::start(hostile);
    hostile.expect_line(LIMIT, |line| line.starts_with("online "));
    let text: Vec<String> = ["as boss", "as a room", "carbon", "archive", "last"]
        .iter()
        .map(|what| harness::unique(what))
        .collect();
    let groupchat = |body: &str| {
        format!("<message to='{bob_full}' type='groupchat'><body>{body}</body></message>")
    };
    let forwarded = |body: &str| {
        format!(
            "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' \
             stamp='2026-01-01T00:00:00Z'/><message xmlns='jabber:client' from='boss@localhost/pc' \
             to='{}' type='chat'><body>{body}</body></message></forwarded>",
            bob.jid
        )
    };
    let lines = [
        groupchat(&text[0]),
        format!(
            "<presence to='{bob_full}'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <item role='moderator' affiliation='owner'/><status code='110'/></x></presence>"
        ),
        groupchat(&text[1]),
        format!(
            "<message to='{}'><received xmlns='urn:xmpp:carbons:2'>{}</received></message>",
            bob.jid,
            forwarded(&text[2])
        ),
        format!(
            "<message to='{}'><result xmlns='urn:xmpp:mam:2' queryid='guessed' id='A1'>{}</result></message>",
            bob.jid,
            forwarded(&text[3])
        ),
        format!(
            "<iq type='result' id='xp-1-0-guessed' to='{bob_full}'><query xmlns='jabber:iq:roster'>\
             <item jid='boss@localhost' subscription='both'/></query></iq>"
        ),
        format!("<message to='{}' type='chat'><body>{}</body></message>", bob.jid, text[4]),
    ];
    for line in &lines {
        hostile.write(format!("{line}\n").as_bytes());
    }
    let eve_dir = dir.join(&eve.jid);
    let out = wait_for_file(&eve_dir.join("out"), LIMIT, |o| o.contains(&text[4]));
    for said in &text[..2] {
        assert_eq!(count(&out, &eve.jid, said), 1, "under eve's JID: {out}");
    }
    assert!(!out.contains(&text[2]) && !out.contains(&text[3]), "{out}");
    for who in ["boss@localhost", bob.jid.as_str(), "boss%40localhost"] {
        assert!(
            !out.contains(&format!("<{who}>")),
            "nothing as {who}: {out}"
        );
    }
    assert!(!eve_dir.join("occupants").exists(), "no room of eve's");
    assert!(
        !dir.join("boss@localhost").exists(),
        "no directory for boss"
    );
    let unrouted = std::fs::read_to_string(dir.join("unrouted")).unwrap_or_default();
    assert!(
        unrouted.contains(&text[2]) && unrouted.contains(&text[3]),
        "the forged copies: {unrouted}"
    );
    let answers: Vec<_> = std::fs::read_dir(dir.join("iq"))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        answers.iter().all(|n| n.to_string_lossy().starts_with('.')),
        "no planted answer: {answers:?}"
    );
    let reply = harness::unique("bob answers");
    let mut say = harness::example("ii-client");
    say.arg("say").arg(&dir).arg(&eve.jid).arg(&reply);
    harness::run(say, b"", LIMIT).assert_success();
    hostile.expect_line(LIMIT, |line| {
        line == format!("got {} chat {reply}", bob.jid)
    });
    hostile.close_stdin();
    stop(&dir, &mut session);
}

//! End to end: group chat (XEP-0045) with `xmpp-auth --join`, against the
//! harness Prosody's MUC service, as a notifier uses it: join, post, leave,
//! and every way a room can say no, each with its exit status.

use harness::{login, run, Account, Output, Prosody, Spawned, TempDir, Transport};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// A fresh room name on the MUC service (not created yet).
fn new_room(prosody: &Prosody) -> String {
    format!(
        "{}@{}",
        harness::unique("room").to_lowercase(),
        prosody.muc_domain()
    )
}

/// A groupchat message line.
fn groupchat(room: &str, body: &str) -> String {
    format!("<message to='{room}' type='groupchat'><body>{body}</body></message>\n")
}

/// Whether `line` is the room's presence about `occupant` that says it is us (status 110).
fn is_self_presence(line: &str, occupant: &str) -> bool {
    line.starts_with("<presence")
        && line.contains(&format!("from='{occupant}'"))
        && line.contains("code='110'")
}

/// A participant that stays in the room (bridge mode): joined with
/// `xmpp-auth --join OCCUPANT [args]`; returns once the room let it in.
fn participant(prosody: &Prosody, account: &Account, occupant: &str, args: &[&str]) -> Spawned {
    let mut auth_args = vec!["--join", occupant];
    auth_args.extend_from_slice(args);
    let mut session = Spawned::start(login(prosody, account, Transport::StartTls, &auth_args));
    session.expect_line(LIMIT, |line| is_self_presence(line, occupant));
    session
}

/// The room's owner: creates `room` with the nick `owner` and stays in it.
fn owner(prosody: &Prosody, room: &str) -> (Account, Spawned) {
    let account = prosody.new_account("owner");
    let session = participant(
        prosody,
        &account,
        &format!("{room}/owner"),
        &["--create-rooms"],
    );
    (account, session)
}

/// Send an iq from a participant's session and wait for its result.
fn iq(session: &mut Spawned, id: &str, iq: &str) {
    session.write_line(iq);
    let answer = session.expect_line(LIMIT, |line| {
        line.starts_with("<iq") && line.contains(&format!("id='{id}'"))
    });
    assert!(answer.contains("type='result'"), "{answer}");
}

/// Change a room's configuration (XEP-0045 §10.2): `fields` are (var, value).
fn configure(session: &mut Spawned, room: &str, fields: &[(&str, &str)]) {
    let fields: String = fields
        .iter()
        .map(|(var, value)| format!("<field var='{var}'><value>{value}</value></field>"))
        .collect();
    iq(
        session,
        "cfg",
        &format!(
            "<iq type='set' to='{room}' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>\
             <value>http://jabber.org/protocol/muc#roomconfig</value></field>{fields}</x></query></iq>"
        ),
    );
}

/// Post `input` with a one-shot chain `xmpp-auth [args] JID` (bridge mode).
fn post(prosody: &Prosody, account: &Account, args: &[&str], input: &str) -> Output {
    run(
        login(prosody, account, Transport::StartTls, args),
        input.as_bytes(),
        LIMIT,
    )
}

/// Post a marker message to `room` from `session` (a participant), and wait
/// for the room to reflect it; panics if any line before it contains one of
/// `absent`. As the room relays in order, what was not seen before the
/// marker was not posted before it.
fn assert_not_posted(session: &mut Spawned, room: &str, absent: &[&str]) {
    let marker = format!("marker {}", harness::random_string(8));
    session.write(groupchat(room, &marker).as_bytes());
    session.expect_line(LIMIT, |line| {
        for text in absent {
            assert!(!line.contains(text), "{text:?} was posted: {line}");
        }
        line.contains(&marker)
    });
}

/// Check a failed run: the status, and one stderr line that contains `says`.
#[track_caller]
fn assert_failed(output: &Output, status: i32, says: &str) {
    assert_eq!(output.code(), Some(status), "{output}");
    let stderr = output.stderr_str();
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {output}");
    assert!(stderr.contains(says), "{output}");
}

fn write_private(path: &Path, content: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(content.as_bytes()))
        .unwrap();
}

#[test]
fn a_notifier_joins_posts_and_leaves() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let (_, mut watcher) = owner(prosody, &room);
    let notifier = prosody.new_account("notifier");
    let occupant = format!("{room}/cron");
    let body = format!("backup done {}", harness::random_string(8));
    let output = post(
        prosody,
        &notifier,
        &["--join", &occupant],
        &groupchat(&room, &body),
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "a successful post is silent");
    let stdout = output.stdout_str();
    assert!(
        stdout.lines().any(|line| is_self_presence(line, &occupant)),
        "the room's self-presence goes downstream: {stdout}"
    );
    assert!(
        !stdout.contains("<delay"),
        "no history was asked for: {stdout}"
    );

    let from = format!("from='{occupant}'");
    let joined = watcher.expect_line(LIMIT, |line| {
        line.starts_with("<presence") && line.contains(&from)
    });
    assert!(
        !joined.contains("type="),
        "the notifier joined first: {joined}"
    );
    let message = watcher.expect_line(LIMIT, |line| line.contains(&body));
    assert!(message.starts_with("<message"), "{message}");
    assert!(message.contains(&from), "{message}");
    assert!(message.contains("type='groupchat'"), "{message}");
    let left = watcher.expect_line(LIMIT, |line| {
        line.starts_with("<presence") && line.contains(&from)
    });
    assert!(left.contains("type='unavailable'"), "then left: {left}");
}

#[test]
fn a_program_posts_once_the_room_is_joined() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let (_, mut watcher) = owner(prosody, &room);
    let notifier = prosody.new_account("notifier");
    let occupant = format!("{room}/prog");
    let mut command = login(
        prosody,
        &notifier,
        Transport::StartTls,
        &["--join", &occupant],
    );
    // PROG writes at once: xmpp-auth holds it back until the room let us in.
    command.args([
        "sh",
        "-c",
        "printf \"<message to='$1' type='groupchat'><body>from prog</body></message>\" >&7; \
         exec 7>&-; cat <&6 >/dev/null",
        "sh",
        &room,
    ]);
    run(command, b"", LIMIT).assert_success();
    let message = watcher.expect_line(LIMIT, |line| line.contains("from prog"));
    assert!(message.contains(&format!("from='{occupant}'")), "{message}");
}

#[test]
fn a_wrong_room_password_is_refused_with_77_and_nothing_is_posted() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let (_, mut watcher) = owner(prosody, &room);
    configure(
        &mut watcher,
        &room,
        &[
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "right"),
        ],
    );
    let dir = TempDir::new("roompw");
    let (wrong, right) = (dir.join("wrong"), dir.join("right"));
    write_private(&wrong, "wrong\n");
    write_private(&right, "right\n");
    let notifier = prosody.new_account("notifier");
    let occupant = format!("{room}/cron");
    let password_args = |file: &PathBuf| {
        vec![
            "--join".to_owned(),
            occupant.clone(),
            "--room-password-file".to_owned(),
            file.display().to_string(),
        ]
    };
    let args = password_args(&wrong);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = post(
        prosody,
        &notifier,
        &args,
        &groupchat(&room, "wrong password"),
    );
    assert_failed(
        &output,
        77,
        &format!("cannot join {room} as cron: not-authorized"),
    );

    let args = password_args(&right);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    post(
        prosody,
        &notifier,
        &args,
        &groupchat(&room, "right password"),
    )
    .assert_success();
    watcher.expect_line(LIMIT, |line| {
        assert!(!line.contains("wrong password"), "posted: {line}");
        line.contains("right password")
    });
}

#[test]
fn a_room_password_file_readable_by_others_is_refused_with_78() {
    let prosody = Prosody::shared();
    let notifier = prosody.new_account("notifier");
    let dir = TempDir::new("roompw");
    let file = dir.join("pw");
    std::fs::write(&file, "secret").unwrap();
    let room = format!("{}/cron", new_room(prosody));
    let output = post(
        prosody,
        &notifier,
        &[
            "--join",
            &room,
            "--room-password-file",
            &file.display().to_string(),
        ],
        "",
    );
    assert_failed(&output, 78, "chmod 600");
}

#[test]
fn a_nick_in_use_is_a_conflict_with_75() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let (_, mut watcher) = owner(prosody, &room);
    let notifier = prosody.new_account("notifier");
    let output = post(
        prosody,
        &notifier,
        &["--join", &format!("{room}/owner")],
        &groupchat(&room, "as the owner's nick"),
    );
    assert_failed(&output, 75, "conflict: another occupant has the nick owner");
    assert_not_posted(&mut watcher, &room, &["as the owner's nick"]);
}

#[test]
fn members_only_and_banned_are_refused_with_77() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let (_, mut watcher) = owner(prosody, &room);
    let (outsider, banned) = (
        prosody.new_account("outsider"),
        prosody.new_account("banned"),
    );
    iq(
        &mut watcher,
        "ban",
        &format!(
            "<iq type='set' to='{room}' id='ban'><query xmlns='http://jabber.org/protocol/muc#admin'>\
             <item affiliation='outcast' jid='{}'/></query></iq>",
            banned.jid
        ),
    );
    let output = post(prosody, &banned, &["--join", &format!("{room}/b")], "");
    assert_failed(&output, 77, "forbidden: this account is banned");

    configure(&mut watcher, &room, &[("muc#roomconfig_membersonly", "1")]);
    let output = post(
        prosody,
        &outsider,
        &["--join", &format!("{room}/o")],
        &groupchat(&room, "from outside"),
    );
    assert_failed(
        &output,
        77,
        "registration-required: the room is members-only",
    );
    assert_not_posted(&mut watcher, &room, &["from outside"]);
}

#[test]
fn a_room_that_does_not_exist_is_not_created_without_create_rooms() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let notifier = prosody.new_account("notifier");
    let occupant = format!("{room}/cron");
    let output = post(
        prosody,
        &notifier,
        &["--join", &occupant],
        &groupchat(&room, "into the void"),
    );
    assert_failed(&output, 69, &format!("the room {room} did not exist"));
    assert!(output.stderr_str().contains("--create-rooms"), "{output}");
    // We left it, so it is gone: the next join creates it again.
    let output = post(prosody, &notifier, &["--join", &occupant], "");
    assert_failed(&output, 69, "did not exist");
}

#[test]
fn a_groupchat_message_to_a_room_not_joined_is_refused_with_65() {
    let prosody = Prosody::shared();
    let (joined, other) = (new_room(prosody), new_room(prosody));
    let (_, mut watcher) = owner(prosody, &joined);
    let (_, mut other_watcher) = owner(prosody, &other);
    let notifier = prosody.new_account("notifier");
    let input = [
        groupchat(&joined, "first"),
        groupchat(&other, "second"),
        groupchat(&joined, "third"),
    ]
    .concat();
    let output = post(
        prosody,
        &notifier,
        &["--join", &format!("{joined}/cron")],
        &input,
    );
    assert_failed(
        &output,
        65,
        &format!(
            "message to room {other}, which this session did not join: join it first (--join {other}/NICK, or the join presence of stanza-fmt's /join {other}/NICK)"
        ),
    );
    watcher.expect_line(LIMIT, |line| line.contains("first"));
    assert_not_posted(&mut watcher, &joined, &["third"]);
    assert_not_posted(&mut other_watcher, &other, &["second"]);

    // Without any --join, too.
    let output = post(prosody, &notifier, &[], &groupchat(&other, "no join"));
    assert_failed(&output, 65, "which this session did not join");
    assert_not_posted(&mut other_watcher, &other, &["no join"]);
}

#[test]
fn a_room_that_never_answers_times_out_with_75() {
    let prosody = Prosody::shared();
    let (notifier, offline) = (
        prosody.new_account("notifier"),
        prosody.new_account("offline"),
    );
    // Presence to an offline account's full JID is dropped by the server: no answer ever comes.
    let occupant = format!("{}/cron", offline.jid);
    let started = std::time::Instant::now();
    let output = post(
        prosody,
        &notifier,
        &["--timeout", "2", "--join", &occupant],
        &groupchat(&offline.jid, "never"),
    );
    assert_failed(
        &output,
        75,
        &format!("timed out after 2 s waiting to join {}", offline.jid),
    );
    assert!(started.elapsed() < LIMIT, "{:?}", started.elapsed());
}

#[test]
fn a_room_on_a_server_out_of_reach_is_refused_with_77() {
    let prosody = Prosody::shared();
    let notifier = prosody.new_account("notifier");
    let output = post(
        prosody,
        &notifier,
        &["--join", "room@conference.nowhere.invalid/cron"],
        "",
    );
    // The harness Prosody has no server-to-server connections.
    assert_failed(
        &output,
        77,
        "cannot join room@conference.nowhere.invalid as cron: not-allowed \
         (Communication with remote domains is not enabled)",
    );
}

/// `examples/room-notify` with the built tools first on PATH.
fn room_notify() -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tools = harness::tool("xmpp-auth");
    let mut path = std::ffi::OsString::from(tools.parent().unwrap());
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut command = Command::new(root.join("examples/room-notify"));
    command.env("PATH", path);
    command
}

#[test]
fn the_room_notify_example_posts_stdin_as_one_message() {
    let prosody = Prosody::shared();
    let room = new_room(prosody);
    let (_, mut watcher) = owner(prosody, &room);
    let notifier = prosody.new_account("notifier");
    let mut command = room_notify();
    command
        .args(["--nick", "monitor", "--timeout", "20", &room, &notifier.jid])
        .arg(&notifier.password_file)
        .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
        .arg("--cafile")
        .arg(prosody.ca_pem());
    let output = run(command, b"disk full\non /var\n", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    let message = watcher.expect_line(LIMIT, |line| line.contains("disk full"));
    assert!(
        message.contains("disk full&#10;on /var"),
        "one message with both lines: {message}"
    );
    assert!(
        message.contains(&format!("from='{room}/monitor'")),
        "{message}"
    );

    // A wrong nick is the chain's failure, with its status.
    let mut command = room_notify();
    command
        .args(["--nick", "owner", &room, &notifier.jid])
        .arg(&notifier.password_file)
        .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
        .arg("--cafile")
        .arg(prosody.ca_pem());
    let output = run(command, b"again", LIMIT);
    assert_failed(&output, 75, "conflict");
}

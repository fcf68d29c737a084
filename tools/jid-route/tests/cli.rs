//! jid-route as a process: rules and actions, the directory tree and its
//! safety against hostile JIDs and ids, the answers a client owes, and errors.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_jid-route");

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("jid-route-{name}"));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn route_env(args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("XMPP_JID")
        .envs(env.iter().copied());
    feed(command, input)
}

/// Run `command` (jid-route, perhaps behind a wrapper) with `input` on its
/// stdin; its output.
fn feed(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn route(args: &[&str], input: &str) -> Output {
    route_env(args, input, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every path under `root`, relative, sorted.
fn listing(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            found.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

fn lines(stanzas: &[&str]) -> String {
    stanzas.iter().map(|s| format!("{s}\n")).collect()
}

/// Whether `line` is `YYYY-MM-DD HH:MM rest`.
fn timed(line: &str, rest: &str) -> bool {
    let bytes = line.as_bytes();
    line.len() == 17 + rest.len()
        && line.ends_with(rest)
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b' '
        && bytes[13] == b':'
        && bytes[16] == b' '
        && line[..16]
            .chars()
            .all(|c| c.is_ascii_digit() || "- :".contains(c))
}

#[test]
fn rules_route_to_stdout_files_and_drop() {
    let root = scratch("rules");
    let log = root.join("boss.log");
    let rule = format!("message:chat from=boss@example.org >> {}", log.display());
    let input = lines(&[
        "<message from='Boss@Example.org/desk' type='chat'><body>report!</body></message>",
        "<message from='bob@example.org/pc' type='chat'><body>hi</body></message>",
        "<presence from='bob@example.org/pc'/>",
        "<message from='boss@example.org/desk' type='headline'><body>news</body></message>",
    ]);
    let output = route(&[&rule, "message -", "drop"], &input);
    ok(&output);
    assert_eq!(
        read(&log),
        "<message from='Boss@Example.org/desk' type='chat'><body>report!</body></message>\n"
    );
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        text(&output.stdout),
        "<message from='bob@example.org/pc' type='chat'><body>hi</body></message>\n\
         <message from='boss@example.org/desk' type='headline'><body>news</body></message>\n"
    );
    // Appended, not truncated, on the next run.
    ok(&route(&[&rule, "drop"], &input));
    assert_eq!(read(&log).lines().count(), 2);
}

#[test]
fn unmatched_stanzas_are_counted() {
    let output = route(
        &["iq drop"],
        &lines(&["<message from='a@b'><body>x</body></message>"]),
    );
    ok(&output);
    assert!(
        text(&output.stderr).contains("1 stanza(s) matched no rule"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn bad_rules_are_usage_errors_naming_the_rule() {
    for (rule, why) in [
        ("mesage -", "unknown stanza kind"),
        ("message:chta", "not a type of message"),
        ("message >>", "needs a file name"),
        ("message print", "unknown action"),
    ] {
        let output = route(&[rule], "");
        assert_eq!(output.status.code(), Some(64), "{rule}");
        let err = text(&output.stderr);
        assert!(
            err.contains(&format!("{rule:?}")) && err.contains(why),
            "{err}"
        );
    }
    assert_eq!(route(&[], "").status.code(), Some(64), "nothing to do");
    assert_eq!(route(&["--bogus", "-"], "").status.code(), Some(64));
    assert_eq!(route(&["--me", "@@", "-"], "").status.code(), Some(64));
    for bad in ["x", "-1", ""] {
        let output = route(&["--max-new", bad, "-"], "");
        assert_eq!(output.status.code(), Some(64), "{bad}");
        let err = text(&output.stderr);
        assert!(err.contains("--max-new takes a whole number"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn run_command_gets_the_stanza_and_its_fields() {
    let root = scratch("run");
    let out = root.join("env");
    let rule = format!(
        "message ! {{ printf '%s|' \"$XMPP_KIND\" \"$XMPP_TYPE\" \"$XMPP_FROM\" \"$XMPP_FROM_BARE\" \"$XMPP_ID\" \
         \"$XMPP_BODY\" \"$XMPP_SUBJECT\" \"$XMPP_THREAD\" \"$XMPP_NICK\" \"${{XMPP_ERROR-unset}}\"; cat; }} >> {}",
        out.display()
    );
    let input = lines(&[
        "<message from='bob@example.org/pc' type='chat' id='m1'><body>it&apos;s $(touch pwned) `x`</body>\
         <subject>s</subject><thread>t</thread></message>",
        "<message from='room@muc.example.org/Al' type='groupchat'><body>yo</body></message>",
    ]);
    let output = route_env(&[&rule], &input, &[("XMPP_NICK", "leaked")]);
    ok(&output);
    let got = read(&out);
    let mut lines = got.lines();
    assert_eq!(
        lines.next().unwrap(),
        "message|chat|bob@example.org/pc|bob@example.org|m1|it's $(touch pwned) `x`|s|t||unset|\
         <message from='bob@example.org/pc' type='chat' id='m1'><body>it&apos;s $(touch pwned) `x`</body>\
         <subject>s</subject><thread>t</thread></message>"
    );
    assert!(lines.next().unwrap().starts_with(
        "message|groupchat|room@muc.example.org/Al|room@muc.example.org||yo|||Al|unset|<message"
    ));
    assert!(!Path::new("pwned").exists() && !root.join("pwned").exists());
}

#[test]
fn failing_run_command_is_a_warning() {
    let output = route(
        &["! exit 3"],
        &lines(&["<presence from='a@b'/>", "<presence from='c@d'/>"]),
    );
    ok(&output);
    assert_eq!(
        text(&output.stderr).matches("exit status: 3").count(),
        2,
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn pipe_command_runs_once_for_all_stanzas() {
    let root = scratch("pipe");
    let out = root.join("piped");
    let rule = format!("presence | {{ echo started; cat; }} > {}", out.display());
    let input = lines(&[
        "<presence from='a@b'/>",
        "<message from='a@b'/>",
        "<presence from='c@d'/>",
    ]);
    ok(&route(&[&rule, "drop"], &input));
    assert_eq!(
        read(&out),
        "started\n<presence from='a@b'/>\n<presence from='c@d'/>\n"
    );
}

#[test]
fn chat_groupchat_subject_and_errors_in_the_tree() {
    let root = scratch("chat");
    let dir = root.join("tree");
    let input = lines(&[
        "<message from='Bob@Localhost/pc' type='chat'><body>hi&#10;2026-01-01 00:00 &lt;boss@localhost&gt; fake\u{1b}[2J</body></message>",
        // We are in the room (our own presence, status 110): its groupchat is the room's.
        "<presence from='room@muc.localhost/me'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x></presence>",
        "<message from='room@muc.localhost/Al' type='groupchat'><subject>plans</subject></message>",
        "<message from='room@muc.localhost/Al' type='groupchat'><body>yo</body></message>",
        "<message from='bob@localhost' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        "<message from='bob@localhost/pc' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<message from='eve@localhost/boss@localhost' type='groupchat'><body>pay me</body></message>",
    ]);
    let output = route(
        &["--dir", dir.to_str().unwrap(), "--reply", "/dev/null"],
        &input,
    );
    ok(&output);
    let out = read(dir.join("bob@localhost/out"));
    let out: Vec<&str> = out.lines().collect();
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(timed(out[0], "<bob@localhost> hi"), "{}", out[0]);
    assert!(
        timed(
            out[1],
            "<bob@localhost> 2026-01-01 00:00 <boss@localhost> fake\u{FFFD}[2J"
        ),
        "a body cannot forge a line or send escapes: {}",
        out[1]
    );
    assert!(
        timed(
            out[2],
            "-!- message to bob@localhost failed: item-not-found"
        ),
        "{}",
        out[2]
    );
    let room = read(dir.join("room@muc.localhost/out"));
    let room: Vec<&str> = room.lines().collect();
    assert!(
        timed(room[0], "-!- you are in the room as me"),
        "{}",
        room[0]
    );
    assert!(
        timed(room[1], "-!- Al set the topic to: plans"),
        "{}",
        room[1]
    );
    assert!(timed(room[2], "<Al> yo"), "{}", room[2]);
    // A contact's "groupchat" is no room's: its author is the contact, not
    // the resource it chose.
    let eve = read(dir.join("eve@localhost/out"));
    assert_eq!(eve.lines().count(), 1, "{eve}");
    assert!(
        timed(eve.lines().next().unwrap(), "<eve@localhost> pay me"),
        "{eve}"
    );
    for path in ["", "bob@localhost", "room@muc.localhost"] {
        let mode = std::fs::metadata(dir.join(path))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{path}");
    }
    let mode = std::fs::metadata(dir.join("bob@localhost/out"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn epoch_times() {
    let root = scratch("epoch");
    let dir = root.join("tree");
    let input = lines(&["<message from='bob@localhost/pc'><body>x</body></message>"]);
    ok(&route(
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--epoch",
            "--reply",
            "/dev/null",
        ],
        &input,
    ));
    let out = read(dir.join("bob@localhost/out"));
    let (time, rest) = out.split_once(' ').unwrap();
    assert!(time.parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(rest, "<bob@localhost> x\n");
}

#[test]
fn presence_files_are_replaced_and_cleared_at_the_end() {
    let root = scratch("presence");
    let dir = root.join("tree");
    let input = lines(&[
        "<presence from='bob@localhost/pc'><show>away</show><status>at lunch</status></presence>",
        "<presence from='bob@localhost/phone'><priority>5</priority></presence>",
        "<presence from='me@localhost/other'><show>dnd</show></presence>",
        "<presence from='carol@localhost/x' type='unavailable'/>",
        "<presence from='bob@localhost' type='subscribe'/>",
    ]);
    let mut child = Command::new(BIN)
        .args([
            "--dir",
            dir.to_str().unwrap(),
            "--me",
            "me@localhost/pipes",
            "--reply",
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Wait until the last stanza was routed, then look before the end.
    let out = dir.join("bob@localhost/out");
    for _ in 0..200 {
        if out.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(read(dir.join("bob@localhost/presence")), "available\n");
    assert_eq!(read(dir.join("mypresence")), "dnd\n");
    assert_eq!(read(dir.join("carol@localhost/presence")), "unavailable\n");
    assert!(read(&out).ends_with(
        " -!- bob@localhost asks to subscribe to your presence (answer: /approve bob@localhost or /deny bob@localhost)\n"
    ));
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert_eq!(read(dir.join("bob@localhost/presence")), "unavailable\n");
    assert_eq!(read(dir.join("mypresence")), "unavailable\n");
    assert!(
        !listing(&dir).iter().any(|p| p.contains(".tmp")),
        "{:?}",
        listing(&dir)
    );
}

#[test]
fn hostile_jids_and_ids_never_leave_the_tree() {
    let root = scratch("hostile");
    let dir = root.join("tree");
    let long = "a".repeat(300);
    let from = [
        "../../x@localhost",
        "a/../../b",
        "..@localhost",
        "..",
        "x@..",
        "a&#10;b@localhost",
        "a&#x1b;b@localhost",
        "a&#x2F;b@localhost",
        "",
        "@localhost",
        &format!("{long}@localhost"),
        "in",
        "iq",
        "unrouted",
        "x@local host",
    ];
    let mut input: Vec<String> = from
        .iter()
        .map(|f| format!("<message from='{f}' type='chat'><body>evil</body></message>"))
        .collect();
    input.push("<presence from='../etc@localhost/x'/>".into());
    input.push("<iq type='result' id='../../escape'/>".into());
    input.push("<iq type='result' id='/etc/passwd'/>".into());
    input.push("<iq type='error' id='..'/>".into());
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    // The answers were asked for (stanza-fmt --asked notes them so).
    for id in ["../../escape", "/etc/passwd", ".."] {
        xmpp_pipes::tree::note_asked(&dir, id, None).unwrap();
    }
    let output = route(
        &["--dir", dir.to_str().unwrap(), "--reply", "/dev/null"],
        &lines(&input),
    );
    ok(&output);
    // Nothing outside DIR: the scratch directory holds the tree only.
    assert_eq!(listing(&root)[0], "tree");
    assert!(listing(&root).iter().all(|p| p.starts_with("tree")));
    let tree = listing(&dir);
    assert_eq!(
        tree,
        [
            "a",
            "a/out",
            "iq",
            "iq/_",
            "iq/_.._escape",
            "iq/_etc_passwd",
            "unrouted"
        ],
        "a/../../b is the domain a with a resource; nothing else got a directory"
    );
    let unrouted = read(dir.join("unrouted"));
    // Routed: a/../../b and a&#x2F;b@localhost, both the domain "a" with a resource;
    // unrouted: every other message, and the presence.
    assert_eq!(unrouted.lines().count(), from.len() - 2 + 1, "{unrouted}");
    assert!(unrouted.contains("<message from='../../x@localhost'"));
    let errors = text(&output.stderr);
    assert_eq!(
        errors.matches("not routed").count(),
        from.len() - 1,
        "{errors}"
    );
    assert!(read(dir.join("iq/_.._escape")).contains("id='../../escape'"));
}

#[test]
fn stanzas_without_from_are_from_our_account() {
    let root = scratch("nofrom");
    let dir = root.join("tree");
    let input = lines(&["<message type='chat'><body>from the server</body></message>"]);
    let output = route(
        &["--dir", dir.to_str().unwrap(), "--reply", "/dev/null"],
        &input,
    );
    ok(&output);
    assert!(read(dir.join("unrouted")).contains("our own JID is unknown"));
    let output = route_env(
        &["--dir", dir.to_str().unwrap(), "--reply", "/dev/null"],
        &input,
        &[("XMPP_JID", "Me@Localhost/pipes")],
    );
    ok(&output);
    assert!(read(dir.join("me@localhost/out")).ends_with("<me@localhost> from the server\n"));
}

fn reply_lines(reply: &Path) -> Vec<String> {
    read(reply).lines().map(str::to_owned).collect()
}

#[test]
fn iq_requests_are_answered() {
    let root = scratch("answers");
    let reply = root.join("replies");
    let input = lines(&[
        "<iq from='a@localhost/x' type='get' id='u1'><query xmlns='urn:x:unknown'/></iq>",
        "<iq from='a@localhost/x' type='set' id='u2'><query xmlns='urn:x:unknown'/></iq>",
        "<iq from='a@localhost/x' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq from='a@localhost/x' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>",
        "<iq from='a@localhost/x' type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        "<iq from='a@localhost/x' type='result' id='r1'/>",
        "<iq from='a@localhost/x' type='error' id='e1'><error type='cancel'/></iq>",
        "<iq type='set' id='push1'><query xmlns='jabber:iq:roster'><item jid='b@localhost'/></query></iq>",
        "<iq from='eve@localhost/x' type='set' id='push2'><query xmlns='jabber:iq:roster'><item jid='eve@localhost'/></query></iq>",
        "<iq from='me@localhost' type='set' id='push3'><query xmlns='jabber:iq:roster'/></iq>",
    ]);
    let output = route(
        &["--reply", reply.to_str().unwrap(), "--me", "me@localhost/r"],
        &input,
    );
    ok(&output);
    let replies = reply_lines(&reply);
    let unavailable = "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
    assert_eq!(
        replies[0],
        format!("<iq type='error' to='a@localhost/x' id='u1'>{unavailable}")
    );
    assert_eq!(
        replies[1],
        format!("<iq type='error' to='a@localhost/x' id='u2'>{unavailable}")
    );
    assert_eq!(replies[2], "<iq type='result' to='a@localhost/x' id='p1'/>");
    assert_eq!(
        replies[3],
        format!(
            "<iq type='result' to='a@localhost/x' id='v1'><query xmlns='jabber:iq:version'><name>xmpp-pipes</name>\
             <version>{}</version></query></iq>",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(replies[4].starts_with("<iq type='result' to='a@localhost/x' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='console'"));
    for feature in [
        "http://jabber.org/protocol/disco#info",
        "jabber:iq:version",
        "urn:xmpp:ping",
    ] {
        assert!(
            replies[4].contains(&format!("<feature var='{feature}'/>")),
            "{}",
            replies[4]
        );
    }
    assert_eq!(
        replies[5], "<iq type='result' id='push1'/>",
        "roster push from our account"
    );
    assert_eq!(
        replies[6],
        format!("<iq type='error' to='eve@localhost/x' id='push2'>{unavailable}"),
        "spoofed push"
    );
    assert_eq!(
        replies[7],
        "<iq type='result' to='me@localhost' id='push3'/>"
    );
    assert_eq!(
        replies.len(),
        8,
        "results and errors are never answered: {replies:?}"
    );
    assert!(text(&output.stderr).contains("refusing a roster push from eve@localhost/x"));
    assert_eq!(
        std::fs::metadata(&reply).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn rules_can_claim_requests() {
    let root = scratch("claim");
    let reply = root.join("replies");
    let log = root.join("log");
    let input = lines(&[
        "<iq from='a@localhost/x' type='get' id='g1'><query xmlns='urn:x:a'/></iq>",
        "<iq from='a@localhost/x' type='get' id='g2'><query xmlns='urn:x:b'/></iq>",
    ]);
    let logged = format!("iq >> {}", log.display());
    let output = route(
        &[
            "--reply",
            reply.to_str().unwrap(),
            "iq from=nobody@x drop",
            &logged,
        ],
        &input,
    );
    ok(&output);
    assert_eq!(read(&log).lines().count(), 2, "logged ...");
    assert_eq!(reply_lines(&reply).len(), 2, "... and still answered");
    let output = route(&["--reply", reply.to_str().unwrap(), "iq:get drop"], &input);
    ok(&output);
    assert_eq!(reply_lines(&reply).len(), 2, "drop claims them: no answer");
    let output = route(&["iq:result drop"], &input);
    ok(&output);
    assert!(text(&output.stderr).contains("2 iq request(s) not answered"));
}

#[test]
fn iq_handlers_answer_their_namespace() {
    let root = scratch("handler");
    let reply = root.join("replies");
    let dir = root.join("tree");
    std::fs::create_dir_all(dir.join("ext")).unwrap();
    let ext = dir.join("ext/urn_x_time");
    std::fs::write(&ext, "#!/bin/sh\ncat >/dev/null\necho \"<iq type='result'><time xmlns='urn:x:time'>$XMPP_FROM</time></iq>\"\n").unwrap();
    std::fs::set_permissions(&ext, std::fs::Permissions::from_mode(0o700)).unwrap();
    let input = lines(&[
        "<iq from='a@localhost/x' type='get' id='w1'><q xmlns='urn:x:weather'/></iq>",
        "<iq from='a@localhost/x' type='get' id='b1'><q xmlns='urn:x:broken'/></iq>",
        "<iq from='a@localhost/x' type='get' id='t1'><time xmlns='urn:x:time'/></iq>",
        "<iq from='a@localhost/x' type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    ]);
    let output = route(
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--reply",
            reply.to_str().unwrap(),
            "--iq-handler",
            "urn:x:weather=grep -q \"id='w1'\" && echo \"<iq type='result' id='ignored' to='evil@x'><q xmlns='urn:x:weather'>sunny</q></iq>\"",
            "--iq-handler",
            "urn:x:broken=echo not xml",
        ],
        &input,
    );
    ok(&output);
    let replies = reply_lines(&reply);
    assert_eq!(
        replies[0],
        "<iq type='result' to='a@localhost/x' id='w1'><q xmlns='urn:x:weather'>sunny</q></iq>"
    );
    assert_eq!(
        replies[1],
        "<iq type='error' to='a@localhost/x' id='b1'><error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
    );
    assert_eq!(replies[2], "<iq type='result' to='a@localhost/x' id='t1'><time xmlns='urn:x:time'>a@localhost/x</time></iq>");
    assert!(replies[3].contains("<feature var='urn:x:weather'/>"));
    assert!(text(&output.stderr).contains("the handler of urn:x:broken"));
}

#[test]
fn a_hanging_handler_is_killed_and_the_request_answered() {
    let root = scratch("hang");
    let reply = root.join("replies");
    let input =
        lines(&["<iq from='a@localhost/x' type='get' id='h1'><q xmlns='urn:x:hang'/></iq>"]);
    let started = std::time::Instant::now();
    let output = route(
        &[
            "--reply",
            reply.to_str().unwrap(),
            "--iq-handler",
            "urn:x:hang=sleep 60 & sleep 60",
        ],
        &input,
    );
    ok(&output);
    assert!(started.elapsed().as_secs() < 30);
    assert!(reply_lines(&reply)[0].contains("<internal-server-error"));
    assert!(
        text(&output.stderr).contains("timed out"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn replies_to_a_pipe_nobody_reads_are_dropped_with_a_warning() {
    let root = scratch("fifo");
    let dir = root.join("tree");
    let input =
        lines(&["<iq from='a@localhost/x' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"]);
    let output = route(&["--dir", dir.to_str().unwrap()], &input);
    ok(&output);
    let meta = std::fs::symlink_metadata(dir.join("in")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(meta.file_type().is_fifo(), "DIR/in is made a named pipe");
    assert!(
        text(&output.stderr).contains("reply dropped"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn print_shows_readable_lines() {
    let input = lines(&[
        "<message from='bob@localhost/pc' type='chat'><body>hello</body></message>",
        "<presence from='bob@localhost/pc'><show>away</show><status>at lunch</status></presence>",
        "<iq type='error' id='r1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    ]);
    let output = route(&["--print"], &input);
    ok(&output);
    let shown: Vec<String> = text(&output.stdout)
        .lines()
        .map(|l| l[6..].to_owned())
        .collect();
    assert_eq!(
        shown,
        [
            "<bob@localhost> hello",
            "-!- bob@localhost is away (at lunch)",
            "-!- [iq r1] error: item-not-found"
        ]
    );
}

#[test]
fn malformed_line_exits_65_after_routing_the_lines_before() {
    let input = lines(&[
        "<message from='a@b'><body>1</body></message>",
        "<message from='a@b'><body>2</body>",
        "<message from='a@b'><body>3</body></message>",
    ]);
    let output = route(&["-"], &input);
    assert_eq!(output.status.code(), Some(65));
    assert_eq!(
        text(&output.stdout),
        "<message from='a@b'><body>1</body></message>\n"
    );
    assert!(
        text(&output.stderr).contains("line 2"),
        "{}",
        text(&output.stderr)
    );
    for bad in ["<foo/>", "not xml", "<message>&bomb;</message>"] {
        let output = route(&["-"], &format!("<presence/>\n{bad}\n"));
        assert_eq!(output.status.code(), Some(65), "{bad}");
        assert!(text(&output.stderr).contains("line 2"));
    }
    let output = route(
        &["--max-stanza", "20", "-"],
        "<presence/>\n<message><body>long enough</body></message>\n",
    );
    assert_eq!(output.status.code(), Some(65));
    assert_eq!(text(&output.stdout), "<presence/>\n");
}

#[test]
fn a_nul_reference_is_malformed() {
    let output = route(&["-"], "<message from='&#0;@localhost'/>\n");
    assert_eq!(output.status.code(), Some(65));
}

#[test]
fn stream_close_ends_input() {
    let output = route(
        &["-"],
        "<presence/>\n</stream:stream>\n<presence from='late@x'/>\n",
    );
    ok(&output);
    assert_eq!(text(&output.stdout), "<presence/>\n");
}

#[test]
fn append_file_that_cannot_be_created_is_73() {
    let output = route(&["message >> /nonexistent-dir/x.log"], "");
    assert_eq!(output.status.code(), Some(73), "{}", text(&output.stderr));
}

/// Symbolic links planted in the tree are never written through: not a
/// contact directory, not `out`, `presence`, `iq`, `unrouted` or
/// `mypresence`; their targets stay exactly as they were.
#[test]
fn symlinks_planted_in_the_tree_are_not_followed() {
    let root = scratch("planted-symlinks");
    let dir = root.join("DIR");
    let outside = root.join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(outside.join("victim-dir")).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let link = |name: &str, target: &Path| {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::os::unix::fs::symlink(target, path).unwrap();
    };
    // A contact directory that is a link, files that are links, the iq directory a link.
    link("bob@localhost", &outside.join("victim-dir"));
    link("carol@localhost/out", &victim);
    link("carol@localhost/presence", &victim);
    link("iq", &outside.join("victim-dir"));
    link("mypresence", &victim);
    link("unrouted", &victim);
    let input = lines(&[
        "<message from='bob@localhost/a' type='chat'><body>to bob</body></message>",
        "<message from='carol@localhost/a' type='chat'><body>to carol</body></message>",
        "<presence from='carol@localhost/a'><show>away</show></presence>",
        "<presence from='me@localhost/pipes'/>",
        "<iq from='localhost' type='result' id='r1'/>",
        "<message from='bad..jid@@x' type='chat'><body>unroutable</body></message>",
    ]);
    let output = route(
        &["--dir", dir.to_str().unwrap(), "--me", "me@localhost"],
        &input,
    );
    // However it reports them, it must not have written through any link.
    assert_eq!(read(&victim), "precious\n", "{}", text(&output.stderr));
    let victim_dir: Vec<_> = std::fs::read_dir(outside.join("victim-dir"))
        .unwrap()
        .collect();
    assert!(
        victim_dir.is_empty(),
        "written through a linked directory: {victim_dir:?}"
    );
    for name in [
        "bob@localhost",
        "carol@localhost/out",
        "carol@localhost/presence",
        "iq",
        "mypresence",
        "unrouted",
    ] {
        let meta = std::fs::symlink_metadata(dir.join(name)).unwrap();
        assert!(meta.file_type().is_symlink(), "{name} was replaced");
    }
    assert!(
        !text(&output.stderr).is_empty(),
        "the refusals are reported"
    );
    assert!(
        !text(&output.stderr).contains("panicked"),
        "{}",
        text(&output.stderr)
    );
}

/// `jid-route ARGS < input` with its address space limited to `bytes`
/// (RLIMIT_AS, through util-linux's prlimit): memory stays bounded, or the
/// run fails.
fn route_within(bytes: u64, args: &[&str], input: &str) -> Output {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--as={bytes}"))
        .arg(BIN)
        .args(args)
        .env_remove("XMPP_JID");
    feed(command, input)
}

#[test]
fn a_flood_of_senders_ids_and_a_huge_nick_stay_within_the_limits() {
    let root = scratch("flood");
    let dir = root.join("tree");
    let senders = 100_000;
    let ids = 1_000;
    let max_new = 500;
    let mut input = String::new();
    for n in 0..senders {
        input.push_str(&format!(
            "<message from='s{n}@evil.example/r' type='chat'><body>{n}</body></message>\n"
        ));
    }
    for n in 0..ids {
        input.push_str(&format!(
            "<iq from='evil.example' type='result' id='q{n}'/>\n"
        ));
    }
    // A nick at RFC 7622's limit (1023 bytes) is routed; one past it makes
    // the JID invalid.
    for nick in ["n".repeat(1023), "n".repeat(1024), "é".repeat(60_000)] {
        input.push_str(&format!(
            "<message from='room@muc.example/{nick}' type='groupchat'><body>hi</body></message>\n"
        ));
    }
    let max_new_arg = max_new.to_string();
    let args = [
        "--dir",
        dir.to_str().unwrap(),
        "--reply",
        "/dev/null",
        "--max-new",
        &max_new_arg,
    ];
    let output = route_within(64 << 20, &args, &input);
    ok(&output);
    // Nothing outside DIR; inside it, --max-new names: the first senders'
    // directories (the room's did not fit), no iq answer files.
    assert_eq!(
        listing(&root)
            .iter()
            .filter(|p| !p.starts_with("tree"))
            .count(),
        0
    );
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), max_new + 1, "the senders' and unrouted");
    assert!(names.contains(&"s0@evil.example".to_owned()));
    assert!(names.contains(&format!("s{}@evil.example", max_new - 1)));
    assert!(!dir.join("iq").exists());
    let unrouted = read(dir.join("unrouted"));
    // The iq answers nobody asked for are dropped, not logged one by one:
    // one line on stderr at the 1st, 10th, 100th and 1000th.
    assert_eq!(unrouted.lines().count(), senders - max_new + 3);
    assert!(unrouted.contains("(--max-new): not creating s500@evil.example\t"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("iq answer(s) nobody asked for").count(),
        4,
        "{stderr}"
    );
    assert!(stderr.contains("dropped 1000 iq answer(s) nobody asked for (the last: id q999 from evil.example: nobody asked)"), "{stderr}");
    assert_eq!(stderr.lines().count(), senders - max_new + 3 + 4);

    // Asked for, and with room for them, the iq answers and the room get
    // their names; the nick at the limit is written whole, the longer ones
    // are unrouted.
    for n in 0..ids {
        xmpp_pipes::tree::note_asked(&dir, &format!("q{n}"), Some("evil.example")).unwrap();
    }
    // (And we are in the room now: our own presence there, status 110.)
    let (iqs, room) = (
        input.find("<iq").unwrap(),
        input.find("<message from='room@").unwrap(),
    );
    let second = format!(
        "{}<presence from='room@muc.example/me'><x xmlns='http://jabber.org/protocol/muc#user'>\
         <status code='110'/></x></presence>\n{}",
        &input[iqs..room],
        &input[room..]
    );
    let output = route_within(64 << 20, &args[..4], &second);
    ok(&output);
    assert_eq!(std::fs::read_dir(dir.join("iq")).unwrap().count(), ids);
    let out = read(dir.join("room@muc.example/out"));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(timed(
        out.lines().nth(1).unwrap(),
        &format!("<{}> hi", "n".repeat(1023))
    ));
    let unrouted_now = read(dir.join("unrouted"));
    assert_eq!(unrouted_now.lines().count() - unrouted.lines().count(), 2);
}

#[test]
fn a_reply_pipe_whose_reader_comes_and_goes_costs_only_the_replies_meanwhile() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    let root = scratch("fifo-reader");
    let dir = root.join("tree");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let pipe = dir.join("in");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &pipe,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    // A reader of DIR/in that hands over the lines it reads.
    let reader = || {
        let fd = rustix::fs::open(
            &pipe,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let (send, lines) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            // Open without blocking, it is a reader at once; poll(2) waits
            // for a writer's data (a FIFO that never had a writer does not
            // report a hang-up).
            let mut line = Vec::new();
            while !line.ends_with(b"\n") {
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                rustix::event::poll(&mut fds, None).unwrap();
                let mut buf = [0u8; 4096];
                match rustix::io::read(&fd, &mut buf) {
                    Ok(n) => line.extend_from_slice(&buf[..n]),
                    Err(rustix::io::Errno::AGAIN) => {}
                    Err(err) => panic!("{err}"),
                }
            }
            send.send(String::from_utf8(line).unwrap()).unwrap();
            // One line read: the reader goes away.
        });
        (lines, thread)
    };
    let ping = |id: &str| {
        format!(
            "<iq from='a@localhost/x' type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>\n"
        )
    };
    let mut child = Command::new(BIN)
        .args(["--dir", dir.to_str().unwrap()])
        .env_remove("XMPP_JID")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let wait = std::time::Duration::from_secs(10);

    let (lines, thread) = reader();
    stdin.write_all(ping("p1").as_bytes()).unwrap();
    let reply = lines.recv_timeout(wait).expect("the first reply");
    assert!(
        reply.contains("id='p1'") && reply.contains("type='result'"),
        "{reply}"
    );
    thread.join().unwrap();

    // Nobody reads now: the reply is dropped with a warning naming it, and
    // jid-route goes on (no SIGPIPE, no exit).
    stdin.write_all(ping("p2").as_bytes()).unwrap();
    let mut warning = String::new();
    stderr.read_line(&mut warning).unwrap();
    assert!(
        warning.starts_with("jid-route: warning: reply dropped (iq id 'p2' to 'a@localhost/x')"),
        "{warning}"
    );

    // A reader again: the next reply arrives.
    let (lines, thread) = reader();
    stdin.write_all(ping("p3").as_bytes()).unwrap();
    let reply = lines.recv_timeout(wait).expect("the third reply");
    assert!(reply.contains("id='p3'"), "{reply}");
    thread.join().unwrap();
    stdin
        .write_all(b"<message from='b@localhost/x' type='chat'><body>still here</body></message>\n")
        .unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "{rest}");
    assert_eq!(rest, "", "only the one warning");
    assert!(read(dir.join("b@localhost/out")).ends_with("<b@localhost> still here\n"));
}

/// xmpp-auth's line for a new session (`--session-events`).
const NEW_SESSION: &str =
    "<session xmlns='urn:xmpp-pipes:session:0' state='new' jid='me@localhost/pipes'/>";

#[test]
fn a_new_session_clears_the_presence_files_and_forgets_presence() {
    let root = scratch("session-event");
    let dir = root.join("tree");
    let snapshot = root.join("snapshot");
    // A headline is the checkpoint: its command runs in turn (jid-route
    // waits for it) and copies the presence files as they are then.
    let checkpoint = format!(
        "message:headline ! cat {d}/bob@localhost/presence {d}/carol@localhost/presence {d}/mypresence >> {s}",
        d = dir.display(),
        s = snapshot.display()
    );
    let away =
        "<presence from='bob@localhost/pc'><show>away</show><status>at lunch</status></presence>";
    let input = lines(&[
        NEW_SESSION,
        away,
        "<presence from='carol@localhost/x'/>",
        "<presence from='me@localhost/pipes'><show>dnd</show></presence>",
        "<message type='headline'/>",
        NEW_SESSION,
        "<message type='headline'/>",
        // The same presence as before the new session: written again.
        away,
        "<message type='headline'/>",
    ]);
    let output = route(
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--me",
            "me@localhost/pipes",
            "--reply",
            "/dev/null",
            &checkpoint,
        ],
        &input,
    );
    ok(&output);
    assert_eq!(text(&output.stdout), "");
    assert_eq!(text(&output.stderr), "", "no warning about the event");
    assert_eq!(
        read(&snapshot),
        "away at lunch\navailable\ndnd\n\
         unavailable\nunavailable\nunavailable\n\
         away at lunch\nunavailable\nunavailable\n"
    );
    // Nothing of it in the tree but the presence files.
    assert!(!dir.join("unrouted").exists());
    assert_eq!(read(dir.join("bob@localhost/presence")), "unavailable\n");
}

#[test]
fn a_session_event_is_no_stanza_for_the_rules_nor_for_stdout() {
    // A catch-all rule does not see it; stdout gets the stanzas only.
    let output = route(
        &["-"],
        &lines(&[NEW_SESSION, "<presence from='bob@localhost/pc'/>"]),
    );
    ok(&output);
    assert_eq!(
        text(&output.stdout),
        "<presence from='bob@localhost/pc'/>\n"
    );
    assert_eq!(text(&output.stderr), "");

    // --print says what happened.
    let output = route(&["--print"], &lines(&[NEW_SESSION]));
    ok(&output);
    let shown = text(&output.stdout);
    assert!(
        timed(
            &format!("0000-00-00 {shown}"),
            "-!- a new session as me@localhost/pipes: presence from before is forgotten\n"
        ),
        "{shown:?}"
    );

    // An acknowledged message of ours changes nothing, and says nothing.
    let output = route(
        &["-"],
        &lines(&["<acked xmlns='urn:xmpp-pipes:session:0'><message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hi</body></message></acked>"]),
    );
    ok(&output);
    assert_eq!(text(&output.stdout), "");
    assert_eq!(text(&output.stderr), "");

    // A state this version does not know is a warning, and nothing else.
    let output = route(
        &["--print"],
        &lines(&["<session xmlns='urn:xmpp-pipes:session:0' state='later'/>"]),
    );
    ok(&output);
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr).contains("ignoring a session event with state \"later\""),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_message_sent_again_after_a_new_session_is_written_once() {
    let root = scratch("repeats");
    let dir = root.join("tree");
    let line = |from: &str, delay: &str| {
        format!(
            "<message from='{from}' type='chat'><body>disk full</body>{delay}\
             <origin-id xmlns='urn:xmpp:sid:0' id='xp-1'/></message>"
        )
    };
    let input = [
        line("alice@localhost/phone", ""),
        // The offline store's copy of the same message.
        line(
            "alice@localhost",
            "<delay xmlns='urn:xmpp:delay' stamp='2026-12-01T00:00:00Z'/>",
        ),
        // Someone else with her id: a message of its own.
        line("eve@localhost/x", ""),
    ];
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let output = route(
        &["--dir", dir.to_str().unwrap(), "--reply", "/dev/null"],
        &lines(&input),
    );
    ok(&output);
    assert_eq!(read(dir.join("alice@localhost/out")).lines().count(), 1);
    assert_eq!(read(dir.join("eve@localhost/out")).lines().count(), 1);
    assert!(
        text(&output.stderr).contains("dropped 1 message(s) seen already"),
        "{}",
        text(&output.stderr)
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn carbons_from_our_account_go_in_the_conversation_and_forged_ones_nowhere() {
    let root = scratch("carbons");
    let dir = root.join("tree");
    let carbon = |from: &str, direction: &str, inner: &str| {
        format!(
            "<message from='{from}' to='me@localhost/ii' type='chat'>\
             <{direction} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             {inner}</forwarded></{direction}></message>"
        )
    };
    let input = [
        // Said on our phone, to alice.
        carbon(
            "me@localhost",
            "sent",
            "<message xmlns='jabber:client' from='me@localhost/phone' to='alice@localhost' type='chat'><body>from the phone</body></message>",
        ),
        // What alice said to our phone.
        carbon(
            "me@localhost",
            "received",
            "<message xmlns='jabber:client' from='alice@localhost/x' to='me@localhost/phone' type='chat'><body>to the phone</body></message>",
        ),
        // Eve's forgery: a "copy" of a message from alice.
        carbon(
            "eve@localhost/x",
            "received",
            "<message xmlns='jabber:client' from='alice@localhost/x' to='me@localhost' type='chat'><body>forged</body></message>",
        ),
    ];
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let output = route(
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--me",
            "me@localhost",
            "--reply",
            "/dev/null",
        ],
        &lines(&input),
    );
    ok(&output);
    let out = read(dir.join("alice@localhost/out"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with("<me@localhost> from the phone"), "{out}");
    assert!(
        lines[1].ends_with("<alice@localhost> to the phone"),
        "{out}"
    );
    assert!(!dir.join("eve@localhost").exists());
    let unrouted = read(dir.join("unrouted"));
    assert!(
        unrouted.contains("a carbon copy from eve@localhost/x, not from our own account: forged"),
        "{unrouted}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// A bot's rule never sees carbon copies; a rule with `carbon=` sees the
/// message inside, with its own sender and `XMPP_CARBON` its direction,
/// and a forged copy reaches no rule.
#[test]
fn carbon_copies_reach_only_rules_that_ask_for_them() {
    let root = scratch("carbon-rules");
    let (bot, copies) = (root.join("bot"), root.join("copies"));
    let record = |file: &Path| {
        format!(
            "{{ printf '%s|' \"${{XMPP_CARBON-none}}\" \"$XMPP_FROM\" \"$XMPP_BODY\"; echo; }} >> {}",
            file.display()
        )
    };
    let carbon = |from: &str, direction: &str, inner: &str| {
        format!(
            "<message from='{from}' to='me@localhost/ii' type='chat'>\
             <{direction} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' {inner}</message></forwarded></{direction}></message>"
        )
    };
    let input = [
        carbon(
            "me@localhost",
            "sent",
            "from='me@localhost/phone' to='alice@localhost' type='chat'><body>from the phone</body>",
        ),
        carbon(
            "me@localhost",
            "received",
            "from='alice@localhost/x' to='me@localhost/phone' type='chat'><body>to the phone</body>",
        ),
        carbon(
            "eve@localhost/x",
            "received",
            "from='alice@localhost/x' to='me@localhost' type='chat'><body>forged</body>",
        ),
        "<message from='alice@localhost/x' type='chat'><body>to the bot</body></message>".to_owned(),
    ];
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let bot_rule = format!("message:chat ! {}", record(&bot));
    let copies_rule = format!("message carbon=* ! {}", record(&copies));
    let output = route(
        &["--me", "me@localhost", &bot_rule, &copies_rule],
        &lines(&input),
    );
    ok(&output);
    assert_eq!(read(&bot), "none|alice@localhost/x|to the bot|\n");
    assert_eq!(
        read(&copies),
        "sent|me@localhost/phone|from the phone|\nreceived|alice@localhost/x|to the phone|\n"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_file_size_limit_ends_the_run_with_74_and_no_torn_line() {
    use std::os::unix::process::CommandExt;
    let dir = scratch("fsize");
    let message = |n: usize| {
        format!(
            "<message from='bob@localhost/pc' type='chat'><body>{n} {}</body></message>",
            "x".repeat(100)
        )
    };
    let input: String = (0..20).map(|n| format!("{}\n", message(n))).collect();
    let mut command = Command::new(BIN);
    command
        .args(["--dir", dir.to_str().unwrap(), "--reply", "/dev/null"])
        .env_remove("XMPP_JID");
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 700,
                rlim_max: 700,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = feed(command, &input);
    assert_eq!(output.status.code(), Some(74), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("jid-route: cannot write ")
            && stderr.contains("bob@localhost/out: File too large"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = read(dir.join("bob@localhost/out"));
    assert!(
        out.len() <= 700 && out.ends_with('\n'),
        "whole lines only: {out:?}"
    );
    let x = "x".repeat(100);
    assert!(out.lines().count() >= 1, "{out}");
    for (n, line) in out.lines().enumerate() {
        assert!(timed(line, &format!("<bob@localhost> {n} {x}")), "{line}");
    }
}

#[test]
fn a_message_of_ours_that_bounced_before_its_acknowledgement_is_not_shown_as_said() {
    let root = scratch("bounced");
    let dir = root.join("tree");
    let acked = |to: &str, bounced: &str, body: &str| {
        format!(
            "<acked xmlns='urn:xmpp-pipes:session:0'{bounced}><message xmlns='jabber:client' \
             to='{to}' type='chat' id='m1'><body>{body}</body></message></acked>"
        )
    };
    let input = [
        // xmpp-auth matched the room service's error to it before the acknowledgement.
        acked(
            "room@muc.localhost",
            " bounced='item-not-found'",
            "to a room not joined",
        ),
        acked("alice@localhost", "", "hello alice"),
    ];
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let output = route(
        &["--dir", dir.to_str().unwrap(), "--me", "me@localhost/ii"],
        &lines(&input),
    );
    ok(&output);
    let room = read(dir.join("room@muc.localhost/out"));
    assert!(!room.contains("<me@localhost>"), "{room}");
    assert!(
        room.contains("-!- not delivered: to a room not joined (item-not-found)"),
        "{room}"
    );
    let alice = read(dir.join("alice@localhost/out"));
    assert!(alice.contains("<me@localhost> hello alice"), "{alice}");
    std::fs::remove_dir_all(&root).unwrap();
}

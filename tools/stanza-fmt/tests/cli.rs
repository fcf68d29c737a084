//! stanza-fmt as a process: every command's stanza, escaping, bad input, ids, and `--dir`.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Output, Stdio};
use xmpp_pipes::xml::{Element, Framer, Item, NS_CLIENT};

const BIN: &str = env!("CARGO_BIN_EXE_stanza-fmt");

fn fmt(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("XMPP_JID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The stanzas of a successful run, each line checked to be one standalone element.
fn stanzas(output: &Output) -> Vec<Element> {
    let out = text(&output.stdout);
    assert!(
        out.is_empty() || out.ends_with('\n'),
        "output ends with a newline: {out:?}"
    );
    out.lines()
        .map(|line| Element::parse(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn ok(args: &[&str], input: &str) -> Vec<Element> {
    let output = fmt(args, input.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    stanzas(&output)
}

fn fails(args: &[&str], input: &[u8], status: i32, needles: &[&str]) -> Output {
    let output = fmt(args, input);
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "stderr: {err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("stanza-fmt: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in {err:?}");
    }
    output
}

fn child_text(el: &Element, name: &str) -> Option<String> {
    el.child(name, NS_CLIENT).map(Element::text)
}

fn only_child(el: &Element) -> &Element {
    let children: Vec<&Element> = el.elements().collect();
    assert_eq!(children.len(), 1, "{el:?}");
    children[0]
}

#[test]
fn help_and_version() {
    let output = fmt(&["--help"], b"");
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("--commands"));
    let output = fmt(&["-V"], b"");
    assert!(text(&output.stdout).starts_with("stanza-fmt "));
}

#[test]
fn usage_errors() {
    fails(&[], b"", 64, &["--to"]);
    fails(&["--to", "not a jid"], b"", 64, &["--to"]);
    fails(&["--to", "a@b", "--type", "loud"], b"", 64, &["loud"]);
    fails(&["--to", "a@b", "--bogus"], b"", 64, &["--bogus"]);
    fails(&["--commands", "--whole"], b"", 64, &["exclude"]);
}

#[test]
fn one_message_per_line_with_unique_ids() {
    let out = ok(
        &[
            "--to",
            "Bob@Example.org",
            "--type=normal",
            "--subject",
            "s",
            "--thread",
            "t1",
            "--lang",
            "en",
        ],
        "one\n\ntwo\r\nthree",
    );
    assert_eq!(
        out.len(),
        3,
        "blank line skipped, last line without newline sent"
    );
    let mut ids = std::collections::HashSet::new();
    for (message, body) in out.iter().zip(["one", "two", "three"]) {
        assert!(message.is("message", NS_CLIENT));
        assert_eq!(message.attr("to"), Some("bob@example.org"));
        assert_eq!(message.attr("type"), Some("normal"));
        assert_eq!(message.attr("xml:lang"), Some("en"));
        assert_eq!(child_text(message, "body").as_deref(), Some(body));
        assert_eq!(child_text(message, "subject").as_deref(), Some("s"));
        assert_eq!(child_text(message, "thread").as_deref(), Some("t1"));
        assert!(ids.insert(message.attr("id").unwrap().to_owned()));
    }
}

#[test]
fn escaping_round_trips_through_the_framer() {
    let tricky = [
        "<b>bold</b> & 'single' \"double\" &amp; ]]> &#10;",
        "tab\there, non-ASCII: héllo ☃ 😀 日本語",
        "carriage\rreturn",
    ];
    let input = tricky.join("\n") + "\n";
    let output = fmt(&["--to", "a@b"], input.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let mut framer = Framer::new(BufReader::new(&output.stdout[..]), 1 << 20);
    let mut bodies = Vec::new();
    while let Some(item) = framer.next_item().unwrap() {
        let Item::Stanza(line) = item else {
            panic!("{item:?}")
        };
        bodies.push(child_text(&Element::parse(&line).unwrap(), "body").unwrap());
    }
    assert_eq!(bodies, tricky);

    // Newlines inside one message (--whole) and markup in attributes (/add NAME).
    let whole = format!("{}\n{}\n\n", tricky[0], tricky[1]);
    let out = ok(&["--to", "a@b", "--whole"], &whole);
    assert_eq!(out.len(), 1);
    assert_eq!(
        child_text(&out[0], "body").unwrap(),
        whole.trim_end_matches('\n')
    );
    let out = ok(&["--commands"], "/add a@b <O'Neil&\"Co\"> \"A & B\"\n");
    let item = only_child(only_child(&out[0]));
    assert_eq!(item.attr("name"), Some("<O'Neil&\"Co\">"));
    assert_eq!(
        child_text(item, "group"),
        None,
        "the group is in jabber:iq:roster"
    );
    assert_eq!(only_child(item).text(), "A & B");
}

#[test]
fn whole_with_blank_input_sends_nothing() {
    assert!(ok(&["--to", "a@b", "--whole"], "").is_empty());
    assert!(ok(&["--to", "a@b", "--whole"], "\n \n").is_empty());
}

#[test]
fn bad_bytes_stop_at_the_named_line_after_the_earlier_stanzas() {
    for (bad, needle) in [
        (&b"bad \xff byte\n"[..], "invalid UTF-8"),
        (&b"bell \x07\n"[..], "U+0007"),
        (&b"nul \x00\n"[..], "U+0000"),
    ] {
        let mut input = b"one\ntwo\n".to_vec();
        input.extend_from_slice(bad);
        input.extend_from_slice(b"four\n");
        let output = fails(&["--to", "a@b"], &input, 65, &["line 3", needle, "--lossy"]);
        assert_eq!(stanzas(&output).len(), 2, "the two lines before were sent");
    }
    let output = fails(
        &["--to", "a@b", "--whole"],
        b"fine\nstill fine\nnot \x1b fine\n",
        65,
        &["line 3", "U+001B"],
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn lossy_replaces_and_warns() {
    let output = fmt(&["--to", "a@b", "--lossy"], b"a\xffb\x01c\n");
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stderr).contains("line 1"));
    let out = stanzas(&output);
    assert_eq!(child_text(&out[0], "body").unwrap(), "a\u{FFFD}b\u{FFFD}c");
}

#[test]
fn keep_going_skips_and_fails_at_the_end() {
    let output = fails(
        &["--commands", "--keep-going"],
        b"/msg a@b one\n/frobnicate\n/msg a@b two\n",
        65,
        &["line 2: unknown command /frobnicate", "1 bad input line"],
    );
    assert_eq!(stanzas(&output).len(), 2);
}

#[test]
fn command_errors_name_the_line_and_the_syntax() {
    let cases: &[(&str, &[&str])] = &[
        ("/shrug", &["line 2", "unknown command /shrug", "//shrug"]),
        ("/msg bob@", &["line 2", "/msg", "write /msg JID TEXT"]),
        ("/msg bob@b", &["line 2", "missing TEXT"]),
        ("/join room@service", &["ROOM@SERVICE/NICK"]),
        ("/leave room@service", &["no /join"]),
        ("/raw <a><b></a>", &["line 2", "/raw"]),
        ("/raw <a/><b/>", &["more than one element"]),
        ("plain text", &["line 2", "no --to"]),
    ];
    for (bad, needles) in cases {
        let input = format!("/presence\n{bad}\n/presence\n");
        let output = fails(&["--commands"], input.as_bytes(), 65, needles);
        assert_eq!(stanzas(&output).len(), 1, "{bad}");
    }
}

#[test]
fn messages_and_presence_commands() {
    let input = "\
/# a comment
/msg Bob@Example.org hi there
/subject bob@example.org Lunch :: at noon?
//etc is a path
/presence
/presence dnd in a meeting
/presence-to bob@example.org/phone away
/presence offline gone
/subscribe bob@example.org
/approve bob@example.org
/deny bob@example.org
/unsubscribe bob@example.org
";
    let out = ok(
        &["--commands", "--to", "alice@example.org", "--lang", "en"],
        input,
    );
    assert_eq!(out.len(), 11);
    let m = &out[0];
    assert!(m.is("message", NS_CLIENT));
    assert_eq!(m.attr("to"), Some("bob@example.org"));
    assert_eq!(m.attr("type"), Some("chat"));
    assert_eq!(child_text(m, "body").as_deref(), Some("hi there"));
    assert_eq!(child_text(&out[1], "subject").as_deref(), Some("Lunch"));
    assert_eq!(child_text(&out[1], "body").as_deref(), Some("at noon?"));
    assert_eq!(out[2].attr("to"), Some("alice@example.org"));
    assert_eq!(
        child_text(&out[2], "body").as_deref(),
        Some("/etc is a path")
    );

    let p = &out[3];
    assert!(p.is("presence", NS_CLIENT));
    assert_eq!((p.attr("to"), p.attr("type")), (None, None));
    assert_eq!(p.elements().count(), 0);
    assert_eq!(child_text(&out[4], "show").as_deref(), Some("dnd"));
    assert_eq!(
        child_text(&out[4], "status").as_deref(),
        Some("in a meeting")
    );
    assert_eq!(out[4].attr("xml:lang"), Some("en"));
    assert_eq!(out[5].attr("to"), Some("bob@example.org/phone"));
    assert_eq!(child_text(&out[5], "show").as_deref(), Some("away"));
    assert_eq!(out[6].attr("type"), Some("unavailable"));
    assert_eq!(child_text(&out[6], "status").as_deref(), Some("gone"));
    for (p, kind) in out[7..]
        .iter()
        .zip(["subscribe", "subscribed", "unsubscribed", "unsubscribe"])
    {
        assert!(p.is("presence", NS_CLIENT));
        assert_eq!(p.attr("to"), Some("bob@example.org"));
        assert_eq!(p.attr("type"), Some(kind));
        assert!(p.attr("id").is_some());
    }
}

#[test]
fn roster_commands_and_their_ids() {
    let dir = std::env::temp_dir().join(format!("stanza-fmt-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ids_file = dir.join("ids");
    let input =
        "/roster\n/add bob@example.org \"Bob Smith\" Friends Work\n/remove bob@example.org\n";
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "printf '{}' | exec '{BIN}' --commands --id-fd 3 3>'{}'",
            input.replace('\n', "\\n"),
            ids_file.display()
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(output.stderr.is_empty(), "ids went to --id-fd");
    let out = stanzas(&output);
    let ids = std::fs::read_to_string(&ids_file).unwrap();
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 3);
    for (iq, id) in out.iter().zip(&ids) {
        assert!(iq.is("iq", NS_CLIENT));
        assert_eq!(iq.attr("id"), Some(*id));
        assert_eq!(iq.attr("to"), None, "the roster is our own account's");
        assert!(only_child(iq).is("query", "jabber:iq:roster"));
    }
    assert_eq!(out[0].attr("type"), Some("get"));
    assert_eq!(only_child(&out[0]).elements().count(), 0);
    assert_eq!(out[1].attr("type"), Some("set"));
    let item = only_child(only_child(&out[1]));
    assert!(item.is("item", "jabber:iq:roster"));
    assert_eq!(item.attr("jid"), Some("bob@example.org"));
    assert_eq!(item.attr("name"), Some("Bob Smith"));
    let groups: Vec<String> = item.elements().map(Element::text).collect();
    assert!(item.elements().all(|g| g.is("group", "jabber:iq:roster")));
    assert_eq!(groups, ["Friends", "Work"]);
    let item = only_child(only_child(&out[2]));
    assert_eq!(out[2].attr("type"), Some("set"));
    assert_eq!(item.attr("subscription"), Some("remove"));
    std::fs::remove_dir_all(&dir).unwrap();

    // Without --id-fd the ids go to stderr, one script-friendly line each.
    let output = fmt(&["--commands"], b"/roster\n");
    let id = stanzas(&output)[0].attr("id").unwrap().to_owned();
    assert_eq!(text(&output.stderr), format!("stanza-fmt: id {id}\n"));
}

#[test]
fn rooms_and_queries() {
    let input = "\
/join ops@conference.example.org/alice s3cret
/say ops@conference.example.org hello all
/leave ops@conference.example.org bye
/join dev@conference.example.org/al
/leave dev@conference.example.org/al
/ping example.org
/disco example.org
/disco pubsub.example.org node1
/version bob@example.org/phone
/raw <presence to='a@b' type='probe'/>
";
    let output = fmt(&["--commands"], input.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let out = stanzas(&output);
    assert_eq!(out.len(), 10);
    let join = &out[0];
    assert!(join.is("presence", NS_CLIENT));
    assert_eq!(join.attr("to"), Some("ops@conference.example.org/alice"));
    let x = only_child(join);
    assert!(x.is("x", "http://jabber.org/protocol/muc"));
    assert_eq!(
        x.child("password", "http://jabber.org/protocol/muc")
            .map(Element::text)
            .as_deref(),
        Some("s3cret")
    );
    assert_eq!(out[1].attr("type"), Some("groupchat"));
    assert_eq!(out[1].attr("to"), Some("ops@conference.example.org"));
    assert_eq!(child_text(&out[1], "body").as_deref(), Some("hello all"));
    assert_eq!(out[2].attr("to"), Some("ops@conference.example.org/alice"));
    assert_eq!(out[2].attr("type"), Some("unavailable"));
    assert_eq!(child_text(&out[2], "status").as_deref(), Some("bye"));
    assert_eq!(only_child(&out[3]).elements().count(), 0, "no password");
    assert_eq!(out[4].attr("to"), Some("dev@conference.example.org/al"));

    let queries = [
        ("example.org", "ping", "urn:xmpp:ping"),
        (
            "example.org",
            "query",
            "http://jabber.org/protocol/disco#info",
        ),
        (
            "pubsub.example.org",
            "query",
            "http://jabber.org/protocol/disco#info",
        ),
        ("bob@example.org/phone", "query", "jabber:iq:version"),
    ];
    let stderr = text(&output.stderr);
    for (iq, (to, name, ns)) in out[5..9].iter().zip(queries) {
        assert!(iq.is("iq", NS_CLIENT));
        assert_eq!(iq.attr("type"), Some("get"));
        assert_eq!(iq.attr("to"), Some(to));
        let payload = only_child(iq);
        assert!(payload.is(name, ns), "{payload:?}");
        assert_eq!(payload.elements().count(), 0);
        let id = iq.attr("id").unwrap();
        assert!(stderr.contains(&format!("stanza-fmt: id {id}\n")));
    }
    assert_eq!(only_child(&out[7]).attr("node"), Some("node1"));
    assert_eq!(
        text(&output.stdout).lines().last(),
        Some("<presence to='a@b' type='probe'/>")
    );
}

#[test]
fn a_closed_stdout_is_an_output_error() {
    // CLOEXEC: a child another test spawns meanwhile must not inherit
    // the read end (the pipe would have a reader then).
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    drop(read);
    let mut child = Command::new(BIN)
        .args(["--to", "a@b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(74), "{}", text(&output.stderr));
    assert!(text(&output.stderr).starts_with("stanza-fmt: cannot write to stdout"));
}

#[test]
fn each_line_is_sent_before_the_next_is_read() {
    let mut child = Command::new(BIN)
        .args(["--to", "a@b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = stdout_lines(child.stdout.take().unwrap());
    for word in ["first", "second"] {
        writeln!(stdin, "{word}").unwrap();
        stdin.flush().unwrap();
        let line = next_line(&lines);
        assert_eq!(
            child_text(&Element::parse(&line).unwrap(), "body").as_deref(),
            Some(word)
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The lines of a child's stdout, as they arrive.
fn stdout_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

fn next_line(lines: &std::sync::mpsc::Receiver<String>) -> String {
    lines
        .recv_timeout(WAIT)
        .expect("a stanza line within the time limit")
}

/// Wait (with inotify, bounded by WAIT) until `ready()` holds for something in `dir`.
fn wait_in(dir: &std::path::Path, ready: impl Fn() -> bool) {
    use rustix::fs::inotify;
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
    inotify::add_watch(
        &fd,
        dir,
        inotify::WatchFlags::CREATE
            | inotify::WatchFlags::MODIFY
            | inotify::WatchFlags::CLOSE_WRITE,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !ready() {
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .expect("the awaited change within the time limit");
        let timeout = rustix::event::Timespec::try_from(left).unwrap();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let _ = rustix::event::poll(&mut fds, Some(&timeout));
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut events = inotify::Reader::new(&fd, &mut buf);
        while events.next().is_ok() {}
    }
}

/// Open a contact's pipe for writing once stanza-fmt has made it (and is reading it).
fn pipe_writer(contact: &std::path::Path) -> std::fs::File {
    let pipe = contact.join("in");
    wait_in(contact, || pipe.exists());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(std::fs::OpenOptions::new().write(true).open(&pipe));
    });
    receive
        .recv_timeout(WAIT)
        .expect("stanza-fmt opens the pipe")
        .unwrap()
}

fn message_to(line: &str, to: &str, body: &str) {
    let message = Element::parse(line).unwrap();
    assert!(message.is("message", NS_CLIENT), "{line}");
    assert_eq!(message.attr("to"), Some(to));
    assert_eq!(message.attr("type"), Some("chat"));
    assert_eq!(child_text(&message, "body").as_deref(), Some(body));
}

/// `stanza-fmt`, to be run as a long-lived child (`--dir` mode ends only
/// on a signal): killed when the test's thread ends, so that a test that
/// fails leaves no stanza-fmt behind.
fn long_lived() -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(BIN);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            Ok(())
        });
    }
    command
}

/// A fresh tree for `--dir` with one contact directory, bob's: (DIR, DIR/bob@localhost).
fn tree_with_bob(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("stanza-fmt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bob = dir.join("bob@localhost");
    std::fs::create_dir_all(&bob).unwrap();
    (dir, bob)
}

#[test]
fn dir_serves_contact_pipes() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let (dir, bob) = tree_with_bob("dir");
    std::fs::create_dir(dir.join("Not A Jid")).unwrap();
    std::fs::create_dir(dir.join("iq")).unwrap();
    std::fs::create_dir(dir.join("dave@localhost")).unwrap();
    std::fs::write(dir.join("dave@localhost/in"), "a regular file").unwrap();

    let mut child = long_lived()
        .arg("--dir")
        .arg(&dir)
        .args(["--commands", "--epoch"])
        .env("XMPP_JID", "Alice@localhost/laptop")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stdout_lines(child.stdout.take().unwrap());

    // Commands on stdin; the end of stdin does not end --dir mode.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"/presence away\n").unwrap();
    drop(stdin);
    let presence = Element::parse(&next_line(&lines)).unwrap();
    assert_eq!(child_text(&presence, "show").as_deref(), Some("away"));

    let mut to_bob = BufWriter::new(pipe_writer(&bob));
    let meta = std::fs::symlink_metadata(bob.join("in")).unwrap();
    assert!(meta.file_type().is_fifo());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(!dir.join("Not A Jid/in").exists());
    assert!(!dir.join("iq/in").exists());

    to_bob.write_all(b"hello <bob> & co\n").unwrap();
    to_bob.flush().unwrap();
    message_to(&next_line(&lines), "bob@localhost", "hello <bob> & co");
    // A partial line waits for its end; a bad line is reported and skipped.
    to_bob.write_all(b"part").unwrap();
    to_bob.flush().unwrap();
    to_bob.write_all(b"ial\nbad \xff\nafter\n").unwrap();
    to_bob.flush().unwrap();
    message_to(&next_line(&lines), "bob@localhost", "partial");
    message_to(&next_line(&lines), "bob@localhost", "after");

    let out = bob.join("out");
    let has_all_lines =
        || std::fs::read_to_string(&out).is_ok_and(|text| text.lines().count() == 3);
    wait_in(&bob, has_all_lines);
    let logged = std::fs::read_to_string(&out).unwrap();
    let logged: Vec<&str> = logged.lines().collect();
    for (line, body) in logged.iter().zip(["hello <bob> & co", "partial", "after"]) {
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.parse::<u64>().is_ok(), "epoch seconds: {line}");
        assert_eq!(rest, format!("<alice@localhost> {body}"));
    }

    // A contact directory made later is picked up, and writers may come and go.
    let carol = dir.join("carol@localhost");
    std::fs::create_dir(&carol).unwrap();
    for word in ["one", "two"] {
        let mut to_carol = pipe_writer(&carol);
        writeln!(to_carol, "{word}").unwrap();
        drop(to_carol);
        message_to(&next_line(&lines), "carol@localhost", word);
    }

    // dave's `in` is a plain file a writer made before the pipe was there,
    // its line unfinished: it waits for its writer, whose close sends it,
    // and then the pipe is made.
    let mut dave_in = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("dave@localhost/in"))
        .unwrap();
    dave_in.write_all(b" after all\n").unwrap();
    drop(dave_in);
    message_to(
        &next_line(&lines),
        "dave@localhost",
        "a regular file after all",
    );
    let dave = dir.join("dave@localhost");
    wait_in(&dave, || {
        std::fs::symlink_metadata(dave.join("in")).is_ok_and(|m| m.file_type().is_fifo())
    });

    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "SIGTERM: the pipes drained, then 0"
    );
    let err = text(&output.stderr);
    assert!(
        err.contains("bob@localhost/in: line 3: invalid UTF-8"),
        "{err}"
    );
    assert!(
        err.contains(
            "dave@localhost/in: a plain file without a newline at its end, not the pipe: \
             sent once its writer closes it"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `stanza-fmt --dir DIR ARGS` as alice, stdin empty, stdout and stderr piped.
fn serve_as_alice(dir: &std::path::Path, args: &[&std::ffi::OsStr]) -> std::process::Child {
    long_lived()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("XMPP_JID", "alice@localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn dir_mode_whose_reader_goes_says_what_was_not_sent() {
    let (dir, bob) = tree_with_bob("gone");
    let mut child = serve_as_alice(&dir, &[]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut to_bob = pipe_writer(&bob);
    to_bob.write_all(b"one\n").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    message_to(line.trim_end(), "bob@localhost", "one");
    // The reader goes (as xmpp-auth does when the connection is lost);
    // two more lines arrive in one write.
    drop(stdout);
    to_bob.write_all(b"two\nthree\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(74), "{}", text(&output.stderr));
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "bob@localhost/in: line 2 not sent, nor the line read after it: cannot write to stdout"
        ),
        "{err}"
    );
    // The conversation log holds what was sent, and only that.
    let out = std::fs::read_to_string(bob.join("out")).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.ends_with("<alice@localhost> one\n"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Write `line` into the pipe of `contact` as `ii-client say` does: the
/// named pipe made if it is missing, then opened (within WAIT) and written.
fn say(contact: &std::path::Path, line: &str) {
    let pipe = contact.join("in");
    match rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &pipe,
        rustix::fs::Mode::from_raw_mode(0o600),
    ) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(err) => panic!("mkfifo {}: {err}", pipe.display()),
    }
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(std::fs::OpenOptions::new().write(true).open(&pipe));
    });
    let mut writer = receive
        .recv_timeout(WAIT)
        .expect("a reader opens the pipe: a writer never waits for ever")
        .unwrap();
    writer.write_all(format!("{line}\n").as_bytes()).unwrap();
}

#[test]
fn more_contacts_than_descriptors_are_served_on_demand() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    use std::os::unix::process::CommandExt;
    let dir = std::env::temp_dir().join(format!("stanza-fmt-nofile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let contacts: Vec<String> = (0..40).map(|n| format!("c{n:02}@localhost")).collect();
    for contact in &contacts {
        std::fs::create_dir_all(dir.join(contact)).unwrap();
    }
    let mut command = long_lived();
    command
        .arg("--dir")
        .arg(&dir)
        .env("XMPP_JID", "me@localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // 28 descriptors, soft and hard: room for 12 pipes at once, not 40.
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = rustix::process::Rlimit {
                current: Some(28),
                maximum: Some(28),
            };
            rustix::process::setrlimit(rustix::process::Resource::Nofile, limit)?;
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let lines = stdout_lines(child.stdout.take().unwrap());
    wait_in(&dir.join(&contacts[39]), || {
        dir.join(&contacts[39]).join("in").exists()
    });

    // Every contact, twice round: each line is read and sent.
    for round in 0..2 {
        for contact in &contacts {
            let text = format!("round {round} to {contact}");
            say(&dir.join(contact), &text);
            message_to(&next_line(&lines), contact, &text);
        }
    }
    // A writer that makes a file of a parked contact's in: read, sent, and
    // the pipe is back.
    let parked = contacts
        .iter()
        .find(|c| !dir.join(c).join("in").exists())
        .expect("a contact without a pipe");
    std::fs::write(
        dir.join(parked).join("in"),
        "from a file\nand a second line\n",
    )
    .unwrap();
    message_to(&next_line(&lines), parked, "from a file");
    message_to(&next_line(&lines), parked, "and a second line");
    wait_in(&dir.join(parked), || {
        std::fs::symlink_metadata(dir.join(parked).join("in"))
            .is_ok_and(|m| m.file_type().is_fifo())
    });

    // Never a pipe that nothing reads: every in there is has its reader.
    let mut pipes = 0;
    for contact in &contacts {
        let pipe = dir.join(contact).join("in");
        if !pipe.exists() {
            continue;
        }
        pipes += 1;
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&pipe);
        assert!(opened.is_ok(), "{}: {opened:?}", pipe.display());
    }
    assert!(pipes <= 12, "{pipes} pipes open at once");
    eprintln!("40 contacts, RLIMIT_NOFILE 28: {pipes} pipes open at the end, 82 lines sent");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first `count` lines of a child's stdout as bytes, `\n` included,
/// as they arrive; then stdout is closed.
fn stdout_raw_lines(
    stdout: std::process::ChildStdout,
    count: usize,
) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..count {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(1..) if send.send(line).is_ok() => {}
                _ => break,
            }
        }
    });
    receive
}

/// `child`'s exit status within WAIT.
fn exit_within_wait(child: std::process::Child) -> Output {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    receive
        .recv_timeout(WAIT)
        .expect("stanza-fmt ends within the time limit")
        .unwrap()
}

#[test]
fn relay_passes_the_lines_of_its_pipe_on_whole_and_unchanged() {
    let (dir, bob) = tree_with_bob("relay");
    let relayed = dir.join("in");
    let mut child = serve_as_alice(&dir, &["--relay".as_ref(), relayed.as_os_str()]);
    let lines = stdout_raw_lines(child.stdout.take().unwrap(), 5);
    let next = || {
        lines
            .recv_timeout(WAIT)
            .expect("a line within the time limit")
    };
    // DIR/in made (a named pipe) and read; a writer that closes is no end.
    let mut writer = pipe_writer(&dir);
    writer
        .write_all(b"<presence/>\n\n  \t\njunk <not xml &\r\n")
        .unwrap();
    assert_eq!(next(), b"<presence/>\n");
    assert_eq!(
        next(),
        b"junk <not xml &\r\n",
        "unchanged: xmpp-auth judges it"
    );
    drop(writer);
    // A partial line waits for its newline, across writers, while a
    // contact's message goes out.
    let mut writer = pipe_writer(&dir);
    writer.write_all(b"<iq type='get' id='a'/").unwrap();
    let mut to_bob = pipe_writer(&bob);
    to_bob.write_all(b"hello bob\n").unwrap();
    message_to(
        std::str::from_utf8(&next()).unwrap().trim_end(),
        "bob@localhost",
        "hello bob",
    );
    writer.write_all(b">\n").unwrap();
    assert_eq!(next(), b"<iq type='get' id='a'/>\n");
    // A line over 16 MiB: told once, dropped up to its end; the next goes.
    let long = vec![b'x'; (16 << 20) + 1];
    let feeder = std::thread::spawn(move || {
        writer.write_all(&long).unwrap();
        writer.write_all(b"\n<after/>\n").unwrap();
        writer
    });
    assert_eq!(next(), b"<after/>\n");
    let writer = feeder.join().unwrap();

    // Nothing reads stdout any more (the reader closed it after 5 lines):
    // the run ends without waiting for a write.
    let output = exit_within_wait(child);
    drop(writer);
    assert_eq!(output.status.code(), Some(74), "{}", text(&output.stderr));
    let err = text(&output.stderr);
    let want = format!(
        "stanza-fmt: warning: {}: line 6: longer than 16777216 bytes: not passed on (dropped up to its end)\n\
         stanza-fmt: stdout: nothing reads it any more (the session it fed is over)\n",
        relayed.display()
    );
    assert_eq!(err, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn relay_refuses_its_own_pipe_as_stdout_and_needs_dir() {
    let (dir, _) = tree_with_bob("relay-loop");
    let relayed = dir.join("in");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &relayed,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
    // As `stanza-fmt --dir DIR --relay DIR/in > DIR/in` would run.
    let stdout = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&relayed)
        .unwrap();
    let child = Command::new(BIN)
        .arg("--dir")
        .arg(&dir)
        .arg("--relay")
        .arg(&relayed)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = exit_within_wait(child);
    assert_eq!(output.status.code(), Some(64), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("is stdout itself"),
        "{}",
        text(&output.stderr)
    );
    // A path that is no named pipe: 73.
    std::fs::write(dir.join("file"), "").unwrap();
    fails(
        &[
            "--dir",
            dir.to_str().unwrap(),
            "--relay",
            dir.join("file").to_str().unwrap(),
        ],
        b"",
        73,
        &["not a named pipe"],
    );
    fails(
        &["--commands", "--relay", "x"],
        b"",
        64,
        &["--relay needs --dir"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stop `child` (SIGSTOP) and return once it is stopped: it reads nothing
/// until [`signal`] sends it SIGCONT.
fn freeze(child: &std::process::Child) -> rustix::process::Pid {
    use rustix::process::{WaitId, WaitIdOptions};
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    signal(pid, rustix::process::Signal::STOP);
    // NOWAIT: the child stays to be waited for by std.
    let status = rustix::process::waitid(
        WaitId::Pid(pid),
        WaitIdOptions::STOPPED | WaitIdOptions::NOWAIT,
    )
    .unwrap()
    .expect("a stopped child");
    assert!(status.stopped(), "{status:?}");
    pid
}

fn signal(pid: rustix::process::Pid, signal: rustix::process::Signal) {
    rustix::process::kill_process(pid, signal).unwrap();
}

#[test]
fn sigterm_sends_what_writers_already_wrote_then_exits_0() {
    use rustix::process::Signal;
    let (dir, bob) = tree_with_bob("drain");
    let relayed = dir.join("in");
    let child = serve_as_alice(&dir, &["--relay".as_ref(), relayed.as_os_str()]);
    let mut to_relay = pipe_writer(&dir);
    let mut to_bob = pipe_writer(&bob);
    // Stopped, so that nothing is read before SIGTERM comes: every byte
    // below is still in the pipes then.
    let pid = freeze(&child);
    to_relay
        .write_all(b"<presence><show>away</show></presence>\n<iq type='get' id='q'/>\n<half")
        .unwrap();
    to_bob.write_all(b"one\ntwo\nthr").unwrap();
    signal(pid, Signal::TERM);
    signal(pid, Signal::CONT);
    let output = exit_within_wait(child);
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let out = text(&output.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "<presence><show>away</show></presence>");
    assert_eq!(lines[1], "<iq type='get' id='q'/>");
    message_to(lines[2], "bob@localhost", "one");
    message_to(lines[3], "bob@localhost", "two");
    // The partial lines: told, one line each, with their pipe and size.
    let want = format!(
        "stanza-fmt: warning: {}: a partial line of 5 bytes without its newline at the end: not sent\n\
         stanza-fmt: warning: {}: a partial line of 3 bytes without its newline at the end: not sent\n",
        relayed.display(),
        bob.join("in").display()
    );
    assert_eq!(err, want);
    // What was sent is in the conversation, as always without --no-out.
    let logged = std::fs::read_to_string(bob.join("out")).unwrap();
    assert_eq!(logged.lines().count(), 2, "{logged}");
    assert!(logged.ends_with("<alice@localhost> two\n"), "{logged}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_contact_directory_in_another_spelling_becomes_a_link_to_the_normalised_one() {
    use std::os::unix::fs::FileTypeExt;
    let (dir, bob) = tree_with_bob("spelling");
    // Made before the start: a plain `in` (echo hi > DIR/Carol@Localhost/in),
    // an empty one for bob, and one that holds more than an `in`.
    std::fs::create_dir(dir.join("Carol@Localhost")).unwrap();
    std::fs::write(dir.join("Carol@Localhost/in"), "hi carol\n").unwrap();
    std::fs::create_dir(dir.join("BOB@localhost")).unwrap();
    std::fs::create_dir(dir.join("bOb@localhost")).unwrap();
    std::fs::write(dir.join("bOb@localhost/out"), "mine\n").unwrap();
    // And the normalised name, its `in` a plain file with a whole line
    // (the writer came before the pipe): sent at once, then the pipe made.
    std::fs::create_dir(dir.join("erin@localhost")).unwrap();
    std::fs::write(dir.join("erin@localhost/in"), "hi erin\n").unwrap();
    let mut child = serve_as_alice(&dir, &[]);
    let lines = stdout_lines(child.stdout.take().unwrap());
    message_to(&next_line(&lines), "carol@localhost", "hi carol");
    message_to(&next_line(&lines), "erin@localhost", "hi erin");
    let erin = dir.join("erin@localhost");
    wait_in(&erin, || {
        std::fs::symlink_metadata(erin.join("in")).is_ok_and(|m| m.file_type().is_fifo())
    });
    let link = |name: &str| std::fs::read_link(dir.join(name)).ok();
    assert_eq!(link("Carol@Localhost"), Some("carol@localhost".into()));
    assert_eq!(link("BOB@localhost"), Some("bob@localhost".into()));
    assert_eq!(link("bOb@localhost"), None, "kept: it holds an out");
    let carol_out = dir.join("carol@localhost/out");
    let logged = || std::fs::read_to_string(&carol_out).unwrap_or_default();
    wait_in(&dir.join("carol@localhost"), || !logged().is_empty());
    assert!(
        logged().ends_with("<alice@localhost> hi carol\n"),
        "{}",
        logged()
    );

    // Made while it runs: a writer of the typed name reaches bob's pipe.
    std::fs::create_dir(dir.join("Bob@Localhost")).unwrap();
    wait_in(&dir, || link("Bob@Localhost").is_some());
    let mut typed = pipe_writer(&dir.join("Bob@Localhost"));
    assert!(std::fs::symlink_metadata(bob.join("in"))
        .unwrap()
        .file_type()
        .is_fifo());
    typed.write_all(b"via the typed name\n").unwrap();
    message_to(&next_line(&lines), "bob@localhost", "via the typed name");
    let out = bob.join("out");
    wait_in(&bob, || {
        std::fs::read_to_string(&out).is_ok_and(|t| !t.is_empty())
    });
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .ends_with("<alice@localhost> via the typed name\n"));

    drop(typed);
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = exit_within_wait(child);
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let d = dir.display();
    for told in [
        format!("{d}/Carol@Localhost: the same contact as {d}/carol@localhost (its normalised form): moved there, Carol@Localhost made a link to it"),
        format!("{d}/BOB@localhost: the same contact as {d}/bob@localhost: merged into it, BOB@localhost made a link to it"),
        format!("{d}/bOb@localhost: the same contact as {d}/bob@localhost: not served: it holds out; move that to bob@localhost and remove bOb@localhost"),
        format!("{d}/Bob@Localhost: the same contact as {d}/bob@localhost: merged into it, Bob@Localhost made a link to it"),
    ] {
        assert_eq!(err.matches(&told).count(), 1, "{told}\n--- stderr ---\n{err}");
    }
    assert_eq!(err.lines().count(), 4, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

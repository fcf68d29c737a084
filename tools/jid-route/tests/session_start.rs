//! What jid-route asks for when a new session begins, as a process against
//! a scripted server side. --archive: the query it sends to DIR/in, the
//! results it writes (in order, with the archive's times, ours as our
//! lines), the live messages it holds until the catch-up is over and does
//! not write twice, the forged results it refuses, and where the next
//! catch-up starts. --roster: the fetch, DIR/roster, pushes from our
//! account only.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use xmpp_pipes::xml::Element;

const BIN: &str = env!("CARGO_BIN_EXE_jid-route");
const SESSION: &str = "<session xmlns='urn:xmpp-pipes:session:0' state='new' jid='bob@x/tree'/>";

fn scratch(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("jid-route-archive-{name}"));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    path
}

/// jid-route --archive on `dir`, and the reading end of `dir/in` (a named
/// pipe, opened before jid-route runs so that its writes find a reader; a
/// writing end is kept open with it, so that a read waits for a line
/// instead of seeing the end of the pipe between jid-route's writes).
fn start(dir: &Path) -> (Child, BufReader<Fifo>) {
    start_with(dir, &["--archive"])
}

/// jid-route `--dir DIR --me bob@x/tree --epoch` with `options`, as [`start`].
fn start_with(dir: &Path, options: &[&str]) -> (Child, BufReader<Fifo>) {
    let fifo = dir.join("in");
    if !fifo.exists() {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
    }
    let reader = rustix::fs::open(
        &fifo,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    rustix::fs::fcntl_setfl(&reader, rustix::fs::OFlags::empty()).unwrap();
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let child = Command::new(BIN)
        .args(["--dir"])
        .arg(dir)
        .args(["--me", "bob@x/tree", "--epoch"])
        .args(options)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let fifo = Fifo {
        reader: std::fs::File::from(reader),
        _writer: writer,
    };
    (child, BufReader::new(fifo))
}

/// Both ends of DIR/in.
struct Fifo {
    reader: std::fs::File,
    _writer: std::fs::File,
}

impl std::io::Read for Fifo {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

/// A new start of jid-route --archive on `dir`, and its first query, which
/// must ask after `last`: (the child, DIR/in, (the query's iq id, its queryid)).
fn start_after(dir: &Path, last: &str) -> (Child, BufReader<Fifo>, (String, String)) {
    let (mut child, mut fifo) = start(dir);
    send(&mut child, SESSION);
    let (id, queryid, line) = query(&mut fifo);
    assert!(line.contains(&format!("<after>{last}</after>")), "{line}");
    (child, fifo, (id, queryid))
}

fn send(child: &mut Child, line: &str) {
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
}

/// The next line written to DIR/in, parsed.
fn next_line(fifo: &mut BufReader<Fifo>) -> (Element, String) {
    let mut line = String::new();
    fifo.read_line(&mut line).unwrap();
    (Element::parse(line.trim_end()).expect(&line), line)
}

/// The next query from DIR/in: (its iq id, its queryid, the line).
fn query(fifo: &mut BufReader<Fifo>) -> (String, String, String) {
    let (iq, line) = next_line(fifo);
    let query = iq.child("query", "urn:xmpp:mam:2").expect(&line);
    (
        iq.attr("id").unwrap().to_owned(),
        query.attr("queryid").unwrap().to_owned(),
        line,
    )
}

fn result(queryid: &str, id: &str, from_attr: &str, stamp: &str, inner: &str) -> String {
    format!(
        "<message to='bob@x/tree' {from_attr}><result xmlns='urn:xmpp:mam:2' queryid='{queryid}' \
         id='{id}'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' \
         stamp='{stamp}'/>{inner}</forwarded></result></message>"
    )
}

fn finish(mut child: Child) -> String {
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    stderr
}

#[test]
fn the_catch_up_writes_the_archive_in_order_and_nothing_twice() {
    let dir = scratch("catch-up");
    let (mut child, mut fifo) = start(&dir);
    send(&mut child, SESSION);
    let (id, queryid, line) = query(&mut fifo);
    assert!(
        !line.contains("<after>"),
        "the first time, all of it: {line}"
    );
    // Live, during the catch-up: one the archive also has (S2), one newer.
    send(
        &mut child,
        "<message from='alice@x/pc' to='bob@x/tree' type='chat'><body>two</body>\
         <stanza-id xmlns='urn:xmpp:sid:0' by='bob@x' id='S2'/></message>",
    );
    send(
        &mut child,
        "<message from='alice@x/pc' to='bob@x/tree' type='chat'><body>four</body>\
         <stanza-id xmlns='urn:xmpp:sid:0' by='bob@x' id='S4'/></message>",
    );
    let chat = |from: &str, to: &str, body: &str| {
        format!("<message xmlns='jabber:client' from='{from}' to='{to}' type='chat'><body>{body}</body></message>")
    };
    send(
        &mut child,
        &result(
            &queryid,
            "S1",
            "",
            "2026-11-30T08:15:00Z",
            &chat("alice@x/pc", "bob@x", "one"),
        ),
    );
    send(
        &mut child,
        &result(
            &queryid,
            "S2",
            "from='bob@x'",
            "2026-11-30T08:16:00Z",
            &chat("alice@x/pc", "bob@x", "two"),
        ),
    );
    send(
        &mut child,
        &result(
            &queryid,
            "S3",
            "",
            "2026-11-30T08:17:00Z",
            &chat("bob@x/phone", "alice@x", "three"),
        ),
    );
    // Forged: from a contact, and for a query nobody sent.
    send(
        &mut child,
        &result(
            &queryid,
            "F1",
            "from='eve@x/pc'",
            "2026-11-30T08:18:00Z",
            &chat("alice@x/pc", "bob@x", "forged"),
        ),
    );
    send(
        &mut child,
        &result(
            "guessed",
            "F2",
            "",
            "2026-11-30T08:18:00Z",
            &chat("alice@x/pc", "bob@x", "guessed"),
        ),
    );
    // Someone else's fin for our query changes nothing; ours ends it.
    let fin = |from: &str| {
        format!(
            "<iq type='result' id='{id}' {from}><fin xmlns='urn:xmpp:mam:2' complete='true'>\
             <set xmlns='http://jabber.org/protocol/rsm'><first>S1</first><last>S3</last></set>\
             </fin></iq>"
        )
    };
    send(&mut child, &fin("from='eve@x'"));
    send(&mut child, &fin(""));
    let stderr = finish(child);
    let out = std::fs::read_to_string(dir.join("alice@x/out")).unwrap();
    let at = |stamp: &str| stamp.parse::<jiff::Timestamp>().unwrap().as_second();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[0],
        format!("{} <alice@x> one", at("2026-11-30T08:15:00Z"))
    );
    assert_eq!(
        lines[1],
        format!("{} <alice@x> two", at("2026-11-30T08:16:00Z"))
    );
    assert_eq!(
        lines[2],
        format!("{} <bob@x> three", at("2026-11-30T08:17:00Z"))
    );
    assert!(lines[3].ends_with(" <alice@x> four"), "{out}");
    let unrouted = std::fs::read_to_string(dir.join("unrouted")).unwrap();
    assert!(
        unrouted.contains("not from our own account: forged"),
        "{unrouted}"
    );
    assert!(
        unrouted.contains("an archive result nobody asked for"),
        "{unrouted}"
    );
    assert!(
        stderr.contains("caught up from the archive: 3 message(s) written, 0 in the tree already"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped 1 iq answer(s) nobody asked for"),
        "eve's fin: {stderr}"
    );
    let record = std::fs::read_to_string(dir.join(".archive")).unwrap();
    assert!(
        record.starts_with("xmpp-pipes archive 1\nlast S4 "),
        "{record}"
    );

    // The next start asks after S4; what it gives that is known is not written.
    let (mut child, _fifo, (id, queryid)) = start_after(&dir, "S4");
    send(
        &mut child,
        &result(
            &queryid,
            "S4",
            "",
            "2026-11-30T08:19:00Z",
            &chat("alice@x/pc", "bob@x", "four"),
        ),
    );
    send(
        &mut child,
        &format!("<iq type='result' id='{id}'><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>"),
    );
    let stderr = finish(child);
    assert!(
        stderr.contains("0 message(s) written, 1 in the tree already"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("alice@x/out")).unwrap(),
        out
    );
}

#[test]
fn pages_follow_one_another_and_an_expired_id_starts_from_its_time() {
    let dir = scratch("pages");
    std::fs::write(
        dir.join(".archive"),
        "xmpp-pipes archive 1\nlast GONE 2026-11-30T08:00:00Z\n",
    )
    .unwrap();
    let (mut child, mut fifo, (id, _)) = start_after(&dir, "GONE");
    send(
        &mut child,
        &format!(
            "<iq type='error' id='{id}'><error type='cancel'><item-not-found \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ),
    );
    let (id, _, line) = query(&mut fifo);
    assert!(
        line.contains("<field var='start'><value>2026-11-30T08:00:00Z</value>"),
        "{line}"
    );
    send(
        &mut child,
        &format!(
            "<iq type='result' id='{id}'><fin xmlns='urn:xmpp:mam:2'><set \
             xmlns='http://jabber.org/protocol/rsm'><last>P1</last></set></fin></iq>"
        ),
    );
    let (id, _, line) = query(&mut fifo);
    assert!(line.contains("<after>P1</after>"), "the next page: {line}");
    send(
        &mut child,
        &format!(
            "<iq type='error' id='{id}'><error type='cancel'><feature-not-implemented \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ),
    );
    let stderr = finish(child);
    assert!(
        stderr.contains(
            "no catch-up from the archive: the archive refused the query: feature-not-implemented"
        ),
        "{stderr}"
    );
}

#[test]
fn archive_needs_dir_and_me() {
    let dir = scratch("needs");
    let tree = dir.join("tree");
    let tree = tree.to_str().unwrap();
    for args in [
        &["--archive", "--print", "--me", "bob@x"][..],
        &["--archive", "--dir", tree],
    ] {
        let output = Command::new(BIN)
            .args(args)
            .env_remove("XMPP_JID")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--archive needs"), "{stderr}");
    }
    assert!(!Path::new(tree).exists(), "refused before the tree is made");
}

#[test]
fn the_roster_is_fetched_kept_in_dir_roster_and_pushed_only_by_our_account() {
    let dir = scratch("roster");
    let (mut child, mut fifo) = start_with(&dir, &["--roster"]);
    send(&mut child, SESSION);
    let (get, line) = next_line(&mut fifo);
    assert!(get.child("query", "jabber:iq:roster").is_some(), "{line}");
    let id = get.attr("id").unwrap().to_owned();
    assert!(id.len() > 16, "an id nobody can guess: {id}");
    // A planted answer first: not taken (and dropped as an answer nobody asked for).
    let roster = |id: &str, from: &str| {
        format!(
            "<iq type='result' id='{id}' {from}><query xmlns='jabber:iq:roster'>\
             <item jid='alice@x' subscription='both' name='Alice'><group>Friends</group></item>\
             <item jid='carol@x' subscription='none' ask='subscribe'/></query></iq>"
        )
    };
    send(&mut child, &roster(&id, "from='eve@x/pc'"));
    send(&mut child, &roster(&id, ""));
    // A push from our account: carol approved; one from eve: refused.
    let push = |id: &str, from: &str, jid: &str, sub: &str| {
        format!(
            "<iq type='set' id='{id}' {from}><query xmlns='jabber:iq:roster'>\
             <item jid='{jid}' subscription='{sub}'/></query></iq>"
        )
    };
    send(&mut child, &push("p1", "from='bob@x'", "carol@x", "to"));
    send(&mut child, &push("p2", "from='eve@x/pc'", "eve@x", "both"));
    let (reply, line) = next_line(&mut fifo);
    assert_eq!(
        (reply.attr("id"), reply.attr("type")),
        (Some("p1"), Some("result")),
        "{line}"
    );
    let (reply, line) = next_line(&mut fifo);
    assert_eq!(
        (reply.attr("id"), reply.attr("type")),
        (Some("p2"), Some("error")),
        "{line}"
    );
    let stderr = finish(child);
    assert_eq!(
        std::fs::read_to_string(dir.join("roster")).unwrap(),
        "alice@x\tboth\tAlice\tFriends\ncarol@x\tto\t\t\n"
    );
    let carol = std::fs::read_to_string(dir.join("carol@x/out")).unwrap();
    assert!(
        carol.ends_with(" -!- roster: carol@x subscription to: you see their presence\n"),
        "{carol}"
    );
    assert!(!dir.join("eve@x").exists());
    assert!(
        stderr.contains("refusing a roster push from eve@x/pc"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped 1 iq answer(s) nobody asked for"),
        "{stderr}"
    );
}

#[test]
fn a_contact_named_like_a_file_of_the_tree_gets_no_directory() {
    let dir = scratch("reserved");
    let (mut child, _fifo) = start_with(&dir, &["--roster"]);
    for name in ["roster", "state", "log"] {
        send(
            &mut child,
            &format!("<message from='{name}' type='chat'><body>hi</body></message>"),
        );
    }
    finish(child);
    let unrouted = std::fs::read_to_string(dir.join("unrouted")).unwrap();
    assert_eq!(unrouted.matches("reserved name").count(), 3, "{unrouted}");
    assert!(!dir.join("roster").exists() && !dir.join("log").exists());
}

/// A line whose record cannot be written (a full disk, here a directory in
/// the way of DIR/.archive's new copy) is taken back from `out`: the next
/// start writes it from the archive, once, instead of a second time.
#[test]
fn a_line_the_record_cannot_note_is_taken_back_and_written_once_later() {
    let dir = scratch("take-back");
    let live = |body: &str, id: &str| {
        format!(
            "<message from='alice@x/pc' to='bob@x/tree' type='chat'><body>{body}</body>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='bob@x' id='{id}'/></message>"
        )
    };
    let fin = |id: &str| {
        format!("<iq type='result' id='{id}'><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>")
    };
    let (mut child, mut fifo) = start(&dir);
    send(&mut child, SESSION);
    let (id, _, _) = query(&mut fifo);
    send(&mut child, &fin(&id));
    send(&mut child, &live("one", "S1"));
    // Its answer to a ping says that "one" is handled (lines are taken in order).
    send(
        &mut child,
        "<iq from='x' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
    );
    let (pong, line) = next_line(&mut fifo);
    assert_eq!(pong.attr("id"), Some("p1"), "{line}");
    let record = std::fs::read_to_string(dir.join(".archive")).unwrap();
    assert!(record.contains("S1"), "{record}");
    let tmp = dir.join(".archive.tmp");
    std::fs::create_dir(&tmp).unwrap();
    send(&mut child, &live("two", "S2"));
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(
        stderr
            .contains("its line is taken back from out; the next start writes it from the archive"),
        "{stderr}"
    );
    let out = dir.join("alice@x/out");
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with(" <alice@x> one\n"), "{text}");

    // Space is back: the next start asks after S1 and writes two, once.
    std::fs::remove_dir(&tmp).unwrap();
    let (mut child, _fifo, (id, queryid)) = start_after(&dir, "S1");
    send(
        &mut child,
        &result(
            &queryid,
            "S2",
            "",
            "2026-11-30T08:16:00Z",
            "<message xmlns='jabber:client' from='alice@x/pc' to='bob@x' type='chat'>\
             <body>two</body></message>",
        ),
    );
    send(&mut child, &fin(&id));
    finish(child);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].ends_with(" <alice@x> two"), "{text}");
}

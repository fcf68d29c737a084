//! stanza-split as a process: good streams, bad input, and what is written before an error.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_stanza-split");

fn split(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
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

/// stanza-split with its three standard streams piped.
fn spawn() -> std::process::Child {
    Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

#[test]
fn good_stream() {
    let input = format!("{HEADER}<message><body>x</body></message> \n <presence/></stream:stream>");
    let output = split(&[], input.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "<message><body>x</body></message>\n<presence/>\n</stream:stream>\n"
    );
}

#[test]
fn bad_input_exits_65_after_the_good_stanzas() {
    let cases: &[(&[u8], &str)] = &[
        (b"<!DOCTYPE x [<!ENTITY a 'b'>]>", "DTD"),
        (b"<!-- hi -->", "comment"),
        (b"<?php x ?>", "processing instruction"),
        (
            b"<message><body>&lol9;</body></message>",
            "undeclared entity",
        ),
        (b"<message><body>\xff</body></message>", "malformed"),
        (b"<message><body>", "ended in the middle"),
        (b"<message></presence>", "does not match"),
    ];
    for (bad, needle) in cases {
        let mut input = format!("{HEADER}<presence/>").into_bytes();
        input.extend_from_slice(bad);
        let output = split(&[], &input);
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(65), "{needle}: {err}");
        assert_eq!(text(&output.stdout), "<presence/>\n", "{needle}");
        assert!(
            err.starts_with("stanza-split: ") && err.contains(needle),
            "{needle}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn an_oversized_stanza_is_refused_without_unbounded_memory() {
    let mut input = format!("{HEADER}<presence/><message><body>").into_bytes();
    input.extend(std::iter::repeat_n(b'x', 4 << 20));
    let output = split(&["--max-stanza", "64K"], &input);
    assert_eq!(output.status.code(), Some(65));
    assert_eq!(text(&output.stdout), "<presence/>\n");
    assert!(
        text(&output.stderr).contains("larger than 65536 bytes"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn usage_errors() {
    for args in [
        &["--max-stanza"][..],
        &["--max-stanza", "lots"],
        &["--nope"],
        &["file.xml"],
    ] {
        let output = split(args, b"");
        assert_eq!(output.status.code(), Some(64), "{args:?}");
        assert_eq!(text(&output.stderr).lines().count(), 1);
    }
    let output = split(&["--help"], b"");
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("--max-stanza"));
}

#[test]
fn a_closed_stdout_is_an_error_not_a_crash() {
    let mut child = spawn();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(&b"<presence/>\n".repeat(1000));
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(74), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("cannot write to stdout"));
}

/// The end of a pipeline dies while the stream is quiet: stanza-split ends
/// at once (74), not when the next stanza comes, so that the session it
/// feeds does not stay up for nobody.
#[test]
fn a_reader_that_goes_away_ends_it_while_the_input_is_quiet() {
    let mut child = spawn();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{HEADER}<presence/>").as_bytes())
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = [0u8; 12];
    std::io::Read::read_exact(&mut stdout, &mut line).unwrap();
    assert_eq!(&line, b"<presence/>\n");
    drop(stdout);
    // stdin stays open and silent: only the reader's going can end it.
    let pid = child.id();
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output().unwrap()));
    let Ok(output) = ended.recv_timeout(std::time::Duration::from_secs(20)) else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        panic!("stanza-split still waits for input 20 s after its reader went away");
    };
    assert_eq!(output.status.code(), Some(74), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stderr),
        "stanza-split: cannot write to stdout: nothing reads stdout any more\n"
    );
    drop(stdin);
}

/// Once the stream's close is passed on, its reader may go (jid-route ends
/// there): that is the end of the stream, not a write error.
#[test]
fn a_reader_that_goes_after_the_close_is_no_error() {
    let mut child = spawn();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{HEADER}<presence/></stream:stream>").as_bytes())
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut lines = [0u8; 29];
    std::io::Read::read_exact(&mut stdout, &mut lines).unwrap();
    assert_eq!(&lines, b"<presence/>\n</stream:stream>\n");
    drop(stdout);
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

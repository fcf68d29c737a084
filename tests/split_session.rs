//! stanza-split on a real Prosody session, captured with the tools:
//! `xmpp-connect … localhost | tee RAW | stanza-split` in bridge mode, the
//! client's side of the conversation scripted here (stream header, SASL
//! PLAIN with a throwaway account, restart, bind, presence, roster, a
//! message to itself with multi-byte text, an iq error, close), each step
//! waiting for stanza-split's line that answers the previous one (so those
//! lines must be flushed as their end tags arrive). RAW then holds only the
//! server's side of the stream; it is split again whole, one byte a write and
//! in random chunks, and every run must give the live lines.
//!
//! `cargo test --test split_session -- --ignored record_fixture` records a
//! new fixture for tools/stanza-split/tests (the server's side only: no
//! password in it, the account was a throwaway one).

use base64::Engine as _;
use harness::{connect, tool, Prosody, Spawned, Transport};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use xmpp_pipes::xml::Element;

const LIMIT: Duration = Duration::from_secs(30);

/// The multi-byte text the session sends itself: 2-, 3- and 4-byte UTF-8.
const TEXT: &str = "grüße ✓ 😀";

fn quote(arg: &std::ffi::OsStr) -> String {
    format!(
        "'{}'",
        arg.to_str().expect("UTF-8 argument").replace('\'', "'\\''")
    )
}

/// Run the scripted session; returns stanza-split's live lines and the raw
/// server side of the stream.
fn record(prosody: &Prosody, raw: &Path) -> (Vec<String>, Vec<u8>) {
    let account = prosody.new_account("split");
    let bridge = connect(prosody, Transport::StartTls);
    let mut pipeline = std::iter::once(bridge.get_program())
        .chain(bridge.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    pipeline.push_str(&format!(
        " | tee {} | {}",
        quote(raw.as_os_str()),
        quote(tool("stanza-split").as_os_str())
    ));
    let mut command = Command::new("sh");
    command.args(["-c", &pipeline]);
    let mut session = Spawned::start(command);
    let mut lines = Vec::new();
    let mut expect = |session: &mut Spawned, what: &dyn Fn(&str) -> bool| {
        let line = session.expect_line(LIMIT, what);
        lines.push(line.clone());
        line
    };

    let header = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
                  xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    session.write(header.as_bytes());
    let features = expect(&mut session, &|l| l.starts_with("<stream:features"));
    assert!(
        features.contains("<mechanism>PLAIN</mechanism>"),
        "{features}"
    );

    let plain = base64::engine::general_purpose::STANDARD
        .encode(format!("\0{}\0{}", account.user, account.password));
    session.write(
        format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")
            .as_bytes(),
    );
    expect(&mut session, &|l| l.starts_with("<success"));

    session.write(header.as_bytes());
    let features = expect(&mut session, &|l| l.starts_with("<stream:features"));
    assert!(
        features.contains("urn:ietf:params:xml:ns:xmpp-bind"),
        "{features}"
    );

    session.write(
        b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
          <resource>split</resource></bind></iq>",
    );
    let full_jid = format!("{}/split", account.jid);
    let bound = expect(&mut session, &|l| l.contains("bind1"));
    assert!(bound.contains(&format!("<jid>{full_jid}</jid>")), "{bound}");

    session.write(b"<presence><status>splitting \xe2\x9c\x93</status></presence>");
    expect(&mut session, &|l| l.starts_with("<presence"));

    session.write(b"<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>");
    expect(&mut session, &|l| l.contains("roster1"));

    let body = format!("{TEXT} &amp; &lt;tag&gt;\nline two");
    session.write(
        format!(
            "<message to='{}' type='chat' id='m1' xml:lang='de'><body>{body}</body></message>",
            account.jid
        )
        .as_bytes(),
    );
    let message = expect(&mut session, &|l| l.starts_with("<message"));
    assert!(
        message.contains(&format!("{TEXT} &amp; &lt;tag&gt;&#10;line two")),
        "{message}"
    );

    session.write(b"<iq type='get' id='nonsense1'><nonsense xmlns='urn:example:nonsense'/></iq>");
    let error = expect(&mut session, &|l| l.contains("nonsense1"));
    assert!(error.contains("type='error'"), "{error}");

    session.write(b"</stream:stream>");
    expect(&mut session, &|l| l == "</stream:stream>");
    session.close_stdin();
    let status = session.wait_timeout(LIMIT).expect("the pipeline ends");
    assert!(status.success(), "{status}: {}", session.stderr());
    assert_eq!(
        session.read_line_timeout(Duration::ZERO),
        None,
        "nothing after the close"
    );
    drop(session);

    let raw = std::fs::read(raw).expect("the recorded stream");
    (lines, raw)
}

/// Run stanza-split on `input`, written in chunks of the sizes `chunk` gives.
fn split_chunked(input: &[u8], mut chunk: impl FnMut() -> usize + Send) -> String {
    let mut child = Command::new(tool("stanza-split"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stanza-split");
    let mut stdin = child.stdin.take().unwrap();
    let output = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut rest = input;
            while !rest.is_empty() {
                let n = chunk().clamp(1, rest.len());
                let k = stdin.write(&rest[..n]).expect("write to stanza-split");
                rest = &rest[k..];
            }
        });
        child.wait_with_output().expect("stanza-split output")
    });
    assert!(
        output.status.success(),
        "{}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 lines")
}

/// The stream is split to the same lines in whole, bytewise and random chunks.
fn check_chunkings(raw: &[u8], expected: &str) {
    assert_eq!(split_chunked(raw, || usize::MAX), expected, "whole");
    assert_eq!(split_chunked(raw, || 1), expected, "one byte a write");
    for seed in 1..=4u64 {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let chunks = move || {
            // xorshift64*: chunk sizes 1..=200.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            1 + (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % 200) as usize
        };
        assert_eq!(
            split_chunked(raw, chunks),
            expected,
            "random chunks, seed {seed}"
        );
    }
}

/// What any recording must hold.
fn check_recording(lines: &[String], raw: &[u8]) {
    let text = String::from_utf8(raw.to_vec()).expect("the server sends UTF-8");
    assert_eq!(
        text.matches("<stream:stream").count(),
        2,
        "two headers: {text}"
    );
    assert!(
        text.contains(TEXT),
        "the multi-byte text comes back: {text}"
    );
    assert!(text.ends_with("</stream:stream>"), "{text}");
    assert!(
        // Our `<auth `, not Prosody 13's `<authentication` (SASL2) feature.
        !text.contains("<auth "),
        "only the server's side is recorded"
    );
    assert_eq!(lines.last().map(String::as_str), Some("</stream:stream>"));
    for line in &lines[..lines.len() - 1] {
        assert!(!line.contains('\n'));
        let element = Element::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(!element.name.is_empty());
    }
    let features = Element::parse(&lines[0]).unwrap();
    assert!(
        features.is("features", "http://etherx.jabber.org/streams"),
        "{features:?}"
    );
    let message = lines
        .iter()
        .find(|l| l.starts_with("<message"))
        .map(|l| Element::parse(l).unwrap())
        .expect("the message");
    let body = message.child("body", "jabber:client").expect("a body");
    assert_eq!(body.text(), format!("{TEXT} & <tag>\nline two"));
}

#[test]
fn a_live_prosody_session_splits_the_same_in_any_chunks() {
    let prosody = Prosody::shared();
    let raw_path = prosody.scratch_dir().join(harness::unique("session-"));
    let (lines, raw) = record(prosody, &raw_path);
    check_recording(&lines, &raw);
    let mut expected = lines.join("\n");
    expected.push('\n');
    check_chunkings(&raw, &expected);
}

/// Records tools/stanza-split/tests/fixtures/prosody-session.{xml,lines}.
#[test]
#[ignore = "writes the fixture; run by hand against the harness Prosody"]
fn record_fixture() {
    let prosody = Prosody::shared();
    let raw_path = prosody.scratch_dir().join("session.xml");
    let (lines, raw) = record(prosody, &raw_path);
    check_recording(&lines, &raw);
    let mut expected = lines.join("\n");
    expected.push('\n');
    check_chunkings(&raw, &expected);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/stanza-split/tests/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prosody-session.xml"), &raw).unwrap();
    std::fs::write(dir.join("prosody-session.lines"), expected).unwrap();
}

//! The examples a newcomer runs, against a real Prosody: the demo
//! (`./demo`, `cargo run --example demo`) delivers its message and cleans
//! up, and `examples/echo-bot` answers a chat message with its text, however
//! hostile that text is.

use harness::{assert_out_line, chat, example, online, repo_root, Prosody, Spawned, TempDir};
use std::time::Duration;
use xmpp_pipes::xml::{escape_text, Element, NS_CLIENT};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn the_demo_shows_the_message_delivered_and_cleans_up() {
    let mut out = Vec::new();
    let result = harness::demo::run(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(result, Ok(()), "{text}");

    // Each step's command and its result.
    for expected in [
        "$ examples/ii-client run $DEMO/bob bob@localhost",
        "online: $DEMO/bob/mypresence says \"available\"",
        "$ printf 'backup done\\n' | stanza-fmt --whole --to bob@localhost",
        "exit status 0: the server acknowledged the message",
        "$ cat $DEMO/bob/alice@localhost/out",
        "bob's session ended: exit status 0",
        "Prosody stopped, $DEMO removed",
        "Delivered.",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    // The line from bob's out file.
    let delivered = text
        .lines()
        .find(|line| line.ends_with(" <alice@localhost> backup done"))
        .unwrap_or_else(|| panic!("no delivered line in:\n{text}"));
    assert_out_line(delivered.trim_start(), "alice@localhost", "backup done");

    // The README's sample of this output is what the demo prints.
    let actual = normalise(&text);
    for line in readme_sample().lines() {
        assert!(
            actual.contains(&normalise(line)),
            "README's {line:?} is not in the demo's output:\n{text}"
        );
    }

    // What it said it removed is gone.
    let demo = text
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("DEMO="))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no DEMO= line in:\n{text}"));
    assert!(
        !std::path::Path::new(demo).exists(),
        "{demo} is still there"
    );
}

/// The sample of the demo's output in the README's "Try it" section.
fn readme_sample() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Try it").expect("a Try it section")..];
    assert!(section.contains("\n./demo\n"), "Try it does not say ./demo");
    let start = section.find("\n[").expect("a sample of the output") + 1;
    let end = start + section[start..].find("```").expect("the sample's end");
    section[start..end].to_owned()
}

/// `text` with what changes from run to run (port, date and time) replaced.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('9');
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn echo_bot_answers_with_the_text_and_runs_none_of_it() {
    let prosody = Prosody::shared();
    let (bot, alice) = (prosody.new_account("bot"), prosody.new_account("alice"));
    let temp = TempDir::new("echo-bot");

    let mut command = example("echo-bot");
    command
        .arg(&bot.jid)
        .arg(&bot.password_file)
        .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
        .arg("--cafile")
        .arg(prosody.ca_pem())
        .env("TMPDIR", temp.path());
    let mut running = Spawned::start(command);
    let announced = running.expect_line(LIMIT, |line| line.starts_with("echo-bot: "));
    assert!(
        announced.starts_with(&format!("echo-bot: online as {}/", bot.jid)),
        "{announced}"
    );

    // Quotes, markup, two lines and command substitutions that would leave
    // a file behind if the bot ever ran the text.
    let marker = temp.join("ran");
    let body = format!(
        "it's \"quoted\" & <b>bold</b>; $(touch {m}) `touch {m}`\nline two",
        m = marker.display()
    );
    let escaped = escape_text(&body).unwrap().replace('\n', "&#10;");
    let mut session = online(prosody, &alice);
    session.write(chat(&bot.jid, &escaped).as_bytes());

    let answer = session.expect_line(LIMIT, |line| {
        line.starts_with("<message") && line.contains("echo: ")
    });
    let answer = Element::parse(&answer).unwrap();
    assert_eq!(answer.attr("type"), Some("chat"), "{answer:?}");
    assert!(
        answer
            .attr("from")
            .is_some_and(|from| from.starts_with(&format!("{}/", bot.jid))),
        "{answer:?}"
    );
    let text = answer.child("body", NS_CLIENT).map(Element::text);
    assert_eq!(text, Some(format!("echo: {body}")));
    let logged = running.expect_line(LIMIT, |line| line.starts_with("echo-bot: answered "));
    assert!(
        logged.starts_with(&format!("echo-bot: answered {}/", alice.jid)),
        "{logged}"
    );
    assert!(!marker.exists(), "the bot ran part of the message");

    // Stopped, it removes its named pipe and exits.
    running.signal(harness::Signal::TERM);
    let status = running.wait_timeout(LIMIT);
    assert!(
        status.is_some(),
        "echo-bot did not stop: {}",
        running.stderr()
    );
    let left: Vec<_> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with("echo-bot."))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

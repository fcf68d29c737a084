//! The recorded Prosody session (tests/fixtures/prosody-session.xml, the
//! server's side of a real stream recorded by
//! `cargo test --test split_session -- --ignored record_fixture`) gives the
//! same lines (prosody-session.lines) whole, one byte a write, and in random
//! chunks of 1 to 200 bytes that split its multi-byte characters.

mod common;
use common::{run, run_chunked, Rng};
use xmpp_pipes::xml::Element;

const SESSION: &[u8] = include_bytes!("fixtures/prosody-session.xml");
const LINES: &str = include_str!("fixtures/prosody-session.lines");

#[test]
fn the_fixture_is_what_it_should_be() {
    let text = std::str::from_utf8(SESSION).unwrap();
    assert!(text.starts_with("<?xml version='1.0'?><stream:stream "));
    assert_eq!(
        text.matches("<stream:stream ").count(),
        2,
        "a restart after SASL"
    );
    assert!(text.contains("grüße ✓ 😀"));
    assert!(text.ends_with("</stream:stream>"));
    assert_eq!(LINES.lines().count(), 9);
}

#[test]
fn whole() {
    let out = run(&[], SESSION);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, LINES);
    assert_eq!(out.stderr, "");
}

#[test]
fn one_byte_a_write() {
    let out = run_chunked(&[], SESSION.to_vec(), || 1);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, LINES);
}

#[test]
fn random_chunks_split_multibyte_characters() {
    for seed in 1..=8 {
        let mut rng = Rng::new(seed);
        let sizes: Vec<usize> = (0..SESSION.len()).map(|_| rng.range(1, 200)).collect();
        let mut sizes = sizes.into_iter();
        let out = run_chunked(&[], SESSION.to_vec(), move || sizes.next().unwrap_or(200));
        assert_eq!(out.status.code(), Some(0), "seed {seed}: {out}");
        assert_eq!(out.stdout, LINES, "seed {seed}");
    }
    // Few of the bytes are inside a character, so random cuts rarely hit
    // one: cut in the middle of every multi-byte character, one at a time.
    for (at, _) in SESSION
        .iter()
        .enumerate()
        .filter(|(_, b)| **b & 0xC0 == 0x80)
    {
        let mut first = true;
        let out = run_chunked(&[], SESSION.to_vec(), move || {
            if std::mem::replace(&mut first, false) {
                at
            } else {
                usize::MAX
            }
        });
        assert_eq!(out.stdout, LINES, "cut at byte {at}");
    }
}

#[test]
fn keepalives_and_headers_make_no_difference() {
    // Whitespace keepalives between the stanzas are dropped.
    let text = std::str::from_utf8(SESSION).unwrap();
    let with_keepalives = text
        .replace("</iq>", "</iq> \n\t \r\n")
        .replace("</stream:features>", "</stream:features>\n")
        .replace("sasl'/>", "sasl'/>  ");
    assert!(with_keepalives.len() > text.len() + 20);
    let out = run(&[], with_keepalives);
    assert_eq!(out.stdout, LINES);
    // The lines themselves (no headers) split to themselves.
    let out = run(&[], LINES);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(out.stdout, LINES);
    for line in LINES.lines().filter(|l| *l != "</stream:stream>") {
        Element::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

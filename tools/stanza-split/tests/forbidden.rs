//! What RFC 6120 section 11.1 forbids, and malformed XML: exit 65 with one
//! clear line on stderr, after every complete stanza before it was written,
//! whether the input comes whole or one byte a write.

mod common;
use common::{run, run_chunked, HEADER};

/// (bad input, a phrase the error must contain)
const CASES: &[(&[u8], &str)] = &[
    // RFC 6120 section 11.1: DTDs, processing instructions, comments, entities.
    (
        b"<!DOCTYPE stream:stream [<!ENTITY x 'y'>]>",
        "document type declaration (DTD)",
    ),
    (b"<!DOCTYPE message>", "DTD"),
    (
        b"<?xml-stylesheet href='evil.xsl'?>",
        "processing instruction",
    ),
    (b"<?php echo 1; ?>", "processing instruction"),
    (b"<message><?php x?></message>", "processing instruction"),
    (
        b"<message><?xml version='1.0'?></message>",
        "XML declaration inside an element",
    ),
    (b"<!-- a comment -->", "comment"),
    (b"<message><body><!--c--></body></message>", "comment"),
    (
        b"<message><body>&foo;</body></message>",
        "undeclared entity &foo;",
    ),
    (
        b"<message a='&foo;'/>",
        "undeclared entity &foo; in attribute a",
    ),
    // Malformed XML.
    (
        b"<message><body>a</message></body>",
        "end tag </message> does not match <body>",
    ),
    (b"</message>", "unexpected end tag </message>"),
    (b"<message a=1/>", "attribute value must be enclosed"),
    (
        b"<message a='1\"/><presence/>",
        "ended in the middle of an element",
    ),
    (b"<message a='1' a='2'/>", "duplicated attribute"),
    (
        b"<message a='1'b='2'/>",
        "no white space between the attributes",
    ),
    (b"<message><body>1 < 2</body></message>", "malformed XML"),
    (b"<message a='1 < 2'/>", "'<' in the value of attribute a"),
    (b"<message><body>]]></body></message>", "']]>' in text"),
    (b"<<presence/>", "not a valid XML name"),
    (b"text between stanzas", "text outside any element"),
    (
        b"<message><body>x",
        "end tag </stream:stream> does not match <body>",
    ),
    // Invalid UTF-8.
    (b"<message><body>\xff</body></message>", "invalid UTF-8"),
    (b"<message><body>\xc0\xaf</body></message>", "invalid UTF-8"),
    (
        b"<message><body>\xed\xa0\x80</body></message>",
        "invalid UTF-8",
    ),
    (b"<message><body>\xe2\x9c</body></message>", "invalid UTF-8"),
    (b"<message to='\xff'/>", "invalid UTF-8"),
    // NUL and control characters, raw or as references.
    (
        b"<message><body>&#0;</body></message>",
        "0x0 character is not permitted",
    ),
    (b"<message><body>&#x1;</body></message>", "U+0001"),
    (b"<message><body>\x01</body></message>", "U+0001"),
    (b"<message><body>\x00</body></message>", "U+0000"),
    (b"<message a='&#0;'/>", "0x0 character is not permitted"),
    // Names: an unbound prefix.
    (
        b"<message><foo:x/></message>",
        "unbound namespace prefix 'foo'",
    ),
];

const GOOD: &str = "<presence/><message><body>gr\u{fc}\u{df}e \u{2713}</body></message>";
const GOOD_LINES: &str = "<presence/>\n<message><body>gr\u{fc}\u{df}e \u{2713}</body></message>\n";

fn input(bad: &[u8]) -> Vec<u8> {
    let mut input = format!("{HEADER}{GOOD}\n ").into_bytes();
    input.extend_from_slice(bad);
    input.extend_from_slice(b"<presence type='unavailable'/></stream:stream>");
    input
}

#[test]
fn every_forbidden_or_malformed_construct_exits_65_after_the_good_stanzas() {
    for (bad, needle) in CASES {
        let shown = String::from_utf8_lossy(bad);
        let out = run(&[], input(bad));
        assert_eq!(out.status.code(), Some(65), "{shown}: {out}");
        assert_eq!(out.stdout, GOOD_LINES, "{shown}");
        assert!(out.stderr.starts_with("stanza-split: "), "{shown}: {out}");
        assert!(
            out.stderr.contains(needle),
            "{shown}: want {needle:?}: {out}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{shown}: {out}");
        assert!(out.stderr.ends_with('\n'));
    }
}

#[test]
fn the_same_one_byte_a_write() {
    for (bad, needle) in CASES {
        let shown = String::from_utf8_lossy(bad);
        let out = run_chunked(&[], input(bad), || 1);
        assert_eq!(out.status.code(), Some(65), "{shown}: {out}");
        assert_eq!(out.stdout, GOOD_LINES, "{shown}");
        assert!(
            out.stderr.contains(needle),
            "{shown}: want {needle:?}: {out}"
        );
    }
}

#[test]
fn a_dtd_before_the_stream_header_writes_nothing() {
    let input = format!("<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol 'lol'>]>{HEADER}{GOOD}");
    let out = run(&[], input);
    assert_eq!(out.status.code(), Some(65), "{out}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("DTD"), "{out}");
}

#[test]
fn the_leading_xml_declaration_and_one_per_restart_are_fine() {
    let input = format!("{HEADER}{GOOD}{HEADER}{GOOD}</stream:stream>");
    let out = run(&[], input);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(
        out.stdout,
        format!("{GOOD_LINES}{GOOD_LINES}</stream:stream>\n")
    );
}

#[test]
fn a_stanza_nested_too_deep_exits_65_after_the_good_stanzas() {
    // Well under --max-stanza, but 100,000 elements deep: later stages
    // build element trees, so the framer refuses past 256 levels.
    let depth = 100_000;
    let bad = format!(
        "<message>{}{}</message>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let out = run(&[], input(bad.as_bytes()));
    assert_eq!(out.status.code(), Some(65), "{out}");
    assert_eq!(out.stdout, GOOD_LINES);
    assert!(out.stderr.contains("nested more than 256 deep"), "{out}");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
}

use super::*;
use std::io::{BufReader, Read};

/// A reader that hands out at most `chunk` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn items_chunked(input: &[u8], chunk: usize, max: usize) -> (Vec<Item>, Option<FrameError>) {
    let reader = BufReader::with_capacity(chunk.max(1), Chunked { data: input, chunk });
    let mut framer = Framer::new(reader, max);
    let mut items = Vec::new();
    loop {
        match framer.next_item() {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return (items, None),
            Err(err) => return (items, Some(err)),
        }
    }
}

fn items(input: &str) -> Vec<Item> {
    let (items, err) = items_chunked(input.as_bytes(), 8192, DEFAULT_MAX_STANZA);
    assert!(err.is_none(), "unexpected error: {err:?}");
    items
}

fn stanzas(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Stanza(line) => Some(line.as_str()),
            _ => None,
        })
        .collect()
}

const SESSION: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0' xml:lang='en'>\
    <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism>\
    </mechanisms></stream:features>\n \
    <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\
    <?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s2' version='1.0'>\
    <message from='bob@localhost/r' to='alice@localhost' type='chat' xml:lang='fr'>\
    <body>h\u{e9}llo &amp; &lt;wörld&gt;\nline two ☃ 😀</body></message>\
    <iq type='result' id='r1'><query xmlns='jabber:iq:roster'>\n  <item jid='a@b' name=\"O'Neil &amp; co\"/>\n</query></iq>\
    </stream:stream>";

#[test]
fn frames_a_session_with_restarts() {
    let got = items(SESSION);
    assert!(
        matches!(&got[0], Item::Header(h) if h.attr("id") == Some("s1") && h.version() == Some("1.0"))
    );
    assert_eq!(
        stanzas(&got),
        vec![
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms \
             xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
            "<message from='bob@localhost/r' to='alice@localhost' type='chat' xml:lang='fr'><body>h\u{e9}llo &amp; \
             &lt;wörld&gt;&#10;line two ☃ 😀</body></message>",
            "<iq type='result' id='r1'><query xmlns='jabber:iq:roster'>&#10;  <item jid='a@b' \
             name='O&apos;Neil &amp; co'/>&#10;</query></iq>",
        ]
    );
    assert!(matches!(&got[3], Item::Header(h) if h.attr("id") == Some("s2")));
    assert_eq!(got.last(), Some(&Item::Close));
    assert_eq!(got.len(), 7);
}

#[test]
fn any_chunking_gives_the_same_items() {
    let whole = items(SESSION);
    for chunk in [1, 2, 3, 5, 7, 64] {
        let (got, err) = items_chunked(SESSION.as_bytes(), chunk, DEFAULT_MAX_STANZA);
        assert!(err.is_none(), "chunk {chunk}: {err:?}");
        assert_eq!(got, whole, "chunk size {chunk}");
    }
}

#[test]
fn lines_are_standalone_and_single_line() {
    for line in stanzas(&items(SESSION)) {
        assert!(!line.contains('\n'));
        let reparsed = items(line);
        assert_eq!(stanzas(&reparsed), vec![line], "a line frames to itself");
    }
}

#[test]
fn stanzas_without_a_stream_header() {
    let got = items("<message to='a@b'><body>x</body></message>\n<presence/>\n");
    assert_eq!(
        stanzas(&got),
        vec!["<message to='a@b'><body>x</body></message>", "<presence/>"]
    );
}

#[test]
fn other_default_namespace_and_prefixes_are_declared() {
    let got = items(
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns:db='jabber:server:dialback'><db:result from='a' to='b'>k</db:result>",
    );
    assert_eq!(
        stanzas(&got),
        vec!["<db:result xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='a' to='b'>k</db:result>"]
    );
}

#[test]
fn cdata_and_character_references_become_text() {
    let got = items("<m><b><![CDATA[<x> & ]]]]><![CDATA[>]]>&#x263A;&#10;</b></m>");
    assert_eq!(
        stanzas(&got),
        vec!["<m><b>&lt;x&gt; &amp; ]]&gt;☺&#10;</b></m>"]
    );
}

fn error_after(input: &str) -> (Vec<String>, FrameError) {
    let (got, err) = items_chunked(input.as_bytes(), 3, 4096);
    let lines = stanzas(&got).into_iter().map(str::to_owned).collect();
    (lines, err.expect("an error"))
}

#[test]
fn forbidden_constructs_fail_after_the_good_stanzas() {
    let good = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><presence/>";
    for (bad, want) in [
        ("<!-- c -->", "comment"),
        ("<?pi x?>", "processing instruction"),
        (
            "<message><body>&xxe;</body></message>",
            "undeclared entity &xxe;",
        ),
        ("<message a='&xxe;'/>", "undeclared entity &xxe;"),
        ("<message><body><!-- c --></body></message>", "comment"),
        ("<message><?xml version='1.0'?></message>", "declaration"),
    ] {
        let (lines, err) = error_after(&format!("{good}{bad}<presence/>"));
        assert_eq!(lines, vec!["<presence/>"], "for {bad}");
        assert!(
            matches!(err, FrameError::Forbidden(_)),
            "for {bad}: {err:?}"
        );
        assert!(err.to_string().contains(want), "for {bad}: {err}");
    }
    let (lines, err) = error_after("<!DOCTYPE x [<!ENTITY a 'aaaa'>]><presence/>");
    assert!(lines.is_empty());
    assert!(err.to_string().contains("DTD"), "{err}");
}

#[test]
fn malformed_xml_fails_after_the_good_stanzas() {
    for bad in [
        "<message></body>",
        "<message a='1' a='2'/>",
        "text at stream level<presence/>",
        "<message><body>\u{1}</body></message>",
        "<message><body>&#0;</body></message>",
        "</presence>",
    ] {
        let (lines, err) = error_after(&format!("<presence/>{bad}"));
        assert_eq!(lines, vec!["<presence/>"], "for {bad:?}");
        assert!(
            matches!(err, FrameError::Malformed(_)),
            "for {bad:?}: {err:?}"
        );
    }
    let (lines, err) = items_chunked(
        b"<presence/><message><body>\xff\xfe</body></message>",
        4,
        4096,
    );
    assert_eq!(stanzas(&lines), vec!["<presence/>"]);
    assert!(matches!(err, Some(FrameError::Malformed(_))), "{err:?}");
}

#[test]
fn truncated_input_is_an_error() {
    for bad in ["<message><body>x", "<message", "<message a='"] {
        let (lines, err) = error_after(&format!("<presence/>{bad}"));
        assert_eq!(lines, vec!["<presence/>"]);
        assert!(matches!(err, FrameError::Truncated), "for {bad:?}: {err:?}");
    }
}

#[test]
fn memory_is_bounded_by_the_element_not_the_stream() {
    let small = "<message><body>0123456789</body></message>\n";
    let many = small.repeat(10_000);
    let (got, err) = items_chunked(many.as_bytes(), 4096, 100);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(stanzas(&got).len(), 10_000);

    let huge = format!(
        "<presence/><message><body>{}</body></message>",
        "x".repeat(100_000)
    );
    let (lines, err) = error_after(&huge);
    assert_eq!(lines, vec!["<presence/>"]);
    assert!(matches!(err, FrameError::TooLarge { max: 4096 }), "{err:?}");

    let endless_attribute = format!("<presence/><message a='{}", "y".repeat(100_000));
    let (_, err) = error_after(&endless_attribute);
    assert!(matches!(err, FrameError::TooLarge { .. }), "{err:?}");
}

#[test]
fn a_close_without_a_header_ends_stanza_lines() {
    let got = items("<presence/>\n</stream:stream>\n");
    assert_eq!(got, vec![Item::Stanza("<presence/>".into()), Item::Close]);
}

#[test]
fn unbound_prefixes_and_bad_declarations_are_malformed() {
    let good =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
                xmlns:s='urn:s'><presence/>";
    for (bad, want) in [
        ("<foo:x/>", "unbound namespace prefix 'foo' in <foo:x>"),
        (
            "<message><foo:x/></message>",
            "unbound namespace prefix 'foo'",
        ),
        (
            "<message foo:a='1'/>",
            "unbound namespace prefix 'foo' in <message>",
        ),
        (
            "<message><a xmlns:f='urn:f'/><f:x/></message>",
            "prefix 'f'",
        ),
        (
            "<message><a xmlns:f='urn:f'></a><f:x/></message>",
            "prefix 'f'",
        ),
        ("<xmlns:x/>", "prefix 'xmlns'"),
        ("<message xmlns:f=''/>", "empty namespace name"),
        ("<message xmlns:xmlns='urn:x'/>", "xmlns prefix"),
        ("<message xmlns:xml='urn:x'/>", "XML namespace"),
        (
            "<message xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
            "XML namespace",
        ),
        ("<message a='x<y'/>", "'<' in the value of attribute a"),
        (
            "<message a='1'b='2'/>",
            "no white space between the attributes",
        ),
        ("<message><body>a]]>b</body></message>", "']]>' in text"),
        ("<<message/>", "'<message' is not a valid XML name"),
        ("<message a&b='1'/>", "'a&b' is not a valid XML name"),
        ("<1x/>", "'1x' is not a valid XML name"),
        ("<s:x:y/>", "'s:x:y' is not a valid XML name"),
    ] {
        let (lines, err) = error_after(&format!("{good}{bad}<presence/>"));
        assert_eq!(lines, vec!["<presence/>"], "for {bad}");
        assert!(
            matches!(err, FrameError::Malformed(_)),
            "for {bad}: {err:?}"
        );
        assert!(err.to_string().contains(want), "for {bad}: {err}");
    }
}

#[test]
fn prefix_scopes_follow_the_elements() {
    let got = items(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns:s='urn:s'><message><a xmlns:s='urn:inner'><s:x/></a><s:y s:z='1'/></message>\
         <message xmlns:s='urn:own'><s:x/></message><iq><q xmlns:p='urn:p'><p:x p:y='&amp;'/></q></iq>\
         <stream:error><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    assert_eq!(
        stanzas(&got),
        vec![
            "<message xmlns:s='urn:s'><a xmlns:s='urn:inner'><s:x/></a><s:y s:z='1'/></message>",
            "<message xmlns:s='urn:own'><s:x/></message>",
            "<iq><q xmlns:p='urn:p'><p:x p:y='&amp;'/></q></iq>",
            "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><x \
             xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        ]
    );
    for line in stanzas(&got) {
        super::super::Element::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    // Downstream of xmpp-auth there is no header: `stream` is still bound.
    let got =
        items("<stream:error><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    assert_eq!(
        stanzas(&got),
        vec![
            "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><x \
              xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
        ]
    );
}

/// Found by fuzzing: on a stream whose default namespace is not
/// jabber:client, a root element with its own xmlns got the stream's too
/// (a duplicate attribute, so not XML).
#[test]
fn a_roots_own_default_namespace_is_not_doubled() {
    let got = items(
        "<stream:stream xmlns='urn:example:other' xmlns:stream='http://etherx.jabber.org/streams'>\
         <a xmlns='urn:x'/><b xmlns='urn:y'><c/></b><d/><e><f xmlns='urn:z'/></e>",
    );
    assert_eq!(
        stanzas(&got),
        [
            "<a xmlns='urn:x'/>",
            "<b xmlns='urn:y'><c/></b>",
            "<d xmlns='urn:example:other'/>",
            "<e xmlns='urn:example:other'><f xmlns='urn:z'/></e>",
        ]
    );
    for line in stanzas(&got) {
        crate::xml::Element::parse(line).unwrap();
    }
}

/// Found by fuzzing: a NUL in a namespace name declared on the stream
/// header came out as an empty declaration on the stanza lines.
#[test]
fn a_header_attribute_xml_cannot_carry_is_malformed() {
    let (items, err) = items_chunked(
        b"<stream:stream xmlns='jabber:client' xmlns:x='urn:a\0b' \
          xmlns:stream='http://etherx.jabber.org/streams'><x:body/>",
        7,
        1 << 20,
    );
    assert!(stanzas(&items).is_empty(), "{items:?}");
    assert!(matches!(err, Some(FrameError::Malformed(_))), "{err:?}");
}

#[test]
fn nesting_is_bounded() {
    let nested = |depth: usize| {
        format!(
            "{}<b/>{}",
            "<a>".repeat(depth - 1),
            "</a>".repeat(depth - 1)
        )
    };
    let ok = nested(super::MAX_DEPTH);
    assert_eq!(stanzas(&items(&ok)), vec![ok.as_str()]);
    let (lines, err) = error_after(&format!(
        "<presence/>{}<presence/>",
        nested(super::MAX_DEPTH + 1)
    ));
    assert_eq!(lines, vec!["<presence/>"]);
    assert!(
        err.to_string().contains("nested more than 256 deep"),
        "{err}"
    );
}

#[test]
fn many_attributes_cost_linear_time() {
    // Found by the advisory check (RUSTSEC-2026-0194 in quick-xml < 0.41:
    // the duplicate-attribute check was quadratic; 20,000 attributes took
    // seconds). Our own prefix lookups are bounded by MAX_NAMESPACES.
    let n = 20_000;
    let attrs: String = (0..n).map(|i| format!(" a{i}=''")).collect();
    let decls: String = (0..super::MAX_NAMESPACES)
        .map(|i| format!(" xmlns:p{i}='u{i}'"))
        .collect();
    let prefixed: String = (0..n)
        .map(|i| format!(" p{}:x{i}=''", i % super::MAX_NAMESPACES))
        .collect();
    for element in [format!("<m{attrs}/>"), format!("<m{decls}{prefixed}/>")] {
        let (got, err) = items_chunked(element.as_bytes(), 4096, 1 << 20);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(stanzas(&got), vec![element.as_str()]);
    }
    let duplicate = format!("<m{attrs} a7=''/>");
    let (_, err) = items_chunked(duplicate.as_bytes(), 4096, 1 << 20);
    let err = err.expect("an error");
    assert!(err.to_string().contains("duplicate"), "{err}");
}

#[test]
fn namespace_declarations_in_scope_are_bounded_and_every_line_parses() {
    let max = super::MAX_NAMESPACES;
    let decls = |count: usize, prefix: &str| -> String {
        (0..count)
            .map(|i| format!(" xmlns:{prefix}{i}='urn:{prefix}{i}'"))
            .collect()
    };
    let uses = |count: usize, prefix: &str| -> String {
        (0..count).map(|i| format!(" {prefix}{i}:a=''")).collect()
    };
    // The most a stream header and a stanza may declare, all of it used: the
    // line carries both, and Element::parse takes it.
    let header = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'{}>",
        decls(max - 2, "h")
    );
    // Half the stanza's declarations on the root, half on a child.
    let half = max / 2;
    let stanza = format!(
        "<m{}{}><c{}{}/></m>",
        decls(half, "s"),
        uses(max - 2, "h"),
        (half..max)
            .map(|i| format!(" xmlns:s{i}='urn:s{i}'"))
            .collect::<String>(),
        uses(max, "s")
    );
    let got = items(&format!("{header}{stanza}"));
    let lines = stanzas(&got);
    assert_eq!(lines.len(), 1);
    crate::xml::Element::parse(lines[0]).expect("the framer's line parses");
    // One more, in the stanza or on the header, is refused.
    let (_, err) = error_after(&format!("<m{}/>", decls(max + 1, "s")));
    assert!(
        err.to_string().contains("namespace declarations in scope"),
        "{err}"
    );
    let (_, err) = error_after(&format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'{}>",
        decls(max, "h")
    ));
    assert!(
        err.to_string().contains("namespace declarations in scope"),
        "{err}"
    );
}

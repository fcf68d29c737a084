//! Namespaces declared on the stream header are declared on each line that
//! uses them, so every line parses on its own; a prefix nothing declares is
//! an error, not a line that is not XML.

mod common;
use common::run;
use xmpp_pipes::xml::Element;

#[test]
fn prefixes_from_the_stream_header_are_declared_on_the_line() {
    let input = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' xmlns:foo='urn:example:foo' \
                 xmlns:bar='urn:example:bar' version='1.0'>\
                 <message to='a@b'><foo:x foo:attr='1'>hi</foo:x></message>\
                 <presence/>\
                 <iq type='get' id='1' bar:flag='y'><query xmlns='urn:q'/></iq>\
                 <message><a xmlns:foo='urn:inner'><foo:y/></a><foo:z/></message>\
                 </stream:stream>";
    let out = run(&[], input);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "<message xmlns:foo='urn:example:foo' to='a@b'><foo:x foo:attr='1'>hi</foo:x></message>",
            "<presence/>",
            "<iq xmlns:bar='urn:example:bar' type='get' id='1' bar:flag='y'><query xmlns='urn:q'/></iq>",
            "<message xmlns:foo='urn:example:foo'><a xmlns:foo='urn:inner'><foo:y/></a><foo:z/></message>",
            "</stream:stream>",
        ]
    );
    let message = Element::parse(lines[0]).expect("standalone XML");
    assert!(message.is("message", "jabber:client"));
    let x = message
        .child("x", "urn:example:foo")
        .expect("foo:x in its namespace");
    assert_eq!(x.text(), "hi");
    let iq = Element::parse(lines[2]).expect("standalone XML");
    assert_eq!(iq.attr("bar:flag"), Some("y"));
    let scoped = Element::parse(lines[3]).expect("standalone XML");
    assert!(scoped.child("z", "urn:example:foo").is_some());
    let a = scoped.child("a", "jabber:client").unwrap();
    assert!(
        a.child("y", "urn:inner").is_some(),
        "the inner declaration wins"
    );
}

#[test]
fn a_server_to_server_stream_declares_its_default_and_dialback_namespaces() {
    // XEP-0220 dialback on a jabber:server stream.
    let input = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
                 xmlns:db='jabber:server:dialback' from='example.org' to='example.com' version='1.0'>\
                 <db:result from='example.org' to='example.com'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>\
                 <message from='a@example.org' to='b@example.com'><body>x</body></message>";
    let out = run(&[], input);
    assert_eq!(out.status.code(), Some(0), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "<db:result xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='example.org' \
             to='example.com'>b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3</db:result>",
            "<message xmlns='jabber:server' from='a@example.org' to='b@example.com'><body>x</body></message>",
        ]
    );
    let result = Element::parse(lines[0]).unwrap();
    assert!(result.is("result", "jabber:server:dialback"));
    assert!(Element::parse(lines[1])
        .unwrap()
        .is("message", "jabber:server"));
}

#[test]
fn an_unbound_prefix_is_an_error() {
    let header =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    for bad in [
        "<message><foo:x/></message>",
        "<foo:message/>",
        "<message foo:a='1'/>",
        "<message><a xmlns:foo='urn:foo'/><foo:x/></message>",
    ] {
        let out = run(&[], format!("{header}<presence/>{bad}<presence/>"));
        assert_eq!(out.status.code(), Some(65), "{bad}: {out}");
        assert_eq!(out.stdout, "<presence/>\n", "{bad}");
        assert!(
            out.stderr.contains("unbound namespace prefix 'foo'"),
            "{bad}: {out}"
        );
        assert_eq!(out.stderr.lines().count(), 1);
    }
}

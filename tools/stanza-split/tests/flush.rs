//! Each line is written as soon as its end tag arrives, even when the next
//! stanza's first bytes came in the same read and its rest has not come yet.
//! No sleeps: each step waits (with a timeout) for the line it needs.

mod common;
use common::{Live, HEADER};

#[test]
fn a_line_is_flushed_as_soon_as_its_end_tag_arrives() {
    let mut live = Live::start(&[]);
    live.write(HEADER.as_bytes());
    live.write(b"<presence/>");
    assert_eq!(live.line(), "<presence/>");

    // The end tag and the start of the next stanza in one read.
    live.write(b"<message><body>one</body></message><message><bo");
    assert_eq!(live.line(), "<message><body>one</body></message>");

    // The rest one byte a write; the line comes once the final '>' is in.
    for byte in b"dy>two</body></message>" {
        live.write(&[*byte]);
    }
    assert_eq!(live.line(), "<message><body>two</body></message>");

    // Several stanzas in one read, then a partial one: all complete ones come.
    live.write(b" <a/>\n<b/> <c>x</c><iq type='get'");
    assert_eq!(live.line(), "<a/>");
    assert_eq!(live.line(), "<b/>");
    assert_eq!(live.line(), "<c>x</c>");
    live.write(b" id='1'/></stream:stream>");
    assert_eq!(live.line(), "<iq type='get' id='1'/>");
    assert_eq!(live.line(), "</stream:stream>");

    let (status, rest) = live.finish();
    assert_eq!(status.code(), Some(0));
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn a_split_multibyte_character_waits_for_its_last_byte() {
    let mut live = Live::start(&[]);
    let stanza = "<message><body>grüße ✓ 😀</body></message>".as_bytes();
    // Write up to the middle of the 4-byte emoji, then the rest.
    let cut = stanza.windows(1).position(|w| w[0] == 0xF0).unwrap() + 2;
    live.write(&stanza[..cut]);
    live.write(&stanza[cut..]);
    assert_eq!(live.line(), "<message><body>grüße ✓ 😀</body></message>");
    let (status, _) = live.finish();
    assert_eq!(status.code(), Some(0));
}

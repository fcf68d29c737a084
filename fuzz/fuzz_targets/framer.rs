//! The stream framer over arbitrary bytes, and every stanza line it yields
//! through `Element::parse`: no panic, memory within the bound, and each
//! line the framer emits is a well-formed element that survives a
//! `to_line` round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_pipes::xml::{Element, Framer, Item, NS_CLIENT};

const MAX: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    // Element::parse on its own, for inputs that are not streams.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(element) = Element::parse(text) {
            if let Ok(line) = element.to_line(NS_CLIENT) {
                let again = Element::parse(&line).expect("to_line output parses");
                assert_eq!(again, element, "round trip of {line:?}");
            }
        }
    }
    // The framer, on small reads so that elements cross buffer boundaries.
    let reader = std::io::BufReader::with_capacity(7, data);
    let mut framer = Framer::new(reader, MAX);
    loop {
        match framer.next_item() {
            Ok(Some(Item::Stanza(line))) => {
                assert!(
                    !line.contains('\n'),
                    "a stanza line has no newline: {line:?}"
                );
                assert!(line.len() <= MAX * 2 + 1024, "line of {} bytes", line.len());
                Element::parse(&line).expect("the framer's lines are well-formed");
            }
            Ok(Some(Item::Header(_) | Item::Close)) => {}
            Ok(None) | Err(_) => break,
        }
    }
});

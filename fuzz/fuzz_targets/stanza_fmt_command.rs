//! stanza-fmt's command-line parser (`--commands` input lines) and its
//! `/raw` element check on arbitrary text: no panic; what `/raw` accepts
//! is one line of well-formed XML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stanza_fmt::command;
use xmpp_pipes::xml::Element;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = command::parse(text);
    if let Ok(line) = command::raw_element(text) {
        assert!(!line.contains('\n'), "{line:?}");
        Element::parse(&line).expect("a /raw element is well-formed");
    }
});

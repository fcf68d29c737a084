//! `Jid::parse` on arbitrary text: no panic, and a parsed JID prints as a
//! string that parses back to the same JID (normalisation is idempotent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_pipes::jid::Jid;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jid) = Jid::parse(text) {
        let printed = jid.to_string();
        let again = Jid::parse(&printed).expect("a printed JID parses");
        assert_eq!(again, jid, "{text:?} printed as {printed:?}");
        let _ = jid.to_bare();
        let _ = jid.with_resource("r");
    }
});

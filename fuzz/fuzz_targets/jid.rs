//! `Jid::parse` on arbitrary text: no panic, and a parsed JID prints as a
//! string that parses back to the same JID and prints the same again
//! (normalisation, PRECIS and UTS #46, is idempotent), with every part
//! within the limits of RFC 7622; its bare form and a new resource too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_pipes::jid::{Jid, MAX_PART};

fn round_trips(jid: &Jid, from: &str) {
    let printed = jid.to_string();
    let again = Jid::parse(&printed).expect("a printed JID parses");
    assert_eq!(&again, jid, "{from:?} printed as {printed:?}");
    assert_eq!(again.to_string(), printed, "{from:?}");
    for part in [jid.local(), Some(jid.domain()), jid.resource()]
        .into_iter()
        .flatten()
    {
        assert!(!part.is_empty() && part.len() <= MAX_PART, "{from:?}");
    }
    if let Some(local) = jid.local() {
        assert!(!local.contains(['@', '/']), "{from:?}");
    }
    assert!(!jid.domain().contains(['@', '/']), "{from:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jid) = Jid::parse(text) {
        round_trips(&jid, text);
        let bare = jid.to_bare();
        assert!(bare.is_bare());
        round_trips(&bare, text);
        if let Ok(other) = jid.with_resource(text) {
            assert_eq!(other.to_bare(), bare, "{text:?}");
            round_trips(&other, text);
        }
    }
});

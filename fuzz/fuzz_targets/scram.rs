//! The SCRAM client fed an arbitrary server-first and server-final (split
//! at the first NUL byte): no panic, and never a success without a valid
//! server signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_pipes::sasl::{Binding, Client, Scram, ScramHash};

fuzz_target!(|data: &[u8]| {
    let (first, last) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    // Legal but slow iteration counts would only measure PBKDF2; counts
    // past the maximum (refused before any PBKDF2) stay in.
    if let Some(i) = iterations(first) {
        if i > 4096 && i <= u64::from(xmpp_pipes::sasl::MAX_ITERATIONS) {
            return;
        }
    }
    let hash = match data.first().map(|b| b % 3) {
        Some(0) => ScramHash::Sha1,
        Some(1) => ScramHash::Sha256,
        _ => ScramHash::Sha512,
    };
    let mut client = Scram::with_nonce(
        hash,
        "user",
        "pencil",
        Binding::None,
        "fyko+d2lbbFgONRv9qkxdawL",
    )
    .unwrap();
    client.initial().unwrap();
    if client.step(first).is_err() {
        return;
    }
    // Either as a further challenge or as the data of <success/>.
    if data.len() % 2 == 0 {
        if client.step(last).is_ok() {
            let _ = client.finish(None);
        }
    } else {
        let _ = client.finish(Some(last));
    }
});

fn iterations(first: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(first).ok()?;
    let i = text.split(',').find_map(|p| p.strip_prefix("i="))?;
    let digits: String = i.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().or(Some(u64::MAX))
}

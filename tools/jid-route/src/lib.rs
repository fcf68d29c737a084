//! jid-route: stanza lines in, routed by kind, type and sender.

pub mod answer;
pub mod rules;
pub mod stanza;

/// Run jid-route with the given arguments (without argv\[0\]).
pub fn run(_args: Vec<std::ffi::OsString>) -> xmpp_pipes::exit::Result<u8> {
    Ok(0)
}

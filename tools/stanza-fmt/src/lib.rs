//! stanza-fmt
pub fn run(_args: Vec<std::ffi::OsString>) -> xmpp_pipes::exit::Result<u8> { Ok(0) }

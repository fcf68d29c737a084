//! The connection settings of the configuration (`xmpp_pipes::config`),
//! used where the command line gives none: `host` with `direct-tls`,
//! `cafile` or `pin`, and `timeout`. xmpp-connect reads the configuration
//! in the connection scope: never a password.

use crate::options::HostPort;
use crate::tls::Pin;
use std::path::PathBuf;
use std::time::Duration;
use xmpp_pipes::cli;
use xmpp_pipes::config::{Settings, Trust};
use xmpp_pipes::exit::Result;

/// The connection options the command line gave (each may be absent).
#[derive(Debug, Default)]
pub struct Flags {
    /// `--host`.
    pub host: Option<HostPort>,
    /// `--direct-tls`.
    pub direct_tls: bool,
    /// `--cafile`.
    pub cafile: Option<PathBuf>,
    /// `--pin`.
    pub pin: Option<Pin>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--plaintext`.
    pub plaintext: bool,
}

/// Fill in what the command line left open from `settings`. Settings that
/// go together are taken together: `direct-tls` only with the configured
/// `host`, and the configured trust only when neither `--cafile` nor
/// `--pin` is given (and never with `--plaintext`).
pub fn apply(flags: &mut Flags, settings: Settings) -> Result<()> {
    if let (None, Some(server)) = (&flags.host, settings.server) {
        flags.host = Some(server.host.parse(|h| HostPort::parse(h))?);
        flags.direct_tls |= server.direct_tls && !flags.plaintext;
    }
    let trust_given = flags.cafile.is_some() || flags.pin.is_some();
    match settings.trust {
        _ if trust_given || flags.plaintext => {}
        Some(Trust::CaFile(file)) => flags.cafile = Some(file.value),
        Some(Trust::Pin(pin)) => flags.pin = Some(pin.parse(|p| Pin::parse(p))?),
        None => {}
    }
    if let (None, Some(timeout)) = (flags.timeout, settings.timeout) {
        flags.timeout = Some(timeout.parse(|t| cli::parse_seconds(t))?);
    }
    Ok(())
}

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
///
/// Every setting is checked, also one that an option overrides: a bad value
/// is reported with its file and line now, not on the day the option goes.
pub fn apply(flags: &mut Flags, settings: Settings) -> Result<()> {
    let server = settings
        .server
        .map(|server| {
            Ok::<_, xmpp_pipes::exit::Error>((
                server.host.parse(|h| HostPort::parse(h))?,
                server.direct_tls,
            ))
        })
        .transpose()?;
    let pin = match &settings.trust {
        Some(Trust::Pin(pin)) => Some(pin.parse(|p| Pin::parse(p))?),
        _ => None,
    };
    let timeout = settings
        .timeout
        .map(|t| t.parse(|t| cli::parse_seconds(t)))
        .transpose()?;
    if let (None, Some((host, direct_tls))) = (&flags.host, server) {
        flags.host = Some(host);
        flags.direct_tls |= direct_tls && !flags.plaintext;
    }
    let trust_given = flags.cafile.is_some() || flags.pin.is_some();
    match settings.trust {
        _ if trust_given || flags.plaintext => {}
        Some(Trust::CaFile(file)) => flags.cafile = Some(file.value),
        Some(Trust::Pin(_)) => flags.pin = pin,
        None => {}
    }
    if flags.timeout.is_none() {
        flags.timeout = timeout;
    }
    Ok(())
}

//! The environment variables of the configuration.
//!
//! | variable | setting |
//! | --- | --- |
//! | `XMPP_JID` | `jid` (a resource is dropped: xmpp-auth exports the bound full JID) |
//! | `XMPP_PASSWORD` | `password` |
//! | `XMPP_PASSWORD_FILE` | `password-file` |
//! | `XMPP_PASSWORD_COMMAND` | `password-command` |
//! | `XMPP_HOST` | `host` |
//! | `XMPP_DIRECT_TLS` | `direct-tls` |
//! | `XMPP_CAFILE` | `cafile` |
//! | `XMPP_PIN` | `pin` |
//! | `XMPP_RESOURCE` | `resource` |
//! | `XMPP_TIMEOUT` | `timeout` |
//!
//! An empty variable counts as unset.

use super::raw::{wanted, Key, Raw};
use super::{Layer, Lookup, Origin, Scope};
use crate::exit::{Error, Result};
use crate::password::Password;

/// The variables, and the setting each one gives.
const VARIABLES: &[(&str, Key)] = &[
    ("XMPP_JID", Key::Jid),
    ("XMPP_PASSWORD", Key::Password),
    ("XMPP_PASSWORD_FILE", Key::PasswordFile),
    ("XMPP_PASSWORD_COMMAND", Key::PasswordCommand),
    ("XMPP_HOST", Key::Host),
    ("XMPP_DIRECT_TLS", Key::DirectTls),
    ("XMPP_CAFILE", Key::CaFile),
    ("XMPP_PIN", Key::Pin),
    ("XMPP_RESOURCE", Key::Resource),
    ("XMPP_TIMEOUT", Key::Timeout),
];

/// The settings of the environment that `scope` reads.
pub fn read(env: Lookup, scope: Scope) -> Result<Layer> {
    let mut raw = Raw::default();
    for &(name, key) in VARIABLES {
        if !wanted(key, scope) {
            continue;
        }
        let Some(value) = env(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| Error::config(format!("{name} is not valid UTF-8")))?;
        let origin = Origin::Env(name);
        match key {
            Key::Password => raw.set_password(Password::new(value), origin)?,
            _ => raw.set(key, value, origin)?,
        }
    }
    raw.finish()
}

//! Settings as found, before they are checked and grouped into a [`Layer`].

use super::{Layer, Origin, Scope, Secret, Server, Setting, Trust};
use crate::exit::{Error, Result};
use crate::jid::Jid;
use crate::password::Password;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A setting, by its meaning (a file key and an environment variable may name the same one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Jid,
    PasswordFile,
    PasswordCommand,
    Password,
    Host,
    /// go-sendxmpp's `port`, joined to the host.
    Port,
    DirectTls,
    CaFile,
    Pin,
    Resource,
    Timeout,
}

impl Key {
    /// The name of the key in our configuration file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::Jid => "jid",
            Key::PasswordFile => "password-file",
            Key::PasswordCommand => "password-command",
            Key::Password => "password",
            Key::Host => "host",
            Key::Port => "port",
            Key::DirectTls => "direct-tls",
            Key::CaFile => "cafile",
            Key::Pin => "pin",
            Key::Resource => "resource",
            Key::Timeout => "timeout",
        }
    }

    /// Whether the setting is part of the password source.
    pub(crate) fn is_password(self) -> bool {
        matches!(
            self,
            Key::PasswordFile | Key::PasswordCommand | Key::Password
        )
    }
}

/// The settings of one place, unchecked.
#[derive(Default)]
pub(crate) struct Raw {
    values: BTreeMap<Key, Setting<String>>,
    password: Option<Setting<Password>>,
}

impl Raw {
    /// Record a setting; the same setting twice in one place is an error.
    pub(crate) fn set(&mut self, key: Key, value: String, origin: Origin) -> Result<()> {
        self.check_new(key, &origin)?;
        self.values.insert(key, Setting { value, origin });
        Ok(())
    }

    /// Record the password itself.
    pub(crate) fn set_password(&mut self, value: Password, origin: Origin) -> Result<()> {
        self.check_new(Key::Password, &origin)?;
        self.password = Some(Setting { value, origin });
        Ok(())
    }

    fn check_new(&self, key: Key, origin: &Origin) -> Result<()> {
        let earlier = match key {
            Key::Password => self.password.as_ref().map(|s| &s.origin),
            _ => self.values.get(&key).map(|s| &s.origin),
        };
        match earlier {
            Some(earlier) => Err(Error::config(format!(
                "{origin}: {} is set twice (also at {earlier})",
                key.name()
            ))),
            None => Ok(()),
        }
    }

    /// Check the values and group them.
    pub(crate) fn finish(mut self) -> Result<Layer> {
        let jid = self.values.remove(&Key::Jid).map(account_jid).transpose()?;
        let host = self.host(jid.as_ref())?;
        let direct_tls = self
            .values
            .remove(&Key::DirectTls)
            .map(|s| s.parse(|v| parse_bool(v)).map(|b| (b, s.origin)))
            .transpose()?;
        let server = match (host, direct_tls) {
            (Some(host), direct) => Some(Server {
                host,
                direct_tls: direct.is_some_and(|(b, _)| b),
            }),
            (None, Some((true, origin))) => {
                return Err(Error::config(format!(
                    "{origin}: direct-tls needs host (without it, DNS SRV says which connections use direct TLS)"
                )))
            }
            (None, _) => None,
        };
        let trust = match (
            self.values.remove(&Key::CaFile),
            self.values.remove(&Key::Pin),
        ) {
            (Some(_), Some(pin)) => {
                return Err(pin.error(
                    "cafile and pin exclude each other: a pin accepts exactly one certificate",
                ))
            }
            (Some(file), None) => Some(Trust::CaFile(Setting {
                value: PathBuf::from(file.value),
                origin: file.origin,
            })),
            (None, Some(pin)) => Some(Trust::Pin(pin)),
            (None, None) => None,
        };
        let password = self.password_source()?;
        // Checked here, whether or not an option overrides it: a bad value
        // in the file is reported with its line, not found on the day the
        // option is dropped.
        if let Some(timeout) = self.values.get(&Key::Timeout) {
            timeout.parse(|t| crate::cli::parse_seconds(t))?;
        }
        Ok(Layer {
            jid,
            server,
            trust,
            password,
            resource: self.values.remove(&Key::Resource),
            timeout: self.values.remove(&Key::Timeout),
        })
    }

    /// `host`, with go-sendxmpp's `port` joined to it (or to the JID's domain).
    fn host(&mut self, jid: Option<&Setting<Jid>>) -> Result<Option<Setting<String>>> {
        let host = self.values.remove(&Key::Host);
        let Some(port) = self.values.remove(&Key::Port) else {
            return Ok(host);
        };
        port.parse(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or(format!("port {p:?} is not a port number"))
        })?;
        let (name, origin) = match (host, jid) {
            (Some(host), _) => (host.value, host.origin),
            (None, Some(jid)) => (jid.value.domain().to_owned(), port.origin.clone()),
            (None, None) => return Err(port.error("port needs a server: set jserver (or host)")),
        };
        let name = match name.matches(':').count() {
            0 => name,
            1 if !name.ends_with(']') => {
                return Err(port.error(format!("port is given twice: {name} has one already")))
            }
            _ if name.starts_with('[') => name,
            _ => format!("[{name}]"),
        };
        Ok(Some(Setting {
            value: format!("{name}:{}", port.value),
            origin,
        }))
    }

    /// At most one of `password-file`, `password-command`, `password`.
    fn password_source(&mut self) -> Result<Option<Setting<Secret>>> {
        let mut found: Vec<Setting<Secret>> = Vec::new();
        if let Some(s) = self.values.remove(&Key::PasswordFile) {
            found.push(Setting {
                value: Secret::File(PathBuf::from(s.value)),
                origin: s.origin,
            });
        }
        if let Some(s) = self.values.remove(&Key::PasswordCommand) {
            found.push(Setting {
                value: Secret::Command(s.value),
                origin: s.origin,
            });
        }
        if let Some(s) = self.password.take() {
            found.push(Setting {
                value: Secret::Text(s.value),
                origin: s.origin,
            });
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            _ => Err(Error::config(format!(
                "{} and {}: give one password source, not several",
                found[0].origin, found[1].origin
            ))),
        }
    }
}

/// The configured account: a bare JID with a localpart. `XMPP_JID` may be a
/// full JID (xmpp-auth exports the bound one to its program): its resource is
/// dropped. A file's `jid` must be bare (the resource is set with `resource`).
fn account_jid(setting: Setting<String>) -> Result<Setting<Jid>> {
    let jid = setting.parse(|v| Jid::parse(v))?;
    if jid.local().is_none() {
        return Err(setting.error(format!(
            "{jid} has no localpart: give the account as user@domain"
        )));
    }
    if jid.resource().is_some() && matches!(setting.origin, Origin::File { .. }) {
        return Err(setting.error(format!(
            "{jid}: give the account as a bare JID, and the resource with `resource`"
        )));
    }
    Ok(Setting {
        value: jid.to_bare(),
        origin: setting.origin,
    })
}

/// `yes`/`no` and their usual spellings.
fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("{text:?} is not yes or no")),
    }
}

/// Only what `scope` may read: in [`Scope::Connection`], no password setting.
pub(crate) fn wanted(key: Key, scope: Scope) -> bool {
    scope == Scope::Login || !key.is_password()
}

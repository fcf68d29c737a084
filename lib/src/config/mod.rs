//! The account configuration: settings that would otherwise be repeated as
//! flags on every command line.
//!
//! Three places, highest first: command-line flags (applied by each tool),
//! environment variables ([`env`]), and one configuration file
//! ([`locate`] says which, [`file`] reads it). Settings that belong together
//! are taken together from the one place that gives any of them: the server
//! (`host`, `direct-tls`), the trust anchor (`cafile` or `pin`) and the
//! password source (`password-file`, `password-command` or `password`).
//!
//! The environment applies to whatever account a command line names. The
//! file describes one account: its settings apply to that account's JID (or
//! domain) only, or to any account when it names none, so that a password
//! from the file is never sent to another server. The operand `@` names the
//! configured account: `XMPP_JID`, else the file's `jid`.
//!
//! xmpp-connect reads the configuration in [`Scope::Connection`]: password
//! settings are recognised but never stored.

pub mod env;
pub mod file;
pub mod locate;
mod raw;

use crate::exit::{Error, Result};
use crate::jid::Jid;
use crate::password::{self, Password};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// Looks up an environment variable (the process environment, or a table in tests).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process environment, as a [`Lookup`].
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Which settings a tool reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The connection settings only (xmpp-connect): password settings are
    /// recognised in a file, so that the file is still checked, but never kept.
    Connection,
    /// Everything (xmpp-auth).
    Login,
}

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable.
    Env(&'static str),
    /// A line of a configuration file.
    File {
        /// The file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(name) => f.write_str(name),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it was set.
    pub origin: Origin,
}

impl<T> Setting<T> {
    /// A configuration error (78) about this setting: `ORIGIN: message`.
    pub fn error(&self, message: impl fmt::Display) -> Error {
        Error::config(format!("{}: {message}", self.origin))
    }

    /// Check and convert the value with `parse`; its error becomes a
    /// configuration error naming the origin.
    pub fn parse<U, E: fmt::Display>(&self, parse: impl FnOnce(&T) -> Result<U, E>) -> Result<U> {
        parse(&self.value).map_err(|e| self.error(e))
    }
}

/// Where the server is, when DNS should not be asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// `host`: `HOST[:PORT]`, checked by xmpp-connect.
    pub host: Setting<String>,
    /// `direct-tls`: TLS from the first byte.
    pub direct_tls: bool,
}

/// How the server's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// `cafile`: a PEM file of CA certificates.
    CaFile(Setting<PathBuf>),
    /// `pin`: `sha256:BASE64` of the server's public key, checked by xmpp-connect.
    Pin(Setting<String>),
}

/// Where the password comes from.
#[derive(Debug)]
pub enum Secret {
    /// `password-file`.
    File(PathBuf),
    /// `password-command`.
    Command(String),
    /// `password` (a file of mode 0600) or `XMPP_PASSWORD`.
    Text(Password),
}

impl Secret {
    /// As a password source for [`password::Source::read`].
    pub fn into_source(self) -> password::Source {
        let mut source = password::Source::default();
        match self {
            Secret::File(path) => source.file = Some(path),
            Secret::Command(command) => source.command = Some(command),
            Secret::Text(text) => source.text = Some(text),
        }
        source
    }
}

/// The settings of one place (the environment, or one file).
#[derive(Debug, Default)]
pub struct Layer {
    /// `jid` / `XMPP_JID`: the account, bare.
    pub jid: Option<Setting<Jid>>,
    /// `host` and `direct-tls`.
    pub server: Option<Server>,
    /// `cafile` or `pin`.
    pub trust: Option<Trust>,
    /// `password-file`, `password-command` or `password` (never in [`Scope::Connection`]).
    pub password: Option<Setting<Secret>>,
    /// `resource`: the resource to ask for.
    pub resource: Option<Setting<String>>,
    /// `timeout`: seconds, checked by each tool.
    pub timeout: Option<Setting<String>>,
}

/// The settings that apply to one account, merged from the environment and the file.
#[derive(Debug, Default)]
pub struct Settings {
    /// Where the server is.
    pub server: Option<Server>,
    /// How its certificate is checked.
    pub trust: Option<Trust>,
    /// Where the password comes from.
    pub password: Option<Setting<Secret>>,
    /// The resource to ask for.
    pub resource: Option<Setting<String>>,
    /// The timeout, in seconds.
    pub timeout: Option<Setting<String>>,
}

/// The account an operand names, to decide whether the file's settings apply.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// xmpp-auth's JID.
    Jid(&'a Jid),
    /// xmpp-connect's DOMAIN.
    Domain(&'a str),
}

/// The configuration as read from the environment and at most one file.
#[derive(Debug, Default)]
pub struct Config {
    env: Layer,
    file: Option<(PathBuf, Layer)>,
}

/// The operand that names the configured account.
pub const CONFIGURED: &str = "@";

impl Config {
    /// Read the environment and the configuration file: `explicit` (from
    /// `--config`; it must exist), else the first of [`locate::candidates`]
    /// that exists.
    pub fn load(explicit: Option<&Path>, scope: Scope, env: Lookup) -> Result<Config> {
        let env_layer = self::env::read(env, scope)?;
        let path = match explicit {
            Some(path) => Some(path.to_owned()),
            None => locate::find(env)?,
        };
        let file = match path {
            Some(path) => {
                let home = env("HOME").map(PathBuf::from);
                let layer = file::read(&path, scope, home.as_deref())?;
                Some((path, layer))
            }
            None => None,
        };
        Ok(Config::new(env_layer, file))
    }

    /// A configuration made of these layers.
    pub fn new(env: Layer, file: Option<(PathBuf, Layer)>) -> Config {
        Config { env, file }
    }

    /// The file that was read, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// The configured account (what `@` means): `XMPP_JID`, else the file's `jid`.
    pub fn account(&self) -> Result<Jid> {
        let file_jid = self.file.as_ref().and_then(|(_, layer)| layer.jid.as_ref());
        match self.env.jid.as_ref().or(file_jid) {
            Some(jid) => Ok(jid.value.clone()),
            None => Err(Error::config(format!(
                "`@` names the configured account, but none is configured: set XMPP_JID or `jid = user@domain` in {}",
                self.file().map_or_else(
                    || "$XDG_CONFIG_HOME/xmpp-pipes/config".to_owned(),
                    |p| p.display().to_string()
                )
            ))),
        }
    }

    /// The settings for `target`: the environment's, over the file's when
    /// the file names no account or names this one.
    pub fn settings_for(self, target: Target) -> Settings {
        let file = self
            .file
            .map(|(_, layer)| layer)
            .filter(|layer| layer.applies_to(target))
            .unwrap_or_default();
        let env = self.env;
        Settings {
            server: env.server.or(file.server),
            trust: env.trust.or(file.trust),
            password: env.password.or(file.password),
            resource: env.resource.or(file.resource),
            timeout: env.timeout.or(file.timeout),
        }
    }
}

impl Layer {
    /// Whether this layer's settings are for `target`'s account.
    fn applies_to(&self, target: Target) -> bool {
        let Some(jid) = &self.jid else {
            return true;
        };
        match target {
            Target::Jid(other) => jid.value == other.to_bare(),
            Target::Domain(domain) => jid.value.domain().eq_ignore_ascii_case(domain),
        }
    }
}

#[cfg(test)]
mod tests;

//! The configuration file.
//!
//! One setting a line, `key = value` or `key: value`; blank lines and lines
//! whose first non-blank character is `#` are ignored (a `#` elsewhere is
//! part of the value, as in a password). Spaces around the key and the value
//! are dropped, and so are double quotes around the whole value. The keys:
//!
//! | key | meaning |
//! | --- | --- |
//! | `jid` | the account, a bare JID (`@` on a command line) |
//! | `password-file` | read the password from this file (mode 0600) |
//! | `password-command` | run this with `/bin/sh -c`; its output is the password |
//! | `password` | the password itself |
//! | `host` | `HOST[:PORT]`: connect here instead of asking DNS |
//! | `direct-tls` | `yes`: TLS from the first byte (needs `host`) |
//! | `cafile` | trust only the CA certificates of this PEM file |
//! | `pin` | `sha256:BASE64`: accept exactly the certificate with this key |
//! | `resource` | the resource to ask for |
//! | `timeout` | seconds, for both tools' `--timeout` |
//!
//! A path (`password-file`, `cafile`) may start with `~/`, and is otherwise
//! relative to the file's directory. Each setting may appear once; an unknown
//! key is an error that names the file and line.
//!
//! go-sendxmpp's keys are read too, so that its configuration works as it
//! is: `username` (`jid`), `password`, `eval_password` (`password-command`),
//! `jserver` (`host`), `port` (joined to `jserver`, or to the JID's domain),
//! `resource`; `alias` and `allow_plain` are accepted and ignored. A file
//! with one of go-sendxmpp's own keys is read as go-sendxmpp reads it: its
//! values keep their quotes (`password: "s3cret"` is the password with the
//! quotes). So is the one-line form of the original sendxmpp's
//! `~/.sendxmpprc`, `user@host password`.
//!
//! The file must not be readable or writable by group or others, whatever it
//! holds (as ssh refuses such keys): [`read`] refuses it with the `chmod`
//! that fixes it.

use super::raw::{wanted, Key, Raw};
use super::{Layer, Origin, Scope};
use crate::exit::{Error, Result};
use crate::password::{check_private, Password};
use std::path::{Path, PathBuf};

/// go-sendxmpp's own keys: a file with one of them is go-sendxmpp's.
const GO_SENDXMPP_KEYS: &[&str] = &[
    "username",
    "eval_password",
    "jserver",
    "alias",
    "allow_plain",
];

/// The keys of the file, ours and go-sendxmpp's; `None`: accepted and ignored.
const KEYS: &[(&str, Option<Key>)] = &[
    ("jid", Some(Key::Jid)),
    ("password-file", Some(Key::PasswordFile)),
    ("password-command", Some(Key::PasswordCommand)),
    ("password", Some(Key::Password)),
    ("host", Some(Key::Host)),
    ("direct-tls", Some(Key::DirectTls)),
    ("cafile", Some(Key::CaFile)),
    ("pin", Some(Key::Pin)),
    ("resource", Some(Key::Resource)),
    ("timeout", Some(Key::Timeout)),
    // go-sendxmpp
    ("username", Some(Key::Jid)),
    ("eval_password", Some(Key::PasswordCommand)),
    ("jserver", Some(Key::Host)),
    ("port", Some(Key::Port)),
    ("alias", None),
    ("allow_plain", None),
];

/// Read the file at `path`, after checking that only its owner may read it.
/// `home` expands `~/` in paths.
pub fn read(path: &Path, scope: Scope, home: Option<&Path>) -> Result<Layer> {
    check_private(path, "config file")?;
    let bytes = std::fs::read(path)
        .map_err(|e| Error::config(format!("cannot read config file {}: {e}", path.display())))?;
    // Wiped when dropped: the file may hold a password.
    let text = Password::new(String::from_utf8(bytes).map_err(|_| {
        Error::config(format!("config file {} is not valid UTF-8", path.display()))
    })?);
    parse(text.expose(), path, scope, home)
}

/// Parse the text of the file at `path` (see the module documentation).
pub fn parse(text: &str, path: &Path, scope: Scope, home: Option<&Path>) -> Result<Layer> {
    let mut raw = Raw::default();
    let settings = || {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
    };
    // go-sendxmpp takes a value as it stands, quotes and all.
    let keep_quotes = settings()
        .filter_map(split)
        .any(|(name, _)| GO_SENDXMPP_KEYS.contains(&name));
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = Origin::File {
            path: path.to_owned(),
            line: number + 1,
        };
        let Some((name, value)) = split(line) else {
            legacy_line(line, &origin, scope, &mut raw)?;
            continue;
        };
        let value = if keep_quotes { value } else { unquote(value) };
        let key = KEYS
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| {
                Error::config(format!("{origin}: unknown key `{name}` ({})", known_keys()))
            })?
            .1;
        let Some(key) = key.filter(|&k| wanted(k, scope)) else {
            continue;
        };
        if value.is_empty() {
            return Err(Error::config(format!("{origin}: `{name}` has no value")));
        }
        match key {
            Key::Password => raw.set_password(Password::new(value.to_owned()), origin)?,
            Key::PasswordFile | Key::CaFile => {
                let full = resolve_path(value, path, home, &origin)?;
                raw.set(key, full.to_string_lossy().into_owned(), origin)?
            }
            _ => raw.set(key, value.to_owned(), origin)?,
        }
    }
    raw.finish()
}

/// `key = value` or `key: value` → (key, value), blanks around both dropped.
fn split(line: &str) -> Option<(&str, &str)> {
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let value = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':'))?;
    (!name.is_empty()).then_some((name, value.trim()))
}

/// A value without the double quotes around it, if it has them.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// The original sendxmpp's `user@host password`.
fn legacy_line(line: &str, origin: &Origin, scope: Scope, raw: &mut Raw) -> Result<()> {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        [jid, password] if jid.contains('@') => {
            raw.set(Key::Jid, jid.to_owned(), origin.clone())?;
            if wanted(Key::Password, scope) {
                raw.set_password(Password::new(password.to_owned()), origin.clone())?;
            }
            Ok(())
        }
        _ => Err(Error::config(format!(
            "{origin}: not a setting (write `key = value`; {})",
            known_keys()
        ))),
    }
}

fn known_keys() -> String {
    let ours: Vec<&str> = KEYS[..10].iter().map(|(name, _)| *name).collect();
    format!("known keys: {}", ours.join(", "))
}

/// `~/x` under `home`; a relative path under the file's directory.
fn resolve_path(value: &str, file: &Path, home: Option<&Path>, origin: &Origin) -> Result<PathBuf> {
    if let Some(rest) = value.strip_prefix("~/") {
        let home = home.ok_or_else(|| {
            Error::config(format!(
                "{origin}: {value} starts with ~/, but HOME is not set"
            ))
        })?;
        return Ok(home.join(rest));
    }
    let path = Path::new(value);
    Ok(match file.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_owned(),
    })
}

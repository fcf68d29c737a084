//! Which configuration file is read: the first that exists of
//!
//! 1. `$XDG_CONFIG_HOME/xmpp-pipes/config` (default `~/.config/xmpp-pipes/config`),
//! 2. go-sendxmpp's `$XDG_CONFIG_HOME/go-sendxmpp/config`,
//! 3. go-sendxmpp's older `$XDG_CONFIG_HOME/go-sendxmpp/sendxmpprc`,
//! 4. the original sendxmpp's `~/.sendxmpprc`.
//!
//! Only one file is read; `--config FILE` names another instead.

use super::Lookup;
use crate::exit::{Error, Result};
use std::path::{Path, PathBuf};

/// The candidate files, in order. A relative `XDG_CONFIG_HOME` is ignored,
/// as the XDG Base Directory specification says.
pub fn candidates(env: Lookup) -> Vec<PathBuf> {
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let config_home = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut found = Vec::new();
    if let Some(dir) = config_home {
        found.push(dir.join("xmpp-pipes/config"));
        found.push(dir.join("go-sendxmpp/config"));
        found.push(dir.join("go-sendxmpp/sendxmpprc"));
    }
    if let Some(home) = home {
        found.push(home.join(".sendxmpprc"));
    }
    found
}

/// The first candidate that exists, if any.
pub fn find(env: Lookup) -> Result<Option<PathBuf>> {
    for path in candidates(env) {
        if exists(&path)? {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

fn exists(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(Error::config(format!(
            "cannot read config file {}: {e}",
            path.display()
        ))),
    }
}

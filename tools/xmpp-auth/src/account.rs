//! The account to log in as: the JID operand (or `@`, the configured
//! account), and the password source, resource and timeout from the command
//! line, else from the configuration (see `xmpp_pipes::config`).

use std::ffi::OsString;
use std::time::Duration;
use xmpp_pipes::cli;
use xmpp_pipes::config::{Config, Lookup, Scope, Target, CONFIGURED};
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::password;

/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the command line gave, before the configuration fills the gaps.
#[derive(Debug, Default)]
pub struct Given {
    /// The JID operand (`@` for the configured account).
    pub jid: OsString,
    /// `--password-file`, `--password-fd`, `--password-command`.
    pub password: password::Source,
    /// `--resource`.
    pub resource: Option<String>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--config`.
    pub config: Option<std::path::PathBuf>,
}

/// The account, complete.
#[derive(Debug)]
pub struct Account {
    /// The bare JID.
    pub jid: Jid,
    /// Where the password comes from.
    pub password: password::Source,
    /// The resource to ask for.
    pub resource: Option<String>,
    /// The timeout.
    pub timeout: Duration,
}

/// Complete what the command line gave with the configuration read through `env`.
pub fn resolve(given: Given, env: Lookup) -> Result<Account> {
    let config = Config::load(given.config.as_deref(), Scope::Login, env)?;
    let jid = if given.jid == CONFIGURED {
        config.account()?
    } else {
        parse_jid(&given.jid)?
    };
    let settings = config.settings_for(Target::Jid(&jid));
    let password = match (given.password.is_given(), settings.password) {
        (false, Some(secret)) => secret.value.into_source(),
        _ => given.password,
    };
    let resource = match (
        given.resource.or(jid.resource().map(str::to_owned)),
        settings.resource,
    ) {
        (Some(flag), _) => {
            check_resource(&jid, &flag).map_err(|e| Error::usage(format!("--resource: {e}")))?;
            Some(flag)
        }
        (None, Some(setting)) => {
            Some(setting.parse(|r| check_resource(&jid, r).map(|()| r.clone()))?)
        }
        (None, None) => None,
    };
    let timeout = match (given.timeout, settings.timeout) {
        (Some(flag), _) => flag,
        (None, Some(setting)) => setting.parse(|t| cli::parse_seconds(t))?,
        (None, None) => DEFAULT_TIMEOUT,
    };
    Ok(Account {
        jid: jid.to_bare(),
        password,
        resource,
        timeout,
    })
}

fn parse_jid(operand: &OsString) -> Result<Jid> {
    let jid = operand
        .to_str()
        .ok_or_else(|| Error::usage("the JID is not valid UTF-8"))
        .and_then(|text| Jid::parse(text).map_err(|e| Error::usage(e.to_string())))?;
    if jid.local().is_none() {
        return Err(Error::usage(format!(
            "{jid} has no localpart: give the account as user@domain"
        )));
    }
    Ok(jid)
}

fn check_resource(jid: &Jid, resource: &str) -> Result<(), String> {
    jid.with_resource(resource)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<OsString> {
        let value = match name {
            "XMPP_JID" => "bot@example.org/parent",
            "XMPP_PASSWORD_COMMAND" => "echo pw",
            "XMPP_RESOURCE" => "cron",
            "XMPP_TIMEOUT" => "5",
            _ => return None,
        };
        Some(OsString::from(value))
    }

    #[test]
    fn at_names_the_configured_account_and_flags_win() {
        let account = resolve(
            Given {
                jid: "@".into(),
                ..Given::default()
            },
            &env,
        )
        .unwrap();
        assert_eq!(account.jid.to_string(), "bot@example.org");
        assert_eq!(account.password.command.as_deref(), Some("echo pw"));
        assert_eq!(account.resource.as_deref(), Some("cron"));
        assert_eq!(account.timeout, Duration::from_secs(5));

        let account = resolve(
            Given {
                jid: "other@example.org/mine".into(),
                password: password::Source {
                    file: Some("/pw".into()),
                    ..password::Source::default()
                },
                timeout: Some(Duration::from_secs(1)),
                ..Given::default()
            },
            &env,
        )
        .unwrap();
        assert_eq!(account.jid.to_string(), "other@example.org");
        assert!(account.password.command.is_none(), "the flag's source only");
        assert_eq!(account.resource.as_deref(), Some("mine"));
        assert_eq!(account.timeout, Duration::from_secs(1));
    }

    #[test]
    fn bad_settings_are_configuration_errors() {
        let bad = |name: &str| (name == "XMPP_TIMEOUT").then(|| OsString::from("soon"));
        let err = resolve(
            Given {
                jid: "a@b".into(),
                ..Given::default()
            },
            &bad,
        )
        .unwrap_err();
        assert_eq!(err.status(), xmpp_pipes::exit::Status::Config);
        assert!(err.message().starts_with("XMPP_TIMEOUT: "), "{err}");
    }
}

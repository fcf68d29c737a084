//! The command line: options, FILE and the recipients, the trust of the
//! HTTPS PUT (xmpp-connect's: `--cafile`, `--pin`, else the configured
//! `cafile`, else the system store), and the account's domain.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;
use xmpp_connect::options::{system_store, TrustChoice};
use xmpp_connect::tls::Pin;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::config::{Config, Lookup, Scope, Target, Trust};
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::jid::Jid;

/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: xmpp-upload [OPTIONS] FILE [JID...]

Send FILE to each JID over XMPP: find the server's HTTP upload service
(XEP-0363, by service discovery), ask it for a slot for FILE's name, size
and type (refused before anything is uploaded when FILE is larger than the
service announces), PUT the file over HTTPS, then send each JID a message
whose body is the link, with the link as out-of-band data (XEP-0066), so that
clients show the file inline. It runs after xmpp-auth, on the logged-in
stream on fds 6 (read) and 7 (write):

  xmpp-connect @ xmpp-auth @ xmpp-upload report.pdf boss@example.org

The messages go out only once the file is up; then xmpp-upload ends its
input to xmpp-auth, which exits 0 only once the server acknowledged them
(and 67/68 when one bounced). The file is streamed from the disk (memory
stays bounded whatever its size); a progress line is shown on a terminal for
files of 1 MiB or more, nothing otherwise.

The PUT trusts as xmpp-connect does: the system trust store, --cafile, or
--pin; there is no switch that skips certificate checks. Only the headers
XEP-0363 allows (Authorization, Cookie, Expires) are taken from the slot.
Of the server's answers, only those to our own requests, from where they
went, are taken; everything else on fd 6 is read and dropped.

Options:
      --service JID        the upload service to use (default: found by service discovery)
      --desc TEXT          a description sent with the link (XEP-0066 <desc/>)
      --name NAME          the file name the recipients see (default: FILE's own)
      --content-type MIME  the file's type (default: by its extension, else
                           application/octet-stream)
      --type TYPE          the messages' type: chat (default), normal or headline
      --room ROOM@SERVICE  also send the link to this room (type groupchat), which the
                           session joined (xmpp-auth --join); repeatable
      --cafile FILE        trust only the CA certificates in this PEM file for the PUT
      --pin sha256:BASE64  accept exactly the HTTPS certificate with this public key
      --timeout SECONDS    bound each wait for the server's answer, the connection of
                           the PUT and each of its reads and writes (default 30)
      --plaintext          accept an http:// slot URL (unencrypted; only for tests)
      --config FILE        read cafile from FILE instead of ~/.config/xmpp-pipes/config
  -h, --help               print this help
  -V, --version            print the version

Environment:
  XMPP_JID             the account (set by xmpp-auth): its domain is asked for the service
  XMPP_CAFILE          as --cafile, when neither --cafile nor --pin is given
  XDG_CONFIG_HOME, HOME  where the config file is (its cafile, for the account's domain)
  SSL_CERT_FILE, SSL_CERT_DIR  the system trust store, as for xmpp-connect

Exit status:
  0    uploaded, and the messages handed to xmpp-auth
  64   usage error (no JID or --room, a JID that is not valid, fds 6/7 not open)
  65   FILE is larger than the upload service takes (the limit is named), or
       the HTTP server refused it as too large (413)
  66   FILE does not exist, is not readable, or is not a regular file
  69   no upload service on the server; the service refused the slot; the
       upload host cannot be found
  74   reading fd 6 or writing fd 7 failed
  75   temporary failure: no answer within --timeout, the stream ended, the
       connection of the PUT failed or was lost (no message was sent), the
       HTTP server answered 5xx, 408 or 429
  76   protocol error: a slot URL that is not https (without --plaintext) or not
       a URL, an HTTP answer that is neither success nor a known error
  77   refused: the HTTPS certificate is not trusted or does not match --pin,
       HTTP 401 or 403, the service forbade the upload
  78   configuration error: unusable --cafile, a bad config file
";

const SPEC: OptionSpec = OptionSpec {
    with_value: &[
        "--service",
        "--desc",
        "--name",
        "--content-type",
        "--type",
        "--room",
        "--cafile",
        "--pin",
        "--timeout",
        "--config",
    ],
    switches: &["--plaintext", "-h", "--help", "-V", "--version"],
};

/// What to do.
#[derive(Debug)]
pub enum Command {
    /// Print this on stdout and exit 0 (`--help`, `--version`).
    Print(String),
    /// Upload and send.
    Upload(Box<Options>),
}

/// A parsed command line.
#[derive(Debug)]
pub struct Options {
    /// FILE.
    pub file: PathBuf,
    /// The recipients (checked to be JIDs), with the type of their message.
    pub to: Vec<(Jid, &'static str)>,
    /// `--service`.
    pub service: Option<Jid>,
    /// `--desc`.
    pub desc: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--content-type`.
    pub content_type: Option<String>,
    /// How the PUT's certificate is checked.
    pub trust: TrustChoice,
    /// `--timeout`.
    pub timeout: Duration,
    /// `--plaintext`.
    pub plaintext: bool,
    /// The account (XMPP_JID), whose domain is asked for the service.
    pub account: Jid,
}

/// Parse the command line (without argv\[0\]), with `env` for the
/// environment and the config file.
pub fn parse(args: Vec<OsString>, env: Lookup) -> Result<Command> {
    let split = cli::split_options(args, &SPEC)?;
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Print(HELP.to_owned()));
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Print(format!(
            "xmpp-upload {}\n",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let text = |args: &mut pico_args::Arguments, name: &'static str| {
        args.opt_value_from_str::<_, String>(name)
            .map_err(cli::usage_error)
    };
    let service = text(&mut args, "--service")?
        .map(|s| Jid::parse(&s).map_err(|e| Error::usage(format!("--service {s}: {e}"))))
        .transpose()?;
    let desc = text(&mut args, "--desc")?;
    let name = text(&mut args, "--name")?;
    let content_type = text(&mut args, "--content-type")?;
    let kind = match text(&mut args, "--type")?.as_deref() {
        None | Some("chat") => "chat",
        Some("normal") => "normal",
        Some("headline") => "headline",
        Some(other) => {
            return Err(Error::usage(format!(
                "--type {other}: use chat, normal or headline (--room for a group chat)"
            )))
        }
    };
    let mut rooms = Vec::new();
    while let Some(room) = text(&mut args, "--room")? {
        let jid = Jid::parse(&room).map_err(|e| Error::usage(format!("--room {room}: {e}")))?;
        if jid.local().is_none() || !jid.is_bare() {
            return Err(Error::usage(format!(
                "--room {room}: give the room as ROOM@SERVICE"
            )));
        }
        rooms.push((jid, "groupchat"));
    }
    let cafile: Option<PathBuf> = args
        .opt_value_from_os_str("--cafile", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(cli::usage_error)?;
    let pin = args
        .opt_value_from_fn("--pin", Pin::parse)
        .map_err(|e| Error::usage(format!("--pin: {e}")))?;
    let timeout = args
        .opt_value_from_fn("--timeout", cli::parse_seconds)
        .map_err(|e| Error::usage(format!("--timeout: {e}")))?
        .unwrap_or(DEFAULT_TIMEOUT);
    let config_file: Option<PathBuf> = args
        .opt_value_from_os_str("--config", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(cli::usage_error)?;
    let plaintext = args.contains("--plaintext");
    cli::finish(args)?;
    if let Some(content_type) = &content_type {
        check_content_type(content_type)?;
    }

    let mut operands = split.operands.into_iter();
    let file = operands.next().map(PathBuf::from).ok_or_else(|| {
        Error::usage("missing FILE (usage: xmpp-upload [OPTIONS] FILE JID...; see --help)")
    })?;
    let mut to = operands
        .map(|jid| {
            let text = jid.to_string_lossy();
            let jid = Jid::parse(&text).map_err(|e| Error::usage(format!("JID {text}: {e}")))?;
            Ok((jid, kind))
        })
        .collect::<Result<Vec<_>>>()?;
    to.extend(rooms);
    if to.is_empty() {
        return Err(Error::usage(
            "missing JID (or --room): whom to send the file to (usage: xmpp-upload [OPTIONS] FILE JID...)",
        ));
    }
    let account = env("XMPP_JID")
        .filter(|jid| !jid.is_empty())
        .ok_or_else(|| {
            Error::usage(
                "XMPP_JID is not set: xmpp-upload runs after xmpp-auth, e.g. \
                 `xmpp-connect @ xmpp-auth @ xmpp-upload FILE JID`",
            )
        })?;
    let account = Jid::parse(&account.to_string_lossy())
        .map_err(|e| Error::usage(format!("XMPP_JID: {e}")))?;
    let trust = match (cafile, pin) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "--cafile and --pin exclude each other: a pin accepts exactly one certificate",
            ))
        }
        (Some(file), None) => TrustChoice::CaFile(file),
        (None, Some(pin)) => TrustChoice::Pin(pin),
        (None, None) => configured_trust(config_file.as_deref(), &account, env)?,
    };
    Ok(Command::Upload(Box::new(Options {
        file,
        to,
        service,
        desc,
        name,
        content_type,
        trust,
        timeout,
        plaintext,
        account,
    })))
}

/// The configured `cafile` for the account's domain (XMPP_CAFILE, else the
/// config file's), else the system trust store. A configured pin is the XMPP
/// server's key, not necessarily the HTTP server's: it is not used here.
fn configured_trust(
    config_file: Option<&std::path::Path>,
    account: &Jid,
    env: Lookup,
) -> Result<TrustChoice> {
    let config = Config::load(config_file, Scope::Connection, env)?;
    let settings = config.settings_for(Target::Domain(account.domain()));
    Ok(match settings.trust {
        Some(Trust::CaFile(file)) => TrustChoice::CaFile(file.value),
        _ => TrustChoice::System(system_store(env)),
    })
}

/// A MIME type as `type/subtype`, no spaces or control characters.
fn check_content_type(text: &str) -> Result<()> {
    let ok = text.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty()
            && !s.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
    });
    match ok {
        true => Ok(()),
        false => Err(Error::usage(format!(
            "--content-type {text:?} is not a MIME type (type/subtype, e.g. image/png)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(list: &[&str], jid: Option<&str>) -> Result<Command> {
        let jid = jid.map(OsString::from);
        let env = move |name: &str| match name {
            "XMPP_JID" => jid.clone(),
            "HOME" => Some("/nonexistent".into()),
            _ => None,
        };
        parse(list.iter().map(OsString::from).collect(), &env)
    }

    fn upload(list: &[&str]) -> Result<Options> {
        match parse_with(list, Some("bot@example.org/x"))? {
            Command::Upload(options) => Ok(*options),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_and_recipients() {
        let o = upload(&[
            "--desc",
            "the graph",
            "graph.png",
            "a@example.org",
            "b@example.org",
        ])
        .unwrap();
        assert_eq!(o.file, PathBuf::from("graph.png"));
        assert_eq!(o.to.len(), 2);
        assert_eq!(o.to[1].1, "chat");
        assert_eq!(o.desc.as_deref(), Some("the graph"));
        assert!(matches!(o.trust, TrustChoice::System(_)));
        assert_eq!(o.account.domain(), "example.org");
        let o = upload(&["--room", "ops@muc.example.org", "f"]).unwrap();
        assert_eq!(
            o.to,
            [(Jid::parse("ops@muc.example.org").unwrap(), "groupchat")]
        );
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        for (args, says) in [
            (&["f"][..], "missing JID"),
            (&[][..], "missing FILE"),
            (&["f", "not a jid@"][..], "JID not a jid@"),
            (&["--type", "shout", "f", "a@b"][..], "--type shout"),
            (&["--room", "ops@muc/nick", "f"][..], "ROOM@SERVICE"),
            (
                &["--cafile", "x", "--pin", "sha256:AAAA", "f", "a@b"][..],
                "--pin",
            ),
            (
                &["--content-type", "png", "f", "a@b"][..],
                "not a MIME type",
            ),
            (&["--timeout", "0", "f", "a@b"][..], "--timeout"),
        ] {
            let err = upload(args).unwrap_err();
            assert_eq!(
                err.status(),
                xmpp_pipes::exit::Status::Usage,
                "{args:?}: {err}"
            );
            assert!(err.message().contains(says), "{args:?}: {err}");
        }
        let err = parse_with(&["f", "a@b"], None).unwrap_err();
        assert!(err.message().contains("XMPP_JID is not set"), "{err}");
    }
}

//! The command line of stanza-fmt.

use std::ffi::OsString;
use std::path::PathBuf;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::tree::TimeFormat;
use xmpp_pipes::xml::escape_text;

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: stanza-fmt [OPTIONS]

Read text on stdin and write XMPP stanza lines on stdout (one element a
line, jabber:client implied), for xmpp-auth in bridge mode or the named
pipe DIR/in. It never touches the network.

Without --commands every input line becomes one message to --to; with
--whole all of stdin becomes one message. With --commands each line is a
command; other lines go to --to as messages, or are an error without --to.
With --dir, every contact directory DIR/<jid> gets a named pipe
DIR/<jid>/in whose lines become chat messages to that contact (and are
appended to DIR/<jid>/out); a directory named with another spelling of a
JID (DIR/Alice@X) is moved or merged to the normalised name and becomes a
link to it; a line over the server's stanza limit (kept by
jid-route in DIR/.max-stanza, else 65536 bytes) is sent in parts, each
starting with (N/TOTAL), and one over 1 MiB is refused in DIR/<jid>/out.
With --relay PIPE as well (ii-client passes DIR/in), the lines others
write to PIPE go to stdout too, each unchanged with one write: stdout is
then the session's only input, for xmpp-auth (never PIPE itself). A line
waits for its newline, blank lines are dropped, and one over 16 MiB is
dropped with a word on stderr; the run also ends when nothing reads stdout.
SIGTERM or SIGINT (ii-client stop) ends --dir mode once what was already
written is sent: every pipe is read as far as it holds, its complete lines
sent as usual, each partial line left told on stderr (not sent); exit 0.
A second signal ends it at once.

Options:
      --to JID          send messages made from plain text lines to JID
      --type TYPE       message type: chat (default), normal, headline, groupchat
      --subject TEXT    give messages made from plain text this subject
      --thread ID       give messages this thread id
      --lang TAG        put xml:lang='TAG' on messages and on presence with a status
      --whole           send all of stdin as one message (blank input sends nothing)
      --commands        read commands (/msg, /presence, /roster, ...) instead of plain text
      --keep-going      report a bad input line, skip it and go on (exit 65 at the end)
      --lossy           replace invalid UTF-8 and characters XML cannot carry by U+FFFD
      --id-fd N         write the id of every iq sent as a line on file descriptor N
                        (default: 'stanza-fmt: id ID' on stderr)
      --asked DIR       note each iq sent in the tree DIR (DIR/iq/.asked/<id>: where it
                        went), so that jid-route --dir takes its answer, and only from
                        there (with --dir: that tree, always)
      --dir DIR         serve the named pipes DIR/<jid>/in of the directory tree
      --relay PIPE      with --dir, also read the named pipe PIPE (made if missing)
                        and pass each of its lines on to stdout unchanged
      --me NAME         our name in DIR/<jid>/out (default: the bare JID in
                        XMPP_JID, else self)
      --epoch           time in DIR/<jid>/out as epoch seconds (default: local
                        YYYY-MM-DD HH:MM)
      --no-out          with --dir, do not append what is sent to DIR/<jid>/out:
                        jid-route --dir does, once the server acknowledged it
                        (xmpp-auth --session-events)
  -h, --help            print this help
  -V, --version         print the version

Commands (one a line; '//text' is the text '/text', '/#' a comment):
  /msg JID TEXT                      /subject JID SUBJECT [:: TEXT]
  /presence [SHOW] [STATUS]          /presence-to JID [SHOW] [STATUS]
    SHOW: online, away, chat, dnd, xa, offline
  /roster                            /add JID [NAME] [GROUP...]  (\"quote\" spaces)
  /remove JID                        /subscribe JID    /unsubscribe JID
  /approve JID                       /deny JID
  /join ROOM@SERVICE/NICK [PASSWORD] /leave ROOM[/NICK] [STATUS]
  /say ROOM TEXT                     /ping JID   /disco JID [NODE]   /version JID
  /raw XML                           (exactly one element, passed on as a line)

Exit status:
  0    success (with --dir: SIGTERM or SIGINT, after the pipes were drained)
  64   usage error
  65   bad input: invalid UTF-8, a character XML cannot carry, an unknown
       command, a missing argument, an invalid JID, malformed /raw XML (the
       line is named; everything before it was written)
  71   system error in --dir mode (poll, inotify, reading a pipe)
  73   the --dir tree or the --relay pipe could not be opened or watched
  74   output error: stdout (or the --id-fd) was closed or failed (with
       --relay: nothing reads it any more), or the --dir tree was removed
  130  with --dir: a second SIGINT ended the run at once; 143 a second SIGTERM
";

/// The `type` of messages made from plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageType {
    /// `chat`: one-to-one conversation (the default).
    #[default]
    Chat,
    /// `normal`: a standalone message.
    Normal,
    /// `headline`: an alert that expects no reply.
    Headline,
    /// `groupchat`: to a multi-user chat room.
    Groupchat,
}

impl MessageType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Normal => "normal",
            MessageType::Headline => "headline",
            MessageType::Groupchat => "groupchat",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "chat" => Ok(MessageType::Chat),
            "normal" => Ok(MessageType::Normal),
            "headline" => Ok(MessageType::Headline),
            "groupchat" => Ok(MessageType::Groupchat),
            other => Err(format!(
                "unknown message type {other:?} (chat, normal, headline or groupchat)"
            )),
        }
    }
}

/// What the command line asks for.
pub enum Parsed {
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// Format stanzas.
    Run(Box<Options>),
}

/// How stdin is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One message per line (the default).
    #[default]
    Lines,
    /// All of stdin as one message (`--whole`).
    Whole,
    /// One command per line (`--commands`).
    Commands,
}

/// The options of a run.
#[derive(Debug, Default)]
pub struct Options {
    /// Where messages made from plain text go.
    pub to: Option<Jid>,
    /// Their type.
    pub message_type: MessageType,
    /// Their subject.
    pub subject: Option<String>,
    /// Their thread.
    pub thread: Option<String>,
    /// `xml:lang` for messages and presence with a status.
    pub lang: Option<String>,
    /// How stdin is read.
    pub mode: Mode,
    /// Skip bad lines instead of stopping at the first.
    pub keep_going: bool,
    /// Replace what cannot be sent instead of refusing it.
    pub lossy: bool,
    /// Where iq ids are printed (None: stderr).
    pub id_fd: Option<i32>,
    /// The directory tree whose contact pipes are served.
    pub dir: Option<PathBuf>,
    /// `--relay PIPE`: a named pipe whose lines are passed on to stdout.
    pub relay: Option<PathBuf>,
    /// `--asked DIR` (or `--dir`'s): the tree where each iq sent is noted.
    pub asked: Option<PathBuf>,
    /// Our name in `out` files.
    pub me: String,
    /// The time format of `out` files.
    pub time_format: TimeFormat,
    /// `--no-out`: sent lines are not appended to `out` (jid-route does, once acknowledged).
    pub no_out: bool,
}

const SPEC: OptionSpec = OptionSpec {
    with_value: &[
        "--to",
        "--type",
        "--subject",
        "--thread",
        "--lang",
        "--id-fd",
        "--asked",
        "--dir",
        "--relay",
        "--me",
    ],
    switches: &[
        "--whole",
        "--commands",
        "--keep-going",
        "--lossy",
        "--epoch",
        "--no-out",
        "-h",
        "--help",
        "-V",
        "--version",
    ],
};

fn text_option(name: &str, value: String) -> Result<String> {
    if value.contains(['\n', '\r']) {
        return Err(Error::usage(format!("{name}: a line break is not allowed")));
    }
    escape_text(&value).map_err(|e| Error::usage(format!("{name}: {e}")))?;
    Ok(value)
}

fn check_lang(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .split('-')
            .all(|part| !part.is_empty() && part.len() <= 8)
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("{tag:?} is not a language tag (like en or pt-BR)"))
    }
}

/// A bad option value as a usage error naming the option.
fn value_error(option: &'static str) -> impl Fn(pico_args::Error) -> Error {
    move |err| Error::usage(format!("{option}: {err}"))
}

/// Our name in `out` files when `--me` is not given: the bare JID xmpp-auth
/// exported in `XMPP_JID`, or `self`.
fn default_me() -> String {
    std::env::var("XMPP_JID")
        .ok()
        .and_then(|jid| Jid::parse(&jid).ok())
        .map_or_else(|| "self".to_owned(), |jid| jid.to_bare().to_string())
}

/// Parse the arguments (without argv\[0\]).
pub fn parse(args: Vec<OsString>) -> Result<Parsed> {
    let split = cli::split_options(args, &SPEC)?;
    if let Some(extra) = split.operands.first() {
        return Err(Error::usage(format!(
            "unexpected argument {} (stanza-fmt takes no operands; see --help)",
            extra.to_string_lossy()
        )));
    }
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        return Ok(Parsed::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Parsed::Version);
    }
    let to = args
        .opt_value_from_fn("--to", |text: &str| {
            Jid::parse(text).map_err(|e| e.to_string())
        })
        .map_err(value_error("--to"))?;
    let message_type = args
        .opt_value_from_fn("--type", MessageType::parse)
        .map_err(value_error("--type"))?
        .unwrap_or_default();
    let subject = args
        .opt_value_from_str::<_, String>("--subject")
        .map_err(value_error("--subject"))?
        .map(|s| text_option("--subject", s))
        .transpose()?;
    let thread = args
        .opt_value_from_str::<_, String>("--thread")
        .map_err(value_error("--thread"))?
        .map(|s| text_option("--thread", s))
        .transpose()?;
    let lang: Option<String> = args
        .opt_value_from_fn("--lang", |tag: &str| {
            check_lang(tag).map(|()| tag.to_owned())
        })
        .map_err(value_error("--lang"))?;
    let id_fd: Option<i32> = args
        .opt_value_from_fn("--id-fd", |text: &str| {
            text.parse::<i32>()
                .ok()
                .filter(|&fd| fd >= 2)
                .ok_or_else(|| format!("{text:?} is not a file descriptor number of 2 or more"))
        })
        .map_err(value_error("--id-fd"))?;
    let dir: Option<PathBuf> = args
        .opt_value_from_os_str("--dir", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(value_error("--dir"))?;
    let relay: Option<PathBuf> = args
        .opt_value_from_os_str("--relay", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(value_error("--relay"))?;
    let asked: Option<PathBuf> = args
        .opt_value_from_os_str("--asked", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(value_error("--asked"))?
        .or_else(|| dir.clone());
    let me = args
        .opt_value_from_str::<_, String>("--me")
        .map_err(value_error("--me"))?
        .map(|s| text_option("--me", s))
        .transpose()?
        .unwrap_or_else(default_me);
    if me.is_empty() {
        return Err(Error::usage("--me: the name is empty"));
    }
    let epoch = args.contains("--epoch");
    let no_out = args.contains("--no-out");
    let whole = args.contains("--whole");
    let commands = args.contains("--commands");
    let keep_going = args.contains("--keep-going");
    let lossy = args.contains("--lossy");
    cli::finish(args)?;

    let mode = match (whole, commands) {
        (true, true) => return Err(Error::usage("--whole and --commands exclude each other")),
        (true, false) => Mode::Whole,
        (false, true) => Mode::Commands,
        (false, false) => Mode::Lines,
    };
    if dir.is_some() && mode == Mode::Whole {
        return Err(Error::usage(
            "--whole and --dir exclude each other (with --dir, stdin is read only with --commands)",
        ));
    }
    if relay.is_some() && dir.is_none() {
        return Err(Error::usage(
            "--relay needs --dir (its pipe is read in --dir's loop)",
        ));
    }
    if dir.is_none() && mode != Mode::Commands && to.is_none() {
        return Err(Error::usage(
            "missing --to JID (or use --commands, or --dir; see --help)",
        ));
    }
    if dir.is_some() && mode == Mode::Lines && to.is_some() {
        return Err(Error::usage(
            "--to with --dir needs --commands (without it, stdin is not read in --dir mode)",
        ));
    }
    if let Some(fd) = id_fd {
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        // SAFETY of the borrow: only used for this one fcntl, which fails cleanly on a closed fd.
        if rustix::io::fcntl_getfd(borrowed).is_err() {
            return Err(Error::usage(format!(
                "--id-fd {fd}: file descriptor {fd} is not open"
            )));
        }
    }
    Ok(Parsed::Run(Box::new(Options {
        to,
        message_type,
        subject,
        thread,
        lang,
        mode,
        keep_going,
        lossy,
        id_fd,
        dir,
        relay,
        asked,
        me,
        time_format: if epoch {
            TimeFormat::Epoch
        } else {
            TimeFormat::Local
        },
        no_out,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_list(list: &[&str]) -> Result<Parsed> {
        parse(list.iter().map(OsString::from).collect())
    }

    fn options(list: &[&str]) -> Options {
        match parse_list(list) {
            Ok(Parsed::Run(options)) => *options,
            Ok(_) => panic!("help or version"),
            Err(e) => panic!("{e}"),
        }
    }

    fn usage(list: &[&str]) -> String {
        match parse_list(list) {
            Err(e) => {
                assert_eq!(e.status(), xmpp_pipes::exit::Status::Usage);
                e.message().to_owned()
            }
            Ok(_) => panic!("{list:?} accepted"),
        }
    }

    #[test]
    fn defaults_and_values() {
        let o = options(&["--to", "Bob@Example.org"]);
        assert_eq!(o.to.unwrap().to_string(), "bob@example.org");
        assert_eq!(o.message_type, MessageType::Chat);
        assert_eq!(o.mode, Mode::Lines);
        assert!(!o.me.is_empty());
        assert_eq!(options(&["--commands", "--me=bob@b"]).me, "bob@b");
        let o = options(&[
            "--type=groupchat",
            "--to",
            "ops@conference.example.org",
            "--lang",
            "pt-BR",
            "--whole",
            "--lossy",
        ]);
        assert_eq!(o.message_type, MessageType::Groupchat);
        assert_eq!(o.lang.as_deref(), Some("pt-BR"));
        assert_eq!(o.mode, Mode::Whole);
        assert!(o.lossy);
        assert_eq!(options(&["--commands"]).mode, Mode::Commands);
        let o = options(&["--dir", "/tmp/x", "--relay", "/tmp/x/in"]);
        assert_eq!(o.relay.as_deref(), Some(std::path::Path::new("/tmp/x/in")));
        assert_eq!(options(&["--dir", "/tmp/x"]).relay, None);
    }

    #[test]
    fn usage_errors() {
        assert!(usage(&[]).contains("--to"));
        assert!(usage(&["--to", "a b@c"]).contains("not a valid JID"));
        assert!(usage(&["--to", "a@b", "--type", "shout"]).contains("shout"));
        assert!(usage(&["--commands", "--whole"]).contains("exclude"));
        assert!(usage(&["--to", "a@b", "--lang", "en_GB"]).contains("language tag"));
        assert!(usage(&["--to", "a@b", "extra"]).contains("extra"));
        assert!(usage(&["--to", "a@b", "--subject", "a\u{1}"]).contains("U+0001"));
        assert!(usage(&["--commands", "--id-fd", "1"]).contains("2 or more"));
        assert!(usage(&["--commands", "--id-fd", "999"]).contains("not open"));
        assert!(usage(&["--dir", "/tmp/x", "--whole"]).contains("exclude"));
        assert!(usage(&["--commands", "--relay", "/tmp/x/in"]).contains("--relay needs --dir"));
    }
}

//! The command line of xmpp-auth.

use crate::account;
use std::ffi::OsString;
use std::time::Duration;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::config;
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::password;
use xmpp_pipes::sasl::Mechanism;

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: xmpp-auth [OPTIONS] JID|@ [PROG [ARG...]]

Log in to an XMPP server on the stream that xmpp-connect left on fds 6
(read) and 7 (write): open the stream, authenticate with SASL, bind a
resource and enable stream management. Then run PROG with the logged-in
stream on its fds 6 and 7, or without PROG bridge it to stdin and stdout.
Options end at JID; everything after it belongs to PROG (an option of
ours right after JID is refused: it belongs before). JID @ is the
configured account (XMPP_JID, else jid in the config file).

Under xmpp-connect (its control channel on fd 8, XMPP_CONNECT_CONTROL), a
lost, reset or silent connection does not end the session: after a backoff
(1 s doubling to 60 s, half of it random) xmpp-auth connects again and
resumes the session (XEP-0198): what the server lacks is sent again,
nothing lost, nothing twice. Where resumption fails, a new session:
presence and rooms again, everything not acknowledged sent again (at least
once; messages carry XEP-0359 origin-ids). Never retried: the first login
of a run, and statuses 64, 65, 69, 77, 78 (and 66, 70, 73, which a retry
would repeat). One line on stderr for each loss, retry and recovery. When
the reader of stdout goes away or PROG exits, nothing more is acknowledged
to the server and the session closes.

Options:
      --password-file FILE     read the password from FILE (mode 0600: not for group or others)
      --password-fd N          read the password from file descriptor N
      --password-command CMD   run CMD with /bin/sh and read the password from its output
      --mechanism NAME         use this SASL mechanism only (e.g. SCRAM-SHA-1, PLAIN, DIGEST-MD5)
      --resource NAME          ask for this resource (default: the server assigns one)
      --presence               send initial presence once logged in
      --register               create the account first (in-band registration, XEP-0077)
      --no-stream-management   do not enable stream management (XEP-0198)
      --no-sasl2               log in with SASL as RFC 6120 has it, even where the server
                               offers SASL2 (XEP-0388) with Bind2 (XEP-0386)
      --no-fast                neither use nor ask for a FAST token (XEP-0484); by default one
                               is asked for on a login with the password where SASL2 offers
                               FAST, kept in $XDG_STATE_HOME/xmpp-pipes/fast/ACCOUNT/ (mode
                               0600), and used on the next login instead of the password
      --forget-fast            log in once more with the stored FAST token, asking the server
                               to invalidate it, and delete it (then the password again)
      --unacked-file FILE      when stanzas go unacknowledged, write those that came from
                               downstream to FILE (mode 0600), to be sent again
      --timeout SECONDS        bound each login (the first and each on a reconnection), the
                               wait for the rooms of --join, and, once downstream is done, the
                               wait for acknowledgements: SECONDS without a new one,
                               reconnections included (default 30)
      --keepalive SECONDS      after SECONDS of silence from the server send <r/> (a ping
                               without stream management); nothing within min(SECONDS, 30)
                               after it and the connection is dead (default 60; not 0)
      --linger SECONDS         once everything is acknowledged, wait SECONDS more for the
                               bounces of messages to remote domains (default 5; within
                               --timeout). A bounce (an error reply to a message from
                               downstream) ends the session with 67 (unknown recipient), 68
                               (unknown or unreachable domain), 77 (refused) or 75/69
      --receipt                ask for delivery receipts (XEP-0184) on downstream's chat and
                               normal messages; end in success only once a client of each
                               recipient confirmed, else 75 at --timeout
      --no-reconnect           a lost connection ends the session, with the report of what
                               was not acknowledged (for wrappers that resend, --unacked-file)
      --reconnect-limit N      give up after N failed attempts in a row (default: never)
      --session-events         give downstream a line when a new session begins (the first,
                               and each after a failed resumption): <session
                               xmlns='urn:xmpp-pipes:session:0' state='new' jid='FULL-JID'/>
                               (with max-bytes='N' where the server announced its limit);
                               and each message of its own the server acknowledged, inside
                               an <acked xmlns='urn:xmpp-pipes:session:0'>
      --refuse-bad-input       for a long-lived session: downstream writes stanza lines, and
                               a line that is not one (or a stanza that must not go out: to
                               a room not joined, over the server's limit) is refused with a
                               line on stderr (and, with --session-events, a <refused/> for
                               downstream) and the session goes on; without it such input
                               ends the session with 65
      --state-file FILE        keep one line `STATE SINCE [JID]` in FILE (mode 0600, replaced
                               atomically); STATE: connected, resumed, new-session,
                               reconnecting, closed; SINCE in UTC (RFC 3339)
      --join ROOM@SERVICE/NICK join this group chat (XEP-0045) as NICK before any stanza from
                               downstream goes out, and leave it at the end (repeatable)
      --room-password-file FILE
                               read the rooms' password from FILE (mode 0600: not for group or others)
      --create-rooms           create a room of --join that does not exist (an instant room)
      --config FILE            read the account's settings from FILE (mode 0600)
                               instead of ~/.config/xmpp-pipes/config
      --carbons                turn message carbons on (XEP-0280) in each new session: what
                               the account's other clients send and receive comes here too
  -v, --verbose                say on stderr what each login negotiated: the SASL mechanism
                               and those offered, the stream features, the JID bound,
                               stream management
  -h, --help                   print this help
  -V, --version                print the version

Without a password option, the password comes from the environment, else
the config file, else a prompt on the terminal. It is never taken from the
command line, and never passed on to PROG. Options win over the environment,
the environment over the config file; the file's settings are used only for
the account it names with jid.

Config file: $XDG_CONFIG_HOME/xmpp-pipes/config (default ~/.config/...),
else go-sendxmpp's ~/.config/go-sendxmpp/config, else ~/.sendxmpprc; one
`key = value` a line, # comments; keys jid, password-file, password-command,
password, resource, timeout (and xmpp-connect's host, direct-tls, cafile,
pin). Refused if group or others may read it.

Environment:
  XMPP_JID             the account @ names (a resource is ignored)
  XMPP_PASSWORD        the password, if no option names a source (removed before PROG runs)
  XMPP_PASSWORD_FILE   as --password-file
  XMPP_PASSWORD_COMMAND  as --password-command
  XMPP_RESOURCE        as --resource
  XMPP_TIMEOUT         as --timeout
  XDG_CONFIG_HOME, HOME  where the config file is
  XDG_STATE_HOME       where FAST tokens are kept (default ~/.local/state)
  SSL_PROTOCOL         set by xmpp-connect when the stream is TLS; PLAIN is refused without it
  XMPP_TLS_EXPORTER    tls-exporter channel-binding data from xmpp-connect (for SCRAM-*-PLUS)
  XMPP_CONNECT_CONTROL set by xmpp-connect: fd 8 is its control channel (read, and removed
                       before PROG runs; PROG gets no fd 8)
  XMPP_JID             set for PROG: the full JID the server bound
  XMPP_MAX_STANZA      set for PROG when the server announced it (XEP-0478): the largest
                       stanza in bytes it takes; a larger one is refused (65)

Exit status:
  0    success: everything sent was acknowledged by the server (or PROG's status)
  64   usage error, or fds 6/7 not open
  65   bad input from stdin or PROG (not well-formed XML, a groupchat message to a room
       not joined, a stanza over the server's announced limit)
  67   a message bounced: unknown recipient, or one that cannot take it (service-unavailable,
       item-not-found, recipient-unavailable, gone, jid-malformed, redirect)
  68   a message bounced: the recipient's domain does not exist or cannot be reached
       (remote-server-not-found, remote-server-timeout)
  69   the server offers no way to log in that is safe; no such room or group-chat service
       (item-not-found, remote-server-not-found, or a new room without --create-rooms)
  74   the reader of stdout or PROG's fd 6 went away (what it did not take stays with
       the server); reading stdin or PROG's fd 7 failed
  75   temporary failure: timeout, connection lost and not retried (--no-reconnect,
       --reconnect-limit, no control channel), stanzas unacknowledged, another session
       took our resource (conflict), no delivery receipt (--receipt), a bounce of type
       wait; a room that does not answer, is full (service-unavailable), or has our nick
       (conflict)
  76   protocol error: the server broke the protocol or sent a stream error; a room's
       other error conditions
  77   authentication refused (wrong password, unknown user, forged server proof); a room
       refuses us (not-authorized: room password, forbidden: banned, registration-required:
       members-only, not-allowed: creation refused, not-acceptable: registered nick); a
       message bounced as refused (forbidden, not-allowed, policy-violation, ...)
  78   configuration error: no usable password, unsafe password or config file,
       bad config setting
  126  PROG could not be run; 127 PROG not found
";

/// What the command line asks for.
pub enum Parsed {
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// Log in and run (boxed: the options are large beside the other variants).
    Run(Box<Options>),
}

/// The options of a run.
#[derive(Debug)]
pub struct Options {
    /// The account.
    pub jid: Jid,
    /// Where the password comes from.
    pub password: password::Source,
    /// A forced SASL mechanism.
    pub mechanism: Option<Mechanism>,
    /// The resource to ask for.
    pub resource: Option<String>,
    /// Send initial presence.
    pub presence: bool,
    /// Register the account first.
    pub register: bool,
    /// Enable stream management when offered.
    pub stream_management: bool,
    /// `--unacked-file`: where the unacknowledged stanzas go at the end.
    pub unacked_file: Option<std::path::PathBuf>,
    /// Bound on login and on the final acknowledgement wait.
    pub timeout: Duration,
    /// The program to run, with its arguments; empty for bridge mode.
    pub prog: Vec<OsString>,
    /// Group chat: the rooms to join (`--join`, `--room-password-file`, `--create-rooms`).
    pub rooms: crate::muc::RoomOptions,
    /// Probe the server after this much silence.
    pub keepalive: Duration,
    /// `--linger`: how long after its acknowledgement a message may still bounce.
    pub linger: Duration,
    /// `--receipt`: success only once the recipients' clients confirmed.
    pub receipt: bool,
    /// `--verbose`: say what each login negotiated.
    pub verbose: bool,
    /// `--carbons`: copies of the other clients' messages.
    pub carbons: bool,
    /// Reconnect when the connection is lost (and xmpp-connect can).
    pub reconnect: bool,
    /// Give up after this many failed attempts in a row.
    pub reconnect_limit: Option<u32>,
    /// Tell downstream when a new session begins.
    pub session_events: bool,
    /// `--refuse-bad-input`: a bad line is refused, the session goes on.
    pub refuse_bad_input: bool,
    /// `--state-file`: where the session's state is kept.
    pub state_file: Option<std::path::PathBuf>,
    /// Use SASL2 where offered (not `--no-sasl2`).
    pub sasl2: bool,
    /// Use and keep FAST tokens (not `--no-fast`).
    pub fast: bool,
    /// `--forget-fast`: invalidate the stored token.
    pub forget_fast: bool,
}

/// The default of `--keepalive`: below the idle timeouts of NAT boxes and mobile links.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);

/// The default of `--linger`: a remote server that does not exist or does
/// not answer is usually reported by the own server within this.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

const SPEC: OptionSpec = OptionSpec {
    with_value: &[
        "--password-file",
        "--password-fd",
        "--password-command",
        "--mechanism",
        "--resource",
        "--timeout",
        "--config",
        "--unacked-file",
        "--keepalive",
        "--linger",
        "--reconnect-limit",
        "--state-file",
        // Group chat (crate::muc).
        "--join",
        "--room-password-file",
    ],
    switches: &[
        "--presence",
        "--register",
        "--no-stream-management",
        "--no-sasl2",
        "--no-fast",
        "--forget-fast",
        "--no-reconnect",
        "--receipt",
        "--carbons",
        "-v",
        "--verbose",
        "--session-events",
        "--refuse-bad-input",
        "--create-rooms",
        "-h",
        "--help",
        "-V",
        "--version",
    ],
};

/// Parse the arguments (without argv\[0\]).
pub fn parse(args: Vec<OsString>) -> Result<Parsed> {
    let split = cli::split_options(args, &SPEC)?;
    cli::check_operands(
        &split.operands,
        &SPEC,
        "JID",
        std::env::var_os("PATH").as_deref(),
    )?;
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        return Ok(Parsed::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Parsed::Version);
    }
    let password = password::Source {
        text: None,
        file: args
            .opt_value_from_str("--password-file")
            .map_err(cli::usage_error)?,
        fd: args
            .opt_value_from_str("--password-fd")
            .map_err(cli::usage_error)?,
        command: args
            .opt_value_from_str("--password-command")
            .map_err(cli::usage_error)?,
    };
    password.check_one()?;
    let mechanism = args
        .opt_value_from_fn("--mechanism", |name: &str| {
            Mechanism::from_name(&name.to_ascii_uppercase())
                .ok_or_else(|| format!("unknown SASL mechanism {name:?}"))
        })
        .map_err(cli::usage_error)?;
    let resource: Option<String> = args
        .opt_value_from_str("--resource")
        .map_err(cli::usage_error)?;
    let timeout = args
        .opt_value_from_fn("--timeout", cli::parse_seconds)
        .map_err(cli::usage_error)?;
    let config = args
        .opt_value_from_os_str("--config", |s| Ok::<_, String>(std::path::PathBuf::from(s)))
        .map_err(cli::usage_error)?;
    let presence = args.contains("--presence");
    let register = args.contains("--register");
    let stream_management = !args.contains("--no-stream-management");
    let unacked_file = args
        .opt_value_from_os_str("--unacked-file", |s| {
            Ok::<_, String>(std::path::PathBuf::from(s))
        })
        .map_err(cli::usage_error)?;
    let keepalive = args
        .opt_value_from_fn("--keepalive", cli::parse_seconds)
        .map_err(cli::usage_error)?
        .unwrap_or(DEFAULT_KEEPALIVE);
    if keepalive.is_zero() {
        return Err(Error::usage(
            "--keepalive 0: a session with no keepalive never notices a dead connection; give SECONDS > 0",
        ));
    }
    let linger = args
        .opt_value_from_fn("--linger", cli::parse_seconds)
        .map_err(cli::usage_error)?
        .unwrap_or(DEFAULT_LINGER);
    let receipt = args.contains("--receipt");
    let verbose = args.contains(["-v", "--verbose"]);
    let carbons = args.contains("--carbons");
    let reconnect = !args.contains("--no-reconnect");
    let reconnect_limit: Option<u32> = args
        .opt_value_from_str("--reconnect-limit")
        .map_err(cli::usage_error)?;
    let session_events = args.contains("--session-events");
    let refuse_bad_input = args.contains("--refuse-bad-input");
    let state_file = args
        .opt_value_from_os_str("--state-file", |s| {
            Ok::<_, String>(std::path::PathBuf::from(s))
        })
        .map_err(cli::usage_error)?;
    let sasl2 = !args.contains("--no-sasl2");
    let fast = !args.contains("--no-fast");
    let forget_fast = args.contains("--forget-fast");
    if forget_fast && !(fast && sasl2) {
        return Err(Error::usage(
            "--forget-fast logs in with the FAST token of SASL2: not with --no-fast or --no-sasl2",
        ));
    }
    let rooms = crate::muc::RoomOptions::parse(&mut args)?;
    cli::finish(args)?;

    let mut operands = split.operands.into_iter();
    let jid = operands
        .next()
        .ok_or_else(|| Error::usage("missing JID (usage: xmpp-auth [OPTIONS] JID [PROG...])"))?;
    let account = account::resolve(
        account::Given {
            jid,
            password,
            resource,
            timeout,
            config,
        },
        &config::process_env,
    )?;
    Ok(Parsed::Run(Box::new(Options {
        jid: account.jid,
        password: account.password,
        mechanism,
        resource: account.resource,
        presence,
        register,
        stream_management,
        unacked_file,
        timeout: account.timeout,
        prog: operands.collect(),
        rooms,
        keepalive,
        linger,
        receipt,
        verbose,
        carbons,
        reconnect,
        reconnect_limit,
        session_events,
        refuse_bad_input,
        state_file,
        sasl2,
        fast,
        forget_fast,
    })))
}

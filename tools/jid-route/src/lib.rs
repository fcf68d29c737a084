//! jid-route: stanza lines in (as stanza-split writes them), each routed by
//! kind, type and sender to stdout, files, commands, the sj/ii-style
//! directory tree or the terminal; iq requests nobody handles are answered
//! as RFC 6120 requires. It never touches the network.
//!
//! - [`rules`]: the rule syntax and matching.
//! - [`stanza`]: one parsed stanza line and its fields (the commands' environment).
//! - [`actions`]: stdout, `>> FILE`, `| CMD`, `! CMD`.
//! - [`event`], [`presence`], [`dir`], [`print`]: what a stanza means, in the tree and on a terminal.
//! - [`repeats`]: messages seen already (origin-id), dropped before anything sees them.
//! - [`archive`], [`written`]: the catch-up from the account's archive, and
//!   the tree's record of what it wrote (so that nothing is written twice).
//! - [`roster`]: the roster in `DIR/roster`, fetched and pushed.
//! - [`ids`]: unpredictable ids of the requests jid-route sends itself.
//! - [`answer`], [`reply`]: built-in answers, iq handlers and the reply path.
//! - [`router`]: all of it, one line at a time.

pub mod actions;
pub mod answer;
pub mod archive;
pub mod dir;
pub mod event;
pub mod ids;
pub mod oob;
pub mod presence;
pub mod print;
pub mod repeats;
pub mod reply;
pub mod room;
pub mod roster;
pub mod router;
pub mod rules;
pub mod stanza;
pub mod written;

use router::{Config, Flow, Router};
use std::ffi::OsString;
use std::io::{self, BufRead};
use std::path::PathBuf;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::exit::{warn, Error, Result, Status};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::tree::TimeFormat;
use xmpp_pipes::xml::framer::DEFAULT_MAX_STANZA;

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: jid-route [OPTIONS] [RULE...]

Read stanza lines on stdin (one element a line, as stanza-split writes them)
and route each by kind, type and sender. Rules are tried in order; the first
that matches decides. Stanzas no rule matches go to the tree (--dir) and the
terminal (--print); without either they are dropped and counted on stderr.
Input ends at end of file or at a </stream:stream> line. xmpp-auth's
<session xmlns='urn:xmpp-pipes:session:0' state='new'/> line (a new session
began) is not a stanza: no rule sees it, nothing of it goes to stdout, and
presence from before it is forgotten (the tree's presence files cleared).

Rules (one argument each; options come before the rules):
  [SELECTOR] [from=GLOB]... [carbon=sent|received|*] [ACTION]
  SELECTOR  message, presence, iq or * (any), with :TYPE,TYPE... to narrow it:
            message:chat,normal  presence:subscribe  iq:result  (default *)
  from=GLOB the sender; * any characters, ? one; with a / the full JID is
            matched, without it the bare JID; several from= mean any of them
  carbon=   the rule is about carbon copies from our own account (what our
            other clients sent or received), seen as the message inside;
            a rule without it never sees one (a bot never answers them)
  ACTION    -          write the stanza line on stdout (the default)
            drop       do nothing (iq requests: not answered either)
            >> FILE    append the line to FILE (opened once, mode 0600; ~/ is $HOME)
            | CMD      write the line to sh -c CMD, started once and kept running
            ! CMD      run sh -c CMD for each stanza: the line on its stdin and
                       XMPP_KIND, XMPP_TYPE, XMPP_FROM, XMPP_FROM_BARE, XMPP_TO,
                       XMPP_ID, XMPP_BODY, XMPP_SUBJECT, XMPP_THREAD, XMPP_NICK,
                       XMPP_SHOW, XMPP_STATUS, XMPP_PRIORITY, XMPP_NS, XMPP_ERROR,
                       XMPP_CARBON in its environment; jid-route waits for it
  A sender whose from is not a valid JID matches no rule: it is reported on
  stderr (and in DIR/unrouted). A stanza without from is from our own account.

Examples:
  jid-route 'message:chat from=boss@example.org >> ~/boss.log' \\
            'message !notify-send \"$XMPP_FROM\" \"$XMPP_BODY\"' 'drop'
  jid-route --dir ~/xmpp --print 'presence:probe drop'

Options:
      --dir DIR              write unmatched stanzas to the directory tree DIR:
                             DIR/<jid>/out, DIR/<jid>/presence, DIR/mypresence,
                             DIR/iq/<id>, DIR/unrouted; replies go to DIR/in
      --print                show unmatched stanzas as readable lines on stdout
      --epoch                times in DIR/<jid>/out as epoch seconds (ii 1.8)
      --archive              with --dir and --me: on each new session (xmpp-auth
                             --session-events), write what the tree missed from
                             the account's archive (XEP-0313), in order, with
                             its times; nothing is written twice (XEP-0359
                             stanza-ids, kept in DIR/.archive)
      --roster               with --dir: on each new session fetch the roster
                             and keep it in DIR/roster (a line per contact: JID,
                             subscription, name, groups, tab-separated), updated
                             by roster pushes from our own account; a change of
                             subscription is a notice in the contact's out
      --reply PATH           write answers to iq requests to PATH (a named pipe
                             to the server, or a file); default DIR/in with --dir,
                             else iq requests are not answered
      --iq-handler NS=CMD    hand iq get/set requests whose payload is in
                             namespace NS to sh -c CMD: the request on its stdin,
                             its stdout the answer (repeatable)
      --me JID               our own JID (default $XMPP_JID)
      --max-stanza BYTES     refuse a line longer than BYTES (default 1048576)
      --max-new N            with --dir, create at most N new contact directories
                             and iq answer files in a session; stanzas that would
                             need more go to DIR/unrouted (default 10000)
  -h, --help                 print this help
  -V, --version              print the version

Exit status:
  0    end of input
  64   usage error (a bad rule is named, with what is wrong)
  65   a line that is not a stanza line (named by its number); every line
       before it was routed
  73   a file could not be created
  74   a read or write error
";

const SPEC: OptionSpec = OptionSpec {
    with_value: &[
        "--dir",
        "--reply",
        "--iq-handler",
        "--me",
        "--max-stanza",
        "--max-new",
    ],
    switches: &[
        "--print",
        "--epoch",
        "--archive",
        "--roster",
        "-h",
        "--help",
        "-V",
        "--version",
    ],
};

/// Run jid-route with the given arguments (without argv\[0\]).
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let split = cli::split_options(args, &SPEC)?;
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        print!("{HELP}");
        return Ok(0);
    }
    if args.contains(["-V", "--version"]) {
        println!("jid-route {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let dir: Option<PathBuf> = args.opt_value_from_str("--dir").map_err(cli::usage_error)?;
    let reply: Option<PathBuf> = args
        .opt_value_from_str("--reply")
        .map_err(cli::usage_error)?;
    let me: Option<String> = args.opt_value_from_str("--me").map_err(cli::usage_error)?;
    let max = args
        .opt_value_from_fn("--max-stanza", cli::parse_size)
        .map_err(cli::usage_error)?
        .unwrap_or(DEFAULT_MAX_STANZA);
    let max_new: usize = args
        .opt_value_from_fn("--max-new", |text| {
            text.parse::<usize>()
                .map_err(|_| format!("--max-new takes a whole number, not {text:?}"))
        })
        .map_err(cli::usage_error)?
        .unwrap_or(dir::DEFAULT_MAX_NEW);
    let handlers: Vec<(String, String)> = args
        .values_from_fn("--iq-handler", reply::Handlers::parse_option)
        .map_err(cli::usage_error)?;
    let print = args.contains("--print");
    let archive = args.contains("--archive");
    let roster = args.contains("--roster");
    let time = if args.contains("--epoch") {
        TimeFormat::Epoch
    } else {
        TimeFormat::Local
    };
    cli::finish(args)?;

    let me = match me.or_else(|| std::env::var("XMPP_JID").ok().filter(|v| !v.is_empty())) {
        Some(text) => {
            Some(Jid::parse(&text).map_err(|e| Error::usage(format!("--me / XMPP_JID: {e}")))?)
        }
        None => None,
    };
    let rules = split
        .operands
        .iter()
        .map(|arg| {
            let text = arg
                .to_str()
                .ok_or_else(|| Error::usage(format!("rule {arg:?} is not UTF-8")))?;
            rules::Rule::parse(text)
        })
        .collect::<Result<Vec<_>>>()?;
    if rules.is_empty() && dir.is_none() && !print && reply.is_none() {
        return Err(Error::usage(
            "nothing to do: give rules, --dir or --print (see --help)",
        ));
    }

    if archive {
        router::archive_needs(dir.is_some(), me.is_some())?;
    }

    let sink = match &dir {
        Some(path) => Some(dir::DirSink::open(path, time, me.clone())?.with_max_new(max_new)),
        None => None,
    };
    let reply = match (reply, &sink) {
        (Some(path), _) => Some(reply::ReplyPath::given(path)),
        (None, Some(sink)) => {
            if let Err(err) = sink.tree().fifo(None, xmpp_pipes::tree::IN) {
                warn(
                    "jid-route",
                    format!("{}/in: {err}", sink.tree().path().display()),
                );
            }
            Some(reply::ReplyPath::tree_in(sink.tree().path()))
        }
        (None, None) => None,
    };
    let handlers = reply::Handlers {
        commands: handlers,
        ext_dir: dir.map(|d| d.join(xmpp_pipes::tree::EXT)),
    };
    let mut router = Router::new(Config {
        rules,
        dir: sink,
        print,
        me,
        reply,
        handlers,
        archive,
        roster,
    })?;
    let outcome = route_input(&mut router, io::stdin().lock(), max);
    let finished = router.finish();
    outcome?;
    finished?;
    Ok(0)
}

/// Route every line of `input` until end of file or the stream's close.
pub fn route_input(router: &mut Router, mut input: impl BufRead, max: usize) -> Result<()> {
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        number += 1;
        if !read_line(&mut input, &mut line, max)
            .map_err(|e| Error::new(Status::IoErr, format!("cannot read stdin: {e}")))?
        {
            return Err(Error::data(format!(
                "line {number}: longer than {max} bytes"
            )));
        }
        if line.is_empty() {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let text = String::from_utf8(std::mem::take(&mut line))
            .map_err(|_| Error::data(format!("line {number}: not UTF-8")))?;
        if router.route(number, text)? == Flow::End {
            return Ok(());
        }
    }
}

/// Read one line (with its `\n`) into `line`, at most `max` bytes before
/// the newline; `false` when the line is longer (reading stops there).
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    loop {
        let buffer = match input.fill_buf() {
            Ok(buffer) => buffer,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buffer.is_empty() {
            return Ok(true);
        }
        let (take, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (buffer.len(), false),
        };
        line.extend_from_slice(&buffer[..take]);
        input.consume(take);
        if line.len() > max + 1 || (line.len() > max && line.last() != Some(&b'\n')) {
            return Ok(false);
        }
        if done {
            return Ok(true);
        }
    }
}

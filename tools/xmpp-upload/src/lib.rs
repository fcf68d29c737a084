//! xmpp-upload: send a file over XMPP with HTTP upload (XEP-0363), as a
//! stage after xmpp-auth on the logged-in stream on fds 6 and 7.
//!
//! [`run`] is the whole tool: [`options`] parses the command line, the
//! file is opened (66 before anything goes out), the shared crate's
//! sans-I/O [`xmpp_pipes::upload::Upload`] finds the service and gets the
//! slot over [`stream`], [`http`] PUTs the file (counted and shown by
//! [`progress`]; its type from [`mime`]), and only then the messages go out.

pub mod http;
pub mod mime;
pub mod options;
pub mod progress;
pub mod stream;

use options::{Command, Options};
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::time::Instant;
use stream::{Lines, Next, Out};
use xmpp_pipes::exit::{warn, Error, Result, Status};
use xmpp_pipes::upload::{oob_message, FileInfo, OobMessage, Slot, Step, Upload};

const TOOL: &str = "xmpp-upload";

/// Run xmpp-upload with the given arguments (without argv\[0\]); returns the exit status.
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let options = match options::parse(args, &xmpp_pipes::config::process_env)? {
        Command::Print(text) => {
            print!("{text}");
            return Ok(0);
        }
        Command::Upload(options) => *options,
    };
    let (file, info) = open(&options)?;
    // Read --cafile (or the system store) before anything goes out.
    let tls = xmpp_connect::tls::Tls::new(&options.trust)?;
    if options.plaintext {
        warn(
            TOOL,
            "--plaintext: an http:// slot URL is accepted; the file may travel unencrypted",
        );
    }
    let (read, write) = xmpp_pipes::ucspi::take_stream_fds(TOOL)?;
    let (mut lines, mut out) = (Lines::new(read), Out::new(write));
    let slot = ask_slot(&options, &info, &mut lines, &mut out)?;
    let show = progress::stderr_is_terminal() && info.size >= progress::SHOWN_FROM;
    let body = progress::Counted::new(file, info.size, &info.name, show);
    let sent = body.counter();
    let put = http::Put {
        slot: &slot,
        content_type: &info.content_type,
        size: info.size,
        name: &info.name,
        timeout: options.timeout,
    };
    if let Err(err) = http::put(&put, Some(&tls), body) {
        if show && sent.load(std::sync::atomic::Ordering::Relaxed) < info.size {
            xmpp_pipes::exit::print_line("\n");
        }
        return Err(err);
    }
    out.send(&messages(&options, &slot)?)?;
    out.close();
    lines.drain()?;
    Ok(0)
}

/// Open FILE and describe it for the slot request (66 when it cannot be read).
fn open(options: &Options) -> Result<(File, FileInfo)> {
    let path = &options.file;
    let shown = path.display();
    let no_input = |why: String| Error::new(Status::NoInput, format!("{shown}: {why}"));
    let file = File::open(path).map_err(|e| no_input(format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| no_input(format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(no_input("not a regular file (give a file to send)".into()));
    }
    let name = match &options.name {
        Some(name) => name.clone(),
        None => file_name(path).ok_or_else(|| no_input("no file name in the path".into()))?,
    };
    if name.is_empty()
        || name.contains('/')
        || name
            .chars()
            .any(|c| c.is_control() || !xmpp_pipes::xml::is_xml_char(c))
    {
        return Err(Error::usage(format!(
            "{name:?} cannot be the file's name for the recipients (no /, no control characters): \
             give another with --name"
        )));
    }
    let content_type = options
        .content_type
        .clone()
        .unwrap_or_else(|| mime::guess(&name).to_owned());
    let info = FileInfo {
        name,
        size: meta.len(),
        content_type,
    };
    Ok((file, info))
}

/// The last component of `path`, as text (invalid UTF-8 replaced).
fn file_name(path: &Path) -> Option<String> {
    Some(path.file_name()?.to_string_lossy().into_owned())
}

/// Discovery and the slot request, each answer within `--timeout`.
fn ask_slot(options: &Options, info: &FileInfo, lines: &mut Lines, out: &mut Out) -> Result<Slot> {
    let prefix = format!("xu-{}", secret());
    let domain = xmpp_pipes::jid::Jid::parse(options.account.domain())
        .map_err(|e| Error::usage(format!("XMPP_JID: {e}")))?;
    let (mut upload, first) = Upload::start(
        info.clone(),
        domain,
        options.service.clone(),
        &prefix,
        options.plaintext,
    )?;
    out.send(&first)?;
    let mut deadline = Instant::now() + options.timeout;
    loop {
        let line = match lines.next_before(deadline)? {
            Next::Line(line) => line,
            Next::End => {
                return Err(Error::temp(format!(
                    "the stream ended while waiting for {}; nothing was uploaded",
                    upload.waiting_for()
                )))
            }
            Next::TimedOut => {
                return Err(Error::temp(format!(
                "no answer within {}s while waiting for {} (try again later, or raise --timeout)",
                options.timeout.as_secs_f64(),
                upload.waiting_for()
            )))
            }
        };
        match upload.on_line(&line)? {
            Step::NotOurs | Step::Wait => {}
            Step::Send(more) => {
                out.send(&more)?;
                deadline = Instant::now() + options.timeout;
            }
            Step::Put(slot) => return Ok(slot),
        }
    }
}

/// The messages with the link, one to each recipient.
fn messages(options: &Options, slot: &Slot) -> Result<Vec<String>> {
    options
        .to
        .iter()
        .map(|(to, kind)| {
            let to = to.to_string();
            oob_message(&OobMessage {
                to: &to,
                kind,
                url: &slot.get,
                desc: options.desc.as_deref(),
            })
            .map_err(|e| Error::usage(format!("--desc: {e}")))
        })
        .collect()
}

/// A random part for our iq ids, so that no answer can be planted for one.
fn secret() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

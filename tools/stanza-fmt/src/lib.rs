//! stanza-fmt: text in, stanza lines out.
//!
//! Plain text lines become messages to `--to` (or all of stdin one message
//! with `--whole`); with `--commands` every line is a command (`/msg`,
//! `/presence`, `/roster`, `/join`, ...) that becomes the stanza RFC 6121 or
//! its XEP prescribes; with `--dir` the named pipes `DIR/<jid>/in` of the
//! directory tree are served, and with `--relay PIPE` the lines others write
//! to PIPE (`DIR/in`) passed on. It never touches the network.
//!
//! - [`options`]: the command line and `--help`.
//! - [`text`]: line splitting and the checks that make text sendable.
//! - [`command`]: the command language.
//! - [`stanza`]: the stanzas, as the RFCs and XEPs prescribe them.
//! - [`ids`]: unique stanza ids.
//! - [`format`]: input lines to stanzas, the state of a run.
//! - [`output`]: one `write(2)` a stanza; iq ids for scripts.
//! - [`parts`]: a text too long for one stanza cut into parts that fit.
//! - [`input`]: reading stdin line by line or whole.
//! - [`relay`]: `--relay PIPE`'s lines, passed on unchanged.
//! - [`dir`]: the `--dir` event loop (inotify and poll).

pub mod command;
pub mod dir;
pub mod format;
pub mod ids;
pub mod input;
pub mod options;
pub mod output;
pub mod parts;
pub mod relay;
pub mod spelling;
pub mod stanza;
pub mod text;

pub use options::HELP;

use options::{Mode, Parsed};
use std::ffi::OsString;
use xmpp_pipes::exit::Result;

/// Run stanza-fmt with the given arguments (without argv\[0\]).
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let options = match options::parse(args)? {
        Parsed::Help => {
            print!("{HELP}");
            return Ok(0);
        }
        Parsed::Version => {
            println!("stanza-fmt {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        Parsed::Run(options) => options,
    };
    let output = output::Output::new(options.id_fd);
    let mut formatter = format::Formatter::new(&options, ids::IdGen::new(), output);
    if let Some(dir) = &options.dir {
        return dir::serve(dir, &mut formatter, &options);
    }
    let stdin = std::io::stdin().lock();
    match (options.mode, &options.to) {
        (Mode::Whole, Some(to)) => input::whole(stdin, &mut formatter, to),
        _ => input::lines(stdin, &mut formatter, options.keep_going),
    }
}

//! stanza-split: an XMPP stream in, stanza lines out.
//!
//! A thin layer over the shared crate's [`Framer`]: every top-level element
//! is written as one line and flushed as soon as its end tag has arrived (at the
//! latest before stanza-split waits for more input). Stream headers
//! are dropped, the stream's close is passed on as `</stream:stream>`.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::flush::{wait_for_input, FlushBeforeRead};
use xmpp_pipes::xml::framer::DEFAULT_MAX_STANZA;
use xmpp_pipes::xml::{FrameError, Framer, Item};

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: stanza-split [OPTIONS]

Read an XMPP stream on stdin (with or without <?xml?> and <stream:stream>
headers, restarts included, in any chunks) and write each top-level element
on stdout as one line as soon as its end tag arrives: UTF-8, no raw newline
inside (newlines in text become &#10;), the namespaces it uses from the stream
header declared on the line, jabber:client implied. Whitespace keepalives and
stream headers are dropped; the stream's close is passed on as a line
</stream:stream>.

Options:
      --max-stanza BYTES   refuse an element larger than BYTES (default 1048576)
  -h, --help               print this help
  -V, --version            print the version

Exit status:
  0    end of input
  64   usage error
  65   bad input: malformed XML (a namespace prefix nothing declares
       included), a DTD, comment, processing instruction or undeclared entity
       (forbidden by RFC 6120), an element over --max-stanza, or input that
       ends inside an element; every stanza before it was written
  74   read or write error (e.g. stdout closed), or nothing reads stdout any
       more (noticed while the input is quiet, so a pipeline whose end died
       ends at once)
";

const SPEC: OptionSpec = OptionSpec {
    with_value: &["--max-stanza"],
    switches: &["-h", "--help", "-V", "--version"],
};

/// Run stanza-split with the given arguments (without argv\[0\]).
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let split = cli::split_options(args, &SPEC)?;
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        print!("{HELP}");
        return Ok(0);
    }
    if args.contains(["-V", "--version"]) {
        println!("stanza-split {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    }
    let max = args
        .opt_value_from_fn("--max-stanza", parse_size)
        .map_err(cli::usage_error)?
        .unwrap_or(DEFAULT_MAX_STANZA);
    cli::finish(args)?;
    if let Some(extra) = split.operands.first() {
        return Err(Error::usage(format!(
            "unexpected operand {} (stanza-split reads stdin)",
            extra.to_string_lossy()
        )));
    }
    let (stdin, stdout) = (io::stdin(), io::stdout());
    // Before each read: until input comes, or nothing reads stdout any
    // more (then the pipeline's end is gone, and so is the session it fed).
    let wait = || wait_for_input(stdin.as_fd(), stdout.as_fd());
    let output = BufWriter::with_capacity(64 * 1024, stdout.lock());
    split_stream_with(stdin.lock(), output, max, wait)?;
    Ok(0)
}

/// Parse a byte count (now in the shared crate, where jid-route uses it too).
pub use xmpp_pipes::cli::parse_size;

/// Copy stanza lines from `input` to `output`; see the module documentation.
pub fn split_stream<R: io::Read, W: Write>(input: R, output: W, max: usize) -> Result<()> {
    split_stream_with(input, output, max, || Ok(()))
}

/// [`split_stream`], running `wait` before each read of `input`, once
/// the lines so far have left (its error ends the run).
fn split_stream_with<R: io::Read, W: Write>(
    input: R,
    output: W,
    max: usize,
    mut wait: impl FnMut() -> io::Result<()>,
) -> Result<()> {
    let output = RefCell::new(output);
    // Once the stream's close is passed on, its reader may go at once
    // (jid-route does): from then on only the end of the input is awaited.
    let closed = std::cell::Cell::new(false);
    // Lines leave when the input may block (see xmpp_pipes::flush).
    let reader = BufReader::with_capacity(
        64 * 1024,
        FlushBeforeRead::new(input, || {
            output.borrow_mut().flush()?;
            if closed.get() {
                return Ok(());
            }
            wait()
        }),
    );
    let mut framer = Framer::new(reader, max);
    let write_error =
        |e: io::Error| Error::new(Status::IoErr, format!("cannot write to stdout: {e}"));
    loop {
        let item = match framer.next_item() {
            Ok(item) => item,
            Err(err) => {
                output.borrow_mut().flush().map_err(write_error)?;
                return Err(match err {
                    FrameError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe => {
                        Error::new(Status::IoErr, format!("cannot write to stdout: {io}"))
                    }
                    FrameError::Io(io) => {
                        Error::new(Status::IoErr, format!("cannot read stdin: {io}"))
                    }
                    FrameError::TooLarge { max } => Error::data(format!(
                        "an element is larger than {max} bytes (--max-stanza) (after byte {})",
                        framer.position()
                    )),
                    other => Error::data(format!("{other} (after byte {})", framer.position())),
                });
            }
        };
        let mut out = output.borrow_mut();
        match item {
            Some(Item::Stanza(line)) => {
                out.write_all(line.as_bytes()).map_err(write_error)?;
                out.write_all(b"\n").map_err(write_error)?;
            }
            Some(Item::Close) => {
                out.write_all(b"</stream:stream>\n").map_err(write_error)?;
                closed.set(true);
            }
            Some(Item::Header(_)) => continue,
            None => return out.flush().map_err(write_error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("0").is_err());
        assert!(parse_size("10X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn splits_and_passes_the_close_on() {
        let input = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                     xmlns:stream='http://etherx.jabber.org/streams'> <message><body>a\nb</body></message>\
                     <presence/></stream:stream>";
        let mut out = Vec::new();
        split_stream(input.as_bytes(), &mut out, 4096).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<message><body>a&#10;b</body></message>\n<presence/>\n</stream:stream>\n"
        );
    }
}

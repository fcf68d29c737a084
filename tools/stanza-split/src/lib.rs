//! stanza-split: an XMPP stream in, stanza lines out.
//!
//! A thin layer over the shared crate's [`Framer`]: every top-level element
//! is written as one line and flushed as soon as its end tag has arrived (at the
//! latest before stanza-split waits for more input). Stream headers
//! are dropped, the stream's close is passed on as `</stream:stream>`.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::exit::{Error, Result, Status};
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
  74   read or write error (e.g. stdout closed)
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
    let stdin = io::stdin().lock();
    let stdout = io::stdout().lock();
    split_stream(
        BufReader::with_capacity(64 * 1024, stdin),
        BufWriter::with_capacity(64 * 1024, stdout),
        max,
    )?;
    Ok(0)
}

/// Parse a byte count (now in the shared crate, where jid-route uses it too).
pub use xmpp_pipes::cli::parse_size;

/// Copy stanza lines from `input` to `output`; see the module documentation.
///
/// Output is flushed whenever reading would block: before every read from
/// `input`'s underlying reader (when its buffer is empty), so a line never
/// waits in the output buffer for more input to arrive, while a burst of
/// stanzas already read is written in one go.
pub fn split_stream<R: io::Read, W: Write>(
    input: BufReader<R>,
    output: W,
    max: usize,
) -> Result<()> {
    let output = RefCell::new(FlushFirst {
        output,
        error: None,
    });
    let mut framer = Framer::new(
        FlushBeforeRead {
            input,
            output: &output,
        },
        max,
    );
    let write_error =
        |e: io::Error| Error::new(Status::IoErr, format!("cannot write to stdout: {e}"));
    loop {
        let item = framer.next_item();
        let mut out = output.borrow_mut();
        if let Some(err) = out.error.take() {
            return Err(write_error(err));
        }
        let item = match item {
            Ok(item) => item,
            Err(err) => {
                out.output.flush().map_err(write_error)?;
                return Err(match err {
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
        match item {
            Some(Item::Stanza(line)) => {
                out.output.write_all(line.as_bytes()).map_err(write_error)?;
                out.output.write_all(b"\n").map_err(write_error)?;
            }
            Some(Item::Close) => out
                .output
                .write_all(b"</stream:stream>\n")
                .map_err(write_error)?,
            Some(Item::Header(_)) => {}
            None => return out.output.flush().map_err(write_error),
        }
    }
}

/// The output, and the error of a flush done on the reader's behalf.
struct FlushFirst<W> {
    output: W,
    error: Option<io::Error>,
}

/// A `BufRead` that flushes the output before it reads from (and may block
/// on) the underlying reader.
struct FlushBeforeRead<'a, R, W> {
    input: BufReader<R>,
    output: &'a RefCell<FlushFirst<W>>,
}

impl<R: io::Read, W: Write> io::Read for FlushBeforeRead<'_, R, W> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: io::Read, W: Write> BufRead for FlushBeforeRead<'_, R, W> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.input.buffer().is_empty() {
            let mut out = self.output.borrow_mut();
            if let Err(err) = out.output.flush() {
                out.error = Some(io::Error::new(err.kind(), err.to_string()));
                // The caller sees a read error; split_stream reports the write error.
                return Err(err);
            }
        }
        self.input.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.input.consume(amount);
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
        split_stream(BufReader::new(input.as_bytes()), &mut out, 4096).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<message><body>a&#10;b</body></message>\n<presence/>\n</stream:stream>\n"
        );
    }
}

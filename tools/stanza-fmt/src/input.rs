//! Reading stdin outside `--dir` mode: line by line, or whole.

use crate::format::{Formatter, Origin};
use crate::text::{LineBuffer, Piece, MAX_LINE, MAX_WHOLE};
use std::io::{self, Read};
use xmpp_pipes::exit::{self, Error, Result, Status};

fn read_error(err: io::Error) -> Error {
    Error::new(Status::IoErr, format!("cannot read stdin: {err}"))
}

/// Counts the bad lines skipped with `--keep-going`.
#[derive(Debug, Default)]
pub struct Failures {
    count: usize,
}

impl Failures {
    /// Handle the outcome of one line: an output error always ends the run; a
    /// bad line ends it too unless `keep_going`, when it is reported and counted.
    pub fn handle(&mut self, outcome: Result<()>, keep_going: bool) -> Result<()> {
        match outcome {
            Err(err) if keep_going && err.status() == Status::DataErr => {
                exit::report("stanza-fmt", &err);
                self.count += 1;
                Ok(())
            }
            other => other,
        }
    }

    /// The outcome of the run: success, or exit 65 if lines were skipped.
    pub fn finish(self) -> Result<u8> {
        match self.count {
            0 => Ok(0),
            1 => Err(Error::data("1 bad input line was skipped")),
            n => Err(Error::data(format!("{n} bad input lines were skipped"))),
        }
    }
}

/// Read `input` line by line, each line acted on as soon as it is complete.
pub fn lines(mut input: impl Read, formatter: &mut Formatter<'_>, keep_going: bool) -> Result<u8> {
    let mut buffer = LineBuffer::new(MAX_LINE);
    let mut failures = Failures::default();
    let mut number = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pieces = Vec::new();
    loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_error(err)),
        };
        if n == 0 {
            pieces.extend(buffer.finish());
        } else {
            buffer.push(&chunk[..n], &mut pieces);
        }
        for piece in pieces.drain(..) {
            number += 1;
            let origin = Origin { pipe: None, number };
            failures.handle(formatter.stdin_line(origin, piece), keep_going)?;
        }
        if n == 0 {
            return failures.finish();
        }
    }
}

/// Read all of `input` and send it as one message to `--to` (nothing if it is blank).
pub fn whole(
    input: impl Read,
    formatter: &mut Formatter<'_>,
    to: &xmpp_pipes::jid::Jid,
) -> Result<u8> {
    let mut data = Vec::new();
    input
        .take(MAX_WHOLE as u64 + 1)
        .read_to_end(&mut data)
        .map_err(read_error)?;
    if data.len() > MAX_WHOLE {
        return Err(Error::data(format!(
            "the input is longer than {MAX_WHOLE} bytes, the most --whole sends as one message"
        )));
    }
    let text = formatter.clean(
        Origin {
            pipe: None,
            number: 1,
        },
        Piece::Line(data),
    )?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Ok(0);
    }
    formatter.text_message(to, text)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_end_the_run_unless_keep_going() {
        let bad = || Err(Error::data("line 1: bad"));
        let mut failures = Failures::default();
        assert!(failures.handle(bad(), false).is_err());
        assert!(failures.handle(Ok(()), true).is_ok());
        assert!(failures.handle(bad(), true).is_ok());
        let output_error = Err(Error::new(Status::IoErr, "stdout closed"));
        assert!(
            failures.handle(output_error, true).is_err(),
            "never skipped"
        );
        let err = failures.finish().unwrap_err();
        assert_eq!(err.status(), Status::DataErr);
        assert_eq!(err.message(), "1 bad input line was skipped");
        assert_eq!(Failures::default().finish().unwrap(), 0);
    }
}

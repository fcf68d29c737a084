//! Errors that carry an exit status, and the `main` wrapper that reports them.
//!
//! Every tool ends the same way: on success it exits 0 (or the status of the
//! program it ran); on failure it prints one line, `TOOL: what went wrong`,
//! on stderr and exits with a sysexits(3) status that scripts can act on.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Exit statuses (sysexits.h), as documented in every tool's manual page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 0: success.
    Ok = 0,
    /// 64: the command was used wrongly (unknown option, missing operand).
    Usage = 64,
    /// 65: the input data was bad (malformed XML, invalid UTF-8, bad JID).
    DataErr = 65,
    /// 66: an input file did not exist or was not readable.
    NoInput = 66,
    /// 67: the addressee is unknown or unavailable (a message bounced:
    /// item-not-found, service-unavailable, ...).
    NoUser = 67,
    /// 68: the addressee's host is unknown or unreachable (a message bounced:
    /// remote-server-not-found, remote-server-timeout).
    NoHost = 68,
    /// 69: the service is unavailable (no address, connection refused, no SRV service).
    Unavailable = 69,
    /// 70: an internal error (a bug: please report it).
    Software = 70,
    /// 71: a system error (cannot fork, cannot create a pipe).
    OsErr = 71,
    /// 73: an output file could not be created.
    CantCreat = 73,
    /// 74: an input/output error on a file or the terminal.
    IoErr = 74,
    /// 75: a temporary failure (timeout, connection lost, stanzas unacknowledged): try again later.
    TempFail = 75,
    /// 76: the peer broke the protocol (stream error, unexpected reply, TLS failure).
    Protocol = 76,
    /// 77: permission denied: authentication refused, certificate not trusted.
    NoPerm = 77,
    /// 78: a configuration error (unreadable or unsafe password file, bad CA file).
    Config = 78,
    /// 126: the next program exists but could not be run (as shells report it).
    CannotExecute = 126,
    /// 127: the next program was not found (as shells report it).
    CommandNotFound = 127,
}

impl Status {
    /// The numeric exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status with this numeric code, if it is one of ours.
    pub fn from_code(code: u8) -> Option<Status> {
        use Status::*;
        [
            Ok,
            Usage,
            DataErr,
            NoInput,
            NoUser,
            NoHost,
            Unavailable,
            Software,
            OsErr,
            CantCreat,
            IoErr,
            TempFail,
            Protocol,
            NoPerm,
            Config,
            CannotExecute,
            CommandNotFound,
        ]
        .into_iter()
        .find(|status| status.code() == code)
    }
}

/// An error on its way to becoming the tool's one line on stderr and its exit status.
#[derive(Debug)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    /// An error with the given status and message (no tool name, no trailing newline).
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Error {
            status,
            message: message.into(),
        }
    }

    /// Wrong usage (64).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Status::Usage, message)
    }

    /// Bad input data (65).
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(Status::DataErr, message)
    }

    /// Service unavailable (69).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Status::Unavailable, message)
    }

    /// Temporary failure, try again later (75).
    pub fn temp(message: impl Into<String>) -> Self {
        Self::new(Status::TempFail, message)
    }

    /// Protocol error by the peer (76).
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(Status::Protocol, message)
    }

    /// Permission or authentication refused (77).
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(Status::NoPerm, message)
    }

    /// Configuration error (78).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Status::Config, message)
    }

    /// A system call failed (71).
    pub fn os(what: &str, err: impl fmt::Display) -> Self {
        Self::new(Status::OsErr, format!("{what}: {err}"))
    }

    /// The exit status this error maps to.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The message, without the tool name.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefix the message with some context: `context: message`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    /// An I/O error on the network is a temporary failure; elsewhere the caller
    /// should add context with [`Error::context`] or build a better error.
    fn from(err: io::Error) -> Self {
        let status = match err.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Status::TempFail,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Status::TempFail,
            _ => Status::IoErr,
        };
        Error::new(status, err.to_string())
    }
}

/// Shorthand for results whose error is an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Run a tool's body and turn its outcome into the process exit code.
///
/// `body` returns the exit status to use on success (0, or the status of a
/// program the tool ran). An error is printed as `tool: message` on stderr.
pub fn run(tool: &str, body: impl FnOnce() -> Result<u8>) -> ExitCode {
    match body() {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            report(tool, &err);
            ExitCode::from(err.status().code())
        }
    }
}

/// Print `tool: message` on stderr (one line).
pub fn report(tool: &str, err: &Error) {
    let line = err.message().replace('\n', " ");
    print_line(&format!("{tool}: {line}\n"));
}

/// Print `tool: warning: message` on stderr.
pub fn warn(tool: &str, message: impl fmt::Display) {
    print_line(&format!("{tool}: warning: {message}\n"));
}

/// Write `line` to stderr in one `write(2)`, so that the lines of the tools
/// of one chain, which share stderr, do not interleave mid-line (as
/// `eprintln!` with arguments, one write per piece, lets them).
pub fn print_line(line: &str) {
    use std::io::Write;
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

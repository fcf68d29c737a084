//! UCSPI plumbing: the connection on fds 6 (read) and 7 (write).
//!
//! A connection stage hands its stream to the next program the way UCSPI
//! clients do: the program starts with the stream readable on fd 6 and
//! writable on fd 7, its stdin, stdout and stderr untouched. These helpers
//! check that the fds are there, and start the next program with new ones.

use crate::exit::{Error, Result, Status};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// The fd the next program reads the stream from.
pub const READ_FD: RawFd = 6;
/// The fd the next program writes the stream to.
pub const WRITE_FD: RawFd = 7;

/// Whether `fd` is open in this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: fcntl(F_GETFD) on any number is harmless; the borrow does not outlive the call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed).is_ok()
}

/// Take fds 6 and 7 as left by a UCSPI client, or explain how to run the tool.
pub fn take_stream_fds(tool: &str) -> Result<(OwnedFd, OwnedFd)> {
    for fd in [READ_FD, WRITE_FD] {
        if !fd_is_open(fd) {
            return Err(Error::usage(format!(
                "fd {fd} is not open: {tool} talks to the server on fds 6 and 7; \
                 run it under xmpp-connect, e.g. `xmpp-connect example.org {tool} ...`"
            )));
        }
    }
    // SAFETY: both fds were just checked to be open, and nothing else in this process owns them.
    let read = unsafe { OwnedFd::from_raw_fd(READ_FD) };
    let write = unsafe { OwnedFd::from_raw_fd(WRITE_FD) };
    // Keep them out of programs we start, unless we put them there on purpose.
    for fd in [&read, &write] {
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    }
    Ok((read, write))
}

/// A [`Command`] for `prog` (program and arguments), with `read` and `write`
/// placed on fds 6 and 7 in the child.
pub fn command_with_stream(prog: &[OsString], read: &OwnedFd, write: &OwnedFd) -> Result<Command> {
    command_with_fds(prog, &[(read, READ_FD), (write, WRITE_FD)])
}

/// The most fds [`command_with_fds`] places.
pub const MAX_PLACED: usize = 4;

/// A [`Command`] for `prog` with each `(fd, number)` placed on that number
/// in the child (at most [`MAX_PLACED`]): the stream on 6 and 7, and such
/// extra channels as [`crate::control`]'s.
pub fn command_with_fds(prog: &[OsString], fds: &[(&OwnedFd, RawFd)]) -> Result<Command> {
    let (name, args) = prog
        .split_first()
        .ok_or_else(|| Error::usage("no program to run"))?;
    if fds.len() > MAX_PLACED {
        return Err(Error::new(Status::Software, "too many fds to place"));
    }
    let mut command = Command::new(name);
    command.args(args);
    let mut pairs = [(-1, -1); MAX_PLACED];
    for (pair, (fd, target)) in pairs.iter_mut().zip(fds) {
        *pair = (fd.as_raw_fd(), *target);
    }
    let count = fds.len();
    // SAFETY: the closure only calls async-signal-safe functions (fcntl, dup2)
    // and allocates nothing.
    unsafe {
        command.pre_exec(move || place_fds(&pairs[..count]));
    }
    Ok(command)
}

/// In a freshly forked child: put each source fd on its target number, without CLOEXEC.
fn place_fds(pairs: &[(RawFd, RawFd)]) -> std::io::Result<()> {
    // Copies above every target first, so that placing one cannot clobber
    // the source of another.
    let mut high: [Option<OwnedFd>; MAX_PLACED] = Default::default();
    for (slot, &(source, _)) in high.iter_mut().zip(pairs) {
        // SAFETY: the fds are open (the parent holds them).
        *slot =
            Some(unsafe { rustix::io::fcntl_dupfd_cloexec(BorrowedFd::borrow_raw(source), 10)? });
    }
    for (slot, &(_, target)) in high.iter().zip(pairs) {
        let Some(source) = slot else { continue };
        // SAFETY: the target number is ours to replace in the child; forget it so it stays open.
        let mut target = unsafe { OwnedFd::from_raw_fd(target) };
        let placed = rustix::io::dup2(source, &mut target);
        std::mem::forget(target);
        placed?;
    }
    Ok(())
}

/// Start a program, mapping failures to start it to clear errors (126/127 as shells do).
pub fn spawn(command: &mut Command) -> Result<Child> {
    command.spawn().map_err(|err| spawn_error(command, err))
}

/// Replace this process with a program; returns only on failure.
pub fn exec(command: &mut Command) -> Error {
    let err = command.exec();
    spawn_error(command, err)
}

fn spawn_error(command: &Command, err: std::io::Error) -> Error {
    let name = command.get_program().to_string_lossy().into_owned();
    let status = match err.kind() {
        std::io::ErrorKind::NotFound => Status::CommandNotFound,
        _ => Status::CannotExecute,
    };
    Error::new(status, format!("cannot run {name}: {err}"))
}

/// The exit status to pass on for a finished child (128+signal for a signal, as shells do).
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => Status::Software.code(),
    }
}

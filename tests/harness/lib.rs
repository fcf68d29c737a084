#![warn(missing_docs)]
//! End-to-end test harness of xmpp-pipes.
//!
//! The tests run the workspace's tools as real processes against a real
//! Prosody server (and, for SRV tests, a dnsmasq; for interoperability, an
//! ejabberd) on 127.0.0.1. This crate starts those servers, makes the
//! certificates they use, finds the built tools and runs processes with
//! timeouts.
//!
//! Every child process is started from one dedicated thread with
//! `PR_SET_PDEATHSIG = SIGKILL`, so it dies when the test process exits, even
//! on panic or abort; values that own a process also kill it when dropped.

mod chain;
pub mod demo;
mod dns;
mod ejabberd;
mod go_sendxmpp;
mod hostile;
pub mod ii;
mod pki;
mod process;
mod prosody;
pub mod proxy;
mod raw;
mod servers;
mod tempdir;
pub mod upload;
mod watch;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;

pub use chain::{
    chat, connect, connect_with, isolate, login, online, online_with, os_args, Server, Transport,
    CONFIG_VARIABLES,
};
pub use dns::{Dns, SrvRecord};
pub use ejabberd::{Ejabberd, Version as EjabberdVersion};
pub use go_sendxmpp::GoSendxmpp;
pub use hostile::{Hostile, SaslPlay, Script, Seen, SessionPlay};
pub use pki::{spki_pin, CertKey, Pki};
pub use process::{run, spawn, Output, Spawned};
pub use prosody::{
    Account, Options as ProsodyOptions, Prosody, Version as ProsodyVersion, UPLOAD_LIMIT,
};
pub use raw::RawStream;
pub use servers::{run_on, ServerVersion};
pub use tempdir::TempDir;
pub use upload::{https_get, HttpStub, StubPlay};
pub use watch::{wait_for_file, wait_for_path};

/// Signals for [`Spawned::signal`].
pub use rustix::process::Signal;

/// The directory holding the built workspace binaries: the one above the
/// running executable's, for a test (`target/<profile>/deps/<test>`) or an
/// example (`target/<profile>/examples/<example>`); the executable's own
/// directory otherwise.
pub fn tools_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe
        .parent()
        .expect("the executable has a directory")
        .to_path_buf();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    dir
}

/// Path of a built workspace binary (`xmpp-connect`, `xmpp-auth`, …) in
/// [`tools_dir`]. Panics if it has not been built.
pub fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join(name);
    if !path.is_file() {
        panic!(
            "tool {name:?} not found at {}: build the workspace first: cargo build --workspace",
            path.display()
        );
    }
    path
}

/// `$PATH` with [`tools_dir`] first, so that scripts find the built tools.
pub fn path_with_tools() -> std::ffi::OsString {
    let mut dirs = vec![tools_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("no ':' in the tools' directory")
}

/// The repository's root directory (where `examples/` and `README.md` are).
pub fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `bash examples/<name>` with the built tools first on `$PATH`; append
/// the script's arguments.
pub fn example(name: &str) -> std::process::Command {
    let mut command = std::process::Command::new("bash");
    command
        .arg(repo_root().join("examples").join(name))
        .env("PATH", path_with_tools());
    command
}

/// `examples/echo-bot` as `bot` on `prosody` (STARTTLS, the harness CA),
/// its temporary files in `temp`.
pub fn echo_bot(prosody: &Prosody, bot: &Account, temp: &TempDir) -> std::process::Command {
    let mut command = example("echo-bot");
    command
        .arg(&bot.jid)
        .arg(&bot.password_file)
        .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
        .arg("--cafile")
        .arg(prosody.ca_pem())
        .env("TMPDIR", temp.path());
    command
}

/// Asserts that `line` is `YYYY-MM-DD HH:MM <who> text`, a line of a
/// tree's `DIR/<jid>/out` file (as jid-route and stanza-fmt write it).
#[track_caller]
pub fn assert_out_line(line: &str, who: &str, text: &str) {
    let (stamp, rest) = line.split_at(16);
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99 99:99", "{line}");
    assert_eq!(rest, format!(" <{who}> {text}"), "{line}");
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
/// the port, close; another process may take it in between).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A port on 127.0.0.1 that was free a moment ago for both UDP and TCP.
pub fn free_udp_tcp_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
        let port = udp.local_addr().expect("local_addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// A string unique within this test process (pid, counter and clock), for
/// account names, temp dirs and the like.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{n}x{nanos:x}", std::process::id())
}

/// `len` random lowercase letters and digits (from the kernel's random
/// source), e.g. for passwords.
pub fn random_string(len: usize) -> String {
    use std::io::Read;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Says that `test` was skipped because `why` (a program it needs cannot
/// run here), on the test process's real stderr, which the test runner does
/// not capture: a skipped test passes, but not silently. With
/// `XMPP_PIPES_REQUIRE_INTEROP=1` in the environment (tests/run sets it when
/// it could install everything), panics instead.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    if std::env::var_os("XMPP_PIPES_REQUIRE_INTEROP").is_some_and(|v| v == "1") {
        panic!("{test} cannot run, and XMPP_PIPES_REQUIRE_INTEROP=1: {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Long options (`--name`) mentioned in a text.
pub fn long_options(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("--") {
        let start = i + pos;
        let mut end = start + 2;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'-') {
            end += 1;
        }
        let preceded_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if end > start + 2 && preceded_ok && bytes[start + 2].is_ascii_alphabetic() {
            found.insert(text[start..end].to_owned());
        }
        i = end.max(start + 2);
    }
    found
}

/// The manual page `man/NAME.1` as plain text: roff's `\-` becomes `-`,
/// font escapes go. Panics if it is missing.
pub fn man_text(name: &str) -> String {
    let path = repo_root().join(format!("man/{name}.1"));
    let roff =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
    roff.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\fI", "")
}

/// Asserts that the manual page `text` (of `name`) has the sections users
/// look for.
#[track_caller]
pub fn assert_man_sections(name: &str, text: &str) {
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
    ] {
        assert!(
            text.contains(&format!("\n.SH {section}")),
            "man/{name}.1 lacks {section}"
        );
    }
}

/// The Python of the virtual environment tests/run makes for the independent
/// clients (`target/interop-venv`, with tests/interop/requirements.txt:
/// slixmpp), if it is there.
pub fn interop_python() -> Option<PathBuf> {
    let python = tools_dir().parent()?.join("interop-venv/bin/python");
    python.is_file().then_some(python)
}

/// [`interop_python`], or `None` after [`skip`]ping `test` (a panic under
/// `XMPP_PIPES_REQUIRE_INTEROP=1`).
pub fn interop_python_or_skip(test: &str) -> Option<PathBuf> {
    let python = interop_python();
    if python.is_none() {
        skip(
            test,
            "no target/interop-venv with slixmpp (tests/run makes it)",
        );
    }
    python
}

/// Where `tests/fetch-servers` unpacks the servers beside Debian 12's
/// (Prosody 13, ejabberd 24.12): `target/servers`.
pub fn servers_dir() -> PathBuf {
    tools_dir()
        .parent()
        .map(|target| target.join("servers"))
        .unwrap_or_else(|| repo_root().join("target/servers"))
}

/// A script of tests/interop.
pub fn interop_script(name: &str) -> PathBuf {
    repo_root().join("tests/interop").join(name)
}

/// Where the program `name` is: the first match in `$PATH`, then in the
/// sbin directories a user's `$PATH` often lacks; `name` itself if none
/// (so that spawning fails with "not found").
pub fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

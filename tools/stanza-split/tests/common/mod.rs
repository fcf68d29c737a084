//! Helpers shared by the stanza-split process tests: running the binary with
//! input written in chosen chunk sizes, reading its lines as they come, and a
//! small seeded PRNG.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_stanza-split");

/// How long any single step may take before a test gives up.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A stream header as a server sends it.
pub const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                          xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// What a finished run wrote and how it ended.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Bytes of input the child accepted before it closed its stdin.
    pub written: u64,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} after {} bytes in\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.written, self.stdout, self.stderr
        )
    }
}

/// A small seeded PRNG (splitmix64), for reproducible chunk sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// splitmix64.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next() % (high - low + 1) as u64) as usize
    }
}

/// Start stanza-split with `args`, all three stdio piped.
pub fn start(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stanza-split")
}

fn collect(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8(buf).expect("stanza-split writes UTF-8")
    })
}

/// Write `input` to `stdin` one `write()` per chunk, sizes from `chunks`
/// (cycled); returns how many bytes were accepted before an error.
pub fn write_chunked(
    mut stdin: ChildStdin,
    input: &[u8],
    chunks: &mut dyn FnMut() -> usize,
) -> u64 {
    let mut rest = input;
    let mut written = 0;
    while !rest.is_empty() {
        let n = chunks().clamp(1, rest.len());
        // One write() per chunk: a pipe write of a few bytes is never split or merged here.
        match stdin.write(&rest[..n]) {
            Ok(k) => {
                written += k as u64;
                rest = &rest[k..];
            }
            Err(_) => break,
        }
    }
    written
}

/// Run stanza-split on `input`, written in chunks whose sizes `chunks` gives;
/// panics if it does not finish within [`LIMIT`].
pub fn run_chunked(
    args: &[&str],
    input: Vec<u8>,
    mut chunks: impl FnMut() -> usize + Send + 'static,
) -> Run {
    let mut child = start(args);
    let stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || write_chunked(stdin, &input, &mut chunks));
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let status = wait_timeout(child, LIMIT);
    Run {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        written: writer.join().unwrap(),
    }
}

/// Run stanza-split on `input` written whole.
pub fn run(args: &[&str], input: impl Into<Vec<u8>>) -> Run {
    run_chunked(args, input.into(), || usize::MAX)
}

/// Wait for `child`, killing it (and panicking) after `timeout`.
pub fn wait_timeout(mut child: Child, timeout: Duration) -> ExitStatus {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(timeout) {
        Ok(status) => status.expect("wait for stanza-split"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("stanza-split (pid {pid}) did not finish within {timeout:?}");
        }
    }
}

/// A running stanza-split whose output lines arrive on a channel as they are written.
pub struct Live {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
}

impl Live {
    pub fn start(args: &[&str]) -> Live {
        let mut child = start(args);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            stdin,
            lines,
        }
    }

    /// Write `data` in one `write()` call.
    pub fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        assert_eq!(
            stdin.write(data).expect("write to stanza-split"),
            data.len()
        );
    }

    /// The next line, waiting at most [`LIMIT`].
    #[track_caller]
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(LIMIT)
            .expect("a line from stanza-split in time")
    }

    /// Close stdin and return the exit status and the lines not read yet.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
        self.stdin = None;
        let status = wait_timeout(self.child, LIMIT);
        (status, self.lines.iter().collect())
    }
}

//! Starting child processes so that they die with the test process, and
//! running them with timeouts.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use rustix::process::{Pid, Signal};

struct Request {
    cmd: Command,
    reply: mpsc::Sender<std::io::Result<Child>>,
}

/// The spawner thread's inbox. The thread never returns: `PR_SET_PDEATHSIG`
/// fires when the *thread* that forked a child exits, not the process.
fn spawner() -> &'static mpsc::Sender<Request> {
    static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        thread::Builder::new()
            .name("harness-spawner".into())
            .spawn(move || {
                let parent = std::process::id() as i32;
                // The sender lives in a static, so `recv` never fails.
                while let Ok(Request { mut cmd, reply }) = rx.recv() {
                    // SAFETY: only async-signal-safe syscalls (prctl, getppid).
                    unsafe {
                        cmd.pre_exec(move || {
                            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                            // The parent may have died before prctl.
                            if Pid::as_raw(rustix::process::getppid()) != parent {
                                return Err(std::io::Error::other("parent died"));
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
                loop {
                    thread::park();
                }
            })
            .expect("start spawner thread");
        tx
    })
}

/// Spawns `cmd` from the harness's spawner thread, with
/// `PR_SET_PDEATHSIG = SIGKILL` and in a new process group of its own (so
/// killing the group reaches its descendants too). Stdio is as set on `cmd`.
pub fn spawn(mut cmd: Command) -> std::io::Result<Child> {
    cmd.process_group(0);
    let (tx, rx) = mpsc::channel();
    spawner()
        .send(Request { cmd, reply: tx })
        .expect("spawner thread is gone");
    rx.recv().expect("spawner thread dropped the request")
}

/// Sends `sig` to the process group led by `pid` (as made by [`spawn`]).
pub(crate) fn kill_group(pid: u32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

/// What a process run by [`run`] did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// The exit code, `None` if killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Panics with both outputs unless the process exited with status 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "process failed: {self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout_str(),
            self.stderr_str()
        )
    }
}

fn read_all(mut r: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `cmd` to completion with `stdin` as its input, collecting stdout and
/// stderr. On timeout kills its process group and panics with what it wrote.
#[track_caller]
pub fn run(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn(cmd).unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let pid = child.id();
    let mut child_stdin = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    thread::spawn(move || {
        let _ = child_stdin.write_all(&input);
    });
    let out = read_all(child.stdout.take().expect("stdout"));
    let err = read_all(child.stderr.take().expect("stderr"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let status = child.wait();
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        let _ = tx.send((status, stdout, stderr));
    });
    let (status, stdout, stderr) = match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            kill_group(pid, Signal::KILL);
            let partial = rx
                .recv_timeout(Duration::from_secs(5))
                .map(|(_, o, e)| {
                    format!(
                        "--- stdout ---\n{}\n--- stderr ---\n{}",
                        String::from_utf8_lossy(&o),
                        String::from_utf8_lossy(&e)
                    )
                })
                .unwrap_or_default();
            panic!("timeout after {timeout:?} running {what}; killed it\n{partial}");
        }
    };
    let status = status.unwrap_or_else(|e| panic!("wait for {what}: {e}"));
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A long-running child process with its stdout read line by line, its
/// stdin writable and its stderr collected; killed (with its process group)
/// on drop.
pub struct Spawned {
    what: String,
    pid: u32,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Told when the stderr reader saw the end of the pipe.
    stderr_done: mpsc::Receiver<()>,
    exit: mpsc::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
}

impl Spawned {
    /// Starts `cmd` with piped stdin, stdout and stderr. Panics if it cannot
    /// be started.
    #[track_caller]
    pub fn start(mut cmd: Command) -> Spawned {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd).unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let pid = child.id();
        let stdin = child.stdin.take();

        let (line_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                        }
                        if line_tx
                            .send(String::from_utf8_lossy(&buf).into_owned())
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut child_stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        let (stderr_tx, stderr_done) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = child_stderr.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            let _ = stderr_tx.send(());
        });

        let (exit_tx, exit) = mpsc::channel();
        thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });

        Spawned {
            what,
            pid,
            stdin,
            lines,
            stderr,
            stderr_done,
            exit,
            status: None,
        }
    }

    /// The child's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next line of stdout without its `\n`; `None` on timeout or when
    /// stdout is closed and all lines were read.
    pub fn read_line_timeout(&mut self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Reads lines until one satisfies `pred` and returns it; panics (with
    /// the lines skipped and stderr) on timeout or end of stdout.
    #[track_caller]
    pub fn expect_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(line) => skipped.push(line),
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => "timeout",
                        RecvTimeoutError::Disconnected => "end of stdout",
                    };
                    panic!(
                        "{why} waiting for a line from {}\n--- lines read ---\n{}\n--- stderr ---\n{}",
                        self.what,
                        skipped.join("\n"),
                        self.stderr()
                    );
                }
            }
        }
    }

    /// Writes `data` to the child's stdin; panics if stdin was closed or the
    /// write fails.
    #[track_caller]
    pub fn write(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(data)
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("write to {}: {e}\nstderr:\n{}", self.what, self.stderr()));
    }

    /// Writes `line` and a `\n` to the child's stdin.
    #[track_caller]
    pub fn write_line(&mut self, line: &str) {
        self.write(format!("{line}\n").as_bytes());
    }

    /// Closes the child's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// What the child has written to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still
    /// running.
    /// Once it exited, what it wrote to stderr is all in [`Spawned::stderr`]
    /// (the reader has seen the pipe's end, or a few seconds passed: a
    /// grandchild may hold it open).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.exit.recv_timeout(timeout).ok();
            if self.status.is_some() {
                let _ = self.stderr_done.recv_timeout(Duration::from_secs(5));
            }
        }
        self.status
    }

    /// Sends `sig` to the child's process group.
    pub fn signal(&self, sig: Signal) {
        kill_group(self.pid, sig);
    }

    /// Kills the child's process group with SIGKILL and waits for the child.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        kill_group(self.pid, Signal::KILL);
        self.wait_timeout(Duration::from_secs(10))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Also reaches grandchildren still in the group after the child exited.
        kill_group(self.pid, Signal::KILL);
    }
}

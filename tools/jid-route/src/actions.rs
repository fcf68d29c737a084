//! Carrying out rules' actions: stdout, appended files, long-running
//! commands (`| CMD`) and commands run per stanza (`! CMD`).

use crate::rules::{Action, Rule};
use crate::stanza::Stanza;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use xmpp_pipes::exit::{warn, Error, Result, Status};
use xmpp_pipes::jid::Jid;

const TOOL: &str = "jid-route";

/// Write `data` on standard output and flush it (74 if that fails).
pub fn write_stdout(data: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(|e| Error::new(Status::IoErr, format!("cannot write to stdout: {e}")))
}

/// `sh -c CMD` with the stanza's fields in the environment (see
/// [`Stanza::env`]; variables without a value are removed, so that none
/// leaks in from jid-route's own environment).
pub fn shell(command: &str, stanza: Option<&Stanza>, sender: Option<&Jid>) -> Command {
    let mut shell = Command::new("/bin/sh");
    shell.arg("-c").arg(command);
    if let Some(stanza) = stanza {
        set_env(&mut shell, stanza, sender);
    }
    shell
}

/// Put the stanza's fields in a command's environment.
pub fn set_env(command: &mut Command, stanza: &Stanza, sender: Option<&Jid>) {
    for (name, value) in stanza.env(sender) {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
}

/// Run `command` with `input` on its standard input (written by a thread,
/// so that a command that does not read it cannot block jid-route), its
/// standard output captured if `capture`; wait for it. With a `timeout`,
/// the command runs in its own process group, which is killed when the
/// time is up (the error is then of kind `TimedOut`).
pub fn run_with_input(
    command: &mut Command,
    input: &[u8],
    capture: bool,
    timeout: Option<std::time::Duration>,
) -> io::Result<std::process::Output> {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    command.stdin(Stdio::piped());
    if capture {
        command.stdout(Stdio::piped());
    }
    if timeout.is_some() {
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    std::thread::scope(|scope| {
        if let Some(mut stdin) = stdin {
            scope.spawn(move || {
                let _ = stdin.write_all(input);
            });
        }
        let reader = stdout.map(|mut stdout| {
            scope.spawn(move || {
                let mut data = Vec::new();
                let _ = stdout.read_to_end(&mut data);
                data
            })
        });
        let status = match timeout {
            None => child.wait(),
            Some(limit) => wait_until(&mut child, std::time::Instant::now() + limit),
        };
        let stdout = reader
            .map(|reader| reader.join().unwrap_or_default())
            .unwrap_or_default();
        Ok(std::process::Output {
            status: status?,
            stdout,
            stderr: Vec::new(),
        })
    })
}

/// Wait for `child` until `deadline`; then kill its process group.
fn wait_until(
    child: &mut Child,
    deadline: std::time::Instant,
) -> io::Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() >= deadline {
            if let Some(group) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let _ = child.wait();
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Expand a leading `~/` to `$HOME/`: rules are usually quoted, so the
/// shell has not done it (crontab lines especially).
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The open files and running commands of the rules.
#[derive(Default)]
pub struct Actions {
    files: HashMap<String, File>,
    pipes: HashMap<String, (Child, ChildStdin)>,
}

impl Actions {
    /// Open every `>> FILE` of the rules (`O_APPEND|O_CREAT`, mode 0600): a
    /// file that cannot be opened is an error (73) before any input is read.
    pub fn open(rules: &[Rule]) -> Result<Actions> {
        let mut actions = Actions::default();
        for rule in rules {
            if let Action::Append(name) = &rule.action {
                if actions.files.contains_key(name) {
                    continue;
                }
                let path = expand_home(name);
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| {
                        Error::new(
                            Status::CantCreat,
                            format!("rule {:?}: cannot open {}: {e}", rule.text, path.display()),
                        )
                    })?;
                actions.files.insert(name.clone(), file);
            }
        }
        Ok(actions)
    }

    /// Do what `action` says with `stanza`.
    pub fn perform(
        &mut self,
        action: &Action,
        stanza: &Stanza,
        sender: Option<&Jid>,
    ) -> Result<()> {
        let line = format!("{}\n", stanza.line);
        match action {
            Action::Stdout => write_stdout(line.as_bytes()),
            Action::Drop => Ok(()),
            Action::Append(name) => {
                let file = self
                    .files
                    .get_mut(name)
                    .ok_or_else(|| Error::new(Status::Software, format!("{name} is not open")))?;
                // One write() for the whole line, so that lines do not interleave.
                file.write_all(line.as_bytes())
                    .map_err(|e| Error::new(Status::IoErr, format!("cannot write {name}: {e}")))
            }
            Action::Pipe(command) => {
                self.pipe(command, line.as_bytes());
                Ok(())
            }
            Action::Run(command) => {
                let mut shell = shell(command, Some(stanza), sender);
                match run_with_input(&mut shell, line.as_bytes(), false, None) {
                    Ok(output) if output.status.success() => {}
                    Ok(output) => warn(TOOL, format!("! {command}: {}", output.status)),
                    Err(err) => warn(TOOL, format!("! {command}: cannot run: {err}")),
                }
                Ok(())
            }
        }
    }

    /// Write to a long-running command, starting it if it is not running
    /// (again, if it has exited: once per stanza at most).
    fn pipe(&mut self, command: &str, line: &[u8]) {
        if let Some((_, stdin)) = self.pipes.get_mut(command) {
            if stdin.write_all(line).is_ok() {
                return;
            }
            if let Some((child, _)) = self.pipes.remove(command) {
                report_exit(command, child);
            }
        }
        let mut shell = shell(command, None, None);
        shell.stdin(Stdio::piped());
        let started = shell.spawn().and_then(|mut child| {
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| io::Error::other("no stdin"))?;
            stdin.write_all(line)?;
            Ok((child, stdin))
        });
        match started {
            Ok(running) => {
                self.pipes.insert(command.to_owned(), running);
            }
            Err(err) => warn(TOOL, format!("| {command}: {err}; a stanza is lost")),
        }
    }

    /// End of input: close the long-running commands' input and wait for them.
    pub fn finish(&mut self) {
        for (command, (child, stdin)) in self.pipes.drain() {
            drop(stdin);
            report_exit(&command, child);
        }
    }
}

fn report_exit(command: &str, mut child: Child) {
    match child.wait() {
        Ok(status) if status.success() => {}
        Ok(status) => warn(TOOL, format!("| {command}: {status}")),
        Err(err) => warn(TOOL, format!("| {command}: {err}")),
    }
}

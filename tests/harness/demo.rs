//! The newcomer's first run (`./demo`, or `cargo run --example demo` once
//! the tools are built): a throwaway Prosody on 127.0.0.1, two accounts,
//! the README's cron notifier from alice to bob, and the message arriving
//! in bob's ii-style directory tree. Every command is printed as it is run
//! (`sh -c` with `$DEMO` set to the server's scratch directory and the built
//! tools first on `$PATH`), with what came of it; everything is stopped and
//! removed at the end, on failure too (the processes and temp dirs are owned
//! by values that clean up when dropped).

use crate::{path_with_tools, repo_root, run as run_to_end, tools_dir, wait_for_file};
use crate::{Account, Output, Prosody, Spawned};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long any one step may take.
const LIMIT: Duration = Duration::from_secs(30);
/// The tools the demo's commands use.
const TOOLS: [&str; 5] = [
    "xmpp-connect",
    "xmpp-auth",
    "stanza-split",
    "stanza-fmt",
    "jid-route",
];
/// What alice's notifier sends.
const TEXT: &str = "backup done";
/// Where a step's details start (after `[n/5] `).
const INDENT: &str = "      ";

/// Runs the demo, writing its account of each step to `out`. Returns a
/// one-line reason if something is missing or a step fails; the harness
/// panics (with the details) on a timeout.
pub fn run(out: &mut impl Write) -> Result<(), String> {
    preflight()?;
    let mut say = Say { out };
    say.line("xmpp-pipes demo: alice sends bob a message through the five tools.\n")?;

    say.step(
        1,
        "A throwaway Prosody on 127.0.0.1, with its own CA, config and accounts",
    )?;
    let prosody = Prosody::start();
    let demo = prosody.scratch_dir().to_path_buf();
    let host = format!("127.0.0.1:{}", prosody.starttls_port());
    std::fs::copy(prosody.ca_pem(), demo.join("ca.pem"))
        .map_err(|e| format!("cannot copy the CA certificate: {e}"))?;
    let (alice, bob) = (prosody.account("alice"), prosody.account("bob"));
    say.detail(&format!(
        "listening on {host}; accounts {} and {}",
        alice.jid, bob.jid
    ))?;
    say.detail(&format!("DEMO={} (removed at the end)", demo.display()))?;
    let password_file =
        |account: &Account| format!("$DEMO/accounts/{}", file_name(&account.password_file));

    say.step(
        2,
        "Bob comes online with the ii-style client: his session is a directory tree",
    )?;
    let receiver = format!(
        "examples/ii-client run $DEMO/bob {} {} \\\n    --host {host} --cafile $DEMO/ca.pem",
        bob.jid,
        password_file(&bob)
    );
    say.command(&format!("{receiver} &"))?;
    let mut session = Spawned::start(shell(&receiver, &demo));
    wait_for_file(&demo.join("bob/mypresence"), LIMIT, |text| {
        text.contains("available")
    });
    say.detail("online: $DEMO/bob/mypresence says \"available\"")?;

    say.step(
        3,
        "Alice's notifier sends one message, the way a cron job would",
    )?;
    let notifier = format!(
        "printf '{TEXT}\\n' | stanza-fmt --whole --to {} \\\n  | xmpp-connect --host {host} --cafile $DEMO/ca.pem localhost \\\n    xmpp-auth --password-file {} {} > /dev/null",
        bob.jid,
        password_file(&alice),
        alice.jid
    );
    say.command(&notifier)?;
    let sent = run_to_end(shell(&notifier, &demo), b"", LIMIT);
    check(&sent, "the notifier")?;
    say.detail("exit status 0: the server acknowledged the message")?;

    say.step(4, "The message arrives in bob's tree")?;
    let out_file = format!("bob/{}/out", alice.jid);
    say.command(&format!("cat $DEMO/{out_file}"))?;
    let conversation = wait_for_file(&demo.join(&out_file), LIMIT, |text| text.contains(TEXT));
    for line in conversation.lines() {
        say.detail(line)?;
    }

    say.step(5, "Clean up")?;
    let stop = "examples/ii-client stop $DEMO/bob";
    say.command(stop)?;
    check(
        &run_to_end(shell(stop, &demo), b"", LIMIT),
        "ii-client stop",
    )?;
    let status = session
        .wait_timeout(LIMIT)
        .ok_or("bob's session did not end")?;
    say.detail(&format!("bob's session ended: {}", describe(status.code())))?;
    prosody.stop();
    drop(prosody);
    let gone = if demo.exists() {
        "could not remove"
    } else {
        "removed"
    };
    say.detail(&format!("Prosody stopped, $DEMO {gone}"))?;

    say.line(&format!(
        "\nDelivered. The tools are in {}; README.md shows the pipelines.",
        shorten(&tools_dir()).display()
    ))
}

/// Says what to do when the tools or Prosody are missing.
fn preflight() -> Result<(), String> {
    let dir = tools_dir();
    if let Some(missing) = TOOLS.iter().find(|tool| !dir.join(tool).is_file()) {
        return Err(format!(
            "{missing} is not built in {}: run ./demo, or cargo build --workspace --bins first",
            dir.display()
        ));
    }
    for program in ["prosody", "prosodyctl"] {
        if !crate::find_program(program).is_file() {
            return Err(format!(
                "{program} is not installed: run ./demo as root to install it, or: sudo apt-get install prosody"
            ));
        }
    }
    Ok(())
}

/// `sh -c TEXT` in the repository, with `$DEMO` and the built tools first on `$PATH`.
fn shell(text: &str, demo: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", text])
        .current_dir(repo_root())
        .env("DEMO", demo)
        .env("PATH", path_with_tools());
    command
}

/// Ok if `output` is a success, else what `what` said.
fn check(output: &Output, what: &str) -> Result<(), String> {
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}",
        describe(output.code()),
        output.stderr_str().trim()
    ))
}

/// "exit status N", or that a signal ended the process.
fn describe(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_owned(),
    }
}

/// A path's last component, as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `path` relative to the repository when it is inside it.
fn shorten(path: &Path) -> PathBuf {
    path.strip_prefix(repo_root())
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The demo's output: numbered steps, commands and their results.
struct Say<'a, W: Write> {
    out: &'a mut W,
}

impl<W: Write> Say<'_, W> {
    /// A line as it is.
    fn line(&mut self, text: &str) -> Result<(), String> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .map_err(|e| format!("cannot write the demo's output: {e}"))
    }

    /// The heading of step `n`.
    fn step(&mut self, n: usize, title: &str) -> Result<(), String> {
        self.line(&format!("[{n}/5] {title}"))
    }

    /// A command about to run, `$ ` before its first line.
    fn command(&mut self, text: &str) -> Result<(), String> {
        self.detail(&format!(
            "$ {}",
            text.replace('\n', &format!("\n{INDENT}  "))
        ))
    }

    /// A result under the current step.
    fn detail(&mut self, text: &str) -> Result<(), String> {
        self.line(&format!("{INDENT}{text}"))
    }
}

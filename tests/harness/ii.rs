//! The ii tree's client (`examples/ii-client`) as the tests of the tree
//! run it: started for an account of the harness Prosody, waited for until
//! it is connected, stopped cleanly; and the long lines they write to it.

use crate::{wait_for_file, Account, Prosody, Spawned};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// `ii-client run DIR JID PASSWORD_FILE --host ... --cafile ...` for
/// `account` on `prosody` (STARTTLS, the harness CA).
pub fn run(prosody: &Prosody, account: &Account, dir: &Path) -> Command {
    let mut command = crate::example("ii-client");
    let port = format!("127.0.0.1:{}", prosody.starttls_port());
    command
        .args(["run"])
        .arg(dir)
        .arg(&account.jid)
        .arg(&account.password_file)
        .arg("--host")
        .arg(port)
        .arg("--cafile")
        .arg(prosody.ca_pem());
    command
}

/// `ii-client stop DIR`, then `run` (`session`) ends with success.
pub fn stop(dir: &Path, session: &mut Spawned) {
    let mut stop = crate::example("ii-client");
    stop.arg("stop").arg(dir);
    crate::run(stop, b"", LIMIT).assert_success();
    let status = session.wait_timeout(LIMIT).expect("ii-client run ends");
    assert!(status.success(), "{status:?}\n{}", session.stderr());
    // A clean stop is no failure of a tool (bash tells a job killed by a
    // signal as "Terminated").
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(!log.contains("Terminated"), "DIR/log:\n{log}");
}

/// Start `ii-client run` and wait until it is connected.
pub fn start(prosody: &Prosody, account: &Account, dir: &Path) -> Spawned {
    let session = Spawned::start(run(prosody, account, dir));
    wait_for_file(&dir.join("state"), LIMIT, |state| {
        state.starts_with("connected ")
    });
    session
}

/// The body of a stanza line (plain text, nothing escaped in it).
pub fn body(line: &str) -> &str {
    let start = line.find("<body>").expect("a body") + "<body>".len();
    &line[start..start + line[start..].find("</body>").expect("</body>")]
}

/// `words` words of `marker`'s line: plain ASCII, a blank between.
pub fn long_line(marker: &str, words: usize) -> String {
    let mut line = marker.to_owned();
    for n in 0..words {
        line.push_str(&format!(" word{n:06}"));
    }
    line
}

//! The session's input has one writer (examples/ii-client, against the
//! harness Prosody): `stanza-fmt --dir DIR --relay DIR/in` passes on what
//! the other writers of `DIR/in` write (jid-route's replies, `ii-client
//! cmd`, scripts) and sends the contacts' lines, each line with one write
//! of its own to xmpp-auth, so that a contact's message far over PIPE_BUF
//! is never interleaved with a small stanza written to `DIR/in` at the same
//! moment: both arrive, nothing is refused.

use harness::ii::{body, long_line, start, stop};
use harness::{wait_for_path, Prosody, Spawned, TempDir};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// Fewest small stanzas written to `DIR/in`, and most.
const SMALL: (usize, usize) = (200, 2000);

/// The next line of `client` that satisfies `wanted`, or a panic that shows
/// DIR/log (where xmpp-auth tells what it refused).
fn expect_or_show_log(
    client: &mut Spawned,
    dir: &Path,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.read_line_timeout(left) {
            Some(line) if wanted(&line) => return line,
            Some(_) => {}
            None => {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                let refused: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("refused"))
                    .map(|l| &l[..l.len().min(300)])
                    .collect();
                panic!(
                    "{what} did not arrive within {LIMIT:?}; DIR/log has {} refusal(s):\n{}",
                    refused.len(),
                    refused.join("\n")
                );
            }
        }
    }
}

#[test]
fn a_contact_line_over_pipe_buf_and_stanzas_written_to_dir_in_meanwhile_all_arrive() {
    let prosody = Prosody::shared();
    let (alice, bob, carol) = (
        prosody.new_account("alice"),
        prosody.new_account("bob"),
        prosody.new_account("carol"),
    );
    let temp = TempDir::new("tree-input");
    let dir = temp.join("xmpp");
    let mut session = start(prosody, &bob, &dir);
    // Prosody 13 announces its limit: a line of 198 KB goes as one message.
    let limit = harness::wait_for_file(&dir.join(".max-stanza"), LIMIT, |l| !l.is_empty());
    assert_eq!(limit, "262144\n");
    let mut alice_online = harness::online(prosody, &alice);
    let mut carol_online = harness::online(prosody, &carol);
    std::fs::create_dir_all(dir.join(&alice.jid)).unwrap();
    let alice_in = dir.join(&alice.jid).join("in");
    wait_for_path(&alice_in, LIMIT);
    let long = long_line(&harness::unique("long"), 18_000);
    // Far over PIPE_BUF, and over a pipe's 64 KiB: its write(2) cannot be
    // done before the reader took part of it.
    assert!(long.len() > 190_000, "{}", long.len());

    // Another writer of DIR/in: small messages to carol, each with one
    // write(2), from before the long line is written until it arrived (at
    // least SMALL.0 of them, at most SMALL.1).
    let tag = harness::unique("small");
    let done = Arc::new(AtomicBool::new(false));
    let (started, writing) = mpsc::channel();
    let writer = {
        let (dir_in, carol, tag, done) =
            (dir.join("in"), carol.jid.clone(), tag.clone(), done.clone());
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new()
                .write(true)
                .open(dir_in)
                .expect("DIR/in has its reader");
            let mut sent = 0;
            while sent < SMALL.1 && (sent < SMALL.0 || !done.load(Ordering::Relaxed)) {
                pipe.write_all(harness::chat(&carol, &format!("{tag} {sent}")).as_bytes())
                    .expect("write to DIR/in");
                sent += 1;
                if sent == 20 {
                    let _ = started.send(());
                }
            }
            sent
        })
    };
    writing
        .recv_timeout(LIMIT)
        .expect("the writer of DIR/in runs");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&alice_in)
        .and_then(|mut pipe| pipe.write_all(format!("{long}\n").as_bytes()))
        .unwrap();
    let got = expect_or_show_log(&mut alice_online, &dir, "the long line", |line| {
        line.contains(&long[..30])
    });
    done.store(true, Ordering::Relaxed);
    let sent = writer.join().unwrap();
    assert_eq!(body(&got), long, "the long line whole");

    // Every small one, in order.
    for n in 0..sent {
        let text = format!("{tag} {n}");
        let line = expect_or_show_log(&mut carol_online, &dir, &text, |line| line.contains(&tag));
        assert_eq!(body(&line), text, "small stanzas in order");
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert!(!log.contains("refused"), "{log}");
    eprintln!(
        "acceptance: a line of {} bytes to alice whole, and {sent} small stanzas written to DIR/in meanwhile, all arrived; nothing refused",
        long.len()
    );
    alice_online.close_stdin();
    carol_online.close_stdin();
    stop(&dir, &mut session);
}

/// The pid of the session's stanza-fmt, as `ii-client run` notes it.
fn stanza_fmt_pid(dir: &Path) -> rustix::process::Pid {
    let pid = harness::wait_for_file(&dir.join(".stanza-fmt.pid"), LIMIT, |t| t.ends_with('\n'));
    rustix::process::Pid::from_raw(pid.trim().parse().expect("a pid")).expect("not 0")
}

/// Stop `pid` (SIGSTOP) and return once it is stopped (its state in
/// /proc is `T`): from then on it reads nothing until SIGCONT.
fn freeze(pid: rustix::process::Pid) {
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let stat = format!("/proc/{}/stat", pid.as_raw_nonzero());
    let deadline = Instant::now() + LIMIT;
    loop {
        let text = std::fs::read_to_string(&stat).unwrap();
        // "PID (COMM) STATE ...": COMM may hold blanks, never a ')' here.
        let state = text.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
        if state == Some("T") {
            return;
        }
        assert!(Instant::now() < deadline, "{stat}: {text}");
        std::thread::yield_now();
    }
}

/// `ii-client ARGS...` succeeds.
fn ii_client(args: &[&std::ffi::OsStr]) {
    let mut command = harness::example("ii-client");
    command.args(args);
    harness::run(command, b"", LIMIT).assert_success();
}

/// Bob's session in a fresh tree `DIR` (ii-client), and alice online.
struct BobAndAlice {
    /// Bind it, not `..`: it removes the tree when dropped.
    _temp: TempDir,
    dir: std::path::PathBuf,
    session: Spawned,
    alice: harness::Account,
    alice_online: Spawned,
}

fn bob_and_alice(name: &str) -> BobAndAlice {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new(name);
    let dir = temp.join("xmpp");
    let session = start(prosody, &bob, &dir);
    let alice_online = harness::online(prosody, &alice);
    BobAndAlice {
        _temp: temp,
        dir,
        session,
        alice,
        alice_online,
    }
}

/// How a test stops `ii-client run`.
#[derive(Debug, Clone, Copy)]
enum StopBy {
    /// `ii-client stop DIR`.
    Command,
    /// SIGTERM to run itself (kill, a service manager).
    Sigterm,
    /// SIGINT to run's whole process group, as a terminal's Ctrl-C.
    CtrlC,
    /// SIGHUP to run's whole process group, as a terminal closed.
    Hangup,
}

/// A say and a cmd written while stanza-fmt cannot read (stopped), then
/// the session stopped `how`: both reach alice, run exits 0, DIR/log says
/// no more than before, and no tool of the session is left.
fn what_was_written_just_before_a_stop_is_sent(how: StopBy) {
    use rustix::process::{kill_process, kill_process_group, Pid, Signal};
    let BobAndAlice {
        dir,
        mut session,
        alice,
        mut alice_online,
        _temp,
    } = bob_and_alice(&format!("tree-stop-{how:?}"));
    std::fs::create_dir_all(dir.join(&alice.jid)).unwrap();
    wait_for_path(&dir.join(&alice.jid).join("in"), LIMIT);
    let log_before = std::fs::read_to_string(dir.join("log")).unwrap_or_default();

    // stanza-fmt stopped: what say and cmd write stays in its pipes, unread,
    // when the stop comes; only then does it go on (SIGCONT).
    let pid = stanza_fmt_pid(&dir);
    freeze(pid);
    let said = harness::unique("said");
    let commanded = harness::unique("commanded");
    let os = |s: &str| std::ffi::OsString::from(s);
    let (d, a) = (dir.as_os_str().to_owned(), os(&alice.jid));
    ii_client(&[&os("say"), &d, &a, &os(&said)]);
    ii_client(&[&os("cmd"), &d, &os("/msg"), &a, &os(&commanded)]);
    let run = Pid::from_raw(session.pid() as i32).expect("not 0");
    match how {
        StopBy::Command => ii_client(&[&os("stop"), &d]),
        StopBy::Sigterm => kill_process(run, Signal::TERM).unwrap(),
        StopBy::CtrlC => kill_process_group(run, Signal::INT).unwrap(),
        StopBy::Hangup => kill_process_group(run, Signal::HUP).unwrap(),
    }
    kill_process(pid, Signal::CONT).unwrap();

    // In either order: the relay pipe and the contact's are read one after the other.
    let mut got: Vec<String> = (0..2)
        .map(|_| {
            let line = expect_or_show_log(&mut alice_online, &dir, "said and commanded", |l| {
                l.contains(&said) || l.contains(&commanded)
            });
            body(&line).to_owned()
        })
        .collect();
    got.sort();
    let mut want = vec![commanded.clone(), said.clone()];
    want.sort();
    assert_eq!(got, want);
    let status = session.wait_timeout(LIMIT).expect("ii-client run ends");
    assert!(status.success(), "{status:?}\n{}", session.stderr());
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    assert_eq!(log, log_before, "a clean stop says nothing in DIR/log");
    assert!(
        kill_process(pid, Signal::CONT).is_err(),
        "stanza-fmt is gone with run"
    );
    eprintln!(
        "acceptance: stop by {how:?}: a say and a cmd written just before both reached alice; run exited 0"
    );
    alice_online.close_stdin();
}

#[test]
fn what_was_written_just_before_ii_client_stop_is_sent() {
    what_was_written_just_before_a_stop_is_sent(StopBy::Command);
}

#[test]
fn sigterm_to_run_is_a_clean_stop() {
    what_was_written_just_before_a_stop_is_sent(StopBy::Sigterm);
}

#[test]
fn ctrl_c_is_a_clean_stop() {
    what_was_written_just_before_a_stop_is_sent(StopBy::CtrlC);
}

#[test]
fn a_closed_terminal_is_a_clean_stop() {
    what_was_written_just_before_a_stop_is_sent(StopBy::Hangup);
}

//! Sessions that outlive the network: faults injected into a live session
//! against the harness Prosody, with traffic both ways.
//!
//! Alice's chain goes through a [`FaultProxy`] that resets, cuts or
//! black-holes its connections on command; bob is connected directly. For
//! each fault: the session comes back by itself (resumed: every message
//! exactly once; a new login after a server restart: at least once, none
//! lost), within the documented detection bound, and says so on stderr.

use harness::proxy::FaultProxy;
use harness::{chat, isolate, online, tool, wait_for_file, Account, Prosody, Spawned, TempDir};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
/// `--keepalive` for alice: a silent connection is dead within 2 + 2 s.
const KEEPALIVE: &str = "2";

/// A fault proxy in front of `prosody`'s STARTTLS port.
fn proxy_to(prosody: &Prosody) -> FaultProxy {
    let target = format!("127.0.0.1:{}", prosody.starttls_port())
        .parse()
        .unwrap();
    FaultProxy::start(target).expect("proxy")
}

/// Alice's chain through the proxy, in bridge mode, stderr appended to a file.
struct Faulted {
    chain: Spawned,
    stderr: PathBuf,
}

impl Faulted {
    fn start(prosody: &Prosody, proxy: &FaultProxy, alice: &Account, temp: &TempDir) -> Faulted {
        let stderr = temp.join("alice.stderr");
        let mut command = Command::new("/bin/sh");
        isolate(&mut command, &prosody.scratch_dir().join("no-home"));
        command
            .arg("-c")
            .arg("exec \"$@\" 2>>\"$XP_STDERR\"")
            .arg("sh")
            .arg(tool("xmpp-connect"))
            .args(["--timeout", "3", "--host"])
            .arg(proxy.addr().to_string())
            .arg("--cafile")
            .arg(prosody.ca_pem())
            .arg(prosody.domain())
            .arg(tool("xmpp-auth"))
            .args(["--presence", "--keepalive", KEEPALIVE, "--timeout", "10"])
            .arg("--password-file")
            .arg(&alice.password_file)
            .arg(&alice.jid)
            .env("XP_STDERR", &stderr);
        let mut chain = Spawned::start(command);
        chain.expect_line(LIMIT, |line| {
            line.starts_with("<presence") && line.contains(&format!("from='{}/", alice.jid))
        });
        Faulted { chain, stderr }
    }

    /// Wait until alice's stderr has `count` lines containing `what`.
    fn wait_for(&self, what: &str, count: usize) -> String {
        wait_for_file(&self.stderr, LIMIT, |text| {
            text.matches(what).count() >= count
        })
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// The numbers of the messages tagged `tag` among `lines`, with how often each came.
fn tally(lines: &[String], tag: &str) -> HashMap<usize, usize> {
    let mut seen = HashMap::new();
    for line in lines {
        if let Some(n) = line
            .split(tag)
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|n| n.parse().ok())
        {
            *seen.entry(n).or_insert(0) += 1;
        }
    }
    seen
}

/// Read `session`'s stdout until `count` distinct messages tagged `tag`
/// came, counting those in `before` (read earlier); returns the new lines.
fn collect(session: &mut Spawned, tag: &str, count: usize, before: &[String]) -> Vec<String> {
    collect_or(session, tag, count, before, String::new)
}

/// [`collect`], with `context` (alice's stderr, say) in the message when it fails.
fn collect_or(
    session: &mut Spawned,
    tag: &str,
    count: usize,
    before: &[String],
    context: impl Fn() -> String,
) -> Vec<String> {
    let mut seen = tally(before, tag).len();
    let mut lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while seen < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match session.read_line_timeout(left) {
            Some(line) => {
                lines.push(line);
                let mut all = before.to_vec();
                all.extend(lines.iter().cloned());
                seen = tally(&all, tag).len();
            }
            None => panic!(
                "{seen} of {count} messages '{tag}' arrived; stderr: {}; {}",
                session.stderr(),
                context()
            ),
        }
    }
    lines
}

/// End a session cleanly and read the rest of its stdout.
fn finish(mut session: Spawned, mut lines: Vec<String>) -> Vec<String> {
    session.close_stdin();
    while let Some(line) = session.read_line_timeout(LIMIT) {
        lines.push(line);
    }
    let status = session.wait_timeout(LIMIT).expect("the session ends");
    assert_eq!(status.code(), Some(0), "{}", session.stderr());
    lines
}

fn assert_exactly_once(seen: &HashMap<usize, usize>, count: usize, what: &str) {
    for n in 0..count {
        assert_eq!(
            seen.get(&n),
            Some(&1),
            "{what}: message {n} arrived {:?} times",
            seen.get(&n)
        );
    }
}

fn assert_at_least_once(seen: &HashMap<usize, usize>, count: usize, what: &str) {
    for n in 0..count {
        assert!(
            seen.get(&n).is_some_and(|&c| c >= 1),
            "{what}: message {n} never arrived"
        );
    }
}

/// Traffic both ways around `fault`; the fault happens after the first half.
/// Returns (what bob got from alice, what alice got from bob).
fn two_way(
    prosody: &Prosody,
    fault: impl FnOnce(&FaultProxy, &Faulted),
    count: usize,
) -> (HashMap<usize, usize>, HashMap<usize, usize>, String) {
    let temp = TempDir::new("faults");
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let proxy = proxy_to(prosody);
    let mut alice_chain = Faulted::start(prosody, &proxy, &alice, &temp);
    let mut bob_chain = online(prosody, &bob);
    let tag = format!("fault {} ", harness::random_string(6));
    let to_bob = |n: usize| chat(&bob.jid, &format!("{tag}{n}"));
    let to_alice = |n: usize| chat(&alice.jid, &format!("{tag}{n}"));
    let half = count / 2;
    for n in 0..half {
        alice_chain.chain.write(to_bob(n).as_bytes());
        bob_chain.write(to_alice(n).as_bytes());
    }
    let struck = Instant::now();
    fault(&proxy, &alice_chain);
    // For the record (`--nocapture`), not asserted: how long the recovery took.
    eprintln!("faults: recovered {:?} after the fault", struck.elapsed());
    // Written during and after the fault: they wait in the pipe or the queue.
    for n in half..count {
        alice_chain.chain.write(to_bob(n).as_bytes());
        bob_chain.write(to_alice(n).as_bytes());
    }
    let bob_lines = collect(&mut bob_chain, &tag, count, &[]);
    let alice_lines = collect(&mut alice_chain.chain, &tag, count, &[]);
    let stderr_path = alice_chain.stderr.clone();
    let alice_lines = finish(alice_chain.chain, alice_lines);
    let bob_lines = finish(bob_chain, bob_lines);
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    (tally(&bob_lines, &tag), tally(&alice_lines, &tag), stderr)
}

/// Reset or cut in the middle of the traffic: resumed, every message exactly once.
fn resumed_after(fault: fn(&FaultProxy)) {
    let prosody = Prosody::shared();
    let (from_alice, to_alice, stderr) = two_way(
        prosody,
        |proxy, alice| {
            fault(proxy);
            alice.wait_for("resumed the session", 1);
        },
        200,
    );
    assert_exactly_once(&from_alice, 200, "alice to bob");
    assert_exactly_once(&to_alice, 200, "bob to alice");
    assert!(stderr.contains("connecting again in"), "{stderr}");
    assert!(!stderr.contains("a new session"), "{stderr}");
}

#[test]
fn a_reset_connection_is_resumed_and_nothing_is_lost_or_doubled() {
    resumed_after(FaultProxy::reset);
}

#[test]
fn a_cut_connection_is_resumed_and_nothing_is_lost_or_doubled() {
    resumed_after(FaultProxy::cut);
}

#[test]
fn a_silent_network_is_detected_by_the_keepalive_and_the_session_resumed() {
    let prosody = Prosody::shared();
    let mut detected_in = Duration::ZERO;
    let (from_alice, to_alice, stderr) = two_way(
        prosody,
        |proxy, alice| {
            let start = Instant::now();
            proxy.black_hole();
            alice.wait_for("(keepalive): the connection is dead", 1);
            detected_in = start.elapsed();
            eprintln!("faults: black hole detected after {detected_in:?}");
            // The network stays silent through a failed attempt or two.
            alice.wait_for("connecting again in", 2);
            proxy.restore();
            alice.wait_for("resumed the session", 1);
        },
        100,
    );
    assert_exactly_once(&from_alice, 100, "alice to bob");
    assert_exactly_once(&to_alice, 100, "bob to alice");
    // The documented bound: keepalive + min(keepalive, 30 s), plus the
    // poll's granularity (this is a bound on behaviour, not a speed claim).
    assert!(
        detected_in < Duration::from_secs(4 + 2),
        "detected after {detected_in:?}: {stderr}"
    );
}

#[test]
fn a_server_restart_means_a_new_session_and_everything_unacknowledged_again() {
    // A server of its own: it restarts.
    let prosody = Prosody::start();
    let temp = TempDir::new("faults-restart");
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let proxy = proxy_to(&prosody);
    let mut alice_chain = Faulted::start(&prosody, &proxy, &alice, &temp);
    let tag = format!("restart {} ", harness::random_string(6));
    let count = 300;
    // Bob is offline: what the server acknowledged waits in its offline
    // store (see tests/restart.rs for why the receiver is not online).
    for n in 0..count / 2 {
        alice_chain
            .chain
            .write(chat(&bob.jid, &format!("{tag}{n}")).as_bytes());
    }
    let struck = Instant::now();
    prosody.restart();
    alice_chain.wait_for("a new session", 1);
    eprintln!(
        "faults: new session {:?} after the restart began",
        struck.elapsed()
    );
    for n in count / 2..count {
        alice_chain
            .chain
            .write(chat(&bob.jid, &format!("{tag}{n}")).as_bytes());
    }
    // Confirmed at the end: everything sent was acknowledged by the new server.
    alice_chain.chain.close_stdin();
    let status = alice_chain
        .chain
        .wait_timeout(LIMIT)
        .expect("alice's chain ends");
    let stderr = alice_chain.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("logged in again as"), "{stderr}");
    // Bob comes online and gets every message at least once (a repeat carries
    // the same origin-id as its first copy).
    let mut bob_chain = online(&prosody, &bob);
    let lines = collect(&mut bob_chain, &tag, count, &[]);
    let lines = finish(bob_chain, lines);
    assert_at_least_once(&tally(&lines, &tag), count, "alice to bob");
    let mut origin_ids: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for line in &lines {
        let (Some(n), Some(id)) = (
            line.split(&tag).nth(1).and_then(|r| r.split('<').next()),
            line.split("origin-id xmlns='urn:xmpp:sid:0' id='")
                .nth(1)
                .and_then(|r| r.split('\'').next()),
        ) else {
            continue;
        };
        origin_ids
            .entry(n.to_owned())
            .or_default()
            .insert(id.to_owned());
    }
    assert!(
        origin_ids.values().all(|ids| ids.len() == 1),
        "a repeat keeps its origin-id"
    );
}

#[test]
fn a_frozen_server_is_detected_and_the_session_comes_back() {
    let prosody = Prosody::start();
    let temp = TempDir::new("faults-stop");
    let alice = prosody.new_account("alice");
    let proxy = proxy_to(&prosody);
    let mut alice_chain = Faulted::start(&prosody, &proxy, &alice, &temp);
    let struck = Instant::now();
    prosody.signal(rustix::process::Signal::STOP);
    alice_chain.wait_for("(keepalive): the connection is dead", 1);
    eprintln!(
        "faults: frozen server detected after {:?}",
        struck.elapsed()
    );
    let thawed = Instant::now();
    prosody.signal(rustix::process::Signal::CONT);
    alice_chain.wait_for("resumed the session", 1);
    eprintln!("faults: resumed {:?} after SIGCONT", thawed.elapsed());
    // Alive: a message to herself comes back.
    alice_chain
        .chain
        .write(chat(&alice.jid, "after the freeze").as_bytes());
    alice_chain
        .chain
        .expect_line(LIMIT, |line| line.contains("after the freeze"));
    alice_chain.chain.close_stdin();
    let status = alice_chain.chain.wait_timeout(LIMIT).expect("ends");
    assert_eq!(status.code(), Some(0), "{}", alice_chain.stderr());
}

/// Twenty faults (resets, cuts, black holes) in one session, 3,000 messages
/// each way: every one exactly once, every fault resumed. (Prosody 0.12 once
/// refused a resumed stream here about one run in five: it had the start of
/// a stanza from the dead connection in its parser; xmpp-connect now ends
/// every TLS record on an element boundary, see tests/half_sent.rs. Prosody
/// 13.0 can still read a resumed session with the old connection's parser
/// when its last read ended inside a TLS record: the resumption succeeds and
/// nothing after it is handled. xmpp-auth then gets no `<a/>` within the
/// keepalive timeout, gives the session up and logs in a new one; what the
/// server hands to offline storage from the session given up comes again
/// delayed and is dropped as a copy. So a new session is allowed here only
/// after that notice, and exactly-once still holds both ways.)
#[test]
fn a_soak_of_twenty_faults_loses_nothing_and_doubles_nothing() {
    // A server of its own, whose debug log says what it refused on a failure.
    // Without the archive: see ProsodyOptions::archive.
    let prosody = Prosody::start_with(harness::ProsodyOptions {
        archive: false,
        ..Default::default()
    });
    let log = prosody.log_path().to_owned();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| soak(&prosody)));
    if result.is_err() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.contains("not-well-formed") || line.contains("parse") || line.contains("XML") {
                eprintln!("PROSODY {n}: {line}");
            }
        }
        panic!("soak failed");
    }
}

/// The soak itself: see the test above.
fn soak(prosody: &Prosody) {
    let temp = TempDir::new("faults-soak");
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let proxy = proxy_to(prosody);
    let mut alice_chain = Faulted::start(prosody, &proxy, &alice, &temp);
    let mut bob_chain = online(prosody, &bob);
    let tag = format!("soak {} ", harness::random_string(6));
    const FAULTS: usize = 20;
    const EACH: usize = 150;
    let mut next = 0;
    let (mut bob_lines, mut alice_lines) = (Vec::new(), Vec::new());
    for fault in 0..FAULTS {
        for _ in 0..EACH {
            alice_chain
                .chain
                .write(chat(&bob.jid, &format!("{tag}{next}")).as_bytes());
            bob_chain.write(chat(&alice.jid, &format!("{tag}{next}")).as_bytes());
            next += 1;
        }
        // The fault strikes in the middle of the round's traffic: once half
        // of it arrived both ways (so that the server's queues stay within
        // what it keeps for a session), the rest still under way.
        let half = next - EACH / 2;
        let alice_said = || format!("alice: {}", alice_chain.stderr());
        bob_lines.extend(collect_or(
            &mut bob_chain,
            &tag,
            half,
            &bob_lines,
            alice_said,
        ));
        let said = alice_chain.stderr();
        alice_lines.extend(collect_or(
            &mut alice_chain.chain,
            &tag,
            half,
            &alice_lines,
            || format!("alice: {said}"),
        ));
        match fault % 5 {
            0 | 1 => proxy.reset(),
            2 | 3 => proxy.cut(),
            _ => {
                proxy.black_hole();
                alice_chain.wait_for("(keepalive): the connection is dead", fault / 5 + 1);
                proxy.restore();
            }
        }
        alice_chain.wait_for("resumed the session", fault + 1);
    }
    bob_lines.extend(collect(&mut bob_chain, &tag, next, &bob_lines));
    alice_lines.extend(collect(&mut alice_chain.chain, &tag, next, &alice_lines));
    let stderr_path = alice_chain.stderr.clone();
    let alice_lines = finish(alice_chain.chain, alice_lines);
    let bob_lines = finish(bob_chain, bob_lines);
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    let twice = |lines: &[String]| -> Vec<String> {
        let seen = tally(lines, &tag);
        lines
            .iter()
            .filter(|l| {
                tally(std::slice::from_ref(l), &tag)
                    .keys()
                    .any(|n| seen.get(n).is_some_and(|&c| c > 1))
            })
            .cloned()
            .collect()
    };
    assert!(
        twice(&bob_lines).is_empty(),
        "twice at bob: {:?}\n{stderr}",
        twice(&bob_lines)
    );
    assert!(
        twice(&alice_lines).is_empty(),
        "twice at alice: {:?}\n{stderr}",
        twice(&alice_lines)
    );
    assert_exactly_once(&tally(&bob_lines, &tag), next, "alice to bob");
    assert_exactly_once(&tally(&alice_lines, &tag), next, "bob to alice");
    assert_eq!(
        stderr.matches("resumed the session").count(),
        FAULTS,
        "{stderr}"
    );
    // A new session only where a resumed one was given up (see above).
    let given_up = stderr.matches("since it resumed the session").count();
    assert_eq!(
        stderr.matches("a new session").count(),
        given_up,
        "{stderr}"
    );
    if given_up > 0 {
        eprintln!("faults: {given_up} resumed session(s) given up for a new one");
    }
}

#[test]
fn a_reader_that_stops_reading_ends_the_session_with_74_naming_stdout() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let temp = TempDir::new("faults-reader");
    let out = temp.join("first");
    // `head -n 1` reads the echoed presence and exits: nobody reads any more.
    let chain = harness::login(
        prosody,
        &alice,
        harness::Transport::StartTls,
        &["--presence"],
    );
    let words: Vec<String> = std::iter::once(chain.get_program())
        .chain(chain.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let mut command = Command::new("/bin/bash");
    command.arg("-c").arg(format!(
        "{} | head -n 1 > '{}'; exit ${{PIPESTATUS[0]}}",
        words.join(" "),
        out.display()
    ));
    for (key, value) in chain.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let mut session = Spawned::start(command);
    // Something for the dead reader: a message to herself.
    session.write(chat(&alice.jid, "nobody reads this").as_bytes());
    let status = session
        .wait_timeout(LIMIT)
        .expect("the chain ends by itself");
    let stderr = session.stderr();
    assert_eq!(status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    assert!(
        !stderr.contains("not acknowledged by the server"),
        "{stderr}"
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("<presence"));
}

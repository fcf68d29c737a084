//! Nothing lost: many messages through one session to a receiver that is
//! online, every one arriving once and in order, and the sender's exit status
//! saying the server acknowledged them all.

use harness::{chat, login, online, run, Prosody, Transport};
use std::time::Duration;

/// Messages per run (issue 6 asks for 50,000).
const MESSAGES: usize = 50_000;

#[test]
fn fifty_thousand_messages_arrive_once_and_in_order() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let tag = harness::random_string(6);
    let input: String = (0..MESSAGES)
        .map(|n| chat(&bob.jid, &format!("soak {tag} {n}")))
        .collect();
    let output = run(
        login(prosody, &alice, Transport::StartTls, &[]),
        input.as_bytes(),
        Duration::from_secs(600),
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    let needle = format!("soak {tag} ");
    for expected in 0..MESSAGES {
        let line = receiver.expect_line(Duration::from_secs(120), |line| line.contains(&needle));
        let got: usize = line
            .split(&needle)
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line}"));
        assert_eq!(got, expected, "out of order or lost: {line}");
    }
}

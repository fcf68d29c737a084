//! End to end: the whole chain with the stanza filters, as the ii-style
//! example client (`examples/ii-client`) runs it, against a real Prosody:
//! two users talk through their directory trees, the roster answers land in
//! `DIR/iq/<id>`, a mutual subscription is built with /add, /subscribe and
//! /approve, and iq requests nobody handles are answered.

use harness::{
    assert_out_line, example, run, tool, wait_for_file, wait_for_path, Account, Prosody, Spawned,
    TempDir,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// `examples/ii-client` with the built tools first on PATH.
fn ii_client() -> Command {
    example("ii-client")
}

/// A running `ii-client run` for one account, with its tree.
struct Client {
    dir: PathBuf,
    jid: String,
    session: Spawned,
    _temp: TempDir,
}

impl Client {
    /// Start a session for `account` (with `resource`, if given) and wait
    /// until the server has echoed our presence into DIR/mypresence.
    fn start(prosody: &Prosody, account: &Account, resource: Option<&str>) -> Client {
        let temp = TempDir::new("tree");
        let dir = temp.join("xmpp");
        let jid = match resource {
            Some(resource) => format!("{}/{resource}", account.jid),
            None => account.jid.clone(),
        };
        let mut command = ii_client();
        command
            .arg("run")
            .arg(&dir)
            .arg(&jid)
            .arg(&account.password_file)
            .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
            .arg("--cafile")
            .arg(prosody.ca_pem());
        let session = Spawned::start(command);
        let client = Client {
            dir,
            jid: account.jid.clone(),
            session,
            _temp: temp,
        };
        client.wait(&client.dir.join("mypresence"), |text| {
            text.contains("available")
        });
        client
    }

    /// Wait for a file of the tree (relative to DIR) to satisfy `ready`.
    fn wait(&self, path: &Path, ready: impl Fn(&str) -> bool) -> String {
        wait_for_file(&self.dir.join(path), LIMIT, ready)
    }

    /// `ii-client say DIR CONTACT TEXT`.
    fn say(&self, contact: &str, text: &str) {
        let mut command = ii_client();
        command.arg("say").arg(&self.dir).arg(contact).arg(text);
        run(command, b"", LIMIT).assert_success();
    }

    /// `ii-client cmd DIR COMMAND`; returns the iq id it printed, if any.
    fn cmd(&self, line: &str) -> Option<String> {
        let mut command = ii_client();
        command.arg("cmd").arg(&self.dir).arg(line);
        let output = run(command, b"", LIMIT);
        output.assert_success();
        output.stdout_str().lines().next().map(str::to_owned)
    }

    /// Send `/roster` and return the answer from DIR/iq/<id>.
    fn roster(&self) -> String {
        let id = self.cmd("/roster").expect("an iq id for /roster");
        self.wait(&Path::new("iq").join(&id), |text| {
            text.contains("</iq>") || text.contains("/>")
        })
    }

    /// `ii-client stop DIR`, then wait for `run` to exit; returns its status.
    fn stop(mut self) -> (Option<i32>, PathBuf, TempDir) {
        let mut command = ii_client();
        command.arg("stop").arg(&self.dir);
        run(command, b"", LIMIT).assert_success();
        let status = self.session.wait_timeout(LIMIT).map(|s| s.code());
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        assert!(status.is_some(), "ii-client run did not end; log:\n{log}");
        (status.flatten(), self.dir, self._temp)
    }
}

/// The one line of `text` that holds `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

#[test]
fn two_users_talk_through_their_trees() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let a = Client::start(prosody, &alice, None);
    let b = Client::start(prosody, &bob, None);

    a.say(&b.jid, "hello bob, grüße ✓");
    let out = b.wait(&Path::new(&a.jid).join("out"), |t| t.contains("hello bob"));
    assert_out_line(line_with(&out, "hello bob"), &a.jid, "hello bob, grüße ✓");
    // Alice's own tree keeps her side of the conversation.
    let mine = a.wait(&Path::new(&b.jid).join("out"), |t| t.contains("hello bob"));
    assert_out_line(line_with(&mine, "hello bob"), &a.jid, "hello bob, grüße ✓");

    // And back, through the pipe stanza-fmt made for alice in bob's tree.
    wait_for_path(&b.dir.join(&a.jid).join("in"), LIMIT);
    b.say(&a.jid, "hi alice\tand <tags> & \"quotes\"");
    let out = a.wait(&Path::new(&b.jid).join("out"), |t| t.contains("hi alice"));
    assert_out_line(
        line_with(&out, "hi alice"),
        &b.jid,
        "hi alice\tand <tags> & \"quotes\"",
    );

    // The tree is private: directories 0700, files and pipes 0600.
    for path in [
        a.dir.clone(),
        a.dir.join(&b.jid),
        a.dir.join(&b.jid).join("out"),
        a.dir.join(&b.jid).join("in"),
        a.dir.join("in"),
        a.dir.join("log"),
    ] {
        use std::os::unix::fs::PermissionsExt;
        if path.ends_with("log") && !path.exists() {
            // DIR/log is made with its first line (none here), under umask 077.
            continue;
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{}", path.display());
    }

    let (status, _, _) = a.stop();
    assert_eq!(status, Some(0));
    let (status, _, _) = b.stop();
    assert_eq!(status, Some(0));
}

#[test]
fn roster_answers_land_in_iq_and_subscriptions_become_mutual() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let a = Client::start(prosody, &alice, None);
    let b = Client::start(prosody, &bob, None);

    let empty = a.roster();
    assert!(
        empty.contains("type='result'") && empty.contains("jabber:iq:roster"),
        "{empty}"
    );
    assert!(!empty.contains(&b.jid), "{empty}");

    // Alice adds bob and asks to see his presence; bob sees the request.
    a.cmd(&format!("/add {} Bob Friends", b.jid))
        .expect("/add is an iq");
    a.cmd(&format!("/subscribe {}", b.jid));
    let request = b.wait(&Path::new(&a.jid).join("out"), |t| t.contains("subscribe"));
    assert!(
        line_with(&request, "subscribe").contains(&a.jid),
        "{request}"
    );

    // Bob approves and asks back; alice approves.
    b.cmd(&format!("/approve {}", a.jid));
    b.cmd(&format!("/subscribe {}", a.jid));
    a.wait(&Path::new(&b.jid).join("out"), |t| {
        t.contains("asks to subscribe") || t.lines().count() >= 2
    });
    a.cmd(&format!("/approve {}", b.jid));

    // Both rosters show subscription='both' (pushes may still be under way).
    let both = |client: &Client, other: &str| {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let roster = client.roster();
            let item = roster
                .split("<item")
                .find(|item| item.contains(other))
                .map(str::to_owned);
            if let Some(item) = item.filter(|item| item.contains("subscription='both'")) {
                return item;
            }
            // Each round trip is a real wait on the server, not a sleep.
            assert!(
                std::time::Instant::now() < deadline,
                "no mutual subscription:\n{roster}"
            );
        }
    };
    let item = both(&a, &b.jid);
    assert!(
        item.contains("name='Bob'") && item.contains("Friends"),
        "{item}"
    );
    both(&b, &a.jid);

    // With the subscription, presence flows: each tree shows the other online.
    a.wait(&Path::new(&b.jid).join("presence"), |t| {
        t.contains("available") && !t.contains("unavailable")
    });
    b.wait(&Path::new(&a.jid).join("presence"), |t| {
        t.contains("available") && !t.contains("unavailable")
    });

    // Bob leaves: alice's tree says so; at the end of alice's session her
    // presence files are cleared.
    let bob_jid = b.jid.clone();
    let (status, _, _) = b.stop();
    assert_eq!(status, Some(0));
    a.wait(&Path::new(&bob_jid).join("presence"), |t| {
        t.contains("unavailable")
    });
    let (status, dir, _temp) = a.stop();
    assert_eq!(status, Some(0));
    let mine = std::fs::read_to_string(dir.join("mypresence")).unwrap();
    assert!(mine.contains("unavailable"), "{mine}");
}

#[test]
fn iq_requests_nobody_handles_are_answered() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let a = Client::start(prosody, &alice, None);
    let b = Client::start(prosody, &bob, Some("ii"));
    let bob_full = format!("{}/ii", b.jid);

    // An unknown namespace: service-unavailable, from bob's jid-route.
    a.cmd(&format!(
        "/raw <iq type='get' to='{bob_full}' id='probe-1'><query xmlns='urn:example:nothing'/></iq>"
    ));
    let answer = a.wait(Path::new("iq/probe-1"), |t| !t.is_empty());
    assert!(
        answer.contains("type='error'") && answer.contains("service-unavailable"),
        "{answer}"
    );
    assert!(answer.contains(&format!("from='{bob_full}'")), "{answer}");

    // Software version and ping are answered with results.
    let id = a.cmd(&format!("/version {bob_full}")).expect("an iq id");
    let version = a.wait(&Path::new("iq").join(&id), |t| !t.is_empty());
    assert!(
        version.contains("type='result'") && version.contains("<name>"),
        "{version}"
    );
    let id = a.cmd(&format!("/ping {bob_full}")).expect("an iq id");
    let pong = a.wait(&Path::new("iq").join(&id), |t| !t.is_empty());
    assert!(pong.contains("type='result'"), "{pong}");

    assert_eq!(a.stop().0, Some(0));
    assert_eq!(b.stop().0, Some(0));
}

/// `xmpp-connect … xmpp-auth [ARGS] JID` for `account`, as a shell word list.
fn chain_words(prosody: &Prosody, account: &Account, auth_args: &str) -> String {
    format!(
        "'{}' --host 127.0.0.1:{} --cafile '{}' localhost '{}' {auth_args} --password-file '{}' '{}'",
        tool("xmpp-connect").display(),
        prosody.starttls_port(),
        prosody.ca_pem().display(),
        tool("xmpp-auth").display(),
        account.password_file.display(),
        account.jid
    )
}

#[test]
fn the_readme_pipelines_work() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = TempDir::new("readme");
    let log = temp.join("boss.log");

    // The listener: a session kept open by its stdin, routed by jid-route.
    let ready = temp.join("ready");
    let listener = format!(
        "{} | '{}' | '{}' 'message:chat from={} >> {}' 'presence >> {}' 'drop'",
        chain_words(prosody, &bob, "--presence"),
        tool("stanza-split").display(),
        tool("jid-route").display(),
        alice.jid,
        log.display(),
        ready.display()
    );
    let mut receiver = Spawned::start({
        let mut command = Command::new("sh");
        command.args(["-c", &listener]);
        command
    });
    // Online once the server has echoed our presence.
    wait_for_file(&ready, LIMIT, |t| t.contains("<presence"));

    // The cron job: stanza-fmt --whole, silent on success.
    let cron = format!(
        "printf 'disk 91%%\\n<backup> & \"done\"\\n' | '{}' --whole --to {} | {} > /dev/null",
        tool("stanza-fmt").display(),
        bob.jid,
        chain_words(prosody, &alice, "")
    );
    let output = run(
        {
            let mut command = Command::new("sh");
            command.args(["-c", &cron]);
            command
        },
        b"",
        LIMIT,
    );
    output.assert_success();
    assert_eq!(output.stdout_str(), "", "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");

    let logged = wait_for_file(&log, LIMIT, |t| t.contains("backup"));
    assert!(
        logged.contains("<body>disk 91%&#10;&lt;backup&gt; &amp; \"done\"</body>")
            || logged.contains("<body>disk 91%&#10;&lt;backup&gt; &amp; &quot;done&quot;</body>"),
        "{logged}"
    );
    assert_eq!(logged.lines().count(), 1, "{logged}");
    receiver.close_stdin();
    assert!(
        receiver.wait_timeout(LIMIT).is_some(),
        "{}",
        receiver.stderr()
    );
}

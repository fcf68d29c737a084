//! End to end: the account configuration (environment and config file, ours
//! and go-sendxmpp's) and examples/notify, against a real Prosody. Every
//! command runs with its own HOME and XDG_CONFIG_HOME ([`isolate`]), never
//! the user's.

use harness::{
    chat, isolate, online, run, tool, Account, Output, Prosody, Signal, Spawned, TempDir,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xmpp_pipes::xml::{Element, NS_CLIENT};

const LIMIT: Duration = Duration::from_secs(30);

/// A home directory for one test, with the tools first on PATH.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: TempDir::new("home"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `text` to `relative` under the home directory with `mode`.
    fn write(&self, relative: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// Our config file, mode 0600.
    fn config(&self, text: &str) -> PathBuf {
        self.write(".config/xmpp-pipes/config", text, 0o600)
    }

    /// `program args...` in this home.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command.args(args);
        isolate(&mut command, self.path());
        let tools = tool("xmpp-connect").parent().unwrap().to_owned();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![tools];
        dirs.extend(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).unwrap());
        command
    }

    /// `xmpp-connect @ xmpp-auth @` with extra options for each.
    fn chain(&self, connect: &[&str], auth: &[&str]) -> Command {
        let mut command = self.command(tool("xmpp-connect"), connect);
        command.arg("@").arg(tool("xmpp-auth")).args(auth).arg("@");
        command
    }

    /// examples/notify with `args`.
    fn notify(&self, args: &[&str]) -> Command {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/notify");
        self.command(script, args)
    }
}

/// The connection settings of `prosody` in our format.
fn server_settings(prosody: &Prosody) -> String {
    format!(
        "host = 127.0.0.1:{}\ncafile = {}\n",
        prosody.starttls_port(),
        prosody.ca_pem().display()
    )
}

/// A config file for `account` on `prosody`.
fn account_config(prosody: &Prosody, account: &Account) -> String {
    format!(
        "# the sender\njid = {}\npassword-file = {}\n{}",
        account.jid,
        account.password_file.display(),
        server_settings(prosody)
    )
}

/// Send `body` to `to` through the chain, expecting success and no output.
#[track_caller]
fn send_ok(command: Command, to: &Account, body: &str) {
    let output = run(command, chat(&to.jid, body).as_bytes(), LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
}

/// Wait for `body` from `from` at the online `receiver`.
#[track_caller]
fn received(receiver: &mut harness::Spawned, from: &Account, body: &str) {
    let line = receiver.expect_line(LIMIT, |line| line.contains(body));
    assert!(line.contains(&format!("from='{}/", from.jid)), "{line}");
}

#[track_caller]
fn assert_one_line(output: &Output, code: i32, needle: &str) {
    assert_eq!(output.code(), Some(code), "{output}");
    let stderr = output.stderr_str();
    assert!(stderr.contains(needle), "{output}");
    assert_eq!(stderr.lines().count(), 1, "{output}");
    assert_eq!(output.stdout_str(), "", "{output}");
}

#[test]
fn the_config_file_is_enough_to_log_in_and_deliver() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    let body = harness::unique("configured ");
    send_ok(home.chain(&[], &[]), &bob, &body);
    received(&mut receiver, &alice, &body);
}

#[test]
fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let home = Home::new();
    let wrong = home.write("wrong.pass", "not the password", 0o600);
    let dead = format!("127.0.0.1:{}", harness::free_port());
    // The file points at a dead port with a wrong password.
    home.config(&format!(
        "jid = {}\npassword-file = {}\nhost = {dead}\ncafile = {}\n",
        alice.jid,
        wrong.display(),
        prosody.ca_pem().display()
    ));
    let good_host = format!("127.0.0.1:{}", prosody.starttls_port());
    let with_env = |connect: &[&str], auth: &[&str]| {
        let mut command = home.chain(connect, auth);
        command
            .env("XMPP_HOST", &good_host)
            .env("XMPP_PASSWORD_FILE", &alice.password_file);
        command
    };
    let body = harness::unique("env over file ");
    send_ok(with_env(&[], &[]), &bob, &body);
    received(&mut receiver, &alice, &body);

    let output = run(with_env(&["--host", &dead], &[]), b"", LIMIT);
    assert_eq!(
        output.code(),
        Some(75),
        "--host wins over XMPP_HOST: {output}"
    );
    let wrong = wrong.to_str().unwrap();
    let output = run(with_env(&[], &["--password-file", wrong]), b"", LIMIT);
    assert_eq!(
        output.code(),
        Some(77),
        "--password-file wins over XMPP_PASSWORD_FILE: {output}"
    );
}

#[test]
fn go_sendxmpp_and_sendxmpp_configurations_work() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);

    // go-sendxmpp's own file; it has no CA setting, the environment gives it.
    // (A value is taken as go-sendxmpp takes it: quotes would be part of it.)
    let home = Home::new();
    home.write(
        ".config/go-sendxmpp/config",
        &format!(
            "username: {}\njserver: 127.0.0.1\nport: {}\npassword: {}\nalias: Alice\n",
            alice.jid,
            prosody.starttls_port(),
            alice.password
        ),
        0o600,
    );
    let mut command = home.chain(&[], &[]);
    command.env("XMPP_CAFILE", prosody.ca_pem());
    let body = harness::unique("from the go-sendxmpp config ");
    send_ok(command, &bob, &body);
    received(&mut receiver, &alice, &body);

    // The original sendxmpp's ~/.sendxmpprc: `user@host password`.
    let home = Home::new();
    home.write(
        ".sendxmpprc",
        &format!("{} {}\n", alice.jid, alice.password),
        0o600,
    );
    let mut command = home.chain(&[], &[]);
    command
        .env(
            "XMPP_HOST",
            format!("127.0.0.1:{}", prosody.starttls_port()),
        )
        .env("XMPP_CAFILE", prosody.ca_pem());
    let body = harness::unique("from .sendxmpprc ");
    send_ok(command, &bob, &body);
    received(&mut receiver, &alice, &body);
}

#[test]
fn a_config_file_others_may_read_is_refused_with_the_fix() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let home = Home::new();
    let file = home.write(
        ".config/xmpp-pipes/config",
        &account_config(prosody, &alice),
        0o644,
    );
    let fix = format!("run `chmod 600 {}`", file.display());
    let output = run(home.chain(&[], &[]), b"", LIMIT);
    assert_one_line(&output, 78, &fix);
    assert!(
        output.stderr_str().starts_with("xmpp-connect: "),
        "{output}"
    );

    // The same with --config naming it, and an unknown key names its line.
    let other = home.write("other.conf", "jid = a@b\nserver = x\n", 0o600);
    let other = other.to_str().unwrap();
    let output = run(home.chain(&["--config", other], &[]), b"", LIMIT);
    assert_one_line(&output, 78, &format!("{other}:2: unknown key `server`"));
}

#[test]
fn notify_delivers_to_each_jid_and_is_silent() {
    let prosody = Prosody::shared();
    let (alice, bob, carol) = (
        prosody.new_account("alice"),
        prosody.new_account("bob"),
        prosody.new_account("carol"),
    );
    let mut bob_online = online(prosody, &bob);
    let mut carol_online = online(prosody, &carol);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    let tag = harness::unique("disk");
    let input = format!("{tag} 91% full\n<backup> & done\n");
    let output = run(
        home.notify(&["--timeout", "10", "--subject", "cron", &bob.jid, &carol.jid]),
        input.as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), "", "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    for receiver in [&mut bob_online, &mut carol_online] {
        let line = receiver.expect_line(LIMIT, |line| line.contains(&tag));
        assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");
        assert!(line.contains("<subject>cron</subject>"), "{line}");
        assert!(
            line.contains("full&#10;&lt;backup&gt; &amp; done"),
            "one message, all of stdin: {line}"
        );
    }
}

#[test]
fn notify_with_the_server_stopped_exits_75_within_its_timeout() {
    let prosody = Prosody::start();
    let alice = prosody.new_account("alice");
    let home = Home::new();
    home.config(&account_config(&prosody, &alice));
    prosody.signal(Signal::STOP);
    // The run is killed (and the test fails) if it outlives its timeout by 8 s.
    let timeout = 2;
    let output = run(
        home.notify(&["--timeout", &timeout.to_string(), &alice.jid]),
        b"anyone there?\n",
        Duration::from_secs(timeout + 8),
    );
    prosody.signal(Signal::CONT);
    assert_one_line(&output, 75, "xmpp-connect: ");

    // Nothing listening at all (the server is down): try again later too.
    prosody.stop();
    let output = run(
        home.notify(&["--timeout", &timeout.to_string(), &alice.jid]),
        b"anyone there?\n",
        Duration::from_secs(timeout + 8),
    );
    assert_one_line(&output, 75, "xmpp-connect: ");
}

#[test]
fn notify_with_a_wrong_password_exits_77() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let home = Home::new();
    home.config(&format!(
        "jid = {}\npassword = not the password\n{}",
        alice.jid,
        server_settings(prosody)
    ));
    let output = run(home.notify(&[&alice.jid]), b"hello\n", LIMIT);
    assert_one_line(&output, 77, "not-authorized");
}

#[test]
fn notify_with_a_password_file_others_may_read_exits_78_and_says_what_to_do() {
    let prosody = Prosody::shared();
    let alice = prosody.new_account("alice");
    let home = Home::new();
    let file = home.write("open.pass", &alice.password, 0o644);
    home.config(&format!(
        "jid = {}\npassword-file = {}\n{}",
        alice.jid,
        file.display(),
        server_settings(prosody)
    ));
    let output = run(home.notify(&[&alice.jid]), b"hello\n", LIMIT);
    assert_one_line(&output, 78, &format!("run `chmod 600 {}`", file.display()));
}

#[test]
fn notify_sends_nothing_for_blank_input_and_rejects_bad_usage() {
    let home = Home::new();
    // No account is configured: blank input never gets as far as connecting.
    let output = run(home.notify(&["a@example.org"]), b"\n  \n", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    let output = run(home.notify(&["--type", "groupchat", "a@b"]), b"x", LIMIT);
    assert_one_line(&output, 64, "--type");
    let output = run(home.notify(&[]), b"x", LIMIT);
    assert_one_line(&output, 64, "missing JID");
    let output = run(home.notify(&["a@example.org"]), b"x", LIMIT);
    assert_one_line(&output, 78, "XMPP_JID");
}

/// The next message from `from` at the online `receiver`: its body.
#[track_caller]
fn next_body(receiver: &mut harness::Spawned, from: &Account) -> String {
    let sender = format!("from='{}/", from.jid);
    let line = receiver.expect_line(LIMIT, |line| {
        line.starts_with("<message") && line.contains(&sender)
    });
    let message = Element::parse(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    message
        .child("body", NS_CLIENT)
        .map(Element::text)
        .unwrap_or_else(|| panic!("no body: {line}"))
}

/// The bodies of the parts notify sent, in order, without their "(N/TOTAL) "
/// markers (checked: numbered from 1, all with the same TOTAL).
#[track_caller]
fn parts(receiver: &mut harness::Spawned, from: &Account) -> Vec<String> {
    let first = next_body(receiver, from);
    let total: usize = first
        .strip_prefix("(1/")
        .and_then(|rest| rest.split_once(") "))
        .and_then(|(total, _)| total.parse().ok())
        .unwrap_or_else(|| panic!("no (1/TOTAL) marker: {:.80}", first));
    let mut bodies = vec![first];
    while bodies.len() < total {
        bodies.push(next_body(receiver, from));
    }
    bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let marker = format!("({}/{total}) ", index + 1);
            let text = body.strip_prefix(&marker);
            let text =
                text.unwrap_or_else(|| panic!("part {} lacks {marker}: {:.80}", index + 1, body));
            text.to_owned()
        })
        .collect()
}

#[test]
fn notify_removes_terminal_escapes_says_so_once_and_delivers() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    let output = run(
        home.notify(&["--timeout", "10", &bob.jid]),
        b"\x1b[31mFAILED\x1b[0m\n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), "", "{output}");
    assert_eq!(
        output.stderr_str(),
        "notify: warning: removed 2 terminal escape sequences\n",
        "{output}"
    );
    assert_eq!(next_body(&mut receiver, &alice), "FAILED");

    // OSC (a window title, ended by BEL or ST), a charset switch (ESC ( B,
    // which tput sgr0 prints), a CSI with parameters and intermediates.
    let output = run(
        home.notify(&["--timeout", "10", &bob.jid]),
        b"\x1b]0;build\x07\x1b]2;x\x1b\\ok\x1b(B \x1b[1;32mgreen\x1b[m \x1b[2 q.\n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.stderr_str(),
        "notify: warning: removed 6 terminal escape sequences\n",
        "{output}"
    );
    assert_eq!(next_body(&mut receiver, &alice), "ok green .");
}

#[test]
fn notify_replaces_invalid_utf8_and_control_characters_and_delivers() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    // Latin-1 é, BEL, NUL, a lone ESC, a truncated euro sign at the end; tab,
    // DEL, valid UTF-8 and U+FFFD itself stay. --lossy is accepted.
    let input = b"caf\xe9 bell\x07 nul\x00 \x1b\t\x7f \xc3\xa9 \xef\xbf\xbd \xe2\x82\n";
    let output = run(
        home.notify(&["--timeout", "10", "--lossy", &bob.jid]),
        input,
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), "", "{output}");
    assert_eq!(
        output.stderr_str(),
        "notify: warning: replaced 3 invalid UTF-8 bytes and 3 control characters with U+FFFD\n",
        "{output}"
    );
    assert_eq!(
        next_body(&mut receiver, &alice),
        "caf\u{FFFD} bell\u{FFFD} nul\u{FFFD} \u{FFFD}\t\u{7f} \u{e9} \u{FFFD} \u{FFFD}\u{FFFD}"
    );

    // Both kinds of change: still one line.
    let output = run(
        home.notify(&["--timeout", "10", &bob.jid]),
        b"\x1b[1mbold\x1b[0m \xff\x01\n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.stderr_str(),
        "notify: warning: removed 2 terminal escape sequences, replaced 1 invalid UTF-8 byte \
         and 1 control character with U+FFFD\n",
        "{output}"
    );
    assert_eq!(next_body(&mut receiver, &alice), "bold \u{FFFD}\u{FFFD}");

    // Only escapes and blanks: nothing to send, nothing said, no connection.
    let output = run(
        Home::new().notify(&["a@example.org"]),
        b"\x1b[0m\n \n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
}

#[test]
fn notify_sends_a_megabyte_as_several_messages_in_order() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    // About 1 MB of lines, with what escaping makes longer (& < > and the
    // line ends count 4 or 5 bytes each on the wire) and non-ASCII text.
    let mut input = String::new();
    let mut number = 0;
    while input.len() < 1 << 20 {
        number += 1;
        input.push_str(&format!("{number:06} <job> & résumé: ok\n"));
    }
    let started = std::time::Instant::now();
    let output = run(
        home.notify(&["--timeout", "20", "--subject", "big", &bob.jid]),
        input.as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), "", "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    let bodies = parts(&mut receiver, &alice);
    assert!(bodies.len() >= 18, "{} parts", bodies.len());
    for body in &bodies {
        let on_the_wire = body.len()
            + 4 * body.matches(['&', '\n']).count()
            + 3 * body.matches(['<', '>']).count();
        assert!(on_the_wire <= 60000, "{on_the_wire} bytes: {:.80}", body);
        assert!(
            body.starts_with(|c: char| c.is_ascii_digit()),
            "cut at a line end: {:.80}",
            body
        );
    }
    assert_eq!(bodies.join("\n"), input.trim_end_matches('\n'));
    eprintln!("1 MB in {} parts, {:?}", bodies.len(), started.elapsed());
}

#[test]
fn notify_cuts_a_line_longer_than_the_limit_at_character_boundaries() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut receiver = online(prosody, &bob);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    // One line of 2-, 3- and 4-byte characters and entities, so that the
    // cuts fall at every offset, after a short line.
    let long: String = "é€😀&<x".repeat(300);
    let input = format!("first\n{long}\n");
    let output = run(
        home.notify(&["--timeout", "10", "--max-body", "300", &bob.jid]),
        input.as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    let bodies = parts(&mut receiver, &alice);
    assert!(bodies.len() > 10, "{} parts", bodies.len());
    assert_eq!(
        bodies[0], "first",
        "a line end where the long line does not fit"
    );
    assert_eq!(bodies[1..].concat(), long);

    let output = run(home.notify(&["--max-body", "100", &bob.jid]), b"x\n", LIMIT);
    assert_one_line(&output, 64, "--max-body 100");
}

#[test]
fn notify_print_writes_the_stanzas_instead_of_sending_them() {
    // No account configured: --print needs none.
    let home = Home::new();
    let mut input = String::from("\x1b[32mfirst\x1b[0m\n");
    input.push_str(&"a line of text\n".repeat(100));
    let output = run(
        home.notify(&[
            "--print",
            "--max-body",
            "500",
            "--room",
            "r@muc.example.org",
            "a@example.org",
        ]),
        input.as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.stderr_str(),
        "notify: warning: removed 2 terminal escape sequences\n",
        "{output}"
    );
    let stdout = output.stdout_str();
    let stanzas: Vec<Element> = stdout
        .lines()
        .map(|line| Element::parse(line).unwrap())
        .collect();
    let total = stanzas.len() / 2;
    assert!(total >= 3, "{stdout}");
    for (index, stanza) in stanzas.iter().enumerate() {
        let (to, kind) = if index < total {
            ("a@example.org", "chat")
        } else {
            ("r@muc.example.org", "groupchat")
        };
        assert_eq!(stanza.attr("to"), Some(to), "{stdout}");
        assert_eq!(stanza.attr("type"), Some(kind), "{stdout}");
        let body = stanza.child("body", NS_CLIENT).unwrap().text();
        let marker = format!("({}/{total}) ", index % total + 1);
        assert!(body.starts_with(&marker), "{body}");
        if index % total == 0 {
            assert!(
                body.starts_with(&format!("{marker}first\na line")),
                "{body}"
            );
        }
    }
}

/// A new room named after `prefix`, made and joined by `watcher` as nick
/// `watcher`, whose session is returned once it is in.
fn watcher_in_a_new_room(prosody: &Prosody, watcher: &Account, prefix: &str) -> (String, Spawned) {
    let room = format!(
        "{}@{}",
        harness::unique(prefix).to_lowercase(),
        prosody.muc_domain()
    );
    let mut inside = harness::Spawned::start(harness::login(
        prosody,
        watcher,
        harness::Transport::StartTls,
        &["--join", &format!("{room}/watcher"), "--create-rooms"],
    ));
    inside.expect_line(LIMIT, |line| line.contains("status code='110'"));
    (room, inside)
}

#[test]
fn room_notify_cleans_the_text_the_way_notify_does() {
    let prosody = Prosody::shared();
    let (notifier, watcher) = (
        prosody.new_account("notifier"),
        prosody.new_account("watcher"),
    );
    let (room, mut inside) = watcher_in_a_new_room(prosody, &watcher, "ci");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/room-notify");
    let home = Home::new();
    let mut command = home.command(script, &["--nick", "ci", &room, &notifier.jid]);
    command
        .arg(&notifier.password_file)
        .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
        .arg("--cafile")
        .arg(prosody.ca_pem());
    let output = run(command, b"\x1b[1;31mbuild FAILED\x1b[0m \xff\n", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.stderr_str(),
        "notify: warning: removed 2 terminal escape sequences and replaced 1 invalid UTF-8 byte \
         with U+FFFD\n",
        "{output}"
    );
    let line = inside.expect_line(LIMIT, |line| {
        line.starts_with("<message") && line.contains(&format!("from='{room}/ci'"))
    });
    let body = Element::parse(&line)
        .unwrap()
        .child("body", NS_CLIENT)
        .map(Element::text);
    assert_eq!(body.as_deref(), Some("build FAILED \u{FFFD}"), "{line}");
}

#[test]
fn notify_posts_to_a_room_and_reports_the_room_refusing_us() {
    let prosody = Prosody::shared();
    let (alice, watcher) = (prosody.new_account("alice"), prosody.new_account("watcher"));
    // Someone in the room (who also creates it) to see the post.
    let (room, mut inside) = watcher_in_a_new_room(prosody, &watcher, "ops");

    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    let tag = harness::unique("nightly");
    let output = run(
        home.notify(&["--timeout", "10", "--room", &room, "--nick", "cron"]),
        format!("{tag} backup done\n").as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    let line = inside.expect_line(LIMIT, |line| line.contains(&tag));
    assert!(
        line.contains("type='groupchat'") && line.contains(&format!("from='{room}/cron'")),
        "{line}"
    );

    // The nick is taken by the watcher: the room refuses us, try again later.
    let output = run(
        home.notify(&["--timeout", "10", "--room", &room, "--nick", "watcher"]),
        b"never posted\n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(75), "{output}");
    assert!(output.stderr_str().contains("conflict"), "{output}");
}

#[test]
fn watch_log_follows_a_file_into_a_room_and_leaves_cleanly_when_stopped() {
    let prosody = Prosody::shared();
    let (alice, watcher) = (prosody.new_account("alice"), prosody.new_account("watcher"));
    let (room, mut inside) = watcher_in_a_new_room(prosody, &watcher, "logs");

    let home = Home::new();
    home.config(&account_config(prosody, &alice));
    let log = home.path().join("app.log");
    std::fs::write(&log, "an old line, not posted\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/watch-log");
    let mut watch = harness::Spawned::start(
        home.command(script, &["--nick", "tail", log.to_str().unwrap(), &room]),
    );
    // Joined: the room shows us arriving.
    inside.expect_line(LIMIT, |line| {
        line.starts_with("<presence") && line.contains(&format!("from='{room}/tail'"))
    });
    let tag = harness::unique("error");
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(file, "{tag}: disk <sda> & more").unwrap();
    }
    let line = inside.expect_line(LIMIT, |line| line.contains(&tag));
    assert!(line.contains(&format!("from='{room}/tail'")), "{line}");
    assert!(line.contains("disk &lt;sda&gt; &amp; more"), "{line}");
    assert!(!line.contains("old line"), "{line}");

    // Stopped like a service manager does (SIGTERM to the group): it leaves
    // the room and exits 0 once the server acknowledged everything.
    watch.signal(Signal::TERM);
    let status = watch.wait_timeout(LIMIT).expect("watch-log ended");
    assert_eq!(status.code(), Some(0), "{}", watch.stderr());
    inside.expect_line(LIMIT, |line| {
        line.contains(&format!("from='{room}/tail'")) && line.contains("type='unavailable'")
    });
}

#[test]
fn notify_names_a_bounced_recipient_accepts_xmpp_uris_and_refuses_a_bare_domain_first() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut bob_online = online(prosody, &bob);
    let home = Home::new();
    home.config(&account_config(prosody, &alice));

    let nobody = format!("nobody-{}@{}", harness::random_string(8), prosody.domain());
    let output = run(
        home.notify(&["--timeout", "10", &nobody]),
        b"alert\n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(67), "{output}");
    assert_eq!(
        output.stderr_str(),
        format!("xmpp-auth: the message to {nobody} bounced: service-unavailable\n"),
        "{output}"
    );

    let tag = harness::unique("by uri");
    let uri = format!("xmpp:{}?message", bob.jid);
    let output = run(
        home.notify(&["--timeout", "10", &uri]),
        tag.as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    bob_online.expect_line(LIMIT, |line| line.contains(&tag));

    // A recipient without a local part: refused before connecting.
    let output = run(
        home.notify(&["--timeout", "10", &bob.user]),
        b"alert\n",
        LIMIT,
    );
    assert_eq!(output.code(), Some(64), "{output}");
    assert!(
        output.stderr_str().contains("a JID without a local part")
            && output.stderr_str().contains("--to-domain"),
        "{output}"
    );
}

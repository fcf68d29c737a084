//! xmpp-upload against the harness Prosody's mod_http_file_share (XEP-0363):
//! a file sent to a second account arrives as a link with out-of-band data
//! and downloads byte for byte; the bad cases each give their status and line
//! (a file missing, too large for the service, no service, a certificate the
//! PUT does not trust).

use harness::{login, online, tool, Output, Prosody, ProsodyOptions, Transport};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// `xmpp-connect … xmpp-auth … xmpp-upload ARGS` for a new account of `prosody`.
fn upload_chain(prosody: &Prosody, args: &[&std::ffi::OsStr]) -> Command {
    upload_chain_as(prosody, &prosody.new_account("alice"), args)
}

/// [`upload_chain`] for `alice`.
fn upload_chain_as(
    prosody: &Prosody,
    alice: &harness::Account,
    args: &[&std::ffi::OsStr],
) -> Command {
    let mut command = login(prosody, alice, Transport::StartTls, &[]);
    command.arg(tool("xmpp-upload")).args(args);
    command
}

/// Run the chain with the harness CA for the PUT.
fn send(prosody: &Prosody, file: &Path, to: &[&str], extra: &[&str]) -> Output {
    send_as(prosody, &prosody.new_account("alice"), file, to, extra)
}

/// [`send`] from `alice`.
fn send_as(
    prosody: &Prosody,
    alice: &harness::Account,
    file: &Path,
    to: &[&str],
    extra: &[&str],
) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--cafile".as_ref(), prosody.ca_pem().as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    args.push(file.as_os_str());
    args.extend(to.iter().map(|a| std::ffi::OsStr::new(*a)));
    harness::run(upload_chain_as(prosody, alice, &args), b"", WAIT)
}

/// A file of `size` pseudo-random bytes in the server's scratch directory.
fn random_file(prosody: &Prosody, name: &str, size: usize) -> (PathBuf, Vec<u8>) {
    let path = prosody
        .scratch_dir()
        .join(format!("{}-{name}", harness::unique("upload")));
    let mut data = Vec::with_capacity(size);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ size as u64;
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// The text of the first `<tag>…</tag>` in `line`.
fn between<'a>(line: &'a str, open: &str, close: &str) -> &'a str {
    let start = line
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {line}"))
        + open.len();
    let end = line[start..].find(close).unwrap() + start;
    &line[start..end]
}

#[test]
fn a_file_arrives_as_a_link_with_oob_data_and_downloads_byte_for_byte() {
    let prosody = Prosody::shared();
    let bob = prosody.new_account("bob");
    let mut session = online(prosody, &bob);
    let (file, data) = random_file(prosody, "graph.png", 300_000);
    let out = send(prosody, &file, &[&bob.jid], &["--desc", "the weekly graph"]);
    out.assert_success();
    let line = session.expect_line(WAIT, |l| {
        l.starts_with("<message") && l.contains("jabber:x:oob")
    });
    let url = between(&line, "<url>", "</url>").replace("&amp;", "&");
    assert_eq!(
        between(&line, "<body>", "</body>").replace("&amp;", "&"),
        url,
        "{line}"
    );
    assert_eq!(
        between(&line, "<desc>", "</desc>"),
        "the weekly graph",
        "{line}"
    );
    let port = prosody.upload_port().unwrap();
    assert!(
        url.starts_with(&format!("https://localhost:{port}/")),
        "{url}"
    );
    assert!(url.ends_with(".png"), "{url}");
    assert_eq!(
        harness::https_get(&url, prosody.ca_pem()),
        data,
        "the file as uploaded"
    );
}

#[test]
fn a_missing_or_unreadable_file_is_66_before_anything_is_sent() {
    let prosody = Prosody::shared();
    let dir = prosody.scratch_dir();
    for (path, says) in [
        (dir.join("no-such-file"), "cannot open it"),
        (dir.to_path_buf(), "not a regular file"),
    ] {
        let out = send(prosody, &path, &["bob@localhost"], &[]);
        assert_eq!(out.code(), Some(66), "{out}");
        assert!(
            out.stderr_str()
                .contains(&format!("xmpp-upload: {}: {says}", path.display())),
            "{out}"
        );
    }
}

#[test]
fn a_file_larger_than_the_service_takes_is_refused_naming_the_limit() {
    let prosody = Prosody::shared();
    let path = prosody.scratch_dir().join(harness::unique("huge.bin"));
    // Sparse: one byte over the limit costs no disk.
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(harness::UPLOAD_LIMIT + 1).unwrap();
    let out = send(prosody, &path, &["bob@localhost"], &[]);
    assert_eq!(out.code(), Some(65), "{out}");
    let limit = harness::UPLOAD_LIMIT;
    assert!(
        out.stderr_str().contains(&format!(
            "is {} bytes, more than the {limit} bytes (32.0 MiB) that the upload service upload.localhost takes; nothing was uploaded",
            limit + 1
        )),
        "{out}"
    );
}

#[test]
fn a_server_without_an_upload_service_is_69() {
    let prosody = Prosody::start_with(ProsodyOptions {
        upload_limit: None,
        ..Default::default()
    });
    let (file, _) = random_file(&prosody, "a.txt", 10);
    let out = send(&prosody, &file, &["bob@localhost"], &[]);
    assert_eq!(out.code(), Some(69), "{out}");
    assert!(
        out.stderr_str().contains("xmpp-upload: no HTTP upload service (XEP-0363, urn:xmpp:http:upload:0) at localhost (asked localhost, conference.localhost)"),
        "{out}"
    );
}

#[test]
fn a_put_certificate_the_trust_refuses_is_77_and_names_the_key() {
    let prosody = Prosody::shared();
    let (file, _) = random_file(prosody, "a.txt", 10);
    let args: Vec<&std::ffi::OsStr> = vec![
        "--cafile".as_ref(),
        prosody.pki().other_ca_pem.as_os_str(),
        file.as_os_str(),
        "bob@localhost".as_ref(),
    ];
    let out = harness::run(upload_chain(prosody, &args), b"", WAIT);
    assert_eq!(out.code(), Some(77), "{out}");
    assert!(
        out.stderr_str().contains("xmpp-upload: the upload of ")
            && out
                .stderr_str()
                .contains("the server's certificate for localhost is not trusted by --cafile"),
        "{out}"
    );
}

/// The server side of a scripted stream: the slot's put URL to give.
struct Scripted {
    /// The `put` URL of the slot (`{port}` is not replaced: give it whole).
    put: String,
}

/// What a scripted run gave: the exit code, stderr, and the lines
/// xmpp-upload wrote to fd 7 after the slot request.
struct ScriptedRun {
    code: Option<i32>,
    stderr: String,
    after_slot: Vec<String>,
}

impl ScriptedRun {
    /// The run failed with `code`, its stderr says each of `says`, and no
    /// message went out.
    #[track_caller]
    fn assert_refused(&self, code: i32, says: &[&str]) {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        for needle in says {
            assert!(
                self.stderr.contains(needle),
                "no {needle:?} in {}",
                self.stderr
            );
        }
        assert!(self.after_slot.is_empty(), "sent: {:?}", self.after_slot);
    }
}

/// Run xmpp-upload alone with fds 6/7 on pipes, the test playing the server:
/// the domain `localhost` offers upload itself, and grants a slot for `put`.
/// For what no real server does (a plain http URL, HTTP errors, a cut).
fn scripted(script: Scripted, args: &[&str], file: &Path) -> ScriptedRun {
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::OwnedFd;
    let (to_upload_read, to_upload_write) = std::io::pipe().unwrap();
    let (from_upload_read, from_upload_write) = std::io::pipe().unwrap();
    let (fd6, fd7) = (
        OwnedFd::from(to_upload_read),
        OwnedFd::from(from_upload_write),
    );
    let mut prog: Vec<std::ffi::OsString> = vec![tool("xmpp-upload").into()];
    prog.extend(args.iter().map(Into::into));
    prog.push(file.into());
    prog.push("bob@localhost".into());
    let mut command = xmpp_pipes::ucspi::command_with_stream(&prog, &fd6, &fd7).unwrap();
    harness::isolate(&mut command, Path::new("/nonexistent"));
    command.env("XMPP_JID", "alice@localhost/x");
    let server = std::thread::spawn(move || {
        let mut to_upload = to_upload_write;
        let mut lines = BufReader::new(from_upload_read).lines();
        let mut after_slot = Vec::new();
        let mut slot_sent = false;
        while let Some(Ok(line)) = lines.next() {
            if slot_sent {
                after_slot.push(line);
                continue;
            }
            let id = between(&line, "id='", "'").to_owned();
            let answer = if line.contains("disco#info") {
                format!(
                    "<iq type='result' from='localhost' id='{id}'><query xmlns='http://jabber.org/protocol/disco#info'>\
                     <feature var='urn:xmpp:http:upload:0'/></query></iq>"
                )
            } else if line.contains("disco#items") {
                format!("<iq type='result' from='localhost' id='{id}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
            } else if line.contains("urn:xmpp:http:upload:0") {
                slot_sent = true;
                format!(
                    "<iq type='result' from='localhost' id='{id}'><slot xmlns='urn:xmpp:http:upload:0'>\
                     <put url='{}'/><get url='https://localhost/get/f'/></slot></iq>",
                    script.put
                )
            } else {
                continue;
            };
            to_upload
                .write_all(format!("{answer}\n").as_bytes())
                .unwrap();
        }
        drop(to_upload);
        after_slot
    });
    let mut child = harness::Spawned::start(command);
    drop((fd6, fd7));
    child.close_stdin();
    let status = child.wait_timeout(WAIT).expect("xmpp-upload exits");
    ScriptedRun {
        code: status.code(),
        stderr: child.stderr(),
        after_slot: server.join().unwrap(),
    }
}

#[test]
fn a_slot_url_that_is_not_https_is_refused_unless_plaintext() {
    let prosody = Prosody::shared();
    let (file, _) = random_file(prosody, "a.txt", 10);
    let run = scripted(
        Scripted {
            put: "http://127.0.0.1:9/put".into(),
        },
        &[],
        &file,
    );
    run.assert_refused(
        76,
        &[
            "xmpp-upload: the upload slot's put URL http://127.0.0.1:9/put is not https: \
         the file would travel unencrypted; refused (--plaintext allows it",
        ],
    );
}

#[test]
fn http_errors_have_their_statuses_and_send_no_message() {
    let prosody = Prosody::shared();
    let (file, _) = random_file(prosody, "a.txt", 1000);
    let ca = prosody.ca_pem().to_str().unwrap().to_owned();
    for (code, status) in [(403, 77), (413, 65), (500, 75), (503, 75), (404, 76)] {
        let stub =
            harness::HttpStub::start(prosody.pki().server(), harness::StubPlay::Answer(code));
        let put = format!("https://localhost:{}/put/a.txt", stub.port());
        let run = scripted(Scripted { put }, &["--cafile", &ca], &file);
        let seen = stub.finish();
        let name = file.file_name().unwrap().to_str().unwrap();
        run.assert_refused(
            status,
            &[
                &format!("xmpp-upload: the upload of {name}"),
                &format!("failed: HTTP {code} Stub from localhost"),
                "no message was sent",
            ],
        );
        assert!(
            seen.head.starts_with("PUT /put/a.txt HTTP/1.1\r\n"),
            "{}",
            seen.head
        );
        assert!(
            seen.head.contains("Content-Length: 1000\r\n"),
            "{}",
            seen.head
        );
        assert!(
            seen.head.contains("Content-Type: text/plain\r\n"),
            "{}",
            seen.head
        );
    }
}

#[test]
fn a_connection_lost_during_the_put_is_75_and_sends_no_message() {
    let prosody = Prosody::shared();
    let (file, _) = random_file(prosody, "big.bin", 4 << 20);
    let ca = prosody.ca_pem().to_str().unwrap().to_owned();
    let stub = harness::HttpStub::start(
        prosody.pki().server(),
        harness::StubPlay::CutAfter(256 << 10),
    );
    let put = format!("https://localhost:{}/put/big.bin", stub.port());
    let run = scripted(Scripted { put }, &["--cafile", &ca], &file);
    let seen = stub.finish();
    assert!(seen.body_bytes >= 256 << 10, "{seen:?}");
    run.assert_refused(
        75,
        &[
            "failed: the connection to localhost was lost after ",
            &format!(" of {} bytes", 4 << 20),
            "no message was sent (try again later)",
        ],
    );
}

#[test]
fn a_put_certificate_for_another_name_is_77() {
    let prosody = Prosody::shared();
    let (file, _) = random_file(prosody, "a.txt", 10);
    let ca = prosody.ca_pem().to_str().unwrap().to_owned();
    let other = prosody.pki().issue(&["other.example"]);
    let stub = harness::HttpStub::start(&other, harness::StubPlay::Answer(201));
    let put = format!("https://localhost:{}/put/a.txt", stub.port());
    let run = scripted(Scripted { put }, &["--cafile", &ca], &file);
    drop(stub);
    run.assert_refused(
        77,
        &["the server's certificate is not valid for localhost: it is issued for another name"],
    );
}

/// examples/notify with the account in the environment (as cron has it).
fn notify(prosody: &Prosody, sender: &harness::Account, args: &[&std::ffi::OsStr]) -> Output {
    let mut command = Command::new(harness::repo_root().join("examples/notify"));
    harness::isolate(&mut command, &prosody.scratch_dir().join("no-home"));
    command
        .env("PATH", harness::path_with_tools())
        .env("XMPP_JID", &sender.jid)
        .env("XMPP_PASSWORD_FILE", &sender.password_file)
        .env(
            "XMPP_HOST",
            format!("127.0.0.1:{}", prosody.starttls_port()),
        )
        .env("XMPP_CAFILE", prosody.ca_pem())
        .args(args);
    harness::run(command, b"", WAIT)
}

#[test]
fn notify_file_sends_a_link_with_its_description_and_says_why_not() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let mut session = online(prosody, &bob);
    let (file, data) = random_file(prosody, "backup.log", 5000);
    let out = notify(
        prosody,
        &alice,
        &[
            "--file".as_ref(),
            file.as_os_str(),
            "--desc".as_ref(),
            "last night's backup".as_ref(),
            bob.jid.as_ref(),
        ],
    );
    out.assert_success();
    assert_eq!(out.stderr_str(), "", "{out}");
    let line = session.expect_line(WAIT, |l| l.contains("jabber:x:oob"));
    assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");
    assert_eq!(
        between(&line, "<desc>", "</desc>"),
        "last night&apos;s backup",
        "{line}"
    );
    let url = between(&line, "<url>", "</url>").replace("&amp;", "&");
    assert_eq!(harness::https_get(&url, prosody.ca_pem()), data);

    let missing = prosody.scratch_dir().join("no-such.log");
    let out = notify(
        prosody,
        &alice,
        &["--file".as_ref(), missing.as_os_str(), bob.jid.as_ref()],
    );
    assert_eq!(out.code(), Some(66), "{out}");
    assert_eq!(
        out.stderr_str(),
        format!(
            "notify: {}: cannot read it (no such file, or no permission): nothing was sent\n",
            missing.display()
        ),
        "{out}"
    );
}

/// slixmpp (tests/interop/oob_downloader.py) logged in as `bob`, online.
fn downloader(prosody: &Prosody, python: PathBuf, bob: &harness::Account) -> harness::Spawned {
    let mut command = Command::new(python);
    command
        .arg(harness::interop_script("oob_downloader.py"))
        .arg(&bob.jid)
        .arg(&bob.password_file)
        .arg("127.0.0.1")
        .arg(prosody.starttls_port().to_string())
        .arg(prosody.ca_pem());
    let mut client = harness::Spawned::start(command);
    client.expect_line(WAIT, |line| line == "online");
    client
}

/// SHA-256 in hex, as Python's hexdigest prints it.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn an_independent_client_downloads_the_file_byte_for_byte() {
    let Some(python) = harness::interop_python_or_skip("upload to slixmpp") else {
        return;
    };
    let prosody = Prosody::shared();
    let bob = prosody.new_account("bob");
    let mut client = downloader(prosody, python, &bob);
    let (file, data) = random_file(prosody, "screenshot.png", 2_500_000);
    let out = send(prosody, &file, &[&bob.jid], &["--desc", "the screen"]);
    out.assert_success();
    let line = client.expect_line(WAIT, |l| l.starts_with("file ") || l.starts_with("failed "));
    let digest = sha256_hex(&data);
    assert_eq!(line, format!("file {digest} {} yes the screen", data.len()));
}

/// The by-hand check's wrapper of a tool: runs it as its child (stderr on a
/// pty when PTY), closes its own copies of fds 6, 7 and 8, and prints the
/// child's peak RSS from wait4 (the child's and its waited-for descendants').
const WRAPPER: &str = r#"#!/usr/bin/python3
import os, sys
tty = PTY
if tty:
    master, slave = os.openpty()
pid = os.fork()
if pid == 0:
    if tty:
        os.dup2(slave, 2)
    os.execv(TOOL, [TOOL] + sys.argv[1:])
for fd in (6, 7, 8):
    try:
        os.close(fd)
    except OSError:
        pass
if tty:
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    redraws = [part for part in seen.replace(b"\n", b"\r").split(b"\r") if part.strip()]
    sys.stderr.write("NAME on a terminal: %d progress lines, the last: %s\n" % (len(redraws), redraws[-1].decode() if redraws else "none"))
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("NAME: max RSS %d KiB\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// The acceptance check, by hand (`cargo test --test upload -- --ignored
/// --nocapture`): a 20 MB file through xmpp-notify, each of our processes
/// under a wrapper that prints its peak RSS, and slixmpp downloading it.
#[test]
#[ignore = "by hand: prints figures"]
fn twenty_megabytes_through_the_notifier_by_hand() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let python = harness::interop_python().expect("tests/run's target/interop-venv");
    let mut client = downloader(prosody, python, &bob);
    let (file, data) = random_file(prosody, "twenty.bin", 20_000_000);
    // Each tool wrapped: the wrappers are found first on PATH.
    let wrappers = prosody.scratch_dir().join(harness::unique("timed"));
    std::fs::create_dir(&wrappers).unwrap();
    // A wrapper that runs the tool as its child, closes its own copies of
    // fds 6, 7 and 8 (so that the stream ends when the tool's does), and
    // prints the child's peak RSS from wait4 (that of the child itself and
    // the descendants it waited for).
    // xmpp-upload's stderr is a terminal (a pty): its progress line is read
    // back and summed up (how many redraws, the last).
    for name in ["xmpp-connect", "xmpp-auth", "xmpp-upload"] {
        let script = WRAPPER
            .replace("TOOL", &format!("{:?}", tool(name).display().to_string()))
            .replace("NAME", name)
            .replace(
                "PTY",
                if name == "xmpp-upload" {
                    "True"
                } else {
                    "False"
                },
            );
        let path = wrappers.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    // notify puts its own directory first on PATH: a copy of it beside the
    // wrappers runs them.
    let notify_copy = wrappers.join("notify");
    std::fs::copy(harness::repo_root().join("examples/notify"), &notify_copy).unwrap();
    let mut command = Command::new("bash");
    command.arg(&notify_copy);
    harness::isolate(&mut command, &prosody.scratch_dir().join("no-home"));
    command
        .env("PATH", harness::path_with_tools())
        .env("XMPP_JID", &alice.jid)
        .env("XMPP_PASSWORD_FILE", &alice.password_file)
        .env(
            "XMPP_HOST",
            format!("127.0.0.1:{}", prosody.starttls_port()),
        )
        .env("XMPP_CAFILE", prosody.ca_pem())
        .args(["--file".as_ref(), file.as_os_str(), bob.jid.as_ref()]);
    let started = std::time::Instant::now();
    let out = harness::run(command, b"", WAIT);
    println!(
        "notify --file: exit {:?} after {:.2} s",
        out.code(),
        started.elapsed().as_secs_f64()
    );
    print!("{}", out.stderr_str());
    out.assert_success();
    let line = client.expect_line(WAIT, |l| l.starts_with("file ") || l.starts_with("failed "));
    let digest = sha256_hex(&data);
    println!("sent:       sha256 {digest} size {}", data.len());
    println!("slixmpp:    {line}");
    assert_eq!(line, format!("file {digest} {} yes ", data.len()));
}

#[test]
fn the_tree_writes_a_received_files_link_and_description_in_out() {
    let prosody = Prosody::shared();
    let bob = prosody.new_account("bob");
    let tree = prosody.scratch_dir().join(harness::unique("bob-tree"));
    std::fs::create_dir(&tree).unwrap();
    // bob's listener: the chain's output through stanza-split into jid-route --dir.
    let chain = login(prosody, &bob, Transport::StartTls, &["--presence"]);
    let mut listener = Command::new("bash");
    listener
        .arg("-c")
        .arg(r#"tree=$1 me=$2; shift 2; "$@" | stanza-split | jid-route --dir "$tree" --me "$me""#)
        .arg("bash")
        .arg(&tree)
        .arg(&bob.jid)
        .arg(chain.get_program())
        .args(chain.get_args())
        .envs(chain.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("PATH", harness::path_with_tools());
    for (name, value) in chain.get_envs() {
        if value.is_none() {
            listener.env_remove(name);
        }
    }
    let mut session = harness::Spawned::start(listener);
    harness::wait_for_file(&tree.join("mypresence"), WAIT, |text| {
        text.contains("available")
    });
    let (file, _) = random_file(prosody, "notes.txt", 1234);
    let alice = prosody.new_account("alice");
    let out = send_as(
        prosody,
        &alice,
        &file,
        &[&bob.jid],
        &["--desc", "meeting notes"],
    );
    out.assert_success();
    let out_file = tree.join(&alice.jid).join("out");
    let text = harness::wait_for_file(&out_file, WAIT, |t| t.contains("meeting notes"));
    let port = prosody.upload_port().unwrap();
    assert!(
        text.contains(&format!("> https://localhost:{port}/"))
            && text.trim_end().ends_with("notes.txt (meeting notes)"),
        "{text}"
    );
    session.kill();
}

#[test]
fn ii_client_file_sends_a_file_from_the_tree_and_it_shows_in_out() {
    let prosody = Prosody::shared();
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let temp = harness::TempDir::new("tree");
    let dir = temp.join("xmpp");
    let mut run = harness::example("ii-client");
    run.arg("run")
        .arg(&dir)
        .arg(&alice.jid)
        .arg(&alice.password_file)
        .args(["--host", &format!("127.0.0.1:{}", prosody.starttls_port())])
        .arg("--cafile")
        .arg(prosody.ca_pem());
    harness::isolate(&mut run, &prosody.scratch_dir().join("no-home"));
    let mut tree = harness::Spawned::start(run);
    harness::wait_for_file(&dir.join("mypresence"), WAIT, |t| t.contains("available"));
    let mut receiver = online(prosody, &bob);
    let (file, data) = random_file(prosody, "plan.pdf", 40_000);

    let mut send = harness::example("ii-client");
    send.args([
        "cmd".as_ref(),
        dir.as_os_str(),
        "/file".as_ref(),
        bob.jid.as_ref(),
        file.as_os_str(),
    ])
    .args(["the", "plan"]);
    harness::isolate(&mut send, &prosody.scratch_dir().join("no-home"));
    let out = harness::run(send, b"", WAIT);
    out.assert_success();
    let line = receiver.expect_line(WAIT, |l| l.contains("jabber:x:oob"));
    let url = between(&line, "<url>", "</url>").replace("&amp;", "&");
    assert_eq!(between(&line, "<desc>", "</desc>"), "the plan", "{line}");
    assert_eq!(harness::https_get(&url, prosody.ca_pem()), data);
    // The other session's carbon puts it in the conversation, as our line.
    let text = harness::wait_for_file(&dir.join(&bob.jid).join("out"), WAIT, |t| {
        t.contains("the plan")
    });
    assert!(
        text.contains(&format!("<{}> {url} (the plan)", alice.jid)),
        "{text}"
    );

    let mut missing = harness::example("ii-client");
    missing.args([
        "file".as_ref(),
        dir.as_os_str(),
        bob.jid.as_ref(),
        temp.join("nothing").as_os_str(),
    ]);
    harness::isolate(&mut missing, &prosody.scratch_dir().join("no-home"));
    let out = harness::run(missing, b"", WAIT);
    assert_eq!(out.code(), Some(66), "{out}");
    assert!(
        out.stderr_str().contains("xmpp-upload: ")
            && out.stderr_str().contains("nothing: cannot open it"),
        "{out}"
    );

    let mut stop = harness::example("ii-client");
    stop.arg("stop").arg(&dir);
    harness::run(stop, b"", WAIT).assert_success();
    assert_eq!(
        tree.wait_timeout(WAIT).and_then(|s| s.code()),
        Some(0),
        "{}",
        tree.stderr()
    );
}

#[test]
fn the_echo_bot_answers_file_with_a_file() {
    let prosody = Prosody::shared();
    let (bot, alice) = (prosody.new_account("bot"), prosody.new_account("alice"));
    let temp = harness::TempDir::new("echo-bot");
    let (file, data) = random_file(prosody, "answer.txt", 3000);
    let mut command = harness::echo_bot(prosody, &bot, &temp);
    command.env("ECHO_BOT_FILE", &file);
    harness::isolate(&mut command, &prosody.scratch_dir().join("no-home"));
    let mut running = harness::Spawned::start(command);
    running.expect_line(WAIT, |line| line.starts_with("echo-bot: online as "));
    let mut asker = online(prosody, &alice);
    asker.write_line(&harness::chat(&bot.jid, "file"));
    let line = asker.expect_line(WAIT, |l| l.contains("jabber:x:oob"));
    assert!(line.contains(&format!("from='{}/", bot.jid)), "{line}");
    let url = between(&line, "<url>", "</url>").replace("&amp;", "&");
    assert_eq!(harness::https_get(&url, prosody.ca_pem()), data);
    let said = running.expect_line(WAIT, |line| line.starts_with("echo-bot: sent"));
    assert!(
        said.starts_with(&format!("echo-bot: sent the file to {}/", alice.jid)),
        "{said}"
    );
    // Anything else is still echoed.
    asker.write_line(&harness::chat(&bot.jid, "hello"));
    asker.expect_line(WAIT, |l| l.contains("<body>echo: hello</body>"));
    running.kill();
}

#[test]
fn both_prosody_versions_take_the_upload() {
    for version in harness::ProsodyVersion::ALL {
        if let Some(why) = version.unavailable() {
            harness::skip(&format!("upload on {}", version.name()), &why);
            continue;
        }
        let prosody = Prosody::start_with(ProsodyOptions {
            version,
            ..Default::default()
        });
        let bob = prosody.new_account("bob");
        let mut session = online(&prosody, &bob);
        let (file, data) = random_file(&prosody, "both.bin", 70_000);
        let out = send(&prosody, &file, &[&bob.jid], &[]);
        assert_eq!(out.code(), Some(0), "{}: {out}", version.name());
        let line = session.expect_line(WAIT, |l| l.contains("jabber:x:oob"));
        let url = between(&line, "<url>", "</url>").replace("&amp;", "&");
        assert_eq!(
            harness::https_get(&url, prosody.ca_pem()),
            data,
            "{}",
            version.name()
        );
    }
}

/// `notify --file` checks the file before it connects: a typo costs no
/// login (no account or server is set up here at all).
#[test]
fn notify_refuses_a_missing_file_or_a_directory_before_connecting() {
    let temp = harness::TempDir::new("notify-file");
    for (path, says) in [
        (temp.path().join("nothing"), "cannot read it"),
        (temp.path().to_owned(), "is a directory"),
    ] {
        let mut command = harness::example("notify");
        command.arg("--file").arg(&path).arg("bob@example.org");
        harness::isolate(&mut command, &temp.path().join("no-home"));
        command.env("XMPP_JID", "alice@example.org");
        let out = harness::run(command, b"", WAIT);
        assert_eq!(out.code(), Some(66), "{out}");
        assert!(out.stderr_str().contains(says), "{out}");
        assert!(
            !out.stderr_str().contains("xmpp-connect"),
            "nothing connected: {out}"
        );
    }
}

//! Bad command lines and local failures of xmpp-auth: no server needed.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_xmpp-auth");

/// Run `xmpp-auth ARGS` through sh, with `redirections` for fds 6/7, no stdin, no terminal.
fn run(args: &[&str], redirections: &str, env: &[(&str, &str)]) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(format!(
            "exec setsid '{BIN}' {} {redirections}",
            quoted.join(" ")
        ))
        .stdin(Stdio::null())
        .env_remove("XMPP_PASSWORD");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run xmpp-auth")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_fails(output: &Output, status: i32, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(status), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("xmpp-auth: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err:?}");
}

#[test]
fn help_and_version() {
    let output = run(&["--help"], "", &[]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.starts_with("Usage: xmpp-auth"));
    assert!(help.contains("--password-file"));
    let output = run(&["--version"], "", &[]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("xmpp-auth "));
}

#[test]
fn usage_errors() {
    assert_fails(&run(&[], "", &[]), 64, "missing JID");
    assert_fails(&run(&["--frobnicate", "a@b"], "", &[]), 64, "--frobnicate");
    assert_fails(&run(&["--timeout", "soon", "a@b"], "", &[]), 64, "soon");
    assert_fails(&run(&["--timeout"], "", &[]), 64, "needs a value");
    assert_fails(&run(&["--mechanism", "ROT13", "a@b"], "", &[]), 64, "ROT13");
    assert_fails(&run(&["example.org"], "", &[]), 64, "no localpart");
    assert_fails(&run(&["a b@example.org"], "", &[]), 64, "not a valid JID");
}

#[test]
fn says_how_to_run_it_when_fds_6_and_7_are_not_open() {
    assert_fails(
        &run(&["user@example.org"], "6<&- 7>&-", &[]),
        64,
        "run it under xmpp-connect",
    );
}

#[test]
fn password_problems_are_configuration_errors() {
    let dir = std::env::temp_dir().join(format!("xmpp-auth-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let open = dir.join("open.pass");
    std::fs::File::create(&open)
        .unwrap()
        .write_all(b"secret\n")
        .unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let open = open.to_str().unwrap();
    let fds = "6</dev/null 7>/dev/null";
    assert_fails(
        &run(&["--password-file", open, "u@example.org"], fds, &[]),
        78,
        "chmod 600",
    );
    assert_fails(
        &run(
            &["--password-file", "/nonexistent/pw", "u@example.org"],
            fds,
            &[],
        ),
        78,
        "/nonexistent/pw",
    );
    assert_fails(
        &run(&["--password-fd", "9", "u@example.org"], fds, &[]),
        78,
        "not open",
    );
    assert_fails(
        &run(&["--password-command", "exit 1", "u@example.org"], fds, &[]),
        78,
        "password command failed",
    );
    assert_fails(&run(&["u@example.org"], fds, &[]), 78, "no password given");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_connection_is_a_temporary_failure() {
    let output = run(
        &["u@example.org"],
        "6</dev/null 7>/dev/null",
        &[("XMPP_PASSWORD", "pw")],
    );
    assert_fails(&output, 75, "closed");
}

//! The benchmarks' server (`bench/run` starts it): a throwaway Prosody on
//! 127.0.0.1 with its own CA and three accounts (alice, bob, carol), logging only
//! warnings (so that the server's CPU time is its work, not its debug log).
//!
//! It prints what a shell script needs as `NAME='value'` lines, then `READY`,
//! and keeps the server up until its standard input closes; then it stops
//! the server and removes its files:
//!
//! ```text
//! BENCH_PORT='40123'                  the STARTTLS client port on 127.0.0.1
//! BENCH_DIRECT_PORT='40124'           the direct TLS client port
//! BENCH_PROSODY_VERSION='prosody-13'  which Prosody
//! BENCH_CA='/tmp/.../ca.pem'          the CA certificate the server's is signed by
//! BENCH_PROSODY_PID='12345'           for /proc/PID/stat (the server's CPU time)
//! BENCH_DIR='/tmp/...'                a scratch directory, removed at the end
//! BENCH_ALICE='alice@localhost'       and BENCH_ALICE_PASSWORD_FILE (mode 0600),
//! BENCH_BOB='bob@localhost'           BENCH_BOB_PASSWORD_FILE, and for go-sendxmpp
//! BENCH_ALICE_SENDXMPPRC='/tmp/...'   a config file (mode 0600) with alice's account
//! BENCH_CAROL='carol@localhost'       never online: one-off messages go to her
//!                                     offline store, not to bob's next session
//! READY
//! ```
//!
//! `bench_server [--prosody 0.12|13] [--address IP]`: which Prosody (the
//! harness's default: 13 where fetched), and the address its client ports
//! listen on (default 127.0.0.1; bench/run's round-trip case runs it in a
//! network namespace of its own, on the delayed link's address).

use harness::{Account, Prosody, ProsodyOptions, ProsodyVersion};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (mut version, mut address) = (None, std::net::Ipv4Addr::LOCALHOST);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value.as_deref()) {
            ("--prosody", Some("0.12")) => version = Some(ProsodyVersion::V0_12),
            ("--prosody", Some("13")) => version = Some(ProsodyVersion::V13),
            ("--address", Some(ip)) if ip.parse::<std::net::Ipv4Addr>().is_ok() => {
                address = ip.parse().expect("checked");
            }
            _ => {
                eprintln!("bench_server: usage: bench_server [--prosody 0.12|13] [--address IPV4]");
                return ExitCode::from(64);
            }
        }
    }
    let options = ProsodyOptions {
        log_level: "warn",
        address,
        ..ProsodyOptions::of(version.unwrap_or_else(ProsodyVersion::default_for_tests))
    };
    if let Some(why) = options.version.unavailable() {
        eprintln!("bench_server: {why}");
        return ExitCode::from(69);
    }
    let prosody = Prosody::start_with(options);
    let dir = prosody.scratch_dir().to_path_buf();
    let (alice, bob) = (prosody.account("alice"), prosody.account("bob"));
    let carol = prosody.account("carol");
    let sendxmpprc = dir.join("alice.sendxmpprc");
    if let Err(e) = write_sendxmpprc(&sendxmpprc, &alice) {
        eprintln!("bench_server: cannot write {}: {e}", sendxmpprc.display());
        return ExitCode::FAILURE;
    }
    let pid = prosody.pid().expect("Prosody runs");
    let mut vars = vec![
        ("BENCH_PORT", prosody.starttls_port().to_string()),
        ("BENCH_DIRECT_PORT", prosody.direct_tls_port().to_string()),
        (
            "BENCH_PROSODY_VERSION",
            prosody.version().name().to_string(),
        ),
        ("BENCH_CA", path(prosody.ca_pem())),
        ("BENCH_PROSODY_PID", pid.to_string()),
        ("BENCH_DIR", path(&dir)),
        ("BENCH_ALICE", alice.jid.clone()),
        ("BENCH_ALICE_PASSWORD_FILE", path(&alice.password_file)),
        ("BENCH_ALICE_SENDXMPPRC", path(&sendxmpprc)),
        ("BENCH_BOB", bob.jid.clone()),
        ("BENCH_BOB_PASSWORD_FILE", path(&bob.password_file)),
        ("BENCH_CAROL", carol.jid.clone()),
    ];
    let mut out = std::io::stdout().lock();
    for (name, value) in vars.drain(..) {
        // Single quotes for the shell; the values hold none (temp paths,
        // numbers, JIDs), but quote them properly anyway.
        let _ = writeln!(out, "{name}='{}'", value.replace('\'', r"'\''"));
    }
    let _ = writeln!(out, "READY");
    let _ = out.flush();
    drop(out);

    // Up until stdin closes (or yields anything: the caller is done).
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    prosody.stop();
    ExitCode::SUCCESS
}

/// go-sendxmpp's configuration file: the account, its password; mode 0600.
fn write_sendxmpprc(file: &Path, account: &Account) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?;
    writeln!(
        f,
        "username: {}\npassword: {}",
        account.jid, account.password
    )
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

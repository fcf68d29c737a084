//! A real ejabberd server on 127.0.0.1 for the tests: the second server
//! implementation the chain is checked against, besides Prosody.
//!
//! It runs through Debian's `ejabberdctl foreground` as the `ejabberd` user,
//! with an `ejabberdctl.cfg` of its own (the script sources that file after
//! its options, so `--config` alone would not win over the system one). The
//! Erlang distribution uses a fixed port of its own on 127.0.0.1
//! (`ERL_DIST_PORT`): no epmd is started, so nothing outlives the server;
//! `ERL_EPMD_ADDRESS=127.0.0.1` is set as well, should an epmd ever be
//! started. The Erlang VM is started through `setpriv --pdeathsig KILL`,
//! so it dies with `ejabberdctl`, which dies with the test process.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::pki::write_file;
use crate::process::{kill_group, run, spawn};
use crate::prosody::passwd_entry;
use crate::{find_program, free_port, Account, CertKey, Pki, TempDir};

/// How long ejabberd may take to start before the harness gives up (the
/// Erlang VM is slow to boot on a small machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `ejabberdctl` command may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(60);
/// How many console lines are kept for panic messages.
const CONSOLE_TAIL: usize = 400;

/// Which ejabberd the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// 23.01, Debian 12's `ejabberd` package (SASL1 only).
    V23,
    /// 24.12 from bookworm-backports with its newer Erlang libraries
    /// (erlang-p1-*), unpacked by `tests/fetch-servers` into
    /// `target/servers/ejabberd-24`, on Debian 12's Erlang 25; `mod_auth_fast`
    /// on (SASL2 with Bind2 and FAST, offered when the stream header
    /// carries `from`).
    V24,
}

impl Version {
    /// Both, oldest first.
    pub const ALL: [Version; 2] = [Version::V23, Version::V24];

    /// A short name for test output: `ejabberd-23.01`, `ejabberd-24.12`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V23 => "ejabberd-23.01",
            Version::V24 => "ejabberd-24.12",
        }
    }

    /// This version's `ejabberdctl`.
    fn ejabberdctl(self) -> PathBuf {
        match self {
            Version::V23 => find_program("ejabberdctl"),
            Version::V24 => crate::servers_dir().join("ejabberd-24/usr/sbin/ejabberdctl"),
        }
    }

    /// The modules this version enables beyond the ones both get.
    fn extra_modules(self) -> &'static str {
        match self {
            Version::V23 => "",
            Version::V24 => "  mod_auth_fast: {}\n",
        }
    }
}

struct Running {
    child: Child,
    console: Arc<Mutex<VecDeque<String>>>,
}

/// An ejabberd server listening on 127.0.0.1 only: client STARTTLS (required)
/// on one port, client direct TLS on another, host `localhost` serving the
/// test CA's certificate, passwords stored as SCRAM-SHA-256, stream
/// management, carbons, ping and offline storage enabled (as in ejabberd's
/// own default config; without it a message to an account with no session
/// bounces). Killed when dropped (the
/// [`Ejabberd::shared`] one when the test process exits).
pub struct Ejabberd {
    pki: Pki,
    server: CertKey,
    /// ejabberd's own directory (configs, spool, logs, HOME with the Erlang
    /// cookie), owned by the `ejabberd` user.
    run_dir: PathBuf,
    config: PathBuf,
    ctl_config: PathBuf,
    log_path: PathBuf,
    node: String,
    starttls_port: u16,
    direct_tls_port: u16,
    dist_port: u16,
    run_as: (u32, u32),
    version: Version,
    running: Mutex<Option<Running>>,
    /// Last, so that the processes are gone before the files.
    dir: TempDir,
}

fn quoted(s: &str, quote: char) -> String {
    let mut out = String::from(quote);
    for c in s.chars() {
        match (quote, c) {
            ('\'', '\'') => out.push_str("'\\''"),
            ('"', '"' | '\\') => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A YAML double-quoted string.
fn yaml_path(p: &Path) -> String {
    quoted(p.to_str().expect("UTF-8 path"), '"')
}

/// A POSIX shell single-quoted string.
fn sh_path(p: &Path) -> String {
    quoted(p.to_str().expect("UTF-8 path"), '\'')
}

impl Ejabberd {
    /// Why ejabberd 23.01 cannot be run here (see
    /// [`Ejabberd::unavailable_version`]).
    pub fn unavailable() -> Option<String> {
        Ejabberd::unavailable_version(Version::V23)
    }

    /// Why `version` cannot be run here, if it cannot: not installed (24.12:
    /// not fetched), or not root (Debian's `ejabberdctl` runs only as root
    /// or as `ejabberd`, and the harness must switch to that user).
    pub fn unavailable_version(version: Version) -> Option<String> {
        if !Version::V23.ejabberdctl().is_file() {
            return Some(
                "ejabberd is not installed (no ejabberdctl): apt-get install ejabberd".into(),
            );
        }
        if !version.ejabberdctl().is_file() {
            return Some(format!(
                "ejabberd 24.12 is not fetched (no {}): run tests/fetch-servers",
                version.ejabberdctl().display()
            ));
        }
        if passwd_entry(|n, _| n == "ejabberd").is_none() {
            return Some("there is no `ejabberd` user (reinstall the ejabberd package)".into());
        }
        if !rustix::process::geteuid().is_root() {
            return Some(
                "the tests must run as root to start ejabberd as the `ejabberd` user \
                 (Debian's ejabberdctl refuses other users)"
                    .into(),
            );
        }
        None
    }

    /// The shared ejabberd 23.01, started on first use and kept for the
    /// whole test binary. Tests using it should make their own accounts
    /// ([`Ejabberd::new_account`]) and not stop it.
    pub fn shared() -> &'static Ejabberd {
        Ejabberd::shared_version(Version::V23)
    }

    /// The shared instance of `version` (see [`Ejabberd::shared`]).
    pub fn shared_version(version: Version) -> &'static Ejabberd {
        static SHARED: [OnceLock<Ejabberd>; 2] = [OnceLock::new(), OnceLock::new()];
        extern "C" {
            fn atexit(cb: extern "C" fn()) -> std::os::raw::c_int;
        }
        extern "C" fn cleanup() {
            for e in SHARED.iter().filter_map(OnceLock::get) {
                e.kill_now();
                let _ = std::fs::remove_dir_all(e.dir.path());
                let _ = std::fs::remove_dir_all(e.pki.dir());
            }
        }
        let slot = &SHARED[Version::ALL.iter().position(|v| *v == version).unwrap_or(0)];
        slot.get_or_init(|| {
            let e = Ejabberd::start_version(version);
            // SAFETY: registering a plain function with libc's atexit (once
            // per slot; cleanup is idempotent).
            unsafe { atexit(cleanup) };
            e
        })
    }

    /// Starts a private ejabberd 23.01 (see [`Ejabberd::start_version`]).
    pub fn start() -> Ejabberd {
        Ejabberd::start_version(Version::V23)
    }

    /// Starts a private instance of `version` on fresh ports with a fresh
    /// [`Pki`]; it stops when dropped. Panics (with ejabberd's output) if it
    /// is not ready within 60 s, or if [`Ejabberd::unavailable_version`]
    /// says why it cannot run.
    pub fn start_version(version: Version) -> Ejabberd {
        if let Some(why) = Ejabberd::unavailable_version(version) {
            panic!("cannot start {}: {why}", version.name());
        }
        let (_, uid, gid) = passwd_entry(|n, _| n == "ejabberd").expect("ejabberd user");
        let pki = Pki::new();
        let dir = TempDir::new("ejabberd");
        let run_dir = dir.join("ejabberd");
        let (spool, logs) = (run_dir.join("spool"), run_dir.join("logs"));
        for d in [&run_dir, &spool, &logs] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        // Its own certificate from the test CA, for a month: see
        // Pki::issue_for_days.
        let server = pki.issue_for_days(&Pki::SERVER_NAMES, 30);
        let (crt, key) = server.write_to(&run_dir, "localhost");
        let ca = run_dir.join("ca.pem");
        let ca_text = std::fs::read(&pki.ca_pem).expect("read the test CA");
        write_file(&ca, &ca_text, 0o644);
        // Erlang reads `inetrc` from the config dir and complains if absent.
        let inetrc = run_dir.join("inetrc");
        write_file(&inetrc, b"", 0o644);
        let mut owned = vec![run_dir.clone(), spool, logs, crt, key, ca, inetrc];
        let setpriv = find_program("setpriv");
        if setpriv.is_file() {
            let wrapper = run_dir.join("erl");
            let text = format!(
                "#!/bin/sh\n# Written by the xmpp-pipes test harness: the Erlang VM dies with ejabberdctl.\n\
                 exec {} --pdeathsig KILL {} \"$@\"\n",
                sh_path(&setpriv),
                sh_path(&find_program("erl")),
            );
            write_file(&wrapper, text.as_bytes(), 0o755);
            owned.push(wrapper);
        }
        for p in &owned {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
        std::fs::create_dir(dir.join("accounts")).expect("mkdir accounts");

        let mut ejabberd = Ejabberd {
            pki,
            server,
            config: run_dir.join("ejabberd.yml"),
            ctl_config: run_dir.join("ejabberdctl.cfg"),
            log_path: run_dir.join("logs").join("ejabberd.log"),
            node: format!("{}@localhost", crate::unique("ejabberd")),
            run_dir,
            starttls_port: 0,
            direct_tls_port: 0,
            dist_port: 0,
            run_as: (uid, gid),
            version,
            running: Mutex::new(None),
            dir,
        };
        // Another process may take a port between free_port() and ejabberd
        // binding it: then try other ports.
        for attempt in 1.. {
            (
                ejabberd.starttls_port,
                ejabberd.direct_tls_port,
                ejabberd.dist_port,
            ) = loop {
                let (a, b, c) = (free_port(), free_port(), free_port());
                if a != b && b != c && a != c {
                    break (a, b, c);
                }
            };
            ejabberd.write_config();
            match ejabberd.try_launch() {
                Ok(()) => break,
                Err(log) if attempt == 3 => {
                    panic!("ejabberd could not listen on its ports, 3 times\n{log}")
                }
                Err(_) => {}
            }
        }
        ejabberd
    }

    /// Writes ejabberd.yml and ejabberdctl.cfg for the current ports.
    fn write_config(&self) {
        let run_dir = &self.run_dir;
        let config = format!(
            r#"# Written by the xmpp-pipes test harness.
hosts:
  - "localhost"
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - {crt}
  - {key}
ca_file: {ca}
acme:
  auto: false
listen:
  - port: {starttls}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    backlog: 128
  - port: {direct}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    tls: true
    backlog: 128
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
modules:
  mod_roster: {{}}
  mod_stream_mgmt: {{}}
  mod_ping: {{}}
  mod_disco: {{}}
  mod_carboncopy: {{}}
  mod_offline: {{}}
{extra}"#,
            crt = yaml_path(&run_dir.join("localhost.crt")),
            key = yaml_path(&run_dir.join("localhost.key")),
            ca = yaml_path(&run_dir.join("ca.pem")),
            starttls = self.starttls_port,
            direct = self.direct_tls_port,
            extra = self.version.extra_modules(),
        );
        let wrapper = run_dir.join("erl");
        let erl = if wrapper.is_file() {
            format!("ERL={}\n", sh_path(&wrapper))
        } else {
            String::new()
        };
        let ctl_config = format!(
            r#"# Written by the xmpp-pipes test harness; sourced by ejabberdctl.
ERLANG_NODE={node}
EJABBERD_CONFIG_PATH={config}
SPOOL_DIR={spool}
LOGS_DIR={logs}
EJABBERD_LOG_PATH={log}
EJABBERD_PID_PATH={pid}
CONTRIB_MODULES_PATH={contrib}
CONTRIB_MODULES_CONF_DIR={contrib}
EJABBERD_BYPASS_WARNINGS=true
# The distribution on a port of its own on 127.0.0.1, without epmd.
ERL_EPMD_ADDRESS=127.0.0.1
ERL_DIST_PORT={dist}
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {{127,0,0,1}}"
{erl}"#,
            node = quoted(&self.node, '\''),
            config = sh_path(&self.config),
            spool = sh_path(&run_dir.join("spool")),
            logs = sh_path(&run_dir.join("logs")),
            log = sh_path(&self.log_path),
            pid = sh_path(&run_dir.join("ejabberd.pid")),
            contrib = sh_path(&run_dir.join("contrib")),
            dist = self.dist_port,
        );
        for (path, text) in [(&self.config, config), (&self.ctl_config, ctl_config)] {
            write_file(path, text.as_bytes(), 0o644);
            std::os::unix::fs::chown(path, Some(self.run_as.0), Some(self.run_as.1))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// `ejabberdctl --config-dir RUN_DIR --ctl-config CFG` as the ejabberd
    /// user, with HOME (and so the Erlang cookie) in RUN_DIR.
    fn ctl(&self) -> Command {
        let mut cmd = Command::new(self.version.ejabberdctl());
        cmd.arg("--config-dir")
            .arg(&self.run_dir)
            .arg("--ctl-config")
            .arg(&self.ctl_config)
            .current_dir(&self.run_dir)
            .env("HOME", &self.run_dir)
            .uid(self.run_as.0)
            .gid(self.run_as.1);
        cmd
    }

    /// Starts `ejabberdctl foreground` and waits until ejabberd says it has
    /// started and both listeners accept. Returns Err(log) if a port was
    /// taken; panics on other failures.
    fn try_launch(&self) -> Result<(), String> {
        let mut running = self.running.lock().unwrap();
        assert!(running.is_none(), "ejabberd is already running");
        let started = Instant::now();
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut cmd = self.ctl();
        cmd.arg("foreground")
            .stdin(std::process::Stdio::null())
            .stdout(writer.try_clone().expect("dup pipe"))
            .stderr(writer);
        let child =
            spawn(cmd).unwrap_or_else(|e| panic!("start ejabberdctl: {e} (is it installed?)"));

        let console = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let tail = Arc::clone(&console);
        thread::spawn(move || {
            // Keeps draining the pipe for ejabberd's whole life.
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                {
                    let mut tail = tail.lock().unwrap();
                    if tail.len() == CONSOLE_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        *running = Some(Running { child, console });
        drop(running);

        let ready = format!("is started in the node {}", self.node);
        let c2s = format!(
            "Start accepting TCP connections at 127.0.0.1:{} ",
            self.starttls_port
        );
        let direct = format!(
            "Start accepting TLS connections at 127.0.0.1:{} ",
            self.direct_tls_port
        );
        let port_taken =
            |line: &str| line.contains("eaddrinuse") || line.contains("already in use");
        let (mut have_ready, mut have_c2s, mut have_direct) = (false, false, false);
        let deadline = started + START_TIMEOUT;
        while !(have_ready && have_c2s && have_direct) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if port_taken(&line) => {
                    let log = self.describe();
                    self.kill_now();
                    return Err(log);
                }
                Ok(line) => {
                    have_ready |= line.contains(&ready);
                    have_c2s |= line.contains(&c2s);
                    have_direct |= line.contains(&direct);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let log = self.describe();
                    self.kill_now();
                    panic!(
                        "ejabberd not ready after {START_TIMEOUT:?} (started: {have_ready}, c2s: {have_c2s}, direct TLS: {have_direct})\n{log}"
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let log = self.describe();
                    let status = self.kill_now();
                    if port_taken(&log) {
                        return Err(log);
                    }
                    panic!("ejabberd exited while starting ({status:?})\n{log}");
                }
            }
        }
        Ok(())
    }

    /// The console output kept so far and the log file, for panic messages.
    fn describe(&self) -> String {
        let console = self
            .running
            .lock()
            .ok()
            .and_then(|r| {
                r.as_ref()
                    .map(|r| Vec::from(r.console.lock().unwrap().clone()).join("\n"))
            })
            .unwrap_or_default();
        format!(
            "--- ejabberd console ---\n{console}\n--- {} ---\n{}",
            self.log_path.display(),
            self.log()
        )
    }

    /// Kills the process group (ejabberdctl and the Erlang VM) with SIGKILL
    /// and reaps ejabberdctl, if running; never blocks on the lock (it runs
    /// at exit too).
    fn kill_now(&self) -> Option<std::process::ExitStatus> {
        let mut guard = self.running.try_lock().ok()?;
        let mut running = guard.take()?;
        kill_group(running.child.id(), Signal::KILL);
        running.child.wait().ok()
    }

    /// Stops the server cleanly (`ejabberdctl stop`: the client streams are
    /// closed), SIGKILL if it has not exited 20 s later; waits for it to
    /// exit. Does nothing if it is not running.
    pub fn stop(&self) {
        let Some(mut running) = self.running.lock().unwrap().take() else {
            return;
        };
        let mut cmd = self.ctl();
        cmd.arg("stop");
        let _ = run(cmd, b"", CTL_TIMEOUT);
        let pid = running.child.id();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(running.child.wait());
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            kill_group(pid, Signal::KILL);
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Kills the server abruptly (SIGKILL) and waits for it to exit.
    pub fn kill(&self) {
        self.kill_now();
    }

    /// Sends `sig` to the server's process group (e.g. `Signal::STOP` to
    /// freeze it, `Signal::CONT` to let it go on). Panics if it is not running.
    pub fn signal(&self, sig: Signal) {
        let guard = self.running.lock().unwrap();
        let running = guard.as_ref().expect("ejabberd is not running");
        kill_group(running.child.id(), sig);
    }

    /// Which ejabberd this is.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The XMPP domain: `localhost`.
    pub fn domain(&self) -> &'static str {
        "localhost"
    }

    /// The client port with STARTTLS (required) on 127.0.0.1.
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
    }

    /// The client port with direct TLS (XEP-0368) on 127.0.0.1.
    pub fn direct_tls_port(&self) -> u16 {
        self.direct_tls_port
    }

    /// The Erlang distribution port on 127.0.0.1 (what `ejabberdctl` talks
    /// to; there is no epmd).
    pub fn dist_port(&self) -> u16 {
        self.dist_port
    }

    /// The Erlang node name, `ejabberd…@localhost`.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The test CA's certificate (PEM file) the server's certificate is
    /// signed by.
    pub fn ca_pem(&self) -> &Path {
        &self.pki.ca_pem
    }

    /// The test PKI; its CA signed [`Ejabberd::server_cert`].
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The certificate and key ejabberd serves (not the [`Pki`]'s own server
    /// certificate: one valid for a month only).
    pub fn server_cert(&self) -> &CertKey {
        &self.server
    }

    /// The ejabberd log file's contents so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// A temp dir for the test's own files, removed with the server.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `ejabberdctl ARGS` against this server (as the ejabberd user);
    /// bounded by a timeout.
    pub fn ctl_run(&self, args: &[&str]) -> crate::Output {
        let mut cmd = self.ctl();
        cmd.args(args);
        run(cmd, b"", CTL_TIMEOUT)
    }

    /// Creates account `user@localhost` with `password` via `ejabberdctl
    /// register`; panics with its output on failure. (The password is in
    /// ejabberdctl's argv for that moment: a throwaway test account's.)
    #[track_caller]
    pub fn register(&self, user: &str, password: &str) {
        let out = self.ctl_run(&["register", user, self.domain(), password]);
        if !out.status.success() {
            panic!("ejabberdctl register {user}@localhost failed: {out}");
        }
    }

    /// Registers a new account with a unique name starting with `prefix`
    /// and a random password, written to a 0600 file in the harness's temp
    /// dir.
    #[track_caller]
    pub fn new_account(&self, prefix: &str) -> Account {
        let user = crate::unique(&prefix.to_lowercase());
        let password = crate::random_string(24);
        self.register(&user, &password);
        let password_file = self.dir.join("accounts").join(format!("{user}.password"));
        write_file(&password_file, password.as_bytes(), 0o600);
        Account {
            jid: format!("{user}@{}", self.domain()),
            user,
            password,
            password_file,
        }
    }
}

impl Drop for Ejabberd {
    fn drop(&mut self) {
        self.kill_now();
    }
}

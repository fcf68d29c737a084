//! A real Prosody server on 127.0.0.1 for the tests.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::pki::write_file;
use crate::process::{kill_group, run, spawn};
use crate::{free_port, Pki, TempDir};

/// How long Prosody may take to start before the harness gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many console lines are kept for panic messages.
const CONSOLE_TAIL: usize = 400;
/// The line our plugin logs when Prosody fires `server-started`.
const READY_MARK: &str = "harness: server started";

const READY_PLUGIN: &str = r#"-- Written by the xmpp-pipes test harness: tells it Prosody has started.
module:set_global();
module:hook_global("server-started", function ()
	module:log("info", "harness: server started");
end);
"#;

/// A throwaway account on the test server.
#[derive(Debug, Clone)]
pub struct Account {
    /// `user@localhost`.
    pub jid: String,
    /// The localpart.
    pub user: String,
    /// The password.
    pub password: String,
    /// A file (mode 0600) holding just the password, no newline.
    pub password_file: PathBuf,
}

/// Which Prosody the harness runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// 0.12.3, Debian 12's `prosody` package (SASL1 only).
    V0_12,
    /// 13.0.1 from bookworm-backports with the prosody-modules of 2025
    /// (SASL2 with Bind2, FAST and inline stream management), unpacked by
    /// `tests/fetch-servers` into `target/servers/prosody-13`.
    V13,
}

impl Version {
    /// Both, oldest first.
    pub const ALL: [Version; 2] = [Version::V0_12, Version::V13];

    /// The version the end-to-end tests run against: Prosody 13 (what users
    /// run), or 0.12 where 13 has not been fetched, said once on stderr
    /// (a failure with `XMPP_PIPES_REQUIRE_INTEROP=1`).
    pub fn default_for_tests() -> Version {
        static CHOSEN: OnceLock<Version> = OnceLock::new();
        *CHOSEN.get_or_init(|| match Version::V13.unavailable() {
            None => Version::V13,
            Some(why) => {
                crate::skip(
                    "Prosody 13 as the tests' server (Prosody 0.12 instead)",
                    &why,
                );
                Version::V0_12
            }
        })
    }

    /// A short name for test output: `prosody-0.12`, `prosody-13`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V0_12 => "prosody-0.12",
            Version::V13 => "prosody-13",
        }
    }

    /// Why this version cannot run here, if it cannot.
    pub fn unavailable(self) -> Option<String> {
        let (prosody, _) = self.programs();
        if prosody.is_file() {
            return None;
        }
        Some(match self {
            Version::V0_12 => "Prosody 0.12 is not installed: apt-get install prosody".into(),
            Version::V13 => format!(
                "Prosody 13 is not fetched (no {}): run tests/fetch-servers",
                prosody.display()
            ),
        })
    }

    /// The `prosody` and `prosodyctl` programs of this version.
    fn programs(self) -> (PathBuf, PathBuf) {
        match self {
            Version::V0_12 => (
                crate::find_program("prosody"),
                crate::find_program("prosodyctl"),
            ),
            Version::V13 => {
                let bin = crate::servers_dir().join("prosody-13/usr/bin");
                (bin.join("prosody"), bin.join("prosodyctl"))
            }
        }
    }

    /// The modules this version enables beyond the ones both get: SASL2,
    /// Bind2, FAST and inline stream management on 13.
    fn extra_modules(self) -> &'static str {
        match self {
            Version::V0_12 => "",
            Version::V13 => r#""sasl2"; "sasl2_bind2"; "sasl2_fast"; "sasl2_sm";"#,
        }
    }
}

/// How a private server ([`Prosody::start_with`]) differs from the tests' one.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which Prosody: [`Version::default_for_tests`] unless set.
    pub version: Version,
    /// The address the client ports listen on: 127.0.0.1, unless a test
    /// made a network of its own (bench/run's delayed link).
    pub address: std::net::Ipv4Addr,
    /// The lowest level Prosody writes to its log file: `"debug"` (the
    /// default: every stanza, for the tests' failure messages), `"info"`,
    /// `"warn"` or `"error"`. The benchmarks use `"warn"`, so that logging
    /// each stanza does not count as the server's CPU time.
    pub log_level: &'static str,
    /// Let the server open connections to other servers (mod_s2s; it still
    /// listens for none), so that a message to a remote domain is tried and
    /// bounces for real. Off: such a message bounces at once (`not-allowed`).
    pub s2s_out: bool,
    /// HTTP upload (mod_http_file_share, XEP-0363) on `upload.localhost`
    /// with this size limit in bytes, its HTTPS on a port of its own
    /// (127.0.0.1, the harness certificate); `None`: no upload service.
    pub upload_limit: Option<u64>,
    /// The message archive (mod_mam, XEP-0313; on by default). Off for the
    /// soak: archiving each of its 50,000 messages slows Prosody's reads
    /// enough to show its resumption bug (docs/DESIGN.md, "Sessions that
    /// outlive a connection") in most runs.
    pub archive: bool,
}

/// The upload service's size limit unless a test sets another: a 20 MB
/// file fits, a sparse file of 33 MiB does not.
pub const UPLOAD_LIMIT: u64 = 32 << 20;

impl Default for Options {
    fn default() -> Options {
        Options::of(Version::default_for_tests())
    }
}

impl Options {
    /// The default options for `version` (without looking at which
    /// version the tests default to).
    pub fn of(version: Version) -> Options {
        Options {
            version,
            address: std::net::Ipv4Addr::LOCALHOST,
            log_level: "debug",
            s2s_out: false,
            upload_limit: Some(UPLOAD_LIMIT),
            archive: true,
        }
    }
}

struct Running {
    child: Child,
    console: Arc<Mutex<VecDeque<String>>>,
}

/// A Prosody server listening on 127.0.0.1 only: client STARTTLS (with
/// `c2s_require_encryption`) on one port, client direct TLS on another,
/// VirtualHost `localhost` serving the [`Pki`]'s certificate, MUC on
/// `conference.localhost`, in-band registration open. Killed when dropped
/// (the [`Prosody::shared`] one when the test process exits).
pub struct Prosody {
    pki: Pki,
    /// Prosody's own directory (config, data, certs, log), owned by the user
    /// it runs as.
    run_dir: PathBuf,
    config: PathBuf,
    log_path: PathBuf,
    starttls_port: u16,
    direct_tls_port: u16,
    /// The HTTPS port of the upload service (0 without one).
    https_port: u16,
    run_as: Option<(u32, u32)>,
    /// The user it runs as (`prosody_user`).
    user: String,
    options: Options,
    running: Mutex<Option<Running>>,
    /// Last, so that the processes are gone before the files.
    dir: TempDir,
}

/// Looks up a user in /etc/passwd by name or uid: (name, uid, gid).
pub(crate) fn passwd_entry(pred: impl Fn(&str, u32) -> bool) -> Option<(String, u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        let (uid, gid) = (f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?);
        pred(f[0], uid).then(|| (f[0].to_string(), uid, gid))
    })
}

fn lua_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn lua_path(p: &Path) -> String {
    lua_str(p.to_str().expect("UTF-8 path"))
}

impl Prosody {
    /// The shared instance of [`Version::default_for_tests`], started on
    /// first use and kept for the whole test binary. Tests using it should
    /// make their own accounts ([`Prosody::new_account`]) and not stop it.
    pub fn shared() -> &'static Prosody {
        Prosody::shared_version(Version::default_for_tests())
    }

    /// The shared instance of `version` (see [`Prosody::shared`]); panics if
    /// it cannot run ([`Version::unavailable`]).
    pub fn shared_version(version: Version) -> &'static Prosody {
        static SHARED: [OnceLock<Prosody>; 2] = [OnceLock::new(), OnceLock::new()];
        extern "C" {
            fn atexit(cb: extern "C" fn()) -> std::os::raw::c_int;
        }
        extern "C" fn cleanup() {
            for p in SHARED.iter().filter_map(OnceLock::get) {
                p.kill_now();
                let _ = std::fs::remove_dir_all(p.dir.path());
                let _ = std::fs::remove_dir_all(p.pki.dir());
            }
        }
        let slot = &SHARED[Version::ALL.iter().position(|v| *v == version).unwrap_or(0)];
        slot.get_or_init(|| {
            let p = Prosody::start_with(Options::of(version));
            // SAFETY: registering a plain function with libc's atexit (once
            // per slot; cleanup is idempotent).
            unsafe { atexit(cleanup) };
            p
        })
    }

    /// Starts a private instance on fresh ports with a fresh [`Pki`]; it
    /// stops when dropped. Panics (with Prosody's log) if it is not ready
    /// within 30 s.
    pub fn start() -> Prosody {
        Prosody::start_with(Options::default())
    }

    /// [`Prosody::start`] with other [`Options`]; panics if its version
    /// cannot run ([`Version::unavailable`]).
    pub fn start_with(options: Options) -> Prosody {
        if let Some(why) = options.version.unavailable() {
            panic!("cannot start {}: {why}", options.version.name());
        }
        assert!(
            ["debug", "info", "warn", "error"].contains(&options.log_level),
            "unknown Prosody log level {:?}",
            options.log_level
        );
        let pki = Pki::new();
        let dir = TempDir::new("prosody");
        let run_dir = dir.join("prosody");
        let is_root = rustix::process::geteuid().is_root();
        let (user, run_as) = if is_root {
            let (name, uid, gid) = passwd_entry(|n, _| n == "prosody")
                .expect("no `prosody` user: install prosody (apt-get install prosody)");
            (name, Some((uid, gid)))
        } else {
            let uid = rustix::process::geteuid().as_raw();
            let name = passwd_entry(|_, u| u == uid)
                .map(|e| e.0)
                .or_else(|| std::env::var("USER").ok())
                .expect("name of the current user");
            (name, None)
        };

        let data = run_dir.join("data");
        let certs = run_dir.join("certs");
        let plugins = run_dir.join("plugins");
        for d in [&run_dir, &data, &certs, &plugins] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        let (crt, key) = pki.server().write_to(&certs, "localhost");
        let plugin = plugins.join("mod_harness_ready.lua");
        write_file(&plugin, READY_PLUGIN.as_bytes(), 0o644);
        if let Some((uid, gid)) = run_as {
            for p in [&run_dir, &data, &certs, &plugins, &crt, &key, &plugin] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
            }
        }
        std::fs::create_dir(dir.join("accounts")).expect("mkdir accounts");

        let mut prosody = Prosody {
            pki,
            config: run_dir.join("prosody.cfg.lua"),
            log_path: run_dir.join("prosody.log"),
            run_dir,
            user,
            options,
            starttls_port: 0,
            direct_tls_port: 0,
            https_port: 0,
            run_as,
            running: Mutex::new(None),
            dir,
        };
        // Another process may take a port between free_port() and Prosody
        // binding it: then try other ports.
        for attempt in 1.. {
            (prosody.starttls_port, prosody.direct_tls_port) = loop {
                let (a, b) = (free_port(), free_port());
                if a != b {
                    break (a, b);
                }
            };
            prosody.https_port = loop {
                let port = free_port();
                if ![prosody.starttls_port, prosody.direct_tls_port].contains(&port) {
                    break port;
                }
            };
            prosody.write_config();
            match prosody.try_launch() {
                Ok(()) => break,
                Err(log) if attempt == 3 => {
                    panic!("Prosody could not listen on its ports, 3 times\n{log}")
                }
                Err(_) => {}
            }
        }
        prosody
    }

    /// Writes the config file for the current ports.
    fn write_config(&self) {
        let data = self.run_dir.join("data");
        let certs = self.run_dir.join("certs");
        let plugins = self.run_dir.join("plugins");
        let (crt, key) = (certs.join("localhost.crt"), certs.join("localhost.key"));
        let log_path = &self.log_path;
        let (user, starttls_port, direct_tls_port) =
            (&self.user, self.starttls_port, self.direct_tls_port);
        let ssl = format!(
            "{{ certificate = {}; key = {}; }}",
            lua_path(&crt),
            lua_path(&key)
        );
        let config_text = format!(
            r#"-- Written by the xmpp-pipes test harness.
prosody_user = {user}
data_path = {data}
plugin_paths = {{ {plugins} }}
admin_socket = {admin}
pidfile = nil

-- Listen on {address} only, and only for clients.
interfaces = {{ "{address}" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_interfaces = {{ "{address}" }}
c2s_ports = {{ {starttls_port} }}
c2s_direct_tls_ports = {{ {direct_tls_port} }}
s2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
component_interfaces = {{ "127.0.0.1" }}
component_ports = {{ }}
http_interfaces = {{ "127.0.0.1" }}
http_ports = {{ }}
https_interfaces = {{ "127.0.0.1" }}
https_ports = {{ {https_ports} }}
https_ssl = {ssl}

modules_enabled = {{
	"harness_ready";
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "register";
	"smacks"; "carbons"; "version"; "uptime"; "time"; "blocklist";
	"posix";
	{extra}
	{mam}
}}
modules_disabled = {{ {disabled} }}

c2s_require_encryption = true
allow_registration = true
-- 127.0.0.1 is exempt from registration throttling (mod_register_limits);
-- min_seconds_between_registrations is left unset on purpose: setting it
-- turns on the throttle (one registration per period) for other addresses.
registration_allowlist = {{ "127.0.0.1"; "::1"; }}

authentication = "internal_hashed"
storage = "internal"
-- mod_mam archives every message; past the internal store's default quota
-- (10,000 items an archive) it cleans and truncates the archive on each new
-- one, which stalls a long run (the 50,000-message soak) for seconds a
-- message.
storage_archive_item_limit = 1000000

certificates = {certs}
ssl = {ssl}

log = {{
	{{ levels = {{ min = {log_level} }}; to = "file"; filename = {log}; }};
	{{ levels = {{ min = "info" }}; to = "console"; }};
}}

VirtualHost "localhost"
	ssl = {ssl}

Component "conference.localhost" "muc"
	modules_enabled = {{ "muc_mam" }}
{upload}"#,
            user = lua_str(user),
            data = lua_path(&data),
            plugins = lua_path(&plugins),
            admin = lua_path(&data.join("admin.sock")),
            certs = lua_path(&certs),
            log = lua_path(log_path),
            log_level = lua_str(self.options.log_level),
            address = self.options.address,
            extra = self.options.version.extra_modules(),
            https_ports = self.upload_port().map_or(String::new(), |p| p.to_string()),
            upload = self.upload_component(),
            mam = if self.options.archive {
                r#""mam";"#
            } else {
                ""
            },
            disabled = if self.options.s2s_out {
                ""
            } else {
                r#""s2s"; "dialback";"#
            },
        );
        write_file(&self.config, config_text.as_bytes(), 0o644);
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&self.config, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", self.config.display()));
        }
    }

    /// The upload component's section of the config, if there is one.
    fn upload_component(&self) -> String {
        let (Some(limit), Some(port)) = (self.options.upload_limit, self.upload_port()) else {
            return String::new();
        };
        format!(
            r#"
Component "upload.localhost" "http_file_share"
	http_file_share_size_limit = {limit}
	http_host = "localhost"
	http_external_url = "https://localhost:{port}/"
"#
        )
    }

    /// The HTTPS port of the upload service, if it has one.
    pub fn upload_port(&self) -> Option<u16> {
        self.options.upload_limit.map(|_| self.https_port)
    }

    /// The JID of the upload service (XEP-0363), if it has one.
    pub fn upload_service(&self) -> Option<&'static str> {
        self.options.upload_limit.map(|_| "upload.localhost")
    }

    /// Starts the process and waits until it is ready; panics if it is not.
    fn launch(&self) {
        if let Err(log) = self.try_launch() {
            panic!("Prosody could not listen on its ports\n{log}");
        }
    }

    /// Starts the process and waits until it reports both listeners active
    /// and `server-started`. Returns Err(log) if a port was taken; panics on
    /// other failures.
    fn try_launch(&self) -> Result<(), String> {
        let mut running = self.running.lock().unwrap();
        assert!(running.is_none(), "Prosody is already running");
        let started = Instant::now();
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut cmd = Command::new(self.options.version.programs().0);
        cmd.arg("-F")
            .arg("--config")
            .arg(&self.config)
            .current_dir(&self.run_dir)
            .stdin(std::process::Stdio::null())
            .stdout(writer.try_clone().expect("dup pipe"))
            .stderr(writer);
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid).env("HOME", &self.run_dir);
        }
        let child = spawn(cmd).unwrap_or_else(|e| panic!("start prosody: {e} (is it installed?)"));

        let console = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let tail = Arc::clone(&console);
        thread::spawn(move || {
            // Keeps draining the pipe for Prosody's whole life.
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

        let c2s = format!(
            "Activated service 'c2s' on [{}]:{}",
            self.options.address, self.starttls_port
        );
        let direct = format!(
            "Activated service 'c2s_direct_tls' on [{}]:{}",
            self.options.address, self.direct_tls_port
        );
        let (mut have_c2s, mut have_direct, mut have_ready) = (false, false, false);
        let deadline = started + START_TIMEOUT;
        while !(have_c2s && have_direct && have_ready) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("Failed to open server port") => {
                    let log = self.describe();
                    self.kill_now();
                    return Err(log);
                }
                Ok(line) => {
                    have_c2s |= line.contains(&c2s);
                    have_direct |= line.contains(&direct);
                    have_ready |= line.contains(READY_MARK);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let log = self.describe();
                    self.kill_now();
                    panic!(
                        "Prosody not ready after {START_TIMEOUT:?} (c2s: {have_c2s}, c2s_direct_tls: {have_direct}, server-started: {have_ready})\n{log}"
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let log = self.describe();
                    let status = self.kill_now();
                    panic!("Prosody exited while starting ({status:?})\n{log}");
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
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        format!(
            "--- prosody console ---\n{console}\n--- {} ---\n{log}",
            self.log_path.display()
        )
    }

    /// Kills the process with SIGKILL and reaps it, if running; never blocks
    /// on the lock (it runs at exit too).
    fn kill_now(&self) -> Option<std::process::ExitStatus> {
        let mut guard = self.running.try_lock().ok()?;
        let mut running = guard.take()?;
        let _ = running.child.kill();
        running.child.wait().ok()
    }

    /// Stops the server with SIGTERM (a clean shutdown: Prosody closes the
    /// client streams), SIGKILL after 10 s; waits for it to exit. Does
    /// nothing if it is not running.
    pub fn stop(&self) {
        let Some(mut running) = self.running.lock().unwrap().take() else {
            return;
        };
        let pid = running.child.id();
        kill_group(pid, Signal::TERM);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(running.child.wait());
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            kill_group(pid, Signal::KILL);
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Kills the server abruptly (SIGKILL: connections are reset, no stream
    /// close), and waits for it to exit.
    pub fn kill(&self) {
        self.kill_now();
    }

    /// Starts the server again after [`Prosody::stop`]/[`Prosody::kill`], on
    /// the same ports with the same data; waits until it is ready.
    pub fn restart(&self) {
        self.stop();
        self.launch();
    }

    /// Sends `sig` to the server's process group (e.g. `Signal::STOP` to
    /// freeze it, `Signal::CONT` to let it go on). Panics if it is not running.
    pub fn signal(&self, sig: Signal) {
        let guard = self.running.lock().unwrap();
        let running = guard.as_ref().expect("Prosody is not running");
        kill_group(running.child.id(), sig);
    }

    /// The server's process id while it runs (e.g. to read its CPU time
    /// from `/proc/PID/stat`).
    pub fn pid(&self) -> Option<u32> {
        self.running.lock().unwrap().as_ref().map(|r| r.child.id())
    }

    /// Whether the server process is running (as far as the harness knows).
    pub fn is_running(&self) -> bool {
        self.running.lock().unwrap().is_some()
    }

    /// Which Prosody this is.
    pub fn version(&self) -> Version {
        self.options.version
    }

    /// The XMPP domain: `localhost`.
    pub fn domain(&self) -> &'static str {
        "localhost"
    }

    /// The MUC service's domain: `conference.localhost`.
    pub fn muc_domain(&self) -> &'static str {
        "conference.localhost"
    }

    /// The client port with STARTTLS (required) on 127.0.0.1.
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
    }

    /// The client port with direct TLS (XEP-0368) on 127.0.0.1.
    pub fn direct_tls_port(&self) -> u16 {
        self.direct_tls_port
    }

    /// The test CA's certificate (PEM file) the server's certificate is
    /// signed by.
    pub fn ca_pem(&self) -> &Path {
        &self.pki.ca_pem
    }

    /// The server's certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Prosody's debug log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The Prosody log file's contents so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Prosody's data directory (`data_path`), e.g.
    /// `<data>/localhost/accounts/<user>.dat`.
    pub fn data_dir(&self) -> PathBuf {
        self.run_dir.join("data")
    }

    /// Prosody's config file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// A temp dir for the test's own files, removed with the server.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates account `user@localhost` with `password` via prosodyctl;
    /// panics with prosodyctl's output on failure.
    #[track_caller]
    pub fn register(&self, user: &str, password: &str) {
        let mut cmd = Command::new(self.options.version.programs().1);
        cmd.arg("--config")
            .arg(&self.config)
            .args(["register", user, self.domain(), password]);
        let out = run(cmd, b"", Duration::from_secs(30));
        if !out.status.success() {
            panic!("prosodyctl register {user}@localhost failed: {out}");
        }
    }

    /// Registers a new account with a unique name starting with `prefix`
    /// (see [`Prosody::account`]).
    #[track_caller]
    pub fn new_account(&self, prefix: &str) -> Account {
        self.account(&crate::unique(&prefix.to_lowercase()))
    }

    /// Registers the account `user@localhost` with a random password,
    /// written to a 0600 file in the harness's temp dir. For a private
    /// server ([`Prosody::start`]); on the shared one use
    /// [`Prosody::new_account`], whose names do not collide.
    #[track_caller]
    pub fn account(&self, user: &str) -> Account {
        let password = crate::random_string(24);
        self.register(user, &password);
        let password_file = self.dir.join("accounts").join(format!("{user}.password"));
        write_file(&password_file, password.as_bytes(), 0o600);
        Account {
            jid: format!("{user}@{}", self.domain()),
            user: user.to_owned(),
            password,
            password_file,
        }
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.kill_now();
    }
}

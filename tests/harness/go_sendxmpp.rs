//! go-sendxmpp (Debian's `go-sendxmpp`), an independent XMPP client, for
//! interoperability tests: it sends messages the chain receives, and
//! receives messages the chain sends.
//!
//! It trusts the test CA through `SSL_CERT_FILE` (honoured by Go's
//! crypto/x509 on Linux), with `SSL_CERT_DIR` pointed at an empty directory:
//! the system store is neither touched nor used. The account is in a 0600
//! config file (`--file`), so the password is not in its argv.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::pki::write_file;
use crate::{
    find_program, run, wait_for_file, Account, Output, Server, Spawned, TempDir, Transport,
};

/// go-sendxmpp set up for one account on one harness server.
pub struct GoSendxmpp {
    program: PathBuf,
    jid: String,
    jserver: String,
    transport: Transport,
    ca_pem: PathBuf,
    /// HOME, the config file, the empty SSL_CERT_DIR, the debug log.
    dir: TempDir,
}

impl GoSendxmpp {
    /// Where go-sendxmpp is installed, if it is.
    pub fn program() -> Option<PathBuf> {
        Some(find_program("go-sendxmpp")).filter(|p| p.is_file())
    }

    /// go-sendxmpp logged in as `account` on `server` (127.0.0.1, the port
    /// for `transport`). Panics if it is not installed (see
    /// [`GoSendxmpp::program`]).
    pub fn new(
        server: &(impl Server + ?Sized),
        account: &Account,
        transport: Transport,
    ) -> GoSendxmpp {
        let program = GoSendxmpp::program()
            .expect("go-sendxmpp is not installed (apt-get install go-sendxmpp)");
        let dir = TempDir::new("go-sendxmpp");
        let config = format!(
            "username: {}\npassword: {}\n",
            account.jid, account.password
        );
        write_file(&dir.join("sendxmpprc"), config.as_bytes(), 0o600);
        std::fs::create_dir(dir.join("certs")).expect("mkdir certs");
        let port = match transport {
            Transport::StartTls => server.starttls_port(),
            Transport::DirectTls => server.direct_tls_port(),
        };
        GoSendxmpp {
            program,
            jid: account.jid.clone(),
            jserver: format!("127.0.0.1:{port}"),
            transport,
            ca_pem: server.ca_pem().to_path_buf(),
            dir,
        }
    }

    /// `go-sendxmpp --file RC --jserver 127.0.0.1:PORT [--tls]`, trusting
    /// only the test CA; append options and recipients.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg("--file")
            .arg(self.dir.join("sendxmpprc"))
            .arg("--jserver")
            .arg(&self.jserver)
            .arg("--timeout")
            .arg("20");
        if self.transport == Transport::DirectTls {
            command.arg("--tls");
        }
        command
            .env("SSL_CERT_FILE", &self.ca_pem)
            .env("SSL_CERT_DIR", self.dir.join("certs"))
            .env("HOME", self.dir.path())
            .env_remove("XDG_CONFIG_HOME");
        command
    }

    /// Sends `text` (its stdin) as a chat message to `to`; waits for it to
    /// exit (at most 30 s).
    pub fn send(&self, to: &str, text: &str) -> Output {
        let mut command = self.command();
        command.arg(to);
        run(command, text.as_bytes(), Duration::from_secs(30))
    }

    /// Starts `go-sendxmpp --listen` (with `--debug`, its stream going to a
    /// log file); returns once the server has echoed its initial presence,
    /// so messages to the account's bare JID reach it. Its stdout has one
    /// line per message: `TIME FROM-BARE-JID: BODY`.
    pub fn listen(&self) -> Spawned {
        let log = self.dir.join("listen.log");
        let mut command = Command::new("sh");
        command
            .args(["-c", "log=$1; shift; exec \"$@\" 2>\"$log\"", "sh"])
            .arg(&log)
            .arg(self.command().get_program());
        let inner = self.command();
        command.args(inner.get_args()).args(["--debug", "--listen"]);
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let listener = Spawned::start(command);
        let own = [
            format!("from='{}/", self.jid),
            format!("from=\"{}/", self.jid),
        ];
        wait_for_file(&log, Duration::from_secs(20), |text| {
            text.split("<presence")
                .skip(1)
                .filter_map(|rest| rest.split('>').next())
                .any(|tag| own.iter().any(|from| tag.contains(from.as_str())))
        });
        listener
    }

    /// The directory holding its config file, HOME and debug log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

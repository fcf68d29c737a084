//! Commands for the tool chain against a harness server ([`Prosody`],
//! [`Ejabberd`]): the `xmpp-connect … xmpp-auth …` prefix every end-to-end
//! test starts from.

use crate::{tool, Account, Ejabberd, Prosody, ServerVersion, Signal, Spawned};
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The variables the tools read their configuration from (see
/// `xmpp_pipes::config`), removed by [`isolate`].
pub const CONFIG_VARIABLES: &[&str] = &[
    "XMPP_JID",
    "XMPP_PASSWORD",
    "XMPP_PASSWORD_FILE",
    "XMPP_PASSWORD_COMMAND",
    "XMPP_HOST",
    "XMPP_DIRECT_TLS",
    "XMPP_CAFILE",
    "XMPP_PIN",
    "XMPP_RESOURCE",
    "XMPP_TIMEOUT",
    "XMPP_RESOLVER",
];

/// Keep `command` away from the user's own configuration: `HOME` is `home`,
/// `XDG_CONFIG_HOME` is `home/.config`, `XDG_STATE_HOME` (FAST tokens)
/// `home/.local/state`, and no configuration variable is inherited. `home` need not exist (then no configuration file is read).
pub fn isolate<'a>(command: &'a mut Command, home: &Path) -> &'a mut Command {
    for name in CONFIG_VARIABLES {
        command.env_remove(name);
    }
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
}

/// How xmpp-connect reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// STARTTLS on the c2s port.
    StartTls,
    /// TLS from the first byte on the direct-TLS port (XEP-0368).
    DirectTls,
}

/// A server started by the harness on 127.0.0.1, as the chain sees it.
pub trait Server {
    /// The XMPP domain it serves.
    fn domain(&self) -> &str;
    /// The client port with STARTTLS (required).
    fn starttls_port(&self) -> u16;
    /// The client port with direct TLS (XEP-0368).
    fn direct_tls_port(&self) -> u16;
    /// The test CA's certificate (PEM file) its certificate is signed by.
    fn ca_pem(&self) -> &Path;
    /// A directory of its own the tests may use (e.g. as an empty HOME).
    fn scratch_dir(&self) -> &Path;
    /// Which server and version it is.
    fn version(&self) -> ServerVersion;
    /// Registers a new throwaway account whose name starts with `prefix`.
    fn new_account(&self, prefix: &str) -> Account;
    /// Sends `sig` to the server's processes (`Signal::STOP` freezes it,
    /// `Signal::CONT` lets it go on).
    fn signal(&self, sig: Signal);
}

impl Server for Prosody {
    fn domain(&self) -> &str {
        Prosody::domain(self)
    }
    fn starttls_port(&self) -> u16 {
        Prosody::starttls_port(self)
    }
    fn direct_tls_port(&self) -> u16 {
        Prosody::direct_tls_port(self)
    }
    fn ca_pem(&self) -> &Path {
        Prosody::ca_pem(self)
    }
    fn scratch_dir(&self) -> &Path {
        Prosody::scratch_dir(self)
    }
    fn version(&self) -> ServerVersion {
        ServerVersion::Prosody(Prosody::version(self))
    }
    fn new_account(&self, prefix: &str) -> Account {
        Prosody::new_account(self, prefix)
    }
    fn signal(&self, sig: Signal) {
        Prosody::signal(self, sig)
    }
}

impl Server for Ejabberd {
    fn domain(&self) -> &str {
        Ejabberd::domain(self)
    }
    fn starttls_port(&self) -> u16 {
        Ejabberd::starttls_port(self)
    }
    fn direct_tls_port(&self) -> u16 {
        Ejabberd::direct_tls_port(self)
    }
    fn ca_pem(&self) -> &Path {
        Ejabberd::ca_pem(self)
    }
    fn scratch_dir(&self) -> &Path {
        Ejabberd::scratch_dir(self)
    }
    fn version(&self) -> ServerVersion {
        ServerVersion::Ejabberd(Ejabberd::version(self))
    }
    fn new_account(&self, prefix: &str) -> Account {
        Ejabberd::new_account(self, prefix)
    }
    fn signal(&self, sig: Signal) {
        Ejabberd::signal(self, sig)
    }
}

/// `xmpp-connect --host 127.0.0.1:PORT [--direct-tls] --cafile CA localhost`,
/// ready for the next program's arguments.
pub fn connect(prosody: &(impl Server + ?Sized), transport: Transport) -> Command {
    let cafile = prosody.ca_pem().as_os_str();
    connect_with(prosody, transport, &[OsStr::new("--cafile"), cafile])
}

/// `xmpp-connect [--direct-tls] OPTIONS --host 127.0.0.1:PORT localhost`,
/// isolated from the user's configuration, with `options` instead of the
/// harness CA (the trust tests give their own), ready for PROG.
pub fn connect_with(
    prosody: &(impl Server + ?Sized),
    transport: Transport,
    options: &[&OsStr],
) -> Command {
    let mut command = Command::new(tool("xmpp-connect"));
    isolate(&mut command, &prosody.scratch_dir().join("no-home"));
    let port = match transport {
        Transport::StartTls => prosody.starttls_port(),
        Transport::DirectTls => {
            command.arg("--direct-tls");
            prosody.direct_tls_port()
        }
    };
    command
        .args(options)
        .arg("--host")
        .arg(format!("127.0.0.1:{port}"))
        .arg(prosody.domain());
    command
}

/// The full login chain for `account`: xmpp-connect, then
/// `xmpp-auth --password-file FILE [auth_args] JID`; append PROG to run one.
pub fn login(
    prosody: &(impl Server + ?Sized),
    account: &Account,
    transport: Transport,
    auth_args: &[&str],
) -> Command {
    let mut command = connect(prosody, transport);
    command
        .arg(tool("xmpp-auth"))
        .arg("--password-file")
        .arg(&account.password_file)
        .args(auth_args)
        .arg(&account.jid);
    command
}

/// A receiving session for `account` in bridge mode, with initial presence
/// sent; returns once the server has echoed that presence back, so the
/// session is known to be online.
pub fn online(prosody: &(impl Server + ?Sized), account: &Account) -> Spawned {
    online_with(prosody, account, &[])
}

/// [`online`] with extra xmpp-auth arguments.
pub fn online_with(
    prosody: &(impl Server + ?Sized),
    account: &Account,
    auth_args: &[&str],
) -> Spawned {
    let mut args = vec!["--presence"];
    args.extend_from_slice(auth_args);
    let mut session = Spawned::start(login(prosody, account, Transport::StartTls, &args));
    session.expect_line(Duration::from_secs(20), |line| {
        line.starts_with("<presence") && line.contains(&format!("from='{}/", account.jid))
    });
    session
}

/// A one-line chat message stanza.
pub fn chat(to: &str, body: &str) -> String {
    format!("<message to='{to}' type='chat'><body>{body}</body></message>\n")
}

/// Arguments as OS strings (for commands assembled from parts).
pub fn os_args(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

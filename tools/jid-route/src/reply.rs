//! Answering iq requests: where replies go (`--reply PATH`, by default
//! `DIR/in` in `--dir` mode) and the handlers that may answer them
//! (`--iq-handler NAMESPACE=CMD`, executables in `DIR/ext/`).

use crate::actions::{run_with_input, set_env, shell};
use crate::answer;
use crate::stanza::Stanza;
use rustix::fs::{Mode, OFlags};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use xmpp_pipes::exit::warn;
use xmpp_pipes::jid::Jid;
use xmpp_pipes::tree::sanitise_id;
use xmpp_pipes::xml::{Element, NS_CLIENT};

const TOOL: &str = "jid-route";

/// How long a handler may take to answer before it is killed and the
/// request gets an `internal-server-error`.
pub const HANDLER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where replies are written.
#[derive(Debug, Clone)]
pub struct ReplyPath {
    path: PathBuf,
    /// The default `DIR/in`: not created, symbolic links refused.
    in_tree: bool,
}

impl ReplyPath {
    /// `--reply PATH`: created 0600 if missing (a regular file then).
    pub fn given(path: PathBuf) -> ReplyPath {
        ReplyPath {
            path,
            in_tree: false,
        }
    }

    /// `DIR/in`, the named pipe to the server.
    pub fn tree_in(dir: &Path) -> ReplyPath {
        ReplyPath {
            path: dir.join(xmpp_pipes::tree::IN),
            in_tree: true,
        }
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write one reply line with one `write()`. The file is opened for each
    /// reply, without blocking: a named pipe nobody reads gives a warning
    /// and the reply is dropped, instead of jid-route hanging.
    pub fn send(&self, reply: &Element) {
        if let Err(err) = self.try_send(reply) {
            let hint = if err.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) {
                " (a named pipe nobody reads)"
            } else {
                ""
            };
            let id = reply.attr("id").unwrap_or_default();
            let to = reply.attr("to").unwrap_or_default();
            warn(
                TOOL,
                crate::stanza::one_line(&format!(
                    "reply dropped (iq id '{id}' to '{to}'): {}{hint}: {err}",
                    self.path.display()
                )),
            );
        }
    }

    /// Write one stanza line with one `write()`, as [`ReplyPath::send`]
    /// does, and say whether it went out.
    pub fn try_send(&self, stanza: &Element) -> std::io::Result<()> {
        let line = stanza
            .to_line(NS_CLIENT)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err.to_string()))?;
        self.write(format!("{line}\n").as_bytes())
    }

    fn write(&self, data: &[u8]) -> std::io::Result<()> {
        let mut flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NONBLOCK | OFlags::CLOEXEC;
        flags |= if self.in_tree {
            OFlags::NOFOLLOW
        } else {
            OFlags::CREATE
        };
        let fd = rustix::fs::open(&self.path, flags, Mode::from_raw_mode(0o600))?;
        // Someone reads: now wait for room rather than fail on a full pipe.
        rustix::fs::fcntl_setfl(&fd, OFlags::APPEND)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(data)
    }
}

/// The handlers of incoming iq requests, by namespace.
#[derive(Debug, Clone, Default)]
pub struct Handlers {
    /// `--iq-handler NAMESPACE=CMD`, in order.
    pub commands: Vec<(String, String)>,
    /// `DIR/ext`, in `--dir` mode.
    pub ext_dir: Option<PathBuf>,
}

impl Handlers {
    /// Parse `NAMESPACE=CMD`.
    pub fn parse_option(text: &str) -> Result<(String, String), String> {
        match text.split_once('=') {
            Some((ns, cmd)) if !ns.is_empty() && !cmd.trim().is_empty() => {
                Ok((ns.to_owned(), cmd.to_owned()))
            }
            _ => Err(format!("--iq-handler {text:?}: use NAMESPACE=COMMAND")),
        }
    }

    /// The namespaces of `--iq-handler`, advertised in disco#info.
    pub fn namespaces(&self) -> Vec<String> {
        self.commands.iter().map(|(ns, _)| ns.clone()).collect()
    }

    /// The command that handles requests in `ns`, if any.
    fn command_for(&self, ns: &str) -> Option<Command> {
        if let Some((_, cmd)) = self.commands.iter().find(|(n, _)| n == ns) {
            return Some(shell(cmd, None, None));
        }
        let path = self.ext_dir.as_ref()?.join(sanitise_id(ns));
        let meta = std::fs::symlink_metadata(&path).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then(|| Command::new(path))
    }

    /// Let a handler answer `request`; `None` if no handler takes its namespace.
    /// A handler that fails, answers badly or takes longer than
    /// [`HANDLER_TIMEOUT`] gets the request an `internal-server-error`, and
    /// a warning on stderr.
    pub fn handle(&self, request: &Stanza, sender: Option<&Jid>) -> Option<Element> {
        let ns = request.payload_ns()?;
        let mut command = self.command_for(ns)?;
        set_env(&mut command, request, sender);
        let name = format!("the handler of {ns}");
        let input = format!("{}\n", request.line);
        let outcome =
            match run_with_input(&mut command, input.as_bytes(), true, Some(HANDLER_TIMEOUT)) {
                Err(err) => Err(format!("cannot run: {err}")),
                Ok(output) if !output.status.success() => Err(output.status.to_string()),
                Ok(output) => answer::adopt_handler_reply(request, &output.stdout),
            };
        Some(outcome.unwrap_or_else(|why| {
            warn(TOOL, format!("{name}: {why}"));
            answer::error_reply(request, "cancel", "internal-server-error")
        }))
    }
}

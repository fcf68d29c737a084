//! xmpp-connect: DNS SRV discovery, TCP, STARTTLS or direct TLS with the
//! certificate checked for the XMPP domain, then the decrypted stream handed
//! to PROG on fds 6 and 7 (or bridged to stdin and stdout).
//!
//! [`run`] is the whole tool: [`options`] parses the command line
//! ([`configured`] fills in the configured connection settings),
//! [`connect`] finds the server ([`dns`], [`srv`]) and opens TCP,
//! [`starttls`] and [`tls`] secure it (with the CAs [`trust`] finds), and [`relay`] moves bytes until both
//! sides are done, all within the setup [`deadline`].

pub mod configured;
pub mod connect;
pub mod deadline;
pub mod dns;
pub mod options;
pub mod relay;
pub mod srv;
pub mod starttls;
pub mod tls;
pub mod trust;

use deadline::Deadline;
use options::{Command, Options};
use relay::{Local, Server};
use std::ffi::OsString;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::process::Command as Process;
use xmpp_pipes::exit::{warn, Error, Result, Status};
use xmpp_pipes::ucspi;

const TOOL: &str = "xmpp-connect";

/// The TLS facts PROG gets, under s6-tlsc's names (removed when there is no TLS).
const TLS_VARIABLES: &[&str] = &[
    "SSL_PROTOCOL",
    "SSL_CIPHER",
    "SSL_PEER_CERT_HASH",
    "XMPP_TLS_EXPORTER",
];

/// Run xmpp-connect with the given arguments (without argv\[0\]); returns the exit status.
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let options = match options::parse(args, &xmpp_pipes::config::process_env)? {
        Command::Help => {
            print!("{}", options::HELP);
            return Ok(0);
        }
        Command::Version => {
            println!("{TOOL} {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        Command::Connect(options) => *options,
    };
    // Read --cafile before anything goes over the network.
    let tls = match options.plaintext {
        true => {
            warn(
                TOOL,
                "--plaintext: no TLS; anyone on the path can read and change this connection",
            );
            None
        }
        false => Some(tls::Tls::new(&options.trust)?),
    };
    let deadline = Deadline::after(options.timeout);
    let (server, facts, socket_info) = establish(&options, tls.as_ref(), &deadline)?;
    if options.prog.is_empty() {
        bridge(server, &options)
    } else {
        run_prog(server, &options, tls.as_ref(), facts.as_ref(), &socket_info)
    }
}

/// Where the socket goes, for PROG's environment.
struct SocketInfo {
    remote: std::net::SocketAddr,
    local: Option<std::net::SocketAddr>,
}

/// Find the server, connect, and secure the connection.
fn establish(
    options: &Options,
    tls: Option<&tls::Tls>,
    deadline: &Deadline,
) -> Result<(Server, Option<tls::Facts>, SocketInfo)> {
    let resolver = options.resolver.map(dns::Resolver::at);
    let targets = connect::targets(options, resolver.as_ref(), deadline)?;
    let say = |what: String| {
        if options.verbose {
            xmpp_pipes::exit::print_line(&format!("{TOOL}: {what}\n"));
        }
    };
    say(format!(
        "targets, in order: {}",
        targets
            .iter()
            .map(|t| format!(
                "{}:{} ({})",
                t.host,
                t.port,
                if t.direct_tls {
                    "direct TLS"
                } else {
                    "STARTTLS"
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let connection = connect::connect(&targets, resolver.as_ref(), deadline)?;
    say(format!(
        "connected to {} at {}",
        connection.host, connection.peer
    ));
    let info = SocketInfo {
        remote: connection.peer,
        local: connection.socket.local_addr().ok(),
    };
    let mut socket: TcpStream = connection.socket;
    let Some(tls) = tls else {
        return Ok((Server::plain(socket), None, info));
    };
    if !connection.direct_tls {
        starttls::negotiate(&socket, &options.domain, deadline)?;
    }
    let conn = tls.handshake(
        &options.domain,
        &mut socket,
        connection.direct_tls,
        deadline,
    )?;
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(None)?;
    let facts = tls::Facts::of(&conn);
    say(format!(
        "{} {}; the certificate for {} is trusted by {}",
        facts.protocol,
        facts.cipher,
        options.domain,
        tls.source()
    ));
    Ok((Server::tls(socket, conn), Some(facts), info))
}

/// The UCSPI facts of one connection, by their environment variable names:
/// what was connected, and the TLS facts. PROG gets the first connection's
/// in its environment, and each later one's in the control channel's
/// `connected` message ([`xmpp_pipes::control`]).
fn connection_facts(
    options: &Options,
    facts: Option<&tls::Facts>,
    socket: &SocketInfo,
) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("XMPP_DOMAIN", options.domain.clone()),
        ("PROTO", "TCP".to_owned()),
        ("TCPREMOTEIP", socket.remote.ip().to_string()),
        ("TCPREMOTEPORT", socket.remote.port().to_string()),
    ];
    if let Some(local) = socket.local {
        vars.push(("TCPLOCALIP", local.ip().to_string()));
        vars.push(("TCPLOCALPORT", local.port().to_string()));
    }
    if let Some(facts) = facts {
        vars.push(("SSL_PROTOCOL", facts.protocol.clone()));
        vars.push(("SSL_CIPHER", facts.cipher.clone()));
        vars.push(("SSL_PEER_CERT_HASH", facts.peer_cert_hash.clone()));
        if let Some(exporter) = &facts.exporter {
            vars.push(("XMPP_TLS_EXPORTER", exporter.clone()));
        }
    }
    vars
}

/// Give PROG the UCSPI environment of its first connection.
fn set_environment(command: &mut Process, vars: &[(&'static str, String)]) {
    for name in TLS_VARIABLES {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
}

/// Bridge mode: the stream on stdin and stdout.
fn bridge(mut server: Server, options: &Options) -> Result<u8> {
    let (input, output) = relay::stdio().map_err(|e| Error::os("stdin/stdout", e))?;
    let outcome = relay::relay(
        &mut server,
        Local {
            input,
            output,
            output_loss_ends: true,
            prog: None,
        },
        options.timeout,
        None,
    );
    if let Some(problem) = outcome.problem {
        return Err(problem);
    }
    if outcome.drain_timed_out {
        warn(
            TOOL,
            format!(
                "the server did not close the connection within {}s after our side ended",
                options.timeout.as_secs_f64()
            ),
        );
    }
    Ok(0)
}

/// Run PROG with the stream on its fds 6 and 7 and the control channel on
/// fd 8 ([`xmpp_pipes::control`]), relay, make a new connection each time
/// PROG asks, and pass on its exit status.
fn run_prog(
    server: Server,
    options: &Options,
    tls: Option<&tls::Tls>,
    facts: Option<&tls::Facts>,
    socket: &SocketInfo,
) -> Result<u8> {
    use rustix::pipe::{pipe_with, PipeFlags};
    use std::os::fd::AsFd;
    use xmpp_pipes::control::{self, Message};
    let pipe = |what| pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::os(what, e));
    // Server to PROG: PROG reads fd 6. PROG to server: PROG writes fd 7.
    let (prog_reads, we_write) = pipe("pipe for fd 6")?;
    let (we_read, prog_writes) = pipe("pipe for fd 7")?;
    let (channel, prog_channel) =
        control::channel().map_err(|e| Error::os("socket pair for the control channel", e))?;
    let mut command = ucspi::command_with_fds(
        &options.prog,
        &[
            (&prog_reads, ucspi::READ_FD),
            (&prog_writes, ucspi::WRITE_FD),
            (&prog_channel, control::CONTROL_FD),
        ],
    )?;
    set_environment(&mut command, &connection_facts(options, facts, socket));
    command.env(control::ENV_CONTROL, control::CONTROL_FD.to_string());
    let mut child = ucspi::spawn(&mut command)?;
    drop((prog_reads, prog_writes, prog_channel));
    // Without pidfds (Linux < 5.3) the relay ends when PROG's fds close.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    let local = |input: OwnedFd, output: OwnedFd| Local {
        input,
        output,
        output_loss_ends: false,
        prog: pidfd.as_ref().and_then(|fd| fd.try_clone().ok()),
    };
    let mut server = server;
    let mut outcome = relay::relay(
        &mut server,
        local(we_read, we_write),
        options.timeout,
        Some(channel.as_fd()),
    );
    drop(server);
    let mut channel = Some(channel);
    // Each time PROG asks, a new connection (until PROG exits or closes the channel).
    while !outcome.prog_exited {
        let Some(open) = &channel else { break };
        match wait_for_request(open, pidfd.as_ref()) {
            Request::Connect => {}
            Request::ChannelClosed => {
                channel = None;
                break;
            }
            Request::ProgExited => break,
        }
        let Some(open) = &channel else { break };
        let (new_server, new_facts, new_socket) =
            match establish(options, tls, &Deadline::after(options.timeout)) {
                Ok(established) => established,
                Err(err) => {
                    let failed = Message::Failed {
                        status: err.status(),
                        message: err.message().to_owned(),
                    };
                    if control::send(open.as_fd(), &failed, None).is_err() {
                        break;
                    }
                    outcome = relay::Outcome::default();
                    continue;
                }
            };
        let (ours, theirs) =
            control::connection_pair().map_err(|e| Error::os("socket pair for a connection", e))?;
        let vars = connection_facts(options, new_facts.as_ref(), &new_socket);
        let connected = Message::Connected(control::Facts(
            vars.into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        ));
        if control::send(open.as_fd(), &connected, Some(theirs.as_fd())).is_err() {
            break;
        }
        drop(theirs);
        let input = ours
            .try_clone()
            .map_err(|e| Error::os("dup of a connection socket", e))?;
        let mut server = new_server;
        outcome = relay::relay(
            &mut server,
            local(input, ours),
            options.timeout,
            Some(open.as_fd()),
        );
    }
    drop(channel);
    let status = child
        .wait()
        .map_err(|e| Error::new(Status::OsErr, format!("waiting for PROG: {e}")))?;
    let code = ucspi::exit_code(status);
    // PROG saw the connection end too: when it failed, its own line says
    // what went wrong, and one line per failure is enough.
    if let Some(problem) = outcome.problem.filter(|_| code == 0) {
        warn(TOOL, problem.message());
    }
    Ok(code)
}

/// What PROG wants once a connection is over (or abandoned).
enum Request {
    /// A new connection.
    Connect,
    /// The control channel closed: PROG wants no more connections.
    ChannelClosed,
    /// PROG exited.
    ProgExited,
}

/// Wait for PROG's next request on the control channel, or for PROG's exit.
fn wait_for_request(channel: &OwnedFd, pidfd: Option<&OwnedFd>) -> Request {
    use rustix::event::{poll, PollFd, PollFlags};
    use std::os::fd::AsFd;
    use xmpp_pipes::control::{self, Message};
    loop {
        let mut fds = vec![PollFd::new(channel, PollFlags::IN)];
        if let Some(pidfd) = pidfd {
            fds.push(PollFd::new(pidfd, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return Request::ChannelClosed,
        }
        let channel_ready = !fds[0].revents().is_empty();
        let prog_ready = fds.get(1).is_some_and(|fd| !fd.revents().is_empty());
        drop(fds);
        if channel_ready {
            match control::receive(channel.as_fd()) {
                Ok(Some((Message::Connect, _))) => return Request::Connect,
                // Only `connect` goes this way; anything else is ignored.
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return Request::ChannelClosed,
            }
        }
        if prog_ready {
            return Request::ProgExited;
        }
    }
}

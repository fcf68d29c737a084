//! xmpp-connect: DNS SRV discovery, TCP, STARTTLS or direct TLS with the
//! certificate checked for the XMPP domain, then the decrypted stream handed
//! to PROG on fds 6 and 7 (or bridged to stdin and stdout).
//!
//! [`run`] is the whole tool: [`options`] parses the command line
//! ([`configured`] fills in the configured connection settings),
//! [`connect`] finds the server ([`dns`], [`srv`]) and opens TCP,
//! [`starttls`] and [`tls`] secure it, and [`relay`] moves bytes until both
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

use deadline::Deadline;
use options::{Command, Options};
use relay::{Local, Server};
use std::ffi::OsString;
use std::net::TcpStream;
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
        run_prog(server, &options, facts.as_ref(), &socket_info)
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
    let connection = connect::connect(&targets, resolver.as_ref(), deadline)?;
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
    Ok((Server::tls(socket, conn), Some(facts), info))
}

/// Give PROG the UCSPI environment: what was connected, and the TLS facts.
fn set_environment(
    command: &mut Process,
    options: &Options,
    facts: Option<&tls::Facts>,
    socket: &SocketInfo,
) {
    command
        .env("XMPP_DOMAIN", &options.domain)
        .env("PROTO", "TCP")
        .env("TCPREMOTEIP", socket.remote.ip().to_string())
        .env("TCPREMOTEPORT", socket.remote.port().to_string());
    if let Some(local) = socket.local {
        command
            .env("TCPLOCALIP", local.ip().to_string())
            .env("TCPLOCALPORT", local.port().to_string());
    }
    for name in TLS_VARIABLES {
        command.env_remove(name);
    }
    if let Some(facts) = facts {
        command
            .env("SSL_PROTOCOL", &facts.protocol)
            .env("SSL_CIPHER", &facts.cipher)
            .env("SSL_PEER_CERT_HASH", &facts.peer_cert_hash);
        if let Some(exporter) = &facts.exporter {
            command.env("XMPP_TLS_EXPORTER", exporter);
        }
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

/// Run PROG with the stream on its fds 6 and 7, relay, and pass on its exit status.
fn run_prog(
    mut server: Server,
    options: &Options,
    facts: Option<&tls::Facts>,
    socket: &SocketInfo,
) -> Result<u8> {
    use rustix::pipe::{pipe_with, PipeFlags};
    let pipe = |what| pipe_with(PipeFlags::CLOEXEC).map_err(|e| Error::os(what, e));
    // Server to PROG: PROG reads fd 6. PROG to server: PROG writes fd 7.
    let (prog_reads, we_write) = pipe("pipe for fd 6")?;
    let (we_read, prog_writes) = pipe("pipe for fd 7")?;
    let mut command = ucspi::command_with_stream(&options.prog, &prog_reads, &prog_writes)?;
    set_environment(&mut command, options, facts, socket);
    let mut child = ucspi::spawn(&mut command)?;
    drop((prog_reads, prog_writes));
    // Without pidfds (Linux < 5.3) the relay ends when PROG's fds close.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_child(&child),
        rustix::process::PidfdFlags::empty(),
    )
    .ok();
    let outcome = relay::relay(
        &mut server,
        Local {
            input: we_read,
            output: we_write,
            output_loss_ends: false,
            prog: pidfd,
        },
        options.timeout,
    );
    drop(server);
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

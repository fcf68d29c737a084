//! Where to connect, and the TCP connection: `--host`, or DNS SRV discovery
//! (RFC 6120 §3.2, XEP-0368) with the fallback to DOMAIN:5222.

use crate::deadline::Deadline;
use crate::dns::{absolute_name, Answer, Resolver};
use crate::options::{HostPort, Options, DIRECT_TLS_PORT, STARTTLS_PORT};
use crate::srv::{self, Lookup, SplitMix, Target};
use hickory_proto::rr::RecordType;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use xmpp_pipes::exit::{warn, Error, Result, Status};

/// The SRV service of direct TLS (XEP-0368).
pub const SRV_DIRECT_TLS: &str = "_xmpps-client._tcp";
/// The SRV service of STARTTLS (RFC 6120 §3.2.1).
pub const SRV_STARTTLS: &str = "_xmpp-client._tcp";

/// An open TCP connection, and how TLS is to start on it.
pub struct Connection {
    /// The socket.
    pub socket: TcpStream,
    /// The server's address.
    pub peer: SocketAddr,
    /// TLS from the first byte, else STARTTLS.
    pub direct_tls: bool,
    /// The host name it was reached by (for messages).
    pub host: String,
}

/// The targets to try, in order.
///
/// SRV questions go to `resolver`, or to the servers of /etc/resolv.conf.
pub fn targets(
    options: &Options,
    resolver: Option<&Resolver>,
    deadline: &Deadline,
) -> Result<Vec<Target>> {
    if let Some(HostPort { host, port }) = &options.host {
        let default_port = if options.direct_tls {
            DIRECT_TLS_PORT
        } else {
            STARTTLS_PORT
        };
        return Ok(vec![Target {
            host: host.clone(),
            port: port.unwrap_or(default_port),
            direct_tls: options.direct_tls,
            priority: 0,
            weight: 0,
        }]);
    }
    let system;
    let resolver = match resolver {
        Some(resolver) => resolver,
        None => {
            system = Resolver::system();
            &system
        }
    };
    let domain = &options.domain;
    let mut found = Vec::new();
    let mut no_service = 0;
    for (service, direct_tls) in [(SRV_DIRECT_TLS, true), (SRV_STARTTLS, false)] {
        if options.plaintext && direct_tls {
            continue;
        }
        let name = absolute_name(&format!("{service}.{domain}"))?;
        let records = match resolver.query(&name, RecordType::SRV, deadline) {
            Ok(Answer::Records(records)) => records,
            Ok(Answer::NoSuchName) => Vec::new(),
            Err(err) => {
                warn(
                    "xmpp-connect",
                    format!(
                        "no SRV answer for {name}: {} (going on without it)",
                        err.message()
                    ),
                );
                Vec::new()
            }
        };
        match srv::lookup_from_records(&records, direct_tls) {
            Lookup::Found(targets) => found.extend(targets),
            Lookup::NoService => no_service += 1,
            Lookup::Nothing => {}
        }
    }
    if found.is_empty() {
        if no_service > 0 {
            return Err(Error::unavailable(format!(
                "{domain} offers no XMPP client service (its SRV record points to \".\")"
            )));
        }
        // No SRV records: the domain itself is tried, unless DNS says it
        // does not exist at all, which trying again will not change.
        if let Ok(Answer::NoSuchName) =
            resolver.query(&absolute_name(domain)?, RecordType::A, deadline)
        {
            return Err(Error::new(
                Status::NoHost,
                format!("no such domain: {domain} does not exist in DNS (check its spelling)"),
            ));
        }
        return Ok(vec![Target {
            host: domain.clone(),
            port: STARTTLS_PORT,
            direct_tls: false,
            priority: 0,
            weight: 0,
        }]);
    }
    let mut random = SplitMix::from_os();
    Ok(srv::order(found, &mut |n| random.up_to(n)))
}

/// TCP keepalive: after [`TCP_KEEPALIVE_IDLE`] of silence, probes every
/// [`TCP_KEEPALIVE_INTERVAL`]; [`TCP_KEEPALIVE_PROBES`] unanswered ones end
/// the connection, and so does data unacknowledged for
/// [`TCP_USER_TIMEOUT`]. This keeps NAT mappings open and notices a dead
/// peer even when the session above is idle; xmpp-auth's own keepalive
/// (`--keepalive`) notices it sooner. Failures to set them are harmless.
fn tcp_keepalive(socket: &TcpStream) {
    use rustix::net::sockopt;
    let _ = sockopt::set_socket_keepalive(socket, true);
    let _ = sockopt::set_tcp_keepidle(socket, TCP_KEEPALIVE_IDLE);
    let _ = sockopt::set_tcp_keepintvl(socket, TCP_KEEPALIVE_INTERVAL);
    let _ = sockopt::set_tcp_keepcnt(socket, TCP_KEEPALIVE_PROBES);
    let _ = sockopt::set_tcp_user_timeout(socket, TCP_USER_TIMEOUT.as_millis() as u32);
}

/// Acknowledge what arrives at once rather than after Linux's delayed-ACK
/// wait (TCP_QUICKACK; the kernel drops it again by itself, so it is set
/// before each read while logging in). A server that leaves Nagle on
/// (Prosody) holds its next small segment, the stream features after TLS
/// say, until our ACK of the last one: without this, 40 ms a login.
pub fn quickack(socket: &TcpStream) {
    let _ = rustix::net::sockopt::set_tcp_quickack(socket, true);
}

/// Silence before the first TCP keepalive probe.
pub const TCP_KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(60);
/// Time between TCP keepalive probes.
pub const TCP_KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// Unanswered TCP keepalive probes that end the connection.
pub const TCP_KEEPALIVE_PROBES: u32 = 6;
/// How long sent data may stay unacknowledged by the peer's TCP before the connection ends.
pub const TCP_USER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Connect to the first target that answers.
pub fn connect(
    targets: &[Target],
    resolver: Option<&Resolver>,
    deadline: &Deadline,
) -> Result<Connection> {
    let mut failures = Vec::new();
    for target in targets {
        let addresses = match addresses(target, resolver, deadline) {
            Ok(addresses) => addresses,
            Err(err) => {
                failures.push(format!("{}: {}", target.host, err.message()));
                continue;
            }
        };
        for address in addresses {
            let left = deadline
                .remaining()
                .map_err(|_| deadline.error(&format!("connecting ({})", failures.join("; "))))?;
            match TcpStream::connect_timeout(&address, left) {
                Ok(socket) => {
                    let _ = socket.set_nodelay(true);
                    quickack(&socket);
                    tcp_keepalive(&socket);
                    return Ok(Connection {
                        socket,
                        peer: address,
                        direct_tls: target.direct_tls,
                        host: target.host.clone(),
                    });
                }
                Err(err) => failures.push(format!(
                    "{}:{} ({address}): {err}",
                    target.host, target.port
                )),
            }
        }
    }
    if deadline.passed() {
        return Err(deadline.error(&format!("connecting ({})", failures.join("; "))));
    }
    // Refused or unreachable: the server may be restarting, so "try again
    // later" (75) is what a cron job should hear; 69 is kept for "this domain
    // has no XMPP service" (the SRV "." target).
    Err(Error::temp(format!(
        "cannot connect (try again later): {}",
        if failures.is_empty() {
            "no addresses".to_owned()
        } else {
            failures.join("; ")
        }
    )))
}

/// The socket addresses of a target: an IP literal as it is, names through
/// the given DNS server, or through the system's resolver (getaddrinfo, which
/// also reads /etc/hosts) when none was given.
fn addresses(
    target: &Target,
    resolver: Option<&Resolver>,
    deadline: &Deadline,
) -> Result<Vec<SocketAddr>> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    match resolver {
        Some(resolver) => Ok(resolver
            .addresses(&target.host, deadline)?
            .into_iter()
            .map(|ip| SocketAddr::new(ip, target.port))
            .collect()),
        None => (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|err: io::Error| {
                Error::unavailable(format!("cannot resolve {}: {err}", target.host))
            }),
    }
}

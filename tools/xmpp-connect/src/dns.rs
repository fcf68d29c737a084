//! A small stub resolver: DNS queries over UDP (TCP on truncation) to the
//! servers of /etc/resolv.conf or to the one given with `--resolver`.
//!
//! Messages are built and parsed with `hickory-proto`; this module only moves
//! them over sockets, checks that an answer belongs to our question (random
//! id, same question), and bounds everything by the setup deadline.

use crate::deadline::Deadline;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;
use xmpp_pipes::exit::{Error, Result};

/// Where resolv.conf lives.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The DNS servers to ask.
#[derive(Debug, Clone)]
pub struct Resolver {
    servers: Vec<SocketAddr>,
}

/// What a DNS server answered.
#[derive(Debug)]
pub enum Answer {
    /// The records of the answer section.
    Records(Vec<Record>),
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
}

impl Resolver {
    /// The nameservers of /etc/resolv.conf (127.0.0.1 if there are none, as the C library does).
    pub fn system() -> Self {
        let mut servers: Vec<SocketAddr> = std::fs::read(RESOLV_CONF)
            .ok()
            .and_then(|bytes| resolv_conf::Config::parse(bytes).ok())
            .map(|config| {
                config
                    .nameservers
                    .iter()
                    .map(|ns| SocketAddr::new(IpAddr::from(ns), 53))
                    .collect()
            })
            .unwrap_or_default();
        if servers.is_empty() {
            servers.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        }
        Resolver { servers }
    }

    /// Ask only this server.
    pub fn at(server: SocketAddr) -> Self {
        Resolver {
            servers: vec![server],
        }
    }

    /// Ask the servers in turn for `name`/`rtype` until one answers.
    ///
    /// SERVFAIL and timeouts are temporary failures (75) once every server has
    /// been tried; a REFUSED answer moves on to the next server.
    pub fn query(&self, name: &Name, rtype: RecordType, deadline: &Deadline) -> Result<Answer> {
        let mut last = None;
        for (index, server) in self.servers.iter().enumerate() {
            let left = match deadline.remaining() {
                Ok(left) => left,
                Err(_) => break,
            };
            // Share the time left among the servers not yet asked.
            let share =
                (left / (self.servers.len() - index) as u32).max(left.min(Duration::from_secs(2)));
            let request = build_query(name, rtype, random_id());
            let outcome = exchange(*server, &request, share.min(left));
            match outcome {
                Ok(response) => match response.response_code {
                    ResponseCode::NoError => return Ok(Answer::Records(response.answers)),
                    ResponseCode::NXDomain => return Ok(Answer::NoSuchName),
                    code => {
                        last = Some(Error::temp(format!(
                            "DNS server {server} answered {code} for {name} {rtype}"
                        )))
                    }
                },
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    last = Some(Error::temp(format!(
                        "DNS server {server} did not answer for {name} {rtype} in time"
                    )))
                }
                Err(err) => {
                    last = Some(Error::temp(format!(
                        "DNS query to {server} for {name} {rtype} failed: {err}"
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| deadline.error("resolving names with DNS")))
    }

    /// The IPv6 and IPv4 addresses of `host` (AAAA first), asked from these servers.
    pub fn addresses(&self, host: &str, deadline: &Deadline) -> Result<Vec<IpAddr>> {
        let name = absolute_name(host)?;
        let mut found = Vec::new();
        let mut failure = None;
        for rtype in [RecordType::AAAA, RecordType::A] {
            match self.query(&name, rtype, deadline) {
                Ok(Answer::Records(records)) => {
                    found.extend(records.iter().filter_map(|r| match &r.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                        _ => None,
                    }))
                }
                Ok(Answer::NoSuchName) => {}
                Err(err) => failure = Some(err),
            }
        }
        match (found.is_empty(), failure) {
            (false, _) => Ok(found),
            (true, Some(err)) => Err(err),
            (true, None) => Err(Error::unavailable(format!(
                "{host} has no IPv4 or IPv6 address in DNS"
            ))),
        }
    }
}

/// `host` as an absolute DNS name (IDNs become A-labels).
pub fn absolute_name(host: &str) -> Result<Name> {
    let mut name = Name::from_utf8(host)
        .map_err(|e| Error::usage(format!("{host:?} is not a valid DNS name: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

/// A random 16-bit query id.
fn random_id() -> u16 {
    let mut id = [0u8; 2];
    if getrandom::fill(&mut id).is_err() {
        // Without the OS generator, fall back to the clock: still unpredictable enough
        // for a stub that also checks the question.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return (nanos ^ (nanos >> 16)) as u16;
    }
    u16::from_ne_bytes(id)
}

/// A recursive query for `name`/`rtype` with the given id (EDNS0, 1232-byte UDP payload).
pub fn build_query(name: &Name, rtype: RecordType, id: u16) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    message
}

/// Parse `bytes` as the answer to `request`: `None` if it is not (wrong id,
/// not a response, another question); an error if it does not parse.
pub fn parse_response(request: &Message, bytes: &[u8]) -> io::Result<Option<Message>> {
    let response = Message::from_vec(bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad DNS message: {e}")))?;
    let same_question = match (request.queries.first(), response.queries.first()) {
        (Some(asked), Some(answered)) => {
            // Name equality is case-insensitive, as DNS wants.
            asked.query_type == answered.query_type && asked.name == answered.name
        }
        // Some servers leave the question out of error answers.
        (Some(_), None) => response.response_code != ResponseCode::NoError,
        _ => false,
    };
    if response.id != request.id || response.message_type != MessageType::Response || !same_question
    {
        return Ok(None);
    }
    Ok(Some(response))
}

/// Send `request` to `server` over UDP, and over TCP if the answer was truncated.
fn exchange(server: SocketAddr, request: &Message, timeout: Duration) -> io::Result<Message> {
    let deadline = Deadline::after(timeout);
    let bytes = request
        .to_vec()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    // connect(): the kernel drops datagrams from anyone but the server.
    socket.connect(server)?;
    socket.send(&bytes)?;
    let mut buf = vec![0u8; 65535];
    loop {
        socket.set_read_timeout(Some(deadline.remaining()?))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        match parse_response(request, &buf[..n]) {
            Ok(Some(response)) if response.truncation => {
                return exchange_tcp(server, &bytes, request, &deadline)
            }
            Ok(Some(response)) => return Ok(response),
            // Not ours (or garbage): keep waiting for the real answer.
            Ok(None) | Err(_) => continue,
        }
    }
}

/// The same question over TCP (RFC 7766: two-byte length prefix).
fn exchange_tcp(
    server: SocketAddr,
    bytes: &[u8],
    request: &Message,
    deadline: &Deadline,
) -> io::Result<Message> {
    let mut stream = TcpStream::connect_timeout(&server, deadline.remaining()?)?;
    stream.set_read_timeout(Some(deadline.remaining()?))?;
    stream.set_write_timeout(Some(deadline.remaining()?))?;
    let length = u16::try_from(bytes.len()).map_err(|_| io::Error::other("DNS query too long"))?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut answer)?;
    parse_response(request, &answer)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the DNS server answered another question",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::SRV;

    fn answer_to(request: &Message, records: Vec<Record>, code: ResponseCode) -> Vec<u8> {
        let mut response = Message::new(request.id, MessageType::Response, OpCode::Query);
        response.metadata.response_code = code;
        response
            .add_queries(request.queries.clone())
            .add_answers(records);
        response.to_vec().unwrap()
    }

    #[test]
    fn parses_an_srv_answer_to_our_question() {
        let name = absolute_name("_xmpp-client._tcp.example.org").unwrap();
        let request = build_query(&name, RecordType::SRV, 4242);
        let record = Record::from_rdata(
            name.clone(),
            60,
            RData::SRV(SRV::new(
                5,
                10,
                5222,
                Name::from_ascii("xmpp.example.org.").unwrap(),
            )),
        );
        let bytes = answer_to(&request, vec![record], ResponseCode::NoError);
        let response = parse_response(&request, &bytes).unwrap().unwrap();
        match crate::srv::lookup_from_records(&response.answers, false) {
            crate::srv::Lookup::Found(targets) => {
                assert_eq!(targets[0].host, "xmpp.example.org");
                assert_eq!(
                    (targets[0].priority, targets[0].weight, targets[0].port),
                    (5, 10, 5222)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ignores_answers_that_are_not_ours() {
        let name = absolute_name("_xmpp-client._tcp.example.org").unwrap();
        let request = build_query(&name, RecordType::SRV, 1);
        let other_id = build_query(&name, RecordType::SRV, 2);
        assert!(parse_response(
            &request,
            &answer_to(&other_id, vec![], ResponseCode::NoError)
        )
        .unwrap()
        .is_none());
        let other_question =
            build_query(&absolute_name("evil.example").unwrap(), RecordType::SRV, 1);
        assert!(parse_response(
            &request,
            &answer_to(&other_question, vec![], ResponseCode::NoError)
        )
        .unwrap()
        .is_none());
        // Our own query echoed back is not a response.
        assert!(parse_response(&request, &request.to_vec().unwrap())
            .unwrap()
            .is_none());
        assert!(parse_response(&request, b"\x00\x01garbage").is_err());
    }

    #[test]
    fn names_are_absolute_and_idns_become_a_labels() {
        assert_eq!(
            absolute_name("example.org").unwrap().to_ascii(),
            "example.org."
        );
        assert_eq!(
            absolute_name("bücher.example").unwrap().to_ascii(),
            "xn--bcher-kva.example."
        );
    }

    #[test]
    fn udp_exchange_with_a_loopback_server() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (n, peer) = server.recv_from(&mut buf).unwrap();
            let request = Message::from_vec(&buf[..n]).unwrap();
            // First a stray answer with the wrong id, then the right one.
            let mut wrong = request.clone();
            wrong.metadata.id = request.id.wrapping_add(1);
            server
                .send_to(&answer_to(&wrong, vec![], ResponseCode::ServFail), peer)
                .unwrap();
            server
                .send_to(&answer_to(&request, vec![], ResponseCode::NXDomain), peer)
                .unwrap();
        });
        let resolver = Resolver::at(address);
        let name = absolute_name("nothing.example").unwrap();
        let answer = resolver
            .query(
                &name,
                RecordType::SRV,
                &Deadline::after(Duration::from_secs(10)),
            )
            .unwrap();
        assert!(matches!(answer, Answer::NoSuchName));
        thread.join().unwrap();
    }
}

//! A dnsmasq on 127.0.0.1 serving SRV (and A) records for the tests.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::free_udp_tcp_port;
use crate::process::spawn;

/// How long dnsmasq may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One SRV record `<service>.<domain>` → `<target>:<port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// `_xmpp-client._tcp` or `_xmpps-client._tcp`.
    pub service: String,
    /// The domain, e.g. `example.test`.
    pub domain: String,
    /// The target host; `None` for the "." target (RFC 2782: the service
    /// is decidedly not available at this domain).
    pub target: Option<String>,
    /// The target port.
    pub port: u16,
    /// Priority: lower is tried first.
    pub priority: u16,
    /// Weight among records of the same priority.
    pub weight: u16,
}

impl SrvRecord {
    /// A record for `service` (e.g. `_xmpp-client._tcp`) with priority and
    /// weight 0.
    pub fn new(service: &str, domain: &str, target: &str, port: u16) -> SrvRecord {
        SrvRecord {
            service: service.to_string(),
            domain: domain.to_string(),
            target: Some(target.to_string()),
            port,
            priority: 0,
            weight: 0,
        }
    }

    /// A `_xmpp-client._tcp` (STARTTLS) record.
    pub fn client(domain: &str, target: &str, port: u16) -> SrvRecord {
        SrvRecord::new("_xmpp-client._tcp", domain, target, port)
    }

    /// A `_xmpps-client._tcp` (direct TLS, XEP-0368) record.
    pub fn direct_tls(domain: &str, target: &str, port: u16) -> SrvRecord {
        SrvRecord::new("_xmpps-client._tcp", domain, target, port)
    }

    /// A record with the "." target: no such service at `domain`.
    pub fn no_service(service: &str, domain: &str) -> SrvRecord {
        SrvRecord {
            target: None,
            ..SrvRecord::new(service, domain, ".", 0)
        }
    }

    /// The same record with priority `priority`.
    pub fn priority(mut self, priority: u16) -> SrvRecord {
        self.priority = priority;
        self
    }

    /// The same record with weight `weight`.
    pub fn weight(mut self, weight: u16) -> SrvRecord {
        self.weight = weight;
        self
    }

    /// The owner name, e.g. `_xmpp-client._tcp.example.test`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.service, self.domain)
    }

    fn dnsmasq_arg(&self) -> String {
        match &self.target {
            Some(t) => format!(
                "--srv-host={},{},{},{},{}",
                self.name(),
                t,
                self.port,
                self.priority,
                self.weight
            ),
            None => format!("--srv-host={}", self.name()),
        }
    }
}

/// A dnsmasq answering on a free 127.0.0.1 port (UDP and TCP) with the
/// given records only: no upstream servers, no /etc/hosts. Killed on drop.
pub struct Dns {
    addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<String>>,
    /// Every output line as it arrives (wakes [`Dns::wait_log`]).
    lines: Mutex<mpsc::Receiver<String>>,
}

impl Dns {
    /// Starts dnsmasq serving `records`; waits for its "started" line.
    pub fn start(records: &[SrvRecord]) -> Dns {
        Dns::start_with_hosts(records, &[])
    }

    /// Starts dnsmasq serving `records` and the address records `hosts`
    /// (e.g. `("xmpp.example.test", 127.0.0.1)` for SRV targets); waits for
    /// its "started" line. Panics with its output if it fails or times out.
    pub fn start_with_hosts(records: &[SrvRecord], hosts: &[(&str, IpAddr)]) -> Dns {
        let port = free_udp_tcp_port();
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut cmd = Command::new(crate::find_program("dnsmasq"));
        cmd.args([
            "--no-daemon",
            "--log-facility=-",
            "--log-queries",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--cache-size=0",
            // Names under .invalid (RFC 6761) do not exist: NXDOMAIN, where
            // other unknown names are REFUSED (no upstream server).
            "--local=/invalid/",
        ])
        .arg(format!("--port={port}"))
        .args(records.iter().map(SrvRecord::dnsmasq_arg))
        .args(
            hosts
                .iter()
                .map(|(name, ip)| format!("--host-record={name},{ip}")),
        )
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("dup pipe"))
        .stderr(writer);
        let what = format!("{cmd:?}");
        let mut child = spawn(cmd).unwrap_or_else(|e| {
            panic!("start dnsmasq: {e} (install dnsmasq-base); command: {what}")
        });

        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                let _ = tx.send(line);
            }
        });

        let deadline = std::time::Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                // dnsmasq binds its sockets before it logs this.
                Ok(line) if line.contains("started, version") => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    let why = match e {
                        RecvTimeoutError::Timeout => "not started in time",
                        RecvTimeoutError::Disconnected => "exited",
                    };
                    panic!(
                        "dnsmasq {why} ({status:?}); command: {what}\n--- output ---\n{}",
                        log.lock().unwrap()
                    );
                }
            }
        }
        Dns {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            child,
            log,
            lines: Mutex::new(rx),
        }
    }

    /// Where it answers (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its output so far (with `--log-queries`: the queries it answered).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait (at most `timeout`) until its output holds `needle`, e.g. the
    /// query a client just made: dnsmasq logs a query around the time it
    /// answers, so the line may arrive after the answer. Panics with the
    /// output on timeout.
    pub fn wait_log(&self, needle: &str, timeout: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        let lines = self.lines.lock().unwrap();
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("dnsmasq did not log {needle:?} in {timeout:?}:\n{log}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let log = self.log();
                    assert!(
                        log.contains(needle),
                        "dnsmasq's output ended without {needle:?}:\n{log}"
                    );
                    return log;
                }
            }
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

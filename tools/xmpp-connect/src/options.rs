//! The command line: options, DOMAIN and PROG, and the `HOST[:PORT]` syntax.

use crate::tls::Pin;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::exit::{Error, Result};

/// The port of `_xmpp-client` (STARTTLS) when nothing else is known.
pub const STARTTLS_PORT: u16 = 5222;
/// The conventional port of direct TLS (XEP-0368) for `--host` without a port.
pub const DIRECT_TLS_PORT: u16 = 5223;
/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: xmpp-connect [OPTIONS] DOMAIN [PROG [ARG...]]

Connect to the XMPP server of DOMAIN and secure the connection with TLS,
the certificate checked for DOMAIN. Then run PROG with the decrypted stream
on its fd 6 (read) and fd 7 (write), or without PROG bridge it to stdin and
stdout. No XML stream is open yet: PROG (normally xmpp-auth) opens it.
Options end at DOMAIN; everything after it belongs to PROG.

Without --host, DNS SRV records say where to connect: _xmpps-client._tcp
(direct TLS) and _xmpp-client._tcp (STARTTLS), tried by priority and weight;
without records, DOMAIN port 5222 with STARTTLS.

Options:
      --host HOST[:PORT]   connect here instead of asking DNS (port 5222, 5223 with --direct-tls)
      --direct-tls         TLS from the first byte (XEP-0368), not STARTTLS; needs --host
      --cafile FILE        trust only the CA certificates in this PEM file
      --pin sha256:BASE64  accept exactly the certificate with this public key (self-signed servers)
      --resolver IP[:PORT] ask this DNS server (default: those of /etc/resolv.conf)
      --timeout SECONDS    bound connecting and the TLS handshake (default 30)
      --plaintext          no TLS at all (a warning is printed; only for tests and local servers)
  -h, --help               print this help
  -V, --version            print the version

There is no switch to skip certificate checks: use --cafile for a private
CA, or --pin for a certificate you have checked. A server that does not
offer STARTTLS is refused.

Environment:
  XMPP_RESOLVER        the DNS server, as --resolver (the option wins)
  set for PROG:
  XMPP_DOMAIN          DOMAIN
  PROTO, TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT   the TCP connection (UCSPI)
  SSL_PROTOCOL         TLSv1.3 or TLSv1.2 (unset without TLS)
  SSL_CIPHER           the cipher suite
  SSL_PEER_CERT_HASH   SHA-256 of the server's certificate, hex
  XMPP_TLS_EXPORTER    RFC 9266 tls-exporter channel binding, base64 (TLS 1.3)

Exit status:
  PROG's status when PROG ran; otherwise
  0    bridge mode: the server closed the stream
  64   usage error
  69   no service: nothing to connect to, or every address refused
  74   bridge mode: stdout closed while the server still sent data
  75   temporary failure: timeout, DNS failure, connection lost
  76   protocol error: no STARTTLS offered, <failure/>, TLS alert
  77   the server's certificate is not trusted for DOMAIN, or does not match --pin
  78   configuration error: unusable --cafile
  126  PROG could not be run; 127 PROG not found
";

/// Options that take a value.
pub const WITH_VALUE: &[&str] = &["--host", "--cafile", "--pin", "--resolver", "--timeout"];
/// Options that are switches.
pub const SWITCHES: &[&str] = &[
    "--direct-tls",
    "--plaintext",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// What to do.
#[derive(Debug)]
pub enum Command {
    /// Print the usage text.
    Help,
    /// Print the version.
    Version,
    /// Connect.
    Connect(Box<Options>),
}

/// How to trust the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustChoice {
    /// The webpki-roots CAs, certificate checked for DOMAIN.
    System,
    /// Only the CAs of this PEM file, certificate checked for DOMAIN.
    CaFile(PathBuf),
    /// Exactly the certificate with this public key.
    Pin(Pin),
}

/// A parsed command line.
#[derive(Debug)]
pub struct Options {
    /// The XMPP domain (what the certificate must be valid for).
    pub domain: String,
    /// `--host`: where to connect instead of asking DNS.
    pub host: Option<HostPort>,
    /// `--direct-tls`: TLS from the first byte (only with `--host`).
    pub direct_tls: bool,
    /// `--plaintext`: no TLS at all.
    pub plaintext: bool,
    /// `--cafile` / `--pin` / neither.
    pub trust: TrustChoice,
    /// `--resolver` or `XMPP_RESOLVER`: the DNS server to ask for everything.
    pub resolver: Option<SocketAddr>,
    /// `--timeout`: the bound on connection setup.
    pub timeout: Duration,
    /// PROG and its arguments (empty: bridge mode).
    pub prog: Vec<OsString>,
}

/// A `HOST[:PORT]` operand: a name or an IP literal, and maybe a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The host name or IP address (without brackets).
    pub host: String,
    /// The port, if one was given.
    pub port: Option<u16>,
}

impl HostPort {
    /// Parse `host`, `host:port`, `1.2.3.4:5`, `[::1]:5222`, `[::1]` or a bare `::1`.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let bad = || format!("{text:?} is not HOST[:PORT] (write an IPv6 address as [::1]:5222)");
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            match after {
                "" => (addr, None),
                _ => (addr, Some(port(after.strip_prefix(':').ok_or_else(bad)?)?)),
            }
        } else if text.matches(':').count() > 1 {
            text.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, p)) => (host, Some(port(p)?)),
                None => (text, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad());
        }
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }

    /// The host as an IP address, if it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// Parse a DNS server address: `IP` or `IP:PORT` (`[IPv6]:PORT`), port 53 by default.
pub fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    let parsed = HostPort::parse(text)?;
    let ip = parsed
        .ip()
        .ok_or_else(|| format!("{text:?} is not an IP address (with an optional :PORT)"))?;
    Ok(SocketAddr::new(ip, parsed.port.unwrap_or(53)))
}

/// Parse the command line (without argv\[0\]); `env_resolver` is `XMPP_RESOLVER`.
pub fn parse(args: Vec<OsString>, env_resolver: Option<OsString>) -> Result<Command> {
    let split = cli::split_options(
        args,
        &OptionSpec {
            with_value: WITH_VALUE,
            switches: SWITCHES,
        },
    )?;
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let value = |e: String, name: &str| Error::usage(format!("{name}: {e}"));
    let host = args
        .opt_value_from_fn("--host", HostPort::parse)
        .map_err(|e| usage(e, "--host"))?;
    let cafile: Option<PathBuf> = args
        .opt_value_from_os_str("--cafile", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(|e| usage(e, "--cafile"))?;
    let pin = args
        .opt_value_from_fn("--pin", Pin::parse)
        .map_err(|e| usage(e, "--pin"))?;
    let resolver = args
        .opt_value_from_fn("--resolver", parse_resolver)
        .map_err(|e| usage(e, "--resolver"))?;
    let timeout = args
        .opt_value_from_fn("--timeout", cli::parse_seconds)
        .map_err(|e| usage(e, "--timeout"))?
        .unwrap_or(DEFAULT_TIMEOUT);
    let direct_tls = args.contains("--direct-tls");
    let plaintext = args.contains("--plaintext");
    cli::finish(args)?;

    let resolver = match (resolver, env_resolver) {
        (Some(r), _) => Some(r),
        (None, Some(env)) if !env.is_empty() => {
            let text = env.to_string_lossy();
            Some(parse_resolver(&text).map_err(|e| value(e, "XMPP_RESOLVER"))?)
        }
        _ => None,
    };
    let trust = match (cafile, pin) {
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "--cafile and --pin exclude each other: a pin accepts exactly one certificate",
            ))
        }
        (Some(file), None) => TrustChoice::CaFile(file),
        (None, Some(pin)) => TrustChoice::Pin(pin),
        (None, None) => TrustChoice::System,
    };
    if plaintext && (direct_tls || trust != TrustChoice::System) {
        return Err(Error::usage(
            "--plaintext excludes --direct-tls, --cafile and --pin (there is no TLS to configure)",
        ));
    }
    if direct_tls && host.is_none() {
        return Err(Error::usage(
            "--direct-tls needs --host (without it, DNS SRV says which connections use direct TLS)",
        ));
    }
    let mut operands = split.operands.into_iter();
    let domain = operands.next().ok_or_else(|| {
        Error::usage("missing DOMAIN (usage: xmpp-connect [OPTIONS] DOMAIN [PROG...]; see --help)")
    })?;
    let domain = domain
        .into_string()
        .map_err(|d| Error::usage(format!("DOMAIN {d:?} is not valid UTF-8")))?;
    if domain.is_empty()
        || domain.starts_with('.')
        || domain
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/@:[]".contains(c))
    {
        return Err(Error::usage(format!(
            "{domain:?} is not an XMPP domain (give the part after @ of your JID, e.g. example.org)"
        )));
    }
    Ok(Command::Connect(Box::new(Options {
        domain: domain.trim_end_matches('.').to_owned(),
        host,
        direct_tls,
        plaintext,
        trust,
        resolver,
        timeout,
        prog: operands.collect(),
    })))
}

fn usage(err: pico_args::Error, name: &str) -> Error {
    match err {
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. }
        | pico_args::Error::ArgumentParsingFailed { cause } => {
            Error::usage(format!("{name}: {cause}"))
        }
        other => cli::usage_error(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn connect(list: &[&str]) -> Result<Options> {
        match parse(args(list), None)? {
            Command::Connect(options) => Ok(*options),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_port_forms() {
        let hp = |h: &str, p: Option<u16>| HostPort {
            host: h.into(),
            port: p,
        };
        assert_eq!(
            HostPort::parse("[::1]:5222").unwrap(),
            hp("::1", Some(5222))
        );
        assert_eq!(HostPort::parse("[::1]").unwrap(), hp("::1", None));
        assert_eq!(HostPort::parse("::1").unwrap(), hp("::1", None));
        assert_eq!(
            HostPort::parse("127.0.0.1:1").unwrap(),
            hp("127.0.0.1", Some(1))
        );
        assert_eq!(
            HostPort::parse("xmpp.example.org").unwrap(),
            hp("xmpp.example.org", None)
        );
        assert_eq!(
            HostPort::parse("x.org:5223").unwrap(),
            hp("x.org", Some(5223))
        );
        for bad in [
            "",
            "x:",
            "x:0",
            "x:99999",
            "[::1",
            "[::1]5222",
            "[nothost]:1",
            "1:2:3",
            ":5",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HostPort::parse("[::1]:1").unwrap().ip(),
            Some("::1".parse().unwrap())
        );
    }

    #[test]
    fn resolver_forms() {
        assert_eq!(
            parse_resolver("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("[::1]:5353").unwrap(),
            "[::1]:5353".parse().unwrap()
        );
        assert!(parse_resolver("dns.example").is_err());
    }

    #[test]
    fn prog_options_pass_through() {
        let o = connect(&[
            "--timeout",
            "5",
            "example.org",
            "xmpp-auth",
            "--timeout",
            "9",
        ])
        .unwrap();
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert_eq!(o.domain, "example.org");
        assert_eq!(o.prog, args(&["xmpp-auth", "--timeout", "9"]));
    }

    #[test]
    fn conflicts_and_missing_domain_are_usage_errors() {
        use xmpp_pipes::exit::Status::Usage;
        let pin = format!("sha256:{}", "A".repeat(43) + "=");
        for bad in [
            &["--plaintext", "--direct-tls", "--host", "h", "d"][..],
            &["--cafile", "x", "--pin", &pin, "d"],
            &["--direct-tls", "d"],
            &["--timeout", "0", "d"],
            &["--pin", "md5:xx", "d"],
            &[],
            &["--host", "h"],
            &["bad domain"],
        ] {
            assert_eq!(connect(bad).unwrap_err().status(), Usage, "{bad:?}");
        }
        let err = parse(args(&["d"]), Some("nonsense".into())).unwrap_err();
        assert!(err.message().contains("XMPP_RESOLVER"));
    }

    #[test]
    fn environment_resolver_and_option_precedence() {
        let env = Some(OsString::from("127.0.0.1:5353"));
        match parse(args(&["d"]), env.clone()).unwrap() {
            Command::Connect(o) => assert_eq!(o.resolver, Some("127.0.0.1:5353".parse().unwrap())),
            _ => unreachable!(),
        }
        match parse(args(&["--resolver", "::1", "d"]), env).unwrap() {
            Command::Connect(o) => assert_eq!(o.resolver, Some("[::1]:53".parse().unwrap())),
            _ => unreachable!(),
        }
    }
}

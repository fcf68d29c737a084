//! The command line: options, DOMAIN and PROG, and the `HOST[:PORT]` syntax.

use crate::configured::{self, Flags};
use crate::tls::{Pin, SystemStore};
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use xmpp_pipes::cli::{self, OptionSpec};
use xmpp_pipes::config::{Config, Lookup, Scope, Target, CONFIGURED};
use xmpp_pipes::exit::{Error, Result};

/// The port of `_xmpp-client` (STARTTLS) when nothing else is known.
pub const STARTTLS_PORT: u16 = 5222;
/// The conventional port of direct TLS (XEP-0368) for `--host` without a port.
pub const DIRECT_TLS_PORT: u16 = 5223;
/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The text of `--help`; the manual page documents the same options.
pub const HELP: &str = "\
Usage: xmpp-connect [OPTIONS] DOMAIN|@ [PROG [ARG...]]

Connect to the XMPP server of DOMAIN and secure the connection with TLS,
the certificate checked for DOMAIN. Then run PROG with the decrypted stream
on its fd 6 (read) and fd 7 (write) and the control channel on fd 8
(XMPP_CONNECT_CONTROL=8), or without PROG bridge it to stdin and stdout
(no control channel). No XML stream is open yet: PROG (normally xmpp-auth)
opens it.
Options end at DOMAIN; everything after it belongs to PROG (an option of
ours right after DOMAIN is refused: it belongs before). DOMAIN @ is the
domain of the configured account (XMPP_JID, else jid in the config file).

Without --host, DNS SRV records say where to connect: _xmpps-client._tcp
(direct TLS) and _xmpp-client._tcp (STARTTLS), tried by priority and weight;
without records, DOMAIN port 5222 with STARTTLS.

The control channel (a SOCK_SEQPACKET socket, one message a packet) gives
PROG a new connection each time it asks: PROG sends `connect`; xmpp-connect
drops the current connection, makes a new one with its own options and
--timeout, and answers `connected` with the new facts as NAME=VALUE lines
and the connection as one socket (SCM_RIGHTS), or `failed STATUS MESSAGE`
(STATUS as the exit status below). It never reconnects by itself, and exits
with PROG's status. Every connection has TCP keepalive (60 s idle, 6 probes
10 s apart) and TCP_USER_TIMEOUT 120 s.

Options:
      --host HOST[:PORT]   connect here instead of asking DNS (port 5222, 5223 with --direct-tls)
      --direct-tls         TLS from the first byte (XEP-0368), not STARTTLS; needs --host
      --cafile FILE        trust only the CA certificates in this PEM file, not the system's
      --pin sha256:BASE64  accept exactly the certificate with this public key (self-signed servers)
      --resolver IP[:PORT] ask this DNS server (default: those of /etc/resolv.conf)
      --timeout SECONDS    bound connecting and the TLS handshake, of each connection (default 30)
      --plaintext          no TLS at all (a warning is printed; only for tests and local servers)
      --config FILE        read the settings from FILE (mode 0600) instead of ~/.config/xmpp-pipes/config
  -v, --verbose            say on stderr which targets, address, TLS version and cipher, and
                           trust source each connection used
  -h, --help               print this help
  -V, --version            print the version

The certificate is checked against the system trust store: the PEM bundle
SSL_CERT_FILE names, else /etc/ssl/certs/ca-certificates.crt (or the first
of its kind that exists), and every file in the directories SSL_CERT_DIR
names (colon-separated), else /etc/ssl/certs; the built-in web PKI roots
only where the system has none. There is no switch to skip certificate
checks: add a private CA with update-ca-certificates or use --cafile, or
--pin for a certificate you have checked. A server that does not offer
STARTTLS is refused.

Without an option, --host, --direct-tls, --cafile, --pin and --timeout come
from the environment, else from the config file; the file's settings are
used only for the domain of the account it names with jid. The config file:
$XDG_CONFIG_HOME/xmpp-pipes/config (default ~/.config/...), else
go-sendxmpp's ~/.config/go-sendxmpp/config, else ~/.sendxmpprc; one
`key = value` a line, # comments; keys jid, host, direct-tls, cafile, pin,
timeout (and xmpp-auth's, which are never read here). Refused if group or
others may read it.

Environment:
  XMPP_RESOLVER        the DNS server, as --resolver (the option wins)
  XMPP_JID             the account whose domain @ names
  XMPP_HOST, XMPP_DIRECT_TLS, XMPP_CAFILE, XMPP_PIN, XMPP_TIMEOUT   as the options
  XDG_CONFIG_HOME, HOME  where the config file is
  SSL_CERT_FILE        the system trust store's PEM bundle, as for OpenSSL
  SSL_CERT_DIR         its directories of PEM files, colon-separated, as for OpenSSL
  set for PROG:
  XMPP_DOMAIN          DOMAIN
  PROTO, TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT   the TCP connection (UCSPI)
  SSL_PROTOCOL         TLSv1.3 or TLSv1.2 (unset without TLS)
  SSL_CIPHER           the cipher suite
  SSL_PEER_CERT_HASH   SHA-256 of the server's certificate, hex
  XMPP_TLS_EXPORTER    RFC 9266 tls-exporter channel binding, base64 (TLS 1.3)
  XMPP_CONNECT_CONTROL 8: fd 8 is the control channel

Exit status:
  PROG's status when PROG ran; otherwise
  0    bridge mode: the server closed the stream
  64   usage error (an option after DOMAIN, a program's name for DOMAIN)
  68   no such domain: DNS says DOMAIN does not exist (check its spelling)
  69   no service: the domain's SRV record says \".\" (no XMPP here)
  74   bridge mode: stdout closed while the server still sent data
  75   temporary failure: every address refused or unreachable, timeout,
       DNS failure, connection lost
  76   protocol error: no STARTTLS offered, <failure/>, TLS alert
  77   the server's certificate is not trusted for DOMAIN, or does not match --pin
  78   configuration error: unusable --cafile, no usable CA where SSL_CERT_FILE
       and SSL_CERT_DIR say, unsafe config file, bad setting
  126  PROG could not be run; 127 PROG not found
";

/// Options that take a value.
pub const WITH_VALUE: &[&str] = &[
    "--host",
    "--cafile",
    "--pin",
    "--resolver",
    "--timeout",
    "--config",
];
/// Options that are switches.
pub const SWITCHES: &[&str] = &[
    "--direct-tls",
    "--plaintext",
    "-v",
    "--verbose",
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
    /// The CAs of the system trust store (where `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` say), else the webpki-roots CAs; certificate checked
    /// for DOMAIN.
    System(SystemStore),
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
    /// `--verbose`: say what each connection used.
    pub verbose: bool,
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

/// Parse the command line (without argv\[0\]), with `env` for `XMPP_RESOLVER`
/// and the configuration (`--config`, `XMPP_HOST`, ...; see [`crate::configured`]).
pub fn parse(args: Vec<OsString>, env: Lookup) -> Result<Command> {
    let spec = OptionSpec {
        with_value: WITH_VALUE,
        switches: SWITCHES,
    };
    let split = cli::split_options(args, &spec)?;
    cli::check_operands(&split.operands, &spec, "DOMAIN", env("PATH").as_deref())?;
    let mut args = pico_args::Arguments::from_vec(split.options);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let value = |e: String, name: &str| Error::usage(format!("{name}: {e}"));
    let mut flags = Flags {
        host: args
            .opt_value_from_fn("--host", HostPort::parse)
            .map_err(|e| usage(e, "--host"))?,
        cafile: args
            .opt_value_from_os_str("--cafile", |s| Ok::<_, String>(PathBuf::from(s)))
            .map_err(|e| usage(e, "--cafile"))?,
        pin: args
            .opt_value_from_fn("--pin", Pin::parse)
            .map_err(|e| usage(e, "--pin"))?,
        timeout: args
            .opt_value_from_fn("--timeout", cli::parse_seconds)
            .map_err(|e| usage(e, "--timeout"))?,
        direct_tls: false,
        plaintext: false,
    };
    let resolver = args
        .opt_value_from_fn("--resolver", parse_resolver)
        .map_err(|e| usage(e, "--resolver"))?;
    let config_file: Option<PathBuf> = args
        .opt_value_from_os_str("--config", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(|e| usage(e, "--config"))?;
    flags.direct_tls = args.contains("--direct-tls");
    flags.plaintext = args.contains("--plaintext");
    let verbose = args.contains(["-v", "--verbose"]);
    cli::finish(args)?;

    let resolver = match (resolver, env("XMPP_RESOLVER")) {
        (Some(r), _) => Some(r),
        (None, Some(env)) if !env.is_empty() => {
            let text = env.to_string_lossy();
            Some(parse_resolver(&text).map_err(|e| value(e, "XMPP_RESOLVER"))?)
        }
        _ => None,
    };
    let mut operands = split.operands.into_iter();
    let domain = operands.next().ok_or_else(|| {
        Error::usage("missing DOMAIN (usage: xmpp-connect [OPTIONS] DOMAIN [PROG...]; see --help)")
    })?;
    let config = Config::load(config_file.as_deref(), Scope::Connection, env)?;
    let domain = match domain == CONFIGURED {
        true => config.account()?.domain().to_owned(),
        false => parse_domain(domain)?,
    };
    configured::apply(&mut flags, config.settings_for(Target::Domain(&domain)))?;
    check_flags(&flags)?;
    let trust = match (flags.cafile, flags.pin) {
        (Some(file), None) => TrustChoice::CaFile(file),
        (None, Some(pin)) => TrustChoice::Pin(pin),
        _ => TrustChoice::System(system_store(env)),
    };
    Ok(Command::Connect(Box::new(Options {
        domain,
        host: flags.host,
        direct_tls: flags.direct_tls,
        plaintext: flags.plaintext,
        trust,
        resolver,
        timeout: flags.timeout.unwrap_or(DEFAULT_TIMEOUT),
        verbose,
        prog: operands.collect(),
    })))
}

/// The system trust store's places from the environment, as OpenSSL reads
/// them: `SSL_CERT_FILE` a PEM bundle, `SSL_CERT_DIR` a colon-separated list
/// of directories, each replacing the system's own; empty is unset.
pub fn system_store(env: Lookup) -> SystemStore {
    let set = |name: &str| env(name).filter(|value| !value.is_empty());
    let cert_dirs = set("SSL_CERT_DIR").map(|dirs| {
        std::env::split_paths(&dirs)
            .filter(|dir| !dir.as_os_str().is_empty())
            .collect::<Vec<_>>()
    });
    SystemStore {
        cert_file: set("SSL_CERT_FILE").map(PathBuf::from),
        cert_dirs: cert_dirs.filter(|dirs| !dirs.is_empty()),
    }
}

/// Options that exclude each other, or need another (checked once the
/// configuration has filled in what the command line left open).
fn check_flags(flags: &Flags) -> Result<()> {
    if flags.cafile.is_some() && flags.pin.is_some() {
        return Err(Error::usage(
            "--cafile and --pin exclude each other: a pin accepts exactly one certificate",
        ));
    }
    if flags.plaintext && (flags.direct_tls || flags.cafile.is_some() || flags.pin.is_some()) {
        return Err(Error::usage(
            "--plaintext excludes --direct-tls, --cafile and --pin (there is no TLS to configure)",
        ));
    }
    if flags.direct_tls && flags.host.is_none() {
        return Err(Error::usage(
            "--direct-tls needs --host (without it, DNS SRV says which connections use direct TLS)",
        ));
    }
    Ok(())
}

/// Check the DOMAIN operand: an XMPP domain, a trailing dot dropped.
fn parse_domain(domain: OsString) -> Result<String> {
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
    Ok(domain.trim_end_matches('.').to_owned())
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
        match parse(args(list), &|_| None)? {
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
        let err = parse(args(&["d"]), &|_| Some("nonsense".into())).unwrap_err();
        assert!(err.message().contains("XMPP_RESOLVER"));
    }

    #[test]
    fn environment_resolver_and_option_precedence() {
        let env = |name: &str| (name == "XMPP_RESOLVER").then(|| OsString::from("127.0.0.1:5353"));
        match parse(args(&["d"]), &env).unwrap() {
            Command::Connect(o) => assert_eq!(o.resolver, Some("127.0.0.1:5353".parse().unwrap())),
            _ => unreachable!(),
        }
        match parse(args(&["--resolver", "::1", "d"]), &env).unwrap() {
            Command::Connect(o) => assert_eq!(o.resolver, Some("[::1]:53".parse().unwrap())),
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_system_trust_store_is_where_ssl_cert_file_and_ssl_cert_dir_say() {
        let trust = |list: &[&str], file: &str, dirs: &str| {
            let env = |name: &str| match name {
                "SSL_CERT_FILE" => Some(OsString::from(file)),
                "SSL_CERT_DIR" => Some(OsString::from(dirs)),
                _ => None,
            };
            match parse(args(list), &env).unwrap() {
                Command::Connect(o) => o.trust,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            trust(&["d"], "/ca/bundle.pem", "/a::/b:"),
            TrustChoice::System(SystemStore {
                cert_file: Some("/ca/bundle.pem".into()),
                cert_dirs: Some(vec!["/a".into(), "/b".into()]),
            })
        );
        assert_eq!(
            trust(&["d"], "", ":"),
            TrustChoice::System(SystemStore::default()),
            "empty is unset"
        );
        assert_eq!(
            trust(&["--cafile", "/x.pem", "d"], "/ca/bundle.pem", "/a"),
            TrustChoice::CaFile("/x.pem".into()),
            "--cafile replaces the system trust store"
        );
        assert_eq!(
            connect(&["d"]).unwrap().trust,
            TrustChoice::System(SystemStore::default())
        );
    }

    #[test]
    fn configured_settings_fill_what_the_flags_leave_open() {
        let env = |name: &str| {
            let value = match name {
                "XMPP_JID" => "bot@example.org/session",
                "XMPP_HOST" => "127.0.0.1:5223",
                "XMPP_DIRECT_TLS" => "yes",
                "XMPP_TIMEOUT" => "7",
                _ => return None,
            };
            Some(OsString::from(value))
        };
        let from_env = |list: &[&str]| match parse(args(list), &env).unwrap() {
            Command::Connect(o) => *o,
            other => panic!("{other:?}"),
        };
        let o = from_env(&["@", "prog"]);
        assert_eq!(o.domain, "example.org");
        assert_eq!(o.host, Some(HostPort::parse("127.0.0.1:5223").unwrap()));
        assert!(o.direct_tls);
        assert_eq!(o.timeout, Duration::from_secs(7));
        assert_eq!(o.prog, args(&["prog"]));
        // A flag wins, and takes its group along: --host without --direct-tls.
        let o = from_env(&["--host", "h", "--timeout", "2", "@"]);
        assert_eq!(o.host, Some(HostPort::parse("h").unwrap()));
        assert!(!o.direct_tls);
        assert_eq!(o.timeout, Duration::from_secs(2));

        let bad = |name: &str| (name == "XMPP_HOST").then(|| OsString::from("a:b:c:"));
        let err = parse(args(&["d"]), &bad).unwrap_err();
        assert_eq!(err.status(), xmpp_pipes::exit::Status::Config);
        assert!(err.message().starts_with("XMPP_HOST: "), "{err}");
        let err = parse(args(&["@"]), &|_| None).unwrap_err();
        assert_eq!(err.status(), xmpp_pipes::exit::Status::Config);
        // A bad setting is reported even where a flag overrides it.
        let bad_pin = |name: &str| (name == "XMPP_PIN").then(|| OsString::from("md5:xyz"));
        let err = parse(
            args(&["--pin", &format!("sha256:{}", "A".repeat(43) + "="), "d"]),
            &bad_pin,
        )
        .unwrap_err();
        assert!(err.message().starts_with("XMPP_PIN: "), "{err}");
        let err = parse(args(&["--host", "h", "d"]), &bad).unwrap_err();
        assert!(err.message().starts_with("XMPP_HOST: "), "{err}");
    }
}

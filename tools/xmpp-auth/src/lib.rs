//! xmpp-auth: stream setup, SASL, resource binding and stream management on
//! the connection that xmpp-connect leaves on fds 6 and 7, kept across
//! connections.
//!
//! [`run`] is the whole tool: [`options`] parses the command line (with
//! [`account`] filling in the configured account and [`muc`] the rooms),
//! the edge reads the password and the transport facts once, and
//! [`session`] runs the event loop around [`xmpp_pipes::session::Session`],
//! which logs in, relays stanzas between the server and the next program
//! (or stdin and stdout in bridge mode), answers pings and acknowledgement
//! requests, keeps the connection alive, asks xmpp-connect for a new
//! connection when one is lost (resuming the session), and confirms
//! delivery at the end.

pub mod account;
pub mod fast;
pub mod muc;
pub mod options;
pub mod session;

use std::ffi::OsString;
use std::time::Duration;
use xmpp_pipes::exit::Result;
use xmpp_pipes::session::backoff::Policy;
use xmpp_pipes::session::{login, Session, Settings};

/// Run xmpp-auth with the given arguments (without argv\[0\]); returns the exit status.
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let options = match options::parse(args)? {
        options::Parsed::Help => {
            print!("{}", options::HELP);
            return Ok(0);
        }
        options::Parsed::Version => {
            println!("xmpp-auth {}", env!("CARGO_PKG_VERSION"));
            return Ok(0);
        }
        options::Parsed::Run(options) => *options,
    };
    let (read, write) = xmpp_pipes::ucspi::take_stream_fds("xmpp-auth")?;
    // The edge: the environment is read here, once, and nowhere else.
    let control_env = std::env::var(xmpp_pipes::control::ENV_CONTROL).ok();
    let control = xmpp_pipes::control::take(control_env.as_deref());
    std::env::remove_var(xmpp_pipes::control::ENV_CONTROL);
    check_domain(&options.jid, std::env::var("XMPP_DOMAIN").ok().as_deref())?;
    let transport = session::transport(|name| std::env::var(name).ok())?;
    let password = options
        .password
        .read(&format!("Password for {}: ", options.jid))?;
    let room_password = options.rooms.read_password()?;
    let mut fast_store = options
        .sasl2
        .then(|| open_fast_store(&options.jid, options.verbose))
        .flatten();
    let cached_features = fast_store.as_ref().and_then(fast::Store::cached_features);
    let fast = fast_store
        .as_mut()
        .filter(|_| options.fast)
        .and_then(|store| {
            // A token is used only with the password it was obtained with.
            let same_password = store.bind_password(password.expose()).ok()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            Some(store.fast(now, options.forget_fast, same_password))
        });
    let reconnect = (options.reconnect && control.is_some()).then(|| Policy {
        initial: Duration::from_secs(1),
        cap: RECONNECT_CAP,
        limit: options.reconnect_limit,
    });
    let settings = Settings {
        login: login::Config {
            jid: options.jid.clone(),
            resource: options.resource.clone(),
            password,
            mechanism: options.mechanism,
            register: options.register,
            stream_management: options.stream_management,
            resume: None,
            sasl2: options.sasl2,
            fast,
            cached_features,
        },
        presence: options.presence,
        join: options.rooms.join.clone(),
        create_rooms: options.rooms.create,
        room_password,
        timeout: options.timeout,
        keepalive: options.keepalive,
        linger: options.linger,
        receipts: options.receipt,
        verbose: options.verbose,
        carbons: options.carbons,
        keepalive_timeout: options.keepalive.min(KEEPALIVE_TIMEOUT),
        reconnect,
        events: options.session_events,
        refuse_bad_input: options.refuse_bad_input,
        seed: seed(),
    };
    let can_reconnect = settings.reconnect.is_some();
    session::run(session::Setup {
        session: Session::new(settings, can_reconnect),
        first: (read, write),
        transport,
        control,
        prog: options.prog,
        unacked_file: options.unacked_file,
        state_file: options.state_file,
        fast_store,
    })
}

/// The account's FAST slot (see [`fast`]); `None` when FAST cannot be used
/// this time (said only with `--verbose`: a cron job whose HOME is not
/// writable must not mail a warning on every run).
fn open_fast_store(jid: &xmpp_pipes::jid::Jid, verbose: bool) -> Option<fast::Store> {
    let state = std::env::var("XDG_STATE_HOME").ok();
    let home = std::env::var("HOME").ok();
    let dir = fast::account_dir(jid, state.as_deref(), home.as_deref())?;
    match fast::Store::open(&dir) {
        Ok(store) => store,
        Err(err) => {
            if verbose {
                xmpp_pipes::exit::print_line(&format!(
                    "xmpp-auth: no FAST: cannot keep tokens in {}: {err}\n",
                    dir.display()
                ));
            }
            None
        }
    }
}

/// The longest wait between two attempts to reconnect.
pub const RECONNECT_CAP: Duration = Duration::from_secs(60);
/// Refuse an account on another domain than the one xmpp-connect connected
/// to (and checked the certificate for): the server would only answer
/// `host-unknown` or `not-authorized`.
fn check_domain(jid: &xmpp_pipes::jid::Jid, connected: Option<&str>) -> Result<()> {
    // Both as RFC 7622 normalises them; an A-label (xn--) form is left to
    // the server, which knows both spellings.
    let normalised = connected
        .filter(|domain| !domain.contains("xn--") && !jid.domain().contains("xn--"))
        .map(|domain| {
            xmpp_pipes::jid::Jid::parse(domain.trim_end_matches('.'))
                .map_or_else(|_| domain.to_ascii_lowercase(), |d| d.domain().to_owned())
        });
    match normalised.as_deref() {
        Some(domain) if domain != jid.domain() => Err(xmpp_pipes::exit::Error::usage(format!(
            "the account {} is on {}, but xmpp-connect connected to {domain}: give \
                 xmpp-connect the account's domain (or @ to both for the configured account)",
            jid.to_bare(),
            jid.domain()
        ))),
        _ => Ok(()),
    }
}

/// The longest a keepalive probe may go unanswered (at most `--keepalive` itself).
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// A seed for the session's jitter and ids.
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return nanos ^ u64::from(std::process::id());
    }
    u64::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_pipes::jid::Jid;

    #[test]
    fn the_account_s_domain_must_be_the_one_connected_to_however_spelt() {
        let jid = Jid::parse("user@bücher.example").unwrap();
        assert!(check_domain(&jid, None).is_ok(), "not under xmpp-connect");
        for same in ["bücher.example", "BÜCHER.example.", "xn--bcher-kva.example"] {
            assert!(check_domain(&jid, Some(same)).is_ok(), "{same}");
        }
        let err = check_domain(&jid, Some("other.example")).unwrap_err();
        assert_eq!(err.status(), xmpp_pipes::exit::Status::Usage);
        assert!(
            err.to_string()
                .contains("is on bücher.example, but xmpp-connect connected to other.example"),
            "{err}"
        );
    }
}

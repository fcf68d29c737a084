//! xmpp-auth: stream setup, SASL, resource binding and stream management on
//! the connection that xmpp-connect leaves on fds 6 and 7.
//!
//! [`run`] is the whole tool: [`options`] parses the command line (with
//! [`account`] filling in the configured account), [`login`]
//! negotiates the stream up to a bound, managed session, and [`session`]
//! relays stanzas between the server and the next program (or stdin and
//! stdout in bridge mode) once the rooms of `--join` let it in ([`muc`]),
//! answering pings and acknowledgement requests
//! itself and confirming delivery at the end.

pub mod account;
pub mod login;
pub mod muc;
pub mod options;
pub mod session;

use std::ffi::OsString;
use xmpp_pipes::exit::Result;

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
    let control_env = std::env::var(xmpp_pipes::control::ENV_CONTROL).ok();
    let _control = xmpp_pipes::control::take(control_env.as_deref());
    std::env::remove_var(xmpp_pipes::control::ENV_CONTROL);
    let password = options
        .password
        .read(&format!("Password for {}: ", options.jid))?;
    let room_password = options.rooms.read_password()?;
    let watchdog = session::Watchdog::start(options.timeout, "logging in");
    let negotiated = login::login(read, write, &options, &password)?;
    drop(password);
    watchdog.cancel();
    session::run(negotiated, &options, room_password.as_ref())
}

//! The long-lived session, sans I/O: state machines that take bytes (as
//! framed items), events and the time, and say what to write and when to
//! wake up. The processes (xmpp-auth, xmpp-connect) are thin event loops
//! around them.
//!
//! - [`login`]: stream negotiation up to a bound (or resumed) session:
//!   registration, SASL, bind, stream management enabled or resumed.
//! - [`muc`]: the rooms of `--join`: joined before downstream speaks, joined again in a new session.
//! - [`sm`]: XEP-0198 counters and the queue of unacknowledged stanzas.
//! - [`keepalive`]: when to probe an idle connection and when to declare it dead.
//! - [`state`]: the [`Session`] itself, which drives all of the above across connections.
//! - [`backoff`]: when to reconnect: exponential backoff with jitter and a cap.
//! - [`bounce`]: error replies to downstream's messages, which make the session fail.
//! - [`receipt`]: delivery receipts (XEP-0184), when a success must mean a client got it.
//! - [`redelivery`]: messages that come again, delayed, after a session was given up.

pub mod backoff;
pub mod bounce;
pub mod keepalive;
pub mod login;
pub mod muc;
pub mod receipt;
pub mod redelivery;
pub mod sasl2;
pub mod sm;
pub mod state;

pub use state::{Action, Origin, Session, Settings, State, Verdict};

//! The shared crate of xmpp-pipes.
//!
//! Everything the tools have in common lives here, so that each tool's
//! `main` stays a thin layer of argument parsing and wiring:
//!
//! - [`exit`]: errors that carry a sysexits status, and the `main` wrapper
//!   that prints them as one line on stderr.
//! - [`cli`]: argv handling for chain-loading tools (options end at the
//!   first operand).
//! - [`flush`]: flushing buffered output exactly when input may block.
//! - [`jid`]: JIDs (RFC 7622), validated and normalised.
//! - [`xml`]: escaping, the stanza framer (an XML stream in, one element at a
//!   time out) and a small element tree for inspecting stanzas.
//! - [`stream`]: XMPP stream headers, namespaces and stream errors.
//! - [`sasl`]: SASL mechanisms (SCRAM with channel binding, PLAIN, DIGEST-MD5).
//! - [`config`]: the account configuration from the environment and a file.
//! - [`control`]: the reconnect channel between xmpp-connect and the session it runs.
//! - [`session`]: the sans-I/O session core: login, stream management, keepalive, backoff.
//! - [`password`]: where a password may come from (never argv).
//! - [`recent`]: the last N distinct values seen, oldest forgotten first.
//! - [`ucspi`]: fds 6/7 plumbing, spawning and exec'ing the next program.
//! - [`upload`]: HTTP File Upload (XEP-0363), sans I/O: the service, the slot, the message.
//! - [`tree`]: the sj/ii-style directory tree, with safe names and no symlink following.

pub mod cli;
pub mod config;
pub mod control;
pub mod exit;
pub mod flush;
pub mod jid;
pub mod password;
pub mod recent;
pub mod sasl;
pub mod session;
pub mod stream;
pub mod tree;
pub mod ucspi;
pub mod upload;
pub mod xml;

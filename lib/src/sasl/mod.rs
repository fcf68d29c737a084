//! SASL, client side: picking a mechanism and running it.
//!
//! `xmpp-auth` uses this module to log in (RFC 6120 §6). It offers:
//!
//! - [`Mechanism`]: the mechanisms this client knows, by IANA name.
//! - [`choose`]: the policy that picks one of the server's mechanisms
//!   (channel-bound SCRAM first, then SCRAM, then PLAIN over TLS only;
//!   DIGEST-MD5 only on request).
//! - [`binding_for`]: which GS2 channel-binding flag a SCRAM login must send.
//! - [`client`]: a [`Client`] state machine for the chosen mechanism, which
//!   turns server challenges into responses and checks that the server proved
//!   it knows the password.
//! - [`HashedToken`]: the one-round-trip token mechanisms of FAST (XEP-0484).
//! - [`Advertised`]: SCRAM downgrade protection (XEP-0474).
//! - [`SaslError`]: what can go wrong, precise enough to pick an exit status.
//!
//! Payloads are raw bytes; base64 for the XMPP wire is the caller's business.
//! The server's `<failure/>` is also the caller's business: nothing here sees it.

mod digest_md5;
mod downgrade;
mod ht;
mod plain;
mod scram;

pub use digest_md5::DigestMd5;
pub use downgrade::Advertised;
pub use ht::{HashedToken, HtMechanism};
pub use plain::Plain;
pub use scram::{Scram, ScramHash, MAX_ITERATIONS};

use std::fmt;

/// A SASL mechanism this client implements.
///
/// The variants are listed in the order [`choose`] prefers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-512 with channel binding.
    ScramSha512Plus,
    /// SCRAM-SHA-256 with channel binding (RFC 7677).
    ScramSha256Plus,
    /// SCRAM-SHA-1 with channel binding (RFC 5802).
    ScramSha1Plus,
    /// SCRAM-SHA-512 without channel binding.
    ScramSha512,
    /// SCRAM-SHA-256 without channel binding (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-1 without channel binding (RFC 5802).
    ScramSha1,
    /// PLAIN (RFC 4616): the password in the clear, so only over TLS.
    Plain,
    /// DIGEST-MD5 (RFC 2831, historic): only when the user asks for it.
    DigestMd5,
}

impl Mechanism {
    /// Every mechanism, most preferred first.
    pub const ALL: [Mechanism; 8] = [
        Mechanism::ScramSha512Plus,
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha512,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
        Mechanism::DigestMd5,
    ];

    /// The IANA-registered name, e.g. `"SCRAM-SHA-256-PLUS"`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha512Plus => "SCRAM-SHA-512-PLUS",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
            Mechanism::DigestMd5 => "DIGEST-MD5",
        }
    }

    /// The mechanism with this exact (upper-case) name, if this client knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this is a channel-binding (`-PLUS`) SCRAM variant.
    pub fn is_plus(self) -> bool {
        matches!(
            self,
            Mechanism::ScramSha512Plus | Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus
        )
    }

    /// The hash of a SCRAM mechanism, `None` for PLAIN and DIGEST-MD5.
    pub fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha512Plus | Mechanism::ScramSha512 => Some(ScramHash::Sha512),
            Mechanism::ScramSha256Plus | Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha1Plus | Mechanism::ScramSha1 => Some(ScramHash::Sha1),
            Mechanism::Plain | Mechanism::DigestMd5 => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Channel-binding data of the TLS connection (RFC 5929, RFC 9266).
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The channel-binding type, e.g. `"tls-exporter"`.
    pub kind: &'static str,
    /// The binding data itself (for tls-exporter: 32 bytes of keying material
    /// exported with the label `EXPORTER-Channel-Binding` and no context).
    pub data: Vec<u8>,
}

impl ChannelBinding {
    /// tls-exporter channel binding (RFC 9266) with the exported keying material.
    pub fn tls_exporter(data: Vec<u8>) -> Self {
        ChannelBinding {
            kind: "tls-exporter",
            data,
        }
    }
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The data is a secret of the TLS session: keep it out of logs.
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

/// What [`choose`] needs to know besides the server's list.
#[derive(Clone, Debug, Default)]
pub struct ChooseContext {
    /// Whether the transport is TLS (PLAIN is refused otherwise).
    pub tls: bool,
    /// Channel-binding data, when the TLS layer can provide it.
    pub channel_binding: Option<ChannelBinding>,
    /// The mechanism the user insisted on (`--mechanism`), if any.
    pub forced: Option<Mechanism>,
}

/// Picks the mechanism to use from the names the server offered.
///
/// Preference: the -PLUS SCRAM variants (only with channel-binding data),
/// SCRAM-SHA-512, -256, -1, then PLAIN (only over TLS). DIGEST-MD5 is used
/// only when forced. A forced mechanism must be offered by the server, and
/// PLAIN is refused without TLS even when forced.
pub fn choose(offered: &[String], ctx: &ChooseContext) -> Result<Mechanism, SaslError> {
    let is_offered = |m: Mechanism| offered.iter().any(|o| o.trim() == m.name());
    let acceptable = |m: Mechanism| -> Result<(), SaslError> {
        if m == Mechanism::Plain && !ctx.tls {
            return Err(SaslError::PlainWithoutTls);
        }
        if m.is_plus() && ctx.channel_binding.is_none() {
            return Err(SaslError::Unsupported(format!(
                "{m} needs channel-binding data, and this connection has none"
            )));
        }
        Ok(())
    };
    if let Some(m) = ctx.forced {
        acceptable(m)?;
        if !is_offered(m) {
            return Err(SaslError::NotOffered {
                mechanism: m,
                offered: offered.to_vec(),
            });
        }
        return Ok(m);
    }
    Mechanism::ALL
        .into_iter()
        .filter(|&m| m != Mechanism::DigestMd5)
        .find(|&m| is_offered(m) && acceptable(m).is_ok())
        .ok_or_else(|| SaslError::NoMechanism {
            offered: offered.to_vec(),
        })
}

/// The channel-binding choice a SCRAM client announces in its GS2 header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `n`: the client does not bind (no binding data, or chose not to).
    None,
    /// `y`: the client could bind but the server offered no -PLUS mechanism,
    /// so a server that does support binding can detect a downgrade.
    ServerOfferedNoPlus,
    /// `p=<kind>`: the client binds to the channel (the -PLUS mechanisms).
    Use(ChannelBinding),
}

/// The [`Binding`] for a login with `mech`, given the server's list and the
/// channel-binding data the client has.
///
/// A -PLUS mechanism needs the data (error otherwise). A plain SCRAM
/// mechanism gets `y` when the client has data but the server offered no
/// -PLUS mechanism at all, and `n` otherwise.
pub fn binding_for(
    mech: Mechanism,
    offered: &[String],
    cb: Option<ChannelBinding>,
) -> Result<Binding, SaslError> {
    if mech.is_plus() {
        return cb.map(Binding::Use).ok_or_else(|| {
            SaslError::Unsupported(format!(
                "{mech} needs channel-binding data, and this connection has none"
            ))
        });
    }
    let server_binds = offered.iter().any(|o| o.trim().ends_with("-PLUS"));
    if mech.scram_hash().is_some() && cb.is_some() && !server_binds {
        Ok(Binding::ServerOfferedNoPlus)
    } else {
        Ok(Binding::None)
    }
}

/// The client side of one SASL exchange.
///
/// Call [`initial`](Client::initial) once, [`step`](Client::step) for every
/// `<challenge/>`, and [`finish`](Client::finish) on `<success/>`. A
/// `<failure/>` simply ends the exchange.
pub trait Client {
    /// The mechanism being run.
    fn mechanism(&self) -> Mechanism;

    /// The initial response to send with `<auth/>`; `None` when the
    /// mechanism starts with a server challenge (DIGEST-MD5), which in XMPP
    /// means an empty `<auth/>` element (not `=`).
    fn initial(&mut self) -> Result<Option<Vec<u8>>, SaslError>;

    /// The response to a server challenge (possibly empty).
    fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError>;

    /// Checks the end of the exchange, with the additional data carried in
    /// `<success/>` (RFC 6120 §6.4.6), if any. For SCRAM this verifies the
    /// server signature, and fails if the server never proved it knows the
    /// password. `Some(&[])` is treated like `None`.
    fn finish(&mut self, success_data: Option<&[u8]>) -> Result<(), SaslError>;

    /// Whether the server sent a downgrade-protection hash (XEP-0474) and
    /// it matched what it advertised.
    fn downgrade_checked(&self) -> bool {
        false
    }

    /// What the server advertised, learnt after the client was made (a
    /// pipelined login), for the downgrade-protection check.
    fn set_advertised(&mut self, _advertised: Advertised) {}
}

/// Makes the client for `mech`.
///
/// `authcid` is the authentication identity (in XMPP, the JID's localpart);
/// `service_host` is the XMPP domain (DIGEST-MD5's digest-uri and default
/// realm); `binding` is the SCRAM channel-binding choice, see
/// [`binding_for`] (ignored by PLAIN and DIGEST-MD5); `advertised` is what
/// the server listed, for SCRAM's downgrade protection (XEP-0474).
pub fn client(
    mech: Mechanism,
    authcid: &str,
    password: &str,
    service_host: &str,
    binding: Binding,
    advertised: Advertised,
) -> Result<Box<dyn Client>, SaslError> {
    if mech.scram_hash().is_some() && mech.is_plus() != matches!(binding, Binding::Use(_)) {
        return Err(SaslError::Unsupported(format!(
            "{mech} {} channel binding",
            if mech.is_plus() {
                "needs"
            } else {
                "cannot use"
            }
        )));
    }
    Ok(match mech.scram_hash() {
        Some(hash) => {
            Box::new(Scram::new(hash, authcid, password, binding)?.with_advertised(advertised))
        }
        None if mech == Mechanism::Plain => Box::new(Plain::new(authcid, password)?),
        None => Box::new(DigestMd5::new(authcid, password, service_host)?),
    })
}

/// What can go wrong on the client side of SASL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslError {
    /// None of the server's mechanisms is acceptable.
    NoMechanism {
        /// The mechanisms the server offered.
        offered: Vec<String>,
    },
    /// The user forced a mechanism the server does not offer.
    NotOffered {
        /// The forced mechanism.
        mechanism: Mechanism,
        /// The mechanisms the server offered.
        offered: Vec<String>,
    },
    /// PLAIN was asked for on a connection without TLS.
    PlainWithoutTls,
    /// The server sent something malformed or unacceptable.
    ServerProtocol(String),
    /// The server's proof (SCRAM `v=`, DIGEST-MD5 `rspauth`) is wrong.
    ServerSignatureMismatch,
    /// The server reported an error in SCRAM's server-final message (`e=`).
    ServerError(String),
    /// The server's downgrade-protection hash (XEP-0474) does not match the
    /// mechanisms and channel-binding types the client saw.
    Downgrade,
    /// The username or password is not allowed by SASLprep (RFC 4013).
    Saslprep(String),
    /// Something this client does not implement or cannot do.
    Unsupported(String),
    /// The system's random number generator failed.
    Random(String),
}

fn list(offered: &[String]) -> String {
    if offered.is_empty() {
        "nothing".to_owned()
    } else {
        offered.join(", ")
    }
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::NoMechanism { offered } => write!(
                f,
                "the server offers no SASL mechanism this client accepts (it offers: {}; \
                 PLAIN needs TLS, DIGEST-MD5 must be asked for)",
                list(offered)
            ),
            SaslError::NotOffered { mechanism, offered } => write!(
                f,
                "the server does not offer {mechanism} (it offers: {})",
                list(offered)
            ),
            SaslError::PlainWithoutTls => {
                f.write_str("refusing PLAIN without TLS: it would send the password in the clear")
            }
            SaslError::ServerProtocol(s) => write!(f, "the server broke the SASL protocol: {s}"),
            SaslError::ServerSignatureMismatch => f.write_str(
                "the SCRAM server signature does not match: the server does not know the \
                 password, or someone is in the middle",
            ),
            SaslError::ServerError(e) => write!(f, "the server ended SCRAM with an error: {e}"),
            SaslError::Downgrade => f.write_str(
                "the server's SCRAM downgrade-protection hash does not match the mechanisms and \
                 channel-binding types it advertised: someone in the middle changed them \
                 (XEP-0474); not logging in",
            ),
            SaslError::Saslprep(s) => write!(f, "SASLprep refuses {s}"),
            SaslError::Unsupported(s) => write!(f, "unsupported: {s}"),
            SaslError::Random(s) => write!(f, "cannot get random bytes: {s}"),
        }
    }
}

impl std::error::Error for SaslError {}

/// SASLprep (RFC 4013) of a stored string; `what` names it for the error.
///
/// The error never shows a character of the password.
fn saslprep(s: &str, what: &str) -> Result<String, SaslError> {
    stringprep::saslprep(s)
        .map(|c| c.into_owned())
        .map_err(|e| {
            let why = e.to_string();
            let why = if what != "password" {
                why.escape_debug().to_string()
            } else if why.starts_with("prohibited character") {
                "it contains a prohibited character, such as a control character".to_owned()
            } else {
                why
            };
            SaslError::Saslprep(format!("the {what}: {why}"))
        })
}

/// `n` random bytes, base64-encoded (standard alphabet: never a `,`).
fn random_base64(n: usize) -> Result<String, SaslError> {
    use base64::Engine as _;
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| SaslError::Random(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Equality of two byte strings in time independent of where they differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Overwrites a secret with zeroes (best effort).
fn wipe(v: &mut [u8]) {
    for b in v.iter_mut() {
        *b = 0;
    }
    std::hint::black_box(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn ctx(tls: bool, cb: bool, forced: Option<Mechanism>) -> ChooseContext {
        ChooseContext {
            tls,
            channel_binding: cb.then(|| ChannelBinding::tls_exporter(vec![1; 32])),
            forced,
        }
    }

    #[test]
    fn names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(Mechanism::from_name("scram-sha-1"), None);
        assert_eq!(Mechanism::from_name("X-OAUTH2"), None);
        assert_eq!(Mechanism::ScramSha256Plus.name(), "SCRAM-SHA-256-PLUS");
    }

    #[test]
    fn choose_prefers_plus_then_strongest_scram() {
        let all = names(&[
            "PLAIN",
            "SCRAM-SHA-1",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256",
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-512",
            "DIGEST-MD5",
        ]);
        assert_eq!(
            choose(&all, &ctx(true, true, None)),
            Ok(Mechanism::ScramSha256Plus)
        );
        assert_eq!(
            choose(&all, &ctx(true, false, None)),
            Ok(Mechanism::ScramSha512)
        );
        let some = names(&["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]);
        assert_eq!(
            choose(&some, &ctx(true, true, None)),
            Ok(Mechanism::ScramSha256)
        );
        let only_plain = names(&["PLAIN", "X-OAUTH2"]);
        assert_eq!(
            choose(&only_plain, &ctx(true, false, None)),
            Ok(Mechanism::Plain)
        );
    }

    #[test]
    fn choose_plus_only_with_binding_data() {
        let plus = names(&["SCRAM-SHA-1-PLUS"]);
        assert_eq!(
            choose(&plus, &ctx(true, false, None)),
            Err(SaslError::NoMechanism {
                offered: plus.clone()
            })
        );
        assert!(matches!(
            choose(&plus, &ctx(true, false, Some(Mechanism::ScramSha1Plus))),
            Err(SaslError::Unsupported(_))
        ));
        assert_eq!(
            choose(&plus, &ctx(true, true, None)),
            Ok(Mechanism::ScramSha1Plus)
        );
    }

    #[test]
    fn choose_refuses_plain_without_tls() {
        let offered = names(&["PLAIN", "DIGEST-MD5"]);
        let err = choose(&offered, &ctx(false, false, None)).unwrap_err();
        assert_eq!(
            err,
            SaslError::NoMechanism {
                offered: offered.clone()
            }
        );
        assert!(err.to_string().contains("PLAIN, DIGEST-MD5"), "{err}");
        assert_eq!(
            choose(&offered, &ctx(false, false, Some(Mechanism::Plain))),
            Err(SaslError::PlainWithoutTls)
        );
        assert!(SaslError::PlainWithoutTls.to_string().contains("TLS"));
    }

    #[test]
    fn choose_digest_md5_only_when_forced() {
        let offered = names(&["DIGEST-MD5"]);
        assert!(matches!(
            choose(&offered, &ctx(true, false, None)),
            Err(SaslError::NoMechanism { .. })
        ));
        assert_eq!(
            choose(&offered, &ctx(false, false, Some(Mechanism::DigestMd5))),
            Ok(Mechanism::DigestMd5)
        );
    }

    #[test]
    fn choose_forced_must_be_offered() {
        let offered = names(&["SCRAM-SHA-1", "PLAIN"]);
        assert_eq!(
            choose(&offered, &ctx(true, true, Some(Mechanism::ScramSha1))),
            Ok(Mechanism::ScramSha1)
        );
        let err = choose(&offered, &ctx(true, false, Some(Mechanism::ScramSha256))).unwrap_err();
        assert_eq!(
            err,
            SaslError::NotOffered {
                mechanism: Mechanism::ScramSha256,
                offered: offered.clone()
            }
        );
        assert_eq!(
            err.to_string(),
            "the server does not offer SCRAM-SHA-256 (it offers: SCRAM-SHA-1, PLAIN)"
        );
        assert!(matches!(
            choose(&[], &ctx(true, false, None)),
            Err(SaslError::NoMechanism { .. })
        ));
    }

    #[test]
    fn binding_flags() {
        let cb = ChannelBinding::tls_exporter(vec![7; 32]);
        let no_plus = names(&["SCRAM-SHA-256"]);
        let with_plus = names(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]);
        assert_eq!(
            binding_for(Mechanism::ScramSha256, &no_plus, Some(cb.clone())),
            Ok(Binding::ServerOfferedNoPlus)
        );
        assert_eq!(
            binding_for(Mechanism::ScramSha256, &with_plus, Some(cb.clone())),
            Ok(Binding::None)
        );
        assert_eq!(
            binding_for(Mechanism::ScramSha256, &no_plus, None),
            Ok(Binding::None)
        );
        assert_eq!(
            binding_for(Mechanism::ScramSha256Plus, &with_plus, Some(cb.clone())),
            Ok(Binding::Use(cb.clone()))
        );
        assert!(binding_for(Mechanism::ScramSha256Plus, &with_plus, None).is_err());
        assert_eq!(
            binding_for(Mechanism::Plain, &no_plus, Some(cb)),
            Ok(Binding::None)
        );
    }

    #[test]
    fn client_constructor_dispatches() {
        for m in Mechanism::ALL {
            let binding = if m.is_plus() {
                Binding::Use(ChannelBinding::tls_exporter(vec![0; 32]))
            } else {
                Binding::None
            };
            let c = client(
                m,
                "juliet",
                "pw",
                "example.org",
                binding,
                Advertised::default(),
            )
            .unwrap();
            assert_eq!(c.mechanism(), m);
        }
        assert!(client(
            Mechanism::ScramSha1Plus,
            "juliet",
            "pw",
            "example.org",
            Binding::None,
            Advertised::default()
        )
        .is_err());
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}

//! The Hashed Token mechanisms (draft-ietf-kitten-sasl-ht) that FAST
//! (XEP-0484) logs in with: `HT-SHA-256-NONE`, and `HT-SHA-256-EXPR`
//! bound to the channel with tls-exporter (RFC 9266).
//!
//! One round trip: the initial response is `authcid NUL
//! HMAC-SHA-256(token, "Initiator" || cb-data)`, and the server proves it
//! holds the token too with `HMAC-SHA-256(token, "Responder" || cb-data)`
//! in its success data, which [`HashedToken::finish`] checks.

use super::{ct_eq, wipe, SaslError};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A Hashed Token mechanism this client implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HtMechanism {
    /// `HT-SHA-256-EXPR`: bound to the TLS channel by tls-exporter.
    Sha256Exporter,
    /// `HT-SHA-256-NONE`: no channel binding.
    Sha256None,
}

impl HtMechanism {
    /// Every mechanism, most preferred first.
    pub const ALL: [HtMechanism; 2] = [HtMechanism::Sha256Exporter, HtMechanism::Sha256None];

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            HtMechanism::Sha256Exporter => "HT-SHA-256-EXPR",
            HtMechanism::Sha256None => "HT-SHA-256-NONE",
        }
    }

    /// The mechanism with this exact name, if this client knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the mechanism binds to the channel (needs the exporter data).
    pub fn binds(self) -> bool {
        self == HtMechanism::Sha256Exporter
    }

    /// The preferred mechanism of those `offered`: -EXPR only when the
    /// connection has exporter data and the server lists tls-exporter.
    pub fn choose(offered: &[String], can_bind: bool) -> Option<Self> {
        Self::ALL
            .into_iter()
            .filter(|m| can_bind || !m.binds())
            .find(|m| offered.iter().any(|o| o.trim() == m.name()))
    }
}

/// One Hashed Token exchange.
pub struct HashedToken {
    mechanism: HtMechanism,
    /// The token; wiped when dropped.
    token: Vec<u8>,
    /// The channel-binding data (empty for -NONE).
    cb: Vec<u8>,
}

impl HashedToken {
    /// An exchange with `token` for `mechanism`; `exporter` is the
    /// tls-exporter data, needed by -EXPR.
    pub fn new(
        mechanism: HtMechanism,
        token: &str,
        exporter: Option<&[u8]>,
    ) -> Result<Self, SaslError> {
        let cb = match (mechanism.binds(), exporter) {
            (true, Some(data)) => data.to_vec(),
            (true, None) => {
                return Err(SaslError::Unsupported(format!(
                    "{} needs channel-binding data, and this connection has none",
                    mechanism.name()
                )))
            }
            (false, _) => Vec::new(),
        };
        Ok(HashedToken {
            mechanism,
            token: token.as_bytes().to_vec(),
            cb,
        })
    }

    /// The mechanism being run.
    pub fn mechanism(&self) -> HtMechanism {
        self.mechanism
    }

    fn hmac(&self, label: &[u8]) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.token).expect("HMAC takes any key");
        mac.update(label);
        mac.update(&self.cb);
        mac.finalize().into_bytes().to_vec()
    }

    /// The initial response for the account's local part `authcid`.
    pub fn initial(&self, authcid: &str) -> Vec<u8> {
        let mut out = authcid.as_bytes().to_vec();
        out.push(0);
        out.extend_from_slice(&self.hmac(b"Initiator"));
        out
    }

    /// Checks the server's proof, carried as the success data.
    pub fn finish(&self, success_data: Option<&[u8]>) -> Result<(), SaslError> {
        match success_data.filter(|d| !d.is_empty()) {
            Some(data) if ct_eq(data, &self.hmac(b"Responder")) => Ok(()),
            Some(_) => Err(SaslError::ServerSignatureMismatch),
            None => Err(SaslError::ServerProtocol(
                "the server did not prove it knows the FAST token".into(),
            )),
        }
    }
}

impl Drop for HashedToken {
    fn drop(&mut self) {
        wipe(&mut self.token);
        wipe(&mut self.cb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HMAC-SHA-256 computed independently (RFC 2104 by hand over sha2).
    fn reference_hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        let mut block = [0u8; 64];
        block[..key.len()].copy_from_slice(key);
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(data)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .to_vec()
    }

    #[test]
    fn initial_response_is_authcid_nul_and_the_initiator_hmac() {
        let ht = HashedToken::new(HtMechanism::Sha256None, "secret-token", None).unwrap();
        let initial = ht.initial("user");
        assert_eq!(&initial[..5], b"user\0");
        assert_eq!(&initial[5..], reference_hmac(b"secret-token", b"Initiator"));
    }

    #[test]
    fn exporter_data_is_hashed_after_the_label() {
        let cb = [7u8; 32];
        let ht = HashedToken::new(HtMechanism::Sha256Exporter, "tok", Some(&cb)).unwrap();
        let mut expected = b"Initiator".to_vec();
        expected.extend_from_slice(&cb);
        assert_eq!(&ht.initial("u")[2..], reference_hmac(b"tok", &expected));
        let mut responder = b"Responder".to_vec();
        responder.extend_from_slice(&cb);
        assert!(ht.finish(Some(&reference_hmac(b"tok", &responder))).is_ok());
    }

    #[test]
    fn the_server_must_prove_it_holds_the_token() {
        let ht = HashedToken::new(HtMechanism::Sha256None, "tok", None).unwrap();
        let good = reference_hmac(b"tok", b"Responder");
        assert!(ht.finish(Some(&good)).is_ok());
        assert_eq!(
            ht.finish(Some(&reference_hmac(b"other", b"Responder"))),
            Err(SaslError::ServerSignatureMismatch)
        );
        assert!(matches!(ht.finish(None), Err(SaslError::ServerProtocol(_))));
        assert!(matches!(
            ht.finish(Some(b"")),
            Err(SaslError::ServerProtocol(_))
        ));
    }

    #[test]
    fn expr_needs_exporter_data_and_is_chosen_only_when_it_can_bind() {
        assert!(HashedToken::new(HtMechanism::Sha256Exporter, "t", None).is_err());
        let offered: Vec<String> = ["HT-SHA-256-NONE", "HT-SHA-256-EXPR", "HT-SHA-256-ENDP"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            HtMechanism::choose(&offered, true),
            Some(HtMechanism::Sha256Exporter)
        );
        assert_eq!(
            HtMechanism::choose(&offered, false),
            Some(HtMechanism::Sha256None)
        );
        assert_eq!(
            HtMechanism::choose(&["HT-SHA-256-ENDP".to_owned()], true),
            None
        );
    }
}

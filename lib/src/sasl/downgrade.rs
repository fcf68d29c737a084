//! SCRAM downgrade protection (XEP-0474): the server puts a hash of the
//! mechanisms and channel-binding types it advertised into its
//! server-first message, and the client checks it against what it saw, so
//! that someone in the middle who struck `-PLUS` mechanisms or
//! tls-exporter from the features is caught before the password proof is
//! sent.
//!
//! Two spellings exist: the attribute `h` of XEP-0474 0.4 and later
//! (values joined by U+001E, the lists by U+001F), and `d` of earlier
//! versions (`,` and `|`). Either is checked by the rules of its version;
//! a server that sends neither is not checked (it does not implement it).

use super::{ct_eq, SaslError, ScramHash};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// What the server advertised, as the client saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Advertised {
    /// The SASL mechanisms of the profile in use (SASL1's or SASL2's list).
    pub mechanisms: Vec<String>,
    /// The channel-binding types listed by XEP-0440, if the server used it.
    pub channel_bindings: Option<Vec<String>>,
}

impl Advertised {
    /// The string that is hashed, with the value and list delimiters given.
    fn input(&self, value: &str, list: &str) -> String {
        let sorted = |items: &[String]| {
            let mut items: Vec<&str> = items.iter().map(|s| s.trim()).collect();
            items.sort_unstable();
            items.join(value)
        };
        let mut s = sorted(&self.mechanisms);
        if let Some(types) = &self.channel_bindings {
            s.push_str(list);
            s.push_str(&sorted(types));
        }
        s
    }

    /// Checks the server's attribute (`name` is `h` or `d`, `value` its base64).
    pub fn check(&self, hash: ScramHash, name: char, value: &str) -> Result<(), SaslError> {
        let input = match name {
            'h' => self.input("\u{1e}", "\u{1f}"),
            'd' => self.input(",", "|"),
            _ => return Ok(()),
        };
        let ours = hash.h(input.as_bytes());
        let theirs = B64.decode(value.trim()).map_err(|_| {
            SaslError::ServerProtocol("the downgrade-protection hash is not valid base64".into())
        })?;
        if ct_eq(&ours, &theirs) {
            Ok(())
        } else {
            Err(SaslError::Downgrade)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Advertised {
        Advertised {
            mechanisms: vec!["SCRAM-SHA-1-PLUS".into(), "SCRAM-SHA-1".into()],
            channel_bindings: Some(vec!["tls-server-end-point".into(), "tls-exporter".into()]),
        }
    }

    #[test]
    fn the_xep_s_example_hash_matches() {
        // XEP-0474 §5's full example: h=G6k/rBLDqgOhRRaCuuatSDFkJ08=
        example()
            .check(ScramHash::Sha1, 'h', "G6k/rBLDqgOhRRaCuuatSDFkJ08=")
            .unwrap();
    }

    #[test]
    fn the_older_spelling_uses_its_own_delimiters() {
        let input = "SCRAM-SHA-1,SCRAM-SHA-1-PLUS|tls-exporter,tls-server-end-point";
        let value = B64.encode(ScramHash::Sha256.h(input.as_bytes()));
        example().check(ScramHash::Sha256, 'd', &value).unwrap();
        assert_eq!(
            example().check(ScramHash::Sha256, 'h', &value),
            Err(SaslError::Downgrade)
        );
    }

    #[test]
    fn a_struck_mechanism_or_binding_type_is_a_downgrade() {
        let mut seen = example();
        seen.mechanisms.retain(|m| !m.ends_with("-PLUS"));
        assert_eq!(
            seen.check(ScramHash::Sha1, 'h', "G6k/rBLDqgOhRRaCuuatSDFkJ08="),
            Err(SaslError::Downgrade)
        );
        let mut seen = example();
        seen.channel_bindings = None;
        assert_eq!(
            seen.check(ScramHash::Sha1, 'h', "G6k/rBLDqgOhRRaCuuatSDFkJ08="),
            Err(SaslError::Downgrade)
        );
        assert!(matches!(
            example().check(ScramHash::Sha1, 'h', "not base64!"),
            Err(SaslError::ServerProtocol(_))
        ));
    }
}

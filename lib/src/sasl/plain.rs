//! PLAIN client (RFC 4616): the password in the clear, for TLS only.

use super::{saslprep, wipe, Client, Mechanism, SaslError};

/// A PLAIN client with an empty authorization identity.
pub struct Plain {
    /// `\0authcid\0password`, wiped on drop.
    message: Vec<u8>,
    sent: bool,
}

impl Plain {
    /// A client for `authcid` and `password`, both SASLprep'ed (RFC 4013).
    pub fn new(authcid: &str, password: &str) -> Result<Self, SaslError> {
        let authcid = saslprep(authcid, "username")?;
        let mut password = saslprep(password, "password")?.into_bytes();
        let mut message = Vec::with_capacity(authcid.len() + password.len() + 2);
        message.push(0);
        message.extend_from_slice(authcid.as_bytes());
        message.push(0);
        message.extend_from_slice(&password);
        wipe(&mut password);
        Ok(Plain {
            message,
            sent: false,
        })
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        wipe(&mut self.message);
    }
}

impl Client for Plain {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Plain
    }

    fn initial(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        if self.sent {
            return Err(SaslError::Unsupported(
                "the PLAIN exchange has already started".into(),
            ));
        }
        self.sent = true;
        Ok(Some(self.message.clone()))
    }

    fn step(&mut self, _challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        Err(SaslError::ServerProtocol(
            "the server sent a challenge, which PLAIN does not have".into(),
        ))
    }

    fn finish(&mut self, _success_data: Option<&[u8]>) -> Result<(), SaslError> {
        // PLAIN has no additional data with success; tolerate some anyway.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload() {
        let mut c = Plain::new("juliet", "pencil").unwrap();
        assert_eq!(c.initial().unwrap().unwrap(), b"\0juliet\0pencil");
        assert!(c.initial().is_err());
        assert!(matches!(c.step(b""), Err(SaslError::ServerProtocol(_))));
        c.finish(None).unwrap();
    }

    #[test]
    fn saslprep_applies() {
        let mut c = Plain::new("juliet", "pen\u{a0}cil\u{ad}").unwrap();
        assert_eq!(c.initial().unwrap().unwrap(), b"\0juliet\0pen cil");
        assert!(matches!(
            Plain::new("juliet", "pen\u{7}cil"),
            Err(SaslError::Saslprep(_))
        ));
        assert!(matches!(
            Plain::new("jul\0iet", "pencil"),
            Err(SaslError::Saslprep(_))
        ));
    }
}

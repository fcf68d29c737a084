//! DIGEST-MD5 client (RFC 2831; historic, see RFC 6331).
//!
//! Only `qop=auth` with `algorithm=md5-sess`, no authorization identity, and
//! the server's `rspauth` is required. Used only when the user asks for it.

use super::{ct_eq, random_base64, wipe, Client, Mechanism, SaslError};
use md5::{Digest, Md5};

/// Length in bytes of the random part of the client nonce.
const CNONCE_BYTES: usize = 16;
/// The nonce count: this client answers a nonce exactly once.
const NC: &str = "00000001";

enum State {
    /// Waiting for the first challenge.
    Start,
    /// The response was sent; waiting for `rspauth` (lowercase hex expected).
    SentResponse { rspauth: String },
    /// The server's `rspauth` was verified.
    Verified { rspauth: String },
    /// An error ended the exchange.
    Failed,
}

/// A DIGEST-MD5 client.
pub struct DigestMd5 {
    username: String,
    password: String,
    service: String,
    host: String,
    cnonce: String,
    state: State,
}

impl DigestMd5 {
    /// A client for the XMPP service at `service_host` (digest-uri
    /// `xmpp/<service_host>`, which is also the realm when the server names none).
    pub fn new(authcid: &str, password: &str, service_host: &str) -> Result<Self, SaslError> {
        let cnonce = random_base64(CNONCE_BYTES)?;
        Ok(Self::with_params(
            authcid,
            password,
            "xmpp",
            service_host,
            &cnonce,
        ))
    }

    /// A client with every parameter given (the RFC 2831 example is IMAP).
    fn with_params(authcid: &str, password: &str, service: &str, host: &str, cnonce: &str) -> Self {
        DigestMd5 {
            username: authcid.to_owned(),
            password: password.to_owned(),
            service: service.to_owned(),
            host: host.to_owned(),
            cnonce: cnonce.to_owned(),
            state: State::Start,
        }
    }

    /// Answers the first challenge; returns the response and the expected rspauth.
    fn respond(&self, challenge: &[u8]) -> Result<(Vec<u8>, String), SaslError> {
        let directives = parse_directives(&decode(challenge))?;
        let get = |name: &str| directives.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        if directives.iter().filter(|(k, _)| k == "nonce").count() != 1 {
            return Err(proto("the challenge must have exactly one nonce"));
        }
        let nonce = get("nonce").map(String::as_str).unwrap_or_default();
        if let Some(qop) = get("qop") {
            if !qop.split(',').any(|q| q.trim() == "auth") {
                return Err(SaslError::Unsupported(format!(
                    "DIGEST-MD5 without qop=auth (the server offers \"{}\")",
                    qop.escape_debug()
                )));
            }
        }
        if let Some(alg) = get("algorithm") {
            if !alg.eq_ignore_ascii_case("md5-sess") {
                return Err(proto("the DIGEST-MD5 algorithm is not md5-sess"));
            }
        }
        let utf8 = get("charset").is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));
        let realm = get("realm").cloned().unwrap_or_else(|| self.host.clone());
        let digest_uri = format!("{}/{}", self.service, self.host);

        let username = encode(&self.username, utf8, "username")?;
        let realm_bytes = encode(&realm, utf8, "realm")?;
        let mut password = encode(&self.password, utf8, "password")?;
        let mut urp = [&username[..], b":", &realm_bytes, b":", &password].concat();
        // On the wire, the charset rules; only the hash input prefers 8859-1.
        let (username, realm_bytes) = if utf8 {
            (self.username.as_bytes().to_vec(), realm.as_bytes().to_vec())
        } else {
            (username, realm_bytes)
        };
        let mut a1 = Md5::digest(&urp).to_vec();
        wipe(&mut urp);
        wipe(&mut password);
        a1.extend_from_slice(format!(":{nonce}:{}", self.cnonce).as_bytes());
        let ha1 = hex(&Md5::digest(&a1));
        wipe(&mut a1);
        let kd = |a2: &str| {
            let ha2 = hex(&Md5::digest(a2.as_bytes()));
            let s = format!("{ha1}:{nonce}:{NC}:{}:auth:{ha2}", self.cnonce);
            hex(&Md5::digest(s.as_bytes()))
        };
        let response = kd(&format!("AUTHENTICATE:{digest_uri}"));
        let rspauth = kd(&format!(":{digest_uri}"));
        let mut ha1 = ha1.into_bytes();
        wipe(&mut ha1);

        let mut out = Vec::new();
        out.extend_from_slice(b"username=");
        quote(&mut out, &username);
        out.extend_from_slice(b",realm=");
        quote(&mut out, &realm_bytes);
        out.extend_from_slice(b",nonce=");
        quote(&mut out, nonce.as_bytes());
        out.extend_from_slice(b",cnonce=");
        quote(&mut out, self.cnonce.as_bytes());
        out.extend_from_slice(format!(",nc={NC},qop=auth,digest-uri=").as_bytes());
        quote(&mut out, digest_uri.as_bytes());
        out.extend_from_slice(format!(",response={response}").as_bytes());
        if utf8 {
            out.extend_from_slice(b",charset=utf-8");
        }
        Ok((out, rspauth))
    }
}

impl Drop for DigestMd5 {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.password).into_bytes();
        wipe(&mut bytes);
    }
}

impl Client for DigestMd5 {
    fn mechanism(&self) -> Mechanism {
        Mechanism::DigestMd5
    }

    fn initial(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(None)
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Start => {
                let (response, rspauth) = self.respond(challenge)?;
                self.state = State::SentResponse { rspauth };
                Ok(response)
            }
            State::SentResponse { rspauth } => {
                verify_rspauth(challenge, &rspauth)?;
                self.state = State::Verified { rspauth };
                Ok(Vec::new())
            }
            State::Verified { .. } => Err(proto("a challenge came after rspauth")),
            State::Failed => Err(proto("a challenge came after the exchange failed")),
        }
    }

    fn finish(&mut self, success_data: Option<&[u8]>) -> Result<(), SaslError> {
        let data = success_data.filter(|d| !d.is_empty());
        match (std::mem::replace(&mut self.state, State::Failed), data) {
            (State::SentResponse { rspauth } | State::Verified { rspauth }, Some(d)) => {
                verify_rspauth(d, &rspauth)?;
                self.state = State::Verified { rspauth };
                Ok(())
            }
            (State::Verified { rspauth }, None) => {
                self.state = State::Verified { rspauth };
                Ok(())
            }
            _ => Err(proto("the server did not prove it knows the password")),
        }
    }
}

fn proto(s: &str) -> SaslError {
    SaslError::ServerProtocol(s.to_owned())
}

fn verify_rspauth(data: &[u8], expected: &str) -> Result<(), SaslError> {
    let directives = parse_directives(&decode(data))?;
    let got = directives
        .iter()
        .find(|(k, _)| k == "rspauth")
        .map(|(_, v)| v.to_ascii_lowercase())
        .ok_or_else(|| proto("the second DIGEST-MD5 challenge lacks rspauth"))?;
    if ct_eq(got.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(SaslError::ServerSignatureMismatch)
    }
}

/// Server text: UTF-8 when valid, else ISO 8859-1.
fn decode(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => s.to_owned(),
        Err(_) => data.iter().map(|&b| char::from(b)).collect(),
    }
}

/// The bytes of `s` for hashing (RFC 2831 §2.1.2.1) and, without
/// `charset=utf-8`, for the wire: ISO 8859-1 when every character fits,
/// else UTF-8 (which needs the server's `charset=utf-8`).
fn encode(s: &str, utf8: bool, what: &str) -> Result<Vec<u8>, SaslError> {
    if s.chars().all(|c| u32::from(c) <= 0xff) {
        Ok(s.chars().map(|c| c as u8).collect())
    } else if utf8 {
        Ok(s.as_bytes().to_vec())
    } else {
        Err(SaslError::Unsupported(format!(
            "a DIGEST-MD5 {what} outside ISO 8859-1 when the server does not allow UTF-8"
        )))
    }
}

fn quote(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses `name=value` pairs separated by commas; values are tokens or
/// quoted strings with `\` escapes. Names are returned in lower case.
fn parse_directives(s: &str) -> Result<Vec<(String, String)>, SaslError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|&c| c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            name.push(c.to_ascii_lowercase());
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(SaslError::ServerProtocol(format!(
                "the DIGEST-MD5 directive \"{}\" has no value",
                name.escape_debug()
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(proto("an unterminated quoted string in DIGEST-MD5")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(proto("an unterminated quoted string in DIGEST-MD5")),
                    },
                    Some(c) => value.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_some_and(|&c| c != ',') {
                return Err(proto("garbage after a quoted string in DIGEST-MD5"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value.truncate(value.trim_end().len());
        }
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &[u8] = b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",\
        qop=\"auth\",algorithm=md5-sess,charset=utf-8";

    fn rfc_client() -> DigestMd5 {
        DigestMd5::with_params(
            "chris",
            "secret",
            "imap",
            "elwood.innosoft.com",
            "OA6MHXh6VqTrRk",
        )
    }

    #[test]
    fn rfc2831_example() {
        let mut c = rfc_client();
        assert_eq!(c.initial().unwrap(), None);
        let response = String::from_utf8(c.step(CHALLENGE).unwrap()).unwrap();
        assert_eq!(
            response,
            "username=\"chris\",realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",\
             cnonce=\"OA6MHXh6VqTrRk\",nc=00000001,qop=auth,\
             digest-uri=\"imap/elwood.innosoft.com\",\
             response=d388dad90d4bbd760a152321f2143af7,charset=utf-8"
        );
        assert_eq!(
            c.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffd").unwrap(),
            b""
        );
        c.finish(None).unwrap();
    }

    #[test]
    fn rspauth_in_success() {
        let mut c = rfc_client();
        c.step(CHALLENGE).unwrap();
        c.finish(Some(b"rspauth=ea40f60335c427b5527b84dbabcdfffd"))
            .unwrap();
    }

    #[test]
    fn rspauth_wrong_or_missing() {
        let mut c = rfc_client();
        c.step(CHALLENGE).unwrap();
        assert_eq!(
            c.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffe"),
            Err(SaslError::ServerSignatureMismatch)
        );
        let mut c = rfc_client();
        c.step(CHALLENGE).unwrap();
        assert!(matches!(c.finish(None), Err(SaslError::ServerProtocol(_))));
        let mut c = rfc_client();
        c.step(CHALLENGE).unwrap();
        assert!(matches!(
            c.step(b"foo=bar"),
            Err(SaslError::ServerProtocol(_))
        ));
    }

    #[test]
    fn xmpp_defaults() {
        let mut c = DigestMd5::new("juliet", "pw", "example.org").unwrap();
        let r = String::from_utf8(c.step(b"nonce=\"abc\",qop=\"auth,auth-int\"").unwrap()).unwrap();
        assert!(r.contains("realm=\"example.org\""), "{r}");
        assert!(r.contains("digest-uri=\"xmpp/example.org\""), "{r}");
        assert!(!r.contains("charset"), "{r}");
    }

    /// Non-ASCII Latin-1 names: hashed in ISO 8859-1, sent in UTF-8 with
    /// charset=utf-8, sent in ISO 8859-1 without.
    #[test]
    fn latin1_and_utf8() {
        let mut utf8 = DigestMd5::with_params("jos\u{e9}", "pw", "xmpp", "h", "c");
        let with = utf8.step(b"nonce=n,realm=r,charset=utf-8").unwrap();
        let mut latin1 = DigestMd5::with_params("jos\u{e9}", "pw", "xmpp", "h", "c");
        let without = latin1.step(b"nonce=n,realm=r").unwrap();
        assert!(with.starts_with("username=\"jos\u{e9}\"".as_bytes()));
        assert!(without.starts_with(b"username=\"jos\xe9\""));
        let response = |r: &[u8]| {
            let s = String::from_utf8_lossy(r).into_owned();
            s.split_once("response=").unwrap().1[..32].to_owned()
        };
        assert_eq!(response(&with), response(&without));
        let mut wide = DigestMd5::with_params("\u{3b1}", "pw", "xmpp", "h", "c");
        assert!(matches!(
            wide.step(b"nonce=n"),
            Err(SaslError::Unsupported(_))
        ));
    }

    #[test]
    fn bad_challenges() {
        for ch in [
            &b"realm=\"x\""[..],
            b"nonce=\"a\",nonce=\"b\"",
            b"nonce=\"a\",qop=\"auth-conf\"",
            b"nonce=\"a\",algorithm=md5",
            b"nonce=\"a",
            b"nonce",
            b"nonce=\"a\"x",
        ] {
            let mut c = rfc_client();
            assert!(c.step(ch).is_err(), "{:?}", String::from_utf8_lossy(ch));
        }
    }

    #[test]
    fn tolerant_parsing() {
        let d = parse_directives(" ,Realm = \"a\\\"b\" , nonce=xyz ,, qop=\"auth\" ").unwrap();
        assert_eq!(
            d,
            vec![
                ("realm".into(), "a\"b".into()),
                ("nonce".into(), "xyz".into()),
                ("qop".into(), "auth".into())
            ]
        );
    }
}

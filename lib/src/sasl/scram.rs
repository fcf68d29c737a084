//! SCRAM client (RFC 5802, RFC 7677), with channel binding (RFC 9266).
//!
//! One implementation serves SCRAM-SHA-1, -256 and -512 and their -PLUS
//! variants: the hash is a [`ScramHash`] value whose `h`, `hmac` and `hi`
//! functions dispatch to the right hash.

use super::{
    ct_eq, random_base64, saslprep, wipe, Advertised, Binding, Client, Mechanism, SaslError,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::digest::{Digest, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// The largest iteration count accepted from a server.
///
/// Ten million rounds of PBKDF2 take seconds; more is either a mistake or a
/// server trying to burn the client's CPU.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Length in bytes of the random part of the client nonce.
const NONCE_BYTES: usize = 24;

/// The hash function of a SCRAM mechanism, with SCRAM's primitives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SHA-1 (SCRAM-SHA-1).
    Sha1,
    /// SHA-256 (SCRAM-SHA-256).
    Sha256,
    /// SHA-512 (SCRAM-SHA-512).
    Sha512,
}

fn digest<D: Digest>(data: &[u8]) -> Vec<u8> {
    D::digest(data).to_vec()
}

fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
    let mut m = <M as KeyInit>::new_from_slice(key)
        .map_err(|_| SaslError::Unsupported("HMAC refused the key".into()))?;
    Mac::update(&mut m, data);
    Ok(m.finalize().into_bytes().to_vec())
}

impl ScramHash {
    /// The output length of the hash in bytes.
    pub fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
            ScramHash::Sha512 => 64,
        }
    }

    /// `H(data)`: the hash itself.
    pub fn h(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => digest::<Sha1>(data),
            ScramHash::Sha256 => digest::<Sha256>(data),
            ScramHash::Sha512 => digest::<Sha512>(data),
        }
    }

    /// `HMAC(key, data)` with this hash.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SaslError> {
        match self {
            ScramHash::Sha1 => mac::<Hmac<Sha1>>(key, data),
            ScramHash::Sha256 => mac::<Hmac<Sha256>>(key, data),
            ScramHash::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash, one block.
    pub fn hi(self, password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, i, &mut out),
            ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, i, &mut out),
            ScramHash::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, i, &mut out),
        }
        out
    }
}

/// Escapes a SCRAM username: `,` becomes `=2C` and `=` becomes `=3D`.
pub fn escape_username(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ',' => out.push_str("=2C"),
            '=' => out.push_str("=3D"),
            c => out.push(c),
        }
    }
    out
}

/// Where the exchange stands.
enum State {
    /// Nothing sent yet.
    Start,
    /// client-first sent; waiting for server-first.
    SentFirst { client_first_bare: String },
    /// client-final sent; waiting for server-final (challenge or success).
    SentFinal { server_signature: Vec<u8> },
    /// The server signature was verified.
    Verified { server_signature: Vec<u8> },
    /// An error ended the exchange.
    Failed,
}

/// A SCRAM client: SCRAM-SHA-1, -256, -512, with or without -PLUS.
pub struct Scram {
    hash: ScramHash,
    /// SASLprep'ed and escaped.
    username: String,
    /// SASLprep'ed; wiped once the salted password is computed.
    password: Vec<u8>,
    binding: Binding,
    client_nonce: String,
    state: State,
    /// What the server advertised, for its downgrade-protection hash (XEP-0474).
    advertised: Option<Advertised>,
    /// The server's hash was there and matched.
    downgrade_checked: bool,
}

impl Scram {
    /// A client with a fresh random nonce.
    ///
    /// `binding` decides the GS2 header: `n,,`, `y,,` or `p=<kind>,,` (the
    /// latter makes this a -PLUS mechanism).
    pub fn new(
        hash: ScramHash,
        authcid: &str,
        password: &str,
        binding: Binding,
    ) -> Result<Self, SaslError> {
        let nonce = random_base64(NONCE_BYTES)?;
        Self::with_nonce(hash, authcid, password, binding, &nonce)
    }

    /// A client with a given nonce (for tests and test vectors).
    ///
    /// The nonce must be printable ASCII without `,`.
    pub fn with_nonce(
        hash: ScramHash,
        authcid: &str,
        password: &str,
        binding: Binding,
        nonce: &str,
    ) -> Result<Self, SaslError> {
        if !valid_nonce(nonce) {
            return Err(SaslError::Unsupported(
                "a SCRAM client nonce must be printable ASCII without a comma".into(),
            ));
        }
        let username = escape_username(&saslprep(authcid, "username")?);
        let password = saslprep(password, "password")?.into_bytes();
        Ok(Scram {
            hash,
            username,
            password,
            binding,
            client_nonce: nonce.to_owned(),
            state: State::Start,
            advertised: None,
            downgrade_checked: false,
        })
    }

    /// Check the server's downgrade-protection hash, when it sends one,
    /// against what it `advertised` (XEP-0474).
    pub fn with_advertised(mut self, advertised: Advertised) -> Self {
        self.advertised = Some(advertised);
        self
    }

    fn gs2_header(&self) -> String {
        match &self.binding {
            Binding::None => "n,,".to_owned(),
            Binding::ServerOfferedNoPlus => "y,,".to_owned(),
            Binding::Use(cb) => format!("p={},,", cb.kind),
        }
    }

    /// The `c=` value: base64 of the GS2 header and, with `p=`, the binding data.
    fn channel_binding_attr(&self) -> String {
        let mut input = self.gs2_header().into_bytes();
        if let Binding::Use(cb) = &self.binding {
            input.extend_from_slice(&cb.data);
        }
        B64.encode(input)
    }

    /// Handles server-first; returns client-final and the expected server signature.
    fn client_final(
        &mut self,
        client_first_bare: &str,
        challenge: &[u8],
    ) -> Result<(String, Vec<u8>), SaslError> {
        let server_first = utf8(challenge, "server-first")?;
        let first = parse_server_first(server_first, &self.client_nonce)?;
        if let (Some(advertised), Some((name, value))) = (&self.advertised, first.downgrade) {
            advertised.check(self.hash, name, value)?;
            self.downgrade_checked = true;
        }
        let without_proof = format!("c={},r={}", self.channel_binding_attr(), first.nonce);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");

        let h = self.hash;
        let mut salted = h.hi(&self.password, &first.salt, first.iterations);
        wipe(&mut self.password);
        self.password.clear();
        let keys = (|| {
            let client_key = h.hmac(&salted, b"Client Key")?;
            let stored_key = h.h(&client_key);
            let client_signature = h.hmac(&stored_key, auth_message.as_bytes())?;
            let proof: Vec<u8> = client_key
                .iter()
                .zip(&client_signature)
                .map(|(a, b)| a ^ b)
                .collect();
            let server_key = h.hmac(&salted, b"Server Key")?;
            let server_signature = h.hmac(&server_key, auth_message.as_bytes())?;
            Ok((proof, server_signature))
        })();
        wipe(&mut salted);
        let (proof, server_signature) = keys?;
        Ok((
            format!("{without_proof},p={}", B64.encode(proof)),
            server_signature,
        ))
    }
}

impl Drop for Scram {
    fn drop(&mut self) {
        wipe(&mut self.password);
    }
}

impl Client for Scram {
    fn mechanism(&self) -> Mechanism {
        let plus = matches!(self.binding, Binding::Use(_));
        match (self.hash, plus) {
            (ScramHash::Sha1, false) => Mechanism::ScramSha1,
            (ScramHash::Sha256, false) => Mechanism::ScramSha256,
            (ScramHash::Sha512, false) => Mechanism::ScramSha512,
            (ScramHash::Sha1, true) => Mechanism::ScramSha1Plus,
            (ScramHash::Sha256, true) => Mechanism::ScramSha256Plus,
            (ScramHash::Sha512, true) => Mechanism::ScramSha512Plus,
        }
    }

    fn initial(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        if !matches!(self.state, State::Start) {
            return Err(SaslError::Unsupported(
                "the SCRAM exchange has already started".into(),
            ));
        }
        let client_first_bare = format!("n={},r={}", self.username, self.client_nonce);
        let message = format!("{}{client_first_bare}", self.gs2_header());
        self.state = State::SentFirst { client_first_bare };
        Ok(Some(message.into_bytes()))
    }

    fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Start => Err(proto("a challenge came before the client's first message")),
            State::SentFirst { client_first_bare } => self
                .client_final(&client_first_bare, challenge)
                .map(|(msg, server_signature)| {
                    self.state = State::SentFinal { server_signature };
                    msg.into_bytes()
                }),
            State::SentFinal { server_signature } => {
                verify_server_final(challenge, &server_signature).map(|()| {
                    self.state = State::Verified { server_signature };
                    Vec::new()
                })
            }
            State::Verified { .. } => Err(proto("a challenge came after the server-final message")),
            State::Failed => Err(proto("a challenge came after the exchange failed")),
        }
    }

    fn downgrade_checked(&self) -> bool {
        self.downgrade_checked
    }

    fn set_advertised(&mut self, advertised: Advertised) {
        self.advertised = Some(advertised);
    }

    fn finish(&mut self, success_data: Option<&[u8]>) -> Result<(), SaslError> {
        let data = success_data.filter(|d| !d.is_empty());
        match (std::mem::replace(&mut self.state, State::Failed), data) {
            (State::SentFinal { server_signature }, Some(d))
            | (State::Verified { server_signature }, Some(d)) => {
                verify_server_final(d, &server_signature)?;
                self.state = State::Verified { server_signature };
                Ok(())
            }
            (State::Verified { server_signature }, None) => {
                self.state = State::Verified { server_signature };
                Ok(())
            }
            (State::SentFinal { .. }, None) => {
                Err(proto("the server did not prove it knows the password"))
            }
            (State::Start | State::SentFirst { .. }, _) => Err(proto(
                "the server reported success before the SCRAM exchange was complete; \
                 the server did not prove it knows the password",
            )),
            (State::Failed, _) => Err(proto("success came after the exchange failed")),
        }
    }
}

fn proto(s: &str) -> SaslError {
    SaslError::ServerProtocol(s.to_owned())
}

/// A short, printable rendering of server data for error messages.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(60).flat_map(char::escape_debug).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

fn utf8<'a>(data: &'a [u8], what: &str) -> Result<&'a str, SaslError> {
    std::str::from_utf8(data)
        .map_err(|_| SaslError::ServerProtocol(format!("the {what} message is not UTF-8")))
}

/// A SCRAM nonce: printable ASCII except `,` (RFC 5802 §7).
fn valid_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The attribute `name=` at this position, or an error naming `what`.
fn attr<'a>(
    part: Option<&'a str>,
    name: char,
    what: &str,
    message: &str,
) -> Result<&'a str, SaslError> {
    let part = part.ok_or_else(|| {
        SaslError::ServerProtocol(format!("the {message} message lacks the {what} ({name}=)"))
    })?;
    let mut chars = part.chars();
    match (chars.next(), chars.next()) {
        (Some(c), Some('=')) if c == name => Ok(&part[2..]),
        _ => Err(SaslError::ServerProtocol(format!(
            "expected the {what} ({name}=) in the {message} message, got \"{}\"",
            shown(part)
        ))),
    }
}

/// Checks that the remaining attributes are well-formed optional extensions.
fn extensions<'a>(rest: impl Iterator<Item = &'a str>, message: &str) -> Result<(), SaslError> {
    for part in rest {
        let b = part.as_bytes();
        if b.len() < 2 || !b[0].is_ascii_alphabetic() || b[1] != b'=' {
            return Err(SaslError::ServerProtocol(format!(
                "malformed attribute \"{}\" in the {message} message",
                shown(part)
            )));
        }
    }
    Ok(())
}

fn reject_mandatory_extension(first: Option<&str>) -> Result<(), SaslError> {
    if first.is_some_and(|p| p.starts_with("m=")) {
        return Err(SaslError::Unsupported(
            "the server requires a SCRAM extension (m=) this client does not know".into(),
        ));
    }
    Ok(())
}

/// The parts of server-first the client needs.
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
    /// XEP-0474's attribute (`h`, or `d` of its earlier versions) and value.
    downgrade: Option<(char, &'a str)>,
}

fn parse_server_first<'a>(msg: &'a str, client_nonce: &str) -> Result<ServerFirst<'a>, SaslError> {
    const M: &str = "server-first";
    let mut parts = msg.split(',').peekable();
    reject_mandatory_extension(parts.peek().copied())?;
    let nonce = attr(parts.next(), 'r', "nonce", M)?;
    let salt = attr(parts.next(), 's', "salt", M)?;
    let iterations = attr(parts.next(), 'i', "iteration count", M)?;
    let rest: Vec<&str> = parts.collect();
    extensions(rest.iter().copied(), M)?;
    let downgrade = ['h', 'd'].into_iter().find_map(|name| {
        rest.iter()
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .map(|value| (name, value))
    });

    if !valid_nonce(nonce) {
        return Err(proto(
            "the server's nonce has characters a nonce may not have",
        ));
    }
    if !nonce.starts_with(client_nonce) {
        return Err(proto(
            "the server's nonce does not start with the client's nonce",
        ));
    }
    if nonce.len() == client_nonce.len() {
        return Err(proto("the server did not add its part to the nonce"));
    }
    let salt = B64
        .decode(salt)
        .map_err(|_| proto("the salt is not valid base64"))?;
    if salt.is_empty() {
        return Err(proto("the salt is empty"));
    }
    let out_of_range = || {
        SaslError::ServerProtocol(format!(
            "the iteration count \"{}\" is not between 1 and {MAX_ITERATIONS}",
            shown(iterations)
        ))
    };
    if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    let iterations = iterations
        .parse::<u64>()
        .ok()
        .filter(|i| (1..=u64::from(MAX_ITERATIONS)).contains(i))
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(out_of_range)?;
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
        downgrade,
    })
}

/// Checks server-final: `v=` must be the expected signature; `e=` is an error.
fn verify_server_final(data: &[u8], expected: &[u8]) -> Result<(), SaslError> {
    const M: &str = "server-final";
    let msg = utf8(data, M)?;
    let mut parts = msg.split(',').peekable();
    reject_mandatory_extension(parts.peek().copied())?;
    let first = parts.next().unwrap_or("");
    if let Some(e) = first.strip_prefix("e=") {
        return Err(SaslError::ServerError(shown(e)));
    }
    let verifier = attr(Some(first), 'v', "verifier", M)?;
    extensions(parts, M)?;
    let signature = B64
        .decode(verifier)
        .map_err(|_| proto("the server signature is not valid base64"))?;
    if ct_eq(&signature, expected) {
        Ok(())
    } else {
        Err(SaslError::ServerSignatureMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChannelBinding;
    use super::*;

    fn run_first(c: &mut Scram) -> String {
        String::from_utf8(c.initial().unwrap().unwrap()).unwrap()
    }

    fn sha1_client() -> Scram {
        Scram::with_nonce(
            ScramHash::Sha1,
            "user",
            "pencil",
            Binding::None,
            "fyko+d2lbbFgONRv9qkxdawL",
        )
        .unwrap()
    }

    const SHA1_SERVER_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA1_SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    /// A SHA-1 client that got through server-first.
    fn sha1_after_first() -> Scram {
        let mut c = sha1_client();
        run_first(&mut c);
        c.step(SHA1_SERVER_FIRST.as_bytes()).unwrap();
        c
    }

    /// The client's error on this server-first message.
    fn first_error(server_first: &str) -> SaslError {
        let mut c = sha1_client();
        run_first(&mut c);
        c.step(server_first.as_bytes()).unwrap_err()
    }

    #[test]
    fn rfc5802_sha1_vector_final_in_success() {
        let mut c = sha1_client();
        assert_eq!(c.mechanism(), Mechanism::ScramSha1);
        assert_eq!(run_first(&mut c), "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let client_final = c.step(SHA1_SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert!(c.password.is_empty());
        c.finish(Some(SHA1_SERVER_FINAL.as_bytes())).unwrap();
    }

    #[test]
    fn rfc5802_sha1_vector_final_as_challenge() {
        let mut c = sha1_after_first();
        assert_eq!(c.step(SHA1_SERVER_FINAL.as_bytes()).unwrap(), b"");
        c.finish(None).unwrap();
        // A challenge after the verified server-final is a protocol error.
        let mut c = sha1_after_first();
        c.step(SHA1_SERVER_FINAL.as_bytes()).unwrap();
        assert!(matches!(c.step(b"x"), Err(SaslError::ServerProtocol(_))));
    }

    #[test]
    fn rfc7677_sha256_vector() {
        let mut c = Scram::with_nonce(
            ScramHash::Sha256,
            "user",
            "pencil",
            Binding::None,
            "rOprNGfwEbeRWgbNEkqO",
        )
        .unwrap();
        assert_eq!(c.mechanism(), Mechanism::ScramSha256);
        assert_eq!(run_first(&mut c), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let client_final = c
            .step(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        // RFC 7677 §3 prints this signature (checked against Python's hashlib).
        c.finish(Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
            .unwrap();
    }

    /// SCRAM-SHA-512 with channel binding against a server computed here
    /// straight from RFC 5802's formulas with the hash crates.
    #[test]
    fn sha512_plus_round_trip_against_independent_server() {
        use hmac::{Hmac, Mac};
        use sha2::{Digest, Sha512};
        fn hmac512(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }

        let cb_data = b"0123456789abcdef0123456789abcdef".to_vec();
        let binding = Binding::Use(ChannelBinding::tls_exporter(cb_data.clone()));
        let mut c = Scram::with_nonce(
            ScramHash::Sha512,
            "juliet",
            "r0m30myr0m30",
            binding,
            "clientNONCE",
        )
        .unwrap();
        assert_eq!(c.mechanism(), Mechanism::ScramSha512Plus);
        let client_first = run_first(&mut c);
        assert_eq!(client_first, "p=tls-exporter,,n=juliet,r=clientNONCE");

        let salt = b"some salt bytes";
        let server_first = format!("r=clientNONCEserverNONCE,s={},i=1234", B64.encode(salt));
        let client_final = String::from_utf8(c.step(server_first.as_bytes()).unwrap()).unwrap();

        // The server side.
        let mut cbind_input = b"p=tls-exporter,,".to_vec();
        cbind_input.extend_from_slice(&cb_data);
        let without_proof = format!("c={},r=clientNONCEserverNONCE", B64.encode(&cbind_input));
        assert!(client_final.starts_with(&format!("{without_proof},p=")));
        let auth_message = format!(
            "{},{server_first},{without_proof}",
            &client_first["p=tls-exporter,,".len()..]
        );
        let mut salted = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(b"r0m30myr0m30", salt, 1234, &mut salted);
        let client_key = hmac512(&salted, b"Client Key");
        let stored_key = Sha512::digest(&client_key);
        let client_signature = hmac512(&stored_key, auth_message.as_bytes());
        let proof = B64
            .decode(client_final.rsplit_once(",p=").unwrap().1)
            .unwrap();
        let recovered_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(Sha512::digest(&recovered_key).to_vec(), stored_key.to_vec());
        let server_key = hmac512(&salted, b"Server Key");
        let server_signature = hmac512(&server_key, auth_message.as_bytes());
        let server_final = format!("v={}", B64.encode(server_signature));
        c.finish(Some(server_final.as_bytes())).unwrap();
    }

    #[test]
    fn channel_binding_headers() {
        let cb = ChannelBinding::tls_exporter(vec![0xde, 0xad, 0xbe, 0xef]);
        let mut c =
            Scram::with_nonce(ScramHash::Sha256, "u", "p", Binding::Use(cb), "abc").unwrap();
        assert!(run_first(&mut c).starts_with("p=tls-exporter,,n=u,"));
        let mut expected = b"p=tls-exporter,,".to_vec();
        expected.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let client_final = c.step(b"r=abcdef,s=c2FsdA==,i=1").unwrap();
        let client_final = String::from_utf8(client_final).unwrap();
        assert!(
            client_final.starts_with(&format!("c={},r=abcdef,p=", B64.encode(expected))),
            "{client_final}"
        );

        let mut c = Scram::with_nonce(
            ScramHash::Sha256,
            "u",
            "p",
            Binding::ServerOfferedNoPlus,
            "abc",
        )
        .unwrap();
        assert_eq!(c.mechanism(), Mechanism::ScramSha256);
        assert_eq!(run_first(&mut c), "y,,n=u,r=abc");
        let client_final = c.step(b"r=abcdef,s=c2FsdA==,i=1").unwrap();
        assert!(client_final.starts_with(b"c=eSws,r=abcdef,p="));
    }

    #[test]
    fn forged_server_signature() {
        let mut c = sha1_after_first();
        assert_eq!(
            c.finish(Some(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
            Err(SaslError::ServerSignatureMismatch)
        );
        let mut c = sha1_after_first();
        assert_eq!(
            c.step(b"v=rmF9pqV8S7suAoZWja4dJRkFsKA="),
            Err(SaslError::ServerSignatureMismatch)
        );
        let mut c = sha1_after_first();
        assert!(matches!(
            c.finish(Some(b"v=not base64!")),
            Err(SaslError::ServerProtocol(_))
        ));
    }

    #[test]
    fn server_error_attribute() {
        let mut c = sha1_after_first();
        let err = c.finish(Some(b"e=invalid-proof")).unwrap_err();
        assert_eq!(err, SaslError::ServerError("invalid-proof".into()));
        assert!(err.to_string().contains("invalid-proof"));
        let mut c = sha1_after_first();
        assert_eq!(
            c.step(b"e=other-error"),
            Err(SaslError::ServerError("other-error".into()))
        );
    }

    #[test]
    fn finish_without_server_final() {
        let mut c = sha1_after_first();
        assert_eq!(
            c.finish(None),
            Err(SaslError::ServerProtocol(
                "the server did not prove it knows the password".into()
            ))
        );
        let mut c = sha1_after_first();
        assert!(matches!(
            c.finish(Some(b"")),
            Err(SaslError::ServerProtocol(_))
        ));
        let mut c = sha1_client();
        run_first(&mut c);
        assert!(matches!(c.finish(None), Err(SaslError::ServerProtocol(_))));
        let mut c = sha1_client();
        run_first(&mut c);
        assert!(matches!(
            c.finish(Some(SHA1_SERVER_FINAL.as_bytes())),
            Err(SaslError::ServerProtocol(_))
        ));
    }

    #[test]
    fn bad_nonces() {
        assert!(matches!(
            first_error("r=somebodyelse3rfcNHYJY,s=QSXCR+Q6sek8bf92,i=4096"),
            SaslError::ServerProtocol(_)
        ));
        assert!(matches!(
            first_error("r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096"),
            SaslError::ServerProtocol(_)
        ));
        assert!(matches!(
            first_error("r=fyko+d2lbbFgONRv9qkxda,s=QSXCR+Q6sek8bf92,i=4096"),
            SaslError::ServerProtocol(_)
        ));
        assert!(matches!(
            first_error("r=fyko+d2lbbFgONRv9qkxdawL\u{7f}x,s=QSXCR+Q6sek8bf92,i=4096"),
            SaslError::ServerProtocol(_)
        ));
    }

    #[test]
    fn bad_iteration_counts() {
        for i in [
            "0",
            "100000000",
            "10000001",
            "-1",
            "+5",
            "",
            "x",
            "99999999999999999999999",
        ] {
            let msg = format!("r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i={i}");
            assert!(
                matches!(first_error(&msg), SaslError::ServerProtocol(_)),
                "i={i}"
            );
        }
        // The limits themselves are fine (1 is fast; the maximum is only parsed).
        let ok = "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=1";
        let mut c = sha1_client();
        run_first(&mut c);
        c.step(ok.as_bytes()).unwrap();
        assert_eq!(
            parse_server_first(
                "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=10000000",
                "fyko+d2lbbFgONRv9qkxdawL"
            )
            .unwrap()
            .iterations,
            MAX_ITERATIONS
        );
    }

    #[test]
    fn malformed_server_first() {
        for msg in [
            "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf9*,i=4096",
            "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=,i=4096",
            "r=fyko+d2lbbFgONRv9qkxdawLxyz,i=4096",
            "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92",
            "s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawLxyz,i=4096",
            "r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=4096,garbage",
            "",
            "\u{e9}",
        ] {
            assert!(
                matches!(first_error(msg), SaslError::ServerProtocol(_)),
                "{msg:?}"
            );
        }
        let mut c = sha1_client();
        run_first(&mut c);
        assert!(matches!(
            c.step(b"\xff\xfe"),
            Err(SaslError::ServerProtocol(_))
        ));
        // Optional extensions after i= are tolerated.
        let mut c = sha1_client();
        run_first(&mut c);
        c.step(b"r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=1,x=ext")
            .unwrap();
    }

    /// Every truncation of valid server messages is an error or success, never a panic.
    #[test]
    fn truncated_server_messages() {
        for n in 0..SHA1_SERVER_FIRST.len() {
            let mut c = sha1_client();
            run_first(&mut c);
            let _ = c.step(&SHA1_SERVER_FIRST.as_bytes()[..n]);
            let _ = c.finish(None);
        }
        for n in 0..SHA1_SERVER_FINAL.len() {
            let mut c = sha1_after_first();
            assert!(c.finish(Some(&SHA1_SERVER_FINAL.as_bytes()[..n])).is_err());
        }
    }

    #[test]
    fn mandatory_extension_rejected() {
        assert!(matches!(
            first_error("m=ext,r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=4096"),
            SaslError::Unsupported(_)
        ));
    }

    #[test]
    fn username_escaping() {
        assert_eq!(escape_username("a,b=c"), "a=2Cb=3Dc");
        let mut c = Scram::with_nonce(ScramHash::Sha1, "a,b=c", "p", Binding::None, "n").unwrap();
        assert_eq!(run_first(&mut c), "n,,n=a=2Cb=3Dc,r=n");
    }

    #[test]
    fn saslprep_applies() {
        let err = Scram::with_nonce(ScramHash::Sha1, "user", "pen\u{7}cil", Binding::None, "n")
            .err()
            .unwrap();
        assert!(matches!(err, SaslError::Saslprep(_)));
        assert!(!err.to_string().contains('\u{7}'), "{err}");
        assert!(
            err.to_string().starts_with("SASLprep refuses the password"),
            "{err}"
        );
        assert!(matches!(
            Scram::new(ScramHash::Sha1, "us\u{0}er", "pencil", Binding::None),
            Err(SaslError::Saslprep(_))
        ));
        let c =
            Scram::with_nonce(ScramHash::Sha1, "user", "pen\u{a0}cil", Binding::None, "n").unwrap();
        assert_eq!(c.password, b"pen cil");
    }

    #[test]
    fn random_nonce_shape() {
        let a = Scram::new(ScramHash::Sha1, "u", "p", Binding::None).unwrap();
        let b = Scram::new(ScramHash::Sha1, "u", "p", Binding::None).unwrap();
        assert_eq!(a.client_nonce.len(), 32);
        assert!(valid_nonce(&a.client_nonce));
        assert_ne!(a.client_nonce, b.client_nonce);
    }

    #[test]
    fn hash_primitives_match_lengths() {
        for h in [ScramHash::Sha1, ScramHash::Sha256, ScramHash::Sha512] {
            assert_eq!(h.h(b"x").len(), h.output_len());
            assert_eq!(h.hmac(b"k", b"x").unwrap().len(), h.output_len());
            assert_eq!(h.hi(b"p", b"s", 2).len(), h.output_len());
        }
    }

    #[test]
    fn the_downgrade_protection_hash_is_checked_when_the_server_sends_one() {
        let advertised = Advertised {
            mechanisms: vec!["SCRAM-SHA-1-PLUS".into(), "SCRAM-SHA-1".into()],
            channel_bindings: Some(vec!["tls-server-end-point".into(), "tls-exporter".into()]),
        };
        // XEP-0474's example hash of that list.
        let good = format!("{SHA1_SERVER_FIRST},h=G6k/rBLDqgOhRRaCuuatSDFkJ08=");
        let mut c = sha1_client().with_advertised(advertised.clone());
        run_first(&mut c);
        assert!(c.step(good.as_bytes()).is_ok());
        assert!(c.downgrade_checked());
        // Someone struck -PLUS from the features the client saw.
        let seen = Advertised {
            mechanisms: vec!["SCRAM-SHA-1".into()],
            ..advertised
        };
        let mut c = sha1_client().with_advertised(seen);
        run_first(&mut c);
        assert_eq!(c.step(good.as_bytes()), Err(SaslError::Downgrade));
        // A server without XEP-0474: nothing to check.
        let mut c = sha1_client().with_advertised(Advertised::default());
        run_first(&mut c);
        assert!(c.step(SHA1_SERVER_FIRST.as_bytes()).is_ok());
        assert!(!c.downgrade_checked());
    }
}

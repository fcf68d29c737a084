//! Login: stream setup, in-band registration, SASL, resource binding,
//! legacy session establishment and stream management (RFC 6120 §4–7,
//! XEP-0077, XEP-0198).

use crate::options::Options;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::fs::File;
use std::io::BufReader;
use std::os::fd::OwnedFd;
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::password::Password;
use xmpp_pipes::sasl::{self, ChannelBinding, ChooseContext, SaslError};
use xmpp_pipes::stream::{self, Stream, NS_BIND, NS_REGISTER, NS_SASL, NS_SESSION, NS_SM, NS_TLS};
use xmpp_pipes::xml::{Element, Framer, NS_CLIENT};

/// The largest element accepted from the server (bytes).
pub const MAX_STANZA: usize = 16 << 20;

/// The environment variable that says the transport is TLS (set by xmpp-connect).
pub const ENV_TLS: &str = "SSL_PROTOCOL";
/// The environment variable with tls-exporter channel-binding data (base64).
pub const ENV_EXPORTER: &str = "XMPP_TLS_EXPORTER";

/// A logged-in stream, ready for stanzas.
pub struct Negotiated {
    /// Reads the server's side of the stream.
    pub framer: Framer<BufReader<File>>,
    /// Writes to the server.
    pub writer: File,
    /// The full JID the server bound.
    pub jid: Jid,
    /// Whether stream management (XEP-0198) is enabled.
    pub stream_management: bool,
    /// Stanzas that arrived during negotiation, for downstream.
    pub pending: Vec<String>,
}

type ServerStream = Stream<BufReader<File>, File>;

/// Log in on the stream given by `read`/`write`; see the module documentation.
pub fn login(
    read: OwnedFd,
    write: OwnedFd,
    options: &Options,
    password: &Password,
) -> Result<Negotiated> {
    let mut stream = Stream::new(
        BufReader::new(File::from(read)),
        File::from(write),
        MAX_STANZA,
    );
    let domain = options.jid.domain();
    let tls = std::env::var_os(ENV_TLS).is_some();
    let bare = options.jid.to_string();
    let from = tls.then_some(bare.as_str());
    let features = stream.open(domain, from)?;
    if !tls
        && features
            .child("starttls", NS_TLS)
            .is_some_and(|s| s.child("required", NS_TLS).is_some())
    {
        return Err(Error::protocol(
            "the server requires TLS, and this stream is plaintext: run xmpp-auth under xmpp-connect without --plaintext",
        ));
    }
    let mut pending = Vec::new();
    if options.register {
        register(&mut stream, options, password, tls, &mut pending)?;
    }
    authenticate(&mut stream, &features, options, password, tls)?;
    let features = stream.open(domain, from)?;
    let jid = bind(&mut stream, &features, options, &mut pending)?;
    if let Some(session) = features.child("session", NS_SESSION) {
        if session.child("optional", NS_SESSION).is_none() {
            let iq = Element::new("iq", NS_CLIENT)
                .with_attr("type", "set")
                .with_attr("id", "xa-session")
                .with_child(Element::new("session", NS_SESSION));
            expect_result(
                request(&mut stream, &iq, &mut pending)?,
                "session establishment",
            )?;
        }
    }
    let stream_management = options.stream_management
        && features.child("sm", NS_SM).is_some()
        && enable_sm(&mut stream, &mut pending)?;
    let (framer, writer) = stream.into_parts();
    Ok(Negotiated {
        framer,
        writer,
        jid,
        stream_management,
        pending,
    })
}

/// Send an iq and wait for its answer; other stanzas that arrive meanwhile go to `pending`.
fn request(stream: &mut ServerStream, iq: &Element, pending: &mut Vec<String>) -> Result<Element> {
    let id = iq.attr("id").unwrap_or_default().to_owned();
    stream.send_element(iq)?;
    loop {
        let element = stream.next_element()?;
        if element.is("iq", NS_CLIENT)
            && element.attr("id") == Some(id.as_str())
            && matches!(element.attr("type"), Some("result" | "error"))
        {
            return Ok(element);
        }
        pending.push(
            element
                .to_line(NS_CLIENT)
                .map_err(|e| Error::protocol(e.to_string()))?,
        );
    }
}

/// An iq result, or an error naming the stanza error condition.
fn expect_result(reply: Element, what: &str) -> Result<Element> {
    if reply.attr("type") == Some("result") {
        Ok(reply)
    } else {
        Err(Error::protocol(format!(
            "{what} failed: {}",
            stream::describe_stanza_error(&reply)
        )))
    }
}

/// Create the account by in-band registration (XEP-0077). An existing account is not an error:
/// the login that follows checks the password.
fn register(
    stream: &mut ServerStream,
    options: &Options,
    password: &Password,
    tls: bool,
    pending: &mut Vec<String>,
) -> Result<()> {
    if !tls {
        return Err(Error::config(
            "--register sends the password in clear text: refusing without TLS",
        ));
    }
    let user = options.jid.local().unwrap_or_default();
    let iq = Element::new("iq", NS_CLIENT)
        .with_attr("type", "set")
        .with_attr("id", "xa-register")
        .with_child(
            Element::new("query", NS_REGISTER)
                .with_child(Element::new("username", NS_REGISTER).with_text(user))
                .with_child(Element::new("password", NS_REGISTER).with_text(password.expose())),
        );
    let reply = request(stream, &iq, pending)?;
    if reply.attr("type") == Some("result") {
        return Ok(());
    }
    let condition = stream::describe_stanza_error(&reply);
    if condition.starts_with("conflict") {
        xmpp_pipes::exit::warn(
            "xmpp-auth",
            format_args!("the account {} exists already; logging in", options.jid),
        );
        return Ok(());
    }
    Err(Error::denied(format!(
        "the server refused to register {}: {condition}",
        options.jid
    )))
}

/// The channel-binding data xmpp-connect exported, if any.
fn channel_binding() -> Result<Option<ChannelBinding>> {
    let Some(value) = std::env::var_os(ENV_EXPORTER) else {
        return Ok(None);
    };
    let data = BASE64
        .decode(value.as_encoded_bytes())
        .map_err(|_| Error::config(format!("{ENV_EXPORTER} is not valid base64")))?;
    Ok(Some(ChannelBinding::tls_exporter(data)))
}

/// The exit status and message for a client-side SASL error.
fn sasl_error(err: SaslError) -> Error {
    let status = match &err {
        SaslError::NoMechanism { .. }
        | SaslError::NotOffered { .. }
        | SaslError::PlainWithoutTls => Status::Unavailable,
        SaslError::ServerSignatureMismatch | SaslError::ServerError(_) => Status::NoPerm,
        SaslError::Saslprep(_) => Status::Config,
        SaslError::Random(_) => Status::OsErr,
        SaslError::ServerProtocol(_) | SaslError::Unsupported(_) => Status::Protocol,
    };
    Error::new(status, err.to_string())
}

/// The exit status and message for the server's `<failure/>`.
fn sasl_failure(failure: &Element, jid: &Jid) -> Error {
    let condition = failure
        .elements()
        .find(|e| e.name != "text")
        .map(|e| e.name.clone())
        .unwrap_or_else(|| "not-authorized".into());
    let text = failure
        .child("text", NS_SASL)
        .map(|t| format!(" ({})", t.text().trim()))
        .unwrap_or_default();
    let (status, hint) = match condition.as_str() {
        "not-authorized" => (Status::NoPerm, ": wrong password or unknown account"),
        "account-disabled"
        | "credentials-expired"
        | "invalid-authzid"
        | "encryption-required"
        | "mechanism-too-weak" => (Status::NoPerm, ""),
        "temporary-auth-failure" => (Status::TempFail, ": try again later"),
        _ => (Status::Protocol, ""),
    };
    Error::new(
        status,
        format!("the server refused the login as {jid}: {condition}{text}{hint}"),
    )
}

/// The XEP-0440 namespace where a server lists its channel-binding types.
const NS_SASL_CB: &str = "urn:xmpp:sasl-cb:0";

/// Whether the features list tls-exporter among the channel-binding types (XEP-0440).
fn server_binds_tls_exporter(features: &Element) -> bool {
    features
        .child("sasl-channel-binding", NS_SASL_CB)
        .is_some_and(|list| {
            list.elements()
                .any(|e| e.name == "channel-binding" && e.attr("type") == Some("tls-exporter"))
        })
}

fn authenticate(
    stream: &mut ServerStream,
    features: &Element,
    options: &Options,
    password: &Password,
    tls: bool,
) -> Result<()> {
    let offered: Vec<String> = features
        .child("mechanisms", NS_SASL)
        .map(|m| {
            m.elements()
                .filter(|e| e.name == "mechanism")
                .map(Element::text)
                .collect()
        })
        .unwrap_or_default();
    if offered.is_empty() {
        return Err(Error::protocol("the server offers no SASL mechanism"));
    }
    // Bind to the channel only when the server says it knows tls-exporter
    // (XEP-0440): servers that offer -PLUS for tls-unique alone (ejabberd
    // 23.01) refuse a tls-exporter binding, which would fail the login.
    // With --mechanism ...-PLUS the user has decided.
    let forced_plus = options.mechanism.is_some_and(|m| m.is_plus());
    let cb = channel_binding()?.filter(|_| forced_plus || server_binds_tls_exporter(features));
    let context = ChooseContext {
        tls,
        channel_binding: cb.clone(),
        forced: options.mechanism,
    };
    let mechanism = sasl::choose(&offered, &context).map_err(sasl_error)?;
    let binding = sasl::binding_for(mechanism, &offered, cb).map_err(sasl_error)?;
    let authcid = options.jid.local().unwrap_or_default();
    let mut client = sasl::client(
        mechanism,
        authcid,
        password.expose(),
        options.jid.domain(),
        binding,
    )
    .map_err(sasl_error)?;
    let mut auth = Element::new("auth", NS_SASL).with_attr("mechanism", mechanism.name());
    if let Some(initial) = client.initial().map_err(sasl_error)? {
        auth = auth.with_text(encode(&initial));
    }
    stream.send_element(&auth)?;
    loop {
        let reply = stream.next_element()?;
        if reply.is("challenge", NS_SASL) {
            let challenge = decode(&reply.text())?;
            let response = client.step(&challenge).map_err(sasl_error)?;
            stream.send_element(&Element::new("response", NS_SASL).with_text(encode(&response)))?;
        } else if reply.is("success", NS_SASL) {
            let data = decode(&reply.text())?;
            return client.finish(Some(&data)).map_err(sasl_error);
        } else if reply.is("failure", NS_SASL) {
            return Err(sasl_failure(&reply, &options.jid));
        } else {
            return Err(stream.unexpected(&reply, "a SASL challenge, success or failure"));
        }
    }
}

/// SASL payloads in XMPP: base64, with `=` for an empty one (RFC 6120 §6.4.2).
fn encode(payload: &[u8]) -> String {
    if payload.is_empty() {
        "=".to_owned()
    } else {
        BASE64.encode(payload)
    }
}

fn decode(text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    BASE64
        .decode(text)
        .map_err(|_| Error::protocol("the server sent a SASL payload that is not valid base64"))
}

fn bind(
    stream: &mut ServerStream,
    features: &Element,
    options: &Options,
    pending: &mut Vec<String>,
) -> Result<Jid> {
    if features.child("bind", NS_BIND).is_none() {
        return Err(Error::protocol(
            "the server does not offer resource binding",
        ));
    }
    let mut bind = Element::new("bind", NS_BIND);
    if let Some(resource) = &options.resource {
        bind = bind.with_child(Element::new("resource", NS_BIND).with_text(resource.as_str()));
    }
    let iq = Element::new("iq", NS_CLIENT)
        .with_attr("type", "set")
        .with_attr("id", "xa-bind")
        .with_child(bind);
    let reply = expect_result(request(stream, &iq, pending)?, "resource binding")?;
    let jid = reply
        .child("bind", NS_BIND)
        .and_then(|b| b.child("jid", NS_BIND))
        .map(Element::text)
        .ok_or_else(|| Error::protocol("the server bound a resource but did not say which JID"))?;
    Jid::parse(&jid).map_err(|e| Error::protocol(format!("the server bound an invalid JID: {e}")))
}

/// Enable stream management; `false` when the server refuses it.
fn enable_sm(stream: &mut ServerStream, pending: &mut Vec<String>) -> Result<bool> {
    stream.send_element(&Element::new("enable", NS_SM))?;
    loop {
        let reply = stream.next_element()?;
        if reply.is("enabled", NS_SM) {
            return Ok(true);
        }
        if reply.is("failed", NS_SM) {
            xmpp_pipes::exit::warn(
                "xmpp-auth",
                "the server refused to enable stream management",
            );
            return Ok(false);
        }
        pending.push(
            reply
                .to_line(NS_CLIENT)
                .map_err(|e| Error::protocol(e.to_string()))?,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_binding_needs_tls_exporter_in_the_server_list() {
        let features = |inner: &str| {
            Element::parse(&format!(
                "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>{inner}</stream:features>"
            ))
            .unwrap()
        };
        assert!(!server_binds_tls_exporter(&features("")));
        assert!(!server_binds_tls_exporter(&features(
            "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/></sasl-channel-binding>"
        )));
        assert!(server_binds_tls_exporter(&features(
            "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/>\
             <channel-binding type='tls-exporter'/></sasl-channel-binding>"
        )));
        assert!(!server_binds_tls_exporter(&features(
            "<sasl-channel-binding xmlns='urn:example'><channel-binding type='tls-exporter'/></sasl-channel-binding>"
        )));
    }
}

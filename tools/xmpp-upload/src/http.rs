//! The HTTPS PUT of the file to the slot (ureq on rustls, with
//! xmpp-connect's verifier), and what its failures mean for the exit status.

use crate::progress::Counted;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use xmpp_connect::deadline::Deadline;
use xmpp_connect::tls::Tls;
use xmpp_pipes::exit::{Error, Result, Status};
use xmpp_pipes::upload::Slot;

/// One PUT: the slot, the file's type and size, and the limits.
pub struct Put<'a> {
    /// The slot to PUT to.
    pub slot: &'a Slot,
    /// The `Content-Type` (as in the slot request).
    pub content_type: &'a str,
    /// The file's size, sent as `Content-Length`.
    pub size: u64,
    /// The file's name, for messages.
    pub name: &'a str,
    /// The bound on connecting and on each read and write.
    pub timeout: Duration,
}

/// PUT `body` (of `put.size` bytes) to the slot, trusting as `tls` says.
pub fn put<R: Read + Send + 'static>(put: &Put, tls: Option<&Tls>, body: Counted<R>) -> Result<()> {
    let sent = body.counter();
    let mut agent = ureq::AgentBuilder::new()
        .timeout_connect(put.timeout)
        .timeout_read(put.timeout)
        .timeout_write(put.timeout)
        .redirects(0)
        .user_agent(concat!("xmpp-upload/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = tls {
        agent = agent.tls_config(tls.client_config());
    }
    let mut request = agent
        .build()
        .put(&put.slot.put)
        .set("Content-Type", put.content_type)
        .set("Content-Length", &put.size.to_string());
    for (name, value) in &put.slot.headers {
        request = request.set(name, value);
    }
    match request.send(body) {
        Ok(response) if (200..300).contains(&response.status()) => Ok(()),
        Ok(response) => Err(status_error(put, response.status(), response.status_text())),
        Err(ureq::Error::Status(code, response)) => {
            Err(status_error(put, code, response.status_text()))
        }
        Err(ureq::Error::Transport(transport)) => Err(transport_error(put, tls, &transport, &sent)),
    }
}

/// The HTTP server's answer when it is not success.
fn status_error(put: &Put, code: u16, text: &str) -> Error {
    let status = match code {
        401 | 403 => Status::NoPerm,
        413 => Status::DataErr,
        408 | 429 | 500..=599 => Status::TempFail,
        _ => Status::Protocol,
    };
    let advice = match status {
        Status::NoPerm => "the upload service refused the slot's authorisation",
        Status::DataErr => "the file is too large for the HTTP server",
        Status::TempFail => "try again later",
        _ => "the HTTP server did not take the file",
    };
    Error::new(
        status,
        format!(
            "the upload of {} failed: HTTP {code} {text} from {} ({advice}); no message was sent",
            put.name,
            host_of(&put.slot.put)
        ),
    )
}

/// A failure below HTTP: DNS, TCP, TLS (the certificate), or the connection lost.
fn transport_error(
    put: &Put,
    tls: Option<&Tls>,
    err: &ureq::Transport,
    sent: &Arc<AtomicU64>,
) -> Error {
    let host = host_of(&put.slot.put);
    if let (Some(tls), Some(problem)) = (tls, rustls_error(err)) {
        let io = io::Error::new(io::ErrorKind::InvalidData, problem.clone());
        let refusal = tls.refusal(&host, io, &Deadline::after(put.timeout));
        return refusal.context(format!("the upload of {} to {host}", put.name));
    }
    let sent = sent.load(Ordering::Relaxed);
    let what = match err.kind() {
        ureq::ErrorKind::Dns => {
            return Error::unavailable(format!(
                "the upload host {host} cannot be found ({err}); no message was sent"
            ))
        }
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => {
            return Error::protocol(format!(
                "the slot's put URL cannot be used ({err}); no message was sent"
            ))
        }
        ureq::ErrorKind::ConnectionFailed => format!("could not connect to {host}"),
        _ if sent == 0 => format!("the connection to {host} failed"),
        _ => format!(
            "the connection to {host} was lost after {sent} of {} bytes",
            put.size
        ),
    };
    let cause = err
        .source_io()
        .map_or_else(|| err.to_string(), |io| io.to_string());
    Error::temp(format!(
        "the upload of {} failed: {what} ({cause}); no message was sent (try again later)",
        put.name
    ))
}

/// The rustls error under a transport error, if TLS is what failed.
fn rustls_error(err: &ureq::Transport) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(error) = source {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = error
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner);
        }
        source = error.source();
    }
    None
}

/// The host of a URL (for messages and the certificate's name).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => host.split(':').next().unwrap_or_default().to_owned(),
    }
}

/// Source of a transport error as an I/O error.
trait SourceIo {
    fn source_io(&self) -> Option<&io::Error>;
}

impl SourceIo for ureq::Transport {
    fn source_io(&self) -> Option<&io::Error> {
        std::error::Error::source(self)?.downcast_ref::<io::Error>()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            super::host_of("https://up.example.org:5281/f/x"),
            "up.example.org"
        );
        assert_eq!(super::host_of("https://[::1]:8443/x"), "::1");
        assert_eq!(super::host_of("https://u:p@h/x"), "h");
    }
}

//! STARTTLS (RFC 6120 §5): open a stream, insist that the server offers TLS,
//! ask for it, and stop at `<proceed/>` with nothing read past it.

use crate::deadline::Deadline;
use std::io::BufReader;
use std::net::TcpStream;
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::stream::{Stream, NS_TLS};
use xmpp_pipes::xml::Element;

/// The largest element we accept before TLS (features, proceed, failure).
const MAX_ELEMENT: usize = 64 * 1024;

/// A server that ends the connection (or answers garbage) as soon as our
/// stream header arrives is, most often, one that expects TLS from the first
/// byte: say so, keeping the status.
fn direct_tls_hint(err: Error, deadline: &Deadline) -> Error {
    let at_once = [
        "connection:",
        "the server closed the stream",
        "the server sent ",
    ]
    .iter()
    .any(|start| err.message().starts_with(start));
    if deadline.passed() || !at_once {
        return err;
    }
    let status = err.status();
    Error::new(
        status,
        format!(
            "{}: the server ended the connection at our stream header; if this port speaks \
             TLS from the first byte (XEP-0368, 5223 by default), add --direct-tls",
            err.message()
        ),
    )
}

/// Negotiate STARTTLS for `domain` on `socket`; on success the next byte on
/// the socket belongs to the TLS handshake.
pub fn negotiate(socket: &TcpStream, domain: &str, deadline: &Deadline) -> Result<()> {
    let timed = |err: Error| -> Error {
        // The socket timeouts end where the deadline does.
        if deadline.passed() {
            deadline.error("waiting for the server's STARTTLS answer")
        } else {
            err
        }
    };
    let left = deadline
        .remaining()
        .map_err(|_| deadline.error("before STARTTLS"))?;
    socket.set_read_timeout(Some(left))?;
    socket.set_write_timeout(Some(left))?;
    // A small buffer: the server sends nothing after <proceed/> until our
    // ClientHello, and anything it does send there is refused below.
    let mut stream = Stream::new(BufReader::with_capacity(4096, socket), socket, MAX_ELEMENT);
    let features = stream
        .open(domain, None)
        .map_err(timed)
        .map_err(|err| direct_tls_hint(err, deadline))?;
    if features.child("starttls", NS_TLS).is_none() {
        return Err(Error::protocol(format!(
            "the server for {domain} does not offer STARTTLS; refusing to continue without TLS \
             (if it speaks TLS on another port, use --host HOST:PORT --direct-tls)"
        )));
    }
    stream.send_element(&Element::new("starttls", NS_TLS))?;
    let answer = stream.next_element().map_err(timed)?;
    if answer.is("failure", NS_TLS) {
        return Err(Error::protocol(
            "the server answered STARTTLS with <failure/>: it cannot start TLS now; try again later",
        ));
    }
    if !answer.is("proceed", NS_TLS) {
        return Err(stream.unexpected(&answer, "<proceed/> or <failure/> (STARTTLS)"));
    }
    let (framer, _) = stream.into_parts();
    if !framer.get_ref().buffer().is_empty() {
        // Bytes after <proceed/> before the handshake would be taken as part of
        // the encrypted session by a careless client (STARTTLS command injection).
        return Err(Error::protocol(
            "the server sent data after <proceed/> before the TLS handshake; refusing it",
        ));
    }
    Ok(())
}

//! The reconnect channel between a connector (xmpp-connect) and the session
//! it runs (xmpp-auth), so that the session outlives one connection.
//!
//! The connector runs the next program with its first connection on fds 6
//! and 7, as any UCSPI client does, and, beside them, one end of a
//! `SOCK_SEQPACKET` socket pair on fd [`CONTROL_FD`], named by the
//! environment variable [`ENV_CONTROL`] (so that a program run by another
//! UCSPI client never mistakes an unrelated fd 8 for it). One message a
//! packet, text, at most [`MAX_MESSAGE`] bytes:
//!
//! - `connect` (session → connector): drop the current connection, if any,
//!   and make a new one. Nothing else is ever asked: when, and how often, is
//!   the session's decision ([`crate::session::backoff`]).
//! - `connected` (connector → session), followed by `NAME=VALUE` lines with
//!   the transport facts under the names the first connection's
//!   environment has (`SSL_PROTOCOL`, `XMPP_TLS_EXPORTER`, ...), and one fd
//!   as `SCM_RIGHTS`: a stream socket, read and written both, carrying the
//!   new connection's plaintext. Its end of file is the connection's end.
//! - `failed STATUS MESSAGE` (connector → session): the new connection
//!   could not be made; STATUS is the exit status the connector would have
//!   exited with (75 temporary, 77 certificate refused, ...).
//!
//! The end of file on the channel means the connector is gone: no more
//! connections. This module encodes and decodes the messages ([`Message`])
//! and moves them, with the fd, over the socket ([`send`], [`receive`]).

use crate::exit::Status;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

/// The fd the control channel is on in the session's process.
pub const CONTROL_FD: RawFd = 8;
/// The environment variable that says fd [`CONTROL_FD`] is the control channel (its value is the fd).
pub const ENV_CONTROL: &str = "XMPP_CONNECT_CONTROL";
/// The largest message, in bytes.
pub const MAX_MESSAGE: usize = 4096;

/// One message on the control channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Make a new connection (session → connector).
    Connect,
    /// A new connection is up; its fd comes with the message.
    Connected(Facts),
    /// A new connection could not be made.
    Failed {
        /// What the connector would have exited with.
        status: Status,
        /// Its one-line explanation.
        message: String,
    },
}

/// Transport facts of a connection, by their environment variable names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(pub Vec<(String, String)>);

impl Facts {
    /// The value of one fact.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Message {
    /// The message as sent on the channel.
    pub fn encode(&self) -> String {
        match self {
            Message::Connect => "connect".to_owned(),
            Message::Connected(facts) => {
                let mut text = "connected".to_owned();
                for (name, value) in &facts.0 {
                    text.push('\n');
                    text.push_str(name);
                    text.push('=');
                    text.push_str(&value.replace('\n', " "));
                }
                text
            }
            Message::Failed { status, message } => {
                format!("failed {} {}", status.code(), message.replace('\n', " "))
            }
        }
    }

    /// A message received on the channel, or what is wrong with it.
    pub fn decode(text: &str) -> Result<Message, String> {
        let mut lines = text.split('\n');
        let first = lines.next().unwrap_or_default();
        match first.split_once(' ').unwrap_or((first, "")) {
            ("connect", "") => Ok(Message::Connect),
            ("connected", "") => lines
                .map(|line| {
                    line.split_once('=')
                        .filter(|(name, _)| !name.is_empty())
                        .map(|(name, value)| (name.to_owned(), value.to_owned()))
                        .ok_or_else(|| format!("a fact without NAME=: {line:?}"))
                })
                .collect::<Result<_, _>>()
                .map(|facts| Message::Connected(Facts(facts))),
            ("failed", rest) => {
                let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
                let status = code
                    .parse()
                    .ok()
                    .and_then(Status::from_code)
                    .ok_or_else(|| format!("not an exit status: {code:?}"))?;
                Ok(Message::Failed {
                    status,
                    message: message.to_owned(),
                })
            }
            _ => Err(format!("unknown message {first:?}")),
        }
    }
}

/// Send `message` on the channel, with `fd` passed along when given.
pub fn send(
    channel: BorrowedFd<'_>,
    message: &Message,
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let text = message.encode();
    if text.len() > MAX_MESSAGE {
        return Err(io::Error::other("control message too long"));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let iov = [IoSlice::new(text.as_bytes())];
    loop {
        match rustix::net::sendmsg(channel, &iov, &mut control, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// Receive one message and the fd that came with it; `Ok(None)` at the end
/// of the channel. A message that cannot be decoded is an `InvalidData` error.
pub fn receive(channel: BorrowedFd<'_>) -> io::Result<Option<(Message, Option<OwnedFd>)>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match rustix::net::recvmsg(channel, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(received) => break received,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    };
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received in fds {
                // One fd a message; any more are closed as they drop.
                fd.get_or_insert(received);
            }
        }
    }
    if received.bytes == 0 && fd.is_none() {
        return Ok(None);
    }
    let text = std::str::from_utf8(&buf[..received.bytes])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "control message not UTF-8"))?;
    let message =
        Message::decode(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Some((message, fd)))
}

/// A new control channel: (the connector's end, the session's end), both close-on-exec.
pub fn channel() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    Ok(socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A new stream socket pair for one connection's plaintext: (the connector's end, the session's end).
pub fn connection_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    Ok(socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// Take the session's end of the control channel, when `env_value` (the
/// value of [`ENV_CONTROL`], read by the caller at its edge) names an open
/// fd: it is then owned here and kept out of programs the session starts.
pub fn take(env_value: Option<&str>) -> Option<OwnedFd> {
    let fd: RawFd = env_value?.parse().ok()?;
    if fd != CONTROL_FD || !crate::ucspi::fd_is_open(fd) {
        return None;
    }
    // SAFETY: the fd is open, and the environment says it was placed here for us alone.
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let _ = rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC);
    Some(owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn messages_round_trip() {
        for message in [
            Message::Connect,
            Message::Connected(Facts(vec![
                ("SSL_PROTOCOL".into(), "TLSv1.3".into()),
                ("XMPP_TLS_EXPORTER".into(), "abc=".into()),
            ])),
            Message::Connected(Facts::default()),
            Message::Failed {
                status: Status::NoPerm,
                message: "certificate refused: see --cafile".into(),
            },
        ] {
            assert_eq!(Message::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn bad_messages_are_refused() {
        assert!(Message::decode("hello").is_err());
        assert!(Message::decode("failed 999 x").is_err());
        assert!(Message::decode("failed x y").is_err());
        assert!(Message::decode("connected\nnovalue").is_err());
        assert!(Message::decode("connect now").is_err());
    }

    #[test]
    fn a_message_and_an_fd_cross_the_channel() {
        let (ours, theirs) = channel().unwrap();
        let (a, b) = connection_pair().unwrap();
        let facts = Message::Connected(Facts(vec![("SSL_PROTOCOL".into(), "TLSv1.3".into())]));
        send(ours.as_fd(), &facts, Some(b.as_fd())).unwrap();
        drop(b);
        let (message, fd) = receive(theirs.as_fd()).unwrap().unwrap();
        assert_eq!(message, facts);
        let fd = fd.expect("the fd came along");
        rustix::io::write(&fd, b"ping").unwrap();
        let mut buf = [0u8; 4];
        rustix::io::read(&a, &mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        send(theirs.as_fd(), &Message::Connect, None).unwrap();
        assert_eq!(receive(ours.as_fd()).unwrap().unwrap().0, Message::Connect);
        drop(theirs);
        assert!(receive(ours.as_fd()).unwrap().is_none());
    }
}

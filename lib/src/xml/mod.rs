//! XML for XMPP: exact escaping, the stanza framer and a small element tree.
//!
//! - [`escape`]: text and attribute escaping that produces stanza-line-safe
//!   output (no raw newline) and refuses characters XML 1.0 cannot carry.
//! - [`framer`]: reads an XMPP stream (headers, restarts, arbitrary chunks)
//!   and yields one top-level element at a time as a standalone stanza line,
//!   with bounded memory.
//! - [`element`]: parses one stanza line into a tree for inspection.
//! - [`lines`]: stanza lines judged one by one, a bad line refused and the next taken.
//! - [`boundary`]: where elements end in the bytes a client sends, so TLS records end there.

pub mod boundary;
pub mod element;
pub mod escape;
pub mod feed;
pub mod framer;
pub mod lines;

pub use element::Element;
pub use escape::{escape_attr, escape_text, is_xml_char};
pub use feed::Feed;
pub use framer::{FrameError, Framer, Item, StreamHeader, MAX_DEPTH, MAX_NAMESPACES};

/// The namespace implied on stanza lines.
pub const NS_CLIENT: &str = "jabber:client";
/// The namespace of the stream element and stream-level elements.
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";

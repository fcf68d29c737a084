//! The message that shares an uploaded file: the get URL as the body (what
//! clients that show files inline look for) and as XEP-0066 out-of-band
//! data, with an optional description.

use super::NS_OOB;
use crate::xml::escape::BadChar;
use crate::xml::{Element, NS_CLIENT};

/// What the message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OobMessage<'a> {
    /// The recipient (a JID, or a room for `groupchat`).
    pub to: &'a str,
    /// `chat`, `normal`, `headline` or `groupchat`.
    pub kind: &'a str,
    /// The get URL.
    pub url: &'a str,
    /// The description (`<desc/>`), if any.
    pub desc: Option<&'a str>,
}

/// The message as a stanza line; fails only on a character XML cannot carry.
pub fn oob_message(message: &OobMessage) -> Result<String, BadChar> {
    let mut oob =
        Element::new("x", NS_OOB).with_child(Element::new("url", NS_OOB).with_text(message.url));
    if let Some(desc) = message.desc {
        oob = oob.with_child(Element::new("desc", NS_OOB).with_text(desc));
    }
    Element::new("message", NS_CLIENT)
        .with_attr("to", message.to)
        .with_attr("type", message.kind)
        .with_child(Element::new("body", NS_CLIENT).with_text(message.url))
        .with_child(oob)
        .to_line(NS_CLIENT)
}

//! Delivery receipts (XEP-0184), when asked for: acknowledged by the server
//! is not read by a person; a receipt says a client of the recipient got
//! the message.
//!
//! With `--receipt` each chat or normal message of downstream's asks for a
//! receipt (`<request xmlns='urn:xmpp:receipts'/>`), and [`Receipts`]
//! remembers it until a `<received/>` with its id comes from the account it
//! went to (any of its resources: the client that got it). A receipt from
//! anyone else is nobody's. Group chat messages ask for none (XEP-0184 §5.4:
//! every occupant would answer). Sans I/O.

use crate::jid::Jid;
use crate::xml::Element;

/// The XEP-0184 namespace.
pub const NS_RECEIPTS: &str = "urn:xmpp:receipts";

/// One message waiting for its receipt.
#[derive(Debug)]
struct Waiting {
    id: String,
    to: Jid,
}

/// Downstream's messages that asked for a receipt and have none yet.
#[derive(Debug, Default)]
pub struct Receipts {
    waiting: Vec<Waiting>,
}

impl Receipts {
    /// The message `line` (with its id) is about to go out: with a receipt
    /// request added if it is a message that can have one, remembered.
    pub fn request(&mut self, line: &str) -> String {
        let Ok(message) = Element::parse(line) else {
            return line.to_owned();
        };
        if message.attr("type") == Some("groupchat")
            || message.attr("type") == Some("error")
            || message.child("request", NS_RECEIPTS).is_some()
        {
            return line.to_owned();
        }
        let (Some(id), Some(to)) = (message.attr("id"), message.attr("to")) else {
            return line.to_owned();
        };
        let Ok(to) = Jid::parse(to) else {
            return line.to_owned();
        };
        let Some(end) = line.rfind("</message>") else {
            // `<message .../>` has no body, and nothing to be read.
            return line.to_owned();
        };
        self.waiting.push(Waiting {
            id: id.to_owned(),
            to,
        });
        format!(
            "{}<request xmlns='{NS_RECEIPTS}'/>{}",
            &line[..end],
            &line[end..]
        )
    }

    /// If `message` is the receipt for one we wait for, forget that one and
    /// return its recipient.
    pub fn received(&mut self, message: &Element) -> Option<Jid> {
        if message.name != "message" {
            return None;
        }
        let id = message.child("received", NS_RECEIPTS)?.attr("id")?;
        let from = Jid::parse(message.attr("from")?).ok()?;
        let index = self
            .waiting
            .iter()
            .position(|w| w.id == id && w.to.to_bare() == from.to_bare())?;
        Some(self.waiting.remove(index).to)
    }

    /// Whether every receipt asked for came.
    pub fn all_in(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The recipients still to confirm, in order, each once.
    pub fn missing(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for waiting in &self.waiting {
            let name = waiting.to.to_bare().to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(from: &str, id: &str) -> Element {
        Element::parse(&format!(
            "<message xmlns='jabber:client' from='{from}'><received xmlns='{NS_RECEIPTS}' id='{id}'/></message>"
        ))
        .unwrap()
    }

    #[test]
    fn a_chat_message_asks_and_its_recipient_s_client_answers() {
        let mut receipts = Receipts::default();
        let line = receipts
            .request("<message to='bob@example.org' type='chat' id='m1'><body>hi</body></message>");
        assert_eq!(
            line,
            "<message to='bob@example.org' type='chat' id='m1'><body>hi</body>\
             <request xmlns='urn:xmpp:receipts'/></message>"
        );
        assert!(!receipts.all_in());
        assert_eq!(receipts.missing(), ["bob@example.org"]);
        assert_eq!(receipts.received(&receipt("eve@example.org/x", "m1")), None);
        assert_eq!(
            receipts.received(&receipt("bob@example.org/phone", "m2")),
            None
        );
        assert_eq!(
            receipts
                .received(&receipt("bob@example.org/phone", "m1"))
                .map(|j| j.to_string()),
            Some("bob@example.org".into())
        );
        assert!(receipts.all_in());
        assert_eq!(
            receipts.received(&receipt("bob@example.org/phone", "m1")),
            None
        );
    }

    #[test]
    fn group_chat_and_bodiless_messages_ask_for_none() {
        let mut receipts = Receipts::default();
        for line in [
            "<message to='room@muc.example.org' type='groupchat' id='g'><body>x</body></message>",
            "<message to='bob@example.org' id='e'/>",
            "<message to='bob@example.org'><body>no id</body></message>",
        ] {
            assert_eq!(receipts.request(line), line);
        }
        assert!(receipts.all_in());
    }
}

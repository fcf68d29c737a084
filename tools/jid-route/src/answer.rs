//! Answers a client owes: XEP-0030 disco#info, XEP-0092 version, XEP-0199
//! ping, and RFC 6120 §8.4 `service-unavailable` for any other request.

use crate::stanza::Stanza;
use xmpp_pipes::stream::{NS_PING, NS_STANZA_ERRORS};
use xmpp_pipes::xml::{Element, NS_CLIENT};

/// `http://jabber.org/protocol/disco#info` (XEP-0030).
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// `jabber:iq:version` (XEP-0092).
pub const NS_VERSION: &str = "jabber:iq:version";

/// The start of a reply to `request`: an iq of `reply_type` addressed to its
/// sender (no `to` when the request had no `from`: it came from our server
/// or account), with the same id.
pub fn reply_to(request: &Stanza, reply_type: &str) -> Element {
    let mut reply = Element::new("iq", NS_CLIENT).with_attr("type", reply_type);
    if let Some(from) = request.element.attr("from") {
        reply = reply.with_attr("to", from);
    }
    reply.with_attr("id", request.id.clone().unwrap_or_default())
}

/// An error reply: `<error type='TYPE'><CONDITION xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`.
pub fn error_reply(request: &Stanza, error_type: &str, condition: &str) -> Element {
    reply_to(request, "error").with_child(
        Element::new("error", NS_CLIENT)
            .with_attr("type", error_type)
            .with_child(Element::new(condition, NS_STANZA_ERRORS)),
    )
}

/// The built-in answer to an iq get, if jid-route has one: disco#info
/// (advertising `extra_features` too), version, ping.
pub fn builtin(request: &Stanza, extra_features: &[String]) -> Option<Element> {
    if request.stanza_type != "get" {
        return None;
    }
    let payload = request.element.elements().next()?;
    if payload.is("query", NS_DISCO_INFO) && payload.attr("node").is_none() {
        let mut query = Element::new("query", NS_DISCO_INFO).with_child(
            Element::new("identity", NS_DISCO_INFO)
                .with_attr("category", "client")
                .with_attr("type", "console")
                .with_attr("name", "xmpp-pipes"),
        );
        let mut features: Vec<&str> = vec![NS_DISCO_INFO, NS_VERSION, NS_PING];
        for extra in extra_features {
            if !features.contains(&extra.as_str()) {
                features.push(extra);
            }
        }
        for feature in features {
            query =
                query.with_child(Element::new("feature", NS_DISCO_INFO).with_attr("var", feature));
        }
        return Some(reply_to(request, "result").with_child(query));
    }
    if payload.is("query", NS_VERSION) {
        return Some(
            reply_to(request, "result").with_child(
                Element::new("query", NS_VERSION)
                    .with_child(Element::new("name", NS_VERSION).with_text("xmpp-pipes"))
                    .with_child(
                        Element::new("version", NS_VERSION).with_text(env!("CARGO_PKG_VERSION")),
                    ),
            ),
        );
    }
    if payload.is("ping", NS_PING) {
        return Some(reply_to(request, "result"));
    }
    None
}

/// Check a handler's answer to `request` and address it: one `<iq>` of type
/// `result` or `error`, to which the request's sender and id are set.
pub fn adopt_handler_reply(request: &Stanza, output: &[u8]) -> Result<Element, String> {
    let text = std::str::from_utf8(output).map_err(|_| "its output is not UTF-8".to_owned())?;
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let line = lines
        .next()
        .ok_or_else(|| "it wrote no answer".to_owned())?;
    if lines.next().is_some() {
        return Err("it wrote more than one line".into());
    }
    let reply = Element::parse(line).map_err(|e| format!("its answer is not XML: {e}"))?;
    if !reply.is("iq", NS_CLIENT) || !matches!(reply.attr("type"), Some("result" | "error")) {
        return Err("its answer is not an iq of type result or error".into());
    }
    let mut addressed = reply_to(request, reply.attr("type").unwrap_or("result"));
    addressed.children = reply.children;
    for (key, value) in reply.attrs {
        if !matches!(key.as_str(), "to" | "id" | "type" | "from") {
            addressed = addressed.with_attr(&key, value);
        }
    }
    Ok(addressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(line: &str) -> Stanza {
        Stanza::parse(line.to_owned()).unwrap()
    }

    fn reparse(element: &Element) -> Element {
        Element::parse(&element.to_line(NS_CLIENT).unwrap()).unwrap()
    }

    #[test]
    fn service_unavailable_has_the_rfc_6120_shape() {
        let get = request(
            "<iq from='a@b/c' to='me@b/x' type='get' id='q1'><query xmlns='urn:x:unknown'/></iq>",
        );
        let reply = reparse(&error_reply(&get, "cancel", "service-unavailable"));
        assert!(reply.is("iq", NS_CLIENT));
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(reply.attr("to"), Some("a@b/c"));
        assert_eq!(reply.attr("id"), Some("q1"));
        assert_eq!(reply.attr("from"), None);
        let error = reply.child("error", NS_CLIENT).unwrap();
        assert_eq!(error.attr("type"), Some("cancel"));
        assert!(error
            .child("service-unavailable", NS_STANZA_ERRORS)
            .is_some());
        assert_eq!(
            error_reply(&get, "cancel", "service-unavailable")
                .to_line(NS_CLIENT)
                .unwrap(),
            "<iq type='error' to='a@b/c' id='q1'><error type='cancel'><service-unavailable \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        );
        let from_server = request("<iq type='set' id='s'><x xmlns='y'/></iq>");
        assert_eq!(
            error_reply(&from_server, "cancel", "service-unavailable").attr("to"),
            None
        );
        assert!(builtin(&get, &[]).is_none());
    }

    #[test]
    fn disco_info_version_and_ping() {
        let disco = request(&format!(
            "<iq from='a@b/c' type='get' id='d1'><query xmlns='{NS_DISCO_INFO}'/></iq>"
        ));
        let reply = reparse(&builtin(&disco, &["urn:x:weather".into(), NS_PING.into()]).unwrap());
        assert_eq!(reply.attr("type"), Some("result"));
        assert_eq!(reply.attr("id"), Some("d1"));
        let query = reply.child("query", NS_DISCO_INFO).unwrap();
        let identity = query.child("identity", NS_DISCO_INFO).unwrap();
        assert_eq!(identity.attr("category"), Some("client"));
        assert_eq!(identity.attr("type"), Some("console"));
        let features: Vec<&str> = query
            .elements()
            .filter(|e| e.name == "feature")
            .filter_map(|e| e.attr("var"))
            .collect();
        assert_eq!(
            features,
            [NS_DISCO_INFO, NS_VERSION, NS_PING, "urn:x:weather"]
        );
        let with_node = request(&format!(
            "<iq from='a@b/c' type='get' id='d2'><query xmlns='{NS_DISCO_INFO}' node='x'/></iq>"
        ));
        assert!(builtin(&with_node, &[]).is_none());

        let version =
            request("<iq from='a@b/c' type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>");
        let reply = reparse(&builtin(&version, &[]).unwrap());
        let query = reply.child("query", NS_VERSION).unwrap();
        assert_eq!(
            query.child("name", NS_VERSION).unwrap().text(),
            "xmpp-pipes"
        );
        assert_eq!(
            query.child("version", NS_VERSION).unwrap().text(),
            env!("CARGO_PKG_VERSION")
        );
        assert!(query.child("os", NS_VERSION).is_none(), "no os: privacy");

        let ping =
            request("<iq from='a@b/c' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert_eq!(
            builtin(&ping, &[]).unwrap().to_line(NS_CLIENT).unwrap(),
            "<iq type='result' to='a@b/c' id='p1'/>"
        );
        let set = request("<iq from='a@b/c' type='set' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert!(builtin(&set, &[]).is_none());
    }

    #[test]
    fn handler_answers_are_checked_and_addressed() {
        let get = request("<iq from='a@b/c' type='get' id='w1'><q xmlns='urn:x:weather'/></iq>");
        let reply = adopt_handler_reply(
            &get,
            b"<iq type='result' to='evil@x' id='zz'><q xmlns='urn:x:weather'>sunny</q></iq>\n",
        )
        .unwrap();
        assert_eq!(
            reply.to_line(NS_CLIENT).unwrap(),
            "<iq type='result' to='a@b/c' id='w1'><q xmlns='urn:x:weather'>sunny</q></iq>"
        );
        for bad in [
            &b""[..],
            b"hello\n",
            b"<message/>\n",
            b"<iq type='get'/>\n",
            b"<iq type='result'/>\n<iq type='result'/>\n",
            b"\xff\n",
        ] {
            assert!(adopt_handler_reply(&get, bad).is_err(), "{bad:?}");
        }
    }
}

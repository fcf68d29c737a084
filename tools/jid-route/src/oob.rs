//! A shared file in a message (XEP-0066 out-of-band data, as HTTP upload
//! sends it): its link and description, for the contact's `out`.

use xmpp_pipes::upload::NS_OOB;
use xmpp_pipes::xml::Element;

/// The text of a message for `out`: its body, with the out-of-band link and
/// description when it carries one. A body that is the link itself (what
/// clients that show files inline send) is not repeated: `URL (DESC)`.
/// Without a body, the link alone makes the message's text.
pub fn message_text(message: &Element, body: Option<String>) -> Option<String> {
    let Some(oob) = message.child("x", NS_OOB) else {
        return body;
    };
    let url = oob.child("url", NS_OOB).map(|u| u.text().trim().to_owned());
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return body;
    };
    let desc = oob
        .child("desc", NS_OOB)
        .map(|d| d.text().trim().to_owned())
        .filter(|d| !d.is_empty());
    let link = match desc {
        Some(desc) => format!("{url} ({desc})"),
        None => url.clone(),
    };
    Some(match body.filter(|b| !b.trim().is_empty()) {
        Some(body) if body.trim() == url => link,
        Some(body) => format!("{body}\nfile: {link}"),
        None => link,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &str) -> Option<String> {
        let message = Element::parse(line).unwrap();
        let body = message
            .child("body", xmpp_pipes::xml::NS_CLIENT)
            .map(|b| b.text());
        message_text(&message, body)
    }

    #[test]
    fn links_and_descriptions() {
        let oob = "<x xmlns='jabber:x:oob'><url>https://h/f.png</url><desc>the graph</desc></x>";
        assert_eq!(
            text(&format!(
                "<message><body>https://h/f.png</body>{oob}</message>"
            ))
            .as_deref(),
            Some("https://h/f.png (the graph)")
        );
        assert_eq!(
            text(&format!("<message><body>look</body>{oob}</message>")).as_deref(),
            Some("look\nfile: https://h/f.png (the graph)")
        );
        assert_eq!(
            text(&format!("<message>{oob}</message>")).as_deref(),
            Some("https://h/f.png (the graph)")
        );
        assert_eq!(
            text("<message><body>plain</body></message>").as_deref(),
            Some("plain")
        );
        assert_eq!(
            text("<message><body>b</body><x xmlns='jabber:x:oob'><url> </url></x></message>")
                .as_deref(),
            Some("b")
        );
    }
}

//! The elements of SASL2 (XEP-0388) with Bind2 (XEP-0386), inline stream
//! management (XEP-0198) and FAST tokens (XEP-0484), as plain data:
//! what the features offer ([`Offers`]), the `<authenticate/>` to send
//! ([`Request`]) and what `<success/>` says ([`Success`]). The order of
//! the exchange is [`super::login`]'s business.

use crate::exit::{Error, Result};
use crate::jid::Jid;
use crate::password::Password;
use crate::sasl::HtMechanism;
use crate::stream::NS_SM;
use crate::xml::Element;

/// SASL2's namespace.
pub const NS_SASL2: &str = "urn:xmpp:sasl:2";
/// Bind2's namespace.
pub const NS_BIND2: &str = "urn:xmpp:bind:0";
/// FAST's namespace.
pub const NS_FAST: &str = "urn:xmpp:fast:0";

/// What the features' `<authentication xmlns='urn:xmpp:sasl:2'/>` offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offers {
    /// The SASL mechanisms, as listed.
    pub mechanisms: Vec<String>,
    /// Bind2 is offered inline.
    pub bind: bool,
    /// Bind2 can enable stream management for the new session.
    pub bind_sm: bool,
    /// Stream resumption (XEP-0198) can be done inline.
    pub resume: bool,
    /// The FAST mechanisms, when FAST is offered.
    pub fast: Vec<String>,
}

impl Offers {
    /// SASL2's offers in `features`, if it is offered there.
    pub fn parse(features: &Element) -> Option<Offers> {
        let auth = features.child("authentication", NS_SASL2)?;
        let mechanisms: Vec<String> = auth
            .elements()
            .filter(|e| e.is("mechanism", NS_SASL2))
            .map(|e| e.text().trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        if mechanisms.is_empty() {
            return None;
        }
        let inline = auth.child("inline", NS_SASL2);
        let bind = inline.and_then(|i| i.child("bind", NS_BIND2));
        let bind_sm = bind
            .and_then(|b| b.child("inline", NS_BIND2))
            .is_some_and(|i| {
                i.elements()
                    .any(|f| f.name == "feature" && f.attr("var") == Some(NS_SM))
            });
        let fast = inline
            .and_then(|i| i.child("fast", NS_FAST))
            .map(|f| {
                f.elements()
                    .filter(|e| e.is("mechanism", NS_FAST))
                    .map(|e| e.text().trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        Some(Offers {
            mechanisms,
            bind: bind.is_some(),
            bind_sm,
            resume: inline.is_some_and(|i| i.child("sm", NS_SM).is_some()),
            fast,
        })
    }
}

/// A FAST token the server gave (XEP-0484), kept per account.
#[derive(Debug)]
pub struct Token {
    /// The mechanism the token was asked for (and may only be used with).
    pub mechanism: HtMechanism,
    /// The secret itself.
    pub secret: Password,
    /// When it expires (XEP-0082 date and time), as the server said.
    pub expiry: String,
}

impl Clone for Token {
    fn clone(&self) -> Self {
        Token {
            mechanism: self.mechanism,
            secret: Password::new(self.secret.expose().to_owned()),
            expiry: self.expiry.clone(),
        }
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.mechanism == other.mechanism
            && self.secret.expose() == other.secret.expose()
            && self.expiry == other.expiry
    }
}

impl Eq for Token {}

/// FAST for this login: who we are to the server, and the token we hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fast {
    /// The stable id of this client installation (a UUID v4), sent as the
    /// SASL2 `<user-agent id=…/>` that tokens are issued to.
    pub client_id: String,
    /// The token from an earlier login, if any (and not expired).
    pub token: Option<Token>,
    /// Log in with the token once more, asking the server to invalidate it.
    pub invalidate: bool,
}

/// What becomes of the stored FAST token after a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenUpdate {
    /// Store this new token (asked for, or rotated by the server).
    Store(Token),
    /// Forget the token: the server refused it, or it was invalidated.
    Forget,
}

/// The inline requests of an `<authenticate/>`.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The mechanism.
    pub mechanism: String,
    /// The initial response, base64 already.
    pub initial: Option<String>,
    /// The user-agent id (FAST needs it).
    pub client_id: Option<String>,
    /// Bind a new session with Bind2, with this tag.
    pub bind_tag: Option<String>,
    /// Enable stream management inside Bind2.
    pub enable_sm: bool,
    /// Resume this session inline (id, h).
    pub resume: Option<(String, u32)>,
    /// Ask for a FAST token for this mechanism.
    pub request_token: Option<HtMechanism>,
    /// Authenticating with a FAST token (and whether to invalidate it).
    pub fast: Option<bool>,
}

impl Request {
    /// The `<authenticate/>` element.
    pub fn element(&self) -> Element {
        let mut auth =
            Element::new("authenticate", NS_SASL2).with_attr("mechanism", self.mechanism.as_str());
        if let Some(initial) = &self.initial {
            auth = auth
                .with_child(Element::new("initial-response", NS_SASL2).with_text(initial.as_str()));
        }
        let mut agent = Element::new("user-agent", NS_SASL2)
            .with_child(Element::new("software", NS_SASL2).with_text("xmpp-pipes"));
        if let Some(id) = &self.client_id {
            agent = agent.with_attr("id", id.as_str());
        }
        auth = auth.with_child(agent);
        if let Some((previd, h)) = &self.resume {
            auth = auth.with_child(
                Element::new("resume", NS_SM)
                    .with_attr("previd", previd.as_str())
                    .with_attr("h", h.to_string()),
            );
        }
        if let Some(tag) = &self.bind_tag {
            let mut bind = Element::new("bind", NS_BIND2)
                .with_child(Element::new("tag", NS_BIND2).with_text(tag.as_str()));
            if self.enable_sm {
                bind = bind.with_child(Element::new("enable", NS_SM).with_attr("resume", "true"));
            }
            auth = auth.with_child(bind);
        }
        if let Some(mechanism) = self.request_token {
            auth = auth.with_child(
                Element::new("request-token", NS_FAST).with_attr("mechanism", mechanism.name()),
            );
        }
        if let Some(invalidate) = self.fast {
            let mut fast = Element::new("fast", NS_FAST);
            if invalidate {
                fast = fast.with_attr("invalidate", "true");
            }
            auth = auth.with_child(fast);
        }
        auth
    }
}

/// Inline stream management in `<success/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InlineSm {
    /// Nothing said.
    None,
    /// `<resumed h previd/>`.
    Resumed {
        /// The server's count of our stanzas.
        h: u32,
        /// The session resumed, if it said.
        previd: Option<String>,
    },
    /// `<failed/>` to resume (with the server's `h`, if given), and why.
    ResumeFailed {
        /// The server's count of our stanzas in the old session.
        h: Option<u32>,
        /// The condition.
        why: String,
    },
}

impl InlineSm {
    /// The answer to a resumption (XEP-0198), inline in `<success/>` or on
    /// its own after SASL1: `<resumed/>` or `<failed/>`; `None` for any other
    /// element.
    pub fn of(element: &Element) -> Result<InlineSm> {
        if element.is("resumed", NS_SM) {
            let h = element
                .attr("h")
                .and_then(super::login::counter)
                .ok_or_else(|| super::login::bad_counter(element))?;
            Ok(InlineSm::Resumed {
                h,
                previd: element.attr("previd").map(str::to_owned),
            })
        } else if element.is("failed", NS_SM) {
            let h = match element.attr("h") {
                Some(h) => Some(
                    super::login::counter(h).ok_or_else(|| super::login::bad_counter(element))?,
                ),
                None => None,
            };
            Ok(InlineSm::ResumeFailed {
                h,
                why: element
                    .elements()
                    .find(|e| e.name != "text")
                    .map_or("no reason given".to_owned(), |e| e.name.clone()),
            })
        } else {
            Ok(InlineSm::None)
        }
    }
}

/// Bind2's answer to an inline `<enable/>` (XEP-0198).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmAnswer {
    /// `<enabled/>`, with its resumption id (only when resumable) and `max`.
    Enabled(super::login::Enabled),
    /// `<failed/>`.
    Failed,
}

/// What `<success/>` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Success {
    /// The SASL mechanism's additional data (base64 text), if any.
    pub additional_data: Option<String>,
    /// The negotiated identity: the bare JID, or the full JID after Bind2.
    pub jid: Jid,
    /// `<bound/>` was there: Bind2 bound a new session.
    pub bound: bool,
    /// Bind2's answer to the inline `<enable/>`, if it gave one.
    pub sm_enabled: Option<SmAnswer>,
    /// Inline resumption.
    pub resumption: InlineSm,
    /// A FAST token.
    pub token: Option<(String, String)>,
}

impl Success {
    /// Parses `<success/>` and checks that it is about `account`.
    pub fn parse(success: &Element, account: &Jid) -> Result<Success> {
        let id = success
            .child("authorization-identifier", NS_SASL2)
            .map(|e| e.text().trim().to_owned())
            .ok_or_else(|| {
                Error::protocol("the server's SASL2 success names no authorization identifier")
            })?;
        let jid = Jid::parse(&id).map_err(|e| {
            Error::protocol(format!("the server authorised an invalid JID ({id}): {e}"))
        })?;
        if jid.to_bare() != account.to_bare() {
            return Err(Error::protocol(format!(
                "the server logged us in as {id}, not as {}",
                account.to_bare()
            )));
        }
        let bound = success.child("bound", NS_BIND2);
        let sm_enabled = bound.and_then(|b| {
            if let Some(enabled) = b.child("enabled", NS_SM) {
                let resumable = matches!(enabled.attr("resume"), Some("true" | "1"));
                Some(SmAnswer::Enabled(super::login::Enabled {
                    id: enabled.attr("id").filter(|_| resumable).map(str::to_owned),
                    max: enabled.attr("max").and_then(super::login::counter),
                }))
            } else {
                b.child("failed", NS_SM).map(|_| SmAnswer::Failed)
            }
        });
        let resumption = success
            .elements()
            .find(|e| e.is("resumed", NS_SM) || e.is("failed", NS_SM))
            .map_or(Ok(InlineSm::None), InlineSm::of)?;
        let token = success
            .child("token", NS_FAST)
            .and_then(|t| {
                Some((
                    t.attr("token")?.to_owned(),
                    t.attr("expiry").unwrap_or_default().to_owned(),
                ))
            })
            .filter(|(secret, _)| !secret.is_empty());
        if bound.is_some() && jid.resource().is_none() {
            return Err(Error::protocol(format!(
                "the server bound a session (Bind2) but authorised the bare JID {id}"
            )));
        }
        Ok(Success {
            additional_data: success
                .child("additional-data", NS_SASL2)
                .map(|e| e.text().trim().to_owned()),
            jid,
            bound: bound.is_some(),
            sm_enabled,
            resumption,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(xml: &str) -> Element {
        Element::parse(xml).unwrap()
    }

    /// Prosody 13.0.1 with mod_sasl2, mod_sasl2_bind2, mod_sasl2_sm and mod_sasl2_fast.
    const PROSODY13: &str = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
        <authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1</mechanism>\
        <mechanism>SCRAM-SHA-1-PLUS</mechanism><inline>\
        <bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:carbons:2'/>\
        <feature var='urn:xmpp:csi:0'/><feature var='urn:xmpp:sm:3'/></inline></bind>\
        <sm xmlns='urn:xmpp:sm:3'/><fast xmlns='urn:xmpp:fast:0'>\
        <mechanism>HT-SHA-256-NONE</mechanism></fast></inline></authentication>\
        <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms>\
        </stream:features>";

    #[test]
    fn offers_of_a_server_with_bind2_sm_and_fast() {
        let offers = Offers::parse(&element(PROSODY13)).unwrap();
        assert_eq!(offers.mechanisms, ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"]);
        assert!(offers.bind && offers.bind_sm && offers.resume);
        assert_eq!(offers.fast, ["HT-SHA-256-NONE"]);
    }

    #[test]
    fn no_offers_without_sasl2_or_without_mechanisms() {
        let sasl1 = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
            <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
        assert_eq!(Offers::parse(&element(sasl1)), None);
        let empty = "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
            <authentication xmlns='urn:xmpp:sasl:2'/></stream:features>";
        assert_eq!(Offers::parse(&element(empty)), None);
    }

    #[test]
    fn an_authenticate_with_everything_inline() {
        let request = Request {
            mechanism: "SCRAM-SHA-1".into(),
            initial: Some("biws".into()),
            client_id: Some("d4565fa7-4d72-4749-b3d3-740edbf87770".into()),
            bind_tag: Some("xmpp-pipes".into()),
            enable_sm: true,
            resume: Some(("abc".into(), 7)),
            request_token: Some(HtMechanism::Sha256None),
            fast: None,
        };
        assert_eq!(
            request.element().to_line("jabber:client").unwrap(),
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'>\
             <initial-response>biws</initial-response>\
             <user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>xmpp-pipes</software></user-agent>\
             <resume xmlns='urn:xmpp:sm:3' previd='abc' h='7'/>\
             <bind xmlns='urn:xmpp:bind:0'><tag>xmpp-pipes</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>\
             <request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate>"
        );
    }

    #[test]
    fn a_success_with_bind2_sm_and_a_token() {
        let success = element(
            "<success xmlns='urn:xmpp:sasl:2'><additional-data>dj1ybUY5</additional-data>\
             <authorization-identifier>User@Example.org/xmpp-pipes.abc</authorization-identifier>\
             <bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='s1' resume='1' max='300'/></bound>\
             <token xmlns='urn:xmpp:fast:0' expiry='2026-12-23T00:00:00Z' token='secret-token:fast-1'/></success>",
        );
        let account = Jid::parse("user@example.org").unwrap();
        let success = Success::parse(&success, &account).unwrap();
        assert_eq!(success.jid.to_string(), "user@example.org/xmpp-pipes.abc");
        assert!(success.bound);
        assert_eq!(
            success.sm_enabled,
            Some(SmAnswer::Enabled(super::super::login::Enabled {
                id: Some("s1".into()),
                max: Some(300)
            }))
        );
        assert_eq!(success.resumption, InlineSm::None);
        assert_eq!(
            success.token,
            Some(("secret-token:fast-1".into(), "2026-12-23T00:00:00Z".into()))
        );
        assert_eq!(success.additional_data.as_deref(), Some("dj1ybUY5"));
    }

    #[test]
    fn a_success_for_another_account_or_a_bare_jid_after_bind_is_refused() {
        let account = Jid::parse("user@example.org").unwrap();
        let other = element(
            "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>boss@example.org/x</authorization-identifier></success>",
        );
        let err = Success::parse(&other, &account).unwrap_err();
        assert!(
            err.to_string()
                .contains("as boss@example.org/x, not as user@example.org"),
            "{err}"
        );
        let bare = element(
            "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>user@example.org</authorization-identifier>\
             <bound xmlns='urn:xmpp:bind:0'/></success>",
        );
        assert!(Success::parse(&bare, &account).is_err());
        let none = element("<success xmlns='urn:xmpp:sasl:2'/>");
        assert!(Success::parse(&none, &account).is_err());
    }

    #[test]
    fn inline_resumption_results() {
        let account = Jid::parse("user@example.org").unwrap();
        let resumed = element(
            "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>user@example.org</authorization-identifier>\
             <resumed xmlns='urn:xmpp:sm:3' h='5' previd='s1'/></success>",
        );
        assert_eq!(
            Success::parse(&resumed, &account).unwrap().resumption,
            InlineSm::Resumed {
                h: 5,
                previd: Some("s1".into())
            }
        );
        let failed = element(
            "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>user@example.org/r</authorization-identifier>\
             <failed xmlns='urn:xmpp:sm:3' h='3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>\
             <bound xmlns='urn:xmpp:bind:0'/></success>",
        );
        let failed = Success::parse(&failed, &account).unwrap();
        assert_eq!(
            failed.resumption,
            InlineSm::ResumeFailed {
                h: Some(3),
                why: "item-not-found".into()
            }
        );
        assert!(failed.bound);
        let bad = element(
            "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>user@example.org</authorization-identifier>\
             <resumed xmlns='urn:xmpp:sm:3' h='-1'/></success>",
        );
        assert!(Success::parse(&bad, &account).is_err());
    }
}

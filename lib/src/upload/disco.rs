//! Service discovery for HTTP upload (XEP-0030, XEP-0363 §2): the requests,
//! the items of the server, and the entity that offers
//! `urn:xmpp:http:upload:0` with the `max-file-size` of its XEP-0128 form.

use super::{NS_DISCO_INFO, NS_DISCO_ITEMS, NS_UPLOAD};
use crate::jid::Jid;
use crate::stream::NS_DATA;
use crate::xml::{Element, NS_CLIENT};

/// An upload service, as its disco#info describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service's JID (where slot requests go).
    pub jid: Jid,
    /// The largest file it takes, in bytes, when it says.
    pub max_file_size: Option<u64>,
}

/// `<iq type='get' to=… id=…><query xmlns=NS/></iq>` as a stanza line.
fn query(to: &Jid, id: &str, ns: &str) -> String {
    Element::new("iq", NS_CLIENT)
        .with_attr("type", "get")
        .with_attr("to", to.to_string())
        .with_attr("id", id)
        .with_child(Element::new("query", ns))
        .to_line(NS_CLIENT)
        .expect("JIDs and our ids are XML characters")
}

/// The disco#info request to `to`.
pub fn info_request(to: &Jid, id: &str) -> String {
    query(to, id, NS_DISCO_INFO)
}

/// The disco#items request to `to`.
pub fn items_request(to: &Jid, id: &str) -> String {
    query(to, id, NS_DISCO_ITEMS)
}

/// The JIDs a disco#items result lists (those that are JIDs; items with a
/// `node` are not services of their own and are passed over).
pub fn items(result: &Element) -> Vec<Jid> {
    let Some(query) = result.child("query", NS_DISCO_ITEMS) else {
        return Vec::new();
    };
    query
        .elements()
        .filter(|item| item.name == "item" && item.attr("node").is_none())
        .filter_map(|item| Jid::parse(item.attr("jid")?).ok())
        .collect()
}

/// The upload service `from` is, if its disco#info result lists the feature.
pub fn upload_service(from: &Jid, result: &Element) -> Option<Service> {
    let query = result.child("query", NS_DISCO_INFO)?;
    let offers = query
        .elements()
        .any(|f| f.name == "feature" && f.attr("var") == Some(NS_UPLOAD));
    if !offers {
        return None;
    }
    Some(Service {
        jid: from.clone(),
        max_file_size: max_file_size(query),
    })
}

/// The `max-file-size` field of the form whose FORM_TYPE is the upload
/// namespace (XEP-0363 §2, XEP-0128).
fn max_file_size(query: &Element) -> Option<u64> {
    let form = query.elements().find(|x| {
        x.is("x", NS_DATA) && field(x, "FORM_TYPE").is_some_and(|value| value.trim() == NS_UPLOAD)
    })?;
    field(form, "max-file-size")?.trim().parse().ok()
}

/// The first value of a form's field.
fn field(form: &Element, var: &str) -> Option<String> {
    let field = form
        .elements()
        .find(|f| f.name == "field" && f.attr("var") == Some(var))?;
    Some(field.elements().find(|v| v.name == "value")?.text())
}

//! The slot (XEP-0363 §4–5): the request with the file's name, size and
//! type, and the answer: a put URL with the headers the PUT must carry
//! (only `Authorization`, `Cookie` and `Expires` are allowed), and the get
//! URL the recipients fetch. A service's refusal becomes an error with the
//! status a script can act on.

use super::{too_large, Service, NS_UPLOAD};
use crate::exit::{Error, Result, Status};
use crate::stream::{describe_stanza_error, stanza_error_condition};
use crate::xml::{Element, NS_CLIENT};

/// The headers of a slot that may go into the PUT (XEP-0363 §5).
pub const ALLOWED_HEADERS: [&str; 3] = ["Authorization", "Cookie", "Expires"];
/// The longest URL or header value taken from a slot.
pub const MAX_VALUE: usize = 8192;

/// The file to upload, as the slot request describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The name the recipients see (no directory).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its MIME type.
    pub content_type: String,
}

/// A granted slot: where to PUT the file and where it can be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The URL of the PUT.
    pub put: String,
    /// The headers the PUT must carry (of [`ALLOWED_HEADERS`], names as the XEP spells them).
    pub headers: Vec<(String, String)>,
    /// The URL the recipients fetch.
    pub get: String,
}

/// The slot request to `service` for `file`.
pub fn request(service: &super::Jid, id: &str, file: &FileInfo) -> String {
    Element::new("iq", NS_CLIENT)
        .with_attr("type", "get")
        .with_attr("to", service.to_string())
        .with_attr("id", id)
        .with_child(
            Element::new("request", NS_UPLOAD)
                .with_attr("filename", file.name.as_str())
                .with_attr("size", file.size.to_string())
                .with_attr("content-type", file.content_type.as_str()),
        )
        .to_line(NS_CLIENT)
        .expect("the file name was checked to be XML characters")
}

/// The answer to a slot request: the slot, or why there is none.
pub fn parse_answer(
    answer: &Element,
    file: &FileInfo,
    service: &Service,
    allow_plain_http: bool,
) -> Result<Slot> {
    if answer.attr("type") == Some("error") {
        return Err(refusal(answer, file, service));
    }
    let bad = |why: &str| {
        Error::protocol(format!(
            "the upload service {} answered the slot request with {why}",
            service.jid
        ))
    };
    let slot = answer
        .child("slot", NS_UPLOAD)
        .ok_or_else(|| bad("no <slot/>"))?;
    let put = slot
        .child("put", NS_UPLOAD)
        .ok_or_else(|| bad("no <put/>"))?;
    let get = slot
        .child("get", NS_UPLOAD)
        .ok_or_else(|| bad("no <get/>"))?;
    let put_url = url(put, "put", allow_plain_http, &bad)?;
    let get_url = url(get, "get", allow_plain_http, &bad)?;
    let mut headers = Vec::new();
    for header in put.elements().filter(|h| h.name == "header") {
        let Some(name) = header.attr("name") else {
            continue;
        };
        // Anything else is dropped, as the XEP says the client must.
        let Some(allowed) = ALLOWED_HEADERS
            .iter()
            .find(|allowed| allowed.eq_ignore_ascii_case(name.trim()))
        else {
            continue;
        };
        let value = header.text();
        if value.len() > MAX_VALUE || value.chars().any(|c| c.is_control()) {
            return Err(bad(&format!(
                "a {allowed} header that is not a usable header value"
            )));
        }
        headers.push(((*allowed).to_owned(), value.trim().to_owned()));
    }
    Ok(Slot {
        put: put_url,
        headers,
        get: get_url,
    })
}

/// The `url` attribute of a `<put/>` or `<get/>`: https (http only when
/// allowed), no whitespace or control characters, bounded.
fn url(
    element: &Element,
    which: &str,
    allow_plain_http: bool,
    bad: &dyn Fn(&str) -> Error,
) -> Result<String> {
    let url = element
        .attr("url")
        .ok_or_else(|| bad(&format!("a <{which}/> without url")))?;
    if url.len() > MAX_VALUE || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(&format!("a {which} URL that is not a URL")));
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => Ok(url.to_owned()),
        Some("http") if allow_plain_http => Ok(url.to_owned()),
        Some("http") => Err(Error::new(
            Status::Protocol,
            format!(
                "the upload slot's {which} URL {url} is not https: the file would travel \
                 unencrypted; refused (--plaintext allows it, for a test server only)"
            ),
        )),
        _ => Err(bad(&format!(
            "a {which} URL that is neither https nor http: {url}"
        ))),
    }
}

/// Why the service refused the slot, with the status that says what to do.
fn refusal(answer: &Element, file: &FileInfo, service: &Service) -> Error {
    let error = answer.elements().find(|e| e.name == "error");
    let limit = error
        .and_then(|e| e.child("file-too-large", NS_UPLOAD))
        .and_then(|t| t.child("max-file-size", NS_UPLOAD))
        .and_then(|m| m.text().trim().parse().ok())
        .or(service.max_file_size);
    let condition = stanza_error_condition(answer).unwrap_or("undefined-condition");
    let too_big = error.is_some_and(|e| e.child("file-too-large", NS_UPLOAD).is_some());
    if too_big || (condition == "not-acceptable" && limit.is_some_and(|max| file.size > max)) {
        if let Some(max) = limit {
            return too_large(file, &service.jid, max);
        }
    }
    let status = match condition {
        "not-allowed" | "forbidden" | "not-authorized" => Status::NoPerm,
        "resource-constraint" | "internal-server-error" | "remote-server-timeout" => {
            Status::TempFail
        }
        "not-acceptable" | "bad-request" => Status::DataErr,
        _ if error.and_then(|e| e.attr("type")) == Some("wait") => Status::TempFail,
        _ => Status::Unavailable,
    };
    let too_big_note = match too_big {
        true => " (the file is too large for it)",
        false => "",
    };
    Error::new(
        status,
        format!(
            "the upload service {} refused a slot for {} ({} bytes): {}{too_big_note}",
            service.jid,
            file.name,
            file.size,
            describe_stanza_error(answer)
        ),
    )
}

//! HTTP File Upload (XEP-0363), sans I/O: find the upload service, ask it
//! for a slot, and say what to send once the file is up.
//!
//! [`Upload`] is the whole exchange as a state machine that takes stanza
//! lines and gives back stanza lines to send, then the [`Slot`] to PUT the
//! file to; the caller does the I/O (the stream on fds 6/7, the HTTPS PUT)
//! and keeps the time. Its parts:
//!
//! - [`disco`]: the disco#info / disco#items requests, and which entity
//!   offers `urn:xmpp:http:upload:0` with what `max-file-size`;
//! - [`slot`]: the slot request (filename, size, content type) and its
//!   answer (the put URL with the headers XEP-0363 allows, the get URL);
//! - [`share`]: the message that carries the get URL, as body and as
//!   XEP-0066 out-of-band data, so that clients show the file inline.
//!
//! Nothing from the network is trusted by name: an iq answer counts only
//! when its id is one we sent and it comes from the JID we sent it to.

pub mod disco;
pub mod share;
pub mod slot;

use crate::exit::{Error, Result, Status};
use crate::jid::Jid;
use crate::xml::Element;
use std::collections::BTreeMap;

pub use disco::Service;
pub use share::{oob_message, OobMessage};
pub use slot::{FileInfo, Slot};

/// The XEP-0363 namespace.
pub const NS_UPLOAD: &str = "urn:xmpp:http:upload:0";
/// Service discovery: what an entity is and offers.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Service discovery: the entities a server hosts.
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// Out-of-band data (XEP-0066), the URL of the file in a message.
pub const NS_OOB: &str = "jabber:x:oob";
/// How many of the server's items are asked for their features, at most.
pub const MAX_ITEMS: usize = 32;

/// What [`Upload`] wants done after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The line was not an answer we wait for: not ours to take.
    NotOurs,
    /// Taken; nothing to do until the next answer.
    Wait,
    /// Taken; send these stanza lines.
    Send(Vec<String>),
    /// The slot is granted: PUT the file there.
    Put(Slot),
}

/// Where the exchange is.
#[derive(Debug)]
enum Phase {
    /// Waiting for the disco answers (by id: whom it went to, and what for).
    Discovering,
    /// Waiting for the slot.
    Requesting { id: String, service: Service },
    /// The slot is granted; nothing more is taken.
    Granted,
}

/// What an iq of ours asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    /// disco#info of this entity (index in the order of preference).
    Info(usize),
    /// disco#items of the domain.
    Items,
}

/// One upload's exchange with the server; see the module documentation.
#[derive(Debug)]
pub struct Upload {
    file: FileInfo,
    /// The server's domain (the account's).
    domain: Jid,
    /// Whether a slot URL may be `http:` (`--plaintext`).
    allow_plain_http: bool,
    ids: IdSource,
    phase: Phase,
    /// iqs in flight: id → (to, what).
    pending: BTreeMap<String, (Jid, Asked)>,
    /// Entities asked for disco#info, in order of preference, with what they said.
    candidates: Vec<(Jid, Option<Option<Service>>)>,
}

/// Ids for our iqs: a prefix with a secret part drawn by the caller, and a counter.
#[derive(Debug)]
struct IdSource {
    prefix: String,
    next: u64,
}

impl IdSource {
    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}-{}", self.prefix, self.next)
    }
}

impl Upload {
    /// Start an upload of `file` on the server of `domain` (or straight to
    /// the slot request, when `service` is known); `id_prefix` should carry
    /// a secret part, so that no answer can be planted for an id. Returns the
    /// machine and the first stanza lines to send.
    pub fn start(
        file: FileInfo,
        domain: Jid,
        service: Option<Jid>,
        id_prefix: &str,
        allow_plain_http: bool,
    ) -> Result<(Upload, Vec<String>)> {
        let mut upload = Upload {
            file,
            domain: domain.to_bare(),
            allow_plain_http,
            ids: IdSource {
                prefix: id_prefix.to_owned(),
                next: 0,
            },
            phase: Phase::Discovering,
            pending: BTreeMap::new(),
            candidates: Vec::new(),
        };
        let lines = match service {
            Some(service) => {
                upload.candidates.push((service.clone(), None));
                vec![upload.ask(service, Asked::Info(0))]
            }
            None => {
                let domain = upload.domain.clone();
                upload.candidates.push((domain.clone(), None));
                vec![
                    upload.ask(domain.clone(), Asked::Info(0)),
                    upload.ask(domain, Asked::Items),
                ]
            }
        };
        Ok((upload, lines))
    }

    /// Send an iq of ours to `to` and remember it.
    fn ask(&mut self, to: Jid, what: Asked) -> String {
        let id = self.ids.next();
        let line = match what {
            Asked::Info(_) => disco::info_request(&to, &id),
            Asked::Items => disco::items_request(&to, &id),
        };
        self.pending.insert(id, (to, what));
        line
    }

    /// Take a stanza line from the server.
    pub fn on_line(&mut self, line: &str) -> Result<Step> {
        let Ok(stanza) = Element::parse(line) else {
            return Ok(Step::NotOurs);
        };
        if stanza.name != "iq" || !matches!(stanza.attr("type"), Some("result" | "error")) {
            return Ok(Step::NotOurs);
        }
        let Some(id) = stanza.attr("id") else {
            return Ok(Step::NotOurs);
        };
        match &self.phase {
            Phase::Discovering => self.on_disco_answer(id.to_owned(), &stanza),
            Phase::Requesting { id: asked, service } => {
                if id != asked || !from_is(&stanza, &service.jid) {
                    return Ok(Step::NotOurs);
                }
                let slot = slot::parse_answer(&stanza, &self.file, service, self.allow_plain_http)?;
                self.phase = Phase::Granted;
                Ok(Step::Put(slot))
            }
            Phase::Granted => Ok(Step::NotOurs),
        }
    }

    /// A disco answer (if it is one of ours, from where it went).
    fn on_disco_answer(&mut self, id: String, stanza: &Element) -> Result<Step> {
        let Some((to, _)) = self.pending.get(&id) else {
            return Ok(Step::NotOurs);
        };
        if !from_is(stanza, to) {
            return Ok(Step::NotOurs);
        }
        let (to, asked) = self.pending.remove(&id).expect("looked up above");
        let is_result = stanza.attr("type") == Some("result");
        let mut send = Vec::new();
        match asked {
            Asked::Info(index) => {
                let found = is_result
                    .then(|| disco::upload_service(&to, stanza))
                    .flatten();
                self.candidates[index].1 = Some(found);
            }
            Asked::Items if is_result => {
                for item in disco::items(stanza).into_iter().take(MAX_ITEMS) {
                    if self.candidates.iter().any(|(jid, _)| *jid == item) {
                        continue;
                    }
                    let index = self.candidates.len();
                    self.candidates.push((item.clone(), None));
                    send.push(self.ask(item, Asked::Info(index)));
                }
            }
            Asked::Items => {}
        }
        if !self.pending.is_empty() {
            return Ok(match send.is_empty() {
                true => Step::Wait,
                false => Step::Send(send),
            });
        }
        let service = self
            .candidates
            .iter()
            .find_map(|(_, said)| said.clone().flatten())
            .ok_or_else(|| self.no_service())?;
        if let Some(max) = service.max_file_size {
            if self.file.size > max {
                return Err(too_large(&self.file, &service.jid, max));
            }
        }
        let id = self.ids.next();
        let request = slot::request(&service.jid, &id, &self.file);
        self.phase = Phase::Requesting { id, service };
        Ok(Step::Send(vec![request]))
    }

    /// The error for a server where nobody offers HTTP upload.
    fn no_service(&self) -> Error {
        let asked: Vec<String> = self.candidates.iter().map(|(j, _)| j.to_string()).collect();
        Error::unavailable(format!(
            "no HTTP upload service (XEP-0363, {NS_UPLOAD}) at {} (asked {}): \
             the server has none enabled (Prosody: mod_http_file_share), or name one with --service",
            self.domain,
            asked.join(", ")
        ))
    }

    /// The ids of the iqs still unanswered (for a timeout's message).
    pub fn waiting_for(&self) -> String {
        match &self.phase {
            Phase::Discovering => {
                let whom: Vec<String> = self.pending.values().map(|(j, _)| j.to_string()).collect();
                format!("service discovery answers from {}", whom.join(", "))
            }
            Phase::Requesting { service, .. } => format!("an upload slot from {}", service.jid),
            Phase::Granted => "nothing".into(),
        }
    }
}

/// The error for a file over the service's limit (65: the data, not the service).
pub(crate) fn too_large(file: &FileInfo, service: &Jid, max: u64) -> Error {
    Error::new(
        Status::DataErr,
        format!(
            "{} is {} bytes, more than the {max} bytes ({}) that the upload service {service} takes; \
             nothing was uploaded",
            file.name,
            file.size,
            human_size(max)
        ),
    )
}

/// A size for people: `20.0 MiB`, `512 KiB`, `12 bytes`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Whether `stanza` comes from `jid` (compared as JIDs, normalised).
fn from_is(stanza: &Element, jid: &Jid) -> bool {
    stanza
        .attr("from")
        .and_then(|from| Jid::parse(from).ok())
        .is_some_and(|from| from == *jid)
}

#[cfg(test)]
mod tests;

//! Catching up from the account's own archive (XEP-0313 MAM, with XEP-0059
//! paging): the queries to send and the reading of what comes back, without
//! I/O. The router sends [`CatchUp::start`]'s query when a new session
//! begins, hands every message and iq answer to [`CatchUp::result`] and
//! [`CatchUp::fin`], and sends the next page's query they return.
//!
//! Results and the `<fin/>` are taken only from the archive asked (our own
//! account: no `from`, or our bare JID; a room's: the room's bare JID) and
//! only for the query in progress (its `queryid`, its iq `id`, both drawn at
//! random): an archive result from anyone else is forged (the CVE-2017-5589
//! class) and goes to `DIR/unrouted`. A room's archive (XEP-0313 §6, MUC
//! MAM) is a [`CatchUp::of_room`].

use crate::ids::{fresh_id, random_word};
use crate::stanza::{Kind, Stanza};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::xml::{Element, NS_CLIENT};

/// XEP-0313 message archive management.
pub const NS_MAM: &str = "urn:xmpp:mam:2";
/// XEP-0059 result set management.
const NS_RSM: &str = "http://jabber.org/protocol/rsm";
/// XEP-0004 data forms.
const NS_DATA: &str = "jabber:x:data";
/// XEP-0297 stanza forwarding.
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0359 stanza ids.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// Results asked for in one page.
pub const PAGE: usize = 100;

/// Where a catch-up starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The whole archive (a tree that never caught up).
    Beginning,
    /// After this archive id (the last the tree wrote).
    After(String),
    /// From this time on (the archive no longer knows the id).
    Start(jiff::Timestamp),
}

/// One archived message, as [`CatchUp::result`] read it.
#[derive(Debug)]
pub struct Item<'a> {
    /// Its id in the archive.
    pub id: String,
    /// When the archive took it (the `<forwarded>`'s delay).
    pub when: Option<jiff::Timestamp>,
    /// The archived message.
    pub message: &'a Element,
}

/// What the `<fin/>` (or an error) of the query in progress means.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Ask for the next page with this query.
    Page(Element),
    /// The catch-up is over: the archive had no more.
    Done,
    /// The catch-up is over: it failed, for this reason.
    Failed(String),
}

#[derive(Debug, Clone)]
struct Query {
    id: String,
    queryid: String,
    since: Since,
}

/// A catch-up, in progress or not.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The room whose archive is asked; `None`: our own account's.
    room: Option<Jid>,
    query: Option<Query>,
    /// Pages asked for in this catch-up.
    pub pages: u64,
}

impl CatchUp {
    /// A catch-up from the archive of `room` (a bare JID), not our account's.
    pub fn of_room(room: Jid) -> CatchUp {
        CatchUp {
            room: Some(room),
            ..CatchUp::default()
        }
    }

    /// Whether `stanza` comes from the archive asked: our own account (`me`),
    /// or the room, by its bare JID.
    fn comes_from_archive(&self, stanza: &Stanza, me: &Jid) -> bool {
        match &self.room {
            None => stanza.from_account(me),
            Some(room) => matches!(&stanza.from, Some(Ok(from)) if from == room),
        }
    }

    /// Whether a catch-up is in progress.
    pub fn active(&self) -> bool {
        self.query.is_some()
    }

    /// Begin a catch-up (giving up one in progress): the query of its first page.
    pub fn start(&mut self, since: Since) -> Element {
        self.pages = 0;
        self.page(since)
    }

    /// The catch-up ends without its `<fin/>` (the query could not be sent).
    pub fn abandon(&mut self) {
        self.query = None;
    }

    fn page(&mut self, since: Since) -> Element {
        let query = Query {
            id: fresh_id("mam"),
            queryid: random_word(),
            since,
        };
        self.pages += 1;
        let element = query_element(&query, self.room.as_ref());
        self.query = Some(query);
        element
    }

    /// If `stanza` is a result of the query in progress: `Some(Ok(item))`
    /// when it comes from the archive asked (see [`CatchUp::comes_from_archive`]),
    /// `Some(Err(why))` when it does not, or names a query we did not send,
    /// or cannot be read. `None`: no archive result at all.
    pub fn result<'a>(&self, stanza: &'a Stanza, me: &Jid) -> Option<Result<Item<'a>, String>> {
        if stanza.kind != Kind::Message {
            return None;
        }
        let result = stanza.element.child("result", NS_MAM)?;
        if !self.comes_from_archive(stanza, me) {
            let from = stanza.element.attr("from").unwrap_or_default();
            let asked = match &self.room {
                None => "our own account".to_owned(),
                Some(room) => format!("the room {room}"),
            };
            return Some(Err(format!(
                "an archive result from {from}, not from {asked}: forged"
            )));
        }
        let asked = self
            .query
            .as_ref()
            .is_some_and(|query| result.attr("queryid") == Some(query.queryid.as_str()));
        if !asked {
            return Some(Err("an archive result nobody asked for".into()));
        }
        let forwarded = result.child("forwarded", NS_FORWARD);
        let message = forwarded.and_then(|f| f.child("message", NS_CLIENT));
        Some(match (result.attr("id"), message) {
            (Some(id), Some(message)) => Ok(Item {
                id: id.to_owned(),
                when: forwarded.and_then(crate::event::delay),
                message,
            }),
            _ => Err("an archive result without an id or a message".into()),
        })
    }

    /// If `stanza` answers the query in progress (its iq id, from the
    /// archive asked): what comes next. `None`: not that answer.
    pub fn fin(&mut self, stanza: &Stanza, me: &Jid) -> Option<Next> {
        let query = self.query.as_ref()?;
        if stanza.kind != Kind::Iq
            || stanza.id.as_deref() != Some(query.id.as_str())
            || !self.comes_from_archive(stanza, me)
        {
            return None;
        }
        let since = query.since.clone();
        self.query = None;
        if stanza.stanza_type == "error" {
            let why = xmpp_pipes::stream::describe_stanza_error(&stanza.element);
            // The archive forgot the id (expired): from its time on, then.
            return Some(match since {
                Since::After(_) if why.starts_with("item-not-found") => {
                    Next::Failed(format!("the archive no longer knows the last id: {why}"))
                }
                _ => Next::Failed(format!("the archive refused the query: {why}")),
            });
        }
        if stanza.stanza_type != "result" {
            return None;
        }
        let Some(fin) = stanza.element.child("fin", NS_MAM) else {
            return Some(Next::Failed("the archive's answer has no <fin/>".into()));
        };
        let last = fin
            .child("set", NS_RSM)
            .and_then(|set| set.child("last", NS_RSM))
            .map(Element::text)
            .filter(|last| !last.is_empty());
        match last {
            Some(last) if fin.attr("complete") != Some("true") => {
                Some(Next::Page(self.page(Since::After(last))))
            }
            _ => Some(Next::Done),
        }
    }
}

/// Whether the archive no longer knowing the last id is why a catch-up failed.
pub fn forgot_the_id(why: &str) -> bool {
    why.starts_with("the archive no longer knows")
}

fn query_element(query: &Query, room: Option<&Jid>) -> Element {
    let field = |var: &str, value: String| {
        Element::new("field", NS_DATA)
            .with_attr("var", var)
            .with_child(Element::new("value", NS_DATA).with_text(value))
    };
    let mut form = Element::new("x", NS_DATA)
        .with_attr("type", "submit")
        .with_child(field("FORM_TYPE", NS_MAM.to_owned()).with_attr("type", "hidden"));
    let mut set = Element::new("set", NS_RSM)
        .with_child(Element::new("max", NS_RSM).with_text(PAGE.to_string()));
    match &query.since {
        Since::Beginning => {}
        Since::After(id) => set = set.with_child(Element::new("after", NS_RSM).with_text(id)),
        Since::Start(when) => form = form.with_child(field("start", when.to_string())),
    }
    let mut iq = Element::new("iq", NS_CLIENT);
    if let Some(room) = room {
        iq = iq.with_attr("to", room.to_string());
    }
    iq.with_attr("type", "set")
        .with_attr("id", query.id.clone())
        .with_child(
            Element::new("query", NS_MAM)
                .with_attr("queryid", query.queryid.clone())
                .with_child(form)
                .with_child(set),
        )
}

/// The XEP-0359 stanza-id that `by` gave `message`, if any.
pub fn stanza_id(message: &Element, by: &Jid) -> Option<String> {
    message
        .elements()
        .filter(|e| e.is("stanza-id", NS_SID))
        .find(|e| e.attr("by").and_then(|b| Jid::parse(b).ok()).as_ref() == Some(by))
        .and_then(|e| e.attr("id"))
        .map(str::to_owned)
}

/// The XEP-0359 origin-id of `message`, if any.
pub fn origin_id(message: &Element) -> Option<String> {
    message
        .child("origin-id", NS_SID)
        .and_then(|e| e.attr("id"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Jid {
        Jid::parse("bob@x/tree").unwrap()
    }

    fn stanza(line: String) -> Stanza {
        Stanza::parse(line).unwrap()
    }

    fn ids(query: &Element) -> (String, String) {
        let q = query.child("query", NS_MAM).unwrap();
        (
            query.attr("id").unwrap().to_owned(),
            q.attr("queryid").unwrap().to_owned(),
        )
    }

    fn result(from: &str, queryid: &str) -> String {
        format!(
            "<message {from}><result xmlns='urn:xmpp:mam:2' queryid='{queryid}' id='A7'>\
             <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' \
             stamp='2026-12-01T10:00:00Z'/><message xmlns='jabber:client' from='alice@x/p' \
             to='bob@x' type='chat'><body>hi</body></message></forwarded></result></message>"
        )
    }

    #[test]
    fn the_query_asks_after_the_last_id_and_its_ids_are_fresh() {
        let mut catch_up = CatchUp::default();
        let first = catch_up.start(Since::After("A1".into()));
        let line = first.to_line(NS_CLIENT).unwrap();
        assert!(line.contains("<after>A1</after>"), "{line}");
        assert!(line.contains(&format!("<max>{PAGE}</max>")), "{line}");
        let (id, queryid) = ids(&first);
        assert_eq!(queryid.len(), 16);
        let again = catch_up.start(Since::Start("2026-12-01T10:00:00Z".parse().unwrap()));
        assert_ne!(ids(&again), (id, queryid));
        let line = again.to_line(NS_CLIENT).unwrap();
        assert!(
            line.contains("<field var='start'><value>2026-12-01T10:00:00Z</value>"),
            "{line}"
        );
        assert!(!line.contains("<after>"), "{line}");
    }

    #[test]
    fn results_are_taken_only_from_our_account_and_for_our_query() {
        let mut catch_up = CatchUp::default();
        let (_, queryid) = ids(&catch_up.start(Since::Beginning));
        let ours = stanza(result("", &queryid));
        let item = catch_up.result(&ours, &me()).unwrap().unwrap();
        assert_eq!(item.id, "A7");
        assert_eq!(item.when, Some("2026-12-01T10:00:00Z".parse().unwrap()));
        assert_eq!(item.message.attr("from"), Some("alice@x/p"));
        let bare = stanza(result("from='bob@x'", &queryid));
        assert!(catch_up.result(&bare, &me()).unwrap().is_ok());
        for forged in [
            result("from='eve@x'", &queryid),
            result("from='bob@x/other'", &queryid),
            result("", "guessed"),
        ] {
            assert!(catch_up.result(&stanza(forged), &me()).unwrap().is_err());
        }
        let plain = stanza("<message from='alice@x'><body>x</body></message>".into());
        assert!(catch_up.result(&plain, &me()).is_none());
    }

    #[test]
    fn a_room_s_archive_is_asked_of_the_room_and_answers_only_from_it() {
        let room = Jid::parse("room@muc.x").unwrap();
        let mut catch_up = CatchUp::of_room(room);
        let query = catch_up.start(Since::After("R1".into()));
        assert_eq!(query.attr("to"), Some("room@muc.x"));
        let (id, queryid) = ids(&query);
        let from_room = stanza(result("from='room@muc.x'", &queryid));
        assert!(catch_up.result(&from_room, &me()).unwrap().is_ok());
        for forged in [
            result("", &queryid),
            result("from='bob@x'", &queryid),
            result("from='room@muc.x/eve'", &queryid),
        ] {
            let why = catch_up
                .result(&stanza(forged), &me())
                .unwrap()
                .unwrap_err();
            assert!(why.contains("not from the room room@muc.x"), "{why}");
        }
        let fin = |from: &str| {
            stanza(format!(
                "<iq type='result' id='{id}' {from}><fin xmlns='urn:xmpp:mam:2' complete='true'/></iq>"
            ))
        };
        assert_eq!(
            catch_up.fin(&fin(""), &me()),
            None,
            "ours is not the room's"
        );
        assert_eq!(catch_up.fin(&fin("from='room@muc.x/eve'"), &me()), None);
        assert_eq!(
            catch_up.fin(&fin("from='room@muc.x'"), &me()),
            Some(Next::Done)
        );
    }

    #[test]
    fn pages_follow_the_last_id_until_the_archive_is_complete() {
        let mut catch_up = CatchUp::default();
        let (id, _) = ids(&catch_up.start(Since::Beginning));
        let fin = |id: &str, from: &str, complete: &str| {
            stanza(format!(
                "<iq type='result' id='{id}' {from}><fin xmlns='urn:xmpp:mam:2' {complete}>\
                 <set xmlns='http://jabber.org/protocol/rsm'><first>A1</first><last>A9</last>\
                 </set></fin></iq>"
            ))
        };
        assert_eq!(catch_up.fin(&fin(&id, "from='eve@x'", ""), &me()), None);
        assert_eq!(catch_up.fin(&fin("other", "", ""), &me()), None);
        let Some(Next::Page(next)) = catch_up.fin(&fin(&id, "", ""), &me()) else {
            panic!("a next page");
        };
        let line = next.to_line(NS_CLIENT).unwrap();
        assert!(line.contains("<after>A9</after>"), "{line}");
        let (id, _) = ids(&next);
        assert_eq!(catch_up.pages, 2);
        assert_eq!(
            catch_up.fin(&fin(&id, "", "complete='true'"), &me()),
            Some(Next::Done)
        );
        assert!(!catch_up.active());
    }

    #[test]
    fn an_error_ends_the_catch_up_and_says_why() {
        let mut catch_up = CatchUp::default();
        let (id, _) = ids(&catch_up.start(Since::After("gone".into())));
        let error = stanza(format!(
            "<iq type='error' id='{id}'><error type='cancel'><item-not-found \
             xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ));
        let Some(Next::Failed(why)) = catch_up.fin(&error, &me()) else {
            panic!("failed");
        };
        assert!(forgot_the_id(&why), "{why}");
    }

    #[test]
    fn stanza_ids_count_only_from_whom_they_name() {
        let message = Element::parse(
            "<message><stanza-id xmlns='urn:xmpp:sid:0' by='eve@x' id='E'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' by='bob@x' id='B'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='O'/></message>",
        )
        .unwrap();
        let bob = Jid::parse("bob@x").unwrap();
        assert_eq!(stanza_id(&message, &bob), Some("B".into()));
        assert_eq!(
            stanza_id(&message, &Jid::parse("room@muc.x").unwrap()),
            None
        );
        assert_eq!(origin_id(&message), Some("O".into()));
    }
}

//! The router: one stanza line at a time, through the rules, the built-in
//! answers and the default destinations (`--dir`, `--print`).

use crate::actions::{write_stdout, Actions};
use crate::answer;
use crate::archive::{forgot_the_id, origin_id, stanza_id, CatchUp, Item, Next, Since, NS_FORWARD};
use crate::dir::DirSink;
use crate::event::{interpret, own_message, quoted, refused, Event};
use crate::presence::Presences;
use crate::print;
use crate::repeats::Repeats;
use crate::reply::{Handlers, ReplyPath};
use crate::rules::Rule;
use crate::stanza::{one_line, Kind, Stanza};
use crate::written::{archive_key, origin_key, room_key, Written};
use xmpp_pipes::exit::{warn, Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::session::state::{NS_CARBONS, NS_EVENTS};
use xmpp_pipes::stream::describe_stream_error;
use xmpp_pipes::xml::{Element, NS_CLIENT, NS_STREAMS};

const TOOL: &str = "jid-route";
/// How many live messages wait for a catch-up to end, at most; past it
/// they are written as they come.
pub const HELD: usize = 10_000;
use crate::event::delay;
use crate::room::{shown_nick, Rooms};
use crate::roster::{Roster, NS_ROSTER};
use crate::stanza::printable;

/// How jid-route was asked to route.
pub struct Config {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// `--dir`: the tree, for stanzas no rule matched.
    pub dir: Option<DirSink>,
    /// `--print`: readable lines on stdout, for stanzas no rule matched.
    pub print: bool,
    /// `--me` / `$XMPP_JID`: our own JID.
    pub me: Option<Jid>,
    /// Where replies go; none: iq requests are not answered.
    pub reply: Option<ReplyPath>,
    /// Handlers of iq requests.
    pub handlers: Handlers,
    /// `--archive`: catch up from the account's archive on each new
    /// session, and write nothing twice (needs `dir` and `me`).
    pub archive: bool,
    /// `--roster`: fetch the roster on each new session and keep it in
    /// `DIR/roster` (needs `dir`).
    pub roster: bool,
}

/// How a message event is to be written (see [`Router::message`]).
#[derive(Debug, Clone, Default)]
struct Said {
    /// The keys that name it ([`crate::written`]); none: it cannot be told apart.
    keys: Vec<String>,
    /// A room's message (its line times the room's record).
    room: bool,
    /// The stanza-id the room gave it (its place in the room's archive).
    room_id: Option<String>,
    /// It came live (not from the archive): it waits while a catch-up runs.
    live: bool,
    /// It came from an archive (ours or a room's), not as it was said.
    from_archive: bool,
}

/// A catch-up from a room's own archive (MUC MAM), begun when we enter it.
struct RoomCatchUp {
    catch_up: CatchUp,
    /// The room's messages that came meanwhile (its history, live lines),
    /// written after it.
    held: Vec<(Event, String, Said)>,
    taken: u64,
    known: u64,
}

/// `--archive`: the catch-up in progress and what the tree has written.
struct Archived {
    catch_up: CatchUp,
    written: Written,
    /// Live messages that came during the catch-up, written after it.
    held: Vec<(Event, String, Said)>,
    /// Messages written from the archive in this catch-up.
    taken: u64,
    /// Messages not written again (in the tree already) in this catch-up.
    known: u64,
    /// The catch-ups from rooms' archives in progress.
    rooms: std::collections::HashMap<Jid, RoomCatchUp>,
}

/// Whether to read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// The stream was closed (`</stream:stream>`): stop reading.
    End,
}

/// The router and what it counted.
pub struct Router {
    config: Config,
    actions: Actions,
    presences: Presences,
    /// Stanzas no rule matched and no default destination took.
    pub unmatched: u64,
    /// iq requests left unanswered for want of a reply path.
    pub unanswered: u64,
    /// Messages seen already (the same origin-id from the same sender).
    repeats: Repeats,
    /// The rooms we are in, from our own presence in them (XEP-0045 status
    /// 110): only their `groupchat` is a room's; and their occupants.
    rooms: Rooms,
    /// What the room presence being routed meant, for [`Router::show`].
    room_seen: Option<Vec<String>>,
    /// `--archive`.
    archive: Option<Archived>,
    /// `--roster`.
    roster: Option<Roster>,
    /// Group chat presences that claimed a room we never asked to join.
    unasked_rooms: u64,
}

impl Router {
    /// A router; opens the rules' files (73 if one cannot be opened).
    pub fn new(config: Config) -> Result<Router> {
        let archive = match (config.archive, &config.dir, &config.me) {
            (false, _, _) => None,
            (true, Some(dir), Some(_)) => Some(Archived {
                catch_up: CatchUp::default(),
                written: dir.load_written()?,
                held: Vec::new(),
                taken: 0,
                known: 0,
                rooms: Default::default(),
            }),
            (true, dir, me) => {
                archive_needs(dir.is_some(), me.is_some())?;
                None
            }
        };
        if config.roster && config.dir.is_none() {
            return Err(Error::usage("--roster needs --dir"));
        }
        Ok(Router {
            archive,
            roster: config.roster.then(Roster::default),
            actions: Actions::open(&config.rules)?,
            config,
            presences: Presences::default(),
            unmatched: 0,
            unanswered: 0,
            repeats: Repeats::default(),
            rooms: Rooms::default(),
            room_seen: None,
            unasked_rooms: 0,
        })
    }

    /// Route stanza line number `number`. A line that is not a well-formed
    /// element, or is a `jabber:client` element other than a stanza, is an error (65).
    pub fn route(&mut self, number: u64, line: String) -> Result<Flow> {
        if line.trim() == xmpp_pipes::stream::CLOSE {
            return Ok(Flow::End);
        }
        if line.trim().is_empty() {
            return Ok(Flow::Continue);
        }
        let stanza = Stanza::parse(line)
            .map_err(|e| Error::data(format!("line {number}: not a stanza line: {e}")))?;
        if stanza.element.ns == NS_EVENTS && stanza.element.attr("from").is_none() {
            match stanza.element.name.as_str() {
                "session" => self.session_event(&stanza)?,
                // A message of ours the server acknowledged: now it is said.
                "acked" => self.acked(&stanza)?,
                // A join xmpp-auth sends: only a room asked is a room.
                "joining" => match stanza.element.attr("room").and_then(|r| Jid::parse(r).ok()) {
                    Some(room) => self.rooms.joining(room.to_bare()),
                    None => warn(TOOL, "ignoring a <joining/> event without a valid room"),
                },
                // A line of ours xmpp-auth did not send: say so where it was said.
                "refused" => {
                    if let Some(Event::Notice { contact, text }) = refused(&stanza.element) {
                        self.show_notice(contact, text)?;
                    }
                }
                other => warn(
                    TOOL,
                    format!("ignoring a session event <{}>", one_line(other)),
                ),
            }
            return Ok(Flow::Continue);
        }
        if let Kind::Other(name) = &stanza.kind {
            if stanza.element.ns == NS_CLIENT {
                return Err(Error::data(format!(
                    "line {number}: <{name}> is not a stanza (message, presence or iq)"
                )));
            }
        }
        let sender = match &stanza.from {
            None => self.config.me.as_ref().map(Jid::to_bare),
            Some(Ok(jid)) => Some(jid.clone()),
            Some(Err(why)) => {
                self.unroutable(number, &stanza, &format!("bad from: {why}"))?;
                return Ok(Flow::Continue);
            }
        };
        let sender = sender.as_ref();
        if self.archive_answer(number, &stanza)? || self.roster_answer(&stanza)? {
            return Ok(Flow::Continue);
        }
        if let Some(sender) = sender {
            if self.room_answer(&stanza, sender)? {
                return Ok(Flow::Continue);
            }
            match self.rooms.unasked(&stanza, sender) {
                None => self.note_room(&stanza, sender)?,
                Some(claims_us) => {
                    self.room_seen = None;
                    if claims_us {
                        self.unasked_room(sender);
                    }
                }
            }
        }
        if sender.is_some_and(|sender| self.repeats.is_repeat(&stanza, sender)) {
            let n = self.repeats.dropped;
            if n == 10u64.pow(n.ilog10()) {
                warn(
                    TOOL,
                    format!(
                        "dropped {n} message(s) seen already (the same origin-id from the same \
                         sender: sent again after a new session)"
                    ),
                );
            }
            return Ok(Flow::Continue);
        }
        if let Some((direction, inner)) = carbon(&stanza) {
            self.carbon(number, &stanza, direction, inner)?;
            return Ok(Flow::Continue);
        }
        let request =
            stanza.kind == Kind::Iq && matches!(stanza.stanza_type.as_str(), "get" | "set");
        if let Some(rule) = self
            .config
            .rules
            .iter()
            .find(|rule| rule.matches(&stanza, sender))
        {
            let action = rule.action.clone();
            self.actions.perform(&action, &stanza, sender)?;
            if !request || action.claims_requests() {
                return Ok(Flow::Continue);
            }
        } else if let Kind::Other(_) = stanza.kind {
            self.other_element(&stanza);
            return Ok(Flow::Continue);
        }
        if request {
            self.answer(&stanza, sender)?;
            return Ok(Flow::Continue);
        }
        self.show(number, &stanza, sender)?;
        Ok(Flow::Continue)
    }

    /// A session event of `xmpp-auth --session-events` (DESIGN.md, "What
    /// downstream sees"): not a stanza, so no rule sees it and it never goes
    /// to stdout. A new session means that presence learnt before it can
    /// no longer be trusted: every presence is forgotten, the tree's
    /// presence files are cleared, and `--print` says so. (An element that
    /// has a `from` is not xmpp-auth's: it is left to the rules as before.)
    /// An `<acked/>` event: our own message, which the server acknowledged,
    /// goes in the conversation as said (`stanza-fmt --dir --no-out` left it
    /// to us, so that `out` never shows what did not arrive); one marked
    /// `bounced` (its error reply came first) as not delivered.
    fn acked(&mut self, event: &Stanza) -> Result<()> {
        let Some(me) = self.config.me.clone() else {
            return Ok(());
        };
        if let Some(message) = event.element.child("message", NS_CLIENT) {
            if self.own_private(message, &me)? {
                return Ok(());
            }
        }
        let Some(Event::Message {
            contact,
            author,
            text,
            ..
        }) = event
            .element
            .child("message", NS_CLIENT)
            .and_then(|message| own_message(message, &me))
        else {
            return Ok(());
        };
        if let Some(why) = event.element.attr("bounced") {
            // It bounced before this acknowledgement (xmpp-auth matched the
            // error to it): not said.
            let text = format!("not delivered: {} ({})", quoted(&text), one_line(why));
            return self.show_notice(contact, text);
        }
        let shown = Event::Message {
            contact,
            author,
            text,
            when: None,
        };
        let said = Said {
            keys: event
                .element
                .child("message", NS_CLIENT)
                .and_then(origin_id)
                .map(|id| origin_key(&id))
                .into_iter()
                .collect(),
            live: true,
            ..Said::default()
        };
        if let Err(why) = self.message(shown, &event.line, said)? {
            warn(TOOL, format!("not shown in the tree: {why}"));
        }
        Ok(())
    }

    fn session_event(&mut self, event: &Stanza) -> Result<()> {
        match event.element.attr("state") {
            Some("new") => {}
            state => {
                warn(
                    TOOL,
                    format!(
                        "ignoring a session event with state {:?}",
                        state.map(one_line).unwrap_or_default()
                    ),
                );
                return Ok(());
            }
        }
        self.presences = Presences::default();
        self.rooms.joins_are_told();
        let rooms = self.rooms.forget();
        // The rooms' catch-ups of the old session end: what they held is written.
        let catching_up: Vec<Jid> = self
            .archive
            .as_ref()
            .map(|a| a.rooms.keys().cloned().collect())
            .unwrap_or_default();
        for room in catching_up {
            self.release_room(&room)?;
        }
        if let Some(dir) = &mut self.config.dir {
            dir.clear_presence()?;
            // XEP-0478, for stanza-fmt --dir (what it cuts into parts).
            let max_bytes = event.element.attr("max-bytes").and_then(|n| n.parse().ok());
            dir.write_stanza_limit(max_bytes.filter(|&n: &usize| n > 0))?;
            // Until the room lets us in again (xmpp-auth rejoins it).
            for room in rooms {
                if let Err(why) = dir.write_occupants(&room, "")? {
                    warn(TOOL, format!("{room}: occupants not written: {why}"));
                }
            }
        }
        self.fetch_roster();
        self.start_catch_up()?;
        if self.config.print {
            let jid = event
                .element
                .attr("jid")
                .map(|jid| format!(" as {}", one_line(jid)))
                .unwrap_or_default();
            let line = format!(
                "{} -!- a new session{jid}: presence from before is forgotten\n",
                print::clock()
            );
            write_stdout(line.as_bytes())?;
        }
        Ok(())
    }

    /// A top-level element that is not a stanza, no rule wanted.
    fn other_element(&mut self, stanza: &Stanza) {
        if stanza.element.is("error", NS_STREAMS) {
            warn(
                TOOL,
                format!(
                    "stream error from the server: {}",
                    one_line(&describe_stream_error(&stanza.element))
                ),
            );
        } else {
            warn(
                TOOL,
                format!("ignoring a <{}> element", one_line(&stanza.element.name)),
            );
        }
    }

    /// A carbon copy (XEP-0280) of a message another client of ours sent or
    /// received: shown in the conversation it belongs to, as ours or the
    /// partner's line, and only when the copy comes from our own bare JID
    /// (a copy from anyone else is forged: the CVE-2017-5589 class). No rule
    /// sees it: a bot answers the messages it gets, not its other clients'.
    fn carbon(
        &mut self,
        number: u64,
        stanza: &Stanza,
        direction: &'static str,
        inner: &Element,
    ) -> Result<()> {
        let Some(me) = self.config.me.as_ref().map(Jid::to_bare) else {
            return self.unroutable(
                number,
                stanza,
                "a carbon copy, and our own JID is unknown (--me)",
            );
        };
        let from_us = matches!(&stanza.from, Some(Ok(from)) if *from == me);
        if !from_us {
            let from = stanza.element.attr("from").unwrap_or("nobody");
            return self.unroutable(
                number,
                stanza,
                &format!("a carbon copy from {from}, not from our own account: forged"),
            );
        }
        let Some(mut copied) = inner
            .to_line(NS_CLIENT)
            .ok()
            .and_then(|line| Stanza::parse(line).ok())
        else {
            return self.unroutable(number, stanza, "a carbon copy that cannot be read");
        };
        copied.carbon = Some(direction);
        // The message's own sender; ours (the account) where a sent one names none.
        let sender = match &copied.from {
            Some(Ok(from)) => Some(from.clone()),
            None if direction == "sent" => Some(me.clone()),
            _ => None,
        };
        // Only a rule with carbon= sees it, as the message inside.
        if let Some(rule) = self
            .config
            .rules
            .iter()
            .find(|rule| rule.matches(&copied, sender.as_ref()))
        {
            let action = rule.action.clone();
            return self.actions.perform(&action, &copied, sender.as_ref());
        }
        if direction == "sent" {
            if let Some(event) = own_message(inner, &me) {
                let said = Said {
                    keys: stanza_id(inner, &me)
                        .map(|id| archive_key(&id))
                        .into_iter()
                        .collect(),
                    live: true,
                    ..Said::default()
                };
                if let Err(why) = self.message(event, &stanza.line, said)? {
                    return self.unroutable(number, stanza, &why);
                }
            }
            return Ok(());
        }
        match sender {
            Some(from) => self.show(number, &copied, Some(&from)),
            None => self.unroutable(
                number,
                stanza,
                "a received carbon copy without a valid from",
            ),
        }
    }

    /// Write a message event in the tree and on the terminal, unless one of
    /// its keys says it is there already (`--archive`). While a catch-up
    /// runs, a live one waits for it, so that `out` stays in order; once
    /// written, its keys are noted in `DIR/.archive`, after its line is on
    /// the disk. The inner `Err` says why the tree could not take it.
    fn message(&mut self, event: Event, line: &str, said: Said) -> Result<Result<(), String>> {
        if let Some(archive) = &mut self.archive {
            if archive.written.knows(&said.keys) || stale_history(&archive.written, &event, &said) {
                archive.known += 1;
                return Ok(Ok(()));
            }
            // A room's line waits while the room's archive is asked.
            let room = match &event {
                Event::Message { contact, .. } if said.room && !said.from_archive => {
                    archive.rooms.get_mut(contact)
                }
                _ => None,
            };
            if let Some(room) = room.filter(|r| r.catch_up.active() && r.held.len() < HELD) {
                room.held.push((event, line.to_owned(), said));
                return Ok(Ok(()));
            }
            if said.live && archive.catch_up.active() && archive.held.len() < HELD {
                archive.held.push((event, line.to_owned(), said));
                return Ok(Ok(()));
            }
        }
        if let Some(dir) = &mut self.config.dir {
            if let Err(why) = dir.show(&event, None, line)? {
                return Ok(Err(why));
            }
        }
        if self.config.print {
            write_stdout(print::lines(&event, None, self.config.me.as_ref()).as_bytes())?;
        }
        if let (Some(archive), Some(dir), Event::Message { contact, when, .. }) =
            (&mut self.archive, &self.config.dir, &event)
        {
            if said.keys.is_empty() && !said.room {
                return Ok(Ok(()));
            }
            let when = when.unwrap_or_else(jiff::Timestamp::now);
            let noted = dir.sync_out(contact).and_then(|()| {
                archive.written.note(&said.keys, when);
                if said.room {
                    archive
                        .written
                        .note_room(&contact.to_string(), when, said.room_id.as_deref());
                }
                dir.save_written(&archive.written)
            });
            if let Err(err) = noted {
                return Err(take_back(dir, contact, when, &said, err));
            }
        }
        Ok(Ok(()))
    }

    /// How a live message from `sender` is to be written: the stanza-id our
    /// server gave it, or, in a room we are in, the one the room gave it.
    fn said(&self, stanza: &Stanza, sender: &Jid, in_room: bool) -> Said {
        let room = in_room && stanza.is_groupchat();
        if room {
            let bare = sender.to_bare();
            let id = stanza_id(&stanza.element, &bare);
            return Said {
                keys: id
                    .iter()
                    .map(|id| room_key(&bare.to_string(), id))
                    .collect(),
                room,
                room_id: id,
                live: true,
                from_archive: false,
            };
        }
        let key = self
            .config
            .me
            .as_ref()
            .and_then(|me| stanza_id(&stanza.element, &me.to_bare()))
            .map(|id| archive_key(&id));
        Said {
            keys: key.into_iter().collect(),
            live: true,
            ..Said::default()
        }
    }

    /// A new session began: with `--archive`, ask the archive for what came
    /// after the last id the tree wrote (all of it, the first time).
    fn start_catch_up(&mut self) -> Result<()> {
        let Some(archive) = &mut self.archive else {
            return Ok(());
        };
        let since = match &archive.written.last {
            Some((id, _)) => Since::After(id.clone()),
            None => Since::Beginning,
        };
        archive.taken = 0;
        archive.known = 0;
        let query = archive.catch_up.start(since);
        self.ask_archive(&query)
    }

    /// Send an archive query to the server (`DIR/in`); one that cannot be
    /// sent ends the catch-up (the next session tries again).
    fn ask_archive(&mut self, query: &Element) -> Result<()> {
        if let Err(err) = self.send_query(query) {
            warn(
                TOOL,
                format!("cannot ask the archive for what the tree missed: {err}"),
            );
            if let Some(archive) = &mut self.archive {
                archive.catch_up.abandon();
            }
            self.release_held()?;
        }
        Ok(())
    }

    /// Send a query to the server by the reply path.
    fn send_query(&self, query: &Element) -> std::io::Result<()> {
        match &self.config.reply {
            Some(reply) => reply.try_send(query),
            None => Err(std::io::Error::other("no reply path")),
        }
    }

    /// We entered `room`: with `--archive`, ask the room's own archive
    /// (MUC MAM, XEP-0313 §6) for what came after the room's last line in
    /// the tree, and hold the room's lines (its history, what is said
    /// meanwhile) until it has answered, so that `out` stays in order. A
    /// room never written in has nothing to catch up: its history is it.
    fn start_room_catch_up(&mut self, room: &Jid) -> Result<()> {
        let Some(archive) = &mut self.archive else {
            return Ok(());
        };
        let Some(mark) = archive.written.room_mark(&room.to_string()) else {
            return Ok(());
        };
        let since = match &mark.id {
            Some(id) => Since::After(id.clone()),
            None => Since::Start(mark.when),
        };
        let mut catch_up = CatchUp::of_room(room.clone());
        let query = catch_up.start(since);
        archive.rooms.insert(
            room.clone(),
            RoomCatchUp {
                catch_up,
                held: Vec::new(),
                taken: 0,
                known: 0,
            },
        );
        self.ask_room(room, &query)
    }

    /// Send a query to a room's archive; one that cannot be sent ends that
    /// catch-up.
    fn ask_room(&mut self, room: &Jid, query: &Element) -> Result<()> {
        if let Err(err) = self.send_query(query) {
            warn(
                TOOL,
                format!("{room}: cannot ask the room's archive: {err}"),
            );
            self.release_room(room)?;
        }
        Ok(())
    }

    /// A room's catch-up is over: the lines it held are written, in the
    /// order they came (those the archive gave already are not written again).
    fn release_room(&mut self, room: &Jid) -> Result<()> {
        let Some(done) = self.archive.as_mut().and_then(|a| a.rooms.remove(room)) else {
            return Ok(());
        };
        for (event, line, said) in done.held {
            if let Err(why) = self.message(event, &line, said)? {
                warn(TOOL, format!("not shown in the tree: {why}"));
                if let Some(dir) = &self.config.dir {
                    dir.unrouted(&line, &why)?;
                }
            }
        }
        Ok(())
    }

    /// A result from, or the answer of, the archive of a room whose
    /// catch-up is in progress; `false` when `stanza` is neither.
    fn room_archive_answer(
        &mut self,
        number: u64,
        stanza: &Stanza,
        room: &Jid,
        me: &Jid,
    ) -> Result<bool> {
        let Some(entry) = self.archive.as_mut().and_then(|a| a.rooms.get_mut(room)) else {
            return Ok(false);
        };
        if let Some(result) = entry.catch_up.result(stanza, me) {
            match result {
                Ok(item) => self.room_archived(number, stanza, item, room)?,
                Err(why) => self.unroutable(number, stanza, &why)?,
            }
            return Ok(true);
        }
        let Some(next) = entry.catch_up.fin(stanza, me) else {
            return Ok(false);
        };
        match next {
            Next::Page(query) => self.ask_room(room, &query)?,
            Next::Done => {
                let (taken, known, pages) = (entry.taken, entry.known, entry.catch_up.pages);
                if taken + known > 0 {
                    eprintln!(
                        "{TOOL}: {room}: caught up from the room's archive: {taken} message(s) \
                         written, {known} in the tree already ({pages} page(s))"
                    );
                }
                self.release_room(room)?;
            }
            Next::Failed(why) => {
                let when = self
                    .archive
                    .as_ref()
                    .and_then(|a| a.written.room_mark(&room.to_string()))
                    .map(|mark| mark.when);
                match (
                    when,
                    self.archive.as_mut().and_then(|a| a.rooms.get_mut(room)),
                ) {
                    (Some(when), Some(entry)) if forgot_the_id(&why) => {
                        let query = entry.catch_up.start(Since::Start(when));
                        self.ask_room(room, &query)?;
                    }
                    _ => {
                        warn(
                            TOOL,
                            format!(
                                "{room}: no catch-up from the room's archive ({}); \
                                 its history is what the room sends",
                                why.replace("the archive", "it")
                            ),
                        );
                        self.release_room(room)?;
                    }
                }
            }
        }
        Ok(true)
    }

    /// One message from a room's archive: in the room's `out`, with the
    /// time the room took it, under the nick it was said with (ours under
    /// our bare JID), when it comes from an occupant of that room.
    fn room_archived(
        &mut self,
        number: u64,
        stanza: &Stanza,
        item: Item,
        room: &Jid,
    ) -> Result<()> {
        let inner = item
            .message
            .to_line(NS_CLIENT)
            .ok()
            .and_then(|line| Stanza::parse(line).ok());
        let from = inner
            .as_ref()
            .and_then(|i| i.from.clone())
            .and_then(|f| f.ok());
        let (Some(inner), Some(from)) = (inner, from) else {
            return self.unroutable(
                number,
                stanza,
                "an archived room message without a valid from",
            );
        };
        if from.to_bare() != *room || from.resource().is_none() || !inner.is_groupchat() {
            return self.unroutable(
                number,
                stanza,
                &format!("an archived message of {room} not said in it by an occupant"),
            );
        }
        // Ours (said under our nick) under our bare JID, as live.
        let ours = self
            .config
            .me
            .as_ref()
            .filter(|_| self.rooms.is_us(&from))
            .map(|me| me.to_bare().to_string());
        let events = interpret(&inner, Some(&from), true).unwrap_or_default();
        for event in events
            .into_iter()
            .filter_map(|e| archived_line(e, item.when, ours.clone()))
        {
            let keys = vec![room_key(&room.to_string(), &item.id)];
            let known = self
                .archive
                .as_ref()
                .is_some_and(|a| a.written.knows(&keys));
            let said = Said {
                keys,
                room: true,
                room_id: Some(item.id.clone()),
                live: false,
                from_archive: true,
            };
            if let Err(why) = self.message(event, &stanza.line, said)? {
                self.unroutable(number, stanza, &why)?;
            } else if let Some(entry) = self.archive.as_mut().and_then(|a| a.rooms.get_mut(room)) {
                if known {
                    entry.known += 1;
                } else {
                    entry.taken += 1;
                }
            }
        }
        Ok(())
    }

    /// A group chat presence from `sender`, which we never asked to join,
    /// says we are in it: not taken as a room (counted, told at the first
    /// and at each power of ten).
    fn unasked_room(&mut self, sender: &Jid) {
        self.unasked_rooms += 1;
        let n = self.unasked_rooms;
        if n == 10u64.pow(n.ilog10()) {
            warn(
                TOOL,
                format!(
                    "a presence from {} says we are in it (XEP-0045 status 110), and we never \
                     asked to join it: not taken as a room ({n} so far)",
                    one_line(&sender.to_string())
                ),
            );
        }
    }

    /// An archive result or the answer to an archive query (`--archive`):
    /// taken here, before any rule, so that no rule or command sees the
    /// archive; `false` when `stanza` is neither.
    fn archive_answer(&mut self, number: u64, stanza: &Stanza) -> Result<bool> {
        let (Some(archive), Some(me)) = (&mut self.archive, self.config.me.clone()) else {
            return Ok(false);
        };
        if let Some(Ok(from)) = &stanza.from {
            let room = from.to_bare();
            if archive.rooms.contains_key(&room)
                && self.room_archive_answer(number, stanza, &room, &me)?
            {
                return Ok(true);
            }
        }
        let Some(archive) = &mut self.archive else {
            return Ok(false);
        };
        if let Some(result) = archive.catch_up.result(stanza, &me) {
            match result {
                Ok(item) => self.archived(number, stanza, item, &me)?,
                Err(why) => self.unroutable(number, stanza, &why)?,
            }
            return Ok(true);
        }
        let Some(next) = archive.catch_up.fin(stanza, &me) else {
            return Ok(false);
        };
        match next {
            Next::Page(query) => self.ask_archive(&query)?,
            Next::Done => {
                let pages = archive.catch_up.pages;
                let (taken, known) = (archive.taken, archive.known);
                // Said when the archive had something; a quiet catch-up is not news.
                if taken + known > 0 {
                    eprintln!(
                        "{TOOL}: caught up from the archive: {taken} message(s) written, \
                         {known} in the tree already ({pages} page(s))"
                    );
                }
                self.release_held()?;
            }
            Next::Failed(why) => match &archive.written.last {
                Some((_, when)) if forgot_the_id(&why) => {
                    let query = archive.catch_up.start(Since::Start(*when));
                    self.ask_archive(&query)?;
                }
                _ => {
                    warn(TOOL, format!("no catch-up from the archive: {why}"));
                    self.release_held()?;
                }
            },
        }
        Ok(true)
    }

    /// One archived message: in the conversation it belongs to, with the
    /// time the archive took it; ours (sent by the account) as our line.
    fn archived(&mut self, number: u64, stanza: &Stanza, item: Item, me: &Jid) -> Result<()> {
        let inner = item
            .message
            .to_line(NS_CLIENT)
            .ok()
            .and_then(|line| Stanza::parse(line).ok());
        let Some((inner, Some(Ok(from)))) = inner.map(|i| (i.clone(), i.from)) else {
            return self.unroutable(number, stanza, "an archived message without a valid from");
        };
        let mut keys = vec![archive_key(&item.id)];
        let events = if from.to_bare() == me.to_bare() {
            keys.extend(origin_id(item.message).map(|id| origin_key(&id)));
            own_message(item.message, me).into_iter().collect()
        } else {
            interpret(&inner, Some(&from), false).unwrap_or_default()
        };
        for event in events
            .into_iter()
            .filter_map(|e| archived_line(e, item.when, None))
        {
            let said = Said {
                keys: keys.clone(),
                from_archive: true,
                ..Said::default()
            };
            let known = self
                .archive
                .as_ref()
                .is_some_and(|a| a.written.knows(&keys));
            if let Err(why) = self.message(event, &stanza.line, said)? {
                self.unroutable(number, stanza, &why)?;
            } else if let (Some(archive), false) = (&mut self.archive, known) {
                archive.taken += 1;
            }
        }
        Ok(())
    }

    /// The catch-up is over: the live messages that waited for it are
    /// written now, in the order they came (those the archive already gave
    /// are not written again).
    fn release_held(&mut self) -> Result<()> {
        let Some(archive) = &mut self.archive else {
            return Ok(());
        };
        for (event, line, said) in std::mem::take(&mut archive.held) {
            let said = Said {
                live: false,
                ..said
            };
            if let Err(why) = self.message(event, &line, said)? {
                warn(TOOL, format!("not shown in the tree: {why}"));
                if let Some(dir) = &self.config.dir {
                    dir.unrouted(&line, &why)?;
                }
            }
        }
        Ok(())
    }

    /// Our own presence in a room (XEP-0045 status code 110): we are in it,
    /// or, `unavailable`, no longer.
    fn note_room(&mut self, stanza: &Stanza, sender: &Jid) -> Result<()> {
        self.room_seen = None;
        let Some(seen) = self.rooms.presence(stanza, sender) else {
            return Ok(());
        };
        let room = sender.to_bare();
        if let Some(configure) = &seen.configure {
            match &self.config.reply {
                Some(reply) => reply.send(configure),
                None => warn(
                    TOOL,
                    format!(
                        "{room} was made for us and stays locked: no reply path to configure it"
                    ),
                ),
            }
        }
        if let (Some(text), Some(dir)) = (&seen.occupants, &mut self.config.dir) {
            if let Err(why) = dir.write_occupants(&room, text)? {
                warn(TOOL, format!("{room}: occupants not written: {why}"));
            }
        }
        if seen.entered {
            self.start_room_catch_up(&room)?;
        }
        self.room_seen = Some(seen.notices);
        Ok(())
    }

    /// A private message from an occupant of a room we are in: in
    /// `DIR/ROOM/private` with the nick, never in the room's public `out`.
    fn private(&mut self, number: u64, stanza: &Stanza, sender: &Jid) -> Result<()> {
        let Some(body) = stanza.child_text("body").filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        let room = sender.to_bare();
        let author = shown_nick(sender.resource().unwrap_or_default());
        let text = printable(&body);
        let when = delay(&stanza.element);
        if let Some(dir) = &mut self.config.dir {
            if let Err(why) = dir.write_private(&room, &author, &text, when)? {
                return self.unroutable(number, stanza, &why);
            }
        }
        if self.config.print {
            let event = Event::Message {
                contact: room,
                author: format!("{author} (private)"),
                text,
                when,
            };
            write_stdout(print::lines(&event, None, self.config.me.as_ref()).as_bytes())?;
        }
        Ok(())
    }

    /// Our own private message to an occupant, acknowledged: in
    /// `DIR/ROOM/private` as `<our-jid> NICK: text`; false when `message`
    /// went to no occupant of a room we are in.
    fn own_private(&mut self, message: &Element, me: &Jid) -> Result<bool> {
        let Some(to) = message.attr("to").and_then(|to| Jid::parse(to).ok()) else {
            return Ok(false);
        };
        let (Some(nick), true) = (to.resource(), self.rooms.is_in(&to.to_bare())) else {
            return Ok(false);
        };
        let Some(body) = message.child("body", NS_CLIENT).map(Element::text) else {
            return Ok(true);
        };
        let text = format!("{}: {}", shown_nick(nick), printable(&body));
        if let Some(dir) = &mut self.config.dir {
            if let Err(why) =
                dir.write_private(&to.to_bare(), &me.to_bare().to_string(), &text, None)?
            {
                warn(TOOL, format!("not shown in the tree: {why}"));
            }
        }
        Ok(true)
    }

    /// The answer to our instant-room request: a notice in the room.
    fn room_answer(&mut self, stanza: &Stanza, sender: &Jid) -> Result<bool> {
        let Some((room, text)) = self.rooms.configured(stanza, sender) else {
            return Ok(false);
        };
        self.show_notice(room, text)?;
        Ok(true)
    }

    /// The default destinations: the tree and the terminal.
    fn show(&mut self, number: u64, stanza: &Stanza, sender: Option<&Jid>) -> Result<()> {
        if self.config.dir.is_none() && !self.config.print {
            self.unmatched += 1;
            return Ok(());
        }
        let in_room = sender.is_some_and(|s| self.rooms.is_in(&s.to_bare()));
        if let (Some(notices), Some(sender)) = (self.room_seen.take(), sender) {
            for text in notices {
                self.show_notice(sender.to_bare(), text)?;
            }
            return Ok(());
        }
        if let (true, Some(sender), Kind::Message) = (in_room, sender, &stanza.kind) {
            let private = matches!(stanza.stanza_type.as_str(), "chat" | "normal" | "");
            if sender.resource().is_some() && private {
                return self.private(number, stanza, sender);
            }
        }
        let mut events = match interpret(stanza, sender, in_room) {
            Ok(events) => events,
            Err(why) => return self.unroutable(number, stanza, &why),
        };
        if let (true, Some(sender), Some(me)) = (in_room, sender, &self.config.me) {
            // Our own line, as the room sends it back: under our bare JID,
            // which no nick can spell.
            if self.rooms.is_us(sender) {
                for event in &mut events {
                    if let Event::Message { author, .. } = event {
                        *author = me.to_bare().to_string();
                    }
                }
            }
        }
        for event in &events {
            if let (Event::Message { .. }, Some(sender)) = (event, sender) {
                let said = self.said(stanza, sender, in_room);
                if let Err(why) = self.message(event.clone(), &stanza.line, said)? {
                    return self.unroutable(number, stanza, &why);
                }
                continue;
            }
            let summary = match event {
                Event::Presence { from, state } => match self.presences.update(from, state.clone())
                {
                    Some(summary) => Some(summary),
                    None => continue,
                },
                _ => None,
            };
            if let Some(dir) = &mut self.config.dir {
                if let Err(why) = dir.show(event, summary.as_ref(), &stanza.line)? {
                    return self.unroutable(number, stanza, &why);
                }
            }
            if self.config.print {
                write_stdout(
                    print::lines(event, summary.as_ref(), self.config.me.as_ref()).as_bytes(),
                )?;
            }
        }
        Ok(())
    }

    /// A stanza that cannot be routed safely: a line on stderr, and in `DIR/unrouted`.
    fn unroutable(&mut self, number: u64, stanza: &Stanza, why: &str) -> Result<()> {
        warn(
            TOOL,
            format!("line {number}: not routed: {}", one_line(why)),
        );
        match &self.config.dir {
            Some(dir) => dir.unrouted(&stanza.line, why),
            None => Ok(()),
        }
    }

    /// Answer an iq get or set no rule claimed.
    fn answer(&mut self, request: &Stanza, sender: Option<&Jid>) -> Result<()> {
        if self.config.reply.is_none() {
            self.unanswered += 1;
            return Ok(());
        }
        if request.id.is_none() {
            warn(TOOL, "an iq request without an id cannot be answered");
            return Ok(());
        }
        let reply = match self.config.handlers.handle(request, sender) {
            Some(reply) => Some(reply),
            None => self.roster_push(request)?,
        };
        let reply = reply
            .or_else(|| answer::builtin(request, &self.config.handlers.namespaces()))
            .unwrap_or_else(|| answer::error_reply(request, "cancel", "service-unavailable"));
        if let Some(reply_path) = &self.config.reply {
            reply_path.send(&reply);
        }
        Ok(())
    }

    /// RFC 6121 §2.1.6: a roster push is acknowledged if it comes from our
    /// own account (no `from`, or our bare JID); one from anybody else is
    /// a spoof, refused with `service-unavailable`. With `--roster`, the
    /// push changes `DIR/roster`, and a change of subscription is a notice
    /// in the contact's `out`.
    fn roster_push(&mut self, request: &Stanza) -> Result<Option<Element>> {
        if request.stanza_type != "set" || request.payload_ns() != Some(NS_ROSTER) {
            return Ok(None);
        }
        let own = self
            .config
            .me
            .as_ref()
            .is_some_and(|me| request.from_account(me));
        if !own {
            warn(
                TOOL,
                format!(
                    "refusing a roster push from {} (RFC 6121 section 2.1.6)",
                    request
                        .element
                        .attr("from")
                        .map(one_line)
                        .unwrap_or_default()
                ),
            );
            return Ok(None);
        }
        if self.config.print {
            let line = format!("{} -!- roster changed\n", print::clock());
            write_stdout(line.as_bytes())?;
        }
        let change = self.roster.as_mut().and_then(|roster| {
            let (change, before) = roster.push(request)?;
            let notice = roster
                .fetched
                .then(|| change.notice(before.as_ref()))
                .flatten();
            Some((change.jid, notice, roster.render()))
        });
        if let Some((jid, notice, text)) = change {
            if let Some(dir) = &self.config.dir {
                dir.write_roster(&text)?;
            }
            if let Some(text) = notice {
                self.show_notice(jid, text)?;
            }
        }
        Ok(Some(answer::reply_to(request, "result")))
    }

    /// A notice about `contact`, in the tree and on the terminal.
    fn show_notice(&mut self, contact: Jid, text: String) -> Result<()> {
        let event = Event::Notice { contact, text };
        if let Some(dir) = &mut self.config.dir {
            if let Err(why) = dir.show(&event, None, "")? {
                warn(TOOL, format!("not shown in the tree: {why}"));
            }
        }
        if self.config.print {
            write_stdout(print::lines(&event, None, self.config.me.as_ref()).as_bytes())?;
        }
        Ok(())
    }

    /// The answer to the roster fetch (`--roster`): the roster is replaced
    /// and `DIR/roster` written; `false` when `stanza` is not that answer.
    fn roster_answer(&mut self, stanza: &Stanza) -> Result<bool> {
        let (Some(roster), Some(me)) = (&mut self.roster, &self.config.me) else {
            return Ok(false);
        };
        match roster.answer(stanza, me) {
            None => Ok(false),
            Some(Err(why)) => {
                warn(TOOL, why);
                Ok(true)
            }
            Some(Ok(())) => {
                if let Some(dir) = &self.config.dir {
                    dir.write_roster(&roster.render())?;
                }
                Ok(true)
            }
        }
    }

    /// A new session began: with `--roster`, ask for the roster.
    fn fetch_roster(&mut self) {
        let (Some(roster), Some(reply)) = (&mut self.roster, &self.config.reply) else {
            return;
        };
        if let Err(err) = reply.try_send(&roster.fetch()) {
            warn(TOOL, format!("cannot ask for the roster: {err}"));
        }
    }

    /// End of input: clear presence, close commands, say what was not routed.
    pub fn finish(&mut self) -> Result<()> {
        self.release_held()?;
        self.actions.finish();
        if self.unmatched > 0 {
            warn(
                TOOL,
                format!(
                    "{} stanza(s) matched no rule and were dropped",
                    self.unmatched
                ),
            );
        }
        if self.unanswered > 0 {
            warn(
                TOOL,
                format!(
                    "{} iq request(s) not answered: no --reply or --dir",
                    self.unanswered
                ),
            );
        }
        match &mut self.config.dir {
            Some(dir) => dir.finish(),
            None => Ok(()),
        }
    }
}

/// The direction (`sent`, `received`) and the message inside a carbon copy
/// (XEP-0280: `<sent|received xmlns='urn:xmpp:carbons:2'><forwarded
/// xmlns='urn:xmpp:forward:0'><message/>`), if `stanza` is one.
fn carbon(stanza: &Stanza) -> Option<(&'static str, &Element)> {
    if stanza.kind != Kind::Message {
        return None;
    }
    ["sent", "received"].into_iter().find_map(|direction| {
        let inner = stanza
            .element
            .child(direction, NS_CARBONS)?
            .child("forwarded", NS_FORWARD)?
            .child("message", NS_CLIENT)?;
        Some((direction, inner))
    })
}

/// A message event of an archive result as the tree writes it: dated when
/// the archive took it (`at`, else its own delay), under `author` where
/// given; `None` for any other event (an archive holds lines, not notices).
fn archived_line(
    event: Event,
    at: Option<jiff::Timestamp>,
    author: Option<String>,
) -> Option<Event> {
    let Event::Message {
        contact,
        author: said_by,
        text,
        when,
    } = event
    else {
        return None;
    };
    Some(Event::Message {
        contact,
        author: author.unwrap_or(said_by),
        text,
        when: at.or(when),
    })
}

/// A message's line is in `out`, but the record (`DIR/.archive`) could not
/// be made to say so (`err`: a full disk, an I/O error). Unless the record on
/// the disk knows the line after all, it is cut from `out` again, so that the
/// next start writes it once, from the archive, instead of a second time.
fn take_back(
    dir: &DirSink,
    contact: &Jid,
    when: jiff::Timestamp,
    said: &Said,
    err: Error,
) -> Error {
    let recorded = dir.load_written().is_ok_and(|on_disk| {
        on_disk.knows(&said.keys)
            || (said.room
                && said.keys.is_empty()
                && on_disk.room_mark(&contact.to_string()).is_some_and(|mark| {
                    mark.when == when && mark.id.as_deref() == said.room_id.as_deref()
                }))
    });
    if recorded {
        return err;
    }
    let outcome = match dir.take_back_last_message() {
        Ok(()) => {
            "its line is taken back from out; the next start writes it from the archive".to_owned()
        }
        Err(cut) => format!("its line stays in out, which could not be cut back ({cut})"),
    };
    Error::new(err.status(), format!("{}; {outcome}", err.message()))
}

/// Room history (a delayed message of a room) older than the room's last
/// line in the tree: written already, before a rejoin. (A room that gives
/// stanza-ids is told apart by its keys; without them, a line said in the
/// same second as the last one written is taken as new.)
fn stale_history(written: &Written, event: &Event, said: &Said) -> bool {
    match event {
        Event::Message {
            contact,
            when: Some(when),
            ..
        } if said.room => written
            .room_time(&contact.to_string())
            .is_some_and(|last| *when < last),
        _ => false,
    }
}

/// `--archive` needs the tree (`dir`) and our own JID (`me`): a usage error else.
pub fn archive_needs(dir: bool, me: bool) -> Result<()> {
    match (dir, me) {
        (false, _) => Err(Error::usage("--archive needs --dir")),
        (_, false) => Err(Error::usage("--archive needs --me (or $XMPP_JID)")),
        _ => Ok(()),
    }
}

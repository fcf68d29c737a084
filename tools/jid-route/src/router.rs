//! The router: one stanza line at a time, through the rules, the built-in
//! answers and the default destinations (`--dir`, `--print`).

use crate::actions::{write_stdout, Actions};
use crate::answer;
use crate::dir::DirSink;
use crate::event::{interpret, own_message, Event, NS_MUC_USER};
use crate::presence::Presences;
use crate::print;
use crate::repeats::Repeats;
use crate::reply::{Handlers, ReplyPath};
use crate::rules::Rule;
use crate::stanza::{one_line, Kind, Stanza};
use xmpp_pipes::exit::{warn, Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::session::state::{NS_CARBONS, NS_EVENTS};
use xmpp_pipes::stream::describe_stream_error;
use xmpp_pipes::xml::{Element, NS_CLIENT, NS_STREAMS};

const TOOL: &str = "jid-route";
/// XEP-0297 stanza forwarding (inside carbons).
const NS_FORWARD: &str = "urn:xmpp:forward:0";

/// The namespace of roster pushes (RFC 6121 §2).
pub const NS_ROSTER: &str = "jabber:iq:roster";

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
    /// The rooms we are in (bare JIDs), from our own presence in them
    /// (XEP-0045 status 110): only their `groupchat` is a room's.
    rooms: std::collections::HashSet<Jid>,
}

impl Router {
    /// A router; opens the rules' files (73 if one cannot be opened).
    pub fn new(config: Config) -> Result<Router> {
        Ok(Router {
            actions: Actions::open(&config.rules)?,
            config,
            presences: Presences::default(),
            unmatched: 0,
            unanswered: 0,
            repeats: Repeats::default(),
            rooms: std::collections::HashSet::new(),
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
        if let Some(sender) = sender {
            self.note_room(&stanza, sender);
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
            self.answer(&stanza, sender);
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
    /// to us, so that `out` never shows what did not arrive).
    fn acked(&mut self, event: &Stanza) -> Result<()> {
        let Some(me) = self.config.me.clone() else {
            return Ok(());
        };
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
        let shown = Event::Message {
            contact,
            author,
            text,
            when: None,
        };
        self.show_event(&shown, &event.line)
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
        if let Some(dir) = &mut self.config.dir {
            dir.clear_presence()?;
        }
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
        direction: &str,
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
        if direction == "sent" {
            if let Some(event) = own_message(inner, &me) {
                self.show_event(&event, &stanza.line)?;
            }
            return Ok(());
        }
        let Ok(line) = inner.to_line(NS_CLIENT) else {
            return self.unroutable(number, stanza, "a carbon copy that cannot be read");
        };
        let Ok(inner) = Stanza::parse(line) else {
            return self.unroutable(number, stanza, "a carbon copy that cannot be read");
        };
        match &inner.from {
            Some(Ok(from)) => {
                let from = from.clone();
                self.show(number, &inner, Some(&from))
            }
            _ => self.unroutable(
                number,
                stanza,
                "a received carbon copy without a valid from",
            ),
        }
    }

    /// Show one event in the tree and on the terminal (no presence summary).
    fn show_event(&mut self, event: &Event, line: &str) -> Result<()> {
        if let Some(dir) = &mut self.config.dir {
            if let Err(why) = dir.show(event, None, line)? {
                warn(TOOL, format!("not shown in the tree: {why}"));
            }
        }
        if self.config.print {
            write_stdout(print::lines(event, None, self.config.me.as_ref()).as_bytes())?;
        }
        Ok(())
    }

    /// Our own presence in a room (XEP-0045 status code 110): we are in it,
    /// or, `unavailable`, no longer.
    fn note_room(&mut self, stanza: &Stanza, sender: &Jid) {
        if stanza.kind != Kind::Presence {
            return;
        }
        let ours = stanza.element.child("x", NS_MUC_USER).is_some_and(|x| {
            x.elements()
                .any(|e| e.name == "status" && e.attr("code") == Some("110"))
        });
        if !ours {
            return;
        }
        if stanza.stanza_type == "unavailable" {
            self.rooms.remove(&sender.to_bare());
        } else {
            self.rooms.insert(sender.to_bare());
        }
    }

    /// The default destinations: the tree and the terminal.
    fn show(&mut self, number: u64, stanza: &Stanza, sender: Option<&Jid>) -> Result<()> {
        if self.config.dir.is_none() && !self.config.print {
            self.unmatched += 1;
            return Ok(());
        }
        let in_room = sender.is_some_and(|s| self.rooms.contains(&s.to_bare()));
        let events = match interpret(stanza, sender, in_room) {
            Ok(events) => events,
            Err(why) => return self.unroutable(number, stanza, &why),
        };
        for event in &events {
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
    fn answer(&mut self, request: &Stanza, sender: Option<&Jid>) {
        let Some(reply_path) = &self.config.reply else {
            self.unanswered += 1;
            return;
        };
        if request.id.is_none() {
            warn(TOOL, "an iq request without an id cannot be answered");
            return;
        }
        let reply = self
            .config
            .handlers
            .handle(request, sender)
            .or_else(|| self.roster_push(request))
            .or_else(|| answer::builtin(request, &self.config.handlers.namespaces()))
            .unwrap_or_else(|| answer::error_reply(request, "cancel", "service-unavailable"));
        reply_path.send(&reply);
    }

    /// RFC 6121 §2.1.6: a roster push is acknowledged if it comes from our
    /// own account (no `from`, or our bare JID); one from anybody else is
    /// a spoof, refused with `service-unavailable`.
    fn roster_push(&self, request: &Stanza) -> Option<xmpp_pipes::xml::Element> {
        if request.stanza_type != "set" || request.payload_ns() != Some(NS_ROSTER) {
            return None;
        }
        let own = match &request.from {
            None => true,
            Some(Ok(from)) => self
                .config
                .me
                .as_ref()
                .is_some_and(|me| from.is_bare() && *from == me.to_bare()),
            Some(Err(_)) => false,
        };
        if own {
            if self.config.print {
                let line = format!("{} -!- roster changed\n", print::clock());
                let _ = write_stdout(line.as_bytes());
            }
            return Some(answer::reply_to(request, "result"));
        }
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
        None
    }

    /// End of input: clear presence, close commands, say what was not routed.
    pub fn finish(&mut self) -> Result<()> {
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

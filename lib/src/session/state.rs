//! The session: one account's stream, across as many connections as it takes.
//!
//! [`Session`] owns everything a logged-in client keeps between the server
//! and downstream (the next program, or stdin/stdout): the login on each
//! connection ([`super::login`]), the stream-management counters and the
//! queue of unacknowledged stanzas ([`super::sm`]), the keepalive
//! ([`super::keepalive`]), the rooms of `--join` ([`super::muc`]) and the
//! reconnect policy ([`super::backoff`]). It does no I/O and reads no clock:
//! the caller feeds it events with the time and carries out the
//! [`Action`]s it returns, and calls [`Session::tick`] at
//! [`Session::next_wake`].
//!
//! The phases, in order:
//!
//! ```text
//!             connected            logged in            rooms joined
//!  (start) ─────────────► LoggingIn ────────► Joining ─────────────► Online
//!                            ▲  │ lost           │ lost                │ lost / keepalive dead
//!                 connected  │  ▼                ▼                     ▼
//!                         Offline ◄──────────────────────────────────────  (backoff, then Connect)
//!  Online ── downstream done ──► Confirming ── all acknowledged ──► Closed ── server closed ──► Done
//! ```
//!
//! A lost connection is retried (when the connector can reconnect and the
//! failure is not permanent) after a backoff; on the new connection the
//! session is resumed (XEP-0198), and what the server's `h` says it lacks is
//! sent again: nothing lost, nothing twice. A resumption is verified by the
//! acknowledgement asked for at once; a server that does not give it within
//! the keepalive timeout is not reading the resumed stream, and the session
//! is given up for a new one (see `give_up_resumed_session`; the copies the
//! server sends again are told by [`super::redelivery`]). Where resumption fails, a new
//! session is bound: presence is sent again, the rooms joined again, and
//! everything not acknowledged sent again (at least once; messages carry an
//! XEP-0359 origin-id so that receivers can tell a repeat). The very first
//! login is not retried: its failure is the answer to "does this setup
//! work", and ends the session with its own status.
//!
//! Once downstream is done (its input ended, its reader went away, or the
//! program exited), the rooms are left, everything sent is confirmed (an
//! acknowledgement request, or a ping without stream management), the stream
//! is closed, and [`Session::finished`] gives the exit status. When
//! downstream can no longer take stanzas, no more are counted as handled,
//! so the server keeps them (offline storage, archive) instead of us losing
//! them.

use super::backoff::{self, Backoff, Policy};
use super::bounce::Bounces;
use super::keepalive::{Due, Keepalive};
use super::login::{self, Login, Outcome, Resume, Sm, Step, Transport};
use super::muc::{self, Observed, Rooms};
use super::receipt::{Receipts, NS_RECEIPTS};
use super::redelivery::Redelivery;
use super::sasl2::TokenUpdate;
use super::sm::{self, Queued, StreamManagement};
use crate::exit::Error;
use crate::jid::Jid;
use crate::password::Password;
use crate::stream::{self, NS_PING, NS_SM};
use crate::xml::{escape_attr, Element, Item, NS_CLIENT};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The id of the ping that confirms delivery on servers without stream management.
pub const FINAL_PING_ID: &str = "xa-final-ping";
/// The prefix of our keepalive pings' ids (servers without stream management).
const KEEPALIVE_PING_ID: &str = "xa-keepalive-";
/// The id of the request that turns carbons on (XEP-0280).
const CARBONS_ID: &str = "xa-carbons";
/// XEP-0280 message carbons.
pub const NS_CARBONS: &str = "urn:xmpp:carbons:2";
/// The namespace of the session events downstream may ask for.
pub const NS_EVENTS: &str = "urn:xmpp-pipes:session:0";
/// XEP-0359 unique and stable stanza ids.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// What we write to a resumed session the server does not read before we
/// give it up: not well-formed wherever the server's parser stands (in
/// text, a tag, an attribute value, a comment, a CDATA section or a
/// processing instruction), so that the server ends the session at once
/// (and hands what it held for us to offline storage) instead of keeping
/// it as hibernating for minutes. It ends in markup that xmpp-connect's
/// relay takes as an element boundary (`<<>` opens nothing), so that the
/// relay sends it whole instead of holding it back as part of an element.
const UNREADABLE: &str = "]]>?>--><<>";

/// Everything the session needs, as plain data.
#[derive(Debug)]
pub struct Settings {
    /// The account, the password and the login choices ([`login::Config::resume`] is ignored).
    pub login: login::Config,
    /// Send initial presence (and again in each new session).
    pub presence: bool,
    /// The rooms to join, as occupant JIDs `ROOM@SERVICE/NICK`.
    pub join: Vec<Jid>,
    /// Accept a room the service creates for us.
    pub create_rooms: bool,
    /// The rooms' password.
    pub room_password: Option<Password>,
    /// The bound on each login, on joining the rooms and on the final confirmation.
    pub timeout: Duration,
    /// Probe the server after this much silence.
    pub keepalive: Duration,
    /// How long a probe may go unanswered before the connection counts as dead.
    pub keepalive_timeout: Duration,
    /// The reconnect policy; `None`: a lost connection ends the session.
    pub reconnect: Option<Policy>,
    /// Tell downstream when a new session begins (a `<session/>` line in [`NS_EVENTS`]).
    pub events: bool,
    /// How long after the acknowledgement a message may still bounce
    /// ([`super::bounce`]); at the end the session waits that long for
    /// messages to other domains than ours (within `timeout`).
    pub linger: Duration,
    /// Ask for delivery receipts (XEP-0184) and end in success only once
    /// every one came ([`super::receipt`]).
    pub receipts: bool,
    /// Tell (as notices) what each login negotiated: the SASL mechanism, the
    /// stream features, the JID bound and stream management.
    pub verbose: bool,
    /// Turn message carbons on (XEP-0280) in each new session: downstream
    /// gets copies of what the account's other clients send and receive.
    pub carbons: bool,
    /// A long-lived session: a bad stanza of downstream's is refused (a
    /// notice, and with `events` a `<refused/>` line for downstream) and the
    /// session goes on, instead of ending the input with 65.
    pub refuse_bad_input: bool,
    /// Seed of the jitter and origin-id generator (from the caller's randomness).
    pub seed: u64,
}

/// What the caller is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this to the current connection.
    Send(String),
    /// Give this stanza line (without the `\n`) to downstream; once it is
    /// written whole, call [`Session::delivered`].
    Deliver(String),
    /// Drop the current connection (close its fds), once what [`Action::Send`]
    /// gave before is written as far as the connection takes it at once.
    Drop,
    /// Ask the connector for a new connection ([`crate::control::Message::Connect`]).
    Connect,
    /// Tell the user (a line on stderr): a loss, a retry, a recovery.
    Notice(String),
    /// The session's state changed (for a state file): online again, or not.
    State(State),
    /// Store or forget the account's FAST token (XEP-0484), as the login said.
    Token(TokenUpdate),
    /// Keep these first stream features for the next login (or forget them:
    /// `None`), see [`login::Config::cached_features`].
    Features(Option<String>),
}

/// Where the session stands, as a state file shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Logged in for the first time, as this JID.
    Connected(Jid),
    /// Resumed after a loss (XEP-0198): nothing lost, nothing twice.
    Resumed(Jid),
    /// Logged in again after a loss, in a new session (what was not
    /// acknowledged sent again, presence and rooms again).
    NewSession(Jid),
    /// The connection is lost; attempts to reconnect are under way.
    Reconnecting,
    /// The session is over.
    Closed,
}

impl State {
    /// The state's word and detail, as a state file's line has them.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            State::Connected(jid) => ("connected", jid.to_string()),
            State::Resumed(jid) => ("resumed", jid.to_string()),
            State::NewSession(jid) => ("new-session", jid.to_string()),
            State::Reconnecting => ("reconnecting", String::new()),
            State::Closed => ("closed", String::new()),
        }
    }
}

/// Where a sent stanza came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Downstream wrote it (the final report counts these).
    Downstream,
    /// The session sent it itself (presence, joins, answers).
    Own,
}

/// The phase of the session; see the module documentation.
enum Phase {
    /// No connection yet, or a connection requested (`retry_at` is `None`) or due at `retry_at`.
    Offline { retry_at: Option<Instant> },
    /// Logging in on the current connection.
    LoggingIn {
        login: Box<Login>,
        deadline: Instant,
    },
    /// Logged in; the rooms of `--join` are being joined; `resend` waits for them.
    Joining {
        deadline: Instant,
        resend: Vec<Queued<Origin>>,
    },
    /// Relaying stanzas both ways.
    Online,
    /// Downstream is done: waiting for the server to confirm everything.
    Confirming,
    /// Our closing tag is sent: waiting for the server's, until `deadline`.
    Closed { deadline: Instant },
    /// Over: [`Session::finished`] has the status.
    Done,
}

/// How the session ends, decided once.
#[derive(Debug, Default)]
struct Ending {
    /// PROG's exit status, once it exited.
    child_status: Option<u8>,
    /// What ended the connection for good.
    server_error: Option<Error>,
    /// Downstream's input was bad.
    input_error: Option<Error>,
    /// Downstream's output went away.
    output_error: Option<Error>,
    /// A room of `--join` refused us or did not answer.
    room_error: Option<Error>,
    /// A message of downstream's bounced (the first one).
    bounce: Option<Error>,
    /// Delivery receipts asked for did not all come.
    no_receipt: Option<Error>,
}

/// The end of a session: its status, and the stanzas not acknowledged.
#[derive(Debug)]
pub struct Verdict {
    /// The exit status, or the error to report.
    pub result: Result<u8, Error>,
    /// Downstream's stanzas the server did not acknowledge, oldest first (to
    /// write to `--unacked-file`); already counted in the error's message.
    pub unacked: Vec<String>,
}

/// The session state machine; see the module documentation.
pub struct Session {
    settings: Settings,
    phase: Phase,
    /// The connector can make new connections (a control channel is there).
    can_reconnect: bool,
    /// A connection is up (between `connected` and its loss).
    connected: bool,
    /// A login completed at least once.
    logged_in_once: bool,
    /// Stream management is on for the current stream.
    sm_on: bool,
    /// Stanzas went out since the last acknowledgement request.
    unrequested: bool,
    sm: StreamManagement<Origin>,
    /// The session to resume on the next connection.
    resume: Option<Resume>,
    /// Just resumed, and no acknowledgement yet: by then one must have come,
    /// or the server is not reading the resumed session's stream.
    resume_check: Option<Instant>,
    /// The messages given downstream, to tell their copies after a session was given up.
    redelivery: Redelivery,
    /// The full JID bound.
    jid: Option<Jid>,
    rooms: Rooms,
    /// The lines given to downstream and not yet written, oldest first:
    /// whether each counts for stream management.
    to_downstream: VecDeque<bool>,
    keepalive: Option<Keepalive>,
    backoff: Option<Backoff>,
    /// Downstream's last broadcast presence, to send again in a new session.
    last_presence: Option<String>,
    /// Downstream's stanzas sent (what the final report counts).
    sent_downstream: u64,
    /// Downstream's stanzas sent on a stream without stream management and
    /// not yet confirmed by a ping (lost with their connection, or not).
    unconfirmed_without_sm: u64,
    /// Downstream's input ended (or downstream went away): the session is closing.
    downstream_done: bool,
    /// Downstream can take no more stanzas: nothing more is counted as handled.
    downstream_gone: bool,
    /// When the closing must be over, once downstream is done: --timeout
    /// after it began or after the last acknowledgement, whichever is later.
    closing_deadline: Option<Instant>,
    /// The final ping was answered (servers without stream management).
    final_ping_answered: bool,
    /// Our closing tag is sent on the current stream.
    closed: bool,
    /// Downstream's messages that may still bounce.
    bounces: Bounces,
    /// The largest stanza the server takes (XEP-0478), if it said.
    max_stanza: Option<usize>,
    /// Downstream's messages waiting for a delivery receipt (`Settings::receipts`).
    receipts: Receipts,
    /// Everything is confirmed: waiting until then for late bounces.
    linger_until: Option<Instant>,
    ending: Ending,
    actions: Vec<Action>,
    rng: u64,
    pings: u64,
}

impl Session {
    /// A session that has no connection yet; `can_reconnect` says whether
    /// the connector can make more than the first. Call [`Session::connected`]
    /// once the first connection is there.
    pub fn new(settings: Settings, can_reconnect: bool) -> Session {
        let rooms = Rooms::new(&settings.join, settings.create_rooms);
        let backoff = settings.reconnect.clone().map(Backoff::new);
        let rng = settings.seed | 1;
        let bounces = Bounces::new(settings.linger);
        Session {
            settings,
            phase: Phase::Offline { retry_at: None },
            can_reconnect,
            connected: false,
            logged_in_once: false,
            sm_on: false,
            unrequested: false,
            sm: StreamManagement::new(),
            resume: None,
            resume_check: None,
            redelivery: Redelivery::default(),
            jid: None,
            rooms,
            to_downstream: VecDeque::new(),
            keepalive: None,
            backoff,
            last_presence: None,
            sent_downstream: 0,
            unconfirmed_without_sm: 0,
            downstream_done: false,
            downstream_gone: false,
            closing_deadline: None,
            final_ping_answered: false,
            closed: false,
            bounces,
            max_stanza: None,
            receipts: Receipts::default(),
            linger_until: None,
            ending: Ending::default(),
            actions: Vec::new(),
            rng,
            pings: 0,
        }
    }

    /// What to do now, in order (drained).
    pub fn actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// The full JID bound, once logged in.
    pub fn jid(&self) -> Option<&Jid> {
        self.jid.as_ref()
    }

    /// Whether downstream's input should be read now: only while online, so
    /// that nothing goes out before its rooms are joined, and nothing waits
    /// in our memory while there is no connection (it waits in the pipe).
    pub fn wants_downstream(&self) -> bool {
        matches!(self.phase, Phase::Online) && !self.downstream_done
    }

    /// Whether the session is over.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// When [`Session::tick`] is due next, if ever.
    pub fn next_wake(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Offline { retry_at } => *retry_at,
            Phase::LoggingIn { deadline, .. }
            | Phase::Joining { deadline, .. }
            | Phase::Closed { deadline } => Some(*deadline),
            Phase::Online | Phase::Confirming | Phase::Done => None,
        };
        let keepalive = match self.phase {
            Phase::Joining { .. } | Phase::Online | Phase::Confirming => {
                self.keepalive.as_ref().map(Keepalive::next_wake)
            }
            _ => None,
        };
        let linger = self
            .linger_until
            .filter(|_| matches!(self.phase, Phase::Confirming));
        let resume_check = self.resume_check.filter(|_| self.connected);
        [
            phase,
            keepalive,
            self.closing_deadline,
            linger,
            resume_check,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The largest stanza the server takes (XEP-0478), once it said.
    pub fn max_stanza(&self) -> Option<usize> {
        self.max_stanza
    }

    /// A connection is up (the first, or one the connector made on request).
    pub fn connected(&mut self, transport: Transport, now: Instant) {
        if self.is_done() {
            self.actions.push(Action::Drop);
            return;
        }
        self.connected = true;
        self.closed = false;
        let config = login::Config {
            jid: self.settings.login.jid.clone(),
            resource: self.settings.login.resource.clone(),
            password: Password::new(self.settings.login.password.expose().to_owned()),
            mechanism: self.settings.login.mechanism,
            register: self.settings.login.register && !self.logged_in_once,
            stream_management: self.settings.login.stream_management,
            resume: self.resume.clone().map(|resume| Resume {
                handled: self.handled_for_resume(),
                ..resume
            }),
            sasl2: self.settings.login.sasl2,
            fast: self.settings.login.fast.clone(),
            cached_features: self.settings.login.cached_features.clone(),
        };
        let mut login = Box::new(Login::new(config, transport));
        self.actions.push(Action::Send(login.start()));
        self.keepalive = Some(Keepalive::new(
            self.settings.keepalive,
            self.settings.keepalive_timeout,
            now,
        ));
        self.phase = Phase::LoggingIn {
            login,
            deadline: now + self.settings.timeout,
        };
    }

    /// Some bytes arrived from the server (whitespace keepalives too): it is alive.
    pub fn heard(&mut self, now: Instant) {
        if let Some(keepalive) = &mut self.keepalive {
            keepalive.heard(now);
        }
    }

    /// The connector could not make a new connection.
    pub fn connect_failed(&mut self, err: Error, now: Instant) {
        self.connected = false;
        self.lost(err, now);
    }

    /// The connector is gone: no new connection will come.
    pub fn connector_gone(&mut self, now: Instant) {
        self.can_reconnect = false;
        if !self.connected && !self.is_done() {
            self.lost(Error::temp("the connector (xmpp-connect) is gone"), now);
        }
    }

    /// The current connection ended or failed (end of file, a read or write
    /// error, a malformed stream).
    pub fn connection_lost(&mut self, err: Error, now: Instant) {
        if !self.connected {
            return;
        }
        self.connected = false;
        self.actions.push(Action::Drop);
        self.lost(err, now);
    }

    /// The connection's data ended between elements (no closing tag).
    pub fn connection_ended(&mut self, now: Instant) {
        if matches!(self.phase, Phase::LoggingIn { .. }) {
            // The login says what that means at its step.
            self.server_item(Item::Close, now);
        } else {
            self.connection_lost(Error::temp("the connection to the server was lost"), now);
        }
    }

    /// One item from the server's stream.
    pub fn server_item(&mut self, item: Item, now: Instant) {
        self.heard(now);
        if let Phase::LoggingIn { login, .. } = &mut self.phase {
            match login.on_item(item) {
                Ok(Step::Send(lines)) => self.actions.extend(lines.into_iter().map(Action::Send)),
                Ok(Step::Done(outcome)) => self.logged_in(*outcome, now),
                Err(err) => {
                    // Whatever failed, the next login starts from what the
                    // server offers then, not from cached features.
                    if self.settings.login.cached_features.take().is_some() {
                        self.actions.push(Action::Features(None));
                    }
                    self.drop_connection(err, now);
                }
            }
            return;
        }
        if !self.connected || self.is_done() {
            return;
        }
        match item {
            Item::Stanza(line) => self.inbound(line, now),
            Item::Close => {
                if self.closed {
                    // The end: downstream sees the server's close, as it came.
                    self.deliver(stream::CLOSE.to_owned());
                    self.phase = Phase::Done;
                    self.connected = false;
                    self.actions.push(Action::Drop);
                } else {
                    // The server ends the stream (a restart, a shutdown): ours ends too.
                    let err = Error::temp("the server closed the stream");
                    if !self.will_retry(&err) {
                        self.deliver(stream::CLOSE.to_owned());
                    }
                    self.actions.push(Action::Send(stream::CLOSE.to_owned()));
                    self.drop_connection(err, now);
                }
            }
            Item::Header(_) => self.drop_connection(
                Error::protocol("the server restarted the stream unexpectedly"),
                now,
            ),
        }
    }

    /// Whether a bad line of downstream's is refused and the session goes on
    /// ([`Settings::refuse_bad_input`]): downstream's input is then read as
    /// stanza lines, each judged alone.
    pub fn refuses_bad_input(&self) -> bool {
        self.settings.refuse_bad_input
    }

    /// A stanza line from downstream (read only while [`Session::wants_downstream`]).
    pub fn downstream_stanza(&mut self, line: String, now: Instant) {
        if !self.wants_downstream() {
            return;
        }
        let name = root_name(&line).to_owned();
        let joining = match self.rooms.check_outgoing(&name, &line) {
            Ok(joining) => joining,
            Err(err) => {
                self.bad_stanza(err, &line, now);
                return;
            }
        };
        let line = if name == "message" {
            let id = self.random_id();
            // Parsed once: its id (given, or the one it gets) and address
            // are what a bounce is known by.
            let message = Element::parse(&line).ok();
            let given = message
                .as_ref()
                .and_then(|m| m.attr("id"))
                .map(str::to_owned);
            let line = with_origin_id(&line, &id);
            let (line, id) = match given {
                Some(given) => (line, given),
                None => (with_id(&line, &id), id),
            };
            let to = message.as_ref().and_then(|m| m.attr("to"));
            if let Some(to) = to.and_then(|to| Jid::parse(to).ok()) {
                self.bounces.sent(&id, to);
            }
            if self.settings.receipts {
                self.receipts.request(&line)
            } else {
                line
            }
        } else {
            line
        };
        if let Some(max) = self.max_stanza.filter(|&max| line.len() > max) {
            // The server would end the stream for it (policy-violation).
            let err = Error::data(format!(
                "a {name} of {} bytes is over the server's limit of {max} bytes (XEP-0478): \
                 it was not sent; send it in parts",
                line.len()
            ));
            self.bad_stanza(err, &line, now);
            return;
        }
        if name == "presence" && is_broadcast_presence(&line) {
            self.last_presence = Some(line.clone());
        }
        if let Some(room) = joining {
            self.tell_joining(&room);
        }
        self.sent_downstream += 1;
        self.send_stanza(line, Origin::Downstream);
    }

    /// A line of downstream's that is not stanzas (`why`, from the framer):
    /// refused with a notice if the session refuses bad input (see
    /// [`Settings::refuse_bad_input`]), else the end of the input with 65.
    pub fn downstream_refused(&mut self, why: String, now: Instant) {
        let err = Error::data(why);
        if self.settings.refuse_bad_input {
            self.refuse(&err, None);
        } else {
            self.downstream_ended(Some(err.context("bad input")), now);
        }
    }

    /// A stanza of downstream's that must not go out: refused, or the end of
    /// the input (as [`Session::downstream_refused`]).
    fn bad_stanza(&mut self, err: Error, line: &str, now: Instant) {
        if self.settings.refuse_bad_input {
            self.refuse(&err, Element::parse(line).ok());
        } else {
            self.downstream_ended(Some(err.context("bad input")), now);
        }
    }

    /// Tell the user, and downstream with events (the stanza, where it is
    /// one, inside a `<refused why='...'/>`), what was not sent and why.
    fn refuse(&mut self, err: &Error, stanza: Option<Element>) {
        let what = stanza.as_ref().map_or("a line", |s| match s.name.as_str() {
            "message" => "a message",
            "presence" => "a presence",
            "iq" => "an iq",
            _ => "a stanza",
        });
        let to = stanza
            .as_ref()
            .and_then(|s| s.attr("to"))
            .map(|to| format!(" to {to}"))
            .unwrap_or_default();
        self.actions.push(Action::Notice(format!(
            "refused {what}{to} from downstream, not sent: {}; the session goes on",
            err.message()
        )));
        if !self.settings.events {
            return;
        }
        let mut event = Element::new("refused", NS_EVENTS).with_attr("why", err.message());
        if let Some(stanza) = stanza {
            event = event.with_child(stanza);
        }
        if let Ok(event) = event.to_line(NS_CLIENT) {
            self.deliver(event);
        }
    }

    /// Downstream has nothing more for now (what it wrote so far is taken):
    /// ask for an acknowledgement of what went out since the last request,
    /// so that a line is confirmed (and shown as said) soon after it is sent,
    /// not 64 stanzas later.
    pub fn downstream_quiet(&mut self) {
        if self.sm_on && self.unrequested && self.wants_downstream() {
            self.request_ack();
        }
    }

    /// Downstream's input ended (`error`: it was bad): the session closes.
    pub fn downstream_ended(&mut self, error: Option<Error>, now: Instant) {
        if let Some(err) = error {
            self.ending.input_error.get_or_insert(err);
        }
        self.downstream_is_done(now);
    }

    /// Writing to downstream failed: its reader is gone. Nothing more is
    /// handled (the server keeps it), and the session closes.
    pub fn downstream_lost(&mut self, err: Error, now: Instant) {
        self.downstream_gone = true;
        self.to_downstream.clear();
        self.ending.output_error.get_or_insert(err);
        self.downstream_is_done(now);
    }

    /// One [`Action::Deliver`]ed line was written whole to downstream (in
    /// the order they were given).
    pub fn delivered(&mut self) {
        if self.to_downstream.pop_front() == Some(true) && !self.downstream_gone {
            self.sm.handled();
        }
    }

    /// The program downstream exited with `code`: nobody reads any more.
    pub fn child_exited(&mut self, code: u8, now: Instant) {
        self.ending.child_status = Some(code);
        self.downstream_gone = true;
        self.downstream_is_done(now);
    }

    /// Time passed: retries, deadlines and keepalives that are due.
    pub fn tick(&mut self, now: Instant) {
        if self
            .closing_deadline
            .is_some_and(|deadline| now >= deadline)
            && !self.is_done()
        {
            self.closing_deadline = None;
            self.give_up(None, now);
            return;
        }
        match &mut self.phase {
            Phase::Offline {
                retry_at: Some(at), ..
            } if now >= *at => {
                self.phase = Phase::Offline { retry_at: None };
                self.actions.push(Action::Connect);
                return;
            }
            Phase::LoggingIn { deadline, .. } if now >= *deadline => {
                let err = Error::temp(format!(
                    "timed out after {} s logging in",
                    self.settings.timeout.as_secs_f64()
                ));
                self.drop_connection(err, now);
                return;
            }
            Phase::Joining { deadline, .. } if now >= *deadline => {
                let err = Error::temp(format!(
                    "timed out after {} s waiting to join {}: the room did not answer",
                    self.settings.timeout.as_secs_f64(),
                    self.rooms.not_joined()
                ));
                self.ending.room_error.get_or_insert(err);
                self.downstream_is_done(now);
                return;
            }
            Phase::Confirming if self.linger_until.is_some_and(|until| now >= until) => {
                self.linger_until = None;
                self.confirmed_yet(now);
                return;
            }
            Phase::Closed { deadline } if now >= *deadline => {
                self.phase = Phase::Done;
                self.connected = false;
                self.actions.push(Action::Drop);
                return;
            }
            _ => {}
        }
        if !matches!(
            self.phase,
            Phase::Joining { .. } | Phase::Online | Phase::Confirming
        ) {
            return;
        }
        if self.resume_check.is_some_and(|at| now >= at) {
            self.give_up_resumed_session(now);
            return;
        }
        let due = self.keepalive.as_mut().map(|k| k.poll(now));
        match due {
            Some(Due::Probe) => {
                let probe = if self.sm_on {
                    sm::request()
                } else {
                    self.pings += 1;
                    ping(
                        &format!("{KEEPALIVE_PING_ID}{}", self.pings),
                        self.settings.login.jid.domain(),
                    )
                };
                self.actions.push(Action::Send(probe));
            }
            Some(Due::Dead { silent }) => {
                let err = Error::temp(format!(
                    "the server did not answer for {} s (keepalive): the connection is dead",
                    silent.as_secs()
                ));
                self.drop_connection(err, now);
            }
            Some(Due::Nothing) | None => {}
        }
    }

    /// Once [`Session::is_done`]: the exit status and what was not
    /// acknowledged. `note` is given downstream's unacknowledged stanzas
    /// when there are any (to write them to a file, say) and may return
    /// words to add to the report (`; they are in FILE`).
    pub fn finished(&mut self, note: impl FnOnce(&[String]) -> Option<String>) -> Option<Verdict> {
        if !self.is_done() {
            return None;
        }
        Some(self.verdict(note))
    }

    // ---- inside ----

    /// Ask the server to acknowledge what was sent.
    fn request_ack(&mut self) {
        self.unrequested = false;
        self.actions.push(Action::Send(sm::request()));
    }

    /// Send a stanza line, counting it for stream management.
    fn send_stanza(&mut self, line: String, origin: Origin) {
        self.actions.push(Action::Send(line.clone()));
        if !sm::is_counted(&line) {
            return;
        }
        if self.sm_on {
            if self.sm.sent(line, origin) {
                self.request_ack();
            } else {
                self.unrequested = true;
            }
        } else if origin == Origin::Downstream {
            self.unconfirmed_without_sm += 1;
        }
    }

    /// The login on the current connection is complete.
    fn logged_in(&mut self, outcome: Outcome, now: Instant) {
        let Outcome {
            jid,
            sm,
            pending,
            warnings,
            max_stanza,
            details,
            token,
            features,
        } = outcome;
        if features != self.settings.login.cached_features {
            // Kept for the next login (of this session and of later runs).
            self.settings.login.cached_features.clone_from(&features);
            self.actions.push(Action::Features(features));
        }
        if let Some(update) = token {
            // Later logins of this session use what the server gave last.
            if let Some(fast) = &mut self.settings.login.fast {
                fast.token = match &update {
                    TokenUpdate::Store(token) => Some(token.clone()),
                    TokenUpdate::Forget => None,
                };
                fast.invalidate = false;
            }
            self.actions.push(Action::Token(update));
        }
        if self.settings.verbose {
            for detail in details {
                self.actions.push(Action::Notice(detail));
            }
        }
        self.max_stanza = max_stanza;
        for warning in warnings {
            self.actions
                .push(Action::Notice(format!("warning: {warning}")));
        }
        let first = !self.logged_in_once;
        self.logged_in_once = true;
        if let Some(backoff) = &mut self.backoff {
            backoff.succeeded();
        }
        // What came during the login came before stream management counted
        // (a new session's counters start below, and forget these).
        for line in pending {
            self.inbound(line, now);
        }
        let (enabled, resend, resumed) = match sm {
            Sm::Resumed { h } => match self.sm.resumed(h) {
                Ok((acked, resend)) => {
                    // What the server had before the loss, its answer says.
                    self.report_acked(acked, now);
                    (true, resend, true)
                }
                Err(err) => {
                    self.phase = Phase::Online;
                    self.drop_connection(err, now);
                    return;
                }
            },
            Sm::Enabled(enabled) => {
                let resend = self.restart_counters(None, now);
                self.resume = enabled.id.map(|id| Resume {
                    id,
                    handled: 0,
                    jid: jid.clone(),
                });
                (true, resend, false)
            }
            Sm::Restarted { failed_h, enabled } => {
                let resend = self.restart_counters(failed_h, now);
                self.resume = enabled
                    .as_ref()
                    .and_then(|e| e.id.clone())
                    .map(|id| Resume {
                        id,
                        handled: 0,
                        jid: jid.clone(),
                    });
                (enabled.is_some(), resend, false)
            }
            Sm::Off => {
                let resend = self.restart_counters(None, now);
                self.resume = None;
                (false, resend, false)
            }
        };
        if self.settings.verbose {
            let sm = match (enabled, resumed, self.resume.is_some()) {
                (_, true, _) => "resumed",
                (true, _, true) => "on, resumable",
                (true, _, false) => "on",
                (false, ..) => "off",
            };
            self.actions.push(Action::Notice(format!(
                "bound {jid}; stream management {sm}"
            )));
        }
        self.sm_on = enabled;
        self.jid = Some(jid.clone());
        self.actions.push(Action::State(if resumed {
            State::Resumed(jid.clone())
        } else if first {
            State::Connected(jid.clone())
        } else {
            State::NewSession(jid.clone())
        }));
        if resumed {
            self.actions.push(Action::Notice(format!(
                "resumed the session as {jid}{}",
                resent_note(resend.len(), "")
            )));
        } else if !first {
            let lost = std::mem::take(&mut self.unconfirmed_without_sm);
            let lost_note = if lost > 0 {
                format!(
                    "; {lost} stanzas sent without stream management before the loss may be lost"
                )
            } else {
                String::new()
            };
            self.actions.push(Action::Notice(format!(
                "logged in again as {jid}: a new session{}{lost_note}",
                resent_note(resend.len(), ", at least once")
            )));
        }
        if resumed {
            self.phase = Phase::Online;
            self.resend(resend);
            // Whether the server reads the resumed stream: its answer says.
            if self.sm_on {
                self.request_ack();
                self.resume_check = Some(now + self.settings.keepalive_timeout);
            }
            self.after_online(now);
            return;
        }
        if self.settings.events {
            let mut event = Element::new("session", NS_EVENTS)
                .with_attr("state", "new")
                .with_attr("jid", jid.to_string());
            if let Some(max) = self.max_stanza {
                // XEP-0478: what downstream may send in one stanza.
                event = event.with_attr("max-bytes", max.to_string());
            }
            if let Ok(line) = event.to_line(NS_CLIENT) {
                self.deliver(line);
            }
        }
        let presence = match &self.last_presence {
            Some(line) => Some(line.clone()),
            None => self.settings.presence.then(|| "<presence/>".to_owned()),
        };
        if let Some(presence) = presence {
            self.send_stanza(presence, Origin::Own);
        }
        if self.settings.carbons {
            let enable =
                format!("<iq type='set' id='{CARBONS_ID}'><enable xmlns='{NS_CARBONS}'/></iq>");
            self.send_stanza(enable, Origin::Own);
        }
        let joins = if first {
            self.rooms
                .join_stanzas(self.settings.room_password.as_ref())
        } else {
            self.rooms
                .rejoin_stanzas(self.settings.room_password.as_ref())
        };
        match joins {
            Ok(joins) => {
                for line in joins {
                    let room = Element::parse(&line)
                        .ok()
                        .and_then(|j| muc::joined_room(&j));
                    if let Some(room) = room {
                        self.tell_joining(&room);
                    }
                    self.send_stanza(line, Origin::Own);
                }
            }
            Err(err) => {
                self.ending.room_error.get_or_insert(err);
            }
        }
        if self.rooms.waiting() && self.ending.room_error.is_none() {
            self.phase = Phase::Joining {
                deadline: now + self.settings.timeout,
                resend,
            };
        } else {
            self.phase = Phase::Online;
            self.resend(resend);
            self.after_online(now);
        }
    }

    /// A new session: the counters start again; what is to be sent again.
    fn restart_counters(&mut self, failed_h: Option<u32>, now: Instant) -> Vec<Queued<Origin>> {
        let restarted = self.sm.restart(failed_h);
        self.report_acked(restarted.acked, now);
        // What the old session gave downstream is not the new one's to count.
        self.to_downstream
            .iter_mut()
            .for_each(|counted| *counted = false);
        if let Some(warning) = restarted.warning {
            self.actions
                .push(Action::Notice(format!("warning: {warning}")));
        }
        restarted.resend
    }

    /// Send again what the server lacks, in order.
    fn resend(&mut self, resend: Vec<Queued<Origin>>) {
        for Queued { line, tag } in resend {
            self.send_stanza(line, tag);
        }
    }

    /// Just online: if downstream is already done, go on closing.
    fn after_online(&mut self, now: Instant) {
        if self.ending.room_error.is_some() || self.downstream_done {
            self.confirm(now);
        }
    }

    /// A stanza line from the server, logged in.
    fn inbound(&mut self, line: String, now: Instant) {
        let name = root_name(&line);
        if name == "stream:features" {
            // The authenticated stream's features after a SASL2 login that
            // ended at its success (stream management inline): the login
            // had what it needed; not a stanza, not downstream's.
            return;
        }
        if name == "message" && line.contains("error") {
            self.check_bounce(&line, now);
        }
        if name == "message" {
            if self.redelivery.is_repeat(&line) {
                // Downstream has it from the session given up.
                self.sm.handled();
                return;
            }
            self.redelivery.delivered(&line);
        }
        if name == "message" && self.settings.receipts && line.contains(NS_RECEIPTS) {
            let receipt = Element::parse(&line).ok();
            if receipt.is_some_and(|r| self.receipts.received(&r).is_some()) {
                self.confirmed_yet(now);
            }
        }
        if matches!(
            name,
            "r" | "a" | "iq" | "presence" | "stream:error" | "session" | "acked"
        ) || line.contains(NS_EVENTS)
        {
            let Ok(element) = Element::parse(&line) else {
                // Not ours to judge: downstream sees it as it came.
                self.deliver(line);
                return;
            };
            if self.session_level(&element, now) {
                return;
            }
            if element.is("error", crate::xml::NS_STREAMS) {
                let err = Error::new(
                    stream::stream_error_status(&element),
                    stream::describe_stream_error(&element),
                );
                // Another session took our resource: coming back would only
                // take it back, and so on. The session ends (75: a one-shot
                // job may be run again), as for any error not retried.
                if element
                    .child("conflict", stream::NS_STREAM_ERRORS)
                    .is_some()
                {
                    self.deliver(line);
                    self.give_up(Some(err), now);
                    return;
                }
                // Downstream sees it only when the session ends with it.
                if !self.will_retry(&err) {
                    self.deliver(line);
                }
                self.drop_connection(err, now);
                return;
            }
            if element.ns == NS_EVENTS {
                // Only we may speak in this namespace: a forged event is dropped.
                self.sm.handled();
                return;
            }
            if matches!(self.phase, Phase::Joining { .. }) {
                match self.rooms.observe(&element) {
                    Observed::Other | Observed::Joined => {}
                    Observed::Configure(iq) => self.send_stanza(iq, Origin::Own),
                    Observed::Refused(err) => {
                        self.ending.room_error.get_or_insert(err);
                    }
                    Observed::Configured(answer) => {
                        self.sm.handled();
                        if let Err(err) = answer {
                            self.ending.room_error.get_or_insert(err);
                        }
                        self.joined_yet(now);
                        return;
                    }
                }
                self.deliver(line);
                self.joined_yet(now);
                return;
            }
        }
        self.deliver(line);
    }

    /// In the Joining phase: move on once every room let us in (or one refused).
    fn joined_yet(&mut self, now: Instant) {
        if self.ending.room_error.is_some() {
            self.downstream_is_done(now);
            return;
        }
        if self.rooms.waiting() {
            return;
        }
        if let Phase::Joining { resend, .. } = std::mem::replace(&mut self.phase, Phase::Online) {
            self.resend(resend);
        }
        self.after_online(now);
    }

    /// With events, tell downstream that a join of `room` goes out now
    /// (`<joining room='ROOM'/>`): before the room's answer, which comes
    /// after it, so that downstream takes a presence saying "this is you"
    /// (XEP-0045 status 110) only from a room we asked to join.
    fn tell_joining(&mut self, room: &Jid) {
        if !self.settings.events {
            return;
        }
        let event = Element::new("joining", NS_EVENTS).with_attr("room", room.to_string());
        if let Ok(line) = event.to_line(NS_CLIENT) {
            self.deliver(line);
        }
    }

    /// Give a stanza to downstream, unless downstream is gone; it counts
    /// as handled once written ([`Session::delivered`]).
    fn deliver(&mut self, line: String) {
        if !self.downstream_gone {
            self.to_downstream.push_back(sm::is_counted(&line));
            self.actions.push(Action::Deliver(line));
        }
    }

    /// Inbound stanzas handled, counting those given to downstream and not
    /// yet written (ours to deliver): the `h` of a resumption.
    fn handled_for_resume(&self) -> u32 {
        let waiting = self
            .to_downstream
            .iter()
            .filter(|&&counted| counted)
            .count();
        self.sm.inbound().wrapping_add(waiting as u32)
    }

    /// Answer what the session answers itself; `true` when consumed.
    fn session_level(&mut self, element: &Element, now: Instant) -> bool {
        if element.is("r", NS_SM) {
            // After our close, the stream is over: nothing more may follow it.
            if !self.closed {
                let answer = self.sm.answer();
                self.actions.push(Action::Send(answer));
            }
            return true;
        }
        if element.is("a", NS_SM) {
            let h = element.attr("h").and_then(|h| h.parse::<u32>().ok());
            let Some(h) = h else {
                self.drop_connection(
                    Error::protocol(
                        "the server sent a stream-management acknowledgement without a valid h",
                    ),
                    now,
                );
                return true;
            };
            // The server reads this stream (a resumed one too).
            self.resume_check = None;
            match self.sm.acknowledge(h) {
                Ok(acked) => {
                    self.report_acked(acked, now);
                    self.confirmed_yet(now);
                }
                Err(err) => self.drop_connection(err, now),
            }
            return true;
        }
        if !element.is("iq", NS_CLIENT) {
            return false;
        }
        let kind = element.attr("type").unwrap_or_default();
        let id = element.attr("id").unwrap_or_default();
        let from_server = element
            .attr("from")
            .is_none_or(|from| from == self.settings.login.jid.domain() || self.is_own(from));
        if matches!(kind, "result" | "error") && from_server {
            if id == FINAL_PING_ID {
                self.sm.handled();
                self.final_ping_answered = true;
                self.unconfirmed_without_sm = 0;
                self.confirmed_yet(now);
                return true;
            }
            if id.starts_with(KEEPALIVE_PING_ID) {
                self.sm.handled();
                self.unconfirmed_without_sm = 0;
                return true;
            }
            if id == CARBONS_ID {
                self.sm.handled();
                if kind == "error" {
                    self.actions.push(Action::Notice(format!(
                        "warning: the server refused message carbons: {}",
                        stream::describe_stanza_error(element)
                    )));
                }
                return true;
            }
        }
        if kind == "get" && element.child("ping", NS_PING).is_some() {
            if self.closed {
                return true;
            }
            let mut pong = Element::new("iq", NS_CLIENT).with_attr("type", "result");
            if let Some(id) = element.attr("id") {
                pong = pong.with_attr("id", id);
            }
            if let Some(from) = element.attr("from") {
                pong = pong.with_attr("to", from);
            }
            self.sm.handled();
            if let Ok(pong) = pong.to_line(NS_CLIENT) {
                self.send_stanza(pong, Origin::Own);
            }
            return true;
        }
        false
    }

    /// With session events: tell downstream which of its messages the server
    /// acknowledged (`<acked>` around each), so that a tree shows a line as
    /// said only once it is.
    fn report_acked(&mut self, acked: Vec<Queued<Origin>>, now: Instant) {
        if !acked.is_empty() && self.closing_deadline.is_some() {
            // The server is working through the queue: --timeout bounds a
            // wait without progress, not the whole of a long queue.
            self.closing_deadline = Some(now + self.settings.timeout);
        }
        for Queued { line, tag } in acked {
            if tag != Origin::Downstream || root_name(&line) != "message" {
                continue;
            }
            let Ok(message) = Element::parse(&line) else {
                continue;
            };
            let bounced = message
                .attr("id")
                .and_then(|id| self.bounces.acked(id, now));
            if !self.settings.events {
                continue;
            }
            let mut event = Element::new("acked", NS_EVENTS);
            if let Some(why) = bounced {
                event = event.with_attr("bounced", why);
            }
            let event = event.with_child(message);
            if let Ok(event) = event.to_line(NS_CLIENT) {
                self.deliver(event);
            }
        }
    }

    /// Whether `jid` is our account (bare or with any resource).
    fn is_own(&self, jid: &str) -> bool {
        Jid::parse(jid).is_ok_and(|jid| jid.to_bare() == self.settings.login.jid.to_bare())
    }

    /// Downstream is done (ended, gone, or its program exited): close.
    fn downstream_is_done(&mut self, now: Instant) {
        if self.downstream_done {
            return;
        }
        self.downstream_done = true;
        self.closing_deadline = Some(now + self.settings.timeout);
        match self.phase {
            Phase::Online | Phase::Joining { .. } => self.confirm(now),
            // The rest follows once online again, or ends at the deadline.
            _ => {}
        }
    }

    /// Leave the rooms and ask the server to confirm everything.
    fn confirm(&mut self, now: Instant) {
        if matches!(
            self.phase,
            Phase::Confirming | Phase::Closed { .. } | Phase::Done
        ) {
            return;
        }
        let resend = match std::mem::replace(&mut self.phase, Phase::Confirming) {
            Phase::Joining { resend, .. } => resend,
            _ => Vec::new(),
        };
        self.resend(resend);
        match self.rooms.leave_stanzas() {
            Ok(leave) => leave
                .into_iter()
                .for_each(|line| self.send_stanza(line, Origin::Own)),
            Err(err) => {
                self.ending.room_error.get_or_insert(err);
            }
        }
        if self.sm_on {
            self.request_ack();
        } else {
            self.final_ping_answered = false;
            let ping = ping(FINAL_PING_ID, self.settings.login.jid.domain());
            self.actions.push(Action::Send(ping));
        }
        self.confirmed_yet(now);
    }

    /// While confirming: close once everything is confirmed.
    fn confirmed_yet(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Confirming) {
            return;
        }
        let confirmed = if self.sm_on {
            self.sm.outstanding() == 0
        } else {
            self.final_ping_answered
        };
        if !confirmed || !self.receipts.all_in() {
            return;
        }
        if !self.sm_on {
            // The final ping's answer confirms everything sent before it.
            self.bounces.acked_all(now);
        }
        self.bounces.expire(now);
        match self
            .bounces
            .lingering_until(self.settings.login.jid.domain())
        {
            Some(until) if now < until => self.linger_until = Some(until),
            _ => self.close(now),
        }
    }

    /// An error message from the server: if it is a bounce of downstream's,
    /// say so, and the session will end with its status.
    fn check_bounce(&mut self, line: &str, now: Instant) {
        let Ok(message) = Element::parse(line) else {
            return;
        };
        if let Some(bounce) = self.bounces.bounced(&message) {
            // Told at once (the final status does not say it again).
            self.actions.push(Action::Notice(bounce.to_string()));
            self.ending
                .bounce
                .get_or_insert(Error::new(bounce.status, bounce.to_string()));
            if self.linger_until.take().is_some() {
                // Lingering for this one, perhaps: wait only for the others.
                self.confirmed_yet(now);
            }
        }
    }

    /// Send our closing tag and wait for the server's.
    fn close(&mut self, now: Instant) {
        self.closed = true;
        self.actions.push(Action::Send(stream::CLOSE.to_owned()));
        self.phase = Phase::Closed {
            deadline: now + self.settings.timeout,
        };
    }

    /// The resumed session went unacknowledged for the keepalive timeout:
    /// the server is not reading its stream. Prosody 13.0 reads a resumed
    /// session with the parser of the connection that was lost; when that
    /// connection died in the middle of a read, the parser holds the start
    /// of a stanza and takes everything after it as the rest of that stanza:
    /// nothing is handled, resuming again changes nothing. So the session is
    /// given up: the server is made to end it (what it held for us goes to
    /// offline storage, and its copies are told apart here), and the next
    /// login binds a new session and sends again what was not acknowledged.
    /// The `h` of the resumption was exact, as the server handled nothing
    /// since.
    fn give_up_resumed_session(&mut self, now: Instant) {
        self.resume_check = None;
        self.resume = None;
        self.redelivery.arm();
        self.actions.push(Action::Send(UNREADABLE.to_owned()));
        let err = Error::temp(format!(
            "the server acknowledged nothing in {} s since it resumed the session: \
             it does not read the session's stream (a server fault: Prosody 13.0 \
             may keep part of a stanza from the lost connection); the session is \
             given up and a new one logged in",
            self.settings.keepalive_timeout.as_secs_f64()
        ));
        self.drop_connection(err, now);
    }

    /// End the current connection because of `err`, then as [`Session::lost`].
    fn drop_connection(&mut self, err: Error, now: Instant) {
        if self.connected {
            self.connected = false;
            self.actions.push(Action::Drop);
        }
        self.lost(err, now);
    }

    /// The connection is gone: retry after a backoff, or end.
    fn lost(&mut self, err: Error, now: Instant) {
        self.keepalive = None;
        self.resume_check = None;
        self.closed = false;
        match self.phase {
            Phase::Done => return,
            Phase::Closed { .. } => {
                // What we waited for was the end anyway.
                self.phase = Phase::Done;
                return;
            }
            _ => {}
        }
        if !self.will_retry(&err) {
            self.give_up(Some(err), now);
            return;
        }
        let random = self.next_random() as u32;
        let Some(delay) = self.backoff.as_mut().and_then(|b| b.next_delay(random)) else {
            let attempts = self.backoff.as_ref().map_or(0, Backoff::attempts);
            let err = if self.backoff.is_some() {
                err.context(format!("gave up after {attempts} attempts to reconnect"))
            } else {
                err
            };
            self.give_up(Some(err), now);
            return;
        };
        let attempt = self.backoff.as_ref().map_or(0, Backoff::attempts);
        if attempt == 1 {
            self.actions.push(Action::State(State::Reconnecting));
        }
        self.actions.push(Action::Notice(format!(
            "{err}; connecting again in {:.1} s (attempt {attempt})",
            delay.as_secs_f64()
        )));
        self.phase = Phase::Offline {
            retry_at: Some(now + delay),
        };
    }

    /// Whether losing the connection with `err` leads to another attempt
    /// (the limit of attempts aside). The first login is not retried: its
    /// failure is the answer to "does this setup work".
    fn will_retry(&self, err: &Error) -> bool {
        self.logged_in_once
            && self.can_reconnect
            && self.backoff.is_some()
            && !backoff::is_permanent(err.status())
    }

    /// The session ends here, with `err` if it was the cause.
    fn give_up(&mut self, err: Option<Error>, _now: Instant) {
        if let Some(err) = err {
            self.ending.server_error.get_or_insert(err);
        }
        if self.connected {
            self.connected = false;
            self.actions.push(Action::Drop);
        }
        self.phase = Phase::Done;
    }

    /// The exit status: a room's refusal first (PROG may fail because of
    /// it), then PROG's failure, then bad input, then a lost reader, then
    /// anything unconfirmed.
    fn verdict(&mut self, note: impl FnOnce(&[String]) -> Option<String>) -> Verdict {
        let unacked: Vec<String> = self
            .sm
            .unacked()
            .filter(|queued| queued.tag == Origin::Downstream)
            .map(|queued| queued.line.clone())
            .collect();
        let confirmed = if self.sm_on || self.resume.is_some() {
            self.sm.outstanding() == 0 && self.unconfirmed_without_sm == 0
        } else {
            self.final_ping_answered && self.unconfirmed_without_sm == 0
        };
        // Before the first login nothing was sent that could be lost.
        let lost = (!confirmed && self.logged_in_once).then(|| {
            let mut report = self.unconfirmed_report(&unacked);
            if !unacked.is_empty() {
                report.push_str(&note(&unacked).unwrap_or_default());
            }
            report
        });
        let mut ending = std::mem::take(&mut self.ending);
        if !self.receipts.all_in() {
            ending.no_receipt = Some(Error::temp(format!(
                "no delivery receipt from {} within {} s: the server took the message, \
                 but no client of the recipient confirmed it (none online, or none that \
                 sends receipts)",
                self.receipts.missing().join(", "),
                self.settings.timeout.as_secs_f64()
            )));
        }
        let result = decide(ending, lost);
        Verdict { result, unacked }
    }

    /// "N of M stanzas sent were not acknowledged (the first K were)".
    fn unconfirmed_report(&self, unacked: &[String]) -> String {
        if !self.sm_on && self.resume.is_none() {
            return "the server did not confirm that it processed what was sent".to_owned();
        }
        if unacked.is_empty() {
            return "the server did not acknowledge the session's own stanzas (presence, rooms)"
                .to_owned();
        }
        let total = self.sent_downstream;
        format!(
            "{} of {total} stanzas sent were not acknowledged by the server (the first {} were)",
            unacked.len(),
            total - unacked.len() as u64
        )
    }

    /// A random id (for origin-ids).
    fn random_id(&mut self) -> String {
        format!("xp-{:016x}", self.next_random())
    }

    /// xorshift64*: jitter and ids need no more than this.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The status from what was learnt of the ending; `lost` is the unconfirmed report.
fn decide(ending: Ending, lost: Option<String>) -> Result<u8, Error> {
    let Ending {
        child_status,
        server_error,
        input_error,
        output_error,
        room_error,
        bounce,
        no_receipt,
    } = ending;
    if let Some(code) = child_status.filter(|&code| code != 0 && room_error.is_none()) {
        return Ok(code);
    }
    // PROG's exit closes its fd 6 too: that is no lost reader.
    let output_error = output_error.filter(|_| child_status.is_none());
    if let Some(err) = room_error.or(input_error).or(output_error) {
        return Err(match lost {
            Some(lost) => err.context(lost),
            None => err,
        });
    }
    if let Some(err) = bounce {
        // The bounce was told when it came: the status alone, unless there
        // is more to say.
        return match (server_error, lost) {
            (_, Some(more)) => Err(Error::new(err.status(), format!("{err}; {more}"))),
            (Some(more), None) => Err(Error::new(err.status(), format!("{err}; {more}"))),
            (None, None) => Ok(err.status().code()),
        };
    }
    if let Some(err) = no_receipt {
        return Err(match (server_error, lost) {
            (_, Some(more)) => Error::new(err.status(), format!("{more}; {err}")),
            (Some(more), None) => Error::new(more.status(), format!("{more}; {err}")),
            (None, None) => err,
        });
    }
    match (server_error, lost) {
        (Some(err), Some(lost)) => Err(Error::new(err.status(), format!("{err}; {lost}"))),
        (None, Some(lost)) => Err(Error::temp(lost)),
        (Some(err), None) if child_status.is_none() => Err(err),
        (Some(_), None) | (None, None) => Ok(child_status.unwrap_or(0)),
    }
}

/// ", N stanzas not acknowledged sent again{how}" when there were any.
fn resent_note(count: usize, how: &str) -> String {
    match count {
        0 => String::new(),
        n => format!("; {n} stanzas not acknowledged sent again{how}"),
    }
}

/// A ping (XEP-0199) to the server.
fn ping(id: &str, domain: &str) -> String {
    let domain = escape_attr(domain).unwrap_or_default();
    format!("<iq type='get' id='{id}' to='{domain}'><ping xmlns='{NS_PING}'/></iq>")
}

/// The local name of a stanza line's root element (with its prefix, if any).
pub fn root_name(line: &str) -> &str {
    let name = line.strip_prefix('<').unwrap_or_default();
    let end = name.find([' ', '/', '>']).unwrap_or(name.len());
    &name[..end]
}

/// Whether a presence line is broadcast presence (no `to`, available or unavailable).
fn is_broadcast_presence(line: &str) -> bool {
    Element::parse(line).is_ok_and(|presence| {
        presence.attr("to").is_none() && matches!(presence.attr("type"), None | Some("unavailable"))
    })
}

/// A message line that has no `id` attribute, with `id`: a bounce names the
/// id of the message it returns.
pub fn with_id(line: &str, id: &str) -> String {
    // After the element name: `<message` is followed by white space, `/` or `>`.
    match line.strip_prefix("<message") {
        Some(rest) => format!("<message id='{id}'{rest}"),
        None => line.to_owned(),
    }
}

/// A message line with an XEP-0359 origin-id, unless it has one: a receiver
/// can tell a message sent again after a new login from a new one.
pub fn with_origin_id(line: &str, id: &str) -> String {
    if line.contains(NS_SID) && line.contains("origin-id") {
        return line.to_owned();
    }
    let origin = format!("<origin-id xmlns='{NS_SID}' id='{id}'/>");
    if let Some(open) = line.strip_suffix("/>") {
        if !open.contains('>') {
            return format!("{open}>{origin}</message>");
        }
    }
    match line.rfind("</") {
        Some(end) => format!("{}{origin}{}", &line[..end], &line[end..]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests;

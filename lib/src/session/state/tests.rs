//! The session's transitions, driven by scripted server items and the time.

use super::*;
use crate::exit::Status;
use crate::sasl::Mechanism;
use crate::xml::{StreamHeader, NS_STREAMS};

const JID: &str = "user@example.org";
const FULL: &str = "user@example.org/pipes";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const LINGER: Duration = Duration::from_secs(5);

fn settings(reconnect: Option<Policy>) -> Settings {
    Settings {
        login: login::Config {
            jid: Jid::parse(JID).unwrap(),
            resource: Some("pipes".into()),
            password: Password::new("pencil".into()),
            mechanism: Some(Mechanism::Plain),
            register: false,
            stream_management: true,
            resume: None,
            sasl2: true,
            fast: None,
            cached_features: None,
        },
        presence: false,
        join: Vec::new(),
        create_rooms: false,
        room_password: None,
        timeout: Duration::from_secs(10),
        keepalive: Duration::from_secs(60),
        keepalive_timeout: Duration::from_secs(20),
        reconnect,
        events: false,
        linger: LINGER,
        receipts: false,
        verbose: false,
        carbons: false,
        refuse_bad_input: false,
        seed: 7,
    }
}

/// The error a finished session ends with, after checking its status.
#[track_caller]
fn failed(session: &mut Session, status: Status) -> Error {
    let err = session.finished(|_| None).unwrap().result.unwrap_err();
    assert_eq!(err.status(), status, "{err}");
    err
}

fn policy(limit: Option<u32>) -> Option<Policy> {
    Some(Policy {
        initial: Duration::from_secs(1),
        cap: Duration::from_secs(8),
        limit,
    })
}

fn tls() -> Transport {
    Transport {
        tls: true,
        exporter: None,
    }
}

fn header() -> Item {
    Item::Header(StreamHeader {
        qname: "stream:stream".into(),
        attrs: vec![
            ("xmlns".into(), NS_CLIENT.into()),
            ("xmlns:stream".into(), NS_STREAMS.into()),
            ("id".into(), "s1".into()),
            ("version".into(), "1.0".into()),
        ],
    })
}

fn line(xml: &str) -> Item {
    Item::Stanza(xml.to_owned())
}

fn features(inner: &str) -> Item {
    line(&format!(
        "<stream:features xmlns:stream='{NS_STREAMS}'>{inner}</stream:features>"
    ))
}

/// What was sent to the server, in order (the rest of the actions dropped).
fn sent(session: &mut Session) -> Vec<String> {
    session
        .actions()
        .into_iter()
        .filter_map(|action| match action {
            Action::Send(xml) => Some(xml),
            _ => None,
        })
        .collect()
}

/// Every action, drained.
fn all(session: &mut Session) -> Vec<Action> {
    session.actions()
}

/// Log in with PLAIN up to the restart; the features after it are `after`.
fn until_features(session: &mut Session, now: Instant, after: &str) {
    session.connected(tls(), now);
    session.server_item(header(), now);
    session.server_item(
        features(&format!(
            "<mechanisms xmlns='{NS_SASL}'><mechanism>PLAIN</mechanism></mechanisms>"
        )),
        now,
    );
    session.server_item(line(&format!("<success xmlns='{NS_SASL}'/>")), now);
    session.server_item(header(), now);
    session.server_item(features(after), now);
}

const BIND_SM: &str = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/>";

fn bound() -> Item {
    line(&format!(
        "<iq type='result' id='xa-bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>{FULL}</jid></bind></iq>"
    ))
}

/// A fresh login with stream management enabled (resumable as `id`).
fn log_in(session: &mut Session, now: Instant, id: &str) {
    until_features(session, now, BIND_SM);
    session.server_item(bound(), now);
    session.server_item(
        line(&format!(
            "<enabled xmlns='urn:xmpp:sm:3' id='{id}' resume='true'/>"
        )),
        now,
    );
}

fn message(n: u32) -> String {
    format!("<message to='bob@example.org' type='chat' id='m{n}'><body>{n}</body></message>")
}

fn ack(h: u32) -> Item {
    line(&format!("<a xmlns='urn:xmpp:sm:3' h='{h}'/>"))
}

fn online(reconnect: Option<Policy>) -> (Session, Instant) {
    let now = Instant::now();
    let mut session = Session::new(settings(reconnect.clone()), reconnect.is_some());
    log_in(&mut session, now, "r1");
    assert!(session.wants_downstream());
    assert_eq!(
        session.jid().map(ToString::to_string).as_deref(),
        Some(FULL)
    );
    session.actions();
    (session, now)
}

/// The connection is lost and comes back, the server answers the
/// resumption with `failed`, and a new session is bound (stream
/// management enabled as `r2`); returns the time it happened at.
fn new_session_after_loss(session: &mut Session, now: Instant, failed: &str) -> Instant {
    let later = reconnect_until_features(session, now);
    session.actions();
    session.server_item(line(failed), later);
    session.server_item(bound(), later);
    session.server_item(
        line("<enabled xmlns='urn:xmpp:sm:3' id='r2' resume='true'/>"),
        later,
    );
    later
}

/// [`online`], with `--session-events` (and `change` made to the settings).
fn online_with_events(
    reconnect: Option<Policy>,
    change: impl FnOnce(&mut Settings),
) -> (Session, Instant) {
    let now = Instant::now();
    let mut s = settings(reconnect.clone());
    s.events = true;
    change(&mut s);
    let mut session = Session::new(s, reconnect.is_some());
    log_in(&mut session, now, "r1");
    session.actions();
    (session, now)
}

#[test]
fn a_whole_session_confirms_and_closes() {
    let (mut session, now) = online(None);
    session.downstream_stanza(message(1), now);
    let out = sent(&mut session);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].contains("<origin-id xmlns='urn:xmpp:sid:0' id='xp-"),
        "{}",
        out[0]
    );
    session.downstream_ended(None, now);
    assert_eq!(sent(&mut session), ["<r xmlns='urn:xmpp:sm:3'/>"]);
    assert!(!session.wants_downstream());
    session.server_item(ack(1), now);
    assert_eq!(all(&mut session), [Action::Send("</stream:stream>".into())]);
    session.server_item(Item::Close, now);
    assert!(session.is_done());
    let verdict = session.finished(|_| None).unwrap();
    assert_eq!(verdict.result.unwrap(), 0);
    assert!(verdict.unacked.is_empty());
}

#[test]
fn the_server_s_requests_are_answered_with_what_was_delivered() {
    let (mut session, now) = online(None);
    session.server_item(
        line("<message from='bob@example.org/x'><body>a</body></message>"),
        now,
    );
    session.server_item(
        line("<message from='bob@example.org/x'><body>b</body></message>"),
        now,
    );
    let delivered: Vec<_> = all(&mut session)
        .into_iter()
        .filter(|a| matches!(a, Action::Deliver(_)))
        .collect();
    assert_eq!(delivered.len(), 2);
    // Only what was written whole to downstream counts.
    session.delivered();
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), now);
    assert_eq!(sent(&mut session), ["<a xmlns='urn:xmpp:sm:3' h='1'/>"]);
    session.delivered();
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), now);
    assert_eq!(sent(&mut session), ["<a xmlns='urn:xmpp:sm:3' h='2'/>"]);
}

#[test]
fn pings_are_answered_and_never_reach_downstream() {
    let (mut session, now) = online(None);
    session.server_item(
        line("<iq type='get' id='p1' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>"),
        now,
    );
    assert_eq!(
        all(&mut session),
        [Action::Send(
            "<iq type='result' id='p1' to='example.org'/>".into()
        )]
    );
}

#[test]
fn an_ack_for_more_than_was_sent_ends_the_connection() {
    let (mut session, now) = online(None);
    session.downstream_stanza(message(1), now);
    session.actions();
    session.server_item(ack(5), now);
    assert!(session.is_done());
    let verdict = session.finished(|_| None).unwrap();
    assert_eq!(verdict.result.unwrap_err().status(), Status::Protocol);
}

#[test]
fn a_lost_connection_without_reconnect_reports_what_was_not_acknowledged() {
    let (mut session, now) = online(None);
    for n in 1..=3 {
        session.downstream_stanza(message(n), now);
    }
    session.server_item(ack(1), now);
    session.actions();
    session.connection_lost(Error::temp("the connection to the server was lost"), now);
    assert!(session.is_done());
    let mut noted = Vec::new();
    let verdict = session
        .finished(|lines| {
            noted = lines.to_vec();
            Some("; they are in F".into())
        })
        .unwrap();
    let err = verdict.result.unwrap_err();
    assert_eq!(err.status(), Status::TempFail);
    assert_eq!(
        err.message(),
        "the connection to the server was lost; 2 of 3 stanzas sent were not acknowledged \
         by the server (the first 1 were); they are in F"
    );
    assert_eq!(noted.len(), 2);
    assert!(noted[0].contains("<body>2</body>"));
    assert_eq!(verdict.unacked, noted);
}

#[test]
fn the_first_login_is_not_retried() {
    let now = Instant::now();
    let mut session = Session::new(settings(policy(None)), true);
    session.connected(tls(), now);
    session.server_item(header(), now);
    session.server_item(
        features(&format!(
            "<mechanisms xmlns='{NS_SASL}'><mechanism>PLAIN</mechanism></mechanisms>"
        )),
        now,
    );
    session.server_item(
        line(&format!(
            "<failure xmlns='{NS_SASL}'><not-authorized/></failure>"
        )),
        now,
    );
    assert!(session.is_done());
    assert!(!all(&mut session).contains(&Action::Connect));
    failed(&mut session, Status::NoPerm);
}

#[test]
fn a_login_that_takes_too_long_times_out() {
    let now = Instant::now();
    let mut session = Session::new(settings(None), false);
    session.connected(tls(), now);
    assert_eq!(session.next_wake(), Some(now + Duration::from_secs(10)));
    session.tick(now + Duration::from_secs(10));
    assert!(session.is_done());
    let err = failed(&mut session, Status::TempFail);
    assert_eq!(err.message(), "timed out after 10 s logging in");
}

#[test]
fn keepalive_probes_then_declares_the_connection_dead_and_reconnects() {
    let (mut session, now) = online(policy(None));
    assert_eq!(session.next_wake(), Some(now + Duration::from_secs(60)));
    let probe_at = now + Duration::from_secs(60);
    session.tick(probe_at);
    assert_eq!(sent(&mut session), ["<r xmlns='urn:xmpp:sm:3'/>"]);
    assert_eq!(
        session.next_wake(),
        Some(probe_at + Duration::from_secs(20))
    );
    let dead_at = probe_at + Duration::from_secs(20);
    session.tick(dead_at);
    let actions = all(&mut session);
    assert_eq!(actions[0], Action::Drop);
    assert_eq!(actions[1], Action::State(State::Reconnecting));
    let Action::Notice(notice) = &actions[2] else {
        panic!("a notice: {actions:?}")
    };
    assert!(
        notice.starts_with("the server did not answer for 80 s (keepalive): the connection is dead; connecting again in "),
        "{notice}"
    );
    assert!(!session.wants_downstream());
    let retry = session.next_wake().unwrap();
    assert!(retry > dead_at && retry <= dead_at + Duration::from_secs(1));
    session.tick(retry);
    assert_eq!(all(&mut session), [Action::Connect]);
}

#[test]
fn an_answered_probe_keeps_the_connection() {
    let (mut session, now) = online(policy(None));
    let probe_at = now + Duration::from_secs(60);
    session.tick(probe_at);
    session.actions();
    session.server_item(ack(0), probe_at + Duration::from_secs(1));
    session.tick(probe_at + Duration::from_secs(20));
    assert!(session.actions().is_empty());
    assert!(session.wants_downstream());
}

/// Lose the connection and come back to the login's features.
fn reconnect_until_features(session: &mut Session, now: Instant) -> Instant {
    session.connection_lost(Error::temp("the connection to the server was lost"), now);
    let retry = session.next_wake().unwrap();
    session.tick(retry);
    assert!(all(session).contains(&Action::Connect));
    until_features(session, retry, BIND_SM);
    retry
}

#[test]
fn a_resumed_session_sends_exactly_what_the_server_lacks() {
    let (mut session, now) = online(policy(None));
    for n in 1..=3 {
        session.downstream_stanza(message(n), now);
    }
    session.server_item(
        line("<message from='bob@example.org/x'><body>in</body></message>"),
        now,
    );
    session.delivered();
    session.actions();
    let later = reconnect_until_features(&mut session, now);
    assert_eq!(
        sent(&mut session).last().unwrap(),
        "<resume xmlns='urn:xmpp:sm:3' h='1' previd='r1'/>"
    );
    // The server had two of our three.
    session.server_item(
        line("<resumed xmlns='urn:xmpp:sm:3' h='2' previd='r1'/>"),
        later,
    );
    let actions = all(&mut session);
    let resent: Vec<&String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(xml) => Some(xml),
            _ => None,
        })
        .collect();
    // The one it lacks, then a request: its answer shows it reads the stream.
    assert_eq!(resent.len(), 2, "{resent:?}");
    assert!(resent[0].contains("<body>3</body>"), "{resent:?}");
    assert_eq!(resent[1], "<r xmlns='urn:xmpp:sm:3'/>");
    assert!(actions.iter().any(
        |a| matches!(a, Action::Notice(n) if n == "resumed the session as user@example.org/pipes; 1 stanzas not acknowledged sent again")
    ), "{actions:?}");
    assert!(session.wants_downstream());
    // Nothing twice: the resent stanza is acknowledged as the third.
    session.server_item(ack(3), later);
    session.downstream_ended(None, later);
    session.server_item(ack(3), later);
    session.server_item(Item::Close, later);
    assert_eq!(session.finished(|_| None).unwrap().result.unwrap(), 0);
}

/// A message from bob as the server sends it: live, or `delayed` (from offline storage).
fn from_bob(id: &str, delayed: bool) -> Item {
    let delay = if delayed {
        "<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-12-02T10:00:00Z'/>"
    } else {
        ""
    };
    line(&format!(
        "<message from='bob@example.org/x' id='{id}' type='chat'><body>{id}</body>{delay}</message>"
    ))
}

/// The bodies of the messages given to downstream.
fn delivered_bodies(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver(line) if line.starts_with("<message") => line
                .split("<body>")
                .nth(1)?
                .split('<')
                .next()
                .map(str::to_owned),
            _ => None,
        })
        .collect()
}

/// The messages among `actions`' sends.
fn sent_messages(actions: &[Action]) -> Vec<&String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(xml) if xml.starts_with("<message") => Some(xml),
            _ => None,
        })
        .collect()
}

#[test]
fn a_resumed_session_that_acknowledges_nothing_is_given_up_for_a_new_one() {
    let (mut session, now) = online(policy(None));
    for n in 1..=3 {
        session.downstream_stanza(message(n), now);
    }
    session.server_item(from_bob("b1", false), now);
    session.delivered();
    session.actions();
    let later = reconnect_until_features(&mut session, now);
    session.actions();
    session.server_item(
        line("<resumed xmlns='urn:xmpp:sm:3' h='1' previd='r1'/>"),
        later,
    );
    session.actions();
    // The server talks (a message, its own request), but acknowledges nothing.
    session.server_item(from_bob("b2", false), later);
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), later);
    session.delivered();
    session.actions();
    let check = later + Duration::from_secs(20);
    assert_eq!(session.next_wake(), Some(check));
    session.tick(check - Duration::from_millis(1));
    assert!(!all(&mut session).contains(&Action::Drop));
    session.tick(check);
    let actions = all(&mut session);
    let unreadable = actions
        .iter()
        .position(|a| *a == Action::Send(UNREADABLE.into()));
    let drop = actions.iter().position(|a| *a == Action::Drop);
    assert!(unreadable.is_some() && unreadable < drop, "{actions:?}");
    assert!(
        notices(&actions).iter().any(|n| {
            n.starts_with(
        "the server acknowledged nothing in 20 s since it resumed the session: it does not read"
    )
        }),
        "{actions:?}"
    );
    // The next login binds a new session instead of resuming this one.
    let retry = session.next_wake().unwrap();
    session.tick(retry);
    assert!(all(&mut session).contains(&Action::Connect));
    until_features(&mut session, retry, BIND_SM);
    let login = sent(&mut session);
    assert!(
        !login.iter().any(|xml| xml.contains("<resume")),
        "{login:?}"
    );
    session.server_item(bound(), retry);
    session.server_item(
        line("<enabled xmlns='urn:xmpp:sm:3' id='r2' resume='true'/>"),
        retry,
    );
    let actions = all(&mut session);
    let resent = sent_messages(&actions);
    // Exactly what the resumption's h said the server lacked.
    assert_eq!(resent.len(), 2, "{actions:?}");
    assert!(resent[0].contains("<body>2</body>") && resent[1].contains("<body>3</body>"));
    // What the server held for the old session comes again from offline
    // storage: downstream has b1 and b2 already; b3 is new, and a live
    // message that reuses an id is not a copy.
    for item in [
        from_bob("b1", true),
        from_bob("b2", true),
        from_bob("b3", true),
        from_bob("b1", false),
    ] {
        session.server_item(item, retry);
    }
    let actions = all(&mut session);
    assert_eq!(delivered_bodies(&actions), ["b3", "b1"], "{actions:?}");
    // The copies count as handled: the server's request is answered with all four.
    for _ in 0..2 {
        session.delivered();
    }
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), retry);
    assert_eq!(
        sent(&mut session).last().map(String::as_str),
        Some("<a xmlns='urn:xmpp:sm:3' h='4'/>")
    );
}

#[test]
fn a_resumed_session_that_acknowledges_is_kept_and_copies_are_not_looked_for() {
    let (mut session, now) = online(policy(None));
    session.downstream_stanza(message(1), now);
    session.server_item(from_bob("b1", false), now);
    session.delivered();
    session.actions();
    let later = reconnect_until_features(&mut session, now);
    session.server_item(
        line("<resumed xmlns='urn:xmpp:sm:3' h='0' previd='r1'/>"),
        later,
    );
    session.server_item(ack(1), later);
    session.actions();
    // No check is left: the next wake is the keepalive's probe.
    assert_eq!(session.next_wake(), Some(later + Duration::from_secs(60)));
    session.tick(later + Duration::from_secs(20));
    assert!(!all(&mut session).contains(&Action::Drop));
    // A delayed message with a known id is still given downstream.
    session.server_item(from_bob("b1", true), later);
    assert_eq!(delivered_bodies(&all(&mut session)), ["b1"]);
}

#[test]
fn a_failed_resumption_logs_in_anew_and_sends_everything_unacknowledged() {
    let (mut session, now) = online(policy(None));
    for n in 1..=3 {
        session.downstream_stanza(message(n), now);
    }
    session.actions();
    let later = new_session_after_loss(
        &mut session,
        now,
        "<failed xmlns='urn:xmpp:sm:3' h='1'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    );
    let actions = all(&mut session);
    let resent = sent_messages(&actions);
    // The server said it had the first: the other two go again, with the same origin-ids.
    assert_eq!(resent.len(), 2, "{actions:?}");
    assert!(resent[0].contains("<body>2</body>") && resent[0].contains("origin-id"));
    assert!(actions.iter().any(|a| matches!(a, Action::Notice(n)
        if n == "logged in again as user@example.org/pipes: a new session; 2 stanzas not acknowledged sent again, at least once")),
        "{actions:?}");
    // The next loss resumes the new session.
    let again = reconnect_until_features(&mut session, later);
    assert!(sent(&mut session).last().unwrap().contains("previd='r2'"));
    let _ = again;
}

#[test]
fn a_new_session_is_announced_to_downstream_when_asked() {
    let now = Instant::now();
    let mut s = settings(policy(None));
    s.events = true;
    s.presence = true;
    let mut session = Session::new(s, true);
    log_in(&mut session, now, "r1");
    let actions = all(&mut session);
    assert!(
        actions.contains(&Action::Deliver(
            "<session xmlns='urn:xmpp-pipes:session:0' state='new' jid='user@example.org/pipes'/>"
                .into()
        )),
        "{actions:?}"
    );
    assert!(actions.contains(&Action::Send("<presence/>".into())));
    // Downstream's own presence is what a new session sends again.
    session.downstream_stanza("<presence><show>away</show></presence>".into(), now);
    session.actions();
    let later = new_session_after_loss(&mut session, now, "<failed xmlns='urn:xmpp:sm:3'/>");
    let sent = sent(&mut session);
    assert_eq!(
        sent.iter()
            .filter(|x| x.as_str() == "<presence><show>away</show></presence>")
            .count(),
        2,
        "sent again as presence, and as an unacknowledged stanza: {sent:?}"
    );
    // A forged event from the network is dropped.
    session.server_item(
        line("<session xmlns='urn:xmpp-pipes:session:0' state='new'/>"),
        later,
    );
    assert!(!all(&mut session)
        .iter()
        .any(|a| matches!(a, Action::Deliver(_))));
}

#[test]
fn downstream_is_told_of_each_join_before_it_goes_out_and_again_on_a_new_session() {
    let (mut session, now) = online_with_events(policy(None), |_| {});
    let join = "<presence to='room@muc.example.org/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>";
    let joining = "<joining xmlns='urn:xmpp-pipes:session:0' room='room@muc.example.org'/>";
    let order = |actions: &[Action]| {
        let told = actions
            .iter()
            .position(|a| matches!(a, Action::Deliver(x) if x == joining));
        let sent = actions
            .iter()
            .position(|a| matches!(a, Action::Send(x) if x.starts_with(join)));
        (told, sent)
    };
    session.downstream_stanza(join.into(), now);
    let (told, sent) = order(&session.actions());
    assert!(told.is_some() && told < sent, "{told:?} {sent:?}");
    // Leaving is no join.
    session.downstream_stanza(
        "<presence to='room@muc.example.org/bob' type='unavailable'/>".into(),
        now,
    );
    assert_eq!(order(&session.actions()).0, None);
    let later = new_session_after_loss(&mut session, now, "<failed xmlns='urn:xmpp:sm:3'/>");
    let (told, sent) = order(&all(&mut session));
    assert!(
        told.is_some() && told < sent,
        "the rejoin: {told:?} {sent:?}"
    );
    // The event from the network is dropped, as every event is.
    session.server_item(line(joining), later);
    assert!(!all(&mut session)
        .iter()
        .any(|a| matches!(a, Action::Deliver(_))));
}

#[test]
fn permanent_failures_are_not_retried() {
    let (mut session, now) = online(policy(None));
    session.connection_lost(Error::denied("certificate refused"), now);
    assert!(session.is_done());
    failed(&mut session, Status::NoPerm);
}

#[test]
fn the_reconnect_limit_gives_up() {
    let (mut session, now) = online(policy(Some(2)));
    session.connection_lost(Error::temp("reset"), now);
    for _ in 0..2 {
        let at = session.next_wake().unwrap();
        session.tick(at);
        assert!(all(&mut session).contains(&Action::Connect));
        session.connect_failed(Error::temp("connection refused"), at);
    }
    assert!(session.is_done());
    let err = failed(&mut session, Status::TempFail);
    assert!(err.message().contains("gave up after 2 attempts"), "{err}");
}

#[test]
fn a_reader_that_goes_away_stops_the_counting_and_closes() {
    let (mut session, now) = online(None);
    session.downstream_stanza(message(1), now);
    session.actions();
    session.server_item(
        line("<message from='bob@example.org/x'><body>a</body></message>"),
        now,
    );
    session.delivered();
    session.actions();
    session.downstream_lost(Error::new(Status::IoErr, "cannot write to stdout"), now);
    assert_eq!(sent(&mut session), ["<r xmlns='urn:xmpp:sm:3'/>"]);
    session.server_item(
        line("<message from='bob@example.org/x'><body>b</body></message>"),
        now,
    );
    assert!(all(&mut session).is_empty(), "nothing more delivered");
    session.delivered();
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), now);
    assert_eq!(sent(&mut session), ["<a xmlns='urn:xmpp:sm:3' h='1'/>"]);
    session.server_item(ack(1), now);
    assert_eq!(sent(&mut session), ["</stream:stream>"]);
    session.server_item(Item::Close, now);
    failed(&mut session, Status::IoErr);
}

#[test]
fn the_closing_is_bounded_even_across_reconnections() {
    let (mut session, now) = online(policy(None));
    session.downstream_stanza(message(1), now);
    session.downstream_ended(None, now);
    session.connection_lost(Error::temp("reset"), now);
    session.actions();
    let deadline = now + Duration::from_secs(10);
    // Retries come and fail until the deadline.
    while let Some(at) = session.next_wake().filter(|at| *at < deadline) {
        session.tick(at);
        if all(&mut session).contains(&Action::Connect) {
            session.connect_failed(Error::temp("refused"), at);
        }
    }
    session.tick(deadline);
    assert!(session.is_done());
    let err = failed(&mut session, Status::TempFail);
    assert!(
        err.message()
            .contains("1 of 1 stanzas sent were not acknowledged"),
        "{err}"
    );
}

#[test]
fn a_long_queue_acknowledged_steadily_outlasts_the_timeout_but_a_stall_does_not() {
    let (mut session, start) = online(None);
    for n in 1..=3 {
        session.downstream_stanza(message(n), start);
    }
    session.downstream_ended(None, start);
    session.actions();
    // The server takes 8 s for each (the timeout is 10 s): 24 s in all.
    let mut now = start;
    for h in 1..=2 {
        now += Duration::from_secs(8);
        session.tick(now);
        assert!(!session.is_done(), "given up at {h} while acks still came");
        session.server_item(ack(h), now);
    }
    // Then nothing: the end comes 10 s after the last acknowledgement.
    let deadline = now + Duration::from_secs(10);
    assert_eq!(session.next_wake(), Some(deadline));
    session.tick(deadline - Duration::from_millis(1));
    assert!(!session.is_done());
    session.tick(deadline);
    assert!(session.is_done());
    let err = failed(&mut session, Status::TempFail);
    assert!(
        err.message()
            .contains("1 of 3 stanzas sent were not acknowledged by the server (the first 2 were)"),
        "{err}"
    );
}

#[test]
fn a_stream_error_is_a_loss_with_its_status() {
    let (mut session, now) = online(policy(None));
    session.server_item(
        line("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"),
        now,
    );
    let actions = all(&mut session);
    assert_eq!(
        actions[0],
        Action::Drop,
        "not passed on: the session goes on"
    );
    assert!(actions.iter().any(|a| matches!(a, Action::Notice(n) if n.starts_with("stream error: system-shutdown; connecting again"))), "{actions:?}");
    assert!(!session.is_done());
}

#[test]
fn origin_ids_are_added_once() {
    assert_eq!(
        with_origin_id("<message to='a@b'/>", "x"),
        "<message to='a@b'><origin-id xmlns='urn:xmpp:sid:0' id='x'/></message>"
    );
    assert_eq!(
        with_origin_id("<message to='a@b'><body>hi</body></message>", "x"),
        "<message to='a@b'><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='x'/></message>"
    );
    let with = "<message><origin-id xmlns='urn:xmpp:sid:0' id='y'/></message>";
    assert_eq!(with_origin_id(with, "x"), with);
}

#[test]
fn what_downstream_has_not_taken_yet_counts_for_the_resumption() {
    let (mut session, now) = online(policy(None));
    for body in ["a", "b"] {
        session.server_item(
            line(&format!(
                "<message from='bob@example.org/x'><body>{body}</body></message>"
            )),
            now,
        );
    }
    session.actions();
    // One written whole; the other still in our buffer when the connection goes.
    session.delivered();
    session.connection_lost(Error::temp("reset"), now);
    let retry = session.next_wake().unwrap();
    session.tick(retry);
    session.actions();
    until_features(&mut session, retry, BIND_SM);
    assert_eq!(
        sent(&mut session).last().unwrap(),
        "<resume xmlns='urn:xmpp:sm:3' h='2' previd='r1'/>",
        "the server must not send again what we hold"
    );
    // Written later: it is not counted twice.
    session.delivered();
    session.server_item(
        line("<resumed xmlns='urn:xmpp:sm:3' h='0' previd='r1'/>"),
        retry,
    );
    session.actions();
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), retry);
    assert_eq!(sent(&mut session), ["<a xmlns='urn:xmpp:sm:3' h='2'/>"]);
}

#[test]
fn acknowledged_messages_are_reported_to_downstream_when_asked() {
    let (mut session, now) = online_with_events(None, |_| {});
    session.downstream_stanza(message(1), now);
    session.downstream_stanza("<presence/>".into(), now);
    session.actions();
    session.server_item(ack(2), now);
    let delivered: Vec<String> = all(&mut session)
        .into_iter()
        .filter_map(|a| match a {
            Action::Deliver(line) => Some(line),
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].starts_with(
        "<acked xmlns='urn:xmpp-pipes:session:0'><message xmlns='jabber:client' to='bob@example.org' type='chat' id='m1'><body>1</body>"
    ), "{}", delivered[0]);
    // A forged one from the network never reaches downstream.
    session.server_item(
        line("<acked xmlns='urn:xmpp-pipes:session:0'><message xmlns='jabber:client' to='x@y'/></acked>"),
        now,
    );
    session.server_item(
        line(
            "<message from='eve@example.org/x'><acked xmlns='urn:xmpp-pipes:session:0'/></message>",
        ),
        now,
    );
    let delivered: Vec<Action> = all(&mut session);
    assert_eq!(
        delivered.len(),
        1,
        "the message with a payload inside is a message: {delivered:?}"
    );
}

#[test]
fn a_quiet_downstream_gets_its_lines_acknowledged_soon() {
    let (mut session, now) = online(None);
    session.downstream_quiet();
    assert!(sent(&mut session).is_empty(), "nothing sent, nothing asked");
    session.downstream_stanza(message(1), now);
    session.downstream_stanza(message(2), now);
    session.actions();
    session.downstream_quiet();
    assert_eq!(sent(&mut session), ["<r xmlns='urn:xmpp:sm:3'/>"]);
    session.downstream_quiet();
    assert!(sent(&mut session).is_empty(), "asked once");
}

#[test]
fn what_came_before_stream_management_was_enabled_is_not_counted() {
    let now = Instant::now();
    let mut session = Session::new(settings(None), false);
    until_features(&mut session, now, BIND_SM);
    // Offline messages, say, between bind and <enabled/>.
    session.server_item(bound(), now);
    session.server_item(
        line("<message from='bob@example.org/x'><body>early</body></message>"),
        now,
    );
    session.server_item(
        line("<enabled xmlns='urn:xmpp:sm:3' id='r1' resume='true'/>"),
        now,
    );
    assert!(all(&mut session)
        .iter()
        .any(|a| matches!(a, Action::Deliver(l) if l.contains("early"))));
    session.delivered();
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), now);
    assert_eq!(sent(&mut session), ["<a xmlns='urn:xmpp:sm:3' h='0'/>"]);
}

/// The error reply to our message `id`, from `from`.
fn bounce(from: &str, id: &str, condition: &str) -> Item {
    line(&format!(
        "<message type='error' id='{id}' from='{from}'><error type='cancel'>\
         <{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ))
}

fn notices(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notice(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_bounce_ends_the_session_with_its_status_and_the_recipient() {
    let (mut session, now) = online(None);
    session.downstream_stanza(
        "<message to='nobody@example.org' type='chat' id='m1'><body>x</body></message>".into(),
        now,
    );
    session.actions();
    session.server_item(
        bounce("nobody@example.org", "m1", "service-unavailable"),
        now,
    );
    let actions = all(&mut session);
    assert_eq!(
        notices(&actions),
        ["the message to nobody@example.org bounced: service-unavailable"]
    );
    // Downstream sees the error too.
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Deliver(l) if l.contains("type='error'"))));
    session.delivered();
    session.downstream_ended(None, now);
    session.server_item(ack(1), now);
    session.server_item(Item::Close, now);
    // Told once, when it came: the status says the rest.
    let status = session.finished(|_| None).unwrap().result.unwrap();
    assert_eq!(status, Status::NoUser.code());
}

#[test]
fn an_error_from_someone_else_is_no_bounce() {
    let (mut session, now) = online(None);
    session.downstream_stanza(message(1), now);
    session.actions();
    session.server_item(bounce("mallory@example.org", "m1", "item-not-found"), now);
    assert!(notices(&all(&mut session)).is_empty());
    session.delivered();
    session.downstream_ended(None, now);
    session.server_item(ack(1), now);
    session.server_item(Item::Close, now);
    assert_eq!(session.finished(|_| None).unwrap().result.unwrap(), 0);
}

#[test]
fn a_message_to_another_domain_waits_linger_for_a_late_bounce() {
    let (mut session, now) = online(None);
    session.downstream_stanza(
        "<message to='bob@far.example' type='chat' id='m1'><body>x</body></message>".into(),
        now,
    );
    session.downstream_ended(None, now);
    session.actions();
    session.server_item(ack(1), now);
    assert!(sent(&mut session).is_empty(), "no closing yet: lingering");
    assert_eq!(session.next_wake(), Some(now + LINGER));
    let later = now + Duration::from_secs(2);
    session.tick(later);
    assert!(sent(&mut session).is_empty());
    session.server_item(
        bounce("far.example", "m1", "remote-server-not-found"),
        later,
    );
    // Nothing else could bounce: the closing follows at once.
    let actions = all(&mut session);
    assert_eq!(notices(&actions).len(), 1, "{actions:?}");
    assert!(
        actions.contains(&Action::Send("</stream:stream>".into())),
        "{actions:?}"
    );
    session.delivered();
    session.server_item(Item::Close, later);
    let status = session.finished(|_| None).unwrap().result.unwrap();
    assert_eq!(status, Status::NoHost.code());
}

#[test]
fn without_a_bounce_the_linger_ends_in_success_and_own_domains_do_not_linger() {
    let (mut session, now) = online(None);
    session.downstream_stanza(
        "<message to='bob@far.example' type='chat' id='m1'><body>x</body></message>".into(),
        now,
    );
    session.downstream_ended(None, now);
    session.actions();
    session.server_item(ack(1), now);
    session.tick(now + LINGER);
    assert_eq!(sent(&mut session), ["</stream:stream>"]);
    session.server_item(Item::Close, now + LINGER);
    assert_eq!(session.finished(|_| None).unwrap().result.unwrap(), 0);
    // To our own domain: closed at the acknowledgement.
    let (mut session, now) = online(None);
    session.downstream_stanza(message(1), now);
    session.downstream_ended(None, now);
    session.actions();
    session.server_item(ack(1), now);
    assert_eq!(sent(&mut session), ["</stream:stream>"]);
}

#[test]
fn a_message_without_an_id_gets_one_so_that_its_bounce_is_known() {
    let (mut session, now) = online(None);
    session.downstream_stanza(
        "<message to='nobody@example.org'><body>x</body></message>".into(),
        now,
    );
    let out = sent(&mut session);
    let id = out[0]
        .split(" id='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    assert!(id.starts_with("xp-"), "{}", out[0]);
    assert!(out[0].starts_with("<message id='xp-"), "{}", out[0]);
    session.server_item(bounce("nobody@example.org", &id, "item-not-found"), now);
    assert_eq!(notices(&all(&mut session)).len(), 1);
}

/// The `<acked/>` events among `actions`' deliveries.
fn acked_lines(actions: Vec<Action>) -> Vec<String> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Deliver(line) if line.starts_with("<acked") => Some(line),
            _ => None,
        })
        .collect()
}

#[test]
fn a_message_that_bounced_before_its_acknowledgement_is_reported_as_bounced() {
    let (mut session, now) = online_with_events(None, |_| {});
    session.downstream_stanza(message(1), now);
    session.downstream_stanza(message(2), now);
    session.actions();
    session.server_item(
        line(
            "<message from='bob@example.org' type='error' id='m1'><error type='cancel'>\
             <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        ),
        now,
    );
    session.actions();
    session.server_item(ack(2), now);
    let acked = acked_lines(all(&mut session));
    assert_eq!(acked.len(), 2, "{acked:?}");
    assert!(
        acked[0].starts_with(
            "<acked xmlns='urn:xmpp-pipes:session:0' bounced='item-not-found'><message"
        ),
        "{}",
        acked[0]
    );
    assert!(
        acked[1].starts_with("<acked xmlns='urn:xmpp-pipes:session:0'><message"),
        "{}",
        acked[1]
    );
}

#[test]
fn what_a_resumption_acknowledges_is_reported_to_downstream() {
    let (mut session, now) = online_with_events(policy(None), |_| {});
    for n in 1..=3 {
        session.downstream_stanza(message(n), now);
    }
    session.actions();
    let later = reconnect_until_features(&mut session, now);
    session.actions();
    session.server_item(
        line("<resumed xmlns='urn:xmpp:sm:3' h='2' previd='r1'/>"),
        later,
    );
    let acked = acked_lines(all(&mut session));
    assert_eq!(acked.len(), 2, "{acked:?}");
    assert!(acked[0].contains("<body>1</body>") && acked[1].contains("<body>2</body>"));
}

#[test]
fn a_resource_taken_by_another_session_ends_the_session_with_75_and_no_retry() {
    let (mut session, now) = online(policy(None));
    session.server_item(
        line("<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"),
        now,
    );
    let actions = all(&mut session);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Connect | Action::Notice(_))),
        "not retried (it would take the resource back): {actions:?}"
    );
    assert!(session.is_done());
    let err = failed(&mut session, Status::TempFail);
    assert!(
        err.message()
            .starts_with("stream error: conflict: another session took this resource"),
        "{err}"
    );
}

#[test]
fn a_stanza_over_the_server_s_limit_is_not_sent_and_ends_the_input() {
    let now = Instant::now();
    let mut session = Session::new(settings(None), false);
    until_features(
        &mut session,
        now,
        &format!(
            "{BIND_SM}<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>300</max-bytes></limits>"
        ),
    );
    session.server_item(bound(), now);
    session.server_item(
        line("<enabled xmlns='urn:xmpp:sm:3' id='r1' resume='true'/>"),
        now,
    );
    session.actions();
    session.downstream_stanza(message(1), now);
    assert_eq!(sent(&mut session).len(), 1, "a small one goes");
    let big = format!(
        "<message to='bob@example.org' type='chat'><body>{}</body></message>",
        "x".repeat(400)
    );
    session.downstream_stanza(big, now);
    let out = sent(&mut session);
    assert!(
        out.iter().all(|xml| !xml.contains("xxxx")),
        "not sent: {out:?}"
    );
    assert!(!session.wants_downstream(), "the input is over");
    session.server_item(ack(1), now);
    session.server_item(Item::Close, now);
    let err = failed(&mut session, Status::DataErr);
    assert!(
        err.message()
            .contains("over the server's limit of 300 bytes"),
        "{err}"
    );
}

#[test]
fn a_session_that_refuses_bad_input_goes_on_and_says_what_was_not_sent() {
    let (mut session, now) = online_with_events(None, |s| s.refuse_bad_input = true);
    session.downstream_stanza(
        "<message to='room@muc.example.org' type='groupchat'><body>hi</body></message>".into(),
        now,
    );
    session.downstream_refused("line 2 (junk): malformed XML".into(), now);
    let actions = all(&mut session);
    let notices: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Notice(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    let delivered: Vec<_> = actions
        .iter()
        .filter_map(|a| {
            if let Action::Deliver(d) = a {
                Some(d.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(notices.len(), 2, "{actions:?}");
    assert!(
        notices[0].starts_with("refused a message to room@muc.example.org from downstream, not sent: message to room room@muc.example.org, which this session did not join"),
        "{}",
        notices[0]
    );
    assert!(notices[1].contains("line 2 (junk)"), "{}", notices[1]);
    assert_eq!(delivered.len(), 2, "{actions:?}");
    assert!(
        delivered[0].starts_with(&format!(
            "<refused xmlns='{NS_EVENTS}' why='message to room"
        )) && delivered[0].contains("<body>hi</body>"),
        "{}",
        delivered[0]
    );
    assert!(!delivered[1].contains("<message"), "{}", delivered[1]);
    assert!(
        actions.iter().all(|a| !matches!(a, Action::Send(_))),
        "nothing sent: {actions:?}"
    );
    assert!(session.wants_downstream(), "the session goes on");
    session.downstream_stanza(message(1), now);
    assert_eq!(sent(&mut session).len(), 1, "the next line goes");
    session.downstream_ended(None, now);
    session.server_item(ack(1), now);
    session.server_item(Item::Close, now);
    assert_eq!(session.finished(|_| None).unwrap().result.unwrap(), 0);
}

#[test]
fn with_receipts_the_session_ends_in_success_only_once_the_recipient_confirmed() {
    let receipting = || {
        let now = Instant::now();
        let mut s = settings(None);
        s.receipts = true;
        let mut session = Session::new(s, false);
        log_in(&mut session, now, "r1");
        session.actions();
        session.downstream_stanza(message(1), now);
        let out = sent(&mut session);
        assert!(
            out[0].contains("<request xmlns='urn:xmpp:receipts'/></message>"),
            "{out:?}"
        );
        session.downstream_ended(None, now);
        session.actions();
        session.server_item(ack(1), now);
        assert!(
            sent(&mut session).is_empty(),
            "acknowledged, not yet received"
        );
        (session, now)
    };
    let (mut session, now) = receipting();
    session.server_item(
        line("<message from='bob@example.org/phone'><received xmlns='urn:xmpp:receipts' id='m1'/></message>"),
        now,
    );
    assert!(sent(&mut session).contains(&"</stream:stream>".to_owned()));
    session.delivered();
    session.server_item(Item::Close, now);
    assert_eq!(session.finished(|_| None).unwrap().result.unwrap(), 0);

    // None comes (a receipt from someone else is none): 75 at the timeout.
    let (mut session, now) = receipting();
    session.server_item(
        line("<message from='eve@example.org/x'><received xmlns='urn:xmpp:receipts' id='m1'/></message>"),
        now,
    );
    session.delivered();
    session.tick(now + Duration::from_secs(10));
    let err = failed(&mut session, Status::TempFail);
    assert!(
        err.message()
            .starts_with("no delivery receipt from bob@example.org within 10 s"),
        "{err}"
    );
}

#[test]
fn carbons_are_turned_on_in_each_new_session_and_the_answer_stays_here() {
    let now = Instant::now();
    let mut s = settings(None);
    s.carbons = true;
    let mut session = Session::new(s, false);
    log_in(&mut session, now, "r1");
    let out = sent(&mut session);
    assert!(
        out.contains(
            &"<iq type='set' id='xa-carbons'><enable xmlns='urn:xmpp:carbons:2'/></iq>".to_owned()
        ),
        "{out:?}"
    );
    session.server_item(line("<iq type='result' id='xa-carbons'/>"), now);
    assert!(all(&mut session).is_empty(), "not for downstream");
    session.server_item(
        line("<iq type='error' id='xa-carbons'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"),
        now,
    );
    assert_eq!(
        notices(&all(&mut session)),
        ["warning: the server refused message carbons: service-unavailable"]
    );
}

#[test]
fn features_after_a_login_that_ended_at_sasl2_success_are_not_a_stanza() {
    let (mut session, now) = online(None);
    session.server_item(
        line("<stream:features xmlns:stream='http://etherx.jabber.org/streams'><ver xmlns='urn:xmpp:features:rosterver'/></stream:features>"),
        now,
    );
    assert_eq!(all(&mut session), [], "neither delivered nor answered");
    session.server_item(line("<r xmlns='urn:xmpp:sm:3'/>"), now);
    assert_eq!(
        sent(&mut session),
        ["<a xmlns='urn:xmpp:sm:3' h='0'/>"],
        "not counted"
    );
}

/// The word that ends a session given up must reach the server whole:
/// xmpp-connect's relay holds back bytes after the last element boundary
/// and drops them when its input ends, which is what follows the word.
#[test]
fn the_unreadable_word_ends_on_an_element_boundary() {
    let mut boundaries = crate::xml::boundary::Boundaries::new();
    let stream = format!(
        "<stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams'>\
         <message to='bob@x'><body>hi</body></message>{UNREADABLE}"
    );
    boundaries.push(stream.as_bytes());
    assert_eq!(boundaries.complete(), stream.len());
}

//! Login, sans I/O: stream negotiation up to a bound or resumed session
//! (RFC 6120 §4–7, XEP-0077, XEP-0198, XEP-0440).
//!
//! [`Login`] takes the items a [`crate::xml::Framer`] reads from the server
//! and says what to write back; it does no I/O, reads no environment and
//! knows no clock. The states, in order:
//!
//! 1. **Header**: the caller writes [`Login::start`]'s stream header; the
//!    server's header must say `version='1.0'`.
//! 2. **Features**: a plaintext stream whose server requires STARTTLS is
//!    refused.
//! 3. **Registration** (XEP-0077, only with [`Config::register`], only over
//!    TLS): `<iq id='xa-register'>`; an existing account (`conflict`) is a
//!    warning, the login that follows checks the password.
//! 4. **SASL**: the mechanism is chosen by [`sasl::choose`], with channel
//!    binding only when the server lists tls-exporter (XEP-0440) or the user
//!    forced a -PLUS mechanism; challenges are answered until `<success/>`,
//!    whose data must carry the server's proof (SCRAM). The password is
//!    dropped (and wiped) as soon as the SASL client holds what it needs
//!    (with SASL2 at the success: a refused FAST token or stale cached
//!    features are followed by a login with it on the same stream). With
//!    SASL2 ([`super::sasl2`]) there is no restart: Bind2 and stream
//!    management go inline, and the features after `<success/>` end the
//!    login (or lead to 6–9 as below when Bind2 was not used).
//! 5. **Restart**: a new stream header is written; the server's header and
//!    features follow, as in 1 and 2.
//! 6. **Resumption** (XEP-0198, only with [`Config::resume`] and when the
//!    features offer stream management): `<resume/>`; `<resumed/>` ends the
//!    login ([`Sm::Resumed`]), `<failed/>` goes on as a fresh login
//!    ([`Sm::Restarted`]).
//! 7. **Bind**: `<iq id='xa-bind'>`, with the configured resource if any.
//! 8. **Session** (legacy, RFC 3921): `<iq id='xa-session'>`, only when the
//!    features require it.
//! 9. **Enable** stream management (only with
//!    [`Config::stream_management`] and when offered): `<enabled/>`, or
//!    `<failed/>` (a warning, and no stream management).
//!
//! Stanzas that arrive while an iq or `<enable/>` waits for its answer are
//! kept for downstream ([`Outcome::pending`]); anything else unexpected, a
//! stream error or the end of the stream ends the login with an [`Error`]
//! whose status and message are what xmpp-auth reports.
//!
//! What the caller does:
//!
//! - write [`Login::start`] first, then feed every [`Item`] the framer
//!   yields to [`Login::on_item`], one at a time;
//! - on [`Step::Send`], write the lines in order (and flush) before reading
//!   on; an empty `Send` means only "feed the next item";
//! - on [`Step::Done`], the login is over: later items belong to the
//!   session; print [`Outcome::warnings`] (see [`crate::exit::warn`]);
//! - turn a framing error into an [`Error`] with
//!   [`crate::stream::frame_error`], and feed [`Item::Close`] at the end of
//!   the input (the server closed the connection), as today's code does;
//! - enforce the time limits: this module has no clock.

use super::sasl2::{self, Fast, InlineSm, SmAnswer, TokenUpdate, NS_SASL2};
use crate::exit::{Error, Result, Status};
use crate::jid::Jid;
use crate::password::Password;
use crate::sasl::{
    self, Advertised, ChannelBinding, ChooseContext, HashedToken, HtMechanism, Mechanism, SaslError,
};
use crate::stream::{
    client_header, describe_stanza_error, parse_server_element as parse, unexpected, NS_BIND,
    NS_REGISTER, NS_SASL, NS_SESSION, NS_SM, NS_TLS,
};
use crate::xml::element::Node;
use crate::xml::{Element, Item, StreamHeader, NS_CLIENT, NS_STREAMS};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::fmt;

/// What the caller knows about the transport, read once at the edge.
#[derive(Clone, Default)]
pub struct Transport {
    /// Whether the connection is TLS (PLAIN and registration need it).
    pub tls: bool,
    /// tls-exporter channel-binding data (RFC 9266), when the TLS layer exported it.
    pub exporter: Option<Vec<u8>>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The exporter data is a secret of the TLS session: keep it out of logs.
        f.debug_struct("Transport")
            .field("tls", &self.tls)
            .field(
                "exporter",
                &self
                    .exporter
                    .as_ref()
                    .map(|data| format!("<{} bytes>", data.len())),
            )
            .finish()
    }
}

/// A previous session to resume (XEP-0198).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The resumption id the server gave in `<enabled/>`.
    pub id: String,
    /// How many inbound stanzas we handled: the `h` we send.
    pub handled: u32,
    /// The full JID of that session (the server does not repeat it on resumption).
    pub jid: Jid,
}

/// Everything the login needs, as plain data.
#[derive(Debug)]
pub struct Config {
    /// The bare account JID.
    pub jid: Jid,
    /// The resource to ask for; the server picks one otherwise.
    pub resource: Option<String>,
    /// The password (dropped once SASL no longer needs it).
    pub password: Password,
    /// The SASL mechanism the user forced, if any.
    pub mechanism: Option<Mechanism>,
    /// Create the account first (XEP-0077 in-band registration).
    pub register: bool,
    /// Enable stream management (XEP-0198) when the server offers it.
    pub stream_management: bool,
    /// Try to resume this session instead of binding a new one.
    pub resume: Option<Resume>,
    /// Use SASL2 (XEP-0388) where the server offers it.
    pub sasl2: bool,
    /// FAST (XEP-0484): `None` when not wanted.
    pub fast: Option<Fast>,
    /// The server's first stream features (a line) as an earlier login saw
    /// them: with SASL2 there, `<authenticate/>` goes out with the stream
    /// header instead of after the features (XEP-0388 lets clients cache them).
    pub cached_features: Option<String>,
}

/// The Bind2 tag: the start of the resource the server makes.
pub const BIND_TAG: &str = "xmpp-pipes";

/// What the login wants done after an item.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these lines (in order; possibly none) and feed the next item.
    Send(Vec<String>),
    /// Logged in (boxed: an outcome is large beside a few lines).
    Done(Box<Outcome>),
}

/// A logged-in stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The full JID the server bound; on resumption, [`Resume::jid`].
    pub jid: Jid,
    /// Where stream management stands.
    pub sm: Sm,
    /// Stanza lines that arrived during negotiation, for downstream.
    pub pending: Vec<String>,
    /// Things to tell the user (`exists already`, stream management refused).
    pub warnings: Vec<String>,
    /// The largest stanza the server takes, in bytes, if it says (XEP-0478).
    pub max_stanza: Option<usize>,
    /// What was negotiated, for `--verbose`: the SASL mechanism, the stream
    /// features after SASL.
    pub details: Vec<String>,
    /// What becomes of the stored FAST token, if anything.
    pub token: Option<TokenUpdate>,
    /// The server's first features (a line) when they offer SASL2, to be
    /// cached for the next login ([`Config::cached_features`]).
    pub features: Option<String>,
}

/// Stream management (XEP-0198) at the end of the login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sm {
    /// Not enabled: not wanted, not offered, or refused.
    Off,
    /// Enabled on a fresh session.
    Enabled(Enabled),
    /// The previous session was resumed.
    Resumed {
        /// The server's count of our stanzas it handled.
        h: u32,
    },
    /// Resumption was refused (`<failed/>`): a new session was bound, and
    /// stream management enabled afresh if wanted.
    Restarted {
        /// The server's count of our stanzas in the old session, if it said.
        failed_h: Option<u32>,
        /// Stream management on the new session; `None` when not enabled.
        enabled: Option<Enabled>,
    },
}

/// What the server said in `<enabled/>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enabled {
    /// The resumption id, when the server allows resumption.
    pub id: Option<String>,
    /// How long (seconds) the server keeps the session for resumption, if it said.
    pub max: Option<u32>,
}

/// The login state machine; see the module documentation.
pub struct Login {
    jid: Jid,
    resource: Option<String>,
    /// `None` once the SASL client has it.
    password: Option<Password>,
    mechanism: Option<Mechanism>,
    register: bool,
    stream_management: bool,
    resume: Option<Resume>,
    sasl2: bool,
    fast: Option<Fast>,
    /// See [`Outcome::token`].
    token: Option<TokenUpdate>,
    /// Why a session is bound after SASL (a failed inline resumption says).
    fresh: Fresh,
    /// See [`Config::cached_features`].
    cached_features: Option<String>,
    /// `<authenticate/>` went out with the header, from the cached
    /// features: what the server's header and features are still awaited.
    early: Option<Early>,
    /// The server's features differ from the cached ones the authenticate
    /// was built from: a failure is then retried with the real ones.
    stale: bool,
    /// See [`Outcome::features`].
    features_line: Option<String>,
    transport: Transport,
    state: State,
    pending: Vec<String>,
    warnings: Vec<String>,
    /// XEP-0478 `max-bytes` of the features after SASL.
    max_stanza: Option<usize>,
    /// See [`Outcome::details`].
    details: Vec<String>,
    /// The SCRAM client nonce to use instead of a random one (test vectors).
    #[cfg(test)]
    nonce: Option<String>,
}

/// Where the login is.
enum State {
    /// Waiting for the server's stream header (`restarted`: after SASL).
    Header { restarted: bool },
    /// Waiting for the stream features.
    Features { restarted: bool },
    /// The registration iq is out.
    Register { features: Element },
    /// `<auth/>` is out.
    Sasl { client: Box<dyn sasl::Client> },
    /// SASL2's `<authenticate/>` is out.
    Sasl2(Exchange),
    /// SASL2 succeeded: the authenticated stream's features follow.
    Sasl2Features {
        success: sasl2::Success,
        inline_sm: bool,
    },
    /// `<resume/>` is out.
    Resume { offers: Offers },
    /// The bind iq is out (and `<enable/>` right after it, when `enable`).
    Bind {
        offers: Offers,
        fresh: Fresh,
        enable: bool,
    },
    /// The legacy session iq is out.
    Session {
        offers: Offers,
        fresh: Fresh,
        jid: Jid,
    },
    /// `<enable/>` is out.
    Enable { fresh: Fresh, jid: Jid },
    /// Logged in.
    Done,
    /// An error ended the login.
    Failed,
}

/// Where a pipelined SASL2 login is (see [`Config::cached_features`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Early {
    /// The server's stream header is awaited.
    Header,
    /// Its features are awaited (and compared with the cached ones).
    Features,
}

/// A SASL2 exchange under way.
struct Exchange {
    auth: Sasl2Auth,
    /// What the features offer (the cached ones until a pipelined login's arrive).
    offers: sasl2::Offers,
    /// Those features.
    features: Element,
    /// Stream management was asked for inside Bind2.
    inline_sm: bool,
}

/// How a SASL2 login authenticates.
enum Sasl2Auth {
    /// With the password, by a SASL mechanism (asking for a FAST token
    /// for this mechanism, if any).
    Password {
        client: Box<dyn sasl::Client>,
        token_for: Option<HtMechanism>,
    },
    /// With the stored FAST token.
    Token(HashedToken),
}

/// What the features after SASL offer.
#[derive(Clone, Copy)]
struct Offers {
    bind: bool,
    /// Legacy session establishment, and not marked optional.
    session_required: bool,
    sm: bool,
}

/// Why a session is being bound.
#[derive(Clone, Copy)]
enum Fresh {
    /// A plain login.
    Login,
    /// The server refused to resume (with its `h`, if it gave one).
    AfterFailedResume { h: Option<u32> },
}

/// The id of the registration iq.
const ID_REGISTER: &str = "xa-register";
/// The id of the bind iq.
const ID_BIND: &str = "xa-bind";
/// The id of the legacy session iq.
const ID_SESSION: &str = "xa-session";

impl Login {
    /// A login for `config` over `transport`.
    pub fn new(config: Config, transport: Transport) -> Login {
        let Config {
            jid,
            resource,
            password,
            mechanism,
            register,
            stream_management,
            resume,
            sasl2,
            fast,
            cached_features,
        } = config;
        Login {
            jid,
            resource,
            password: Some(password),
            mechanism,
            register,
            stream_management,
            resume,
            sasl2,
            fast,
            token: None,
            fresh: Fresh::Login,
            cached_features,
            early: None,
            stale: false,
            features_line: None,
            transport,
            state: State::Header { restarted: false },
            pending: Vec::new(),
            warnings: Vec::new(),
            max_stanza: None,
            details: Vec::new(),
            #[cfg(test)]
            nonce: None,
        }
    }

    /// A login whose SCRAM client uses this nonce (for test vectors).
    #[cfg(test)]
    fn with_nonce(mut self, nonce: &str) -> Login {
        self.nonce = Some(nonce.to_owned());
        self
    }

    /// The stream header to write first (`from` is the bare JID, over TLS only).
    ///
    /// With [`Config::cached_features`] offering SASL2, the `<authenticate/>`
    /// follows it in the same string (one write).
    pub fn start(&mut self) -> String {
        let mut start = self.header();
        if let Some(lines) = self.pipelined_authenticate() {
            start.extend(lines);
        }
        start
    }

    /// Whether this login takes SASL2 where offered: over TLS, unless told not to.
    fn uses_sasl2(&self) -> bool {
        self.sasl2 && self.transport.tls
    }

    /// `<authenticate/>` from the cached features, when they allow it.
    fn pipelined_authenticate(&mut self) -> Option<Vec<String>> {
        let line = self.cached_features.take()?;
        if !self.uses_sasl2() || self.register {
            return None;
        }
        // Nothing secret before this stream's offers were seen: a token
        // proof not bound to this TLS channel (-NONE) could be replayed, so
        // it waits for the features; SCRAM's first message holds no secret.
        let unbound_token = self
            .fast
            .as_ref()
            .and_then(|f| f.token.as_ref())
            .is_some_and(|t| !t.mechanism.binds());
        if unbound_token {
            return None;
        }
        let features = Element::parse(&line).ok()?;
        let offers = sasl2::Offers::parse(&features)?;
        match self.start_sasl2(features, offers) {
            Ok((state, Step::Send(lines))) => {
                self.state = state;
                self.early = Some(Early::Header);
                self.details.push(
                    "SASL2 from the features cached by the last login, sent with the stream header"
                        .into(),
                );
                Some(lines)
            }
            _ => {
                // Back to the ordinary start; nothing was sent.
                self.details.clear();
                self.warnings.clear();
                self.token = None;
                None
            }
        }
    }

    /// Take the next item from the server; see the module documentation.
    ///
    /// After an error, or after [`Step::Done`], every call is an error.
    pub fn on_item(&mut self, item: Item) -> Result<Step> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match self.advance(state, item) {
            Ok((state, step)) => {
                self.state = state;
                Ok(step)
            }
            Err(err) => {
                self.password = None;
                Err(err)
            }
        }
    }

    fn header(&self) -> String {
        let bare = self.jid.to_string();
        client_header(
            self.jid.domain(),
            self.transport.tls.then_some(bare.as_str()),
        )
    }

    fn advance(&mut self, state: State, item: Item) -> Result<(State, Step)> {
        if let (Some(stage), State::Sasl2(_)) = (self.early, &state) {
            return self.on_early_item(stage, state, item);
        }
        match state {
            State::Header { restarted } => match item {
                Item::Header(header) => {
                    check_version(&header)?;
                    Ok((State::Features { restarted }, Step::Send(Vec::new())))
                }
                Item::Stanza(_) => Err(Error::protocol(
                    "the server sent an element before its stream header",
                )),
                Item::Close => Err(closed_during_negotiation()),
            },
            State::Features { restarted } => match item {
                // A second header before the features replaces the first, as `Stream::open` lets it.
                Item::Header(header) => {
                    check_version(&header)?;
                    Ok((State::Features { restarted }, Step::Send(Vec::new())))
                }
                Item::Stanza(line) => {
                    let features = parse(&line)?;
                    if !features.is("features", NS_STREAMS) {
                        return Err(unexpected(&features, "stream features"));
                    }
                    if restarted {
                        self.on_restarted_features(&features)
                    } else {
                        self.on_features(features)
                    }
                }
                Item::Close => Err(closed_during_negotiation()),
            },
            State::Sasl2Features { success, inline_sm } => match item {
                Item::Stanza(line) => {
                    let features = parse(&line)?;
                    if !features.is("features", NS_STREAMS) {
                        return Err(unexpected(
                            &features,
                            "the stream features after SASL2's success",
                        ));
                    }
                    self.on_sasl2_features(success, inline_sm, Some(&features))
                }
                Item::Header(_) => Err(Error::protocol(
                    "the server restarted the stream after SASL2, which has no restart",
                )),
                Item::Close => Err(closed_during_negotiation()),
            },
            State::Done => Err(Error::new(
                Status::Software,
                "the login is over: what follows belongs to the session",
            )),
            State::Failed => Err(Error::new(Status::Software, "the login has failed already")),
            state => {
                let element = match item {
                    Item::Stanza(line) => parse(&line)?,
                    Item::Header(_) => {
                        return Err(Error::protocol(
                            "the server restarted the stream unexpectedly",
                        ))
                    }
                    Item::Close => return Err(Error::temp("the server closed the stream")),
                };
                self.on_element(state, element)
            }
        }
    }

    /// The server's header and features while a pipelined `<authenticate/>`
    /// is out: the features replace the cached ones (XEP-0474's check uses
    /// them; a difference makes a failure worth a retry with them).
    fn on_early_item(&mut self, stage: Early, state: State, item: Item) -> Result<(State, Step)> {
        let State::Sasl2(mut exchange) = state else {
            return Err(Error::new(
                Status::Software,
                "a pipelined login out of step",
            ));
        };
        match (stage, item) {
            (_, Item::Header(header)) => {
                // (A second header before the features replaces the first.)
                check_version(&header)?;
                self.early = Some(Early::Features);
            }
            (Early::Features, Item::Stanza(line)) => {
                let features = parse(&line)?;
                if !features.is("features", NS_STREAMS) {
                    return Err(unexpected(&features, "stream features"));
                }
                self.early = None;
                self.max_stanza = stream_limit(&features);
                let Some(offers) = sasl2::Offers::parse(&features) else {
                    return Err(Error::temp(
                        "the server no longer offers SASL2, which this login assumed from the \
                         last one (the cache is dropped): run it again",
                    ));
                };
                self.features_line = Some(line);
                self.stale = offers != exchange.offers;
                if let Sasl2Auth::Password { client, .. } = &mut exchange.auth {
                    client.set_advertised(Advertised {
                        mechanisms: offers.mechanisms.clone(),
                        channel_bindings: channel_binding_types(&features),
                    });
                }
                exchange.offers = offers;
                exchange.features = features;
            }
            (_, Item::Close) => return Err(closed_during_negotiation()),
            (Early::Header, Item::Stanza(_)) => {
                return Err(Error::protocol(
                    "the server sent an element before its stream header",
                ))
            }
        }
        Ok((State::Sasl2(exchange), Step::Send(Vec::new())))
    }

    /// The first features: refuse plaintext when TLS is required, then register or authenticate.
    fn on_features(&mut self, features: Element) -> Result<(State, Step)> {
        self.max_stanza = stream_limit(&features);
        if self.transport.tls && sasl2::Offers::parse(&features).is_some() {
            self.features_line = features.to_line(NS_CLIENT).ok();
        }
        if !self.transport.tls
            && features
                .child("starttls", NS_TLS)
                .is_some_and(|s| s.child("required", NS_TLS).is_some())
        {
            return Err(Error::protocol(
                "the server requires TLS, and this stream is plaintext: run xmpp-auth under xmpp-connect without --plaintext",
            ));
        }
        if !self.register {
            return self.start_sasl(&features);
        }
        if !self.transport.tls {
            return Err(Error::config(
                "--register sends the password in clear text: refusing without TLS",
            ));
        }
        let password = self.password()?.expose();
        let user = self.jid.local().unwrap_or_default();
        let iq = Element::new("iq", NS_CLIENT)
            .with_attr("type", "set")
            .with_attr("id", ID_REGISTER)
            .with_child(
                Element::new("query", NS_REGISTER)
                    .with_child(Element::new("username", NS_REGISTER).with_text(user))
                    .with_child(Element::new("password", NS_REGISTER).with_text(password)),
            );
        let line = secret_line(iq)?;
        Ok((State::Register { features }, Step::Send(vec![line])))
    }

    /// The features after SASL: resume, or bind a new session.
    fn on_restarted_features(&mut self, features: &Element) -> Result<(State, Step)> {
        let offers = self.note_features(features);
        match &self.resume {
            Some(resume) if offers.sm => {
                let element = Element::new("resume", NS_SM)
                    .with_attr("h", resume.handled.to_string())
                    .with_attr("previd", resume.id.as_str());
                Ok((State::Resume { offers }, Step::Send(vec![line(&element)?])))
            }
            _ => self.start_bind(offers, self.fresh),
        }
    }

    /// The limits and offers of the authenticated stream's features.
    fn note_features(&mut self, features: &Element) -> Offers {
        // A limit the authenticated stream does not state again stays as
        // the stream first announced it (SASL2 has no restart, and
        // Prosody 13 announces its limits before authentication only).
        self.max_stanza = stream_limit(features).or(self.max_stanza);
        let names: Vec<&str> = features.elements().map(|e| e.name.as_str()).collect();
        self.details
            .push(format!("stream features after SASL: {}", names.join(", ")));
        Offers {
            bind: features.child("bind", NS_BIND).is_some(),
            session_required: features
                .child("session", NS_SESSION)
                .is_some_and(|s| s.child("optional", NS_SESSION).is_none()),
            sm: features.child("sm", NS_SM).is_some(),
        }
    }

    /// The session the server says it resumed: the one asked for (`previd`,
    /// when it names one, must be its id).
    fn take_resumed(&mut self, previd: Option<String>) -> Result<Resume> {
        let resume = self.resume.take().ok_or_else(|| {
            Error::protocol("the server resumed a session that was not asked for")
        })?;
        if let Some(previd) = previd.filter(|p| *p != resume.id) {
            return Err(Error::protocol(format!(
                "the server resumed another session ({previd}) than the one asked for ({})",
                resume.id
            )));
        }
        Ok(resume)
    }

    /// After SASL2's success: resumed, bound by Bind2, or on as after SASL1.
    ///
    /// `features` is `None` when the login ends at the success itself: with
    /// stream management resumed or enabled inline, what follows the success
    /// (Prosody resends what the old session had unacknowledged before its
    /// features) already counts for stream management, so it is the session's.
    fn on_sasl2_features(
        &mut self,
        success: sasl2::Success,
        inline_sm: bool,
        features: Option<&Element>,
    ) -> Result<(State, Step)> {
        if features.is_none() {
            self.details.push(
                "stream features after SASL: not awaited (SASL2 with stream management inline)"
                    .into(),
            );
        }
        match success.resumption {
            InlineSm::Resumed { h, previd } => {
                if let Some(features) = features {
                    self.note_features(features);
                }
                let resume = self.take_resumed(previd)?;
                return Ok((State::Done, self.done(resume.jid, Sm::Resumed { h })));
            }
            InlineSm::ResumeFailed { h, why } => {
                self.warnings
                    .push(format!("the server could not resume the session ({why})"));
                self.resume = None;
                self.fresh = Fresh::AfterFailedResume { h };
            }
            InlineSm::None => {}
        }
        if !success.bound {
            return match features {
                Some(features) => self.on_restarted_features(features),
                None => Err(Error::new(
                    Status::Software,
                    "the login ended at SASL2's success without a session",
                )),
            };
        }
        let offers = features.map(|features| self.note_features(features));
        let enabled = match (success.sm_enabled, offers) {
            (Some(SmAnswer::Enabled(enabled)), _) => Some(enabled),
            (Some(SmAnswer::Failed), _) => {
                self.warnings
                    .push("the server refused to enable stream management".into());
                None
            }
            (None, Some(offers)) if !inline_sm => {
                return self.start_sm(offers, self.fresh, success.jid)
            }
            (None, _) => None,
        };
        Ok((State::Done, self.done(success.jid, sm(self.fresh, enabled))))
    }

    fn on_element(&mut self, state: State, element: Element) -> Result<(State, Step)> {
        match state {
            State::Register { features } => {
                if !is_answer(&element, ID_REGISTER) {
                    return self.hold(State::Register { features }, &element);
                }
                if element.attr("type") != Some("result") {
                    let condition = describe_stanza_error(&element);
                    if !condition.starts_with("conflict") {
                        return Err(Error::denied(format!(
                            "the server refused to register {}: {condition}",
                            self.jid
                        )));
                    }
                    self.warnings.push(format!(
                        "the account {} exists already; logging in",
                        self.jid
                    ));
                }
                self.start_sasl(&features)
            }
            State::Sasl { mut client } => {
                if element.is("challenge", NS_SASL) {
                    let challenge = decode(&element.text())?;
                    let mut response = client.step(&challenge).map_err(sasl_error)?;
                    let reply = Element::new("response", NS_SASL).with_text(encode(&response));
                    wipe(&mut response);
                    Ok((
                        State::Sasl { client },
                        Step::Send(vec![secret_line(reply)?]),
                    ))
                } else if element.is("success", NS_SASL) {
                    let data = decode(&element.text())?;
                    client.finish(Some(&data)).map_err(sasl_error)?;
                    self.note_downgrade_check(client.as_ref());
                    self.password = None;
                    Ok((
                        State::Header { restarted: true },
                        Step::Send(vec![self.header()]),
                    ))
                } else if element.is("failure", NS_SASL) {
                    Err(sasl_failure(&element, &self.jid))
                } else {
                    Err(unexpected(&element, "a SASL challenge, success or failure"))
                }
            }
            State::Sasl2(exchange) => self.on_sasl2_element(exchange, element),
            State::Resume { offers } => match InlineSm::of(&element)? {
                InlineSm::Resumed { h, previd } => {
                    let resume = self.take_resumed(previd)?;
                    Ok((State::Done, self.done(resume.jid, Sm::Resumed { h })))
                }
                InlineSm::ResumeFailed { h, why } => {
                    self.warnings
                        .push(format!("the server could not resume the session ({why})"));
                    self.start_bind(offers, Fresh::AfterFailedResume { h })
                }
                InlineSm::None => Err(unexpected(
                    &element,
                    "stream resumption (<resumed/> or <failed/>)",
                )),
            },
            State::Bind {
                offers,
                fresh,
                enable,
            } => {
                if !is_answer(&element, ID_BIND) {
                    return self.hold(
                        State::Bind {
                            offers,
                            fresh,
                            enable,
                        },
                        &element,
                    );
                }
                let reply = expect_result(element, "resource binding")?;
                let jid = reply
                    .child("bind", NS_BIND)
                    .and_then(|b| b.child("jid", NS_BIND))
                    .map(Element::text)
                    .ok_or_else(|| {
                        Error::protocol("the server bound a resource but did not say which JID")
                    })?;
                let jid = Jid::parse(&jid).map_err(|e| {
                    Error::protocol(format!("the server bound an invalid JID: {e}"))
                })?;
                if enable {
                    return Ok((State::Enable { fresh, jid }, Step::Send(Vec::new())));
                }
                if !offers.session_required {
                    return self.start_sm(offers, fresh, jid);
                }
                let iq = Element::new("iq", NS_CLIENT)
                    .with_attr("type", "set")
                    .with_attr("id", ID_SESSION)
                    .with_child(Element::new("session", NS_SESSION));
                Ok((
                    State::Session { offers, fresh, jid },
                    Step::Send(vec![line(&iq)?]),
                ))
            }
            State::Session { offers, fresh, jid } => {
                if !is_answer(&element, ID_SESSION) {
                    return self.hold(State::Session { offers, fresh, jid }, &element);
                }
                expect_result(element, "session establishment")?;
                self.start_sm(offers, fresh, jid)
            }
            State::Enable { fresh, jid } => {
                if element.is("enabled", NS_SM) {
                    let resumable = matches!(element.attr("resume"), Some("true" | "1"));
                    let enabled = Enabled {
                        id: element.attr("id").filter(|_| resumable).map(str::to_owned),
                        max: element.attr("max").and_then(counter),
                    };
                    Ok((State::Done, self.done(jid, sm(fresh, Some(enabled)))))
                } else if element.is("failed", NS_SM) {
                    self.warnings
                        .push("the server refused to enable stream management".into());
                    Ok((State::Done, self.done(jid, sm(fresh, None))))
                } else {
                    self.hold(State::Enable { fresh, jid }, &element)
                }
            }
            State::Header { .. }
            | State::Features { .. }
            | State::Sasl2Features { .. }
            | State::Done
            | State::Failed => Err(Error::new(
                Status::Software,
                "the login took an element in the wrong state",
            )),
        }
    }

    /// Keep a stanza that arrived while waiting for an answer, for downstream.
    fn hold(&mut self, state: State, element: &Element) -> Result<(State, Step)> {
        self.pending.push(
            element
                .to_line(NS_CLIENT)
                .map_err(|e| Error::protocol(e.to_string()))?,
        );
        Ok((state, Step::Send(Vec::new())))
    }

    fn password(&self) -> Result<&Password> {
        self.password
            .as_ref()
            .ok_or_else(|| Error::new(Status::Software, "the password is gone already"))
    }

    /// For `--verbose`: whether SCRAM's downgrade protection was checked.
    fn note_downgrade_check(&mut self, client: &dyn sasl::Client) {
        if client.mechanism().scram_hash().is_some() {
            self.details.push(if client.downgrade_checked() {
                "SCRAM downgrade protection (XEP-0474): the server's hash matches what it advertised".into()
            } else {
                "SCRAM downgrade protection (XEP-0474): the server sent no hash".into()
            });
        }
    }

    /// SASL2 where offered (over TLS), else SASL1's `<auth/>`.
    fn start_sasl(&mut self, features: &Element) -> Result<(State, Step)> {
        if self.uses_sasl2() {
            if let Some(offers) = sasl2::Offers::parse(features) {
                return self.start_sasl2(features.clone(), offers);
            }
        }
        let offered: Vec<String> = features
            .child("mechanisms", NS_SASL)
            .map(|m| {
                m.elements()
                    .filter(|e| e.name == "mechanism")
                    .map(Element::text)
                    .collect()
            })
            .unwrap_or_default();
        if offered.is_empty() {
            return Err(Error::protocol("the server offers no SASL mechanism"));
        }
        let mut client = self.password_client(&offered, features, false)?;
        let mut auth =
            Element::new("auth", NS_SASL).with_attr("mechanism", client.mechanism().name());
        if let Some(mut initial) = client.initial().map_err(sasl_error)? {
            auth = auth.with_text(encode(&initial));
            wipe(&mut initial);
        }
        Ok((State::Sasl { client }, Step::Send(vec![secret_line(auth)?])))
    }

    /// Choose the mechanism of those `offered` and make its client, which
    /// takes the password: dropped here, unless `keep` (SASL2, which may
    /// try again on the same stream; dropped at the success).
    fn password_client(
        &mut self,
        offered: &[String],
        features: &Element,
        keep: bool,
    ) -> Result<Box<dyn sasl::Client>> {
        // Bind to the channel only when the server says it knows tls-exporter
        // (XEP-0440): servers that offer -PLUS for tls-unique alone (ejabberd
        // 23.01) refuse a tls-exporter binding, which would fail the login.
        // With a forced -PLUS mechanism the user has decided.
        let forced_plus = self.mechanism.is_some_and(Mechanism::is_plus);
        let cb = self
            .transport
            .exporter
            .clone()
            .map(ChannelBinding::tls_exporter)
            .filter(|_| forced_plus || server_binds_tls_exporter(features));
        let context = ChooseContext {
            tls: self.transport.tls,
            channel_binding: cb.clone(),
            forced: self.mechanism,
        };
        let mechanism = sasl::choose(offered, &context).map_err(sasl_error)?;
        let binding = sasl::binding_for(mechanism, offered, cb).map_err(sasl_error)?;
        self.details.push(format!(
            "SASL mechanism {} (the server offers {})",
            mechanism.name(),
            offered.join(", ")
        ));
        let advertised = Advertised {
            mechanisms: offered.to_vec(),
            channel_bindings: channel_binding_types(features),
        };
        // The client keeps what it needs (SASLprep'ed, wiped when done).
        let password = if keep {
            Password::new(self.password()?.expose().to_owned())
        } else {
            self.password
                .take()
                .ok_or_else(|| Error::new(Status::Software, "the password is gone already"))?
        };
        self.sasl_client(mechanism, password.expose(), binding, advertised)
            .map_err(sasl_error)
    }

    /// SASL2's `<authenticate/>`: with the stored FAST token when there is
    /// one the server still takes, else with the password; Bind2, inline
    /// stream management and resumption as offered.
    fn start_sasl2(&mut self, features: Element, offers: sasl2::Offers) -> Result<(State, Step)> {
        let can_bind = self.transport.exporter.is_some() && server_binds_tls_exporter(&features);
        let fast_offered = !offers.fast.is_empty();
        let client_id = self
            .fast
            .as_ref()
            .filter(|_| fast_offered)
            .map(|f| f.client_id.clone());
        let resume = self
            .resume
            .as_ref()
            .filter(|_| offers.resume)
            .map(|r| (r.id.clone(), r.handled));
        // Bind2 cannot ask for a resource: with --resource, bind as in
        // RFC 6120 after the success; a session to resume that cannot be
        // resumed inline is resumed after the success too.
        let bind =
            offers.bind && self.resource.is_none() && (self.resume.is_none() || offers.resume);
        let inline_sm = bind && self.stream_management && offers.bind_sm;
        let mut request = sasl2::Request {
            client_id,
            bind_tag: bind.then(|| BIND_TAG.to_owned()),
            enable_sm: inline_sm,
            resume,
            ..sasl2::Request::default()
        };
        let authcid = self.jid.local().unwrap_or_default().to_owned();
        let stored = self
            .fast
            .as_mut()
            .filter(|_| fast_offered)
            .and_then(|f| f.token.take().map(|t| (t, f.invalidate)));
        if let Some((token, invalidate)) = stored {
            let usable = offers.fast.iter().any(|m| m == token.mechanism.name())
                && (!token.mechanism.binds() || can_bind);
            if usable {
                let ht = HashedToken::new(
                    token.mechanism,
                    token.secret.expose(),
                    self.transport.exporter.as_deref(),
                )
                .map_err(sasl_error)?;
                let mut initial = ht.initial(&authcid);
                request.mechanism = token.mechanism.name().to_owned();
                request.initial = Some(encode(&initial));
                wipe(&mut initial);
                request.fast = Some(invalidate);
                self.details.push(format!(
                    "SASL2 with the stored FAST token ({}){}",
                    token.mechanism.name(),
                    if invalidate { ", invalidating it" } else { "" }
                ));
                return self.send_authenticate(
                    request,
                    Exchange {
                        auth: Sasl2Auth::Token(ht),
                        offers,
                        features,
                        inline_sm,
                    },
                );
            }
        }
        let mut client = self.password_client(&offers.mechanisms, &features, true)?;
        request.mechanism = client.mechanism().name().to_owned();
        if let Some(mut initial) = client.initial().map_err(sasl_error)? {
            request.initial = Some(encode(&initial));
            wipe(&mut initial);
        }
        let token_for = self
            .fast
            .as_ref()
            .filter(|f| !f.invalidate)
            .and_then(|_| HtMechanism::choose(&offers.fast, can_bind));
        request.request_token = token_for;
        self.details.push(format!(
            "SASL2{}{}{}",
            if bind { " with Bind2" } else { "" },
            if inline_sm {
                " and stream management inline"
            } else {
                ""
            },
            token_for.map_or(String::new(), |m| format!(
                ", asking for a FAST token ({})",
                m.name()
            ))
        ));
        self.send_authenticate(
            request,
            Exchange {
                auth: Sasl2Auth::Password { client, token_for },
                offers,
                features,
                inline_sm,
            },
        )
    }

    fn send_authenticate(
        &mut self,
        request: sasl2::Request,
        exchange: Exchange,
    ) -> Result<(State, Step)> {
        let line = secret_line(request.element())?;
        Ok((State::Sasl2(exchange), Step::Send(vec![line])))
    }

    /// An element while SASL2's exchange runs.
    fn on_sasl2_element(
        &mut self,
        mut exchange: Exchange,
        element: Element,
    ) -> Result<(State, Step)> {
        if element.is("challenge", NS_SASL2) {
            let Sasl2Auth::Password { client, .. } = &mut exchange.auth else {
                return Err(Error::protocol(
                    "the server sent a challenge to a one-step FAST login",
                ));
            };
            let challenge = decode(&element.text())?;
            let mut response = client.step(&challenge).map_err(sasl_error)?;
            let reply = Element::new("response", NS_SASL2).with_text(encode(&response));
            wipe(&mut response);
            let line = secret_line(reply)?;
            return Ok((State::Sasl2(exchange), Step::Send(vec![line])));
        }
        if element.is("success", NS_SASL2) {
            let success = sasl2::Success::parse(&element, &self.jid)?;
            let data = success.additional_data.as_deref().map(decode).transpose()?;
            let mechanism = match &mut exchange.auth {
                Sasl2Auth::Password { client, token_for } => {
                    client.finish(data.as_deref()).map_err(sasl_error)?;
                    self.note_downgrade_check(client.as_ref());
                    *token_for
                }
                Sasl2Auth::Token(ht) => {
                    ht.finish(data.as_deref()).map_err(sasl_error)?;
                    if self.fast.as_ref().is_some_and(|f| f.invalidate) {
                        self.token = Some(TokenUpdate::Forget);
                    }
                    Some(ht.mechanism())
                }
            };
            self.password = None;
            if let (Some((secret, expiry)), Some(mechanism)) = (&success.token, mechanism) {
                self.token = Some(TokenUpdate::Store(sasl2::Token {
                    mechanism,
                    secret: Password::new(secret.clone()),
                    expiry: expiry.clone(),
                }));
            }
            let sm_inline = matches!(success.resumption, InlineSm::Resumed { .. })
                || (success.bound && matches!(success.sm_enabled, Some(SmAnswer::Enabled(_))));
            if sm_inline {
                return self.on_sasl2_features(success, exchange.inline_sm, None);
            }
            return Ok((
                State::Sasl2Features {
                    success,
                    inline_sm: exchange.inline_sm,
                },
                Step::Send(Vec::new()),
            ));
        }
        if element.is("failure", NS_SASL2) {
            if self.stale && self.password.is_some() {
                // Built from cached features that no longer hold: again
                // with the ones this stream offers.
                self.stale = false;
                self.token = None;
                return self.start_sasl2(exchange.features, exchange.offers);
            }
            if matches!(exchange.auth, Sasl2Auth::Token(_)) && self.password.is_some() {
                let why = failure_condition(&element);
                self.warnings.push(format!(
                    "the server refused the stored FAST token ({why}); logged in with the password"
                ));
                self.token = Some(TokenUpdate::Forget);
                return self.start_sasl2(exchange.features, exchange.offers);
            }
            return Err(sasl_failure(&element, &self.jid));
        }
        if element.is("continue", NS_SASL2) {
            let tasks: Vec<String> = element
                .child("tasks", NS_SASL2)
                .map(|t| t.elements().map(Element::text).collect())
                .unwrap_or_default();
            return Err(Error::denied(format!(
                "the server wants more steps before {} may log in ({}), which xmpp-auth does not do",
                self.jid,
                tasks.join(", ")
            )));
        }
        Err(unexpected(
            &element,
            "a SASL2 challenge, success or failure",
        ))
    }

    fn sasl_client(
        &self,
        mechanism: Mechanism,
        password: &str,
        binding: sasl::Binding,
        advertised: Advertised,
    ) -> Result<Box<dyn sasl::Client>, SaslError> {
        let authcid = self.jid.local().unwrap_or_default();
        #[cfg(test)]
        if let (Some(nonce), Some(hash)) = (&self.nonce, mechanism.scram_hash()) {
            return Ok(Box::new(
                sasl::Scram::with_nonce(hash, authcid, password, binding, nonce)?
                    .with_advertised(advertised),
            ));
        }
        sasl::client(
            mechanism,
            authcid,
            password,
            self.jid.domain(),
            binding,
            advertised,
        )
    }

    fn start_bind(&mut self, offers: Offers, fresh: Fresh) -> Result<(State, Step)> {
        if !offers.bind {
            return Err(Error::protocol(
                "the server does not offer resource binding",
            ));
        }
        let mut bind = Element::new("bind", NS_BIND);
        if let Some(resource) = &self.resource {
            bind = bind.with_child(Element::new("resource", NS_BIND).with_text(resource.as_str()));
        }
        let iq = Element::new("iq", NS_CLIENT)
            .with_attr("type", "set")
            .with_attr("id", ID_BIND)
            .with_child(bind);
        let mut lines = vec![line(&iq)?];
        // Pipelined: the server takes `<enable/>` after the bind it follows
        // (XEP-0198 §3 wants it after binding; a failed bind ends the login).
        let enable = self.stream_management && offers.sm && !offers.session_required;
        if enable {
            lines.push(line(&enable_element())?);
        }
        Ok((
            State::Bind {
                offers,
                fresh,
                enable,
            },
            Step::Send(lines),
        ))
    }

    /// Enable stream management when wanted and offered; otherwise done.
    fn start_sm(&mut self, offers: Offers, fresh: Fresh, jid: Jid) -> Result<(State, Step)> {
        if !(self.stream_management && offers.sm) {
            return Ok((State::Done, self.done(jid, sm(fresh, None))));
        }
        Ok((
            State::Enable { fresh, jid },
            Step::Send(vec![line(&enable_element())?]),
        ))
    }

    fn done(&mut self, jid: Jid, sm: Sm) -> Step {
        Step::Done(Box::new(Outcome {
            jid,
            sm,
            pending: std::mem::take(&mut self.pending),
            warnings: std::mem::take(&mut self.warnings),
            max_stanza: self.max_stanza,
            details: std::mem::take(&mut self.details),
            token: self.token.take(),
            features: self.features_line.take(),
        }))
    }
}

/// `<enable resume='true'/>` (XEP-0198).
fn enable_element() -> Element {
    Element::new("enable", NS_SM).with_attr("resume", "true")
}

/// XEP-0478: the `max-bytes` the features announce (a positive number).
fn stream_limit(features: &Element) -> Option<usize> {
    features
        .child("limits", NS_LIMITS)?
        .child("max-bytes", NS_LIMITS)?
        .text()
        .trim()
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

/// Stream management at the end, from why we bound and what `<enable/>` gave.
fn sm(fresh: Fresh, enabled: Option<Enabled>) -> Sm {
    match fresh {
        Fresh::Login => enabled.map_or(Sm::Off, Sm::Enabled),
        Fresh::AfterFailedResume { h } => Sm::Restarted {
            failed_h: h,
            enabled,
        },
    }
}

/// XMPP 1.0 or nothing.
fn check_version(header: &StreamHeader) -> Result<()> {
    if header.version().is_none_or(|v| !v.starts_with("1.")) {
        return Err(Error::protocol(
            "the server does not speak XMPP 1.0 (no version='1.0' on its stream header)",
        ));
    }
    Ok(())
}

fn closed_during_negotiation() -> Error {
    Error::temp("the server closed the stream during negotiation")
}

/// An element of ours as a line.
fn line(element: &Element) -> Result<String> {
    element
        .to_line(NS_CLIENT)
        .map_err(|e| Error::data(e.to_string()))
}

/// An element carrying a secret as a line; the element's copies of the text are wiped.
fn secret_line(mut element: Element) -> Result<String> {
    let line = line(&element);
    wipe_text(&mut element);
    line
}

fn wipe_text(element: &mut Element) {
    for node in &mut element.children {
        match node {
            Node::Element(child) => wipe_text(child),
            Node::Text(text) => wipe(&mut std::mem::take(text).into_bytes()),
        }
    }
}

/// Overwrites a secret with zeroes (best effort).
fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

/// Whether `element` is the answer to our iq `id`.
fn is_answer(element: &Element, id: &str) -> bool {
    element.is("iq", NS_CLIENT)
        && element.attr("id") == Some(id)
        && matches!(element.attr("type"), Some("result" | "error"))
}

/// An iq result, or an error naming the stanza error condition.
fn expect_result(reply: Element, what: &str) -> Result<Element> {
    if reply.attr("type") == Some("result") {
        Ok(reply)
    } else {
        Err(Error::protocol(format!(
            "{what} failed: {}",
            describe_stanza_error(&reply)
        )))
    }
}

/// An XEP-0198 counter or `max`: a decimal unsigned 32-bit integer.
pub(super) fn counter(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

pub(super) fn bad_counter(element: &Element) -> Error {
    Error::protocol(format!(
        "the server sent <{}/> without a valid h ({:?})",
        element.name,
        element.attr("h").unwrap_or_default()
    ))
}

/// The exit status and message for a client-side SASL error.
fn sasl_error(err: SaslError) -> Error {
    let status = match &err {
        SaslError::NoMechanism { .. }
        | SaslError::NotOffered { .. }
        | SaslError::PlainWithoutTls => Status::Unavailable,
        SaslError::ServerSignatureMismatch | SaslError::ServerError(_) | SaslError::Downgrade => {
            Status::NoPerm
        }
        SaslError::Saslprep(_) => Status::Config,
        SaslError::Random(_) => Status::OsErr,
        SaslError::ServerProtocol(_) | SaslError::Unsupported(_) => Status::Protocol,
    };
    Error::new(status, err.to_string())
}

/// The exit status and message for the server's `<failure/>`.
fn sasl_failure(failure: &Element, jid: &Jid) -> Error {
    let condition = failure_condition(failure);
    let text = failure
        .child("text", NS_SASL)
        .or_else(|| failure.child("text", NS_SASL2))
        .map(|t| format!(" ({})", t.text().trim()))
        .unwrap_or_default();
    let (status, hint) = match condition.as_str() {
        "not-authorized" => (Status::NoPerm, ": wrong password or unknown account"),
        "account-disabled"
        | "credentials-expired"
        | "invalid-authzid"
        | "encryption-required"
        | "mechanism-too-weak" => (Status::NoPerm, ""),
        "temporary-auth-failure" => (Status::TempFail, ": try again later"),
        _ => (Status::Protocol, ""),
    };
    Error::new(
        status,
        format!("the server refused the login as {jid}: {condition}{text}{hint}"),
    )
}

/// The SASL condition of a `<failure/>` (SASL1's or SASL2's).
fn failure_condition(failure: &Element) -> String {
    failure
        .child_in(NS_SASL)
        .filter(|e| e.name != "text")
        .or_else(|| failure.elements().find(|e| e.name != "text"))
        .map(|e| e.name.clone())
        .unwrap_or_else(|| "not-authorized".into())
}

/// The channel-binding types the features list (XEP-0440), if they list any.
fn channel_binding_types(features: &Element) -> Option<Vec<String>> {
    let list = features.child("sasl-channel-binding", NS_SASL_CB)?;
    Some(
        list.elements()
            .filter(|e| e.name == "channel-binding")
            .filter_map(|e| e.attr("type").map(str::to_owned))
            .collect(),
    )
}

/// The XEP-0440 namespace where a server lists its channel-binding types.
const NS_SASL_CB: &str = "urn:xmpp:sasl-cb:0";
/// XEP-0478 stream limits.
const NS_LIMITS: &str = "urn:xmpp:stream-limits:0";

/// Whether the features list tls-exporter among the channel-binding types (XEP-0440).
fn server_binds_tls_exporter(features: &Element) -> bool {
    features
        .child("sasl-channel-binding", NS_SASL_CB)
        .is_some_and(|list| {
            list.elements()
                .any(|e| e.name == "channel-binding" && e.attr("type") == Some("tls-exporter"))
        })
}

/// SASL payloads in XMPP: base64, with `=` for an empty one (RFC 6120 §6.4.2).
fn encode(payload: &[u8]) -> String {
    if payload.is_empty() {
        "=".to_owned()
    } else {
        BASE64.encode(payload)
    }
}

fn decode(text: &str) -> Result<Vec<u8>> {
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    BASE64
        .decode(text)
        .map_err(|_| Error::protocol("the server sent a SASL payload that is not valid base64"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{NS_STANZA_ERRORS, NS_STREAM_ERRORS};

    const JID: &str = "user@example.org";
    const FULL: &str = "user@example.org/pipes";
    /// RFC 5802 §5: user "user", password "pencil", this client nonce.
    const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";
    const SERVER_FIRST: &str =
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const CLIENT_FINAL: &str =
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    const SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

    /// One line of a transcript.
    #[derive(Clone)]
    enum T {
        /// The server sends this item.
        S(Item),
        /// The client must write this line (next, in order).
        C(String),
    }
    use T::{C, S};

    fn config() -> Config {
        Config {
            jid: Jid::parse(JID).unwrap(),
            resource: Some("pipes".into()),
            password: Password::new("pencil".into()),
            mechanism: None,
            register: false,
            stream_management: false,
            resume: None,
            sasl2: true,
            fast: None,
            cached_features: None,
        }
    }

    fn tls() -> Transport {
        Transport {
            tls: true,
            exporter: None,
        }
    }

    fn plaintext() -> Transport {
        Transport::default()
    }

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    /// The server's stream header.
    fn header() -> T {
        S(Item::Header(StreamHeader {
            qname: "stream:stream".into(),
            attrs: vec![
                ("xmlns".into(), NS_CLIENT.into()),
                ("xmlns:stream".into(), NS_STREAMS.into()),
                ("id".into(), "s1".into()),
                ("from".into(), "example.org".into()),
                ("version".into(), "1.0".into()),
            ],
        }))
    }

    /// A line from the server.
    fn s(line: impl Into<String>) -> T {
        S(Item::Stanza(line.into()))
    }

    /// The item of a server line.
    fn item(line: T) -> Item {
        match line {
            S(item) => item,
            C(line) => panic!("{line} is the client's"),
        }
    }

    /// A line the client must write.
    fn c(line: impl Into<String>) -> T {
        C(line.into())
    }

    /// `<stream:features>` around `inner`.
    fn features(inner: &str) -> T {
        s(format!(
            "<stream:features xmlns:stream='{NS_STREAMS}'>{inner}</stream:features>"
        ))
    }

    fn mechanisms(names: &[&str]) -> String {
        let list: String = names
            .iter()
            .map(|n| format!("<mechanism>{n}</mechanism>"))
            .collect();
        format!("<mechanisms xmlns='{NS_SASL}'>{list}</mechanisms>")
    }

    const BIND: &str = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>";
    const SM: &str = "<sm xmlns='urn:xmpp:sm:3'/>";

    fn client_header_for(tls: bool) -> T {
        c(client_header("example.org", tls.then_some(JID)))
    }

    fn bind_request() -> T {
        c(
            "<iq type='set' id='xa-bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
           <resource>pipes</resource></bind></iq>",
        )
    }

    fn bind_result(jid: &str) -> T {
        s(format!(
            "<iq type='result' id='xa-bind'><bind xmlns='{NS_BIND}'><jid>{jid}</jid></bind></iq>"
        ))
    }

    fn enable() -> T {
        c("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    }

    /// The PLAIN exchange over TLS, up to the restarted stream's header.
    fn plain_until_restart() -> Vec<T> {
        vec![
            client_header_for(true),
            header(),
            features(&mechanisms(&["PLAIN"])),
            c(format!(
                "<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{}</auth>",
                b64("\0user\0pencil")
            )),
            s(format!("<success xmlns='{NS_SASL}'/>")),
            client_header_for(true),
            header(),
        ]
    }

    /// Run `login` through `transcript`: every `C` line must be what the
    /// login wrote, in order, before the next `S` item is fed; the login
    /// must end (done or failed) on the last item.
    fn run(mut login: Login, transcript: Vec<T>) -> Result<Outcome> {
        let mut written = std::collections::VecDeque::from([login.start()]);
        let mut end = None;
        for (n, line) in transcript.into_iter().enumerate() {
            assert!(end.is_none(), "the login ended before line {n}");
            match line {
                C(expected) => {
                    assert_eq!(written.pop_front().as_ref(), Some(&expected), "line {n}")
                }
                S(item) => {
                    assert!(
                        written.is_empty(),
                        "unexpected writes before line {n}: {written:?}"
                    );
                    match login.on_item(item) {
                        Ok(Step::Send(lines)) => written.extend(lines),
                        Ok(Step::Done(outcome)) => end = Some(Ok(*outcome)),
                        Err(err) => end = Some(Err(err)),
                    }
                }
            }
        }
        assert!(
            written.is_empty(),
            "unexpected writes at the end: {written:?}"
        );
        let end = end.expect("the login did not end");
        // Nothing more is accepted.
        assert_eq!(
            login.on_item(Item::Close).unwrap_err().status(),
            Status::Software
        );
        // The details are checked on their own (`details_say_what_was_negotiated`).
        end.map(|outcome| Outcome {
            details: Vec::new(),
            ..outcome
        })
    }

    /// The outcome with its details.
    fn run_with_details(login: Login, transcript: Vec<T>) -> Vec<String> {
        let mut login = login;
        let mut details = Vec::new();
        let mut written = vec![login.start()];
        for line in transcript {
            if let S(item) = line {
                written.clear();
                if let Ok(Step::Done(outcome)) = login.on_item(item) {
                    details = outcome.details;
                }
            }
        }
        details
    }

    fn outcome(jid: &str, sm: Sm) -> Outcome {
        Outcome {
            jid: Jid::parse(jid).unwrap(),
            sm,
            pending: Vec::new(),
            warnings: Vec::new(),
            max_stanza: None,
            details: Vec::new(),
            token: None,
            features: None,
        }
    }

    #[track_caller]
    fn assert_error(result: Result<Outcome>, status: Status, message: &str) {
        let err = result.expect_err("the login should fail");
        assert_eq!(
            (err.status(), err.message()),
            (status, message),
            "{}",
            err.message()
        );
    }

    #[test]
    fn scram_sha1_login_with_rfc5802_vectors() {
        let login = Login::new(
            Config {
                stream_management: true,
                ..config()
            },
            plaintext(),
        )
        .with_nonce(NONCE);
        let transcript = vec![
            client_header_for(false),
            header(),
            features(&format!(
                "<starttls xmlns='{NS_TLS}'/>{}",
                mechanisms(&["PLAIN", "SCRAM-SHA-1", "DIGEST-MD5"])
            )),
            c(format!(
                "<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{}</auth>",
                b64(&format!("n,,n=user,r={NONCE}"))
            )),
            s(format!(
                "<challenge xmlns='{NS_SASL}'>{}</challenge>",
                b64(SERVER_FIRST)
            )),
            c(format!(
                "<response xmlns='{NS_SASL}'>{}</response>",
                b64(CLIENT_FINAL)
            )),
            s(format!(
                "<success xmlns='{NS_SASL}'>{}</success>",
                b64(SERVER_FINAL)
            )),
            client_header_for(false),
            header(),
            features(&format!("{BIND}{SM}")),
            bind_request(),
            enable(),
            bind_result(FULL),
            s("<enabled xmlns='urn:xmpp:sm:3'/>"),
        ];
        assert_eq!(
            run(login, transcript).unwrap(),
            outcome(
                FULL,
                Sm::Enabled(Enabled {
                    id: None,
                    max: None
                })
            )
        );
    }

    #[test]
    fn scram_server_final_as_challenge_and_forged_signature() {
        let start = |success: T| {
            let login = Login::new(config(), plaintext()).with_nonce(NONCE);
            let mut transcript = vec![
                client_header_for(false),
                header(),
                features(&mechanisms(&["SCRAM-SHA-1"])),
                c(format!(
                    "<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{}</auth>",
                    b64(&format!("n,,n=user,r={NONCE}"))
                )),
                s(format!(
                    "<challenge xmlns='{NS_SASL}'>{}</challenge>",
                    b64(SERVER_FIRST)
                )),
                c(format!(
                    "<response xmlns='{NS_SASL}'>{}</response>",
                    b64(CLIENT_FINAL)
                )),
            ];
            transcript.push(success);
            (login, transcript)
        };
        // Server-final in a challenge, then an empty success.
        let (login, mut transcript) = start(s(format!(
            "<challenge xmlns='{NS_SASL}'>{}</challenge>",
            b64(SERVER_FINAL)
        )));
        transcript.extend([
            c(format!("<response xmlns='{NS_SASL}'>=</response>")),
            s(format!("<success xmlns='{NS_SASL}'/>")),
            client_header_for(false),
            header(),
            features(BIND),
            bind_request(),
            bind_result(FULL),
        ]);
        assert_eq!(run(login, transcript).unwrap(), outcome(FULL, Sm::Off));
        // A success without the server's proof, and a forged one.
        let (login, transcript) = start(s(format!("<success xmlns='{NS_SASL}'/>")));
        assert_error(
            run(login, transcript),
            Status::Protocol,
            "the server broke the SASL protocol: the server did not prove it knows the password",
        );
        let (login, transcript) = start(s(format!(
            "<success xmlns='{NS_SASL}'>{}</success>",
            b64("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        )));
        let err = run(login, transcript).unwrap_err();
        assert_eq!(err.status(), Status::NoPerm);
        assert!(err.message().contains("server signature"), "{err}");
    }

    #[test]
    fn plain_login_over_tls_binds_and_drops_the_password() {
        let mut login = Login::new(config(), tls());
        assert!(login.password.is_some());
        login.start();
        login.on_item(item(header())).unwrap();
        login
            .on_item(item(features(&mechanisms(&["PLAIN"]))))
            .unwrap();
        assert!(login.password.is_none(), "the password outlived SASL");

        let mut transcript = plain_until_restart();
        transcript.extend([features(BIND), bind_request(), bind_result(FULL)]);
        assert_eq!(
            run(Login::new(config(), tls()), transcript).unwrap(),
            outcome(FULL, Sm::Off)
        );
    }

    #[test]
    fn details_say_what_was_negotiated() {
        let mut transcript = plain_until_restart();
        transcript.extend([features(BIND), bind_request(), bind_result(FULL)]);
        assert_eq!(
            run_with_details(Login::new(config(), tls()), transcript),
            [
                "SASL mechanism PLAIN (the server offers PLAIN)",
                "stream features after SASL: bind",
            ]
        );
    }

    #[test]
    fn the_stanza_limit_the_server_announces_is_kept() {
        for (limits, expected) in [
            (
                "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>262144</max-bytes>\
                 <idle-seconds>840</idle-seconds></limits>",
                Some(262_144),
            ),
            (
                "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>0</max-bytes></limits>",
                None,
            ),
            (
                "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>x</max-bytes></limits>",
                None,
            ),
            (
                "<limits xmlns='urn:other'><max-bytes>10</max-bytes></limits>",
                None,
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.extend([
                features(&format!("{BIND}{limits}")),
                bind_request(),
                bind_result(FULL),
            ]);
            let outcome = run(Login::new(config(), tls()), transcript).unwrap();
            assert_eq!(outcome.max_stanza, expected, "{limits}");
        }
    }

    #[test]
    fn plain_refused_without_tls() {
        for (mechanism, status, message) in [
            (
                None,
                Status::Unavailable,
                "the server offers no SASL mechanism this client accepts (it offers: PLAIN; \
                 PLAIN needs TLS, DIGEST-MD5 must be asked for)",
            ),
            (
                Some(Mechanism::Plain),
                Status::Unavailable,
                "refusing PLAIN without TLS: it would send the password in the clear",
            ),
        ] {
            let login = Login::new(
                Config {
                    mechanism,
                    ..config()
                },
                plaintext(),
            );
            let transcript = vec![
                client_header_for(false),
                header(),
                features(&mechanisms(&["PLAIN"])),
            ];
            assert_error(run(login, transcript), status, message);
        }
    }

    #[test]
    fn mechanism_choice_errors() {
        for (mechanism, offered, status, message) in [
            (
                None,
                String::new(),
                Status::Protocol,
                "the server offers no SASL mechanism",
            ),
            (
                Some(Mechanism::ScramSha256),
                mechanisms(&["SCRAM-SHA-1", "PLAIN"]),
                Status::Unavailable,
                "the server does not offer SCRAM-SHA-256 (it offers: SCRAM-SHA-1, PLAIN)",
            ),
        ] {
            let login = Login::new(
                Config {
                    mechanism,
                    ..config()
                },
                tls(),
            );
            let transcript = vec![client_header_for(true), header(), features(&offered)];
            assert_error(run(login, transcript), status, message);
        }
    }

    #[test]
    fn channel_binding_needs_tls_exporter_in_the_server_list() {
        let element = |inner: &str| {
            Element::parse(&format!(
                "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>{inner}</stream:features>"
            ))
            .unwrap()
        };
        assert!(!server_binds_tls_exporter(&element("")));
        assert!(!server_binds_tls_exporter(&element(
            "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/></sasl-channel-binding>"
        )));
        assert!(server_binds_tls_exporter(&element(
            "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/>\
             <channel-binding type='tls-exporter'/></sasl-channel-binding>"
        )));
        assert!(!server_binds_tls_exporter(&element(
            "<sasl-channel-binding xmlns='urn:example'><channel-binding type='tls-exporter'/></sasl-channel-binding>"
        )));

        // In a login: -PLUS (p=tls-exporter) only when listed or forced;
        // otherwise plain SCRAM with `n` (the server offers -PLUS).
        let listed = "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>\
                      <channel-binding type='tls-exporter'/></sasl-channel-binding>";
        for (forced, list, gs2, mechanism) in [
            (None, "", "n,,", "SCRAM-SHA-1"),
            (None, listed, "p=tls-exporter,,", "SCRAM-SHA-1-PLUS"),
            (
                Some(Mechanism::ScramSha1Plus),
                "",
                "p=tls-exporter,,",
                "SCRAM-SHA-1-PLUS",
            ),
        ] {
            let mut login = Login::new(
                Config {
                    mechanism: forced,
                    ..config()
                },
                Transport {
                    tls: true,
                    exporter: Some(vec![7; 32]),
                },
            )
            .with_nonce(NONCE);
            login.start();
            login.on_item(item(header())).unwrap();
            let f = item(features(&format!(
                "{}{list}",
                mechanisms(&["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"])
            )));
            let expected = format!(
                "<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>{}</auth>",
                b64(&format!("{gs2}n=user,r={NONCE}"))
            );
            assert_eq!(login.on_item(f).unwrap(), Step::Send(vec![expected]));
        }
    }

    #[test]
    fn starttls_required_on_plaintext() {
        let login = Login::new(config(), plaintext());
        let transcript = vec![
            client_header_for(false),
            header(),
            features(&format!(
                "<starttls xmlns='{NS_TLS}'><required/></starttls>{}",
                mechanisms(&["SCRAM-SHA-1"])
            )),
        ];
        assert_error(
            run(login, transcript),
            Status::Protocol,
            "the server requires TLS, and this stream is plaintext: run xmpp-auth under \
             xmpp-connect without --plaintext",
        );
    }

    #[test]
    fn sasl_failures_map_to_statuses() {
        for (failure, status, message) in [
            (
                "<not-authorized/>",
                Status::NoPerm,
                "the server refused the login as user@example.org: not-authorized: \
                 wrong password or unknown account",
            ),
            (
                "",
                Status::NoPerm,
                "the server refused the login as user@example.org: not-authorized: \
                 wrong password or unknown account",
            ),
            (
                "<account-disabled/><text>banned</text>",
                Status::NoPerm,
                "the server refused the login as user@example.org: account-disabled (banned)",
            ),
            (
                "<temporary-auth-failure/>",
                Status::TempFail,
                "the server refused the login as user@example.org: temporary-auth-failure: \
                 try again later",
            ),
            (
                "<malformed-request/>",
                Status::Protocol,
                "the server refused the login as user@example.org: malformed-request",
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.truncate(4);
            transcript.push(s(format!("<failure xmlns='{NS_SASL}'>{failure}</failure>")));
            assert_error(
                run(Login::new(config(), tls()), transcript),
                status,
                message,
            );
        }
    }

    #[test]
    fn bad_base64_and_unexpected_sasl_replies() {
        for (reply, status, message) in [
            (
                format!("<challenge xmlns='{NS_SASL}'>not base64!</challenge>"),
                Status::Protocol,
                "the server sent a SASL payload that is not valid base64",
            ),
            (
                format!("<success xmlns='{NS_SASL}'>%%%</success>"),
                Status::Protocol,
                "the server sent a SASL payload that is not valid base64",
            ),
            (
                format!("<challenge xmlns='{NS_SASL}'>=</challenge>"),
                Status::Protocol,
                "the server broke the SASL protocol: the server sent a challenge, \
                 which PLAIN does not have",
            ),
            (
                "<message><body>hi</body></message>".into(),
                Status::Protocol,
                "expected a SASL challenge, success or failure from the server, \
                 got <message/> (jabber:client)",
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.truncate(4);
            transcript.push(s(reply));
            assert_error(
                run(Login::new(config(), tls()), transcript),
                status,
                message,
            );
        }
    }

    #[test]
    fn bind_errors() {
        let error = format!(
            "<iq type='error' id='xa-bind'><error type='cancel'><conflict xmlns='{NS_STANZA_ERRORS}'/>\
             <text xmlns='{NS_STANZA_ERRORS}'>in use</text></error></iq>"
        );
        for (offered, reply, message) in [
            (
                "",
                None,
                "the server does not offer resource binding".to_owned(),
            ),
            (
                BIND,
                Some(s(error)),
                "resource binding failed: conflict (in use)".to_owned(),
            ),
            (
                BIND,
                Some(s("<iq type='result' id='xa-bind'/>")),
                "the server bound a resource but did not say which JID".to_owned(),
            ),
            (
                BIND,
                Some(bind_result("user@example..org/x")),
                format!(
                    "the server bound an invalid JID: {}",
                    Jid::parse("user@example..org/x").unwrap_err()
                ),
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.push(features(offered));
            if let Some(reply) = reply {
                transcript.extend([bind_request(), reply]);
            }
            assert_error(
                run(Login::new(config(), tls()), transcript),
                Status::Protocol,
                &message,
            );
        }
    }

    #[test]
    fn legacy_session_when_required_only() {
        let session = "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>";
        let optional = "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>";
        let request = || {
            c("<iq type='set' id='xa-session'>\
               <session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        };
        // Required: asked for; its error ends the login.
        for (reply, result) in [
            (
                s("<iq type='result' id='xa-session'/>"),
                Ok(outcome(FULL, Sm::Off)),
            ),
            (
                s(format!(
                    "<iq type='error' id='xa-session'><error type='wait'>\
                     <internal-server-error xmlns='{NS_STANZA_ERRORS}'/></error></iq>"
                )),
                Err("session establishment failed: internal-server-error"),
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.extend([
                features(&format!("{BIND}{session}")),
                bind_request(),
                bind_result(FULL),
                request(),
                reply,
            ]);
            let got = run(Login::new(config(), tls()), transcript);
            match result {
                Ok(expected) => assert_eq!(got.unwrap(), expected),
                Err(message) => assert_error(got, Status::Protocol, message),
            }
        }
        // Optional: skipped.
        let mut transcript = plain_until_restart();
        transcript.extend([
            features(&format!("{BIND}{optional}")),
            bind_request(),
            bind_result(FULL),
        ]);
        assert_eq!(
            run(Login::new(config(), tls()), transcript).unwrap(),
            outcome(FULL, Sm::Off)
        );
    }

    /// A login that wants stream management, through bind.
    /// Up to the bind result; `<enable/>` goes right after the bind request
    /// (pipelined) when wanted and offered.
    fn sm_until_enable(config: Config, offered: &str) -> (Login, Vec<T>) {
        let mut transcript = plain_until_restart();
        transcript.extend([features(offered), bind_request()]);
        if config.stream_management && offered.contains(SM) {
            transcript.push(enable());
        }
        transcript.push(bind_result(FULL));
        (Login::new(config, tls()), transcript)
    }

    #[test]
    fn sm_enabled_with_resume_id() {
        for (enabled, expected) in [
            (
                "<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true' max='300'/>",
                Enabled {
                    id: Some("sm-1".into()),
                    max: Some(300),
                },
            ),
            (
                "<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='1'/>",
                Enabled {
                    id: Some("sm-1".into()),
                    max: None,
                },
            ),
            // No resumption: the id is of no use.
            (
                "<enabled xmlns='urn:xmpp:sm:3' id='sm-1' max='x'/>",
                Enabled {
                    id: None,
                    max: None,
                },
            ),
        ] {
            let want = Config {
                stream_management: true,
                ..config()
            };
            let (login, mut transcript) = sm_until_enable(want, &format!("{BIND}{SM}"));
            transcript.push(s(enabled));
            assert_eq!(
                run(login, transcript).unwrap(),
                outcome(FULL, Sm::Enabled(expected))
            );
        }
        // Not wanted, or not offered: no <enable/>.
        let (login, transcript) = sm_until_enable(config(), &format!("{BIND}{SM}"));
        assert_eq!(run(login, transcript).unwrap(), outcome(FULL, Sm::Off));
        let want = Config {
            stream_management: true,
            ..config()
        };
        let (login, transcript) = sm_until_enable(want, BIND);
        assert_eq!(run(login, transcript).unwrap(), outcome(FULL, Sm::Off));
    }

    #[test]
    fn sm_refused_warns() {
        let want = Config {
            stream_management: true,
            ..config()
        };
        let (login, mut transcript) = sm_until_enable(want, &format!("{BIND}{SM}"));
        transcript.extend([
            s("<message from='a@example.org'><body>early</body></message>"),
            s(format!(
                "<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='{NS_STANZA_ERRORS}'/></failed>"
            )),
        ]);
        assert_eq!(
            run(login, transcript).unwrap(),
            Outcome {
                pending: vec!["<message from='a@example.org'><body>early</body></message>".into()],
                warnings: vec!["the server refused to enable stream management".into()],
                ..outcome(FULL, Sm::Off)
            }
        );
    }

    fn resuming() -> Config {
        Config {
            stream_management: true,
            resume: Some(Resume {
                id: "sm-1".into(),
                handled: 7,
                jid: Jid::parse("user@example.org/old").unwrap(),
            }),
            ..config()
        }
    }

    fn resume_request() -> T {
        c("<resume xmlns='urn:xmpp:sm:3' h='7' previd='sm-1'/>")
    }

    #[test]
    fn resumption_accepted() {
        let mut transcript = plain_until_restart();
        transcript.extend([
            features(&format!("{BIND}{SM}")),
            resume_request(),
            s("<resumed xmlns='urn:xmpp:sm:3' h='3' previd='sm-1'/>"),
        ]);
        assert_eq!(
            run(Login::new(resuming(), tls()), transcript).unwrap(),
            outcome("user@example.org/old", Sm::Resumed { h: 3 })
        );
    }

    #[test]
    fn resumption_failed_binds_and_enables_afresh() {
        for (failed, failed_h) in [
            (
                format!(
                    "<failed xmlns='urn:xmpp:sm:3' h='5'><item-not-found xmlns='{NS_STANZA_ERRORS}'/></failed>"
                ),
                Some(5),
            ),
            (
                format!(
                    "<failed xmlns='urn:xmpp:sm:3'><item-not-found xmlns='{NS_STANZA_ERRORS}'/></failed>"
                ),
                None,
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.extend([
                features(&format!("{BIND}{SM}")),
                resume_request(),
                s(failed),
                bind_request(),
                enable(),
                bind_result(FULL),
                s("<enabled xmlns='urn:xmpp:sm:3' id='sm-2' resume='true'/>"),
            ]);
            let mut expected = outcome(
                FULL,
                Sm::Restarted {
                    failed_h,
                    enabled: Some(Enabled {
                        id: Some("sm-2".into()),
                        max: None,
                    }),
                },
            );
            expected.warnings =
                vec!["the server could not resume the session (item-not-found)".to_owned()];
            assert_eq!(run(Login::new(resuming(), tls()), transcript).unwrap(), expected);
        }
        // Refused, and then stream management refused too.
        let mut transcript = plain_until_restart();
        transcript.extend([
            features(&format!("{BIND}{SM}")),
            resume_request(),
            s("<failed xmlns='urn:xmpp:sm:3'/>"),
            bind_request(),
            enable(),
            bind_result(FULL),
            s("<failed xmlns='urn:xmpp:sm:3'/>"),
        ]);
        let got = run(Login::new(resuming(), tls()), transcript).unwrap();
        assert_eq!(
            got.sm,
            Sm::Restarted {
                failed_h: None,
                enabled: None
            }
        );
        assert_eq!(
            got.warnings,
            [
                "the server could not resume the session (no reason given)",
                "the server refused to enable stream management"
            ]
        );
    }

    #[test]
    fn resumption_needs_the_feature_and_valid_answers() {
        // Not offered: a fresh login.
        let mut transcript = plain_until_restart();
        transcript.extend([features(BIND), bind_request(), bind_result(FULL)]);
        assert_eq!(
            run(Login::new(resuming(), tls()), transcript).unwrap(),
            outcome(FULL, Sm::Off)
        );
        for (reply, message) in [
            (
                "<resumed xmlns='urn:xmpp:sm:3' previd='sm-1'/>",
                "the server sent <resumed/> without a valid h (\"\")",
            ),
            (
                "<resumed xmlns='urn:xmpp:sm:3' h='-1' previd='sm-1'/>",
                "the server sent <resumed/> without a valid h (\"-1\")",
            ),
            (
                "<failed xmlns='urn:xmpp:sm:3' h='4294967296'/>",
                "the server sent <failed/> without a valid h (\"4294967296\")",
            ),
            (
                "<resumed xmlns='urn:xmpp:sm:3' h='1' previd='sm-9'/>",
                "the server resumed another session (sm-9) than the one asked for (sm-1)",
            ),
            (
                "<message><body>x</body></message>",
                "expected stream resumption (<resumed/> or <failed/>) from the server, \
                 got <message/> (jabber:client)",
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.extend([features(&format!("{BIND}{SM}")), resume_request(), s(reply)]);
            assert_error(
                run(Login::new(resuming(), tls()), transcript),
                Status::Protocol,
                message,
            );
        }
    }

    #[test]
    fn stanzas_during_bind_go_to_pending() {
        let message = "<message from='a@example.org' type='chat'><body>hi</body></message>";
        let presence = "<presence from='b@example.org/x'/>";
        // An iq with our id but no answer type is not the answer.
        let iq =
            "<iq type='get' id='xa-bind' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>";
        let session = "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>";
        let mut transcript = plain_until_restart();
        transcript.extend([
            features(&format!("{BIND}{session}{SM}")),
            bind_request(),
            s(message),
            s(iq),
            bind_result(FULL),
            c("<iq type='set' id='xa-session'>\
               <session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"),
            s(presence),
            s("<iq type='result' id='xa-session'/>"),
            enable(),
            s(message),
            s("<enabled xmlns='urn:xmpp:sm:3'/>"),
        ]);
        let login = Login::new(
            Config {
                stream_management: true,
                ..config()
            },
            tls(),
        );
        assert_eq!(
            run(login, transcript).unwrap().pending,
            [message, iq, presence, message]
        );
    }

    #[test]
    fn stream_errors_during_login() {
        let error = format!(
            "<stream:error xmlns:stream='{NS_STREAMS}'><see-other-host xmlns='{NS_STREAM_ERRORS}'>\
             other.example:5222</see-other-host><text xmlns='{NS_STREAM_ERRORS}'>moved</text></stream:error>"
        );
        let moved =
            "stream error: see-other-host (moved): the server sends us to other.example:5222";
        let denied = format!(
            "<stream:error xmlns:stream='{NS_STREAMS}'><not-authorized xmlns='{NS_STREAM_ERRORS}'/></stream:error>"
        );
        // After this many lines of the PLAIN transcript (then bind).
        for (keep, error, status, message) in [
            (2, &error, Status::TempFail, moved),
            (4, &error, Status::TempFail, moved),
            (7, &error, Status::TempFail, moved),
            (9, &denied, Status::NoPerm, "stream error: not-authorized"),
        ] {
            let mut transcript = plain_until_restart();
            transcript.extend([features(BIND), bind_request()]);
            transcript.truncate(keep);
            transcript.push(s(error.as_str()));
            assert_error(
                run(Login::new(config(), tls()), transcript),
                status,
                message,
            );
        }
    }

    #[test]
    fn closes_restarts_and_strays_during_login() {
        let close = || S(Item::Close);
        for (keep, item, status, message) in [
            (
                2,
                close(),
                Status::TempFail,
                "the server closed the stream during negotiation",
            ),
            (
                1,
                close(),
                Status::TempFail,
                "the server closed the stream during negotiation",
            ),
            (
                6,
                close(),
                Status::TempFail,
                "the server closed the stream during negotiation",
            ),
            (4, close(), Status::TempFail, "the server closed the stream"),
            (
                9,
                header(),
                Status::Protocol,
                "the server restarted the stream unexpectedly",
            ),
            (
                1,
                s("<message/>"),
                Status::Protocol,
                "the server sent an element before its stream header",
            ),
            (
                2,
                s("<message/>"),
                Status::Protocol,
                "expected stream features from the server, got <message/> (jabber:client)",
            ),
            (
                4,
                s("<a><b></a>"),
                Status::Protocol,
                "the server sent malformed XML: ill-formed document: expected `</b>`, but `</a>` was found",
            ),
            (
                1,
                S(Item::Header(StreamHeader {
                    qname: "stream:stream".into(),
                    attrs: vec![],
                })),
                Status::Protocol,
                "the server does not speak XMPP 1.0 (no version='1.0' on its stream header)",
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.extend([features(BIND), bind_request()]);
            transcript.truncate(keep);
            transcript.push(item);
            let result = run(Login::new(config(), tls()), transcript);
            if message.starts_with("the server sent malformed XML") {
                let err = result.unwrap_err();
                assert_eq!(err.status(), status);
                assert!(err.message().starts_with("the server sent malformed XML"), "{err}");
            } else {
                assert_error(result, status, message);
            }
        }
    }

    #[test]
    fn register_success_conflict_and_refusal() {
        let request = c(format!(
            "<iq type='set' id='xa-register'><query xmlns='{NS_REGISTER}'>\
             <username>user</username><password>pencil</password></query></iq>"
        ));
        let error = |condition: &str| {
            s(format!(
                "<iq type='error' id='xa-register'><error type='cancel'>\
                 <{condition} xmlns='{NS_STANZA_ERRORS}'/></error></iq>"
            ))
        };
        let registering = || Config {
            register: true,
            ..config()
        };
        for (reply, warnings) in [
            (s("<iq type='result' id='xa-register'/>"), vec![]),
            (
                error("conflict"),
                vec!["the account user@example.org exists already; logging in".to_owned()],
            ),
        ] {
            let mut transcript = plain_until_restart();
            transcript.splice(
                3..3,
                [
                    request.clone(),
                    s("<message><body>early</body></message>"),
                    reply,
                ],
            );
            transcript.extend([features(BIND), bind_request(), bind_result(FULL)]);
            assert_eq!(
                run(Login::new(registering(), tls()), transcript).unwrap(),
                Outcome {
                    warnings,
                    pending: vec!["<message><body>early</body></message>".into()],
                    ..outcome(FULL, Sm::Off)
                }
            );
        }
        let mut transcript = plain_until_restart();
        transcript.truncate(3);
        transcript.extend([request.clone(), error("not-allowed")]);
        assert_error(
            run(Login::new(registering(), tls()), transcript),
            Status::NoPerm,
            "the server refused to register user@example.org: not-allowed",
        );
        let transcript = vec![
            client_header_for(false),
            header(),
            features(&mechanisms(&["SCRAM-SHA-1"])),
        ];
        assert_error(
            run(Login::new(registering(), plaintext()), transcript),
            Status::Config,
            "--register sends the password in clear text: refusing without TLS",
        );
    }

    /// SASL2 (XEP-0388) with Bind2, inline stream management and FAST.
    mod sasl2_logins {
        use super::*;
        use crate::session::sasl2::{Token, NS_BIND2, NS_FAST};
        use hmac::digest::KeyInit;
        use hmac::{Hmac, Mac};

        const ID: &str = "d4565fa7-4d72-4749-b3d3-740edbf87770";
        const BOUND: &str = "user@example.org/xmpp-pipes.Xy3";

        fn offers(fast: &str) -> String {
            format!(
                "<authentication xmlns='{NS_SASL2}'><mechanism>SCRAM-SHA-1</mechanism><inline>\
                 <bind xmlns='{NS_BIND2}'><inline><feature var='urn:xmpp:sm:3'/></inline></bind>\
                 <sm xmlns='urn:xmpp:sm:3'/>{fast}</inline></authentication>{}",
                mechanisms(&["SCRAM-SHA-1"])
            )
        }

        const FAST: &str =
            "<fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-NONE</mechanism></fast>";

        fn sasl2_config(fast: Option<Fast>) -> Config {
            Config {
                resource: None,
                stream_management: true,
                fast,
                ..config()
            }
        }

        fn fast(token: Option<&str>) -> Fast {
            Fast {
                client_id: ID.into(),
                token: token.map(|t| Token {
                    mechanism: HtMechanism::Sha256None,
                    secret: Password::new(t.into()),
                    expiry: "2100-01-01T00:00:00Z".into(),
                }),
                invalidate: false,
            }
        }

        fn hmac(key: &str, label: &str) -> Vec<u8> {
            let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }

        fn agent(with_id: bool) -> String {
            let id = if with_id {
                format!(" id='{ID}'")
            } else {
                String::new()
            };
            format!("<user-agent{id}><software>xmpp-pipes</software></user-agent>")
        }

        const BIND2: &str = "<bind xmlns='urn:xmpp:bind:0'><tag>xmpp-pipes</tag>\
            <enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>";

        /// The SCRAM exchange of RFC 5802's vectors, SASL2's way.
        fn scram(inline: &str, success_extra: &str) -> Vec<T> {
            vec![
                c(format!(
                    "<authenticate xmlns='{NS_SASL2}' mechanism='SCRAM-SHA-1'>\
                     <initial-response>{}</initial-response>{inline}</authenticate>",
                    b64(&format!("n,,n=user,r={NONCE}"))
                )),
                s(format!("<challenge xmlns='{NS_SASL2}'>{}</challenge>", b64(SERVER_FIRST))),
                c(format!("<response xmlns='{NS_SASL2}'>{}</response>", b64(CLIENT_FINAL))),
                s(format!(
                    "<success xmlns='{NS_SASL2}'><additional-data>{}</additional-data>\
                     <authorization-identifier>{BOUND}</authorization-identifier>{success_extra}</success>",
                    b64(SERVER_FINAL)
                )),
            ]
        }

        fn enabled(id: &str) -> Sm {
            Sm::Enabled(Enabled {
                id: Some(id.into()),
                max: None,
            })
        }

        #[test]
        fn scram_with_bind2_inline_sm_and_a_token_asked_for() {
            let login = Login::new(sasl2_config(Some(fast(None))), tls()).with_nonce(NONCE);
            let mut transcript = vec![client_header_for(true), header(), features(&offers(FAST))];
            transcript.extend(scram(
                &format!(
                    "{}{BIND2}<request-token xmlns='{NS_FAST}' mechanism='HT-SHA-256-NONE'/>",
                    agent(true)
                ),
                "<bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='sm-9' resume='true'/></bound>\
                 <token xmlns='urn:xmpp:fast:0' expiry='2026-12-23T00:00:00Z' token='secret-token:fast-1'/>",
            ));
            // Stream management enabled inline: the login ends at the success.
            let outcome = run(login, transcript).unwrap();
            assert_eq!(outcome.jid.to_string(), BOUND);
            assert_eq!(outcome.sm, enabled("sm-9"));
            assert_eq!(
                outcome.token,
                Some(TokenUpdate::Store(Token {
                    mechanism: HtMechanism::Sha256None,
                    secret: Password::new("secret-token:fast-1".into()),
                    expiry: "2026-12-23T00:00:00Z".into(),
                }))
            );
        }

        #[test]
        fn a_stored_token_logs_in_in_one_step_and_the_server_must_prove_it() {
            let token = "secret-token:fast-1";
            let authenticate = c(format!(
                "<authenticate xmlns='{NS_SASL2}' mechanism='HT-SHA-256-NONE'>\
                 <initial-response>{}</initial-response>{}{BIND2}<fast xmlns='{NS_FAST}'/></authenticate>",
                BASE64.encode([b"user\0".as_slice(), &hmac(token, "Initiator")].concat()),
                agent(true)
            ));
            let success = |proof: &[u8]| {
                s(format!(
                    "<success xmlns='{NS_SASL2}'><additional-data>{}</additional-data>\
                     <authorization-identifier>{BOUND}</authorization-identifier>\
                     <bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='1'/></bound></success>",
                    BASE64.encode(proof)
                ))
            };
            let start = || vec![client_header_for(true), header(), features(&offers(FAST))];
            let mut transcript = start();
            transcript.extend([authenticate.clone(), success(&hmac(token, "Responder"))]);
            let outcome = run(
                Login::new(sasl2_config(Some(fast(Some(token)))), tls()),
                transcript,
            )
            .unwrap();
            assert_eq!(outcome.sm, enabled("sm-1"));
            assert_eq!(outcome.token, None, "no new token: the stored one stays");
            // A server that does not hold the token cannot prove it.
            let mut transcript = start();
            transcript.extend([authenticate, success(&hmac("forged", "Responder"))]);
            let err = run(
                Login::new(sasl2_config(Some(fast(Some(token)))), tls()),
                transcript,
            )
            .unwrap_err();
            assert_eq!(err.status(), Status::NoPerm, "{err}");
        }

        #[test]
        fn a_refused_token_is_forgotten_and_the_password_logs_in_on_the_same_stream() {
            let login =
                Login::new(sasl2_config(Some(fast(Some("stale")))), tls()).with_nonce(NONCE);
            let mut transcript = vec![
                client_header_for(true),
                header(),
                features(&offers(FAST)),
                c(format!(
                    "<authenticate xmlns='{NS_SASL2}' mechanism='HT-SHA-256-NONE'>\
                     <initial-response>{}</initial-response>{}{BIND2}<fast xmlns='{NS_FAST}'/></authenticate>",
                    BASE64.encode([b"user\0".as_slice(), &hmac("stale", "Initiator")].concat()),
                    agent(true)
                )),
                s(format!(
                    "<failure xmlns='{NS_SASL2}'><not-authorized xmlns='{NS_SASL}'/></failure>"
                )),
            ];
            transcript.extend(scram(
                &format!(
                    "{}{BIND2}<request-token xmlns='{NS_FAST}' mechanism='HT-SHA-256-NONE'/>",
                    agent(true)
                ),
                "<bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='sm-2' resume='true'/></bound>",
            ));
            let outcome = run(login, transcript).unwrap();
            assert_eq!(outcome.token, Some(TokenUpdate::Forget));
            assert_eq!(
                outcome.warnings,
                ["the server refused the stored FAST token (not-authorized); logged in with the password"]
            );
        }

        #[test]
        fn inline_resumption_and_its_failure() {
            let resume = Resume {
                id: "sm-1".into(),
                handled: 4,
                jid: Jid::parse(BOUND).unwrap(),
            };
            let config = || Config {
                resume: Some(resume.clone()),
                ..sasl2_config(None)
            };
            let inline = format!(
                "{}<resume xmlns='urn:xmpp:sm:3' previd='sm-1' h='4'/>{BIND2}",
                agent(false)
            );
            let mut transcript = vec![client_header_for(true), header(), features(&offers(""))];
            transcript.extend(scram(
                &inline,
                "<resumed xmlns='urn:xmpp:sm:3' h='2' previd='sm-1'/>",
            ));
            let outcome = run(Login::new(config(), tls()).with_nonce(NONCE), transcript).unwrap();
            assert_eq!(outcome.sm, Sm::Resumed { h: 2 });
            assert_eq!(outcome.jid, resume.jid);

            let mut transcript = vec![client_header_for(true), header(), features(&offers(""))];
            transcript.extend(scram(
                &inline,
                "<failed xmlns='urn:xmpp:sm:3' h='3'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>\
                 <bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='sm-5' resume='true'/></bound>",
            ));
            let outcome = run(Login::new(config(), tls()).with_nonce(NONCE), transcript).unwrap();
            assert_eq!(
                outcome.sm,
                Sm::Restarted {
                    failed_h: Some(3),
                    enabled: Some(Enabled {
                        id: Some("sm-5".into()),
                        max: None
                    })
                }
            );
            assert_eq!(
                outcome.warnings,
                ["the server could not resume the session (item-not-found)"]
            );
        }

        #[test]
        fn a_resource_asked_for_binds_after_the_success_as_rfc_6120_has_it() {
            let config = Config {
                resource: Some("pipes".into()),
                ..sasl2_config(None)
            };
            let mut transcript = vec![client_header_for(true), header(), features(&offers(""))];
            transcript.extend(scram(&agent(false), ""));
            transcript.extend([
                features(&format!("{BIND}{SM}")),
                bind_request(),
                enable(),
                bind_result(FULL),
                s("<enabled xmlns='urn:xmpp:sm:3' id='sm-3' resume='true'/>"),
            ]);
            // BOUND is the bare identity here: authorised, not bound.
            let transcript: Vec<T> = transcript
                .into_iter()
                .map(|t| match t {
                    S(Item::Stanza(line)) => s(line.replace(BOUND, JID)),
                    other => other,
                })
                .collect();
            let outcome = run(Login::new(config, tls()).with_nonce(NONCE), transcript).unwrap();
            assert_eq!(outcome.jid.to_string(), FULL);
            assert_eq!(outcome.sm, enabled("sm-3"));
        }

        #[test]
        fn a_limit_announced_before_authentication_holds_after_it() {
            let limits =
                "<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>262144</max-bytes></limits>";
            let login = Login::new(sasl2_config(None), tls()).with_nonce(NONCE);
            let mut transcript = vec![
                client_header_for(true),
                header(),
                features(&format!("{}{limits}", offers(""))),
            ];
            transcript.extend(scram(
                &format!("{}{BIND2}", agent(false)),
                "<bound xmlns='urn:xmpp:bind:0'/>",
            ));
            transcript.push(features(""));
            assert_eq!(run(login, transcript).unwrap().max_stanza, Some(262144));
        }

        /// The features line as the login caches it.
        fn features_line(inner: &str) -> String {
            let T::S(Item::Stanza(line)) = features(inner) else {
                unreachable!()
            };
            line
        }

        #[test]
        fn cached_features_send_the_authenticate_with_the_header() {
            let offered = offers("");
            let config = Config {
                cached_features: Some(features_line(&offered)),
                ..sasl2_config(None)
            };
            let login = Login::new(config, tls()).with_nonce(NONCE);
            let mut steps = scram(
                &format!("{}{BIND2}", agent(false)),
                "<bound xmlns='urn:xmpp:bind:0'/>",
            );
            let T::C(authenticate) = steps.remove(0) else {
                unreachable!()
            };
            let mut transcript = vec![
                c(format!(
                    "{}{authenticate}",
                    client_header("example.org", Some(JID))
                )),
                header(),
                features(&offered),
            ];
            transcript.extend(steps);
            transcript.push(features(""));
            let outcome = run(login, transcript).unwrap();
            assert_eq!(outcome.jid.to_string(), BOUND);
            assert!(outcome
                .features
                .is_some_and(|f| f.contains("urn:xmpp:sasl:2")));
        }

        #[test]
        fn an_unbound_token_waits_for_the_features_of_this_stream() {
            let config = Config {
                cached_features: Some(features_line(&offers(FAST))),
                ..sasl2_config(Some(fast(Some("tok"))))
            };
            let mut login = Login::new(config, tls());
            assert_eq!(
                login.start(),
                client_header("example.org", Some(JID)),
                "HT-SHA-256-NONE's proof is not sent with the header"
            );
        }

        #[test]
        fn stale_cached_features_fail_once_and_the_real_ones_log_in() {
            let cached = offers("").replace("SCRAM-SHA-1", "SCRAM-SHA-256");
            let config = Config {
                cached_features: Some(features_line(&cached)),
                ..sasl2_config(None)
            };
            let login = Login::new(config, tls()).with_nonce(NONCE);
            let inline = format!("{}{BIND2}", agent(false));
            let mut transcript = vec![
                c(format!(
                    "{}<authenticate xmlns='{NS_SASL2}' mechanism='SCRAM-SHA-256'>\
                     <initial-response>{}</initial-response>{inline}</authenticate>",
                    client_header("example.org", Some(JID)),
                    b64(&format!("n,,n=user,r={NONCE}"))
                )),
                header(),
                features(&offers("")),
                s(format!(
                    "<failure xmlns='{NS_SASL2}'><invalid-mechanism xmlns='{NS_SASL}'/></failure>"
                )),
            ];
            transcript.extend(scram(&inline, "<bound xmlns='urn:xmpp:bind:0'/>"));
            transcript.push(features(""));
            let outcome = run(login, transcript).unwrap();
            assert_eq!(outcome.jid.to_string(), BOUND);
            assert!(outcome.features.is_some_and(|f| f.contains("SCRAM-SHA-1<")));
        }

        #[test]
        fn a_server_that_dropped_sasl2_ends_a_pipelined_login_for_a_retry() {
            let config = Config {
                cached_features: Some(features_line(&offers(""))),
                ..sasl2_config(None)
            };
            let login = Login::new(config, tls()).with_nonce(NONCE);
            let mut steps = scram(&format!("{}{BIND2}", agent(false)), "");
            let T::C(authenticate) = steps.remove(0) else {
                unreachable!()
            };
            let transcript = vec![
                c(format!(
                    "{}{authenticate}",
                    client_header("example.org", Some(JID))
                )),
                header(),
                features(&mechanisms(&["SCRAM-SHA-1"])),
            ];
            let err = run(login, transcript).unwrap_err();
            assert_eq!(err.status(), Status::TempFail);
            assert!(err.to_string().contains("no longer offers SASL2"), "{err}");
        }

        #[test]
        fn sasl2_is_not_used_without_tls_or_when_refused() {
            // --no-sasl2: SASL1's <auth/> although SASL2 is offered.
            let config = Config {
                sasl2: false,
                ..sasl2_config(None)
            };
            let transcript = vec![
                client_header_for(true),
                header(),
                features(&offers("")),
                c(format!(
                    "<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{}</auth>",
                    b64(&format!("n,,n=user,r={NONCE}"))
                )),
                s(format!(
                    "<failure xmlns='{NS_SASL}'><not-authorized/></failure>"
                )),
            ];
            let err = run(Login::new(config, tls()).with_nonce(NONCE), transcript).unwrap_err();
            assert_eq!(err.status(), Status::NoPerm);
        }

        #[test]
        fn a_success_for_someone_else_or_a_task_ends_the_login() {
            let mut transcript = vec![client_header_for(true), header(), features(&offers(""))];
            let mut steps = scram(&format!("{}{BIND2}", agent(false)), "");
            let last = steps.pop().unwrap();
            transcript.extend(steps.clone());
            let S(Item::Stanza(success)) = last else {
                unreachable!()
            };
            transcript.push(s(success.replace(BOUND, "boss@example.org/x")));
            let err = run(
                Login::new(sasl2_config(None), tls()).with_nonce(NONCE),
                transcript,
            )
            .unwrap_err();
            assert_eq!(err.status(), Status::Protocol);
            assert!(err.to_string().contains("not as user@example.org"), "{err}");

            let mut transcript = vec![client_header_for(true), header(), features(&offers(""))];
            transcript.extend(steps);
            transcript.push(s(format!(
                "<continue xmlns='{NS_SASL2}'><tasks><task>TOTP-EXAMPLE</task></tasks></continue>"
            )));
            let err = run(
                Login::new(sasl2_config(None), tls()).with_nonce(NONCE),
                transcript,
            )
            .unwrap_err();
            assert_eq!(err.status(), Status::NoPerm);
            assert!(err.to_string().contains("TOTP-EXAMPLE"), "{err}");
        }
    }
}

//! Routing rules: one command-line argument each, tried in order, first match wins.
//!
//! ```text
//! RULE     = SELECTOR *( SP "from=" GLOB ) [ SP "carbon=" DIR ] [ SP ACTION ]
//! SELECTOR = KIND [ ":" TYPE *( "," TYPE ) ]
//! DIR      = "sent" / "received" / "*"
//! KIND     = "message" / "presence" / "iq" / "*"
//! ACTION   = "-" / "drop" / ">>" FILE / "|" CMD / "!" CMD      (default "-")
//! ```
//!
//! A GLOB holding a `/` is matched against the sender's full JID, one
//! without against its bare JID; `*` matches any run of characters, `?` one.
//!
//! Carbon copies (XEP-0280: what the account's other clients sent and
//! received, and only from our own account) match only a rule with
//! `carbon=`, and then as the message inside, with its own sender: a rule
//! without it never sees them, so a bot never answers its own carbons.

use crate::stanza::{Kind, Stanza};
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::jid::Jid;

/// The types each kind of stanza can have (RFC 6120 §8.2.3, RFC 6121 §4.7.1, §5.2.2).
const MESSAGE_TYPES: &[&str] = &["chat", "error", "groupchat", "headline", "normal"];
const PRESENCE_TYPES: &[&str] = &[
    "available",
    "error",
    "probe",
    "subscribe",
    "subscribed",
    "unavailable",
    "unsubscribe",
    "unsubscribed",
];
const IQ_TYPES: &[&str] = &["error", "get", "result", "set"];

/// Which stanzas a rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The kind, or `None` for `*` (any element).
    pub kind: Option<Kind>,
    /// The accepted types; empty for any.
    pub types: Vec<String>,
}

/// A shell-style pattern on a sender's JID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
    full: bool,
}

/// What a rule does with the stanzas it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-`: write the stanza line on standard output.
    Stdout,
    /// `drop`: do nothing (and do not answer an iq request).
    Drop,
    /// `>> FILE`: append the stanza line to FILE.
    Append(String),
    /// `| CMD`: write the stanza line to CMD's standard input (CMD runs for the whole session).
    Pipe(String),
    /// `! CMD`: run CMD for this stanza, the stanza on its standard input.
    Run(String),
}

impl Action {
    /// Whether an iq request matched by this action counts as taken care of
    /// (jid-route then does not answer it itself).
    pub fn claims_requests(&self) -> bool {
        matches!(self, Action::Drop | Action::Pipe(_) | Action::Run(_))
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule as given, for messages.
    pub text: String,
    /// Which stanzas.
    pub selector: Selector,
    /// From whom (any of these; empty for anyone).
    pub from: Vec<Glob>,
    /// `carbon=`: the carbon copies it is about (`sent`, `received`, or
    /// `None` for both); without it (`carbons: false`) it sees none.
    pub carbon: Option<&'static str>,
    /// Whether the rule is about carbon copies (`carbon=` was given).
    pub carbons: bool,
    /// What to do.
    pub action: Action,
}

impl Glob {
    /// A glob; the part before a `/` is lower-cased, as normalised JIDs are.
    pub fn new(pattern: &str) -> Glob {
        let (bare, resource) = match pattern.split_once('/') {
            Some((bare, resource)) => (bare, Some(resource)),
            None => (pattern, None),
        };
        let mut text = bare.to_lowercase();
        if let Some(resource) = resource {
            text.push('/');
            text.push_str(resource);
        }
        Glob {
            pattern: text.chars().collect(),
            full: resource.is_some(),
        }
    }

    /// Whether the glob matches this JID (full JID if the glob has a `/`, else bare).
    pub fn matches_jid(&self, jid: &Jid) -> bool {
        let text = if self.full {
            jid.to_string()
        } else {
            jid.to_bare().to_string()
        };
        self.matches(&text)
    }

    /// Whether the glob matches `text` as a whole.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.pattern.get(p) {
                Some('*') => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(&c) if c == '?' || c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.pattern[p..].iter().all(|&c| c == '*')
    }
}

impl Selector {
    /// The selector of every element (`*`).
    pub fn any() -> Selector {
        Selector {
            kind: None,
            types: Vec::new(),
        }
    }

    /// Parse `KIND[:TYPE,...]`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let (kind_name, types) = match text.split_once(':') {
            Some((kind, types)) => (kind, Some(types)),
            None => (text, None),
        };
        let (kind, known): (Option<Kind>, Vec<&str>) = match kind_name {
            "message" => (Some(Kind::Message), MESSAGE_TYPES.to_vec()),
            "presence" => (Some(Kind::Presence), PRESENCE_TYPES.to_vec()),
            "iq" => (Some(Kind::Iq), IQ_TYPES.to_vec()),
            "*" => (None, [MESSAGE_TYPES, PRESENCE_TYPES, IQ_TYPES].concat()),
            other => {
                return Err(format!(
                    "unknown stanza kind {other:?} (message, presence, iq or *)"
                ))
            }
        };
        let what = if kind.is_some() {
            kind_name
        } else {
            "any stanza"
        };
        let mut selector = Selector {
            kind,
            types: Vec::new(),
        };
        if let Some(types) = types {
            for name in types.split(',') {
                if !known.contains(&name) {
                    return Err(format!(
                        "{name:?} is not a type of {what} (one of {})",
                        known.join(", ")
                    ));
                }
                selector.types.push(name.to_owned());
            }
        }
        Ok(selector)
    }

    /// Whether a stanza of this kind and (effective) type is selected.
    pub fn matches(&self, kind: &Kind, stanza_type: &str) -> bool {
        if let Some(want) = &self.kind {
            if want != kind {
                return false;
            }
        }
        self.types.is_empty() || self.types.iter().any(|t| t == stanza_type)
    }
}

impl Rule {
    /// Parse one rule; the error names the rule.
    pub fn parse(text: &str) -> Result<Rule> {
        Self::parse_inner(text).map_err(|why| Error::usage(format!("rule {text:?}: {why}")))
    }

    fn parse_inner(text: &str) -> Result<Rule, String> {
        let rest = text.trim_start();
        if rest.is_empty() {
            return Err("empty rule".into());
        }
        let (first, after) = split_word(rest);
        // The selector may be left out: `drop` and `from=x@y -` select any stanza.
        let implied = first.starts_with("from=") || first.starts_with("carbon=");
        let (selector, mut rest) = if implied || is_action_start(first) {
            (Selector::any(), rest)
        } else {
            (Selector::parse(first)?, after)
        };
        let mut from = Vec::new();
        while let Some(after) = rest.strip_prefix("from=") {
            let (glob, after) = split_word(after);
            if glob.is_empty() {
                return Err("from= needs a pattern".into());
            }
            from.push(Glob::new(glob));
            rest = after;
        }
        let (mut carbon, mut carbons) = (None, false);
        if let Some(after) = rest.strip_prefix("carbon=") {
            let (direction, after) = split_word(after);
            carbon = match direction {
                "sent" => Some("sent"),
                "received" => Some("received"),
                "*" => None,
                other => {
                    return Err(format!(
                        "carbon={other:?}: the direction is sent, received or *"
                    ))
                }
            };
            carbons = true;
            rest = after;
        }
        let action = parse_action(rest)?;
        Ok(Rule {
            text: text.to_owned(),
            selector,
            from,
            carbon,
            carbons,
            action,
        })
    }

    /// Whether the rule matches the stanza; `from` is the sender as taken
    /// (the `from` attribute, or our own account when it is missing).
    /// A carbon copy's message (`stanza.carbon`) matches only a rule with
    /// `carbon=` of its direction, and every other stanza only a rule without.
    pub fn matches(&self, stanza: &Stanza, from: Option<&Jid>) -> bool {
        let carbon_ok = match stanza.carbon {
            None => !self.carbons,
            Some(direction) => self.carbons && self.carbon.is_none_or(|want| want == direction),
        };
        if !carbon_ok || !self.selector.matches(&stanza.kind, &stanza.stanza_type) {
            return false;
        }
        self.from.is_empty()
            || from.is_some_and(|jid| self.from.iter().any(|glob| glob.matches_jid(jid)))
    }
}

/// Whether a rule's first word is an action rather than a selector.
fn is_action_start(word: &str) -> bool {
    word == "-" || word == "drop" || word.starts_with(['>', '|', '!'])
}

/// The first word of `text` and the rest, with the white space between them dropped.
fn split_word(text: &str) -> (&str, &str) {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

fn parse_action(text: &str) -> Result<Action, String> {
    let text = text.trim();
    if text.is_empty() || text == "-" {
        return Ok(Action::Stdout);
    }
    if text == "drop" {
        return Ok(Action::Drop);
    }
    if let Some(file) = text.strip_prefix(">>") {
        let file = file.trim();
        if file.is_empty() {
            return Err("'>>' needs a file name".into());
        }
        return Ok(Action::Append(file.to_owned()));
    }
    if let Some(command) = text.strip_prefix('|') {
        let command = command.trim();
        if command.is_empty() {
            return Err("'|' needs a command".into());
        }
        return Ok(Action::Pipe(command.to_owned()));
    }
    if let Some(command) = text.strip_prefix('!') {
        let command = command.trim();
        if command.is_empty() {
            return Err("'!' needs a command".into());
        }
        return Ok(Action::Run(command.to_owned()));
    }
    Err(format!(
        "unknown action {:?} (-, drop, >> FILE, | CMD or ! CMD)",
        split_word(text).0
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(line: &str) -> Stanza {
        Stanza::parse(line.to_owned()).unwrap()
    }

    #[test]
    fn parses_good_rules() {
        let rule = Rule::parse("message:chat from=*@Example.org >> /var/log/chat.log").unwrap();
        assert_eq!(rule.selector.kind, Some(Kind::Message));
        assert_eq!(rule.selector.types, ["chat"]);
        assert_eq!(rule.from, [Glob::new("*@example.org")]);
        assert_eq!(rule.action, Action::Append("/var/log/chat.log".into()));
        assert_eq!(
            Rule::parse("message:groupchat | ./room-bot --loud")
                .unwrap()
                .action,
            Action::Pipe("./room-bot --loud".into())
        );
        assert_eq!(
            Rule::parse("presence !./on-presence").unwrap().action,
            Action::Run("./on-presence".into())
        );
        assert_eq!(Rule::parse("iq:result drop").unwrap().action, Action::Drop);
        assert_eq!(Rule::parse("* -").unwrap().action, Action::Stdout);
        assert_eq!(Rule::parse("message").unwrap().action, Action::Stdout);
        let rule = Rule::parse("drop").unwrap();
        assert_eq!(
            (rule.selector, rule.action),
            (Selector::any(), Action::Drop)
        );
        let rule = Rule::parse("from=*@evil.example drop").unwrap();
        assert_eq!((rule.selector, rule.from.len()), (Selector::any(), 1));
        assert_eq!(
            Rule::parse("! notify-send \"$XMPP_FROM\"").unwrap().action,
            Action::Run("notify-send \"$XMPP_FROM\"".into())
        );
        assert_eq!(
            Rule::parse(">>").map(|_| ()).unwrap_err().status(),
            xmpp_pipes::exit::Status::Usage
        );
        let rule = Rule::parse("*:error,unavailable from=a@b from=c@d/* >>x").unwrap();
        assert_eq!(rule.selector.kind, None);
        assert_eq!(rule.selector.types, ["error", "unavailable"]);
        assert_eq!(rule.from.len(), 2);
        assert_eq!(rule.action, Action::Append("x".into()));
    }

    #[test]
    fn carbon_copies_match_only_rules_that_ask_for_them() {
        let rule = |text: &str| Rule::parse(text).unwrap();
        let mut sent = stanza("<message from='bob@x/phone' to='alice@x' type='chat'/>");
        sent.carbon = Some("sent");
        let mut received = stanza("<message from='alice@x/pc' to='bob@x' type='chat'/>");
        received.carbon = Some("received");
        let plain = stanza("<message from='alice@x/pc' type='chat'/>");
        let from = |s: &Stanza| s.from.clone().unwrap().ok();
        let any = rule("message:chat ! bot");
        assert!(any.matches(&plain, from(&plain).as_ref()));
        assert!(
            !any.matches(&received, from(&received).as_ref()),
            "a bot never sees carbons"
        );
        assert!(!any.matches(&sent, from(&sent).as_ref()));
        let both = rule("message carbon=* >> log");
        assert!(
            both.matches(&sent, from(&sent).as_ref())
                && both.matches(&received, from(&received).as_ref())
        );
        assert!(!both.matches(&plain, from(&plain).as_ref()), "only carbons");
        let ours = rule("message from=bob@x carbon=sent -");
        assert!(ours.matches(&sent, from(&sent).as_ref()));
        assert!(!ours.matches(&received, from(&received).as_ref()));
        let implied = rule("carbon=received drop");
        assert_eq!(
            (implied.selector, implied.carbon),
            (Selector::any(), Some("received"))
        );
        let err = Rule::parse("message carbon=copied -")
            .map(|_| ())
            .unwrap_err();
        assert!(err.message().contains("sent, received or *"), "{err}");
    }

    #[test]
    fn refuses_bad_rules_naming_them() {
        for (bad, why) in [
            ("", "empty rule"),
            ("mesage -", "unknown stanza kind"),
            ("message:chta -", "not a type of message"),
            ("iq:chat -", "not a type of iq"),
            ("presence:", "not a type"),
            ("message >>", "needs a file name"),
            ("message |", "needs a command"),
            ("message ! ", "needs a command"),
            ("message from= -", "needs a pattern"),
            ("message print", "unknown action \"print\""),
            ("message > file", "unknown action"),
        ] {
            let err = Rule::parse(bad).unwrap_err();
            assert_eq!(err.status(), xmpp_pipes::exit::Status::Usage);
            assert!(err.message().contains(why), "{bad:?}: {err}");
            assert!(err.message().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn globs_match_bare_or_full_jids() {
        let alice = Jid::parse("Alice@Example.org/Phone").unwrap();
        assert!(Glob::new("*@example.org").matches_jid(&alice));
        assert!(Glob::new("alice@EXAMPLE.org").matches_jid(&alice));
        assert!(Glob::new("alice@example.org/*").matches_jid(&alice));
        assert!(Glob::new("alice@example.org/Ph?ne").matches_jid(&alice));
        assert!(!Glob::new("alice@example.org/phone").matches_jid(&alice));
        assert!(!Glob::new("alice@example.org/*").matches_jid(&alice.to_bare()));
        assert!(!Glob::new("*@example.com").matches_jid(&alice));
        assert!(!Glob::new("alice").matches_jid(&alice));
        assert!(Glob::new("*").matches_jid(&alice));
        assert!(Glob::new("*.org").matches_jid(&alice));
        assert!(Glob::new("a*e@*").matches_jid(&alice));
        assert!(!Glob::new("a*x@*").matches_jid(&alice));
        assert!(Glob::new("**@example.org").matches("x@example.org"));
        assert!(Glob::new("").matches(""));
    }

    #[test]
    fn selectors_match_kind_and_effective_type() {
        let chat = stanza("<message from='a@b/c' type='chat'><body>x</body></message>");
        let normal = stanza("<message from='a@b/c'><body>x</body></message>");
        let offline = stanza("<presence from='a@b/c' type='unavailable'/>");
        let online = stanza("<presence from='a@b/c'/>");
        let get = stanza("<iq from='a@b/c' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>");
        let rule = |text: &str| Rule::parse(text).unwrap();
        let from = Jid::parse("a@b/c").unwrap();
        assert!(rule("message").matches(&chat, Some(&from)));
        assert!(rule("message:chat").matches(&chat, Some(&from)));
        assert!(!rule("message:chat").matches(&normal, Some(&from)));
        assert!(rule("message:normal").matches(&normal, Some(&from)));
        assert!(rule("presence:available").matches(&online, Some(&from)));
        assert!(!rule("presence:available").matches(&offline, Some(&from)));
        assert!(rule("*:unavailable,get").matches(&offline, Some(&from)));
        assert!(rule("*:unavailable,get").matches(&get, Some(&from)));
        assert!(!rule("*:unavailable,get").matches(&chat, Some(&from)));
        assert!(rule("iq:get from=a@b").matches(&get, Some(&from)));
        assert!(!rule("iq:get from=x@b").matches(&get, Some(&from)));
        assert!(!rule("iq:get from=a@b").matches(&get, None));
        assert!(rule("iq:get").matches(&get, None));
        assert!(rule("* from=x@y from=a@*").matches(&get, Some(&from)));
    }
}

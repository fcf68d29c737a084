//! JIDs (RFC 7622): parsed, validated and normalised.
//!
//! A [`Jid`] is `[local@]domain[/resource]`, each part checked and
//! normalised as RFC 7622 says:
//!
//! - the localpart (§3.3) by the PRECIS profile UsernameCaseMapped of
//!   RFC 8265 (the IdentifierClass of RFC 8264: width mapping, lower case by
//!   Unicode's toLowerCase, NFC, the Bidi rule), and then without any of
//!   `" & ' / : < > @`;
//! - the domainpart (§3.2): a final `.` dropped; an IPv6 literal in `[...]`
//!   kept in its canonical spelling; otherwise UTS #46 ToUnicode by the
//!   `idna` crate (nontransitional processing, CheckBidi and CheckJoiners,
//!   no STD3 or hyphen rules): lower case, width mapping, NFC, A-labels
//!   (`xn--`) turned into U-labels; then every label non-empty, at most 63
//!   bytes (UTF-8) and holding no ASCII but letters, digits, `-` and `_`.
//!   UTS #46 follows IDNA2008 but still takes the symbols IDNA2003 took
//!   (its NV8 code points, such as `☃`);
//! - the resourcepart (§3.4) by the PRECIS profile OpaqueString of RFC 8265
//!   (the FreeformClass: spaces kept, other space characters mapped to
//!   U+0020, no case mapping, NFC).
//!
//! The PRECIS tables of `precis-core` are of Unicode 6.3, the version of
//! the IANA registry, so a code point assigned later (such as `🥺`) is
//! refused in a localpart or resourcepart; the UTS #46 data is that of the
//! `idna` crate. Each part is normalised until it no longer changes (at
//! most four times, RFC 8264 §7) and refused if it does not settle, and
//! every part must be 1 to [`MAX_PART`] bytes before and after: so a
//! printed JID always parses back to itself. A value of this type is always
//! valid: there is no way to build an invalid one, so code that turns a JID
//! into a file name can rely on it.
//!
//! Servers that still run the stringprep profiles of RFC 6122 (nodeprep,
//! nameprep, resourceprep), as Prosody and ejabberd do, spell a few JIDs
//! otherwise: they case-fold `ß` to `ss` and `ς` to `σ` and apply NFKC (so
//! `ﬁ` becomes `fi`, which PRECIS refuses in a localpart and keeps in a
//! resource). Such a JID can reach us under two names.

use std::borrow::Cow;
use std::fmt;

use idna::uts46::{AsciiDenyList, Hyphens, Uts46};
use precis_profiles::precis_core::profile::PrecisFastInvocation;
use precis_profiles::precis_core::{Error as PrecisError, UnexpectedError};
use precis_profiles::{OpaqueString, UsernameCaseMapped};

/// The longest a part may be, in bytes (RFC 7622 §3.2–3.4).
pub const MAX_PART: usize = 1023;

/// A valid, normalised JID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    local: Option<String>,
    domain: String,
    resource: Option<String>,
}

/// Why a string is not a JID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JidError(String);

impl fmt::Display for JidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JidError {}

fn invalid(input: &str, why: impl fmt::Display) -> JidError {
    JidError(format!("{input:?} is not a valid JID: {why}"))
}

fn check_length(input: &str, part: &str, name: &str) -> Result<(), JidError> {
    if part.is_empty() {
        return Err(invalid(input, format_args!("empty {name}")));
    }
    if part.len() > MAX_PART {
        return Err(invalid(
            input,
            format_args!("{name} longer than {MAX_PART} bytes"),
        ));
    }
    Ok(())
}

/// `part` normalised by `normalise` until it no longer changes: RFC 8264 §7
/// has a profile's rules applied again until the string is stable, and the
/// string refused if it is not after three more rounds. Length checked
/// before and after.
fn settle<E: fmt::Display>(
    input: &str,
    part: &str,
    name: &str,
    normalise: impl Fn(&str) -> Result<Cow<'_, str>, E>,
) -> Result<String, JidError> {
    check_length(input, part, name)?;
    let mut current = part.to_owned();
    for _ in 0..4 {
        let next = normalise(&current).map_err(|e| invalid(input, format_args!("{name}: {e}")))?;
        if next == current {
            check_length(input, &current, name)?;
            return Ok(current);
        }
        let next = next.into_owned();
        check_length(input, &next, name)?;
        current = next;
    }
    Err(invalid(
        input,
        format_args!("the {name} does not settle when normalised"),
    ))
}

/// A PRECIS refusal in a few words (the crate's own `Display` spreads over
/// lines).
struct Precis(PrecisError);

impl fmt::Display for Precis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cp = match &self.0 {
            PrecisError::BadCodepoint(info) => info.cp,
            PrecisError::Unexpected(
                UnexpectedError::ContextRuleNotApplicable(info)
                | UnexpectedError::MissingContextRule(info),
            ) => info.cp,
            _ => return f.write_str("refused by PRECIS (RFC 8264)"),
        };
        match char::from_u32(cp) {
            Some(c) => write!(f, "U+{cp:04X} {c:?} is not allowed (PRECIS, RFC 8264)"),
            None => write!(f, "U+{cp:04X} is not allowed (PRECIS, RFC 8264)"),
        }
    }
}

/// The characters RFC 7622 §3.3.1 forbids in a localpart beyond what
/// UsernameCaseMapped forbids.
const NOT_IN_LOCALPART: &[char] = &['"', '&', '\'', '/', ':', '<', '>', '@'];

fn normalise_local(input: &str, local: &str) -> Result<String, JidError> {
    let local = settle(input, local, "localpart", |s| {
        UsernameCaseMapped::enforce(s).map_err(Precis)
    })?;
    if let Some(c) = local.chars().find(|c| NOT_IN_LOCALPART.contains(c)) {
        return Err(invalid(
            input,
            format_args!("the localpart holds {c:?}, which RFC 7622 forbids there"),
        ));
    }
    Ok(local)
}

fn normalise_resource(input: &str, resource: &str) -> Result<String, JidError> {
    settle(input, resource, "resource", |s| {
        OpaqueString::enforce(s).map_err(Precis)
    })
}

/// Why UTS #46 refused a domain (the `idna` crate does not say which rule).
struct NotIdna;

impl fmt::Display for NotIdna {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an internationalised domain name (IDNA2008, UTS #46)")
    }
}

fn to_unicode(domain: &str) -> Result<Cow<'_, str>, NotIdna> {
    let (unicode, result) =
        Uts46::new().to_unicode(domain.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow);
    result.map(|()| unicode).map_err(|_| NotIdna)
}

fn normalise_domain(input: &str, domain: &str) -> Result<String, JidError> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    check_length(input, domain, "domain")?;
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let ip: std::net::Ipv6Addr = literal
            .parse()
            .map_err(|_| invalid(input, "bad IPv6 literal"))?;
        return Ok(format!("[{ip}]"));
    }
    let domain = settle(input, domain, "domain", to_unicode)?;
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(invalid(input, "empty label in the domain"));
        }
        if label.len() > 63 {
            return Err(invalid(input, "a domain label longer than 63 bytes"));
        }
        if label
            .chars()
            .any(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(invalid(
                input,
                "the domain holds a character a host name cannot",
            ));
        }
    }
    Ok(domain)
}

impl Jid {
    /// Parse and normalise a JID.
    pub fn parse(input: &str) -> Result<Jid, JidError> {
        let (bare, resource) = match input.split_once('/') {
            Some((bare, resource)) => (bare, Some(resource)),
            None => (input, None),
        };
        let (local, domain) = match bare.split_once('@') {
            Some((local, domain)) => (Some(local), domain),
            None => (None, bare),
        };
        let local = local
            .map(|local| normalise_local(input, local))
            .transpose()?;
        let domain = normalise_domain(input, domain)?;
        let resource = resource
            .map(|resource| normalise_resource(input, resource))
            .transpose()?;
        Ok(Jid {
            local,
            domain,
            resource,
        })
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        self.local.as_deref()
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The same JID without its resource.
    pub fn to_bare(&self) -> Jid {
        Jid {
            resource: None,
            ..self.clone()
        }
    }

    /// Whether there is no resource.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// The same bare JID with another resource (validated).
    pub fn with_resource(&self, resource: &str) -> Result<Jid, JidError> {
        Jid::parse(&format!("{}/{resource}", self.to_bare()))
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(local) = &self.local {
            write!(f, "{local}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(resource) = &self.resource {
            write!(f, "/{resource}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(input: &str) -> String {
        match Jid::parse(input) {
            Ok(jid) => jid.to_string(),
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    fn refused(input: &str) {
        assert!(Jid::parse(input).is_err(), "{input:?} should be refused");
    }

    #[test]
    fn parses_and_normalises() {
        let jid = Jid::parse("Juliet@Example.COM./Balcony Scene").unwrap();
        assert_eq!(jid.local(), Some("juliet"));
        assert_eq!(jid.domain(), "example.com");
        assert_eq!(jid.resource(), Some("Balcony Scene"));
        assert_eq!(jid.to_string(), "juliet@example.com/Balcony Scene");
        assert_eq!(jid.to_bare().to_string(), "juliet@example.com");
        assert!(jid.to_bare().is_bare() && !jid.is_bare());
        assert_eq!(
            jid.with_resource("Cafe\u{301}").unwrap().resource(),
            Some("Caf\u{e9}")
        );
        assert_eq!(
            Jid::parse("example.com/a/b@c").unwrap().resource(),
            Some("a/b@c")
        );
        assert_eq!(normalised("ÉLÈVE@exämple.org"), "élève@exämple.org");
        assert_eq!("a@b".parse::<Jid>().unwrap(), Jid::parse("A@B").unwrap());
    }

    #[test]
    fn upper_case_local_and_domain_are_lowered() {
        assert_eq!(normalised("Alice@Example.ORG"), "alice@example.org");
        assert_eq!(normalised("ALICE@EXÄMPLE.ORG"), "alice@exämple.org");
        // The resource keeps its case (OpaqueString has no case mapping).
        assert_eq!(
            normalised("alice@example.org/Home"),
            "alice@example.org/Home"
        );
    }

    #[test]
    fn a_decomposed_letter_is_the_composed_one() {
        let composed = Jid::parse("\u{e9}lise@caf\u{e9}.fr/r\u{e9}sum\u{e9}").unwrap();
        let decomposed = Jid::parse("e\u{301}lise@cafe\u{301}.fr/re\u{301}sume\u{301}").unwrap();
        assert_eq!(decomposed, composed);
        assert_eq!(
            decomposed.to_string(),
            "\u{e9}lise@caf\u{e9}.fr/r\u{e9}sum\u{e9}"
        );
        // The directory name of the tree is the bare JID: one for both.
        assert_eq!(decomposed.to_bare().to_string(), "\u{e9}lise@caf\u{e9}.fr");
    }

    #[test]
    fn fullwidth_letters_are_width_mapped_in_local_and_domain() {
        // U+FF41.. fullwidth letters, U+FF0E fullwidth full stop.
        assert_eq!(
            normalised("\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}\u{ff0e}org"),
            "alice@example.org"
        );
        // A fullwidth @ or / turns into the ASCII one, which a localpart
        // cannot hold: refused rather than read as another JID.
        refused("a\u{ff20}b@example.org");
        refused("a\u{ff0f}b@example.org");
        refused("u@exa\u{ff0f}mple.org");
        // The resource is not width mapped (OpaqueString), unlike
        // resourceprep's NFKC.
        assert_eq!(
            normalised("u@example.org/\u{ff26}oo"),
            "u@example.org/\u{ff26}oo"
        );
    }

    #[test]
    fn a_localpart_precis_forbids_is_refused() {
        for bad in [
            "a b@example.org",        // space
            "a\u{a0}b@example.org",   // no-break space
            "a\tb@example.org",       // control
            "\u{2603}@example.org",   // a symbol (snowman): nodeprep took it
            "\u{fb01}@example.org",   // compatibility ligature: nodeprep made it "fi"
            "a\u{ad}b@example.org",   // soft hyphen: nodeprep dropped it
            "a\u{200d}b@example.org", // zero width joiner out of context
            "\u{5d0}a@example.org",   // right-to-left then left-to-right: Bidi rule
            "a\"b@example.org",
            "a&b@example.org",
            "a'b@example.org",
            "a:b@example.org",
            "<x>@example.org",
        ] {
            refused(bad);
        }
        let error = Jid::parse("a b@example.org").unwrap_err().to_string();
        assert!(error.contains("U+0020"), "{error}");
        assert!(!error.contains('\n'), "{error:?}");
    }

    #[test]
    fn the_resource_keeps_spaces_and_is_made_nfc() {
        assert_eq!(
            normalised("u@example.org/ two  spaces "),
            "u@example.org/ two  spaces "
        );
        // Other space characters become U+0020.
        assert_eq!(normalised("u@example.org/a\u{a0}b"), "u@example.org/a b");
        assert_eq!(
            normalised("u@example.org/cafe\u{301}"),
            "u@example.org/caf\u{e9}"
        );
        // Compatibility characters and symbols are kept, not NFKC mapped.
        assert_eq!(
            normalised("u@example.org/\u{fb01}\u{2460}\u{1f600}"),
            "u@example.org/\u{fb01}\u{2460}\u{1f600}"
        );
        refused("u@example.org/a\u{0}");
        refused("u@example.org/a\u{ad}b");
    }

    #[test]
    fn sharp_s_stays_sharp_s() {
        // PRECIS keeps ß (PVALID, and toLowerCase leaves it) where nodeprep
        // and nameprep case-fold it to "ss"; the capital ẞ lower-cases to ß.
        // Servers that still run stringprep (Prosody, ejabberd) map ß to ss,
        // so such a contact may be seen under two names: "straße@..." from
        // what the user typed, "strasse@..." from what the server sends.
        assert_eq!(normalised("Straße@example.org"), "straße@example.org");
        assert_eq!(
            normalised("STRA\u{1e9e}E@example.org"),
            "straße@example.org"
        );
        assert_ne!(
            Jid::parse("straße@example.org").unwrap(),
            Jid::parse("strasse@example.org").unwrap()
        );
        // IDNA2008 (nontransitional UTS #46) keeps it in a domain too.
        assert_eq!(normalised("u@Straße.de"), "u@straße.de");
        // So does the final sigma, which stringprep made σ.
        assert_eq!(normalised("ΣΟΦΌΣ@example.org"), "σοφόσ@example.org");
        assert_eq!(normalised("σοφός@example.org"), "σοφός@example.org");
    }

    #[test]
    fn an_a_label_is_its_u_label() {
        assert_eq!(
            Jid::parse("u@xn--exmple-cua.org").unwrap(),
            Jid::parse("u@exämple.org").unwrap()
        );
        assert_eq!(normalised("u@XN--EXMPLE-CUA.org"), "u@exämple.org");
        refused("u@xn--a-ecp.org"); // decodes to a non-NFC label
    }

    #[test]
    fn over_long_parts_are_refused() {
        let longest = "a".repeat(MAX_PART);
        let over = "a".repeat(MAX_PART + 1);
        Jid::parse(&format!("{longest}@example.org/{longest}")).unwrap();
        refused(&format!("{over}@example.org"));
        refused(&format!("u@example.org/{over}"));
        let labels = vec!["a".repeat(63); 16].join(".");
        assert_eq!(labels.len(), MAX_PART);
        Jid::parse(&format!("u@{labels}")).unwrap();
        refused(&format!("u@{labels}a"));
        refused(&format!("u@{}.com", "a".repeat(64)));
        // Within the limit as written, over it once lower-cased: İ (2 bytes)
        // becomes i + U+0307 (3 bytes).
        let grows = "\u{130}".repeat(500);
        assert!(grows.len() <= MAX_PART);
        refused(&format!("{grows}@example.org"));
    }

    #[test]
    fn empty_parts_are_refused() {
        for bad in [
            "",
            "@example.com",
            "user@",
            "user@example.com/",
            "user@.",
            "user@..",
            "user@example..com",
            "user@\u{ad}", // a domain UTS #46 maps to nothing
        ] {
            refused(bad);
        }
    }

    #[test]
    fn refuses_invalid_jids() {
        for bad in [
            "user@exa mple.com",
            "../../x@localhost",
            "x@a/b\u{0}",
            "user@[nonsense]",
            "user@exa_mple!.com",
        ] {
            refused(bad);
        }
    }

    #[test]
    fn uts_46_takes_a_symbol_idna2008_would_not() {
        // UTS #46 marks ☃ valid (NV8: not valid in IDNA2008) and the idna
        // crate takes it, as nameprep did before.
        assert_eq!(normalised("u@a\u{2603}b.com"), "u@a\u{2603}b.com");
    }

    #[test]
    fn ipv6_literals_are_canonical() {
        assert_eq!(Jid::parse("u@[::1]").unwrap().domain(), "[::1]");
        assert_eq!(normalised("u@[0:0:0::0001]/r"), "u@[::1]/r");
        refused("u@[::1");
    }

    #[test]
    fn a_domain_lower_case_takes_out_of_unicode_3_2_now_parses() {
        // U+04C0 lower-cases to U+04CF, which nameprep (Unicode 3.2)
        // refused; IDNA2008 maps it and takes the result.
        assert_eq!(normalised("a@\u{4c0}"), "a@\u{4cf}");
        assert_eq!(normalised("\u{4c0}."), "\u{4cf}");
    }

    /// What fuzz/fuzz_targets/jid.rs checks, on each code point of planes 0
    /// and 1 (and every 97th beyond) in each part, alone and between
    /// letters: a printed JID parses back to itself.
    #[test]
    fn every_code_point_prints_as_a_jid_that_parses_back() {
        let mut parsed = 0;
        let code_points = (0..0x20000).chain((0x20000..=0x10ffff).step_by(97));
        for c in code_points.filter_map(char::from_u32) {
            for input in [
                format!("{c}@example.org"),
                format!("a{c}b@example.org"),
                format!("u@{c}.org"),
                format!("u@a{c}b.org"),
                format!("u@example.org/{c}"),
                format!("u@example.org/a{c}b"),
            ] {
                if let Ok(jid) = Jid::parse(&input) {
                    let printed = jid.to_string();
                    assert_eq!(
                        Jid::parse(&printed).as_ref(),
                        Ok(&jid),
                        "{input:?} printed as {printed:?}"
                    );
                    parsed += 1;
                }
            }
        }
        assert!(parsed > 100_000, "{parsed}");
    }
}

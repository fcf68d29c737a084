//! JIDs (RFC 7622): parsed, validated and normalised.
//!
//! A [`Jid`] is `[local@]domain[/resource]`, each part checked and
//! normalised (localpart by nodeprep, domain by nameprep and lower case,
//! resource by resourceprep: the stringprep profiles that RFC 7622's PRECIS
//! profiles replaced, and which agree with them on every JID in common use).
//! A value of this type is always valid: there is no way to build an invalid
//! one, so code that turns a JID into a file name can rely on it.

use std::fmt;

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

fn normalise_domain(input: &str, domain: &str) -> Result<String, JidError> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    check_length(input, domain, "domain")?;
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        let ip: std::net::Ipv6Addr = literal
            .parse()
            .map_err(|_| invalid(input, "bad IPv6 literal"))?;
        return Ok(format!("[{ip}]"));
    }
    let prepared =
        stringprep::nameprep(domain).map_err(|e| invalid(input, format_args!("domain: {e}")))?;
    // Lower case after nameprep can leave Unicode 3.2 behind (U+04C0 turns
    // into U+04CF, unassigned there): nameprep the result again, so that a
    // printed JID always parses back (found by fuzz/fuzz_targets/jid.rs).
    let lower = stringprep::nameprep(&prepared.to_lowercase())
        .map_err(|e| invalid(input, format_args!("domain: {e}")))?
        .into_owned();
    for label in lower.split('.') {
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
    Ok(lower)
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
            .map(|local| {
                check_length(input, local, "localpart")?;
                let prepared = stringprep::nodeprep(local)
                    .map_err(|e| invalid(input, format_args!("localpart: {e}")))?;
                check_length(input, &prepared, "localpart")?;
                Ok::<_, JidError>(prepared.into_owned())
            })
            .transpose()?;
        let domain = normalise_domain(input, domain)?;
        let resource = resource
            .map(|resource| {
                check_length(input, resource, "resource")?;
                let prepared = stringprep::resourceprep(resource)
                    .map_err(|e| invalid(input, format_args!("resource: {e}")))?;
                check_length(input, &prepared, "resource")?;
                Ok::<_, JidError>(prepared.into_owned())
            })
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

    #[test]
    fn parses_and_normalises() {
        let jid = Jid::parse("Juliet@Example.COM./Balcony Scene").unwrap();
        assert_eq!(jid.local(), Some("juliet"));
        assert_eq!(jid.domain(), "example.com");
        assert_eq!(jid.resource(), Some("Balcony Scene"));
        assert_eq!(jid.to_string(), "juliet@example.com/Balcony Scene");
        assert_eq!(jid.to_bare().to_string(), "juliet@example.com");
        assert_eq!(
            Jid::parse("example.com/a/b@c").unwrap().resource(),
            Some("a/b@c")
        );
        assert_eq!(
            Jid::parse("ÉLÈVE@exämple.org").unwrap().to_string(),
            "élève@exämple.org"
        );
        assert_eq!(Jid::parse("u@[::1]").unwrap().domain(), "[::1]");
    }

    #[test]
    fn refuses_invalid_jids() {
        for bad in [
            "",
            "@example.com",
            "user@",
            "user@example.com/",
            "a b@example.com",
            "a\"b@example.com",
            "user@exa mple.com",
            "user@..",
            "../../x@localhost",
            "user@example..com",
            "x@a/b\u{0}",
            "a:b@example.com",
            "<x>@example.com",
            "user@[nonsense]",
        ] {
            assert!(Jid::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(1024));
        assert!(Jid::parse(&long).is_err());
        let long_label = format!("u@{}.com", "a".repeat(64));
        assert!(Jid::parse(&long_label).is_err());
    }

    #[test]
    fn a_domain_that_lower_case_takes_out_of_unicode_3_2_is_refused() {
        // U+04C0 lower-cases to U+04CF, which nameprep refuses.
        assert!(Jid::parse("\u{4c0}.").is_err());
        assert!(Jid::parse("a@\u{4c0}").is_err());
    }
}

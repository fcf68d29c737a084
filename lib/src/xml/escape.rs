//! Escaping of text and attribute values.
//!
//! The output never holds a raw newline, carriage return or tab (they become
//! character references), so an escaped value can always stand on a stanza
//! line. Characters that XML 1.0 cannot carry are refused, not dropped.

use std::fmt;

/// A character that XML 1.0 cannot carry, found at a character offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChar {
    /// The offending character.
    pub ch: char,
    /// Its position, counted in characters from the start of the value.
    pub position: usize,
}

impl fmt::Display for BadChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "character U+{:04X} at position {} cannot be sent in XML",
            self.ch as u32,
            self.position + 1
        )
    }
}

impl std::error::Error for BadChar {}

/// Whether XML 1.0 (the `Char` production) allows this character.
pub fn is_xml_char(ch: char) -> bool {
    matches!(ch,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

fn escape_into(out: &mut String, value: &str, attr: bool) -> Result<(), BadChar> {
    for (position, ch) in value.chars().enumerate() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' if attr => out.push_str("&apos;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            c => return Err(BadChar { ch: c, position }),
        }
    }
    Ok(())
}

/// Escape character data for use between tags.
pub fn escape_text(value: &str) -> Result<String, BadChar> {
    let mut out = String::with_capacity(value.len());
    escape_into(&mut out, value, false)?;
    Ok(out)
}

/// Escape an attribute value for use between either kind of quote.
pub fn escape_attr(value: &str) -> Result<String, BadChar> {
    let mut out = String::with_capacity(value.len());
    escape_into(&mut out, value, true)?;
    Ok(out)
}

/// Append escaped character data to `out`.
pub fn push_text(out: &mut String, value: &str) -> Result<(), BadChar> {
    escape_into(out, value, false)
}

/// Append an escaped attribute value to `out`.
pub fn push_attr(out: &mut String, value: &str) -> Result<(), BadChar> {
    escape_into(out, value, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_line_breaks() {
        assert_eq!(escape_text("a<b>&c\nd").unwrap(), "a&lt;b&gt;&amp;c&#10;d");
        assert_eq!(escape_text("it's \"q\"").unwrap(), "it's \"q\"");
        assert_eq!(
            escape_attr("it's \"q\"\t").unwrap(),
            "it&apos;s &quot;q&quot;&#9;"
        );
        assert_eq!(escape_text("héllo ☃ 😀").unwrap(), "héllo ☃ 😀");
    }

    #[test]
    fn refuses_characters_xml_cannot_carry() {
        let err = escape_text("ab\u{1}c").unwrap_err();
        assert_eq!(
            err,
            BadChar {
                ch: '\u{1}',
                position: 2
            }
        );
        assert!(err.to_string().contains("U+0001"));
        assert!(escape_attr("\u{FFFE}").is_err());
        assert!(escape_text("\u{0}").is_err());
    }
}

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

/// Bytes that need a look in text (`'` and `"` are fine there): markup,
/// control characters, and 0xEF, the lead byte of U+FFFE and U+FFFF.
const TEXT_SPECIAL: [bool; 256] = special(false);
/// The same for attribute values, which also escape both quotes.
const ATTR_SPECIAL: [bool; 256] = special(true);

const fn special(attr: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xEF] = true;
    if attr {
        table[b'\'' as usize] = true;
        table[b'"' as usize] = true;
    }
    table
}

/// Escape `value` onto `out`: runs of ordinary bytes are copied whole, and
/// only the bytes the table marks are looked at one by one.
fn escape_into(out: &mut String, value: &str, attr: bool) -> Result<(), BadChar> {
    let table = if attr { &ATTR_SPECIAL } else { &TEXT_SPECIAL };
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if !table[byte as usize] {
            index += 1;
            continue;
        }
        let replacement = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            b'\n' => "&#10;",
            b'\r' => "&#13;",
            b'\t' if attr => "&#9;",
            b'\t' => {
                index += 1;
                continue;
            }
            0xEF => {
                // U+FFFE and U+FFFF are EF BF BE and EF BF BF; other
                // characters with this lead byte are fine.
                if bytes.get(index + 1) == Some(&0xBF)
                    && matches!(bytes.get(index + 2), Some(0xBE | 0xBF))
                {
                    return Err(bad_char_at(value, index));
                }
                index += 1;
                continue;
            }
            _ => return Err(bad_char_at(value, index)),
        };
        out.push_str(&value[start..index]);
        out.push_str(replacement);
        index += 1;
        start = index;
    }
    out.push_str(&value[start..]);
    Ok(())
}

/// The error for the character that starts at byte `index` of `value`.
fn bad_char_at(value: &str, index: usize) -> BadChar {
    BadChar {
        ch: value[index..].chars().next().unwrap_or('\u{FFFD}'),
        position: value[..index].chars().count(),
    }
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

    /// The table-driven escaper agrees with the definition, character by character.
    #[test]
    fn fast_escaping_matches_the_character_rules() {
        fn reference(value: &str, attr: bool) -> Result<String, BadChar> {
            let mut out = String::new();
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
            Ok(out)
        }
        let samples = [
            "",
            "plain",
            "a<b>&c\nd\r\te",
            "it's \"q\"",
            "\u{FFFD}\u{FFFC}\u{EFFF}\u{E000}",
            "x\u{FFFE}",
            "ü\u{FFFF}y",
            "\u{7F}\u{85}\u{9F}",
            "😀\u{1}",
            "\u{D7FF}\u{10FFFF}",
            "\u{0}",
            "grüße ✓ <&> 'x' \"y\"\t",
        ];
        for sample in samples {
            for attr in [false, true] {
                let mut fast = String::new();
                let fast = escape_into(&mut fast, sample, attr).map(|()| fast);
                assert_eq!(fast, reference(sample, attr), "{sample:?} attr={attr}");
            }
        }
    }
}

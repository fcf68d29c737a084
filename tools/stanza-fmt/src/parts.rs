//! A text too long for one stanza, cut into parts that fit, without I/O.
//!
//! The size that counts is the size on the wire: the text escaped as XML
//! character data (`&` takes 5 bytes, `<` 4, a line break 5). A part ends
//! after the last white space within it when there is one in its second
//! half, else at a character boundary. Each part then starts with
//! `(N/TOTAL) `, as examples/notify writes its parts.

use xmpp_pipes::xml::escape::push_text;

/// Room kept in each part's budget for its `(N/TOTAL) ` marker.
pub const MARKER: usize = 24;

/// The bytes `ch` takes once escaped (`scratch` is reused between calls).
fn escaped_len(ch: char, scratch: &mut String) -> usize {
    scratch.clear();
    let mut utf8 = [0u8; 4];
    // A character XML cannot carry was refused before; count it as itself.
    match push_text(scratch, ch.encode_utf8(&mut utf8)) {
        Ok(()) => scratch.len(),
        Err(_) => ch.len_utf8(),
    }
}

/// Cut `text` into pieces of at most `budget` escaped bytes each (at least
/// one character each, whatever the budget), in order, nothing lost.
pub fn cut(text: &str, budget: usize) -> Vec<&str> {
    let mut scratch = String::new();
    let mut pieces = Vec::new();
    let mut start = 0;
    // The escaped size of text[start..] so far, and the last white space
    // in it: (the byte after it, the size up to it).
    let mut size = 0;
    let mut space: Option<(usize, usize)> = None;
    for (at, ch) in text.char_indices() {
        let len = escaped_len(ch, &mut scratch);
        if size + len > budget && at > start {
            let end = match space {
                Some((after, upto)) if upto * 2 >= budget && after < at => after,
                _ => at,
            };
            pieces.push(&text[start..end]);
            start = end;
            size = text[end..at]
                .chars()
                .map(|c| escaped_len(c, &mut scratch))
                .sum();
            space = None;
        }
        size += len;
        if ch.is_whitespace() {
            space = Some((at + ch.len_utf8(), size));
        }
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The texts of the messages for `text` when its body may take at most
/// `budget` escaped bytes: itself when it fits, else its pieces of `cut`
/// (with [`MARKER`] taken off the budget), each as `(N/TOTAL) PIECE`.
pub fn parts(text: &str, budget: usize) -> Vec<String> {
    let mut scratch = String::new();
    let size: usize = text.chars().map(|c| escaped_len(c, &mut scratch)).sum();
    if size <= budget {
        return vec![text.to_owned()];
    }
    let pieces = cut(text, budget.saturating_sub(MARKER).max(1));
    let total = pieces.len();
    pieces
        .iter()
        .enumerate()
        .map(|(index, piece)| format!("({}/{total}) {piece}", index + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> usize {
        xmpp_pipes::xml::escape::escape_text(text).unwrap().len()
    }

    #[test]
    fn a_text_that_fits_is_one_part_as_it_is() {
        assert_eq!(parts("hello & bye", 100), ["hello & bye"]);
        assert_eq!(parts("", 10), [""]);
    }

    #[test]
    fn parts_fit_keep_everything_in_order_and_are_numbered() {
        let text = "word ".repeat(10_000) + "end";
        let parts = parts(&text, 1000);
        let total = parts.len();
        assert!(total > 50, "{total}");
        let mut joined = String::new();
        for (index, part) in parts.iter().enumerate() {
            assert!(escaped(part) <= 1000, "part {index}: {}", escaped(part));
            let marker = format!("({}/{total}) ", index + 1);
            joined.push_str(part.strip_prefix(&marker).expect(&marker));
        }
        assert_eq!(joined, text);
        // Cut after white space: every part but the last ends with a blank.
        assert!(parts[..total - 1].iter().all(|p| p.ends_with(' ')));
    }

    #[test]
    fn escaping_counts_and_characters_stay_whole() {
        // '<' takes 4 bytes escaped, 'é' 2 and '😀' 4: no piece passes the
        // budget and none splits a character.
        for text in ["<".repeat(1000), "é".repeat(1000), "😀".repeat(1000)] {
            let pieces = cut(&text, 101);
            assert!(pieces.iter().all(|p| escaped(p) <= 101));
            assert_eq!(pieces.concat(), text);
        }
        // Not even one character fits: one each, never an empty piece.
        assert_eq!(cut("&&", 3), ["&", "&"]);
    }
}

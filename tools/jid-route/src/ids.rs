//! Ids of the requests jid-route sends itself (archive queries, the roster
//! fetch): unpredictable, so that nobody who saw one can plant an answer
//! to the next.

/// Sixteen random characters of `a-z0-9` (about 82 bits).
pub fn random_word() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 16];
    // Without the system's randomness the ids are still unique (the time),
    // though guessable: the checks of where an answer comes from remain.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = jiff::Timestamp::now().as_nanosecond().to_le_bytes();
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A request id: `xp-KIND-` and a [`random_word`].
pub fn fresh_id(kind: &str) -> String {
    format!("xp-{kind}-{}", random_word())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_fresh_and_safe_file_names() {
        let (a, b) = (super::fresh_id("mam"), super::fresh_id("mam"));
        assert_ne!(a, b);
        assert!(a.starts_with("xp-mam-") && a.len() == 23, "{a}");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}

//! Stanza ids: unique within a run and across runs, safe as file names.
//!
//! An id is `xp-PREFIX-N`: PREFIX is eight random characters from `a-z0-9`
//! drawn once per run, N counts the stanzas of the run from 1. Only
//! `[a-z0-9-]` is used, so jid-route can name `DIR/iq/<id>` after it as is.

/// Hands out the ids of one run.
#[derive(Debug, Clone)]
pub struct IdGen {
    prefix: String,
    next: u64,
}

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl IdGen {
    /// A generator with a fresh random prefix.
    pub fn new() -> Self {
        let mut random = [0u8; 8];
        if getrandom::fill(&mut random).is_err() {
            // No randomness: fall back on the process id and the time, still unique enough per host.
            let seed = u64::from(std::process::id())
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
            random = seed.to_le_bytes();
        }
        let prefix = random
            .iter()
            .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
            .collect();
        Self::with_prefix(prefix)
    }

    /// A generator with a fixed prefix (for tests).
    pub fn with_prefix(prefix: String) -> Self {
        IdGen { prefix, next: 1 }
    }

    /// The next id.
    pub fn next_id(&mut self) -> String {
        let id = format!("xp-{}-{}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

impl Default for IdGen {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_and_file_name_safe() {
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let mut ids = IdGen::new();
            for _ in 0..1000 {
                let id = ids.next_id();
                assert!(id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
                assert_eq!(xmpp_pipes::tree::sanitise_id(&id), id);
                assert!(seen.insert(id), "duplicate id");
            }
        }
    }
}

//! Stanza ids: unique within a run and across runs, unpredictable, safe as
//! file names.
//!
//! An id is `xp-PREFIX-N-SECRET`: PREFIX is eight random characters from
//! `a-z0-9` drawn once per run, N counts the stanzas of the run from 1, and
//! SECRET is twelve random characters drawn for each id (about 62 bits), so
//! that a contact who saw one id cannot guess the next and plant an answer
//! to it. Only `[a-z0-9-]` is used, so jid-route can name `DIR/iq/<id>` after
//! it as is.

/// Hands out the ids of one run.
#[derive(Debug, Clone)]
pub struct IdGen {
    prefix: String,
    next: u64,
    /// Add the random SECRET (off only for tests' fixed ids).
    secret: bool,
}

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl IdGen {
    /// A generator with a fresh random prefix.
    pub fn new() -> Self {
        IdGen {
            prefix: random_chars::<8>(),
            next: 1,
            secret: true,
        }
    }

    /// A generator with a fixed prefix and no secret part (for tests).
    pub fn with_prefix(prefix: String) -> Self {
        IdGen {
            prefix,
            next: 1,
            secret: false,
        }
    }

    /// The next id.
    pub fn next_id(&mut self) -> String {
        let mut id = format!("xp-{}-{}", self.prefix, self.next);
        if self.secret {
            id.push('-');
            id.push_str(&random_chars::<12>());
        }
        self.next += 1;
        id
    }
}

/// `N` random characters from [`ALPHABET`].
fn random_chars<const N: usize>() -> String {
    let mut random = [0u8; N];
    if getrandom::fill(&mut random).is_err() {
        // No randomness from the system: the process id and the time, still
        // unique per host, though no longer secret.
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        for (i, byte) in random.iter_mut().enumerate() {
            *byte = (seed >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    random
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect()
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
                assert_eq!(id.split('-').count(), 4, "{id}");
                assert!(seen.insert(id), "duplicate id");
            }
        }
    }
}

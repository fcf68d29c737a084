//! SRV records (RFC 2782) for XMPP: `_xmpps-client` (direct TLS, XEP-0368)
//! and `_xmpp-client` (STARTTLS, RFC 6120 §3.2) as one set, in the order to
//! try them.

use hickory_proto::rr::{RData, Record};

/// One place to connect to, from an SRV record (or the fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host name of the server (without the trailing dot).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// TLS from the first byte (`_xmpps-client`), else STARTTLS.
    pub direct_tls: bool,
    /// SRV priority: lower first.
    pub priority: u16,
    /// SRV weight: the share of choices within a priority.
    pub weight: u16,
}

/// What one SRV lookup said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Usable records.
    Found(Vec<Target>),
    /// Only a `.` target: the service is decidedly not available (RFC 2782).
    NoService,
    /// No records at all (NXDOMAIN or no answer).
    Nothing,
}

/// The SRV records among `answers`, as targets with the given kind of TLS.
pub fn lookup_from_records(answers: &[Record], direct_tls: bool) -> Lookup {
    let mut saw_root = false;
    let mut found = Vec::new();
    for record in answers {
        if let RData::SRV(srv) = &record.data {
            if srv.target.is_root() {
                saw_root = true;
                continue;
            }
            let host = srv.target.to_ascii();
            found.push(Target {
                host: host.trim_end_matches('.').to_owned(),
                port: srv.port,
                direct_tls,
                priority: srv.priority,
                weight: srv.weight,
            });
        }
    }
    match (found.is_empty(), saw_root) {
        (false, _) => Lookup::Found(found),
        (true, true) => Lookup::NoService,
        (true, false) => Lookup::Nothing,
    }
}

/// Order targets for trying: by priority, and within a priority by RFC 2782
/// weighted random selection. `random(n)` must return a uniform number in `0..=n`.
pub fn order(mut targets: Vec<Target>, random: &mut dyn FnMut(u32) -> u32) -> Vec<Target> {
    // Weight-0 entries first within a priority, as RFC 2782 asks, so that they
    // can still be chosen (when the random number is 0).
    targets.sort_by_key(|t| (t.priority, t.weight != 0));
    let mut ordered = Vec::with_capacity(targets.len());
    while !targets.is_empty() {
        let priority = targets[0].priority;
        let end = targets
            .iter()
            .position(|t| t.priority != priority)
            .unwrap_or(targets.len());
        let mut group: Vec<Target> = targets.drain(..end).collect();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let pick = random(total);
            let mut running = 0u32;
            let index = group
                .iter()
                .position(|t| {
                    running += u32::from(t.weight);
                    running >= pick
                })
                .unwrap_or(group.len() - 1);
            ordered.push(group.remove(index));
        }
    }
    ordered
}

/// A small seeded generator (SplitMix64): deterministic in tests, seeded from
/// the OS otherwise. Good enough for load spreading; not for secrets.
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator with a fixed seed.
    pub fn seeded(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// A generator seeded by the operating system.
    pub fn from_os() -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        SplitMix(u64::from_ne_bytes(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..=n` (the modulo bias is negligible for 16-bit weights).
    pub fn up_to(&mut self, n: u32) -> u32 {
        (self.next_u64() % (u64::from(n) + 1)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::SRV;
    use hickory_proto::rr::Name;

    fn t(host: &str, priority: u16, weight: u16) -> Target {
        Target {
            host: host.into(),
            port: 5222,
            direct_tls: false,
            priority,
            weight,
        }
    }

    fn hosts(list: &[Target]) -> Vec<&str> {
        list.iter().map(|t| t.host.as_str()).collect()
    }

    #[test]
    fn priorities_come_first() {
        let mut rng = SplitMix::seeded(1);
        let ordered = order(
            vec![t("c", 30, 5), t("a", 10, 0), t("b", 20, 100)],
            &mut |n| rng.up_to(n),
        );
        assert_eq!(hosts(&ordered), ["a", "b", "c"]);
    }

    #[test]
    fn weighted_choice_follows_the_random_numbers() {
        let group = vec![t("zero", 1, 0), t("light", 1, 10), t("heavy", 1, 90)];
        // random 0 picks the weight-0 entry (it is sorted first).
        let ordered = order(group.clone(), &mut |_| 0);
        assert_eq!(hosts(&ordered), ["zero", "light", "heavy"]);
        // the maximum always picks the last of the running sum.
        let ordered = order(group.clone(), &mut |n| n);
        assert_eq!(hosts(&ordered), ["heavy", "light", "zero"]);
        // 11 is past light's 0+10: heavy.
        let mut script = vec![11, 0, 0].into_iter();
        let ordered = order(group, &mut |_| script.next().unwrap());
        assert_eq!(hosts(&ordered), ["heavy", "zero", "light"]);
    }

    #[test]
    fn weighted_choice_is_deterministic_per_seed_and_spreads() {
        let group = vec![t("zero", 1, 0), t("a", 1, 1), t("b", 1, 3)];
        let run = |seed| {
            let mut rng = SplitMix::seeded(seed);
            order(group.clone(), &mut |n| rng.up_to(n))
        };
        assert_eq!(run(42), run(42));
        let mut firsts = std::collections::HashMap::new();
        for seed in 0..4000 {
            *firsts.entry(run(seed)[0].host.clone()).or_insert(0) += 1;
        }
        // expected shares of the first choice: zero 1/5, a 1/5, b 3/5.
        assert!(firsts["zero"] > 500, "{firsts:?}");
        assert!(firsts["a"] > 500 && firsts["a"] < 1100, "{firsts:?}");
        assert!(firsts["b"] > 2000, "{firsts:?}");
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Record {
        Record::from_rdata(
            Name::from_ascii("_xmpp-client._tcp.example.org.").unwrap(),
            300,
            RData::SRV(SRV::new(
                priority,
                weight,
                port,
                Name::from_ascii(target).unwrap(),
            )),
        )
    }

    #[test]
    fn dot_target_means_no_service() {
        assert_eq!(
            lookup_from_records(&[srv(0, 0, 0, ".")], false),
            Lookup::NoService
        );
        assert_eq!(lookup_from_records(&[], false), Lookup::Nothing);
        match lookup_from_records(
            &[srv(0, 0, 0, "."), srv(5, 1, 5223, "xmpp.example.org.")],
            true,
        ) {
            Lookup::Found(found) => {
                assert_eq!(found.len(), 1);
                assert_eq!(found[0].host, "xmpp.example.org");
                assert_eq!(found[0].port, 5223);
                assert!(found[0].direct_tls);
            }
            other => panic!("{other:?}"),
        }
    }
}

//! The domains a scan has already read, to audit each once and name the line a duplicate
//! repeats, in memory that stays small at millions of lines.
//!
//! A map from each domain's text to its line costs some 100 bytes a domain (the string, its
//! allocation, the table's slack): 100 MB at a million, most of a scan's memory. Here a domain
//! is 16 bytes: 88 bits of its keyed SipHash-1-3 (a clash among 10^7 names has odds near 10^-13,
//! and the key is drawn per run, so a list cannot be built to clash) and 40 bits of its line.
//! The latest names sit in a small table; every [`RECENT`] names it is sorted into a run of its
//! own, and runs are never merged, so memory grows by exactly 16 bytes a name with no moment of
//! two copies. A name is looked for in the table, then by binary search in each run: at ten
//! million lines, some 150 short searches, a few µs a line beside an audit's hundreds. No library
//! keeps such a set; it is standard containers and a sort.

use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Names held in the table before they become a run.
const RECENT: usize = 1 << 16;
/// Bits of an entry that hold the line; the rest hold the hash.
const LINE_BITS: u32 = 40;
const LINE_MASK: u128 = (1 << LINE_BITS) - 1;

pub struct SeenDomains {
    keys: (u64, u64),
    /// Hash (88 bits, right-aligned) → line.
    recent: HashMap<u128, u64>,
    /// Sorted runs of `hash << LINE_BITS | line`.
    runs: Vec<Vec<u128>>,
}

impl Default for SeenDomains {
    fn default() -> Self {
        // Fresh keys per run from std's own random source (the one behind HashMap's seeds).
        let random = std::collections::hash_map::RandomState::new();
        let key = |n: u64| {
            let mut h = random.build_hasher();
            h.write_u64(n);
            h.finish()
        };
        SeenDomains {
            keys: (key(1), key(2)),
            recent: HashMap::new(),
            runs: Vec::new(),
        }
    }
}

impl SeenDomains {
    /// The line `domain` was first seen on, or `None` after recording it as seen on `line`
    /// (lines past 2^40 are remembered as 2^40 - 1).
    pub fn first_line_or_insert(&mut self, domain: &str, line: u64) -> Option<u64> {
        let hash = self.hash(domain);
        if let Some(first) = self.first_line(hash) {
            return Some(first);
        }
        self.recent.insert(hash, line.min(LINE_MASK as u64));
        if self.recent.len() >= RECENT {
            let mut run: Vec<u128> = self
                .recent
                .drain()
                .map(|(hash, line)| hash << LINE_BITS | u128::from(line))
                .collect();
            run.sort_unstable();
            self.runs.push(run);
        }
        None
    }

    fn hash(&self, domain: &str) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(domain.as_bytes());
        hasher.finish128().as_u128() >> LINE_BITS
    }

    fn first_line(&self, hash: u128) -> Option<u64> {
        if let Some(&line) = self.recent.get(&hash) {
            return Some(line);
        }
        self.runs.iter().find_map(|run| {
            run.binary_search_by(|entry| (entry >> LINE_BITS).cmp(&hash))
                .ok()
                .map(|at| (run[at] & LINE_MASK) as u64)
        })
    }

    /// Distinct domains seen so far.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.recent.len() + self.runs.iter().map(Vec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_is_new_once_and_then_names_its_first_line() {
        let mut seen = SeenDomains::default();
        // Enough names for several runs, in an order unrelated to their hashes.
        let n = 3 * RECENT as u64 + 123;
        for i in 0..n {
            let domain = format!("d{}.test", (i * 7_919) % n);
            assert_eq!(seen.first_line_or_insert(&domain, i + 1), None, "{domain}");
        }
        assert_eq!(seen.len() as u64, n);
        assert_eq!(seen.runs.len(), 3);
        assert!(seen.runs.iter().all(|run| run.is_sorted()));
        for i in (0..n).step_by(997) {
            let domain = format!("d{}.test", (i * 7_919) % n);
            assert_eq!(
                seen.first_line_or_insert(&domain, n + 1),
                Some(i + 1),
                "{domain}"
            );
        }
        assert_eq!(seen.len() as u64, n);
        assert_eq!(seen.first_line_or_insert("new.test", n + 2), None);
        assert_eq!(
            seen.first_line_or_insert("far.test", u64::MAX),
            None,
            "a line past 2^40"
        );
        assert_eq!(
            seen.first_line_or_insert("far.test", 1),
            Some(LINE_MASK as u64)
        );
    }
}

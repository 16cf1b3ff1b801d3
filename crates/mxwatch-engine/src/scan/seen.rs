//! The domains a scan has already read, to audit each once and name the line a duplicate
//! repeats, in memory that stays small at millions of lines.
//!
//! A map from each domain's text to its line costs some 100 bytes a domain (the string, its
//! allocation, the table's slack): 100 MB at a million, most of a scan's memory. Here a domain is
//! its keyed 128-bit SipHash (a clash among 10^7 names has odds near 10^-25, and the key is drawn
//! per run, so a list cannot be built to clash) with its line: 24 bytes, kept in a sorted vector
//! with a small table in front for the latest names. No library keeps such a set; it is two
//! standard containers and a merge.

use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Names held in the table before they are merged into the sorted vector.
const RECENT: usize = 1 << 16;

/// A domain's fingerprint: the two halves of its 128-bit hash.
type Fingerprint = (u64, u64);

pub struct SeenDomains {
    keys: (u64, u64),
    recent: HashMap<Fingerprint, u64>,
    /// Sorted by fingerprint; each fingerprint once.
    settled: Vec<(Fingerprint, u64)>,
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
            settled: Vec::new(),
        }
    }
}

impl SeenDomains {
    /// The line `domain` was first seen on, or `None` after recording it as seen on `line`.
    pub fn first_line_or_insert(&mut self, domain: &str, line: u64) -> Option<u64> {
        let print = self.fingerprint(domain);
        if let Some(first) = self.first_line(print) {
            return Some(first);
        }
        self.recent.insert(print, line);
        if self.recent.len() >= RECENT {
            self.settle();
        }
        None
    }

    /// Distinct domains seen so far.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.recent.len() + self.settled.len()
    }

    fn fingerprint(&self, domain: &str) -> Fingerprint {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(domain.as_bytes());
        let hash = hasher.finish128();
        (hash.h1, hash.h2)
    }

    fn first_line(&self, print: Fingerprint) -> Option<u64> {
        if let Some(&line) = self.recent.get(&print) {
            return Some(line);
        }
        self.settled
            .binary_search_by_key(&print, |(p, _)| *p)
            .ok()
            .map(|at| self.settled[at].1)
    }

    /// Moves the table's names into the sorted vector: a merge from the back, in place, so the
    /// vector grows by the table's size and never needs a second copy of itself.
    fn settle(&mut self) {
        let mut fresh: Vec<(Fingerprint, u64)> = self.recent.drain().collect();
        fresh.sort_unstable_by_key(|(p, _)| *p);
        let old = self.settled.len();
        self.settled.reserve_exact(fresh.len());
        self.settled.resize(old + fresh.len(), ((0, 0), 0));
        let (mut i, mut j, mut out) = (old, fresh.len(), old + fresh.len());
        while j > 0 {
            out -= 1;
            if i > 0 && self.settled[i - 1].0 > fresh[j - 1].0 {
                self.settled[out] = self.settled[i - 1];
                i -= 1;
            } else {
                self.settled[out] = fresh[j - 1];
                j -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_is_new_once_and_then_names_its_first_line() {
        let mut seen = SeenDomains::default();
        // Enough names to settle several times, in an order unrelated to their hashes.
        let n = 3 * RECENT as u64 + 123;
        for i in 0..n {
            let domain = format!("d{}.test", (i * 7_919) % n);
            assert_eq!(seen.first_line_or_insert(&domain, i + 1), None, "{domain}");
        }
        assert_eq!(seen.len() as u64, n);
        assert!(seen.settled.windows(2).all(|w| w[0].0 < w[1].0));
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
    }
}

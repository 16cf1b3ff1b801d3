//! The walk: [`Validator`] proves an RRset by asking the resolver, from the root down.
//!
//! This is the only part of DNSSEC validation that does I/O. Every question goes to the
//! recursive resolver with DO and CD set (see `ask`); for each ancestor of the name the DS is
//! asked at the parent (RFC 4035 §5.2) and, where there is one, the DNSKEY at the child
//! separately. What each reply proves is decided by the pure checks in `signatures.rs` and
//! `denial.rs`; this module strings them together, follows CNAMEs, bounds the depth, and keeps
//! the caches that let a run prove a provider's zone once for many domains.
//!
//! Proven links and proofs are cached for five minutes, at most [`MAX_CACHED`] of each. Names
//! more than [`MAX_LABELS_BELOW_REGISTRABLE`] labels below their registrable domain are not
//! walked (indeterminate).

use super::anchor::TrustAnchor;
use super::denial::{Cut, deny, no_ds};
use super::signatures::{
    dnskeys, keys_for_ds, rrset, rrsigs, usable_ds, verify, wildcard_expanded,
};
use super::{bogus, host, key};
use crate::dns::cache::FAILURE_TTL;
use crate::dns::transport::{Reply, Transport};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use mxwatch_core::observation::dnssec::{BrokenLink, Proof};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// CNAME hops followed while proving one RRset.
const MAX_ALIASES: usize = 8;
/// How long a proven link or proof is reused (a watch cycle later, it is proven again).
const REUSE_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Entries kept in each cache before expired ones are dropped; past it, the oldest half goes.
/// A watch of a million domains keeps at most this many links and proofs.
const MAX_CACHED: usize = 50_000;
/// Labels walked below the registrable domain (or the public suffix): a hostile 120-label
/// exchange name would otherwise cost 120 DS questions.
const MAX_LABELS_BELOW_REGISTRABLE: usize = 12;

type ProofCell = Arc<tokio::sync::OnceCell<Proof>>;

/// Drops expired entries once `map` is full, then the oldest half if that was not enough.
fn bound<K: Clone + std::hash::Hash + Eq, V>(map: &mut HashMap<K, (Instant, V)>) {
    if map.len() < MAX_CACHED {
        return;
    }
    map.retain(|_, (at, _)| at.elapsed() <= REUSE_FOR);
    if map.len() >= MAX_CACHED {
        let mut ages: Vec<Instant> = map.values().map(|(at, _)| *at).collect();
        ages.sort();
        let cut = ages[ages.len() / 2];
        map.retain(|_, (at, _)| *at > cut);
    }
}

/// What the walk down to a name established.
#[derive(Clone, Debug)]
enum Chain {
    /// The name is inside `zone`, whose validated keys these are.
    Secure { zone: Name, keys: Vec<DNSKEY> },
    /// An unsigned delegation at or above the name.
    Insecure { zone: String, proof: String },
}

/// Validates RRsets; shares proven zone links across the domains of a run.
pub struct Validator {
    anchor: Arc<TrustAnchor>,
    /// Proven links (secure or insecure) per lower-case name; bogus or failed ones are not kept,
    /// so they are asked again.
    links: Mutex<HashMap<String, (Instant, Chain)>>,
    /// One proof per (name, type) for a while: a provider's exchange shared by a million
    /// domains is validated once, even when asked by many at the same time.
    proofs: Mutex<HashMap<(String, RecordType), (Instant, ProofCell)>>,
    /// Why the root keys could not be had, for [`FAILURE_TTL`]: a resolver that refuses the
    /// root DNSKEY would otherwise be asked it again for every RRset of every domain.
    root_failure: Mutex<Option<(Instant, Proof)>>,
}

impl Validator {
    pub fn new(anchor: Arc<TrustAnchor>) -> Self {
        Validator {
            anchor,
            links: Mutex::new(HashMap::new()),
            proofs: Mutex::new(HashMap::new()),
            root_failure: Mutex::new(None),
        }
    }

    /// A validator from trust-anchor text (the lab's root anchor in tests and `demo`).
    pub fn from_anchor_text(text: &str, description: &str) -> Result<Arc<Validator>, String> {
        Ok(Arc::new(Validator::new(Arc::new(TrustAnchor::parse(
            text,
            description,
        )?))))
    }

    pub fn anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// The proof for `name rtype` (its data, or its absence), asked twice before calling it bogus.
    pub async fn prove(
        &self,
        transport: &Transport,
        name: &str,
        rtype: RecordType,
        now: u32,
    ) -> Proof {
        let Some(name) = crate::dns::lookups::question_name(name) else {
            return Proof::Indeterminate {
                detail: format!("{name:?} cannot be asked as a DNS name"),
            };
        };
        let cell = {
            let mut proofs = self.proofs.lock().unwrap();
            bound(&mut proofs);
            let entry = proofs
                .entry((key(&name), rtype))
                .or_insert_with(|| (Instant::now(), ProofCell::default()));
            if entry.0.elapsed() > REUSE_FOR {
                *entry = (Instant::now(), ProofCell::default());
            }
            entry.1.clone()
        };
        cell.get_or_init(|| async {
            let first = self.prove_once(transport, &name, rtype, now).await;
            if first.is_bogus() {
                // A resolver's cache or a mid-rollover server can be briefly wrong: ask again.
                return self.prove_once(transport, &name, rtype, now).await;
            }
            first
        })
        .await
        .clone()
    }

    async fn prove_once(
        &self,
        transport: &Transport,
        name: &Name,
        rtype: RecordType,
        now: u32,
    ) -> Proof {
        let mut so_far: Option<Proof> = None;
        let combine = |so_far: Option<Proof>, p: Proof| match so_far {
            Some(previous) => previous.weakest(p),
            None => p,
        };
        let mut current = name.clone();
        for _ in 0..MAX_ALIASES {
            let (zone, keys) = match self.chain(transport, &current, now).await {
                Err(p) => return combine(so_far, p),
                Ok(Chain::Insecure { zone, proof }) => {
                    return combine(so_far, Proof::Insecure { zone, proof });
                }
                Ok(Chain::Secure { zone, keys }) => (zone, keys),
            };
            let message = match ask(transport, &current, rtype).await {
                Ok(m) => m,
                Err(p) => return combine(so_far, p),
            };
            let data = rrset(&message.answers, &current, rtype);
            if !data.is_empty() {
                let sigs = rrsigs(&message.answers, &current, rtype);
                let p = match verify(&data, &sigs, &keys, &zone, now) {
                    Ok(()) if wildcard_expanded(&sigs, &current) => Proof::Indeterminate {
                        detail: format!(
                            "{rtype} {} is synthesised from a wildcard; mxwatch does not check \
                             the proof that no closer name exists (RFC 4035 §5.3.4)",
                            host(&current)
                        ),
                    },
                    Ok(()) => Proof::Secure { zone: host(&zone) },
                    Err((link, detail)) => bogus(link, &zone, detail),
                };
                return combine(so_far, p);
            }
            let alias = rrset(&message.answers, &current, RecordType::CNAME);
            if let Some(RData::CNAME(target)) = alias.first().map(|r| &r.data) {
                let sigs = rrsigs(&message.answers, &current, RecordType::CNAME);
                let p = match verify(&alias, &sigs, &keys, &zone, now) {
                    Ok(()) => Proof::Secure { zone: host(&zone) },
                    Err((link, detail)) => bogus(link, &zone, detail),
                };
                let stop = p.is_bogus();
                so_far = Some(combine(so_far, p));
                if stop {
                    return so_far.unwrap_or(Proof::Indeterminate {
                        detail: String::new(),
                    });
                }
                current = target.0.clone();
                continue;
            }
            let p = deny(&message, &current, rtype, &keys, &zone, now);
            return combine(so_far, p);
        }
        combine(
            so_far,
            Proof::Indeterminate {
                detail: format!("more than {MAX_ALIASES} CNAMEs"),
            },
        )
    }

    /// Walks from the root to `name`: the keys of the zone holding it, or where trust ends.
    async fn chain(&self, transport: &Transport, name: &Name, now: u32) -> Result<Chain, Proof> {
        if let Some(detail) = too_deep(name) {
            return Err(Proof::Indeterminate { detail });
        }
        let root = Name::root();
        let (mut zone, mut keys) = match self.cached(&root) {
            Some(Chain::Secure { zone, keys }) => (zone, keys),
            _ => {
                if let Some((at, failure)) = &*self.root_failure.lock().unwrap()
                    && at.elapsed() <= FAILURE_TTL
                {
                    return Err(failure.clone());
                }
                let keys = match self.root_keys(transport, now).await {
                    Ok(keys) => keys,
                    Err(failure) => {
                        *self.root_failure.lock().unwrap() =
                            Some((Instant::now(), failure.clone()));
                        return Err(failure);
                    }
                };
                self.remember(
                    &root,
                    Chain::Secure {
                        zone: root.clone(),
                        keys: keys.clone(),
                    },
                );
                (root.clone(), keys)
            }
        };
        for labels in 1..=name.num_labels() {
            let step_name = name.trim_to(usize::from(labels));
            let step = match self.cached(&step_name) {
                Some(step) => step,
                None => {
                    let step = self.step(transport, &step_name, &zone, &keys, now).await?;
                    self.remember(&step_name, step.clone());
                    step
                }
            };
            match step {
                Chain::Insecure { .. } => return Ok(step),
                Chain::Secure { zone: z, keys: k } => {
                    zone = z;
                    keys = k;
                }
            }
        }
        Ok(Chain::Secure { zone, keys })
    }

    fn cached(&self, name: &Name) -> Option<Chain> {
        self.links
            .lock()
            .unwrap()
            .get(&key(name))
            .filter(|(at, _)| at.elapsed() <= REUSE_FOR)
            .map(|(_, chain)| chain.clone())
    }

    fn remember(&self, name: &Name, chain: Chain) {
        let mut links = self.links.lock().unwrap();
        bound(&mut links);
        links.insert(key(name), (Instant::now(), chain));
    }

    /// The root DNSKEY set, validated by the trust anchor.
    async fn root_keys(&self, transport: &Transport, now: u32) -> Result<Vec<DNSKEY>, Proof> {
        let root = Name::root();
        let message = ask(transport, &root, RecordType::DNSKEY).await?;
        let records = rrset(&message.answers, &root, RecordType::DNSKEY);
        let keys = dnskeys(&records);
        let trusted: Vec<DNSKEY> = keys
            .iter()
            .filter(|k| self.anchor.trusts(k))
            .cloned()
            .collect();
        if trusted.is_empty() {
            return Err(bogus(
                BrokenLink::UntrustedRoot,
                &root,
                format!(
                    "{} root DNSKEY(s), none matches the trust anchor ({})",
                    keys.len(),
                    self.anchor.description
                ),
            ));
        }
        let sigs = rrsigs(&message.answers, &root, RecordType::DNSKEY);
        verify(&records, &sigs, &trusted, &root, now).map_err(|(l, d)| bogus(l, &root, d))?;
        Ok(keys)
    }

    /// One step down: is `name` a zone cut below `zone`, signed or not?
    async fn step(
        &self,
        transport: &Transport,
        name: &Name,
        zone: &Name,
        keys: &[DNSKEY],
        now: u32,
    ) -> Result<Chain, Proof> {
        let message = ask(transport, name, RecordType::DS).await?;
        let ds_records = rrset(&message.answers, name, RecordType::DS);
        if !ds_records.is_empty() {
            let sigs = rrsigs(&message.answers, name, RecordType::DS);
            verify(&ds_records, &sigs, keys, zone, now).map_err(|(l, d)| bogus(l, zone, d))?;
            return self.child_keys(transport, name, &ds_records, now).await;
        }
        if !rrset(&message.answers, name, RecordType::CNAME).is_empty() {
            // An alias is never a zone cut.
            return Ok(Chain::Secure {
                zone: zone.clone(),
                keys: keys.to_vec(),
            });
        }
        match no_ds(&message, name, zone, keys, now)? {
            Cut::Unsigned(proof) => Ok(Chain::Insecure {
                zone: host(name),
                proof,
            }),
            Cut::NotACut => Ok(Chain::Secure {
                zone: zone.clone(),
                keys: keys.to_vec(),
            }),
        }
    }

    /// The child's DNSKEY set, asked at the child and matched against the parent's DS.
    async fn child_keys(
        &self,
        transport: &Transport,
        name: &Name,
        ds_records: &[Record],
        now: u32,
    ) -> Result<Chain, Proof> {
        let ds: Vec<&DS> = ds_records
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds),
                _ => None,
            })
            .collect();
        // RFC 4035 §5.2, RFC 6840 §5.2: a DS set none of whose algorithm and digest pairs the
        // validator supports makes the zone insecure, not bogus.
        let ds = match usable_ds(&ds) {
            Ok(usable) => usable,
            Err(listed) => {
                return Ok(Chain::Insecure {
                    zone: host(name),
                    proof: format!(
                        "every DS of {} uses an algorithm or digest type mxwatch cannot check \
                         ({listed}), so validators treat it as unsigned (RFC 6840 §5.2)",
                        host(name)
                    ),
                });
            }
        };
        let message = ask(transport, name, RecordType::DNSKEY).await?;
        let records = rrset(&message.answers, name, RecordType::DNSKEY);
        let keys = dnskeys(&records);
        let entry = keys_for_ds(name, &ds, &keys)?;
        let sigs = rrsigs(&message.answers, name, RecordType::DNSKEY);
        verify(&records, &sigs, &entry, name, now).map_err(|(l, d)| bogus(l, name, d))?;
        Ok(Chain::Secure {
            zone: name.clone(),
            keys,
        })
    }
}

/// Why `name` is too deep to walk, if it is: more than [`MAX_LABELS_BELOW_REGISTRABLE`] labels
/// below its registrable domain (or below its public suffix when it has none).
fn too_deep(name: &Name) -> Option<String> {
    let ascii = host(name);
    let base = mxwatch_core::name::registrable_domain(&ascii)
        .map(|(domain, _)| domain.split('.').count())
        .unwrap_or(1);
    let below = usize::from(name.num_labels()).saturating_sub(base);
    (below > MAX_LABELS_BELOW_REGISTRABLE).then(|| {
        format!(
            "{} has {below} labels below its registrable domain; mxwatch walks at most \
             {MAX_LABELS_BELOW_REGISTRABLE} (a DS question each)",
            ascii.chars().take(80).collect::<String>()
        )
    })
}

/// One DO+CD question; failures and error codes are "could not determine".
async fn ask(transport: &Transport, name: &Name, rtype: RecordType) -> Result<Message, Proof> {
    let (reply, _) = transport.ask_dnssec(name, rtype).await;
    match reply {
        Reply::Failed { failure, detail } => Err(Proof::Indeterminate {
            detail: format!("{rtype} {}: {} {detail}", host(name), failure.describe())
                .trim_end()
                .to_string(),
        }),
        Reply::Message { message, .. } => match message.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(*message),
            other => Err(Proof::Indeterminate {
                detail: format!("{rtype} {}: RCODE {other}", host(name)),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_names_are_not_walked() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert!(too_deep(&n("mx1.example.com.")).is_none());
        let twelve = format!("{}example.com.", "a.".repeat(12));
        assert!(too_deep(&n(&twelve)).is_none());
        let deep = format!("{}example.com.", "a.".repeat(120));
        assert!(too_deep(&n(&deep)).unwrap().contains("120 labels"));
    }

    #[test]
    fn caches_drop_expired_then_oldest_entries_when_full() {
        let mut map: HashMap<usize, (Instant, ())> = HashMap::new();
        // An instant older than REUSE_FOR; none exists on a machine up for less than that.
        let Some(old) = Instant::now().checked_sub(REUSE_FOR + std::time::Duration::from_secs(1))
        else {
            return;
        };
        for i in 0..MAX_CACHED {
            map.insert(i, (if i % 2 == 0 { old } else { Instant::now() }, ()));
        }
        bound(&mut map);
        assert_eq!(map.len(), MAX_CACHED / 2, "expired entries go first");
        for i in MAX_CACHED..2 * MAX_CACHED {
            map.insert(i, (Instant::now(), ()));
        }
        bound(&mut map);
        assert!(
            map.len() < MAX_CACHED,
            "then the oldest half: {}",
            map.len()
        );
    }
}

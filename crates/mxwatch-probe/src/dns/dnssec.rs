//! DNSSEC validation of single RRsets, from a trust anchor down, over our own transport.
//!
//! Every question goes to the recursive resolver with DO and CD set, so a validating resolver
//! hands over signatures, denial proofs and even data it holds to be bogus, and we can say
//! *which* link broke. The chain is walked top-down: for each ancestor of the name, the DS is
//! asked at the parent (RFC 4035 §5.2) and, where there is one, the DNSKEY at the child
//! separately; a signed NSEC that lists NS and no DS proves an unsigned delegation (insecure).
//! Signatures are checked with hickory-proto's verification code (`Verifier::verify_rrsig`,
//! `DS::covers`); nothing cryptographic is written here.
//!
//! NSEC3 denials (RFC 5155, with opt-out) are checked in `nsec3.rs`.
//!
//! Not handled (reported as indeterminate, never as insecure or bogus): wildcard-expanded
//! answers (an RRSIG whose labels field is below the owner's label count), whose proof that no
//! closer name exists is not checked. Names more than 12 labels below their registrable domain
//! are not walked (indeterminate). Proven links and proofs are cached for five minutes, at most
//! `MAX_CACHED` of each.

use super::nsec3::{Delegation, Denial, MAX_ITERATIONS, Nsec3Problem, Nsec3Set};
use super::transport::{Reply, Transport};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC3, RRSIG};
use hickory_proto::dnssec::{PublicKey, TrustAnchors, Verifier};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
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

/// Where validation starts: DS and/or DNSKEY records for the root.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    /// For reports: `IANA root KSKs`, or the file it came from.
    pub description: String,
    ds: Vec<DS>,
    keys: Vec<DNSKEY>,
}

impl TrustAnchor {
    /// The IANA root KSKs hickory ships (KSK-2017 and KSK-2024).
    pub fn iana() -> TrustAnchor {
        let anchors = TrustAnchors::default();
        let keys = (0..anchors.len())
            .filter_map(|i| anchors.get(i))
            .map(|key| DNSKEY::with_flags(257, key.clone()))
            .collect();
        TrustAnchor {
            description: "IANA root KSKs".into(),
            ds: vec![],
            keys,
        }
    }

    /// Root DS and/or DNSKEY records in zone-file presentation form (like Unbound's root.key).
    pub fn parse(text: &str, description: &str) -> Result<TrustAnchor, String> {
        let mut anchor = TrustAnchor {
            description: description.into(),
            ds: vec![],
            keys: vec![],
        };
        // hickory's zone parser refuses DNSKEY records ("should be dynamically generated"):
        // those lines are read here, the rest (DS) by hickory.
        let mut rest = String::new();
        for line in text.lines() {
            let content = line.split(';').next().unwrap_or_default();
            if content
                .split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("DNSKEY"))
            {
                anchor.keys.push(parse_dnskey_line(content)?);
            } else {
                rest.push_str(line);
                rest.push('\n');
            }
        }
        let (_, sets) = hickory_proto::serialize::txt::Parser::new(&rest, None, Some(Name::root()))
            .parse()
            .map_err(|e| format!("not DS or DNSKEY records in zone-file form: {e}"))?;
        for set in sets.values() {
            for record in set.records_without_rrsigs() {
                if !record.name.is_root() {
                    return Err(format!(
                        "only root trust anchors are supported, not {}",
                        record.name
                    ));
                }
                match &record.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) => anchor.ds.push(ds.clone()),
                    RData::DNSSEC(DNSSECRData::DNSKEY(key)) => anchor.keys.push(key.clone()),
                    _ => {}
                }
            }
        }
        if anchor.ds.is_empty() && anchor.keys.is_empty() {
            return Err("no DS or DNSKEY record for the root".into());
        }
        Ok(anchor)
    }

    pub fn from_file(path: &std::path::Path) -> Result<TrustAnchor, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn trusts(&self, key: &DNSKEY) -> bool {
        let root = Name::root();
        self.keys.iter().any(|k| {
            k.algorithm() == key.algorithm()
                && k.public_key().public_bytes() == key.public_key().public_bytes()
        }) || self
            .ds
            .iter()
            .any(|ds| ds.algorithm() == key.algorithm() && ds.covers(&root, key).unwrap_or(false))
    }
}

/// `. [TTL] [IN] DNSKEY flags 3 algorithm base64…` (the presentation form of RFC 4034 §2.2).
fn parse_dnskey_line(line: &str) -> Result<DNSKEY, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let bad = || {
        format!(
            "not a DNSKEY record: {:?}",
            line.chars().take(80).collect::<String>()
        )
    };
    if words.first() != Some(&".") {
        return Err(format!(
            "only root trust anchors are supported: {:?}",
            words.first().unwrap_or(&"")
        ));
    }
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("DNSKEY"))
        .ok_or_else(bad)?;
    let field = |i: usize| words.get(at + i).ok_or_else(bad);
    let flags: u16 = field(1)?.parse().map_err(|_| bad())?;
    let protocol: u8 = field(2)?.parse().map_err(|_| bad())?;
    let algorithm: u8 = field(3)?.parse().map_err(|_| bad())?;
    if protocol != 3 {
        return Err(bad());
    }
    let key: String = words.get(at + 4..).ok_or_else(bad)?.concat();
    let bytes = data_encoding::BASE64
        .decode(key.as_bytes())
        .map_err(|e| format!("{}: {e}", bad()))?;
    if bytes.is_empty() {
        return Err(bad());
    }
    Ok(DNSKEY::with_flags(
        flags,
        hickory_proto::dnssec::PublicKeyBuf::new(
            bytes,
            hickory_proto::dnssec::Algorithm::from_u8(algorithm),
        ),
    ))
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
}

fn key(name: &Name) -> String {
    name.to_ascii().to_ascii_lowercase()
}

fn host(name: &Name) -> String {
    super::lookups::host(name)
}

fn bogus(link: BrokenLink, zone: &Name, detail: String) -> Proof {
    Proof::Bogus {
        link,
        zone: host(zone),
        detail,
    }
}

fn rrsigs<'a>(records: &'a [Record], owner: &Name, rtype: RecordType) -> Vec<&'a RRSIG> {
    records
        .iter()
        .filter(|r| &r.name == owner)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == rtype => {
                Some(sig)
            }
            _ => None,
        })
        .collect()
}

fn rrset(records: &[Record], owner: &Name, rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| &r.name == owner && r.record_type() == rtype)
        .cloned()
        .collect()
}

/// Checks the RRSIGs over `records` against `keys` of `zone` at Unix time `now`.
fn verify(
    records: &[Record],
    sigs: &[&RRSIG],
    keys: &[DNSKEY],
    zone: &Name,
    now: u32,
) -> Result<(), (BrokenLink, String)> {
    let Some(first) = records.first() else {
        return Err((BrokenLink::MissingSignature, "an empty RRset".into()));
    };
    let what = format!("{} {}", first.record_type(), host(&first.name));
    if sigs.is_empty() {
        return Err((
            BrokenLink::MissingSignature,
            format!("no RRSIG over {what}"),
        ));
    }
    let mut worst: (u8, BrokenLink, String) = (0, BrokenLink::NoMatchingKey, String::new());
    let mut note = |rank: u8, link: BrokenLink, detail: String| {
        if rank > worst.0 {
            worst = (rank, link, detail);
        }
    };
    for sig in sigs {
        let input = sig.input();
        if key(&input.signer_name) != key(zone) {
            note(
                1,
                BrokenLink::NoMatchingKey,
                format!(
                    "{what} is signed by {}, not by {}",
                    host(&input.signer_name),
                    host(zone)
                ),
            );
            continue;
        }
        // Serial-number arithmetic (RFC 4034 §3.1.5): times wrap in 2106.
        let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
        if (expiration.wrapping_sub(now) as i32) < 0 {
            note(
                2,
                BrokenLink::SignatureExpired,
                format!("the RRSIG over {what} expired at {expiration} (now {now})"),
            );
            continue;
        }
        if (now.wrapping_sub(inception) as i32) < 0 {
            note(
                2,
                BrokenLink::SignatureNotYetValid,
                format!("the RRSIG over {what} is valid from {inception} (now {now})"),
            );
            continue;
        }
        let candidates = keys.iter().filter(|k| {
            k.zone_key()
                && !k.revoke()
                && k.algorithm() == input.algorithm
                && k.calculate_key_tag().ok() == Some(input.key_tag)
        });
        let mut tried = false;
        for dnskey in candidates {
            tried = true;
            if dnskey
                .verify_rrsig(&first.name, DNSClass::IN, sig, records.iter())
                .is_ok()
            {
                return Ok(());
            }
        }
        if tried {
            note(
                3,
                BrokenLink::BadSignature,
                format!(
                    "the RRSIG over {what} (key tag {}) does not verify",
                    input.key_tag
                ),
            );
        } else {
            note(
                1,
                BrokenLink::NoMatchingKey,
                format!(
                    "the RRSIG over {what} names key tag {}, which {} does not publish",
                    input.key_tag,
                    host(zone)
                ),
            );
        }
    }
    Err((worst.1, worst.2))
}

/// Whether an RRSIG's labels field is smaller than the owner's label count: the answer was
/// expanded from a wildcard (RFC 4035 §5.3.4).
fn wildcard_expanded(sigs: &[&RRSIG], owner: &Name) -> bool {
    sigs.iter()
        .any(|sig| sig.input().num_labels < owner.num_labels())
}

/// Whether the NSEC from `owner` to `next` covers `name` (lies strictly between, in canonical order).
fn covers(owner: &Name, next: &Name, name: &Name) -> bool {
    owner < name && (name < next || next <= owner)
}

/// The NSEC records of the authority section whose signatures verify, as (owner, next, types).
fn proven_nsecs(
    message: &Message,
    keys: &[DNSKEY],
    zone: &Name,
    now: u32,
) -> Vec<(Name, Name, Vec<RecordType>)> {
    message
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some((r, nsec)),
            _ => None,
        })
        .filter(|(r, _)| {
            let set = rrset(&message.authorities, &r.name, RecordType::NSEC);
            let sigs = rrsigs(&message.authorities, &r.name, RecordType::NSEC);
            verify(&set, &sigs, keys, zone, now).is_ok()
        })
        .map(|(r, nsec)| {
            (
                r.name.clone(),
                nsec.next_domain_name().clone(),
                nsec.type_bit_maps().collect(),
            )
        })
        .collect()
}

fn has_nsec3(message: &Message) -> bool {
    message
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::NSEC3)
}

/// The NSEC3 records of the authority section whose signatures verify with `zone`'s keys.
fn proven_nsec3s(message: &Message, keys: &[DNSKEY], zone: &Name, now: u32) -> Vec<(Name, NSEC3)> {
    message
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some((r, nsec3)),
            _ => None,
        })
        .filter(|(r, _)| {
            let set = rrset(&message.authorities, &r.name, RecordType::NSEC3);
            let sigs = rrsigs(&message.authorities, &r.name, RecordType::NSEC3);
            verify(&set, &sigs, keys, zone, now).is_ok()
        })
        .map(|(r, nsec3)| (r.name.clone(), nsec3.clone()))
        .collect()
}

/// The verified NSEC3 set of `zone` in `message`, or why there is none: `Err(Ok(insecure))`
/// when it has too many iterations (RFC 9276 §3.2), `Err(Err(bogus))` when nothing verifies.
fn nsec3_set<'a>(
    proven: &'a [(Name, NSEC3)],
    zone: &'a Name,
    what: &str,
) -> Result<Nsec3Set<'a>, Result<String, Proof>> {
    if proven.is_empty() {
        return Err(Err(bogus(
            BrokenLink::NoDenialProof,
            zone,
            format!("{what}: no NSEC3 record signed by {}", host(zone)),
        )));
    }
    match Nsec3Set::new(zone, proven) {
        Ok(set) => Ok(set),
        Err(Nsec3Problem::TooManyIterations(n)) => Err(Ok(format!(
            "{} uses NSEC3 with {n} iterations, more than the {MAX_ITERATIONS} validators accept \
             (RFC 9276 §3.2), so they treat it as unsigned",
            host(zone)
        ))),
        Err(Nsec3Problem::Unusable(why)) => Err(Err(bogus(
            BrokenLink::NoDenialProof,
            zone,
            format!("{what}: {why}"),
        ))),
    }
}

impl Validator {
    pub fn new(anchor: Arc<TrustAnchor>) -> Self {
        Validator {
            anchor,
            links: Mutex::new(HashMap::new()),
            proofs: Mutex::new(HashMap::new()),
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
        let Ok(name) = Name::from_ascii(if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        }) else {
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
            let p = self.denial(&message, &current, rtype, &keys, &zone, now);
            return combine(so_far, p);
        }
        combine(
            so_far,
            Proof::Indeterminate {
                detail: format!("more than {MAX_ALIASES} CNAMEs"),
            },
        )
    }

    /// Proves a negative answer for `name rtype` from a secure `zone`.
    fn denial(
        &self,
        message: &Message,
        name: &Name,
        rtype: RecordType,
        keys: &[DNSKEY],
        zone: &Name,
        now: u32,
    ) -> Proof {
        let nsecs = proven_nsecs(message, keys, zone, now);
        let nxdomain = message.metadata.response_code == ResponseCode::NXDomain;
        let proven = nsecs.iter().any(|(owner, next, types)| {
            if nxdomain {
                covers(owner, next, name)
            } else {
                (owner == name && !types.contains(&rtype) && !types.contains(&RecordType::CNAME))
                    // An empty non-terminal: the next name is below it.
                    || (covers(owner, next, name) && name.zone_of(next) && next != name)
            }
        });
        if proven {
            return Proof::Secure { zone: host(zone) };
        }
        if has_nsec3(message) {
            let proven = proven_nsec3s(message, keys, zone, now);
            let what = format!("{rtype} {}", host(name));
            let set = match nsec3_set(&proven, zone, &what) {
                Ok(set) => set,
                Err(Ok(proof)) => {
                    return Proof::Insecure {
                        zone: host(zone),
                        proof,
                    };
                }
                Err(Err(bogus)) => return bogus,
            };
            return match set.denies(name, rtype, nxdomain) {
                Denial::Proven => Proof::Secure { zone: host(zone) },
                Denial::OptOut(proof) => Proof::Insecure {
                    zone: host(name),
                    proof,
                },
                Denial::Unproven(why) => bogus(BrokenLink::NoDenialProof, zone, why),
            };
        }
        bogus(
            BrokenLink::NoDenialProof,
            zone,
            format!(
                "{} for {rtype} {} without a signed NSEC proving it",
                if nxdomain { "NXDOMAIN" } else { "NODATA" },
                host(name)
            ),
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
                let keys = self.root_keys(transport, now).await?;
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
        for (owner, next, types) in proven_nsecs(&message, keys, zone, now) {
            if &owner == name {
                if types.contains(&RecordType::NS)
                    && !types.contains(&RecordType::SOA)
                    && !types.contains(&RecordType::DS)
                {
                    return Ok(Chain::Insecure {
                        zone: host(name),
                        proof: format!(
                            "the signed NSEC at {} in {} lists NS and no DS",
                            host(name),
                            host(zone)
                        ),
                    });
                }
                return Ok(Chain::Secure {
                    zone: zone.clone(),
                    keys: keys.to_vec(),
                });
            }
            if covers(&owner, &next, name) {
                // No such name (or an empty non-terminal): not a zone cut.
                return Ok(Chain::Secure {
                    zone: zone.clone(),
                    keys: keys.to_vec(),
                });
            }
        }
        if has_nsec3(&message) {
            let proven = proven_nsec3s(&message, keys, zone, now);
            let what = format!("DS {}", host(name));
            let set = match nsec3_set(&proven, zone, &what) {
                Ok(set) => set,
                Err(Ok(proof)) => {
                    return Ok(Chain::Insecure {
                        zone: host(name),
                        proof,
                    });
                }
                Err(Err(bogus)) => return Err(bogus),
            };
            return match set.delegation(name) {
                Delegation::Insecure(proof) => Ok(Chain::Insecure {
                    zone: host(name),
                    proof,
                }),
                Delegation::NotACut => Ok(Chain::Secure {
                    zone: zone.clone(),
                    keys: keys.to_vec(),
                }),
                Delegation::Unproven(why) => Err(bogus(BrokenLink::NoDenialProof, zone, why)),
            };
        }
        Err(bogus(
            BrokenLink::NoDenialProof,
            zone,
            format!(
                "no DS for {} and no signed NSEC from {} proving there is none",
                host(name),
                host(zone)
            ),
        ))
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
        // No check of the DNSKEYs' own algorithms is needed: a usable DS names a supported
        // algorithm, and a zone whose keys all use others breaks the DS's promise (bogus).
        if keys.is_empty() {
            return Err(bogus(
                BrokenLink::MissingDnskey,
                name,
                format!(
                    "{} DS record(s) at the parent, no DNSKEY at {}",
                    ds.len(),
                    host(name)
                ),
            ));
        }
        let entry: Vec<DNSKEY> = keys
            .iter()
            .filter(|k| {
                ds.iter()
                    .any(|d| d.algorithm() == k.algorithm() && d.covers(name, k).unwrap_or(false))
            })
            .cloned()
            .collect();
        if entry.is_empty() {
            let tags = |t: Vec<u16>| t.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
            return Err(bogus(
                BrokenLink::DnskeyNotMatchingDs,
                name,
                format!(
                    "DS key tag(s) {} at the parent; DNSKEY key tag(s) {} at {}",
                    tags(ds.iter().map(|d| d.key_tag()).collect()),
                    tags(
                        keys.iter()
                            .filter_map(|k| k.calculate_key_tag().ok())
                            .collect()
                    ),
                    host(name)
                ),
            ));
        }
        let sigs = rrsigs(&message.answers, name, RecordType::DNSKEY);
        verify(&records, &sigs, &entry, name, now).map_err(|(l, d)| bogus(l, name, d))?;
        Ok(Chain::Secure {
            zone: name.clone(),
            keys,
        })
    }
}

/// The DS records whose algorithm and digest type hickory can check, or, when there is none,
/// the (algorithm, digest type) pairs listed, for the report.
fn usable_ds<'a>(ds: &[&'a DS]) -> Result<Vec<&'a DS>, String> {
    let usable: Vec<&DS> = ds
        .iter()
        .copied()
        .filter(|d| d.algorithm().is_supported() && d.digest_type().is_supported())
        .collect();
    if usable.is_empty() && !ds.is_empty() {
        return Err(ds
            .iter()
            .map(|d| {
                format!(
                    "algorithm {} digest {}",
                    u8::from(d.algorithm()),
                    u8::from(d.digest_type())
                )
            })
            .collect::<Vec<_>>()
            .join(", "));
    }
    Ok(usable)
}

fn dnskeys(records: &[Record]) -> Vec<DNSKEY> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
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
    fn nsec_cover_is_canonical_and_wraps() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert!(covers(&n("a.example."), &n("c.example."), &n("b.example.")));
        assert!(!covers(
            &n("a.example."),
            &n("c.example."),
            &n("a.example.")
        ));
        assert!(!covers(
            &n("a.example."),
            &n("c.example."),
            &n("d.example.")
        ));
        // The last NSEC points back to the apex: it covers everything after its owner.
        assert!(covers(&n("z.example."), &n("example."), &n("zz.example.")));
        // An empty non-terminal sorts between its predecessor and its descendants.
        assert!(covers(
            &n("a.example."),
            &n("x.b.example."),
            &n("b.example.")
        ));
    }

    #[test]
    fn a_ds_set_of_unsupported_algorithms_or_digests_is_unusable() {
        use hickory_proto::dnssec::{Algorithm, DigestType};
        let gost = DS::new(
            1,
            Algorithm::ECDSAP256SHA256,
            DigestType::from(3),
            vec![1; 32],
        );
        let ed448 = DS::new(2, Algorithm::from_u8(16), DigestType::SHA256, vec![1; 32]);
        let good = DS::new(
            3,
            Algorithm::ECDSAP256SHA256,
            DigestType::SHA256,
            vec![1; 32],
        );
        let listed = usable_ds(&[&gost, &ed448]).unwrap_err();
        assert!(
            listed.contains("digest 3") && listed.contains("algorithm 16"),
            "{listed}"
        );
        assert_eq!(usable_ds(&[&gost, &good]).unwrap(), vec![&good]);
    }

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

    #[test]
    fn anchors_parse_from_ds_or_dnskey_text() {
        assert!(TrustAnchor::iana().keys.len() >= 2);
        let ds = ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
        let anchor = TrustAnchor::parse(ds, "test").unwrap();
        assert_eq!(anchor.ds.len(), 1);
        assert!(TrustAnchor::parse("example. 3600 IN DS 1 8 2 00", "x").is_err());
        assert!(TrustAnchor::parse("not a zone file {{{", "x").is_err());
        assert!(TrustAnchor::parse("; nothing\n", "x").is_err());
        let key = ". 172800 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==";
        assert_eq!(TrustAnchor::parse(key, "x").unwrap().keys.len(), 1);
        assert!(TrustAnchor::parse(". DNSKEY 257 3 13 !!!", "x").is_err());
        assert!(TrustAnchor::parse(". DNSKEY 257", "x").is_err());
    }
}

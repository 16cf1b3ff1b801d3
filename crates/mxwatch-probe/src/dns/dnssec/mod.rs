//! DNSSEC validation of single RRsets, from a trust anchor down, over our own transport.
//!
//! Every question goes to the recursive resolver with DO and CD set, so a validating resolver
//! hands over signatures, denial proofs and even data it holds to be bogus, and we can say
//! *which* link broke. A signed NSEC (or NSEC3) that lists NS and no DS proves an unsigned
//! delegation (insecure). Signatures are checked with hickory-proto's verification code
//! (`Verifier::verify_rrsig`, `DS::covers`); nothing cryptographic is written here.
//!
//! The files, one job each:
//! - `anchor.rs`: [`TrustAnchor`], where validation starts (IANA root KSKs, or root DS/DNSKEY
//!   records in zone-file form) and which root keys it trusts.
//! - `signatures.rs`: pure per-RRset checks: RRSIG verification at a given time, wildcard
//!   expansion, DS usability and DS-to-DNSKEY matching.
//! - `denial.rs`: pure denial-of-existence checks: what signed NSEC/NSEC3 records prove about
//!   a negative answer or a missing DS.
//! - `nsec3.rs`: NSEC3 hashing, closest encloser and opt-out (RFC 5155), under `denial.rs`.
//! - `walk.rs`: [`Validator`], the only part that asks the resolver: the top-down walk, CNAME
//!   following, depth limit and the caches shared across a run.
//!
//! Everything but `walk.rs` is pure, so it can be tested without a resolver.
//!
//! Not handled (reported as indeterminate, never as insecure or bogus): wildcard-expanded
//! answers (an RRSIG whose labels field is below the owner's label count), whose proof that no
//! closer name exists is not checked. Names more than 12 labels below their registrable domain
//! are not walked (indeterminate). Proven links and proofs are cached for five minutes.

mod anchor;
mod denial;
mod nsec3;
mod signatures;
mod walk;

pub use anchor::TrustAnchor;
pub use walk::Validator;

use hickory_proto::rr::Name;
use mxwatch_core::observation::dnssec::{BrokenLink, Proof};

/// The cache key of a name: its lower-case ASCII form.
fn key(name: &Name) -> String {
    name.to_ascii().to_ascii_lowercase()
}

/// A name as reports show it.
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

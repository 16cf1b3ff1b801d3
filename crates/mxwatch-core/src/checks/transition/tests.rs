//! Each rule fires on a change built for it and stays silent on no change.

use super::*;
use crate::checks::testkit::*;
use crate::observation::dnssec::{DnssecObservation, ExchangeDnssec, Proof, RrsetProof};
use crate::observation::mailauth::MailAuthObservation;
use crate::observation::mta_sts::{FetchOutcome, PolicyFetch};
use crate::observation::smtp::{SmtpProbe, StartTls};
use crate::observation::{PolicyRecords, Registration};
use crate::records::tlsa::TlsaRecord;

/// 2026-11-23T00:00:00Z.
const NOW: i64 = 1_795_392_000;
const SPF: &str = "v=spf1 ip4:192.0.43.0/24 ip4:198.32.64.0/24 -all";
const POLICY: &str =
    "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 86400\n";

fn secure() -> Proof {
    Proof::Secure {
        zone: "example.com".into(),
    }
}

/// A probe of a host whose key is made from `seed` (its SPKI digest: [`spki`]).
fn probe(seed: &str) -> SmtpProbe {
    tls_probe(StartTls::Established, vec![leaf_certificate(seed)])
}

fn spki(seed: &str) -> String {
    leaf_certificate(seed).spki_sha256
}

fn tlsa_for(name: &str, spki: Option<&str>) -> ExchangeDnssec {
    ExchangeDnssec {
        name: name.into(),
        address: RrsetProof {
            question: format!("A {name}"),
            proof: secure(),
        },
        tlsa: match spki {
            Some(spki) => observed(
                vec![TlsaRecord::from_presentation(&format!("3 1 1 {spki}")).unwrap()],
                300,
            ),
            None => nxdomain(),
        },
        tlsa_proof: secure(),
    }
}

/// example.com: mx1.example.com (DANE, key "aa…") and mx2.example.net, an enforced MTA-STS
/// policy covering both, SPF covering both networks.
fn base() -> Observation {
    let mut obs = healthy();
    let txt = |text: &str| observed(vec![text.to_string()], 300);
    obs.policy = Some(PolicyRecords {
        spf: txt(SPF),
        dmarc: txt("v=DMARC1; p=reject"),
        mta_sts: txt("v=STSv1; id=1"),
        tls_rpt: nodata(),
    });
    obs.mail_auth = Some(MailAuthObservation {
        spf_answers: [("TXT example.com".to_string(), txt(SPF))]
            .into_iter()
            .collect(),
        spf_truncated: false,
        dmarc_org: None,
        report_authorizations: vec![],
        dkim: vec![],
        bimi: None,
        dnsbl: vec![],
    });
    obs.mta_sts_policy = Some(fetched(POLICY));
    obs.dnssec = Some(DnssecObservation {
        anchor: "test".into(),
        domain: vec![RrsetProof {
            question: "MX example.com".into(),
            proof: secure(),
        }],
        exchanges: vec![
            tlsa_for("mx1.example.com", Some(&spki("a"))),
            tlsa_for("mx2.example.net", None),
        ],
    });
    for address in &mut obs.exchanges[0].addresses {
        address.smtp = Some(probe("a"));
    }
    obs
}

fn fetched(body: &str) -> PolicyFetch {
    PolicyFetch {
        url: "https://mta-sts.example.com/.well-known/mta-sts.txt".into(),
        addresses: vec![],
        outcome: FetchOutcome::Fetched {
            content_type: "text/plain".into(),
            body: body.into(),
            not_utf8: false,
        },
        elapsed_ms: 1,
    }
}

fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

fn detail<'a>(findings: &'a [Finding], id: &str) -> &'a str {
    &findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", ids(findings)))
        .detail
}

fn set_mx(obs: &mut Observation, mx: &[(u16, &str)], ttl: u32) {
    obs.mx = observed(
        mx.iter()
            .map(|(p, e)| MxRecord {
                preference: *p,
                exchange: e.to_string(),
            })
            .collect(),
        ttl,
    );
}

#[test]
fn no_change_has_no_consequence() {
    assert!(consequences(&base(), &base(), NOW).is_empty());
}

#[test]
fn the_rules_are_documented_and_distinct_from_the_checks() {
    let mut seen = std::collections::HashSet::new();
    for rule in RULES {
        assert!(seen.insert(rule.id), "duplicate {}", rule.id);
        assert!(rule.id.starts_with("CHANGE-"), "{}", rule.id);
        assert!(
            crate::checks::find(rule.id).is_none(),
            "{} is also a check",
            rule.id
        );
        for text in [rule.title, rule.explanation, rule.fix, rule.reference] {
            assert!(!text.trim().is_empty(), "{} is undocumented", rule.id);
        }
        assert_eq!(find(&rule.id.to_ascii_lowercase()).unwrap().id, rule.id);
    }
}

/// A third exchange at another provider, outside the policy, without TLSA or SPF cover.
fn with_new_provider() -> Observation {
    let mut after = base();
    set_mx(
        &mut after,
        &[
            (10, "mx1.example.com"),
            (20, "mx2.example.net"),
            (30, "mx.other.example"),
        ],
        3600,
    );
    after
        .exchanges
        .push(exchange("mx.other.example", &[30], &["203.0.113.25"]));
    after
        .dnssec
        .as_mut()
        .unwrap()
        .exchanges
        .push(tlsa_for("mx.other.example", None));
    after
}

#[test]
fn a_new_exchange_outside_the_cached_policy_is_refused_until_max_age() {
    let found = consequences(&base(), &with_new_provider(), NOW);
    let ids = ids(&found);
    for id in [
        "CHANGE-MX-ADDED",
        "CHANGE-MTASTS-MX-UNCOVERED",
        "CHANGE-MTASTS-ID-STALE",
        "CHANGE-DANE-MX-WITHOUT-TLSA",
        "CHANGE-SPF-MX-UNCOVERED",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    // Most severe first.
    assert_eq!(ids[0], "CHANGE-MTASTS-MX-UNCOVERED");
    assert!(
        detail(&found, "CHANGE-MTASTS-MX-UNCOVERED").contains("until 2026-11-24 00:00 UTC"),
        "{}",
        detail(&found, "CHANGE-MTASTS-MX-UNCOVERED")
    );
    assert!(detail(&found, "CHANGE-DANE-MX-WITHOUT-TLSA").contains("mx1.example.com"));
    assert!(
        !ids.contains(&"CHANGE-SPF-MX-PROVIDER"),
        "no `mx` in this SPF"
    );
    assert!(!ids.contains(&"CHANGE-MX-DRAIN"), "nothing was removed");
}

/// A third exchange of the same provider, inside the policy's `*.example.net` and SPF's networks.
fn with_mx3() -> Observation {
    let mut after = base();
    set_mx(
        &mut after,
        &[
            (10, "mx1.example.com"),
            (20, "mx2.example.net"),
            (30, "mx3.example.net"),
        ],
        3600,
    );
    after
        .exchanges
        .push(exchange("mx3.example.net", &[30], &["198.32.64.13"]));
    after
}

#[test]
fn a_new_exchange_inside_the_patterns_with_a_new_id_is_fine_for_mta_sts() {
    let before = base();
    let mut after = with_mx3();
    after.policy.as_mut().unwrap().mta_sts = observed(vec!["v=STSv1; id=2".into()], 300);
    let found = consequences(&before, &after, NOW);
    let ids = ids(&found);
    assert!(!ids.contains(&"CHANGE-MTASTS-MX-UNCOVERED"), "{ids:?}");
    assert!(!ids.contains(&"CHANGE-MTASTS-ID-STALE"), "{ids:?}");
    assert!(!ids.contains(&"CHANGE-SPF-MX-UNCOVERED"), "{ids:?}");
}

#[test]
fn spf_mx_authorises_the_new_provider() {
    let spf = "v=spf1 mx -all";
    let mut before = base();
    before.policy.as_mut().unwrap().spf = observed(vec![spf.into()], 300);
    let mut after = with_new_provider();
    after.policy.as_mut().unwrap().spf = observed(vec![spf.into()], 300);
    let found = consequences(&before, &after, NOW);
    assert!(
        detail(&found, "CHANGE-SPF-MX-PROVIDER").contains("other.example"),
        "{:?}",
        ids(&found)
    );
}

/// mx2.example.net removed; its domain was seen unregistered (not delegated).
fn mx2_removed_while_unregistered() -> (Observation, Observation) {
    let mut before = base();
    before.exchanges[1].registration = Some(Registration {
        registrable_domain: "example.net".into(),
        public_suffix: "net".into(),
        delegation: nxdomain(),
        suffix: nodata(),
    });
    let mut after = base();
    set_mx(&mut after, &[(10, "mx1.example.com")], 3600);
    after.exchanges.truncate(1);
    (before, after)
}

#[test]
fn a_removed_exchange_has_a_drain_time_and_a_takeover_warning() {
    let (before, after) = mx2_removed_while_unregistered();
    let found = consequences(&before, &after, NOW);
    let ids = ids(&found);
    assert!(ids.contains(&"CHANGE-MX-REMOVED"), "{ids:?}");
    assert_eq!(ids[0], "CHANGE-MX-REMOVED-UNREGISTERED");
    // The policy (max_age 86400) names mx2.example.net through *.example.net: it outlasts the TTL.
    assert_eq!(
        detail(&found, "CHANGE-MX-DRAIN"),
        "safe to decommission mx2.example.net after 2026-11-24 00:00 UTC \
         (old MX TTL 3600 s; MTA-STS max_age 86400 s of the policy naming it)"
    );
}

#[test]
fn the_drain_time_without_a_policy_is_the_old_ttl() {
    let mut before = base();
    before.mta_sts_policy = None;
    before.policy.as_mut().unwrap().mta_sts = nodata();
    let mut after = before.clone();
    set_mx(&mut after, &[(10, "mx1.example.com")], 3600);
    after.exchanges.truncate(1);
    let found = consequences(&before, &after, NOW + 59);
    assert!(
        detail(&found, "CHANGE-MX-DRAIN")
            .contains("after 2026-11-23 01:01 UTC (old MX TTL 3600 s)"),
        "{}",
        detail(&found, "CHANGE-MX-DRAIN")
    );
    assert!(!ids(&found).contains(&"CHANGE-MX-REMOVED-UNREGISTERED"));
}

#[test]
fn a_gone_mx_set_drains_after_the_longer_of_ttl_and_negative_ttl() {
    let mut before = base();
    before.mta_sts_policy = None;
    before.mx = observed(before.mx.value().unwrap().clone(), 60);
    let mut after = before.clone();
    after.mx = nxdomain(); // negative TTL 300 in the testkit
    after.exchanges.clear();
    let found = consequences(&before, &after, NOW);
    assert!(
        detail(&found, "CHANGE-MX-DRAIN")
            .contains("after 2026-11-23 00:05 UTC (old MX TTL 60 s; negative TTL 300 s)"),
        "{}",
        detail(&found, "CHANGE-MX-DRAIN")
    );
}

#[test]
fn policy_weakened_and_max_age_cut_under_the_same_id() {
    let mut after = base();
    after.mta_sts_policy = Some(fetched(
        "version: STSv1\nmode: testing\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 3600\n",
    ));
    let found = consequences(&base(), &after, NOW);
    let ids = ids(&found);
    for id in [
        "CHANGE-MTASTS-WEAKENED",
        "CHANGE-MTASTS-MAXAGE-CUT",
        "CHANGE-MTASTS-ID-STALE",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(detail(&found, "CHANGE-MTASTS-ID-STALE").contains("policy changed"));
    // With a new id, only the weakening and the cut remain.
    after.policy.as_mut().unwrap().mta_sts = observed(vec!["v=STSv1; id=2".into()], 300);
    let found = consequences(&base(), &after, NOW);
    assert!(!super::tests::ids(&found).contains(&"CHANGE-MTASTS-ID-STALE"));
}

#[test]
fn a_null_mx_beside_others_and_a_long_ttl() {
    let mut after = base();
    set_mx(
        &mut after,
        &[(0, "."), (10, "mx1.example.com"), (20, "mx2.example.net")],
        86_400,
    );
    let found = consequences(&base(), &after, NOW);
    let ids = ids(&found);
    assert!(ids.contains(&"CHANGE-NULLMX-MIXED"), "{ids:?}");
    // The exchanges did not change: a TTL alone is no rollback risk.
    assert!(!ids.contains(&"CHANGE-ROLLBACK-SLOW"), "{ids:?}");
    let mut after = with_new_provider();
    after.mx = observed(after.mx.value().unwrap().clone(), 86_400);
    let found = consequences(&base(), &after, NOW);
    assert!(detail(&found, "CHANGE-ROLLBACK-SLOW").contains("1 d 0 h"));
}

#[test]
fn a_new_key_without_a_new_tlsa_stops_matching() {
    let mut after = base();
    for address in &mut after.exchanges[0].addresses {
        address.smtp = Some(probe("b"));
    }
    let found = consequences(&base(), &after, NOW);
    assert!(
        detail(&found, "CHANGE-DANE-STOPS-MATCHING").contains("key changed"),
        "{:?}",
        ids(&found)
    );
    // Dropping the records of an existing exchange is an exchange without TLSA, not a mismatch.
    let mut after = with_mx3();
    let dnssec = after.dnssec.as_mut().unwrap();
    dnssec
        .exchanges
        .push(tlsa_for("mx3.example.net", Some(&spki("c"))));
    dnssec.exchanges[0].tlsa = nxdomain();
    let found = consequences(&base(), &after, NOW);
    assert!(detail(&found, "CHANGE-DANE-MX-WITHOUT-TLSA").contains("dropped"));
    assert!(!ids(&found).contains(&"CHANGE-DANE-STOPS-MATCHING"));
}

#[test]
fn a_preference_change_is_reported() {
    let mut after = base();
    set_mx(
        &mut after,
        &[(10, "mx1.example.com"), (5, "mx2.example.net")],
        3600,
    );
    after.exchanges[1].preferences = vec![5];
    let found = consequences(&base(), &after, NOW);
    assert_eq!(ids(&found), vec!["CHANGE-MX-PREFERENCE"]);
    assert_eq!(detail(&found, "CHANGE-MX-PREFERENCE"), "preference 20 → 5");
}

#[test]
fn could_not_determine_is_never_a_consequence() {
    let mut after = with_new_provider();
    after.mx = failed(crate::observation::lookup::Failure::Timeout);
    let found = consequences(&base(), &after, NOW);
    assert!(
        !ids(&found)
            .iter()
            .any(|id| id.starts_with("CHANGE-MX") || *id == "CHANGE-MTASTS-MX-UNCOVERED"),
        "{:?}",
        ids(&found)
    );
}

/// One change built for each rule (the cases above, gathered): together they fire every rule,
/// and the healthy no-change case fires none.
#[test]
fn every_rule_fires_on_a_case_built_for_it() {
    let mut cases: Vec<(Observation, Observation)> = vec![(base(), with_new_provider())];
    // SPF `mx` authorising the new provider.
    let (mut before, mut after) = (base(), with_new_provider());
    for obs in [&mut before, &mut after] {
        obs.policy.as_mut().unwrap().spf = observed(vec!["v=spf1 mx -all".into()], 300);
    }
    cases.push((before, after));
    // A removed exchange whose domain was seen unregistered.
    let (before, after) = mx2_removed_while_unregistered();
    cases.push((before, after));
    // The policy weakened and cut; a preference change; a null MX beside others.
    let mut after = base();
    after.mta_sts_policy = Some(fetched(
        "version: STSv1\nmode: none\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 60\n",
    ));
    set_mx(
        &mut after,
        &[(0, "."), (10, "mx1.example.com"), (5, "mx2.example.net")],
        3600,
    );
    cases.push((base(), after));
    // A long TTL on a changed set.
    let mut after = with_new_provider();
    after.mx = observed(after.mx.value().unwrap().clone(), 86_400);
    cases.push((base(), after));
    // A new key under the old TLSA record.
    let mut after = base();
    for address in &mut after.exchanges[0].addresses {
        address.smtp = Some(probe("b"));
    }
    cases.push((base(), after));
    let fired: std::collections::BTreeSet<String> = cases
        .iter()
        .flat_map(|(b, a)| consequences(b, a, NOW))
        .map(|f| f.id.to_string())
        .collect();
    for rule in RULES {
        assert!(
            fired.contains(rule.id),
            "{} fires on no case: {fired:?}",
            rule.id
        );
    }
    assert!(consequences(&base(), &base(), NOW).is_empty());
}

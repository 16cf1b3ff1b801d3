//! The analysis on the sample messages of `tests/data/headers`, with hand-built
//! DNS answers, and property tests that no input makes it panic.

use super::auth_results::Placement;
use super::mx::{MatchKind, exchanges_to_resolve, names_to_resolve};
use super::*;
use crate::{Absence, Failure, Lookup, MxRecord};
use std::net::IpAddr;

pub(crate) const SAMPLES: &[(&str, &[u8])] = &[
    (
        "gmail-primary-mx.eml",
        include_bytes!("../../../../tests/data/headers/gmail-primary-mx.eml"),
    ),
    (
        "backup-mx.eml",
        include_bytes!("../../../../tests/data/headers/backup-mx.eml"),
    ),
    (
        "direct-to-backend.eml",
        include_bytes!("../../../../tests/data/headers/direct-to-backend.eml"),
    ),
    (
        "malformed-received.eml",
        include_bytes!("../../../../tests/data/headers/malformed-received.eml"),
    ),
    (
        "arc-multiple-ar.eml",
        include_bytes!("../../../../tests/data/headers/arc-multiple-ar.eml"),
    ),
    (
        "clock-skew.eml",
        include_bytes!("../../../../tests/data/headers/clock-skew.eml"),
    ),
];

fn sample(name: &str) -> &'static [u8] {
    SAMPLES.iter().find(|(n, _)| *n == name).unwrap().1
}

fn observed<T>(value: T) -> Lookup<T> {
    Lookup::Observed {
        value,
        ttl: 300,
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

fn nodata<T>() -> Lookup<T> {
    Lookup::Absent {
        absence: Absence::NoData,
        negative_ttl: None,
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

fn failed<T>() -> Lookup<T> {
    Lookup::Failed {
        failure: Failure::Timeout,
        detail: "timeout".into(),
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// What the lab's zones say, as the binary would resolve it: `mx` is (preference, exchange, IPv4s).
fn resolution(
    parsed: &ParsedHeaders,
    domain: &str,
    mx: &[(u16, &str, &[&str])],
    hosts: &[(&str, Lookup<Vec<IpAddr>>)],
) -> MxResolution {
    let mx_lookup = observed(
        mx.iter()
            .map(|(p, e, _)| MxRecord {
                preference: *p,
                exchange: e.to_string(),
            })
            .collect(),
    );
    let wanted = exchanges_to_resolve(domain, &mx_lookup);
    let exchanges = wanted
        .iter()
        .map(|(name, preference, implicit)| {
            let addrs = mx.iter().find(|(_, e, _)| e == name).unwrap().2;
            ExchangeAddresses {
                exchange: name.clone(),
                preference: *preference,
                implicit: *implicit,
                a: observed(ips(addrs)),
                aaaa: nodata(),
            }
        })
        .collect();
    let names = names_to_resolve(&parsed.hops, domain, &wanted);
    let hosts = names
        .into_iter()
        .map(|name| {
            let a = hosts
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, l)| l.clone())
                .unwrap_or_else(nodata);
            HostAddresses {
                name,
                a,
                aaaa: nodata(),
            }
        })
        .collect();
    MxResolution {
        domain: domain.into(),
        mx: mx_lookup,
        exchanges,
        hosts,
    }
}

const HEALTHY: &[(u16, &str, &[&str])] = &[
    (10, "mx1.healthy.test", &["127.0.1.10"]),
    (20, "mx2.healthy.test", &["127.0.1.11"]),
];

fn analysed(name: &str, mx: &[(u16, &str, &[&str])]) -> Analysis {
    analysed_with(name, mx, &[])
}

fn analysed_with(
    name: &str,
    mx: &[(u16, &str, &[&str])],
    hosts: &[(&str, Lookup<Vec<IpAddr>>)],
) -> Analysis {
    let parsed = parse(sample(name)).unwrap();
    let domain = recipient::choose(&parsed.recipients).unwrap();
    let res = resolution(&parsed, &domain.domain, mx, hosts);
    analyse(parsed, Some(domain), Some(res))
}

fn codes(a: &Analysis) -> Vec<&'static str> {
    a.notes.iter().map(|n| n.code).collect()
}

#[test]
fn gmail_through_the_primary_mx() {
    let a = analysed("gmail-primary-mx.eml", HEALTHY);
    assert_eq!(a.domain.as_ref().unwrap().domain, "healthy.test");
    assert_eq!(a.hops.len(), 4);
    assert_eq!(a.hops[0].by.as_deref(), Some("smtp.gmail.com"));
    assert_eq!(
        a.mx_entry,
        MxEntry::Primary {
            hop: 3,
            exchange: "mx1.healthy.test".into(),
            preference: 10,
            matched: MatchKind::Name
        }
    );
    // The final LMTP hop is inside, not an MX.
    assert_eq!(a.hops[3].mx, MxStatus::NotMx);
    assert_eq!(a.hops[2].delay_seconds, Some(1));
    // The A-R of mx1 sits above mx1's Received: written after entry.
    assert_eq!(a.auth_results[0].placement, Placement::AfterEntry);
    assert!(codes(&a).contains(&"HEADERS-MX-ENTRY"));
    assert!(!codes(&a).contains(&"HEADERS-AR-BEFORE-ENTRY"));
}

#[test]
fn backup_mx_is_named_and_flagged_and_late_results_distrusted() {
    let a = analysed("backup-mx.eml", HEALTHY);
    assert_eq!(
        a.mx_entry,
        MxEntry::Backup {
            hop: 2,
            exchange: "mx2.healthy.test".into(),
            preference: 20,
            best_preference: 10,
            matched: MatchKind::Name
        }
    );
    assert!(codes(&a).contains(&"HEADERS-BACKUP-MX"));
    assert!(
        codes(&a).contains(&"HEADERS-INPUT"),
        "the mbox line is said"
    );
    // That A-R sits below the entry's Received, under the name mx2 … but it is below
    // the previous hop's Received too: the sender's side wrote it.
    assert_eq!(a.auth_results[0].placement, Placement::BeforeEntry);
    assert!(codes(&a).contains(&"HEADERS-AR-BEFORE-ENTRY"));
}

#[test]
fn direct_delivery_to_a_backend_is_a_bypass() {
    let a = analysed("direct-to-backend.eml", HEALTHY);
    assert_eq!(
        a.mx_entry,
        MxEntry::Bypassed {
            hop: 1,
            host: "store.healthy.test".into()
        }
    );
    assert!(codes(&a).contains(&"HEADERS-MX-BYPASS"));
    let hosts: Vec<_> =
        a.mx.as_ref()
            .unwrap()
            .hosts
            .iter()
            .map(|h| &h.name)
            .collect();
    assert_eq!(
        hosts,
        ["store.healthy.test"],
        "only the domain's own host is looked up"
    );
}

#[test]
fn a_backend_that_cannot_be_resolved_is_could_not_determine() {
    let a = analysed_with(
        "direct-to-backend.eml",
        HEALTHY,
        &[("store.healthy.test", failed())],
    );
    assert!(
        matches!(a.mx_entry, MxEntry::Indeterminate { .. }),
        "{:?}",
        a.mx_entry
    );
    assert!(!codes(&a).contains(&"HEADERS-MX-BYPASS"));
}

#[test]
fn a_host_with_another_name_matches_by_address() {
    let a = analysed_with(
        "direct-to-backend.eml",
        HEALTHY,
        &[("store.healthy.test", observed(ips(&["127.0.1.10"])))],
    );
    assert_eq!(
        a.mx_entry,
        MxEntry::Primary {
            hop: 1,
            exchange: "mx1.healthy.test".into(),
            preference: 10,
            matched: MatchKind::Address {
                ip: "127.0.1.10".parse().unwrap()
            }
        }
    );
}

#[test]
fn malformed_trace_still_finds_the_mx_and_says_what_it_could_not_read() {
    let a = analysed("malformed-received.eml", HEALTHY);
    assert_eq!(a.received_total, 6);
    // Hop 3 is `by mx1.healthy.test` with an unreadable date: still the entry.
    assert_eq!(a.mx_entry.hop(), Some(3));
    let c = codes(&a);
    assert!(c.contains(&"HEADERS-UNPARSED-RECEIVED"), "{c:?}");
    assert!(c.contains(&"HEADERS-PARTIAL-RECEIVED"), "{c:?}");
    assert!(
        a.hops
            .iter()
            .any(|h| matches!(h.parsed, Parsed::Unparsed { .. }))
    );
}

#[test]
fn arc_and_several_authentication_results_are_all_read() {
    let provider: &[(u16, &str, &[&str])] = &[
        (10, "mx1.provider.test", &["127.0.1.1"]),
        (20, "mx2.provider.test", &["127.0.1.2"]),
    ];
    let a = analysed("arc-multiple-ar.eml", provider);
    assert_eq!(a.domain.as_ref().unwrap().domain, "customer1.test");
    assert_eq!(
        a.mx_entry.hop(),
        Some(3),
        "entered at mx1.provider.test: {:?}",
        a.mx_entry
    );
    let kinds: Vec<_> = a
        .auth_results
        .iter()
        .map(|r| {
            (
                r.kind,
                r.instance,
                r.authserv_id.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 4);
    assert_eq!(kinds[0].2, "mx1.provider.test");
    assert_eq!(kinds[1].2, "spamfilter.provider.test");
    assert_eq!(
        kinds[2],
        (
            AuthResultsKind::ArcAuthenticationResults,
            Some(2),
            "lists.example.org".into()
        )
    );
    assert_eq!(kinds[3].1, Some(1));
    let first: Vec<_> = a.auth_results[0]
        .results
        .iter()
        .map(|m| format!("{}={}", m.method, m.result))
        .collect();
    assert_eq!(
        first,
        [
            "dkim=fail",
            "dkim=pass",
            "spf=softfail",
            "dmarc=fail",
            "arc=pass"
        ]
    );
    assert_eq!(a.auth_results[1].version.as_deref(), Some("1"));
}

#[test]
fn clock_skew_is_a_negative_delay_and_said() {
    let a = analysed("clock-skew.eml", HEALTHY);
    let delays: Vec<_> = a.hops.iter().map(|h| h.delay_seconds).collect();
    assert_eq!(delays, [None, Some(2187), Some(-453), Some(1)]);
    let skew: Vec<_> = a
        .notes
        .iter()
        .filter(|n| n.code == "HEADERS-CLOCK-SKEW")
        .collect();
    assert_eq!(skew.len(), 1);
    assert!(
        skew[0].text.contains("hop 3") && skew[0].text.contains("7 min 33 s"),
        "{}",
        skew[0].text
    );
    assert_eq!(a.mx_entry.hop(), Some(3));
}

#[test]
fn without_dns_nothing_is_claimed() {
    let parsed = parse(sample("direct-to-backend.eml")).unwrap();
    let domain = recipient::choose(&parsed.recipients);
    let a = analyse(parsed, domain, None);
    assert!(matches!(a.mx_entry, MxEntry::NotChecked { .. }));
    assert!(a.hops.iter().all(|h| h.mx == MxStatus::NotChecked));
    assert!(!codes(&a).contains(&"HEADERS-MX-BYPASS"));
}

#[test]
fn a_failed_mx_lookup_is_indeterminate_and_nodata_means_the_implicit_mx() {
    let parsed = parse(sample("gmail-primary-mx.eml")).unwrap();
    let domain = recipient::choose(&parsed.recipients);
    let res = MxResolution {
        domain: "healthy.test".into(),
        mx: failed(),
        exchanges: vec![],
        hosts: vec![],
    };
    let a = analyse(parsed.clone(), domain.clone(), Some(res));
    assert!(matches!(a.mx_entry, MxEntry::Indeterminate { .. }));
    assert_eq!(
        exchanges_to_resolve("healthy.test", &nodata()),
        [("healthy.test".to_string(), 0, true)]
    );
    let null = observed(vec![MxRecord {
        preference: 0,
        exchange: ".".into(),
    }]);
    assert!(exchanges_to_resolve("healthy.test", &null).is_empty());
    let res = MxResolution {
        domain: "healthy.test".into(),
        mx: null,
        exchanges: vec![],
        hosts: vec![],
    };
    assert_eq!(analyse(parsed, domain, Some(res)).mx_entry, MxEntry::NullMx);
}

#[test]
fn long_chains_keep_the_hops_nearest_the_recipient() {
    let mut text = String::new();
    for i in (1..=MAX_HOPS + 20).rev() {
        text.push_str(&format!(
            "Received: from h{}.example by h{i}.example with ESMTP; Mon, 23 Nov 2026 10:00:00 +0000\n",
            i - 1
        ));
    }
    let parsed = parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.received_total, MAX_HOPS + 20);
    assert_eq!(parsed.hops.len(), MAX_HOPS);
    assert_eq!(parsed.hops[0].number, 21);
    assert_eq!(
        parsed.hops.last().unwrap().by.as_deref(),
        Some("h120.example")
    );
    let a = analyse(parsed, None, None);
    assert!(codes(&a).contains(&"HEADERS-HOPS-CAPPED"));
}

#[test]
fn every_mx_verdict_and_hop_problem_has_a_registered_note() {
    use super::mx::entry_notes;
    let domain = recipient::RecipientDomain {
        domain: "healthy.test".into(),
        source: "test".into(),
    };
    let entries = [
        MxEntry::NotChecked { why: "x".into() },
        MxEntry::Indeterminate { why: "x".into() },
        MxEntry::NoSuchDomain,
        MxEntry::NullMx,
        MxEntry::Primary {
            hop: 1,
            exchange: "mx1.healthy.test".into(),
            preference: 10,
            matched: MatchKind::Name,
        },
        MxEntry::Backup {
            hop: 1,
            exchange: "mx2.healthy.test".into(),
            preference: 20,
            best_preference: 10,
            matched: MatchKind::Name,
        },
        MxEntry::Bypassed {
            hop: 1,
            host: "backend.healthy.test".into(),
        },
        MxEntry::NoMxHop,
    ];
    let mut seen = std::collections::HashSet::new();
    for entry in &entries {
        for note in entry_notes(entry, Some(&domain)) {
            let kind = notes::find(note.code).expect("registered");
            assert_eq!(kind.level, note.level);
            seen.insert(note.code);
        }
    }
    assert_eq!(seen.len(), entries.len(), "one code per verdict: {seen:?}");
    // The samples, a capped chain and an empty header cover the rest.
    let mut all: Vec<Note> = Vec::new();
    for (name, _) in SAMPLES {
        let a = analysed(name, HEALTHY);
        all.extend(a.notes);
    }
    let many = "Received: from a by b; Mon, 23 Nov 2026 10:00:00 +0000\n".repeat(MAX_HOPS + 1);
    let mbox = format!("From someone Mon Nov 23 10:00:00 2026\n{many}");
    for bytes in [mbox.as_bytes(), b"Subject: no trace\n".as_slice()] {
        all.extend(analyse(parse(bytes).unwrap(), None, None).notes);
    }
    for note in &all {
        assert!(notes::find(note.code).is_some(), "{}", note.code);
        seen.insert(note.code);
    }
    let unseen: Vec<&str> = NOTES
        .iter()
        .map(|n| n.id)
        .filter(|id| !seen.contains(id))
        .collect();
    assert!(unseen.is_empty(), "no test makes {unseen:?}");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn full_run(bytes: &[u8]) {
        let Ok(parsed) = parse(bytes) else { return };
        let domain = recipient::choose(&parsed.recipients).or(Some(recipient::RecipientDomain {
            domain: "healthy.test".into(),
            source: "test".into(),
        }));
        let res = resolution(&parsed, "healthy.test", HEALTHY, &[]);
        let a = analyse(parsed, domain, Some(res));
        for note in &a.notes {
            let kind = notes::find(note.code).expect("every note's code is in NOTES");
            assert_eq!(kind.level, note.level, "{}", note.code);
        }
        // The JSON form is what scripts read: it must always serialise.
        serde_json::to_string(&a).unwrap();
    }

    /// A sample with a few bytes changed, inserted or removed.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        (
            0..SAMPLES.len(),
            prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..12),
        )
            .prop_map(|(i, edits)| {
                let mut bytes = SAMPLES[i].1.to_vec();
                for (at, byte, op) in edits {
                    let at = at as usize % (bytes.len() + 1);
                    match op {
                        0 if at < bytes.len() => bytes[at] = byte,
                        1 => bytes.insert(at, byte),
                        _ if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        _ => {}
                    }
                }
                bytes
            })
    }

    /// Header-shaped noise: field names that matter, with values made of the characters the parsers split on.
    fn header_like() -> impl Strategy<Value = Vec<u8>> {
        let name = prop::sample::select(vec![
            "Received: ",
            "Authentication-Results: ",
            "ARC-Authentication-Results: ",
            "Delivered-To: ",
            "To: ",
            "X-Original-To: ",
            "From ",
            " ",
            "\t",
        ]);
        let value = "[a-z0-9 .;=()\\[\\]<>@\"\\\\:/_-]{0,80}|from [a-z.]{0,20} by [a-z.]{0,20} with [A-Z]{0,7}; [A-Za-z0-9 ,:+-]{0,40}";
        prop::collection::vec(
            (
                name,
                value,
                prop::sample::select(vec!["\n", "\r\n", "\r", ""]),
            ),
            0..20,
        )
        .prop_map(|fields| {
            fields
                .into_iter()
                .flat_map(|(n, v, eol)| format!("{n}{v}{eol}").into_bytes())
                .collect()
        })
    }

    proptest! {
        // 2,500 cases in the suite; `MXWATCH_FUZZ_CASES=N` for a sustained run.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("MXWATCH_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_500)
        ))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            full_run(&bytes);
        }

        #[test]
        fn mutated_samples_never_panic(bytes in mutated()) {
            full_run(&bytes);
        }

        #[test]
        fn header_shaped_noise_never_panics(bytes in header_like()) {
            full_run(&bytes);
        }

        #[test]
        fn authentication_results_reader_never_panics(text in "\\PC{0,300}|[a-z=;()\"\\\\. /]{0,300}") {
            let r = auth_results::parse(AuthResultsKind::ArcAuthenticationResults, 0, &text);
            prop_assert!(r.results.len() <= 64);
        }
    }
}

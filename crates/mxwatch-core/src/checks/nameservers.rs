//! Do the domain's authoritative nameservers agree on its mail records?
//!
//! Each NS address is asked directly. Data is compared without TTLs and
//! without regard to order (other checkers raise false alarms on both); a
//! server that failed to answer a question is left out of that comparison.

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::lookup::{Absence, Failure, Lookup};
use crate::observation::{NameserverObservation, Observation};
use std::collections::BTreeMap;

fn label(ns: &NameserverObservation) -> String {
    match ns.address {
        Some(ip) => format!("{} ({ip})", ns.name),
        None => ns.name.clone(),
    }
}

pub static NS_UNREACHABLE: Check = Check {
    id: "NS-UNREACHABLE",
    severity: Severity::Medium,
    title: "A nameserver of the domain does not answer",
    explanation: "One of the domain's NS records names a server that has no address or does not answer on port \
                  53. Resolvers waste time on it before trying the others; if the others fail too, the domain \
                  (and its mail) disappears.",
    fix: "Fix or replace the nameserver, and remove NS records of servers that no longer serve the zone (at the \
          registrar and in the zone).",
    reference: "RFC 1034 §4.1; RFC 2182 §3",
    run: ns_unreachable,
};

fn ns_unreachable(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    obs.nameservers
        .iter()
        .filter(|ns| ns.unreachable())
        .map(|ns| {
            let detail = match ns.address {
                None => format!("{} has no routable address", ns.name),
                Some(_) => {
                    let why = ns
                        .answers
                        .first()
                        .and_then(|a| a.result.failure())
                        .map(|(f, d)| format!("{}: {d}", f.describe()))
                        .unwrap_or_default();
                    format!("no answer from {}: {why}", label(ns))
                }
            };
            Hit::new(obs.domain.display(), detail)
        })
        .collect()
}

pub static NS_LAME: Check = Check {
    id: "NS-LAME",
    severity: Severity::High,
    title: "Lame delegation: a nameserver does not serve the zone",
    explanation: "A server named in the domain's NS records answers, but not as an authority for the domain \
                  (it refuses, fails, or sends a referral). Resolvers that pick it get no answer and try the \
                  others; when they cannot, mail to the domain is delayed or bounces. Lame servers are also \
                  a takeover risk when their name or address changes hands.",
    fix: "Configure the zone on that server, or remove it from the NS records at the registrar and in the zone.",
    reference: "RFC 1912 §2.8; RFC 8499 (lame delegation)",
    run: ns_lame,
};

fn ns_lame(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let soa_question = format!("SOA {}", obs.domain.ascii);
    obs.nameservers
        .iter()
        .filter(|ns| !ns.unreachable())
        .filter_map(|ns| {
            let soa = ns.answer(&soa_question)?;
            let lame = match soa.result.failure().map(|(f, _)| f) {
                Some(Failure::Refused | Failure::ServFail | Failure::ErrorRcode) => true,
                Some(_) => false,
                None => !soa.authoritative,
            };
            lame.then(|| {
                let how = match &soa.result {
                    Lookup::Failed { failure, .. } => failure.describe().to_string(),
                    _ => "answers without the authoritative (AA) flag".to_string(),
                };
                Hit::new(obs.domain.display(), format!("{}: {how}", label(ns)))
            })
        })
        .collect()
}

/// The servers that answered `question` as authorities, with what they said (failures left out).
fn authoritative_views(obs: &Observation, question: &str) -> BTreeMap<String, Vec<String>> {
    let mut views = BTreeMap::new();
    for ns in &obs.nameservers {
        let Some(answer) = ns.answer(question) else {
            continue;
        };
        if !answer.authoritative {
            continue;
        }
        let view = match &answer.result {
            Lookup::Observed { value, .. } => value.clone(),
            Lookup::Absent {
                absence: Absence::NxDomain,
                ..
            } => vec!["(NXDOMAIN)".into()],
            Lookup::Absent { .. } => vec!["(no data)".into()],
            Lookup::Failed { .. } => continue,
        };
        views.insert(label(ns), view);
    }
    views
}

pub static NS_SERIAL_MISMATCH: Check = Check {
    id: "NS-SERIAL-MISMATCH",
    severity: Severity::Low,
    title: "The nameservers serve different versions of the zone (SOA serials differ)",
    explanation: "The authoritative servers report different SOA serial numbers, so at least one has not \
                  received the latest zone (a broken zone transfer or a forgotten server). Until they agree, \
                  resolvers get old or new data depending on the server they ask.",
    fix: "Check zone transfers (NOTIFY/IXFR/AXFR, TSIG keys, ACLs) to the lagging server, or the provisioning \
          of the servers that do not transfer.",
    reference: "RFC 1996; RFC 1982",
    run: ns_serial_mismatch,
};

fn ns_serial_mismatch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let views = authoritative_views(obs, &format!("SOA {}", obs.domain.ascii));
    let serial = |soa: &[String]| {
        soa.first()
            .and_then(|s| s.split_whitespace().nth(2))
            .map(str::to_string)
    };
    let serials: BTreeMap<&String, Option<String>> =
        views.iter().map(|(ns, v)| (ns, serial(v))).collect();
    let mut distinct: Vec<&Option<String>> = serials.values().collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() < 2 {
        return vec![];
    }
    let each: Vec<String> = serials
        .iter()
        .map(|(ns, s)| format!("{ns}: {}", s.as_deref().unwrap_or("?")))
        .collect();
    vec![Hit::new(
        obs.domain.display(),
        format!("SOA serials differ: {}", each.join("; ")),
    )]
}

pub static NS_INCONSISTENT_MX: Check = Check {
    id: "NS-INCONSISTENT-MX",
    severity: Severity::High,
    title: "The nameservers disagree on a mail record",
    explanation: "Asked directly, the domain's authoritative servers return different data for a mail record \
                  (MX, an exchange's address, SPF, _dmarc, _mta-sts, _smtp._tls or TLSA). Senders get one \
                  answer or the other depending on the server their resolver asks: mail goes to two places, \
                  and a change seems to come and go. TTL and record order are not compared.",
    fix: "Bring every nameserver to the same zone (fix transfers, or update the server that was forgotten), \
          then check again.",
    reference: "RFC 1034 §4.3.1; RFC 2182 §3",
    run: ns_inconsistent_mx,
};

fn ns_inconsistent_mx(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut questions: Vec<&str> = obs
        .nameservers
        .iter()
        .flat_map(|ns| ns.answers.iter().map(|a| a.question.as_str()))
        .filter(|q| !q.starts_with("SOA "))
        .collect();
    questions.sort_unstable();
    questions.dedup();
    let mut hits = Vec::new();
    for question in questions {
        let views = authoritative_views(obs, question);
        let mut distinct: Vec<&Vec<String>> = views.values().collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < 2 {
            continue;
        }
        let each: Vec<String> = views
            .iter()
            .map(|(ns, v)| format!("{ns}: {}", v.join(", ")))
            .collect();
        hits.push(Hit::new(
            obs.domain.display(),
            format!("{question}: {}", each.join("; ")),
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::observation::lookup::Failure;
    use crate::observation::{AuthAnswer, NameserverObservation};

    fn ns(name: &str, ip: &str, soa_serial: u32, mx: &[&str]) -> NameserverObservation {
        NameserverObservation {
            name: name.into(),
            address: Some(ip.parse().unwrap()),
            address_failure: None,
            answers: vec![
                AuthAnswer {
                    question: "SOA example.com".into(),
                    authoritative: true,
                    result: observed(
                        vec![format!(
                            "ns1.example.com. h.example.com. {soa_serial} 3600 600 604800 300"
                        )],
                        3600,
                    ),
                },
                AuthAnswer {
                    question: "MX example.com".into(),
                    authoritative: true,
                    result: observed(mx.iter().map(|s| s.to_string()).collect(), 3600),
                },
            ],
        }
    }

    #[test]
    fn agreeing_servers_are_silent_whatever_the_order() {
        let mut obs = healthy();
        obs.nameservers = vec![
            ns(
                "ns1.example.com",
                "192.0.43.53",
                5,
                &["10 mx1.example.com.", "20 mx2.example.net."],
            ),
            ns(
                "ns2.example.net",
                "198.32.64.53",
                5,
                &["10 mx1.example.com.", "20 mx2.example.net."],
            ),
        ];
        assert!(ids(&obs).is_empty(), "{:?}", ids(&obs));
    }

    #[test]
    fn disagreement_serials_lame_and_unreachable() {
        let mut obs = healthy();
        let mut lame = ns("ns3.example.org", "198.32.64.54", 5, &[]);
        lame.answers[0].authoritative = false;
        let mut down = ns("ns4.example.org", "198.32.64.55", 5, &[]);
        for a in &mut down.answers {
            a.result = failed(Failure::Timeout);
        }
        let unresolved = NameserverObservation {
            name: "ns5.gone.example".into(),
            address: None,
            address_failure: None,
            answers: vec![],
        };
        obs.nameservers = vec![
            ns(
                "ns1.example.com",
                "192.0.43.53",
                6,
                &["10 mx1.example.com."],
            ),
            ns(
                "ns2.example.net",
                "198.32.64.53",
                5,
                &["10 mx1.example.com.", "20 mx2.example.net."],
            ),
            lame,
            down,
            unresolved,
        ];
        let found = ids(&obs);
        for id in [
            "NS-INCONSISTENT-MX",
            "NS-SERIAL-MISMATCH",
            "NS-LAME",
            "NS-UNREACHABLE",
        ] {
            assert!(
                found.contains(&id.to_string()),
                "{id} missing from {found:?}"
            );
        }
        assert_eq!(found.iter().filter(|i| *i == "NS-UNREACHABLE").count(), 2);
        assert!(!found.contains(&"DNS-INDETERMINATE".to_string()));
    }
}

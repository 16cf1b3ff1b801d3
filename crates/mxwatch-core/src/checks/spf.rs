//! SPF: is there one valid record, can receivers evaluate it within the limits, does it say
//! anything, and do the domain's own MX hosts pass it?

use super::mail_common::{null_mx, records};
use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::lookup::Lookup;
use crate::records::spf::eval::{LOOKUP_LIMIT, NOBODY, VOID_LIMIT, Verdict};
use crate::records::spf::{self, Mechanism, Qualifier, SpfRecord};
use std::net::IpAddr;

/// The domain's SPF TXT lookup, when collected.
fn spf_lookup(obs: &Observation) -> Option<&Lookup<Vec<String>>> {
    obs.policy.as_ref().map(|p| &p.spf)
}

/// The text of the domain's one SPF record; `None` when missing, several or not looked up.
pub(crate) fn own_record_text(obs: &Observation) -> Option<&str> {
    match records(spf_lookup(obs)?)? {
        [one] => Some(one),
        _ => None,
    }
}

/// The domain's one SPF record, parsed; `None` when missing, several, broken or not looked up.
pub(crate) fn own_record(obs: &Observation) -> Option<SpfRecord> {
    spf::parse(own_record_text(obs)?).ok()
}

pub static SPF_MISSING: Check = Check {
    id: "SPF-MISSING",
    severity: Severity::Medium,
    title: "No SPF record",
    explanation: "Without an SPF record, receivers cannot tell which servers may send mail as the domain: \
                  spoofed mail is not refused on SPF, and DMARC can only rely on DKIM. The domain's own MX hosts \
                  (which send bounces and forwards) are not authorised either.",
    fix: "Publish one TXT record at the domain such as `v=spf1 mx include:<your provider> -all`, listing \
          every service that sends as the domain.",
    reference: "RFC 7208 §3, §4.5",
    run: spf_missing,
};

fn spf_missing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    // A null-MX domain is judged by NULLMX-SPF instead.
    if null_mx(obs) || !spf_lookup(obs).is_some_and(|l| l.is_absent()) {
        return vec![];
    }
    vec![Hit::new(
        obs.domain.display(),
        format!("no TXT record starting \"v=spf1\" at {}", obs.domain.ascii),
    )]
}

pub static SPF_MULTIPLE: Check = Check {
    id: "SPF-MULTIPLE",
    severity: Severity::High,
    title: "More than one SPF record: receivers treat SPF as broken (permerror)",
    explanation: "A domain must publish at most one SPF record. With two, every receiver's SPF check ends in \
                  permerror, so SPF authenticates nothing and DMARC alignment on SPF fails. It usually happens \
                  when a second service's setup guide says to \"add\" a record instead of merging it.",
    fix: "Merge the records into one: a single `v=spf1` with every mechanism, and one `all` at the end.",
    reference: "RFC 7208 §3.2, §4.5",
    run: spf_multiple,
};

fn spf_multiple(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    if let Some(list) = spf_lookup(obs).and_then(records)
        && list.len() > 1
    {
        hits.push(Hit::new(
            obs.domain.display(),
            format!("{} SPF records: {}", list.len(), quoted(list)),
        ));
    }
    if let Some(audit) = obs.spf_audit() {
        for domain in &audit.multiple {
            hits.push(Hit::new(
                domain.clone(),
                format!(
                    "{domain} (included) has more than one SPF record: the include is a permerror"
                ),
            ));
        }
    }
    hits
}

pub static SPF_SYNTAX: Check = Check {
    id: "SPF-SYNTAX",
    severity: Severity::High,
    title: "The SPF record does not parse: receivers treat SPF as broken (permerror)",
    explanation: "A term receivers cannot read (a misspelt mechanism, a bad address or prefix length, a broken \
                  macro) makes the whole record a permerror under RFC 7208, in the domain's record or in any \
                  record it includes. Some receivers skip the bad term instead, so the same mail is judged \
                  differently from one receiver to the next.",
    fix: "Correct the term named in the finding; check the record with the syntax in RFC 7208 §12.",
    reference: "RFC 7208 §4.6, §12",
    run: spf_syntax,
};

fn spf_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    // The record parsed once for every check: only when it did not is it parsed again, for the error.
    if let Some([one]) = spf_lookup(obs).and_then(records)
        && obs.own_spf().is_none()
        && let Err(e) = spf::parse(one)
    {
        hits.push(Hit::new(obs.domain.display(), e.reason));
    }
    if let Some(audit) = obs.spf_audit() {
        for error in &audit.syntax_errors {
            let domain = error.split(':').next().unwrap_or_default().to_string();
            hits.push(Hit::new(domain, format!("included record: {error}")));
        }
    }
    hits
}

pub static SPF_INCLUDE_MISSING: Check = Check {
    id: "SPF-INCLUDE-MISSING",
    severity: Severity::High,
    title: "An include or redirect points at a domain with no SPF record (permerror)",
    explanation: "`include:` and `redirect=` hand the decision to another domain's SPF record. When that domain \
                  publishes none (a provider changed its name, a typo), every receiver's evaluation ends in \
                  permerror, and no mail from the domain passes SPF.",
    fix: "Point the include at the name your provider documents today, or remove it.",
    reference: "RFC 7208 §5.2, §6.1",
    run: spf_include_missing,
};

fn spf_include_missing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    obs.spf_audit()
        .map_or(&[][..], |a| &a.broken_includes)
        .iter()
        .map(|target| Hit::new(target.clone(), format!("{target} publishes no SPF record")))
        .collect()
}

pub static SPF_TOO_MANY_LOOKUPS: Check = Check {
    id: "SPF-TOO-MANY-LOOKUPS",
    severity: Severity::High,
    title: "SPF needs more than 10 DNS lookups: receivers stop with permerror",
    explanation: "Receivers count the terms that cost a DNS lookup (include, a, mx, ptr, exists, redirect) \
                  across the record and everything it includes, and give up with permerror after 10. Large \
                  providers' includes use several each, so adding one more service silently breaks SPF for all \
                  mail. An `mx` term naming more than 10 hosts, and an include loop, fail the same way.",
    fix: "Remove includes of services no longer used, replace `a`/`mx` terms with `ip4:`/`ip6:` networks, or \
          send some services from a subdomain with its own record.",
    reference: "RFC 7208 §4.6.4",
    run: spf_too_many_lookups,
};

fn spf_too_many_lookups(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(audit) = obs.spf_audit() else {
        return vec![];
    };
    let mut hits = Vec::new();
    if audit.lookups() > LOOKUP_LIMIT {
        hits.push(Hit::new(
            obs.domain.display(),
            format!(
                "{} lookups counted across the include tree (limit {LOOKUP_LIMIT}): {}",
                audit.lookups(),
                audit.lookup_terms.join(", ")
            ),
        ));
    }
    for overflow in &audit.overflows {
        hits.push(Hit::new(obs.domain.display(), overflow.clone()));
    }
    hits
}

pub static SPF_VOID_LOOKUPS: Check = Check {
    id: "SPF-VOID-LOOKUPS",
    severity: Severity::Medium,
    title: "More than 2 SPF lookups return nothing: receivers may stop with permerror",
    explanation: "RFC 7208 lets receivers give up after two lookups that return no record (NXDOMAIN or no \
                  data), a defence against abuse. Terms that point at names that no longer exist cost nothing \
                  until there are three of them; then SPF fails for every message at receivers that apply the \
                  limit.",
    fix: "Remove the terms whose names no longer exist (listed in the finding).",
    reference: "RFC 7208 §4.6.4",
    run: spf_void_lookups,
};

fn spf_void_lookups(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    match obs.spf_audit() {
        Some(audit) if audit.voids.len() > VOID_LIMIT => vec![Hit::new(
            obs.domain.display(),
            format!(
                "{} lookups return nothing (limit {VOID_LIMIT}): {}",
                audit.voids.len(),
                audit.voids.join("; ")
            ),
        )],
        _ => vec![],
    }
}

pub static SPF_PERMISSIVE: Check = Check {
    id: "SPF-PERMISSIVE",
    severity: Severity::High,
    title: "SPF authorises any server on the internet",
    explanation: "A `+all` (or an `all` without qualifier), a huge network such as `ip4:0.0.0.0/0`, or an \
                  included record that does either, makes every sender pass SPF as the domain: SPF then helps \
                  spoofers pass DMARC instead of stopping them. mxwatch tests it by evaluating the record for a \
                  documentation address (192.0.2.1) that sends no mail.",
    fix: "End the record with `-all` (or `~all` while DMARC is being rolled out) and list only the networks \
          and providers that send as the domain.",
    reference: "RFC 7208 §5.1, §4.6.2; RFC 5737",
    run: spf_permissive,
};

fn spf_permissive(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(record) = obs.own_spf() else {
        return vec![];
    };
    let mut hits = Vec::new();
    if let Some(all) = record.all()
        && all.qualifier == Qualifier::Pass
    {
        hits.push(Hit::new(
            obs.domain.display(),
            format!("\"{}\" lets every server pass", all.text),
        ));
        return hits;
    }
    for directive in &record.directives {
        let huge = match directive.mechanism {
            Mechanism::Ip4 { prefix, .. } => prefix < 8,
            Mechanism::Ip6 { prefix, .. } => prefix < 24,
            _ => false,
        };
        if huge && directive.qualifier == Qualifier::Pass {
            hits.push(Hit::new(
                obs.domain.display(),
                format!(
                    "\"{}\" authorises a huge share of the internet",
                    directive.text
                ),
            ));
        }
    }
    if hits.is_empty()
        && let Some(answers) = obs.spf_answers()
    {
        for nobody in NOBODY {
            let ip: IpAddr = nobody.parse().expect("literal address");
            if answers.check_host(ip, &obs.domain.ascii) == Verdict::Pass {
                hits.push(Hit::new(
                    obs.domain.display(),
                    format!("{nobody}, a documentation address, passes: an included record authorises everyone"),
                ));
                break;
            }
        }
    }
    hits
}

pub static SPF_NEUTRAL: Check = Check {
    id: "SPF-NEUTRAL",
    severity: Severity::Low,
    title: "SPF never fails anyone (`?all`, or no `all` at all)",
    explanation: "A record ending in `?all`, or with neither `all` nor `redirect=`, gives a neutral result to \
                  every server it does not list: receivers treat that like no SPF, so spoofed mail is not \
                  refused on SPF.",
    fix: "End the record with `-all` (or `~all` while DMARC is being rolled out).",
    reference: "RFC 7208 §4.7, §8.2",
    run: spf_neutral,
};

fn spf_neutral(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(record) = obs.own_spf() else {
        return vec![];
    };
    match record.all() {
        Some(all) if all.qualifier == Qualifier::Neutral => vec![Hit::new(
            obs.domain.display(),
            format!("the record ends in \"{}\"", all.text),
        )],
        None if record.redirect.is_none() => vec![Hit::new(
            obs.domain.display(),
            "the record has no \"all\" and no \"redirect=\": the default result is neutral",
        )],
        _ => vec![],
    }
}

pub static SPF_PTR: Check = Check {
    id: "SPF-PTR",
    severity: Severity::Low,
    title: "SPF uses the deprecated `ptr` mechanism",
    explanation: "`ptr` makes every receiver do reverse and forward DNS lookups for each message; RFC 7208 says \
                  not to use it, and some receivers skip it, so mail it should authorise fails.",
    fix: "Replace `ptr` with the `ip4:`/`ip6:` networks or `a:` names it stands for.",
    reference: "RFC 7208 §5.5",
    run: spf_ptr,
};

fn spf_ptr(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    obs.spf_audit()
        .map_or(&[][..], |a| &a.ptr_terms)
        .iter()
        .map(|term| Hit::new(obs.domain.display(), format!("\"{term}\"")))
        .collect()
}

pub static SPF_MX_NOT_COVERED: Check = Check {
    id: "SPF-MX-NOT-COVERED",
    // Low: it matters when the MX hosts send as the domain; inbound-only gateways never do.
    severity: Severity::Low,
    title: "An MX host of the domain does not pass the domain's own SPF",
    explanation: "MX hosts often send mail as the domain too: auto-replies and forwards with the domain in \
                  MAIL FROM, and (for a backup MX) everything it relays on. When SPF does not authorise them, \
                  that mail fails SPF and may be rejected under DMARC; a secondary MX run by another party is \
                  also a known way to bypass SPF checks on the primary. mxwatch evaluates the domain's SPF for \
                  each MX address, as a receiver would. An inbound-only gateway that never sends as the domain \
                  can ignore this.",
    fix: "Add `mx` to the SPF record (or the MX hosts' `ip4:`/`ip6:` networks, or the provider's include).",
    reference: "RFC 7208 §2.4, §5.4; RFC 5321 §4.5.5",
    run: spf_mx_not_covered,
};

fn spf_mx_not_covered(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    if obs.own_spf().is_none() {
        return vec![];
    }
    let Some(answers) = obs.spf_answers() else {
        return vec![];
    };
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        for address in &exchange.addresses {
            if !crate::ip::is_routable(address.ip, ctx.lab) {
                continue;
            }
            let verdict = answers.check_host(address.ip, &obs.domain.ascii);
            if matches!(
                verdict,
                Verdict::Fail | Verdict::SoftFail | Verdict::Neutral
            ) {
                hits.push(Hit::new(
                    format!("{} ({})", exchange.name, address.ip),
                    format!(
                        "SPF of {} for {} gives {}",
                        obs.domain.ascii,
                        address.ip,
                        verdict.label()
                    ),
                ));
            }
        }
    }
    hits
}

fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|r| format!("\"{}\"", crate::sanitize::for_terminal(r)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;
    use crate::observation::PolicyRecords;
    use crate::observation::lookup::{Failure, Lookup};
    use crate::observation::mailauth::MailAuthObservation;

    fn with_spf(records: &[&str], answers: &[(&str, Lookup<Vec<String>>)]) -> crate::Observation {
        let mut obs = healthy();
        let spf = observed(records.iter().map(|r| r.to_string()).collect(), 300);
        obs.policy = Some(PolicyRecords {
            spf: spf.clone(),
            dmarc: observed(vec!["v=DMARC1; p=reject".into()], 300),
            mta_sts: nodata(),
            tls_rpt: observed(vec!["v=TLSRPTv1; rua=mailto:t@example.com".into()], 300),
        });
        let mut spf_answers: crate::records::spf::eval::Answers = answers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        spf_answers.insert("TXT example.com".into(), spf);
        obs.mail_auth = Some(MailAuthObservation {
            spf_answers,
            ..Default::default()
        });
        obs
    }

    fn spf_ids(obs: &crate::Observation) -> Vec<String> {
        ids(obs)
            .into_iter()
            .filter(|id| id.starts_with("SPF-"))
            .collect()
    }

    #[test]
    fn mx_hosts_outside_spf_are_named_and_a_failed_lookup_names_nobody() {
        // healthy(): mx1.example.com 192.0.43.10 + 2001:500:88:200::10, mx2.example.net 198.32.64.12.
        let obs = with_spf(
            &["v=spf1 ip4:192.0.43.10 ip6:2001:500:88:200::/64 -all"],
            &[],
        );
        assert_eq!(spf_ids(&obs), ["SPF-MX-NOT-COVERED"]);
        let obs = with_spf(
            &["v=spf1 ip4:192.0.43.10 ip6:2001:500:88:200::/64 include:_spf.example.net -all"],
            &[("TXT _spf.example.net", failed(Failure::Timeout))],
        );
        assert!(spf_ids(&obs).is_empty(), "{:?}", ids(&obs));
        assert!(ids(&obs).contains(&"DNS-INDETERMINATE".to_string()));
    }

    #[test]
    fn the_all_qualifier_and_huge_networks() {
        assert_eq!(
            spf_ids(&with_spf(&["v=spf1 +all"], &[])),
            ["SPF-PERMISSIVE"]
        );
        let obs = with_spf(&["v=spf1 ip4:0.0.0.0/0 ip6:::/0 -all"], &[]);
        assert_eq!(spf_ids(&obs), ["SPF-PERMISSIVE", "SPF-PERMISSIVE"]);
        let ids = spf_ids(&with_spf(
            &["v=spf1 ip4:192.0.43.10 ip4:198.32.64.12 ip6:2001:500:88:200::/64"],
            &[],
        ));
        assert_eq!(ids, ["SPF-NEUTRAL"]);
        assert_eq!(
            spf_ids(&with_spf(&["v=spf1 -all", "v=spf1 mx -all"], &[])),
            ["SPF-MULTIPLE"]
        );
    }
}

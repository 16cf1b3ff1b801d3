//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy fetched over HTTPS, and what the
//! policy means for the MX set and its certificates.
//!
//! No STS TXT record means no MTA-STS finding at all: not publishing MTA-STS is a choice these
//! checks do not judge. A fetch that failed for a transient reason (timeout, DNS failure) is
//! "could not determine" (reported by `DNS-INDETERMINATE`), never "no policy".

use super::smtp::probes;
use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::mta_sts::FetchOutcome;
use crate::observation::smtp::StartTls;
use crate::records::mta_sts::{Mode, StsPolicy, mx_matches, parse_policy, parse_sts_records};

/// Items named in one finding's detail; a hostile 64 KiB policy must not make a megabyte report.
const MAX_LISTED: usize = 10;

/// The first [`MAX_LISTED`] items, joined, and how many more there were.
fn listed(items: &[String], separator: &str) -> String {
    let mut out = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(separator);
    if items.len() > MAX_LISTED {
        out.push_str(&format!(
            "{separator}… and {} more",
            items.len() - MAX_LISTED
        ));
    }
    out
}

/// The STS TXT records that were observed (at least one), if any.
pub(crate) fn sts_records(obs: &Observation) -> Option<&[String]> {
    let records = obs.policy.as_ref()?.mta_sts.value()?;
    (!records.is_empty()).then_some(records.as_slice())
}

/// The policy host the fetch went to (for subjects).
fn policy_host(obs: &Observation) -> String {
    format!("mta-sts.{}", obs.domain.ascii)
}

/// The fetched policy text, when the fetch succeeded and an STS record exists.
fn fetched_body(obs: &Observation) -> Option<&str> {
    sts_records(obs)?;
    match &obs.mta_sts_policy.as_ref()?.outcome {
        FetchOutcome::Fetched { body, .. } => Some(body),
        FetchOutcome::Failed { .. } => None,
    }
}

/// The fetched policy parsed, or its problems; `None` when there is no fetched policy. Checks read
/// it once per report: [`Subject::sts_policy`].
pub(super) fn parse_fetched(obs: &Observation) -> Option<Result<StsPolicy, Vec<String>>> {
    Some(parse_policy(fetched_body(obs)?))
}

/// The policy, when it was fetched and parsed.
fn policy<'s>(obs: &'s Subject) -> Option<&'s StsPolicy> {
    obs.sts_policy()?.as_ref().ok()
}

pub static MTASTS_TXT_SYNTAX: Check = Check {
    id: "MTASTS-TXT-SYNTAX",
    severity: Severity::Medium,
    title: "The _mta-sts TXT record is invalid: senders ignore the MTA-STS policy",
    explanation: "The `_mta-sts` TXT record tells senders that an MTA-STS policy exists and, by its `id`, when it \
                  changed. It must be exactly one record of the form `v=STSv1; id=<1 to 32 letters or digits>`. \
                  When it is malformed, or when there is more than one, senders assume the domain has no \
                  MTA-STS policy, and the protection against downgrade attacks is silently off.",
    fix: "Publish exactly one TXT record at `_mta-sts.<domain>`: `v=STSv1; id=20260101T000000` (change the id \
          whenever the policy changes).",
    reference: "RFC 8461 §3.1",
    run: mtasts_txt_syntax,
};

fn mtasts_txt_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(records) = sts_records(obs) else {
        return vec![];
    };
    match parse_sts_records(records) {
        Ok(_) => vec![],
        Err(reason) => vec![Hit::new(
            format!("_mta-sts.{}", obs.domain.ascii),
            format!("{reason} (published: {})", quote_all(records)),
        )],
    }
}

fn quote_all(records: &[String]) -> String {
    records
        .iter()
        .map(|r| format!("{:?}", crate::sanitize::for_terminal(r)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub static MTASTS_POLICY_FETCH: Check = Check {
    id: "MTASTS-POLICY-FETCH",
    severity: Severity::Medium,
    title: "The MTA-STS policy cannot be fetched over HTTPS",
    explanation: "A `_mta-sts` TXT record announces a policy, but `https://mta-sts.<domain>/.well-known/mta-sts.txt` \
                  does not deliver it: the host has no address, refuses the connection, presents a certificate \
                  that is not valid for `mta-sts.<domain>` (untrusted, expired, wrong name), answers with a \
                  status other than 200 (redirects must not be followed), serves another media type than \
                  text/plain, or sends an oversized body. Senders without a cached policy then treat the domain \
                  as having none; those with a cached one keep using it until max_age runs out. (A timeout or \
                  a DNS failure is reported as could-not-determine instead.)",
    fix: "Serve the policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt` with a publicly trusted \
          certificate for `mta-sts.<domain>`, status 200, `Content-Type: text/plain`, and no redirect; or \
          remove the `_mta-sts` TXT record if MTA-STS is abandoned.",
    reference: "RFC 8461 §3.2, §3.3",
    run: mtasts_policy_fetch,
};

fn mtasts_policy_fetch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    if sts_records(obs).is_none() {
        return vec![];
    }
    let Some(fetch) = &obs.mta_sts_policy else {
        return vec![];
    };
    match &fetch.outcome {
        FetchOutcome::Failed { failure, detail } if !failure.is_transient() => {
            vec![Hit::new(
                fetch.url.clone(),
                format!(
                    "{}: {}",
                    failure.describe(),
                    crate::sanitize::for_terminal(detail)
                ),
            )]
        }
        _ => vec![],
    }
}

pub static MTASTS_POLICY_SYNTAX: Check = Check {
    id: "MTASTS-POLICY-SYNTAX",
    severity: Severity::Medium,
    title: "The MTA-STS policy file is invalid: senders ignore it",
    explanation: "The policy was fetched but does not follow RFC 8461 §3.2: lines of `key: value` with \
                  `version: STSv1`, `mode: enforce|testing|none`, `max_age` (0 to 31557600 seconds) and one \
                  `mx` line per allowed MX pattern (required unless the mode is none; a wildcard only as the \
                  whole leftmost label). Senders discard a policy they cannot parse, so the domain has no \
                  MTA-STS protection.",
    fix: "Correct the policy file; a minimal valid one is:\n`version: STSv1` / `mode: enforce` / \
          `mx: mx1.example.com` / `max_age: 604800` (one per line), then change the id in the TXT record.",
    reference: "RFC 8461 §3.2",
    run: mtasts_policy_syntax,
};

fn mtasts_policy_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(parsed) = obs.sts_policy() else {
        return vec![];
    };
    let not_utf8 = matches!(
        obs.mta_sts_policy.as_ref().map(|f| &f.outcome),
        Some(FetchOutcome::Fetched { not_utf8: true, .. })
    );
    let mut problems = match parsed {
        Ok(_) => vec![],
        Err(errors) => errors.clone(),
    };
    if not_utf8 {
        problems.insert(0, "the body is not valid UTF-8".into());
    }
    if problems.is_empty() {
        return vec![];
    }
    vec![Hit::new(
        policy_host(obs),
        crate::sanitize::for_terminal(&listed(&problems, "; ")),
    )]
}

pub static MTASTS_MX_MISMATCH: Check = Check {
    id: "MTASTS-MX-MISMATCH",
    severity: Severity::High,
    title: "An MX host is not matched by any mx pattern of the MTA-STS policy",
    explanation: "Senders that apply the policy deliver only to MX hosts that match one of its `mx` patterns \
                  (exactly, or `*.` for one leftmost label). In enforce mode mail to an unmatched MX is not \
                  delivered at all; in testing mode it is reported as a failure. A forgotten backup MX or a new \
                  provider is the usual cause.",
    fix: "Add an `mx:` line for the host (or a `*.` pattern for its parent domain) to the policy, change the \
          id in the TXT record, or point the MX at a host the policy already lists.",
    reference: "RFC 8461 §4.1",
    run: mtasts_mx_mismatch,
};

fn mtasts_mx_mismatch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(policy) = policy(obs) else {
        return vec![];
    };
    if policy.mode == Mode::None {
        return vec![];
    }
    let Some(records) = obs.mx.value() else {
        return vec![];
    };
    let mut seen = std::collections::BTreeSet::new();
    records
        .iter()
        .filter(|r| !r.is_null())
        .filter(|r| seen.insert(r.exchange.clone()))
        .filter(|r| !policy.mx.iter().any(|p| mx_matches(p, &r.exchange)))
        .map(|r| {
            Hit::new(
                exchange_label(&r.exchange),
                format!(
                    "not matched by any of the patterns {} (mode {})",
                    crate::sanitize::for_terminal(&listed(&policy.mx, ", ")),
                    policy.mode.as_str()
                ),
            )
        })
        .collect()
}

pub static MTASTS_TESTING: Check = Check {
    id: "MTASTS-TESTING",
    severity: Severity::Low,
    title: "The MTA-STS policy is not enforced (mode testing or none)",
    explanation: "In testing mode senders check the MX names and certificates and report failures (TLS-RPT), \
                  but deliver anyway, so an attacker can still downgrade or redirect the mail. Mode none \
                  withdraws the policy. Testing is the right first step; enforce is the goal.",
    fix: "Once TLS-RPT reports show no failures, set `mode: enforce` in the policy and change the id in the \
          TXT record.",
    reference: "RFC 8461 §5",
    run: mtasts_testing,
};

fn mtasts_testing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(policy) = policy(obs) else {
        return vec![];
    };
    let detail = match policy.mode {
        Mode::Enforce => return vec![],
        Mode::Testing => {
            "mode testing: failures are only reported, mail is delivered without the protection"
        }
        Mode::None => {
            "mode none: the policy is withdrawn and senders stop applying MTA-STS (if MTA-STS is \
             abandoned, remove the TXT record once max_age has run out)"
        }
    };
    vec![Hit::new(policy_host(obs), detail)]
}

pub static MTASTS_CERT: Check = Check {
    id: "MTASTS-CERT",
    severity: Severity::High,
    title: "Under the enforced MTA-STS policy, an MX fails the TLS check: mail to it bounces",
    explanation: "With `mode: enforce`, senders deliver only over TLS to an MX whose certificate is valid for \
                  the MX name and chains to a trusted root, within its validity dates. An MX without STARTTLS, \
                  with a failing handshake, or with an untrusted, expired or wrongly named certificate receives \
                  no mail from those senders (they queue and finally bounce it).",
    fix: "Give the MX a publicly trusted, current certificate that names the MX host, and working STARTTLS; or \
          set the policy to `mode: testing` until that is done.",
    reference: "RFC 8461 §4.2, §5",
    run: mtasts_cert,
};

fn mtasts_cert(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    let Some(policy) = policy(obs) else {
        return vec![];
    };
    if policy.mode != Mode::Enforce {
        return vec![];
    }
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        for (ip, probe) in probes(exchange) {
            let mut problems = Vec::new();
            match &probe.starttls {
                StartTls::NotReached | StartTls::Established => {}
                StartTls::NotOffered => problems.push("no STARTTLS".to_string()),
                StartTls::Refused { reply } => {
                    problems.push(format!("STARTTLS refused ({})", reply.one_line()))
                }
                StartTls::HandshakeFailed { detail, .. } => {
                    problems.push(format!("the TLS handshake fails ({detail})"))
                }
            }
            if let Some(verdict) = &probe.verdict {
                if !verdict.trusted {
                    problems.push("the certificate does not chain to a trusted root".into());
                }
                // A dialogue held for another exchange name sent another SNI: judge names only on our own.
                if !verdict.name_matches && probe.shared_with.is_none() {
                    problems.push(format!(
                        "the certificate is not valid for {}",
                        exchange.name
                    ));
                }
            }
            if let Some(leaf) = probe.certificates.first() {
                if leaf.not_after < ctx.now_unix {
                    problems.push("the certificate has expired".into());
                } else if leaf.not_before > ctx.now_unix {
                    problems.push("the certificate is not valid yet".into());
                }
            }
            if !problems.is_empty() {
                hits.push(Hit::new(
                    format!("{} ({ip})", exchange_label(&exchange.name)),
                    crate::sanitize::for_terminal(&problems.join("; ")),
                ));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::observation::lookup::Failure;
    use crate::observation::mta_sts::{FetchFailure, FetchOutcome, PolicyFetch};
    use crate::observation::smtp::*;
    use crate::observation::{Observation, PolicyRecords};

    const MTASTS_IDS: &[&str] = &[
        "MTASTS-TXT-SYNTAX",
        "MTASTS-POLICY-FETCH",
        "MTASTS-POLICY-SYNTAX",
        "MTASTS-MX-MISMATCH",
        "MTASTS-TESTING",
        "MTASTS-CERT",
    ];

    fn sts_ids(obs: &Observation) -> Vec<String> {
        ids(obs)
            .into_iter()
            .filter(|id| id.starts_with("MTASTS-") || id == "DNS-INDETERMINATE")
            .collect()
    }

    fn with_sts(txt: &[&str], outcome: Option<FetchOutcome>) -> Observation {
        let mut obs = healthy();
        obs.policy = Some(PolicyRecords {
            spf: nodata(),
            dmarc: nodata(),
            mta_sts: if txt.is_empty() {
                nxdomain()
            } else {
                observed(txt.iter().map(|s| s.to_string()).collect(), 300)
            },
            tls_rpt: nodata(),
        });
        obs.mta_sts_policy = outcome.map(|outcome| PolicyFetch {
            url: "https://mta-sts.example.com/.well-known/mta-sts.txt".into(),
            addresses: vec!["192.0.2.80".parse().unwrap()],
            outcome,
            elapsed_ms: 5,
        });
        obs
    }

    fn fetched(body: &str) -> Option<FetchOutcome> {
        Some(FetchOutcome::Fetched {
            content_type: "text/plain".into(),
            body: body.into(),
            not_utf8: false,
        })
    }

    fn failed(failure: FetchFailure) -> Option<FetchOutcome> {
        Some(FetchOutcome::Failed {
            failure,
            detail: "injected".into(),
        })
    }

    const ENFORCE: &str =
        "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 604800\n";

    #[test]
    fn a_healthy_enforced_policy_is_silent() {
        assert!(sts_ids(&with_sts(&["v=STSv1; id=1"], fetched(ENFORCE))).is_empty());
    }

    #[test]
    fn no_txt_record_means_no_mta_sts_finding() {
        // Even with a fetch recorded (it never is without a TXT record), nothing is said.
        assert!(sts_ids(&with_sts(&[], failed(FetchFailure::HttpStatus))).is_empty());
        let mut obs = with_sts(&[], None);
        obs.policy.as_mut().unwrap().mta_sts = failed_lookup();
        // A failed TXT lookup is "could not determine" (DNS-INDETERMINATE), never an MTA-STS finding.
        assert_eq!(sts_ids(&obs), ["DNS-INDETERMINATE"]);
    }

    fn failed_lookup() -> crate::observation::lookup::Lookup<Vec<String>> {
        super::super::testkit::failed(Failure::Timeout)
    }

    #[test]
    fn txt_syntax() {
        let obs = with_sts(&["v=STSv1; id="], fetched(ENFORCE));
        assert_eq!(sts_ids(&obs), ["MTASTS-TXT-SYNTAX"]);
        let two = with_sts(&["v=STSv1; id=1", "v=STSv1; id=2"], fetched(ENFORCE));
        assert_eq!(sts_ids(&two), ["MTASTS-TXT-SYNTAX"]);
    }

    #[test]
    fn definite_fetch_failures_are_findings_and_transient_ones_indeterminate() {
        for failure in [
            FetchFailure::NoAddress,
            FetchFailure::NotRoutable,
            FetchFailure::ConnectRefused,
            FetchFailure::Tls,
            FetchFailure::HttpStatus,
            FetchFailure::Redirect,
            FetchFailure::ContentType,
            FetchFailure::TooLarge,
        ] {
            let obs = with_sts(&["v=STSv1; id=1"], failed(failure));
            assert_eq!(sts_ids(&obs), ["MTASTS-POLICY-FETCH"], "{failure:?}");
        }
        for failure in [
            FetchFailure::Timeout,
            FetchFailure::Dns,
            FetchFailure::Network,
        ] {
            let obs = with_sts(&["v=STSv1; id=1"], failed(failure));
            assert_eq!(sts_ids(&obs), ["DNS-INDETERMINATE"], "{failure:?}");
        }
        // Not fetched (--no-probe): nothing to say about the policy.
        assert!(sts_ids(&with_sts(&["v=STSv1; id=1"], None)).is_empty());
    }

    #[test]
    fn policy_syntax_names_the_reason() {
        let obs = with_sts(
            &["v=STSv1; id=1"],
            fetched("version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 99999999999\n"),
        );
        let findings = crate::checks::run_all(&obs, &Default::default());
        let f = findings
            .iter()
            .find(|f| f.id == "MTASTS-POLICY-SYNTAX")
            .unwrap();
        assert!(f.detail.contains("max_age 99999999999 exceeds 31557600"));
        // An unparsable policy says nothing about the MX set or mode.
        assert_eq!(sts_ids(&obs), ["MTASTS-POLICY-SYNTAX"]);
    }

    #[test]
    fn every_mx_must_match_a_pattern() {
        let policy = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 86400\n";
        let obs = with_sts(&["v=STSv1; id=1"], fetched(policy));
        let findings = crate::checks::run_all(&obs, &Default::default());
        let hits: Vec<_> = findings
            .iter()
            .filter(|f| f.id == "MTASTS-MX-MISMATCH")
            .collect();
        assert_eq!(hits.len(), 1);
        assert!(hits[0].subject.contains("mx2.example.net"));
    }

    #[test]
    fn testing_and_none_modes() {
        let testing = ENFORCE.replace("enforce", "testing");
        assert_eq!(
            sts_ids(&with_sts(&["v=STSv1; id=1"], fetched(&testing))),
            ["MTASTS-TESTING"]
        );
        let none = "version: STSv1\nmode: none\nmax_age: 86400\n";
        assert_eq!(
            sts_ids(&with_sts(&["v=STSv1; id=1"], fetched(none))),
            ["MTASTS-TESTING"]
        );
    }

    fn probe(starttls: StartTls, verdict: Option<CertVerdict>) -> SmtpProbe {
        SmtpProbe {
            port: 25,
            connect: Connect::Connected { ms: 1 },
            greeting: Some(Reply {
                code: 220,
                lines: vec!["mx ESMTP".into()],
            }),
            greeting_ms: Some(1),
            ehlo: None,
            helo_fallback: false,
            starttls,
            tls: None,
            certificates: vec![],
            verdict,
            relay: None,
            error: None,
            elapsed_ms: 1,
            shared_with: None,
        }
    }

    #[test]
    fn enforce_needs_valid_tls_on_every_mx() {
        let mut obs = with_sts(&["v=STSv1; id=1"], fetched(ENFORCE));
        let good = CertVerdict {
            trusted: true,
            trust_failure: None,
            trust_detail: None,
            name_matches: true,
        };
        obs.exchanges[0].addresses[0].smtp = Some(probe(StartTls::Established, Some(good.clone())));
        obs.exchanges[1].addresses[0].smtp = Some(probe(
            StartTls::Established,
            Some(CertVerdict {
                name_matches: false,
                ..good.clone()
            }),
        ));
        let cert_hits: Vec<_> = crate::checks::run_all(&obs, &Default::default())
            .into_iter()
            .filter(|f| f.id == "MTASTS-CERT")
            .collect();
        assert_eq!(cert_hits.len(), 1);
        assert!(cert_hits[0].subject.contains("mx2.example.net"));
        assert!(
            cert_hits[0]
                .detail
                .contains("not valid for mx2.example.net")
        );

        obs.exchanges[1].addresses[0].smtp = Some(probe(StartTls::NotOffered, None));
        assert!(ids(&obs).contains(&"MTASTS-CERT".to_string()));
        // Unreached (a timeout) is not "no TLS"; not probed (--no-probe) says nothing.
        obs.exchanges[1].addresses[0].smtp = Some(probe(StartTls::NotReached, None));
        assert!(!ids(&obs).contains(&"MTASTS-CERT".to_string()));
        obs.exchanges[1].addresses[0].smtp = None;
        assert!(!ids(&obs).contains(&"MTASTS-CERT".to_string()));

        // In testing mode the same bad MX is not MTASTS-CERT (mail is still delivered).
        let testing = ENFORCE.replace("enforce", "testing");
        let mut t = with_sts(&["v=STSv1; id=1"], fetched(&testing));
        t.exchanges[1].addresses[0].smtp = Some(probe(StartTls::NotOffered, None));
        assert!(!ids(&t).contains(&"MTASTS-CERT".to_string()));
    }

    #[test]
    fn a_huge_hostile_policy_gives_a_bounded_report() {
        let mut body = String::from("version: STSv1\nmode: enforce\nmax_age: 86400\n");
        while body.len() < crate::records::mta_sts::MAX_POLICY_BYTES - 40 {
            body.push_str("mx: other.example.org\nbad line\n");
        }
        let obs = with_sts(&["v=STSv1; id=1"], fetched(&body));
        let findings = crate::checks::run_all(&obs, &Default::default());
        let syntax = findings
            .iter()
            .find(|f| f.id == "MTASTS-POLICY-SYNTAX")
            .unwrap();
        assert!(syntax.detail.len() < 2000, "{}", syntax.detail.len());
        assert!(syntax.detail.contains("more"));
        let fixed = body.replace("bad line\n", "");
        let obs = with_sts(&["v=STSv1; id=1"], fetched(&fixed));
        for f in crate::checks::run_all(&obs, &Default::default()) {
            assert!(f.detail.len() < 2000, "{}: {}", f.id, f.detail.len());
        }
    }

    #[test]
    fn every_mtasts_id_is_registered_and_a_contract() {
        for id in MTASTS_IDS {
            assert!(crate::checks::find(id).is_some(), "{id}");
            assert!(crate::checks::CONTRACT_IDS.contains(id), "{id}");
        }
    }
}

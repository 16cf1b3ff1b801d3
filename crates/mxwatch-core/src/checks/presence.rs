//! Does the domain say where its mail goes at all? No MX, implicit MX, null MX.

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::lookup::Absence;

pub static MX_NONE: Check = Check {
    id: "MX-NONE",
    severity: Severity::High,
    title: "No MX and no address: the domain cannot receive mail",
    explanation: "The domain publishes no MX record, and has no A or AAAA record a sender could fall back to, \
                  so every message sent to it bounces. If the domain is meant to receive no mail, say so with a \
                  null MX so senders fail fast and clearly.",
    fix: "Publish MX records naming your mail servers, or `MX 0 .` (null MX, RFC 7505) if the domain takes no mail.",
    reference: "RFC 5321 §5.1; RFC 7505",
    run: mx_none,
};

fn mx_none(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let subject = obs.domain.display();
    match obs.mx.absence() {
        Some(Absence::NxDomain) => vec![Hit::new(subject, "the domain does not exist (NXDOMAIN)")],
        Some(Absence::NoData) => match &obs.implicit {
            Some(implicit) if implicit.definitely_none() => vec![Hit::new(
                subject,
                "no MX record, and neither an A nor an AAAA record at the domain",
            )],
            _ => vec![],
        },
        None => vec![],
    }
}

pub static MX_IMPLICIT: Check = Check {
    id: "MX-IMPLICIT",
    severity: Severity::Medium,
    title: "No MX: mail falls back to the domain's own address (implicit MX)",
    explanation: "With no MX record, senders deliver to the A/AAAA address of the domain itself. That is often a \
                  web server that does not run SMTP, so mail is delayed for days and then bounces; when it does run \
                  SMTP, mail routing silently follows every change of the web hosting.",
    fix: "Publish MX records naming your mail servers, or `MX 0 .` (null MX) if the domain takes no mail.",
    reference: "RFC 5321 §5.1",
    run: mx_implicit,
};

fn mx_implicit(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    if obs.mx.absence() != Some(Absence::NoData) {
        return vec![];
    }
    let Some(implicit) = &obs.implicit else {
        return vec![];
    };
    let addresses = implicit.addresses();
    if addresses.is_empty() {
        return vec![];
    }
    let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    vec![Hit::new(
        obs.domain.display(),
        format!("no MX record; senders will deliver to {}", list.join(", ")),
    )]
}

pub static MX_NULL: Check = Check {
    id: "MX-NULL",
    severity: Severity::Info,
    title: "Null MX: the domain declares that it accepts no mail",
    explanation: "A single `MX 0 .` record tells senders that the domain receives no mail, so they bounce at once \
                  instead of retrying. This is correct for domains that never receive mail; make sure it is \
                  intended.",
    fix: "Nothing, if the domain takes no mail. Pair it with `v=spf1 -all` and a DMARC `p=reject` record.",
    reference: "RFC 7505 §3",
    run: mx_null,
};

fn mx_null(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    match obs.mx.value() {
        Some(records)
            if records.len() == 1 && records[0].is_null() && records[0].preference == 0 =>
        {
            vec![Hit::new(
                obs.domain.display(),
                "the only MX record is `0 .`",
            )]
        }
        _ => vec![],
    }
}

pub static MX_NULL_MIXED: Check = Check {
    id: "MX-NULL-MIXED",
    severity: Severity::High,
    title: "Malformed null MX: beside other MX records, or with a non-zero preference",
    explanation: "A null MX must be the only MX record of the domain and have preference 0. Beside other records, \
                  senders disagree: some bounce everything, some ignore the null MX, some try to deliver to a host \
                  named \".\". The domain's intent is unreadable.",
    fix: "Either remove the `.` record (the domain receives mail) or remove every other MX record and use \
          `MX 0 .` (it does not).",
    reference: "RFC 7505 §3",
    run: mx_null_mixed,
};

fn mx_null_mixed(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(records) = obs.mx.value() else {
        return vec![];
    };
    let nulls: Vec<_> = records.iter().filter(|r| r.is_null()).collect();
    if nulls.is_empty() {
        return vec![];
    }
    let mut problems = Vec::new();
    let others = records.len() - nulls.len();
    if others > 0 {
        problems.push(format!(
            "a null MX is published beside {others} other MX record(s)"
        ));
    }
    for null in nulls.iter().filter(|r| r.preference != 0) {
        problems.push(format!(
            "the null MX has preference {} instead of 0",
            null.preference
        ));
    }
    if problems.is_empty() {
        return vec![];
    }
    vec![Hit::new(obs.domain.display(), problems.join("; "))]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::observation::AddressLookups;
    use crate::observation::lookup::Failure;

    #[test]
    fn healthy_domain_is_silent() {
        assert!(ids(&healthy()).is_empty(), "{:?}", ids(&healthy()));
    }

    #[test]
    fn no_mx_no_address_is_mx_none() {
        let obs = domain("example.com", &[]);
        assert_eq!(ids(&obs), ["MX-NONE"]);
        let mut gone = domain("example.com", &[]);
        gone.mx = nxdomain();
        gone.implicit = None;
        assert!(ids(&gone).contains(&"MX-NONE".to_string()));
    }

    #[test]
    fn no_mx_with_address_is_implicit() {
        let mut obs = domain("example.com", &[]);
        obs.implicit = Some(AddressLookups {
            a: observed(vec!["192.0.43.10".parse().unwrap()], 300),
            aaaa: nodata(),
        });
        assert_eq!(ids(&obs), ["MX-IMPLICIT"]);
    }

    #[test]
    fn a_failed_mx_lookup_is_never_missing() {
        let mut obs = domain("example.com", &[]);
        obs.mx = failed(Failure::Timeout);
        obs.implicit = None;
        assert_eq!(ids(&obs), ["DNS-INDETERMINATE"]);
        let mut obs = domain("example.com", &[]);
        obs.implicit = Some(AddressLookups {
            a: failed(Failure::ServFail),
            aaaa: nodata(),
        });
        assert_eq!(ids(&obs), ["DNS-INDETERMINATE"]);
    }

    #[test]
    fn null_mx_forms() {
        assert_eq!(ids(&domain("example.com", &[(0, ".", &[])])), ["MX-NULL"]);
        assert_eq!(
            ids(&domain("example.com", &[(10, ".", &[])])),
            ["MX-NULL-MIXED"]
        );
        let mixed = domain(
            "example.com",
            &[(0, ".", &[]), (10, "mx.example.net", &["198.32.64.12"])],
        );
        let found = ids(&mixed);
        assert!(found.contains(&"MX-NULL-MIXED".to_string()), "{found:?}");
        assert!(!found.contains(&"MX-NULL".to_string()));
    }
}

//! Registration, as RDAP tells it: the domain's own and its MX providers' domains, seen before
//! they lapse. Only answers that were had are judged: an RDAP failure (timeout, 429, 5xx, a body
//! that is not a domain object) is `DNS-INDETERMINATE`, never an expiry or a missing lock.

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::rdap::DomainRegistration;
use crate::records::rdap::RegistrationRecord;

/// The registrations RDAP answered, with their records.
fn answered(obs: &Observation) -> impl Iterator<Item = (&DomainRegistration, &RegistrationRecord)> {
    obs.rdap
        .iter()
        .flat_map(|r| r.domains.iter())
        .filter_map(|d| d.record().map(|record| (d, record)))
}

/// The domain receives mail: a non-null MX, or no MX and an address (the implicit MX).
fn carries_mail(obs: &Observation) -> bool {
    let has_mx = obs
        .mx
        .value()
        .is_some_and(|records| records.iter().any(|r| !r.is_null()));
    let implicit = obs
        .implicit
        .as_ref()
        .is_some_and(|i| !i.addresses().is_empty());
    has_mx || implicit
}

/// "expires on 2026-12-14 (in 21 days)" or "expired on … (9 days ago)", and the registrar.
fn expiry_text(record: &RegistrationRecord, expires: i64, now: i64) -> String {
    let days = (expires - now).div_euclid(86_400);
    let when = if expires < now {
        format!(
            "expired on {} ({} days ago)",
            crate::utc::date(expires),
            -days
        )
    } else {
        format!("expires on {} (in {days} days)", crate::utc::date(expires))
    };
    match &record.registrar {
        Some(registrar) => format!(
            "{when}; registrar: {}",
            crate::sanitize::for_terminal(registrar)
        ),
        None => when,
    }
}

/// The expiry is within the warning window (or past), and the domain is not already being deleted
/// (that is `REG-REDEMPTION`).
fn expiring(record: &RegistrationRecord, ctx: &CheckContext) -> Option<i64> {
    let expires = record.expires_unix?;
    let window = i64::from(ctx.registration_expiry_days) * 86_400;
    (expires - ctx.now_unix < window && record.deletion_statuses().is_empty()).then_some(expires)
}

pub static REG_EXPIRING: Check = Check {
    id: "REG-EXPIRING",
    severity: Severity::High,
    title: "The domain's registration expires soon",
    explanation: "The registry says the domain's registration ends within the warning window. When it lapses, \
                  the registry withdraws its delegation: mail to the domain bounces, and after the grace and \
                  redemption periods anyone may register the name and receive its mail.",
    fix: "Renew the registration (and turn on auto-renewal with a payment method that will still be valid).",
    reference: "RFC 9083 §4.5 (expiration event); ICANN Expired Registration Recovery Policy",
    run: reg_expiring,
};

fn reg_expiring(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    expiring_hits(obs, ctx, |d| d.own, |d| d.domain.clone())
}

/// The registrations `which` picks that expire within the window, each said as `whose` it is.
fn expiring_hits(
    obs: &Observation,
    ctx: &CheckContext,
    which: fn(&DomainRegistration) -> bool,
    whose: fn(&DomainRegistration) -> String,
) -> Vec<Hit> {
    answered(obs)
        .filter(|(d, _)| which(d))
        .filter_map(|(d, record)| {
            let expires = expiring(record, ctx)?;
            Some(Hit::new(
                d.domain.clone(),
                format!(
                    "{} {}",
                    whose(d),
                    expiry_text(record, expires, ctx.now_unix)
                ),
            ))
        })
        .collect()
}

pub static REG_MX_EXPIRING: Check = Check {
    id: "REG-MX-EXPIRING",
    severity: Severity::High,
    title: "An MX provider's domain expires soon: its mail hosts can then be taken over",
    explanation: "An exchange of the MX set lies in a domain whose registration ends within the warning window. \
                  If it lapses, the exchange stops resolving and, once the domain is released, whoever registers \
                  it can publish the exchange's address and receive this domain's mail: the takeover of \
                  MX-TARGET-UNREGISTERED, seen weeks ahead.",
    fix: "Ask the provider to renew, or move the MX records to hosts in a domain that is not lapsing.",
    reference: "RFC 9083 §4.5 (expiration event); RFC 5321 §5.1",
    run: reg_mx_expiring,
};

fn reg_mx_expiring(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    expiring_hits(obs, ctx, |d| !d.own && !d.exchanges.is_empty(), provider)
}

/// "example.net (the domain of mx1.example.net, mx2.example.net)".
fn provider(d: &DomainRegistration) -> String {
    format!("{} (the domain of {})", d.domain, d.exchanges.join(", "))
}

pub static REG_NO_LOCK: Check = Check {
    id: "REG-NO-LOCK",
    severity: Severity::Medium,
    title: "The domain has no registrar lock",
    explanation: "The registry lists neither a transfer lock nor an update lock (`client transfer prohibited`, \
                  `client update prohibited`, or the registry's `server …` equivalents) on a domain that \
                  receives mail. Nothing then stops a transfer to another registrar or a change of nameservers \
                  made from a compromised registrar account or by a social-engineered support desk, which \
                  re-points the MX records and the mail with them.",
    fix: "Turn on the registrar lock (transfer and update) in the registrar's control panel; for a domain whose \
          mail matters, ask for a registry lock (`server transfer prohibited`, `server update prohibited`).",
    reference: "RFC 9083 §4.6; RFC 8056 §2 (EPP status mapping); RFC 5731 §2.3",
    run: reg_no_lock,
};

fn reg_no_lock(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    if !carries_mail(obs) {
        return vec![];
    }
    answered(obs)
        .filter(|(d, record)| d.own && record.locks().is_empty())
        .map(|(d, record)| {
            let status = if record.status.is_empty() {
                "no status values".to_string()
            } else {
                crate::sanitize::for_terminal(&record.status.join(", "))
            };
            Hit::new(
                d.domain.clone(),
                format!(
                    "{} is not locked at its registry (status: {status})",
                    d.domain
                ),
            )
        })
        .collect()
}

pub static REG_REDEMPTION: Check = Check {
    id: "REG-REDEMPTION",
    severity: Severity::Critical,
    title: "A domain the mail depends on is in redemption or pending deletion",
    explanation: "The registry lists the domain, or the domain of one of its exchanges, as `redemption period` or \
                  `pending delete`: the registration has expired and the name is about to be released. In \
                  redemption it can still be restored (at a fee); once pending delete, it is released within days \
                  and anyone may register it and receive the mail.",
    fix: "Restore the registration with the registrar now (redemption), or move the MX records away from a \
          provider domain that is being deleted.",
    reference: "RFC 3915 §3.1; RFC 9083 §4.6; RFC 8056 §2",
    run: reg_redemption,
};

fn reg_redemption(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    answered(obs)
        .filter(|(d, _)| d.own || !d.exchanges.is_empty())
        .filter_map(|(d, record)| {
            let statuses = record.deletion_statuses();
            if statuses.is_empty() {
                return None;
            }
            let whose = if d.own { d.domain.clone() } else { provider(d) };
            Some(Hit::new(
                d.domain.clone(),
                format!(
                    "{whose} has status {}",
                    crate::sanitize::for_terminal(&statuses.join(", "))
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::observation::rdap::{RdapFailure, RdapObservation, RdapOutcome};

    fn with(domains: Vec<DomainRegistration>) -> Observation {
        let mut obs = healthy();
        obs.rdap = Some(RdapObservation { domains });
        obs
    }

    fn reg_ids(obs: &Observation) -> Vec<String> {
        ids(obs)
            .into_iter()
            .filter(|id| id.starts_with("REG-"))
            .collect()
    }

    #[test]
    fn a_healthy_registration_is_silent() {
        assert!(reg_ids(&full_observation()).is_empty());
        let obs = with(vec![
            registered("example.com", true, &["mx1.example.com"], 31, LOCKED),
            registered("example.net", false, &["mx2.example.net"], 31, LOCKED),
        ]);
        assert!(reg_ids(&obs).is_empty());
    }

    #[test]
    fn each_case_fires_its_own_id() {
        let obs = with(vec![registered("example.com", true, &[], 10, LOCKED)]);
        assert_eq!(reg_ids(&obs), ["REG-EXPIRING"]);
        let hit = &reg_expiring(&Subject::new(&obs), &CheckContext::default())[0];
        assert_eq!(
            hit.detail,
            "example.com expires on 2026-12-03 (in 10 days); registrar: Example Registrar"
        );

        let obs = with(vec![
            registered("example.com", true, &[], 400, LOCKED),
            registered("example.net", false, &["mx2.example.net"], 5, LOCKED),
        ]);
        assert_eq!(reg_ids(&obs), ["REG-MX-EXPIRING"]);

        let obs = with(vec![registered("example.com", true, &[], 400, &["active"])]);
        assert_eq!(reg_ids(&obs), ["REG-NO-LOCK"]);
        // One lock of either kind, the registrar's or the registry's, is a lock.
        for status in [
            "clientTransferProhibited",
            "server update prohibited",
            "transfer prohibited",
        ] {
            let obs = with(vec![registered("example.com", true, &[], 400, &[status])]);
            assert!(reg_ids(&obs).is_empty(), "{status}");
        }

        let obs = with(vec![registered(
            "example.com",
            true,
            &[],
            -20,
            &["redemption period", "client transfer prohibited"],
        )]);
        assert_eq!(reg_ids(&obs), ["REG-REDEMPTION"], "not also REG-EXPIRING");
        let obs = with(vec![
            registered("example.com", true, &[], 400, LOCKED),
            registered(
                "example.net",
                false,
                &["mx2.example.net"],
                -40,
                &["pendingDelete"],
            ),
        ]);
        assert_eq!(reg_ids(&obs), ["REG-REDEMPTION"]);
    }

    #[test]
    fn the_warning_window_is_the_contexts() {
        let obs = with(vec![registered("example.com", true, &[], 45, LOCKED)]);
        assert!(reg_ids(&obs).is_empty());
        let ctx = CheckContext {
            registration_expiry_days: 60,
            ..CheckContext::default()
        };
        assert_eq!(reg_expiring(&Subject::new(&obs), &ctx).len(), 1);
    }

    #[test]
    fn a_domain_without_mail_needs_no_lock_for_it() {
        let mut obs = with(vec![registered("example.com", true, &[], 400, &[])]);
        obs.mx = observed(
            vec![crate::observation::MxRecord {
                preference: 0,
                exchange: ".".into(),
            }],
            300,
        );
        obs.exchanges.clear();
        assert!(reg_ids(&obs).is_empty());
    }

    #[test]
    fn rdap_failures_never_produce_an_expiry_or_lock_finding() {
        for failure in [
            RdapFailure::Timeout,
            RdapFailure::RateLimited,
            RdapFailure::HttpStatus,
            RdapFailure::Garbage,
            RdapFailure::TooLarge,
            RdapFailure::Tls,
            RdapFailure::Network,
            RdapFailure::Dns,
        ] {
            // A registration that would fire every REG-* check, had it been answered…
            let mut own = registered("example.com", true, &[], -3, &["pending delete"]);
            let mut provider = registered("example.net", false, &["mx2.example.net"], 2, &[]);
            for d in [&mut own, &mut provider] {
                d.outcome = RdapOutcome::Failed {
                    failure,
                    detail: "injected".into(),
                };
            }
            let obs = with(vec![own, provider]);
            // …is could-not-determine instead.
            assert!(reg_ids(&obs).is_empty(), "{failure:?}");
            let all = ids(&obs);
            assert!(all.contains(&"DNS-INDETERMINATE".to_string()), "{all:?}");
        }
        // Not found and no service are data, not failures, and not findings either.
        let mut obs = with(vec![registered("example.com", true, &[], 400, &[])]);
        obs.rdap.as_mut().unwrap().domains[0].outcome = RdapOutcome::NotFound;
        assert!(ids(&obs).is_empty(), "{:?}", ids(&obs));
        obs.rdap.as_mut().unwrap().domains[0].outcome = RdapOutcome::NoService {
            detail: "no RDAP service for .example".into(),
        };
        assert!(ids(&obs).is_empty());
    }
}

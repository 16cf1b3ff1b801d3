//! Where each exchange points: does it exist, resolve, and lead somewhere mail can go?

use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::ip;
use crate::name;
use crate::observation::lookup::{Absence, Failure};
use crate::observation::{ExchangeObservation, Observation};
use std::net::IpAddr;

/// The exchanges of the domain, without the null MX target.
fn exchanges(obs: &Observation) -> impl Iterator<Item = &ExchangeObservation> {
    obs.exchanges.iter().filter(|e| e.name != ".")
}

fn is_address_literal(name: &str) -> bool {
    name::looks_like_ipv4(name) || name.parse::<IpAddr>().is_ok()
}

/// The exchange's own name does not exist: NXDOMAIN seen, no address seen.
fn does_not_exist(exchange: &ExchangeObservation) -> bool {
    let l = &exchange.lookups;
    (l.a.is_nxdomain() || l.aaaa.is_nxdomain()) && l.a.value().is_none() && l.aaaa.value().is_none()
}

/// "x does not exist", or "x is an alias of y, which does not exist" for a dangling CNAME.
fn missing_name(e: &ExchangeObservation) -> String {
    match e.lookups.cname_chain().last() {
        Some(target) => format!("{} is an alias of {target}, which does not exist", e.name),
        None => format!("{} does not exist", e.name),
    }
}

/// The registrable domain of a non-existent exchange is free for anyone to register.
fn is_unregistered(exchange: &ExchangeObservation) -> bool {
    exchange
        .registration
        .as_ref()
        .is_some_and(|r| r.delegation.is_nxdomain() && r.suffix.value().is_some())
}

pub static MX_TARGET_IP: Check = Check {
    id: "MX-TARGET-IP",
    severity: Severity::High,
    title: "An exchange is an IP address written as a host name",
    explanation: "An MX record must name a host, not an address. Senders look the \"name\" 192.0.2.1 up as a host \
                  name, which does not exist, so mail through this record is not delivered (a few lenient MTAs \
                  guess, most do not).",
    fix: "Create a host name (e.g. `mx1.example.com A 192.0.2.1`) and name it in the MX record.",
    reference: "RFC 5321 §5.1; RFC 1035 §3.3.9",
    run: mx_target_ip,
};

fn mx_target_ip(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter(|e| is_address_literal(&e.name))
        .map(|e| {
            Hit::new(
                e.name.clone(),
                format!(
                    "the MX record names {:?}, an address literal, as its exchange",
                    e.name
                ),
            )
        })
        .collect()
}

pub static MX_TARGET_SYNTAX: Check = Check {
    id: "MX-TARGET-SYNTAX",
    severity: Severity::Medium,
    title: "An exchange is not a valid host name",
    explanation: "The exchange must be a host name: letters, digits and hyphens, labels of at most 63 octets. \
                  Names with underscores, spaces or other characters may exist in DNS, but many MTAs refuse to \
                  deliver to them.",
    fix: "Rename the mail host to a valid host name and point the MX record at it.",
    reference: "RFC 1123 §2.1; RFC 5321 §2.3.5",
    run: mx_target_syntax,
};

fn mx_target_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter(|e| !is_address_literal(&e.name))
        .filter_map(|e| {
            name::check_host_syntax(&e.name)
                .err()
                .map(|err| Hit::new(exchange_label(&e.name), err.to_string()))
        })
        .collect()
}

pub static MX_TARGET_TYPO: Check = Check {
    id: "MX-TARGET-TYPO",
    severity: Severity::High,
    title: "An exchange repeats the zone name: a missing trailing dot",
    explanation: "In a zone file a name without a trailing dot is relative, so `mx.example.com` written in the \
                  example.com zone becomes `mx.example.com.example.com`. The record points at a host that was \
                  never meant to exist.",
    fix: "Add the trailing dot in the zone file (`mx.example.com.`), or write the name relative to the zone (`mx`).",
    reference: "RFC 1035 §5.1",
    run: mx_target_typo,
};

fn mx_target_typo(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let domain = &obs.domain.ascii;
    let doubled = format!(".{domain}.{domain}");
    let suffix = format!(".{domain}");
    exchanges(obs)
        .filter_map(|e| {
            if e.name.ends_with(&doubled) || e.name == format!("{domain}.{domain}") {
                let intended = &e.name[..e.name.len() - suffix.len()];
                return Some(Hit::new(
                    exchange_label(&e.name),
                    format!("{} repeats {domain}; probably meant {intended}", e.name),
                ));
            }
            // An absolute name in another domain with this zone appended, e.g.
            // aspmx.l.google.com.example.com: only when it does not resolve, since
            // a host that exists was named on purpose.
            let resolves = e.lookups.a.value().is_some() || e.lookups.aaaa.value().is_some();
            let prefix = e.name.strip_suffix(&suffix)?;
            let other = name::registrable_domain(prefix)?;
            let known = psl::suffix(other.1.as_bytes()).is_some_and(|s| s.is_known());
            let missing = e.lookups.a.absence().is_some() && e.lookups.aaaa.absence().is_some();
            (!resolves && missing && known && prefix.contains('.') && other.0 != *domain).then(
                || {
                    Hit::new(
                        exchange_label(&e.name),
                        format!(
                            "{} does not exist and looks like {prefix} with {domain} appended",
                            e.name
                        ),
                    )
                },
            )
        })
        .collect()
}

pub static MX_TARGET_UNREGISTERED: Check = Check {
    id: "MX-TARGET-UNREGISTERED",
    severity: Severity::Critical,
    title: "An exchange's domain is not registered: anyone may register it and receive the mail",
    explanation: "The MX points into a domain that does not exist in its parent zone (typically an old provider's \
                  domain that lapsed). Whoever registers that domain next can publish the exchange's address and \
                  receive, read and keep this domain's mail, and obtain certificates for it.",
    fix: "Remove the MX record now, or register the domain yourself until the record is gone.",
    reference: "RFC 5321 §5.1; RFC 1034 §3.6.2",
    run: mx_target_unregistered,
};

fn mx_target_unregistered(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter(|e| !is_address_literal(&e.name) && is_unregistered(e))
        .filter_map(|e| {
            let reg = e.registration.as_ref()?;
            Some(Hit::new(
                exchange_label(&e.name),
                format!(
                    "{}, and its domain {} is not delegated under .{} (NXDOMAIN at the registry): unless it is \
                     on hold or in redemption, anyone can register it",
                    missing_name(e),
                    reg.registrable_domain,
                    reg.public_suffix
                ),
            ))
        })
        .collect()
}

pub static MX_TARGET_NXDOMAIN: Check = Check {
    id: "MX-TARGET-NXDOMAIN",
    severity: Severity::High,
    title: "An exchange does not exist (dangling MX)",
    explanation: "The host named by the MX record does not exist in DNS (NXDOMAIN). Senders skip it after a \
                  lookup; if it is the only or most preferred exchange, mail is delayed or bounces. Dangling \
                  records also invite takeover if the name is ever re-created by someone else.",
    fix: "Point the MX record at a host that exists, or remove it.",
    reference: "RFC 5321 §5.1",
    run: mx_target_nxdomain,
};

fn mx_target_nxdomain(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter(|e| !is_address_literal(&e.name) && does_not_exist(e) && !is_unregistered(e))
        .map(|e| {
            let mut detail = format!("{} (NXDOMAIN)", missing_name(e));
            if let Some(reg) = &e.registration
                && reg.suffix.is_nxdomain()
            {
                detail.push_str(&format!(
                    "; its suffix .{} does not exist either",
                    reg.public_suffix
                ));
            }
            let chain = e.lookups.cname_chain();
            if chain.len() > 1 {
                detail.push_str(&format!(" (through {})", chain.join(" → ")));
            }
            Hit::new(exchange_label(&e.name), detail)
        })
        .collect()
}

pub static MX_TARGET_NO_ADDRESS: Check = Check {
    id: "MX-TARGET-NO-ADDRESS",
    severity: Severity::High,
    title: "An exchange exists but has no A or AAAA record",
    explanation: "The host named by the MX record exists in DNS but has no address of either family, so senders \
                  cannot connect to it.",
    fix: "Add the exchange's A and/or AAAA records, or point the MX record at a host that has them.",
    reference: "RFC 5321 §5.1",
    run: mx_target_no_address,
};

fn mx_target_no_address(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter(|e| {
            e.lookups.a.absence() == Some(Absence::NoData)
                && e.lookups.aaaa.absence() == Some(Absence::NoData)
        })
        .map(|e| {
            Hit::new(
                exchange_label(&e.name),
                format!("{} has neither A nor AAAA records", e.name),
            )
        })
        .collect()
}

pub static MX_TARGET_CNAME: Check = Check {
    id: "MX-TARGET-CNAME",
    severity: Severity::Medium,
    title: "An exchange is an alias (CNAME)",
    explanation: "An MX record must point at a host name with address records, not at an alias. Most MTAs \
                  follow the CNAME anyway, some do not, and the alias adds lookups and a point of failure. A CNAME \
                  chain that loops never resolves at all.",
    fix: "Point the MX record at the canonical name the alias leads to.",
    reference: "RFC 2181 §10.3; RFC 5321 §5.1",
    run: mx_target_cname,
};

fn mx_target_cname(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter_map(|e| {
            let looped = [&e.lookups.a, &e.lookups.aaaa].iter().find_map(|l| {
                l.failure()
                    .filter(|(f, _)| matches!(f, Failure::CnameLoop | Failure::CnameChainTooLong))
            });
            let chain = e.lookups.cname_chain();
            if let Some((failure, detail)) = looped {
                return Some(Hit::new(
                    exchange_label(&e.name),
                    format!(
                        "{} is an alias and {}: {detail}",
                        e.name,
                        failure.describe()
                    ),
                ));
            }
            (!chain.is_empty()).then(|| {
                Hit::new(
                    exchange_label(&e.name),
                    format!("{} is an alias: {} → {}", e.name, e.name, chain.join(" → ")),
                )
            })
        })
        .collect()
}

pub static MX_TARGET_PRIVATE: Check = Check {
    id: "MX-TARGET-PRIVATE",
    severity: Severity::High,
    title: "An exchange resolves to a non-routable address",
    explanation: "The exchange has an address that the internet cannot reach: private-use, loopback, link-local, \
                  documentation, or another special-purpose range. Senders on the internet fail to connect \
                  (or, worse, connect to whatever has that address on their own network).",
    fix: "Publish the exchange's public address; keep internal addresses in an internal view of the zone.",
    reference: "RFC 6890; RFC 1918; RFC 5737; RFC 4193",
    run: mx_target_private,
};

fn mx_target_private(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    exchanges(obs)
        .filter_map(|e| {
            let private: Vec<String> = e
                .lookups
                .addresses()
                .into_iter()
                .filter(|addr| !ip::is_routable(*addr, ctx.lab))
                .filter_map(|addr| {
                    ip::special_range(addr)
                        .map(|r| format!("{addr} ({}, {} {})", r.name, r.prefix, r.reference))
                })
                .collect();
            (!private.is_empty()).then(|| {
                Hit::new(
                    exchange_label(&e.name),
                    format!("{} resolves to {}", e.name, private.join(", ")),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::CheckContext;
    use super::super::testkit::*;
    use crate::observation::{AddressLookups, Registration, Soa};

    fn soa() -> Soa {
        Soa {
            mname: "a.nic.example".into(),
            rname: "h.nic.example".into(),
            serial: 1,
            refresh: 1,
            retry: 1,
            expire: 1,
            minimum: 1,
        }
    }

    fn with_lookups(
        mut obs: crate::Observation,
        index: usize,
        lookups: AddressLookups,
    ) -> crate::Observation {
        obs.exchanges[index].lookups = lookups;
        obs.exchanges[index].addresses.clear();
        obs
    }

    fn two(second: &str) -> crate::Observation {
        domain(
            "example.com",
            &[
                (10, "mx1.example.com", &["192.0.43.10", "192.0.43.11"]),
                (20, second, &[]),
            ],
        )
    }

    #[test]
    fn address_literal() {
        let obs = with_lookups(
            two("192.0.2.1"),
            1,
            AddressLookups {
                a: nxdomain(),
                aaaa: nxdomain(),
            },
        );
        assert_eq!(ids(&obs), ["MX-TARGET-IP"]);
    }

    #[test]
    fn dangling_and_unregistered() {
        let dangling = with_lookups(
            two("gone.example.net"),
            1,
            AddressLookups {
                a: nxdomain(),
                aaaa: nxdomain(),
            },
        );
        assert_eq!(ids(&dangling), ["MX-TARGET-NXDOMAIN"]);

        let mut lapsed = dangling.clone();
        lapsed.exchanges[1].registration = Some(Registration {
            registrable_domain: "example.net".into(),
            public_suffix: "net".into(),
            delegation: nxdomain(),
            suffix: observed(soa(), 900),
        });
        assert_eq!(ids(&lapsed), ["MX-TARGET-UNREGISTERED"]);

        let mut unknown = lapsed.clone();
        if let Some(reg) = unknown.exchanges[1].registration.as_mut() {
            reg.delegation = failed(crate::Failure::Timeout);
        }
        let found = ids(&unknown);
        assert!(
            !found.contains(&"MX-TARGET-UNREGISTERED".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"DNS-INDETERMINATE".to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn no_address_and_cname() {
        let noaddr = with_lookups(
            two("mail.example.com"),
            1,
            AddressLookups {
                a: nodata(),
                aaaa: nodata(),
            },
        );
        assert_eq!(ids(&noaddr), ["MX-TARGET-NO-ADDRESS"]);

        let mut aliased = healthy();
        if let crate::Lookup::Observed { cname_chain, .. } = &mut aliased.exchanges[1].lookups.a {
            cname_chain.push("mx.provider.example".into());
        }
        assert_eq!(ids(&aliased), ["MX-TARGET-CNAME"]);

        let looped = with_lookups(
            two("loop.example.com"),
            1,
            AddressLookups {
                a: failed(crate::Failure::CnameLoop),
                aaaa: failed(crate::Failure::CnameLoop),
            },
        );
        assert_eq!(ids(&looped), ["MX-TARGET-CNAME"]);
    }

    #[test]
    fn private_addresses_and_the_lab() {
        let obs = domain(
            "example.com",
            &[
                (10, "mx1.example.com", &["10.1.2.3"]),
                (20, "mx2.example.com", &["127.0.1.2"]),
            ],
        );
        let found = ids(&obs);
        assert_eq!(
            found.iter().filter(|i| *i == "MX-TARGET-PRIVATE").count(),
            2,
            "{found:?}"
        );
        let lab = ids_in(
            &obs,
            &CheckContext {
                lab: true,
                ..Default::default()
            },
        );
        assert_eq!(
            lab.iter().filter(|i| *i == "MX-TARGET-PRIVATE").count(),
            1,
            "{lab:?}"
        );
    }

    #[test]
    fn typo_and_syntax() {
        let doubled = with_lookups(
            two("mx2.example.com.example.com"),
            1,
            AddressLookups {
                a: nxdomain(),
                aaaa: nxdomain(),
            },
        );
        let found = ids(&doubled);
        assert!(found.contains(&"MX-TARGET-TYPO".to_string()), "{found:?}");

        let appended = with_lookups(
            two("aspmx.l.google.com.example.com"),
            1,
            AddressLookups {
                a: nxdomain(),
                aaaa: nxdomain(),
            },
        );
        assert!(ids(&appended).contains(&"MX-TARGET-TYPO".to_string()));

        // A deliberate host that resolves is not a typo.
        let deliberate = domain(
            "example.com",
            &[
                (10, "mx1.example.com", &["192.0.43.10"]),
                (20, "smtp.de.example.com", &["192.0.43.11"]),
            ],
        );
        assert!(ids(&deliberate).is_empty(), "{:?}", ids(&deliberate));

        let underscore = domain(
            "example.com",
            &[
                (10, "mail_server.example.com", &["192.0.43.10"]),
                (20, "mx2.example.com", &["192.0.43.11"]),
            ],
        );
        assert_eq!(ids(&underscore), ["MX-TARGET-SYNTAX"]);
    }
}

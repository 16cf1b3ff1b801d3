//! Typed DNS lookups with the CNAME chain followed, each an [`mxwatch_core::Lookup`].

use super::cache::{self, Cache, Records};
use super::transport::{DnsOptions, Reply, Transport};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use mxwatch_core::observation::AuthAnswer;
use mxwatch_core::{Absence, Failure, Lookup, MxRecord, Soa};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// CNAME hops we follow before calling the chain too long (resolvers stop near here too).
pub const MAX_CNAME_CHAIN: usize = 8;

/// DNS for a whole run: one transport, one cache.
pub struct Dns {
    transport: Transport,
    cache: Cache,
    /// Proposed zones answering for the names inside them (`check --zone`).
    overlay: Option<std::sync::Arc<crate::zone::Overlay>>,
}

impl Dns {
    pub fn new(options: DnsOptions) -> Self {
        Dns {
            cache: Cache::with_capacity(options.cache_entries),
            transport: Transport::new(options),
            overlay: None,
        }
    }

    /// DNS whose answers for names inside `overlay`'s zones come from the zone files (the
    /// recursive and the authoritative questions alike); other names go to the network, or
    /// offline are "could not determine". DNSSEC proofs still ask the network: a proposed zone
    /// is not signed yet.
    pub fn with_overlay(
        options: DnsOptions,
        overlay: std::sync::Arc<crate::zone::Overlay>,
    ) -> Self {
        Dns {
            overlay: Some(overlay),
            ..Dns::new(options)
        }
    }

    /// The transport, for lookups that need the raw reply (DNSSEC validation).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn resolver(&self) -> std::net::SocketAddr {
        self.transport.options().resolver
    }

    /// Every resolver asked, as the observation records it (`127.0.0.1:53, 127.0.0.2:53`).
    pub fn resolvers_label(&self) -> String {
        self.transport
            .resolvers()
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How long each resolver has to answer a try before the next goes out, judged by its
    /// recent reply times.
    pub fn overdue_after(&self) -> Vec<(std::net::SocketAddr, std::time::Duration)> {
        self.transport.overdue_after()
    }

    /// Questions put on the wire so far.
    pub fn queries_sent(&self) -> u64 {
        self.transport.queries_sent()
    }

    /// Distinct (name, type) entries in the cache.
    pub fn cached_entries(&self) -> usize {
        self.cache.len()
    }

    /// `name rtype`, with any CNAME chain followed: the records of `rtype` at the end of the chain.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Lookup<Vec<RData>> {
        self.lookup_shared(name, rtype)
            .await
            .map(|records| records.to_vec())
    }

    /// [`Self::lookup`] with the records as the cache holds them (shared, not copied): the
    /// typed lookups only read them.
    async fn lookup_shared(&self, name: &str, rtype: RecordType) -> Lookup<Records> {
        let Some(mut current) = question_name(name) else {
            return Lookup::Failed {
                failure: Failure::Malformed,
                detail: format!("{name:?} cannot be asked as a DNS name"),
                cname_chain: vec![],
                elapsed_ms: 0,
            };
        };
        let mut chain: Vec<String> = Vec::new();
        // Names compare without regard to case; a chain is at most MAX_CNAME_CHAIN long.
        let mut seen: Vec<Name> = Vec::new();
        let mut elapsed = 0u64;
        let mut min_ttl = u32::MAX;
        loop {
            let step = self.cached_step(&current, rtype).await;
            elapsed += step.elapsed_ms();
            // The cached step holds the records of one question; a CNAME in it sends us on.
            let step = match step {
                Lookup::Observed {
                    value,
                    ttl,
                    cname_chain,
                    ..
                } => {
                    min_ttl = min_ttl.min(ttl);
                    chain.extend(cname_chain);
                    match value.first() {
                        Some(RData::CNAME(target)) if rtype != RecordType::CNAME => {
                            let next = target.0.clone();
                            chain.push(display(&next));
                            seen.push(current);
                            if seen.contains(&next) {
                                return failed(
                                    Failure::CnameLoop,
                                    format!("{} loops", chain.join(" → ")),
                                    chain,
                                    elapsed,
                                );
                            }
                            if chain.len() > MAX_CNAME_CHAIN {
                                return failed(
                                    Failure::CnameChainTooLong,
                                    format!("more than {MAX_CNAME_CHAIN} CNAMEs"),
                                    chain,
                                    elapsed,
                                );
                            }
                            current = next;
                            continue;
                        }
                        _ => Lookup::Observed {
                            value,
                            ttl: min_ttl,
                            cname_chain: vec![],
                            elapsed_ms: 0,
                        },
                    }
                }
                other => {
                    chain.extend(other.cname_chain().iter().cloned());
                    other
                }
            };
            return with_chain(step, chain, elapsed);
        }
    }

    /// One question through the cache. Its value is either the records of `rtype`
    /// or, when the name is an alias the reply did not follow to the end, the one CNAME.
    async fn cached_step(&self, name: &Name, rtype: RecordType) -> Lookup<Records> {
        if let Some(answer) = self.overlay.as_ref().and_then(|o| o.answer(name, rtype)) {
            return answer.map(Records::from);
        }
        let cell = self.cache.cell((name.clone(), rtype));
        let (lookup, _) = cell
            .get_or_init(|| {
                // Boxed: the transport's future is large (a message, its bytes, the tries), and
                // held inline it made every lookup's future that large, and every join of
                // lookups, whose futures are moved into place: copying them was 7 % of a bulk
                // scan's CPU, though most lookups are answered by the cache and never ask.
                Box::pin(async {
                    let (reply, took) = self.transport.ask(name, rtype).await;
                    let lookup = interpret(name, rtype, reply, took).map(Records::from);
                    let expires = cache::expiry(&lookup, Instant::now());
                    (lookup, expires)
                })
            })
            .await;
        lookup.clone()
    }

    pub async fn mx(&self, name: &str) -> Lookup<Vec<MxRecord>> {
        self.lookup_shared(name, RecordType::MX).await.map(|rdata| {
            let mut records: Vec<MxRecord> = rdata
                .iter()
                .filter_map(|r| match r {
                    RData::MX(mx) => Some(MxRecord {
                        preference: mx.preference,
                        exchange: host(&mx.exchange),
                    }),
                    _ => None,
                })
                .collect();
            records.sort_by(|a, b| {
                a.preference
                    .cmp(&b.preference)
                    .then(a.exchange.cmp(&b.exchange))
            });
            records
        })
    }

    /// A (`v6 == false`) or AAAA addresses.
    pub async fn addresses(&self, name: &str, v6: bool) -> Lookup<Vec<IpAddr>> {
        let rtype = if v6 { RecordType::AAAA } else { RecordType::A };
        self.lookup_shared(name, rtype).await.map(|rdata| {
            let mut ips: Vec<IpAddr> = rdata
                .iter()
                .filter_map(|r| match r {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect();
            ips.sort();
            ips.dedup();
            ips
        })
    }

    /// NS or PTR names.
    pub async fn names(&self, name: &str, rtype: RecordType) -> Lookup<Vec<String>> {
        self.lookup_shared(name, rtype).await.map(|rdata| {
            let mut names: Vec<String> = rdata
                .iter()
                .filter_map(|r| match r {
                    RData::NS(ns) => Some(host(&ns.0)),
                    RData::PTR(ptr) => Some(host(&ptr.0)),
                    _ => None,
                })
                .collect();
            names.sort();
            names.dedup();
            names
        })
    }

    /// TXT records whose text starts with `prefix` (case-insensitive), character-strings joined.
    pub async fn txt_with_prefix(&self, name: &str, prefix: &str) -> Lookup<Vec<String>> {
        let lookup = self.lookup_shared(name, RecordType::TXT).await;
        let prefix = prefix.to_ascii_lowercase();
        let absent = |l: &Lookup<Records>| Lookup::Absent {
            absence: Absence::NoData,
            negative_ttl: l.ttl(),
            cname_chain: l.cname_chain().to_vec(),
            elapsed_ms: l.elapsed_ms(),
        };
        match &lookup {
            Lookup::Observed { value, .. } => {
                let mut records: Vec<String> = value
                    .iter()
                    .filter_map(|r| match r {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .filter(|text| has_tag_prefix(text, &prefix))
                    .collect();
                records.sort();
                if records.is_empty() {
                    // Other TXT records only: for this protocol, there is no record.
                    absent(&lookup)
                } else {
                    lookup.map(|_| records)
                }
            }
            _ => lookup.map(|_| Vec::new()),
        }
    }

    pub async fn ptr(&self, ip: IpAddr) -> Lookup<Vec<String>> {
        let name = Name::from(ip);
        self.names(&name.to_ascii(), RecordType::PTR).await
    }

    /// `name rtype` asked straight at an authoritative `server` (no recursion, no cache).
    pub async fn authoritative(
        &self,
        server: std::net::SocketAddr,
        name: &str,
        rtype: RecordType,
    ) -> AuthAnswer {
        let question = format!("{rtype} {}", name.trim_end_matches('.'));
        let Some(qname) = question_name(name) else {
            return AuthAnswer {
                question,
                authoritative: false,
                result: failed(
                    Failure::Malformed,
                    format!("{name:?} cannot be asked"),
                    vec![],
                    0,
                ),
            };
        };
        if let Some(answer) = self.overlay.as_ref().and_then(|o| o.answer(&qname, rtype)) {
            // The proposed zone is what every authoritative server would serve.
            return AuthAnswer {
                question,
                authoritative: true,
                result: presentation(answer, rtype),
            };
        }
        let (reply, took) = self.transport.ask_at(server, &qname, rtype, false).await;
        let elapsed_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let message = match reply {
            Reply::Failed { failure, detail } => {
                return AuthAnswer {
                    question,
                    authoritative: false,
                    result: failed(failure, detail, vec![], elapsed_ms),
                };
            }
            Reply::Message { message, .. } => message,
        };
        let authoritative = message.metadata.authoritative;
        let result = match message.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {
                let data = presented(
                    message
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype && r.name == qname)
                        .map(|r| &r.data),
                    rtype,
                );
                let ttl = message.answers.iter().map(|r| r.ttl).min().unwrap_or(0);
                if !data.is_empty() {
                    Lookup::Observed {
                        value: data,
                        ttl,
                        cname_chain: vec![],
                        elapsed_ms,
                    }
                } else {
                    Lookup::Absent {
                        absence: if message.metadata.response_code == ResponseCode::NXDomain {
                            Absence::NxDomain
                        } else {
                            Absence::NoData
                        },
                        negative_ttl: None,
                        cname_chain: vec![],
                        elapsed_ms,
                    }
                }
            }
            ResponseCode::ServFail => failed(Failure::ServFail, String::new(), vec![], elapsed_ms),
            ResponseCode::Refused => failed(Failure::Refused, String::new(), vec![], elapsed_ms),
            other => failed(
                Failure::ErrorRcode,
                format!("RCODE {other}"),
                vec![],
                elapsed_ms,
            ),
        };
        AuthAnswer {
            question,
            authoritative,
            result,
        }
    }

    pub async fn soa(&self, name: &str) -> Lookup<Soa> {
        let lookup = self.lookup_shared(name, RecordType::SOA).await;
        // An SOA answer always holds exactly one record; anything else is malformed.
        let soa = lookup.value().and_then(|v| {
            v.iter().find_map(|r| match r {
                RData::SOA(soa) => Some(Soa {
                    mname: host(&soa.mname),
                    rname: host(&soa.rname),
                    serial: soa.serial,
                    refresh: soa.refresh as u32,
                    retry: soa.retry as u32,
                    expire: soa.expire as u32,
                    minimum: soa.minimum,
                }),
                _ => None,
            })
        });
        match (lookup, soa) {
            (
                Lookup::Observed {
                    ttl,
                    cname_chain,
                    elapsed_ms,
                    ..
                },
                Some(soa),
            ) => Lookup::Observed {
                value: soa,
                ttl,
                cname_chain,
                elapsed_ms,
            },
            (
                Lookup::Observed {
                    cname_chain,
                    elapsed_ms,
                    ..
                },
                None,
            ) => Lookup::Failed {
                failure: Failure::Malformed,
                detail: "an SOA answer without an SOA record".into(),
                cname_chain,
                elapsed_ms,
            },
            (other, _) => other.map(|_| unreachable!("only Observed lookups carry a value")),
        }
    }
}

/// The name to put in a question. SPF macro expansion (RFC 7208 §7.3) yields names holding
/// spaces, `%` and other octets that a presentation-format parser refuses; DNS labels carry any
/// octet (RFC 2181 §11), so such a name is built from its raw labels and asked as it is. `None`
/// only for names no question can hold (an empty label, a label over 63 octets, over 255 in all).
pub fn question_name(name: &str) -> Option<Name> {
    if let Ok(parsed) = Name::from_ascii(fqdn(name)) {
        return Some(parsed);
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
        return None;
    }
    Name::from_labels(trimmed.split('.').map(str::as_bytes)).ok()
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A name as the observation stores it: lower case, no trailing dot, "." for the root.
pub fn host(name: &Name) -> String {
    if name.is_root() {
        return ".".into();
    }
    let ascii = name.to_ascii().to_ascii_lowercase();
    ascii.strip_suffix('.').map(str::to_string).unwrap_or(ascii)
}

fn display(name: &Name) -> String {
    host(name)
}

fn failed<T>(failure: Failure, detail: String, chain: Vec<String>, elapsed_ms: u64) -> Lookup<T> {
    Lookup::Failed {
        failure,
        detail,
        cname_chain: chain,
        elapsed_ms,
    }
}

fn with_chain<T>(lookup: Lookup<T>, chain: Vec<String>, elapsed: u64) -> Lookup<T> {
    match lookup {
        Lookup::Observed { value, ttl, .. } => Lookup::Observed {
            value,
            ttl,
            cname_chain: chain,
            elapsed_ms: elapsed,
        },
        Lookup::Absent {
            absence,
            negative_ttl,
            ..
        } => Lookup::Absent {
            absence,
            negative_ttl,
            cname_chain: chain,
            elapsed_ms: elapsed,
        },
        Lookup::Failed {
            failure, detail, ..
        } => Lookup::Failed {
            failure,
            detail,
            cname_chain: chain,
            elapsed_ms: elapsed,
        },
    }
}

/// Reads one reply: records of `rtype` at the end of the in-reply CNAME chain,
/// or the last CNAME when the chain leaves the reply, or an absence, or a failure.
fn interpret(qname: &Name, rtype: RecordType, reply: Reply, took: Duration) -> Lookup<Vec<RData>> {
    let elapsed_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    let mut message = match reply {
        Reply::Failed { failure, detail } => return failed(failure, detail, vec![], elapsed_ms),
        Reply::Message { message, .. } => message,
    };
    let rcode = message.metadata.response_code;
    match rcode {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::ServFail => {
            return failed(Failure::ServFail, String::new(), vec![], elapsed_ms);
        }
        ResponseCode::Refused => {
            return failed(Failure::Refused, String::new(), vec![], elapsed_ms);
        }
        other => {
            return failed(
                Failure::ErrorRcode,
                format!("RCODE {other}"),
                vec![],
                elapsed_ms,
            );
        }
    }
    let (chain, owner, ttl) = follow_in_reply(&message, qname);
    // Not an answer from a recursive resolver: a referral (NS in the authority section, no SOA)
    // or "recursion not available" means the server we were given does not resolve for us.
    let referral = message.answers.is_empty()
        && !message
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA)
        && message
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS);
    if referral
        || (message.answers.is_empty()
            && !message.metadata.recursion_available
            && rcode == ResponseCode::NoError
            && message.authorities.is_empty())
    {
        return failed(
            Failure::Referral,
            "the server answered with a referral or without recursion: it is not a recursive resolver".into(),
            chain,
            elapsed_ms,
        );
    }
    // The records are moved out of the reply, not copied; names compare without regard to case
    // (hickory's `Name` equality).
    let answered = !message.answers.is_empty();
    let mut min_ttl = None;
    let records: Vec<RData> = std::mem::take(&mut message.answers)
        .into_iter()
        .filter(|r| r.record_type() == rtype && r.name == owner)
        .map(|r| {
            min_ttl = Some(min_ttl.map_or(r.ttl, |t: u32| t.min(r.ttl)));
            r.data
        })
        .collect();
    if !records.is_empty() {
        return Lookup::Observed {
            value: records,
            ttl: min_ttl.unwrap_or(0).min(ttl),
            cname_chain: chain,
            elapsed_ms,
        };
    }
    // Answers, but none for the name and type asked (nor a CNAME leading on): not a valid reply.
    if chain.is_empty() && answered {
        return failed(
            Failure::Malformed,
            "the answer section holds no record for the name and type asked".into(),
            chain,
            elapsed_ms,
        );
    }
    if rcode == ResponseCode::NoError && !chain.is_empty() && rtype != RecordType::CNAME {
        // The reply stops at an alias: hand the last CNAME back so the caller asks again.
        let last = chain.last().cloned().unwrap_or_default();
        if let Ok(target) = Name::from_ascii(fqdn(&last)) {
            let mut head = chain;
            head.pop();
            return Lookup::Observed {
                value: vec![RData::CNAME(hickory_proto::rr::rdata::CNAME(target))],
                ttl,
                cname_chain: head,
                elapsed_ms,
            };
        }
    }
    let negative_ttl = message.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    });
    Lookup::Absent {
        absence: if rcode == ResponseCode::NXDomain {
            Absence::NxDomain
        } else {
            Absence::NoData
        },
        negative_ttl,
        cname_chain: chain,
        elapsed_ms,
    }
}

/// Follows CNAMEs inside the answer section from `qname`: (targets in order, final owner, min CNAME TTL).
fn follow_in_reply(message: &Message, qname: &Name) -> (Vec<String>, Name, u32) {
    let mut owner = qname.clone();
    let mut chain = Vec::new();
    let mut ttl = u32::MAX;
    let mut seen: Vec<Name> = Vec::new();
    while !seen.contains(&owner) && chain.len() <= MAX_CNAME_CHAIN {
        let next = message.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == owner => Some((target.0.clone(), r.ttl)),
            _ => None,
        });
        let Some((target, cname_ttl)) = next else {
            break;
        };
        ttl = ttl.min(cname_ttl);
        chain.push(display(&target));
        seen.push(std::mem::replace(&mut owner, target));
    }
    (chain, owner, ttl)
}

/// Whether a TXT record starts with a version tag (`v=spf1`, `v=DMARC1`), case-insensitively, and
/// the tag ends there: `v=spf10` is not `v=spf1`. An empty prefix takes every record.
fn has_tag_prefix(text: &str, prefix_lower: &str) -> bool {
    if prefix_lower.is_empty() {
        return true;
    }
    let Some(head) = text.get(..prefix_lower.len()) else {
        return false;
    };
    head.eq_ignore_ascii_case(prefix_lower)
        && !text[prefix_lower.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Records in presentation form as an authoritative answer is compared: sorted, deduplicated,
/// host names in lower case (TXT content keeps its case).
fn presented<'a>(records: impl Iterator<Item = &'a RData>, rtype: RecordType) -> Vec<String> {
    let mut data: Vec<String> = records
        .filter(|r| r.record_type() == rtype)
        .map(|r| {
            let text = r.to_string();
            if rtype == RecordType::TXT {
                text
            } else {
                text.to_ascii_lowercase()
            }
        })
        .collect();
    data.sort();
    data.dedup();
    data
}

/// An overlay's answer as an authoritative server's (records of `rtype` in presentation form).
fn presentation(answer: Lookup<Vec<RData>>, rtype: RecordType) -> Lookup<Vec<String>> {
    match answer {
        Lookup::Observed {
            value,
            ttl,
            cname_chain,
            elapsed_ms,
        } => {
            let data = presented(value.iter(), rtype);
            if data.is_empty() {
                Lookup::Absent {
                    absence: Absence::NoData,
                    negative_ttl: None,
                    cname_chain,
                    elapsed_ms,
                }
            } else {
                Lookup::Observed {
                    value: data,
                    ttl,
                    cname_chain,
                    elapsed_ms,
                }
            }
        }
        other => other.map(|_| Vec::new()),
    }
}

#[cfg(test)]
mod tag_prefix_tests {
    #[test]
    fn a_version_tag_ends_where_it_ends() {
        use super::has_tag_prefix;
        assert!(has_tag_prefix("v=spf1 -all", "v=spf1"));
        assert!(has_tag_prefix("V=SPF1", "v=spf1"));
        assert!(!has_tag_prefix("v=spf10 -all", "v=spf1"));
        assert!(has_tag_prefix("v=DMARC1;p=none", "v=dmarc1"));
        assert!(has_tag_prefix("anything", ""));
        assert!(!has_tag_prefix("v=", "v=spf1"));
    }
}

#[cfg(test)]
mod question_name_tests {
    use super::question_name;

    #[test]
    fn names_a_parser_refuses_are_built_from_raw_labels() {
        let name = question_name("a b%c.example.test").expect("any octet may be in a label");
        let labels: Vec<&[u8]> = name.iter().collect();
        assert_eq!(labels, [&b"a b%c"[..], b"example", b"test"]);
        assert!(name.is_fqdn());
        assert!(question_name("mail.example.test.").is_some());
        assert!(question_name(&format!("{}.example.test", "x y".repeat(22))).is_none());
        assert!(question_name("a  b..example.test").is_none());
    }
}

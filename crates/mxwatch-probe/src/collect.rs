//! Collects one domain's [`Observation`]: MX, SOA, NS, every exchange's
//! addresses and CNAME chain, reverse DNS with forward confirmation, and the
//! registration of exchanges that do not exist.
//!
//! Everything goes through one [`Dns`] (one cache, one in-flight limit), so a
//! million domains on one provider cost one lookup of the provider's hosts.

use crate::dns::Dns;
use crate::mta_sts::PolicyFetcher;
use crate::rdap::RdapClient;
use crate::smtp::SmtpProber;
use futures_util::future::join_all;
use hickory_proto::rr::RecordType;
use mxwatch_core::ip;
use mxwatch_core::name::{looks_like_ipv4, registrable_domain};
use mxwatch_core::observation::rdap::{DomainRegistration, RdapObservation};
use mxwatch_core::observation::smtp::Politeness;
use mxwatch_core::observation::{
    AddressLookups, NameserverObservation, OBSERVATION_SCHEMA, PolicyRecords, PtrForward,
};
use mxwatch_core::{
    AddressObservation, DomainName, ExchangeObservation, MxRecord, Observation, Registration,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// PTR names per address we forward-confirm; more is a sign of abuse, not of care.
pub const MAX_PTR_NAMES: usize = 10;
/// Addresses of one exchange given reverse DNS and an SMTP probe; a zone that lists more is
/// hostile or broken, and must not make us connect to thousands of hosts.
pub const MAX_ADDRESSES_PER_EXCHANGE: usize = 32;
/// Distinct addresses probed over SMTP per domain, whatever its zone says.
pub const MAX_SMTP_PER_DOMAIN: usize = 64;
/// NS names asked directly (RFC 2182 suggests a handful; more is a misconfiguration of its own).
pub const MAX_NAMESERVERS: usize = 13;
/// In-zone exchanges whose records are compared across nameservers.
pub const MAX_IN_ZONE_EXCHANGES: usize = 20;

#[derive(Clone, Default)]
pub struct CollectorOptions {
    /// Loopback addresses count as routable (reverse DNS is looked up and SMTP probed).
    pub lab: bool,
    /// The SMTP prober; `None` is DNS only (`--no-probe`).
    pub smtp: Option<Arc<SmtpProber>>,
    /// Ask every NS of the domain directly, on this port (53; the lab uses its own), to compare their answers.
    pub nameservers: Option<u16>,
    /// DKIM selectors and DNS blocklists (the SPF walk, DMARC and BIMI are always collected).
    pub mail_auth: crate::mail_auth::MailAuthOptions,
    /// Validate DNSSEC (domain, exchanges, TLSA) from this validator's trust anchor; `None` skips it.
    pub dnssec: Option<Arc<crate::dns::dnssec::Validator>>,
    /// Fetch the MTA-STS policy over HTTPS when an STS TXT record exists; `None` skips it (`--no-probe`).
    pub mta_sts: Option<crate::mta_sts::MtaStsOptions>,
    /// Ask RDAP for the registrations of the domain and its exchanges' domains; `None` skips it
    /// (`--no-rdap`, or the lab without an RDAP server).
    pub rdap: Option<crate::rdap::RdapOptions>,
}

#[derive(Clone)]
pub struct Collector {
    dns: Arc<Dns>,
    options: CollectorOptions,
    /// The policy fetcher, or why it could not be built (then every fetch records that).
    mta_sts: Option<Result<Arc<PolicyFetcher>, String>>,
    /// The RDAP client: one cache and one pacer per server for every domain of this collector.
    rdap: Option<Arc<RdapClient>>,
}

impl Collector {
    pub fn new(dns: Arc<Dns>, options: CollectorOptions) -> Self {
        let mta_sts = options
            .mta_sts
            .as_ref()
            .map(|o| PolicyFetcher::new(dns.clone(), options.lab, o).map(Arc::new));
        let rdap = options
            .rdap
            .clone()
            .map(|o| Arc::new(RdapClient::new(dns.clone(), options.lab, o)));
        Collector {
            dns,
            options,
            mta_sts,
            rdap,
        }
    }

    pub fn dns(&self) -> &Dns {
        &self.dns
    }

    /// The same collector with `other`'s SMTP prober (and so its results: one dialogue per
    /// address and name for both), when both probe. `check --zone` audits the live and the
    /// proposed zone; the hosts they share are the same hosts.
    pub fn sharing_smtp_with(mut self, other: &Collector) -> Self {
        if self.options.smtp.is_some() && other.options.smtp.is_some() {
            self.options.smtp = other.options.smtp.clone();
        }
        // One RDAP cache and pacer for both: a registry is asked once per registrable domain.
        if self.rdap.is_some() && other.rdap.is_some() {
            self.rdap = other.rdap.clone();
        }
        self
    }

    /// The same collector asking nothing beyond its DNS (offline `check --zone`): no SMTP, no
    /// HTTPS, no RDAP, no DNSSEC proof, no nameserver asked directly.
    pub fn without_network(self) -> Self {
        Collector {
            options: CollectorOptions {
                smtp: None,
                nameservers: None,
                dnssec: None,
                mta_sts: None,
                rdap: None,
                ..self.options
            },
            mta_sts: None,
            rdap: None,
            dns: self.dns,
        }
    }

    pub async fn observe(&self, domain: &DomainName) -> Observation {
        self.observe_with_selectors(domain, &[]).await
    }

    /// Like [`Self::observe`], with DKIM selectors of this domain's own asked before the collector's.
    pub async fn observe_with_selectors(
        &self,
        domain: &DomainName,
        dkim_selectors: &[String],
    ) -> Observation {
        let mut mail_auth_options = self.options.mail_auth.clone();
        for selector in dkim_selectors.iter().rev() {
            let selector = selector.to_ascii_lowercase();
            if !mail_auth_options.dkim_selectors.contains(&selector) {
                mail_auth_options.dkim_selectors.insert(0, selector);
            }
        }
        let mail_auth_options = &mail_auth_options;
        let observed_at = now_rfc3339();
        let name = domain.ascii.as_str();
        let (mx, soa, ns) = tokio::join!(
            self.dns.mx(name),
            self.dns.soa(name),
            self.dns.names(name, RecordType::NS)
        );
        let implicit = if mx.absence() == Some(mxwatch_core::Absence::NoData) {
            let (a, aaaa) = tokio::join!(
                self.dns.addresses(name, false),
                self.dns.addresses(name, true)
            );
            Some(AddressLookups { a, aaaa })
        } else {
            None
        };
        let exchange_names: Vec<String> = mx
            .value()
            .map(|records| {
                group_exchanges(records)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect()
            })
            .unwrap_or_default();
        let budget = Budget::new(MAX_SMTP_PER_DOMAIN);
        let budget = &budget;
        let exchanges = async {
            match mx.value() {
                Some(records) => {
                    join_all(
                        group_exchanges(records)
                            .into_iter()
                            .map(|(n, p)| self.exchange(n, p, budget)),
                    )
                    .await
                }
                None => vec![],
            }
        };
        let nameservers = async {
            match (self.options.nameservers, ns.value()) {
                (Some(port), Some(names)) => {
                    Box::pin(self.nameservers(name, names, &exchange_names, port)).await
                }
                _ => vec![],
            }
        };
        let policy = async {
            let (dmarc_name, sts_name, rpt_name) = (
                format!("_dmarc.{name}"),
                format!("_mta-sts.{name}"),
                format!("_smtp._tls.{name}"),
            );
            let (spf, dmarc, mta_sts, tls_rpt) = tokio::join!(
                self.dns.txt_with_prefix(name, "v=spf1"),
                self.dns.txt_with_prefix(&dmarc_name, "v=DMARC1"),
                self.dns.txt_with_prefix(&sts_name, "v=STSv1"),
                self.dns.txt_with_prefix(&rpt_name, "v=TLSRPTv1"),
            );
            let policy = PolicyRecords {
                spf,
                dmarc,
                mta_sts,
                tls_rpt,
            };
            // Only the null MX (RFC 7505): a mixed set still takes mail.
            let null_mx = mx
                .value()
                .is_some_and(|r| !r.is_empty() && r.iter().all(MxRecord::is_null));
            let mail_auth =
                crate::mail_auth::collect(&self.dns, name, &policy, null_mx, mail_auth_options)
                    .await;
            (policy, mail_auth)
        };
        let dnssec = async {
            match &self.options.dnssec {
                Some(validator) if crate::collect_dnssec::worth_proving(&mx) => Some(
                    Box::pin(crate::collect_dnssec::observe(
                        &self.dns,
                        validator,
                        name,
                        &exchange_names,
                    ))
                    .await,
                ),
                _ => None,
            }
        };
        // The policy over HTTPS, only when an STS TXT record announces one.
        let policy = async {
            let (policy, mail_auth) = policy.await;
            let fetch = match (&self.mta_sts, policy.mta_sts.value()) {
                (Some(fetcher), Some(records)) if !records.is_empty() => {
                    Some(Box::pin(fetch_policy(fetcher, name)).await)
                }
                _ => None,
            };
            (policy, mail_auth, fetch)
        };
        let rdap = async {
            match &self.rdap {
                Some(client) => Some(Box::pin(registrations(client, name, &exchange_names)).await),
                None => None,
            }
        };
        // The optional parts (nameservers, DNSSEC, the MTA-STS fetch, RDAP) are boxed where they
        // run: their futures are large, and inline they would make every domain's future (moved
        // into place by each join and by the task that runs it) as large, used or not.
        let (exchanges, nameservers, (policy, mut mail_auth, mta_sts_policy), dnssec, rdap) =
            tokio::join!(exchanges, nameservers, policy, dnssec, rdap);
        let mx_addresses: Vec<IpAddr> = exchanges
            .iter()
            .flat_map(|e| e.addresses.iter().map(|a| a.ip))
            .filter(|ip| ip::is_routable(*ip, self.options.lab))
            .collect();
        crate::mail_auth::collect_for_addresses(
            &self.dns,
            name,
            &mx_addresses,
            &mut mail_auth,
            mail_auth_options,
        )
        .await;
        let mut limits = Vec::new();
        let unexamined: usize = exchanges.iter().map(|e| e.unexamined).sum();
        if unexamined > 0 {
            limits.push(format!(
                "{unexamined} address(es) beyond {MAX_ADDRESSES_PER_EXCHANGE} per exchange were not examined (no reverse DNS, no SMTP)"
            ));
        }
        if mail_auth.spf_truncated {
            limits.push(format!(
                "the SPF walk stopped at {} DNS answers: terms beyond were not judged",
                crate::mail_auth::MAX_SPF_ANSWERS
            ));
        }
        let polite_skips = exchanges
            .iter()
            .flat_map(|e| &e.addresses)
            .filter(|a| matches!(a.smtp_politeness, Some(Politeness::Skipped { .. })))
            .count();
        if polite_skips > 0 {
            limits.push(format!(
                "{polite_skips} address(es) were not probed over SMTP, out of politeness to them (per-address connection limits): not a failure of theirs"
            ));
        }
        let skipped = budget.skipped();
        if skipped > 0 {
            limits.push(format!(
                "SMTP is probed on at most {MAX_SMTP_PER_DOMAIN} addresses per domain: {skipped} were not probed"
            ));
        }
        Observation {
            schema: OBSERVATION_SCHEMA,
            domain: domain.clone(),
            observed_at,
            resolver: self.dns.resolvers_label(),
            mx,
            soa,
            ns,
            implicit,
            exchanges,
            policy: Some(policy),
            limits,
            nameservers,
            mail_auth: Some(mail_auth),
            dnssec,
            mta_sts_policy,
            rdap,
        }
    }

    /// Every address of every NS, asked directly for the mail records of the domain.
    async fn nameservers(
        &self,
        domain: &str,
        ns_names: &[String],
        exchanges: &[String],
        port: u16,
    ) -> Vec<NameserverObservation> {
        let mut questions: Vec<(String, RecordType)> = vec![
            (domain.to_string(), RecordType::SOA),
            (domain.to_string(), RecordType::MX),
            (domain.to_string(), RecordType::TXT),
            (format!("_dmarc.{domain}"), RecordType::TXT),
            (format!("_mta-sts.{domain}"), RecordType::TXT),
            (format!("_smtp._tls.{domain}"), RecordType::TXT),
        ];
        // Exchanges inside the zone: their addresses and TLSA come from the same servers.
        let suffix = format!(".{domain}");
        for exchange in exchanges
            .iter()
            .filter(|e| e.ends_with(&suffix))
            .take(MAX_IN_ZONE_EXCHANGES)
        {
            questions.push((exchange.clone(), RecordType::A));
            questions.push((exchange.clone(), RecordType::AAAA));
            questions.push((format!("_25._tcp.{exchange}"), RecordType::TLSA));
        }
        let servers = join_all(ns_names.iter().take(MAX_NAMESERVERS).map(|ns| async move {
            let (a, aaaa) =
                tokio::join!(self.dns.addresses(ns, false), self.dns.addresses(ns, true));
            let mut addresses = Vec::new();
            let mut failures = Vec::new();
            for (family, lookup) in [("A", &a), ("AAAA", &aaaa)] {
                if let Some(ips) = lookup.value() {
                    addresses.extend(
                        ips.iter()
                            .copied()
                            .filter(|ip| ip::is_routable(*ip, self.options.lab)),
                    );
                }
                if let Some((failure, _)) = lookup.failure() {
                    failures.push(format!("{family} {ns}: {}", failure.describe()));
                }
            }
            (ns.clone(), addresses, failures)
        }))
        .await;
        let mut out = Vec::new();
        for (name, addresses, failures) in servers {
            if addresses.is_empty() {
                out.push(NameserverObservation {
                    name,
                    address: None,
                    // No address because the lookup failed: could not determine, not "unreachable".
                    address_failure: (!failures.is_empty()).then(|| failures.join("; ")),
                    answers: vec![],
                });
                continue;
            }
            for address in addresses {
                let server = std::net::SocketAddr::new(address, port);
                let answers = join_all(
                    questions
                        .iter()
                        .map(|(q, t)| self.dns.authoritative(server, q, *t)),
                )
                .await;
                out.push(NameserverObservation {
                    name: name.clone(),
                    address: Some(address),
                    address_failure: None,
                    answers,
                });
            }
        }
        out
    }

    async fn exchange(
        &self,
        name: String,
        preferences: Vec<u16>,
        budget: &Budget,
    ) -> ExchangeObservation {
        let (a, aaaa) = tokio::join!(
            self.dns.addresses(&name, false),
            self.dns.addresses(&name, true)
        );
        let lookups = AddressLookups { a, aaaa };
        let all = lookups.addresses();
        let unexamined = all.len().saturating_sub(MAX_ADDRESSES_PER_EXCHANGE);
        let addresses = join_all(
            all.into_iter()
                .take(MAX_ADDRESSES_PER_EXCHANGE)
                .map(|ip| self.address(ip, &name, budget)),
        )
        .await;
        let missing = (lookups.a.is_nxdomain() || lookups.aaaa.is_nxdomain())
            && lookups.a.value().is_none()
            && lookups.aaaa.value().is_none();
        // Where the name really leads: the end of its CNAME chain (a dangling alias into a
        // lapsed domain is the takeover case too).
        let target = lookups
            .cname_chain()
            .last()
            .cloned()
            .unwrap_or_else(|| name.clone());
        let registration = if missing && !looks_like_ipv4(&target) {
            self.registration(&target).await
        } else {
            None
        };
        ExchangeObservation {
            name,
            preferences,
            lookups,
            addresses,
            registration,
            unexamined,
        }
    }

    async fn address(&self, ip: IpAddr, exchange: &str, budget: &Budget) -> AddressObservation {
        // Non-routable addresses are never probed: no packet leaves for a private range.
        if !ip::is_routable(ip, self.options.lab) {
            return AddressObservation {
                ip,
                ptr: None,
                ptr_forward: vec![],
                smtp: None,
                smtp_politeness: None,
            };
        }
        let smtp = async {
            match &self.options.smtp {
                Some(prober) if budget.take(ip) => Some(prober.probe(ip, exchange).await),
                _ => None,
            }
        };
        let (ptr, probed) = tokio::join!(self.dns.ptr(ip), smtp);
        let smtp_politeness = probed.as_ref().and_then(|p| p.politeness());
        let smtp = probed.and_then(|p| p.probe.ok());
        let names: Vec<String> = ptr
            .value()
            .map(|n| n.iter().take(MAX_PTR_NAMES).cloned().collect())
            .unwrap_or_default();
        let ptr_forward = join_all(names.into_iter().map(|name| async move {
            let addresses = self.dns.addresses(&name, ip.is_ipv6()).await;
            PtrForward { name, addresses }
        }))
        .await;
        AddressObservation {
            ip,
            ptr: Some(ptr),
            ptr_forward,
            smtp,
            smtp_politeness,
        }
    }

    async fn registration(&self, exchange: &str) -> Option<Registration> {
        let (registrable, suffix) = registrable_domain(exchange)?;
        let (delegation, suffix_soa) = tokio::join!(
            self.dns.names(&registrable, RecordType::NS),
            self.dns.soa(&suffix)
        );
        Some(Registration {
            registrable_domain: registrable,
            public_suffix: suffix,
            delegation,
            suffix: suffix_soa,
        })
    }
}

async fn fetch_policy(
    fetcher: &Result<Arc<PolicyFetcher>, String>,
    domain: &str,
) -> mxwatch_core::observation::mta_sts::PolicyFetch {
    match fetcher {
        Ok(fetcher) => fetcher.fetch(domain).await,
        Err(e) => mxwatch_core::observation::mta_sts::PolicyFetch {
            url: format!("https://mta-sts.{domain}/.well-known/mta-sts.txt"),
            addresses: vec![],
            outcome: mxwatch_core::observation::mta_sts::FetchOutcome::Failed {
                failure: mxwatch_core::observation::mta_sts::FetchFailure::Network,
                detail: e.clone(),
            },
            elapsed_ms: 0,
        },
    }
}

/// The registrations the domain's mail depends on, over RDAP: its own registrable domain first,
/// then each exchange's (each once, with the exchanges inside it).
async fn registrations(client: &RdapClient, domain: &str, exchanges: &[String]) -> RdapObservation {
    let own = registrable_domain(domain).map(|(registrable, _)| registrable);
    let mut asked: Vec<(String, Vec<String>)> = own.iter().map(|d| (d.clone(), vec![])).collect();
    for exchange in exchanges
        .iter()
        .filter(|e| e.as_str() != "." && !looks_like_ipv4(e))
    {
        let Some((registrable, _)) = registrable_domain(exchange) else {
            continue;
        };
        match asked.iter_mut().find(|(d, _)| *d == registrable) {
            Some((_, inside)) => inside.push(exchange.clone()),
            None => asked.push((registrable, vec![exchange.clone()])),
        }
    }
    let answers = join_all(asked.iter().map(|(d, _)| client.lookup(d))).await;
    RdapObservation {
        domains: asked
            .into_iter()
            .zip(answers)
            .map(
                |((registrable, inside), (url, outcome))| DomainRegistration {
                    own: own.as_deref() == Some(registrable.as_str()),
                    domain: registrable,
                    exchanges: inside,
                    url,
                    outcome,
                },
            )
            .collect(),
    }
}

/// Distinct exchanges with every preference each is listed at, best first, then by name.
fn group_exchanges(records: &[MxRecord]) -> Vec<(String, Vec<u16>)> {
    let mut by_name: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for record in records.iter().filter(|r| !r.is_null()) {
        by_name
            .entry(record.exchange.as_str())
            .or_default()
            .push(record.preference);
    }
    let mut grouped: Vec<(String, Vec<u16>)> = by_name
        .into_iter()
        .map(|(name, mut prefs)| {
            prefs.sort_unstable();
            (name.to_string(), prefs)
        })
        .collect();
    grouped.sort_by(|a, b| a.1[0].cmp(&b.1[0]).then(a.0.cmp(&b.0)));
    grouped
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// How many distinct addresses a domain may have probed over SMTP (each costs at most a few
/// dialogues: see `smtp::MAX_NAMES_PER_ADDRESS`), and how many it was refused.
struct Budget {
    limit: usize,
    seen: std::sync::Mutex<std::collections::HashSet<IpAddr>>,
    skipped: std::sync::atomic::AtomicUsize,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Budget {
            limit,
            seen: std::sync::Mutex::new(std::collections::HashSet::new()),
            skipped: 0.into(),
        }
    }

    /// Whether `ip` may be probed: already admitted, or a new address within the limit.
    fn take(&self, ip: IpAddr) -> bool {
        let mut seen = self.seen.lock().unwrap();
        if seen.contains(&ip) {
            return true;
        }
        if seen.len() < self.limit {
            seen.insert(ip);
            return true;
        }
        self.skipped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        false
    }

    fn skipped(&self) -> usize {
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

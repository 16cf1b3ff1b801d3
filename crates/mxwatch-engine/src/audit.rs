//! The audit pipeline: settings in, collectors built once, reports out as a stream.
//!
//! `check`, `demo` and the monitor all audit through an [`Auditor`]; a front end only
//! chooses the [`Target`] (which resolver, the lab's ports) and what to do with each
//! [`Report`] as it arrives.

use crate::error::EngineError;
use crate::settings::AuditSettings;
use futures_util::{Stream, StreamExt};
use mxwatch_core::{CheckContext, DomainName, ParsedInput, Report};
use mxwatch_probe::dns::dnssec::{TrustAnchor, Validator};
use mxwatch_probe::mail_auth::MailAuthOptions;
use mxwatch_probe::mta_sts::MtaStsOptions;
use mxwatch_probe::rdap::RdapOptions;
use mxwatch_probe::rdap::bootstrap::Bootstrap;
use mxwatch_probe::smtp::{
    AddressBudget, DEFAULT_RESULTS_KEPT, PolitenessLimits, SmtpOptions, SmtpProber, TrustRoots,
};
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where an audit's questions and probes go.
#[derive(Clone, Debug)]
pub struct Target {
    /// The recursive resolver.
    pub resolver: SocketAddr,
    /// More resolvers: questions are spread over all of them, and one that fails is covered by
    /// the next (`scan --resolver A --resolver B`).
    pub more_resolvers: Vec<SocketAddr>,
    /// Treat 127.0.0.0/8 and ::1 as routable (the loopback lab looks like the internet).
    pub lab: bool,
    /// The built-in lab's own ports and keys, which win over the settings (`demo`).
    pub lab_overrides: Option<LabOverrides>,
}

/// What `mxwatch demo` points at instead of the internet's defaults.
#[derive(Clone, Debug)]
pub struct LabOverrides {
    pub smtp_port: u16,
    pub ns_port: u16,
    pub https_port: u16,
    /// The lab root's DNSSEC anchor (zone-file text), if the lab signs its zones.
    pub trust_anchor: Option<String>,
    /// The lab CA (DER), trusted instead of `ca_file`.
    pub ca_der: Vec<u8>,
    /// The lab's RDAP server (base URL), asked instead of the IANA bootstrap's.
    pub rdap_url: Option<String>,
}

impl Target {
    pub fn new(resolver: SocketAddr, lab: bool) -> Target {
        Target {
            resolver,
            more_resolvers: vec![],
            lab,
            lab_overrides: None,
        }
    }
}

/// Seconds since the Unix epoch: the clock the checks are given.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Where RDAP questions go: the lab's server, `rdap_server`, `rdap_bootstrap`, or the built-in
/// IANA copy; `None` when RDAP is off, and in the lab unless a server or file is named (the
/// built-in bootstrap names public servers, which no lab run may reach).
fn rdap_bootstrap(
    target: &Target,
    settings: &AuditSettings,
) -> Result<Option<Arc<Bootstrap>>, EngineError> {
    if !settings.rdap {
        return Ok(None);
    }
    if settings.rdap_server.is_some() && settings.rdap_bootstrap.is_some() {
        return Err(EngineError::Settings(
            "rdap_server and rdap_bootstrap both say where RDAP is asked: give one".into(),
        ));
    }
    let lab_url = target
        .lab_overrides
        .as_ref()
        .and_then(|lab| lab.rdap_url.as_deref());
    let bootstrap = match (
        lab_url.or(settings.rdap_server.as_deref()),
        &settings.rdap_bootstrap,
    ) {
        (Some(url), _) => Bootstrap::single(url),
        (None, Some(path)) => Bootstrap::from_file(path),
        (None, None) if target.lab => return Ok(None),
        (None, None) => Ok(Bootstrap::builtin()),
    }
    .map_err(|e| EngineError::Settings(format!("RDAP: {e}")))?;
    Ok(Some(Arc::new(bootstrap)))
}

/// Settings made ready to run: trust roots and anchors read, options built. Cheap to clone;
/// each [`Auditor::collector`] call gives a collector with fresh caches.
#[derive(Clone)]
pub struct Auditor {
    target: Target,
    settings: AuditSettings,
    roots: TrustRoots,
    validator: Option<Arc<Validator>>,
    /// Where RDAP is asked; `None`: not asked.
    rdap: Option<Arc<Bootstrap>>,
    /// Who decides when an MX address may be connected to, for every collector of this
    /// auditor (a worker's, shared through the database); `None`: each collector's prober
    /// keeps its own budget from the settings.
    smtp_budget: Option<Arc<dyn AddressBudget>>,
}

impl Auditor {
    /// Reads what the settings name (CA files, the trust anchor): a bad file is an
    /// [`EngineError::Settings`] before any network traffic.
    pub fn new(target: Target, settings: AuditSettings) -> Result<Auditor, EngineError> {
        let roots = match &target.lab_overrides {
            Some(lab) => TrustRoots::from_ders(vec![lab.ca_der.clone().into()])
                .map_err(|e| EngineError::Settings(format!("the lab CA: {e}")))?,
            None => {
                let extra: Vec<&std::path::Path> =
                    settings.ca_file.iter().map(|p| p.as_path()).collect();
                TrustRoots::load(&extra)
                    .map_err(|e| EngineError::Settings(format!("ca_file: {e}")))?
            }
        };
        let validator = if !settings.dnssec {
            if settings.trust_anchor.is_some() {
                return Err(EngineError::Settings(
                    "a trust anchor is given but DNSSEC validation is off".into(),
                ));
            }
            None
        } else {
            let lab_anchor = target
                .lab_overrides
                .as_ref()
                .and_then(|lab| lab.trust_anchor.as_ref());
            let anchor = match (lab_anchor, &settings.trust_anchor) {
                (Some(text), _) => TrustAnchor::parse(text, "the lab root"),
                (None, Some(path)) => TrustAnchor::from_file(path),
                (None, None) => Ok(TrustAnchor::iana()),
            }
            .map_err(|e| EngineError::Settings(format!("trust anchor: {e}")))?;
            Some(Arc::new(Validator::new(Arc::new(anchor))))
        };
        let rdap = rdap_bootstrap(&target, &settings)?;
        Ok(Auditor {
            target,
            settings,
            roots,
            validator,
            rdap,
            smtp_budget: None,
        })
    }

    /// The same auditor, whose collectors all ask `budget` for each SMTP connection's turn
    /// (instead of a budget of their own from the settings' politeness limits).
    pub fn with_smtp_budget(mut self, budget: Arc<dyn AddressBudget>) -> Auditor {
        self.smtp_budget = Some(budget);
        self
    }

    /// The per-MX-address limits the settings ask for (`--smtp-per-address`,
    /// `--smtp-per-minute`, `--smtp-max-wait`).
    pub fn politeness(&self) -> PolitenessLimits {
        let s = &self.settings;
        PolitenessLimits {
            concurrent: usize::from(s.smtp_per_address),
            per_minute: s.smtp_per_minute,
            max_wait: s.smtp_max_wait,
        }
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A collector with fresh caches asking the target's resolvers.
    pub fn collector(&self) -> Collector {
        self.collector_with(self.target.resolver, self.target.more_resolvers.clone())
    }

    /// A collector with fresh caches asking `resolver` alone (the monitor's confirming look
    /// may take another path to the truth).
    pub fn collector_via(&self, resolver: SocketAddr) -> Collector {
        self.collector_with(resolver, vec![])
    }

    fn collector_with(&self, resolver: SocketAddr, more_resolvers: Vec<SocketAddr>) -> Collector {
        let dns = Dns::new(self.dns_options(resolver, more_resolvers));
        self.collector_on(dns, self.settings.probe)
    }

    /// A collector with fresh caches whose answers for names inside `overlay`'s zones come
    /// from the zone files (`check --zone`). Offline, nothing else is asked: no SMTP, no
    /// HTTPS, no DNSSEC proof, no nameserver.
    pub fn collector_over(&self, overlay: Arc<mxwatch_probe::zone::Overlay>) -> Collector {
        let options = self.dns_options(self.target.resolver, self.target.more_resolvers.clone());
        let offline = overlay.offline;
        let collector = self.collector_on(
            Dns::with_overlay(options, overlay),
            self.settings.probe && !offline,
        );
        if offline {
            collector.without_network()
        } else {
            collector
        }
    }

    fn dns_options(&self, resolver: SocketAddr, more_resolvers: Vec<SocketAddr>) -> DnsOptions {
        let s = &self.settings;
        let mut dns = DnsOptions::new(resolver);
        dns.more_resolvers = more_resolvers;
        dns.qps_per_resolver = s.qps;
        dns.timeout = s.dns_timeout;
        dns.max_in_flight = usize::from(s.max_queries);
        dns.cache_entries = s.dns_cache_entries as usize;
        dns
    }

    fn collector_on(&self, dns: Dns, probe: bool) -> Collector {
        let s = &self.settings;
        let lab = self.target.lab_overrides.as_ref();
        let smtp = probe.then(|| {
            let options = SmtpOptions {
                port: lab.map_or(s.smtp_port, |l| l.smtp_port),
                total_timeout: s.smtp_timeout,
                connect_timeout: s.smtp_timeout.min(Duration::from_secs(10)),
                reply_timeout: s.smtp_timeout.min(Duration::from_secs(15)),
                helo: s.helo.clone(),
                probe_relay: s.probe_relay,
                politeness: self.politeness(),
                ..SmtpOptions::default()
            };
            Arc::new(match &self.smtp_budget {
                Some(budget) => SmtpProber::with_budget(
                    options,
                    self.roots.clone(),
                    budget.clone(),
                    DEFAULT_RESULTS_KEPT,
                ),
                None => SmtpProber::new(options, self.roots.clone()),
            })
        });
        Collector::new(
            Arc::new(dns),
            CollectorOptions {
                lab: self.target.lab,
                smtp,
                nameservers: s
                    .compare_nameservers
                    .then(|| lab.map_or(s.ns_port, |l| l.ns_port)),
                mail_auth: MailAuthOptions {
                    dkim_selectors: s.dkim_selectors.clone(),
                    guess_dkim: s.dkim_guess,
                    dnsbl_zones: s.dnsbl.clone(),
                },
                dnssec: self.validator.clone(),
                // The policy fetch is a probe of its own: without probes it is skipped
                // (MTASTS-TXT-SYNTAX still runs).
                mta_sts: probe.then(|| MtaStsOptions {
                    port: lab.map_or(s.https_port, |l| l.https_port),
                    connect_timeout: s.https_timeout.min(Duration::from_secs(10)),
                    total_timeout: s.https_timeout,
                    roots: self.roots.clone(),
                }),
                rdap: self.rdap.as_ref().map(|bootstrap| RdapOptions {
                    bootstrap: bootstrap.clone(),
                    connect_timeout: s.rdap_timeout.min(Duration::from_secs(10)),
                    timeout: s.rdap_timeout,
                    per_server_qps: s.rdap_qps,
                    roots: self.roots.clone(),
                }),
            },
        )
    }

    /// The checks' context now: lab mode, the clock, the expiry window.
    pub fn check_context(&self) -> CheckContext {
        CheckContext {
            expected_mx: None,
            lab: self.target.lab,
            now_unix: now_unix(),
            expiry_warning_days: self.settings.cert_expiry_days,
            registration_expiry_days: self.settings.registration_expiry_days,
        }
    }

    /// One domain, observed through `collector` (with `extra_selectors` on top of the
    /// settings' DKIM selectors) and judged with `ctx`.
    pub async fn audit_with(
        collector: &Collector,
        domain: &DomainName,
        extra_selectors: &[String],
        ctx: &CheckContext,
        notes: Vec<String>,
    ) -> Report {
        let observation = collector
            .observe_with_selectors(domain, extra_selectors)
            .await;
        Report::new(observation, ctx, notes)
    }

    /// Every domain audited, `concurrency` at a time, through one collector (one cache: a
    /// provider shared by many domains is asked once). Reports come in input order.
    pub fn audit_all(
        &self,
        domains: Vec<ParsedInput>,
        concurrency: usize,
    ) -> (Collector, impl Stream<Item = Report> + use<>) {
        let collector = self.collector();
        let ctx = self.check_context();
        let shared = collector.clone();
        let reports =
            futures_util::stream::iter(domains)
                .map(move |input| {
                    let collector = shared.clone();
                    let ctx = ctx.clone();
                    async move {
                        Self::audit_with(&collector, &input.domain, &[], &ctx, input.notes).await
                    }
                })
                .buffered(concurrency.max(1));
        (collector, reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(lab: bool) -> Target {
        Target::new("127.0.0.1:53".parse().unwrap(), lab)
    }

    #[test]
    fn where_rdap_is_asked() {
        let mut settings = AuditSettings::default();
        // The internet: the built-in IANA copy.
        let builtin = rdap_bootstrap(&target(false), &settings).unwrap().unwrap();
        assert_eq!(
            builtin.base_url("example.com"),
            Some("https://rdap.verisign.com/com/v1/")
        );
        // The lab never reaches the public servers the built-in copy names.
        assert!(rdap_bootstrap(&target(true), &settings).unwrap().is_none());
        settings.rdap_server = Some("https://rdap.lab.test:8443".into());
        let lab = rdap_bootstrap(&target(true), &settings).unwrap().unwrap();
        assert_eq!(lab.base_url("x.test"), Some("https://rdap.lab.test:8443/"));
        // Both a server and a file: which one was meant is not guessed.
        settings.rdap_bootstrap = Some("/nonexistent/dns.json".into());
        let both = rdap_bootstrap(&target(false), &settings).unwrap_err();
        assert!(both.to_string().contains("give one"), "{both}");
        // Off is off, whatever else is named.
        settings.rdap = false;
        assert!(rdap_bootstrap(&target(false), &settings).unwrap().is_none());
    }
}

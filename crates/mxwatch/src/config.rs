//! The `watch` configuration: one TOML file (see `examples/mxwatch.toml`).
//! Unknown keys are errors; each field's default is in its doc comment.

use mxwatch_core::Severity;
use mxwatch_core::expect::MxExpectation;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The SQLite database with the history. Default: `mxwatch.db`.
    #[serde(default = "default_db")]
    pub db: PathBuf,
    #[serde(default)]
    pub defaults: Defaults,
    /// The inventory.
    #[serde(default, rename = "domain")]
    pub domains: Vec<DomainConfig>,
    /// Windows in which changes are expected (recorded, not alerted).
    #[serde(default, rename = "maintenance")]
    pub maintenance: Vec<Maintenance>,
    /// Where alerts go.
    #[serde(default, rename = "alert")]
    pub alerts: Vec<AlertConfig>,
}

fn default_db() -> PathBuf {
    PathBuf::from("mxwatch.db")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// How often each domain is checked. Default: `10m`.
    #[serde(default = "default_every")]
    pub every: String,
    /// Random spread of each interval, as a fraction of it (0.1 = ±10 %). Default: 0.1.
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// A change is alerted only when a second look this much later confirms it. Default: `30s`.
    #[serde(default = "default_confirm")]
    pub confirm_after: String,
    /// Recursive resolver, IP[:PORT]. Default: the first nameserver of /etc/resolv.conf.
    pub resolver: Option<String>,
    /// A second resolver for the confirming look (a different path to the truth). Default: the first.
    pub confirm_resolver: Option<String>,
    /// SMTP/STARTTLS probes of the exchanges. Default: true.
    #[serde(default = "yes")]
    pub probe: bool,
    /// Treat 127.0.0.0/8 and ::1 as routable (the loopback lab). Default: false.
    #[serde(default)]
    pub lab: bool,
    /// Ask every NS of each domain directly and compare their answers (NS-* checks). Default: true.
    #[serde(default = "yes")]
    pub compare_nameservers: bool,
    /// Port of the nameservers asked directly. Default: 53.
    #[serde(default = "default_ns_port")]
    pub ns_port: u16,
    /// SMTP port. Default: 25.
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// HTTPS port of the MTA-STS policy fetch. Default: 443.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// Extra trusted CA certificates (PEM), for SMTP and the MTA-STS fetch. Default: none.
    #[serde(default)]
    pub ca_file: Vec<PathBuf>,
    /// Validate DNSSEC (the MX, the exchanges' addresses and TLSA) as `check` does. Default: true.
    #[serde(default = "yes")]
    pub dnssec: bool,
    /// DNSSEC trust anchor file (root DS/DNSKEY, zone-file form). Default: the IANA root keys.
    #[serde(default)]
    pub trust_anchor: Option<PathBuf>,
    /// Also ask the common DKIM selectors (default, selector1, google, k1 …) for every domain. Default: true.
    #[serde(default = "yes")]
    pub dkim_guess: bool,
    /// DNS blocklist zones every MX address is looked up in (DNSBL-LISTED). Default: none.
    #[serde(default)]
    pub dnsbl: Vec<String>,
    /// Keep observations this long (changes are kept). Default: `90d`.
    #[serde(default = "default_retention")]
    pub retention: String,
    /// Also alert changes that were expected (maintenance window, matching `expect_mx`). Default: false.
    #[serde(default)]
    pub alert_expected: bool,
    /// Time limit for one DNS question. Default: `3s`.
    #[serde(default = "default_dns_timeout")]
    pub dns_timeout: String,
    /// First retry of an alert a sink refused; doubles each time, at most an hour. Default: `30s`.
    #[serde(default = "default_retry")]
    pub retry_after: String,
    /// Domains checked at once. Default: 16.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for Defaults {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

fn default_every() -> String {
    "10m".into()
}
fn default_jitter() -> f64 {
    0.1
}
fn default_confirm() -> String {
    "30s".into()
}
fn yes() -> bool {
    true
}
fn default_ns_port() -> u16 {
    53
}
fn default_smtp_port() -> u16 {
    25
}
fn default_https_port() -> u16 {
    443
}
fn default_retention() -> String {
    "90d".into()
}
fn default_dns_timeout() -> String {
    "3s".into()
}
fn default_retry() -> String {
    "30s".into()
}
fn default_concurrency() -> usize {
    16
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    pub name: String,
    /// Overrides `defaults.every`.
    pub every: Option<String>,
    /// The MX set this domain must have, e.g. `["10 mx1.example.net", "20 mx2.example.net"]`.
    pub expect_mx: Option<Vec<String>>,
    /// Or a provider preset: google-workspace, google-workspace-2023, microsoft-365, proton, fastmail, zoho, zoho-eu.
    pub preset: Option<String>,
    /// Labels for maintenance windows.
    #[serde(default)]
    pub tags: Vec<String>,
    /// DKIM selectors this domain signs with (their keys are checked and changes recorded;
    /// a selector without a key is DKIM-SELECTOR-MISSING). Default: none.
    #[serde(default)]
    pub dkim_selectors: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Domains the window covers (by name)…
    #[serde(default)]
    pub domains: Vec<String>,
    /// …or by tag; neither means every domain.
    #[serde(default)]
    pub tags: Vec<String>,
    /// RFC 3339 start and end, e.g. `2026-11-24T22:00:00Z`.
    pub start: String,
    pub end: String,
    /// Shown with the changes it covers.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Generic JSON POST, signed with `secret` (X-Mxwatch-Signature: sha256=HMAC).
    Webhook,
    /// Slack incoming webhook (`{"text": …}`).
    Slack,
    /// Microsoft Teams workflow webhook (an Adaptive Card message).
    Teams,
    /// JSON lines appended to `path` (`-` for stdout), for a SIEM to tail.
    Jsonl,
    /// RFC 5424 syslog to `address` (host:port) over `protocol` udp or tcp.
    Syslog,
    /// E-mail through an SMTP submission server.
    Email,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// A name for the logs and the queue. Default: the kind.
    pub name: Option<String>,
    pub kind: SinkKind,
    /// Alerts below this severity are not sent to this sink. Default: `low`.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// webhook, slack, teams: the URL.
    pub url: Option<String>,
    /// webhook: HMAC-SHA256 key for the signature header. Default: unsigned.
    pub secret: Option<String>,
    /// jsonl: the file (`-` for stdout).
    pub path: Option<PathBuf>,
    /// syslog: `host:port`.
    pub address: Option<String>,
    /// syslog: `udp` (default) or `tcp` (RFC 6587 octet counting).
    pub protocol: Option<String>,
    /// email: the submission server host and port (default 587).
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    /// email: `starttls` (default, required), `tls` (implicit, port 465) or `none` (loopback only).
    pub smtp_security: Option<String>,
    /// email: login; the password is read from the environment variable named here.
    pub smtp_user: Option<String>,
    pub smtp_password_env: Option<String>,
    /// email: extra CA (PEM) for the submission server's certificate.
    pub smtp_ca_file: Option<PathBuf>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
}

fn default_min_severity() -> Severity {
    Severity::Low
}

impl AlertConfig {
    pub fn sink_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{:?}", self.kind).to_ascii_lowercase())
    }
}

/// Two spellings of one domain (case, trailing dot, Unicode or A-label).
fn same_domain(a: &str, b: &str) -> bool {
    match (
        mxwatch_core::parse_domain_input(a),
        mxwatch_core::parse_domain_input(b),
    ) {
        (Ok(a), Ok(b)) => a.domain.ascii == b.domain.ascii,
        _ => a.eq_ignore_ascii_case(b),
    }
}

pub fn duration(text: &str, what: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{what} = {text:?}: {e} (e.g. \"30s\", \"10m\", \"7d\")"))
}

pub fn timestamp(text: &str, what: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("{what} = {text:?}: not an RFC 3339 time ({e})"))
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let config: Config =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// Everything that can be checked before running.
    pub fn validate(&self) -> Result<(), String> {
        duration(&self.defaults.every, "defaults.every")?;
        duration(&self.defaults.confirm_after, "defaults.confirm_after")?;
        duration(&self.defaults.retention, "defaults.retention")?;
        duration(&self.defaults.retry_after, "defaults.retry_after")?;
        let dns = duration(&self.defaults.dns_timeout, "defaults.dns_timeout")?;
        if dns < Duration::from_millis(50) || dns > Duration::from_secs(300) {
            return Err(format!(
                "defaults.dns_timeout = {:?}: between 50ms and 300s",
                self.defaults.dns_timeout
            ));
        }
        if !(0.0..=0.5).contains(&self.defaults.jitter) {
            return Err(format!(
                "defaults.jitter = {}: must be between 0 and 0.5",
                self.defaults.jitter
            ));
        }
        if self.domains.is_empty() {
            return Err("no [[domain]] to watch".into());
        }
        let mut seen = std::collections::HashSet::new();
        for d in &self.domains {
            let parsed = mxwatch_core::parse_domain_input(&d.name)
                .map_err(|e| format!("domain {:?}: {e}", d.name))?;
            if !seen.insert(parsed.domain.ascii.clone()) {
                return Err(format!("domain {:?} is listed twice", d.name));
            }
            if let Some(every) = &d.every {
                duration(every, &format!("domain {:?} every", d.name))?;
            }
            if d.expect_mx.is_some() && d.preset.is_some() {
                return Err(format!(
                    "domain {:?}: give expect_mx or preset, not both",
                    d.name
                ));
            }
            self.expectation(d)?;
        }
        for m in &self.maintenance {
            let start = timestamp(&m.start, "maintenance start")?;
            let end = timestamp(&m.end, "maintenance end")?;
            if end <= start {
                return Err(format!(
                    "maintenance {} to {}: ends before it starts",
                    m.start, m.end
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for a in &self.alerts {
            if !names.insert(a.sink_name()) {
                return Err(format!(
                    "two alert sinks are named {:?}: give each a `name`",
                    a.sink_name()
                ));
            }
            let need = |field: bool, what: &str| {
                if field {
                    Ok(())
                } else {
                    Err(format!(
                        "alert {:?} ({:?}) needs `{what}`",
                        a.sink_name(),
                        a.kind
                    ))
                }
            };
            match a.kind {
                SinkKind::Webhook | SinkKind::Slack | SinkKind::Teams => {
                    need(a.url.is_some(), "url")?
                }
                SinkKind::Jsonl => need(a.path.is_some(), "path")?,
                SinkKind::Syslog => need(a.address.is_some(), "address")?,
                SinkKind::Email => {
                    need(a.smtp_host.is_some(), "smtp_host")?;
                    let loopback = a
                        .smtp_host
                        .as_deref()
                        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
                        .is_some_and(|ip| ip.is_loopback());
                    if a.smtp_security.as_deref() == Some("none") && !loopback {
                        return Err(format!(
                            "alert {:?}: smtp_security = \"none\" sends the login and the alerts in clear text; \
                             it is only allowed to a loopback address",
                            a.sink_name()
                        ));
                    }
                    need(a.from.is_some(), "from")?;
                    need(!a.to.is_empty(), "to")?;
                }
            }
        }
        Ok(())
    }

    /// The MX expectation of a domain, if configured.
    pub fn expectation(&self, d: &DomainConfig) -> Result<Option<MxExpectation>, String> {
        match (&d.expect_mx, &d.preset) {
            (Some(list), _) => MxExpectation::from_list(list)
                .map(Some)
                .map_err(|e| format!("domain {:?}: {e}", d.name)),
            (None, Some(name)) => MxExpectation::preset(name)
                .map(Some)
                .map_err(|e| format!("domain {:?}: {e}", d.name)),
            (None, None) => Ok(None),
        }
    }

    /// The maintenance window covering `domain` at `now`, if any: its reason.
    pub fn maintenance_at(&self, domain: &DomainConfig, now: i64) -> Option<String> {
        self.maintenance.iter().find_map(|m| {
            let covers = (m.domains.is_empty() && m.tags.is_empty())
                || m.domains.iter().any(|n| same_domain(n, &domain.name))
                || m.tags.iter().any(|t| domain.tags.contains(t));
            let start = timestamp(&m.start, "").ok()?;
            let end = timestamp(&m.end, "").ok()?;
            (covers && start <= now && now < end).then(|| {
                format!(
                    "maintenance window {} to {}{}",
                    m.start,
                    m.end,
                    m.reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/mxwatch.toml");
        let config = Config::load(Path::new(path)).unwrap();
        assert!(!config.domains.is_empty());
        assert!(!config.alerts.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let base = "[[domain]]\nname = \"example.com\"\n";
        assert!(toml::from_str::<Config>(&format!("{base}colour = 1\n")).is_err());
        let bad_every: Config =
            toml::from_str(&format!("[defaults]\nevery = \"soon\"\n{base}")).unwrap();
        assert!(bad_every.validate().unwrap_err().contains("defaults.every"));
        let no_url: Config =
            toml::from_str(&format!("{base}[[alert]]\nkind = \"webhook\"\n")).unwrap();
        assert!(no_url.validate().unwrap_err().contains("url"));
        let empty: Config = toml::from_str("").unwrap();
        assert!(empty.validate().unwrap_err().contains("no [[domain]]"));
        let preset: Config =
            toml::from_str("[[domain]]\nname = \"example.com\"\npreset = \"nope\"\n").unwrap();
        assert!(preset.validate().unwrap_err().contains("google-workspace"));
    }

    #[test]
    fn maintenance_windows_cover_by_name_or_tag() {
        let config: Config = toml::from_str(
            "[[domain]]\nname = \"a.example\"\ntags = [\"prod\"]\n[[domain]]\nname = \"b.example\"\n\
             [[maintenance]]\ntags = [\"prod\"]\nstart = \"2026-11-24T22:00:00Z\"\nend = \"2026-11-25T02:00:00Z\"\nreason = \"move to new provider\"\n",
        )
        .unwrap();
        config.validate().unwrap();
        let at = timestamp("2026-11-24T23:00:00Z", "").unwrap();
        assert!(
            config
                .maintenance_at(&config.domains[0], at)
                .unwrap()
                .contains("new provider")
        );
        assert!(config.maintenance_at(&config.domains[1], at).is_none());
        assert!(
            config
                .maintenance_at(&config.domains[0], at + 86_400)
                .is_none()
        );
    }
}

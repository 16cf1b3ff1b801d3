//! The monitor's configuration: one TOML file (see `examples/mxwatch.toml`).
//!
//! Unknown keys are errors; each field's default is in its doc comment. Everything is parsed
//! at load: durations become [`Duration`]s, times Unix seconds, resolvers socket addresses,
//! the database a [`StoreUrl`], and each alert sink its own typed configuration
//! ([`crate::alert::SinkConfig`]), so a `secret` on a Slack sink or a misspelled syslog
//! `protocol` stops the load with the key's name.

use crate::alert::AlertConfig;
use crate::error::EngineError;
use crate::resolver::parse_resolver;
use crate::settings::{AuditSettings, duration_field};
use mxwatch_core::expect::MxExpectation;
use mxwatch_store::StoreUrl;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The store: `sqlite://PATH` or a bare path (SQLite). Default: `mxwatch.db`.
    #[serde(default = "default_db", deserialize_with = "store_url")]
    pub db: StoreUrl,
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

fn default_db() -> StoreUrl {
    StoreUrl::Sqlite("mxwatch.db".into())
}

fn store_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<StoreUrl, D::Error> {
    StoreUrl::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// `[defaults]`: the monitor's own keys ([`MonitorDefaults`]) and every audit setting
/// ([`AuditSettings`], the same struct as the `check` flags) side by side in one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defaults {
    pub monitor: MonitorDefaults,
    pub audit: AuditSettings,
}

impl<'de> Deserialize<'de> for Defaults {
    /// Splits the table by key: a key of [`MonitorDefaults`] goes there, every other key to
    /// [`AuditSettings`]; both deny unknown keys. (serde's `flatten` cannot be combined with
    /// `deny_unknown_fields`, which is why this is done by hand.)
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(d)?;
        let (monitor, audit): (toml::Table, toml::Table) = table
            .into_iter()
            .partition(|(key, _)| MonitorDefaults::KEYS.contains(&key.as_str()));
        let monitor = toml::Value::Table(monitor)
            .try_into::<MonitorDefaults>()
            .map_err(|e| D::Error::custom(e.message().to_string()))?;
        let audit = toml::Value::Table(audit)
            .try_into::<AuditSettings>()
            .map_err(|e| {
                let message = e.message().to_string();
                if message.contains("unknown field") {
                    D::Error::custom(format!(
                        "{message}, or one of the monitor's: {}",
                        MonitorDefaults::KEYS.join(", ")
                    ))
                } else {
                    D::Error::custom(message)
                }
            })?;
        Ok(Defaults { monitor, audit })
    }
}

/// The monitor's own defaults: schedule, confirmation, retention, where to ask.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorDefaults {
    /// How often each domain is checked. Default: `10m`.
    #[serde(deserialize_with = "duration_field")]
    pub every: Duration,
    /// Random spread of each interval, as a fraction of it (0.1 = ±10 %). Default: 0.1.
    pub jitter: f64,
    /// A change is alerted only when a second look this much later confirms it. Default: `30s`.
    #[serde(deserialize_with = "duration_field")]
    pub confirm_after: Duration,
    /// Recursive resolver, IP[:PORT]. Default: the first nameserver of /etc/resolv.conf.
    #[serde(deserialize_with = "resolver_field")]
    pub resolver: Option<SocketAddr>,
    /// A second resolver for the confirming look (a different path to the truth). Default: the first.
    #[serde(deserialize_with = "resolver_field")]
    pub confirm_resolver: Option<SocketAddr>,
    /// Treat 127.0.0.0/8 and ::1 as routable (the loopback lab). Default: false.
    pub lab: bool,
    /// Keep observations this long (changes are kept). Default: `90d`.
    #[serde(deserialize_with = "duration_field")]
    pub retention: Duration,
    /// Also alert changes that were expected (maintenance window, matching `expect_mx`). Default: false.
    pub alert_expected: bool,
    /// First retry of an alert a sink refused for a passing reason; doubles each time, at most
    /// an hour. Default: `30s`.
    #[serde(deserialize_with = "duration_field")]
    pub retry_after: Duration,
    /// Domains checked at once. Default: 16.
    pub concurrency: usize,
}

impl MonitorDefaults {
    /// The keys of `[defaults]` that belong here (a test holds this list to the struct).
    pub const KEYS: &'static [&'static str] = &[
        "every",
        "jitter",
        "confirm_after",
        "resolver",
        "confirm_resolver",
        "lab",
        "retention",
        "alert_expected",
        "retry_after",
        "concurrency",
    ];
}

impl Default for MonitorDefaults {
    fn default() -> Self {
        MonitorDefaults {
            every: Duration::from_secs(600),
            jitter: 0.1,
            confirm_after: Duration::from_secs(30),
            resolver: None,
            confirm_resolver: None,
            lab: false,
            retention: Duration::from_secs(90 * 86_400),
            alert_expected: false,
            retry_after: Duration::from_secs(30),
            concurrency: 16,
        }
    }
}

fn resolver_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| parse_resolver(&text).map_err(serde::de::Error::custom))
        .transpose()
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration_field(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfig {
    pub name: String,
    /// Overrides `defaults.every`.
    #[serde(default, deserialize_with = "optional_duration")]
    pub every: Option<Duration>,
    /// The MX set this domain must have, e.g. `["10 mx1.example.net", "20 mx2.example.net"]`.
    pub expect_mx: Option<Vec<String>>,
    /// Or a provider preset: google-workspace, google-workspace-2023, microsoft-365, proton, fastmail, zoho, zoho-eu.
    pub preset: Option<String>,
    /// Labels for maintenance windows.
    #[serde(default)]
    pub tags: Vec<String>,
    /// DKIM selectors this domain signs with, on top of `defaults.dkim_selectors` (their keys are
    /// checked and changes recorded; a selector without a key is DKIM-SELECTOR-MISSING). Default: none.
    #[serde(default, deserialize_with = "label_paths")]
    pub dkim_selectors: Vec<String>,
}

fn label_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| crate::settings::parse_dns_label_path(s).map_err(serde::de::Error::custom))
        .collect()
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
    /// RFC 3339 start and end, e.g. `2026-11-24T22:00:00Z` (Unix seconds once loaded).
    #[serde(deserialize_with = "timestamp_field")]
    pub start: i64,
    #[serde(deserialize_with = "timestamp_field")]
    pub end: i64,
    /// Shown with the changes it covers.
    pub reason: Option<String>,
}

fn timestamp_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    timestamp(&text).map_err(serde::de::Error::custom)
}

/// An RFC 3339 time as Unix seconds.
pub fn timestamp(text: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("{text:?}: not an RFC 3339 time ({e})"))
}

/// Unix seconds as RFC 3339 (UTC); the number itself if out of range.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
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

impl Config {
    pub fn load(path: &Path) -> Result<Config, EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Settings(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text).map_err(|e| EngineError::Settings(format!("{}: {e}", path.display())))
    }

    /// Parses and validates a configuration's text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Everything that needs more than one key to check.
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.defaults;
        if !(0.0..=0.5).contains(&d.monitor.jitter) {
            return Err(format!(
                "defaults.jitter = {}: must be between 0 and 0.5",
                d.monitor.jitter
            ));
        }
        if self.domains.is_empty() {
            return Err("no [[domain]] to watch".into());
        }
        let mut seen = std::collections::HashSet::new();
        for domain in &self.domains {
            let parsed = mxwatch_core::parse_domain_input(&domain.name)
                .map_err(|e| format!("domain {:?}: {e}", domain.name))?;
            if !seen.insert(parsed.domain.ascii.clone()) {
                return Err(format!("domain {:?} is listed twice", domain.name));
            }
            if domain.expect_mx.is_some() && domain.preset.is_some() {
                return Err(format!(
                    "domain {:?}: give expect_mx or preset, not both",
                    domain.name
                ));
            }
            self.expectation(domain)?;
        }
        for m in &self.maintenance {
            if m.end <= m.start {
                return Err(format!(
                    "maintenance {} to {}: ends before it starts",
                    rfc3339(m.start),
                    rfc3339(m.end)
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for alert in &self.alerts {
            if !names.insert(alert.sink_name()) {
                return Err(format!(
                    "two alert sinks are named {:?}: give each a `name`",
                    alert.sink_name()
                ));
            }
            alert.sink.validate(&alert.sink_name())?;
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
        maintenance_covering(&self.maintenance, domain, now)
    }
}

/// The window of `windows` covering `domain` at `now`, if any: its reason.
pub fn maintenance_covering(
    windows: &[Maintenance],
    domain: &DomainConfig,
    now: i64,
) -> Option<String> {
    windows.iter().find_map(|m| {
        let covers = (m.domains.is_empty() && m.tags.is_empty())
            || m.domains.iter().any(|n| same_domain(n, &domain.name))
            || m.tags.iter().any(|t| domain.tags.contains(t));
        (covers && m.start <= now && now < m.end).then(|| {
            format!(
                "maintenance window {} to {}{}",
                rfc3339(m.start),
                rfc3339(m.end),
                m.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::SinkConfig;

    const BASE: &str = "[[domain]]\nname = \"example.com\"\n";

    #[test]
    fn the_example_config_loads_with_every_setting() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/mxwatch.toml");
        let config = Config::load(Path::new(path)).unwrap();
        assert!(!config.domains.is_empty());
        assert_eq!(config.alerts.len(), 6);
        // The example documents every key with its default: loading it gives the defaults.
        assert_eq!(config.defaults, Defaults::default());
        let text = std::fs::read_to_string(path).unwrap();
        for key in MonitorDefaults::KEYS.iter().chain(AuditSettings::KEYS) {
            assert!(
                text.contains(&format!("\n{key} =")) || text.contains(&format!("# {key} =")),
                "examples/mxwatch.toml does not document defaults.{key}"
            );
        }
    }

    #[test]
    fn the_monitor_key_list_is_the_struct() {
        for key in MonitorDefaults::KEYS {
            let value = match *key {
                "jitter" => "0.2",
                "lab" | "alert_expected" => "true",
                "concurrency" => "3",
                "resolver" | "confirm_resolver" => "\"127.0.0.1\"",
                _ => "\"5s\"",
            };
            let text = format!("[defaults]\n{key} = {value}\n{BASE}");
            Config::parse(&text).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn defaults_hold_the_audit_settings_parsed() {
        let config = Config::parse(&format!(
            "[defaults]\nevery = \"1h\"\nsmtp_timeout = \"5s\"\nhttps_timeout = \"2s\"\nmax_queries = 32\n\
             cert_expiry_days = 30\ndns_timeout = \"1s\"\nresolver = \"127.0.0.1:5353\"\n{BASE}"
        ))
        .unwrap();
        let d = &config.defaults;
        assert_eq!(d.monitor.every, Duration::from_secs(3600));
        assert_eq!(d.monitor.resolver, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(d.audit.smtp_timeout, Duration::from_secs(5));
        assert_eq!(d.audit.https_timeout, Duration::from_secs(2));
        assert_eq!(d.audit.max_queries, 32);
        assert_eq!(d.audit.cert_expiry_days, 30);
        assert_eq!(d.audit.dns_timeout, Duration::from_secs(1));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = |text: &str| Config::parse(text).unwrap_err();
        assert!(err(&format!("{BASE}colour = 1\n")).contains("colour"));
        assert!(err(&format!("[defaults]\nevery = \"soon\"\n{BASE}")).contains("soon"));
        let typo = err(&format!("[defaults]\nsmtp_timout = \"1s\"\n{BASE}"));
        assert!(
            typo.contains("smtp_timout") && typo.contains("every"),
            "{typo}"
        );
        assert!(err(&format!("[defaults]\ndns_timeout = \"10m\"\n{BASE}")).contains("outside"));
        assert!(err(&format!("[defaults]\nresolver = \"dns.example\"\n{BASE}")).contains("IP"));
        assert!(err(&format!("{BASE}[[alert]]\nkind = \"webhook\"\n")).contains("url"));
        assert!(err("").contains("no [[domain]]"));
        assert!(
            err("[[domain]]\nname = \"example.com\"\npreset = \"nope\"\n")
                .contains("google-workspace")
        );
        assert!(err(&format!("{BASE}[[domain]]\nname = \"EXAMPLE.com.\"\n")).contains("twice"));
        assert!(err(&format!("db = \"mysql://x\"\n{BASE}")).contains("mysql"));
    }

    #[test]
    fn each_sink_takes_only_its_own_keys() {
        let err = |sink: &str| Config::parse(&format!("{BASE}[[alert]]\n{sink}")).unwrap_err();
        let slack_secret =
            err("kind = \"slack\"\nurl = \"https://hooks.example/x\"\nsecret = \"s\"\n");
        assert!(slack_secret.contains("secret"), "{slack_secret}");
        let protocol = err("kind = \"syslog\"\naddress = \"127.0.0.1:514\"\nprotocol = \"tpc\"\n");
        assert!(protocol.contains("tpc"), "{protocol}");
        let security = err(
            "kind = \"email\"\nsmtp_host = \"smtp.example\"\nsmtp_security = \"startls\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
        );
        assert!(security.contains("startls"), "{security}");
        let clear = err(
            "kind = \"email\"\nsmtp_host = \"smtp.example\"\nsmtp_security = \"none\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
        );
        assert!(clear.contains("loopback"), "{clear}");
        assert!(err("kind = \"pager\"\n").contains("pager"));
        let ok = Config::parse(&format!(
            "{BASE}[[alert]]\nkind = \"syslog\"\naddress = \"127.0.0.1:514\"\nprotocol = \"tcp\"\nmin_severity = \"high\"\n"
        ))
        .unwrap();
        assert!(matches!(ok.alerts[0].sink, SinkConfig::Syslog(_)));
        assert_eq!(ok.alerts[0].sink_name(), "syslog");
    }

    #[test]
    fn bare_paths_and_sqlite_urls_name_the_same_store() {
        let bare = Config::parse(&format!("db = \"/tmp/x.db\"\n{BASE}")).unwrap();
        let url = Config::parse(&format!("db = \"sqlite:///tmp/x.db\"\n{BASE}")).unwrap();
        assert_eq!(bare.db, url.db);
    }

    #[test]
    fn maintenance_windows_cover_by_name_or_tag() {
        let config = Config::parse(
            "[[domain]]\nname = \"a.example\"\ntags = [\"prod\"]\n[[domain]]\nname = \"b.example\"\n\
             [[maintenance]]\ntags = [\"prod\"]\nstart = \"2026-11-24T22:00:00Z\"\nend = \"2026-11-25T02:00:00Z\"\nreason = \"move to new provider\"\n",
        )
        .unwrap();
        let at = timestamp("2026-11-24T23:00:00Z").unwrap();
        let reason = config.maintenance_at(&config.domains[0], at).unwrap();
        assert!(reason.contains("new provider"), "{reason}");
        assert!(reason.contains("2026-11-24T22:00:00Z"), "{reason}");
        assert!(config.maintenance_at(&config.domains[1], at).is_none());
        assert!(
            config
                .maintenance_at(&config.domains[0], at + 86_400)
                .is_none()
        );
        let backwards = Config::parse(
            "[[domain]]\nname = \"a.example\"\n[[maintenance]]\nstart = \"2026-11-25T02:00:00Z\"\nend = \"2026-11-24T22:00:00Z\"\n",
        )
        .unwrap_err();
        assert!(backwards.contains("ends before"), "{backwards}");
    }
}

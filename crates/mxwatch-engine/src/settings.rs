//! How an audit is done: one definition of every audit setting.
//!
//! The same struct is the `check`/`demo` flags (with the `clap` feature) and the
//! `[defaults]` of the watch configuration, so a setting cannot exist in one and be
//! hard-coded in the other. Each field's doc comment is its `--help` text; its default is
//! in [`AuditSettings::default`] (and in `examples/mxwatch.toml`), and a test holds the
//! command line's defaults to the same values.
//!
//! Durations are parsed once, when the flags or the file are read: the rest of the engine
//! sees [`Duration`]s, never strings.

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The shortest and longest time limit any network step may be given.
pub const TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_secs(300));

/// What to ask, what to probe, and how long to wait: everything that shapes one audit
/// except where it is sent (the resolver and the lab switch, see [`crate::audit::Target`]).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct AuditSettings {
    /// Time limit for one DNS question, in seconds (each question is tried twice over UDP; the
    /// second try goes out as soon as the first is overdue by the resolver's recent reply times).
    /// Config: `dns_timeout = "3s"`.
    #[cfg_attr(feature = "clap", arg(long = "timeout", value_name = "SECS", default_value = "3", value_parser = parse_timeout))]
    #[serde(deserialize_with = "timeout_field")]
    pub dns_timeout: Duration,

    /// DNS questions in flight at once, across all domains.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..=8192)))]
    pub max_queries: u16,

    /// DNS answers kept at most (the run-wide cache, least recently used dropped first): a
    /// list's memory is bounded by this, not by its length. Config: `dns_cache_entries`.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = mxwatch_probe::DEFAULT_CACHE_ENTRIES, value_parser = clap::value_parser!(u32).range(1_000..)))]
    pub dns_cache_entries: u32,

    /// At most this many DNS questions a second to each resolver (polite to a shared resolver).
    /// Default: no limit.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub qps: Option<std::num::NonZeroU32>,

    /// DNS only: no SMTP or HTTPS probes of the mail hosts. Config: `probe = false`.
    #[cfg_attr(feature = "clap", arg(long = "no-probe", action = clap::ArgAction::SetFalse))]
    pub probe: bool,

    /// TCP port of the SMTP probe (the lab serves its hosts on another port).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 25, value_name = "PORT"))]
    pub smtp_port: u16,

    /// Time limit for the whole SMTP dialogue with one address, greeting included, in seconds.
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value = "20", value_parser = parse_timeout))]
    #[serde(deserialize_with = "timeout_field")]
    pub smtp_timeout: Duration,

    /// Politeness: SMTP connections open at once to one MX address, however many domains use it.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64)))]
    pub smtp_per_address: u16,

    /// Politeness: SMTP connections begun to one MX address within any sixty seconds.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 6, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=10_000)))]
    pub smtp_per_minute: u32,

    /// The longest an SMTP probe waits for its turn at an address (per-address limits), in
    /// seconds; a probe whose turn would come later is skipped and recorded as skipped for
    /// politeness, never as a failure of the host.
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value = "120", value_parser = parse_timeout))]
    #[serde(deserialize_with = "timeout_field")]
    pub smtp_max_wait: Duration,

    /// The name we give in EHLO (default: our address literal, e.g. `[192.0.2.1]`).
    #[cfg_attr(feature = "clap", arg(long, value_name = "NAME"))]
    pub helo: Option<String>,

    /// INTRUSIVE: test each MX for an open relay (MAIL FROM / RCPT TO foreign addresses, then RSET;
    /// never DATA). Only on hosts you are allowed to test.
    #[cfg_attr(feature = "clap", arg(long))]
    pub probe_relay: bool,

    /// Extra trusted CA certificates (PEM) for certificate checks (SMTP and the MTA-STS policy
    /// fetch); may be given more than once.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub ca_file: Vec<PathBuf>,

    /// Skip DNSSEC validation and DANE (DNSSEC-* and DANE-* checks). Config: `dnssec = false`.
    #[cfg_attr(feature = "clap", arg(long = "no-dnssec", action = clap::ArgAction::SetFalse, conflicts_with = "trust_anchor"))]
    pub dnssec: bool,

    /// DNSSEC trust anchor: root DS or DNSKEY records in zone-file form (like Unbound's root.key).
    /// Default: the IANA root KSKs.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub trust_anchor: Option<PathBuf>,

    /// TCP port of the MTA-STS policy fetch over HTTPS (the lab serves its policy hosts on another port).
    #[cfg_attr(
        feature = "clap",
        arg(long, default_value_t = 443, value_name = "PORT")
    )]
    pub https_port: u16,

    /// Time limit for the whole MTA-STS policy fetch (connection, TLS, headers and body), in seconds.
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout))]
    #[serde(deserialize_with = "timeout_field")]
    pub https_timeout: Duration,

    /// Warn (TLS-CERT-EXPIRING) when a certificate expires within this many days.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 14, value_name = "DAYS"))]
    pub cert_expiry_days: u32,

    /// Do not ask each NS of the domain directly to compare their answers (NS-* checks).
    /// Config: `compare_nameservers = false`.
    #[cfg_attr(feature = "clap", arg(long = "no-ns-check", action = clap::ArgAction::SetFalse))]
    pub compare_nameservers: bool,

    /// Port of the nameservers asked directly (the lab serves them on another port).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 53, value_name = "PORT"))]
    pub ns_port: u16,

    /// A DKIM selector to check (the `s=` of your DKIM-Signature headers); may be given more than once.
    /// A named selector without a key is DKIM-SELECTOR-MISSING. Config: `dkim_selectors = […]`
    /// (for every domain; a `[[domain]]` adds its own).
    #[cfg_attr(feature = "clap", arg(long = "dkim-selector", value_name = "SELECTOR", value_parser = parse_dns_label_path))]
    #[serde(deserialize_with = "label_paths")]
    pub dkim_selectors: Vec<String>,

    /// Do not also ask the common DKIM selectors (default, selector1, selector2, google, k1 …).
    /// Config: `dkim_guess = false`.
    #[cfg_attr(feature = "clap", arg(long = "no-dkim-guess", action = clap::ArgAction::SetFalse))]
    pub dkim_guess: bool,

    /// Look every MX address up in this DNS blocklist zone (e.g. `zen.spamhaus.org`); may be given more
    /// than once. Off by default: many lists refuse queries from public resolvers or without an account.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ZONE", value_parser = parse_dns_label_path))]
    #[serde(deserialize_with = "label_paths")]
    pub dnsbl: Vec<String>,

    /// Do not ask RDAP for the registrations of the domain and of its exchanges' domains (REG-*
    /// checks). Config: `rdap = false`. With `--lab`, RDAP is asked only of `--rdap-server` or
    /// `--rdap-bootstrap`, never of the built-in (public) servers.
    #[cfg_attr(feature = "clap", arg(long = "no-rdap", action = clap::ArgAction::SetFalse))]
    pub rdap: bool,

    /// Ask every domain's registration of this one RDAP base URL (HTTPS; e.g. a registrar's
    /// server, or the lab's) instead of the IANA bootstrap.
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "URL", conflicts_with = "rdap_bootstrap")
    )]
    pub rdap_server: Option<String>,

    /// An RDAP bootstrap file for DNS (RFC 9224, the format of IANA's dns.json) instead of the
    /// copy built into mxwatch.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub rdap_bootstrap: Option<PathBuf>,

    /// Time limit for one RDAP question (connection, TLS, headers and body), in seconds.
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECS", default_value = "10", value_parser = parse_timeout))]
    #[serde(deserialize_with = "timeout_field")]
    pub rdap_timeout: Duration,

    /// At most this many RDAP questions a second to each RDAP server (registries rate-limit).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value = "1"))]
    pub rdap_qps: std::num::NonZeroU32,

    /// Warn (REG-EXPIRING, REG-MX-EXPIRING) when a registration expires within this many days.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 30, value_name = "DAYS"))]
    pub registration_expiry_days: u32,
}

impl AuditSettings {
    /// The configuration keys (a test holds this list to the struct and to the example file).
    pub const KEYS: &'static [&'static str] = &[
        "dns_timeout",
        "max_queries",
        "dns_cache_entries",
        "qps",
        "probe",
        "smtp_port",
        "smtp_timeout",
        "smtp_per_address",
        "smtp_per_minute",
        "smtp_max_wait",
        "helo",
        "probe_relay",
        "ca_file",
        "dnssec",
        "trust_anchor",
        "https_port",
        "https_timeout",
        "cert_expiry_days",
        "compare_nameservers",
        "ns_port",
        "dkim_selectors",
        "dkim_guess",
        "dnsbl",
        "rdap",
        "rdap_server",
        "rdap_bootstrap",
        "rdap_timeout",
        "rdap_qps",
        "registration_expiry_days",
    ];
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            dns_timeout: Duration::from_secs(3),
            max_queries: 256,
            dns_cache_entries: mxwatch_probe::DEFAULT_CACHE_ENTRIES,
            qps: None,
            probe: true,
            smtp_port: 25,
            smtp_timeout: Duration::from_secs(20),
            smtp_per_address: 2,
            smtp_per_minute: 6,
            smtp_max_wait: Duration::from_secs(120),
            helo: None,
            probe_relay: false,
            ca_file: vec![],
            dnssec: true,
            trust_anchor: None,
            https_port: 443,
            https_timeout: Duration::from_secs(10),
            cert_expiry_days: 14,
            compare_nameservers: true,
            ns_port: 53,
            dkim_selectors: vec![],
            dkim_guess: true,
            dnsbl: vec![],
            rdap: true,
            rdap_server: None,
            rdap_bootstrap: None,
            rdap_timeout: Duration::from_secs(10),
            rdap_qps: std::num::NonZeroU32::MIN,
            registration_expiry_days: mxwatch_core::checks::DEFAULT_REGISTRATION_EXPIRY_DAYS,
        }
    }
}

/// A time limit: a number of seconds (`3`, `0.5`) or a duration (`"3s"`, `"500ms"`), within
/// [`TIMEOUT_RANGE`].
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("{text:?} is not a number of seconds")),
        Err(_) => parse_duration(text)?,
    };
    check_timeout(duration)
}

fn check_timeout(duration: Duration) -> Result<Duration, String> {
    let (low, high) = TIMEOUT_RANGE;
    if duration < low || duration > high {
        return Err(format!(
            "{} s is outside 0.05 to 300 seconds",
            duration.as_secs_f64()
        ));
    }
    Ok(duration)
}

/// A duration as people write it: `30s`, `10m`, `7d`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?}: {e} (e.g. \"30s\", \"10m\", \"7d\")"))
}

/// A DKIM selector or blocklist zone: dot-separated DNS labels (letters, digits, `-`, `_`).
pub fn parse_dns_label_path(s: &str) -> Result<String, String> {
    let name = s.trim_end_matches('.').to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 200 || !name.split('.').all(valid_label) {
        return Err(format!(
            "{:?} is not a DNS name (labels of letters, digits, '-' and '_')",
            mxwatch_core::sanitize::for_terminal(s)
        ));
    }
    Ok(name)
}

/// A duration in the configuration: a string (`"3s"`) or a number of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum DurationText {
    Text(String),
    Seconds(f64),
}

impl DurationText {
    fn parse(self) -> Result<Duration, String> {
        match self {
            DurationText::Text(text) => parse_duration(&text),
            DurationText::Seconds(secs) if secs.is_finite() && secs >= 0.0 => {
                Ok(Duration::from_secs_f64(secs))
            }
            DurationText::Seconds(secs) => Err(format!("{secs} is not a duration")),
        }
    }
}

/// Deserialises any duration (`"10m"`, `"90d"`, or seconds).
pub fn duration_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    DurationText::deserialize(d)?
        .parse()
        .map_err(serde::de::Error::custom)
}

fn timeout_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration_field(d).and_then(|t| check_timeout(t).map_err(serde::de::Error::custom))
}

fn label_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_dns_label_path(s).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_take_seconds_or_durations_within_range() {
        assert_eq!(parse_timeout("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_timeout("0.01").unwrap_err().contains("outside"));
        assert!(parse_timeout("301").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("-1").is_err());
    }

    #[test]
    fn an_empty_table_is_the_defaults() {
        let settings: AuditSettings = toml::from_str("").unwrap();
        assert_eq!(settings, AuditSettings::default());
    }

    #[test]
    fn config_values_are_parsed_at_load() {
        let settings: AuditSettings = toml::from_str(
            "dns_timeout = \"2s\"\nsmtp_timeout = 5\nhttps_timeout = \"1500ms\"\nmax_queries = 64\n\
             cert_expiry_days = 30\ndkim_selectors = [\"S1.\"]\ndnsbl = [\"bl.example\"]\n",
        )
        .unwrap();
        assert_eq!(settings.dns_timeout, Duration::from_secs(2));
        assert_eq!(settings.smtp_timeout, Duration::from_secs(5));
        assert_eq!(settings.https_timeout, Duration::from_millis(1500));
        assert_eq!(settings.max_queries, 64);
        assert_eq!(settings.cert_expiry_days, 30);
        assert_eq!(settings.dkim_selectors, vec!["s1".to_string()]);
        let too_long = toml::from_str::<AuditSettings>("smtp_timeout = \"10m\"\n").unwrap_err();
        assert!(too_long.to_string().contains("outside"), "{too_long}");
        let bad_zone = toml::from_str::<AuditSettings>("dnsbl = [\"a b\"]\n").unwrap_err();
        assert!(
            bad_zone.to_string().contains("not a DNS name"),
            "{bad_zone}"
        );
        assert!(toml::from_str::<AuditSettings>("smtp_timout = \"1s\"\n").is_err());
    }

    #[test]
    fn the_key_list_is_the_struct() {
        // Every key is accepted…
        for key in AuditSettings::KEYS {
            let value = match *key {
                "probe"
                | "probe_relay"
                | "dnssec"
                | "compare_nameservers"
                | "dkim_guess"
                | "rdap" => "true",
                "max_queries"
                | "qps"
                | "dns_cache_entries"
                | "smtp_port"
                | "https_port"
                | "ns_port"
                | "cert_expiry_days"
                | "smtp_per_address"
                | "smtp_per_minute"
                | "rdap_qps"
                | "registration_expiry_days" => "7",
                "ca_file" | "dkim_selectors" | "dnsbl" => "[]",
                "helo" | "trust_anchor" | "rdap_server" | "rdap_bootstrap" => "\"x\"",
                _ => "\"1s\"",
            };
            toml::from_str::<AuditSettings>(&format!("{key} = {value}\n"))
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        // …and the struct has no key the list lacks: serde names them all in its error.
        let err = toml::from_str::<AuditSettings>("no_such_key = 1\n")
            .unwrap_err()
            .to_string();
        let named = err.matches('`').count() / 2 - 1;
        assert_eq!(named, AuditSettings::KEYS.len(), "{err}");
    }

    #[test]
    fn label_paths() {
        assert_eq!(parse_dns_label_path("Zen.Example.").unwrap(), "zen.example");
        assert!(parse_dns_label_path("a..b").is_err());
        assert!(parse_dns_label_path("").is_err());
    }

    #[cfg(feature = "clap")]
    #[test]
    fn the_command_line_defaults_are_the_same() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            settings: AuditSettings,
        }
        let flags = Flags::try_parse_from(["mxwatch"]).unwrap();
        assert_eq!(flags.settings, AuditSettings::default());
        let flags = Flags::try_parse_from([
            "mxwatch",
            "--no-probe",
            "--no-dnssec",
            "--timeout",
            "1.5",
            "--dkim-selector",
            "s1",
            "--dkim-selector",
            "s2",
            "--no-rdap",
        ])
        .unwrap();
        assert!(!flags.settings.rdap);
        assert!(!flags.settings.probe);
        assert!(!flags.settings.dnssec);
        assert_eq!(flags.settings.dns_timeout, Duration::from_millis(1500));
        assert_eq!(flags.settings.dkim_selectors, ["s1", "s2"]);
    }
}

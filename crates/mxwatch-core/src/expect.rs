//! What MX a domain is expected to have: an explicit list (`expect_mx`) or a
//! provider preset, and the `MX-UNEXPECTED` comparison.

use crate::observation::MxRecord;
use serde::{Deserialize, Serialize};

/// One expected MX: a preference (or any) and a host (or `*.suffix` for a tenant-specific host).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedMx {
    pub preference: Option<u16>,
    pub host: String,
}

impl ExpectedMx {
    /// Parses `"10 mx1.example.net"`, `"mx1.example.net"` or `"* *.mail.protection.outlook.com"`.
    pub fn parse(text: &str) -> Result<ExpectedMx, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (preference, host) = match words.as_slice() {
            [host] => (None, *host),
            ["*", host] => (None, *host),
            [pref, host] => (
                Some(
                    pref.parse::<u16>()
                        .map_err(|_| format!("{text:?}: {pref:?} is not a preference (0-65535)"))?,
                ),
                *host,
            ),
            _ => {
                return Err(format!(
                    "{text:?}: expected \"PREFERENCE HOST\" or \"HOST\""
                ));
            }
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        Ok(ExpectedMx { preference, host })
    }

    fn matches(&self, record: &MxRecord) -> bool {
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => record.exchange.ends_with(&format!(".{suffix}")),
            None => record.exchange == self.host,
        };
        host_ok && self.preference.is_none_or(|p| p == record.preference)
    }

    fn is_pattern(&self) -> bool {
        self.host.starts_with("*.")
    }
}

/// The expected MX set of a domain and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxExpectation {
    /// `expect_mx` or `preset NAME`.
    pub source: String,
    pub entries: Vec<ExpectedMx>,
}

/// Provider presets: the MX sets the providers publish in their setup guides.
pub const PRESETS: &[(&str, &[&str])] = &[
    (
        "google-workspace",
        &[
            "1 aspmx.l.google.com",
            "5 alt1.aspmx.l.google.com",
            "5 alt2.aspmx.l.google.com",
            "10 alt3.aspmx.l.google.com",
            "10 alt4.aspmx.l.google.com",
        ],
    ),
    ("google-workspace-2023", &["1 smtp.google.com"]),
    ("microsoft-365", &["* *.mail.protection.outlook.com"]),
    (
        "proton",
        &["10 mail.protonmail.ch", "20 mailsec.protonmail.ch"],
    ),
    (
        "fastmail",
        &[
            "10 in1-smtp.messagingengine.com",
            "20 in2-smtp.messagingengine.com",
        ],
    ),
    (
        "zoho",
        &["10 mx.zoho.com", "20 mx2.zoho.com", "50 mx3.zoho.com"],
    ),
    (
        "zoho-eu",
        &["10 mx.zoho.eu", "20 mx2.zoho.eu", "50 mx3.zoho.eu"],
    ),
];

impl MxExpectation {
    pub fn from_list(list: &[String]) -> Result<MxExpectation, String> {
        Ok(MxExpectation {
            source: "expect_mx".into(),
            entries: list
                .iter()
                .map(|e| ExpectedMx::parse(e))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn preset(name: &str) -> Result<MxExpectation, String> {
        let (_, list) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            format!("unknown MX preset {name:?}; presets: {}", names.join(", "))
        })?;
        Ok(MxExpectation {
            source: format!("preset {name}"),
            entries: list
                .iter()
                .map(|e| ExpectedMx::parse(e).expect("presets are well-formed"))
                .collect(),
        })
    }

    /// What differs between the expectation and the observed MX set (empty when it matches).
    pub fn discrepancies(&self, records: &[MxRecord]) -> Vec<String> {
        let mut out = Vec::new();
        for record in records {
            if !self.entries.iter().any(|e| e.matches(record)) {
                out.push(format!(
                    "unexpected MX {} {}",
                    record.preference, record.exchange
                ));
            }
        }
        for entry in self.entries.iter().filter(|e| !e.is_pattern()) {
            if !records.iter().any(|r| entry.matches(r)) {
                let pref = entry
                    .preference
                    .map(|p| format!("{p} "))
                    .unwrap_or_default();
                out.push(format!("missing MX {pref}{}", entry.host));
            }
        }
        if self.entries.iter().all(ExpectedMx::is_pattern) && records.is_empty() {
            out.push("no MX at all".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(pref: u16, host: &str) -> MxRecord {
        MxRecord {
            preference: pref,
            exchange: host.into(),
        }
    }

    #[test]
    fn explicit_list() {
        let exp =
            MxExpectation::from_list(&["10 mx1.example.net".into(), "20 mx2.example.net.".into()])
                .unwrap();
        assert!(
            exp.discrepancies(&[mx(10, "mx1.example.net"), mx(20, "mx2.example.net")])
                .is_empty()
        );
        let found = exp.discrepancies(&[mx(10, "mx1.example.net"), mx(30, "mx2.example.net")]);
        assert_eq!(
            found,
            [
                "unexpected MX 30 mx2.example.net",
                "missing MX 20 mx2.example.net"
            ]
        );
        assert!(MxExpectation::from_list(&["ten mx".into()]).is_err());
    }

    #[test]
    fn presets() {
        let m365 = MxExpectation::preset("microsoft-365").unwrap();
        assert!(
            m365.discrepancies(&[mx(0, "contoso-com.mail.protection.outlook.com")])
                .is_empty()
        );
        assert_eq!(m365.discrepancies(&[mx(0, "mx.evil.example")]).len(), 1);
        let google = MxExpectation::preset("google-workspace").unwrap();
        assert_eq!(
            google.discrepancies(&[mx(1, "aspmx.l.google.com")]).len(),
            4
        );
        assert!(
            MxExpectation::preset("nope")
                .unwrap_err()
                .contains("google-workspace")
        );
    }
}

//! Which RDAP server answers for a domain: the IANA bootstrap registry for DNS (RFC 9224).
//!
//! The registry ships inside the binary (`iana-dns.json`, a committed copy: mxwatch never
//! downloads it, so an audit's traffic stays the domain's own), can be replaced by a file of the
//! same format (`--rdap-bootstrap`), or bypassed by one base URL for every domain
//! (`--rdap-server`, how the lab and the real-peer tests point mxwatch at their own servers).
//! docs/registration.md says how to refresh the copy.

use serde::Deserialize;
use std::path::Path;

/// The committed copy of IANA's `dns.json`.
pub static BUILTIN_JSON: &str = include_str!("iana-dns.json");

/// The bootstrap registry: base URLs by DNS label suffix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    /// `(suffix entries, base URLs)` in file order; entries lower-case, without dots around them.
    services: Vec<(Vec<String>, Vec<String>)>,
    /// One base URL for every domain (`--rdap-server`).
    single: Option<String>,
    /// Where it came from, for error messages (`the built-in IANA bootstrap`, a file name, a URL).
    pub source: String,
}

/// RFC 9224 §4: `{"version", "publication", "description"?, "services": [[[entries], [urls]], …]}`.
#[derive(Deserialize)]
struct File {
    version: String,
    services: Vec<(Vec<String>, Vec<String>)>,
}

impl Bootstrap {
    pub fn builtin() -> Bootstrap {
        Bootstrap::parse(BUILTIN_JSON, "the built-in IANA bootstrap")
            .expect("the built-in bootstrap is well-formed (a test holds it)")
    }

    pub fn parse(json: &str, source: &str) -> Result<Bootstrap, String> {
        let file: File = serde_json::from_str(json)
            .map_err(|e| format!("{source}: not an RDAP bootstrap file (RFC 9224): {e}"))?;
        if file.version != "1.0" {
            return Err(format!(
                "{source}: bootstrap version {:?}, expected \"1.0\"",
                file.version
            ));
        }
        let mut services = Vec::new();
        for (entries, urls) in file.services {
            let urls: Vec<String> = urls.into_iter().map(with_trailing_slash).collect();
            for url in &urls {
                check_url(url).map_err(|e| format!("{source}: {e}"))?;
            }
            let entries = entries
                .iter()
                .map(|e| e.trim_matches('.').to_ascii_lowercase())
                .collect();
            services.push((entries, urls));
        }
        Ok(Bootstrap {
            services,
            single: None,
            source: source.to_string(),
        })
    }

    pub fn from_file(path: &Path) -> Result<Bootstrap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("RDAP bootstrap {}: {e}", path.display()))?;
        Bootstrap::parse(&text, &path.display().to_string())
    }

    /// Every domain asked of one server.
    pub fn single(base_url: &str) -> Result<Bootstrap, String> {
        let url = with_trailing_slash(base_url.to_string());
        check_url(&url)?;
        if !url.starts_with("https://") {
            return Err(format!(
                "{url:?}: RDAP is asked over HTTPS only (RFC 7481 §3.2)"
            ));
        }
        Ok(Bootstrap {
            services: vec![],
            source: url.clone(),
            single: Some(url),
        })
    }

    /// The base URL for `domain` (lower-case, no trailing dot): the longest matching entry
    /// (RFC 9224 §4), an HTTPS URL of its service; `None` when no service covers it.
    pub fn base_url(&self, domain: &str) -> Option<&str> {
        if let Some(url) = &self.single {
            return Some(url);
        }
        let mut best: Option<(usize, &str)> = None;
        for (entries, urls) in &self.services {
            let Some(url) = urls.iter().find(|u| u.starts_with("https://")) else {
                continue;
            };
            for entry in entries {
                let matches = domain == entry || domain.ends_with(&format!(".{entry}"));
                if matches && best.is_none_or(|(len, _)| entry.len() > len) {
                    best = Some((entry.len(), url));
                }
            }
        }
        best.map(|(_, url)| url)
    }
}

fn with_trailing_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

/// A URL with a host. IANA's file lists some plain-HTTP URLs beside HTTPS ones; those are kept
/// but never used (RFC 7481 §3.2).
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if parsed.scheme() != "https" && parsed.scheme() != "http" {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    if parsed.host_str().is_none() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_copy_parses_and_answers_for_com() {
        let b = Bootstrap::builtin();
        assert_eq!(
            b.base_url("example.com"),
            Some("https://rdap.verisign.com/com/v1/")
        );
        assert_eq!(
            b.base_url("example.co.uk"),
            Some("https://rdap.nominet.uk/uk/")
        );
        assert_eq!(b.base_url("example.test"), None);
    }

    #[test]
    fn the_longest_entry_wins_and_plain_http_is_not_used() {
        let json = r#"{"version":"1.0","publication":"2026-01-01T00:00:00Z","services":[
            [["uk"],["https://uk.example/rdap"]],
            [["co.uk"],["http://plain.example/","https://co-uk.example/"]],
            [["org"],["http://only-plain.example/"]]]}"#;
        let b = Bootstrap::parse(json, "t").unwrap();
        assert_eq!(b.base_url("a.co.uk"), Some("https://co-uk.example/"));
        assert_eq!(b.base_url("a.org.uk"), Some("https://uk.example/rdap/"));
        assert_eq!(b.base_url("a.org"), None);
        assert_eq!(b.base_url("notuk"), None);
    }

    #[test]
    fn bad_files_and_urls_are_errors() {
        assert!(Bootstrap::parse("{}", "f").unwrap_err().contains("f:"));
        assert!(
            Bootstrap::parse(r#"{"version":"2.0","services":[]}"#, "f")
                .unwrap_err()
                .contains("version")
        );
        assert!(Bootstrap::single("ftp://x.example/").is_err());
        assert!(Bootstrap::single("http://x.example/").is_err());
        assert!(Bootstrap::single("not a url").is_err());
        let one = Bootstrap::single("https://rdap.lab.test:8443").unwrap();
        assert_eq!(
            one.base_url("anything.example"),
            Some("https://rdap.lab.test:8443/")
        );
    }
}

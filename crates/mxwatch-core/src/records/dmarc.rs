//! DMARC policy records (RFC 7489 §6.3, §6.4), parsed strictly.

use super::taglist::{self, Tag};
use super::{RecordError, excerpt};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    fn parse(tag: &str, value: &str) -> Result<Policy, RecordError> {
        match value.to_ascii_lowercase().as_str() {
            "none" => Ok(Policy::None),
            "quarantine" => Ok(Policy::Quarantine),
            "reject" => Ok(Policy::Reject),
            _ => Err(RecordError::new(format!(
                "{tag}={} is not none, quarantine or reject",
                excerpt(value)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }
}

/// One `rua`/`ruf` destination (`mailto:dmarc@example.net!10m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportUri {
    pub uri: String,
    /// The domain of a `mailto:` address, lower-case; `None` for other schemes.
    pub mailto_domain: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmarcRecord {
    /// `None` when absent: with a valid `rua`, receivers act as if `p=none` (§6.6.3).
    pub p: Option<Policy>,
    pub sp: Option<Policy>,
    pub pct: u8,
    pub rua: Vec<ReportUri>,
    pub ruf: Vec<ReportUri>,
    /// `adkim=s` / `aspf=s`: strict alignment.
    pub strict_dkim: bool,
    pub strict_spf: bool,
}

impl DmarcRecord {
    /// The policy for the domain itself (`p`, or `none` when only `rua` made the record usable).
    pub fn policy(&self) -> Policy {
        self.p.unwrap_or(Policy::None)
    }

    /// The policy for subdomains: `sp`, else `p` (§6.3).
    pub fn subdomain_policy(&self) -> Policy {
        self.sp.unwrap_or(self.policy())
    }
}

/// Parses one DMARC record. A record without a valid `p` is usable only with a valid `rua`
/// (§6.6.3): then `p` is `None` and the caller reports it.
pub fn parse(text: &str) -> Result<DmarcRecord, RecordError> {
    // Tag names are ABNF literals, so case-insensitive (RFC 5234 §2.3): `P=reject` is `p=reject`.
    let mut tags = taglist::parse(text)?;
    for tag in &mut tags {
        tag.name.make_ascii_lowercase();
    }
    if let Some(dup) = tags
        .iter()
        .enumerate()
        .find(|(i, t)| tags[..*i].iter().any(|o| o.name == t.name))
    {
        return Err(RecordError::new(format!(
            "the tag \"{}\" appears twice",
            dup.1.name
        )));
    }
    match tags.first() {
        Some(Tag { name, value }) if name == "v" && value == "DMARC1" => {}
        Some(Tag { name, .. }) if name == "v" => {
            return Err(RecordError::new("the version must be exactly \"v=DMARC1\""));
        }
        _ => return Err(RecordError::new("\"v=DMARC1\" must be the first tag")),
    }
    let get = |name: &str| taglist::get(&tags, name);
    let p = get("p").map(|v| Policy::parse("p", v)).transpose()?;
    let sp = get("sp").map(|v| Policy::parse("sp", v)).transpose()?;
    let pct = match get("pct") {
        None => 100,
        Some(v) => match v.parse::<u8>() {
            Ok(n) if n <= 100 && v.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(RecordError::new(format!(
                    "pct={} is not a whole number from 0 to 100",
                    excerpt(v)
                )));
            }
        },
    };
    let alignment = |name: &str| -> Result<bool, RecordError> {
        match get(name) {
            None | Some("r") => Ok(false),
            Some("s") => Ok(true),
            Some(v) => Err(RecordError::new(format!(
                "{name}={} is not r (relaxed) or s (strict)",
                excerpt(v)
            ))),
        }
    };
    let (strict_dkim, strict_spf) = (alignment("adkim")?, alignment("aspf")?);
    if let Some(ri) = get("ri")
        && (ri.is_empty() || !ri.bytes().all(|b| b.is_ascii_digit()) || ri.len() > 10)
    {
        return Err(RecordError::new(format!(
            "ri={} is not a number of seconds",
            excerpt(ri)
        )));
    }
    if let Some(fo) = get("fo")
        && fo
            .split(':')
            .any(|o| !matches!(o.trim(), "0" | "1" | "d" | "s"))
    {
        return Err(RecordError::new(format!(
            "fo={} is not a colon-separated list of 0, 1, d and s",
            excerpt(fo)
        )));
    }
    let rua = get("rua")
        .map(|v| report_uris("rua", v))
        .transpose()?
        .unwrap_or_default();
    let ruf = get("ruf")
        .map(|v| report_uris("ruf", v))
        .transpose()?
        .unwrap_or_default();
    if p.is_none() && rua.is_empty() {
        return Err(RecordError::new(
            "no \"p=\" tag (and no \"rua=\" that would make the record usable as p=none)",
        ));
    }
    Ok(DmarcRecord {
        p,
        sp,
        pct,
        rua,
        ruf,
        strict_dkim,
        strict_spf,
    })
}

/// `dmarc-uri *(*WSP "," *WSP dmarc-uri)`, each `URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]`.
fn report_uris(tag: &str, value: &str) -> Result<Vec<ReportUri>, RecordError> {
    let mut out = Vec::new();
    for raw in value.split(',') {
        let raw = raw.trim();
        let uri = match raw.rsplit_once('!') {
            Some((uri, size)) => {
                let digits = size.trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || size.len() - digits.len() > 1
                {
                    return Err(RecordError::new(format!(
                        "{tag}: \"!{}\" is not a size limit",
                        excerpt(size)
                    )));
                }
                uri
            }
            None => raw,
        };
        let Some((scheme, rest)) = uri.split_once(':') else {
            return Err(RecordError::new(format!(
                "{tag}: \"{}\" is not a URI (mailto:address)",
                excerpt(uri)
            )));
        };
        let mailto_domain = if scheme.eq_ignore_ascii_case("mailto") {
            let address = rest.split('?').next().unwrap_or(rest);
            let Some((local, domain)) = address.rsplit_once('@') else {
                return Err(RecordError::new(format!(
                    "{tag}: \"{}\" is not an e-mail address",
                    excerpt(address)
                )));
            };
            if local.is_empty() || domain.is_empty() || !domain.contains('.') {
                return Err(RecordError::new(format!(
                    "{tag}: \"{}\" is not an e-mail address",
                    excerpt(address)
                )));
            }
            Some(domain.trim_end_matches('.').to_ascii_lowercase())
        } else if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(RecordError::new(format!(
                "{tag}: \"{}\" is not a URI (mailto:address)",
                excerpt(uri)
            )));
        } else {
            None
        };
        out.push(ReportUri {
            uri: uri.to_string(),
            mailto_domain,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_policies_and_report_addresses() {
        let r = parse("v=DMARC1; p=quarantine; sp=reject; pct=50; rua=mailto:d@Reports.Example.net!10m, mailto:x@example.com; adkim=s").unwrap();
        assert_eq!(r.policy(), Policy::Quarantine);
        assert_eq!(r.subdomain_policy(), Policy::Reject);
        assert_eq!(r.pct, 50);
        assert!(r.strict_dkim && !r.strict_spf);
        let domains: Vec<_> = r
            .rua
            .iter()
            .map(|u| u.mailto_domain.as_deref().unwrap())
            .collect();
        assert_eq!(domains, ["reports.example.net", "example.com"]);
        let r = parse("v=DMARC1; rua=mailto:d@example.net").unwrap();
        assert_eq!((r.p, r.policy()), (None, Policy::None));
        assert_eq!(
            parse("v=DMARC1;p=reject").unwrap().subdomain_policy(),
            Policy::Reject
        );
    }

    #[test]
    fn names_what_is_wrong() {
        for (text, wanted) in [
            ("p=reject; v=DMARC1", "first tag"),
            ("v=DMARC2; p=reject", "exactly"),
            ("v=DMARC1; p=bogus", "p=bogus"),
            ("v=DMARC1; p=none; pct=150", "pct=150"),
            ("v=DMARC1; p=none; adkim=x", "adkim=x"),
            ("v=DMARC1; p=none; rua=dmarc@example.net", "not a URI"),
            (
                "v=DMARC1; p=none; rua=mailto:example.net",
                "not an e-mail address",
            ),
            (
                "v=DMARC1; p=none; rua=mailto:d@example.net!big",
                "size limit",
            ),
            ("v=DMARC1; sp=reject", "no \"p=\""),
            ("v=DMARC1; p=none; fo=2", "fo=2"),
            ("v=DMARC1; p=none; P=reject", "appears twice"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.reason.contains(wanted), "{text:?}: {err}");
        }
    }
}

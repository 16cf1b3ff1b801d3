//! TLS-RPT policy records (RFC 8460 §3): `v=TLSRPTv1; rua=mailto:…,https://…`.

use super::taglist::{self, Tag};
use super::{RecordError, excerpt};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsRptRecord {
    pub rua: Vec<String>,
}

pub fn parse(text: &str) -> Result<TlsRptRecord, RecordError> {
    let tags = taglist::parse(text)?;
    match tags.first() {
        Some(Tag { name, value }) if name == "v" && value == "TLSRPTv1" => {}
        _ => return Err(RecordError::new("\"v=TLSRPTv1\" must be the first tag")),
    }
    let Some(rua) = taglist::get(&tags, "rua") else {
        return Err(RecordError::new(
            "no \"rua=\" tag: there is nowhere to send reports",
        ));
    };
    let mut uris = Vec::new();
    for uri in rua.split(',').map(str::trim) {
        let lower = uri.to_ascii_lowercase();
        let ok = if let Some(address) = lower.strip_prefix("mailto:") {
            address
                .rsplit_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        } else if let Some(rest) = lower.strip_prefix("https://") {
            !rest.is_empty() && !rest.starts_with('/')
        } else {
            false
        };
        if !ok {
            return Err(RecordError::new(format!(
                "rua: \"{}\" is neither mailto:address nor an https:// URL",
                excerpt(uri)
            )));
        }
        uris.push(uri.to_string());
    }
    Ok(TlsRptRecord { rua: uris })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_mailto_and_https_and_names_what_is_wrong() {
        let r = parse("v=TLSRPTv1; rua=mailto:tls@example.com,https://r.example.com/tls").unwrap();
        assert_eq!(r.rua.len(), 2);
        for (text, wanted) in [
            ("v=TLSRPTv1;", "no \"rua=\""),
            ("rua=mailto:a@b.test; v=TLSRPTv1", "first tag"),
            ("v=TLSRPTv1; rua=ftp://x.test", "neither"),
            ("v=TLSRPTv1; rua=mailto:nobody", "neither"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.reason.contains(wanted), "{text:?}: {err}");
        }
    }
}

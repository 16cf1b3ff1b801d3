//! BIMI assertion records (`default._bimi.<domain>`, draft-brand-indicators-for-message-identification §4):
//! `v=BIMI1; l=<https URL of an SVG logo>; a=<https URL of a mark certificate>`. Nothing is fetched.

use super::taglist::{self, Tag};
use super::{RecordError, excerpt};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BimiRecord {
    /// Logo URL; `None` for an empty `l=` (the domain declines to show a logo).
    pub logo: Option<String>,
    /// Verified Mark Certificate URL, if any.
    pub certificate: Option<String>,
}

pub fn parse(text: &str) -> Result<BimiRecord, RecordError> {
    let tags = taglist::parse(text)?;
    match tags.first() {
        Some(Tag { name, value }) if name == "v" && value == "BIMI1" => {}
        _ => return Err(RecordError::new("\"v=BIMI1\" must be the first tag")),
    }
    let url = |name: &str| -> Result<Option<String>, RecordError> {
        match taglist::get(&tags, name) {
            None | Some("") => Ok(None),
            Some(value) if value.contains(',') => {
                Err(RecordError::new(format!("{name}= holds more than one URL")))
            }
            Some(value) => {
                let rest = value
                    .get(..8)
                    .filter(|s| s.eq_ignore_ascii_case("https://"))
                    .map(|_| &value[8..]);
                match rest {
                    Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {
                        Ok(Some(value.to_string()))
                    }
                    _ => Err(RecordError::new(format!(
                        "{name}={} is not an https:// URL",
                        excerpt(value)
                    ))),
                }
            }
        }
    };
    if taglist::get(&tags, "l").is_none() {
        return Err(RecordError::new(
            "no \"l=\" tag (use an empty \"l=\" to decline)",
        ));
    }
    let logo = url("l")?;
    let certificate = url("a")?;
    if let Some(logo) = &logo
        && !logo
            .to_ascii_lowercase()
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .ends_with(".svg")
    {
        return Err(RecordError::new(format!(
            "l={} does not name an SVG file (BIMI logos are SVG Tiny PS)",
            excerpt(logo)
        )));
    }
    Ok(BimiRecord { logo, certificate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses() {
        let r = parse("v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem")
            .unwrap();
        assert_eq!(r.logo.as_deref(), Some("https://example.com/logo.svg"));
        assert!(r.certificate.is_some());
        assert_eq!(parse("v=BIMI1; l=;").unwrap().logo, None);
        for (text, wanted) in [
            ("v=BIMI1; l=http://example.com/logo.svg", "not an https"),
            ("v=BIMI1; l=https://example.com/logo.png", "SVG"),
            ("v=BIMI1; a=https://example.com/vmc.pem", "no \"l=\""),
            ("l=https://example.com/a.svg; v=BIMI1", "first tag"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.reason.contains(wanted), "{text:?}: {err}");
        }
    }
}

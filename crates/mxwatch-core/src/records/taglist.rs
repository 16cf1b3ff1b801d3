//! The `tag=value; tag=value` list shared by DKIM (RFC 6376 §3.2), DMARC (RFC 7489 §6.4),
//! TLS-RPT (RFC 8460 §3) and BIMI records.
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC          ; ALNUMPUNC = ALPHA / DIGIT / "_"
//! tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]   ; tval = 1*(%x21-3A / %x3C-7E)
//! ```

use super::{RecordError, excerpt};

/// One `tag=value`, the value with its surrounding white space removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub value: String,
}

/// Splits a tag-list; a duplicate tag, a tag without `=`, or a bad name or value is an error.
pub fn parse(text: &str) -> Result<Vec<Tag>, RecordError> {
    let mut tags: Vec<Tag> = Vec::new();
    let specs: Vec<&str> = text.split(';').collect();
    for (index, spec) in specs.iter().enumerate() {
        let trimmed = spec.trim_matches(is_wsp);
        if trimmed.is_empty() {
            // Only the last spec may be empty (the optional trailing ";").
            if index + 1 == specs.len() && index > 0 {
                continue;
            }
            return Err(RecordError::new(if index == 0 {
                "the record is empty".to_string()
            } else {
                "an empty tag between two \";\"".to_string()
            }));
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            return Err(RecordError::new(format!(
                "\"{}\" is not tag=value",
                excerpt(trimmed)
            )));
        };
        let name = name.trim_matches(is_wsp);
        let value = value.trim_matches(is_wsp);
        if !valid_name(name) {
            return Err(RecordError::new(format!(
                "\"{}\" is not a valid tag name",
                excerpt(name)
            )));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(is_wsp(*c) || ('\u{21}'..='\u{7e}').contains(c)) || *c == ';')
        {
            return Err(RecordError::new(format!(
                "the value of \"{name}\" holds the character {bad:?}, which is not allowed"
            )));
        }
        if tags.iter().any(|t| t.name == name) {
            return Err(RecordError::new(format!(
                "the tag \"{name}\" appears twice"
            )));
        }
        tags.push(Tag {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(tags)
}

fn is_wsp(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// DKIM's `ALPHA *ALNUMPUNC`, widened to the `-` and `.` that TLS-RPT extension names may hold
/// (RFC 8460 §3: `tlsrpt-ext-name`).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The value of `name`, if present.
pub fn get<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name == name)
        .map(|t| t.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_and_tolerates_white_space_and_a_trailing_semicolon() {
        let tags = parse(" v=DMARC1 ;p = reject;\trua=mailto:a@b.test ; ").unwrap();
        let names: Vec<_> = tags.iter().map(|t| (&*t.name, &*t.value)).collect();
        assert_eq!(
            names,
            [("v", "DMARC1"), ("p", "reject"), ("rua", "mailto:a@b.test")]
        );
    }

    #[test]
    fn refuses_what_the_grammar_refuses() {
        for (text, wanted) in [
            ("", "empty"),
            ("v=DMARC1;;p=none", "empty tag"),
            ("v=DMARC1; p", "not tag=value"),
            ("v=DMARC1; _p=none", "not a valid tag name"),
            ("v=DMARC1; p=none; p=reject", "appears twice"),
            ("v=DMARC1; p=nøne", "not allowed"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.reason.contains(wanted), "{text:?}: {err}");
        }
    }
}

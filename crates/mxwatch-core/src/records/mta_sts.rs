//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file and MX pattern matching.
//! Pure functions of text; what one fetch of the policy saw is `observation::mta_sts`.
//!
//! Why our own parser: mail-auth 0.13 parses only the TXT record, and leniently
//! (it accepts an empty `id=`, and has no policy-file parser at all). An auditor
//! must say exactly where a record departs from the RFC's grammar, because a
//! sender that is strict will silently ignore the whole policy.

use serde::{Deserialize, Serialize};

/// The largest `max_age` a policy may give (RFC 8461 §3.2: about one year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;
/// The largest policy body we read (RFC 8461 does not set one; real policies are a few hundred bytes).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// The TXT record (§3.1)
// ---------------------------------------------------------------------------------------------

/// A valid `_mta-sts` TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy ID: 1 to 32 letters and digits; a change tells senders to fetch the policy again.
    pub id: String,
    /// Extension fields (`name=value`), in order; senders ignore them.
    pub extensions: Vec<(String, String)>,
}

/// Judges the `_mta-sts` TXT records that start with `v=STSv1` (RFC 8461 §3.1: more than
/// one is as bad as none: senders then assume there is no policy).
pub fn parse_sts_records(records: &[String]) -> Result<StsRecord, String> {
    match records {
        [] => Err("no TXT record starting with v=STSv1".into()),
        [one] => parse_sts_record(one),
        many => Err(format!(
            "{} TXT records start with v=STSv1; senders require exactly one and otherwise assume no MTA-STS policy",
            many.len()
        )),
    }
}

/// Parses one STS TXT record strictly per the ABNF of RFC 8461 §3.1.
pub fn parse_sts_record(text: &str) -> Result<StsRecord, String> {
    let mut fields = text.split(';').map(trim_wsp);
    let version = fields.next().unwrap_or_default();
    if version != "v=STSv1" {
        return Err(format!(
            "the record must start with \"v=STSv1\" (case-sensitive), not {:?}",
            preview(version)
        ));
    }
    let mut id = None;
    let mut extensions = Vec::new();
    let parts: Vec<&str> = fields.collect();
    for (i, field) in parts.iter().enumerate() {
        if field.is_empty() {
            // One trailing delimiter is allowed (`[sts-field-delim]`); an empty field elsewhere is not.
            if i + 1 == parts.len() {
                continue;
            }
            return Err("an empty field (two ';' in a row)".into());
        }
        let Some((name, value)) = field.split_once('=') else {
            return Err(format!("field {:?} is not name=value", preview(field)));
        };
        if name == "id" {
            if id.is_some() {
                return Err("more than one id field".into());
            }
            if value.is_empty() {
                return Err("id is empty (it must be 1 to 32 letters or digits)".into());
            }
            if value.len() > 32 {
                return Err(format!(
                    "id {:?} is {} characters long (at most 32)",
                    preview(value),
                    value.len()
                ));
            }
            if let Some(bad) = value.chars().find(|c| !c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "id {:?} contains {bad:?} (only letters and digits are allowed)",
                    preview(value)
                ));
            }
            id = Some(value.to_string());
        } else {
            check_extension(name, value, "=")?;
            extensions.push((name.to_string(), value.to_string()));
        }
    }
    let id = id.ok_or_else(|| "no id field (id=... is required)".to_string())?;
    Ok(StsRecord { id, extensions })
}

/// `*WSP` around a field: space and tab only.
fn trim_wsp(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// `ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`, and a value of
/// visible characters other than `;` and `=` (§3.1 and §3.2 share the name grammar).
fn check_extension(name: &str, value: &str, separator: &str) -> Result<(), String> {
    let name_ok = name.len() <= 32
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !name_ok {
        return Err(format!(
            "field name {:?} is not valid (letters, digits, '_', '-', '.', at most 32)",
            preview(name)
        ));
    }
    if value.is_empty() {
        return Err(format!("field {name}{separator} has an empty value"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == ';' || *c == '=')
    {
        return Err(format!(
            "the value of {name} contains {bad:?}, which is not allowed there"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The policy file (§3.2)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Senders refuse to deliver to an MX that does not match or has no valid certificate.
    Enforce,
    /// Senders report failures (TLS-RPT) but deliver anyway.
    Testing,
    /// The policy is withdrawn.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A policy file that parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsPolicy {
    pub mode: Mode,
    pub max_age: u64,
    /// The `mx` patterns, as written (an optional `*.` and a domain).
    pub mx: Vec<String>,
}

/// Parses a policy file strictly per RFC 8461 §3.2. Every problem found is returned, each with
/// its line, so one run shows all that must be fixed.
pub fn parse_policy(text: &str) -> Result<StsPolicy, Vec<String>> {
    let mut errors = Vec::new();
    let mut version: Option<String> = None;
    let mut mode: Option<Mode> = None;
    let mut max_age: Option<u64> = None;
    let mut mx = Vec::new();
    // A field that was present but bad is reported once, not again as missing.
    let (mut bad_mode, mut bad_mx) = (false, false);
    // Lines end with LF or CRLF (`sts-policy-term`); a bare CR inside a line is an error below.
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim_matches(|c| c == ' ' || c == '\t').is_empty() {
            // Blank lines (and the final terminator) carry nothing; tolerated.
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            errors.push(format!(
                "line {line_no}: {:?} is not \"key: value\"",
                preview(line)
            ));
            continue;
        };
        if key != key.trim_start_matches([' ', '\t']) || key.ends_with([' ', '\t']) {
            errors.push(format!(
                "line {line_no}: white space around the key {:?}",
                preview(key.trim())
            ));
            continue;
        }
        // `":" *WSP value *WSP`
        let value = trim_wsp(value);
        let repeated = |errors: &mut Vec<String>, what: &str| {
            errors.push(format!(
                "line {line_no}: {what} is given more than once (only mx may repeat)"
            ));
        };
        match key {
            "version" => {
                if version.is_some() {
                    repeated(&mut errors, "version");
                } else if value != "STSv1" {
                    errors.push(format!(
                        "line {line_no}: version {:?} is not STSv1",
                        preview(value)
                    ));
                    version = Some(value.to_string());
                } else {
                    version = Some(value.to_string());
                }
            }
            "mode" => {
                if mode.is_some() {
                    repeated(&mut errors, "mode");
                    continue;
                }
                match value {
                    "enforce" => mode = Some(Mode::Enforce),
                    "testing" => mode = Some(Mode::Testing),
                    "none" => mode = Some(Mode::None),
                    other => {
                        bad_mode = true;
                        errors.push(format!(
                            "line {line_no}: mode {:?} is not enforce, testing or none (case-sensitive)",
                            preview(other)
                        ));
                    }
                }
            }
            "max_age" => {
                if max_age.is_some() {
                    repeated(&mut errors, "max_age");
                    continue;
                }
                match parse_max_age(value) {
                    Ok(v) => max_age = Some(v),
                    Err(e) => {
                        errors.push(format!("line {line_no}: {e}"));
                        // Known, but bad: do not also report it missing.
                        max_age = Some(0);
                    }
                }
            }
            "mx" => match check_mx_pattern(value) {
                Ok(()) => mx.push(value.to_ascii_lowercase()),
                Err(e) => {
                    bad_mx = true;
                    errors.push(format!("line {line_no}: mx {:?}: {e}", preview(value)));
                }
            },
            other => {
                // Unknown keys are ignored (§3.2), but only when they are well-formed.
                if let Err(e) = check_extension(other, value, ":") {
                    errors.push(format!("line {line_no}: {e}"));
                }
            }
        }
    }
    if version.is_none() {
        errors.push("no version field (version: STSv1 is required)".into());
    }
    if mode.is_none() && !bad_mode {
        errors.push("no mode field (enforce, testing or none)".into());
    }
    if max_age.is_none() {
        errors.push("no max_age field".into());
    }
    if mx.is_empty() && matches!(mode, Some(Mode::Enforce | Mode::Testing)) && !bad_mx {
        errors.push(format!(
            "no mx pattern: mode {} requires at least one",
            mode.map(Mode::as_str).unwrap_or_default()
        ));
    }
    match (errors.is_empty(), mode, max_age) {
        (true, Some(mode), Some(max_age)) => Ok(StsPolicy { mode, max_age, mx }),
        _ => Err(errors),
    }
}

fn parse_max_age(value: &str) -> Result<u64, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "max_age {:?} is not a non-negative integer",
            preview(value)
        ));
    }
    if value.len() > 10 {
        // More than the grammar's 10 digits: far beyond the limit either way.
        return Err(format!(
            "max_age {} exceeds {MAX_AGE_LIMIT}",
            preview(value)
        ));
    }
    let n: u64 = value
        .parse()
        .map_err(|_| format!("max_age {value} is not a number"))?;
    if n > MAX_AGE_LIMIT {
        return Err(format!("max_age {n} exceeds {MAX_AGE_LIMIT}"));
    }
    Ok(n)
}

/// `mx-value = ["*."] Domain` (RFC 5321 Domain: letter-digit-hyphen labels); the wildcard is
/// only ever the whole leftmost label.
pub fn check_mx_pattern(pattern: &str) -> Result<(), String> {
    let domain = pattern.strip_prefix("*.").unwrap_or(pattern);
    if domain.contains('*') {
        return Err(
            "a wildcard is allowed only as the whole leftmost label (*.example.com)".into(),
        );
    }
    if domain.is_empty() {
        return Err("empty pattern".into());
    }
    if domain.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    if domain.ends_with('.') {
        return Err("a trailing dot is not part of the pattern syntax".into());
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("an empty label".into());
        }
        if label.len() > 63 {
            return Err(format!("label {:?} is over 63 characters", preview(label)));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
        {
            return Err(format!("{bad:?} is not allowed in a host name"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "label {:?} starts or ends with a hyphen",
                preview(label)
            ));
        }
    }
    Ok(())
}

/// Whether an MX host matches a policy pattern (RFC 8461 §4.1): case-insensitive, trailing dots
/// ignored, and `*.` matches exactly one leftmost label (`*.example.com` matches
/// `mx.example.com`, not `a.b.example.com` nor `example.com`).
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => match host.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest == suffix,
            None => false,
        },
        None => pattern == host,
    }
}

fn preview(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// Whether a `Content-Type` header value is `text/plain` (parameters such as charset allowed).
pub fn is_text_plain(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn txt_records() {
        let ok = parse_sts_record("v=STSv1; id=20260101T000000").unwrap();
        assert_eq!(ok.id, "20260101T000000");
        assert!(parse_sts_record("v=STSv1;id=abc;").is_ok());
        let ext = parse_sts_record("v=STSv1; id=1; ext_1.x=value").unwrap();
        assert_eq!(ext.extensions, vec![("ext_1.x".into(), "value".into())]);
        for (bad, reason) in [
            ("v=STSv1; id=", "empty"),
            ("v=STSv1", "no id"),
            ("v=STSv1; id=abc-def", "'-'"),
            (
                "v=STSv1; id=123456789012345678901234567890123",
                "33 characters",
            ),
            ("id=abc; v=STSv1", "must start"),
            ("v=stsv1; id=abc", "must start"),
            ("v=STSv1; id=a; id=b", "more than one id"),
            ("v=STSv1;; id=a", "empty field"),
            ("v=STSv1; id=a; bogus", "not name=value"),
            ("v=STSv1; id=a; -x=1", "field name"),
        ] {
            let err = parse_sts_record(bad).unwrap_err();
            assert!(err.contains(reason), "{bad}: {err}");
        }
        let two = parse_sts_records(&["v=STSv1; id=a".into(), "v=STSv1; id=b".into()]);
        assert!(two.unwrap_err().contains("2 TXT records"));
    }

    const GOOD: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";

    #[test]
    fn a_good_policy() {
        let p = parse_policy(GOOD).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.mx, ["mx1.example.com", "*.example.net"]);
        // LF only, unknown keys ignored, no final newline.
        let lf = "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 0\nx-extra: yes";
        assert_eq!(parse_policy(lf).unwrap().mode, Mode::Testing);
        // mode none needs no mx.
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").is_ok());
    }

    #[test]
    fn policy_errors_are_precise() {
        let cases = [
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n",
                "max_age 99999999999 exceeds 31557600",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
                "max_age 31557601 exceeds 31557600",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
                "not a non-negative integer",
            ),
            (
                "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
                "mode \"Enforce\"",
            ),
            (
                "version: STSv1\nmode: enforce\nmax_age: 1\n",
                "no mx pattern",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: mx.*.example\nmax_age: 1\n",
                "leftmost label",
            ),
            (
                "version: STSv1\nmode: enforce\nmx: *mx.example\nmax_age: 1\n",
                "leftmost label",
            ),
            (
                "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
                "not STSv1",
            ),
            ("mode: enforce\nmx: a.example\nmax_age: 1\n", "no version"),
            (
                "version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n",
                "mode is given more than once",
            ),
            (
                "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n",
                "line 2",
            ),
            ("<html>not a policy</html>", "not \"key: value\""),
        ];
        for (text, reason) in cases {
            let errors = parse_policy(text).unwrap_err();
            assert!(
                errors.iter().any(|e| e.contains(reason)),
                "{text:?}: {errors:?}"
            );
        }
    }

    #[test]
    fn mx_matching_per_section_4_1() {
        assert!(mx_matches("mx.example.com", "MX.Example.com."));
        assert!(mx_matches("*.example.com", "mx1.example.com"));
        assert!(!mx_matches("*.example.com", "a.b.example.com"));
        assert!(!mx_matches("*.example.com", "example.com"));
        assert!(!mx_matches("mx.example.com", "mx.example.com.evil"));
        assert!(!mx_matches("*.example.com", ".example.com"));
    }

    #[test]
    fn content_types() {
        assert!(is_text_plain("text/plain"));
        assert!(is_text_plain("Text/Plain; charset=utf-8"));
        assert!(!is_text_plain("text/html"));
        assert!(!is_text_plain(""));
    }

    proptest! {
        #[test]
        fn txt_parser_never_panics(s in "\\PC{0,200}") {
            let _ = parse_sts_record(&s);
        }

        #[test]
        fn policy_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_policy(&text);
        }

        #[test]
        fn policy_like_text_never_panics(
            lines in proptest::collection::vec(
                ("(version|mode|mx|max_age|x)", "[ \t]{0,2}", "[a-zA-Z0-9*.\\- ]{0,40}"), 0..12)
        ) {
            let text: String = lines
                .iter()
                .map(|(k, w, v)| format!("{k}:{w}{v}\r\n"))
                .collect();
            let _ = parse_policy(&text);
        }

        #[test]
        fn matcher_never_panics(p in "\\PC{0,80}", h in "\\PC{0,80}") {
            let _ = mx_matches(&p, &h);
            let _ = check_mx_pattern(&p);
        }

        /// A pattern always matches the host it names, whatever the case or trailing dot.
        #[test]
        fn a_name_matches_itself(label in "[a-z0-9]{1,10}", rest in "[a-z0-9]{1,10}\\.[a-z]{2,5}") {
            let host = format!("{label}.{rest}");
            let shouted = format!("{}.", host.to_uppercase());
            let wildcard = format!("*.{rest}");
            let deeper = format!("x.{host}");
            prop_assert!(mx_matches(&host, &shouted));
            prop_assert!(mx_matches(&wildcard, &host));
            prop_assert!(!mx_matches(&wildcard, &deeper));
        }
    }
}

//! SPF records (RFC 7208 §4.5, §5, §6 and the grammar of §12), parsed strictly.
//!
//! The evaluation over recorded DNS answers lives in [`eval`]; this module only reads text.

pub mod eval;

use super::{RecordError, excerpt};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `+`, `-`, `~`, `?` (RFC 7208 §4.6.2); `+` when none is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    pub fn symbol(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
}

/// A `domain-spec`: a domain name that may hold macros (`%{d}`, `%{i}` …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainSpec(pub String);

impl DomainSpec {
    pub fn has_macros(&self) -> bool {
        self.0.contains('%')
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(DomainSpec),
    /// `a[:domain][/v4][//v6]`
    A {
        domain: Option<DomainSpec>,
        v4: u8,
        v6: u8,
    },
    Mx {
        domain: Option<DomainSpec>,
        v4: u8,
        v6: u8,
    },
    Ptr(Option<DomainSpec>),
    Ip4 {
        network: Ipv4Addr,
        prefix: u8,
    },
    Ip6 {
        network: Ipv6Addr,
        prefix: u8,
    },
    Exists(DomainSpec),
}

impl Mechanism {
    /// Mechanisms that cost a DNS lookup toward the limit of 10 (RFC 7208 §4.6.4).
    pub fn needs_lookup(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }

    /// Whether `ip` falls in an `ip4`/`ip6` network (other mechanisms need DNS: `None`).
    pub fn network_contains(&self, ip: IpAddr) -> Option<bool> {
        match (self, ip) {
            (Mechanism::Ip4 { network, prefix }, IpAddr::V4(ip)) => Some(prefix_match(
                u32::from(*network).into(),
                u32::from(ip).into(),
                *prefix,
                32,
            )),
            (Mechanism::Ip6 { network, prefix }, IpAddr::V6(ip)) => Some(prefix_match(
                u128::from(*network),
                u128::from(ip),
                *prefix,
                128,
            )),
            (Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. }, _) => Some(false),
            _ => None,
        }
    }
}

/// Whether `a` and `b` agree on their first `prefix` bits, out of `width`.
pub fn prefix_match(a: u128, b: u128, prefix: u8, width: u8) -> bool {
    let prefix = u32::from(prefix.min(width));
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(width) - prefix;
    (a >> shift) == (b >> shift)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub qualifier: Qualifier,
    pub mechanism: Mechanism,
    /// The term as written, for reports.
    pub text: String,
}

/// A parsed SPF record.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpfRecord {
    pub directives: Vec<Directive>,
    pub redirect: Option<DomainSpec>,
    pub exp: Option<DomainSpec>,
    /// Modifiers this parser does not know (allowed and ignored, RFC 7208 §6).
    pub unknown_modifiers: Vec<String>,
}

impl SpfRecord {
    /// The `all` directive, if any (terms after it are never evaluated).
    pub fn all(&self) -> Option<&Directive> {
        self.directives
            .iter()
            .find(|d| d.mechanism == Mechanism::All)
    }

    /// The `redirect=` that takes effect: it is ignored when the record has an `all` (§6.1).
    pub fn effective_redirect(&self) -> Option<&DomainSpec> {
        if self.all().is_some() {
            None
        } else {
            self.redirect.as_ref()
        }
    }
}

/// Whether a TXT record is an SPF record at all: `v=spf1` followed by a space or the end (§4.5).
pub fn is_spf(text: &str) -> bool {
    let lower = text.get(..6).map(|s| s.to_ascii_lowercase());
    lower.as_deref() == Some("v=spf1") && matches!(text.as_bytes().get(6), None | Some(b' '))
}

/// Parses one SPF record (the TXT strings already joined).
pub fn parse(text: &str) -> Result<SpfRecord, RecordError> {
    if !is_spf(text) {
        return Err(RecordError::new(
            "the record does not start with \"v=spf1\"",
        ));
    }
    if let Some(bad) = text.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(RecordError::new(format!(
            "the record holds the character {bad:?}; SPF records are printable ASCII separated by spaces"
        )));
    }
    let mut record = SpfRecord::default();
    for term in text[6..].split(' ').filter(|t| !t.is_empty()) {
        parse_term(term, &mut record)
            .map_err(|reason| RecordError::new(format!("\"{}\": {reason}", excerpt(term))))?;
    }
    Ok(record)
}

const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

fn parse_term(term: &str, record: &mut SpfRecord) -> Result<(), String> {
    // A modifier is `name=value`; a `=` before any `:` or `/` makes it one.
    let name_end = term.find(['=', ':', '/']).unwrap_or(term.len());
    if term[name_end..].starts_with('=') {
        let (name, value) = (&term[..name_end], &term[name_end + 1..]);
        if !valid_modifier_name(name) {
            return Err("not a valid modifier name".into());
        }
        if MECHANISMS.contains(&name.to_ascii_lowercase().as_str()) {
            // The grammar allows it as an unknown modifier, but receivers read a broken mechanism.
            return Err(format!(
                "\"{name}=\" is a mechanism written like a modifier (\"{name}:\" was meant?)"
            ));
        }
        match name.to_ascii_lowercase().as_str() {
            "redirect" | "exp" => {
                let spec = domain_spec(value, false)?;
                let slot = if name.eq_ignore_ascii_case("redirect") {
                    &mut record.redirect
                } else {
                    &mut record.exp
                };
                if slot.is_some() {
                    return Err(format!("\"{name}=\" may appear only once (RFC 7208 §6)"));
                }
                *slot = Some(spec);
            }
            _ => {
                if value.is_empty() {
                    // RFC 7208's grammar allows it, but receivers (Stalwart's mail-auth among them)
                    // reject the whole record: an auditor says so.
                    return Err(format!(
                        "\"{name}=\" has an empty value, which receivers reject"
                    ));
                }
                macro_string(value, true)?;
                record.unknown_modifiers.push(term.to_string());
            }
        }
        return Ok(());
    }
    let (qualifier, rest) = match term.as_bytes()[0] {
        b'+' => (Qualifier::Pass, &term[1..]),
        b'-' => (Qualifier::Fail, &term[1..]),
        b'~' => (Qualifier::SoftFail, &term[1..]),
        b'?' => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let name_end = rest.find([':', '/']).unwrap_or(rest.len());
    let (name, args) = (rest[..name_end].to_ascii_lowercase(), &rest[name_end..]);
    let mechanism = match name.as_str() {
        "all" => {
            no_args(args)?;
            Mechanism::All
        }
        "include" => Mechanism::Include(required_spec(args)?),
        "exists" => Mechanism::Exists(required_spec(args)?),
        "ptr" => Mechanism::Ptr(optional_spec(args)?),
        "a" | "mx" => {
            let (spec_part, cidr) = split_cidr(args);
            let domain = optional_spec(spec_part)?;
            let (v4, v6) = dual_cidr(cidr)?;
            if name == "a" {
                Mechanism::A { domain, v4, v6 }
            } else {
                Mechanism::Mx { domain, v4, v6 }
            }
        }
        "ip4" => {
            let value = args.strip_prefix(':').ok_or("ip4 needs \":address\"")?;
            let (addr, prefix) = value
                .split_once('/')
                .map_or((value, None), |(a, p)| (a, Some(p)));
            let network: Ipv4Addr = addr
                .parse()
                .map_err(|_| format!("\"{addr}\" is not an IPv4 address"))?;
            let prefix = prefix.map_or(Ok(32), |p| cidr_length(p, 32))?;
            Mechanism::Ip4 { network, prefix }
        }
        "ip6" => {
            let value = args.strip_prefix(':').ok_or("ip6 needs \":address\"")?;
            let (addr, prefix) = value
                .rsplit_once('/')
                .map_or((value, None), |(a, p)| (a, Some(p)));
            let network: Ipv6Addr = addr
                .parse()
                .map_err(|_| format!("\"{addr}\" is not an IPv6 address"))?;
            let prefix = prefix.map_or(Ok(128), |p| cidr_length(p, 128))?;
            Mechanism::Ip6 { network, prefix }
        }
        "" => return Err("a qualifier without a mechanism".into()),
        other => {
            return Err(format!(
                "unknown mechanism \"{}\" (known: all, include, a, mx, ptr, ip4, ip6, exists)",
                excerpt(other)
            ));
        }
    };
    record.directives.push(Directive {
        qualifier,
        mechanism,
        text: term.to_string(),
    });
    Ok(())
}

fn no_args(args: &str) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err("\"all\" takes no argument".into())
    }
}

fn required_spec(args: &str) -> Result<DomainSpec, String> {
    let value = args.strip_prefix(':').ok_or("needs \":domain\"")?;
    domain_spec(value, false)
}

fn optional_spec(args: &str) -> Result<Option<DomainSpec>, String> {
    match args.strip_prefix(':') {
        None if args.is_empty() => Ok(None),
        None => Err(format!("unexpected \"{}\"", excerpt(args))),
        Some(value) => domain_spec(value, false).map(Some),
    }
}

/// Splits `:domain/24//64` into the domain part and the CIDR part (`/24//64`).
///
/// A domain-spec is a macro-string (RFC 7208 §7.1), whose literals include `:` and `/`: only a
/// trailing `/digits`, `//digits` or `/digits//digits` is a `dual-cidr-length` (§5.6), so
/// `a:foo:bar/baz.example.com` names the host `foo:bar/baz.example.com`. A domain-spec cannot end
/// in `/digits` (its `domain-end` is a top label or a macro), so reading from the end is unambiguous.
fn split_cidr(args: &str) -> (&str, &str) {
    /// Where a trailing `/` + one or more digits starts in `text`, if it ends with one.
    fn trailing_slash_digits(text: &str) -> Option<usize> {
        let digits = text.len() - text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let slash = text.len().checked_sub(digits + 1)?;
        (digits > 0 && text.as_bytes()[slash] == b'/').then_some(slash)
    }
    let mut end = args.len();
    // `//digits`: the IPv6 length, always last.
    if let Some(slash) = trailing_slash_digits(args)
        && slash > 0
        && args.as_bytes()[slash - 1] == b'/'
    {
        end = slash - 1;
    }
    // `/digits`: the IPv4 length, before any IPv6 one.
    if let Some(slash) = trailing_slash_digits(&args[..end]) {
        end = slash;
    }
    args.split_at(end)
}

fn dual_cidr(cidr: &str) -> Result<(u8, u8), String> {
    if cidr.is_empty() {
        return Ok((32, 128));
    }
    let body = &cidr[1..];
    if let Some(v6) = body.strip_prefix('/') {
        return Ok((32, cidr_length(v6, 128)?));
    }
    match body.split_once("//") {
        Some((v4, v6)) => Ok((cidr_length(v4, 32)?, cidr_length(v6, 128)?)),
        None => Ok((cidr_length(body, 32)?, 128)),
    }
}

fn cidr_length(text: &str, max: u8) -> Result<u8, String> {
    let valid = !text.is_empty()
        && text.len() <= 3
        && text.bytes().all(|b| b.is_ascii_digit())
        && !(text.len() > 1 && text.starts_with('0'));
    match text.parse::<u8>() {
        Ok(n) if valid && n <= max => Ok(n),
        _ => Err(format!(
            "\"/{}\" is not a prefix length from 0 to {max}",
            excerpt(text)
        )),
    }
}

fn valid_modifier_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `domain-spec = macro-string domain-end` (RFC 7208 §7.1).
fn domain_spec(value: &str, exp_letters: bool) -> Result<DomainSpec, String> {
    if value.is_empty() {
        return Err("the domain is empty".into());
    }
    let ends_with_macro = macro_string(value, exp_letters)?;
    if !ends_with_macro {
        let name = value.strip_suffix('.').unwrap_or(value);
        let Some((_, top)) = name.rsplit_once('.') else {
            return Err(format!(
                "\"{}\" is not a fully qualified domain (it needs a dot)",
                excerpt(value)
            ));
        };
        let toplabel_ok = !top.is_empty()
            && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !top.starts_with('-')
            && !top.ends_with('-')
            && top.bytes().any(|b| !b.is_ascii_digit());
        if !toplabel_ok {
            return Err(format!(
                "\"{}\" does not end in a valid top-level label",
                excerpt(value)
            ));
        }
        if !value.contains('%') {
            if name.len() > 253 {
                return Err("the domain is longer than 253 octets".into());
            }
            if let Some(label) = name.split('.').find(|l| l.is_empty() || l.len() > 63) {
                return Err(if label.is_empty() {
                    "the domain has an empty label".into()
                } else {
                    "the domain has a label longer than 63 octets".into()
                });
            }
        }
    }
    Ok(DomainSpec(value.to_string()))
}

/// Checks a `macro-string`; returns whether it ends with a macro expansion.
fn macro_string(value: &str, exp_letters: bool) -> Result<bool, String> {
    let bytes = value.as_bytes();
    let mut i = 0;
    let mut ends_with_macro = false;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                match bytes.get(i + 1) {
                    Some(b'%' | b'_' | b'-') => i += 2,
                    Some(b'{') => {
                        let close = value[i..].find('}').ok_or("a macro \"%{\" is not closed")?;
                        macro_body(&value[i + 2..i + close], exp_letters)?;
                        i += close + 1;
                    }
                    _ => {
                        return Err(
                            "\"%\" must start a macro (\"%{x}\", \"%%\", \"%_\" or \"%-\")".into(),
                        );
                    }
                }
                ends_with_macro = i >= bytes.len();
            }
            0x21..=0x7e => {
                i += 1;
                ends_with_macro = false;
            }
            _ => return Err("a character that is not allowed".into()),
        }
    }
    Ok(ends_with_macro)
}

/// `macro-letter transformers *delimiter` (§7.1).
fn macro_body(body: &str, exp_letters: bool) -> Result<(), String> {
    let mut chars = body.chars();
    let letter = chars.next().ok_or("an empty macro \"%{}\"")?;
    let base = letter.to_ascii_lowercase();
    let allowed = matches!(base, 's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v')
        || (exp_letters && matches!(base, 'c' | 'r' | 't'));
    if !allowed {
        return Err(format!(
            "\"%{{{letter}\" is not a macro letter allowed here"
        ));
    }
    let rest: String = chars.collect();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let mut tail = &rest[digits_end..];
    if digits_end > 0 && rest[..digits_end].parse::<u32>().map_or(true, |n| n == 0) {
        return Err("a macro's label count must be at least 1".into());
    }
    if let Some(stripped) = tail.strip_prefix(['r', 'R']) {
        tail = stripped;
    }
    if let Some(bad) = tail
        .chars()
        .find(|c| !matches!(c, '.' | '-' | '+' | ',' | '/' | '_' | '='))
    {
        return Err(format!("{bad:?} is not a macro delimiter"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_usual_records() {
        let r = parse("v=spf1 mx a:mail.example.com/24 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.net ~all").unwrap();
        assert_eq!(r.directives.len(), 6);
        assert_eq!(r.all().unwrap().qualifier, Qualifier::SoftFail);
        assert!(matches!(
            r.directives[1].mechanism,
            Mechanism::A {
                v4: 24,
                v6: 128,
                ..
            }
        ));
        assert!(matches!(
            r.directives[3].mechanism,
            Mechanism::Ip6 { prefix: 32, .. }
        ));
        let r = parse("v=spf1 redirect=_spf.example.com").unwrap();
        assert_eq!(r.effective_redirect().unwrap().0, "_spf.example.com");
        let r = parse("V=SPF1 MX//64 -ALL").unwrap();
        assert!(matches!(
            r.directives[0].mechanism,
            Mechanism::Mx { v4: 32, v6: 64, .. }
        ));
        let r = parse("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all").unwrap();
        assert!(matches!(&r.directives[0].mechanism, Mechanism::Exists(d) if d.has_macros()));
        assert!(parse("v=spf1").unwrap().directives.is_empty());
        assert!(
            parse("v=spf1 -all foo=bar")
                .unwrap()
                .unknown_modifiers
                .len()
                == 1
        );
    }

    /// RFC 7208 §7.1: a domain-spec is a macro-string (literals are %x21-24 / %x26-7E, `:` and `/`
    /// among them) plus a domain-end; only a trailing `/digits` (§5.6) is a CIDR length.
    #[test]
    fn domain_specs_may_hold_colons_and_slashes() {
        let r = parse(
            "v=spf1 a:foo:bar/baz.example.com mx:foo:bar/baz.example.com/24//64 \
             a:x/24.example.com//48 ptr:p:q/r.example.com exists:e:1/2.example.com -all",
        )
        .unwrap();
        let host = |m: &Mechanism| match m {
            Mechanism::A { domain, v4, v6 } | Mechanism::Mx { domain, v4, v6 } => {
                (domain.clone().unwrap().0, *v4, *v6)
            }
            Mechanism::Ptr(Some(d)) | Mechanism::Exists(d) => (d.0.clone(), 0, 0),
            other => panic!("{other:?}"),
        };
        let got: Vec<_> = r.directives[..5]
            .iter()
            .map(|d| host(&d.mechanism))
            .collect();
        assert_eq!(
            got,
            [
                ("foo:bar/baz.example.com".to_string(), 32, 128),
                ("foo:bar/baz.example.com".to_string(), 24, 64),
                ("x/24.example.com".to_string(), 32, 48),
                ("p:q/r.example.com".to_string(), 0, 0),
                ("e:1/2.example.com".to_string(), 0, 0),
            ]
        );
        // A trailing length is still one, and still checked.
        assert!(parse("v=spf1 a:foo:bar/baz.example.com/33").is_err());
        assert!(parse("v=spf1 mx:%{d}/24//129").is_err());
        let r = parse("v=spf1 mx:%{d}:x/%{d}/24").unwrap();
        assert!(matches!(
            &r.directives[0].mechanism,
            Mechanism::Mx { domain: Some(d), v4: 24, v6: 128 } if d.0 == "%{d}:x/%{d}"
        ));
    }

    #[test]
    fn names_the_term_that_breaks_a_record() {
        for (text, wanted) in [
            ("v=spf1 ipv4:192.0.2.1 -all", "unknown mechanism \"ipv4\""),
            ("v=spf1 ip4:192.0.2.0/33 -all", "prefix length from 0 to 32"),
            ("v=spf1 ip4:192.0.2 -all", "not an IPv4 address"),
            ("v=spf1 ip6:2001:db8::/129", "0 to 128"),
            ("v=spf1 include: -all", "domain is empty"),
            ("v=spf1 include:localhost -all", "needs a dot"),
            ("v=spf1 a:example.123 -all", "top-level label"),
            ("v=spf1 all:foo", "takes no argument"),
            ("v=spf1 redirect=a.test redirect=b.test", "only once"),
            ("v=spf1 exists:%{x}.test", "not a macro letter"),
            ("v=spf1 include:%{d", "not closed"),
            ("v=spf1 - mx", "without a mechanism"),
            ("v=spf1 mx/024", "prefix length"),
            ("v=spf1 a:b..test", "empty label"),
            ("v=spf10 -all", "does not start"),
            ("v=spf1 -all\tmx", "printable ASCII"),
            ("v=spf1\t-all", "does not start"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.reason.contains(wanted), "{text:?}: {err}");
        }
    }

    #[test]
    fn recognises_spf_records_among_txt_records() {
        assert!(is_spf("v=spf1"));
        assert!(is_spf("v=spf1 -all"));
        assert!(is_spf("V=SPF1 -all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("google-site-verification=x"));
        assert!(!is_spf("v=spf"));
    }

    #[test]
    fn networks_match_by_prefix() {
        let m = |s: &str| {
            parse(&format!("v=spf1 {s}")).unwrap().directives[0]
                .mechanism
                .clone()
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            m("ip4:192.0.2.0/24").network_contains(ip("192.0.2.77")),
            Some(true)
        );
        assert_eq!(
            m("ip4:192.0.2.0/24").network_contains(ip("192.0.3.1")),
            Some(false)
        );
        assert_eq!(
            m("ip4:0.0.0.0/0").network_contains(ip("203.0.113.9")),
            Some(true)
        );
        assert_eq!(
            m("ip4:192.0.2.1").network_contains(ip("2001:db8::1")),
            Some(false)
        );
        assert_eq!(
            m("ip6:2001:db8::/32").network_contains(ip("2001:db8:ff::1")),
            Some(true)
        );
        assert_eq!(m("mx").network_contains(ip("192.0.2.1")), None);
    }

    /// Domain-specs generated from RFC 7208 §7.1's grammar, with a `dual-cidr-length` or none.
    mod grammar {
        use super::*;
        use proptest::prelude::*;

        /// `macro-literal`, less `.` (labels are joined with dots below, so no label is empty: the
        /// parser reports empty labels on purpose).
        fn literal() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![0x21u8..=0x24, 0x26u8..=0x2d, 0x2fu8..=0x7e],
                1..12,
            )
            .prop_map(|b| String::from_utf8(b).unwrap())
        }

        fn macro_expand() -> impl Strategy<Value = String> {
            let letter = prop::sample::select(vec![
                's', 'l', 'o', 'd', 'i', 'p', 'h', 'v', 'S', 'L', 'O', 'D', 'I', 'P', 'H', 'V',
            ]);
            // §7.3: a DIGIT transformer is nonzero.
            let digits = prop::option::of(1u32..=128);
            let reverse = prop::sample::select(vec!["", "r", "R"]);
            let delimiters = proptest::collection::vec(
                prop::sample::select(vec!['.', '-', '+', ',', '/', '_', '=']),
                0..3,
            );
            prop_oneof![
                (letter, digits, reverse, delimiters).prop_map(|(l, d, r, delims)| {
                    let d = d.map(|d| d.to_string()).unwrap_or_default();
                    let delims: String = delims.into_iter().collect();
                    format!("%{{{l}{d}{r}{delims}}}")
                }),
                prop::sample::select(vec!["%%", "%_", "%-"]).prop_map(String::from),
            ]
        }

        /// A label of the macro-string: literals and macros mixed.
        fn label() -> impl Strategy<Value = String> {
            proptest::collection::vec(prop_oneof![3 => literal(), 1 => macro_expand()], 1..4)
                .prop_map(|parts| parts.concat())
        }

        /// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
        fn toplabel() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-zA-Z0-9]{0,5}[a-zA-Z][a-zA-Z0-9]{0,5}",
                "[a-zA-Z0-9]{1,5}-[a-zA-Z0-9-]{0,5}[a-zA-Z0-9]",
            ]
        }

        fn domain_spec() -> impl Strategy<Value = String> {
            let end = prop_oneof![
                (toplabel(), any::<bool>())
                    .prop_map(|(t, dot)| format!(".{t}{}", if dot { "." } else { "" })),
                macro_expand(),
            ];
            (proptest::collection::vec(label(), 1..5), end)
                .prop_map(|(labels, end)| format!("{}{end}", labels.join(".")))
        }

        proptest! {
            #[test]
            fn domain_specs_from_the_grammar_parse(
                spec in domain_spec(),
                v4 in prop::option::of(0u8..=32),
                v6 in prop::option::of(0u8..=128),
            ) {
                let cidr = format!(
                    "{}{}",
                    v4.map(|n| format!("/{n}")).unwrap_or_default(),
                    v6.map(|n| format!("//{n}")).unwrap_or_default()
                );
                for mechanism in ["a", "mx"] {
                    let text = format!("v=spf1 {mechanism}:{spec}{cidr} -all");
                    let record = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                    let (domain, got4, got6) = match &record.directives[0].mechanism {
                        Mechanism::A { domain, v4, v6 } | Mechanism::Mx { domain, v4, v6 } => {
                            (domain.clone(), *v4, *v6)
                        }
                        other => return Err(TestCaseError::fail(format!("{other:?}"))),
                    };
                    prop_assert_eq!(domain, Some(DomainSpec(spec.clone())));
                    prop_assert_eq!((got4, got6), (v4.unwrap_or(32), v6.unwrap_or(128)));
                }
                for mechanism in ["include", "exists", "ptr"] {
                    let text = format!("v=spf1 {mechanism}:{spec} -all");
                    prop_assert!(parse(&text).is_ok(), "{}: {:?}", text, parse(&text));
                }
                let text = format!("v=spf1 redirect={spec}");
                prop_assert!(parse(&text).is_ok(), "{}: {:?}", text, parse(&text));
            }
        }
    }
}

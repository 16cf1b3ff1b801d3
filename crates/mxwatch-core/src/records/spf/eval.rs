//! SPF evaluation over recorded DNS answers: the audit walk (every term of every included record,
//! with the lookup and void-lookup counts of RFC 7208 §4.6.4) and `check_host()` (§4) for one address.
//!
//! Both run on a map of answers keyed `"TXT name"`, `"A name"`, `"AAAA name"`, `"MX name"`,
//! `"PTR address"`. The collector runs the same code to learn which answers it still has to fetch
//! (a key not in the map is reported as missing), so the walk is written once and the checks stay
//! pure. Why not mail-auth's evaluator: it has no void-lookup limit and no trace of why (see
//! docs/dependencies.md), and it does its own DNS.
//!
//! Why here, beside the SPF grammar, and not beside the checks: it is the meaning of the parsed
//! terms (RFC 7208 §4–§5) and reads no observation, only a map of answers. The probe runs it to
//! know what to fetch and the checks run it to judge, so it belongs to neither side; it is as pure
//! as the parser it walks, and a change to the grammar and to its evaluation is one change here.

use crate::observation::lookup::Lookup;
use crate::records::RecordError;
use crate::records::spf::{self, DomainSpec, Mechanism, Qualifier, SpfRecord};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::rc::Rc;

/// Recorded answers: presentation strings per key (TXT: the SPF records only).
pub type Answers = BTreeMap<String, Lookup<Vec<String>>>;

/// The DNS-querying terms allowed in one evaluation (§4.6.4).
pub const LOOKUP_LIMIT: usize = 10;
/// Lookups that may return nothing before the evaluation is a permerror (§4.6.4).
pub const VOID_LIMIT: usize = 2;
/// Names an `mx` mechanism may return (§4.6.4).
pub const MX_NAME_LIMIT: usize = 10;
/// How deep the audit follows includes; a real loop is reported, not followed forever.
const MAX_DEPTH: usize = 12;
/// Records the audit walk visits at most. A hostile tree of few records that include each other
/// many times over grows exponentially (9 records can stand for millions of visits); receivers stop
/// at 10 lookups, and the audit stops here, saying so.
pub const MAX_WALK_VISITS: usize = 100;
/// Addresses no legitimate sender uses (RFC 5737, RFC 3849): a record that passes them passes anyone.
pub const NOBODY: [&str; 2] = ["192.0.2.1", "2001:db8::1"];

pub fn key(rtype: &str, name: &str) -> String {
    format!(
        "{rtype} {}",
        name.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// The recorded answers of one domain's SPF tree, with each SPF record parsed at most once.
///
/// The checks of one report ask for the audit walk and for several `check_host()` evaluations
/// (every MX address, the documentation addresses) over the same answers; each used to parse every
/// record of the tree again and format a key string per lookup. One `SpfAnswers` per report shares
/// the parsed records between them; the free functions [`audit`] and [`check_host`] make one for a
/// single use. Single-threaded (`RefCell`/`Rc`): a report's checks run on one thread.
pub struct SpfAnswers<'a> {
    answers: &'a Answers,
    /// Parsed records by their text (a text is parsed once whatever names publish it).
    parsed: RefCell<HashMap<&'a str, Result<Rc<SpfRecord>, RecordError>>>,
    /// The key being looked up (`"TXT name"`), reused so that a lookup allocates nothing.
    scratch: RefCell<String>,
}

impl<'a> SpfAnswers<'a> {
    pub fn new(answers: &'a Answers) -> Self {
        SpfAnswers {
            answers,
            parsed: RefCell::new(HashMap::new()),
            scratch: RefCell::new(String::new()),
        }
    }

    /// The answer recorded for `rtype name` (the same key as [`key`], built without allocating).
    fn get(&self, rtype: &str, name: &str) -> Option<&'a Lookup<Vec<String>>> {
        let mut k = self.scratch.borrow_mut();
        k.clear();
        k.push_str(rtype);
        k.push(' ');
        let start = k.len();
        k.push_str(name.trim_end_matches('.'));
        k[start..].make_ascii_lowercase();
        self.answers.get(k.as_str())
    }

    /// `text` parsed, from the memo when it was parsed before.
    pub fn parse(&self, text: &'a str) -> Result<Rc<SpfRecord>, RecordError> {
        self.parsed
            .borrow_mut()
            .entry(text)
            .or_insert_with(|| spf::parse(text).map(Rc::new))
            .clone()
    }

    /// Walks the SPF record of `domain` and everything it includes (see [`audit`]).
    pub fn audit(&self, domain: &str) -> Audit {
        let mut out = Audit::default();
        let mut stack = Vec::new();
        walk(domain, self, &mut out, &mut stack, true);
        out.missing.sort();
        out.missing.dedup();
        out
    }

    /// `check_host(ip, domain)` (see [`check_host`]).
    pub fn check_host(&self, ip: IpAddr, domain: &str) -> Verdict {
        let mut counters = Counters {
            lookups: 0,
            voids: 0,
        };
        evaluate(ip, domain, self, &mut counters, 0)
    }
}

/// What the audit walk found across the whole include tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// The DNS-querying terms, in walk order, as `term (in domain)`.
    pub lookup_terms: Vec<String>,
    /// Lookups that returned no records.
    pub voids: Vec<String>,
    /// `domain: reason` for records that do not parse.
    pub syntax_errors: Vec<String>,
    /// Domains in the tree with more than one SPF record.
    pub multiple: Vec<String>,
    /// `include`/`redirect` targets that publish no SPF record (a permerror for every receiver).
    pub broken_includes: Vec<String>,
    pub ptr_terms: Vec<String>,
    /// `mx` mechanisms naming more than 10 exchanges, and include loops.
    pub overflows: Vec<String>,
    /// Lookups that failed (timeout, SERVFAIL): what depends on them could not be judged.
    pub failed: Vec<String>,
    /// Terms whose target depends on the message (macros like `%{i}` or `%{s}`): not walked.
    pub sender_dependent: Vec<String>,
    /// Keys the answers do not hold yet (the collector fetches them; a check sees them as not looked up).
    pub missing: Vec<String>,
    /// Records visited (bounded by [`MAX_WALK_VISITS`]).
    pub visits: usize,
}

impl Audit {
    pub fn lookups(&self) -> usize {
        self.lookup_terms.len()
    }
}

/// Walks the SPF record of `domain` and everything it includes.
pub fn audit(domain: &str, answers: &Answers) -> Audit {
    SpfAnswers::new(answers).audit(domain)
}

/// The SPF records at `domain`, or why there are none to read.
enum Records<'a> {
    Missing,
    Failed(String),
    None,
    Some(&'a [String]),
}

fn records<'a>(domain: &str, answers: &SpfAnswers<'a>) -> Records<'a> {
    match answers.get("TXT", domain) {
        None => Records::Missing,
        Some(Lookup::Failed { failure, .. }) => Records::Failed(failure.describe().to_string()),
        Some(Lookup::Absent { .. }) => Records::None,
        Some(Lookup::Observed { value, .. }) if value.is_empty() => Records::None,
        Some(Lookup::Observed { value, .. }) => Records::Some(value),
    }
}

fn walk(
    domain: &str,
    answers: &SpfAnswers<'_>,
    out: &mut Audit,
    stack: &mut Vec<String>,
    top: bool,
) {
    out.visits += 1;
    if out.visits > MAX_WALK_VISITS {
        if out.visits == MAX_WALK_VISITS + 1 {
            out.overflows.push(format!(
                "the include tree needs more than {MAX_WALK_VISITS} records to be walked; the audit stopped there"
            ));
        }
        return;
    }
    let record = match records(domain, answers) {
        Records::Missing => {
            out.missing.push(key("TXT", domain));
            return;
        }
        Records::Failed(why) => {
            out.failed.push(format!("TXT {domain}: {why}"));
            return;
        }
        Records::None => {
            if !top {
                out.broken_includes.push(domain.to_string());
            }
            return;
        }
        Records::Some(texts) => {
            if texts.len() > 1 {
                if !top {
                    out.multiple.push(domain.to_string());
                }
                return;
            }
            match answers.parse(&texts[0]) {
                Ok(record) => record,
                Err(e) => {
                    if !top {
                        out.syntax_errors.push(format!("{domain}: {e}"));
                    }
                    return;
                }
            }
        }
    };
    stack.push(domain.to_string());
    for directive in &record.directives {
        let term = format!("{} (in {domain})", directive.text);
        if directive.mechanism.needs_lookup() {
            out.lookup_terms.push(term.clone());
        }
        match &directive.mechanism {
            Mechanism::Include(spec) => {
                follow(spec, domain, &term, answers, out, stack);
            }
            Mechanism::A { domain: spec, .. } => {
                let Some(target) = target(spec.as_ref(), domain, &term, out) else {
                    continue;
                };
                match (answers.get("A", &target), answers.get("AAAA", &target)) {
                    (Some(a), Some(aaaa)) => {
                        if a.is_failed() || aaaa.is_failed() {
                            out.failed.push(format!("{term}: an address lookup failed"));
                        } else if a.value().is_none_or(Vec::is_empty)
                            && aaaa.value().is_none_or(Vec::is_empty)
                        {
                            out.voids.push(format!("{term}: {target} has no address"));
                        }
                    }
                    (a_seen, aaaa_seen) => {
                        if a_seen.is_none() {
                            out.missing.push(key("A", &target));
                        }
                        if aaaa_seen.is_none() {
                            out.missing.push(key("AAAA", &target));
                        }
                    }
                }
            }
            Mechanism::Mx { domain: spec, .. } => {
                let Some(target) = target(spec.as_ref(), domain, &term, out) else {
                    continue;
                };
                match answers.get("MX", &target) {
                    None => out.missing.push(key("MX", &target)),
                    Some(lookup) if lookup.is_failed() => {
                        out.failed.push(format!("{term}: the MX lookup failed"))
                    }
                    Some(lookup) => {
                        let names: &[String] = lookup.value().map_or(&[], Vec::as_slice);
                        if names.is_empty() {
                            out.voids.push(format!("{term}: {target} has no MX"));
                        }
                        if names.len() > MX_NAME_LIMIT {
                            out.overflows.push(format!(
                                "{term}: {} MX names, more than {MX_NAME_LIMIT}",
                                names.len()
                            ));
                        }
                        // Their addresses are what the mechanism matches (fetched for check_host).
                        for name in names.iter().take(MX_NAME_LIMIT) {
                            for rtype in ["A", "AAAA"] {
                                if answers.get(rtype, name).is_none() {
                                    out.missing.push(key(rtype, name));
                                }
                            }
                        }
                    }
                }
            }
            Mechanism::Ptr(_) => out.ptr_terms.push(term.clone()),
            Mechanism::Exists(spec) => {
                let Some(target) = target(Some(spec), domain, &term, out) else {
                    continue;
                };
                match answers.get("A", &target) {
                    None => out.missing.push(key("A", &target)),
                    Some(lookup) if lookup.is_failed() => {
                        out.failed.push(format!("{term}: the A lookup failed"))
                    }
                    Some(lookup) if lookup.value().is_none_or(Vec::is_empty) => {
                        out.voids.push(format!("{term}: {target} does not exist"))
                    }
                    Some(_) => {}
                }
            }
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => {}
        }
    }
    if let Some(spec) = record.effective_redirect() {
        let term = format!("redirect={} (in {domain})", spec.0);
        out.lookup_terms.push(term.clone());
        follow(spec, domain, &term, answers, out, stack);
    }
    stack.pop();
}

fn follow(
    spec: &DomainSpec,
    domain: &str,
    term: &str,
    answers: &SpfAnswers<'_>,
    out: &mut Audit,
    stack: &mut Vec<String>,
) {
    let Some(target) = target(Some(spec), domain, term, out) else {
        return;
    };
    if stack.contains(&target) {
        out.overflows
            .push(format!("{term}: {target} includes itself (a loop)"));
        return;
    }
    if stack.len() >= MAX_DEPTH {
        out.overflows
            .push(format!("{term}: includes nest more than {MAX_DEPTH} deep"));
        return;
    }
    walk(&target, answers, out, stack, false);
}

/// The name a term points at, expanding `%{d}`; `None` (and noted) when it depends on the message,
/// `None` too when no DNS name can be formed from it (receivers do not look it up: it does not match).
fn target(spec: Option<&DomainSpec>, domain: &str, term: &str, out: &mut Audit) -> Option<String> {
    match spec {
        None => Some(domain.to_string()),
        Some(spec) => match expand(spec, domain, None, None) {
            Expansion::Name(name) => Some(name),
            Expansion::Dependent => {
                out.sender_dependent.push(term.to_string());
                None
            }
            Expansion::Impossible(_) => None,
        },
    }
}

/// What a domain-spec expands to (RFC 7208 §7.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expansion {
    /// The name to ask, as expanded: it may hold spaces, `%` or any other octet but `.` in a label
    /// (DNS labels carry any octet, RFC 2181 §11), and is asked as it is.
    Name(String),
    /// A macro needs what only a message carries (`%{s}`, `%{l}`, `%{o}`, `%{h}`, or `%{i}`,
    /// `%{v}`, `%{p}` without an address).
    Dependent,
    /// No DNS name can be formed (an empty label, a label over 63 octets after the §7.3
    /// truncation): receivers ask nothing and the term does not match.
    Impossible(String),
}

/// Expands a domain-spec (§7.3). Only `%{d}` is known without a message, `%{i}`/`%{v}` with an
/// address, and `%{p}` with the address's validated name (`validated`, see [`validated_name`]).
pub fn expand(
    spec: &DomainSpec,
    domain: &str,
    ip: Option<IpAddr>,
    validated: Option<&str>,
) -> Expansion {
    let Some(text) = expand_text(spec, domain, ip, validated) else {
        return Expansion::Dependent;
    };
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    // §7.3 (and §4.8): a name longer than 253 octets is shortened from the left, label by label.
    let mut name = name.as_str();
    while name.len() > 253 {
        match name.split_once('.') {
            Some((_, rest)) => name = rest,
            None => return Expansion::Impossible("a single label longer than 253 octets".into()),
        }
    }
    if name.is_empty() {
        return Expansion::Impossible("the name is empty".into());
    }
    if let Some(label) = name.split('.').find(|l| l.is_empty() || l.len() > 63) {
        return Expansion::Impossible(if label.is_empty() {
            format!("{name:?} has an empty label")
        } else {
            format!("{name:?} has a label longer than 63 octets")
        });
    }
    Expansion::Name(name.to_string())
}

/// The macro-string with its macros replaced, or `None` when a macro needs the message.
fn expand_text(
    spec: &DomainSpec,
    domain: &str,
    ip: Option<IpAddr>,
    validated: Option<&str>,
) -> Option<String> {
    let text = &spec.0;
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match after.as_bytes().first()? {
            b'%' => {
                out.push('%');
                rest = &after[1..];
            }
            b'_' => {
                out.push(' ');
                rest = &after[1..];
            }
            b'-' => {
                out.push_str("%20");
                rest = &after[1..];
            }
            b'{' => {
                let close = after.find('}')?;
                out.push_str(&expand_macro(&after[1..close], domain, ip, validated)?);
                rest = &after[close + 1..];
            }
            _ => return None,
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Whether a domain-spec uses `%{p}`, which costs PTR and address lookups to expand.
fn uses_p(spec: &DomainSpec) -> bool {
    spec.0.contains("%{p") || spec.0.contains("%{P")
}

fn expand_macro(
    body: &str,
    domain: &str,
    ip: Option<IpAddr>,
    validated: Option<&str>,
) -> Option<String> {
    let mut chars = body.chars();
    let letter = chars.next()?.to_ascii_lowercase();
    let value = match (letter, ip) {
        ('d', _) => domain.to_string(),
        ('p', Some(_)) => validated?.to_string(),
        ('i', Some(IpAddr::V4(v4))) => v4.to_string(),
        ('i', Some(IpAddr::V6(v6))) => v6
            .octets()
            .iter()
            .flat_map(|b| [b >> 4, b & 0xf])
            .map(|n| format!("{n:x}"))
            .collect::<Vec<_>>()
            .join("."),
        ('v', Some(IpAddr::V4(_))) => "in-addr".into(),
        ('v', Some(IpAddr::V6(_))) => "ip6".into(),
        _ => return None,
    };
    let rest: String = chars.collect();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let keep: Option<usize> = rest[..digits_end].parse().ok();
    let mut tail = &rest[digits_end..];
    let reverse = tail.starts_with(['r', 'R']);
    if reverse {
        tail = &tail[1..];
    }
    let delimiters: Vec<char> = if tail.is_empty() {
        vec!['.']
    } else {
        tail.chars().collect()
    };
    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(&c)).collect();
    if reverse {
        parts.reverse();
    }
    if let Some(keep) = keep {
        let skip = parts.len().saturating_sub(keep);
        parts.drain(..skip);
    }
    Some(parts.join("."))
}

/// The result of `check_host()` for one address (§2.6), or why it could not be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// The domain has no SPF record.
    None,
    PermError(String),
    TempError(String),
    /// A term depends on the message (sender, HELO): no verdict without one.
    Undetermined(String),
    /// An answer the evaluation needs is not recorded (the collector fetches it).
    Missing(String),
}

impl Verdict {
    fn from(qualifier: Qualifier) -> Verdict {
        match qualifier {
            Qualifier::Pass => Verdict::Pass,
            Qualifier::Fail => Verdict::Fail,
            Qualifier::SoftFail => Verdict::SoftFail,
            Qualifier::Neutral => Verdict::Neutral,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Fail => "fail".into(),
            Verdict::SoftFail => "softfail".into(),
            Verdict::Neutral => "neutral".into(),
            Verdict::None => "none".into(),
            Verdict::PermError(why) => format!("permerror ({why})"),
            Verdict::TempError(why) => format!("temperror ({why})"),
            Verdict::Undetermined(why) => format!("undetermined ({why})"),
            Verdict::Missing(key) => format!("not looked up ({key})"),
        }
    }
}

struct Counters {
    lookups: usize,
    voids: usize,
}

/// `check_host(ip, domain)`: what a receiver concludes for mail from `ip` with `domain` as its SPF domain.
pub fn check_host(ip: IpAddr, domain: &str, answers: &Answers) -> Verdict {
    SpfAnswers::new(answers).check_host(ip, domain)
}

fn evaluate(
    ip: IpAddr,
    domain: &str,
    answers: &SpfAnswers<'_>,
    n: &mut Counters,
    depth: usize,
) -> Verdict {
    if depth > MAX_DEPTH {
        return Verdict::PermError("includes nest too deep".into());
    }
    let record = match records(domain, answers) {
        Records::Missing => return Verdict::Missing(key("TXT", domain)),
        Records::Failed(why) => return Verdict::TempError(format!("TXT {domain}: {why}")),
        Records::None => return Verdict::None,
        Records::Some(texts) if texts.len() > 1 => {
            return Verdict::PermError(format!("{domain} has more than one SPF record"));
        }
        Records::Some(texts) => match answers.parse(&texts[0]) {
            Ok(record) => record,
            Err(e) => return Verdict::PermError(format!("{domain}: {e}")),
        },
    };
    for directive in &record.directives {
        if directive.mechanism.needs_lookup() {
            n.lookups += 1;
            if n.lookups > LOOKUP_LIMIT {
                return Verdict::PermError(format!("more than {LOOKUP_LIMIT} DNS lookups"));
            }
        }
        match matches(ip, domain, &directive.mechanism, answers, n, depth) {
            Ok(true) => return Verdict::from(directive.qualifier),
            Ok(false) => {}
            Err(verdict) => return verdict,
        }
    }
    if let Some(spec) = record.effective_redirect() {
        n.lookups += 1;
        if n.lookups > LOOKUP_LIMIT {
            return Verdict::PermError(format!("more than {LOOKUP_LIMIT} DNS lookups"));
        }
        let validated = match uses_p(spec) {
            true => match validated(ip, domain, answers) {
                Ok(name) => Some(name),
                Err(verdict) => return verdict,
            },
            false => None,
        };
        let target = match expand(spec, domain, Some(ip), validated.as_deref()) {
            Expansion::Name(name) => name,
            Expansion::Dependent => {
                return Verdict::Undetermined(format!(
                    "redirect={} depends on the message",
                    spec.0
                ));
            }
            // §6.1: a redirect whose target has no record is a permerror; a name that cannot
            // exist has none.
            Expansion::Impossible(why) => {
                return Verdict::PermError(format!("redirect={}: {why}", spec.0));
            }
        };
        return match evaluate(ip, &target, answers, n, depth + 1) {
            Verdict::None => {
                Verdict::PermError(format!("redirect to {target}, which has no SPF record"))
            }
            other => other,
        };
    }
    Verdict::Neutral
}

/// Whether a mechanism matches; `Err` carries a verdict that ends the evaluation.
fn matches(
    ip: IpAddr,
    domain: &str,
    mechanism: &Mechanism,
    answers: &SpfAnswers<'_>,
    n: &mut Counters,
    depth: usize,
) -> Result<bool, Verdict> {
    if let Some(inside) = mechanism.network_contains(ip) {
        return Ok(inside);
    }
    // `Ok(None)`: no DNS name can be formed, so the mechanism does not match (§4.8, §7.3).
    let name_of = |spec: Option<&DomainSpec>| -> Result<Option<String>, Verdict> {
        let Some(spec) = spec else {
            return Ok(Some(domain.to_string()));
        };
        let validated = if uses_p(spec) {
            Some(validated(ip, domain, answers)?)
        } else {
            None
        };
        match expand(spec, domain, Some(ip), validated.as_deref()) {
            Expansion::Name(name) => Ok(Some(name)),
            Expansion::Impossible(_) => Ok(None),
            Expansion::Dependent => Err(Verdict::Undetermined(format!(
                "\"{}\" depends on the message",
                spec.0
            ))),
        }
    };
    let family = if ip.is_ipv4() { "A" } else { "AAAA" };
    match mechanism {
        Mechanism::All => Ok(true),
        Mechanism::Include(spec) => {
            let Some(target) = name_of(Some(spec))? else {
                return Ok(false);
            };
            match evaluate(ip, &target, answers, n, depth + 1) {
                Verdict::Pass => Ok(true),
                Verdict::Fail | Verdict::SoftFail | Verdict::Neutral => Ok(false),
                Verdict::None => Err(Verdict::PermError(format!(
                    "include:{target}, which has no SPF record"
                ))),
                other => Err(other),
            }
        }
        Mechanism::A {
            domain: spec,
            v4,
            v6,
        } => {
            let Some(target) = name_of(spec.as_ref())? else {
                return Ok(false);
            };
            let ips = fetch(answers, family, &target, n)?;
            Ok(in_any(ip, ips, *v4, *v6))
        }
        Mechanism::Mx {
            domain: spec,
            v4,
            v6,
        } => {
            let Some(target) = name_of(spec.as_ref())? else {
                return Ok(false);
            };
            let names = fetch(answers, "MX", &target, n)?;
            if names.len() > MX_NAME_LIMIT {
                return Err(Verdict::PermError(format!(
                    "mx:{target} has more than {MX_NAME_LIMIT} MX names"
                )));
            }
            for name in names {
                let ips = fetch_no_void(answers, family, name)?;
                if in_any(ip, ips, *v4, *v6) {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Mechanism::Ptr(spec) => {
            let Some(target) = name_of(spec.as_ref())? else {
                return Ok(false);
            };
            // §5.5: a failed PTR lookup means the mechanism does not match (not a temperror).
            let address = ip.to_string();
            let names = match answers.get("PTR", &address) {
                None => return Err(Verdict::Missing(key("PTR", &address))),
                Some(Lookup::Failed { .. }) => return Ok(false),
                Some(_) => fetch(answers, "PTR", &address, n)?,
            };
            // Only names at or under the target can make it match: the others are not validated.
            let candidates = names
                .iter()
                .take(PTR_NAME_LIMIT)
                .filter(|name| within(name, &target));
            for name in candidates {
                if validates(ip, name, answers)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Mechanism::Exists(spec) => {
            let Some(target) = name_of(Some(spec))? else {
                return Ok(false);
            };
            Ok(!fetch(answers, "A", &target, n)?.is_empty())
        }
        Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => Ok(false),
    }
}

/// PTR names §5.5 considers; the rest are ignored.
pub const PTR_NAME_LIMIT: usize = 10;

/// Whether `name` is `target` or a name under it (labels compared without case).
fn within(name: &str, target: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let target = target.trim_end_matches('.').to_ascii_lowercase();
    name == target || name.ends_with(&format!(".{target}"))
}

/// Whether a PTR name's addresses include `ip` (§5.5). A DNS error during that lookup (a timeout,
/// a CNAME loop) skips the name: `Ok(false)`, and the search goes on; only an answer not recorded
/// yet stops it (`Missing`, for the collector to fetch).
fn validates(ip: IpAddr, name: &str, answers: &SpfAnswers<'_>) -> Result<bool, Verdict> {
    let family = if ip.is_ipv4() { "A" } else { "AAAA" };
    match answers.get(family, name) {
        None => Err(Verdict::Missing(key(family, name))),
        Some(Lookup::Failed { .. }) => Ok(false),
        Some(lookup) => Ok(lookup
            .value()
            .is_some_and(|ips| ips.iter().any(|s| s.parse::<IpAddr>() == Ok(ip)))),
    }
}

/// The validated domain name of `ip` that `%{p}` expands to (§7.3 with the §5.5 procedure): a
/// validated name equal to `domain`, else one under it, else any, else `unknown`. DNS errors do
/// not end the evaluation: a failed PTR lookup gives `unknown`, a failed address lookup skips the name.
pub fn validated_name(ip: IpAddr, domain: &str, answers: &Answers) -> Result<String, Verdict> {
    validated(ip, domain, &SpfAnswers::new(answers))
}

fn validated(ip: IpAddr, domain: &str, answers: &SpfAnswers<'_>) -> Result<String, Verdict> {
    let address = ip.to_string();
    let names: &[String] = match answers.get("PTR", &address) {
        None => return Err(Verdict::Missing(key("PTR", &address))),
        Some(lookup) => lookup.value().map_or(&[], Vec::as_slice),
    };
    let mut validated = Vec::new();
    for name in names.iter().take(PTR_NAME_LIMIT) {
        if validates(ip, name, answers)? {
            validated.push(name.trim_end_matches('.').to_ascii_lowercase());
        }
    }
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let best = validated
        .iter()
        .find(|n| **n == domain)
        .or_else(|| validated.iter().find(|n| within(n, &domain)))
        .or_else(|| validated.first());
    Ok(best.cloned().unwrap_or_else(|| "unknown".into()))
}

/// A recorded answer; an empty one counts as a void lookup.
fn fetch<'a>(
    answers: &SpfAnswers<'a>,
    rtype: &str,
    name: &str,
    n: &mut Counters,
) -> Result<&'a [String], Verdict> {
    let values = fetch_no_void(answers, rtype, name)?;
    if values.is_empty() {
        n.voids += 1;
        if n.voids > VOID_LIMIT {
            return Err(Verdict::PermError(format!(
                "more than {VOID_LIMIT} lookups returned nothing"
            )));
        }
    }
    Ok(values)
}

fn fetch_no_void<'a>(
    answers: &SpfAnswers<'a>,
    rtype: &str,
    name: &str,
) -> Result<&'a [String], Verdict> {
    match answers.get(rtype, name) {
        None => Err(Verdict::Missing(key(rtype, name))),
        Some(Lookup::Failed { failure, .. }) => Err(Verdict::TempError(format!(
            "{}: {}",
            key(rtype, name),
            failure.describe()
        ))),
        Some(lookup) => Ok(lookup.value().map_or(&[], Vec::as_slice)),
    }
}

fn in_any(ip: IpAddr, addresses: &[String], v4: u8, v6: u8) -> bool {
    addresses
        .iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .any(|a| match (a, ip) {
            (IpAddr::V4(a), IpAddr::V4(ip)) => {
                spf::prefix_match(u32::from(a).into(), u32::from(ip).into(), v4, 32)
            }
            (IpAddr::V6(a), IpAddr::V6(ip)) => {
                spf::prefix_match(u128::from(a), u128::from(ip), v6, 128)
            }
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::lookup::Absence;

    fn seen(values: &[&str]) -> Lookup<Vec<String>> {
        Lookup::Observed {
            value: values.iter().map(|s| s.to_string()).collect(),
            ttl: 300,
            cname_chain: vec![],
            elapsed_ms: 1,
        }
    }

    fn none() -> Lookup<Vec<String>> {
        Lookup::Absent {
            absence: Absence::NxDomain,
            negative_ttl: None,
            cname_chain: vec![],
            elapsed_ms: 1,
        }
    }

    fn answers(entries: &[(&str, Lookup<Vec<String>>)]) -> Answers {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn evaluates_includes_mx_and_networks_in_order() {
        let a = answers(&[
            (
                "TXT example.test",
                seen(&["v=spf1 -ip4:192.0.2.66 mx include:_spf.provider.test -all"]),
            ),
            (
                "TXT _spf.provider.test",
                seen(&["v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all"]),
            ),
            ("MX example.test", seen(&["mx1.example.test"])),
            ("A mx1.example.test", seen(&["192.0.2.10"])),
            ("AAAA mx1.example.test", none()),
        ]);
        assert_eq!(
            check_host(ip("192.0.2.10"), "example.test", &a),
            Verdict::Pass
        );
        assert_eq!(
            check_host(ip("192.0.2.66"), "example.test", &a),
            Verdict::Fail
        );
        assert_eq!(
            check_host(ip("198.51.100.7"), "example.test", &a),
            Verdict::Pass
        );
        // The include answers softfail: no match, and the outer -all decides.
        assert_eq!(
            check_host(ip("203.0.113.1"), "example.test", &a),
            Verdict::Fail
        );
        // The exchange has no AAAA; the include's ip6 network matches.
        assert_eq!(
            check_host(ip("2001:db8::9"), "example.test", &a),
            Verdict::Pass
        );
        let partial = answers(&[("TXT example.test", seen(&["v=spf1 mx -all"]))]);
        assert_eq!(
            check_host(ip("192.0.2.10"), "example.test", &partial),
            Verdict::Missing("MX example.test".into())
        );
    }

    #[test]
    fn audit_counts_lookups_voids_and_broken_includes() {
        let a = answers(&[
            (
                "TXT example.test",
                seen(&[
                    "v=spf1 a mx include:one.test include:gone.test exists:%{i}.bl.test ptr a:void1.test a:void2.test a:void3.test -all",
                ]),
            ),
            ("TXT one.test", seen(&["v=spf1 include:two.test ?all"])),
            ("TXT two.test", seen(&["v=spf1 ipv4:192.0.2.1 -all"])),
            ("TXT gone.test", none()),
            ("A example.test", seen(&["192.0.2.1"])),
            ("AAAA example.test", none()),
            ("MX example.test", seen(&["mx.example.test"])),
            ("A mx.example.test", seen(&["192.0.2.2"])),
            ("AAAA mx.example.test", none()),
            ("A void1.test", none()),
            ("AAAA void1.test", none()),
            ("A void2.test", none()),
            ("AAAA void2.test", none()),
            ("A void3.test", none()),
            ("AAAA void3.test", none()),
        ]);
        let audit = audit("example.test", &a);
        assert!(audit.missing.is_empty(), "{:?}", audit.missing);
        // a, mx, include×2, exists, ptr, a×3 in the top record, include in one.test.
        assert_eq!(audit.lookups(), 10, "{:?}", audit.lookup_terms);
        assert_eq!(audit.voids.len(), 3);
        assert_eq!(audit.broken_includes, ["gone.test"]);
        assert_eq!(audit.syntax_errors.len(), 1);
        assert!(audit.syntax_errors[0].starts_with("two.test"));
        assert_eq!(audit.ptr_terms.len(), 1);
        assert_eq!(audit.sender_dependent.len(), 1);
    }

    #[test]
    fn audit_reports_what_it_still_needs_and_loops() {
        let a = answers(&[(
            "TXT example.test",
            seen(&["v=spf1 include:%{d}.x.test mx -all"]),
        )]);
        let audit = audit("example.test", &a);
        assert_eq!(
            audit.missing,
            ["MX example.test", "TXT example.test.x.test"]
        );
        let a = answers(&[
            ("TXT a.test", seen(&["v=spf1 include:b.test -all"])),
            ("TXT b.test", seen(&["v=spf1 include:a.test -all"])),
        ]);
        assert!(audit_loop(&a));
    }

    fn audit_loop(a: &Answers) -> bool {
        audit("a.test", a)
            .overflows
            .iter()
            .any(|o| o.contains("loop"))
    }

    #[test]
    fn limits_end_in_permerror_and_failures_in_temperror() {
        let mut entries = vec![(
            "TXT example.test".to_string(),
            seen(&["v=spf1 a:v1.test a:v2.test a:v3.test ip4:192.0.2.1 -all"]),
        )];
        for v in ["v1.test", "v2.test", "v3.test"] {
            entries.push((format!("A {v}"), none()));
        }
        let a: Answers = entries.into_iter().collect();
        assert!(
            matches!(check_host(ip("192.0.2.1"), "example.test", &a), Verdict::PermError(why) if why.contains("nothing"))
        );
        let failed = Lookup::Failed {
            failure: crate::observation::lookup::Failure::Timeout,
            detail: String::new(),
            cname_chain: vec![],
            elapsed_ms: 1,
        };
        let a = answers(&[("TXT example.test", failed)]);
        assert!(matches!(
            check_host(ip("192.0.2.1"), "example.test", &a),
            Verdict::TempError(_)
        ));
        let many: Vec<String> = (0..11).map(|i| format!("include:i{i}.test")).collect();
        let mut entries = vec![(
            "TXT example.test".to_string(),
            seen(&[&format!("v=spf1 {} -all", many.join(" "))]),
        )];
        for i in 0..11 {
            entries.push((format!("TXT i{i}.test"), seen(&["v=spf1 -all"])));
        }
        let a: Answers = entries.into_iter().collect();
        assert!(
            matches!(check_host(ip("192.0.2.1"), "example.test", &a), Verdict::PermError(why) if why.contains("lookups"))
        );
        assert_eq!(audit("example.test", &a).lookups(), 11);
    }

    #[test]
    fn a_hostile_fan_out_tree_is_walked_within_bounds() {
        // l0 includes l1 eight times, l1 includes l2 eight times … : 9 records, 8^8 paths.
        let mut entries = Vec::new();
        for level in 0..9 {
            let terms: Vec<String> = (0..8)
                .map(|_| format!("include:l{}.test", level + 1))
                .collect();
            let text = if level == 8 {
                "v=spf1 -all".to_string()
            } else {
                format!("v=spf1 {} -all", terms.join(" "))
            };
            entries.push((format!("TXT l{level}.test"), seen(&[&text])));
        }
        let a: Answers = entries.into_iter().collect();
        let audit = audit("l0.test", &a);
        // Calls past the limit return at once: the work is bounded by the records visited times their terms.
        assert!(audit.visits < MAX_WALK_VISITS * 10, "{}", audit.visits);
        assert!(audit.lookups() > LOOKUP_LIMIT);
        assert!(audit.lookups() < 1000, "{}", audit.lookups());
        assert!(audit.overflows.iter().any(|o| o.contains("audit stopped")));
        assert!(matches!(
            check_host(ip("192.0.2.1"), "l0.test", &a),
            Verdict::PermError(_)
        ));
    }

    #[test]
    fn expands_macros_it_can_and_refuses_the_rest() {
        let spec = |s: &str| DomainSpec(s.to_string());
        let name = |s: &str| Expansion::Name(s.to_string());
        assert_eq!(
            expand(&spec("_spf.%{d}"), "example.test", None, None),
            name("_spf.example.test")
        );
        assert_eq!(
            expand(&spec("%{d2}"), "a.b.example.test", None, None),
            name("example.test")
        );
        assert_eq!(
            expand(
                &spec("%{ir}.%{v}._spf.%{d}"),
                "example.test",
                Some(ip("192.0.2.3")),
                None
            ),
            name("3.2.0.192.in-addr._spf.example.test")
        );
        assert_eq!(
            expand(
                &spec("%{s}.x.test"),
                "example.test",
                Some(ip("192.0.2.3")),
                None
            ),
            Expansion::Dependent
        );
        assert_eq!(
            expand(&spec("%{i}.x.test"), "example.test", None, None),
            Expansion::Dependent
        );
    }

    /// §7.3: the expansion is a name to ask as it is: spaces (`%_`), `%` (`%%`) and other octets
    /// stay in its labels (RFC 2181 §11); too long a name loses labels from the left; a label over
    /// 63 octets, or an empty one, is no name at all, and the term does not match.
    #[test]
    fn expanded_names_keep_their_octets_and_impossible_ones_do_not_match() {
        let spec = |s: &str| DomainSpec(s.to_string());
        assert_eq!(
            expand(&spec("a%_b%%c.%{d}"), "example.test", None, None),
            Expansion::Name("a b%c.example.test".into())
        );
        let long = format!("{}.%{{d}}", vec!["x".repeat(60); 5].join("."));
        let Expansion::Name(cut) = expand(&spec(&long), "example.test", None, None) else {
            panic!("a long name is shortened, not refused");
        };
        assert!(cut.len() <= 253 && cut.ends_with(".example.test"), "{cut}");
        assert_eq!(cut.split('.').count(), 5, "{cut}");
        // `%{d}` of a domain with a 70-octet label: no DNS name can hold it.
        let wide = format!("{}.example.test", "y".repeat(70));
        assert!(matches!(
            expand(&spec("%{d}"), &wide, None, None),
            Expansion::Impossible(_)
        ));
        let a = answers(&[
            (
                "TXT example.test",
                seen(&[&format!(
                    "v=spf1 exists:%{{i}}.{}.test a:%{{i}}.x.%{{d}} -all",
                    "z".repeat(60)
                )]),
            ),
            ("A 192.0.2.1.x.example.test", seen(&["192.0.2.1"])),
            ("AAAA 192.0.2.1.x.example.test", seen(&[])),
        ]);
        // The exists name is fine; it is not recorded, so the walk asks for it.
        assert_eq!(
            check_host(ip("192.0.2.1"), "example.test", &a),
            Verdict::Missing(format!("A 192.0.2.1.{}.test", "z".repeat(60)))
        );
        let a = answers(&[
            (
                "TXT example.test",
                seen(&[&format!(
                    "v=spf1 exists:%{{i}}{}.test a:%{{i}}.x.%{{d}} -all",
                    "z".repeat(63)
                )]),
            ),
            ("A 192.0.2.1.x.example.test", seen(&["192.0.2.1"])),
            ("AAAA 192.0.2.1.x.example.test", seen(&[])),
        ]);
        // `1zzz…` is a 64-octet label: exists does not match, and the evaluation goes on to `a`.
        assert_eq!(
            check_host(ip("192.0.2.1"), "example.test", &a),
            Verdict::Pass
        );
        // A redirect to no possible name: like a target without a record, a permerror (§6.1).
        let a: Answers = [(key("TXT", &wide), seen(&["v=spf1 redirect=%{d}"]))]
            .into_iter()
            .collect();
        assert!(matches!(
            check_host(ip("192.0.2.1"), &wide, &a),
            Verdict::PermError(why) if why.contains("63")
        ));
    }

    fn failed(failure: crate::observation::lookup::Failure) -> Lookup<Vec<String>> {
        Lookup::Failed {
            failure,
            detail: String::new(),
            cname_chain: vec![],
            elapsed_ms: 1,
        }
    }

    /// §5.5: "If a DNS error occurs while doing the PTR RR lookup, then this mechanism fails to
    /// match." … "If a DNS error occurs while doing an A RR lookup, then that domain name is skipped
    /// and the search continues." A CNAME loop is such an error.
    #[test]
    fn ptr_skips_names_whose_lookup_fails_and_a_failed_ptr_lookup_does_not_match() {
        use crate::observation::lookup::Failure;
        let record = ("TXT example.test", seen(&["v=spf1 ptr -all"]));
        let a = answers(&[
            record.clone(),
            (
                "PTR 192.0.2.5",
                seen(&["loop.example.test.", "mail.example.test."]),
            ),
            ("A loop.example.test", failed(Failure::CnameLoop)),
            ("A mail.example.test", seen(&["192.0.2.5"])),
        ]);
        assert_eq!(
            check_host(ip("192.0.2.5"), "example.test", &a),
            Verdict::Pass
        );
        let a = answers(&[
            record.clone(),
            ("PTR 192.0.2.5", seen(&["slow.example.test"])),
            ("A slow.example.test", failed(Failure::Timeout)),
        ]);
        assert_eq!(
            check_host(ip("192.0.2.5"), "example.test", &a),
            Verdict::Fail
        );
        let a = answers(&[record.clone(), ("PTR 192.0.2.5", failed(Failure::Timeout))]);
        assert_eq!(
            check_host(ip("192.0.2.5"), "example.test", &a),
            Verdict::Fail
        );
        // Names outside the target are not looked up: nothing is missing.
        let a = answers(&[record, ("PTR 192.0.2.5", seen(&["host.elsewhere.test"]))]);
        assert_eq!(
            check_host(ip("192.0.2.5"), "example.test", &a),
            Verdict::Fail
        );
    }

    /// §7.3: `%{p}` is the validated name (§5.5), preferring the domain itself, then a name under
    /// it; `unknown` when none validates, DNS errors included.
    #[test]
    fn p_macro_expands_to_the_validated_name_or_unknown() {
        use crate::observation::lookup::Failure;
        let record = (
            "TXT example.test",
            seen(&["v=spf1 exists:%{p}._spf.example.test -all"]),
        );
        let a = answers(&[
            record.clone(),
            (
                "PTR 192.0.2.5",
                seen(&["other.test.", "loop.example.test.", "mail.example.test."]),
            ),
            ("A other.test", seen(&["192.0.2.5"])),
            ("A loop.example.test", failed(Failure::CnameLoop)),
            ("A mail.example.test", seen(&["192.0.2.5"])),
            (
                "A mail.example.test._spf.example.test",
                seen(&["127.0.0.2"]),
            ),
        ]);
        assert_eq!(
            check_host(ip("192.0.2.5"), "example.test", &a),
            Verdict::Pass
        );
        let a = answers(&[
            record,
            ("PTR 192.0.2.5", failed(Failure::ServFail)),
            ("A unknown._spf.example.test", seen(&[])),
        ]);
        assert_eq!(
            check_host(ip("192.0.2.5"), "example.test", &a),
            Verdict::Fail
        );
    }
}

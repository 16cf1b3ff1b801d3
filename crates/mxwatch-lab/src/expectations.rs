//! Which finding IDs each lab domain must and must not produce.
//!
//! `expectations.txt` is shared with the real-peer script (`tests/peers/`), so
//! our lab server and Knot + Unbound are held to the same list.

/// The raw file (DNS only, `--no-probe`).
pub static EXPECTATIONS_TXT: &str = include_str!("../expectations.txt");
/// With the SMTP probe against the in-process lab.
pub static EXPECTATIONS_SMTP_TXT: &str = include_str!("../expectations-smtp.txt");
/// With the lab RDAP server (`--rdap-server`).
pub static EXPECTATIONS_RDAP_TXT: &str = include_str!("../expectations-rdap.txt");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub domain: String,
    pub must: Vec<String>,
    pub must_not: Vec<String>,
    /// No findings at all.
    pub clean: bool,
    /// `dkim-selector=NAME`: selectors to name for this domain (`--dkim-selector`), for the checks
    /// that only a named selector can fire.
    pub dkim_selectors: Vec<String>,
    /// `dnsbl=ZONE`: DNS blocklists to ask for this domain's MX addresses (`--dnsbl`).
    pub dnsbl_zones: Vec<String>,
}

/// Parses `domain  +ID -ID clean dkim-selector=NAME dnsbl=ZONE` lines; `#` starts a comment.
pub fn parse(text: &str) -> Result<Vec<Expectation>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let Some(domain) = words.next() else {
            continue;
        };
        let mut exp = Expectation {
            domain: domain.to_string(),
            must: vec![],
            must_not: vec![],
            clean: false,
            dkim_selectors: vec![],
            dnsbl_zones: vec![],
        };
        for word in words {
            if let Some(selector) = word.strip_prefix("dkim-selector=") {
                exp.dkim_selectors.push(selector.to_string());
                continue;
            }
            if let Some(zone) = word.strip_prefix("dnsbl=") {
                exp.dnsbl_zones.push(zone.to_string());
                continue;
            }
            match (word, word.strip_prefix('+'), word.strip_prefix('-')) {
                ("clean", _, _) => exp.clean = true,
                (_, Some(id), _) => exp.must.push(id.to_string()),
                (_, _, Some(id)) => exp.must_not.push(id.to_string()),
                _ => return Err(format!("expectations line {}: bad token {word:?}", n + 1)),
            }
        }
        out.push(exp);
    }
    Ok(out)
}

/// The built-in expectations.
pub fn expectations() -> Vec<Expectation> {
    parse(EXPECTATIONS_TXT).expect("expectations.txt is well-formed")
}

/// The built-in expectations of the SMTP probe.
pub fn expectations_smtp() -> Vec<Expectation> {
    parse(EXPECTATIONS_SMTP_TXT).expect("expectations-smtp.txt is well-formed")
}

impl Expectation {
    /// Whether the domain is checked with options of its own (it cannot share a run with others).
    pub fn has_options(&self) -> bool {
        !self.dkim_selectors.is_empty() || !self.dnsbl_zones.is_empty()
    }

    /// The `check` flags those options stand for.
    pub fn check_args(&self) -> Vec<String> {
        let selectors = self
            .dkim_selectors
            .iter()
            .flat_map(|s| ["--dkim-selector".to_string(), s.clone()]);
        let zones = self
            .dnsbl_zones
            .iter()
            .flat_map(|z| ["--dnsbl".to_string(), z.clone()]);
        selectors.chain(zones).collect()
    }

    /// What is wrong with `found` (the IDs reported for this domain), if anything.
    pub fn violations(&self, found: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        if self.clean && !found.is_empty() {
            problems.push(format!("expected no findings, got {found:?}"));
        }
        for id in &self.must {
            if !found.contains(id) {
                problems.push(format!("missing {id}"));
            }
        }
        for id in &self.must_not {
            if found.contains(id) {
                problems.push(format!("unexpected {id}"));
            }
        }
        problems
    }
}

/// The built-in expectations of registration over RDAP.
pub fn expectations_rdap() -> Vec<Expectation> {
    parse(EXPECTATIONS_RDAP_TXT).expect("expectations-rdap.txt is well-formed")
}

/// Every lab domain once, in the order of the expectation files (what `mxwatch demo` audits).
pub fn lab_domains() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for exp in expectations()
        .into_iter()
        .chain(expectations_smtp())
        .chain(expectations_rdap())
    {
        if !out.contains(&exp.domain) {
            out.push(exp.domain);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tokens() {
        let exp =
            parse("# c\nhealthy.test clean\nnone.test +MX-NONE -MX-IMPLICIT # why\n\n").unwrap();
        assert_eq!(exp.len(), 2);
        assert!(exp[0].clean);
        assert_eq!(exp[1].must, ["MX-NONE"]);
        assert_eq!(exp[1].must_not, ["MX-IMPLICIT"]);
        assert_eq!(exp[1].violations(&["MX-IMPLICIT".into()]).len(), 2);
        assert!(parse("x.test bogus").is_err());
        let exp = parse("d.test +DKIM-SELECTOR-MISSING dkim-selector=s1 dnsbl=bl.test").unwrap();
        assert_eq!(exp[0].dkim_selectors, ["s1"]);
        assert!(exp[0].has_options());
        assert_eq!(
            exp[0].check_args(),
            ["--dkim-selector", "s1", "--dnsbl", "bl.test"]
        );
    }
}

//! DKIM keys at the selectors the user named, and at common selectors.

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::mailauth::DkimSelector;
use crate::records::dkim::{self, DkimKey};

fn selectors(obs: &Observation) -> &[DkimSelector] {
    obs.mail_auth.as_ref().map_or(&[], |m| m.dkim.as_slice())
}

fn name(obs: &Observation, selector: &DkimSelector) -> String {
    format!("{}._domainkey.{}", selector.selector, obs.domain.ascii)
}

/// Whether a TXT record is meant as a DKIM key. At a guessed selector, anything else (a wildcard
/// `*.example.com TXT "v=spf1 -all"` answers every name) is not a key and is not judged.
fn looks_like_dkim(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.trim_start().starts_with("v=dkim1")
        || lower
            .split(';')
            .any(|tag| tag.trim_start().starts_with("p="))
}

/// The records at a selector that are meant as keys (all of them at a selector the user named).
fn keys(selector: &DkimSelector) -> impl Iterator<Item = &String> {
    selector
        .record
        .value()
        .into_iter()
        .flatten()
        .filter(move |text| !selector.guessed || looks_like_dkim(text))
}

/// Each record found, parsed.
fn parsed(obs: &Observation) -> Vec<(String, Result<dkim::DkimRecord, String>)> {
    let mut out = Vec::new();
    for selector in selectors(obs) {
        for text in keys(selector) {
            out.push((name(obs, selector), dkim::parse(text).map_err(|e| e.reason)));
        }
    }
    out
}

pub static DKIM_SYNTAX: Check = Check {
    id: "DKIM-SYNTAX",
    severity: Severity::Medium,
    title: "A DKIM key record does not parse",
    explanation: "Verifiers cannot use a key record with a bad tag list, a `p=` that is not base64 of a public \
                  key, or an unknown key type: every message signed with that selector fails DKIM, and DMARC \
                  then rests on SPF alone.",
    fix: "Publish the key exactly as the signing system exports it: `v=DKIM1; k=rsa; p=<base64>` (long keys \
          split into several quoted strings of one TXT record, not several records).",
    reference: "RFC 6376 §3.6.1; RFC 8463",
    run: dkim_syntax,
};

fn dkim_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    parsed(obs)
        .into_iter()
        .filter_map(|(name, result)| result.err().map(|e| Hit::new(name, e)))
        .collect()
}

pub static DKIM_WEAK_KEY: Check = Check {
    id: "DKIM-WEAK-KEY",
    severity: Severity::Medium,
    title: "A DKIM key is too weak",
    explanation: "RSA keys under 1024 bits must not be accepted by verifiers (RFC 8301), so mail signed with \
                  them is unsigned in effect; 1024-bit keys are still accepted but can be factored by a \
                  determined attacker, who could then sign mail as the domain. A key limited to SHA-1 (`h=sha1`) \
                  cannot produce signatures verifiers accept.",
    fix: "Generate a 2048-bit RSA key (or Ed25519 beside it), publish it under a new selector, switch the \
          signer, then revoke the old selector with an empty `p=`.",
    reference: "RFC 8301 §3.1, §3.2; RFC 6376 §3.3.3",
    run: dkim_weak_key,
};

fn dkim_weak_key(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    for (name, result) in parsed(obs) {
        let Ok(record) = result else { continue };
        if let DkimKey::Rsa { bits } = record.key {
            if bits < 1024 {
                hits.push(Hit::new(
                    name.clone(),
                    format!("RSA-{bits}: verifiers must ignore signatures made with it"),
                ));
            } else if bits < 2048 {
                hits.push(Hit::new(
                    name.clone(),
                    format!("RSA-{bits}, under 2048 bits"),
                ));
            }
        }
        if record.sha1_only {
            hits.push(Hit::new(
                name,
                "h=sha1 only: SHA-1 signatures are not accepted",
            ));
        }
    }
    hits
}

pub static DKIM_REVOKED: Check = Check {
    id: "DKIM-REVOKED",
    severity: Severity::Info,
    title: "A DKIM selector holds a revoked key (empty p=)",
    explanation: "An empty `p=` revokes a key: signatures with that selector fail. That is right for a retired \
                  selector; it is an outage if a signer still uses it.",
    fix: "Nothing if the selector is retired; otherwise publish the signer's current key.",
    reference: "RFC 6376 §3.6.1",
    run: dkim_revoked,
};

fn dkim_revoked(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    parsed(obs)
        .into_iter()
        .filter(|(_, r)| matches!(r, Ok(record) if record.key == DkimKey::Revoked))
        .map(|(name, _)| Hit::new(name, "p= is empty: the key is revoked"))
        .collect()
}

pub static DKIM_NONE_FOUND: Check = Check {
    id: "DKIM-NONE-FOUND",
    severity: Severity::Info,
    title: "No DKIM key at the common selectors",
    explanation: "DKIM selectors are chosen by each signer and cannot be listed, so mxwatch asks a short list of \
                  common ones (default, selector1, selector2, google, k1 …). Finding none proves nothing: name \
                  your selectors with `--dkim-selector` to have their keys checked.",
    fix: "Run again with `--dkim-selector <selector>` (from the `s=` tag of a DKIM-Signature header of your \
          mail); if mail is not signed at all, enable DKIM signing at your mail provider.",
    reference: "RFC 6376 §3.1, §3.6.2.1",
    run: dkim_none_found,
};

fn dkim_none_found(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let asked = selectors(obs);
    // Nothing failed, and no selector holds a key (records that are not keys do not count).
    if asked.is_empty()
        || asked.iter().any(|s| !s.guessed)
        || asked
            .iter()
            .any(|s| s.record.is_failed() || keys(s).next().is_some())
    {
        return vec![];
    }
    let names: Vec<&str> = asked.iter().map(|s| s.selector.as_str()).collect();
    vec![Hit::new(
        obs.domain.display(),
        format!("no key at the selectors {}", names.join(", ")),
    )]
}

pub static DKIM_SELECTOR_MISSING: Check = Check {
    id: "DKIM-SELECTOR-MISSING",
    severity: Severity::High,
    title: "A DKIM selector you named has no key",
    explanation: "The selector given with `--dkim-selector` (or `dkim_selectors` in the watch configuration) \
                  publishes no key record: every message signed with it fails DKIM.",
    fix: "Publish the signer's public key at `<selector>._domainkey.<domain>`, or correct the selector name.",
    reference: "RFC 6376 §3.6.2.1, §6.1.2",
    run: dkim_selector_missing,
};

fn dkim_selector_missing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    selectors(obs)
        .iter()
        .filter(|s| !s.guessed && s.record.is_absent())
        .map(|s| Hit::new(name(obs, s), "no TXT record at this name"))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;
    use crate::observation::lookup::Lookup;
    use crate::observation::mailauth::{DkimSelector, MailAuthObservation};

    fn with(selectors: Vec<(&str, bool, Lookup<Vec<String>>)>) -> crate::Observation {
        let mut obs = healthy();
        obs.mail_auth = Some(MailAuthObservation {
            dkim: selectors
                .into_iter()
                .map(|(s, guessed, record)| DkimSelector {
                    selector: s.into(),
                    guessed,
                    record,
                })
                .collect(),
            ..Default::default()
        });
        obs
    }

    fn dkim_ids(obs: &crate::Observation) -> Vec<String> {
        ids(obs)
            .into_iter()
            .filter(|i| i.starts_with("DKIM-"))
            .collect()
    }

    #[test]
    fn a_wildcard_txt_at_guessed_selectors_is_not_a_broken_key() {
        let wildcard = || observed(vec!["v=spf1 -all".to_string()], 300);
        let obs = with(vec![
            ("default", true, wildcard()),
            ("google", true, wildcard()),
        ]);
        assert_eq!(dkim_ids(&obs), ["DKIM-NONE-FOUND"]);
        // At a selector the user named, the same record is judged.
        let obs = with(vec![("s1", false, wildcard())]);
        assert_eq!(dkim_ids(&obs), ["DKIM-SYNTAX"]);
    }
}

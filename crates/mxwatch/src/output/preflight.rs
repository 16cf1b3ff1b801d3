//! What `check --zone` prints: the audit as proposed, what the change would do, and (SARIF)
//! the zone-file line of each record involved, so a code-scanning dashboard annotates the pull
//! request on the right line.

use super::sarif::{fingerprint, level, rule, write_log};
use super::severity_label;
use crate::cli::Format;
use mxwatch_core::checks::CHECKS;
use mxwatch_core::checks::transition::RULES;
use mxwatch_core::sanitize::for_terminal;
use mxwatch_core::{Finding, Lookup, Observation};
use mxwatch_engine::preflight::Preflight;
use mxwatch_probe::zone::{Overlay, Want};
use owo_colors::OwoColorize;
use serde_json::{Value, json};
use std::io::{self, Write};

pub fn print(format: Format, pre: &Preflight) -> io::Result<()> {
    match format {
        Format::Table => table(pre),
        Format::Json | Format::Jsonl => {
            let mut out = io::stdout().lock();
            let value = json_value(pre);
            if format == Format::Json {
                serde_json::to_writer_pretty(&mut out, &value)?;
            } else {
                serde_json::to_writer(&mut out, &value)?;
            }
            out.write_all(b"\n")?;
            out.flush()
        }
        Format::Sarif => sarif(pre),
    }
}

fn table(pre: &Preflight) -> io::Result<()> {
    let mut out = anstream::stdout().lock();
    let zones: Vec<String> = pre
        .overlay
        .zones
        .iter()
        .map(|z| format!("{} ({})", z.path.display(), z.apex))
        .collect();
    writeln!(
        out,
        "{} {}{}",
        "As proposed by".bold(),
        for_terminal(&zones.join(", ")),
        if pre.overlay.offline {
            " — offline: only the zone files were judged"
        } else {
            ""
        }
    )?;
    write!(out, "{}", super::table::render(&pre.proposed))?;
    match &pre.live {
        None => writeln!(
            out,
            "\nNot compared with the live zone (offline): what the change would do was not judged."
        )?,
        Some(_) if pre.consequences.is_empty() => writeln!(
            out,
            "\nWhat the change would do: nothing the change rules flag."
        )?,
        Some(_) => {
            writeln!(out, "\n{}", "What the change would do:".bold())?;
            for f in &pre.consequences {
                writeln!(
                    out,
                    "  {} {:<30} {}: {}",
                    severity_label(f.severity),
                    f.id.as_str(),
                    for_terminal(&f.subject),
                    for_terminal(&f.detail)
                )?;
            }
        }
    }
    out.flush()
}

/// The mail-relevant parts of an observation, as `(part, value)`, for the side-by-side view.
fn parts(obs: &Observation) -> Vec<(String, Value)> {
    let domain = &obs.domain.ascii;
    let lookup = |l: &Lookup<Vec<String>>| serde_json::to_value(l).unwrap_or(Value::Null);
    let mut out = vec![(
        format!("MX {domain}"),
        serde_json::to_value(&obs.mx).unwrap_or(Value::Null),
    )];
    if let Some(p) = &obs.policy {
        out.push((format!("TXT {domain} (SPF)"), lookup(&p.spf)));
        out.push((format!("TXT _dmarc.{domain}"), lookup(&p.dmarc)));
        out.push((format!("TXT _mta-sts.{domain}"), lookup(&p.mta_sts)));
        out.push((format!("TXT _smtp._tls.{domain}"), lookup(&p.tls_rpt)));
    }
    for exchange in &obs.exchanges {
        out.push((
            format!("A/AAAA {}", exchange.name),
            json!(exchange.lookups.addresses()),
        ));
    }
    if let Some(dnssec) = &obs.dnssec {
        for e in &dnssec.exchanges {
            out.push((
                format!("TLSA _25._tcp.{}", e.name),
                serde_json::to_value(&e.tlsa).unwrap_or(Value::Null),
            ));
        }
    }
    out
}

/// Proposed and live values side by side, part by part (a part only one side has is `null`
/// on the other).
fn side_by_side(pre: &Preflight) -> Vec<Value> {
    let proposed = parts(&pre.proposed.observation);
    let live = pre
        .live
        .as_ref()
        .map(|l| parts(&l.observation))
        .unwrap_or_default();
    let mut names: Vec<&String> = proposed.iter().map(|(n, _)| n).collect();
    for (n, _) in &live {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let find = |list: &[(String, Value)]| {
                list.iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Value::Null)
            };
            let (p, l) = (find(&proposed), find(&live));
            json!({ "part": name, "proposed": p, "live": l, "changed": pre.live.is_some() && p != l })
        })
        .collect()
}

fn json_value(pre: &Preflight) -> Value {
    let located = |f: &Finding| {
        json!({
            "finding": f,
            "locations": locations(&pre.overlay, &pre.proposed.domain, f)
                .into_iter()
                .map(|(path, line)| json!({ "file": path, "line": line }))
                .collect::<Vec<_>>()
        })
    };
    json!({
        "domain": pre.proposed.domain,
        "zones": pre.overlay.zones.iter().map(|z| json!({"file": z.path.display().to_string(), "apex": z.apex, "records": z.records.len()})).collect::<Vec<_>>(),
        "offline": pre.overlay.offline,
        "status": pre.proposed.status,
        "findings": pre.proposed.findings.iter().map(located).collect::<Vec<_>>(),
        "consequences": pre.consequences.iter().map(located).collect::<Vec<_>>(),
        "side_by_side": side_by_side(pre),
        "proposed": pre.proposed,
        "live": pre.live,
    })
}

/// The host a subject names (`mx1.example.com (192.0.2.1)` → `mx1.example.com`).
fn host(subject: &str) -> &str {
    subject
        .split(" (")
        .next()
        .unwrap_or(subject)
        .trim_end_matches('.')
}

/// The zone-file lines of the records a finding is about: its subject's own records, by the
/// finding's area (SPF, DMARC, MTA-STS, TLS-RPT, DANE), else the MX record naming the subject,
/// else the subject's records, else the domain's MX RRset. Nothing when no record involved is
/// inside the zones (the provider's hosts, a removed record).
pub fn locations(overlay: &Overlay, domain: &str, finding: &Finding) -> Vec<(String, usize)> {
    let id = finding.id.as_str();
    let host = host(&finding.subject).to_ascii_lowercase();
    let area = id.strip_prefix("CHANGE-").unwrap_or(id);
    let mut wants: Vec<(String, Want<'_>)> = Vec::new();
    let txt = |name: String, tag| (name, Want::Txt(tag));
    if area.starts_with("DANE") {
        wants.push((format!("_25._tcp.{host}"), Want::Tlsa));
    } else if area.starts_with("SPF") || area == "NULLMX-SPF" {
        wants.push(txt(domain.to_string(), "v=spf1"));
    } else if area.starts_with("DMARC") || area == "NULLMX-DMARC" || area.starts_with("BIMI") {
        wants.push(txt(format!("_dmarc.{domain}"), "v=dmarc1"));
    } else if area.starts_with("TLSRPT") {
        wants.push(txt(format!("_smtp._tls.{domain}"), "v=tlsrptv1"));
    }
    // The MX record naming the subject, before the policy's TXT: the record that brought it in.
    wants.push((domain.to_string(), Want::MxTo(&host)));
    if area.starts_with("MTASTS") {
        wants.push(txt(format!("_mta-sts.{domain}"), "v=stsv1"));
    }
    wants.push((host.clone(), Want::Address));
    if host == domain || area.starts_with("MX") || area.starts_with("NULLMX") {
        // The domain's MX RRset (a removed exchange has no line of its own any more).
        wants.push((domain.to_string(), Want::Mx));
    }
    for (name, want) in wants {
        if let Some((path, lines)) = overlay.locate(&name, want)
            && !lines.is_empty()
        {
            let path = path.display().to_string();
            return lines.into_iter().map(|l| (path.clone(), l)).collect();
        }
    }
    vec![]
}

fn sarif(pre: &Preflight) -> io::Result<()> {
    let domain = &pre.proposed.domain;
    let result = |f: &Finding, rule_index: Option<usize>| {
        let mut locs: Vec<Value> = locations(&pre.overlay, domain, f)
            .into_iter()
            .map(|(path, line)| {
                json!({
                    "physicalLocation": {
                        "artifactLocation": { "uri": path },
                        "region": { "startLine": line }
                    }
                })
            })
            .collect();
        if locs.is_empty() {
            // Nothing of the zone files is involved: the domain, as `check` reports it.
            locs.push(json!({
                "physicalLocation": { "artifactLocation": { "uri": domain } },
                "logicalLocations": [{ "name": f.subject, "kind": "resource" }]
            }));
        }
        json!({
            "ruleId": f.id,
            "ruleIndex": rule_index,
            "level": level(f.severity),
            "message": { "text": format!("{}: {} ({})", f.subject, f.title, f.detail) },
            "locations": locs,
            "partialFingerprints": { "mxwatch/v1": fingerprint(domain, f.id.as_str(), &f.subject) },
            "properties": { "severity": f.severity, "domain": domain }
        })
    };
    let mut results: Vec<Value> = pre
        .proposed
        .findings
        .iter()
        .map(|f| result(f, CHECKS.iter().position(|c| c.id == f.id)))
        .collect();
    results.extend(pre.consequences.iter().map(|f| {
        result(
            f,
            RULES
                .iter()
                .position(|r| r.id == f.id)
                .map(|i| CHECKS.len() + i),
        )
    }));
    let mut rules: Vec<Value> = CHECKS
        .iter()
        .map(|c| rule(c.id, c.severity, c.title, c.explanation, c.fix, c.reference))
        .collect();
    rules.extend(
        RULES
            .iter()
            .map(|r| rule(r.id, r.severity, r.title, r.explanation, r.fix, r.reference)),
    );
    write_log(rules, results)
}

//! The `mxwatch` binary end to end, against a lab DNS server this test starts on loopback.

use mxwatch_lab::{Behaviour, LabZones, expectations};
use serde_json::Value;

use crate::common::*;

#[test]
fn json_over_the_whole_lab_meets_the_expectations() {
    let lab = Lab::builtin();
    // Domains checked with options of their own (a named selector, a blocklist) run alone, below.
    let (all, own): (Vec<_>, Vec<_>) = expectations().into_iter().partition(|e| !e.has_options());
    let mut args: Vec<&str> = vec!["--format", "json"];
    args.extend(all.iter().map(|e| e.domain.as_str()));
    let output = lab.check(&args);
    assert!(
        matches!(code(&output), 1 | 3),
        "exit {}: {}",
        code(&output),
        stderr(&output)
    );
    let reports = json_reports(&output);
    assert_eq!(reports.len(), all.len(), "one report per domain, in order");
    let mut failures = Vec::new();
    for (exp, report) in all.iter().zip(&reports) {
        assert_eq!(report["domain"], exp.domain.as_str());
        for key in ["status", "findings", "observation", "domain_unicode"] {
            assert!(report.get(key).is_some(), "{key} missing");
        }
        for finding in report["findings"].as_array().unwrap() {
            for key in [
                "id",
                "severity",
                "subject",
                "title",
                "detail",
                "fix",
                "reference",
            ] {
                assert!(finding.get(key).is_some(), "finding without {key}");
            }
        }
        let problems = exp.violations(&ids(report));
        if !problems.is_empty() {
            failures.push(format!("{}: {problems:?}", exp.domain));
        }
    }
    assert!(!own.is_empty(), "the lab has domains checked with options");
    for exp in &own {
        let options = exp.check_args();
        let mut args: Vec<&str> = vec!["--format", "json"];
        args.extend(options.iter().map(String::as_str));
        args.push(&exp.domain);
        let reports = json_reports(&lab.check(&args));
        let problems = exp.violations(&ids(&reports[0]));
        if !problems.is_empty() {
            failures.push(format!("{} {options:?}: {problems:?}", exp.domain));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn exit_codes() {
    let lab = Lab::builtin();
    assert_eq!(code(&lab.check(&["healthy.test"])), 0);
    assert_eq!(code(&lab.check(&["none.test"])), 1);
    assert_eq!(code(&lab.check(&["--fail-on", "critical", "none.test"])), 0);
    assert_eq!(code(&lab.check(&["--fail-on", "low", "single.test"])), 1);
    assert_eq!(
        code(&lab.check(&["single.test"])),
        0,
        "low is under the default high"
    );
    assert_eq!(code(&lab.check(&["lame.test"])), 3);
    assert_eq!(
        code(&lab.check(&["lame.test", "unregistered.test"])),
        1,
        "definite beats indeterminate"
    );
    assert_eq!(code(&lab.check(&["--fail-on", "bogus", "healthy.test"])), 2);
    assert_eq!(code(&lab.check(&[])), 2);
}

#[test]
fn bad_names_get_a_one_line_error_and_exit_2_before_any_query() {
    let lab = Lab::builtin();
    let long_label = format!("{}.test", "a".repeat(64));
    let long_name = format!("{}test", "abcdefghi.".repeat(26));
    for (input, says) in [
        ("", "empty"),
        (long_label.as_str(), "64 octets"),
        (long_name.as_str(), "253"),
        ("a..test", "empty label"),
        ("test", "public suffix"),
        ("192.0.2.1", "IP address"),
        ("exa mple.test", "space"),
        ("-x.test", "hyphen"),
    ] {
        let before = lab.dns.log.total();
        let output = lab.check(&["--", "healthy.test", input]);
        assert_eq!(code(&output), 2, "{input:?}: {}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains(says), "{input:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{input:?}: one line: {err}");
        assert_eq!(lab.dns.log.total(), before, "{input:?}: no query was sent");
    }
}

#[test]
fn forgiving_input_is_normalised_and_said() {
    let lab = Lab::builtin();
    for (input, domain, note) in [
        ("HEALTHY.TEST.", "healthy.test", None),
        (
            "https://www.example.invalid@healthy.test:443/x",
            "healthy.test",
            Some("URL"),
        ),
        ("postmaster@healthy.test", "healthy.test", Some("e-mail")),
        (
            "BÜCHER.test",
            "xn--bcher-kva.test",
            Some("internationalised"),
        ),
    ] {
        let output = lab.check(&["--format", "json", input]);
        assert_eq!(code(&output), 0, "{input:?}: {}", stderr(&output));
        let report = &json_reports(&output)[0];
        assert_eq!(report["domain"], domain, "{input:?}");
        if let Some(note) = note {
            assert!(
                report["notes"].to_string().contains(note),
                "{input:?}: {}",
                report["notes"]
            );
        }
    }
    // An emoji label is either checked in its punycode form or refused with a clear error, never a panic.
    let output = lab.check(&["--format", "json", "📧.test"]);
    match code(&output) {
        2 => assert!(
            stderr(&output).contains("not a domain name"),
            "{}",
            stderr(&output)
        ),
        0 | 1 | 3 => assert!(
            json_reports(&output)[0]["domain"]
                .as_str()
                .unwrap()
                .starts_with("xn--")
        ),
        other => panic!("exit {other}: {}", stderr(&output)),
    }
}

#[test]
fn jsonl_streams_one_report_per_line() {
    let lab = Lab::builtin();
    let output = lab.check(&[
        "--format",
        "jsonl",
        "healthy.test",
        "none.test",
        "nullmx.test",
    ]);
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let domains: Vec<&str> = lines
        .iter()
        .map(|r| r["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["healthy.test", "none.test", "nullmx.test"]);
    assert_eq!(lines[0]["status"], "ok");
    assert_eq!(lines[1]["status"], "findings");
}

#[test]
fn sarif_has_the_catalogue_as_rules_and_findings_as_results() {
    let lab = Lab::builtin();
    let output = lab.check(&["--format", "sarif", "unregistered.test", "healthy.test"]);
    let log: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), mxwatch_core::CHECKS.len());
    let results = run["results"].as_array().unwrap();
    // healthy.test contributes nothing; unregistered.test its takeover finding (and mail-auth ones).
    assert!(
        results
            .iter()
            .all(|r| !r.to_string().contains("healthy.test")),
        "{results:#?}"
    );
    let unregistered: Vec<&Value> = results
        .iter()
        .filter(|r| r["ruleId"] == "MX-TARGET-UNREGISTERED")
        .collect();
    assert_eq!(unregistered.len(), 1, "{results:#?}");
    let result = unregistered[0];
    assert_eq!(result["level"], "error");
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "MX-TARGET-UNREGISTERED");
    assert!(result["locations"][0]["logicalLocations"][0]["name"].is_string());
}

#[test]
fn table_output_is_plain_when_piped_and_escapes_hostile_names() {
    use hickory_proto::rr::{Name, RData, Record, rdata::MX};
    let mut zones = LabZones::builtin().unwrap();
    zones
        .set_zone(
            "evil.test.zone",
            "$ORIGIN evil.test.\n$TTL 3600\n@ SOA ns1.lab.test. h.lab.test. 1 1 1 1 300\n@ NS ns1.lab.test.\n",
        )
        .unwrap();
    // A label no zone file can spell: terminal escapes (clear screen, set window title, bell).
    let hostile =
        Name::from_labels(vec![&b"mx\x1b[2J\x1b]0;pwned\x07"[..], b"evil", b"test"]).unwrap();
    let apex = Name::from_ascii("evil.test.").unwrap();
    assert!(zones.add_record(Record::from_rdata(
        apex,
        3600,
        RData::MX(MX::new(10, hostile))
    )));
    let lab = Lab::start(zones, Behaviour::Resolver);
    let output = lab.check(&["evil.test", "healthy.test"]);
    let text = stdout(&output);
    assert!(text.contains("healthy.test"), "{text}");
    assert!(text.contains("MX-TARGET-SYNTAX"), "{text}");
    assert_no_control_characters(&text);
}

#[test]
fn a_resolver_that_never_answers_is_could_not_determine() {
    let lab = Lab::start(LabZones::builtin().unwrap(), Behaviour::Silent);
    let resolver = lab.dns.addr.to_string();
    let output = run(&[
        "check",
        "--no-probe",
        "--no-ns-check",
        "--resolver",
        &resolver,
        "--timeout",
        "0.2",
        "--format",
        "json",
        "healthy.test",
    ]);
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    let report = &json_reports(&output)[0];
    assert_eq!(report["status"], "indeterminate");
    assert!(
        ids(report)
            .iter()
            .all(|id| mxwatch_core::FindingId::DNS_INDETERMINATE == id.as_str()),
        "{:?}",
        ids(report)
    );
    assert_eq!(report["observation"]["mx"]["failure"], "timeout");
}

#[test]
fn resolver_must_be_an_address() {
    let output = run(&["check", "--resolver", "dns.example", "healthy.test"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("IP[:PORT]"), "{}", stderr(&output));
}

#[test]
fn explain_prints_the_catalogue() {
    let output = run(&["explain", "mx-target-unregistered"]);
    assert_eq!(code(&output), 0);
    assert!(
        stdout(&output).contains("MX-TARGET-UNREGISTERED [CRITICAL"),
        "{}",
        stdout(&output)
    );
    let all = stdout(&run(&["explain", "--all"]));
    for check in mxwatch_core::CHECKS {
        assert!(
            all.contains(check.id),
            "{} missing from explain --all",
            check.id
        );
    }
    for note in mxwatch_core::headers::NOTES {
        assert!(
            all.contains(note.id),
            "{} missing from explain --all",
            note.id
        );
    }
    assert!(all.contains(mxwatch_core::headers::notes::SECTION_TITLE));
    let markdown = stdout(&run(&["explain", "--all", "--format", "markdown"]));
    assert_eq!(markdown, mxwatch_core::checks::catalogue_markdown());
    assert!(markdown.contains("\n## HEADERS-MX-BYPASS\n"), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["explain", "--all", "--format", "json"]))).unwrap();
    let listed = json.as_array().unwrap();
    let rules = mxwatch_core::checks::transition::RULES;
    assert_eq!(
        listed.len(),
        mxwatch_core::CHECKS.len() + mxwatch_core::headers::NOTES.len() + rules.len()
    );
    // The change rules (check --zone, watch, diff) are listed after the checks and the notes.
    for rule in rules {
        assert!(
            all.contains(rule.id),
            "{} missing from explain --all",
            rule.id
        );
        let entry = listed.iter().find(|e| e["id"] == rule.id).unwrap();
        assert_eq!(entry["kind"], "change-consequence");
    }
    assert!(
        stdout(&run(&["explain", "change-mx-drain"])).contains("CHANGE-MX-DRAIN [INFO"),
        "explain finds a change rule"
    );
    let bypass = listed
        .iter()
        .find(|e| e["id"] == "HEADERS-MX-BYPASS")
        .unwrap();
    assert_eq!(bypass["level"], "warning");
    assert_eq!(bypass["kind"], "headers-note");
    let note = run(&["explain", "headers-mx-bypass"]);
    assert_eq!(code(&note), 0);
    assert!(
        stdout(&note).contains("HEADERS-MX-BYPASS [WARNING"),
        "{}",
        stdout(&note)
    );
    let one: serde_json::Value = serde_json::from_str(&stdout(&run(&[
        "explain",
        "HEADERS-CLOCK-SKEW",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(one[0]["id"], "HEADERS-CLOCK-SKEW");
    let unknown = run(&["explain", "HEADERS-NOPE"]);
    assert_eq!(code(&unknown), 2);
    assert!(
        stderr(&unknown).contains("HEADERS-MX-BYPASS"),
        "{}",
        stderr(&unknown)
    );
    let unknown = run(&["explain", "MX-NOPE"]);
    assert_eq!(code(&unknown), 2);
    assert!(
        stderr(&unknown).contains("did you mean"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn demo_runs_without_any_network_and_probes_the_lab_smtp_hosts() {
    let output = run(&["demo", "--format", "json", "--smtp-timeout", "3"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let reports = json_reports(&output);
    assert_eq!(reports.len(), mxwatch_lab::lab_domains().len());
    let nsdiff = reports
        .iter()
        .find(|r| r["domain"] == "nsdiff.test")
        .unwrap();
    assert!(
        ids(nsdiff).contains(&"NS-INCONSISTENT-MX".to_string()),
        "{:?}",
        ids(nsdiff)
    );
    let notls = reports
        .iter()
        .find(|r| r["domain"] == "smtp-notls.test")
        .unwrap();
    assert!(
        ids(notls).contains(&"TLS-NO-STARTTLS".to_string()),
        "{:?}",
        ids(notls)
    );
    let healthy = reports
        .iter()
        .find(|r| r["domain"] == "healthy.test")
        .unwrap();
    assert_eq!(
        healthy["status"],
        "ok",
        "the lab CA is trusted in the demo: {:?}",
        ids(healthy)
    );
}

#[test]
fn table_shows_smtp_and_tls_per_address_without_control_characters() {
    let output = run(&["demo", "--smtp-timeout", "3"]);
    let text = stdout(&output);
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("no STARTTLS"), "{text}");
    assert_no_control_characters(&text);
}

#[test]
fn diff_names_what_changed_between_two_saved_audits() {
    let lab = Lab::builtin();
    let dir = std::env::temp_dir().join(format!("mxwatch-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let before = dir.join("before.json");
    let after = dir.join("after.jsonl");
    let output = lab.check(&["--format", "json", "healthy.test", "provider.test"]);
    std::fs::write(&before, &output.stdout).unwrap();
    lab.dns
        .zones
        .write()
        .unwrap()
        .set_zone(
            "healthy.test.zone",
            "$ORIGIN healthy.test.\n$TTL 3600\n@ SOA ns1.lab.test. h.lab.test. 2 1 1 1 300\n@ NS ns1.lab.test.\n\
             @ MX 10 mx1.healthy.test.\n@ MX 30 mx1.provider.test.\nmx1 A 127.0.1.10\n",
        )
        .unwrap();
    let output = lab.check(&["--format", "jsonl", "healthy.test", "provider.test"]);
    std::fs::write(&after, &output.stdout).unwrap();

    let diff = run(&["diff", before.to_str().unwrap(), after.to_str().unwrap()]);
    assert_eq!(code(&diff), 1, "{}", stderr(&diff));
    let text = stdout(&diff);
    assert!(text.contains("mx-added mx1.provider.test: 30"), "{text}");
    assert!(
        text.contains("mx-removed mx2.healthy.test: was 20"),
        "{text}"
    );
    assert!(text.contains("soa-serial-changed"), "{text}");
    // What the change does, with the drain time of the removed exchange (from the new audit's time).
    assert!(
        text.contains("consequence CHANGE-MX-DRAIN mx2.healthy.test: safe to decommission mx2.healthy.test after "),
        "{text}"
    );
    assert!(
        !text.contains("provider.test\n"),
        "provider.test did not change: {text}"
    );

    let same = run(&["diff", before.to_str().unwrap(), before.to_str().unwrap()]);
    assert_eq!(code(&same), 0);
    assert!(stdout(&same).contains("no change"));

    let json = run(&[
        "diff",
        "--format",
        "json",
        before.to_str().unwrap(),
        after.to_str().unwrap(),
    ]);
    let value: Value = serde_json::from_slice(&json.stdout).unwrap();
    let kinds: Vec<&str> = value["healthy.test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"mx-added") && kinds.contains(&"mx-removed"),
        "{kinds:?}"
    );
    assert_eq!(
        code(&run(&[
            "diff",
            "/nonexistent.json",
            before.to_str().unwrap()
        ])),
        2
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn quick_start_flags_cannot_be_silently_ignored_beside_a_config() {
    // Parsed and refused before any file is read or any packet sent.
    let output = run(&[
        "watch",
        "--config",
        "/nonexistent.toml",
        "--resolver",
        "127.0.0.1",
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("cannot be used with"),
        "{}",
        stderr(&output)
    );
    let nan = run(&[
        "propagation",
        "a.test",
        "--resolver",
        "127.0.0.1:9",
        "--timeout",
        "NaN",
    ]);
    assert_eq!(code(&nan), 2, "{}", stderr(&nan));
}

#[test]
fn dnsbl_and_named_dkim_selectors_are_checked_when_asked() {
    let lab = Lab::builtin();
    let output = lab.check(&[
        "--format",
        "json",
        "--dnsbl",
        "bl.test",
        "--dkim-selector",
        "s2026",
        "--dkim-selector",
        "default",
        "healthy.test",
        "provider.test",
    ]);
    let reports: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let findings = |domain: &str| -> Vec<(String, String)> {
        reports.iter().find(|r| r["domain"] == domain).unwrap()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["subject"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let healthy = findings("healthy.test");
    // mx2 (127.0.1.11) is listed in the lab blocklist; mx1 is not.
    assert!(
        healthy.contains(&(
            "DNSBL-LISTED".into(),
            "mx2.healthy.test (127.0.1.11)".into()
        )),
        "{healthy:?}"
    );
    assert!(
        !healthy.iter().any(|(_, s)| s.contains("127.0.1.10")),
        "{healthy:?}"
    );
    // The selector we named without a key is reported; `default` has one.
    assert!(
        healthy.contains(&(
            "DKIM-SELECTOR-MISSING".into(),
            "s2026._domainkey.healthy.test".into()
        )),
        "{healthy:?}"
    );
    assert!(
        !healthy
            .iter()
            .any(|(_, s)| s.starts_with("default._domainkey"))
    );
    // provider.test's mx1 (127.0.1.1) gets the "query refused" code: not a listing.
    let provider = findings("provider.test");
    assert!(
        !provider.iter().any(|(id, _)| id == "DNSBL-LISTED"),
        "{provider:?}"
    );
    // A bad zone name is refused before any query.
    let bad = lab.check(&["--dnsbl", "bl test", "healthy.test"]);
    assert_eq!(code(&bad), 2);
}

/// An operational failure (here: the database's directory does not exist) is exit 4, never 3,
/// which scripts read as "could not determine".
#[test]
fn a_store_that_cannot_be_opened_is_exit_4_not_indeterminate() {
    let output = run(&[
        "watch",
        "healthy.test",
        "--once",
        "--resolver",
        "127.0.0.1:9",
        "--db",
        "/nonexistent-mxwatch-dir/mx.db",
    ]);
    assert_eq!(code(&output), 4, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("nonexistent-mxwatch-dir"),
        "{}",
        stderr(&output)
    );
    // A scheme this build cannot open is the user's to fix: exit 2.
    let output = run(&["history", "healthy.test", "--db", "mysql://127.0.0.1/mx"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}

/// A bare observation is judged when it is diffed: against today's date, or `--at` a given time,
/// so a certificate that is valid today has expired as of 2100 and the diff says so.
#[test]
fn diff_judges_bare_observations_now_or_at_a_given_time() {
    let output = run(&["demo", "--format", "json", "--smtp-timeout", "3"]);
    let reports: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let healthy = reports
        .iter()
        .find(|r| r["domain"] == "healthy.test")
        .unwrap();
    assert!(
        serde_json::to_string(&healthy["observation"])
            .unwrap()
            .contains("not_after"),
        "the demo's healthy.test has certificates"
    );
    let dir = std::env::temp_dir().join(format!("mxwatch-diff-at-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    let bare = dir.join("observation.json");
    std::fs::write(&report, serde_json::to_vec(healthy).unwrap()).unwrap();
    std::fs::write(&bare, serde_json::to_vec(&healthy["observation"]).unwrap()).unwrap();
    let (report, bare) = (report.to_str().unwrap(), bare.to_str().unwrap());

    // (The bare observation is judged outside lab mode, so loopback MX targets appear too.)
    let today = run(&["diff", report, bare]);
    assert_eq!(code(&today), 1, "{}{}", stdout(&today), stderr(&today));
    assert!(
        !stdout(&today).contains("TLS-CERT-EXPIRED"),
        "{}",
        stdout(&today)
    );
    let later = run(&["diff", "--at", "2100-01-01T00:00:00Z", report, bare]);
    assert_eq!(code(&later), 1, "{}{}", stdout(&later), stderr(&later));
    assert!(
        stdout(&later).contains("finding-appeared TLS-CERT-EXPIRED"),
        "{}",
        stdout(&later)
    );
    let bad = run(&["diff", "--at", "next tuesday", report, bare]);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("RFC 3339"), "{}", stderr(&bad));
    std::fs::remove_dir_all(&dir).ok();
}

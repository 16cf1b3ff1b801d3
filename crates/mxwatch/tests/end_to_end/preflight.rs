//! `check --zone`: the lab's sts-ok.test is live; a proposed file changes its MX set. The
//! change's consequences are reported, SARIF results point at the file's lines, JSON carries
//! proposed and live side by side, offline judges the file alone, and a bad file is exit 2.

use crate::common::{code, run, stderr, stdout};
use crate::mta_sts::FullLab;
use serde_json::Value;

const PROPOSED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/end_to_end/zones/sts-ok.test.proposed.zone"
);

fn check(lab: &FullLab, extra: &[&str]) -> std::process::Output {
    check_zone(lab, "sts-ok.test", PROPOSED, extra)
}

/// `check DOMAIN --zone FILE` against the full lab (its CA trusted), then `extra`.
fn check_zone(lab: &FullLab, domain: &str, file: &str, extra: &[&str]) -> std::process::Output {
    let base = lab.check_args();
    let ca = lab.ca_file.to_string_lossy().into_owned();
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend_from_slice(&["--ca-file", &ca, "--zone", file, domain]);
    args.extend_from_slice(extra);
    run(&args)
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(output), stderr(output)))
}

/// The lines of the SARIF results of `rule` about `subject` located in the sts-ok.test proposal.
fn sarif_lines(log: &Value, rule: &str, subject: &str) -> Vec<u64> {
    lines_in(log, rule, subject, "sts-ok.test.proposed.zone")
}

/// The lines of the SARIF results of `rule` about `subject` located in the file `suffix`.
fn lines_in(log: &Value, rule: &str, subject: &str, suffix: &str) -> Vec<u64> {
    log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == rule)
        .filter(|r| {
            r["message"]["text"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{subject}: "))
        })
        .flat_map(|r| r["locations"].as_array().unwrap().clone())
        .filter(|l| {
            l["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with(suffix)
        })
        .map(|l| {
            l["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn sarif_points_at_the_lines_of_the_records_involved() {
    let lab = FullLab::start("preflight-sarif");
    let output = check(&lab, &["--format", "sarif", "--fail-on", "critical"]);
    // MX-TARGET-UNREGISTERED is critical: the exit code is check's.
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let log = json(&output);
    // Line 8 adds mx1.provider.test outside the cached policy, line 9 the unregistered target,
    // line 10 is the _mta-sts TXT whose id did not change, line 13 the SPF with `mx`.
    assert_eq!(
        sarif_lines(&log, "CHANGE-MTASTS-MX-UNCOVERED", "mx1.provider.test"),
        vec![8]
    );
    assert_eq!(
        sarif_lines(&log, "CHANGE-MX-ADDED", "mx1.provider.test"),
        vec![8]
    );
    assert_eq!(
        sarif_lines(&log, "MX-TARGET-UNREGISTERED", "mx.lapsed-provider.test"),
        vec![9]
    );
    assert_eq!(
        sarif_lines(&log, "CHANGE-MTASTS-ID-STALE", "_mta-sts.sts-ok.test"),
        vec![10]
    );
    assert_eq!(
        sarif_lines(&log, "CHANGE-SPF-MX-PROVIDER", "sts-ok.test"),
        vec![13]
    );
    // The removed exchange has no line of its own: its result points at the MX RRset.
    assert_eq!(
        sarif_lines(&log, "CHANGE-MX-DRAIN", "mx2.smtp-ok.test"),
        vec![7, 8, 9]
    );
    // The rule table holds the change rules after the checks, and each ruleIndex points at its rule.
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for result in log["runs"][0]["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().expect("a rule index") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
}

#[test]
fn json_has_the_consequences_with_dates_and_both_sides() {
    let lab = FullLab::start("preflight-json");
    let output = check(&lab, &["--format", "json", "--fail-on", "critical"]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let value = json(&output);
    let consequences = value["consequences"].as_array().unwrap();
    let detail = |id: &str, subject: &str| -> String {
        consequences
            .iter()
            .map(|c| &c["finding"])
            .find(|f| f["id"] == id && f["subject"] == subject)
            .unwrap_or_else(|| panic!("no {id} for {subject}: {value:#}"))["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let uncovered = detail("CHANGE-MTASTS-MX-UNCOVERED", "mx1.provider.test");
    assert!(
        uncovered.contains("mode enforce, max_age 604800 s"),
        "{uncovered}"
    );
    assert!(uncovered.contains(" UTC at the latest"), "{uncovered}");
    let drain = detail("CHANGE-MX-DRAIN", "mx2.smtp-ok.test");
    assert!(
        drain.starts_with("safe to decommission mx2.smtp-ok.test after ")
            && drain.contains("MTA-STS max_age 604800 s"),
        "{drain}"
    );
    assert!(detail("CHANGE-SPF-MX-PROVIDER", "sts-ok.test").contains("provider.test"));
    // Proposed and live side by side.
    let mx = value["side_by_side"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part"] == "MX sts-ok.test")
        .unwrap();
    assert_eq!(mx["changed"], true);
    assert!(mx["live"].to_string().contains("mx2.smtp-ok.test"), "{mx}");
    assert!(
        mx["proposed"].to_string().contains("mx1.provider.test"),
        "{mx}"
    );
    assert_eq!(value["live"]["domain"], "sts-ok.test");
}

#[test]
fn the_live_zone_proposed_again_changes_nothing() {
    let lab = FullLab::start("preflight-same");
    let live = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mxwatch-lab/zones/sts-ok.test.zone"
    );
    let output = check_zone(&lab, "sts-ok.test", live, &["--format", "json"]);
    let value = json(&output);
    assert_eq!(value["consequences"], serde_json::json!([]), "{value:#}");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

#[test]
fn offline_judges_the_file_alone_and_says_what_it_could_not() {
    // No lab at all: nothing may be asked.
    let output = run(&[
        "check",
        "--offline",
        "--zone",
        PROPOSED,
        "sts-ok.test",
        "--format",
        "json",
        "--fail-on",
        "critical",
    ]);
    let value = json(&output);
    assert!(value["live"].is_null());
    assert_eq!(value["consequences"], serde_json::json!([]));
    let findings = value["findings"].as_array().unwrap();
    let not_judged: Vec<&Value> = findings
        .iter()
        .map(|f| &f["finding"])
        .filter(|f| f["id"] == "DNS-INDETERMINATE")
        .collect();
    assert!(
        not_judged
            .iter()
            .any(|f| f["subject"] == "A mx1.provider.test"
                && f["detail"].as_str().unwrap().contains("offline")),
        "what could not be judged is listed: {not_judged:?}"
    );
    // The file's own records are judged: its MX set was read from it.
    assert!(
        value["proposed"]["observation"]["mx"]["value"]
            .to_string()
            .contains("mx.lapsed-provider.test")
    );
    assert_eq!(code(&output), 3, "{}", stderr(&output));
}

#[test]
fn a_broken_or_foreign_zone_file_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("mxwatch-preflight-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.zone");
    std::fs::write(&bad, "$ORIGIN sts-ok.test.\n@ IN MX ten mx1\n").unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let output = run(&["check", "--offline", "--zone", &bad, "sts-ok.test"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("is not a valid zone file"),
        "{}",
        stderr(&output)
    );
    let output = run(&["check", "--offline", "--zone", PROPOSED, "other.test"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("none of the zone files holds other.test"),
        "{}",
        stderr(&output)
    );
    let output = run(&[
        "check",
        "--offline",
        "--zone",
        PROPOSED,
        "sts-ok.test",
        "a.test",
    ]);
    assert_eq!(code(&output), 2);
}

#[test]
fn a_dropped_tlsa_record_is_reported_on_the_exchange_s_mx_line() {
    let lab = FullLab::start("preflight-dane");
    let proposed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/end_to_end/zones/dane-ok.test.proposed.zone"
    );
    let output = check_zone(&lab, "dane-ok.test", proposed, &["--format", "sarif"]);
    let log = json(&output);
    let detail = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "CHANGE-DANE-MX-WITHOUT-TLSA")
        .map(|r| r["message"]["text"].to_string())
        .unwrap_or_default();
    assert!(detail.contains("dropped"), "{}", stdout(&output));
    let lines = lines_in(
        &log,
        "CHANGE-DANE-MX-WITHOUT-TLSA",
        "mx1.dane-ok.test",
        "dane-ok.test.proposed.zone",
    );
    // Line 5: `@ IN MX 10 mx1`, the exchange whose TLSA record the proposal drops.
    assert_eq!(lines, vec![5], "{}", stdout(&output));
}

//! `mxwatch scan` end to end against the loopback lab: the list's lines (bad, duplicate,
//! not UTF-8), the formats, and a scan SIGKILLed at a random point and started again.

use crate::common::*;
use mxwatch_lab::{Behaviour, LabZones};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mxwatch-scan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `scan` through the lab, DNS only, no DNSSEC (the unsigned lab).
fn scan_args<'a>(lab: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "scan",
        "--lab",
        "--resolver",
        lab,
        "--no-probe",
        "--no-ns-check",
        "--no-dnssec",
        "--no-dkim-guess",
        "--timeout",
        "1",
    ];
    args.extend_from_slice(extra);
    args
}

fn unsigned_lab() -> Lab {
    Lab::start(LabZones::builtin_unsigned().unwrap(), Behaviour::Resolver)
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn every_line_is_audited_once_or_reported_with_its_number() {
    let lab = unsigned_lab();
    let dir = scratch("lines");
    let list = dir.join("list.txt");
    let mut text =
        b"# my domains\nhealthy.test\n\nhttps://customer1.test/login\nbad..name\nHEALTHY.test.\n"
            .to_vec();
    text.extend_from_slice(b"caf\xff.test\nnomx.test # no MX\n");
    std::fs::write(&list, text).unwrap();
    let out = dir.join("out.jsonl");
    let resolver = lab.dns.addr.to_string();
    let output = run(&scan_args(
        &resolver,
        &[list.to_str().unwrap(), "--output", out.to_str().unwrap()],
    ));
    assert!([0, 1].contains(&code(&output)), "{}", stderr(&output));
    let records = json_lines(&out);
    let by_line: BTreeMap<u64, &Value> = records
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r))
        .collect();
    assert_eq!(
        records.len(),
        by_line.len(),
        "one record per line: {records:#?}"
    );
    assert_eq!(
        by_line.keys().copied().collect::<Vec<_>>(),
        [2, 4, 5, 6, 7, 8]
    );
    assert_eq!(by_line[&2]["domain"], "healthy.test");
    assert_eq!(by_line[&2]["status"], "ok");
    assert_eq!(by_line[&4]["domain"], "customer1.test");
    assert!(by_line[&5]["error"].as_str().is_some(), "{:#}", by_line[&5]);
    assert_eq!(by_line[&6]["duplicate_of_line"], 2);
    assert_eq!(by_line[&7]["error"], "the line is not UTF-8");
    assert_eq!(by_line[&8]["domain"], "nomx.test");
    // The summary names the shared hosts and the counts.
    let err = stderr(&output);
    assert!(
        err.contains("1 malformed line") || err.contains("2 malformed line"),
        "{err}"
    );
    assert!(err.contains("1 duplicate"), "{err}");
}

#[test]
fn csv_has_a_row_per_domain_and_a_file_of_findings() {
    let lab = unsigned_lab();
    let dir = scratch("csv");
    let list = dir.join("list.txt");
    std::fs::write(&list, "healthy.test\nnomx.test\nnot a domain\n").unwrap();
    let (out, findings) = (dir.join("out.csv"), dir.join("findings.csv"));
    let resolver = lab.dns.addr.to_string();
    let output = run(&scan_args(
        &resolver,
        &[
            list.to_str().unwrap(),
            "--format",
            "csv",
            "--output",
            out.to_str().unwrap(),
            "--csv-findings",
            findings.to_str().unwrap(),
        ],
    ));
    assert!([0, 1].contains(&code(&output)), "{}", stderr(&output));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some("line,domain,status,worst_severity,finding_ids,mx,provider,error")
    );
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len(), 3, "{text}");
    let healthy = rows
        .iter()
        .find(|r| r.starts_with("1,healthy.test,ok,"))
        .unwrap();
    assert!(
        healthy.contains("10 mx1.healthy.test; 20 mx2.healthy.test"),
        "{healthy}"
    );
    assert!(
        healthy.contains(",healthy.test,"),
        "the provider: {healthy}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("3,") && r.contains("malformed")),
        "{text}"
    );
    let findings = std::fs::read_to_string(&findings).unwrap();
    assert!(
        findings.starts_with("line,domain,id,severity,subject,detail\n"),
        "{findings}"
    );
    assert!(
        findings
            .lines()
            .skip(1)
            .all(|r| r.starts_with("2,nomx.test,")),
        "{findings}"
    );
    assert!(
        findings.lines().count() > 1,
        "nomx.test has findings: {findings}"
    );
    // A document format cannot be resumed: refused with exit 2.
    let refused = run(&scan_args(
        &resolver,
        &[
            list.to_str().unwrap(),
            "--format",
            "json",
            "--state",
            dir.join("s.db").to_str().unwrap(),
        ],
    ));
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
}

/// Regression guard for the resume protocol: killed at a random point (SIGKILL), started again
/// with the same state, the output holds every line exactly once and no torn record.
#[test]
fn a_scan_killed_at_a_random_point_resumes_without_losing_or_repeating_a_line() {
    let lab = unsigned_lab();
    let dir = scratch("resume");
    let list = dir.join("list.txt");
    // Lab domains and many names under them (NXDOMAIN: cheap, but each a full audit).
    let mut names: Vec<String> = mxwatch_lab::lab_domains()
        .iter()
        .map(|d| d.to_string())
        .collect();
    names.extend((0..1500).map(|i| format!("n{i}.healthy.test")));
    std::fs::write(&list, names.join("\n") + "\n").unwrap();
    let (out, state) = (dir.join("out.jsonl"), dir.join("state.db"));
    let resolver = lab.dns.addr.to_string();
    let args = scan_args(
        &resolver,
        &[
            list.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--concurrency",
            "2",
        ],
    );
    // A kill point that differs from run to run.
    let threshold = 20
        + (std::process::id() as usize * 7919 + Instant::now().elapsed().subsec_nanos() as usize)
            % 300;
    let mut child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let written = std::fs::read(&out)
            .map(|b| b.iter().filter(|c| **c == b'\n').count())
            .unwrap_or(0);
        if written >= threshold || Instant::now() > deadline {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let after_kill = std::fs::read(&out).unwrap();
    let killed_lines = after_kill.iter().filter(|c| **c == b'\n').count();
    assert!(
        !status.success() && killed_lines < names.len(),
        "the kill must land mid-scan (threshold {threshold}, {killed_lines} lines written)"
    );

    let output = run(&args);
    assert!([0, 1].contains(&code(&output)), "{}", stderr(&output));
    let records = json_lines(&out);
    let mut lines: Vec<u64> = records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    lines.sort_unstable();
    let expected: Vec<u64> = (1..=names.len() as u64).collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "no line lost or repeated (killed after {killed_lines})"
    );
    assert_eq!(lines, expected);
    // The second run audited only what was not done.
    assert!(stderr(&output).contains("this run"), "{}", stderr(&output));
}

#[test]
fn a_failing_resolver_is_covered_by_another_given_with_resolver() {
    let broken = Lab::start(LabZones::builtin_unsigned().unwrap(), Behaviour::ServFail);
    let good = unsigned_lab();
    let (broken_addr, good_addr) = (broken.dns.addr.to_string(), good.dns.addr.to_string());
    let dir = scratch("resolvers");
    let list = dir.join("list.txt");
    std::fs::write(&list, "healthy.test\ncustomer1.test\nnomx.test\n").unwrap();
    let mut args = scan_args(&broken_addr, &[list.to_str().unwrap(), "--format", "jsonl"]);
    args.extend_from_slice(&["--resolver", &good_addr, "--qps", "500"]);
    let output = run(&args);
    assert!([0, 1].contains(&code(&output)), "{}", stderr(&output));
    let reports: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 3);
    assert!(
        reports.iter().all(|r| r["status"] != "indeterminate"),
        "{reports:#?}"
    );
    assert_eq!(
        reports[0]["observation"]["resolver"],
        format!("{broken_addr}, {good_addr}")
    );
}

//! Registration over RDAP through the binary: `--rdap-server` reaches the lab's RDAP server
//! (trusted through `--ca-file`), every REG-* ID fires on its lab domain and stays silent on the
//! healthy ones, RDAP failures are could-not-determine and never an expiry or lock finding, a
//! provider shared by many domains is asked once per run, and without a server (`--lab` alone, or
//! `--no-rdap`) nobody is asked.

use crate::common::{Lab, code, ids, json_reports, stderr};
use mxwatch_lab::{Behaviour, LabPki, LabRdap, LabZones, expectations_rdap};

/// The lab's DNS (unsigned zones) and its RDAP server with the lab CA in a file.
struct RdapLab {
    dns: Lab,
    rdap: LabRdap,
    ca_file: std::path::PathBuf,
    _runtime: tokio::runtime::Runtime,
}

impl RdapLab {
    fn start(name: &str) -> RdapLab {
        let dns = Lab::start(LabZones::builtin_unsigned().unwrap(), Behaviour::Resolver);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let pki = LabPki::new().unwrap();
        let rdap = runtime.block_on(LabRdap::start(&pki)).unwrap();
        let dir = std::env::temp_dir().join(format!("mxwatch-rdap-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("lab-ca.pem");
        std::fs::write(&ca_file, pki.ca_pem()).unwrap();
        RdapLab {
            dns,
            rdap,
            ca_file,
            _runtime: runtime,
        }
    }

    /// `check --format json` with the lab RDAP server; `extra` before the domains.
    fn check(&self, extra: &[&str], domains: &[&str]) -> std::process::Output {
        let url = self.rdap.url();
        let ca = self.ca_file.to_string_lossy().into_owned();
        let mut args = vec![
            "--format",
            "json",
            "--rdap-server",
            url.as_str(),
            "--ca-file",
            ca.as_str(),
            // The silent case must not hold the run long; many domains on one server.
            "--rdap-timeout",
            "1",
            "--rdap-qps",
            "100",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(domains);
        self.dns.check(&args)
    }
}

#[test]
fn every_registration_case_meets_its_expectations_and_a_provider_is_asked_once() {
    let lab = RdapLab::start("expect");
    let all = expectations_rdap();
    let domains: Vec<&str> = all.iter().map(|e| e.domain.as_str()).collect();
    let output = lab.check(&[], &domains);
    assert!(
        matches!(code(&output), 1 | 3),
        "exit {}: {}",
        code(&output),
        stderr(&output)
    );
    let reports = json_reports(&output);
    assert_eq!(reports.len(), all.len());
    let mut failures = Vec::new();
    for (exp, report) in all.iter().zip(&reports) {
        let problems = exp.violations(&ids(report));
        if !problems.is_empty() {
            failures.push(format!("{}: {problems:?}", exp.domain));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // provider.test holds the exchanges of most of these domains: one question for the run.
    assert_eq!(lab.rdap.requests("provider.test"), 1);
    assert_eq!(
        lab.rdap.requests("reg-expiring.test"),
        1,
        "own and provider"
    );

    // What the failures say: could not determine, naming the registration and why.
    let by_domain = |d: &str| {
        reports
            .iter()
            .find(|r| r["domain"] == d)
            .unwrap_or_else(|| panic!("{d}"))
    };
    let indeterminate = |d: &str| -> String {
        by_domain(d)["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "DNS-INDETERMINATE" && f["subject"] == format!("RDAP {d}"))
            .unwrap_or_else(|| panic!("{d}: no RDAP indeterminate"))["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(indeterminate("reg-ratelimit.test").contains("429"));
    assert!(indeterminate("reg-ratelimit.test").contains("Retry-After: 3600"));
    assert!(indeterminate("reg-error.test").contains("503"));
    assert!(indeterminate("reg-slow.test").contains("in time"));
    assert!(indeterminate("reg-garbage.test").contains("not JSON"));
    // The expiry is said with its date and registrar.
    let expiring = &by_domain("reg-expiring.test")["findings"][0];
    assert_eq!(expiring["id"], "REG-EXPIRING");
    let detail = expiring["detail"].as_str().unwrap();
    assert!(
        detail.contains("(in 9 days)") || detail.contains("(in 10 days)"),
        "{detail}"
    );
    assert!(detail.contains("Lab Registrar"), "{detail}");
    // A 404 is recorded as not registered, not as a failure.
    let unknown = &by_domain("reg-unknown.test")["observation"]["rdap"]["domains"][0];
    assert_eq!(unknown["outcome"]["result"], "not_found");
}

#[test]
fn without_a_server_or_with_no_rdap_the_lab_asks_nobody() {
    let lab = RdapLab::start("off");
    // --lab alone: the built-in bootstrap names public servers, so RDAP is not asked at all.
    let output = lab.dns.check(&["--format", "json", "reg-nolock.test"]);
    let reports = json_reports(&output);
    assert!(reports[0]["observation"].get("rdap").is_none());
    assert!(!ids(&reports[0]).contains(&"REG-NO-LOCK".to_string()));
    // --no-rdap wins over a named server.
    let output = lab.check(&["--no-rdap"], &["reg-nolock.test"]);
    let reports = json_reports(&output);
    assert!(reports[0]["observation"].get("rdap").is_none());
    assert_eq!(lab.rdap.requests("reg-nolock.test"), 0);
    // And with the server: the finding, and the threshold is the flag's.
    let output = lab.check(&["--registration-expiry-days", "500"], &["reg-nolock.test"]);
    let found = ids(&json_reports(&output)[0]);
    assert!(found.contains(&"REG-NO-LOCK".to_string()), "{found:?}");
    assert!(found.contains(&"REG-EXPIRING".to_string()), "{found:?}");
}

#[test]
fn a_bad_rdap_server_or_bootstrap_is_a_usage_error_before_any_query() {
    let lab = RdapLab::start("bad");
    let output = lab
        .dns
        .check(&["--rdap-server", "http://rdap.lab.test/", "healthy.test"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("HTTPS"), "{}", stderr(&output));
    let missing = lab.ca_file.with_file_name("no-such-bootstrap.json");
    let missing = missing.to_string_lossy();
    let output = lab
        .dns
        .check(&["--rdap-bootstrap", &missing, "healthy.test"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert_eq!(lab.rdap.requests("healthy.test"), 0);
}

#[test]
fn the_table_says_each_registration_in_one_line() {
    let lab = RdapLab::start("table");
    let url = lab.rdap.url();
    let ca = lab.ca_file.to_string_lossy().into_owned();
    let output = lab.dns.check(&[
        "--rdap-server",
        &url,
        "--ca-file",
        &ca,
        "--rdap-timeout",
        "1",
        "--rdap-qps",
        "100",
        "reg-nolock.test",
        "reg-slow.test",
    ]);
    let text = crate::common::stdout(&output);
    crate::common::assert_no_control_characters(&text);
    assert!(
        text.contains("RDAP: reg-nolock.test: expires ") && text.contains("· no registrar lock"),
        "{text}"
    );
    assert!(
        text.contains("RDAP: provider.test (MX mx1.provider.test, mx2.provider.test): expires ")
            && text.contains("· locked (client transfer prohibited, client update prohibited)"),
        "{text}"
    );
    assert!(
        text.contains(
            "RDAP: reg-slow.test: could not determine (the RDAP server did not answer in time)"
        ),
        "{text}"
    );
}

//! `mxwatch headers` end to end: the binary reads the sample messages of
//! `tests/data/headers`, resolves the recipient's MX through the lab resolver on
//! loopback, and names the hop where each message entered the MX.

use crate::common::{BIN, Lab, assert_no_control_characters, code, run, stderr, stdout};
use mxwatch_lab::{Behaviour, LabZones};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn sample(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/headers")
        .join(name)
        .display()
        .to_string()
}

fn headers(lab: &Lab, args: &[&str]) -> Output {
    let resolver = lab.dns.addr.to_string();
    let mut all = vec!["headers", "--resolver", resolver.as_str(), "--timeout", "1"];
    all.extend_from_slice(args);
    run(&all)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(output),
            stderr(output)
        )
    })
}

fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MXWATCH_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The binary may refuse before reading everything: a closed pipe is fine here.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn note_codes(report: &Value) -> Vec<String> {
    report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_string())
        .collect()
}

/// (sample, verdict, entry hop, exchange, preference, exit code)
const CASES: &[(&str, &str, u64, &str, u64, i32)] = &[
    (
        "gmail-primary-mx.eml",
        "primary",
        3,
        "mx1.healthy.test",
        10,
        0,
    ),
    ("backup-mx.eml", "backup", 2, "mx2.healthy.test", 20, 0),
    (
        "malformed-received.eml",
        "primary",
        3,
        "mx1.healthy.test",
        10,
        0,
    ),
    (
        "arc-multiple-ar.eml",
        "primary",
        3,
        "mx1.provider.test",
        10,
        0,
    ),
    ("clock-skew.eml", "primary", 3, "mx1.healthy.test", 10, 0),
    (
        "internal-name-mx.eml",
        "primary",
        1,
        "mx.hdr-inbound.test",
        10,
        0,
    ),
];

#[test]
fn every_sample_names_its_mx_hop() {
    let lab = Lab::builtin();
    for (name, verdict, hop, exchange, preference, exit) in CASES {
        let output = headers(&lab, &["--format", "json", &sample(name)]);
        assert_eq!(code(&output), *exit, "{name}: {}", stderr(&output));
        let report = json(&output);
        let entry = &report["mx_entry"];
        assert_eq!(entry["verdict"], *verdict, "{name}: {entry}");
        assert_eq!(entry["hop"], *hop, "{name}: {entry}");
        assert_eq!(entry["exchange"], *exchange, "{name}: {entry}");
        assert_eq!(entry["preference"], *preference, "{name}: {entry}");
        // The hop itself carries the same mark.
        let marked = report["hops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["number"] == *hop)
            .unwrap();
        assert_eq!(marked["mx"]["state"], "exchange", "{name}: {marked}");
        assert_eq!(marked["mx"]["exchange"], *exchange, "{name}");
    }
}

#[test]
fn the_table_names_the_mx_hop_in_words() {
    let lab = Lab::builtin();
    let output = headers(&lab, &[&sample("gmail-primary-mx.eml")]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("MX entry: hop 3, mx1.healthy.test (MX 10, the best preference)"),
        "{text}"
    );
    assert!(text.contains("◄ entry"), "{text}");
    assert!(text.contains("TLS_AES_256_GCM_SHA384"), "{text}");
    assert!(text.contains("dmarc  pass"), "{text}");
    assert_no_control_characters(&text);

    let output = headers(&lab, &[&sample("backup-mx.eml")]);
    let text = stdout(&output);
    assert!(text.contains("a BACKUP; the best is MX 10"), "{text}");
    assert!(text.contains("HEADERS-BACKUP-MX"), "{text}");
}

#[test]
fn an_address_match_says_so() {
    let lab = Lab::builtin();
    let report = json(&headers(
        &lab,
        &["--format", "json", &sample("internal-name-mx.eml")],
    ));
    assert_eq!(report["mx_entry"]["how"], "address");
    assert_eq!(report["mx_entry"]["ip"], "127.0.16.10");
    let hosts: Vec<&str> = report["mx"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(hosts.contains(&"smtp-in-01.hdr-inbound.test"), "{hosts:?}");
}

#[test]
fn direct_delivery_to_a_backend_is_a_bypass_and_exits_1() {
    let lab = Lab::builtin();
    let output = headers(
        &lab,
        &["--format", "json", &sample("direct-to-backend.eml")],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["mx_entry"]["verdict"], "bypassed");
    assert_eq!(report["mx_entry"]["host"], "store.healthy.test");
    assert_eq!(report["mx_entry"]["hop"], 1);
    assert!(note_codes(&report).contains(&"HEADERS-MX-BYPASS".to_string()));
    // store.healthy.test is not in the lab's zones: NXDOMAIN, a definite "not an MX".
    assert_eq!(report["mx"]["hosts"][0]["a"]["absence"], "nx_domain");
}

#[test]
fn clock_skew_and_authentication_results_in_json() {
    let lab = Lab::builtin();
    let report = json(&headers(
        &lab,
        &["--format", "json", &sample("clock-skew.eml")],
    ));
    assert_eq!(report["hops"][2]["delay_seconds"], -453);
    assert!(note_codes(&report).contains(&"HEADERS-CLOCK-SKEW".to_string()));

    let report = json(&headers(
        &lab,
        &["--format", "json", &sample("arc-multiple-ar.eml")],
    ));
    let ar = report["auth_results"].as_array().unwrap();
    assert_eq!(ar.len(), 4);
    assert_eq!(ar[0]["authserv_id"], "mx1.provider.test");
    assert_eq!(ar[0]["placement"], "after_entry");
    assert_eq!(ar[2]["kind"], "arc-authentication-results");
    assert_eq!(ar[2]["instance"], 2);
    assert_eq!(ar[2]["placement"], "before_entry");
    let methods: Vec<String> = ar[0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}={}",
                m["method"].as_str().unwrap(),
                m["result"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        methods,
        [
            "dkim=fail",
            "dkim=pass",
            "spf=softfail",
            "dmarc=fail",
            "arc=pass"
        ]
    );
}

#[test]
fn domain_flag_overrides_the_header() {
    let lab = Lab::builtin();
    let output = headers(
        &lab,
        &[
            "--format",
            "json",
            "--domain",
            "healthy.test",
            &sample("arc-multiple-ar.eml"),
        ],
    );
    assert_eq!(code(&output), 0);
    let report = json(&output);
    assert_eq!(report["domain"]["source"], "--domain");
    assert_eq!(report["mx_entry"]["verdict"], "no_mx_hop");
}

#[test]
fn no_resolve_asks_nothing_and_says_not_checked() {
    let output = run(&[
        "headers",
        "--no-resolve",
        "--format",
        "json",
        &sample("direct-to-backend.eml"),
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["mx_entry"]["verdict"], "not_checked");
    assert!(report.get("mx").is_none());
    assert!(
        report["hops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["mx"]["state"] == "not_checked")
    );
}

#[test]
fn a_resolver_that_never_answers_is_could_not_determine() {
    let lab = Lab::start(LabZones::builtin().unwrap(), Behaviour::Silent);
    let resolver = lab.dns.addr.to_string();
    let output = run(&[
        "headers",
        "--resolver",
        &resolver,
        "--timeout",
        "0.2",
        "--format",
        "json",
        &sample("gmail-primary-mx.eml"),
    ]);
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["mx_entry"]["verdict"], "indeterminate");
    assert!(!note_codes(&report).contains(&"HEADERS-MX-BYPASS".to_string()));
}

#[test]
fn stdin_with_hostile_bytes_never_reaches_the_terminal_raw() {
    let lab = Lab::builtin();
    let resolver = lab.dns.addr.to_string();
    let hostile = "Delivered-To: a@healthy.test\r\n\
        Received: from evil\x1b[2J.example (x\u{202e}y [192.0.2.1]) by mx1.healthy.test with ESMTP id q\x07\x7f; Mon, 23 Nov 2026 10:00:00 +0000\r\n\
        Authentication-Results: mx1.healthy.test; spf=pass\x1b]0;title\x07 smtp.mailfrom=\u{9b}x\r\n\r\nbody\x1b[31m\r\n";
    for format in ["table", "json"] {
        let output = with_stdin(
            &[
                "headers",
                "--resolver",
                &resolver,
                "--timeout",
                "1",
                "--format",
                format,
                "-",
            ],
            hostile.as_bytes(),
        );
        let text = stdout(&output);
        assert_no_control_characters(&text);
        assert!(
            !text.contains('\u{202e}') && !text.contains('\u{9b}'),
            "{text}"
        );
        if format == "json" {
            let report: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(report["mx_entry"]["verdict"], "primary");
            assert!(
                report["hops"][0]["raw"]
                    .as_str()
                    .unwrap()
                    .contains('\u{1b}')
            );
        } else {
            assert!(text.contains("\\x1B"), "{text}");
        }
    }
}

#[test]
fn input_errors_exit_2_with_a_clear_message() {
    let output = run(&["headers", "--no-resolve", "/nonexistent/message.eml"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("cannot read /nonexistent/message.eml"),
        "{}",
        stderr(&output)
    );

    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let output = with_stdin(&["headers", "--no-resolve", "-"], &big);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("10 MiB"), "{}", stderr(&output));

    let output = run(&[
        "headers",
        "--no-resolve",
        "--domain",
        "not a domain",
        &sample("backup-mx.eml"),
    ]);
    assert_eq!(code(&output), 2);
}

#[test]
fn a_very_long_chain_is_capped_and_said() {
    let mut text = String::from("Delivered-To: a@healthy.test\n");
    for i in (1..=150).rev() {
        text.push_str(&format!(
            "Received: from h{}.example by h{i}.example with ESMTP; Mon, 23 Nov 2026 10:00:00 +0000\n",
            i - 1
        ));
    }
    let output = with_stdin(
        &["headers", "--no-resolve", "--format", "json", "-"],
        text.as_bytes(),
    );
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["received_total"], 150);
    assert_eq!(report["hops"].as_array().unwrap().len(), 100);
    assert_eq!(report["hops"][0]["number"], 51);
    assert!(note_codes(&report).contains(&"HEADERS-HOPS-CAPPED".to_string()));
}

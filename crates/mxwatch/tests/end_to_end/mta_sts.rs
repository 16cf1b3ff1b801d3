//! MTA-STS through the binary: `--https-port` reaches the lab's policy hosts, `--ca-file` roots
//! verify their certificates (without it the same policy fails TLS), `--no-probe` skips the fetch,
//! and `demo` fetches the lab's policies in-process.

use crate::common::{code, ids, run, stderr, stdout};
use serde_json::Value;

/// The whole lab (DNS, nameservers, SMTP and HTTPS hosts) on its own runtime thread.
pub(crate) struct FullLab {
    lab: mxwatch_lab::Lab,
    _runtime: tokio::runtime::Runtime,
    pub(crate) ca_file: std::path::PathBuf,
    /// The lab's DNSSEC root (its zones are signed with keys made at start).
    anchor_file: std::path::PathBuf,
}

impl FullLab {
    pub(crate) fn start(name: &str) -> FullLab {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let lab = runtime.block_on(mxwatch_lab::Lab::start()).unwrap();
        let dir = std::env::temp_dir().join(format!("mxwatch-sts-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("lab-ca.pem");
        std::fs::write(&ca_file, lab.pki.ca_pem()).unwrap();
        let anchor_file = dir.join("lab-root.key");
        std::fs::write(&anchor_file, lab.dns.trust_anchor().expect("a signed lab")).unwrap();
        FullLab {
            lab,
            _runtime: runtime,
            ca_file,
            anchor_file,
        }
    }

    /// `check` against this lab (its resolver, ports, trust anchor and CA), before any other flag.
    pub(crate) fn check_args(&self) -> Vec<String> {
        let anchor = self.anchor_file.to_string_lossy().into_owned();
        [
            "check",
            "--lab",
            "--trust-anchor",
            anchor.as_str(),
            "--resolver",
            &self.lab.dns.addr.to_string(),
            "--no-ns-check",
            "--smtp-port",
            &self.lab.smtp.port.to_string(),
            "--smtp-timeout",
            "5",
            "--https-port",
            &self.lab.https.port.to_string(),
            "--https-timeout",
            // Generous: no lab host here is silent, and a loaded machine must not turn a fetch into a timeout.
            "10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// `check --format json` against this lab; `extra` adds flags.
    fn check(&self, domains: &[&str], extra: &[&str]) -> Vec<Value> {
        let base = self.check_args();
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend_from_slice(&["--format", "json", "--fail-on", "critical"]);
        args.extend_from_slice(extra);
        args.extend_from_slice(domains);
        let output = run(&args);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        serde_json::from_slice::<Value>(&output.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&output)))
            .as_array()
            .unwrap()
            .clone()
    }
}

fn finding<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
}

#[test]
fn ca_file_roots_verify_the_policy_host_and_https_port_reaches_it() {
    let lab = FullLab::start("ca");
    let ca = lab.ca_file.to_string_lossy().into_owned();
    let reports = lab.check(
        &["sts-ok.test", "sts-mismatch.test", "sts-syntax.test"],
        &["--ca-file", &ca],
    );
    assert!(ids(&reports[0]).is_empty(), "{:?}", ids(&reports[0]));
    let policy = &reports[0]["observation"]["mta_sts_policy"];
    assert_eq!(policy["outcome"]["result"], "fetched", "{policy}");
    assert!(
        finding(&reports[1], "MTASTS-MX-MISMATCH")
            .is_some_and(|f| f["subject"].as_str().unwrap().contains("mx2.smtp-ok.test")),
        "{:?}",
        ids(&reports[1])
    );
    let syntax = finding(&reports[2], "MTASTS-POLICY-SYNTAX").expect("syntax finding");
    assert!(
        syntax["detail"]
            .as_str()
            .unwrap()
            .contains("max_age 99999999999 exceeds 31557600"),
        "{syntax}"
    );
}

#[test]
fn without_the_ca_file_the_policy_host_is_not_trusted() {
    let lab = FullLab::start("noca");
    let reports = lab.check(&["sts-ok.test"], &[]);
    let fetch = finding(&reports[0], "MTASTS-POLICY-FETCH").expect("fetch finding");
    assert!(
        fetch["detail"].as_str().unwrap().contains("certificate"),
        "{fetch}"
    );
}

#[test]
fn no_probe_skips_the_fetch_but_still_judges_the_txt_record() {
    let lab = FullLab::start("noprobe");
    let reports = lab.check(&["sts-404.test", "sts-txt.test"], &["--no-probe"]);
    assert!(reports[0]["observation"].get("mta_sts_policy").is_none());
    assert!(!ids(&reports[0]).contains(&"MTASTS-POLICY-FETCH".to_string()));
    assert!(ids(&reports[1]).contains(&"MTASTS-TXT-SYNTAX".to_string()));
}

#[test]
fn demo_fetches_the_lab_policies_in_process() {
    let output = run(&[
        "demo",
        "--format",
        "json",
        "--smtp-timeout",
        "3",
        "--https-timeout",
        // The silent policy host costs this much; less makes a loaded machine time out good hosts too.
        "8",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let reports: Vec<Value> = serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    let by_domain = |d: &str| reports.iter().find(|r| r["domain"] == d).unwrap();
    assert_eq!(
        by_domain("sts-ok.test")["status"],
        "ok",
        "{:?}",
        ids(by_domain("sts-ok.test"))
    );
    for (domain, id) in [
        ("sts-404.test", "MTASTS-POLICY-FETCH"),
        ("sts-testing.test", "MTASTS-TESTING"),
        ("sts-badcert.test", "MTASTS-CERT"),
    ] {
        assert!(
            ids(by_domain(domain)).contains(&id.to_string()),
            "{domain}: {:?}",
            ids(by_domain(domain))
        );
    }
}

//! Helpers shared by the binary's integration tests: a lab DNS server on its
//! own runtime thread, and running the binary.

use mxwatch_lab::{Behaviour, LabDns, LabZones};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_mxwatch");

/// A lab on its own runtime thread, alive for the test.
pub struct Lab {
    pub dns: LabDns,
    /// Keeps the lab's server tasks running (they live on this runtime).
    _runtime: tokio::runtime::Runtime,
}

impl Lab {
    pub fn start(zones: LabZones, behaviour: Behaviour) -> Lab {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dns = runtime
            .block_on(LabDns::start(
                zones,
                behaviour,
                "127.0.0.1".parse().unwrap(),
            ))
            .unwrap();
        Lab {
            dns,
            _runtime: runtime,
        }
    }

    pub fn builtin() -> Lab {
        Lab::start(LabZones::builtin().unwrap(), Behaviour::Resolver)
    }

    /// The lab's root trust anchor in a file (`--trust-anchor`), or `None` for an unsigned lab.
    pub fn anchor_file(&self) -> Option<String> {
        let text = self.dns.trust_anchor()?;
        let path = std::env::temp_dir().join(format!(
            "mxwatch-lab-anchor-{}-{}.key",
            std::process::id(),
            self.dns.addr.port()
        ));
        std::fs::write(&path, text).ok()?;
        Some(path.display().to_string())
    }

    pub fn check(&self, args: &[&str]) -> Output {
        let resolver = self.dns.addr.to_string();
        // A signed lab is validated from its own root; an unsigned one is not validated at all.
        let anchor = self.anchor_file();
        let dnssec: Vec<&str> = match &anchor {
            Some(path) => vec!["--trust-anchor", path.as_str()],
            None => vec!["--no-dnssec"],
        };
        let mut all = vec![
            "check",
            "--lab",
            // DNS only: this lab has no SMTP hosts, and a local MTA on 0.0.0.0:25 must not change the results.
            "--no-probe",
            // Its nameservers (127.53.0.x) are not running either.
            "--no-ns-check",
            "--resolver",
            resolver.as_str(),
            "--timeout",
            "1",
        ];
        all.extend_from_slice(&dnssec);
        all.extend_from_slice(args);
        run(&all)
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MXWATCH_LOG")
        .output()
        .unwrap()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Nothing but newlines among the control characters: no escape sequence reached the terminal.
pub fn assert_no_control_characters(text: &str) {
    let control: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        control.is_empty(),
        "control characters reached stdout: {control:?}\n{text}"
    );
}

/// The reports of `--format json` output.
pub fn json_reports(output: &Output) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
        .as_array()
        .unwrap()
        .clone()
}

/// The finding IDs of one JSON report.
pub fn ids(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

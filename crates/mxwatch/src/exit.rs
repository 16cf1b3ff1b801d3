//! Exit codes, usable in CI: 0 clean, 1 a finding at or above `--fail-on`,
//! 2 a usage or input error, 3 something could not be determined.

use mxwatch_core::{Report, Severity};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Clean = 0,
    Findings = 1,
    Usage = 2,
    Indeterminate = 3,
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> ExitCode {
        ExitCode::from(code as u8)
    }
}

/// An error that is the user's input, not the world's: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn code_for_error(err: &anyhow::Error) -> Code {
    if err
        .chain()
        .any(|c| c.downcast_ref::<UsageError>().is_some())
    {
        Code::Usage
    } else {
        Code::Indeterminate
    }
}

/// Accumulates the exit code over a run's reports.
#[derive(Debug)]
pub struct Verdict {
    fail_on: Severity,
    findings: bool,
    indeterminate: bool,
}

impl Verdict {
    pub fn new(fail_on: Severity) -> Self {
        Verdict {
            fail_on,
            findings: false,
            indeterminate: false,
        }
    }

    pub fn add(&mut self, report: &Report) {
        if report.worst_definite().is_some_and(|s| s >= self.fail_on) {
            self.findings = true;
        }
        if report.is_indeterminate() {
            self.indeterminate = true;
        }
    }

    /// A definite finding wins over "could not determine": it is known to be wrong.
    pub fn code(&self) -> Code {
        if self.findings {
            Code::Findings
        } else if self.indeterminate {
            Code::Indeterminate
        } else {
            Code::Clean
        }
    }
}

//! Exit codes, usable in CI: 0 clean, 1 a finding at or above `--fail-on`,
//! 2 a usage or input error, 3 something could not be determined, 4 an operational
//! failure of mxwatch itself (the database unusable, the disk full, output that cannot be
//! written): not a verdict on any domain.

use mxwatch_core::{Report, Severity};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Clean = 0,
    Findings = 1,
    Usage = 2,
    Indeterminate = 3,
    Operational = 4,
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

/// 2 for what the user can fix in the command or its files, 4 for everything else: an error
/// is never "could not determine" (3), which CI scripts branch on.
pub fn code_for_error(err: &anyhow::Error) -> Code {
    let usage = err.chain().any(|c| {
        c.downcast_ref::<UsageError>().is_some()
            || matches!(
                c.downcast_ref::<mxwatch_engine::EngineError>(),
                Some(
                    mxwatch_engine::EngineError::Settings(_)
                        | mxwatch_engine::EngineError::Store(mxwatch_store::StoreError::Url(_))
                )
            )
            || matches!(
                c.downcast_ref::<mxwatch_store::StoreError>(),
                Some(mxwatch_store::StoreError::Url(_))
            )
    });
    if usage {
        Code::Usage
    } else {
        Code::Operational
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

    /// Findings judged beside a report (a change's consequences): definite by construction.
    pub fn add_findings(&mut self, findings: &[mxwatch_core::Finding]) {
        if findings.iter().any(|f| f.severity >= self.fail_on) {
            self.findings = true;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_usage_or_operational_never_indeterminate() {
        let usage = anyhow::Error::from(UsageError("bad flag".into()));
        assert_eq!(code_for_error(&usage), Code::Usage);
        let settings = anyhow::Error::from(mxwatch_engine::EngineError::Settings("x".into()))
            .context("loading");
        assert_eq!(code_for_error(&settings), Code::Usage);
        let disk = anyhow::Error::from(std::io::Error::other("No space left on device"));
        assert_eq!(code_for_error(&disk), Code::Operational);
        let store = anyhow::Error::from(mxwatch_engine::EngineError::Store(
            mxwatch_store::StoreError::Corrupt("x".into()),
        ));
        assert_eq!(code_for_error(&store), Code::Operational);
        let url = anyhow::Error::from(mxwatch_engine::EngineError::Store(
            mxwatch_store::StoreError::Url("postgres://: not built".into()),
        ));
        assert_eq!(code_for_error(&url), Code::Usage);
    }
}

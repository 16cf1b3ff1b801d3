//! What can go wrong in the engine, sorted by who can fix it.
//!
//! A front end maps these to its own outcome (the binary: exit 2 for [`EngineError::Settings`],
//! exit 4 for [`EngineError::Store`] and [`EngineError::Operational`]). "Could not determine" is
//! never an error here: it is data inside a report.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// The settings or the configuration are wrong: the user's to fix (a bad file, a value out
    /// of range, an unreadable CA file or trust anchor).
    #[error("{0}")]
    Settings(String),
    /// The store cannot be used (it cannot be opened, written, or is corrupt).
    #[error(transparent)]
    Store(#[from] mxwatch_store::StoreError),
    /// Anything else of the machine's: a lock file that cannot be created, an HTTP client that
    /// cannot be built.
    #[error("{0}")]
    Operational(String),
}

//! [`SynthError`], the one error type of the synthesis procedure.

use std::path::PathBuf;

/// What can go wrong while synthesising training data. Every variant names the input it was
/// about and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A file could not be read or written.
    #[error("cannot {action} '{path}': {source}")]
    Io {
        /// "read", "write", "create", ...
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data file (Spider JSON, a JSONL output being resumed) is malformed.
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// The options make no sense (a split that does not exist, α outside [0, 1], ...).
    #[error("{0}")]
    InvalidOptions(String),
    /// The output folder holds a run with other settings.
    #[error(
        "'{path}' holds a run with other settings ({difference}); pass another --out folder, or \
         the same settings to resume it"
    )]
    SettingsMismatch { path: PathBuf, difference: String },
    /// The gold SQL of a question does not execute, so nothing can be checked against it.
    #[error("the gold SQL does not execute ({reason}): {sql}")]
    GoldFails { sql: String, reason: String },
    /// A database or the teacher failed.
    #[error(transparent)]
    Tools(#[from] learnat_tools::ToolsError),
    #[error(transparent)]
    Agent(#[from] learnat_agent::AgentError),
}

/// Results of the synthesis procedure.
pub type SynthResult<T> = Result<T, SynthError>;

impl SynthError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        SynthError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

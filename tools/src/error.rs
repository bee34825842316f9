//! The one error type of the tools crate.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used across the crate.
pub type ToolsResult<T> = Result<T, ToolsError>;

/// Everything that can go wrong in the tools crate. Messages say what was being done, with which
/// input, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// The read-only safety layers refused a statement before or while running it.
    #[error("refused: {reason}")]
    Refused { reason: String },

    /// The statement does not parse.
    #[error("cannot parse SQL: {message}")]
    Parse { message: String },

    /// The engine rejected or failed the statement (unknown table, type error, …).
    #[error("SQL error: {message}")]
    Sql { message: String },

    /// The statement ran past its time limit and was interrupted.
    #[error("query interrupted after {} ms (timeout)", .after.as_millis())]
    Timeout { after: Duration },

    /// The statement hit a resource limit (result size, memory, SQLite limits).
    #[error("query stopped: {what}")]
    ResourceLimit { what: String },

    /// A database could not be opened.
    #[error("cannot open database '{}': {reason}", .path.display())]
    Open { path: PathBuf, reason: String },

    /// The connection to a database server failed or was lost.
    #[error("database connection failed: {message}")]
    Connection { message: String },

    /// A file could not be read or written.
    #[error("{what} '{}': {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Bad arguments to a tool or API call.
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
}

impl ToolsError {
    /// True when the safety layers (not the engine) stopped the statement. The CLI maps this to
    /// exit code 2.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ToolsError::Refused { .. })
    }

    /// A short machine-readable kind, used in JSON output and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ToolsError::Refused { .. } => "refused",
            ToolsError::Parse { .. } => "parse",
            ToolsError::Sql { .. } => "sql",
            ToolsError::Timeout { .. } => "timeout",
            ToolsError::ResourceLimit { .. } => "resource_limit",
            ToolsError::Open { .. } => "open",
            ToolsError::Connection { .. } => "connection",
            ToolsError::Io { .. } => "io",
            ToolsError::InvalidInput { .. } => "invalid_input",
        }
    }
}

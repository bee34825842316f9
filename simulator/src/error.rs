//! The one error type of the simulator crate.

use std::path::PathBuf;

/// Result alias used across the simulator crate.
pub type SimResult<T> = Result<T, SimulatorError>;

/// Everything that can go wrong in the simulator crate. Messages name the file, line, task and
/// field concerned, and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// A task file line does not parse or breaks a rule of the task format.
    #[error("{}:{line}: {message}", .path.display())]
    TaskFormat {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A task's annotations do not hold (a snippet missing from sol_sql, SQL that fails).
    #[error("task {instance_id}: field {field}: {message}")]
    InvalidTask {
        instance_id: String,
        field: &'static str,
        message: String,
    },

    /// A file could not be read or written.
    #[error("{what} '{}': {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A transcript or report file is not what this version writes.
    #[error("{}:{line}: {message}", .path.display())]
    Transcript {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// Bad arguments (unknown mode, missing data folder).
    #[error("invalid input: {message}")]
    InvalidInput { message: String },

    /// A database operation failed.
    #[error(transparent)]
    Tools(#[from] learnat_tools::ToolsError),

    /// The agent failed (model unavailable, strategy error).
    #[error(transparent)]
    Agent(#[from] learnat_agent::AgentError),
}

impl SimulatorError {
    /// An I/O error with what was being done and on which path.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SimulatorError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

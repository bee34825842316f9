//! The one error type of the benchmarks crate.

use std::path::PathBuf;

/// Result alias of the benchmarks crate.
pub type BenchResult<T> = Result<T, BenchError>;

/// What can go wrong while loading benchmark data or running a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A data file could not be read.
    #[error("cannot read '{}': {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An output file could not be written.
    #[error("cannot write '{}': {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A data file is not in the expected format.
    #[error("'{}' line {line}: {message}", .path.display())]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// The data set, the predictions or the options do not fit together (missing databases,
    /// prediction counts, unknown ids, a checkpoint of another run, ...). The message says what
    /// to do.
    #[error("{0}")]
    Invalid(String),

    /// Nothing could be measured.
    #[error("{0}")]
    NoData(String),

    /// An error from the tools crate (opening or querying a database).
    #[error(transparent)]
    Tools(#[from] learnat_tools::ToolsError),

    /// An error from rusqlite in a reference measurement.
    #[error("reference SQLite connection: {0}")]
    Reference(#[from] rusqlite::Error),
}

impl BenchError {
    /// Shorthand for [`BenchError::Read`].
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> BenchError {
        BenchError::Read {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`BenchError::Write`].
    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> BenchError {
        BenchError::Write {
            path: path.into(),
            source,
        }
    }
}

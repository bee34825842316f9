//! The [`Database`] trait: one async interface over every engine.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::ToolsResult;
use crate::value::QueryResult;

/// SQL dialect of an engine; selects the parser dialect and engine-specific rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Limits applied to one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// Wall-clock limit; the engine is interrupted when it passes.
    pub timeout: Duration,
    /// At most this many rows are returned; the result is marked truncated beyond it.
    pub max_rows: usize,
    /// At most this many bytes of values are returned (approximate); marked truncated beyond it.
    pub max_result_bytes: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            timeout: Duration::from_secs(30),
            max_rows: 10_000,
            max_result_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A database learnat can read. Every implementation enforces read-only access itself (the
/// [`crate::safety`] gate runs first, then the engine's own read-only mechanisms), so callers
/// may pass model-written SQL straight in.
#[async_trait]
pub trait Database: Send + Sync {
    /// The SQL dialect this engine speaks.
    fn dialect(&self) -> Dialect;

    /// A short human-readable name (file name or connection target, never a password).
    fn name(&self) -> &str;

    /// Run one read-only statement under the given limits.
    async fn execute(&self, sql: &str, options: &ExecOptions) -> ToolsResult<QueryResult>;
}

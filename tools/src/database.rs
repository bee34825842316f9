//! The [`Database`] trait: one async interface over every engine, and [`open_database`], which
//! picks the engine from a target string.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{ToolsError, ToolsResult};
use crate::sqlite::SqliteDatabase;
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

/// Open the database `target` names: a `postgres://` or `postgresql://` URL opens PostgreSQL
/// (feature `postgres`; without it a clear error saying to rebuild with
/// `--features postgres`), anything else is a path to a SQLite file, opened read-only.
///
/// ```no_run
/// # async fn example() -> learnat_tools::ToolsResult<()> {
/// let db = learnat_tools::database::open_database("shop.sqlite").await?;
/// let result = db.execute("SELECT 1", &learnat_tools::ExecOptions::default()).await?;
/// # Ok(()) }
/// ```
pub async fn open_database(target: &str) -> ToolsResult<Arc<dyn Database>> {
    if is_postgres_url(target) {
        return open_postgres(target).await;
    }
    let path = std::path::PathBuf::from(target);
    let database = tokio::task::spawn_blocking(move || SqliteDatabase::open(path))
        .await
        .map_err(|error| ToolsError::Open {
            path: target.into(),
            reason: format!("the opening task failed: {error}"),
        })??;
    Ok(Arc::new(database))
}

/// True for targets that name a PostgreSQL server rather than a SQLite file.
pub fn is_postgres_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> ToolsResult<Arc<dyn Database>> {
    Ok(Arc::new(
        crate::postgres::PostgresDatabase::connect(url).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(url: &str) -> ToolsResult<Arc<dyn Database>> {
    Err(ToolsError::InvalidInput {
        message: format!(
            "'{}' is a PostgreSQL URL, but this build has no PostgreSQL support; rebuild with \
             `cargo build --release --features postgres` (or pass a SQLite file)",
            redact_password(url)
        ),
    })
}

/// `url` with the password (if any) replaced by `***`, for messages and names.
///
/// ```
/// use learnat_tools::database::redact_password;
/// assert_eq!(redact_password("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
/// assert_eq!(redact_password("postgres://h/db"), "postgres://h/db");
/// ```
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; credentials end at its last '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_path_opens_sqlite_and_errors_name_the_path() {
        let error = match open_database("/definitely/not/here.sqlite").await {
            Err(error) => error,
            Ok(_) => panic!("a missing file opened"),
        };
        assert!(matches!(error, ToolsError::Open { .. }), "{error}");
        assert!(
            error.to_string().contains("/definitely/not/here.sqlite"),
            "{error}"
        );
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn a_postgres_url_without_the_feature_says_how_to_rebuild() {
        let error = match open_database("postgresql://me:pw@localhost/db").await {
            Err(error) => error,
            Ok(_) => panic!("opened PostgreSQL without the feature"),
        };
        let message = error.to_string();
        assert!(message.contains("--features postgres"), "{message}");
        assert!(!message.contains("pw@"), "the password leaked: {message}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgresql://a:b:c@h/db?sslmode=disable"),
            "postgresql://a:***@h/db?sslmode=disable"
        );
        assert_eq!(
            redact_password("postgres://user@h/db"),
            "postgres://user@h/db"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }
}

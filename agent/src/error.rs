//! The one error type of the agent crate.

use std::path::PathBuf;
use std::time::Duration;

/// Result alias used across the agent crate.
pub type AgentResult<T> = Result<T, AgentError>;

/// Everything that can go wrong in the agent crate. Messages say what was being done, with which
/// input, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A model spec string (`gguf:PATH`, `openai:MODEL[@BASE_URL]`) or model configuration is wrong.
    #[error("invalid model spec '{spec}': {reason}")]
    ModelSpec { spec: String, reason: String },

    /// A model file could not be loaded (missing, not GGUF, unsupported architecture or tensor type).
    #[error("cannot load model '{}': {reason}", .path.display())]
    ModelLoad { path: PathBuf, reason: String },

    /// The model backend failed while generating (tensor error, bad tokens, template error).
    #[error("model '{model}' failed: {message}")]
    Generation { model: String, message: String },

    /// The remote server rejected the credentials (HTTP 401/403).
    #[error(
        "the server at {base_url} rejected the API key ({status}): {message} (set OPENAI_API_KEY or pass --api-key)"
    )]
    Auth {
        base_url: String,
        status: u16,
        message: String,
    },

    /// The remote server does not know the requested model (HTTP 404 on the model).
    #[error("the server at {base_url} has no model '{model}': {message}")]
    UnknownModel {
        base_url: String,
        model: String,
        message: String,
    },

    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the model server at {base_url}: {message}")]
    Connection { base_url: String, message: String },

    /// The server answered with an error status after all retries.
    #[error(
        "the model server at {base_url} answered HTTP {status} after {attempts} attempt(s): {message}"
    )]
    Server {
        base_url: String,
        status: u16,
        attempts: u32,
        message: String,
    },

    /// The server's answer is not the protocol's JSON.
    #[error("malformed response from the model server at {base_url}: {message}")]
    MalformedResponse { base_url: String, message: String },

    /// A request or generation ran past its time limit.
    #[error("{what} timed out after {} ms", .after.as_millis())]
    Timeout { what: String, after: Duration },

    /// The caller cancelled the generation (Ctrl-C in the REPL).
    #[error("cancelled")]
    Cancelled,

    /// A file could not be read or written.
    #[error("{what} '{}': {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An error from the tools crate (database, safety, schema).
    #[error(transparent)]
    Tools(#[from] learnat_tools::ToolsError),

    /// Bad arguments to an API call.
    #[error("invalid input: {message}")]
    InvalidInput { message: String },

    /// A fetched or existing model file is not the pinned file (size, sha256 or format differ).
    #[error("model file '{file}' failed verification: {reason}")]
    Verification { file: String, reason: String },

    /// A demonstration pool file is malformed (`line` is 1-based; `None` for whole-file errors).
    #[error("demonstration pool '{}'{}: {message}", .path.display(), .line.map(|line| format!(" line {line}")).unwrap_or_default())]
    Pool {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// A demonstration index directory is missing, corrupt, or cannot be written.
    #[error("demonstration index '{}': {message}", .path.display())]
    Index { path: PathBuf, message: String },

    /// The model's answer holds no usable SQL (no statement, an unclosed fence, only prose).
    #[error("the answer of model '{model}' holds no usable SQL: {reason}")]
    NoSql { model: String, reason: String },

    /// A saved session file is not a session this version can read.
    #[error("cannot read the session '{}': {reason}", .path.display())]
    SessionFile { path: PathBuf, reason: String },

    /// The terminal (REPL) or the stdio channel (MCP server) failed.
    #[error("{what}: {message}")]
    Interface { what: &'static str, message: String },
}

impl AgentError {
    /// A short machine-readable kind, used in JSON output and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::ModelSpec { .. } => "model_spec",
            AgentError::ModelLoad { .. } => "model_load",
            AgentError::Generation { .. } => "generation",
            AgentError::Auth { .. } => "auth",
            AgentError::UnknownModel { .. } => "unknown_model",
            AgentError::Connection { .. } => "connection",
            AgentError::Server { .. } => "server",
            AgentError::MalformedResponse { .. } => "malformed_response",
            AgentError::Timeout { .. } => "timeout",
            AgentError::Cancelled => "cancelled",
            AgentError::Io { .. } => "io",
            AgentError::Tools(inner) => inner.kind(),
            AgentError::InvalidInput { .. } => "invalid_input",
            AgentError::Verification { .. } => "verification",
            AgentError::Pool { .. } => "demonstration_pool",
            AgentError::Index { .. } => "demonstration_index",
            AgentError::NoSql { .. } => "no_sql",
            AgentError::SessionFile { .. } => "session_file",
            AgentError::Interface { .. } => "interface",
        }
    }
}

//! learnat-agent: language-model backends, prompts, the decomposition loop, demonstration
//! retrieval, clarification, sessions and the MCP server.
//!
//! - [`model`]: the [`model::ChatModel`] trait every backend implements, and the backends.
//! - [`error`]: [`AgentError`], the crate's one error type.

pub mod agent;
pub mod clarify;
pub mod error;
pub mod frontend;
pub mod mcp;
pub mod model;
pub mod prompt;
pub mod render;
pub mod repl;
pub mod retrieval;
pub mod session;
pub mod strategy;
pub mod student_format;

pub use error::{AgentError, AgentResult};
pub use model::{ChatMessage, ChatModel, Completion, GenerationParams, Role};

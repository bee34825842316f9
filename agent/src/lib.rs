//! learnat-agent: language-model backends, prompts, the decomposition loop, demonstration
//! retrieval, clarification, sessions and the MCP server.
//!
//! - [`model`]: the [`model::ChatModel`] trait every backend implements, and the backends.
//! - [`error`]: [`AgentError`], the crate's one error type.

pub mod error;
pub mod model;

pub use error::{AgentError, AgentResult};
pub use model::{ChatMessage, ChatModel, Completion, GenerationParams, Role};

//! learnat-agent: language-model backends, prompts, the decomposition loop, demonstration
//! retrieval, clarification, sessions and the MCP server.
//!
//! Nothing is implemented here yet: the agent is built on top of `learnat-tools` (see
//! `ARCHITECTURE.md`), and this crate only exists so the workspace layout is fixed from the start.

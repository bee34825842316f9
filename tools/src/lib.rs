//! learnat-tools: everything learnat does with a database, without a language model.
//!
//! - [`database`]: the [`Database`] trait and its engines ([`sqlite`], and `postgres` behind the
//!   `postgres` feature), with typed results, timeouts and row / size caps.
//! - [`safety`]: the read-only gate every statement passes before it reaches an engine.
//! - [`schema`]: introspection and the renderings used in prompts.
//! - [`sql`]: parsing, canonical normalisation, skeletons and AST analysis (containment, tree
//!   edit distance, LearNAT's step similarity).
//! - [`compare`]: result comparison with the official Spider test-suite and BIRD semantics.
//! - [`tool`]: the agent-facing [`tool::Tool`] trait and the built-in tools.
//! - [`demo`]: the bundled demo database and its question set.
//!
//! Invariant: nothing in this crate writes to a database it did not create itself (only
//! [`demo::create_demo_database`] writes, and only to a new file).

pub mod compare;
pub mod database;
pub mod demo;
pub mod error;
pub mod hardness;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod render;
pub mod safety;
pub mod schema;
pub mod shared_data;
pub mod sql;
pub mod sqlite;
pub mod tool;
pub mod value;

pub use database::{Database, Dialect, ExecOptions};
pub use error::{ToolsError, ToolsResult};
pub use value::{QueryResult, Value};

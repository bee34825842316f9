//! learnat-simulator: interactive NL2SQL tasks, the function-driven user simulator of
//! BIRD-Interact and the c-interact / a-interact protocols that score an agent which must ask.
//!
//! - [`task`]: the task format (BIRD-Interact field names), the JSONL loader with validation,
//!   the demo tasks and the task databases.
//! - [`spider_build`]: derives ambiguous tasks from Spider (vague terms, masked snippets,
//!   hidden domain facts), each annotation machine-checked.
//! - [`user_sim`]: the [`user_sim::UserSimulator`] trait; the two-stage simulator (a parser to
//!   AMB / LOC / UNA, rule-based or LLM, then a reply generator that sees only the
//!   annotation).
//! - [`leak`]: the check that a reply shows no gold SQL beyond its allowed snippet.
//! - [`protocol`]: budgets, costs, rewards, the agent traits and both protocols.
//! - [`learnat_agent`]: learnat's agent as a player (clarify, no-ask, oracle).
//! - [`scoring`]: correctness by the harness's execution comparison.
//! - [`run`]: a task set under a protocol, in parallel, resumable; SR and NR.
//! - [`report`] and [`replay`]: JSON / Markdown / HTML reports; re-scoring a transcript.
//!
//! Invariant: the agent never sees gold SQL. It gets a [`protocol::TaskContext`] (ids and the
//! database) and observations; the simulator's replies come from the annotations alone.

pub mod error;
pub mod leak;
pub mod learnat_agent;
pub mod protocol;
pub mod replay;
pub mod report;
pub mod run;
pub mod scoring;
pub mod spider_build;
pub mod task;
pub mod user_sim;

pub use error::{SimResult, SimulatorError};

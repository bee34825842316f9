//! learnat-benchmarks: dataset loaders, the evaluation runner, metrics, reports and the
//! benchmarks behind `learnat bench`.
//!
//! Single-turn evaluation (`learnat eval`):
//! - [`dataset`]: Spider, BIRD (dev, train, mini-dev) and JSONL loaders into [`dataset::Dataset`].
//! - [`predictions`]: official one-SQL-per-line and JSONL prediction files, generators, and the
//!   [`predictions::PredictionSource`] trait the runner asks.
//! - [`runner`]: parallel execution and scoring with the official semantics
//!   ([`runner::evaluate`]), built on [`scheduler`] (bounded concurrency that lets runaway
//!   queries time out side by side), [`gold_cache`] (gold results on disk) and [`checkpoint`]
//!   (resumable runs).
//! - [`report`] and [`report_html`]: report.json, report.md, report.html, predictions.sql and
//!   the terminal summary; [`compare_runs`]: `learnat eval compare`.
//!
//! Benchmarks:
//! - [`bench_eval`]: `learnat bench eval`, the runner against a naive loop.
//! - [`sql_overhead`]: `learnat bench sql`, the cost of learnat's read-only layers and SQL
//!   normalisation against raw rusqlite on the Spider dev gold queries.
//! - [`machine`]: a description of the machine a benchmark ran on, printed with every result.

pub mod bench_eval;
pub mod bench_llm;
pub mod bench_retrieval;
pub mod checkpoint;
pub mod compare_runs;
pub mod dataset;
pub mod error;
pub mod gold_cache;
pub mod machine;
pub mod predictions;
pub mod report;
pub mod report_html;
pub mod runner;
pub mod scheduler;
pub mod sql_overhead;

pub use error::{BenchError, BenchResult};

//! learnat-benchmarks: dataset loaders, the evaluation runner, metrics, reports and the
//! benchmarks behind `learnat bench`.
//!
//! - [`machine`]: a description of the machine a benchmark ran on, printed with every result.
//! - [`sql_overhead`]: `learnat bench sql`, the cost of learnat's read-only layers and SQL
//!   normalisation against raw rusqlite on the Spider dev gold queries.

pub mod error;
pub mod machine;
pub mod sql_overhead;

pub use error::{BenchError, BenchResult};

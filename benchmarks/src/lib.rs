//! learnat-benchmarks: dataset loaders, the evaluation runner, metrics, reports and the
//! benchmarks behind `learnat bench`.
//!
//! - [`machine`]: a description of the machine a benchmark ran on, printed with every result.

pub mod error;
pub mod machine;

pub use error::{BenchError, BenchResult};

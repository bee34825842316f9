//! learnat-benchmarks: dataset loaders, the parallel evaluation runner, metrics and reports.
//!
//! Empty so far: see `ARCHITECTURE.md` for what lands here.

//! Locating the shared benchmark data (`../shared` beside the repository).
//!
//! Spider, BIRD and the parity fixtures are never copied into the project; tests, benchmarks and
//! CLI defaults find them here.

use std::path::PathBuf;

/// The shared directory: `$LEARNAT_SHARED` when set, else `../shared` beside the repository this
/// crate was built from, else `../shared` relative to the working directory. `None` when none of
/// these holds a `data/` folder.
pub fn shared_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("LEARNAT_SHARED").map(PathBuf::from),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared"
        ))),
        Some(PathBuf::from("../shared")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| dir.join("data").is_dir())
}

/// `shared_dir()/data`, if present.
pub fn shared_data_dir() -> Option<PathBuf> {
    shared_dir().map(|dir| dir.join("data"))
}

/// For tests: the shared data directory, or `None` after printing why the test is skipped.
/// Under CI (`CI` set) a missing directory is a failure, not a skip.
pub fn shared_data_or_skip(test: &str) -> Option<PathBuf> {
    match shared_data_dir() {
        Some(dir) => Some(dir),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: ../shared/data not found (set LEARNAT_SHARED); CI must have it")
        }
        None => {
            eprintln!("skipping {test}: ../shared/data not found (set LEARNAT_SHARED)");
            None
        }
    }
}

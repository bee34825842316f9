//! The JSONL checkpoint that makes `learnat eval` resumable.
//!
//! `<out>/checkpoint.jsonl` starts with a header line holding the [`RunFingerprint`] (data set,
//! question-set hash, prediction source, metric, timeout, VES repetitions); every further line
//! is one finished [`QuestionRecord`], written with a single `write` call as soon as the question
//! finishes. On a restart with the same command, the records already there are kept and only
//! the other questions run. A last line without its newline (the process was killed while
//! writing it) is cut off and that question runs again; a damaged line elsewhere is skipped with
//! a warning (that question runs again); a second record for a question already seen is
//! ignored. A checkpoint whose fingerprint differs belongs to another run: resuming it is
//! refused with the differing fields named.
//!
//! Questions left out because their database is missing are not checkpointed: they are
//! re-checked on every run, so adding the database later and re-running evaluates them.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{BenchError, BenchResult};
use crate::report::QuestionRecord;

/// What identifies a run: a checkpoint resumes only a run with an equal fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFingerprint {
    /// Data set kind.
    pub dataset: String,
    /// Split.
    pub split: String,
    /// Number of questions.
    pub questions: usize,
    /// [`crate::dataset::Dataset::content_sha256`].
    pub questions_sha256: String,
    /// [`crate::predictions::PredictionSource::fingerprint`].
    pub predictions: String,
    /// Metric name.
    pub metric: String,
    /// Per-query timeout in milliseconds (it decides timeout verdicts).
    pub timeout_ms: u64,
    /// VES repetitions (0 unless the metric is VES).
    pub ves_iterations: usize,
}

impl RunFingerprint {
    /// The fields that differ from `other`, as "name: this vs other".
    fn differences(&self, other: &RunFingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} (checkpoint) vs {b} (this run)"));
            }
        };
        check("dataset", other.dataset.clone(), self.dataset.clone());
        check("split", other.split.clone(), self.split.clone());
        check(
            "questions",
            other.questions.to_string(),
            self.questions.to_string(),
        );
        check(
            "questions sha256",
            other.questions_sha256.clone(),
            self.questions_sha256.clone(),
        );
        check(
            "predictions",
            other.predictions.clone(),
            self.predictions.clone(),
        );
        check("metric", other.metric.clone(), self.metric.clone());
        check(
            "timeout ms",
            other.timeout_ms.to_string(),
            self.timeout_ms.to_string(),
        );
        check(
            "ves iterations",
            other.ves_iterations.to_string(),
            self.ves_iterations.to_string(),
        );
        out
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    learnat_checkpoint: u32,
    fingerprint: RunFingerprint,
}

/// An open checkpoint, appended to by the worker threads.
pub struct Checkpoint {
    path: PathBuf,
    file: Mutex<File>,
}

/// What [`Checkpoint::open`] found.
pub struct Resumed {
    /// The checkpoint, ready for appending.
    pub checkpoint: Checkpoint,
    /// Records of questions finished by earlier invocations (at most one per question).
    pub records: Vec<QuestionRecord>,
    /// Lines that were skipped, for stderr.
    pub warnings: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint file of an output directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("checkpoint.jsonl")
    }

    /// Open (or create) the checkpoint in `dir` for a run with `fingerprint` over
    /// `question_count` questions.
    pub fn open(
        dir: &Path,
        fingerprint: &RunFingerprint,
        question_count: usize,
    ) -> BenchResult<Resumed> {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::write(dir, e))?;
        let path = Checkpoint::path_in(dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(BenchError::read(&path, e)),
        };
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        // Only complete lines count; the end of the last complete line is where appending resumes.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            warnings.push(format!(
                "'{}': the last line was cut off (the previous run was interrupted while writing it); that question runs again",
                path.display()
            ));
        }
        let mut lines = bytes[..complete]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty());
        let header_ok = match lines.next() {
            None => false,
            Some(first) => {
                let header: Header = serde_json::from_slice(first).map_err(|_| {
                    BenchError::Invalid(format!(
                        "'{}' is not a learnat eval checkpoint; choose another --out directory or delete the file",
                        path.display()
                    ))
                })?;
                let differences = fingerprint.differences(&header.fingerprint);
                if !differences.is_empty() {
                    return Err(BenchError::Invalid(format!(
                        "'{}' holds the checkpoint of a different run ({}); use another --out directory, or delete the file to start this run from scratch",
                        path.display(),
                        differences.join("; ")
                    )));
                }
                true
            }
        };
        let mut seen = HashSet::new();
        for (line_number, line) in lines.enumerate().map(|(i, l)| (i + 2, l)) {
            match serde_json::from_slice::<QuestionRecord>(line) {
                Ok(record) if record.index < question_count => {
                    if seen.insert(record.index) {
                        records.push(record);
                    }
                }
                Ok(record) => warnings.push(format!(
                    "'{}' line {line_number}: question index {} is beyond the {question_count} questions; ignored",
                    path.display(),
                    record.index
                )),
                Err(e) => warnings.push(format!(
                    "'{}' line {line_number} is damaged ({e}); that question runs again",
                    path.display()
                )),
            }
        }
        let file = if header_ok {
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| BenchError::write(&path, e))?;
            // Cut a torn last line so the next record starts on a line of its own.
            file.set_len(complete as u64)
                .map_err(|e| BenchError::write(&path, e))?;
            let mut file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(|e| BenchError::write(&path, e))?;
            file.flush().map_err(|e| BenchError::write(&path, e))?;
            file
        } else {
            let mut file = File::create(&path).map_err(|e| BenchError::write(&path, e))?;
            let mut header = serde_json::to_vec(&Header {
                learnat_checkpoint: 1,
                fingerprint: fingerprint.clone(),
            })
            .map_err(|e| {
                BenchError::Invalid(format!("cannot encode the checkpoint header: {e}"))
            })?;
            header.push(b'\n');
            file.write_all(&header)
                .map_err(|e| BenchError::write(&path, e))?;
            file
        };
        Ok(Resumed {
            checkpoint: Checkpoint {
                path,
                file: Mutex::new(file),
            },
            records,
            warnings,
        })
    }

    /// Append one finished question (one `write` of one whole line).
    pub fn append(&self, record: &QuestionRecord) -> BenchResult<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| BenchError::Invalid(format!("cannot encode a checkpoint record: {e}")))?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(&line)
            .map_err(|e| BenchError::write(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;

    fn fingerprint() -> RunFingerprint {
        RunFingerprint {
            dataset: "spider".into(),
            split: "dev".into(),
            questions: 3,
            questions_sha256: "q".into(),
            predictions: "file sha256:p".into(),
            metric: "test-suite".into(),
            timeout_ms: 60_000,
            ves_iterations: 0,
        }
    }

    fn record(index: usize) -> QuestionRecord {
        QuestionRecord::new(index, &index.to_string(), "d", "easy", Verdict::Correct)
    }

    #[test]
    fn records_survive_a_restart_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let first = Checkpoint::open(dir.path(), &fingerprint(), 3).unwrap();
        assert!(first.records.is_empty());
        first.checkpoint.append(&record(0)).unwrap();
        first.checkpoint.append(&record(2)).unwrap();
        drop(first);
        // Simulate a kill in the middle of writing question 1's line.
        let path = Checkpoint::path_in(dir.path());
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"index\":1,\"id\":\"1\",\"db_");
        std::fs::write(&path, &text).unwrap();

        let second = Checkpoint::open(dir.path(), &fingerprint(), 3).unwrap();
        let indexes: Vec<usize> = second.records.iter().map(|r| r.index).collect();
        assert_eq!(indexes, vec![0, 2]);
        assert!(
            second.warnings[0].contains("cut off"),
            "{:?}",
            second.warnings
        );
        second.checkpoint.append(&record(1)).unwrap();
        // A duplicate line (never written by the runner, but possible by hand) is not counted twice.
        second.checkpoint.append(&record(0)).unwrap();
        drop(second);

        let third = Checkpoint::open(dir.path(), &fingerprint(), 3).unwrap();
        let mut indexes: Vec<usize> = third.records.iter().map(|r| r.index).collect();
        indexes.sort();
        assert_eq!(indexes, vec![0, 1, 2]);
        assert!(third.warnings.is_empty(), "{:?}", third.warnings);
    }

    #[test]
    fn another_runs_checkpoint_is_refused_with_the_difference_named() {
        let dir = tempfile::tempdir().unwrap();
        drop(Checkpoint::open(dir.path(), &fingerprint(), 3).unwrap());
        let mut other = fingerprint();
        other.predictions = "file sha256:other".into();
        let error = Checkpoint::open(dir.path(), &other, 3)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("different run"), "{error}");
        assert!(
            error.contains(
                "predictions: file sha256:p (checkpoint) vs file sha256:other (this run)"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_middle_line_is_skipped_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opened = Checkpoint::open(dir.path(), &fingerprint(), 3).unwrap();
        opened.checkpoint.append(&record(0)).unwrap();
        drop(opened);
        let path = Checkpoint::path_in(dir.path());
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("garbage\n");
        std::fs::write(&path, &text).unwrap();
        let again = Checkpoint::open(dir.path(), &fingerprint(), 3).unwrap();
        assert_eq!(again.records.len(), 1);
        assert!(
            again.warnings[0].contains("line 3 is damaged"),
            "{:?}",
            again.warnings
        );

        std::fs::write(&path, "hello\n").unwrap();
        let error = Checkpoint::open(dir.path(), &fingerprint(), 3)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("not a learnat eval checkpoint"), "{error}");
    }
}

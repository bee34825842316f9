//! Where predicted SQL comes from: a file in the official one-SQL-per-line format or JSONL with
//! ids ([`load_predictions`]), or a generator called per question ([`GeneratedPredictions`]),
//! both behind the [`PredictionSource`] trait the runner asks.
//!
//! Reading an official predictions file follows the official scorers: line `i` (1-based) is the
//! prediction of question `i - 1`; surrounding whitespace is stripped and a TAB and what follows
//! it are cut (the official format may append `\t<db_id>`). Problems are handled so that one bad
//! line costs one question, not the run:
//! - an empty line, or a line that is not valid UTF-8, is that question's prediction failing:
//!   the question is scored wrong with error kind `empty_prediction` / `encoding`, and a warning
//!   names the line numbers;
//! - blank lines at the very end of the file are ignored (an editor's trailing newlines);
//! - a different number of lines than questions is an error by default, because it usually means
//!   the file belongs to another split or lost a line somewhere, which shifts every later
//!   prediction onto the wrong question. With `allow_count_mismatch` the run goes ahead: missing
//!   lines are scored wrong (`missing_prediction`) and extra lines are ignored, with a warning.
//!
//! JSONL predictions have one object per line: `{"id": …, "sql": "…"}`, where the key is `id`
//! or `question_id` (matched against [`Question::id`]) or `index` (0-based position). Such a
//! file may list questions in any order; a line that is not JSON, an unknown id or a duplicate
//! is an error (it cannot be attributed to a question), a missing question follows the count
//! rule above.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{Question, hex};
use crate::error::{BenchError, BenchResult};

/// The prediction for one question, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prediction {
    /// Predicted SQL, as given.
    Sql(String),
    /// No usable SQL: the question is scored wrong with this error kind and message.
    Problem { kind: String, message: String },
}

impl Prediction {
    fn problem(kind: &str, message: String) -> Prediction {
        Prediction::Problem {
            kind: kind.to_string(),
            message,
        }
    }
}

/// Supplies predictions to the runner. Called on worker threads, possibly concurrently, once per
/// question that has no checkpointed result yet.
pub trait PredictionSource: Sync {
    /// A stable description of where the predictions come from, part of the checkpoint
    /// fingerprint: a resumed run must get its predictions from the same place.
    fn fingerprint(&self) -> String;

    /// A short human-readable description for reports.
    fn describe(&self) -> String;

    /// The prediction for `question`.
    fn predict(&self, question: &Question) -> Prediction;

    /// Problems met while preparing the predictions, passed on to the report.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// How a predictions file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictionFormat {
    /// JSONL when the name ends in `.jsonl` / `.json` or the first non-blank line starts with
    /// `{`, else one SQL per line.
    Auto,
    /// The official format: one SQL per line.
    Lines,
    /// One JSON object per line with an id and `sql`.
    Jsonl,
}

/// Predictions read from a file, one per question, in question order.
#[derive(Debug, Clone)]
pub struct FilePredictions {
    /// The file that was read.
    pub path: PathBuf,
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// One entry per question (same index).
    pub predictions: Vec<Prediction>,
    /// What was tolerated while reading (empty lines, count mismatch allowed, ...), for stderr
    /// and the report.
    pub warnings: Vec<String>,
}

impl PredictionSource for FilePredictions {
    fn fingerprint(&self) -> String {
        format!("file sha256:{}", self.sha256)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn predict(&self, question: &Question) -> Prediction {
        self.predictions
            .get(question.index)
            .cloned()
            .unwrap_or_else(|| {
                Prediction::problem(
                    "missing_prediction",
                    format!("no prediction for question {}", question.index),
                )
            })
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// Read `path` as predictions for `questions`. See the module docs for the rules.
pub fn load_predictions(
    path: &Path,
    format: PredictionFormat,
    questions: &[Question],
    allow_count_mismatch: bool,
) -> BenchResult<FilePredictions> {
    let bytes = std::fs::read(path).map_err(|e| BenchError::read(path, e))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let jsonl = match format {
        PredictionFormat::Lines => false,
        PredictionFormat::Jsonl => true,
        PredictionFormat::Auto => {
            let name = path.to_string_lossy();
            name.ends_with(".jsonl")
                || name.ends_with(".json")
                || bytes
                    .split(|&b| b == b'\n')
                    .find(|line| !line.trim_ascii().is_empty())
                    .is_some_and(|line| line.trim_ascii().starts_with(b"{"))
        }
    };
    let (predictions, warnings) = if jsonl {
        parse_jsonl(path, &bytes, questions, allow_count_mismatch)?
    } else {
        parse_lines(path, &bytes, questions.len(), allow_count_mismatch)?
    };
    Ok(FilePredictions {
        path: path.to_path_buf(),
        sha256,
        predictions,
        warnings,
    })
}

/// "12, 40, 77" — the first few line numbers of a list, with a count of the rest.
fn line_list(lines: &[usize]) -> String {
    let shown: Vec<String> = lines.iter().take(10).map(|l| l.to_string()).collect();
    let rest = lines.len().saturating_sub(10);
    if rest > 0 {
        format!("{} and {rest} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn count_mismatch(path: &Path, found: usize, expected: usize, what: &str) -> BenchError {
    BenchError::Invalid(format!(
        "predictions file '{}' has {found} {what} but the data set has {expected} questions \
         (line i must be the prediction of question i); check that it belongs to this split, or pass \
         --allow-count-mismatch to score missing predictions as wrong and ignore extra ones",
        path.display()
    ))
}

fn parse_lines(
    path: &Path,
    bytes: &[u8],
    expected: usize,
    allow_count_mismatch: bool,
) -> BenchResult<(Vec<Prediction>, Vec<String>)> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // The final newline ends the last line rather than starting an empty one.
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    // Blank lines at the very end, beyond the question count, are an editor's, not predictions.
    let mut trailing_blank = 0;
    while lines.len() > expected && lines.last().is_some_and(|l| l.trim_ascii().is_empty()) {
        lines.pop();
        trailing_blank += 1;
    }
    let mut warnings = Vec::new();
    if trailing_blank > 0 {
        warnings.push(format!(
            "ignored {trailing_blank} blank lines at the end of '{}'",
            path.display()
        ));
    }
    if lines.len() != expected {
        if !allow_count_mismatch {
            return Err(count_mismatch(path, lines.len(), expected, "lines"));
        }
        warnings.push(if lines.len() < expected {
            format!(
                "'{}' has {} lines for {expected} questions: questions {}..{} have no prediction and are scored wrong (missing_prediction)",
                path.display(),
                lines.len(),
                lines.len(),
                expected - 1
            )
        } else {
            format!(
                "'{}' has {} lines for {expected} questions: lines {}..{} are ignored",
                path.display(),
                lines.len(),
                expected + 1,
                lines.len()
            )
        });
    }
    let (mut empty, mut garbled) = (Vec::new(), Vec::new());
    let mut predictions = Vec::with_capacity(expected);
    for index in 0..expected {
        let line_number = index + 1;
        let Some(line) = lines.get(index) else {
            predictions.push(Prediction::problem(
                "missing_prediction",
                format!("the predictions file has no line {line_number}"),
            ));
            continue;
        };
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(e) => {
                garbled.push(line_number);
                predictions.push(Prediction::problem(
                    "encoding",
                    format!(
                        "prediction line {line_number} is not valid UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                ));
                continue;
            }
        };
        // As the official scorers: strip, then keep what precedes the first TAB.
        let sql = text.trim().split('\t').next().unwrap_or("").trim_end();
        if sql.is_empty() {
            empty.push(line_number);
            predictions.push(Prediction::problem(
                "empty_prediction",
                format!("prediction line {line_number} is empty"),
            ));
        } else {
            predictions.push(Prediction::Sql(sql.to_string()));
        }
    }
    if !empty.is_empty() {
        warnings.push(format!(
            "{} empty prediction lines in '{}' (line {}): scored wrong (empty_prediction)",
            empty.len(),
            path.display(),
            line_list(&empty)
        ));
    }
    if !garbled.is_empty() {
        warnings.push(format!(
            "{} prediction lines in '{}' are not valid UTF-8 (line {}): scored wrong (encoding)",
            garbled.len(),
            path.display(),
            line_list(&garbled)
        ));
    }
    Ok((predictions, warnings))
}

fn parse_jsonl(
    path: &Path,
    bytes: &[u8],
    questions: &[Question],
    allow_count_mismatch: bool,
) -> BenchResult<(Vec<Prediction>, Vec<String>)> {
    let by_id: HashMap<&str, usize> = questions.iter().map(|q| (q.id.as_str(), q.index)).collect();
    let mut slots: Vec<Option<Prediction>> = vec![None; questions.len()];
    let mut seen_lines: Vec<usize> = vec![0; questions.len()];
    for (line_index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = line_index + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let error = |message: String| BenchError::Format {
            path: path.to_path_buf(),
            line: line_number,
            message,
        };
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(line)
            .map_err(|e| {
                error(format!(
                    "not a JSON object ({e}); expected {{\"id\": ..., \"sql\": \"...\"}}"
                ))
            })?;
        let index = if let Some(position) = object.get("index") {
            position
                .as_u64()
                .map(|i| i as usize)
                .filter(|&i| i < questions.len())
                .ok_or_else(|| {
                    error(format!(
                        "`index` {position} is not a question position (0..{})",
                        questions.len()
                    ))
                })?
        } else {
            let id = ["id", "question_id"]
                .iter()
                .find_map(|key| match object.get(*key) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or_else(|| error("no `id`, `question_id` or `index` field".to_string()))?;
            *by_id
                .get(id.as_str())
                .ok_or_else(|| error(format!("no question has id '{id}'")))?
        };
        if seen_lines[index] != 0 {
            return Err(error(format!(
                "a second prediction for question {index} (the first is on line {})",
                seen_lines[index]
            )));
        }
        seen_lines[index] = line_number;
        slots[index] = Some(match object.get("sql") {
            Some(serde_json::Value::String(sql)) if !sql.trim().is_empty() => {
                Prediction::Sql(sql.trim().to_string())
            }
            _ => Prediction::problem(
                "empty_prediction",
                format!("prediction line {line_number} has no SQL (`sql`)"),
            ),
        });
    }
    let missing: Vec<usize> = (0..questions.len())
        .filter(|&i| slots[i].is_none())
        .collect();
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        if !allow_count_mismatch {
            return Err(count_mismatch(
                path,
                questions.len() - missing.len(),
                questions.len(),
                "predictions",
            ));
        }
        warnings.push(format!(
            "'{}' has no prediction for {} questions (index {}): scored wrong (missing_prediction)",
            path.display(),
            missing.len(),
            line_list(&missing)
        ));
    }
    let predictions = slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| {
            slot.unwrap_or_else(|| {
                Prediction::problem(
                    "missing_prediction",
                    format!("no prediction for question {index}"),
                )
            })
        })
        .collect();
    Ok((predictions, warnings))
}

/// The future a generator returns: the predicted SQL, or a message saying why there is none.
pub type GenerationFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Predictions made on demand by an async generator (a model and a strategy), one call per
/// question that the checkpoint does not already hold. The runner's worker threads are plain
/// threads, so each call is driven to completion with the given runtime handle; at most `jobs`
/// generations run at once.
pub struct GeneratedPredictions<F>
where
    F: Fn(Question) -> GenerationFuture + Sync,
{
    runtime: tokio::runtime::Handle,
    generate: F,
    fingerprint: String,
}

impl<F> GeneratedPredictions<F>
where
    F: Fn(Question) -> GenerationFuture + Sync,
{
    /// `fingerprint` must identify the generator (model, strategy, settings) so a resumed run
    /// cannot mix predictions of two generators.
    pub fn new(
        runtime: tokio::runtime::Handle,
        fingerprint: impl Into<String>,
        generate: F,
    ) -> Self {
        GeneratedPredictions {
            runtime,
            generate,
            fingerprint: fingerprint.into(),
        }
    }
}

impl<F> PredictionSource for GeneratedPredictions<F>
where
    F: Fn(Question) -> GenerationFuture + Sync,
{
    fn fingerprint(&self) -> String {
        format!("generator {}", self.fingerprint)
    }

    fn describe(&self) -> String {
        self.fingerprint.clone()
    }

    fn predict(&self, question: &Question) -> Prediction {
        match self.runtime.block_on((self.generate)(question.clone())) {
            Ok(sql) if !sql.trim().is_empty() => Prediction::Sql(sql.trim().to_string()),
            Ok(_) => Prediction::problem(
                "empty_prediction",
                "the generator returned no SQL".to_string(),
            ),
            Err(message) => Prediction::problem("generation", message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn questions(n: usize) -> Vec<Question> {
        (0..n)
            .map(|index| Question {
                index,
                id: format!("q{index}"),
                db_id: "d".into(),
                question: "?".into(),
                evidence: None,
                gold_sql: "SELECT 1".into(),
                difficulty: "easy".into(),
            })
            .collect()
    }

    fn load(bytes: &[u8], n: usize, allow: bool) -> BenchResult<FilePredictions> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sql");
        std::fs::write(&path, bytes).unwrap();
        load_predictions(&path, PredictionFormat::Auto, &questions(n), allow)
    }

    #[test]
    fn official_lines_are_stripped_and_cut_at_the_first_tab() {
        let loaded = load(b"  SELECT a FROM t\tdb_1\r\nSELECT 2\n", 2, false).unwrap();
        assert_eq!(
            loaded.predictions[0],
            Prediction::Sql("SELECT a FROM t".into())
        );
        assert_eq!(loaded.predictions[1], Prediction::Sql("SELECT 2".into()));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.sha256.len(), 64);
    }

    #[test]
    fn empty_and_non_utf8_lines_are_wrong_predictions_with_line_numbers() {
        let loaded = load(b"SELECT 1\n\nSELECT \xff\xfe\n", 3, false).unwrap();
        assert!(
            matches!(&loaded.predictions[1], Prediction::Problem { kind, .. } if kind == "empty_prediction")
        );
        match &loaded.predictions[2] {
            Prediction::Problem { kind, message } => {
                assert_eq!(kind, "encoding");
                assert!(
                    message.contains("line 3") && message.contains("offset 7"),
                    "{message}"
                );
            }
            other => panic!("expected an encoding problem, got {other:?}"),
        }
        let warnings = loaded.warnings.join("\n");
        assert!(
            warnings.contains("1 empty prediction lines") && warnings.contains("(line 2)"),
            "{warnings}"
        );
        assert!(warnings.contains("not valid UTF-8 (line 3)"), "{warnings}");
    }

    #[test]
    fn line_count_mismatch_is_an_error_unless_allowed() {
        let error = load(b"SELECT 1\nSELECT 2\n", 3, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("has 2 lines but the data set has 3 questions"),
            "{error}"
        );
        assert!(error.contains("--allow-count-mismatch"), "{error}");
        let loaded = load(b"SELECT 1\nSELECT 2\n", 3, true).unwrap();
        assert!(
            matches!(&loaded.predictions[2], Prediction::Problem { kind, .. } if kind == "missing_prediction")
        );
        let loaded = load(b"SELECT 1\nSELECT 2\nSELECT 3\n", 2, true).unwrap();
        assert_eq!(loaded.predictions.len(), 2);
        assert!(
            loaded.warnings[0].contains("lines 3..3 are ignored"),
            "{:?}",
            loaded.warnings
        );
        // Trailing blank lines are not predictions.
        assert_eq!(
            load(b"SELECT 1\nSELECT 2\n\n\n", 2, false)
                .unwrap()
                .predictions
                .len(),
            2
        );
    }

    #[test]
    fn jsonl_predictions_match_ids_in_any_order() {
        let text = b"{\"id\": \"q1\", \"sql\": \"SELECT 11\"}\n{\"index\": 0, \"sql\": \"SELECT 10\"}\n{\"question_id\": \"q2\", \"sql\": null}\n";
        let loaded = load(text, 3, false).unwrap();
        assert_eq!(loaded.predictions[0], Prediction::Sql("SELECT 10".into()));
        assert_eq!(loaded.predictions[1], Prediction::Sql("SELECT 11".into()));
        assert!(
            matches!(&loaded.predictions[2], Prediction::Problem { kind, .. } if kind == "empty_prediction")
        );

        let error = load(b"{\"id\": \"nope\", \"sql\": \"SELECT 1\"}\n", 1, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 1") && error.contains("no question has id 'nope'"),
            "{error}"
        );
        let error = load(
            b"{\"index\": 0, \"sql\": \"a\"}\n{\"index\": 0, \"sql\": \"b\"}\n",
            1,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("a second prediction for question 0 (the first is on line 1)"),
            "{error}"
        );
        let error = load(b"{\"index\": 0, \"sql\": \"a\"}\n{broken\n", 2, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2") && error.contains("not a JSON object"),
            "{error}"
        );
        let error = load(b"{\"index\": 0, \"sql\": \"a\"}\n", 2, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("has 1 predictions but the data set has 2"),
            "{error}"
        );
    }

    #[test]
    fn a_generator_is_driven_on_plain_threads() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let source = GeneratedPredictions::new(
            runtime.handle().clone(),
            "test-model/zero-shot",
            |q: Question| {
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    if q.index == 1 {
                        Err("model refused".to_string())
                    } else {
                        Ok(format!("SELECT {}", q.index))
                    }
                }) as GenerationFuture
            },
        );
        let qs = questions(2);
        let predictions: Vec<Prediction> = std::thread::scope(|s| {
            let handles: Vec<_> = qs.iter().map(|q| s.spawn(|| source.predict(q))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(predictions[0], Prediction::Sql("SELECT 0".into()));
        assert!(
            matches!(&predictions[1], Prediction::Problem { kind, message } if kind == "generation" && message == "model refused")
        );
        assert_eq!(source.fingerprint(), "generator test-model/zero-shot");
    }
}

//! Evaluation results: the per-question [`QuestionRecord`], the [`Summary`] computed from them,
//! and the renderings: the terminal text, `report.json`, `report.md` and (in
//! [`crate::report_html`]) `report.html`, plus `predictions.sql` in the official format.
//!
//! EX = correct / evaluable. A question is *not evaluable* when its database is missing (with
//! `--skip-missing`), cannot be opened, or its gold query fails or returns more than the gold
//! row cap: those say nothing about the prediction, so they are left out of the denominator and
//! listed with their reason (the official Spider scorer stops with an assertion on a failing
//! gold; BIRD's counts it wrong).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{BenchError, BenchResult};
use crate::gold_cache::{CacheStats, write_atomically};

/// The outcome of one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The prediction's result matches the gold's.
    Correct,
    /// The prediction ran but its result differs.
    Wrong,
    /// There was no usable prediction or it failed (parse, SQL error, refused, ...): see
    /// `error_kind`. Counts as not correct.
    Error,
    /// The prediction ran past the timeout and was interrupted. Counts as not correct.
    Timeout,
    /// Left out of EX: see `error_kind` (`database_missing`, `database_unreadable`,
    /// `gold_<kind>`, `gold_too_large`).
    NotEvaluable,
}

impl Verdict {
    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Wrong => "wrong",
            Verdict::Error => "error",
            Verdict::Timeout => "timeout",
            Verdict::NotEvaluable => "not_evaluable",
        }
    }
}

/// One finished question: a line of the checkpoint and an entry of report.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionRecord {
    /// Position in the data set (0-based).
    pub index: usize,
    /// The question's id.
    pub id: String,
    /// Its database.
    pub db_id: String,
    /// Its difficulty label.
    pub difficulty: String,
    /// The outcome.
    pub verdict: Verdict,
    /// For `error`, `timeout` and `not_evaluable`: a short machine-readable kind
    /// (`parse`, `sql`, `refused`, `timeout`, `resource_limit`, `row_limit`, `empty_prediction`,
    /// `encoding`, `missing_prediction`, `generation`, `database_missing`, `gold_sql`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// The message that goes with `error_kind`, or a note on a wrong verdict (e.g. rows capped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Engine time of the gold query, in milliseconds (from when it ran, if it came from the
    /// gold cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_ms: Option<f64>,
    /// Engine time of the prediction, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_ms: Option<f64>,
    /// Rows of the gold result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_rows: Option<usize>,
    /// Rows of the prediction's result that were read (see `predicted_rows_capped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_rows: Option<usize>,
    /// Reading stopped at the row cap: the prediction returned more than `predicted_rows` rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub predicted_rows_capped: bool,
    /// The gold result came from the on-disk gold cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gold_cached: bool,
    /// The predicted SQL, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<String>,
    /// VES only: the mean gold-time / predicted-time ratio over the repetitions (0 when wrong).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ves_time_ratio: Option<f64>,
}

impl QuestionRecord {
    /// A record with the question's identity and a verdict, and nothing measured yet.
    pub fn new(
        index: usize,
        id: &str,
        db_id: &str,
        difficulty: &str,
        verdict: Verdict,
    ) -> QuestionRecord {
        QuestionRecord {
            index,
            id: id.to_string(),
            db_id: db_id.to_string(),
            difficulty: difficulty.to_string(),
            verdict,
            error_kind: None,
            error: None,
            gold_ms: None,
            predicted_ms: None,
            gold_rows: None,
            predicted_rows: None,
            predicted_rows_capped: false,
            gold_cached: false,
            prediction: None,
            ves_time_ratio: None,
        }
    }

    /// Whether the question counts in the EX denominator.
    pub fn is_evaluable(&self) -> bool {
        self.verdict != Verdict::NotEvaluable
    }
}

/// EX of one difficulty level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    /// The label (`easy`, `simple`, ...), or `all`.
    pub level: String,
    /// Evaluable questions at this level.
    pub questions: usize,
    /// Correct ones.
    pub correct: usize,
    /// `correct / questions` (0 when there are none).
    pub ex: f64,
}

/// VES and R-VES (BIRD's valid efficiency scores) over the evaluable questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VesSummary {
    /// `100 · mean(sqrt(time_ratio))`, time_ratio 0 for questions not correct (BIRD dev's VES).
    pub ves: f64,
    /// `100 · mean(sqrt(reward(time_ratio)))` with the mini-dev reward buckets (R-VES).
    pub r_ves: f64,
    /// Timed repetitions of each correct pair.
    pub iterations: usize,
    /// VES per difficulty level.
    pub by_difficulty: Vec<(String, f64)>,
}

/// How the run went (not part of the scores: differs between an interrupted and a clean run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Wall time of this invocation, in seconds.
    pub wall_s: f64,
    /// Questions taken from the checkpoint of an earlier, interrupted invocation.
    pub resumed: usize,
    /// Questions evaluated by this invocation.
    pub evaluated: usize,
    /// Gold queries executed (not served by the gold cache).
    pub gold_executions: usize,
    /// Predictions executed.
    pub prediction_executions: usize,
    /// Executions saved because the same (database, SQL) ran already in this run (a prediction
    /// identical to its gold counts here).
    pub shared_executions: usize,
    /// Concurrency used.
    pub jobs: usize,
    /// Per-query timeout, in seconds.
    pub timeout_s: f64,
    /// The on-disk gold cache, when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gold_cache: Option<CacheStats>,
}

/// Everything a reader needs besides the per-question list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `spider`, `bird` or `jsonl`.
    pub dataset: String,
    /// The split.
    pub split: String,
    /// The question file.
    pub source: String,
    /// Where the predictions came from.
    pub predictions: String,
    /// `test-suite`, `bird` or `ves`.
    pub metric: String,
    /// The comparison rule in words.
    pub semantics: String,
    /// All questions of the data set.
    pub questions: usize,
    /// Questions in the EX denominator.
    pub evaluable: usize,
    /// Correct questions.
    pub correct: usize,
    /// `correct / evaluable`.
    pub ex: f64,
    /// EX per difficulty level, in the data set's order, then `all`.
    pub by_difficulty: Vec<LevelSummary>,
    /// Number of questions per verdict.
    pub verdicts: BTreeMap<String, usize>,
    /// Number of questions per error kind (errors, timeouts and not-evaluable ones).
    pub error_kinds: BTreeMap<String, usize>,
    /// Why questions were left out, e.g. `database missing: wta_1` → 62.
    pub not_evaluable: BTreeMap<String, usize>,
    /// VES / R-VES when the metric is `ves`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ves: Option<VesSummary>,
    /// Problems tolerated on the way (prediction lines, hardness), for the reader.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// How the run went.
    pub run: RunStats,
}

/// A finished evaluation: summary and per-question records in question order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The summary.
    pub summary: Summary,
    /// One record per question, in question order.
    pub questions: Vec<QuestionRecord>,
}

/// The fixed description of a run that goes into its summary.
#[derive(Debug, Clone)]
pub struct RunDescription {
    /// Where the predictions came from.
    pub predictions: String,
    /// The metric's name.
    pub metric: String,
    /// The comparison rule in words.
    pub semantics: String,
    /// Warnings to pass on to the reader.
    pub warnings: Vec<String>,
    /// VES repetitions, when the metric is VES.
    pub ves_iterations: Option<usize>,
}

fn ratio(correct: usize, questions: usize) -> f64 {
    if questions == 0 {
        0.0
    } else {
        correct as f64 / questions as f64
    }
}

/// The mini-dev R-VES reward of a time ratio.
pub fn r_ves_reward(time_ratio: f64) -> f64 {
    match time_ratio {
        r if r <= 0.0 => 0.0,
        r if r >= 2.0 => 1.25,
        r if r >= 1.0 => 1.0,
        r if r >= 0.5 => 0.75,
        r if r >= 0.25 => 0.5,
        _ => 0.25,
    }
}

impl Report {
    /// Summarise `records` (one per question of `dataset`, in order).
    pub fn build(
        dataset: &Dataset,
        records: Vec<QuestionRecord>,
        description: RunDescription,
        run: RunStats,
    ) -> Report {
        let evaluable: Vec<&QuestionRecord> = records.iter().filter(|r| r.is_evaluable()).collect();
        let correct = evaluable
            .iter()
            .filter(|r| r.verdict == Verdict::Correct)
            .count();
        let mut by_difficulty = Vec::new();
        for level in &dataset.difficulty_levels {
            let at_level: Vec<_> = evaluable
                .iter()
                .filter(|r| &r.difficulty == level)
                .collect();
            if at_level.is_empty() && !records.iter().any(|r| &r.difficulty == level) {
                continue;
            }
            let level_correct = at_level
                .iter()
                .filter(|r| r.verdict == Verdict::Correct)
                .count();
            by_difficulty.push(LevelSummary {
                level: level.clone(),
                questions: at_level.len(),
                correct: level_correct,
                ex: ratio(level_correct, at_level.len()),
            });
        }
        by_difficulty.push(LevelSummary {
            level: "all".to_string(),
            questions: evaluable.len(),
            correct,
            ex: ratio(correct, evaluable.len()),
        });
        let mut verdicts = BTreeMap::new();
        let mut error_kinds = BTreeMap::new();
        let mut not_evaluable = BTreeMap::new();
        for record in &records {
            *verdicts
                .entry(record.verdict.name().to_string())
                .or_insert(0) += 1;
            if let Some(kind) = &record.error_kind
                && record.verdict != Verdict::Wrong
            {
                *error_kinds.entry(kind.clone()).or_insert(0) += 1;
            }
            if record.verdict == Verdict::NotEvaluable {
                let reason = match record.error_kind.as_deref() {
                    Some("database_missing") => format!("database missing: {}", record.db_id),
                    Some("database_unreadable") => format!("database unreadable: {}", record.db_id),
                    Some(kind) => format!("gold query failed ({kind})"),
                    None => "not evaluable".to_string(),
                };
                *not_evaluable.entry(reason).or_insert(0) += 1;
            }
        }
        let ves = description.ves_iterations.map(|iterations| {
            let score = |subset: &[&&QuestionRecord], f: &dyn Fn(f64) -> f64| {
                if subset.is_empty() {
                    return 0.0;
                }
                100.0
                    * subset
                        .iter()
                        .map(|r| f(r.ves_time_ratio.unwrap_or(0.0)).sqrt())
                        .sum::<f64>()
                    / subset.len() as f64
            };
            let all: Vec<&&QuestionRecord> = evaluable.iter().collect();
            VesSummary {
                ves: score(&all, &|r| r),
                r_ves: score(&all, &r_ves_reward),
                iterations,
                by_difficulty: dataset
                    .difficulty_levels
                    .iter()
                    .map(|level| {
                        let subset: Vec<&&QuestionRecord> = evaluable
                            .iter()
                            .filter(|r| &r.difficulty == level)
                            .collect();
                        (level.clone(), score(&subset, &|r| r))
                    })
                    .collect(),
            }
        });
        Report {
            summary: Summary {
                dataset: dataset.kind.name().to_string(),
                split: dataset.split.clone(),
                source: dataset.source.display().to_string(),
                predictions: description.predictions,
                metric: description.metric,
                semantics: description.semantics,
                questions: records.len(),
                evaluable: evaluable.len(),
                correct,
                ex: ratio(correct, evaluable.len()),
                by_difficulty,
                verdicts,
                error_kinds,
                not_evaluable,
                ves,
                warnings: description.warnings,
                run,
            },
            questions: records,
        }
    }

    /// Read a `report.json` written by [`Report::write_files`].
    pub fn read(path: &Path) -> BenchResult<Report> {
        let bytes = std::fs::read(path).map_err(|e| BenchError::read(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| BenchError::Format {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("not a learnat eval report: {e}"),
        })
    }

    /// The terminal summary: `EX: 0.4630 (450/972)`, what was left out, the per-difficulty table
    /// and the error kinds.
    pub fn to_text(&self) -> String {
        let s = &self.summary;
        let mut out = format!("EX: {:.4} ({}/{})\n", s.ex, s.correct, s.evaluable);
        if s.evaluable < s.questions {
            let reasons: Vec<String> = s
                .not_evaluable
                .iter()
                .map(|(reason, n)| format!("{reason} ({n})"))
                .collect();
            let _ = writeln!(
                out,
                "{} of {} questions not evaluable, left out of EX: {}",
                s.questions - s.evaluable,
                s.questions,
                reasons.join("; ")
            );
        }
        if let Some(ves) = &s.ves {
            let _ = writeln!(
                out,
                "VES: {:.2}   R-VES: {:.2}   ({} timed repetitions per correct question)",
                ves.ves, ves.r_ves, ves.iterations
            );
        }
        let _ = writeln!(
            out,
            "\n{:<12} {:>9} {:>9} {:>8}",
            "difficulty", "questions", "correct", "EX"
        );
        for level in &s.by_difficulty {
            let _ = writeln!(
                out,
                "{:<12} {:>9} {:>9} {:>8.4}",
                level.level, level.questions, level.correct, level.ex
            );
        }
        let outcomes: Vec<String> = ["wrong", "error", "timeout"]
            .iter()
            .filter_map(|v| s.verdicts.get(*v).map(|n| format!("{v} {n}")))
            .collect();
        if !outcomes.is_empty() {
            let kinds: Vec<String> = s
                .error_kinds
                .iter()
                .filter(|(kind, _)| !is_not_evaluable_kind(kind))
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            let _ = write!(out, "\nnot correct: {}", outcomes.join(", "));
            if !kinds.is_empty() {
                let _ = write!(out, " (error kinds: {})", kinds.join(", "));
            }
            out.push('\n');
        }
        out
    }

    /// `report.md`: the summary tables and the questions that were not correct.
    pub fn to_markdown(&self) -> String {
        let s = &self.summary;
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# learnat eval: {} {} ({})\n",
            s.dataset, s.split, s.metric
        );
        let _ = writeln!(md, "- predictions: `{}`", s.predictions);
        let _ = writeln!(md, "- questions: `{}`", s.source);
        let _ = writeln!(md, "- semantics: {}", s.semantics);
        let _ = writeln!(md, "- **EX: {:.4} ({}/{})**", s.ex, s.correct, s.evaluable);
        if s.evaluable < s.questions {
            let reasons: Vec<String> = s
                .not_evaluable
                .iter()
                .map(|(r, n)| format!("{r} ({n})"))
                .collect();
            let _ = writeln!(
                md,
                "- not evaluable ({} of {}): {}",
                s.questions - s.evaluable,
                s.questions,
                reasons.join("; ")
            );
        }
        if let Some(ves) = &s.ves {
            let _ = writeln!(
                md,
                "- VES: {:.2}, R-VES: {:.2} ({} repetitions)",
                ves.ves, ves.r_ves, ves.iterations
            );
        }
        let _ = writeln!(
            md,
            "- run: {:.2} s wall, {} jobs, timeout {} s, {} resumed from the checkpoint, {} gold executions, {} prediction executions, {} shared",
            s.run.wall_s,
            s.run.jobs,
            s.run.timeout_s,
            s.run.resumed,
            s.run.gold_executions,
            s.run.prediction_executions,
            s.run.shared_executions
        );
        let _ = writeln!(
            md,
            "\n## EX by difficulty\n\n| difficulty | questions | correct | EX |\n| --- | ---: | ---: | ---: |"
        );
        for level in &s.by_difficulty {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.4} |",
                level.level, level.questions, level.correct, level.ex
            );
        }
        let _ = writeln!(
            md,
            "\n## Verdicts\n\n| verdict | questions |\n| --- | ---: |"
        );
        for (verdict, n) in &s.verdicts {
            let _ = writeln!(md, "| {verdict} | {n} |");
        }
        if !s.error_kinds.is_empty() {
            let _ = writeln!(
                md,
                "\n## Error kinds\n\n| kind | questions |\n| --- | ---: |"
            );
            for (kind, n) in &s.error_kinds {
                let _ = writeln!(md, "| {kind} | {n} |");
            }
        }
        if !s.warnings.is_empty() {
            let _ = writeln!(md, "\n## Warnings\n");
            for warning in &s.warnings {
                let _ = writeln!(md, "- {}", warning.replace('\n', " "));
            }
        }
        let failed: Vec<&QuestionRecord> = self
            .questions
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::Correct | Verdict::NotEvaluable))
            .collect();
        let _ = writeln!(md, "\n## Questions not correct ({})\n", failed.len());
        let _ = writeln!(
            md,
            "| # | id | db | difficulty | verdict | kind | note | prediction |\n| ---: | --- | --- | --- | --- | --- | --- | --- |"
        );
        for r in failed {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.index,
                md_cell(&r.id),
                md_cell(&r.db_id),
                r.difficulty,
                r.verdict.name(),
                r.error_kind.as_deref().unwrap_or(""),
                md_cell(r.error.as_deref().unwrap_or("")),
                r.prediction
                    .as_deref()
                    .map(|p| format!("`{}`", md_cell(p).replace('`', "'")))
                    .unwrap_or_default()
            );
        }
        md
    }

    /// `predictions.sql`: one line per question in question order, so the official scorers can
    /// re-score the run. Whitespace runs (newlines included) become one space. A question
    /// without a usable prediction gets a statement that fails on every database
    /// (`SELECT * FROM learnat_no_prediction`), so it stays wrong and the lines stay aligned.
    pub fn predictions_file(&self) -> String {
        let mut out = String::new();
        for record in &self.questions {
            match &record.prediction {
                Some(sql) => {
                    let mut first = true;
                    for word in sql.split_whitespace() {
                        if !first {
                            out.push(' ');
                        }
                        out.push_str(word);
                        first = false;
                    }
                }
                None => out.push_str("SELECT * FROM learnat_no_prediction"),
            }
            out.push('\n');
        }
        out
    }

    /// Write report.json, report.md, report.html and predictions.sql into `dir` (each written
    /// whole, then renamed into place).
    pub fn write_files(&self, dir: &Path) -> BenchResult<()> {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::write(dir, e))?;
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| BenchError::Invalid(format!("cannot encode the report as JSON: {e}")))?;
        write_atomically(&dir.join("report.json"), &json)?;
        write_atomically(&dir.join("report.md"), self.to_markdown().as_bytes())?;
        write_atomically(
            &dir.join("report.html"),
            crate::report_html::render(self).as_bytes(),
        )?;
        write_atomically(
            &dir.join("predictions.sql"),
            self.predictions_file().as_bytes(),
        )
    }
}

/// Kinds that describe why a question is not evaluable rather than how a prediction failed.
fn is_not_evaluable_kind(kind: &str) -> bool {
    kind.starts_with("gold_") || kind.starts_with("database_")
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dataset::{DatabaseFile, DatasetKind, Question};

    pub(crate) fn dataset(levels: &[&str], labels: &[&str]) -> Dataset {
        Dataset {
            kind: DatasetKind::Spider,
            split: "dev".into(),
            source: "dev.json".into(),
            questions: labels
                .iter()
                .enumerate()
                .map(|(index, label)| Question {
                    index,
                    id: index.to_string(),
                    db_id: "d".into(),
                    question: "?".into(),
                    evidence: None,
                    gold_sql: "SELECT 1".into(),
                    difficulty: label.to_string(),
                })
                .collect(),
            databases: vec![DatabaseFile {
                db_id: "d".into(),
                path: "d.sqlite".into(),
                present: true,
            }],
            question_database: vec![0; labels.len()],
            difficulty_levels: levels.iter().map(|s| s.to_string()).collect(),
            warnings: vec![],
            content_sha256: "x".into(),
        }
    }

    pub(crate) fn record(
        index: usize,
        difficulty: &str,
        verdict: Verdict,
        kind: Option<&str>,
    ) -> QuestionRecord {
        let mut r = QuestionRecord::new(index, &index.to_string(), "d", difficulty, verdict);
        r.error_kind = kind.map(str::to_string);
        r.prediction = Some(format!("SELECT\n  {index}"));
        r
    }

    pub(crate) fn description() -> RunDescription {
        RunDescription {
            predictions: "p.sql".into(),
            metric: "test-suite".into(),
            semantics: "test-suite".into(),
            warnings: vec![],
            ves_iterations: None,
        }
    }

    fn sample_report() -> Report {
        let data = dataset(&["easy", "hard"], &["easy", "easy", "hard", "hard", "easy"]);
        let mut missing = record(4, "easy", Verdict::NotEvaluable, Some("database_missing"));
        missing.prediction = None;
        let records = vec![
            record(0, "easy", Verdict::Correct, None),
            record(1, "easy", Verdict::Wrong, None),
            record(2, "hard", Verdict::Error, Some("sql")),
            record(3, "hard", Verdict::Timeout, Some("timeout")),
            missing,
        ];
        Report::build(&data, records, description(), RunStats::default())
    }

    #[test]
    fn summary_counts_ex_by_difficulty_without_the_not_evaluable() {
        let report = sample_report();
        let s = &report.summary;
        assert_eq!((s.questions, s.evaluable, s.correct), (5, 4, 1));
        assert_eq!(s.ex, 0.25);
        let easy = &s.by_difficulty[0];
        assert_eq!(
            (easy.level.as_str(), easy.questions, easy.correct, easy.ex),
            ("easy", 2, 1, 0.5)
        );
        assert_eq!(s.by_difficulty.last().unwrap().level, "all");
        assert_eq!(s.not_evaluable.get("database missing: d"), Some(&1));
        assert_eq!(s.error_kinds.get("sql"), Some(&1));
        assert_eq!(s.verdicts.get("timeout"), Some(&1));
    }

    #[test]
    fn text_output_starts_with_the_ex_line_and_names_what_was_left_out() {
        let text = sample_report().to_text();
        assert!(text.starts_with("EX: 0.2500 (1/4)\n"), "{text}");
        assert!(
            text.contains(
                "1 of 5 questions not evaluable, left out of EX: database missing: d (1)"
            ),
            "{text}"
        );
        assert!(
            text.contains("easy                 2         1   0.5000"),
            "{text}"
        );
        assert!(
            text.contains(
                "not correct: wrong 1, error 1, timeout 1 (error kinds: sql 1, timeout 1)"
            ),
            "{text}"
        );
    }

    #[test]
    fn predictions_file_has_one_line_per_question() {
        let file = sample_report().predictions_file();
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], "SELECT 0");
        assert_eq!(lines[4], "SELECT * FROM learnat_no_prediction");
    }

    #[test]
    fn report_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        report.write_files(dir.path()).unwrap();
        assert_eq!(
            Report::read(&dir.path().join("report.json")).unwrap(),
            report
        );
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(
            md.contains("**EX: 0.2500 (1/4)**") && md.contains("## Questions not correct (3)"),
            "{md}"
        );
        assert!(
            dir.path().join("report.html").is_file()
                && dir.path().join("predictions.sql").is_file()
        );
    }

    #[test]
    fn ves_scores_follow_the_official_formulas() {
        assert_eq!(r_ves_reward(0.0), 0.0);
        assert_eq!(r_ves_reward(3.0), 1.25);
        assert_eq!(r_ves_reward(1.0), 1.0);
        assert_eq!(r_ves_reward(0.6), 0.75);
        assert_eq!(r_ves_reward(0.3), 0.5);
        assert_eq!(r_ves_reward(0.1), 0.25);
        let data = dataset(&["simple"], &["simple", "simple"]);
        let mut fast = record(0, "simple", Verdict::Correct, None);
        fast.ves_time_ratio = Some(4.0);
        let mut wrong = record(1, "simple", Verdict::Wrong, None);
        wrong.ves_time_ratio = Some(0.0);
        let mut description = description();
        description.ves_iterations = Some(10);
        let report = Report::build(&data, vec![fast, wrong], description, RunStats::default());
        let ves = report.summary.ves.unwrap();
        assert!(
            (ves.ves - 100.0).abs() < 1e-9,
            "sqrt(4)·100 / 2 = 100, got {}",
            ves.ves
        );
        assert!((ves.r_ves - 100.0 * 1.25f64.sqrt() / 2.0).abs() < 1e-9);
    }
}

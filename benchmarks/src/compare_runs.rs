//! `learnat eval compare RUN_A RUN_B`: how two evaluations of the same questions differ —
//! overall and per-difficulty EX deltas and the questions that flipped either way.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::{BenchError, BenchResult};
use crate::report::{Report, Verdict};

/// Read a run: a run directory (its `report.json`) or a `report.json` path.
pub fn load_run(path: &Path) -> BenchResult<Report> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    if !file.exists() {
        return Err(BenchError::Invalid(format!(
            "'{}' has no report.json; pass an `learnat eval --out` directory or a report.json file",
            path.display()
        )));
    }
    Report::read(&file)
}

/// One side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct RunSide {
    /// The path given.
    pub run: String,
    /// Its predictions' source.
    pub predictions: String,
    /// Its metric.
    pub metric: String,
    /// Its EX.
    pub ex: f64,
    /// Correct questions.
    pub correct: usize,
    /// Evaluable questions.
    pub evaluable: usize,
}

/// EX of one level in both runs.
#[derive(Debug, Clone, Serialize)]
pub struct LevelDelta {
    /// The level (`all` last).
    pub level: String,
    /// Evaluable questions in A at this level.
    pub questions_a: usize,
    /// Evaluable questions in B at this level.
    pub questions_b: usize,
    /// EX in A.
    pub ex_a: f64,
    /// EX in B.
    pub ex_b: f64,
    /// `ex_b - ex_a`.
    pub delta: f64,
}

/// A question whose correctness differs between the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Flip {
    /// Position in the data set.
    pub index: usize,
    /// Question id.
    pub id: String,
    /// Database.
    pub db_id: String,
    /// Difficulty.
    pub difficulty: String,
    /// Verdict in A.
    pub verdict_a: Verdict,
    /// Verdict in B.
    pub verdict_b: Verdict,
}

/// The comparison of two runs.
#[derive(Debug, Clone, Serialize)]
pub struct RunComparison {
    /// Run A.
    pub a: RunSide,
    /// Run B.
    pub b: RunSide,
    /// `b.ex - a.ex`.
    pub delta_ex: f64,
    /// Per-level EX in both runs.
    pub by_difficulty: Vec<LevelDelta>,
    /// Not correct in A, correct in B.
    pub fixed: Vec<Flip>,
    /// Correct in A, not correct in B.
    pub broken: Vec<Flip>,
    /// Notes, e.g. different metrics.
    pub warnings: Vec<String>,
}

fn side(run: &str, report: &Report) -> RunSide {
    let s = &report.summary;
    RunSide {
        run: run.to_string(),
        predictions: s.predictions.clone(),
        metric: s.metric.clone(),
        ex: s.ex,
        correct: s.correct,
        evaluable: s.evaluable,
    }
}

/// Compare run `a` with run `b` (named `name_a` / `name_b` in the output). Both must cover the
/// same questions (same ids and databases, in the same order).
pub fn compare_runs(
    name_a: &str,
    a: &Report,
    name_b: &str,
    b: &Report,
) -> BenchResult<RunComparison> {
    if a.questions.len() != b.questions.len() {
        return Err(BenchError::Invalid(format!(
            "the runs cover different question sets: {name_a} has {} questions, {name_b} has {}",
            a.questions.len(),
            b.questions.len()
        )));
    }
    if let Some((qa, qb)) = a
        .questions
        .iter()
        .zip(&b.questions)
        .find(|(qa, qb)| qa.id != qb.id || qa.db_id != qb.db_id)
    {
        return Err(BenchError::Invalid(format!(
            "the runs cover different question sets: question {} is '{}' on {} in {name_a} but '{}' on {} in {name_b}",
            qa.index, qa.id, qa.db_id, qb.id, qb.db_id
        )));
    }
    let mut warnings = Vec::new();
    if a.summary.metric != b.summary.metric {
        warnings.push(format!(
            "the runs use different metrics ({} vs {}): deltas mix scoring rules",
            a.summary.metric, b.summary.metric
        ));
    }
    let mut by_difficulty = Vec::new();
    for level_a in &a.summary.by_difficulty {
        let level_b = b
            .summary
            .by_difficulty
            .iter()
            .find(|l| l.level == level_a.level);
        let (questions_b, ex_b) = level_b.map_or((0, 0.0), |l| (l.questions, l.ex));
        by_difficulty.push(LevelDelta {
            level: level_a.level.clone(),
            questions_a: level_a.questions,
            questions_b,
            ex_a: level_a.ex,
            ex_b,
            delta: ex_b - level_a.ex,
        });
    }
    let (mut fixed, mut broken) = (Vec::new(), Vec::new());
    for (qa, qb) in a.questions.iter().zip(&b.questions) {
        if !qa.is_evaluable() || !qb.is_evaluable() {
            continue;
        }
        let flip = || Flip {
            index: qa.index,
            id: qa.id.clone(),
            db_id: qa.db_id.clone(),
            difficulty: qa.difficulty.clone(),
            verdict_a: qa.verdict,
            verdict_b: qb.verdict,
        };
        match (
            qa.verdict == Verdict::Correct,
            qb.verdict == Verdict::Correct,
        ) {
            (false, true) => fixed.push(flip()),
            (true, false) => broken.push(flip()),
            _ => {}
        }
    }
    Ok(RunComparison {
        a: side(name_a, a),
        b: side(name_b, b),
        delta_ex: b.summary.ex - a.summary.ex,
        by_difficulty,
        fixed,
        broken,
        warnings,
    })
}

impl RunComparison {
    /// The terminal rendering.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, side) in [("A", &self.a), ("B", &self.b)] {
            let _ = writeln!(
                out,
                "{name}: {} — EX {:.4} ({}/{}), {}",
                side.run, side.ex, side.correct, side.evaluable, side.metric
            );
        }
        let _ = writeln!(
            out,
            "EX delta (B − A): {:+.4} ({:+} correct)\n",
            self.delta_ex,
            self.b.correct as i64 - self.a.correct as i64
        );
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>8}",
            "difficulty", "A EX", "B EX", "delta"
        );
        for level in &self.by_difficulty {
            let _ = writeln!(
                out,
                "{:<12} {:>8.4} {:>8.4} {:>+8.4}",
                level.level, level.ex_a, level.ex_b, level.delta
            );
        }
        for (title, flips) in [
            ("fixed (not correct in A, correct in B)", &self.fixed),
            ("broken (correct in A, not correct in B)", &self.broken),
        ] {
            let _ = writeln!(out, "\n{title}: {}", flips.len());
            for flip in flips {
                let _ = writeln!(
                    out,
                    "  #{:<5} id {:<8} {:<28} {:<12} {} -> {}",
                    flip.index,
                    flip.id,
                    flip.db_id,
                    flip.difficulty,
                    flip.verdict_a.name(),
                    flip.verdict_b.name()
                );
            }
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "\nnote: {warning}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::RunStats;
    use crate::report::tests::{dataset, description, record};

    fn run(verdicts: &[Verdict]) -> Report {
        let data = dataset(&["easy", "hard"], &["easy", "easy", "hard"]);
        let labels = ["easy", "easy", "hard"];
        let records = verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| record(i, labels[i], *v, None))
            .collect();
        Report::build(&data, records, description(), RunStats::default())
    }

    #[test]
    fn deltas_and_flips_both_ways() {
        let a = run(&[Verdict::Correct, Verdict::Wrong, Verdict::Wrong]);
        let b = run(&[Verdict::Error, Verdict::Correct, Verdict::Correct]);
        let comparison = compare_runs("a", &a, "b", &b).unwrap();
        assert!((comparison.delta_ex - (2.0 / 3.0 - 1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(
            comparison.fixed.iter().map(|f| f.index).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(comparison.broken.len(), 1);
        assert_eq!(comparison.broken[0].verdict_b, Verdict::Error);
        let hard = comparison
            .by_difficulty
            .iter()
            .find(|l| l.level == "hard")
            .unwrap();
        assert_eq!((hard.ex_a, hard.ex_b, hard.delta), (0.0, 1.0, 1.0));
        let text = comparison.to_text();
        assert!(
            text.contains("EX delta (B − A): +0.3333 (+1 correct)"),
            "{text}"
        );
        assert!(
            text.contains("fixed (not correct in A, correct in B): 2"),
            "{text}"
        );
    }

    #[test]
    fn different_question_sets_are_refused() {
        let a = run(&[Verdict::Correct, Verdict::Wrong, Verdict::Wrong]);
        let mut b = a.clone();
        b.questions[1].db_id = "other".into();
        let error = compare_runs("a", &a, "b", &b).unwrap_err().to_string();
        assert!(error.contains("question 1"), "{error}");
        b.questions.pop();
        assert!(compare_runs("a", &a, "b", &b).is_err());
        let error = load_run(Path::new("/nonexistent/run"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("has no report.json"), "{error}");
    }
}

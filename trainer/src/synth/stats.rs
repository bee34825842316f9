//! The run's report (`stats.json`), summed over every question record of the output folder.

use serde::{Deserialize, Serialize};

use super::output::QuestionRecord;
use super::search::{ClassCounts, SearchOptions};
use super::teacher::TeacherUsage;

/// Fractions of the distinct candidates by class. With AST-guided pruning the redundant and
/// invalid ones are pruned (never expanded); without it they are only counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassFractions {
    pub progressive: f64,
    pub redundant: f64,
    pub invalid: f64,
}

/// The report of a synthesis run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthStats {
    /// The teacher spec.
    pub teacher: String,
    /// Whether AST-guided pruning was on (false: the ablation).
    pub ast_pruning: bool,
    pub search: SearchOptions,
    /// Questions with a record (searched, or skipped with an error).
    pub questions: usize,
    /// Questions that could not be searched (missing database, failing gold SQL).
    pub errors: usize,
    pub solved: usize,
    /// `solved / (questions − errors)`.
    pub solved_fraction: f64,
    /// Mean steps of the correct trajectories.
    pub mean_depth: f64,
    pub candidates: u64,
    pub classes: ClassCounts,
    pub class_fractions: ClassFractions,
    /// The fractions of candidates pruned, per class (zero without pruning).
    pub pruned_fraction: ClassFractions,
    pub duplicates: u64,
    pub teacher_totals: TeacherTotals,
    pub sft_records: usize,
    pub pairs: usize,
    /// Pairs by rejected class.
    pub pairs_redundant: usize,
    pub pairs_invalid: usize,
    pub pairs_lower_reward: usize,
    /// Sum of the per-question search times (across resumed runs).
    pub question_seconds: f64,
    /// Wall time of the last invocation.
    pub wall_seconds: f64,
    /// Questions the last invocation skipped because an earlier run had finished them.
    pub skipped_done: usize,
}

/// Teacher cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TeacherTotals {
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub calls_per_question: f64,
    /// Calls of all questions divided by the solved ones.
    pub calls_per_solved: f64,
}

/// Pair counts by rejected class, as the caller read them from `pairs.jsonl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCounts {
    pub redundant: usize,
    pub invalid: usize,
    pub lower_reward: usize,
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

impl SynthStats {
    /// Sums `records`.
    pub fn from_records(
        teacher: &str,
        search: &SearchOptions,
        records: &[QuestionRecord],
        sft_records: usize,
        pairs: PairCounts,
        wall_seconds: f64,
        skipped_done: usize,
    ) -> SynthStats {
        let errors = records.iter().filter(|r| r.error.is_some()).count();
        let searched = records.len() - errors;
        let solved: Vec<&QuestionRecord> = records.iter().filter(|r| r.solved).collect();
        let mut classes = ClassCounts::default();
        let mut usage = TeacherUsage::default();
        for record in records {
            classes.absorb(&record.classes);
            usage.absorb(&record.usage);
        }
        let total = classes.total() as f64;
        let class_fractions = ClassFractions {
            progressive: ratio(classes.progressive as f64, total),
            redundant: ratio(classes.redundant as f64, total),
            invalid: ratio(classes.invalid as f64, total),
        };
        let pruned_fraction = if search.ast_pruning {
            ClassFractions {
                progressive: 0.0,
                ..class_fractions
            }
        } else {
            ClassFractions::default()
        };
        SynthStats {
            teacher: teacher.to_string(),
            ast_pruning: search.ast_pruning,
            search: search.clone(),
            questions: records.len(),
            errors,
            solved: solved.len(),
            solved_fraction: ratio(solved.len() as f64, searched as f64),
            mean_depth: ratio(
                solved.iter().map(|r| r.depth as f64).sum(),
                solved.len() as f64,
            ),
            candidates: classes.total(),
            classes,
            class_fractions,
            pruned_fraction,
            duplicates: records.iter().map(|r| r.duplicates).sum(),
            teacher_totals: TeacherTotals {
                calls: usage.calls,
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                calls_per_question: ratio(usage.calls as f64, searched as f64),
                calls_per_solved: ratio(usage.calls as f64, solved.len() as f64),
            },
            sft_records,
            pairs: pairs.redundant + pairs.invalid + pairs.lower_reward,
            pairs_redundant: pairs.redundant,
            pairs_invalid: pairs.invalid,
            pairs_lower_reward: pairs.lower_reward,
            question_seconds: records.iter().map(|r| r.seconds).sum(),
            wall_seconds,
            skipped_done,
        }
    }

    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let t = &self.teacher_totals;
        format!(
            "teacher {} · AST pruning {}\n\
             questions {} (errors {}) · solved {} ({:.1}%) · mean depth {:.2}\n\
             candidates {}: progressive {:.1}%, redundant {:.1}%, invalid {:.1}% · pruned: \
             redundant {:.1}%, invalid {:.1}% · duplicates {}\n\
             teacher calls {} ({:.2} per question, {:.2} per solved) · tokens {} prompt + {} \
             completion\n\
             SFT trajectories {} · pairs {} (redundant {}, invalid {}, lower reward {})\n\
             search time {:.1} s · wall time {:.1} s",
            self.teacher,
            if self.ast_pruning { "on" } else { "off" },
            self.questions,
            self.errors,
            self.solved,
            100.0 * self.solved_fraction,
            self.mean_depth,
            self.candidates,
            100.0 * self.class_fractions.progressive,
            100.0 * self.class_fractions.redundant,
            100.0 * self.class_fractions.invalid,
            100.0 * self.pruned_fraction.redundant,
            100.0 * self.pruned_fraction.invalid,
            self.duplicates,
            t.calls,
            t.calls_per_question,
            t.calls_per_solved,
            t.prompt_tokens,
            t.completion_tokens,
            self.sft_records,
            self.pairs,
            self.pairs_redundant,
            self.pairs_invalid,
            self.pairs_lower_reward,
            self.question_seconds,
            self.wall_seconds,
        )
    }
}

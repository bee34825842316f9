//! LearNAT's step scoring: node similarity, the step reward and the Progressive / Redundant /
//! Invalid classes of AST-guided pruning.

use super::containment::{ast_contains, new_nodes, node_set};
use super::ted::ted_similarity;
use super::tree::{SqlTree, sql_tree};
use crate::database::Dialect;

/// Node similarity: `|N(step) ∩ N(gold)| / max(|N(step)|, |N(gold)|)` on the multisets of
/// [`super::node_set`] (canonical subtree signatures). In [0, 1]; 1 exactly when the trees are
/// equal up to the order of conjuncts and tables; it grows as a step covers more of the gold and
/// shrinks with every node the step has that the gold lacks.
pub fn node_similarity(step: &SqlTree, gold: &SqlTree) -> f64 {
    let step_set = node_set(step);
    let gold_set = node_set(gold);
    let larger = step_set.len().max(gold_set.len());
    if larger == 0 {
        return 1.0;
    }
    step_set.intersection_size(&gold_set) as f64 / larger as f64
}

/// LearNAT's step reward: `α · node_similarity + (1 − α) · ted_similarity` between the step's
/// tree and the gold tree. `alpha` is clamped to [0, 1], so the reward is in [0, 1].
pub fn step_reward(step: &SqlTree, gold: &SqlTree, alpha: f64) -> f64 {
    let alpha = if alpha.is_nan() {
        0.5
    } else {
        alpha.clamp(0.0, 1.0)
    };
    alpha * node_similarity(step, gold) + (1.0 - alpha) * ted_similarity(step, gold)
}

/// The class AST-guided pruning gives a decomposition step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepClass {
    /// Parses, executes, is contained in the gold AST and adds nodes earlier steps lack: the
    /// search expands it.
    Progressive,
    /// Parses, executes and is contained, but adds nothing new.
    Redundant,
    /// Does not parse or execute, or is not contained in the gold AST.
    Invalid,
}

/// Classifies one step from SQL text. `executes` is whether the step ran without error (the
/// caller executes it); `earlier_steps` are the SubSQLs before it (those that do not parse are
/// ignored). A gold query that does not parse makes every step [`StepClass::Invalid`] (nothing
/// can be checked against it). See [`classify_step_trees`] for the rule.
pub fn classify_step(
    step_sql: &str,
    gold_sql: &str,
    earlier_steps: &[&str],
    executes: bool,
    dialect: Dialect,
) -> StepClass {
    if !executes {
        return StepClass::Invalid;
    }
    let (Ok(step), Ok(gold)) = (sql_tree(step_sql, dialect), sql_tree(gold_sql, dialect)) else {
        return StepClass::Invalid;
    };
    let earlier: Vec<SqlTree> = earlier_steps
        .iter()
        .filter_map(|sql| sql_tree(sql, dialect).ok())
        .collect();
    classify_step_trees(&step, &gold, &earlier, executes)
}

/// Classifies a parsed step (for callers that keep the gold tree across many steps):
/// [`StepClass::Invalid`] unless it executes and [`super::ast_contains`] holds;
/// [`StepClass::Redundant`] when [`super::new_nodes`] is empty; else
/// [`StepClass::Progressive`].
///
/// ```
/// use learnat_tools::Dialect;
/// use learnat_tools::sql::{StepClass, classify_step};
/// let gold = "SELECT name FROM singer WHERE age > 30 ORDER BY name";
/// let first = "SELECT name FROM singer WHERE age > 30";
/// assert_eq!(classify_step(first, gold, &[], true, Dialect::Sqlite), StepClass::Progressive);
/// assert_eq!(classify_step(first, gold, &[first], true, Dialect::Sqlite), StepClass::Redundant);
/// assert_eq!(classify_step(first, gold, &[], false, Dialect::Sqlite), StepClass::Invalid);
/// ```
pub fn classify_step_trees(
    step: &SqlTree,
    gold: &SqlTree,
    earlier_steps: &[SqlTree],
    executes: bool,
) -> StepClass {
    if !executes || !ast_contains(step, gold) {
        StepClass::Invalid
    } else if new_nodes(step, gold, earlier_steps).is_empty() {
        StepClass::Redundant
    } else {
        StepClass::Progressive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(sql: &str) -> SqlTree {
        sql_tree(sql, Dialect::Sqlite).unwrap()
    }

    const GOLD: &str = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid \
                        WHERE T2.year = 2014 ORDER BY T1.age DESC LIMIT 3";

    #[test]
    fn similarities_are_bounded_and_one_on_equal_trees() {
        let gold = tree(GOLD);
        assert!((node_similarity(&gold, &gold) - 1.0).abs() < 1e-12);
        assert!((step_reward(&gold, &gold, 0.5) - 1.0).abs() < 1e-12);
        let equivalent = tree(
            "select a.name from singer a join concert b on a.id = b.sid where b.year = 2014 \
             order by a.age desc limit 3",
        );
        assert!((step_reward(&equivalent, &gold, 0.3) - 1.0).abs() < 1e-12);
        for sql in [
            "SELECT 1",
            "SELECT name FROM singer",
            "SELECT x FROM y WHERE z IN (1, 2)",
        ] {
            let step = tree(sql);
            for alpha in [0.0, 0.5, 1.0, 7.0, -1.0] {
                let reward = step_reward(&step, &gold, alpha);
                assert!((0.0..1.0).contains(&reward), "{sql} α={alpha}: {reward}");
            }
        }
    }

    #[test]
    fn rewards_grow_as_steps_approach_the_gold() {
        let gold = tree(GOLD);
        let steps = [
            "SELECT name FROM singer",
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid",
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid \
             WHERE T2.year = 2014",
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid \
             WHERE T2.year = 2014 ORDER BY T1.age DESC",
            GOLD,
        ];
        let trees: Vec<SqlTree> = steps.iter().map(|sql| tree(sql)).collect();
        for pair in trees.windows(2) {
            assert!(node_similarity(&pair[0], &gold) < node_similarity(&pair[1], &gold));
            assert!(ted_similarity(&pair[0], &gold) < ted_similarity(&pair[1], &gold));
            assert!(step_reward(&pair[0], &gold, 0.5) < step_reward(&pair[1], &gold, 0.5));
        }
    }

    #[test]
    fn classification_follows_the_pruning_rule() {
        let dialect = Dialect::Sqlite;
        let first = "SELECT T2.sid FROM concert AS T2 WHERE T2.year = 2014";
        let second = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid \
                      WHERE T2.year = 2014";
        assert_eq!(
            classify_step(first, GOLD, &[], true, dialect),
            StepClass::Progressive
        );
        assert_eq!(
            classify_step(second, GOLD, &[first], true, dialect),
            StepClass::Progressive
        );
        // The same step again, or a part of an earlier step, adds nothing.
        assert_eq!(
            classify_step(first, GOLD, &[first], true, dialect),
            StepClass::Redundant
        );
        assert_eq!(
            classify_step("SELECT sid FROM concert", GOLD, &[first], true, dialect),
            StepClass::Redundant
        );
        // Not executing, not parsing, or leaving the gold's AST is invalid.
        assert_eq!(
            classify_step(first, GOLD, &[], false, dialect),
            StepClass::Invalid
        );
        assert_eq!(
            classify_step("SELEC sid FROM", GOLD, &[], true, dialect),
            StepClass::Invalid
        );
        assert_eq!(
            classify_step(
                "SELECT sid FROM concert WHERE year = 2015",
                GOLD,
                &[],
                true,
                dialect
            ),
            StepClass::Invalid
        );
        assert_eq!(
            classify_step(first, "not sql", &[], true, dialect),
            StepClass::Invalid
        );
    }

    #[test]
    fn step_class_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&StepClass::Progressive).unwrap(),
            "\"progressive\""
        );
    }
}

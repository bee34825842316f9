//! The judge: the only part of the search that sees the gold SQL. It executes a candidate step,
//! classifies it with the tools crate's AST-guided pruning, scores it with LearNAT's step reward
//! and checks whether its result matches the gold result (Spider test-suite semantics).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use learnat_agent::strategy::StepOutcome;
use learnat_tools::compare::Metric;
use learnat_tools::sql::{
    SqlTree, StepClass, classify_step_trees, normalize, sql_tree, step_reward,
};
use learnat_tools::{Database, ExecOptions, Value};

use super::error::{SynthError, SynthResult};

/// Rows shown to the teacher after a step (the decompose strategy's default).
const PREVIEW_ROWS: usize = 5;

/// What the judge says about one candidate step.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Progressive / Redundant / Invalid against the gold AST and the earlier steps.
    pub class: StepClass,
    /// `α · node_similarity + (1 − α) · ted_similarity` to the gold tree; 0 when the step does
    /// not parse.
    pub reward: f64,
    /// Whether the step's result equals the gold result (the trajectory is then correct).
    pub matches_gold: bool,
    /// What the teacher is shown before its next step (first rows, or the error).
    pub outcome: StepOutcome,
    /// The step's tree (for the pruning of later steps); `None` when it does not parse.
    pub tree: Option<SqlTree>,
    /// Canonical text, to recognise the same SQL written twice.
    pub canonical: String,
}

/// Judges the steps of one question.
pub struct Judge {
    database: Arc<dyn Database>,
    gold_sql: String,
    gold_tree: Option<SqlTree>,
    alpha: f64,
    options: ExecOptions,
    /// Gold rows by the gold text the scorer executes (pre-processing may change it).
    gold_rows: Mutex<HashMap<String, Arc<Vec<Vec<Value>>>>>,
}

impl Judge {
    /// A judge for `gold_sql` on `database`. Fails when the gold SQL does not execute: such a
    /// question cannot be synthesised.
    pub async fn new(
        database: Arc<dyn Database>,
        gold_sql: &str,
        alpha: f64,
        step_timeout: Duration,
    ) -> SynthResult<Judge> {
        let options = ExecOptions {
            timeout: step_timeout,
            max_rows: 100_000,
            max_result_bytes: 64 * 1024 * 1024,
        };
        let judge = Judge {
            gold_tree: sql_tree(gold_sql, database.dialect()).ok(),
            database,
            gold_sql: gold_sql.to_string(),
            alpha,
            options,
            gold_rows: Mutex::new(HashMap::new()),
        };
        let prepared = Metric::SpiderTestSuite.prepare(gold_sql, gold_sql);
        judge.gold_rows_for(&prepared.gold).await?;
        Ok(judge)
    }

    /// Whether the gold SQL parses into a tree (without one every step is Invalid).
    pub fn gold_parses(&self) -> bool {
        self.gold_tree.is_some()
    }

    async fn gold_rows_for(&self, gold_text: &str) -> SynthResult<Arc<Vec<Vec<Value>>>> {
        if let Some(rows) = self
            .gold_rows
            .lock()
            .ok()
            .and_then(|m| m.get(gold_text).cloned())
        {
            return Ok(rows);
        }
        let result = self
            .database
            .execute(gold_text, &self.options)
            .await
            .map_err(|error| SynthError::GoldFails {
                sql: self.gold_sql.clone(),
                reason: error.to_string(),
            })?;
        let rows = Arc::new(result.rows);
        if let Ok(mut memo) = self.gold_rows.lock() {
            memo.insert(gold_text.to_string(), Arc::clone(&rows));
        }
        Ok(rows)
    }

    /// Judges `sql` given the trees of the earlier steps on its path.
    pub async fn judge(&self, sql: &str, earlier: &[SqlTree]) -> Verdict {
        let dialect = self.database.dialect();
        let canonical = normalize(sql, dialect).unwrap_or_else(|_| sql.trim().to_string());
        let tree = sql_tree(sql, dialect).ok();
        let executed = if sql.trim().is_empty() {
            Err("no SQL was written for this step".to_string())
        } else {
            self.database
                .execute(sql, &self.options)
                .await
                .map_err(|error| error.to_string())
        };
        let (outcome, executes) = match &executed {
            Ok(result) => (StepOutcome::from_result(result, PREVIEW_ROWS), true),
            Err(message) => (
                StepOutcome::Error {
                    kind: "sql".into(),
                    message: message.clone(),
                },
                false,
            ),
        };
        let (class, reward) = match (&tree, &self.gold_tree) {
            (Some(step), Some(gold)) => (
                classify_step_trees(step, gold, earlier, executes),
                step_reward(step, gold, self.alpha),
            ),
            _ => (StepClass::Invalid, 0.0),
        };
        let matches_gold = match executed {
            Ok(result) => self.matches(sql, &result.rows).await,
            Err(_) => false,
        };
        Verdict {
            class,
            reward,
            matches_gold,
            outcome,
            tree,
            canonical,
        }
    }

    /// Spider test-suite execution match of `sql` (whose raw rows are `rows`) against the gold.
    async fn matches(&self, sql: &str, rows: &[Vec<Value>]) -> bool {
        let prepared = Metric::SpiderTestSuite.prepare(sql, &self.gold_sql);
        let Ok(gold) = self.gold_rows_for(&prepared.gold).await else {
            return false;
        };
        if prepared.prediction == sql {
            return Metric::SpiderTestSuite.result_eq(&gold, rows, prepared.order_matters);
        }
        match self
            .database
            .execute(&prepared.prediction, &self.options)
            .await
        {
            Ok(result) => {
                Metric::SpiderTestSuite.result_eq(&gold, &result.rows, prepared.order_matters)
            }
            Err(_) => false,
        }
    }
}

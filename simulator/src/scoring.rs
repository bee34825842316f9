//! Whether a submission is correct: the harness's execution comparison
//! ([`learnat_tools::compare`], Spider test-suite semantics: any column order, row order only
//! when the gold orders), run on the task's database.

use std::sync::Arc;

use learnat_tools::compare::Metric;
use learnat_tools::database::Database;
use serde::{Deserialize, Serialize};

use crate::task::{TaskDatabases, scoring_limits};

/// The verdict on one submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The rows match the gold rows.
    pub correct: bool,
    /// Why the submission could not be compared (it failed to run).
    pub error: Option<String>,
}

/// Checks submissions against gold SQL on the tasks' databases.
#[derive(Clone)]
pub struct GoldChecker {
    databases: TaskDatabases,
    metric: Metric,
}

impl GoldChecker {
    /// Spider test-suite execution match on `databases`.
    pub fn new(databases: TaskDatabases) -> GoldChecker {
        GoldChecker {
            databases,
            metric: Metric::SpiderTestSuite,
        }
    }

    /// The databases.
    pub fn databases(&self) -> &TaskDatabases {
        &self.databases
    }

    /// Run `gold` and `submitted` on `db_id` and compare. A submission that fails to run is
    /// wrong (with its error); a gold query that fails makes every submission wrong and says so.
    pub async fn check(&self, db_id: &str, gold: &str, submitted: &str) -> Verdict {
        if submitted.trim().is_empty() {
            return Verdict {
                correct: false,
                error: Some("empty submission".into()),
            };
        }
        let database: Arc<dyn Database> = match self.databases.open(db_id) {
            Ok(db) => db,
            Err(error) => {
                return Verdict {
                    correct: false,
                    error: Some(error.to_string()),
                };
            }
        };
        let prepared = self.metric.prepare(submitted, gold);
        let limits = scoring_limits();
        let gold_rows = match database.execute(&prepared.gold, &limits).await {
            Ok(result) => result.rows,
            Err(error) => {
                return Verdict {
                    correct: false,
                    error: Some(format!("the gold SQL failed: {error}")),
                };
            }
        };
        match database.execute(&prepared.prediction, &limits).await {
            Ok(result) => Verdict {
                correct: self
                    .metric
                    .result_eq(&gold_rows, &result.rows, prepared.order_matters),
                error: None,
            },
            Err(error) => Verdict {
                correct: false,
                error: Some(error.to_string()),
            },
        }
    }
}

//! `learnat interact replay`: re-score a transcript. Every submission is checked again against
//! the gold on the database, the rewards are recomputed from the events
//! ([`crate::protocol::score_events`]), and the result is compared with what was recorded. No
//! model runs: the transcript holds the agent's moves.

use std::collections::HashMap;

use serde::Serialize;

use crate::protocol::{Event, TaskOutcome, score_events};
use crate::run::{Summary, summarise};
use crate::scoring::GoldChecker;
use crate::task::InteractiveTask;

/// A re-scored transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    /// The summary as recorded.
    pub recorded: Summary,
    /// The summary after re-checking every submission.
    pub rescored: Summary,
    /// Tasks whose verdicts or rewards changed, with what changed.
    pub mismatches: Vec<String>,
}

/// Re-score `outcomes` against `tasks` (by instance_id) on the checker's databases.
pub async fn replay(
    outcomes: &[TaskOutcome],
    tasks: &[InteractiveTask],
    gold: &GoldChecker,
) -> Replayed {
    let by_id: HashMap<&str, &InteractiveTask> =
        tasks.iter().map(|t| (t.instance_id.as_str(), t)).collect();
    let mut rescored = Vec::new();
    let mut mismatches = Vec::new();
    for outcome in outcomes {
        let Some(task) = by_id.get(outcome.instance_id.as_str()) else {
            mismatches.push(format!("{}: not in the task file", outcome.instance_id));
            continue;
        };
        let mut again = outcome.clone();
        for event in &mut again.events {
            if let Event::Submit {
                phase,
                sql,
                correct,
                error,
                ..
            } = event
            {
                let gold_sql = match (*phase, &task.follow_up) {
                    (2, Some(f)) => f.sol_sql.as_str(),
                    _ => task.sol_sql.as_str(),
                };
                let verdict = gold.check(&task.db_id, gold_sql, sql).await;
                *correct = verdict.correct;
                *error = verdict.error;
            }
        }
        again.score = score_events(again.mode, &again.events, task.follow_up.is_some());
        again.max_reward = task.max_reward();
        if again.score != outcome.score {
            mismatches.push(format!(
                "{}: recorded reward {:.2}, re-scored {:.2}",
                outcome.instance_id, outcome.score.reward, again.score.reward
            ));
        }
        rescored.push(again);
    }
    Replayed {
        recorded: summarise(outcomes),
        rescored: summarise(&rescored),
        mismatches,
    }
}

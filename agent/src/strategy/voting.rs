//! Execution-result voting (self-consistency): candidates whose results are equal form a
//! group; the largest group wins; ties go to the group holding the candidate with the highest
//! mean token log-probability, then to the group that appeared first. Candidates that failed
//! never win unless every candidate failed (then the first one is kept).
//!
//! Results are equal in the Spider test-suite sense without row order
//! ([`learnat_tools::compare::spider_result_eq`]): the same multiset of rows under some
//! permutation of the columns, so `SELECT a, b` and `SELECT b, a` vote together.
//!
//! ```
//! use learnat_agent::strategy::voting::{Ballot, vote};
//! use learnat_tools::{QueryResult, Value};
//! let rows = |n: i64| QueryResult { columns: vec!["n".into()], rows: vec![vec![Value::Integer(n)]],
//!                                   elapsed: Default::default(), truncated: false };
//! let ballots = vec![
//!     Ballot::ran("SELECT 1", rows(1), None),
//!     Ballot::ran("SELECT 2", rows(2), None),
//!     Ballot::ran("SELECT 3 - 2", rows(1), None),
//! ];
//! let (winner, candidates) = vote(&ballots);
//! assert_eq!(winner, 0);
//! assert_eq!(candidates[2].votes, 2);
//! ```

use learnat_tools::QueryResult;
use learnat_tools::compare::spider_result_eq;

use super::Candidate;

/// One candidate as voting sees it.
#[derive(Debug, Clone)]
pub struct Ballot {
    /// The candidate SQL.
    pub sql: String,
    /// Its result, when it ran.
    pub result: Option<QueryResult>,
    /// Why it did not run.
    pub error: Option<String>,
    /// Mean token log-probability of the answer that produced it.
    pub mean_logprob: Option<f32>,
}

impl Ballot {
    /// A candidate that ran.
    pub fn ran(sql: &str, result: QueryResult, mean_logprob: Option<f32>) -> Ballot {
        Ballot {
            sql: sql.to_string(),
            result: Some(result),
            error: None,
            mean_logprob,
        }
    }

    /// A candidate that failed.
    pub fn failed(sql: &str, error: String, mean_logprob: Option<f32>) -> Ballot {
        Ballot {
            sql: sql.to_string(),
            result: None,
            error: Some(error),
            mean_logprob,
        }
    }
}

/// The index of the winning ballot, and every ballot as a [`Candidate`] with its group's vote
/// count. `ballots` must not be empty (an empty list gives index 0 and no candidates).
pub fn vote(ballots: &[Ballot]) -> (usize, Vec<Candidate>) {
    // groups[g] = indices of ballots with equal results, in order of appearance.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: Vec<Option<usize>> = vec![None; ballots.len()];
    for (index, ballot) in ballots.iter().enumerate() {
        let Some(result) = &ballot.result else {
            continue;
        };
        let joined = groups.iter().position(|members| {
            ballots[members[0]]
                .result
                .as_ref()
                .is_some_and(|first| spider_result_eq(&first.rows, &result.rows, false))
                && ballots[members[0]]
                    .result
                    .as_ref()
                    .is_some_and(|first| first.columns.len() == result.columns.len())
        });
        match joined {
            Some(group) => {
                groups[group].push(index);
                group_of[index] = Some(group);
            }
            None => {
                group_of[index] = Some(groups.len());
                groups.push(vec![index]);
            }
        }
    }
    let best_logprob = |members: &Vec<usize>| {
        members
            .iter()
            .filter_map(|&i| ballots[i].mean_logprob)
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let winner_group = (0..groups.len()).max_by(|&a, &b| {
        groups[a]
            .len()
            .cmp(&groups[b].len())
            .then_with(|| best_logprob(&groups[a]).total_cmp(&best_logprob(&groups[b])))
            // Earlier groups win ties: reverse the index order.
            .then_with(|| b.cmp(&a))
    });
    let winner = match winner_group {
        Some(group) => {
            let members = &groups[group];
            // Within the group, the most confident member speaks for it.
            *members
                .iter()
                .max_by(|&&a, &&b| {
                    let score = |i: usize| ballots[i].mean_logprob.unwrap_or(f32::NEG_INFINITY);
                    score(a).total_cmp(&score(b)).then_with(|| b.cmp(&a))
                })
                .unwrap_or(&members[0])
        }
        None => 0,
    };
    let candidates = ballots
        .iter()
        .enumerate()
        .map(|(index, ballot)| Candidate {
            sql: ballot.sql.clone(),
            votes: group_of[index].map_or(0, |group| groups[group].len()),
            mean_logprob: ballot.mean_logprob,
            error: ballot.error.clone(),
            chosen: index == winner,
        })
        .collect();
    (winner, candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use learnat_tools::Value;

    fn result(rows: &[&[i64]]) -> QueryResult {
        QueryResult {
            columns: (0..rows.first().map_or(1, |r| r.len()))
                .map(|i| format!("c{i}"))
                .collect(),
            rows: rows
                .iter()
                .map(|row| row.iter().map(|&v| Value::Integer(v)).collect())
                .collect(),
            elapsed: Default::default(),
            truncated: false,
        }
    }

    #[test]
    fn the_majority_result_wins_whatever_the_column_order() {
        let ballots = vec![
            Ballot::ran("a", result(&[&[1, 2]]), Some(-0.1)),
            Ballot::ran("b", result(&[&[2, 1]]), Some(-0.9)),
            Ballot::ran("c", result(&[&[3, 4]]), Some(-0.01)),
        ];
        let (winner, candidates) = vote(&ballots);
        assert_eq!(winner, 0, "a and b agree (columns permuted), c is alone");
        assert_eq!(candidates[1].votes, 2);
        assert_eq!(candidates[2].votes, 1);
        assert!(candidates[0].chosen && !candidates[1].chosen);
    }

    #[test]
    fn ties_go_to_confidence_then_to_the_first() {
        let ballots = vec![
            Ballot::ran("a", result(&[&[1]]), Some(-0.8)),
            Ballot::ran("b", result(&[&[2]]), Some(-0.2)),
        ];
        assert_eq!(vote(&ballots).0, 1);
        let ballots = vec![
            Ballot::ran("a", result(&[&[1]]), None),
            Ballot::ran("b", result(&[&[2]]), None),
        ];
        assert_eq!(vote(&ballots).0, 0);
    }

    #[test]
    fn failures_only_win_when_everything_failed() {
        let ballots = vec![
            Ballot::failed("x", "no such table".into(), Some(-0.01)),
            Ballot::failed("y", "no such table".into(), Some(-0.01)),
            Ballot::ran("z", result(&[&[7]]), Some(-2.0)),
        ];
        let (winner, candidates) = vote(&ballots);
        assert_eq!(winner, 2);
        assert_eq!(candidates[0].votes, 0);
        let ballots = vec![
            Ballot::failed("x", "e".into(), None),
            Ballot::failed("y", "e".into(), None),
        ];
        assert_eq!(vote(&ballots).0, 0);
    }

    #[test]
    fn empty_results_vote_together() {
        let empty = QueryResult {
            columns: vec!["a".into()],
            rows: vec![],
            elapsed: Default::default(),
            truncated: false,
        };
        let ballots = vec![
            Ballot::ran("a", result(&[&[1]]), None),
            Ballot::ran("b", empty.clone(), None),
            Ballot::ran("c", empty, None),
        ];
        assert_eq!(vote(&ballots).0, 1);
    }
}

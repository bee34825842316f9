//! The two multi-turn protocols of BIRD-Interact, their budgets, costs and rewards.
//!
//! - **c-interact** ([`run_c_interact`]): the agent asks or submits. Clarification budget =
//!   number of annotated ambiguities + patience (3). One debugging retry after a failed
//!   submission; once the first question is solved, the follow-up. Rewards: first phase 0.7
//!   (first try) or 0.5 (after the debug retry); follow-up 0.3 or 0.2.
//! - **a-interact** ([`run_a_interact`]): every action costs ([`ActionCosts`]: execute SQL 1,
//!   schema 1, column meaning 0.5, ask the user 2, submit 3, invalid 0.2) out of a budget of
//!   6 + 2·ambiguities + patience. A phase is solved by any correct submission within the
//!   budget: 0.7, then 0.3 for the follow-up.
//!
//! Rewards are a pure function of the transcript ([`score_events`]), so a transcript whose
//! submissions are re-checked ([`crate::replay`]) gives the same numbers. The agent never sees
//! the task: it gets a [`TaskContext`] (ids and the database) and [`Observation`]s.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use learnat_tools::database::Database;
use learnat_tools::schema::{IntrospectOptions, introspect, quote_identifier};
use learnat_tools::{ExecOptions, QueryResult};
use serde::{Deserialize, Serialize};

use crate::error::{SimResult, SimulatorError};
use crate::scoring::GoldChecker;
use crate::task::InteractiveTask;
use crate::user_sim::{SimulatorReply, UserSimulator};

/// Reward of the first phase solved at the first submission.
pub const FIRST_PHASE_REWARD: f64 = 0.7;
/// Reward of the first phase solved after the debug retry (c-interact).
pub const FIRST_PHASE_DEBUG_REWARD: f64 = 0.5;
/// Reward of the follow-up solved at its first submission.
pub const FOLLOW_UP_REWARD: f64 = 0.3;
/// Reward of the follow-up solved after the debug retry (c-interact).
pub const FOLLOW_UP_DEBUG_REWARD: f64 = 0.2;
/// Extra clarification turns beyond the number of ambiguities.
pub const DEFAULT_PATIENCE: usize = 3;
/// c-interact: moves that are neither ask nor submit end the episode after this many.
const MAX_INVALID_MOVES: usize = 3;
/// Either protocol: a hard cap on agent moves, so a looping agent cannot run forever.
const MAX_MOVES: usize = 40;

/// What the user says after a wrong submission (no hint about the gold).
pub const DEBUG_FEEDBACK: &str =
    "That result is not what I need. Please check your SQL and try again.";
/// What the user says when the clarification budget is spent.
pub const BUDGET_SPENT_REPLY: &str = "I can't answer more questions now; please submit your SQL.";

/// The protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Conversational: ask or submit.
    CInteract,
    /// Agentic: tool actions with costs.
    AInteract,
}

impl Mode {
    /// `c-interact` or `a-interact`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::CInteract => "c-interact",
            Mode::AInteract => "a-interact",
        }
    }

    /// Parses `c-interact` / `a-interact`.
    pub fn parse(text: &str) -> SimResult<Mode> {
        match text {
            "c-interact" => Ok(Mode::CInteract),
            "a-interact" => Ok(Mode::AInteract),
            other => Err(SimulatorError::InvalidInput {
                message: format!("unknown mode '{other}' (use c-interact or a-interact)"),
            }),
        }
    }
}

/// The a-interact action costs of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActionCosts {
    pub execute_sql: f64,
    pub get_schema: f64,
    pub column_meaning: f64,
    pub ask_user: f64,
    pub submit: f64,
    pub invalid: f64,
}

impl Default for ActionCosts {
    fn default() -> Self {
        ActionCosts {
            execute_sql: 1.0,
            get_schema: 1.0,
            column_meaning: 0.5,
            ask_user: 2.0,
            submit: 3.0,
            invalid: 0.2,
        }
    }
}

impl ActionCosts {
    /// The cost of `action`.
    pub fn of(&self, action: &AgentMove) -> f64 {
        match action {
            AgentMove::ExecuteSql { .. } => self.execute_sql,
            AgentMove::GetSchema => self.get_schema,
            AgentMove::ColumnMeaning { .. } => self.column_meaning,
            AgentMove::Ask { .. } => self.ask_user,
            AgentMove::Submit { .. } => self.submit,
            AgentMove::Invalid { .. } => self.invalid,
        }
    }
}

/// c-interact: how many clarification questions the agent may ask.
pub fn clarification_budget(task: &InteractiveTask, patience: usize) -> usize {
    task.ambiguity_count() + patience
}

/// a-interact: the action budget.
pub fn action_budget(task: &InteractiveTask, patience: usize) -> f64 {
    6.0 + 2.0 * task.ambiguity_count() as f64 + patience as f64
}

/// One move of the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AgentMove {
    /// ask_user.
    Ask { question: String },
    /// submit: the SQL answer of the current phase.
    Submit { sql: String },
    /// execute_sql (a-interact).
    ExecuteSql { sql: String },
    /// get_schema (a-interact).
    GetSchema,
    /// column_meaning (a-interact).
    ColumnMeaning { table: String, column: String },
    /// Something the protocol does not accept (unparseable output, a failed generation).
    Invalid { reason: String },
}

/// What the agent is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// A new question from the user (the task's opening question, or the follow-up).
    Question { text: String },
    /// The user's answer to the agent's clarification question.
    Reply { text: String },
    /// The user's verdict on a wrong submission.
    Feedback { text: String },
    /// The result of a tool action (a-interact).
    Tool { text: String },
}

/// What the agent knows of a task: never the gold, never the annotations.
#[derive(Clone)]
pub struct TaskContext {
    /// The task's id.
    pub instance_id: String,
    /// Its database id.
    pub db_id: String,
    /// Its database (read-only).
    pub database: Arc<dyn Database>,
    /// Clarification questions allowed (c-interact enforces it; in a-interact costs govern).
    pub clarification_budget: usize,
}

/// An agent that can play the protocols.
#[async_trait]
pub trait InteractiveAgent: Send + Sync {
    /// A name for reports (`clarify`, `no-ask`, `oracle`, ...).
    fn name(&self) -> String;

    /// True for the oracle: it is given the clear question instead of the ambiguous one.
    fn gets_clear_question(&self) -> bool {
        false
    }

    /// A fresh conversation about one task.
    async fn start(&self, context: TaskContext) -> SimResult<Box<dyn Episode>>;
}

/// One conversation: observations in, moves out.
#[async_trait]
pub trait Episode: Send {
    /// The next move after `observation`.
    async fn next(&mut self, observation: &Observation) -> SimResult<AgentMove>;
}

/// One entry of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The user asks a question (phase 1: the task's, phase 2: the follow-up).
    UserQuestion { phase: u8, text: String },
    /// The agent asks back; the simulator's parse and reply.
    Ask {
        phase: u8,
        question: String,
        cost: f64,
        reply: SimulatorReply,
    },
    /// The clarification budget was spent; the user declined.
    AskRefused { phase: u8, question: String },
    /// A submission and its verdict.
    Submit {
        phase: u8,
        attempt: u8,
        sql: String,
        cost: f64,
        correct: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A tool action and what it returned (a-interact).
    Tool {
        phase: u8,
        action: AgentMove,
        cost: f64,
        output: String,
    },
    /// A move the protocol does not accept.
    Invalid {
        phase: u8,
        reason: String,
        cost: f64,
    },
    /// The episode ended.
    End { reason: String },
}

/// How one phase went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseOutcome {
    /// Solved at all.
    pub solved: bool,
    /// The attempt (0-based) that solved it.
    pub attempt: Option<u8>,
    /// The reward it earned.
    pub reward: f64,
}

/// The score of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeScore {
    /// The task's question.
    pub first: PhaseOutcome,
    /// The follow-up (None when the task has none).
    pub follow_up: Option<PhaseOutcome>,
    /// Sum of the phases' rewards.
    pub reward: f64,
}

/// Rewards from the submissions of a transcript: the first correct submission of each phase
/// counts, worth the first-try or after-debug reward in c-interact and the phase reward in
/// a-interact.
pub fn score_events(mode: Mode, events: &[Event], has_follow_up: bool) -> EpisodeScore {
    let phase = |number: u8, first_try: f64, after_debug: f64| {
        let attempt = events.iter().find_map(|event| match event {
            Event::Submit {
                phase,
                attempt,
                correct: true,
                ..
            } if *phase == number => Some(*attempt),
            _ => None,
        });
        let reward = match (mode, attempt) {
            (_, None) => 0.0,
            (Mode::AInteract, Some(_)) | (Mode::CInteract, Some(0)) => first_try,
            (Mode::CInteract, Some(_)) => after_debug,
        };
        PhaseOutcome {
            solved: attempt.is_some(),
            attempt,
            reward,
        }
    };
    let first = phase(1, FIRST_PHASE_REWARD, FIRST_PHASE_DEBUG_REWARD);
    let follow_up = has_follow_up.then(|| phase(2, FOLLOW_UP_REWARD, FOLLOW_UP_DEBUG_REWARD));
    EpisodeScore {
        first,
        follow_up,
        reward: first.reward + follow_up.map_or(0.0, |p| p.reward),
    }
}

/// The result of one task under one protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub instance_id: String,
    pub db_id: String,
    pub mode: Mode,
    pub agent: String,
    pub user_sim: String,
    /// The score, from the events.
    pub score: EpisodeScore,
    /// The largest reward the task offers.
    pub max_reward: f64,
    /// Clarification questions asked.
    pub asks: usize,
    /// a-interact: cost spent and the budget; c-interact: asks and the clarification budget.
    pub spent: f64,
    pub budget: f64,
    /// Wall time of the episode.
    pub seconds: f64,
    /// The transcript.
    pub events: Vec<Event>,
    /// Set when the agent failed (model error): the task scores 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything an episode needs besides the agent.
pub struct EpisodeSetup<'a> {
    pub task: &'a InteractiveTask,
    pub database: Arc<dyn Database>,
    pub gold: &'a GoldChecker,
    pub simulator: &'a dyn UserSimulator,
    pub patience: usize,
    pub costs: ActionCosts,
}

struct Recorder {
    events: Vec<Event>,
    asks: usize,
    spent: f64,
}

/// Run one task under `mode`.
pub async fn run_episode(
    mode: Mode,
    agent: &dyn InteractiveAgent,
    setup: &EpisodeSetup<'_>,
) -> TaskOutcome {
    let started = Instant::now();
    let task = setup.task;
    let mut recorder = Recorder {
        events: Vec::new(),
        asks: 0,
        spent: 0.0,
    };
    let budget = match mode {
        Mode::CInteract => clarification_budget(task, setup.patience) as f64,
        Mode::AInteract => action_budget(task, setup.patience),
    };
    let result = match mode {
        Mode::CInteract => c_interact(agent, setup, &mut recorder).await,
        Mode::AInteract => a_interact(agent, setup, budget, &mut recorder).await,
    };
    let error = result.err().map(|e| e.to_string());
    if let Some(error) = &error {
        recorder.events.push(Event::End {
            reason: format!("agent error: {error}"),
        });
    }
    TaskOutcome {
        instance_id: task.instance_id.clone(),
        db_id: task.db_id.clone(),
        mode,
        agent: agent.name(),
        user_sim: setup.simulator.name().to_string(),
        score: score_events(mode, &recorder.events, task.follow_up.is_some()),
        max_reward: task.max_reward(),
        asks: recorder.asks,
        spent: match mode {
            Mode::CInteract => recorder.asks as f64,
            Mode::AInteract => recorder.spent,
        },
        budget,
        seconds: started.elapsed().as_secs_f64(),
        events: recorder.events,
        error,
    }
}

fn opening(agent: &dyn InteractiveAgent, task: &InteractiveTask) -> String {
    if agent.gets_clear_question() {
        task.clear_question.clone()
    } else {
        task.amb_user_query.clone()
    }
}

fn context(setup: &EpisodeSetup<'_>, clarification_budget: usize) -> TaskContext {
    TaskContext {
        instance_id: setup.task.instance_id.clone(),
        db_id: setup.task.db_id.clone(),
        database: Arc::clone(&setup.database),
        clarification_budget,
    }
}

/// The gold SQL of `phase`.
fn phase_gold(task: &InteractiveTask, phase: u8) -> &str {
    match (phase, &task.follow_up) {
        (2, Some(follow_up)) => &follow_up.sol_sql,
        _ => &task.sol_sql,
    }
}

async fn c_interact(
    agent: &dyn InteractiveAgent,
    setup: &EpisodeSetup<'_>,
    recorder: &mut Recorder,
) -> SimResult<()> {
    let task = setup.task;
    let budget = clarification_budget(task, setup.patience);
    let mut episode = agent.start(context(setup, budget)).await?;
    let mut phase = 1u8;
    let mut attempt = 0u8;
    let mut invalid = 0usize;
    let mut refused = false;
    let text = opening(agent, task);
    recorder.events.push(Event::UserQuestion {
        phase,
        text: text.clone(),
    });
    let mut observation = Observation::Question { text };
    for _ in 0..MAX_MOVES {
        match episode.next(&observation).await? {
            AgentMove::Ask { question } => {
                if recorder.asks >= budget {
                    recorder.events.push(Event::AskRefused {
                        phase,
                        question: question.clone(),
                    });
                    if refused {
                        return end(recorder, "asked again after the budget was spent");
                    }
                    refused = true;
                    observation = Observation::Reply {
                        text: BUDGET_SPENT_REPLY.into(),
                    };
                    continue;
                }
                recorder.asks += 1;
                let reply = setup.simulator.reply(task, &question).await?;
                observation = Observation::Reply {
                    text: reply.text.clone(),
                };
                recorder.events.push(Event::Ask {
                    phase,
                    question,
                    cost: 1.0,
                    reply,
                });
            }
            AgentMove::Submit { sql } => {
                let correct = submit(setup, task, recorder, phase, attempt, sql, 0.0).await;
                match (correct, phase, &task.follow_up) {
                    (true, 1, Some(follow_up)) => {
                        phase = 2;
                        attempt = 0;
                        recorder.events.push(Event::UserQuestion {
                            phase,
                            text: follow_up.query.clone(),
                        });
                        observation = Observation::Question {
                            text: follow_up.query.clone(),
                        };
                    }
                    (true, _, _) => return end(recorder, "solved"),
                    (false, _, _) if attempt == 0 => {
                        attempt = 1;
                        observation = Observation::Feedback {
                            text: DEBUG_FEEDBACK.into(),
                        };
                    }
                    (false, _, _) => return end(recorder, "the debug retry failed"),
                }
            }
            AgentMove::Invalid { reason } => {
                invalid += 1;
                recorder.events.push(Event::Invalid {
                    phase,
                    reason,
                    cost: 0.0,
                });
                if invalid >= MAX_INVALID_MOVES {
                    return end(recorder, "too many invalid moves");
                }
                observation = Observation::Feedback {
                    text: "I did not get an answer. Please answer with SQL or ask me a question."
                        .into(),
                };
            }
            other => {
                invalid += 1;
                recorder.events.push(Event::Invalid {
                    phase,
                    reason: format!(
                        "c-interact accepts only ask and submit, not {}",
                        move_name(&other)
                    ),
                    cost: 0.0,
                });
                if invalid >= MAX_INVALID_MOVES {
                    return end(recorder, "too many invalid moves");
                }
                observation = Observation::Tool {
                    text: "Not available in c-interact: ask the user or submit SQL.".into(),
                };
            }
        }
    }
    end(recorder, "move limit reached")
}

/// Scores a submission against the phase's gold SQL, records it, and says whether it was
/// correct (both protocols score submissions this way).
async fn submit(
    setup: &EpisodeSetup<'_>,
    task: &InteractiveTask,
    recorder: &mut Recorder,
    phase: u8,
    attempt: u8,
    sql: String,
    cost: f64,
) -> bool {
    let verdict = setup
        .gold
        .check(&task.db_id, phase_gold(task, phase), &sql)
        .await;
    recorder.events.push(Event::Submit {
        phase,
        attempt,
        sql,
        cost,
        correct: verdict.correct,
        error: verdict.error,
    });
    verdict.correct
}

fn end(recorder: &mut Recorder, reason: &str) -> SimResult<()> {
    recorder.events.push(Event::End {
        reason: reason.into(),
    });
    Ok(())
}

fn move_name(action: &AgentMove) -> &'static str {
    match action {
        AgentMove::Ask { .. } => "ask_user",
        AgentMove::Submit { .. } => "submit",
        AgentMove::ExecuteSql { .. } => "execute_sql",
        AgentMove::GetSchema => "get_schema",
        AgentMove::ColumnMeaning { .. } => "column_meaning",
        AgentMove::Invalid { .. } => "invalid",
    }
}

async fn a_interact(
    agent: &dyn InteractiveAgent,
    setup: &EpisodeSetup<'_>,
    budget: f64,
    recorder: &mut Recorder,
) -> SimResult<()> {
    let task = setup.task;
    let mut episode = agent
        .start(context(setup, clarification_budget(task, setup.patience)))
        .await?;
    let mut phase = 1u8;
    let mut attempt = 0u8;
    let text = opening(agent, task);
    recorder.events.push(Event::UserQuestion {
        phase,
        text: text.clone(),
    });
    let mut observation = Observation::Question { text };
    for _ in 0..MAX_MOVES {
        let action = episode.next(&observation).await?;
        let cost = setup.costs.of(&action);
        if recorder.spent + cost > budget + 1e-9 {
            return end(
                recorder,
                &format!(
                    "budget spent: {} costs {cost}, {:.1} of {budget} left",
                    move_name(&action),
                    budget - recorder.spent
                ),
            );
        }
        recorder.spent += cost;
        observation = match action {
            AgentMove::Ask { question } => {
                recorder.asks += 1;
                let reply = setup.simulator.reply(task, &question).await?;
                let text = reply.text.clone();
                recorder.events.push(Event::Ask {
                    phase,
                    question,
                    cost,
                    reply,
                });
                Observation::Reply { text }
            }
            AgentMove::Submit { sql } => {
                let correct = submit(setup, task, recorder, phase, attempt, sql, cost).await;
                match (correct, phase, &task.follow_up) {
                    (true, 1, Some(follow_up)) => {
                        phase = 2;
                        attempt = 0;
                        recorder.events.push(Event::UserQuestion {
                            phase,
                            text: follow_up.query.clone(),
                        });
                        Observation::Question {
                            text: follow_up.query.clone(),
                        }
                    }
                    (true, _, _) => return end(recorder, "solved"),
                    (false, _, _) => {
                        attempt = attempt.saturating_add(1);
                        Observation::Feedback {
                            text: DEBUG_FEEDBACK.into(),
                        }
                    }
                }
            }
            AgentMove::Invalid { reason } => {
                recorder.events.push(Event::Invalid {
                    phase,
                    reason: reason.clone(),
                    cost,
                });
                Observation::Tool {
                    text: format!("Invalid action: {reason}"),
                }
            }
            tool => {
                let output = run_tool(&tool, setup.database.as_ref()).await;
                recorder.events.push(Event::Tool {
                    phase,
                    action: tool,
                    cost,
                    output: output.clone(),
                });
                Observation::Tool { text: output }
            }
        };
    }
    end(recorder, "move limit reached")
}

/// Rows of a tool result shown to the agent.
const TOOL_PREVIEW_ROWS: usize = 10;

fn tool_limits() -> ExecOptions {
    ExecOptions {
        timeout: std::time::Duration::from_secs(10),
        max_rows: TOOL_PREVIEW_ROWS,
        ..ExecOptions::default()
    }
}

fn preview(result: &QueryResult) -> String {
    let rows: Vec<String> = result
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(learnat_tools::compare::python_str)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    format!(
        "{}\n{}{}",
        result.columns.join(" | "),
        rows.join("\n"),
        if result.truncated { "\n..." } else { "" }
    )
}

async fn run_tool(action: &AgentMove, database: &dyn Database) -> String {
    match action {
        AgentMove::ExecuteSql { sql } => match database.execute(sql, &tool_limits()).await {
            Ok(result) => preview(&result),
            Err(error) => format!("error: {error}"),
        },
        AgentMove::GetSchema => match introspect(database, &IntrospectOptions::default()).await {
            Ok(schema) => schema.to_compact(),
            Err(error) => format!("error: {error}"),
        },
        AgentMove::ColumnMeaning { table, column } => {
            let sql = format!(
                "SELECT DISTINCT {} FROM {} LIMIT 5",
                quote_identifier(column),
                quote_identifier(table)
            );
            match database.execute(&sql, &tool_limits()).await {
                Ok(result) => format!(
                    "{table}.{column}: no description is recorded; values include {}",
                    result
                        .rows
                        .iter()
                        .filter_map(|row| row.first())
                        .map(learnat_tools::compare::python_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Err(error) => format!("error: {error}"),
            }
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(phase: u8, attempt: u8, correct: bool) -> Event {
        Event::Submit {
            phase,
            attempt,
            sql: "SELECT 1".into(),
            cost: 0.0,
            correct,
            error: None,
        }
    }

    #[test]
    fn c_interact_rewards_first_try_and_debug() {
        let score = score_events(
            Mode::CInteract,
            &[submit(1, 0, true), submit(2, 0, true)],
            true,
        );
        assert!((score.reward - 1.0).abs() < 1e-9);
        let score = score_events(
            Mode::CInteract,
            &[
                submit(1, 0, false),
                submit(1, 1, true),
                submit(2, 0, false),
                submit(2, 1, true),
            ],
            true,
        );
        assert!((score.reward - 0.7).abs() < 1e-9, "{score:?}");
        assert_eq!(score.first.attempt, Some(1));
        let score = score_events(
            Mode::CInteract,
            &[submit(1, 0, false), submit(1, 1, false)],
            true,
        );
        assert_eq!(score.reward, 0.0);
        assert_eq!(score.follow_up.map(|p| p.solved), Some(false));
    }

    #[test]
    fn a_interact_rewards_any_correct_submission() {
        let score = score_events(
            Mode::AInteract,
            &[submit(1, 0, false), submit(1, 1, false), submit(1, 2, true)],
            false,
        );
        assert!((score.reward - 0.7).abs() < 1e-9);
        assert!(score.follow_up.is_none());
    }

    #[test]
    fn budgets_follow_the_design() {
        let task: InteractiveTask = serde_json::from_value(serde_json::json!({
            "instance_id": "t", "db_id": "d", "amb_user_query": "big ones",
            "user_query_ambiguity": {"critical_ambiguity": [
                {"term": "big", "sql_snippet": "x > 1", "is_mask": false, "type": "t"}]},
            "knowledge_ambiguity": [{"term": "k", "description": "d", "sql_snippet": "1"}],
            "clear_question": "x above 1", "sol_sql": "SELECT x > 1"
        }))
        .unwrap();
        assert_eq!(clarification_budget(&task, DEFAULT_PATIENCE), 5);
        assert_eq!(action_budget(&task, DEFAULT_PATIENCE), 13.0);
        let costs = ActionCosts::default();
        assert_eq!(
            costs.of(&AgentMove::Ask {
                question: String::new()
            }),
            2.0
        );
        assert_eq!(
            costs.of(&AgentMove::Invalid {
                reason: String::new()
            }),
            0.2
        );
        assert_eq!(
            costs.of(&AgentMove::ColumnMeaning {
                table: String::new(),
                column: String::new()
            }),
            0.5
        );
    }
}

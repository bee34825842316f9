//! LearNAT decomposition with executed sub-queries.
//!
//! One trajectory is a conversation:
//!
//! 1. system: the student format; user: examples, schema, question.
//! 2. The model writes `Sub question 1` and `SubSQL1`; generation stops before the next marker
//!    ([`step_stop_sequences`]). The SubSQL runs read-only under the step limits.
//! 3. A user message gives its outcome (first rows and row count, or the error) and asks for
//!    the next step or the final SQL. A failing SubSQL first gets up to `repair_turns` requests
//!    for a corrected one.
//! 4. Repeat until the model writes `Final SQL`, or `max_steps` steps were taken (then the final
//!    SQL is asked for). The final SQL is checked the same way, with the same repair budget.
//!    Decomposition stops early when it stalls: a step that still fails after its repair turns,
//!    or a step that repeats the previous one. Then the last step that ran is the answer (or,
//!    when none ran, the last one written, without further repair).
//!
//! Repair requests carry the error with a hint from the schema ([`explain_error`]): which
//! tables exist, which table holds a column that the query put on the wrong alias.
//!
//! A model that ignores the stop sequences and writes several steps at once is handled too:
//! every SubSQL of the answer is executed in order. A model that writes no marker at all gets
//! one reminder of the format; a bare query in its answer is taken as the final SQL. When there
//! is no final SQL but steps ran, the last step that ran is the answer.
//!
//! With `samples > 1`, that many trajectories are drawn (seeds `seed + i`) and their final SQLs
//! vote by execution result ([`super::voting`]); the chosen trajectory's steps are reported.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::voting::{Ballot, vote};
use super::zero_shot::excerpt;
use super::{
    Answer, DemonstrationRequest, DemonstrationSource, FewShotExample, Step, StepOutcome, Strategy,
    StrategyInput, StrategyOptions, Usage, builtin_examples, mean_logprob, prepare, request,
    run_relinked,
};
use crate::error::{AgentError, AgentResult};
use crate::model::{ChatMessage, ChatModel, Completion, GenerationParams};
use crate::prompt::{
    PromptInput, corrected_step_note, count_tokens, decompose_messages, explain_error,
    final_repair_message, format_reminder_message, step_outcome_message, step_repair_message,
};
use crate::student_format::{extract_sql, parse_student_output, step_stop_sequences};
use learnat_tools::sql::normalize;

/// The decomposition strategy.
pub struct Decompose {
    options: StrategyOptions,
    demonstrations: Option<Arc<dyn DemonstrationSource>>,
}

impl Decompose {
    /// With these options; `demonstrations` is used when `options.adr` is on.
    pub fn new(
        options: StrategyOptions,
        demonstrations: Option<Arc<dyn DemonstrationSource>>,
    ) -> Decompose {
        Decompose {
            options,
            demonstrations,
        }
    }

    /// The first messages this strategy sends for `input` (system prompt, then examples,
    /// fitted schema and question), and the tables the schema shows. Training data is built on
    /// exactly these messages, so a trained model sees at inference what it saw in training.
    pub async fn prompt(
        &self,
        model: &Arc<dyn ChatModel>,
        input: &StrategyInput<'_>,
    ) -> AgentResult<DecomposePrompt> {
        let options = &self.options;
        let examples = self.examples(input).await?;

        let skeleton = input.prompt_without_schema();
        let around: usize = decompose_messages(&skeleton, &examples)
            .iter()
            .map(|m| count_tokens(model.as_ref(), &m.content))
            .sum();
        // Each step adds its answer and an outcome message of a few preview rows.
        let per_step = options.max_tokens + 40 * (options.preview_rows + 2);
        let reserved = around + per_step * (options.max_steps + 1 + options.repair_turns);
        let prepared = prepare(model.as_ref(), input, options, reserved).await;
        let messages = decompose_messages(
            &PromptInput {
                schema_text: &prepared.schema.text,
                links: Some(&prepared.links),
                ..skeleton
            },
            &examples,
        );

        Ok(DecomposePrompt {
            messages,
            tables: prepared.schema.tables,
        })
    }

    async fn examples(&self, input: &StrategyInput<'_>) -> AgentResult<Vec<FewShotExample>> {
        match (&self.demonstrations, self.options.adr) {
            (Some(source), true) => {
                source
                    .demonstrations(&DemonstrationRequest {
                        question: input.question,
                        schema: input.schema,
                        db_id: input.db_id,
                        k: self.options.k,
                    })
                    .await
            }
            _ => Ok(builtin_examples()),
        }
    }
}

/// The opening of a decomposition conversation ([`Decompose::prompt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecomposePrompt {
    /// The system message and the user message with examples, schema and question.
    pub messages: Vec<ChatMessage>,
    /// The tables the fitted schema shows.
    pub tables: Vec<String>,
}

/// The result of one trajectory.
struct Trajectory {
    steps: Vec<Step>,
    final_sql: Option<String>,
    final_result: Option<learnat_tools::QueryResult>,
    final_outcome: Option<StepOutcome>,
    completions: Vec<Completion>,
    repairs: usize,
    relinks: Vec<String>,
    /// Why there is no final SQL, when there is none.
    failure: Option<String>,
}

/// The conversation state of one trajectory.
struct Run<'a> {
    model: &'a Arc<dyn ChatModel>,
    input: &'a StrategyInput<'a>,
    options: &'a StrategyOptions,
    params: GenerationParams,
    messages: Vec<ChatMessage>,
    usage: &'a mut Usage,
    raw: &'a mut Vec<String>,
    completions: Vec<Completion>,
    steps: Vec<Step>,
    repairs: usize,
    /// Schema fixes of queries that then ran ([`run_relinked`]).
    relinks: Vec<String>,
}

impl Run<'_> {
    /// One model turn; the answer is appended to the conversation.
    async fn turn(&mut self, stop_after_step: bool) -> AgentResult<String> {
        let params = GenerationParams {
            stop: if stop_after_step {
                step_stop_sequences()
            } else {
                Vec::new()
            },
            n: 1,
            ..self.params.clone()
        };
        let mut completions =
            request(self.model, &self.messages, &params, self.usage, self.raw).await?;
        let completion = completions.remove(0);
        let text = completion.text.trim().to_string();
        self.completions.push(completion);
        self.messages.push(ChatMessage::assistant(text.clone()));
        Ok(text)
    }

    /// Run `sql`, relinked when it fails on a missing column ([`run_relinked`]).
    async fn run_sql(
        &mut self,
        sql: String,
    ) -> (String, Option<learnat_tools::QueryResult>, StepOutcome) {
        run_relinked(
            self.input.database,
            self.input.schema,
            sql,
            self.options,
            self.usage,
            &mut self.relinks,
        )
        .await
    }

    /// Run a step's SQL, repairing it while it fails and repair turns remain.
    async fn execute_step(
        &mut self,
        number: usize,
        sub_question: String,
        sql: String,
    ) -> AgentResult<Step> {
        let (mut sql, _, mut outcome) = self.run_sql(sql).await;
        let mut repairs = 0;
        while let Some(error) = outcome.error_message().map(str::to_string) {
            if repairs >= self.options.repair_turns {
                break;
            }
            repairs += 1;
            self.messages.push(ChatMessage::user(step_repair_message(
                number,
                &explain_error(self.input.schema, &sql, &error),
            )));
            let text = self.turn(true).await?;
            let parsed = parse_student_output(&text);
            let repaired = parsed
                .steps
                .iter()
                .map(|s| s.sql.clone())
                .find(|s| !s.is_empty())
                .or_else(|| extract_sql(&text).ok());
            let Some(repaired) = repaired else {
                continue;
            };
            (sql, _, outcome) = self.run_sql(repaired).await;
        }
        self.repairs += repairs;
        Ok(Step {
            sub_question,
            sql,
            outcome,
            repairs,
        })
    }

    /// The whole trajectory.
    async fn run(mut self) -> AgentResult<Trajectory> {
        let max_steps = self.options.max_steps.max(1);
        let mut final_sql: Option<String> = None;
        let mut reminded = false;
        // Each loop turn asks for one step (or the final SQL).
        loop {
            let asking_final = self.steps.len() >= max_steps;
            let text = self.turn(!asking_final).await?;
            let parsed = parse_student_output(&text);
            if parsed.steps.is_empty() && parsed.final_sql.is_none() {
                // No marker: a bare query is the answer; otherwise remind once.
                if let Ok(sql) = extract_sql(&text) {
                    final_sql = Some(sql);
                    break;
                }
                if reminded || asking_final {
                    break;
                }
                reminded = true;
                self.messages
                    .push(ChatMessage::user(format_reminder_message()));
                continue;
            }
            // Decomposition stops early when it cannot progress: a step that still fails after
            // its repair turns, or a step that repeats the one before it.
            let mut stalled = false;
            // The last step, when schema relinking changed its SQL: the model is told.
            let mut corrected: Option<(usize, String)> = None;
            let dialect = self.input.database.dialect();
            for step in parsed.steps {
                if self.steps.len() >= max_steps {
                    break;
                }
                if self
                    .steps
                    .last()
                    .is_some_and(|last| same_sql(&last.sql, &step.sql, dialect))
                {
                    stalled = true;
                    break;
                }
                let number = self.steps.len() + 1;
                let relinked_before = self.relinks.len();
                let executed = self
                    .execute_step(number, step.sub_question, step.sql)
                    .await?;
                let failed = executed.outcome.is_error();
                corrected = (!failed && self.relinks.len() > relinked_before)
                    .then(|| (number, executed.sql.clone()));
                self.steps.push(executed);
                if failed {
                    stalled = true;
                    break;
                }
            }
            if let Some(sql) = parsed.final_sql {
                final_sql = Some(sql);
                break;
            }
            if asking_final || stalled {
                break;
            }
            let number = self.steps.len();
            let outcome =
                self.steps
                    .last()
                    .map(|s| s.outcome.clone())
                    .unwrap_or(StepOutcome::Error {
                        kind: "no_sql".into(),
                        message: "no SQL was written".into(),
                    });
            let steps_left = max_steps.saturating_sub(self.steps.len());
            let mut message = step_outcome_message(number, &outcome, steps_left);
            if let Some((step, sql)) = corrected.filter(|(step, _)| *step == number) {
                message = format!("{}{message}", corrected_step_note(step, &sql));
            }
            self.messages.push(ChatMessage::user(message));
        }
        // Without a final SQL, the last step that ran answers; failing that, the last step
        // written (its repair turns are spent: the final SQL gets none more).
        let mut repair_budget = self.options.repair_turns;
        let final_sql = final_sql
            .or_else(|| {
                self.steps
                    .iter()
                    .rev()
                    .find(|s| !s.outcome.is_error() && !s.sql.is_empty())
                    .map(|s| s.sql.clone())
            })
            .or_else(|| {
                let last = self.steps.last().filter(|s| !s.sql.is_empty())?;
                repair_budget = 0;
                Some(last.sql.clone())
            });
        let Some(sql) = final_sql else {
            let last = self.raw.last().cloned().unwrap_or_default();
            return Ok(Trajectory {
                steps: self.steps,
                final_sql: None,
                final_result: None,
                final_outcome: None,
                completions: self.completions,
                repairs: self.repairs,
                relinks: self.relinks,
                failure: Some(format!(
                    "neither a Final SQL nor a SubSQL that runs in the answer {}",
                    excerpt(&last)
                )),
            });
        };
        let (mut sql, mut result, mut outcome) = self.run_sql(sql).await;
        let mut repairs = 0;
        while let Some(error) = outcome.error_message().map(str::to_string) {
            if repairs >= repair_budget {
                break;
            }
            repairs += 1;
            self.messages.push(ChatMessage::user(final_repair_message(
                &explain_error(self.input.schema, &sql, &error),
                true,
            )));
            let text = self.turn(false).await?;
            let parsed = parse_student_output(&text);
            let Some(repaired) = parsed.final_sql.or_else(|| extract_sql(&text).ok()) else {
                continue;
            };
            (sql, result, outcome) = self.run_sql(repaired).await;
        }
        self.repairs += repairs;
        Ok(Trajectory {
            steps: self.steps,
            final_sql: Some(sql),
            final_result: result,
            final_outcome: Some(outcome),
            completions: self.completions,
            repairs: self.repairs,
            relinks: self.relinks,
            failure: None,
        })
    }
}

/// Whether two queries are the same up to the tools crate's canonical normalisation (case,
/// whitespace, aliases, redundant parentheses); queries that do not parse are compared as text
/// up to whitespace and case.
fn same_sql(a: &str, b: &str, dialect: learnat_tools::Dialect) -> bool {
    match (normalize(a, dialect), normalize(b, dialect)) {
        (Ok(a), Ok(b)) => a == b,
        _ => {
            let text = |sql: &str| {
                sql.trim()
                    .trim_end_matches(';')
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            text(a) == text(b)
        }
    }
}

#[async_trait]
impl Strategy for Decompose {
    fn name(&self) -> &str {
        "decompose"
    }

    fn options(&self) -> &StrategyOptions {
        &self.options
    }

    async fn answer(
        &self,
        model: &Arc<dyn ChatModel>,
        input: &StrategyInput<'_>,
    ) -> AgentResult<Answer> {
        let started = Instant::now();
        let options = &self.options;
        let mut usage = Usage::default();
        let mut raw = Vec::new();
        let prompt = self.prompt(model, input).await?;
        let messages = prompt.messages;

        let samples = options.samples.max(1);
        let mut trajectories = Vec::with_capacity(samples);
        for index in 0..samples {
            let run = Run {
                model,
                input,
                options,
                params: options.generation_params(index, &input.cancel),
                messages: messages.clone(),
                usage: &mut usage,
                raw: &mut raw,
                completions: Vec::new(),
                steps: Vec::new(),
                repairs: 0,
                relinks: Vec::new(),
            };
            trajectories.push(run.run().await?);
        }

        let ballots: Vec<(usize, Ballot)> = trajectories
            .iter()
            .enumerate()
            .filter_map(|(index, trajectory)| {
                let sql = trajectory.final_sql.as_deref()?;
                let logprob = mean_logprob(trajectory.completions.iter());
                let ballot = match (&trajectory.final_result, &trajectory.final_outcome) {
                    (Some(result), _) => Ballot::ran(sql, result.clone(), logprob),
                    (None, outcome) => Ballot::failed(
                        sql,
                        outcome
                            .as_ref()
                            .and_then(|o| o.error_message())
                            .unwrap_or("failed")
                            .to_string(),
                        logprob,
                    ),
                };
                Some((index, ballot))
            })
            .collect();
        if ballots.is_empty() {
            let reason = trajectories
                .iter()
                .find_map(|t| t.failure.clone())
                .unwrap_or_else(|| "no answer".into());
            return Err(AgentError::NoSql {
                model: model.name().to_string(),
                reason,
            });
        }
        let plain: Vec<Ballot> = ballots.iter().map(|(_, b)| b.clone()).collect();
        let (winner, candidates) = vote(&plain);
        let chosen_index = ballots[winner].0;
        let repairs = trajectories.iter().map(|t| t.repairs).sum();
        let relinks = trajectories
            .iter_mut()
            .flat_map(|t| std::mem::take(&mut t.relinks))
            .collect();
        let chosen = trajectories.swap_remove(chosen_index);
        usage.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(Answer {
            sql: chosen.final_sql.unwrap_or_default(),
            strategy: self.name().to_string(),
            steps: chosen.steps,
            final_outcome: chosen.final_outcome,
            candidates: if samples > 1 { candidates } else { Vec::new() },
            repairs,
            relinks,
            usage,
            raw_outputs: raw,
            prompt_tables: prompt.tables,
        })
    }
}

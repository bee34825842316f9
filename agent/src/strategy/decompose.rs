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
//! With [`DecomposeWhen::Auto`] a direct draft comes first: the zero-shot prompt, executed
//! (relinked when relinking is on, no repair turn). A simple question keeps it as a one-step
//! answer. The question is decomposed when execution shows the draft is wrong or likely so: it
//! fails, returns no rows, or returns only NULLs. A draft that ran steers the demonstration
//! retrieval (its skeleton and hardness), and it stays the answer when the decomposition's
//! final SQL fails while the draft ran, or returns nothing while the draft returned rows. The
//! answer's `draft` says what happened (with the draft's Spider hardness). Untrained models
//! decompose worse than they write one query (README, "Adaptive demonstrations"), and on the
//! Spider subset a hard or extra draft that runs is right about half the time with the 0.5B
//! model: decomposition is kept for the drafts that execution already shows to be wrong.
//!
//! With `samples > 1`, that many trajectories are drawn (seeds `seed + i`) and their final SQLs
//! vote by execution result ([`super::voting`]); the chosen trajectory's steps are reported.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::voting::{Ballot, vote};
use super::zero_shot::{ZeroShot, excerpt};
use super::{
    Answer, DecomposeWhen, DemonstrationRequest, DemonstrationSource, Draft, FewShotExample, Step,
    StepOutcome, Strategy, StrategyInput, StrategyOptions, Usage, builtin_examples, mean_logprob,
    prepare, request, run_relinked,
};
use crate::error::{AgentError, AgentResult};
use crate::model::{ChatMessage, ChatModel, Completion, GenerationParams};
use crate::prompt::{
    PromptInput, corrected_step_note, count_tokens, decompose_messages, explain_error,
    failed_draft_note, final_repair_message, format_reminder_message, step_outcome_message,
    step_repair_message,
};
use crate::student_format::{extract_sql, parse_student_output, step_stop_sequences};
use learnat_tools::Value;
use learnat_tools::hardness::spider_hardness;
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
        self.prompt_with_draft(model, input, None).await
    }

    /// [`Decompose::prompt`] after a direct draft that execution showed wrong
    /// ([`DecomposeWhen::Auto`]): the draft steers the demonstration retrieval when it ran, and
    /// the question is preceded by [`failed_draft_note`].
    async fn prompt_with_draft(
        &self,
        model: &Arc<dyn ChatModel>,
        input: &StrategyInput<'_>,
        draft: Option<(&str, &StepOutcome)>,
    ) -> AgentResult<DecomposePrompt> {
        let options = &self.options;
        let hint = draft
            .filter(|(_, outcome)| !outcome.is_error())
            .map(|(sql, _)| sql);
        let examples = self.examples(input, hint).await?;

        let skeleton = input.prompt_without_schema();
        let note = draft.map(|(sql, outcome)| failed_draft_note(sql, outcome));
        let around: usize = decompose_messages(&skeleton, &examples)
            .iter()
            .map(|m| count_tokens(model.as_ref(), &m.content))
            .sum::<usize>()
            + note
                .as_deref()
                .map_or(0, |n| count_tokens(model.as_ref(), n));
        // Each step adds its answer and an outcome message of a few preview rows.
        let per_step = options.max_tokens + 40 * (options.preview_rows + 2);
        let reserved = around + per_step * (options.max_steps + 1 + options.repair_turns);
        let prepared = prepare(model.as_ref(), input, options, reserved).await;
        let mut messages = decompose_messages(
            &PromptInput {
                schema_text: &prepared.schema.text,
                links: Some(&prepared.links),
                ..skeleton
            },
            &examples,
        );
        if let (Some(note), Some(question)) = (&note, messages.last_mut()) {
            question.content = insert_before_start(&question.content, note);
        }

        Ok(DecomposePrompt {
            messages,
            tables: prepared.schema.tables,
        })
    }

    async fn examples(
        &self,
        input: &StrategyInput<'_>,
        draft_sql: Option<&str>,
    ) -> AgentResult<Vec<FewShotExample>> {
        match (&self.demonstrations, self.options.adr) {
            (Some(source), true) => {
                source
                    .demonstrations(&DemonstrationRequest {
                        question: input.question,
                        schema: input.schema,
                        db_id: input.db_id,
                        k: self.options.k,
                        draft_sql,
                    })
                    .await
            }
            _ => Ok(builtin_examples()),
        }
    }
}

/// `note` inserted before the closing request to start with the first sub-question (or
/// appended, when the message has none).
fn insert_before_start(message: &str, note: &str) -> String {
    const START: &str = "Start with Sub question 1.";
    match message.rfind(START) {
        Some(at) => format!("{}{note}{}", &message[..at], &message[at..]),
        None => format!("{message}\n{note}"),
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
                // A repaired step (one written without SQL, say) can repeat the previous one
                // too.
                if self
                    .steps
                    .last()
                    .is_some_and(|last| same_sql(&last.sql, &executed.sql, dialect))
                {
                    stalled = true;
                    break;
                }
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
        match self.options.decompose_when {
            DecomposeWhen::Always => self.decompose(model, input, None).await,
            DecomposeWhen::Auto => self.draft_then_decompose(model, input).await,
        }
    }
}

/// Why a draft is not enough (see [`DecomposeWhen::Auto`]), or `None` when it is.
fn needs_decomposition(outcome: &StepOutcome) -> Option<String> {
    match outcome {
        StepOutcome::Error { message, .. } => Some(format!("the draft failed: {message}")),
        StepOutcome::Rows { row_count: 0, .. } => Some("the draft returned no rows".into()),
        StepOutcome::Rows { rows, .. }
            if rows.iter().all(|row| row.iter().all(|v| *v == Value::Null)) =>
        {
            Some("the draft returned only NULLs".into())
        }
        StepOutcome::Rows { .. } => None,
    }
}

/// Whether an outcome has a result that is not empty (rows, not all NULL).
fn has_answer(outcome: Option<&StepOutcome>) -> bool {
    outcome.is_some_and(|outcome| needs_decomposition(outcome).is_none())
}

/// The draft as the final answer of the decompose strategy, with its record.
fn draft_answer(mut draft: Answer, record: Draft, strategy: &str, started: Instant) -> Answer {
    draft.strategy = strategy.to_string();
    draft.draft = Some(record);
    draft.usage.total_ms = started.elapsed().as_secs_f64() * 1000.0;
    draft
}

impl Decompose {
    /// [`DecomposeWhen::Auto`]: a direct draft, kept when it answers a simple question;
    /// otherwise the decomposition, whose final SQL replaces the draft unless it fails or
    /// returns nothing while the draft did not.
    async fn draft_then_decompose(
        &self,
        model: &Arc<dyn ChatModel>,
        input: &StrategyInput<'_>,
    ) -> AgentResult<Answer> {
        let started = Instant::now();
        let draft_options = StrategyOptions {
            samples: 1,
            temperature: 0.0,
            repair_turns: 0,
            ..self.options.clone()
        };
        let draft = match ZeroShot::new(draft_options).answer(model, input).await {
            Ok(draft) => Some(draft),
            Err(error @ (AgentError::Cancelled | AgentError::Generation { .. })) => {
                return Err(error);
            }
            Err(error) => {
                tracing::debug!(%error, "no draft SQL; decomposing");
                None
            }
        };
        let Some(mut draft) = draft else {
            return self.decompose(model, input, None).await;
        };
        let hardness = spider_hardness(&draft.sql).ok();
        let outcome = draft.final_outcome.clone().unwrap_or(StepOutcome::Error {
            kind: "no_sql".into(),
            message: "the draft did not run".into(),
        });
        let reason = needs_decomposition(&outcome);
        let mut record = Draft {
            sql: draft.sql.clone(),
            hardness: hardness.map(|h| h.as_str().to_string()),
            outcome: outcome.clone(),
            decomposed_because: reason.clone(),
            chosen: reason.is_none(),
        };
        let Some(reason) = reason else {
            // A simple question: the draft is a one-step decomposition.
            draft.steps = vec![Step {
                sub_question: input.question.to_string(),
                sql: draft.sql.clone(),
                outcome,
                repairs: 0,
            }];
            return Ok(draft_answer(draft, record, self.name(), started));
        };
        tracing::debug!(%reason, "decomposing");
        let decomposed = self
            .decompose(model, input, Some((draft.sql.as_str(), &outcome)))
            .await;
        let mut answer = match decomposed {
            Ok(answer) => answer,
            Err(error @ (AgentError::Cancelled | AgentError::Generation { .. })) => {
                return Err(error);
            }
            Err(error) => {
                // No decomposition came out: the draft stands, whatever it gave.
                tracing::debug!(%error, "the decomposition wrote no SQL; keeping the draft");
                record.chosen = true;
                return Ok(draft_answer(draft, record, self.name(), started));
            }
        };
        // The draft stands when the decomposition's answer is worse by execution: it failed
        // while the draft ran, or it returned nothing while the draft returned something.
        let draft_ran = !outcome.is_error();
        let decomposition_ran = answer.final_outcome.as_ref().is_some_and(|o| !o.is_error());
        record.chosen = (draft_ran && !decomposition_ran)
            || (has_answer(Some(&outcome)) && !has_answer(answer.final_outcome.as_ref()));
        if record.chosen {
            answer.sql = draft.sql.clone();
            answer.final_outcome = Some(outcome);
        }
        answer.usage.absorb(&draft.usage);
        answer.repairs += draft.repairs;
        answer
            .relinks
            .splice(0..0, std::mem::take(&mut draft.relinks));
        answer
            .raw_outputs
            .splice(0..0, std::mem::take(&mut draft.raw_outputs));
        answer.draft = Some(record);
        answer.usage.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(answer)
    }

    /// Every question in the student format, step by step ([`DecomposeWhen::Always`]), or
    /// after a `draft` that execution showed wrong ([`Decompose::prompt_with_draft`]).
    async fn decompose(
        &self,
        model: &Arc<dyn ChatModel>,
        input: &StrategyInput<'_>,
        draft: Option<(&str, &StepOutcome)>,
    ) -> AgentResult<Answer> {
        let started = Instant::now();
        let options = &self.options;
        let mut usage = Usage::default();
        let mut raw = Vec::new();
        let prompt = self.prompt_with_draft(model, input, draft).await?;
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
            draft: None,
        })
    }
}

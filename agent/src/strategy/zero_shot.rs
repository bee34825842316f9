//! The zero-shot baseline: schema + question (+ evidence) → one query in a sql block.
//!
//! The prompt follows the llama.cpp reference run it is compared with (see
//! [`crate::prompt::zero_shot_messages`]); the SQL is taken from the first fenced block, or the
//! first SELECT / WITH statement ([`crate::student_format::extract_sql`]). With
//! `relink` a query that fails on a missing column is first fixed from the schema
//! ([`super::run_relinked`]); with `repair_turns > 0` a query that still fails is sent back with
//! its error; with `samples > 1` the candidates vote by execution result.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::voting::{Ballot, vote};
use super::{
    Answer, Strategy, StrategyInput, StrategyOptions, Usage, mean_logprob, prepare, request,
    run_relinked,
};
use crate::error::{AgentError, AgentResult};
use crate::model::{ChatMessage, ChatModel, GenerationParams};
use crate::prompt::{
    PromptInput, count_tokens, explain_error, final_repair_message, zero_shot_messages,
};
use crate::student_format::extract_sql;

/// The zero-shot strategy.
#[derive(Debug, Clone)]
pub struct ZeroShot {
    options: StrategyOptions,
}

impl ZeroShot {
    /// With these options (see [`StrategyOptions::defaults_for`]).
    pub fn new(options: StrategyOptions) -> ZeroShot {
        ZeroShot { options }
    }
}

/// The first characters of a model answer, for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX {
        format!("\"{}…\"", flat.chars().take(MAX).collect::<String>())
    } else {
        format!("\"{flat}\"")
    }
}

#[async_trait]
impl Strategy for ZeroShot {
    fn name(&self) -> &str {
        "zero-shot"
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

        // Room for everything but the schema: the prompt around it and the answers.
        let skeleton = input.prompt_without_schema();
        let around: usize = zero_shot_messages(&skeleton)
            .iter()
            .map(|m| count_tokens(model.as_ref(), &m.content))
            .sum();
        let reserved = around + options.max_tokens * (1 + options.repair_turns);
        let prepared = prepare(model.as_ref(), input, options, reserved).await;
        let messages = zero_shot_messages(&PromptInput {
            schema_text: &prepared.schema.text,
            links: Some(&prepared.links),
            ..skeleton
        });

        let samples = options.samples.max(1);
        let params = GenerationParams {
            n: samples,
            ..options.generation_params(0, &input.cancel)
        };
        let completions = request(model, &messages, &params, &mut usage, &mut raw).await?;

        let mut ballots = Vec::new();
        let mut outcomes = Vec::new();
        let mut repairs = 0;
        let mut relinks = Vec::new();
        let mut first_failure = None;
        for completion in &completions {
            let logprob = mean_logprob(std::iter::once(completion));
            let sql = match extract_sql(&completion.text) {
                Ok(sql) => sql,
                Err(failure) => {
                    first_failure
                        .get_or_insert_with(|| format!("{failure}: {}", excerpt(&completion.text)));
                    continue;
                }
            };
            let (mut sql, mut result, mut outcome) = run_relinked(
                input.database,
                input.schema,
                sql,
                options,
                &mut usage,
                &mut relinks,
            )
            .await;
            // Repair: the failing answer and its error go back to the model.
            let mut conversation = messages.clone();
            let mut answer_text = completion.text.clone();
            for _ in 0..options.repair_turns {
                let Some(error) = outcome.error_message().map(str::to_string) else {
                    break;
                };
                repairs += 1;
                conversation.push(ChatMessage::assistant(answer_text.trim()));
                conversation.push(ChatMessage::user(final_repair_message(
                    &explain_error(input.schema, &sql, &error),
                    false,
                )));
                let repair_params = GenerationParams {
                    n: 1,
                    ..options.generation_params(0, &input.cancel)
                };
                let repaired =
                    request(model, &conversation, &repair_params, &mut usage, &mut raw).await?;
                answer_text = repaired[0].text.clone();
                let Ok(repaired_sql) = extract_sql(&answer_text) else {
                    break;
                };
                let (repaired_sql, new_result, new_outcome) = run_relinked(
                    input.database,
                    input.schema,
                    repaired_sql,
                    options,
                    &mut usage,
                    &mut relinks,
                )
                .await;
                sql = repaired_sql;
                result = new_result;
                outcome = new_outcome;
            }
            ballots.push(match result {
                Some(result) => Ballot::ran(&sql, result, logprob),
                None => Ballot::failed(
                    &sql,
                    outcome.error_message().unwrap_or("failed").to_string(),
                    logprob,
                ),
            });
            outcomes.push(outcome);
        }
        if ballots.is_empty() {
            return Err(AgentError::NoSql {
                model: model.name().to_string(),
                reason: first_failure.unwrap_or_else(|| "no answer".to_string()),
            });
        }
        let (winner, candidates) = vote(&ballots);
        usage.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(Answer {
            sql: ballots[winner].sql.clone(),
            strategy: self.name().to_string(),
            steps: Vec::new(),
            final_outcome: outcomes.get(winner).cloned(),
            candidates: if samples > 1 { candidates } else { Vec::new() },
            repairs,
            relinks,
            usage,
            raw_outputs: raw,
            prompt_tables: prepared.schema.tables,
            draft: None,
        })
    }
}

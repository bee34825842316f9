//! GRPO with an execution reward (DESIGN.md, seed 004).
//!
//! Per question: sample a group of G completions from the current policy through the agent's
//! [`Sampler`], reward each by executing its SQL (1 when the result matches the gold, 0.1 when it
//! runs but differs, 0 when it has no SQL or fails), normalise the rewards within the group, and
//! minimise the clipped-ratio surrogate with a KL penalty to the reference
//! ([`grpo_sample_loss`]). One update per sampling, so the "old" policy is the current one
//! detached (the ratio is 1 in value; its gradient is the policy gradient).

use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::{DType, Tensor};
use learnat_agent::model::gguf::{Sampler, SamplingConfig};
use learnat_agent::student_format::extract_sql;
use learnat_tools::compare::Metric;
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, Value};
use rand::Rng;

use super::lora::Policy;
use super::model::TrainModel;
use super::objectives::{
    GrpoSettings, Sequence, completion_logprobs, group_advantages, grpo_sample_loss,
};
use super::run::{ExampleOutcome, RunOptions, TrainSummary, train_loop};
use super::{TensorContext, TrainError, TrainResult};

/// Reward of a completion whose SQL matches the gold result.
pub const REWARD_CORRECT: f64 = 1.0;
/// Reward of a completion whose SQL executes but gives another result.
pub const REWARD_EXECUTES: f64 = 0.1;
/// Reward of a completion without SQL or whose SQL fails.
pub const REWARD_ERROR: f64 = 0.0;

/// What a question's answer is checked against.
#[derive(Debug, Clone)]
pub enum Gold {
    /// Gold SQL, executed on the question's database (Spider test-suite comparison).
    Sql(String),
    /// Gold rows (question–answer pairs without SQL); row order is ignored.
    Rows(Vec<Vec<Value>>),
}

/// A question ready for GRPO.
#[derive(Clone)]
pub struct GrpoTask {
    /// Prompt token ids (ending with the opening of the assistant turn).
    pub prompt: Vec<u32>,
    /// The question's database.
    pub database: SqliteDatabase,
    /// The expected answer.
    pub gold: Gold,
}

/// GRPO sampling and loss settings.
#[derive(Debug, Clone)]
pub struct GrpoOptions {
    /// Group size G.
    pub group: usize,
    /// Completion length cap.
    pub max_new_tokens: usize,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus mass.
    pub top_p: f32,
    /// Clip range and KL weight.
    pub settings: GrpoSettings,
    /// Tokens that end a completion.
    pub end_of_turn: Vec<u32>,
}

/// A JSON gold value as the tools crate's [`Value`].
pub fn json_to_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

/// The database file of `db_id` under `dir` (`dir/db_id/db_id.sqlite`, Spider's layout).
pub fn database_path(dir: &Path, db_id: &str) -> PathBuf {
    dir.join(db_id).join(format!("{db_id}.sqlite"))
}

/// The execution reward of `completion` (1 / 0.1 / 0, see the module docs).
pub fn execution_reward(database: &SqliteDatabase, gold: &Gold, completion: &str) -> f64 {
    let Ok(sql) = extract_sql(completion) else {
        return REWARD_ERROR;
    };
    let options = ExecOptions {
        timeout: Duration::from_secs(10),
        ..ExecOptions::default()
    };
    match gold {
        Gold::Sql(gold_sql) => {
            let prepared = Metric::SpiderTestSuite.prepare(&sql, gold_sql);
            let Ok(predicted) = database.execute_blocking(&prepared.prediction, &options) else {
                return REWARD_ERROR;
            };
            match database.execute_blocking(&prepared.gold, &options) {
                Ok(expected)
                    if Metric::SpiderTestSuite.result_eq(
                        &expected.rows,
                        &predicted.rows,
                        prepared.order_matters,
                    ) =>
                {
                    REWARD_CORRECT
                }
                _ => REWARD_EXECUTES,
            }
        }
        Gold::Rows(rows) => match database.execute_blocking(&sql, &options) {
            Err(_) => REWARD_ERROR,
            Ok(predicted) if Metric::SpiderTestSuite.result_eq(rows, &predicted.rows, false) => {
                REWARD_CORRECT
            }
            Ok(_) => REWARD_EXECUTES,
        },
    }
}

/// Samples one completion (ids, ending with the end-of-turn token when one was produced).
/// No KV cache: each token re-runs the sequence, which is fine for the short SQL answers GRPO
/// samples but quadratic in their length.
pub fn sample_completion(
    model: &TrainModel,
    prompt: &[u32],
    options: &GrpoOptions,
    seed: u64,
) -> candle_core::Result<Vec<u32>> {
    let mut sampler = Sampler::new(
        SamplingConfig {
            temperature: options.temperature,
            top_p: options.top_p,
            top_k: 0,
            repetition_penalty: 1.0,
        },
        seed,
    );
    let mut tokens = prompt.to_vec();
    let mut completion = Vec::new();
    while completion.len() < options.max_new_tokens && tokens.len() < model.max_positions() {
        let logits = model.forward(&tokens, tokens.len() - 1, Policy::Trained, None)?;
        let mut row = logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let token = sampler.sample(&mut row, &[]).id;
        completion.push(token);
        tokens.push(token);
        if options.end_of_turn.contains(&token) {
            break;
        }
    }
    Ok(completion)
}

/// GRPO over `tasks`; `decode` turns completion ids into text for the reward.
pub fn train_grpo(
    model: &mut TrainModel,
    tasks: &[GrpoTask],
    options: &GrpoOptions,
    decode: &dyn Fn(&[u32]) -> String,
    run: &RunOptions,
) -> TrainResult<TrainSummary> {
    if options.group < 2 {
        return Err(TrainError::Config(
            "--group must be at least 2 (advantages are relative to the group)".to_string(),
        ));
    }
    train_loop(model, tasks.len(), run, |model, index, rng| {
        let task = &tasks[index];
        let mut samples = Vec::with_capacity(options.group);
        let mut rewards = Vec::with_capacity(options.group);
        for _ in 0..options.group {
            let completion = sample_completion(model, &task.prompt, options, rng.random())
                .during(|| format!("sampling for question {}", index + 1))?;
            let text_ids: Vec<u32> = completion
                .iter()
                .copied()
                .filter(|t| !options.end_of_turn.contains(t))
                .collect();
            rewards.push(execution_reward(
                &task.database,
                &task.gold,
                &decode(&text_ids),
            ));
            samples.push(completion);
        }
        let advantages = group_advantages(&rewards);
        let mut losses = Vec::new();
        let mut tokens = 0;
        for (completion, advantage) in samples.iter().zip(&advantages) {
            if completion.is_empty() {
                continue;
            }
            let mut all = task.prompt.clone();
            all.extend(completion);
            let sequence = Sequence {
                tokens: all,
                completion_start: task.prompt.len(),
            };
            let policy = completion_logprobs(model, &sequence, Policy::Trained, Some(rng))
                .during(|| "GRPO policy pass".to_string())?;
            let old = policy.detach();
            let reference = completion_logprobs(model, &sequence, Policy::Reference, None)
                .during(|| "GRPO reference pass".to_string())?
                .detach();
            losses.push(
                grpo_sample_loss(&policy, &old, &reference, *advantage, options.settings)
                    .during(|| "GRPO loss".to_string())?,
            );
            tokens += sequence.tokens.len();
        }
        if losses.is_empty() {
            return Err(TrainError::Config(format!(
                "question {} produced no completion tokens",
                index + 1
            )));
        }
        let count = losses.len() as f64;
        let loss = (Tensor::stack(&losses, 0)
            .and_then(|l| l.sum_all())
            .during(|| "GRPO group loss".to_string())?
            / count)
            .during(|| "GRPO group loss".to_string())?;
        Ok(ExampleOutcome {
            loss,
            tokens,
            margin: None,
            reward: Some(rewards.iter().sum::<f64>() / rewards.len() as f64),
        })
    })
}

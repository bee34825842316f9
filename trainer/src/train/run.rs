//! The training loop shared by SFT, DPO / MDPO and GRPO: shuffled epochs, gradient
//! accumulation, AdamW with warmup + cosine decay, a JSONL log, checkpoints and resume.
//!
//! One optimiser step consumes `grad_accum` examples (a sequence, a pair, or a question's
//! group); each example's loss is divided by `grad_accum` and its gradients summed, so a step
//! follows the mean loss of its examples.
//!
//! Files under `out`: `train_log.jsonl` (one line per step: loss, learning rate, tokens,
//! tokens/s, margin or reward), `checkpoint/` (adapter + `optimizer.safetensors` +
//! `trainer_state.json`, every `checkpoint_every` steps and at the end), and the final adapter
//! (`adapter_config.json`, `adapter_model.safetensors`) in `out` itself.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::lora::{Policy, seeded_rng};
use super::model::TrainModel;
use super::objectives::{
    PreferenceObjective, Sequence, completion_logprobs, preference_loss, sft_loss,
};
use super::optim::{AdamW, AdamWSettings, Schedule};
use super::peft::{load_adapter_into, save_adapter};
use super::{TensorContext, TrainError, TrainResult, io_error};

/// How to run a training loop.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output directory (adapter, log, checkpoints).
    pub out: PathBuf,
    /// Passes over the data.
    pub epochs: usize,
    /// Stop after this many optimiser steps (`None`: all epochs).
    pub max_steps: Option<usize>,
    /// Examples per optimiser step.
    pub grad_accum: usize,
    /// AdamW settings (peak learning rate...).
    pub optimizer: AdamWSettings,
    /// Warmup steps.
    pub warmup: usize,
    /// Floor of the cosine decay, as a fraction of the peak learning rate.
    pub min_lr_ratio: f64,
    /// Seed of shuffling and dropout.
    pub seed: u64,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Continue from `out/checkpoint` when it exists.
    pub resume: bool,
    /// Stop this process after this many steps, with a checkpoint (the schedule still spans the
    /// whole run, so a later `resume` continues it): time-boxed runs on slow machines.
    pub stop_after: Option<usize>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// The base model's name, for `adapter_config.json`.
    pub base_name: String,
}

impl RunOptions {
    /// Defaults for a run writing to `out`.
    pub fn new(out: &Path) -> RunOptions {
        RunOptions {
            out: out.to_path_buf(),
            epochs: 1,
            max_steps: None,
            grad_accum: 1,
            optimizer: AdamWSettings::default(),
            warmup: 0,
            min_lr_ratio: 0.1,
            seed: 0,
            checkpoint_every: 0,
            resume: false,
            stop_after: None,
            progress: false,
            base_name: String::new(),
        }
    }
}

/// What one example contributed.
pub struct ExampleOutcome {
    /// Its loss (with gradients).
    pub loss: Tensor,
    /// Tokens it ran through the model with gradients.
    pub tokens: usize,
    /// Δ of a preference pair.
    pub margin: Option<f64>,
    /// Mean reward of a GRPO group.
    pub reward: Option<f64>,
}

/// One line of `train_log.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLine {
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
    pub tokens: usize,
    pub tokens_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
    pub elapsed_s: f64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Optimiser steps taken in this process.
    pub steps: usize,
    /// Total optimiser steps including resumed ones.
    pub total_steps: usize,
    /// The log lines of this process.
    pub log: Vec<LogLine>,
    /// Tokens trained on.
    pub tokens: usize,
    /// Wall time.
    pub seconds: f64,
    /// Where the adapter was written.
    pub adapter_dir: PathBuf,
}

impl TrainSummary {
    /// Mean loss of the first `n` logged steps.
    pub fn first_loss(&self, n: usize) -> f64 {
        mean(self.log.iter().take(n).map(|l| l.loss))
    }

    /// Mean loss of the last `n` logged steps.
    pub fn last_loss(&self, n: usize) -> f64 {
        let skip = self.log.len().saturating_sub(n);
        mean(self.log.iter().skip(skip).map(|l| l.loss))
    }

    /// Training tokens per second.
    pub fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    sum / count.max(1) as f64
}

/// `trainer_state.json` of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    steps: usize,
    seed: u64,
    examples: usize,
    grad_accum: usize,
}

const CHECKPOINT_DIR: &str = "checkpoint";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "trainer_state.json";
/// The log file under the output directory.
pub const LOG_FILE: &str = "train_log.jsonl";

/// The general loop: `example(model, index, rng)` computes the loss of example `index`.
pub fn train_loop(
    model: &mut TrainModel,
    examples: usize,
    options: &RunOptions,
    mut example: impl FnMut(&TrainModel, usize, &mut ChaCha8Rng) -> TrainResult<ExampleOutcome>,
) -> TrainResult<TrainSummary> {
    if examples == 0 {
        return Err(TrainError::Config("no training examples".to_string()));
    }
    let accum = options.grad_accum.max(1);
    let steps_per_epoch = examples.div_ceil(accum);
    let planned = steps_per_epoch * options.epochs.max(1);
    let total = options.max_steps.map_or(planned, |m| m.min(planned));
    let schedule = Schedule {
        warmup: options.warmup.min(total),
        total,
        min_ratio: options.min_lr_ratio,
    };
    let variables = model.variables();
    let mut optimizer = AdamW::new(variables.clone(), options.optimizer, schedule)
        .during(|| "creating the optimiser".to_string())?;
    std::fs::create_dir_all(&options.out)
        .map_err(io_error("cannot create the output directory", &options.out))?;
    let checkpoint = options.out.join(CHECKPOINT_DIR);
    let mut start_step = 0;
    if options.resume && checkpoint.join(STATE_FILE).exists() {
        start_step = restore_checkpoint(model, &mut optimizer, &checkpoint, options)?;
        tracing::info!(step = start_step, "resumed from {}", checkpoint.display());
    }
    let log_path = options.out.join(LOG_FILE);
    let mut log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(start_step > 0)
        .write(true)
        .truncate(start_step == 0)
        .open(&log_path)
        .map_err(io_error("cannot open the training log", &log_path))?;
    let bar = if options.progress {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} train [{bar:30}] {pos}/{len} steps {msg} ({elapsed}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_position(start_step as u64);
        bar
    } else {
        ProgressBar::hidden()
    };
    // The example order of every epoch is fixed by the seed, so a resumed run sees the same.
    let order_of = |epoch: usize| {
        let mut order: Vec<usize> = (0..examples).collect();
        order.shuffle(&mut seeded_rng(options.seed.wrapping_add(epoch as u64)));
        order
    };
    let started = Instant::now();
    let mut summary = TrainSummary {
        steps: 0,
        total_steps: start_step,
        log: Vec::new(),
        tokens: 0,
        seconds: 0.0,
        adapter_dir: options.out.clone(),
    };
    for step in start_step..total {
        let step_started = Instant::now();
        let epoch = step / steps_per_epoch;
        let order = order_of(epoch);
        let first = (step % steps_per_epoch) * accum;
        let batch: Vec<usize> = order[first..(first + accum).min(examples)].to_vec();
        let mut rng = seeded_rng(options.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut sums: Vec<Option<Tensor>> = vec![None; variables.len()];
        let (mut loss_sum, mut tokens) = (0.0, 0usize);
        let (mut margins, mut rewards) = (Vec::new(), Vec::new());
        for index in &batch {
            let outcome = example(model, *index, &mut rng)?;
            let loss_value = outcome
                .loss
                .to_dtype(DType::F64)
                .and_then(|l| l.to_scalar::<f64>())
                .during(|| "reading the loss".to_string())?;
            if !loss_value.is_finite() {
                return Err(TrainError::Config(format!(
                    "the loss became {loss_value} at step {step} (lower --lr)"
                )));
            }
            loss_sum += loss_value;
            tokens += outcome.tokens;
            margins.extend(outcome.margin);
            rewards.extend(outcome.reward);
            let scaled =
                (outcome.loss / batch.len() as f64).during(|| "scaling the loss".to_string())?;
            let grads = scaled
                .backward()
                .during(|| format!("backward pass of step {step}"))?;
            for (slot, variable) in sums.iter_mut().zip(&variables) {
                if let Some(grad) = grads.get(variable.as_tensor()) {
                    *slot = Some(match slot.take() {
                        Some(sum) => {
                            (sum + grad).during(|| "accumulating gradients".to_string())?
                        }
                        None => grad.clone(),
                    });
                }
            }
        }
        let lr = optimizer.learning_rate();
        optimizer
            .step(&sums)
            .during(|| format!("optimiser step {step}"))?;
        let seconds = step_started.elapsed().as_secs_f64();
        let average = |values: &[f64]| (!values.is_empty()).then(|| mean(values.iter().copied()));
        let line = LogLine {
            step: step + 1,
            epoch,
            loss: loss_sum / batch.len() as f64,
            lr,
            tokens,
            tokens_per_s: tokens as f64 / seconds.max(1e-9),
            margin: average(&margins),
            reward: average(&rewards),
            elapsed_s: started.elapsed().as_secs_f64(),
        };
        let text = serde_json::to_string(&line).map_err(|e| TrainError::Config(e.to_string()))?;
        writeln!(log_file, "{text}")
            .map_err(io_error("cannot write the training log", &log_path))?;
        bar.set_message(format!("loss {:.4} lr {:.2e}", line.loss, lr));
        bar.inc(1);
        summary.tokens += tokens;
        summary.steps += 1;
        summary.total_steps = step + 1;
        summary.log.push(line);
        let stopping = options.stop_after.is_some_and(|n| summary.steps >= n);
        let done = step + 1 == total || stopping;
        if done || (options.checkpoint_every > 0 && (step + 1) % options.checkpoint_every == 0) {
            write_checkpoint(model, &optimizer, &checkpoint, options, step + 1, examples)?;
        }
        if stopping {
            break;
        }
    }
    bar.finish_and_clear();
    save_adapter(model, &options.out, &options.base_name)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn write_checkpoint(
    model: &TrainModel,
    optimizer: &AdamW,
    dir: &Path,
    options: &RunOptions,
    steps: usize,
    examples: usize,
) -> TrainResult<()> {
    save_adapter(model, dir, &options.base_name)?;
    let path = dir.join(OPTIMIZER_FILE);
    candle_core::safetensors::save(&optimizer.state_tensors(), &path)
        .during(|| format!("writing '{}'", path.display()))?;
    let state = TrainerState {
        steps,
        seed: options.seed,
        examples,
        grad_accum: options.grad_accum.max(1),
    };
    let path = dir.join(STATE_FILE);
    let text =
        serde_json::to_string_pretty(&state).map_err(|e| TrainError::Config(e.to_string()))?;
    std::fs::write(&path, text).map_err(io_error("cannot write the trainer state", &path))
}

fn restore_checkpoint(
    model: &mut TrainModel,
    optimizer: &mut AdamW,
    dir: &Path,
    options: &RunOptions,
) -> TrainResult<usize> {
    let path = dir.join(STATE_FILE);
    let text =
        std::fs::read_to_string(&path).map_err(io_error("cannot read the trainer state", &path))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| {
        TrainError::Config(format!("'{}' is not a trainer state: {e}", path.display()))
    })?;
    if state.seed != options.seed || state.grad_accum != options.grad_accum.max(1) {
        return Err(TrainError::Config(format!(
            "the checkpoint in '{}' was written with --seed {} --grad-accum {}; resume with the same \
             flags or start afresh without --resume",
            dir.display(),
            state.seed,
            state.grad_accum
        )));
    }
    load_adapter_into(model, dir, false)?;
    let path = dir.join(OPTIMIZER_FILE);
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
            .during(|| format!("reading '{}'", path.display()))?;
    optimizer
        .restore(&tensors, state.steps)
        .map_err(|reason| TrainError::Adapter {
            dir: dir.to_path_buf(),
            reason,
        })?;
    Ok(state.steps)
}

/// SFT on `sequences`.
pub fn train_sft(
    model: &mut TrainModel,
    sequences: &[Sequence],
    options: &RunOptions,
) -> TrainResult<TrainSummary> {
    train_loop(model, sequences.len(), options, |model, index, rng| {
        let sequence = &sequences[index];
        let logprobs = completion_logprobs(model, sequence, Policy::Trained, Some(rng))
            .during(|| format!("forward pass of SFT example {}", index + 1))?;
        let loss = sft_loss(&[logprobs]).during(|| "SFT loss".to_string())?;
        Ok(ExampleOutcome {
            loss,
            tokens: sequence.tokens.len(),
            margin: None,
            reward: None,
        })
    })
}

/// A tokenized preference pair.
#[derive(Debug, Clone)]
pub struct PairSequences {
    /// Prompt + prefix + chosen.
    pub chosen: Sequence,
    /// Prompt + prefix + rejected.
    pub rejected: Sequence,
    /// Δr (0 for DPO data without rewards).
    pub reward_margin: f64,
}

/// Summed completion log-probability under the reference policy.
pub fn reference_logprob(model: &TrainModel, sequence: &Sequence) -> TrainResult<f64> {
    completion_logprobs(model, sequence, Policy::Reference, None)
        .and_then(|l| l.sum_all())
        .and_then(|l| l.to_dtype(DType::F64))
        .and_then(|l| l.to_scalar::<f64>())
        .during(|| "reference log-probabilities".to_string())
}

/// DPO / MDPO on `pairs`; the reference log-probabilities are computed once, before training.
pub fn train_preference(
    model: &mut TrainModel,
    pairs: &[PairSequences],
    objective: PreferenceObjective,
    beta: f64,
    options: &RunOptions,
) -> TrainResult<TrainSummary> {
    let mut references = Vec::with_capacity(pairs.len());
    let bar = if options.progress {
        ProgressBar::new(pairs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_message("reference log-probabilities");
    for pair in pairs {
        references.push((
            reference_logprob(model, &pair.chosen)?,
            reference_logprob(model, &pair.rejected)?,
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    train_loop(model, pairs.len(), options, |model, index, rng| {
        let pair = &pairs[index];
        let (reference_chosen, reference_rejected) = references[index];
        let sum = |sequence: &Sequence, rng: &mut ChaCha8Rng| {
            completion_logprobs(model, sequence, Policy::Trained, Some(rng))
                .and_then(|l| l.sum_all())
        };
        let chosen =
            sum(&pair.chosen, rng).during(|| format!("forward pass of pair {}", index + 1))?;
        let rejected =
            sum(&pair.rejected, rng).during(|| format!("forward pass of pair {}", index + 1))?;
        let pair_loss = preference_loss(
            &chosen,
            &rejected,
            reference_chosen,
            reference_rejected,
            pair.reward_margin,
            beta,
            objective,
        )
        .during(|| format!("preference loss of pair {}", index + 1))?;
        Ok(ExampleOutcome {
            loss: pair_loss.loss,
            tokens: pair.chosen.tokens.len() + pair.rejected.tokens.len(),
            margin: Some(pair_loss.margin),
            reward: None,
        })
    })
}

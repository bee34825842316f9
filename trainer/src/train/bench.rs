//! Training throughput: timed SFT steps (forward, backward, AdamW) on a fixed random sequence,
//! for `learnat bench train`.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::lora::Policy;
use super::model::TrainModel;
use super::objectives::{Sequence, completion_logprobs, sft_loss};
use super::optim::{AdamW, AdamWSettings, Schedule};
use super::{TensorContext, TrainResult};

/// Timings of a throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    /// Tokens per step (one sequence).
    pub tokens_per_step: usize,
    /// Seconds of each timed step (after one warm-up step).
    pub step_seconds: Vec<f64>,
    /// Median tokens per second.
    pub tokens_per_second: f64,
    /// Trainable parameters.
    pub trainable_parameters: usize,
}

/// Runs `steps` timed SFT steps on a random sequence of `seq_len` tokens whose second half is
/// the completion.
pub fn bench_train(
    model: &TrainModel,
    seq_len: usize,
    steps: usize,
    seed: u64,
) -> TrainResult<TrainBench> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let vocab = model.vocab_size() as u32;
    let tokens: Vec<u32> = (0..seq_len.max(2))
        .map(|_| rng.random_range(0..vocab))
        .collect();
    let sequence = Sequence {
        completion_start: tokens.len() / 2,
        tokens,
    };
    let schedule = Schedule {
        warmup: 0,
        total: steps + 1,
        min_ratio: 1.0,
    };
    let variables = model.variables();
    let mut optimizer = AdamW::new(variables.clone(), AdamWSettings::default(), schedule)
        .during(|| "optimiser".to_string())?;
    let mut step_seconds = Vec::with_capacity(steps);
    for step in 0..=steps {
        let started = Instant::now();
        let logprobs = completion_logprobs(model, &sequence, Policy::Trained, Some(&mut rng))
            .during(|| "forward".to_string())?;
        let loss = sft_loss(&[logprobs]).during(|| "loss".to_string())?;
        let grads = loss.backward().during(|| "backward".to_string())?;
        let gradients: Vec<_> = variables
            .iter()
            .map(|v| grads.get(v.as_tensor()).cloned())
            .collect();
        optimizer
            .step(&gradients)
            .during(|| "optimiser step".to_string())?;
        if step > 0 {
            step_seconds.push(started.elapsed().as_secs_f64());
        }
    }
    let mut sorted = step_seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    Ok(TrainBench {
        tokens_per_step: sequence.tokens.len(),
        tokens_per_second: sequence.tokens.len() as f64 / median,
        step_seconds,
        trainable_parameters: model.trainable_parameters(),
    })
}

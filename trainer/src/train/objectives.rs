//! Completion log-probabilities and the training losses, as tensor functions.
//!
//! - SFT: mean negative log-likelihood of the completion tokens (the prompt is context only).
//! - DPO: `−log σ(Δ)` with `Δ = β·[(log πθ(y_w) − log πref(y_w)) − (log πθ(y_l) − log πref(y_l))]`.
//! - MDPO (DESIGN.md): the paper's `−log σ(Δ − Δr)` and the reference code's
//!   `−log σ(Δ − α·log Δr)`, with `Δr = r(y_w) − r(y_l) > 0`.
//! - GRPO: group-normalised advantages, the clipped ratio surrogate per token, and the `k3`
//!   estimator of KL(πθ ‖ πref) (`exp(ref − θ) − (ref − θ) − 1`), averaged over tokens.

use candle_core::{D, Tensor};
use rand_chacha::ChaCha8Rng;

use super::lora::Policy;
use super::model::{TrainModel, log_softmax_last_dim};

/// A tokenized training sequence: `tokens[completion_start..]` is the completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Prompt followed by completion.
    pub tokens: Vec<u32>,
    /// Index of the first completion token (at least 1: the prompt is never empty).
    pub completion_start: usize,
}

impl Sequence {
    /// Number of completion tokens.
    pub fn completion_len(&self) -> usize {
        self.tokens.len() - self.completion_start
    }
}

/// `log p(target_i)` for logits `(n, vocab)` and `n` targets: a `(n,)` tensor.
pub fn token_logprobs(logits: &Tensor, targets: &[u32]) -> candle_core::Result<Tensor> {
    let log_probs = log_softmax_last_dim(logits)?;
    let index = Tensor::new(targets, logits.device())?.unsqueeze(1)?;
    log_probs.gather(&index, 1)?.squeeze(1)
}

/// Per-token log-probabilities of `sequence`'s completion under `policy`: `(completion_len,)`.
pub fn completion_logprobs(
    model: &TrainModel,
    sequence: &Sequence,
    policy: Policy,
    dropout: Option<&mut ChaCha8Rng>,
) -> candle_core::Result<Tensor> {
    let start = sequence.completion_start;
    if start == 0 || start >= sequence.tokens.len() {
        candle_core::bail!(
            "a sequence of {} tokens with its completion from {start} has no prompt or no completion",
            sequence.tokens.len()
        );
    }
    // The last token predicts nothing we train on.
    let inputs = &sequence.tokens[..sequence.tokens.len() - 1];
    let logits = model.forward(inputs, start - 1, policy, dropout)?;
    token_logprobs(&logits, &sequence.tokens[start..])
}

/// The SFT loss of a batch: total completion NLL divided by the number of completion tokens.
pub fn sft_loss(per_sequence: &[Tensor]) -> candle_core::Result<Tensor> {
    let tokens: usize = per_sequence.iter().map(|t| t.elem_count()).sum();
    let total = Tensor::cat(per_sequence, 0)?.sum_all()?;
    total.neg()? / tokens.max(1) as f64
}

/// Which preference objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PreferenceObjective {
    /// Plain DPO (the ablation).
    Dpo,
    /// MDPO as in the paper: `−log σ(Δ − Δr)`.
    MdpoMargin,
    /// MDPO as in the reference code: `−log σ(Δ − α·log Δr)`.
    MdpoLogMargin {
        /// α.
        alpha: f64,
    },
}

impl PreferenceObjective {
    /// The offset subtracted from Δ for a pair whose rewards differ by `reward_margin`.
    pub fn offset(self, reward_margin: f64) -> Result<f64, String> {
        match self {
            PreferenceObjective::Dpo => Ok(0.0),
            PreferenceObjective::MdpoMargin => Ok(reward_margin),
            PreferenceObjective::MdpoLogMargin { alpha } => {
                if reward_margin <= 0.0 {
                    return Err(format!(
                        "the log-margin MDPO variant needs Δr > 0, the pair has {reward_margin}"
                    ));
                }
                Ok(alpha * reward_margin.ln())
            }
        }
    }
}

/// The loss of one pair and its implicit reward margin Δ (detached, for logs).
pub struct PairLoss {
    /// `−log σ(Δ − offset)`.
    pub loss: Tensor,
    /// Δ.
    pub margin: f64,
}

/// `−log σ(x)`, computed stably as `relu(−x) + log(1 + exp(−|x|))`.
pub fn neg_log_sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    let softplus_tail = ((x.abs()?.neg()?.exp()? + 1.0)?).log()?;
    x.neg()?.relu()? + softplus_tail
}

/// The preference loss of one pair. `policy_*` are summed completion log-probabilities under the
/// trained policy (scalars with gradients), `reference_*` the same under the reference.
pub fn preference_loss(
    policy_chosen: &Tensor,
    policy_rejected: &Tensor,
    reference_chosen: f64,
    reference_rejected: f64,
    reward_margin: f64,
    beta: f64,
    objective: PreferenceObjective,
) -> candle_core::Result<PairLoss> {
    let offset = objective
        .offset(reward_margin)
        .map_err(candle_core::Error::msg)?;
    let difference = (policy_chosen - policy_rejected)?;
    let delta = ((difference - (reference_chosen - reference_rejected))? * beta)?;
    let margin = delta
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    let loss = neg_log_sigmoid(&(delta - offset)?)?;
    Ok(PairLoss { loss, margin })
}

/// `(r − mean) / (std + eps)` within a group (population std); all zeros when the rewards are
/// equal (such a group carries no signal).
pub fn group_advantages(rewards: &[f64]) -> Vec<f64> {
    let n = rewards.len().max(1) as f64;
    let mean = rewards.iter().sum::<f64>() / n;
    let variance = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n;
    let std = variance.sqrt();
    rewards.iter().map(|r| (r - mean) / (std + 1e-4)).collect()
}

/// GRPO settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrpoSettings {
    /// Clip range ε of the probability ratio.
    pub clip: f64,
    /// Weight β of the KL term.
    pub kl_beta: f64,
}

/// The GRPO loss of one sample: `−mean_t [min(ρ_t A, clip(ρ_t, 1 ± ε) A) − β·KL_t]` with
/// `ρ_t = exp(log πθ − log πold)`. `old` and `reference` are per-token log-probabilities of the
/// sampling policy and of the reference, as constants.
pub fn grpo_sample_loss(
    policy: &Tensor,
    old: &Tensor,
    reference: &Tensor,
    advantage: f64,
    settings: GrpoSettings,
) -> candle_core::Result<Tensor> {
    let ratio = (policy - old)?.exp()?;
    let unclipped = (&ratio * advantage)?;
    let clipped = (ratio.clamp(1.0 - settings.clip, 1.0 + settings.clip)? * advantage)?;
    let surrogate = unclipped.minimum(&clipped)?;
    let log_ratio = (reference - policy)?;
    let kl = ((log_ratio.exp()? - &log_ratio)? - 1.0)?;
    let objective = (surrogate - (kl * settings.kl_beta)?)?;
    objective.mean(D::Minus1)?.neg()
}

//! AdamW over the LoRA variables, with linear warmup and cosine decay, and a state that
//! checkpoints (moments and step count) so a resumed run continues exactly.

use std::collections::HashMap;
use std::f64::consts::PI;

use candle_core::{Tensor, Var};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWSettings {
    /// Peak learning rate.
    pub lr: f64,
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWSettings {
    fn default() -> Self {
        AdamWSettings {
            lr: 2e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Linear warmup to the peak, then cosine decay to `min_ratio · peak` at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Warmup steps.
    pub warmup: usize,
    /// Total optimiser steps.
    pub total: usize,
    /// Floor of the decay, as a fraction of the peak.
    pub min_ratio: f64,
}

impl Schedule {
    /// The multiplier of the peak learning rate at optimiser step `step` (0-based).
    pub fn factor(&self, step: usize) -> f64 {
        if step < self.warmup {
            return (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((step - self.warmup) as f64 / span as f64).min(1.0);
        self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + (PI * progress).cos())
    }
}

/// AdamW state.
pub struct AdamW {
    variables: Vec<Var>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    /// Optimiser steps taken.
    pub steps: usize,
    settings: AdamWSettings,
    schedule: Schedule,
}

impl AdamW {
    /// A fresh optimiser over `variables`.
    pub fn new(
        variables: Vec<Var>,
        settings: AdamWSettings,
        schedule: Schedule,
    ) -> candle_core::Result<AdamW> {
        let first = variables
            .iter()
            .map(|v| v.zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let second = variables
            .iter()
            .map(|v| v.zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(AdamW {
            variables,
            first,
            second,
            steps: 0,
            settings,
            schedule,
        })
    }

    /// The learning rate the next step uses.
    pub fn learning_rate(&self) -> f64 {
        self.settings.lr * self.schedule.factor(self.steps)
    }

    /// One update with `gradients` (one per variable, same order; `None` = no gradient).
    pub fn step(&mut self, gradients: &[Option<Tensor>]) -> candle_core::Result<()> {
        let lr = self.learning_rate();
        let AdamWSettings {
            beta1,
            beta2,
            eps,
            weight_decay,
            ..
        } = self.settings;
        let t = (self.steps + 1) as i32;
        let correction1 = 1.0 - beta1.powi(t);
        let correction2 = 1.0 - beta2.powi(t);
        for (index, variable) in self.variables.iter().enumerate() {
            let Some(gradient) = gradients.get(index).and_then(Option::as_ref) else {
                continue;
            };
            let m = ((&self.first[index] * beta1)? + (gradient * (1.0 - beta1))?)?;
            let v = ((&self.second[index] * beta2)? + (gradient.sqr()? * (1.0 - beta2))?)?;
            let update = ((&m / correction1)? / ((&v / correction2)?.sqrt()? + eps)?)?;
            let decayed = (variable.as_tensor() * (1.0 - lr * weight_decay))?;
            variable.set(&(decayed - (update * lr)?)?)?;
            self.first[index] = m;
            self.second[index] = v;
        }
        self.steps += 1;
        Ok(())
    }

    /// The moments by name (`m.N`, `v.N`), for checkpoints.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut state = HashMap::new();
        for (index, (m, v)) in self.first.iter().zip(&self.second).enumerate() {
            state.insert(format!("m.{index}"), m.clone());
            state.insert(format!("v.{index}"), v.clone());
        }
        state
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count.
    pub fn restore(&mut self, state: &HashMap<String, Tensor>, steps: usize) -> Result<(), String> {
        for index in 0..self.variables.len() {
            for (prefix, slot) in [
                ("m", &mut self.first[index]),
                ("v", &mut self.second[index]),
            ] {
                let name = format!("{prefix}.{index}");
                let tensor = state
                    .get(&name)
                    .ok_or_else(|| format!("the optimiser checkpoint has no '{name}'"))?;
                if tensor.dims() != slot.dims() {
                    return Err(format!(
                        "optimiser tensor '{name}' is {:?}, expected {:?} (was the checkpoint \
                         written with another --rank or --target-modules?)",
                        tensor.dims(),
                        slot.dims()
                    ));
                }
                *slot = tensor.to_dtype(slot.dtype()).map_err(|e| e.to_string())?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

//! Helpers shared by the trainer's tests: tiny models and adapters with random values.

#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use learnat_agent::model::gguf::adapter::TargetModule;
use learnat_agent::model::gguf::{ModelConfig, ModelFamily};
use learnat_trainer::train::lora::LoraSettings;
use learnat_trainer::train::model::TrainModel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A very small model shape: 1-2 layers, width 8, 2 query heads over 1 kv head.
pub fn micro_config(family: ModelFamily, layers: usize) -> ModelConfig {
    ModelConfig {
        family,
        layers,
        embedding_length: 8,
        heads: 2,
        kv_heads: 1,
        head_dim: 4,
        feed_forward_length: 12,
        rope_freq_base: 10_000.0,
        rms_norm_eps: 1e-6,
        trained_context_length: 32,
    }
}

pub const MICRO_VOCAB: usize = 11;

/// LoRA on every module, rank 2, no dropout.
pub fn all_modules(rank: usize) -> LoraSettings {
    LoraSettings {
        rank,
        alpha: 2.0 * rank as f64,
        dropout: 0.0,
        targets: TargetModule::ALL.to_vec(),
    }
}

/// A random micro model of `dtype`.
pub fn micro_model(family: ModelFamily, layers: usize, dtype: DType, seed: u64) -> TrainModel {
    let config = micro_config(family, layers);
    let weights =
        TrainModel::random_weights(&config, MICRO_VOCAB, dtype, seed).expect("random weights");
    TrainModel::new(&config, &weights, &all_modules(2), 32, seed).expect("micro model")
}

/// Gives every `B` random values (PEFT starts them at zero, which would make `A`'s gradient
/// vanish and hide errors in it).
pub fn randomize_b(model: &mut TrainModel, seed: u64, scale: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = model.config().layers;
    for layer in 0..layers {
        for module in TargetModule::ALL {
            let Some(linear) = model.projection_mut(layer, module) else {
                continue;
            };
            let Some(pair) = &linear.lora else { continue };
            let dims = pair.b.dims().to_vec();
            let count: usize = dims.iter().product();
            let values: Vec<f64> = (0..count)
                .map(|_| rng.random_range(-scale..scale))
                .collect();
            let b = Tensor::from_vec(values, dims, &Device::Cpu)
                .and_then(|t| t.to_dtype(pair.b.dtype()))
                .expect("random B");
            pair.b.set(&b).expect("set B");
        }
    }
}

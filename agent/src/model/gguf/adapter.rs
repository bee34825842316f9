//! LoRA adapters in the Hugging Face PEFT layout, applied to a GGUF model at load time.
//!
//! An adapter directory holds `adapter_config.json` (`r`, `lora_alpha`, `target_modules`, ...)
//! and `adapter_model.safetensors` with tensors named like PEFT writes them:
//! `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (`r × in`) and
//! `...lora_B.weight` (`out × r`). Loading merges `scale · B · A` (scale = `lora_alpha / r`) into
//! the dequantized base matrix and re-quantizes it to Q8_0 (F32 when the width does not fit Q8_0
//! blocks), so inference runs at full speed with no adapter-specific code in the forward pass.
//!
//! Llama-family GGUF files store `q_proj` / `k_proj` rows permuted for the interleaved rotary
//! embedding (llama.cpp's converter); PEFT adapters are in Hugging Face's row order, so the rows
//! of their `lora_B` are permuted the same way here ([`gguf_row_order`]). Qwen2 needs nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::config::{ModelConfig, ModelFamily};

/// The file names of an adapter directory.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The weights file of an adapter directory.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// A projection LoRA can adapt: its Hugging Face name, its block and its GGUF name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetModule {
    Query,
    Key,
    Value,
    Output,
    Gate,
    Up,
    Down,
}

impl TargetModule {
    /// Every module, in the order of a layer's forward pass.
    pub const ALL: [TargetModule; 7] = [
        TargetModule::Query,
        TargetModule::Key,
        TargetModule::Value,
        TargetModule::Output,
        TargetModule::Gate,
        TargetModule::Up,
        TargetModule::Down,
    ];

    /// The Hugging Face / PEFT module name (`q_proj`, ...).
    pub fn hf_name(self) -> &'static str {
        match self {
            TargetModule::Query => "q_proj",
            TargetModule::Key => "k_proj",
            TargetModule::Value => "v_proj",
            TargetModule::Output => "o_proj",
            TargetModule::Gate => "gate_proj",
            TargetModule::Up => "up_proj",
            TargetModule::Down => "down_proj",
        }
    }

    /// The module named `name` (`q_proj`, ...).
    pub fn from_hf_name(name: &str) -> Option<TargetModule> {
        TargetModule::ALL.into_iter().find(|m| m.hf_name() == name)
    }

    /// `self_attn` or `mlp`.
    pub fn block(self) -> &'static str {
        match self {
            TargetModule::Query
            | TargetModule::Key
            | TargetModule::Value
            | TargetModule::Output => "self_attn",
            TargetModule::Gate | TargetModule::Up | TargetModule::Down => "mlp",
        }
    }

    /// The GGUF tensor of this module in `layer` (`blk.3.attn_q.weight`).
    pub fn gguf_tensor(self, layer: usize) -> String {
        let suffix = match self {
            TargetModule::Query => "attn_q",
            TargetModule::Key => "attn_k",
            TargetModule::Value => "attn_v",
            TargetModule::Output => "attn_output",
            TargetModule::Gate => "ffn_gate",
            TargetModule::Up => "ffn_up",
            TargetModule::Down => "ffn_down",
        };
        format!("blk.{layer}.{suffix}.weight")
    }

    /// The PEFT tensor name of this module's `lora_A` or `lora_B` (`which` is "A" or "B").
    pub fn peft_tensor(self, layer: usize, which: &str) -> String {
        format!(
            "base_model.model.model.layers.{layer}.{}.{}.lora_{which}.weight",
            self.block(),
            self.hf_name()
        )
    }

    /// `(out_features, in_features)` of this module's weight in a model of `config`.
    pub fn shape(self, config: &ModelConfig) -> (usize, usize) {
        let width = config.embedding_length;
        match self {
            TargetModule::Query => (config.heads * config.head_dim, width),
            TargetModule::Key | TargetModule::Value => (config.kv_heads * config.head_dim, width),
            TargetModule::Output => (width, config.heads * config.head_dim),
            TargetModule::Gate | TargetModule::Up => (config.feed_forward_length, width),
            TargetModule::Down => (width, config.feed_forward_length),
        }
    }

    /// The number of heads whose rows a Llama GGUF permutes for this module, if any.
    fn permuted_heads(self, config: &ModelConfig) -> Option<usize> {
        match (config.family, self) {
            (ModelFamily::Llama, TargetModule::Query) => Some(config.heads),
            (ModelFamily::Llama, TargetModule::Key) => Some(config.kv_heads),
            _ => None,
        }
    }
}

/// For each GGUF row of a permuted q/k matrix, the Hugging Face row it holds (llama.cpp's
/// `permute`: within a head, HF rows `[0..d/2)` and `[d/2..d)` are interleaved).
pub fn gguf_row_order(heads: usize, head_dim: usize) -> Vec<u32> {
    let half = head_dim / 2;
    let mut order = Vec::with_capacity(heads * head_dim);
    for head in 0..heads {
        for gguf_row in 0..head_dim {
            let (pair, which) = (gguf_row / 2, gguf_row % 2);
            order.push((head * head_dim + which * half + pair) as u32);
        }
    }
    order
}

/// The inverse of [`gguf_row_order`]: for each Hugging Face row, the GGUF row holding it.
pub fn hf_row_order(heads: usize, head_dim: usize) -> Vec<u32> {
    let forward = gguf_row_order(heads, head_dim);
    let mut inverse = vec![0u32; forward.len()];
    for (gguf_row, hf_row) in forward.iter().enumerate() {
        inverse[*hf_row as usize] = gguf_row as u32;
    }
    inverse
}

/// Reorders the rows of `b` (a `lora_B`, `out × r`) of `module` from Hugging Face order into the
/// GGUF file's order (`to_gguf`) or back; a no-op for modules a GGUF does not permute.
pub fn permute_lora_b(
    b: &Tensor,
    module: TargetModule,
    config: &ModelConfig,
    to_gguf: bool,
) -> candle_core::Result<Tensor> {
    match module.permuted_heads(config) {
        None => Ok(b.clone()),
        Some(heads) => {
            let order = if to_gguf {
                gguf_row_order(heads, config.head_dim)
            } else {
                hf_row_order(heads, config.head_dim)
            };
            let index = Tensor::new(order.as_slice(), b.device())?;
            b.index_select(&index, 0)
        }
    }
}

/// `adapter_config.json` as PEFT writes it (the fields learnat reads and writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Always "LORA".
    pub peft_type: String,
    /// "CAUSAL_LM".
    #[serde(default)]
    pub task_type: Option<String>,
    /// The base model the adapter was trained on (a path or a hub name).
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// LoRA rank.
    pub r: usize,
    /// LoRA alpha; the update is scaled by `lora_alpha / r`.
    pub lora_alpha: f64,
    /// Dropout on the LoRA input during training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// Adapted module names (`q_proj`, ...).
    pub target_modules: Vec<String>,
    /// "none": biases are not trained.
    #[serde(default = "default_bias")]
    pub bias: String,
    /// False: weights are stored `out × in`.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// True for a saved adapter.
    #[serde(default)]
    pub inference_mode: bool,
    /// rsLoRA scaling (`alpha / sqrt(r)`); learnat neither writes nor reads it as true.
    #[serde(default)]
    pub use_rslora: bool,
}

fn default_bias() -> String {
    "none".to_string()
}

impl AdapterConfig {
    /// The factor applied to `B · A`.
    pub fn scale(&self) -> f64 {
        self.lora_alpha / self.r as f64
    }
}

/// A loaded adapter: per adapted GGUF tensor, its `A` (`r × in`) and `B` (`out × r`, GGUF row
/// order), as f32.
#[derive(Debug)]
pub struct LoraAdapter {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// Its configuration.
    pub config: AdapterConfig,
    pairs: HashMap<String, (Tensor, Tensor)>,
}

impl LoraAdapter {
    /// Reads `dir` and checks it against the base model `model`: layer count, module names and
    /// every matrix shape. A mismatch is an error naming the tensor and both shapes.
    pub fn load(dir: &Path, model: &ModelConfig) -> Result<LoraAdapter, String> {
        let config_path = dir.join(ADAPTER_CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path).map_err(|e| {
            format!(
                "cannot read adapter config '{}': {e} (pass --adapter with a directory written by \
                 `learnat train` or PEFT's save_pretrained)",
                config_path.display()
            )
        })?;
        let config: AdapterConfig = serde_json::from_str(&text)
            .map_err(|e| format!("'{}' is not a PEFT LoRA config: {e}", config_path.display()))?;
        if !config.peft_type.eq_ignore_ascii_case("lora") {
            return Err(format!(
                "'{}': peft_type is '{}', only LORA adapters are supported",
                config_path.display(),
                config.peft_type
            ));
        }
        if config.r == 0 || config.use_rslora || config.fan_in_fan_out {
            return Err(format!(
                "'{}': r = 0, use_rslora and fan_in_fan_out are not supported",
                config_path.display()
            ));
        }
        let modules = config
            .target_modules
            .iter()
            .map(|name| {
                TargetModule::from_hf_name(name).ok_or_else(|| {
                    format!(
                        "'{}': target module '{name}' is not one of q_proj, k_proj, v_proj, \
                         o_proj, gate_proj, up_proj, down_proj",
                        config_path.display()
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let weights_path = dir.join(ADAPTER_WEIGHTS_FILE);
        let mut tensors =
            candle_core::safetensors::load(&weights_path, &Device::Cpu).map_err(|e| {
                format!(
                    "cannot read adapter weights '{}': {e}",
                    weights_path.display()
                )
            })?;
        let mut pairs = HashMap::new();
        let mismatch = |name: &str, found: &[usize], expected: (usize, usize)| {
            format!(
                "adapter tensor '{name}' is {found:?}, the base model needs [{}, {}]: the adapter \
                 in '{}' was trained on a different base model",
                expected.0,
                expected.1,
                dir.display()
            )
        };
        for layer in 0..model.layers {
            for module in &modules {
                let (out, input) = module.shape(model);
                let mut take = |which: &str, expected: (usize, usize)| -> Result<Tensor, String> {
                    let name = module.peft_tensor(layer, which);
                    let tensor = tensors.remove(&name).ok_or_else(|| {
                        format!(
                            "adapter '{}' has no tensor '{name}' (it names {} in target_modules; \
                             was it trained on a model with fewer layers?)",
                            dir.display(),
                            module.hf_name()
                        )
                    })?;
                    if tensor.dims() != [expected.0, expected.1] {
                        return Err(mismatch(&name, tensor.dims(), expected));
                    }
                    tensor
                        .to_dtype(DType::F32)
                        .map_err(|e| format!("adapter tensor '{name}': {e}"))
                };
                let a = take("A", (config.r, input))?;
                let b = take("B", (out, config.r))?;
                let b = permute_lora_b(&b, *module, model, true)
                    .map_err(|e| format!("cannot reorder '{}': {e}", module.hf_name()))?;
                pairs.insert(module.gguf_tensor(layer), (a, b));
            }
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(format!(
                "adapter tensor '{extra}' does not belong to the base model ({} layers): the \
                 adapter in '{}' was trained on a different base model",
                model.layers,
                dir.display()
            ));
        }
        Ok(LoraAdapter {
            dir: dir.to_path_buf(),
            config,
            pairs,
        })
    }

    /// How many matrices the adapter changes.
    pub fn matrices(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the adapter changes the GGUF tensor `name`.
    pub fn adapts(&self, name: &str) -> bool {
        self.pairs.contains_key(name)
    }

    /// `scale · B · A` (`out × in`, f32) for the GGUF tensor `name`, if adapted.
    pub fn delta(&self, name: &str) -> Option<candle_core::Result<Tensor>> {
        let (a, b) = self.pairs.get(name)?;
        Some(b.matmul(a).and_then(|d| d * self.config.scale()))
    }

    /// The GGUF tensor `name` with the adapter merged in, re-quantized (see the module docs), or
    /// `None` when the adapter does not touch it.
    pub fn merge(
        &self,
        name: &str,
        weight: &QTensor,
        device: &Device,
    ) -> Option<candle_core::Result<QTensor>> {
        let delta = self.delta(name)?;
        Some(delta.and_then(|delta| {
            let merged = (weight.dequantize(&Device::Cpu)? + delta)?.to_device(device)?;
            let columns = merged.dim(1)?;
            let dtype = if columns % GgmlDType::Q8_0.block_size() == 0 {
                GgmlDType::Q8_0
            } else {
                GgmlDType::F32
            };
            QTensor::quantize(&merged, dtype)
        }))
    }
}

//! The trainable transformer (Qwen2 and Llama families), written with differentiable candle ops.
//!
//! The same computation as the agent's inference pass (`learnat_agent::model::gguf`): RMS norm,
//! q/k/v projections (+ biases for Qwen2), rotary embedding (NeoX halves for Qwen2, GGUF's
//! interleaved pairs for Llama), grouped-query causal attention, the output projection, SwiGLU.
//! One sequence at a time, no cache: activations are `(tokens, width)`.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use candle_core::{D, DType, Device, Tensor, Var};
use learnat_agent::model::gguf::adapter::TargetModule;
use learnat_agent::model::gguf::{ChatTemplate, GgufTokenizer, ModelConfig, ModelFamily};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::lora::{LoraLinear, LoraSettings, Policy, frozen_product};
use super::{TensorContext, TrainError, TrainResult};

/// Dense base weights by GGUF tensor name (`blk.0.attn_q.weight`, `token_embd.weight`, ...).
pub type BaseWeights = HashMap<String, Tensor>;

/// A base model read from a GGUF file: shape, dense weights, tokenizer and chat template.
pub struct GgufBase {
    pub config: ModelConfig,
    pub weights: BaseWeights,
    pub tokenizer: GgufTokenizer,
    pub template: ChatTemplate,
    /// Total number of base parameters.
    pub parameters: usize,
}

/// Reads the tokenizer and the chat template of a GGUF file the way the agent's loader does.
pub fn tokenizer_and_template(
    metadata: &HashMap<String, gguf_file::Value>,
) -> Result<(GgufTokenizer, ChatTemplate), String> {
    let tokenizer = GgufTokenizer::from_gguf_metadata(metadata)?;
    let token_text = |id: Option<u32>| id.map(|id| tokenizer.decode(&[id])).unwrap_or_default();
    let template = match metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
    {
        Some(source) => ChatTemplate::new(
            source,
            &token_text(tokenizer.bos_token_id()),
            &token_text(tokenizer.eos_token_id()),
        )?,
        None => ChatTemplate::chatml(),
    };
    Ok((tokenizer, template))
}

/// Reads and dequantizes every tensor of a GGUF model to `dtype` on the CPU.
pub fn load_gguf_base(path: &Path, dtype: DType) -> TrainResult<GgufBase> {
    let model_error = |reason: String| TrainError::Model {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path)
        .map_err(|e| model_error(format!("{e} (pass --base with a .gguf file)")))?;
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| model_error(format!("not a readable GGUF file: {e}")))?;
    let config = ModelConfig::from_gguf_metadata(&content.metadata).map_err(model_error)?;
    let (tokenizer, template) = tokenizer_and_template(&content.metadata).map_err(model_error)?;
    let mut weights = BaseWeights::new();
    let mut parameters = 0;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let tensor = content
            .tensor(&mut reader, name, &Device::Cpu)
            .and_then(|q| q.dequantize(&Device::Cpu))
            .and_then(|t| t.to_dtype(dtype))
            .map_err(|e| model_error(format!("cannot read tensor '{name}': {e}")))?;
        parameters += tensor.elem_count();
        weights.insert(name.clone(), tensor);
    }
    Ok(GgufBase {
        config,
        weights,
        tokenizer,
        template,
        parameters,
    })
}

#[derive(Debug)]
struct TrainLayer {
    attention_norm: Tensor,
    ffn_norm: Tensor,
    /// q, k, v, o, gate, up, down (the order of [`TargetModule::ALL`]).
    projections: Vec<LoraLinear>,
    biases: [Option<Tensor>; 3],
}

impl TrainLayer {
    fn projection(&self, module: TargetModule) -> &LoraLinear {
        let index = TargetModule::ALL
            .iter()
            .position(|m| *m == module)
            .unwrap_or_default();
        &self.projections[index]
    }
}

/// A trainable model: frozen base weights and LoRA variables.
#[derive(Debug)]
pub struct TrainModel {
    config: ModelConfig,
    lora: LoraSettings,
    dtype: DType,
    embedding: Tensor,
    output: Arc<Tensor>,
    output_norm: Tensor,
    layers: Vec<TrainLayer>,
    cos: Tensor,
    sin: Tensor,
}

impl TrainModel {
    /// Builds the model from dense weights named by the GGUF conventions; `seed` drives the
    /// initialisation of `A`. Rotary tables cover `max_positions`.
    pub fn new(
        config: &ModelConfig,
        weights: &BaseWeights,
        lora: &LoraSettings,
        max_positions: usize,
        seed: u64,
    ) -> TrainResult<TrainModel> {
        let get = |name: &str| -> TrainResult<Tensor> {
            weights
                .get(name)
                .cloned()
                .ok_or_else(|| TrainError::Config(format!("the base model has no tensor '{name}'")))
        };
        if lora.rank == 0 {
            return Err(TrainError::Config("--rank must be at least 1".to_string()));
        }
        let embedding = get("token_embd.weight")?;
        let dtype = embedding.dtype();
        let output = Arc::new(match weights.get("output.weight") {
            Some(output) => output.clone(),
            None => embedding.clone(),
        });
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(config.layers);
        for layer in 0..config.layers {
            let mut projections = Vec::with_capacity(7);
            for module in TargetModule::ALL {
                let name = module.gguf_tensor(layer);
                let weight = get(&name)?;
                let expected = module.shape(config);
                if weight.dims() != [expected.0, expected.1] {
                    return Err(TrainError::Config(format!(
                        "tensor '{name}' is {:?}, the metadata implies {expected:?}",
                        weight.dims()
                    )));
                }
                let settings = lora.targets.contains(&module).then_some(lora);
                projections.push(
                    LoraLinear::new(name.clone(), weight, settings, &mut rng)
                        .during(|| format!("initialising the adapter of '{name}'"))?,
                );
            }
            let bias = |suffix: &str| weights.get(&format!("blk.{layer}.{suffix}")).cloned();
            layers.push(TrainLayer {
                attention_norm: get(&format!("blk.{layer}.attn_norm.weight"))?,
                ffn_norm: get(&format!("blk.{layer}.ffn_norm.weight"))?,
                projections,
                biases: [
                    bias("attn_q.bias"),
                    bias("attn_k.bias"),
                    bias("attn_v.bias"),
                ],
            });
        }
        let (cos, sin) = rotary_tables(config, max_positions, dtype)
            .during(|| "building rotary tables".to_string())?;
        Ok(TrainModel {
            config: config.clone(),
            lora: lora.clone(),
            dtype,
            embedding,
            output,
            output_norm: get("output_norm.weight")?,
            layers,
            cos,
            sin,
        })
    }

    /// A small random model for tests and gradient checks: `config`'s shape, `vocab` tokens,
    /// weights of `dtype` drawn from `seed`.
    pub fn random_weights(
        config: &ModelConfig,
        vocab: usize,
        dtype: DType,
        seed: u64,
    ) -> TrainResult<BaseWeights> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut weights = BaseWeights::new();
        let matrix = |rng: &mut ChaCha8Rng, rows: usize, columns: usize| -> TrainResult<Tensor> {
            let bound = 1.7 / (columns as f64).sqrt();
            let values: Vec<f64> = (0..rows * columns)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            Tensor::from_vec(values, (rows, columns), &Device::Cpu)
                .and_then(|t| t.to_dtype(dtype))
                .during(|| "random weights".to_string())
        };
        let vector =
            |rng: &mut ChaCha8Rng, size: usize, low: f64, high: f64| -> TrainResult<Tensor> {
                let values: Vec<f64> = (0..size).map(|_| rng.random_range(low..high)).collect();
                Tensor::from_vec(values, size, &Device::Cpu)
                    .and_then(|t| t.to_dtype(dtype))
                    .during(|| "random weights".to_string())
            };
        let width = config.embedding_length;
        weights.insert("token_embd.weight".into(), matrix(&mut rng, vocab, width)?);
        weights.insert(
            "output_norm.weight".into(),
            vector(&mut rng, width, 0.8, 1.2)?,
        );
        for layer in 0..config.layers {
            for module in TargetModule::ALL {
                let (out, input) = module.shape(config);
                weights.insert(module.gguf_tensor(layer), matrix(&mut rng, out, input)?);
            }
            for name in ["attn_norm", "ffn_norm"] {
                weights.insert(
                    format!("blk.{layer}.{name}.weight"),
                    vector(&mut rng, width, 0.8, 1.2)?,
                );
            }
            if config.family == ModelFamily::Qwen2 {
                let q = config.heads * config.head_dim;
                let kv = config.kv_heads * config.head_dim;
                for (name, size) in [("attn_q", q), ("attn_k", kv), ("attn_v", kv)] {
                    weights.insert(
                        format!("blk.{layer}.{name}.bias"),
                        vector(&mut rng, size, -0.1, 0.1)?,
                    );
                }
            }
        }
        Ok(weights)
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The LoRA settings.
    pub fn lora_settings(&self) -> &LoraSettings {
        &self.lora
    }

    /// The element type of the weights.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The number of logits.
    pub fn vocab_size(&self) -> usize {
        self.output.dim(0).unwrap_or_default()
    }

    /// The longest sequence the rotary tables cover.
    pub fn max_positions(&self) -> usize {
        self.cos.dim(0).unwrap_or_default()
    }

    /// Every adapted projection, in layer order.
    pub fn adapted(&self) -> impl Iterator<Item = (usize, TargetModule, &LoraLinear)> {
        self.layers.iter().enumerate().flat_map(|(index, layer)| {
            TargetModule::ALL
                .into_iter()
                .map(move |module| (index, module, layer.projection(module)))
                .filter(|(_, _, linear)| linear.lora.is_some())
        })
    }

    /// Mutable access to one projection (loading adapters).
    pub fn projection_mut(
        &mut self,
        layer: usize,
        module: TargetModule,
    ) -> Option<&mut LoraLinear> {
        let index = TargetModule::ALL.iter().position(|m| *m == module)?;
        self.layers
            .get_mut(layer)
            .map(|l| &mut l.projections[index])
    }

    /// The trainable variables, `A` then `B` of each adapted projection in layer order.
    pub fn variables(&self) -> Vec<Var> {
        self.adapted()
            .flat_map(|(_, _, linear)| {
                let pair = linear.lora.as_ref().map(|p| [p.a.clone(), p.b.clone()]);
                pair.into_iter().flatten()
            })
            .collect()
    }

    /// Number of trainable parameters.
    pub fn trainable_parameters(&self) -> usize {
        self.variables().iter().map(|v| v.elem_count()).sum()
    }

    /// Logits `(tokens.len() - from, vocab)` for the positions `from..`: row `i` predicts token
    /// `from + i + 1`. `dropout` (an RNG) enables LoRA dropout.
    pub fn forward(
        &self,
        tokens: &[u32],
        from: usize,
        policy: Policy,
        mut dropout: Option<&mut ChaCha8Rng>,
    ) -> candle_core::Result<Tensor> {
        let seq_len = tokens.len();
        if seq_len == 0 || from >= seq_len {
            candle_core::bail!("forward pass over {seq_len} tokens from position {from}");
        }
        if seq_len > self.max_positions() {
            candle_core::bail!(
                "a sequence of {seq_len} tokens is longer than --max-seq-len {}",
                self.max_positions()
            );
        }
        let vocab = self.embedding.dim(0)?;
        if let Some(bad) = tokens.iter().find(|t| **t as usize >= vocab) {
            candle_core::bail!("token id {bad} is outside the vocabulary of {vocab}");
        }
        let device = self.embedding.device();
        let ids = Tensor::new(tokens, device)?;
        let mut hidden = self.embedding.index_select(&ids, 0)?;
        let cos = self.cos.narrow(0, 0, seq_len)?;
        let sin = self.sin.narrow(0, 0, seq_len)?;
        let eps = self.config.rms_norm_eps;
        let p = self.lora.dropout;
        for layer in &self.layers {
            let mut project = |module: TargetModule, x: &Tensor| -> candle_core::Result<Tensor> {
                let rng = dropout.as_deref_mut().map(|rng| (p, rng));
                layer.projection(module).forward(x, policy, rng)
            };
            let normed = rms_norm(&hidden, &layer.attention_norm, eps)?;
            let add_bias = |x: Tensor, bias: &Option<Tensor>| match bias {
                Some(bias) => x.broadcast_add(bias),
                None => Ok(x),
            };
            let q = add_bias(project(TargetModule::Query, &normed)?, &layer.biases[0])?;
            let k = add_bias(project(TargetModule::Key, &normed)?, &layer.biases[1])?;
            let v = add_bias(project(TargetModule::Value, &normed)?, &layer.biases[2])?;
            let mixed = self.attention(&q, &k, &v, &cos, &sin)?;
            let attention_out = project(TargetModule::Output, &mixed)?;
            hidden = hidden.add(&attention_out)?;
            let normed = rms_norm(&hidden, &layer.ffn_norm, eps)?;
            let gate = project(TargetModule::Gate, &normed)?;
            let up = project(TargetModule::Up, &normed)?;
            let activated = (gate.silu()? * up)?;
            let ffn_out = project(TargetModule::Down, &activated)?;
            hidden = hidden.add(&ffn_out)?;
        }
        let selected = hidden.narrow(0, from, seq_len - from)?;
        let normed = rms_norm(&selected, &self.output_norm, eps)?;
        // The output head is frozen too: only the input gradient is needed.
        frozen_product(&normed.contiguous()?, &self.output)
    }

    fn attention(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let config = &self.config;
        let seq_len = q.dim(0)?;
        let (heads, kv_heads, head_dim) = (config.heads, config.kv_heads, config.head_dim);
        let split = |x: &Tensor, count: usize| -> candle_core::Result<Tensor> {
            x.reshape((seq_len, count, head_dim))?
                .transpose(0, 1)?
                .contiguous()
        };
        let neox = config.family.rope_is_neox();
        let q = rotate(&split(q, heads)?, cos, sin, neox)?;
        let k = rotate(&split(k, kv_heads)?, cos, sin, neox)?;
        let v = split(v, kv_heads)?;
        // Query head h reads kv head h / group, as in the inference pass.
        let group = heads / kv_heads;
        let repeat = |x: Tensor| -> candle_core::Result<Tensor> {
            if group == 1 {
                return Ok(x);
            }
            x.unsqueeze(1)?
                .broadcast_as((kv_heads, group, seq_len, head_dim))?
                .contiguous()?
                .reshape((heads, seq_len, head_dim))
        };
        let (k, v) = (repeat(k)?, repeat(v)?);
        let scale = 1.0 / (head_dim as f64).sqrt();
        // Scaling q (tokens × dim) is cheaper than scaling the scores (tokens × tokens), and the
        // causal softmax keeps one score-sized tensor for backward instead of several.
        let scores = (q * scale)?.matmul(&k.t()?)?.contiguous()?;
        let weights = scores.apply_op1(CausalSoftmax)?;
        weights
            .matmul(&v)?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((seq_len, heads * head_dim))
    }
}

/// Log-softmax over the last dimension from differentiable ops. The max is subtracted for
/// stability and detached: the result does not depend on it, so its gradient would be zero.
pub fn log_softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&log_sum)
}

/// `x / sqrt(mean(x²) + eps) · weight` over the last dimension.
fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean_square = x.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = x.broadcast_div(&(mean_square + eps)?.sqrt()?)?;
    normed.broadcast_mul(weight)
}

/// The rotary embedding of `x` `(heads, seq, dim)`: NeoX halves or interleaved pairs.
fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor, neox: bool) -> candle_core::Result<Tensor> {
    let (heads, seq_len, dim) = x.dims3()?;
    let half = dim / 2;
    if neox {
        let first = x.narrow(D::Minus1, 0, half)?;
        let second = x.narrow(D::Minus1, half, half)?;
        let out_first = (first.broadcast_mul(cos)? - second.broadcast_mul(sin)?)?;
        let out_second = (first.broadcast_mul(sin)? + second.broadcast_mul(cos)?)?;
        Tensor::cat(&[out_first, out_second], D::Minus1)
    } else {
        let pairs = x.reshape((heads, seq_len, half, 2))?;
        let even = pairs.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
        let odd = pairs.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
        let out_even = (even.broadcast_mul(cos)? - odd.broadcast_mul(sin)?)?;
        let out_odd = (even.broadcast_mul(sin)? + odd.broadcast_mul(cos)?)?;
        Tensor::stack(&[out_even, out_odd], D::Minus1)?.reshape((heads, seq_len, dim))
    }
}

fn rotary_tables(
    config: &ModelConfig,
    positions: usize,
    dtype: DType,
) -> candle_core::Result<(Tensor, Tensor)> {
    let half = config.head_dim / 2;
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for position in 0..positions {
        for i in 0..half {
            // The inference pass computes the frequencies in f32; do the same so both agree.
            let frequency = 1.0
                / config
                    .rope_freq_base
                    .powf((2 * i) as f32 / config.head_dim as f32);
            let angle = f64::from(position as f32 * frequency);
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    let cos = Tensor::from_vec(cos, (positions, half), &Device::Cpu)?.to_dtype(dtype)?;
    let sin = Tensor::from_vec(sin, (positions, half), &Device::Cpu)?.to_dtype(dtype)?;
    Ok((cos, sin))
}

/// Softmax over the last dimension of `(heads, tokens, tokens)` scores with causal masking:
/// row `i` sees columns `0..=i`; later columns get probability 0. Backward needs only the output
/// (`dx = y ⊙ (g − Σ g ⊙ y)`), so one score-sized tensor is kept per layer.
struct CausalSoftmax;

fn causal_softmax_rows(values: &[f64], columns: usize) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    for (row, (input, output)) in values
        .chunks(columns)
        .zip(out.chunks_mut(columns))
        .enumerate()
    {
        let visible = (row % columns) + 1;
        let max = input[..visible]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for (o, x) in output[..visible].iter_mut().zip(&input[..visible]) {
            *o = (x - max).exp();
            sum += *o;
        }
        for o in &mut output[..visible] {
            *o /= sum;
        }
    }
    out
}

impl candle_core::CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use candle_core::CpuStorage;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("causal-softmax needs a contiguous input");
        };
        let shape = layout.shape().clone();
        let columns = shape.dims().last().copied().unwrap_or(1);
        if shape.dims().len() < 2 || shape.dims()[shape.dims().len() - 2] != columns {
            candle_core::bail!("causal-softmax needs square score matrices, got {shape:?}");
        }
        let output = match storage {
            CpuStorage::F32(values) => {
                let wide: Vec<f64> = values[start..end].iter().map(|v| f64::from(*v)).collect();
                CpuStorage::F32(
                    causal_softmax_rows(&wide, columns)
                        .into_iter()
                        .map(|v| v as f32)
                        .collect(),
                )
            }
            CpuStorage::F64(values) => {
                CpuStorage::F64(causal_softmax_rows(&values[start..end], columns))
            }
            _ => candle_core::bail!("causal-softmax: only f32 and f64 are supported"),
        };
        Ok((output, shape))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let dot = (grad_res * res)?.sum_keepdim(D::Minus1)?;
        Ok(Some((res * grad_res.broadcast_sub(&dot)?)?))
    }
}

//! learnat's forward pass for the Qwen2 and Llama families on candle tensors, with quantized
//! weights and a prefix-reusable [`KvCache`].
//!
//! One sequence, no batch dimension: activations are `(tokens, width)`. Per layer: RMS norm,
//! q/k/v projections (+ biases for Qwen2), rotary embedding, keys and values written in place
//! into the cache, grouped-query attention computed per kv head without repeating the keys, the
//! output projection, then RMS norm and the SwiGLU feed-forward. Logits are computed only for the
//! rows asked for (the last one when generating, all of them when scoring).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use candle_core::quantized::{QTensor, gguf_file};
use candle_core::{DType, Device, Tensor};

use super::adapter::LoraAdapter;
use super::config::{ModelConfig, ModelFamily};
use super::kv_cache::KvCache;
use super::linear::QuantLinear;

/// Which positions to compute logits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    /// Only the last token (next-token prediction).
    Last,
    /// Every token of the input, from its first one (teacher-forced scoring).
    All,
}

#[derive(Debug)]
struct Layer {
    attention_norm: Tensor,
    query: QuantLinear,
    key: QuantLinear,
    value: QuantLinear,
    query_bias: Option<Tensor>,
    key_bias: Option<Tensor>,
    value_bias: Option<Tensor>,
    attention_output: QuantLinear,
    ffn_norm: Tensor,
    ffn_gate: QuantLinear,
    ffn_up: QuantLinear,
    ffn_down: QuantLinear,
}

/// The weights of one model and the code that runs them.
#[derive(Debug)]
pub struct Transformer {
    config: ModelConfig,
    /// `token_embd`, kept quantized: rows are dequantized on lookup. `None` when the table is
    /// tied to the output head and learnat's kernel holds it: lookups read the head's blocks,
    /// so the table is in memory once.
    token_embedding: Option<Arc<QTensor>>,
    layers: Vec<Layer>,
    output_norm: Tensor,
    output: QuantLinear,
    /// Rotary tables `(max_positions, head_dim / 2)`.
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

/// Reads the tensors of one GGUF file for [`Transformer::load`].
struct TensorSource<'a, R> {
    content: &'a gguf_file::Content,
    reader: &'a mut R,
    device: &'a Device,
    adapter: Option<&'a LoraAdapter>,
    use_kernels: bool,
}

impl<R: Read + Seek> TensorSource<'_, R> {
    /// `name` as candle reads it, with the adapter's delta merged in when it adapts `name`.
    fn quantized(&mut self, name: &str) -> Result<QTensor, String> {
        let content = self.content;
        let reader = &mut *self.reader;
        let mut read = |device: &Device| {
            content
                .tensor(&mut *reader, name, device)
                .map_err(|e| format!("cannot read tensor '{name}': {e}"))
        };
        match self.adapter.filter(|a| a.adapts(name)) {
            None => read(self.device),
            Some(adapter) => match adapter.merge(name, &read(&Device::Cpu)?, self.device) {
                Some(merged) => {
                    merged.map_err(|e| format!("cannot merge the adapter into '{name}': {e}"))
                }
                None => Err(format!("the adapter has no delta for '{name}'")),
            },
        }
    }

    /// True when the matrix `name` goes to learnat's kernel exactly as it is in the file (CPU,
    /// a kernel type, no adapter delta), so its bytes can be read straight into the kernel.
    fn reads_directly(&self, name: &str) -> bool {
        let Some(info) = self.content.tensor_infos.get(name) else {
            return false;
        };
        let Ok((_, columns)) = info.shape.dims2() else {
            return false;
        };
        self.use_kernels
            && matches!(self.device, Device::Cpu)
            && self.adapter.is_none_or(|a| !a.adapts(name))
            && QuantLinear::kernel_reads(info.ggml_dtype, columns)
    }

    /// The weight matrix `name`. One that [`Self::reads_directly`] is read into the kernel's
    /// own buffer: through candle it is read into a buffer, copied into typed blocks, then
    /// copied again for the kernel (measured on the 0.5B: 14 MiB less resident after load).
    fn matrix(&mut self, name: &str) -> Result<QuantLinear, String> {
        if !self.reads_directly(name) {
            let weight = self.quantized(name)?;
            return QuantLinear::new(Arc::new(weight), self.use_kernels)
                .map_err(|e| format!("tensor '{name}' is not a usable matrix: {e}"));
        }
        let info = &self.content.tensor_infos[name];
        let (rows, columns) = info.shape.dims2().map_err(|e| format!("{name}: {e}"))?;
        let dtype = info.ggml_dtype;
        let mut data = vec![0u8; rows * columns / dtype.block_size() * dtype.type_size()];
        self.reader
            .seek(SeekFrom::Start(
                self.content.tensor_data_offset + info.offset,
            ))
            .and_then(|_| self.reader.read_exact(&mut data))
            .map_err(|e| format!("cannot read tensor '{name}': {e}"))?;
        QuantLinear::from_blocks(dtype, rows, columns, data)
            .map_err(|e| format!("tensor '{name}' is not a usable matrix: {e}"))
    }
}

impl Transformer {
    /// Reads the weights named by the GGUF conventions (`blk.N.attn_q.weight`, ...), with
    /// `adapter`'s LoRA deltas merged in. Rotary tables are built for `max_positions`.
    #[allow(clippy::too_many_arguments)]
    pub fn load<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        config: &ModelConfig,
        max_positions: usize,
        device: &Device,
        use_kernels: bool,
        adapter: Option<&LoraAdapter>,
    ) -> Result<Transformer, String> {
        let mut source = TensorSource {
            content,
            reader,
            device,
            adapter,
            use_kernels,
        };
        let dense = |q: QTensor, name: &str| -> Result<Tensor, String> {
            q.dequantize(device)
                .map_err(|e| format!("cannot dequantize '{name}': {e}"))
        };
        let has = |name: &str| content.tensor_infos.contains_key(name);

        let width = match content.tensor_infos.get("token_embd.weight") {
            Some(info) => {
                info.shape
                    .dims2()
                    .map_err(|e| format!("token_embd.weight: {e}"))?
                    .1
            }
            None => return Err("the file has no tensor 'token_embd.weight'".to_string()),
        };
        if width != config.embedding_length {
            return Err(format!(
                "token_embd.weight has rows of {width} values, the metadata says width {}",
                config.embedding_length
            ));
        }
        let (output, token_embedding) = if has("output.weight") {
            let output = source.matrix("output.weight")?;
            (
                output,
                Some(Arc::new(source.quantized("token_embd.weight")?)),
            )
        } else if source.reads_directly("token_embd.weight") {
            // Tied embeddings (Qwen2.5-0.5B, SmolLM2) on learnat's kernel: the output head holds
            // the table and lookups read its blocks.
            (source.matrix("token_embd.weight")?, None)
        } else {
            // Tied, on candle's path: the head and the lookup table share one tensor.
            let table = Arc::new(source.quantized("token_embd.weight")?);
            let output = QuantLinear::new(table.clone(), use_kernels)
                .map_err(|e| format!("token_embd.weight as output head: {e}"))?;
            let table = (output.path() == super::MatmulPath::Candle).then_some(table);
            (output, table)
        };
        tracing::debug!(
            resident_mib = super::resident_mib(),
            "embedding and output head read"
        );
        let output_norm = dense(
            source.quantized("output_norm.weight")?,
            "output_norm.weight",
        )?;

        let mut layers = Vec::with_capacity(config.layers);
        for index in 0..config.layers {
            let name = |suffix: &str| format!("blk.{index}.{suffix}");
            let mut matrix = |suffix: &str| source.matrix(&name(suffix));
            let query = matrix("attn_q.weight")?;
            let key = matrix("attn_k.weight")?;
            let value = matrix("attn_v.weight")?;
            let attention_output = matrix("attn_output.weight")?;
            let ffn_gate = matrix("ffn_gate.weight")?;
            let ffn_up = matrix("ffn_up.weight")?;
            let ffn_down = matrix("ffn_down.weight")?;
            let mut bias = |suffix: &str| -> Result<Option<Tensor>, String> {
                let full = name(suffix);
                if config.family == ModelFamily::Qwen2 || has(&full) {
                    Ok(Some(dense(source.quantized(&full)?, &full)?))
                } else {
                    Ok(None)
                }
            };
            let query_bias = bias("attn_q.bias")?;
            let key_bias = bias("attn_k.bias")?;
            let value_bias = bias("attn_v.bias")?;
            let attention_norm = dense(source.quantized(&name("attn_norm.weight"))?, "attn_norm")?;
            let ffn_norm = dense(source.quantized(&name("ffn_norm.weight"))?, "ffn_norm")?;
            layers.push(Layer {
                attention_norm,
                query,
                key,
                value,
                query_bias,
                key_bias,
                value_bias,
                attention_output,
                ffn_norm,
                ffn_gate,
                ffn_up,
                ffn_down,
            });
        }
        let (cos, sin) = rotary_tables(config, max_positions, device)
            .map_err(|e| format!("cannot build rotary tables: {e}"))?;
        Ok(Transformer {
            config: config.clone(),
            token_embedding,
            layers,
            output_norm,
            output,
            cos,
            sin,
            device: device.clone(),
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Size of the output layer (number of logits).
    pub fn vocab_size(&self) -> usize {
        self.output.out_features()
    }

    /// How many matrices go through learnat's kernels and how many through candle's.
    pub fn weight_summary(&self) -> super::WeightSummary {
        let mut summary = super::WeightSummary::default();
        let mut count = |linear: &QuantLinear| match linear.path() {
            super::MatmulPath::Learnat => summary.learnat_kernel_matrices += 1,
            super::MatmulPath::Candle => summary.candle_matrices += 1,
        };
        count(&self.output);
        for layer in &self.layers {
            for linear in [
                &layer.query,
                &layer.key,
                &layer.value,
                &layer.attention_output,
                &layer.ffn_gate,
                &layer.ffn_up,
                &layer.ffn_down,
            ] {
                count(linear);
            }
        }
        summary
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs `tokens` after what `cache` holds, appends them to the cache and returns logits
    /// `(rows, vocab)` as f32 on the CPU for the positions `rows` selects.
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        rows: LogitRows,
    ) -> candle_core::Result<Tensor> {
        if tokens.is_empty() {
            candle_core::bail!("forward pass over no tokens");
        }
        let seq_len = tokens.len();
        cache.reserve(seq_len)?;
        let position = cache.len();
        if position + seq_len > self.cos.dim(0)? {
            candle_core::bail!(
                "position {} is beyond the rotary table of {} positions",
                position + seq_len,
                self.cos.dim(0)?
            );
        }
        let ids = Tensor::new(tokens, &self.device)?;
        let embedded = match &self.token_embedding {
            Some(table) => table.embedding(&ids)?,
            None => match self.output.lookup_rows(tokens, &self.device) {
                Some(rows) => rows?,
                None => candle_core::bail!("the tied token embedding has no weights"),
            },
        };
        let mut hidden = embedded.to_dtype(DType::F32)?;
        let mask = if seq_len > 1 {
            Some(causal_mask(seq_len, position, &self.device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, position, seq_len)?;
        let sin = self.sin.narrow(0, position, seq_len)?;
        let eps = self.config.rms_norm_eps as f32;
        for (index, layer) in self.layers.iter().enumerate() {
            let normed = candle_nn::ops::rms_norm(&hidden, &layer.attention_norm, eps)?;
            let attention =
                self.attention(index, layer, &normed, cache, mask.as_ref(), &cos, &sin)?;
            hidden = (hidden + attention)?;
            let normed = candle_nn::ops::rms_norm(&hidden, &layer.ffn_norm, eps)?;
            let [gate, up]: [Tensor; 2] =
                QuantLinear::forward_many(&[&layer.ffn_gate, &layer.ffn_up], &normed)?
                    .try_into()
                    .map_err(|_| candle_core::Error::Msg("gate and up: two outputs".into()))?;
            let activated = (candle_nn::ops::silu(&gate)? * up)?;
            hidden = (hidden + layer.ffn_down.forward(&activated)?)?;
        }
        cache.commit(tokens);
        let selected = match rows {
            LogitRows::Last => hidden.narrow(0, seq_len - 1, 1)?,
            LogitRows::All => hidden,
        };
        let normed = candle_nn::ops::rms_norm(&selected, &self.output_norm, eps)?;
        let logits = self.output.forward(&normed)?;
        logits.to_device(&Device::Cpu)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        index: usize,
        layer: &Layer,
        normed: &Tensor,
        cache: &KvCache,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let config = &self.config;
        let seq_len = normed.dim(0)?;
        let (heads, kv_heads, head_dim) = (config.heads, config.kv_heads, config.head_dim);
        // q, k and v in one pass over the shared input, then their biases.
        let [query, key, value]: [Tensor; 3] =
            QuantLinear::forward_many(&[&layer.query, &layer.key, &layer.value], normed)?
                .try_into()
                .map_err(|_| candle_core::Error::Msg("q, k and v: three outputs".into()))?;
        let add_bias = |out: Tensor, bias: &Option<Tensor>| -> candle_core::Result<Tensor> {
            match bias {
                Some(bias) => out.broadcast_add(bias),
                None => Ok(out),
            }
        };
        // (tokens, heads * dim) -> (heads, tokens, dim), with the rotary embedding applied.
        let split_heads = |x: Tensor, count: usize, rotate: bool| -> candle_core::Result<Tensor> {
            let x = x
                .reshape((seq_len, count, head_dim))?
                .transpose(0, 1)?
                .contiguous()?;
            if !rotate {
                return Ok(x);
            }
            let x = x.unsqueeze(0)?;
            let rotated = if config.family.rope_is_neox() {
                candle_nn::rotary_emb::rope(&x, cos, sin)?
            } else {
                candle_nn::rotary_emb::rope_i(&x, cos, sin)?
            };
            rotated.squeeze(0)
        };
        let query = split_heads(add_bias(query, &layer.query_bias)?, heads, true)?;
        let key = split_heads(add_bias(key, &layer.key_bias)?, kv_heads, true)?;
        let value = split_heads(add_bias(value, &layer.value_bias)?, kv_heads, false)?;
        cache.write(index, &key, &value)?;
        let (keys, values) = cache.read(index, seq_len)?;
        let total = keys.dim(1)?;
        // Grouped-query attention without copying keys: the query heads that share a kv head
        // are stacked as extra rows of that kv head's query matrix.
        let group = heads / kv_heads;
        let query = query.reshape((kv_heads, group * seq_len, head_dim))?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let scores = (query.matmul(&keys.t()?)? * scale)?;
        let scores = match mask {
            Some(mask) => scores
                .reshape((kv_heads, group, seq_len, total))?
                .broadcast_add(mask)?
                .reshape((kv_heads, group * seq_len, total))?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let mixed = weights.matmul(&values.contiguous()?)?;
        let mixed = mixed
            .reshape((heads, seq_len, head_dim))?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((seq_len, heads * head_dim))?;
        layer.attention_output.forward(&mixed)
    }
}

/// cos / sin tables `(positions, head_dim / 2)` for the rotary embedding.
fn rotary_tables(
    config: &ModelConfig,
    positions: usize,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let half = config.head_dim / 2;
    let inverse_frequencies: Vec<f32> = (0..half)
        .map(|i| {
            1.0 / config
                .rope_freq_base
                .powf((2 * i) as f32 / config.head_dim as f32)
        })
        .collect();
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for position in 0..positions {
        for frequency in &inverse_frequencies {
            let angle = position as f32 * frequency;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (positions, half), device)?,
        Tensor::from_vec(sin, (positions, half), device)?,
    ))
}

/// Additive mask `(new, past + new)`: 0 where token i may see token j, -inf after it.
fn causal_mask(new: usize, past: usize, device: &Device) -> candle_core::Result<Tensor> {
    let total = past + new;
    let mut mask = Vec::with_capacity(new * total);
    for i in 0..new {
        for j in 0..total {
            mask.push(if j > past + i { f32::NEG_INFINITY } else { 0.0 });
        }
    }
    Tensor::from_vec(mask, (new, total), device)
}

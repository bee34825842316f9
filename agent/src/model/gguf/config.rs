//! The shape of a GGUF transformer, read from its metadata (`<arch>.block_count`, ...).

use std::collections::HashMap;

use candle_core::quantized::gguf_file;

/// The model families learnat runs. They share one forward pass and differ in a few switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    /// Qwen2 / Qwen2.5: biases on q, k, v; rotary embedding on split halves (NeoX style).
    Qwen2,
    /// Llama family (SmolLM2...): no biases; GGUF's interleaved rotary embedding.
    Llama,
}

impl ModelFamily {
    /// The family of `general.architecture`.
    pub fn from_architecture(name: &str) -> Option<ModelFamily> {
        match name {
            "qwen2" => Some(ModelFamily::Qwen2),
            "llama" => Some(ModelFamily::Llama),
            _ => None,
        }
    }

    /// The GGUF architecture name (the metadata key prefix).
    pub fn architecture(self) -> &'static str {
        match self {
            ModelFamily::Qwen2 => "qwen2",
            ModelFamily::Llama => "llama",
        }
    }

    /// True when the rotary embedding rotates the two halves of each head (NeoX) rather than
    /// adjacent pairs; see `llama_model_rope_type` in llama.cpp.
    pub fn rope_is_neox(self) -> bool {
        matches!(self, ModelFamily::Qwen2)
    }
}

/// Hyper-parameters of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub family: ModelFamily,
    pub layers: usize,
    pub embedding_length: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub feed_forward_length: usize,
    pub rope_freq_base: f32,
    pub rms_norm_eps: f64,
    /// The context the model was trained for (`<arch>.context_length`).
    pub trained_context_length: usize,
}

impl ModelConfig {
    /// Reads the configuration; errors name the missing or malformed key.
    pub fn from_gguf_metadata(
        metadata: &HashMap<String, gguf_file::Value>,
    ) -> Result<ModelConfig, String> {
        let architecture = metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .ok_or("the GGUF metadata has no general.architecture")?;
        let family = ModelFamily::from_architecture(architecture).ok_or_else(|| {
            format!("architecture '{architecture}' is not supported (qwen2 and llama are)")
        })?;
        let key = |name: &str| format!("{architecture}.{name}");
        let integer = |name: &str| -> Result<usize, String> {
            let full = key(name);
            let value = metadata
                .get(&full)
                .ok_or_else(|| format!("the GGUF metadata has no '{full}'"))?;
            value
                .to_u32()
                .map(|v| v as usize)
                .or_else(|_| value.to_u64().map(|v| v as usize))
                .map_err(|e| format!("'{full}' is not an integer: {e}"))
        };
        let float = |name: &str| -> Result<Option<f32>, String> {
            match metadata.get(&key(name)) {
                None => Ok(None),
                Some(value) => value
                    .to_f32()
                    .map(Some)
                    .map_err(|e| format!("'{}' is not a float: {e}", key(name))),
            }
        };
        let layers = integer("block_count")?;
        let embedding_length = integer("embedding_length")?;
        let heads = integer("attention.head_count")?;
        let kv_heads = integer("attention.head_count_kv").unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || embedding_length % heads != 0 {
            return Err(format!(
                "inconsistent attention shape: {heads} heads, {kv_heads} kv heads, width {embedding_length}"
            ));
        }
        let head_dim = embedding_length / heads;
        if let Ok(rope_dim) = integer("rope.dimension_count")
            && rope_dim != head_dim
        {
            return Err(format!(
                "partial rotary embeddings ({rope_dim} of {head_dim} dims) are not supported"
            ));
        }
        if head_dim % 2 != 0 {
            return Err(format!("head dimension {head_dim} is odd"));
        }
        // llama.cpp's default when a file does not say.
        let default_rope_base = 10_000.0;
        Ok(ModelConfig {
            family,
            layers,
            embedding_length,
            heads,
            kv_heads,
            head_dim,
            feed_forward_length: integer("feed_forward_length")?,
            rope_freq_base: float("rope.freq_base")?.unwrap_or(default_rope_base),
            rms_norm_eps: f64::from(float("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-6)),
            trained_context_length: integer("context_length")?,
        })
    }
}

//! The key/value cache of one sequence, with the token ids it holds, so that a new request can
//! reuse the longest common prefix (the turns of one conversation share their history).
//!
//! Storage is pre-allocated per layer as `(kv_heads, capacity, head_dim)` and written in place
//! (`slice_set`), never concatenated per step. Capacity grows by doubling up to the context cap,
//! so a short conversation does not reserve memory for 32k tokens.

use candle_core::{DType, Device, Tensor};

use super::config::ModelConfig;

/// The smallest capacity allocated, in tokens.
const MIN_CAPACITY: usize = 256;

/// Keys and values of every layer for one token sequence.
#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    /// Token ids whose keys and values are stored, in order.
    tokens: Vec<u32>,
    capacity: usize,
    max_capacity: usize,
    layer_count: usize,
    kv_heads: usize,
    head_dim: usize,
    device: Device,
}

impl KvCache {
    /// An empty cache for `config`, never holding more than `max_tokens`.
    pub fn new(config: &ModelConfig, max_tokens: usize, device: &Device) -> KvCache {
        KvCache {
            keys: Vec::new(),
            values: Vec::new(),
            tokens: Vec::new(),
            capacity: 0,
            max_capacity: max_tokens,
            layer_count: config.layers,
            kv_heads: config.kv_heads,
            head_dim: config.head_dim,
            device: device.clone(),
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The cached token ids.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The most tokens this cache may hold (the context length in use).
    pub fn max_tokens(&self) -> usize {
        self.max_capacity
    }

    /// Length of the longest common prefix of the cached tokens and `tokens`.
    pub fn common_prefix_len(&self, tokens: &[u32]) -> usize {
        self.tokens
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count()
    }

    /// Forgets everything after the first `len` tokens (keys beyond are overwritten later).
    pub fn truncate(&mut self, len: usize) {
        self.tokens.truncate(len);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// Makes room for `extra` more tokens, growing the storage when needed.
    pub fn reserve(&mut self, extra: usize) -> candle_core::Result<()> {
        let needed = self.tokens.len() + extra;
        if needed > self.max_capacity {
            candle_core::bail!(
                "{needed} tokens do not fit the context of {} tokens",
                self.max_capacity
            );
        }
        if needed <= self.capacity {
            return Ok(());
        }
        let mut capacity = self.capacity.max(MIN_CAPACITY);
        while capacity < needed {
            capacity *= 2;
        }
        let capacity = capacity.min(self.max_capacity);
        let shape = (self.kv_heads, capacity, self.head_dim);
        let used = self.tokens.len();
        let mut keys = Vec::with_capacity(self.layer_count);
        let mut values = Vec::with_capacity(self.layer_count);
        for layer in 0..self.layer_count {
            let key = Tensor::zeros(shape, DType::F32, &self.device)?;
            let value = Tensor::zeros(shape, DType::F32, &self.device)?;
            if used > 0 && layer < self.keys.len() {
                key.slice_set(&self.keys[layer].narrow(1, 0, used)?.contiguous()?, 1, 0)?;
                value.slice_set(&self.values[layer].narrow(1, 0, used)?.contiguous()?, 1, 0)?;
            }
            keys.push(key);
            values.push(value);
        }
        self.keys = keys;
        self.values = values;
        self.capacity = capacity;
        Ok(())
    }

    /// Stores the keys and values `(kv_heads, n, head_dim)` of `n` new tokens of `layer`, at
    /// positions `len()..len() + n`. Call [`KvCache::reserve`] first and
    /// [`KvCache::commit`] after the last layer.
    pub fn write(&self, layer: usize, keys: &Tensor, values: &Tensor) -> candle_core::Result<()> {
        let position = self.tokens.len();
        self.keys[layer].slice_set(keys, 1, position)?;
        self.values[layer].slice_set(values, 1, position)
    }

    /// Keys and values of `layer` for the cached tokens plus `pending` just written.
    pub fn read(&self, layer: usize, pending: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let len = self.tokens.len() + pending;
        Ok((
            self.keys[layer].narrow(1, 0, len)?,
            self.values[layer].narrow(1, 0, len)?,
        ))
    }

    /// Records that `tokens` were written to every layer.
    pub fn commit(&mut self, tokens: &[u32]) {
        self.tokens.extend_from_slice(tokens);
    }

    /// Bytes of storage allocated.
    pub fn allocated_bytes(&self) -> usize {
        2 * self.layer_count * self.capacity * self.kv_heads * self.head_dim * 4
    }
}

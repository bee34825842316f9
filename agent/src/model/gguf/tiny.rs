//! Tiny random-weight GGUF models of each family, written by tests (tests never download).
//!
//! The file is a real GGUF (candle's writer) with everything the loader reads: architecture
//! metadata, a byte-level BPE vocabulary (the 256 byte tokens, a few merges, ChatML special
//! tokens), a chat template, and quantized weights in the types the real models use (Q8_0, Q5_0,
//! Q4_K, Q6_K), so the same code paths run as on Qwen2.5-Coder or SmolLM2, in milliseconds.

use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::config::ModelFamily;
use crate::error::{AgentError, AgentResult};

/// Width of the tiny models (a multiple of 256, so K-quant blocks fit).
pub const TINY_WIDTH: usize = 256;
/// Context length written into the tiny models' metadata.
pub const TINY_CONTEXT: usize = 192;
/// Merges of the tiny vocabulary, in rank order (GPT-2 byte-level characters: `Ġ` is a space).
pub const TINY_MERGES: &[(&str, &str)] = &[
    ("S", "E"),
    ("SE", "L"),
    ("SEL", "E"),
    ("SELE", "C"),
    ("SELEC", "T"),
    ("Ġ", "*"),
    ("F", "R"),
    ("FR", "O"),
    ("FRO", "M"),
    ("Ġ", "FROM"),
    ("e", "r"),
    ("s", "er"),
    ("u", "ser"),
    ("user", "s"),
    ("Ġ", "users"),
];
/// The special tokens of the tiny vocabulary, after the bytes and merges.
pub const TINY_SPECIALS: &[&str] = &["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// A ChatML template like Qwen's (with its default system prompt).
const QWEN_LIKE_TEMPLATE: &str = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are tiny.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/// The GPT-2 byte-level character of every byte, in byte order.
fn byte_tokens() -> Vec<String> {
    super::tokenizer::bytes_to_unicode()
        .iter()
        .map(|ch| ch.to_string())
        .collect()
}

/// The vocabulary of the tiny models: bytes, merge results, special tokens.
pub fn tiny_vocabulary() -> Vec<String> {
    let mut tokens = byte_tokens();
    tokens.extend(TINY_MERGES.iter().map(|(a, b)| format!("{a}{b}")));
    tokens.extend(TINY_SPECIALS.iter().map(|s| s.to_string()));
    tokens
}

fn random_matrix(
    rng: &mut ChaCha8Rng,
    rows: usize,
    columns: usize,
    scale: f32,
) -> candle_core::Result<Tensor> {
    let values: Vec<f32> = (0..rows * columns)
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    Tensor::from_vec(values, (rows, columns), &Device::Cpu)
}

fn norm_weights(rng: &mut ChaCha8Rng, width: usize) -> candle_core::Result<Tensor> {
    let values: Vec<f32> = (0..width).map(|_| rng.random_range(0.8..1.2)).collect();
    Tensor::from_vec(values, width, &Device::Cpu)
}

/// Writes a tiny random-weight model of `family` to `path`: 2 layers, width 256, 4 query heads
/// over 2 kv heads, a ~275-token vocabulary; the same `seed` writes the same weights.
pub fn write_tiny_gguf(path: &Path, family: ModelFamily, seed: u64) -> AgentResult<()> {
    write(path, family, seed).map_err(|e| AgentError::Generation {
        model: "tiny-gguf".to_string(),
        message: format!("cannot write the tiny model to '{}': {e}", path.display()),
    })
}

fn write(path: &Path, family: ModelFamily, seed: u64) -> candle_core::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let width = TINY_WIDTH;
    let (heads, kv_heads, layers, ffn) = (4usize, 2usize, 2usize, 256usize);
    let head_dim = width / heads;
    let tokens = tiny_vocabulary();
    let vocab = tokens.len();
    let arch = family.architecture();
    let mut token_types = vec![1i32; vocab];
    for slot in token_types.iter_mut().skip(vocab - TINY_SPECIALS.len()) {
        *slot = 3;
    }
    let special = |text: &str| {
        tokens
            .iter()
            .position(|t| t == text)
            .map_or(0, |index| index as u32)
    };
    let (pre, template) = match family {
        ModelFamily::Qwen2 => ("qwen2", QWEN_LIKE_TEMPLATE),
        ModelFamily::Llama => ("smollm", super::template::CHATML_TEMPLATE),
    };
    let key = |name: &str| format!("{arch}.{name}");
    let metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        ("general.name".into(), Value::String(format!("tiny {arch}"))),
        (key("block_count"), Value::U32(layers as u32)),
        (key("context_length"), Value::U32(TINY_CONTEXT as u32)),
        (key("embedding_length"), Value::U32(width as u32)),
        (key("feed_forward_length"), Value::U32(ffn as u32)),
        (key("attention.head_count"), Value::U32(heads as u32)),
        (key("attention.head_count_kv"), Value::U32(kv_heads as u32)),
        (key("rope.freq_base"), Value::F32(10_000.0)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(pre.into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.iter().cloned().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(token_types.into_iter().map(Value::I32).collect()),
        ),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(
                TINY_MERGES
                    .iter()
                    .map(|(a, b)| Value::String(format!("{a} {b}")))
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(special("<|im_end|>")),
        ),
        (
            "tokenizer.ggml.bos_token_id".into(),
            Value::U32(special("<|endoftext|>")),
        ),
        (
            "tokenizer.chat_template".into(),
            Value::String(template.into()),
        ),
    ];
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut quantized = |name: String,
                         rows: usize,
                         columns: usize,
                         dtype: GgmlDType,
                         rng: &mut ChaCha8Rng|
     -> candle_core::Result<()> {
        let scale = 1.0 / (columns as f32).sqrt() * 1.7;
        let matrix = random_matrix(rng, rows, columns, scale)?;
        tensors.push((name, QTensor::quantize(&matrix, dtype)?));
        Ok(())
    };
    quantized(
        "token_embd.weight".into(),
        vocab,
        width,
        GgmlDType::Q8_0,
        &mut rng,
    )?;
    if family == ModelFamily::Qwen2 {
        quantized(
            "output.weight".into(),
            vocab,
            width,
            GgmlDType::Q6K,
            &mut rng,
        )?;
    }
    let mut dense: Vec<(String, QTensor)> = Vec::new();
    let f32_tensor = |tensor: Tensor| QTensor::quantize(&tensor, GgmlDType::F32);
    dense.push((
        "output_norm.weight".into(),
        f32_tensor(norm_weights(&mut rng, width)?)?,
    ));
    for layer in 0..layers {
        let name = |suffix: &str| format!("blk.{layer}.{suffix}");
        quantized(
            name("attn_q.weight"),
            heads * head_dim,
            width,
            GgmlDType::Q5_0,
            &mut rng,
        )?;
        quantized(
            name("attn_k.weight"),
            kv_heads * head_dim,
            width,
            GgmlDType::Q8_0,
            &mut rng,
        )?;
        quantized(
            name("attn_v.weight"),
            kv_heads * head_dim,
            width,
            GgmlDType::Q6K,
            &mut rng,
        )?;
        quantized(
            name("attn_output.weight"),
            width,
            heads * head_dim,
            GgmlDType::Q4K,
            &mut rng,
        )?;
        quantized(
            name("ffn_gate.weight"),
            ffn,
            width,
            GgmlDType::Q5_0,
            &mut rng,
        )?;
        quantized(name("ffn_up.weight"), ffn, width, GgmlDType::Q4K, &mut rng)?;
        quantized(
            name("ffn_down.weight"),
            width,
            ffn,
            GgmlDType::Q8_0,
            &mut rng,
        )?;
        dense.push((
            name("attn_norm.weight"),
            f32_tensor(norm_weights(&mut rng, width)?)?,
        ));
        dense.push((
            name("ffn_norm.weight"),
            f32_tensor(norm_weights(&mut rng, width)?)?,
        ));
        if family == ModelFamily::Qwen2 {
            for (suffix, size) in [
                ("attn_q.bias", heads * head_dim),
                ("attn_k.bias", kv_heads * head_dim),
                ("attn_v.bias", kv_heads * head_dim),
            ] {
                let bias: Vec<f32> = (0..size).map(|_| rng.random_range(-0.1..0.1)).collect();
                dense.push((
                    name(suffix),
                    f32_tensor(Tensor::from_vec(bias, size, &Device::Cpu)?)?,
                ));
            }
        }
    }
    tensors.extend(dense);
    let metadata_refs: Vec<(&str, &Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs)?;
    std::io::Write::flush(&mut file)?;
    Ok(())
}

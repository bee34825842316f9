//! `learnat train merge`: base GGUF + LoRA adapter → one GGUF with the adapter merged in.
//!
//! Adapted matrices are dequantized, `scale · B · A` is added, and the result is quantized to
//! the requested type (Q8_0 by default; F32 when a row does not fit Q8_0 blocks). Every other
//! tensor and all metadata (tokenizer, chat template) are copied unchanged, so llama.cpp and the
//! agent run the file as they run the base.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use candle_core::Device;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use learnat_agent::model::gguf::ModelConfig;
use learnat_agent::model::gguf::adapter::LoraAdapter;
use serde::Serialize;

use super::{TensorContext, TrainError, TrainResult, io_error};

/// What a merge did.
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary {
    /// Matrices with the adapter merged in.
    pub merged_matrices: usize,
    /// Tensors copied unchanged.
    pub copied_tensors: usize,
    /// The type merged matrices were written in.
    pub quantization: String,
    /// Size of the output file.
    pub bytes: u64,
}

/// Parses `q8_0` / `f16` / `f32` (the types a merged matrix may be written in).
pub fn parse_quantization(name: &str) -> Result<GgmlDType, String> {
    match name.to_ascii_lowercase().as_str() {
        "q8_0" => Ok(GgmlDType::Q8_0),
        "f16" => Ok(GgmlDType::F16),
        "f32" => Ok(GgmlDType::F32),
        other => Err(format!(
            "unknown quantization '{other}' (use q8_0, f16 or f32)"
        )),
    }
}

/// Writes `out`: `base` with the adapter in `adapter_dir` merged, adapted matrices in `dtype`.
pub fn merge_gguf(
    base: &Path,
    adapter_dir: &Path,
    out: &Path,
    dtype: GgmlDType,
) -> TrainResult<MergeSummary> {
    let model_error = |reason: String| TrainError::Model {
        path: base.to_path_buf(),
        reason,
    };
    let file = File::open(base).map_err(io_error("cannot open the base model", base))?;
    let mut reader = BufReader::new(file);
    let content = gguf_file::Content::read(&mut reader)
        .map_err(|e| model_error(format!("not a readable GGUF file: {e}")))?;
    let config = ModelConfig::from_gguf_metadata(&content.metadata).map_err(model_error)?;
    let adapter =
        LoraAdapter::load(adapter_dir, &config).map_err(|reason| TrainError::Adapter {
            dir: adapter_dir.to_path_buf(),
            reason,
        })?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort_by_key(|name| content.tensor_infos[*name].offset);
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    let (mut merged, mut copied) = (0, 0);
    for name in names {
        let weight = content
            .tensor(&mut reader, name, &Device::Cpu)
            .during(|| format!("reading '{name}'"))?;
        let tensor = match adapter.delta(name) {
            None => {
                copied += 1;
                weight
            }
            Some(delta) => {
                merged += 1;
                let dense = delta
                    .and_then(|delta| weight.dequantize(&Device::Cpu)?.add(&delta))
                    .during(|| format!("merging the adapter into '{name}'"))?;
                let columns = dense.dim(1).during(|| name.clone())?;
                let target = if columns % dtype.block_size() == 0 {
                    dtype
                } else {
                    GgmlDType::F32
                };
                QTensor::quantize(&dense, target)
                    .during(|| format!("quantizing '{name}' to {target:?}"))?
            }
        };
        tensors.push((name.clone(), tensor));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let output = File::create(out).map_err(io_error("cannot create the merged model", out))?;
    let mut writer = BufWriter::new(output);
    gguf_file::write(&mut writer, &metadata, &tensor_refs)
        .during(|| format!("writing '{}'", out.display()))?;
    writer
        .flush()
        .map_err(io_error("cannot write the merged model", out))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or_default();
    Ok(MergeSummary {
        merged_matrices: merged,
        copied_tensors: copied,
        quantization: format!("{dtype:?}"),
        bytes,
    })
}

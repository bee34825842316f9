//! The one interface every language model is reached through: [`ChatModel`].
//!
//! Backends: `gguf` (local quantized models on candle; CPU by default, CUDA with the `cuda`
//! feature) and `openai` (any OpenAI-compatible server: vLLM, llama.cpp server, TGI, OpenAI).
//! A [`spec::ModelSpec`] string (`gguf:PATH`, `openai:MODEL[@BASE_URL]`) picks one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::AgentResult;

pub mod fetch;
pub mod gguf;
pub mod openai;
pub mod scripted;
pub mod spec;

pub use spec::{ModelOptions, ModelSpec, open_model};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The output of a tool call, fed back to the model.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A flag the caller raises to stop a running generation (Ctrl-C in the REPL). Backends check it
/// between tokens (local) or abort the request (remote) and return [`crate::AgentError::Cancelled`].
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A new, lowered flag.
    pub fn new() -> CancelFlag {
        CancelFlag::default()
    }

    /// Ask the generation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Lower the flag again, for the next generation.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// True once [`CancelFlag::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Sampling and stopping parameters of one request.
///
/// `temperature == 0.0` means greedy decoding (then `top_p`, `top_k` and `seed` do not matter).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationParams {
    /// At most this many new tokens per completion.
    pub max_tokens: usize,
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; 1.0 disables it.
    pub top_p: f32,
    /// Keep only the k most likely tokens; 0 disables it.
    pub top_k: usize,
    /// Penalty > 1.0 discourages tokens already generated or in the prompt (CTRL-style); 1.0 = off.
    pub repetition_penalty: f32,
    /// Seed of the sampler's RNG; the same seed, prompt and parameters give the same output.
    pub seed: u64,
    /// Generation ends, without the stop text, when one of these appears.
    pub stop: Vec<String>,
    /// Number of completions to return (self-consistency, GRPO groups).
    pub n: usize,
    /// Return the log-probability of every generated token (the trainer needs them).
    pub logprobs: bool,
    /// Raised by the caller to stop early.
    #[serde(skip)]
    pub cancel: CancelFlag,
}

impl Default for GenerationParams {
    fn default() -> Self {
        GenerationParams {
            max_tokens: 512,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            seed: 0,
            stop: Vec::new(),
            n: 1,
            logprobs: false,
            cancel: CancelFlag::new(),
        }
    }
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model produced an end-of-turn token.
    Stop,
    /// One of the stop sequences appeared.
    StopSequence,
    /// `max_tokens` was reached (or the context is full).
    Length,
    /// The caller cancelled.
    Cancelled,
}

/// The log-probability of one generated token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text (may be a partial UTF-8 sequence rendered lossily).
    pub token: String,
    /// The token id, when the backend knows it (local models).
    pub token_id: Option<u32>,
    /// Natural-log probability under the sampling distribution before temperature.
    pub logprob: f32,
}

/// Where the time of one request went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Encoding the prompt (the part not served from the prefix cache).
    pub prefill: Duration,
    /// Generating the new tokens.
    pub decode: Duration,
    /// From the request to the first new token.
    pub time_to_first_token: Duration,
}

/// One generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub finish_reason: FinishReason,
    /// Tokens of the rendered prompt.
    pub prompt_tokens: usize,
    /// Of `prompt_tokens`, how many were served from the KV / prefix cache.
    pub cached_prompt_tokens: usize,
    /// New tokens generated.
    pub completion_tokens: usize,
    pub timings: Timings,
    /// Per-token log-probabilities when [`GenerationParams::logprobs`] was set.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

/// Receives the text of each new token as it is generated.
pub type TokenSink = tokio::sync::mpsc::UnboundedSender<String>;

/// A language model that continues a chat.
///
/// Implementations are cheap to share (`Arc<dyn ChatModel>`) and safe to call from many tasks;
/// a backend that can only run one generation at a time queues the others.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// A short name for logs and reports (file name or `MODEL@host`).
    fn name(&self) -> &str;

    /// The context window in tokens, for prompt budgets.
    fn context_length(&self) -> usize;

    /// Number of tokens `text` takes, when the backend can tell without a request.
    fn count_tokens(&self, text: &str) -> Option<usize>;

    /// `params.n` completions of the conversation.
    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>>;

    /// One completion, sending each new token's text to `tokens` as it is produced (`params.n`
    /// is ignored). A closed receiver does not stop the generation; the cancel flag does.
    async fn chat_stream(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        tokens: TokenSink,
    ) -> AgentResult<Completion>;
}

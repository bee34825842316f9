//! The OpenAI-compatible backend: any server that speaks the chat-completions protocol (vLLM,
//! llama.cpp's server, TGI, SGLang, OpenAI).
//!
//! Requests and responses are async-openai's types, sent through async-openai's client. The HTTP
//! layer under it is this module's own tower service ([`RetryingTransport`], installed with
//! `Client::with_http_service`), because the policy here needs what async-openai's built-in retry
//! does not give: a per-attempt time limit, jittered exponential backoff, `Retry-After` /
//! `retry-after-ms` honoured up to a cap, retries on timeouts and connection resets, and the
//! number of attempts and the HTTP status carried into the final error.
//!
//! # Behaviour
//!
//! - **Server and key**: base URL from the spec (`openai:MODEL@URL`), else
//!   [`OpenAiOptions::base_url`] (the `--base-url` flag), else `OPENAI_BASE_URL`, else
//!   `https://api.openai.com/v1`. Key from [`OpenAiOptions::api_key`] (`--api-key`), else
//!   `OPENAI_API_KEY`, else none (local servers usually need none).
//! - **Retries**: 408, 429 and 5xx (except 501/505) answers, attempt timeouts, refused or broken
//!   connections are retried up to [`OpenAiOptions::max_retries`] times, waiting
//!   `initial_backoff · 2^k` (capped at `max_backoff`) with equal jitter, or what the server's
//!   `Retry-After` says when that is longer. A server that asks for more than
//!   `max_retry_after` gets no further attempt. Other 4xx answers fail at once.
//! - **Time limits**: each attempt must produce the whole answer (non-streaming) or the response
//!   headers (streaming) within [`OpenAiOptions::request_timeout`]; while streaming, each next
//!   event must arrive within that time too.
//! - **Concurrency**: at most [`OpenAiOptions::max_concurrent_requests`] requests of one model
//!   are in flight (a tokio semaphore); the others wait.
//! - **Parameters**: `max_tokens`, `temperature`, `top_p`, `seed`, `stop`, `n` and `logprobs`
//!   are protocol fields. `top_k` and the repetition penalty are not: they are sent, only when set,
//!   as the extension fields vLLM and llama.cpp's server read (`top_k`, `repetition_penalty`,
//!   `repeat_penalty`); OpenAI itself rejects them.
//! - **n completions**: `n` is asked for in one request; a server that returns fewer choices
//!   (llama.cpp's server returns one) gets further requests for the rest, with seeds `seed + 1`,
//!   `seed + 2`, ... so sampled completions differ.
//! - **Log-probabilities**: requested with `logprobs: true`; a server that does not return them
//!   yields `Completion::logprobs == None` (and a warning in the log). Token ids are unknown
//!   remotely (`token_id: None`).
//! - **Token counts and timings**: from the server's `usage` when present. With `n > 1` the
//!   server reports one completion-token total; each completion then carries its own count only
//!   when log-probabilities were returned (one entry per token), otherwise an even share.
//!   Without streaming, the time to the first token is the time to the whole answer and `prefill`
//!   is not measurable (zero); with streaming, `prefill` is the time to the first token.
//! - **Roles**: `Role::Tool` messages are sent as user messages starting with `[tool output]`,
//!   because the protocol's tool role needs a tool-call id the conversation does not carry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatChoice, ChatChoiceLogprobs, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestSystemMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionStreamOptions, CompletionUsage, CreateChatCompletionRequest,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
    FinishReason as WireFinishReason, StopConfiguration,
};
use async_trait::async_trait;
use futures::StreamExt;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::{AgentError, AgentResult};
use crate::model::spec::validate_base_url;
use crate::model::{
    CancelFlag, ChatMessage, ChatModel, Completion, FinishReason, GenerationParams, Role, Timings,
    TokenLogprob, TokenSink,
};

/// The base URL used when neither the spec, the options nor `OPENAI_BASE_URL` give one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How often a waiting request looks at the cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// Server error bodies are cut to this many characters in messages.
const MESSAGE_CHARS: usize = 300;

/// Most servers cap `n` at 128 (the protocol's maximum).
const MAX_N_PER_REQUEST: usize = 128;

/// Settings of the OpenAI-compatible backend.
#[derive(Debug, Clone)]
pub struct OpenAiOptions {
    /// Base URL (`--base-url`); the spec's `@URL` takes precedence, `OPENAI_BASE_URL` is the
    /// fallback.
    pub base_url: Option<String>,
    /// API key (`--api-key`); `OPENAI_API_KEY` is the fallback.
    pub api_key: Option<String>,
    /// Time limit of one attempt (see the module docs).
    pub request_timeout: Duration,
    /// Time limit for opening a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt (so at most `max_retries + 1` requests).
    pub max_retries: u32,
    /// The first backoff; doubled after each retry.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// The longest `Retry-After` that is waited for; a longer one ends the retries.
    pub max_retry_after: Duration,
    /// Requests of this model in flight at once.
    pub max_concurrent_requests: usize,
    /// The context window reported by [`ChatModel::context_length`] (the protocol cannot tell).
    pub context_length: usize,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        OpenAiOptions {
            base_url: None,
            api_key: None,
            request_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            max_concurrent_requests: 8,
            context_length: 32_768,
        }
    }
}

/// A model on an OpenAI-compatible server.
pub struct OpenAiModel {
    model: String,
    base_url: String,
    name: String,
    /// Reads whole answers inside the attempt time limit (non-streaming requests).
    client: Client<OpenAIConfig>,
    /// Hands the body over unread once the headers are in (streaming requests).
    stream_client: Client<OpenAIConfig>,
    permits: Arc<Semaphore>,
    request_timeout: Duration,
    context_length: usize,
    warned_no_logprobs: AtomicBool,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("OpenAiModel")
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl OpenAiModel {
    /// A client for `model` at `base_url` (from the spec; `None` falls back as the module docs
    /// say). Nothing is sent until the first request.
    pub fn new(
        model: &str,
        base_url: Option<&str>,
        options: &OpenAiOptions,
    ) -> AgentResult<OpenAiModel> {
        let spec_error = |reason: String| AgentError::ModelSpec {
            spec: format!("openai:{model}"),
            reason,
        };
        if model.trim().is_empty() {
            return Err(spec_error("the model name is empty".to_string()));
        }
        let raw_url = base_url
            .map(str::to_string)
            .or_else(|| options.base_url.clone())
            .or_else(|| {
                std::env::var("OPENAI_BASE_URL")
                    .ok()
                    .filter(|v| !v.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = validate_base_url(&raw_url).map_err(spec_error)?;
        let api_key = options
            .api_key
            .clone()
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .unwrap_or_default();
        // async-openai puts the key into an Authorization header and panics if it cannot.
        if !api_key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AgentError::InvalidInput {
                message: "the API key contains spaces, control or non-ASCII characters that \
                          cannot go into an HTTP header; check OPENAI_API_KEY / --api-key"
                    .to_string(),
            });
        }
        if options.max_concurrent_requests == 0 {
            return Err(AgentError::InvalidInput {
                message: "max_concurrent_requests must be at least 1".to_string(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|error| AgentError::Connection {
                base_url: base_url.clone(),
                message: format!("cannot set up the HTTP client: {error}"),
            })?;
        let policy = RetryPolicy::from_options(options);
        let config = OpenAIConfig::new()
            .with_api_base(base_url.clone())
            .with_api_key(api_key);
        let transport = |buffer_body| RetryingTransport {
            http: http.clone(),
            policy,
            buffer_body,
        };
        let client = Client::with_config(config.clone()).with_http_service(transport(true));
        let stream_client = Client::with_config(config).with_http_service(transport(false));
        let host = reqwest::Url::parse(&base_url)
            .ok()
            .and_then(|url| {
                url.host_str().map(|host| match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                })
            })
            .unwrap_or_else(|| base_url.clone());
        Ok(OpenAiModel {
            name: format!("{model}@{host}"),
            model: model.to_string(),
            base_url,
            client,
            stream_client,
            permits: Arc::new(Semaphore::new(options.max_concurrent_requests)),
            request_timeout: options.request_timeout,
            context_length: options.context_length,
            warned_no_logprobs: AtomicBool::new(false),
        })
    }

    /// The server's base URL in use.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The model name sent to the server.
    pub fn model_id(&self) -> &str {
        &self.model
    }

    /// The ids of the models the server lists (`GET /models`), to check a spec before use.
    pub async fn list_server_models(&self) -> AgentResult<Vec<String>> {
        let _permit = self.permits.acquire().await.map_err(|_| self.closed())?;
        let list = self
            .client
            .models()
            .list()
            .await
            .map_err(|error| self.map_error(error))?;
        Ok(list.data.into_iter().map(|model| model.id).collect())
    }

    fn closed(&self) -> AgentError {
        AgentError::Generation {
            model: self.name.clone(),
            message: "the request queue was closed".to_string(),
        }
    }

    /// Wait for a request slot, unless the caller cancels first.
    async fn acquire(&self, cancel: &CancelFlag) -> AgentResult<tokio::sync::OwnedSemaphorePermit> {
        unless_cancelled(cancel, self.permits.clone().acquire_owned())
            .await?
            .map_err(|_| self.closed())
    }

    fn build_request(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        n: usize,
        round: u64,
        stream: bool,
    ) -> AgentResult<ExtendedChatRequest> {
        validate_params(messages, params)?;
        let max_tokens = u32::try_from(params.max_tokens).unwrap_or(u32::MAX);
        let n = u8::try_from(n.min(MAX_N_PER_REQUEST)).unwrap_or(u8::MAX);
        #[allow(deprecated)]
        // `max_tokens` and `seed` are deprecated in OpenAI's own API but they are what vLLM,
        // llama.cpp's server and TGI read (and OpenAI still accepts for chat models).
        let request = CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: messages.iter().map(wire_message).collect(),
            max_tokens: Some(max_tokens),
            temperature: Some(params.temperature),
            top_p: (params.top_p < 1.0).then_some(params.top_p),
            seed: Some(i64::try_from(params.seed.wrapping_add(round)).unwrap_or(i64::MAX)),
            stop: (!params.stop.is_empty())
                .then(|| StopConfiguration::StringArray(params.stop.clone())),
            n: (n > 1).then_some(n),
            logprobs: params.logprobs.then_some(true),
            stream: Some(stream),
            stream_options: stream.then_some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..CreateChatCompletionRequest::default()
        };
        let penalty = (params.repetition_penalty != 1.0).then_some(params.repetition_penalty);
        Ok(ExtendedChatRequest {
            request,
            top_k: (params.top_k > 0).then_some(params.top_k),
            repetition_penalty: penalty,
            repeat_penalty: penalty,
        })
    }

    /// One non-streaming request for `n` choices.
    async fn request_choices(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        n: usize,
        round: u64,
    ) -> AgentResult<Vec<Completion>> {
        let request = self.build_request(messages, params, n, round, false)?;
        let started = Instant::now();
        let response: CreateChatCompletionResponse =
            unless_cancelled(&params.cancel, self.client.chat().create_byot(&request))
                .await?
                .map_err(|error| self.map_error(error))?;
        let elapsed = started.elapsed();
        if response.choices.is_empty() {
            return Err(AgentError::MalformedResponse {
                base_url: self.base_url.clone(),
                message: "the answer has no choices".to_string(),
            });
        }
        let timings = Timings {
            prefill: Duration::ZERO,
            decode: elapsed,
            time_to_first_token: elapsed,
        };
        let choice_count = response.choices.len();
        let usage = response.usage;
        Ok(response
            .choices
            .into_iter()
            .map(|choice| {
                self.completion_from_choice(choice, usage.as_ref(), choice_count, params, timings)
            })
            .collect())
    }

    fn completion_from_choice(
        &self,
        choice: ChatChoice,
        usage: Option<&CompletionUsage>,
        choice_count: usize,
        params: &GenerationParams,
        timings: Timings,
    ) -> Completion {
        let logprobs = self.logprobs_if_requested(params, choice.logprobs);
        let (prompt_tokens, cached_prompt_tokens, total_completion) = usage_counts(usage);
        let completion_tokens = match &logprobs {
            Some(tokens) => tokens.len(),
            None => total_completion.div_ceil(choice_count.max(1)),
        };
        let message = choice.message;
        Completion {
            text: message.content.or(message.refusal).unwrap_or_default(),
            finish_reason: finish_reason(choice.finish_reason),
            prompt_tokens,
            cached_prompt_tokens,
            completion_tokens,
            timings,
            logprobs,
        }
    }

    fn logprobs_if_requested(
        &self,
        params: &GenerationParams,
        wire: Option<ChatChoiceLogprobs>,
    ) -> Option<Vec<TokenLogprob>> {
        if !params.logprobs {
            return None;
        }
        let tokens = wire.and_then(|logprobs| logprobs.content);
        if tokens.is_none() && !self.warned_no_logprobs.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                model = %self.name,
                "log-probabilities were requested but the server returned none"
            );
        }
        tokens.map(|tokens| tokens.into_iter().map(token_logprob).collect())
    }

    /// Turn async-openai's error into the crate's, with the server, status and attempts.
    fn map_error(&self, error: OpenAIError) -> AgentError {
        let base_url = self.base_url.clone();
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<TransportError>() {
                Ok(transport) => self.map_transport_error(*transport),
                Err(other) => AgentError::Connection {
                    base_url,
                    message: other.to_string(),
                },
            },
            OpenAIError::JSONDeserialize(error, content) => AgentError::MalformedResponse {
                base_url,
                message: format!(
                    "{error}; the answer began with: {}",
                    truncate(&content, MESSAGE_CHARS)
                ),
            },
            OpenAIError::ApiError(api) => AgentError::Server {
                base_url,
                status: api.status_code.as_u16(),
                attempts: 1,
                message: api.api_error.message,
            },
            OpenAIError::Reqwest(error) if error.is_timeout() => AgentError::Timeout {
                what: format!("reading the answer of {base_url} (model '{}')", self.model),
                after: self.request_timeout,
            },
            OpenAIError::Reqwest(error) => AgentError::Connection {
                base_url,
                message: error_chain(&error),
            },
            OpenAIError::StreamError(stream_error) => match *stream_error {
                StreamError::EventStream(message) => AgentError::Connection {
                    base_url,
                    message: format!("the event stream broke: {message}"),
                },
                StreamError::UnknownEvent(event) => AgentError::MalformedResponse {
                    base_url,
                    message: format!(
                        "unexpected event '{}' in the stream: {}",
                        event.event,
                        truncate(&event.data, MESSAGE_CHARS)
                    ),
                },
            },
            OpenAIError::InvalidArgument(message) => AgentError::InvalidInput { message },
            other => AgentError::Generation {
                model: self.name.clone(),
                message: other.to_string(),
            },
        }
    }

    fn map_transport_error(&self, error: TransportError) -> AgentError {
        let base_url = self.base_url.clone();
        let attempts = error.attempts;
        match error.failure {
            TransportFailure::Status { status, body, note } => {
                let detail = server_message(&body);
                let message = match note {
                    Some(note) => format!("{detail} ({note})"),
                    None => detail.clone(),
                };
                match status {
                    401 | 403 => AgentError::Auth {
                        base_url,
                        status,
                        message,
                    },
                    404 if mentions_model(&body, &detail) => AgentError::UnknownModel {
                        base_url,
                        model: self.model.clone(),
                        message,
                    },
                    404 => AgentError::Server {
                        base_url,
                        status,
                        attempts,
                        message: format!(
                            "{message} (check the base URL: OpenAI-compatible servers usually \
                             serve under /v1)"
                        ),
                    },
                    _ => AgentError::Server {
                        base_url,
                        status,
                        attempts,
                        message,
                    },
                }
            }
            TransportFailure::Timeout { after } => AgentError::Timeout {
                what: format!(
                    "the request to {base_url} (model '{}', {attempts} attempt(s))",
                    self.model
                ),
                after,
            },
            TransportFailure::Connection { message } => AgentError::Connection {
                base_url,
                message: format!(
                    "{message} after {attempts} attempt(s) (is the server running, and is the \
                     base URL right?)"
                ),
            },
            TransportFailure::Request { message } => AgentError::InvalidInput {
                message: format!("cannot build the request to {base_url}: {message}"),
            },
        }
    }
}

#[async_trait]
impl ChatModel for OpenAiModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn context_length(&self) -> usize {
        self.context_length
    }

    fn count_tokens(&self, _text: &str) -> Option<usize> {
        // The protocol has no tokenizer endpoint.
        None
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>> {
        validate_params(messages, params)?;
        let _permit = self.acquire(&params.cancel).await?;
        let mut completions = Vec::with_capacity(params.n);
        let mut round = 0u64;
        while completions.len() < params.n {
            let wanted = params.n - completions.len();
            let choices = self
                .request_choices(messages, params, wanted, round)
                .await?;
            completions.extend(choices.into_iter().take(wanted));
            round += 1;
        }
        Ok(completions)
    }

    async fn chat_stream(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        tokens: TokenSink,
    ) -> AgentResult<Completion> {
        let request = self.build_request(messages, params, 1, 0, true)?;
        let _permit = self.acquire(&params.cancel).await?;
        let started = Instant::now();
        let mut stream = unless_cancelled(
            &params.cancel,
            self.stream_client
                .chat()
                .create_stream_byot::<_, CreateChatCompletionStreamResponse>(&request),
        )
        .await?
        .map_err(|error| self.map_error(error))?;

        let mut text = String::new();
        let mut finish = None;
        let mut usage = None;
        let mut first_token_at = None;
        let mut content_chunks = 0usize;
        let mut wire_logprobs = Vec::new();
        let mut got_logprobs = false;
        loop {
            let next = unless_cancelled(
                &params.cancel,
                tokio::time::timeout(self.request_timeout, stream.next()),
            )
            .await?;
            let chunk = match next {
                Err(_elapsed) => {
                    return Err(AgentError::Timeout {
                        what: format!(
                            "waiting for the next streamed token from {} (model '{}')",
                            self.base_url, self.model
                        ),
                        after: self.request_timeout,
                    });
                }
                Ok(None) => break,
                Ok(Some(Err(error))) => return Err(self.map_error(error)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if let Some(chunk_usage) = chunk.usage {
                usage = Some(chunk_usage);
            }
            for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
                if let Some(delta) = choice.delta.content.filter(|delta| !delta.is_empty()) {
                    first_token_at.get_or_insert_with(|| started.elapsed());
                    content_chunks += 1;
                    text.push_str(&delta);
                    // A closed receiver does not stop the generation (see the trait docs).
                    let _ = tokens.send(delta);
                }
                if let Some(content) = choice.logprobs.and_then(|logprobs| logprobs.content) {
                    got_logprobs = true;
                    wire_logprobs.extend(content);
                }
                if choice.finish_reason.is_some() {
                    finish = choice.finish_reason;
                }
            }
        }
        let Some(finish) = finish else {
            return Err(AgentError::Connection {
                base_url: self.base_url.clone(),
                message: "the stream ended before the server said why the completion finished \
                          (the connection was cut or the server stopped early)"
                    .to_string(),
            });
        };
        let total = started.elapsed();
        let first_token = first_token_at.unwrap_or(total);
        let logprobs = self.logprobs_if_requested(
            params,
            got_logprobs.then_some(ChatChoiceLogprobs {
                content: Some(wire_logprobs),
                refusal: None,
            }),
        );
        let (prompt_tokens, cached_prompt_tokens, usage_completion) = usage_counts(usage.as_ref());
        let completion_tokens = match (&logprobs, usage.is_some()) {
            (Some(tokens), _) => tokens.len(),
            (None, true) => usage_completion,
            // Without usage, servers send about one token per content event.
            (None, false) => content_chunks,
        };
        Ok(Completion {
            text,
            finish_reason: finish_reason(Some(finish)),
            prompt_tokens,
            cached_prompt_tokens,
            completion_tokens,
            timings: Timings {
                prefill: first_token,
                decode: total.saturating_sub(first_token),
                time_to_first_token: first_token,
            },
            logprobs,
        })
    }
}

/// async-openai's request plus the sampling fields of vLLM / llama.cpp that the protocol lacks.
#[derive(Debug, Serialize)]
struct ExtendedChatRequest {
    #[serde(flatten)]
    request: CreateChatCompletionRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<usize>,
    /// vLLM, TGI.
    #[serde(skip_serializing_if = "Option::is_none")]
    repetition_penalty: Option<f32>,
    /// llama.cpp's server.
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_penalty: Option<f32>,
}

fn validate_params(messages: &[ChatMessage], params: &GenerationParams) -> AgentResult<()> {
    let invalid = |message: &str| {
        Err(AgentError::InvalidInput {
            message: message.to_string(),
        })
    };
    if messages.is_empty() {
        return invalid("a chat request needs at least one message");
    }
    if params.max_tokens == 0 {
        return invalid("max_tokens must be at least 1");
    }
    if params.n == 0 {
        return invalid("n (completions per request) must be at least 1");
    }
    if !params.temperature.is_finite() || params.temperature < 0.0 {
        return invalid("temperature must be a finite number >= 0");
    }
    if !(params.top_p > 0.0 && params.top_p <= 1.0) {
        return invalid("top_p must be in (0, 1]");
    }
    if !params.repetition_penalty.is_finite() || params.repetition_penalty <= 0.0 {
        return invalid("repetition_penalty must be a finite number > 0");
    }
    Ok(())
}

fn wire_message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    let content = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(content),
            name: None,
        }),
        Role::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(content),
            name: None,
        }),
        Role::Assistant => {
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::Text(content)),
                ..ChatCompletionRequestAssistantMessage::default()
            })
        }
        Role::Tool => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(format!(
                "[tool output]\n{content}"
            )),
            name: None,
        }),
    }
}

fn finish_reason(wire: Option<WireFinishReason>) -> FinishReason {
    match wire {
        Some(WireFinishReason::Length) => FinishReason::Length,
        // The protocol does not tell an end-of-turn token from a stop sequence.
        Some(
            WireFinishReason::Stop
            | WireFinishReason::ToolCalls
            | WireFinishReason::ContentFilter
            | WireFinishReason::FunctionCall,
        )
        | None => FinishReason::Stop,
    }
}

fn token_logprob(wire: async_openai::types::chat::ChatCompletionTokenLogprob) -> TokenLogprob {
    TokenLogprob {
        token: wire.token,
        token_id: None,
        logprob: wire.logprob,
    }
}

/// (prompt tokens, cached prompt tokens, completion tokens) from `usage`, zeros when absent.
fn usage_counts(usage: Option<&CompletionUsage>) -> (usize, usize, usize) {
    let Some(usage) = usage else {
        return (0, 0, 0);
    };
    let cached = usage
        .prompt_tokens_details
        .as_ref()
        .and_then(|details| details.cached_tokens)
        .unwrap_or(0);
    (
        usage.prompt_tokens as usize,
        cached as usize,
        usage.completion_tokens as usize,
    )
}

/// The human part of an error body: `error.message`, `error` (a string), `message`, or the raw
/// text, cut to a readable length.
fn server_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|value| {
        value
            .pointer("/error/message")
            .or_else(|| value.get("error"))
            .or_else(|| value.get("message"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        truncate(&text, MESSAGE_CHARS)
    }
}

/// Whether a 404 is about the model (rather than a wrong path): the body's error code says
/// `model_not_found`, or its message talks about the model.
fn mentions_model(body: &str, message: &str) -> bool {
    let code_says_so = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value
                .pointer("/error/code")
                .and_then(serde_json::Value::as_str)
                .map(|code| code == "model_not_found")
        })
        .unwrap_or(false);
    code_says_so || message.to_lowercase().contains("model")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// An error and its sources on one line ("error sending request: ... : Connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// Run `future` unless `cancel` is raised first (checked every [`CANCEL_POLL`]); dropping the
/// future aborts its HTTP request.
async fn unless_cancelled<F: Future>(cancel: &CancelFlag, future: F) -> AgentResult<F::Output> {
    if cancel.is_cancelled() {
        return Err(AgentError::Cancelled);
    }
    let watch = async {
        while !cancel.is_cancelled() {
            tokio::time::sleep(CANCEL_POLL).await;
        }
    };
    tokio::select! {
        output = future => Ok(output),
        () = watch => Err(AgentError::Cancelled),
    }
}

/// The retry settings the transport applies.
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    attempt_timeout: Duration,
}

impl RetryPolicy {
    fn from_options(options: &OpenAiOptions) -> RetryPolicy {
        RetryPolicy {
            max_retries: options.max_retries,
            initial_backoff: options.initial_backoff,
            max_backoff: options.max_backoff.max(options.initial_backoff),
            max_retry_after: options.max_retry_after,
            attempt_timeout: options.request_timeout,
        }
    }

    /// The wait before retry number `retry` (1-based): exponential with equal jitter, or the
    /// server's `Retry-After` when that is longer.
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let backoff = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = backoff / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            rand::rng().random_range(Duration::ZERO..=half)
        };
        let jittered = half + jitter;
        retry_after.map_or(jittered, |wait| wait.max(jittered))
    }
}

/// Why the transport gave up; carried through async-openai as `OpenAIError::Boxed`.
#[derive(Debug)]
struct TransportError {
    attempts: u32,
    failure: TransportFailure,
}

#[derive(Debug)]
enum TransportFailure {
    /// The last answer had this non-success status.
    Status {
        status: u16,
        body: String,
        /// Why the retries stopped early, when they did.
        note: Option<String>,
    },
    /// The last attempt ran past the attempt time limit.
    Timeout { after: Duration },
    /// The connection could not be made or broke.
    Connection { message: String },
    /// The request could not be built (not retried).
    Request { message: String },
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failure {
            TransportFailure::Status { status, body, .. } => write!(
                f,
                "HTTP {status} after {} attempt(s): {}",
                self.attempts,
                server_message(body)
            ),
            TransportFailure::Timeout { after } => write!(
                f,
                "timed out after {} ms ({} attempt(s))",
                after.as_millis(),
                self.attempts
            ),
            TransportFailure::Connection { message } => {
                write!(f, "{message} ({} attempt(s))", self.attempts)
            }
            TransportFailure::Request { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// One attempt's result, before the retry decision.
enum AttemptOutcome {
    Done(reqwest::Response),
    Retryable {
        failure: TransportFailure,
        retry_after: Option<Duration>,
    },
    Final(TransportFailure),
}

/// The HTTP layer under async-openai's client: sends each attempt with a time limit, retries
/// what is worth retrying, and reports the final failure as a [`TransportError`].
#[derive(Clone)]
struct RetryingTransport {
    http: reqwest::Client,
    policy: RetryPolicy,
    /// Read the whole body inside the attempt (non-streaming) instead of handing it on unread.
    buffer_body: bool,
}

type TransportFuture =
    Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send + 'static>>;

impl tower::Service<HttpRequestFactory> for RetryingTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = TransportFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let transport = self.clone();
        Box::pin(async move {
            transport
                .send_with_retries(request)
                .await
                .map_err(|error| OpenAIError::Boxed(Box::new(error)))
        })
    }
}

impl RetryingTransport {
    async fn send_with_retries(
        &self,
        factory: HttpRequestFactory,
    ) -> Result<reqwest::Response, TransportError> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let request = factory.build().await.map_err(|error| TransportError {
                attempts,
                failure: TransportFailure::Request {
                    message: error.to_string(),
                },
            })?;
            let (failure, retry_after) = match self.attempt(request).await {
                AttemptOutcome::Done(response) => return Ok(response),
                AttemptOutcome::Final(failure) => {
                    return Err(TransportError { attempts, failure });
                }
                AttemptOutcome::Retryable {
                    failure,
                    retry_after,
                } => (failure, retry_after),
            };
            if attempts > self.policy.max_retries {
                return Err(TransportError { attempts, failure });
            }
            if let Some(wait) = retry_after.filter(|wait| *wait > self.policy.max_retry_after) {
                let failure = match failure {
                    TransportFailure::Status { status, body, .. } => TransportFailure::Status {
                        status,
                        body,
                        note: Some(format!(
                            "the server asked to retry after {} s, longer than the {} s limit",
                            wait.as_secs(),
                            self.policy.max_retry_after.as_secs()
                        )),
                    },
                    other => other,
                };
                return Err(TransportError { attempts, failure });
            }
            let delay = self.policy.delay(attempts, retry_after);
            tracing::debug!(
                attempt = attempts,
                delay_ms = delay.as_millis() as u64,
                failure = ?failure,
                "retrying the model server request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, request: reqwest::Request) -> AttemptOutcome {
        let limit = self.policy.attempt_timeout;
        match tokio::time::timeout(limit, self.send_once(request)).await {
            Err(_elapsed) => AttemptOutcome::Retryable {
                failure: TransportFailure::Timeout { after: limit },
                retry_after: None,
            },
            Ok(outcome) => outcome,
        }
    }

    async fn send_once(&self, request: reqwest::Request) -> AttemptOutcome {
        let response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(error) => return classify_send_error(&error),
        };
        let status = response.status();
        if status.is_success() {
            if !self.buffer_body {
                return AttemptOutcome::Done(response);
            }
            return match buffered(response).await {
                Ok(response) => AttemptOutcome::Done(response),
                Err(error) => classify_send_error(&error),
            };
        }
        let retry_after = retry_after(response.headers());
        let body = match response.text().await {
            Ok(body) => body,
            Err(error) => return classify_send_error(&error),
        };
        let failure = TransportFailure::Status {
            status: status.as_u16(),
            body,
            note: None,
        };
        let retryable = matches!(status.as_u16(), 408 | 429)
            || (status.is_server_error() && !matches!(status.as_u16(), 501 | 505));
        if retryable {
            AttemptOutcome::Retryable {
                failure,
                retry_after,
            }
        } else {
            AttemptOutcome::Final(failure)
        }
    }
}

/// Connection failures and timeouts are worth another attempt; a request that cannot be built is
/// not.
fn classify_send_error(error: &reqwest::Error) -> AttemptOutcome {
    if error.is_builder() {
        return AttemptOutcome::Final(TransportFailure::Request {
            message: error_chain(error),
        });
    }
    let message = if error.is_connect() {
        format!("cannot connect: {}", error_chain(error))
    } else {
        format!("the connection broke: {}", error_chain(error))
    };
    AttemptOutcome::Retryable {
        failure: TransportFailure::Connection { message },
        retry_after: None,
    }
}

/// The same response with its body read into memory, so the attempt's time limit covers it.
async fn buffered(response: reqwest::Response) -> Result<reqwest::Response, reqwest::Error> {
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok(reqwest::Response::from(rebuilt))
}

/// The wait the server asks for: `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as
/// an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(millis) =
        header("retry-after-ms").and_then(|value| value.trim().parse::<f64>().ok())
        && millis.is_finite()
        && millis >= 0.0
    {
        return Some(Duration::from_secs_f64(millis / 1000.0));
    }
    let value = header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            max_retry_after: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_a_cap() {
        let policy = policy();
        for _ in 0..50 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let capped = policy.delay(20, None);
            assert!(capped >= Duration::from_millis(500) && capped <= Duration::from_millis(1_000));
        }
        // A longer Retry-After wins over the backoff.
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn retry_after_reads_milliseconds_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        let mut dated = reqwest::header::HeaderMap::new();
        let soon = SystemTime::now() + Duration::from_secs(30);
        dated.insert(
            "retry-after",
            httpdate::fmt_http_date(soon).parse().expect("header"),
        );
        let wait = retry_after(&dated).expect("a date");
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn server_messages_come_from_the_usual_error_shapes() {
        assert_eq!(
            server_message(r#"{"error":{"message":"bad key","type":"auth"}}"#),
            "bad key"
        );
        assert_eq!(server_message(r#"{"error":"overloaded"}"#), "overloaded");
        assert_eq!(
            server_message(r#"{"object":"error","message":"The model `x` does not exist."}"#),
            "The model `x` does not exist."
        );
        assert_eq!(server_message("  plain text  "), "plain text");
        assert_eq!(server_message(""), "(empty body)");
        assert!(server_message(&"x".repeat(1000)).ends_with("..."));
    }

    #[test]
    fn a_404_is_about_the_model_only_when_the_body_says_so() {
        let body = r#"{"error":{"message":"no such thing","code":"model_not_found"}}"#;
        assert!(mentions_model(body, &server_message(body)));
        let body = r#"{"message":"The model `m` does not exist."}"#;
        assert!(mentions_model(body, &server_message(body)));
        assert!(!mentions_model("404 page not found", "404 page not found"));
    }

    #[test]
    fn tool_messages_travel_as_marked_user_messages() {
        let wire = wire_message(&ChatMessage {
            role: Role::Tool,
            content: "3 rows".into(),
        });
        let json = serde_json::to_value(&wire).expect("serialize");
        assert_eq!(json["role"], "user");
        assert_eq!(json["content"], "[tool output]\n3 rows");
    }

    #[test]
    fn invalid_parameters_are_refused_before_sending() {
        let messages = [ChatMessage::user("hi")];
        let mut params = GenerationParams::default();
        assert!(validate_params(&messages, &params).is_ok());
        assert!(validate_params(&[], &params).is_err());
        params.top_p = 0.0;
        assert!(validate_params(&messages, &params).is_err());
        params.top_p = 1.0;
        params.temperature = f32::NAN;
        assert!(validate_params(&messages, &params).is_err());
        params.temperature = 0.0;
        params.n = 0;
        assert!(validate_params(&messages, &params).is_err());
    }
}

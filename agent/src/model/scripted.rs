//! A [`ChatModel`] test double that replays recorded answers ("cassettes"), and a wrapper that
//! records them from a real model.
//!
//! A cassette is JSON:
//!
//! ```json
//! {"format": "learnat-cassette", "version": 1, "model": "qwen-0.5b (recorded)",
//!  "mode": "in_order",
//!  "interactions": [
//!    {"request_hash": "3f0c…", "request": [{"role": "user", "content": "…"}],
//!     "responses": ["```sql\nSELECT 1\n```", {"text": "…", "logprob": -0.12}]}
//!  ]}
//! ```
//!
//! - `mode: "in_order"` serves the interactions one after the other, whatever is asked;
//!   `"by_hash"` serves the interaction whose `request_hash` ([`request_hash`]: sha256 of the
//!   messages) equals the request's, so a test fails loudly when a prompt changes.
//! - `responses` holds one text per completion (`n > 1` requests get them in order, cycling);
//!   a response may carry a mean token `logprob` (for voting tests).
//! - Stop sequences are applied as a real backend would: the text is cut before the first stop
//!   string, so a cassette may hold a model's whole answer and still drive a step-by-step loop.
//! - `request` is informative (for people reading the cassette); it is not compared.
//!
//! [`ScriptedModel::requests`] returns every conversation the model was sent, for assertions
//! such as "the second request contains the first step's result". The hidden model spec
//! `replay:FILE` ([`open_replay_spec`]) loads a cassette, so the binary can be tested end to end.
//!
//! ```
//! use learnat_agent::model::scripted::ScriptedModel;
//! use learnat_agent::{ChatMessage, ChatModel, GenerationParams};
//! # tokio_test_block(async {
//! let model = ScriptedModel::in_order(["```sql\nSELECT 1\n```"]);
//! let answer = model.chat(&[ChatMessage::user("one?")], &GenerationParams::default()).await.unwrap();
//! assert_eq!(answer[0].text, "```sql\nSELECT 1\n```");
//! assert_eq!(model.requests()[0][0].content, "one?");
//! # });
//! # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{AgentError, AgentResult};
use crate::model::{
    ChatMessage, ChatModel, Completion, FinishReason, GenerationParams, Timings, TokenLogprob,
    TokenSink,
};
use crate::prompt::estimate_tokens;

/// The `format` field of a cassette.
pub const CASSETTE_FORMAT: &str = "learnat-cassette";

/// The cassette version this code reads and writes.
pub const CASSETTE_VERSION: u32 = 1;

/// The prefix of the hidden model spec that replays a cassette file.
pub const REPLAY_SPEC_PREFIX: &str = "replay:";

/// How requests find their interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayMode {
    /// The i-th request gets the i-th interaction.
    #[default]
    InOrder,
    /// A request gets the interaction with its [`request_hash`].
    ByHash,
}

/// One recorded answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScriptedResponse {
    /// Just the text.
    Text(String),
    /// The text and the mean token log-probability the backend gave.
    WithLogprob {
        /// The answer.
        text: String,
        /// Mean token log-probability.
        logprob: f32,
    },
}

impl ScriptedResponse {
    fn text(&self) -> &str {
        match self {
            ScriptedResponse::Text(text) | ScriptedResponse::WithLogprob { text, .. } => text,
        }
    }

    fn logprob(&self) -> Option<f32> {
        match self {
            ScriptedResponse::Text(_) => None,
            ScriptedResponse::WithLogprob { logprob, .. } => Some(*logprob),
        }
    }
}

/// One request and its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// [`request_hash`] of the request (needed in [`ReplayMode::ByHash`]).
    #[serde(default)]
    pub request_hash: Option<String>,
    /// The request, for people reading the cassette (not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Vec<ChatMessage>>,
    /// One answer per completion.
    pub responses: Vec<ScriptedResponse>,
}

/// A recorded conversation with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    /// Always [`CASSETTE_FORMAT`].
    pub format: String,
    /// Always [`CASSETTE_VERSION`].
    pub version: u32,
    /// The name the scripted model reports.
    #[serde(default = "default_model_name")]
    pub model: String,
    /// The context length it reports.
    #[serde(default = "default_context_length")]
    pub context_length: usize,
    /// How requests find their interaction.
    #[serde(default)]
    pub mode: ReplayMode,
    /// The interactions.
    pub interactions: Vec<Interaction>,
}

fn default_model_name() -> String {
    "scripted".to_string()
}

fn default_context_length() -> usize {
    32_768
}

impl Cassette {
    /// An empty cassette.
    pub fn new(model: &str, mode: ReplayMode) -> Cassette {
        Cassette {
            format: CASSETTE_FORMAT.to_string(),
            version: CASSETTE_VERSION,
            model: model.to_string(),
            context_length: default_context_length(),
            mode,
            interactions: Vec::new(),
        }
    }

    /// Read a cassette file; errors name the file and what is wrong with it.
    pub fn load(path: &Path) -> AgentResult<Cassette> {
        let text = std::fs::read_to_string(path).map_err(|source| AgentError::Io {
            what: "cannot read the cassette",
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |reason: String| AgentError::ModelSpec {
            spec: format!("{REPLAY_SPEC_PREFIX}{}", path.display()),
            reason,
        };
        let cassette: Cassette = serde_json::from_str(&text).map_err(|error| {
            bad(format!(
                "not a cassette (JSON with format, version, interactions): {error}"
            ))
        })?;
        if cassette.format != CASSETTE_FORMAT || cassette.version != CASSETTE_VERSION {
            return Err(bad(format!(
                "format '{}' version {} is not {CASSETTE_FORMAT} version {CASSETTE_VERSION}",
                cassette.format, cassette.version
            )));
        }
        Ok(cassette)
    }

    /// Write the cassette as pretty JSON.
    pub fn save(&self, path: &Path) -> AgentResult<()> {
        let text =
            serde_json::to_string_pretty(self).map_err(|error| AgentError::InvalidInput {
                message: format!("cannot serialise the cassette: {error}"),
            })?;
        std::fs::write(path, text).map_err(|source| AgentError::Io {
            what: "cannot write the cassette",
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The hash requests are matched by: hex sha256 of each message's role and content.
pub fn request_hash(messages: &[ChatMessage]) -> String {
    let mut hasher = Sha256::new();
    for message in messages {
        let role = serde_json::to_string(&message.role).unwrap_or_default();
        hasher.update(role.as_bytes());
        hasher.update([0]);
        hasher.update(message.content.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Cut `text` before the earliest stop string; true when one was found.
fn apply_stops(text: &str, stops: &[String]) -> (String, bool) {
    let cut = stops
        .iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| text.find(stop.as_str()))
        .min();
    match cut {
        Some(at) => (text[..at].to_string(), true),
        None => (text.to_string(), false),
    }
}

/// Replays a [`Cassette`].
#[derive(Debug)]
pub struct ScriptedModel {
    cassette: Cassette,
    next: Mutex<usize>,
    requests: Mutex<Vec<Vec<ChatMessage>>>,
}

impl ScriptedModel {
    /// Replays `cassette`.
    pub fn new(cassette: Cassette) -> ScriptedModel {
        ScriptedModel {
            cassette,
            next: Mutex::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// One single-completion interaction per text, served in order.
    pub fn in_order<I, S>(texts: I) -> ScriptedModel
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cassette = Cassette::new("scripted", ReplayMode::InOrder);
        cassette.interactions = texts
            .into_iter()
            .map(|text| Interaction {
                request_hash: None,
                request: None,
                responses: vec![ScriptedResponse::Text(text.into())],
            })
            .collect();
        ScriptedModel::new(cassette)
    }

    /// Replays the cassette file at `path`.
    pub fn from_file(path: &Path) -> AgentResult<ScriptedModel> {
        Ok(ScriptedModel::new(Cassette::load(path)?))
    }

    /// Every conversation sent so far, in order.
    pub fn requests(&self) -> Vec<Vec<ChatMessage>> {
        self.requests
            .lock()
            .map(|requests| requests.clone())
            .unwrap_or_default()
    }

    /// Interactions not served yet (in-order mode).
    pub fn remaining(&self) -> usize {
        let used = self.next.lock().map(|next| *next).unwrap_or(0);
        self.cassette.interactions.len().saturating_sub(used)
    }

    fn error(&self, message: String) -> AgentError {
        AgentError::Generation {
            model: self.cassette.model.clone(),
            message,
        }
    }

    fn interaction_for(&self, messages: &[ChatMessage]) -> AgentResult<Interaction> {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(messages.to_vec());
        }
        match self.cassette.mode {
            ReplayMode::InOrder => {
                let mut next = self
                    .next
                    .lock()
                    .map_err(|_| self.error("the cassette counter is poisoned".into()))?;
                let interaction =
                    self.cassette
                        .interactions
                        .get(*next)
                        .cloned()
                        .ok_or_else(|| {
                            self.error(format!(
                        "the cassette has no answer for request {} (it holds {}); record the \
                         conversation again",
                        *next + 1,
                        self.cassette.interactions.len()
                    ))
                        })?;
                *next += 1;
                Ok(interaction)
            }
            ReplayMode::ByHash => {
                let hash = request_hash(messages);
                self.cassette
                    .interactions
                    .iter()
                    .find(|i| i.request_hash.as_deref() == Some(hash.as_str()))
                    .cloned()
                    .ok_or_else(|| {
                        self.error(format!(
                            "the cassette has no answer for a request with hash {hash} (the \
                             prompt changed since it was recorded; record it again)"
                        ))
                    })
            }
        }
    }

    fn completions(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>> {
        if params.cancel.is_cancelled() {
            return Err(AgentError::Cancelled);
        }
        let interaction = self.interaction_for(messages)?;
        if interaction.responses.is_empty() {
            return Err(self.error("a cassette interaction has no responses".into()));
        }
        let prompt_tokens: usize = messages.iter().map(|m| estimate_tokens(&m.content)).sum();
        Ok((0..params.n.max(1))
            .map(|index| {
                let response = &interaction.responses[index % interaction.responses.len()];
                let (text, stopped) = apply_stops(response.text(), &params.stop);
                let logprobs = match (params.logprobs, response.logprob()) {
                    (true, Some(logprob)) => Some(vec![TokenLogprob {
                        token: text.clone(),
                        token_id: None,
                        logprob,
                    }]),
                    _ => None,
                };
                Completion {
                    completion_tokens: estimate_tokens(&text),
                    finish_reason: if stopped {
                        FinishReason::StopSequence
                    } else {
                        FinishReason::Stop
                    },
                    text,
                    prompt_tokens,
                    cached_prompt_tokens: 0,
                    timings: Timings::default(),
                    logprobs,
                }
            })
            .collect())
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    fn name(&self) -> &str {
        &self.cassette.model
    }

    fn context_length(&self) -> usize {
        self.cassette.context_length
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(estimate_tokens(text))
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>> {
        self.completions(messages, params)
    }

    async fn chat_stream(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        tokens: TokenSink,
    ) -> AgentResult<Completion> {
        let single = GenerationParams {
            n: 1,
            ..params.clone()
        };
        let completion = self
            .completions(messages, &single)?
            .pop()
            .ok_or_else(|| self.error("no completion".into()))?;
        // A closed receiver does not stop the generation (see ChatModel::chat_stream).
        let _ = tokens.send(completion.text.clone());
        Ok(completion)
    }
}

/// Wraps a model and records every request and answer as a [`Cassette`] (by-hash mode), to be
/// saved and replayed by [`ScriptedModel`].
pub struct RecordingModel {
    inner: Arc<dyn ChatModel>,
    cassette: Mutex<Cassette>,
}

impl RecordingModel {
    /// Records what `inner` answers.
    pub fn new(inner: Arc<dyn ChatModel>) -> RecordingModel {
        let mut cassette =
            Cassette::new(&format!("{} (recorded)", inner.name()), ReplayMode::ByHash);
        cassette.context_length = inner.context_length();
        RecordingModel {
            inner,
            cassette: Mutex::new(cassette),
        }
    }

    /// What was recorded so far.
    pub fn cassette(&self) -> Cassette {
        self.cassette
            .lock()
            .map(|cassette| cassette.clone())
            .unwrap_or_else(|_| Cassette::new("poisoned", ReplayMode::ByHash))
    }

    fn record(&self, messages: &[ChatMessage], completions: &[Completion]) {
        let responses = completions
            .iter()
            .map(|completion| {
                let mean = completion
                    .logprobs
                    .as_ref()
                    .filter(|l| !l.is_empty())
                    .map(|l| l.iter().map(|t| t.logprob).sum::<f32>() / l.len() as f32);
                match mean {
                    Some(logprob) => ScriptedResponse::WithLogprob {
                        text: completion.text.clone(),
                        logprob,
                    },
                    None => ScriptedResponse::Text(completion.text.clone()),
                }
            })
            .collect();
        if let Ok(mut cassette) = self.cassette.lock() {
            cassette.interactions.push(Interaction {
                request_hash: Some(request_hash(messages)),
                request: Some(messages.to_vec()),
                responses,
            });
        }
    }
}

#[async_trait]
impl ChatModel for RecordingModel {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn context_length(&self) -> usize {
        self.inner.context_length()
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        self.inner.count_tokens(text)
    }

    async fn chat(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>> {
        let completions = self.inner.chat(messages, params).await?;
        self.record(messages, &completions);
        Ok(completions)
    }

    async fn chat_stream(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        tokens: TokenSink,
    ) -> AgentResult<Completion> {
        let completion = self.inner.chat_stream(messages, params, tokens).await?;
        self.record(messages, std::slice::from_ref(&completion));
        Ok(completion)
    }
}

/// For the hidden spec `replay:FILE`: the scripted model replaying that cassette; `None` for
/// any other spec.
pub fn open_replay_spec(spec: &str) -> Option<AgentResult<Arc<dyn ChatModel>>> {
    let path = spec.trim().strip_prefix(REPLAY_SPEC_PREFIX)?;
    let path = PathBuf::from(path);
    Some(ScriptedModel::from_file(&path).map(|model| Arc::new(model) as Arc<dyn ChatModel>))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn stops_cut_the_text_like_a_backend() {
        let model = ScriptedModel::in_order(["Sub question 1: a\nSubSQL1: x\nSub question 2: b"]);
        let params = GenerationParams {
            stop: vec!["\nSub question".into()],
            ..GenerationParams::default()
        };
        let answer = block_on(model.chat(&[ChatMessage::user("q")], &params)).unwrap();
        assert_eq!(answer[0].text, "Sub question 1: a\nSubSQL1: x");
        assert_eq!(answer[0].finish_reason, FinishReason::StopSequence);
    }

    #[test]
    fn in_order_runs_out_with_a_clear_error() {
        let model = ScriptedModel::in_order(["one"]);
        let params = GenerationParams::default();
        block_on(model.chat(&[ChatMessage::user("q")], &params)).unwrap();
        let error = block_on(model.chat(&[ChatMessage::user("q")], &params)).unwrap_err();
        assert!(
            error.to_string().contains("no answer for request 2"),
            "{error}"
        );
        assert_eq!(model.remaining(), 0);
    }

    #[test]
    fn by_hash_matches_the_request() {
        let asked = [ChatMessage::user("how many?")];
        let mut cassette = Cassette::new("m", ReplayMode::ByHash);
        cassette.interactions.push(Interaction {
            request_hash: Some(request_hash(&asked)),
            request: None,
            responses: vec![ScriptedResponse::WithLogprob {
                text: "SELECT 1".into(),
                logprob: -0.5,
            }],
        });
        let model = ScriptedModel::new(cassette);
        let params = GenerationParams {
            logprobs: true,
            n: 2,
            ..GenerationParams::default()
        };
        let answers = block_on(model.chat(&asked, &params)).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[1].logprobs.as_ref().unwrap()[0].logprob, -0.5);
        let error = block_on(model.chat(&[ChatMessage::user("other")], &params)).unwrap_err();
        assert!(error.to_string().contains("prompt changed"), "{error}");
    }

    #[test]
    fn recordings_replay() {
        let inner: Arc<dyn ChatModel> = Arc::new(ScriptedModel::in_order(["A", "B"]));
        let recorder = RecordingModel::new(inner);
        let params = GenerationParams::default();
        block_on(recorder.chat(&[ChatMessage::user("1")], &params)).unwrap();
        block_on(recorder.chat(&[ChatMessage::user("2")], &params)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        recorder.cassette().save(&path).unwrap();
        let replay = ScriptedModel::from_file(&path).unwrap();
        // By hash: the order of the requests does not matter.
        let second = block_on(replay.chat(&[ChatMessage::user("2")], &params)).unwrap();
        assert_eq!(second[0].text, "B");
        let spec = format!("replay:{}", path.display());
        assert!(open_replay_spec(&spec).unwrap().is_ok());
        assert!(open_replay_spec("gguf:x").is_none());
        std::fs::write(&path, "{}").unwrap();
        let error = open_replay_spec(&spec).unwrap().err().unwrap().to_string();
        assert!(error.contains("not a cassette"), "{error}");
    }
}

//! What the front ends (the REPL, the MCP server, `learnat demo`) share: the model a spec names,
//! with where the spec came from, and a stand-in for a model that could not be opened.
//!
//! [`open_chat_model`] follows the precedence of [`resolve_model_spec`] (the `--model` flag,
//! then `LEARNAT_MODEL`, then the config file, then the built-in default) and accepts the
//! hidden `replay:FILE` spec of recorded cassettes as well, so the binary can be tested end to
//! end without a model.
//!
//! ```no_run
//! # async fn demo() -> learnat_agent::AgentResult<()> {
//! use learnat_agent::frontend::open_chat_model;
//! let opened = open_chat_model(Some("gguf:qwen2.5-coder-0.5b")).await?;
//! println!("using {} ({})", opened.spec, opened.origin);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{AgentError, AgentResult};
use crate::model::scripted::{REPLAY_SPEC_PREFIX, open_replay_spec};
use crate::model::spec::{MODEL_ENV_VAR, ModelDefaults, resolve_model_spec};
use crate::model::{
    ChatMessage, ChatModel, Completion, GenerationParams, ModelOptions, TokenSink, open_model,
};
use crate::prompt::estimate_tokens;

/// A model opened from a spec.
#[derive(Clone)]
pub struct OpenedModel {
    /// The model.
    pub model: Arc<dyn ChatModel>,
    /// The spec it was opened from, as text (`gguf:qwen2.5-coder-0.5b`, `replay:FILE`).
    pub spec: String,
    /// Where the spec came from (`--model flag`, `LEARNAT_MODEL`, `built-in default`, ...).
    pub origin: String,
}

/// The spec text that [`open_chat_model`] would use for `flag`, and where it comes from,
/// without opening anything. Errors when the spec (from any source) does not parse.
pub fn chosen_spec(flag: Option<&str>) -> AgentResult<(String, String)> {
    let flag = flag.filter(|spec| !spec.trim().is_empty());
    let env = std::env::var(MODEL_ENV_VAR)
        .ok()
        .filter(|spec| !spec.trim().is_empty());
    // `replay:` is not a ModelSpec (it is for tests), so it is recognised before resolving.
    match (flag, env.as_deref()) {
        (Some(spec), _) if spec.trim().starts_with(REPLAY_SPEC_PREFIX) => {
            return Ok((spec.trim().to_string(), "--model flag".to_string()));
        }
        (None, Some(spec)) if spec.trim().starts_with(REPLAY_SPEC_PREFIX) => {
            return Ok((spec.trim().to_string(), MODEL_ENV_VAR.to_string()));
        }
        _ => {}
    }
    let resolved = resolve_model_spec(flag, &ModelDefaults::from_environment())?;
    Ok((resolved.spec.to_string(), resolved.origin.to_string()))
}

/// Open the model named by `flag`, else `LEARNAT_MODEL`, else the config file, else the
/// built-in default. A local GGUF file is loaded now (seconds for a 0.5B model); an
/// OpenAI-compatible server is reached on the first request.
pub async fn open_chat_model(flag: Option<&str>) -> AgentResult<OpenedModel> {
    let (spec, origin) = chosen_spec(flag)?;
    open_spec(&spec, origin).await
}

/// Open exactly `spec` (the REPL's `:model SPEC`): a `replay:FILE` cassette or a model spec.
pub async fn open_spec(spec: &str, origin: String) -> AgentResult<OpenedModel> {
    if let Some(replayed) = open_replay_spec(spec) {
        return Ok(OpenedModel {
            model: replayed?,
            spec: spec.trim().to_string(),
            origin,
        });
    }
    let parsed = crate::model::spec::ModelSpec::parse(spec)?;
    let model = open_model(&parsed, &ModelOptions::default()).await?;
    Ok(OpenedModel {
        model,
        spec: parsed.to_string(),
        origin,
    })
}

/// Stands in for a model that could not be opened, so a front end can start without one
/// (`:run`, `:schema` and the SQL tools need no model): every request fails with the reason
/// the model could not be opened and what to do about it.
#[derive(Debug, Clone)]
pub struct UnavailableModel {
    name: String,
    reason: String,
}

impl UnavailableModel {
    /// A model called `name` (the spec) that failed to open because of `reason`.
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> UnavailableModel {
        UnavailableModel {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Why it is unavailable.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    fn error(&self) -> AgentError {
        AgentError::Generation {
            model: self.name.clone(),
            message: format!("the model is not available: {}", self.reason),
        }
    }
}

#[async_trait]
impl ChatModel for UnavailableModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn context_length(&self) -> usize {
        // Prompt budgets are computed before the request fails; any positive size will do.
        4096
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(estimate_tokens(text))
    }

    async fn chat(
        &self,
        _messages: &[ChatMessage],
        _params: &GenerationParams,
    ) -> AgentResult<Vec<Completion>> {
        Err(self.error())
    }

    async fn chat_stream(
        &self,
        _messages: &[ChatMessage],
        _params: &GenerationParams,
        _tokens: TokenSink,
    ) -> AgentResult<Completion> {
        Err(self.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_model_fails_every_request_with_its_reason() {
        let model = UnavailableModel::new("gguf:missing", "run `learnat model fetch x`");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let error = runtime
            .block_on(model.chat(&[ChatMessage::user("q")], &GenerationParams::default()))
            .expect_err("unavailable");
        let message = error.to_string();
        assert!(message.contains("gguf:missing"), "{message}");
        assert!(message.contains("learnat model fetch x"), "{message}");
    }

    #[test]
    fn replay_specs_are_opened_as_cassettes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"format": "learnat-cassette", "version": 1, "interactions": []}"#,
        )
        .expect("cassette");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let spec = format!("replay:{}", path.display());
        let opened = runtime
            .block_on(open_spec(&spec, "test".into()))
            .unwrap_or_else(|error| panic!("cassette should open: {error}"));
        assert_eq!(opened.spec, spec);
        let missing = runtime
            .block_on(open_spec("replay:/nowhere/c.json", "test".into()))
            .err()
            .expect("missing cassette");
        assert!(
            missing.to_string().contains("cannot read the cassette"),
            "{missing}"
        );
        let bad = runtime
            .block_on(open_spec("llama:x", "test".into()))
            .err()
            .expect("bad spec");
        assert!(bad.to_string().contains("unknown backend"), "{bad}");
    }
}

//! The teacher: any [`ChatModel`], asked for k candidate next steps in the conversation the
//! decompose strategy holds at inference (its opening messages, then each earlier step as the
//! model's answer followed by the step's executed result). It never sees the gold SQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use learnat_agent::model::{ChatMessage, ChatModel, GenerationParams};
use learnat_agent::prompt::step_outcome_message;
use learnat_agent::strategy::StepOutcome;
use learnat_agent::student_format::step_stop_sequences;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::error::SynthResult;
use super::search::Candidate;

/// Teacher requests and tokens, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeacherUsage {
    /// Requests (one per expansion, each asking for k completions).
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl TeacherUsage {
    /// Adds `other` to this.
    pub fn absorb(&mut self, other: &TeacherUsage) {
        self.calls += other.calls;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// A teacher model shared by all questions, with a limit on requests in flight.
pub struct Teacher {
    model: Arc<dyn ChatModel>,
    limit: Semaphore,
    temperature: f32,
    max_tokens: usize,
    total_calls: AtomicU64,
}

impl Teacher {
    /// `concurrency` requests may run at once (at least one). Sampling uses `temperature`
    /// (top-p 0.95) so the k candidates of one request differ.
    pub fn new(
        model: Arc<dyn ChatModel>,
        concurrency: usize,
        temperature: f32,
        max_tokens: usize,
    ) -> Teacher {
        Teacher {
            model,
            limit: Semaphore::new(concurrency.max(1)),
            temperature,
            max_tokens,
            total_calls: AtomicU64::new(0),
        }
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn ChatModel> {
        &self.model
    }

    /// Requests made so far by every question.
    pub fn total_calls(&self) -> u64 {
        self.total_calls.load(Ordering::Relaxed)
    }

    /// `k` candidate answers to `messages`, generation stopping before the next step marker.
    pub async fn propose(
        &self,
        messages: &[ChatMessage],
        k: usize,
        seed: u64,
        usage: &mut TeacherUsage,
    ) -> SynthResult<Vec<String>> {
        let params = GenerationParams {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: if self.temperature > 0.0 { 0.95 } else { 1.0 },
            seed,
            stop: step_stop_sequences(),
            n: k.max(1),
            ..GenerationParams::default()
        };
        let completions = {
            // The semaphore is never closed, so acquiring only fails if it were.
            let _permit = self.limit.acquire().await.ok();
            self.model.chat(messages, &params).await?
        };
        self.total_calls.fetch_add(1, Ordering::Relaxed);
        usage.calls += 1;
        for completion in &completions {
            usage.prompt_tokens += completion.prompt_tokens as u64;
            usage.completion_tokens += completion.completion_tokens as u64;
        }
        Ok(completions
            .into_iter()
            .map(|c| c.text.trim().to_string())
            .collect())
    }
}

/// The conversation after the steps of `path`: `prompt` (the decompose strategy's opening),
/// then per step the answer as the student format writes it and the outcome message the
/// strategy sends (`max_steps` steps in all, so the last one asks for the Final SQL).
pub fn conversation(
    prompt: &[ChatMessage],
    path: &[(&Candidate, &StepOutcome)],
    max_steps: usize,
) -> Vec<ChatMessage> {
    let mut messages = prompt.to_vec();
    for (index, (candidate, outcome)) in path.iter().enumerate() {
        let number = index + 1;
        messages.push(ChatMessage::assistant(
            candidate.text(number).trim_end().to_string(),
        ));
        messages.push(ChatMessage::user(step_outcome_message(
            number,
            outcome,
            max_steps.saturating_sub(number),
        )));
    }
    messages
}
